/*
 * zdb block driver: what the driver says to a 0-db server and how it reads
 * the answers, with no connection in sight
 *
 * The lowest layer beside zdb-resp-scan.c: key and metadata encoding,
 * 0-db's error texts as errno values, and the commands that open a
 * session (SELECT, by challenge when the namespace has a password).
 *
 * Copyright (c) 2026 the zdb driver authors
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#ifndef BLOCK_ZDB_PROTO_H
#define BLOCK_ZDB_PROTO_H

#include <hiredis/hiredis.h>
#include "qemu/bswap.h"

/*
 * Block N of a disk is the key N, 8 bytes big-endian; the metadata key is
 * longer, so it never collides with a block.
 */
#define ZDB_KEY_LEN             8
#define ZDB_META_KEY            "zdb-disk-metadata"
#define ZDB_LAYOUT_VERSION      1

/* 0-db answers at most 1023 keys per MGET */
#define ZDB_MGET_MAX_KEYS       1023

#define ZDB_MIN_BLOCKSIZE       512
#define ZDB_MAX_BLOCKSIZE       (8 * 1024 * 1024)   /* 0-db's value limit */

/* Where a namespace lives and how to enter it. */
typedef struct ZdbAddr {
    char *host;
    int port;
    char *socket;       /* overrides host/port when set */
    char *namespace;
    char *password;
} ZdbAddr;

/*
 * What a namespace's metadata key records: the disk's geometry, and for a
 * disk with a backup where this side stands.  Identifiers follow DRBD's
 * generation identifiers: @uuid names the data this side holds; a side
 * that goes on without its peer starts a new one and pushes the old one
 * onto @history (newest first), so a side whose @uuid is in the other's
 * history is behind it, and two sides that each moved on from a common
 * identifier have split.  @since is the last identifier both sides held
 * in sync: the out-of-sync record (pages of chunk bits, ZDB_RECORD_KEY)
 * holds every chunk written since then.
 */
#define ZDB_HISTORY_LEN         8
#define ZDB_RECORD_KEY          "zdb-out-of-sync-%08" PRIx32
#define ZDB_RECORD_PAGE_BYTES   4096
#define ZDB_RECORD_PAGE_BITS    (ZDB_RECORD_PAGE_BYTES * 8)

typedef struct ZdbMeta {
    uint64_t size;
    uint64_t blocksize;
    uint64_t generation;        /* identifiers this side started, counted */
    bool has_uuid;              /* else: written by a driver without them */
    uint64_t uuid;
    uint64_t history[ZDB_HISTORY_LEN];
    int nhistory;
    uint64_t since;
    uint64_t chunk_blocks;      /* blocks per bit of the record, 0: none */
    /* bits the record may hold: it outlives a shrink, whose blocks it marks */
    uint64_t record_chunks;
} ZdbMeta;

/* Whether @id is @m's identifier or in its history; its age (0: current) */
int zdb_meta_age(const ZdbMeta *m, uint64_t id);

/*
 * Page @page of the out-of-sync record: bit i (byte i / 8, bit i % 8) is
 * chunk page * ZDB_RECORD_PAGE_BITS + i, whatever the host's word size.
 */
void zdb_record_key(char *key, size_t len, uint32_t page);
void zdb_record_page_encode(const unsigned long *chunks, uint64_t nchunks,
                            uint32_t page, uint8_t *bytes);
void zdb_record_page_decode(const uint8_t *bytes, size_t len, uint32_t page,
                            unsigned long *chunks, uint64_t nchunks);

static inline void zdb_key(uint8_t *key, uint64_t block)
{
    stq_be_p(key, block);
}

char *zdb_meta_format(const ZdbMeta *g);
/* Whether a disk can have that size / blocksize; the error names it */
bool zdb_geometry_check_size(uint64_t size, Error **errp);
bool zdb_geometry_check_blocksize(uint64_t blocksize, Error **errp);
bool zdb_meta_parse(const char *text, size_t len, ZdbMeta *g,
                    const char *ns, Error **errp);

/* "unix:PATH" or "HOST:PORT", for messages */
char *zdb_addr_describe(const ZdbAddr *addr);
void zdb_addr_clear(ZdbAddr *addr);

/* Whether a session must SELECT: a password, or not the default namespace */
bool zdb_addr_needs_select(const ZdbAddr *addr);

/*
 * The first command of a session, into @argv (3 entries): AUTH SECURE
 * CHALLENGE when a password is to be proven, else SELECT, else PING (the
 * default namespace needs no SELECT).  Returns argc.
 */
int zdb_hello_argv(const ZdbAddr *addr, const char **argv);

/*
 * SELECT of @addr's namespace into @argv (4 entries), with the password
 * proven against @nonce (the server's answer to AUTH SECURE CHALLENGE) or,
 * for a server without challenges (@nonce NULL), in clear.  @argv points
 * into *@proof: free it after the command is sent.  Returns argc.
 */
int zdb_select_argv(const ZdbAddr *addr, const char *nonce, char **proof,
                    const char **argv);

/* Reply interpretation; a NULL reply is a lost connection, -ENOTCONN. */
int zdb_error_to_errno(const char *msg);
int zdb_reply_check_write(redisReply *reply);
int zdb_reply_check_del(redisReply *reply);

/*
 * A walk over every key of a namespace, a step at a time.  0-db's SCAN
 * starts without a cursor, goes on from the one it answered and says
 * "-No more data" at the end; it lists each live key once, at its latest
 * write.  Redis's starts and ends at cursor 0 and may list a key twice.
 */
#define ZDB_SCAN_CURSOR_MAX     64

typedef struct ZdbScan {
    bool redis;                 /* the server answers SCAN as Redis does */
    bool done;
    size_t cursor_len;          /* 0 before the first step */
    uint8_t cursor[ZDB_SCAN_CURSOR_MAX];
} ZdbScan;

/* The next step's command into @argv and @argvlen (4 entries); argc */
int zdb_scan_argv(const ZdbScan *scan, const char **argv, size_t *argvlen);

/*
 * Takes a step's reply: the blocks of the keys it lists go to the end of
 * @blocks (a GArray of uint64_t; other keys are skipped) and the cursor
 * moves on.  0, or a negative errno with the cursor where it was:
 * -EAGAIN when the server turned out to be Redis and the step must be
 * asked again.
 */
int zdb_scan_reply(ZdbScan *scan, const redisReply *reply, GArray *blocks);

#endif

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

/* Geometry (and generation) as recorded in a namespace's metadata key */
typedef struct ZdbGeometry {
    uint64_t size;
    uint64_t blocksize;
    uint64_t generation;
} ZdbGeometry;

static inline void zdb_key(uint8_t *key, uint64_t block)
{
    stq_be_p(key, block);
}

char *zdb_geometry_format(const ZdbGeometry *g);
/* Whether a disk can have that size / blocksize; the error names it */
bool zdb_geometry_check_size(uint64_t size, Error **errp);
bool zdb_geometry_check_blocksize(uint64_t blocksize, Error **errp);
bool zdb_geometry_parse(const char *text, size_t len, ZdbGeometry *g,
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

#endif

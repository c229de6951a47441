/*
 * Namespaces and their keys, in memory
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#ifndef ZS_STORE_H
#define ZS_STORE_H

#include "server.h"

/* Little-endian u32, as 0-db packs its cursors and we our log records */
static inline void le32_put(unsigned char *p, uint32_t v)
{
    p[0] = (unsigned char)v;
    p[1] = (unsigned char)(v >> 8);
    p[2] = (unsigned char)(v >> 16);
    p[3] = (unsigned char)(v >> 24);
}

static inline uint32_t le32_get(const unsigned char *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
           (uint32_t)p[3] << 24;
}

enum { NS_UNLOCKED, NS_LOCKED, NS_FROZEN };
enum { NS_MODE_USER, NS_MODE_SEQ };

typedef struct Entry {
    struct Entry *next;
    uint64_t hash;
    size_t rec;                 /* its index entry: ns->recs[rec] */
    uint32_t vlen;
    uint8_t klen;
    unsigned char data[];       /* key, then value */
} Entry;

/*
 * One entry of 0-db's index files, in the order they were written: what
 * SCAN, RSCAN and KEYCUR see.  0-db appends one per SET (a new key, or a
 * new value of a key) and flags the entry a value replaced, or a DEL
 * removed, as deleted in place.  The cursor of an entry is its file id,
 * its offset in that file, and the length and CRC32-C of its value.
 */
typedef struct IndexRec {
    Entry *entry;               /* the live key, NULL once deleted */
    uint32_t fileid;            /* index (and data) file id */
    uint32_t offset;            /* in that index file */
    uint32_t length;            /* of the value */
    uint32_t crc;               /* CRC32-C of the value */
    uint32_t timestamp;         /* seconds, when it was written */
    uint8_t klen;
} IndexRec;

/* 0-db's file layout (libzdb/index.h, data.h): sizes in bytes */
#define ZS_INDEX_HEADER     29      /* index_header_t */
#define ZS_INDEX_ITEM       34      /* index_item_t, before the key */
#define ZS_DATA_HEADER      28      /* data_header_t */
#define ZS_DATA_ITEM        18      /* data_entry_header_t, before the key */
#define ZS_DATASIZE_DEFAULT (256 * 1024 * 1024)

/* The length of a SCAN cursor: 0-db's packed index_bkey_t */
#define ZS_CURSOR_LEN       17

static inline const unsigned char *entry_key(const Entry *e)
{
    return e->data;
}

static inline const unsigned char *entry_value(const Entry *e)
{
    return e->data + e->klen;
}

struct Namespace {
    char name[ZS_NS_NAME_MAX + 1];
    char *password;             /* NULL: not protected */
    bool public;
    bool worm;
    int lock;                   /* NS_UNLOCKED, NS_LOCKED, NS_FROZEN */
    int mode;                   /* NS_MODE_USER, NS_MODE_SEQ */
    uint64_t maxsize;           /* 0: no limit */

    uint64_t entries;           /* live keys */
    uint64_t datasize;          /* bytes of live values */
    uint64_t indexsize;         /* NSINFO index_size_bytes: live keys */
    uint64_t nextid;            /* keys created (sequential: entries) */

    /* 0-db's index files: every entry written, and where the next goes */
    IndexRec *recs;
    size_t nrecs, caprecs;
    uint32_t fileid;            /* current index and data file */
    uint32_t idx_offset;        /* end of the current index file */
    uint64_t data_offset;       /* end of the current data file */

    Entry **buckets;
    size_t nbuckets;
};

void store_init(void);
void store_free(void);

Namespace *ns_default(void);
Namespace *ns_find(const char *name);
Namespace *ns_create(const char *name);
void ns_delete(Namespace *ns);

/* Namespaces in 0-db's list order (freed slots are reused) */
size_t ns_count(void);
Namespace *ns_iter(size_t *slot);

/* 0-db's namespace_valid_name() */
bool ns_name_valid(const char *name);

/* A namespace still without any write may change its mode */
bool ns_is_fresh(const Namespace *ns);

/*
 * Apply an NSSET property.  Returns NULL on success or the error text of
 * 0-db (without '-').  Used by the NSSET command and by log replay.
 */
const char *ns_set_property(Namespace *ns, const char *prop,
                            const char *value);

Entry *ns_get(Namespace *ns, const void *key, size_t klen);
/*
 * Insert or replace, written at timestamp (seconds); returns false when
 * out of memory.  A SET moves to the next data and index file first when
 * its value would not fit in the current data file (0-db's --datasize).
 */
bool ns_put(Namespace *ns, const void *key, size_t klen,
            const void *val, size_t vlen, uint32_t timestamp);
bool ns_del(Namespace *ns, const void *key, size_t klen);
/* Start the next data and index file (0-db's NSJUMP) */
void ns_jump(Namespace *ns);

/* The key a SET makes in a sequential namespace: next id, 64-bit LE */
#define ZS_SEQ_KEY_LEN 8
void ns_seq_key(const Namespace *ns, unsigned char key[ZS_SEQ_KEY_LEN]);

/* 0-db's zdb_crc32(): CRC32-C, no inversion */
uint32_t crc32c(const void *buf, size_t len);

/*
 * The position in ns->recs of the entry a SCAN cursor names, as 0-db's
 * index_entry_deserialize() finds it (deleted entries too); false when
 * 0-db answers "-Invalid key format".
 */
bool ns_cursor_find(const Namespace *ns, const void *cur, size_t len,
                    size_t *pos);
void ns_cursor_make(const IndexRec *r, unsigned char out[ZS_CURSOR_LEN]);

#endif

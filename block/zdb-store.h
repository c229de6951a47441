/*
 * zdb block driver: the blocks of a disk in one namespace on one server
 *
 * A ZdbStore reads and writes blocks and the metadata key of one
 * namespace.  It knows nothing of sides, bases or retries: that is what
 * the layers above make of it.
 *
 * Copyright (c) 2026 the zdb driver authors
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#ifndef BLOCK_ZDB_STORE_H
#define BLOCK_ZDB_STORE_H

#include "qemu/iov.h"
#include "block/zdb-conn.h"

typedef struct ZdbStore {
    ZdbAddr addr;
    ZdbPool *pool;              /* NULL until zdb_store_connect */
    uint32_t blocksize;
    /*
     * Zeroing writes the empty zero marker rather than deleting the key,
     * so that a thin base does not show through the zeroed block.
     */
    bool zero_marker;
} ZdbStore;

void zdb_store_connect(ZdbStore *st, uint32_t blocksize, bool zero_marker,
                       int connections, int timeout_s, AioContext *ctx);
void zdb_store_close(ZdbStore *st);
void zdb_store_detach_aio_context(ZdbStore *st);
void zdb_store_attach_aio_context(ZdbStore *st, AioContext *ctx);
/* How often a connection of the store lost its session (see ZdbPool) */
static inline uint64_t zdb_store_sessions_lost(const ZdbStore *st)
{
    return st->pool ? st->pool->sessions_lost : 0;
}

/* Whether the server answers; if not known, a connection is started */
bool zdb_store_try_connect(ZdbStore *st);

/* What a fetched key held, for exact copies (catch-up, copy-on-read) */
typedef enum ZdbKind {
    ZDB_KIND_NIL,           /* no key */
    ZDB_KIND_MARKER,        /* the empty zero marker of thin disks */
    ZDB_KIND_VALUE,         /* a block */
} ZdbKind;

/*
 * Where fetched blocks go.  With @qiov, the bytes [offset, offset + bytes)
 * of the disk land in it (blocks only partly inside are sliced) and a
 * missing key reads as zeros, or with @missing is only marked there.  With
 * @copy, whole values are kept, blocksize bytes per block, and @kinds
 * tells what each key held.  The arrays are indexed like the block list.
 */
typedef struct ZdbFetch {
    QEMUIOVector *qiov;
    int64_t offset;
    int64_t bytes;
    bool *missing;
    uint8_t *copy;
    int8_t *kinds;
    int8_t *exists;         /* if set: 1 for a key, 0 for none, per block */
} ZdbFetch;

/* Fetches the @n blocks of @blocks: GET, or MGETs spread over the pool */
int coroutine_fn zdb_store_co_fetch(ZdbStore *st, ZdbFetch *f,
                                    const uint64_t *blocks, uint64_t n);

/* Which blocks a write touches: first .. first + n - 1, or list[0 .. n-1] */
typedef struct ZdbBlocks {
    uint64_t first;
    const uint64_t *list;
    uint64_t n;
} ZdbBlocks;

static inline uint64_t zdb_blocks_at(const ZdbBlocks *b, uint64_t i)
{
    return b->list ? b->list[i] : b->first + i;
}

/*
 * What a put writes into each block: a guest write (@qiov from
 * @qiov_offset for the whole blocks, and patched copies of a partial
 * first and last block in @head and @tail), or an exact copy (@kinds and
 * @vals as a ZdbFetch with @copy left them).
 */
typedef struct ZdbValues {
    QEMUIOVector *qiov;
    size_t qiov_offset;
    const uint8_t *head;
    const uint8_t *tail;
    const int8_t *kinds;
    const uint8_t *vals;
} ZdbValues;

/*
 * SETs the blocks from @v, or zeroes them when @v is NULL, pipelined in
 * batches.  Returns 0 when every block was taken, else the first error;
 * some blocks may then have been written and others not.
 */
int coroutine_fn zdb_store_co_put(ZdbStore *st, const ZdbBlocks *blocks,
                                  const ZdbValues *v);

/* Copies blocks exactly (values, zero markers, missing keys) */
int coroutine_fn zdb_store_co_copy(ZdbStore *from, ZdbStore *to,
                                   const uint64_t *blocks, uint64_t n);

/* EXISTS of blocks [first, first + n), pipelined: 1 or 0 each in @out */
int coroutine_fn zdb_store_co_exists(ZdbStore *st, uint64_t first, int n,
                                     int8_t *out);

/*
 * One step of a walk over the namespace's keys (see ZdbScan): the blocks
 * it lists are appended to @blocks; scan->done at the end.
 */
int coroutine_fn zdb_store_co_scan(ZdbStore *st, ZdbScan *scan,
                                   GArray *blocks);

/*
 * The out-of-sync record: pages of chunk bits (see ZdbMeta).  Reading ORs
 * the recorded chunks into @chunks; a missing page is an empty one.
 */
int coroutine_fn zdb_store_co_read_record(ZdbStore *st, unsigned long *chunks,
                                          uint64_t nchunks);
int coroutine_fn zdb_store_co_write_record_page(ZdbStore *st, uint32_t page,
                                                const uint8_t *bytes);

/*
 * What the server spends on the namespace (NSINFO): its live bytes and
 * keys.  -ENOTSUP from a server without NSINFO (Redis).
 */
int coroutine_fn zdb_store_co_usage(ZdbStore *st, uint64_t *live_bytes,
                                    uint64_t *entries);

int coroutine_fn zdb_store_co_write_meta(ZdbStore *st, const ZdbMeta *g);
/* 1 and @g filled when the metadata exists, 0 when not, negative errno */
int coroutine_fn zdb_store_co_read_meta(ZdbStore *st, ZdbMeta *g,
                                        Error **errp);

/*
 * What open learns of a namespace, blocking: whether it can be reached,
 * its recorded geometry, whether it takes writes from us.
 */
typedef struct ZdbProbe {
    const char *role;       /* "disk", "thin base", ... for messages */
    bool unreachable;       /* could not be reached (not: said no) */
    int found;              /* metadata present */
    ZdbMeta g;
    bool read_only;
    unsigned long *record;  /* its out-of-sync record, with g.chunk_blocks */
    uint64_t record_chunks;
    uint32_t record_pages;  /* keys of the record that exist */
    bool empty;             /* no block: nothing but metadata and record */
} ZdbProbe;

void zdb_probe_clear(ZdbProbe *p);

bool zdb_store_probe(const ZdbAddr *addr, int open_timeout_s,
                     int reply_timeout_s, ZdbProbe *p, Error **errp);

/*
 * Records geometry @g in a new disk's namespace, which must exist (0-db
 * namespaces are made by the operator), take writes and hold no blocks.
 */
int zdb_store_create(const ZdbAddr *addr, const ZdbMeta *g, Error **errp);

/* Empties the out-of-sync record, blocking (at close) */
bool zdb_store_drop_record_sync(const ZdbAddr *addr, uint64_t nchunks,
                                int timeout_s, Error **errp);

#endif

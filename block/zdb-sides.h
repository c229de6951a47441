/*
 * zdb block driver: the namespaces that hold a disk, and keeping them equal
 *
 * A disk lives in one namespace, the primary, or with backup-* options in
 * two, the primary and the backup, usually on two servers: its sides.
 * Every write goes to each side that is not down, in parallel; reads go
 * to a side in sync, the primary first.  When a side fails, the other goes
 * on alone and the blocks written meanwhile are remembered in the lost
 * side's out-of-sync bitmap.  A monitor retries the lost side every
 * second; once it answers it takes writes again (state "behind"), the
 * remembered blocks are copied to it from the live side, and only then
 * does it serve reads again.
 *
 * Across restarts, as DRBD does (see ZdbMeta): each side's metadata holds
 * an identifier of its data and a short history of earlier ones; a side
 * that goes on without its peer starts a new identifier before the first
 * write the peer misses is acknowledged.  Before any block is written,
 * the chunk that holds it is marked in the out-of-sync record of every
 * side that takes the write.  An open compares the identifiers: equal is
 * in sync (but chunks still marked were being written at a crash and are
 * copied again), one in the other's history is behind and gets the
 * recorded chunks (or everything, without a usable record), neither is
 * split brain, which only the operator resolves (split-brain-keep).
 *
 * Copyright (c) 2026 the zdb driver authors
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#ifndef BLOCK_ZDB_SIDES_H
#define BLOCK_ZDB_SIDES_H

#include "block/block_int.h"
#include "qapi/qapi-types-block-core.h"
#include "block/zdb-store.h"
#include "block/zdb-range.h"

typedef struct ZdbSide {
    const char *name;           /* "primary", "backup" */
    ZdbStore store;
    ZdbSideState state;
    bool has_meta;              /* its namespace records the geometry */
    ZdbMeta meta;               /* what its metadata key says */
    unsigned long *out_of_sync; /* blocks it lacks (with a backup only) */
    uint64_t copied;            /* blocks copied to it by this catch-up */
    /* what its server spends on it, as last asked (NSINFO) */
    bool has_usage;
    uint64_t live_bytes;
    uint64_t entries;
} ZdbSide;

/* What split-brain-keep asks for */
typedef enum ZdbKeep {
    ZDB_KEEP_NONE,
    ZDB_KEEP_PRIMARY,
    ZDB_KEEP_BACKUP,
} ZdbKeep;

/*
 * Everything here is used from coroutines and callbacks of the disk's
 * AioContext only.  meta_lock orders the metadata writes (size and
 * identifiers) among those coroutines; record_busy lets one page write of
 * the out-of-sync record run at a time.  A coroutine may take meta_lock
 * or wait for the record while it holds a range of @ranges, never the
 * other way round.
 */
typedef struct ZdbSides {
    BlockDriverState *bs;       /* drain waits for the monitor through it */
    ZdbRangeLock *ranges;       /* the disk's: a copy holds what it copies */
    ZdbSide side[2];
    int nsides;

    /* The geometry every side records; changed under meta_lock */
    uint64_t size;
    uint32_t blocksize;
    uint64_t nblocks;           /* what the out_of_sync bitmaps cover */

    CoMutex meta_lock;

    /* The out-of-sync record (with a backup): chunks of chunk_blocks */
    uint64_t chunk_blocks;
    uint64_t nchunks;
    unsigned long *record;      /* chunks marked, or about to be */
    unsigned long *recorded;    /* chunks every side not down holds */
    bool record_busy;           /* a write of the record is under way */
    bool adopted;               /* the sides' metadata announce the record */
    CoQueue record_waiters;

    /* Decided at open: which side must be copied to, and how much */
    int stale;                  /* index into side[], -1: none */
    bool stale_whole;           /* everything, not just the record */
    bool split;                 /* split brain, resolved by split-brain-keep */

    /* No metadata writes and no monitor: an inactive (migrating) node */
    bool inactive;
    /* The monitor: only on a read-write disk with a backup */
    bool monitor_enabled;
    QEMUTimer *monitor;
    bool monitor_running;       /* a pass is under way */
    bool quiesced;              /* drained: no pass may start */
} ZdbSides;

void zdb_sides_init(ZdbSides *sides, BlockDriverState *bs,
                    ZdbRangeLock *ranges);
void zdb_sides_set_geometry(ZdbSides *sides, uint64_t size,
                            uint32_t blocksize);

/*
 * Probes the primary and, with a backup, the backup.  With a backup, one
 * side that cannot be reached is survivable: a warning, and it starts out
 * down.  Returns false with @errp set when the disk cannot be opened.
 */
bool zdb_sides_probe(ZdbSides *sides, int open_timeout_s, int reply_timeout_s,
                     ZdbProbe *primary, ZdbProbe *backup, Error **errp);

/*
 * With a backup: compares what the probes found and decides which side
 * is current.  Returns the probe whose geometry counts, or NULL with
 * @errp set (split brain that @keep does not resolve, geometries that
 * cannot be reconciled).
 */
const ZdbProbe *zdb_sides_decide(ZdbSides *sides, const ZdbProbe *primary,
                                 const ZdbProbe *backup, ZdbKeep keep,
                                 Error **errp);

/* Then, with the geometry set: each side's state and what it lacks */
void zdb_sides_settle(ZdbSides *sides, const ZdbProbe *primary,
                      const ZdbProbe *backup, bool read_only);

void zdb_sides_connect(ZdbSides *sides, bool zero_marker, int connections,
                       int timeout_s, bool monitor, AioContext *ctx);
void zdb_sides_close(ZdbSides *sides);
void zdb_sides_detach_aio_context(ZdbSides *sides);
void zdb_sides_attach_aio_context(ZdbSides *sides, AioContext *ctx);
void zdb_sides_quiesce(ZdbSides *sides, bool quiesced);
/*
 * Reopened read-write or read-only: only a writable disk copies to a
 * side that is behind (and going read-only empties the record, as a
 * close does).
 */
void zdb_sides_set_writable(ZdbSides *sides, bool writable, AioContext *ctx);

/*
 * Stops writing metadata and copying (migration hands the disk over),
 * after emptying the record as zdb_sides_clean_up does.
 */
void zdb_sides_inactivate(ZdbSides *sides);
/*
 * Takes the disk over from another process: reads each side's metadata
 * and record anew, decides again, and starts the monitor.
 */
int coroutine_fn zdb_sides_co_activate(ZdbSides *sides, ZdbKeep keep,
                                       Error **errp);

/*
 * At a clean close or a hand-over (blocking): with both sides in sync,
 * the out-of-sync record is emptied, so that the next open copies nothing.
 */
void zdb_sides_clean_up(ZdbSides *sides);

/* A side in sync other than @not, the primary first; NULL if none. */
ZdbSide *zdb_sides_reader(ZdbSides *sides, ZdbSide *not);
bool zdb_sides_degraded(ZdbSides *sides);

/*
 * Fetches from a side in sync; when it fails and the other one is in
 * sync, the other serves the fetch and the failed one is taken as lost.
 */
int coroutine_fn zdb_sides_co_fetch(ZdbSides *sides, ZdbFetch *f,
                                    const uint64_t *blocks, uint64_t n);

/*
 * Puts the blocks on every side that is not down, in parallel, after the
 * out-of-sync record holds their chunks.  It succeeds when a side in sync
 * took it.  Every other outcome is recorded before this returns: a side
 * that did not take the blocks lacks them (and is lost, unless it is the
 * last one in sync); a side that took them while the side in sync did
 * not lacks them too, to be copied back over.  Nothing is acknowledged
 * before the identifiers say that the other side is behind.
 */
int coroutine_fn zdb_sides_co_put(ZdbSides *sides, const ZdbBlocks *blocks,
                                  const ZdbValues *v);

/* What a comparison of the two sides found */
typedef struct ZdbVerify {
    uint64_t compared;          /* blocks */
    uint64_t differ;            /* blocks that differ */
    uint64_t known;             /* of those, already known to be lacking */
    uint64_t repaired;
} ZdbVerify;

/*
 * Compares the two sides block by block, as DRBD's online verify does,
 * and reports each block that differs; with @repair, copies it from the
 * side in sync (the primary when both are).  Fails when a side cannot be
 * read.
 */
int coroutine_fn zdb_sides_co_verify(ZdbSides *sides, bool repair,
                                     ZdbVerify *res, Error **errp);

/*
 * Asks every side that is not down what its server spends on it; the sum
 * of their live bytes, or -ENOTSUP when no server says.
 */
int64_t coroutine_fn zdb_sides_co_usage(ZdbSides *sides);

/* EXISTS on a side in sync */
int coroutine_fn zdb_sides_co_exists(ZdbSides *sides, uint64_t first, int n,
                                     int8_t *out);

/*
 * A step of a walk over the keys of a side in sync (zdb_store_co_scan);
 * *@walked says which side the cursor belongs to.  -ESTALE when another
 * side is the one to read now: the walk must start over.
 */
int coroutine_fn zdb_sides_co_scan(ZdbSides *sides, int *walked,
                                   ZdbScan *scan, GArray *blocks);

/* Records a size of at least @end / exactly @size on the sides */
int coroutine_fn zdb_sides_co_grow(ZdbSides *sides, uint64_t end);
int coroutine_fn zdb_sides_co_resize(ZdbSides *sides, uint64_t size);

/* Takes the size recorded now, which another process may have changed */
int coroutine_fn zdb_sides_co_reread_size(ZdbSides *sides, Error **errp);

#endif

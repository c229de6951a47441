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
 * Across restarts: each side's metadata holds a generation.  Before any
 * write is acknowledged while a side is not in sync, the live side's
 * generation is raised, so a later open knows which side missed writes
 * and copies that one in full (the bitmap itself is not durable).
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
    uint64_t generation;        /* as recorded in its metadata */
    unsigned long *out_of_sync; /* blocks it lacks (with a backup only) */
    uint64_t copied;            /* blocks copied to it by this catch-up */
} ZdbSide;

/*
 * Everything here is used from coroutines and callbacks of the disk's
 * AioContext only; meta_lock orders the metadata writes (size and
 * generations) among those coroutines, and is never held while waiting
 * for a range of @ranges.
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
    bool degraded_recorded;     /* live sides' generation raised */

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
bool zdb_sides_probe(ZdbSides *sides, int open_timeout_s, ZdbProbe *primary,
                     ZdbProbe *backup, Error **errp);

/* Which side is current, from what the probes found (with a backup) */
void zdb_sides_settle(ZdbSides *sides, const ZdbProbe *primary,
                      const ZdbProbe *backup);

void zdb_sides_connect(ZdbSides *sides, bool zero_marker, int connections,
                       int timeout_s, bool monitor, AioContext *ctx);
void zdb_sides_close(ZdbSides *sides);
void zdb_sides_detach_aio_context(ZdbSides *sides);
void zdb_sides_attach_aio_context(ZdbSides *sides, AioContext *ctx);
void zdb_sides_quiesce(ZdbSides *sides, bool quiesced);

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
 * Puts the blocks on every side that is not down, in parallel.  It
 * succeeds when a side in sync took it: a side that failed while another
 * one in sync succeeded is taken as lost, and the blocks are remembered
 * for it, as for a side that is down.  Nothing is acknowledged before the
 * generation says that the other side is behind.
 */
int coroutine_fn zdb_sides_co_put(ZdbSides *sides, const ZdbBlocks *blocks,
                                  const ZdbValues *v);

/* EXISTS on a side in sync */
int coroutine_fn zdb_sides_co_exists(ZdbSides *sides, uint64_t first, int n,
                                     int8_t *out);

/* Records a size of at least @end / exactly @size on the sides */
int coroutine_fn zdb_sides_co_grow(ZdbSides *sides, uint64_t end);
int coroutine_fn zdb_sides_co_resize(ZdbSides *sides, uint64_t size);

/* Takes the size recorded now, which another process may have changed */
int coroutine_fn zdb_sides_co_reread_size(ZdbSides *sides, Error **errp);

#endif

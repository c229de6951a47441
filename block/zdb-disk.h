/*
 * zdb block driver: what the guest sees
 *
 * The disk's blocks as one address space: its sides (zdb-sides.c), the
 * read-only thin base under them, the range lock that orders writes, and
 * what is known of which blocks the disk's namespace holds, so that a
 * thin read of a block known absent goes straight to the base (one round
 * trip), a block not yet known is asked of the disk and the base at once,
 * and block status needs no EXISTS where the answer is known.
 *
 * The knowledge is exact from the open of an empty namespace, kept by the
 * driver's own writes and reads, and dropped when another writer may have
 * changed the namespace (a connection to it was lost, or another process
 * had the disk: invalidate_cache).  A read learns only when no write ended
 * while it was in flight; a write makes its blocks unknown until it ends.
 * For a disk opened with blocks in it, a walk over the namespace's keys
 * (SCAN) learns in the background which it holds; until it is done,
 * blocks not known are asked for as if there were no knowledge.
 *
 * Everything here runs in the disk's AioContext.
 *
 * Copyright (c) 2026 the zdb driver authors
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#ifndef BLOCK_ZDB_DISK_H
#define BLOCK_ZDB_DISK_H

#include "block/zdb-sides.h"
#include "block/zdb-known.h"

typedef struct ZdbDisk {
    ZdbSides sides;
    ZdbStore thin;              /* the base; used only with has_thin */
    bool has_thin;
    bool thin_copy_on_read;
    bool key_scan;              /* whether to walk, see zdb_walk_restart */
    ZdbRangeLock ranges;        /* the blocks writes in flight hold */

    ZdbKnown known;             /* of the disk's own namespace */
    uint64_t writes_ended;      /* see the comment above */
    uint64_t writes_failed;
    uint64_t sessions_lost_seen;

    /* The walk (see zdb_walk_step_co), a step at a time on a timer */
    QEMUTimer *walk_timer;
    bool walking;               /* not done: a step is due or under way */
    bool walk_step_running;
    int64_t walk_due_ms;        /* when the next step is due (realtime) */
    bool quiesced;              /* drained: no step may start */
    ZdbScan walk;
    int walk_side;              /* whose keys the cursor walks */
    uint64_t walk_gen;          /* a step of an older walk is void */
    uint64_t walk_failed;       /* writes_failed when the walk started */
    uint64_t walk_steps;
    uint64_t walk_keys;
    bool keys_past_end;         /* the walk saw blocks past the size */
} ZdbDisk;

void zdb_disk_init(ZdbDisk *d, BlockDriverState *bs);
/* After the geometry is settled: @empty says the namespace holds none */
void zdb_disk_start(ZdbDisk *d, bool empty);
void zdb_disk_close(ZdbDisk *d);
void zdb_disk_detach_aio_context(ZdbDisk *d);
void zdb_disk_attach_aio_context(ZdbDisk *d, AioContext *ctx);
/* Drained: no background work starts until it is over */
void zdb_disk_quiesce(ZdbDisk *d, bool quiesced);
/* Migration hands the disk over: no metadata writes, no background work */
void zdb_disk_inactivate(ZdbDisk *d);
/* Another process may have written: know nothing */
void zdb_disk_forget(ZdbDisk *d);
/*
 * Another process had the disk (migration): take it over, deciding anew
 * which side is current when the node was inactive, else re-reading the
 * size; either way knowing nothing of its blocks.
 */
void coroutine_fn zdb_disk_co_take_over(ZdbDisk *d, ZdbKeep keep,
                                        Error **errp);

/*
 * Reads [offset, offset + bytes); with @copy, blocks read from the base
 * are written into the disk too.
 */
int coroutine_fn zdb_disk_co_read(ZdbDisk *d, int64_t offset, int64_t bytes,
                                  QEMUIOVector *qiov, bool copy);
/* Writes [offset, offset + bytes) from @qiov, zeros when NULL */
int coroutine_fn zdb_disk_co_write(ZdbDisk *d, int64_t offset, int64_t bytes,
                                   QEMUIOVector *qiov);
/* Zeroes whole blocks [first, last] */
int coroutine_fn zdb_disk_co_drop(ZdbDisk *d, uint64_t first, uint64_t last);
/* Waits for every write issued before */
void coroutine_fn zdb_disk_co_flush(ZdbDisk *d);

/*
 * Whether block @first is data, and for how many blocks (at most @n) that
 * holds: blocks in the disk's namespace are data; blocks only in the thin
 * base are data too (a copy must take them: it is a full disk); blocks in
 * neither read as zeros.
 */
int coroutine_fn zdb_disk_co_status(ZdbDisk *d, uint64_t first, int n,
                                    bool *data, int *run);

/* A write past the end grows the disk first */
int coroutine_fn zdb_disk_co_grow(ZdbDisk *d, uint64_t end);
/* Shrinks or grows; growing again reads zeros */
int coroutine_fn zdb_disk_co_resize(ZdbDisk *d, uint64_t size, Error **errp);

#endif

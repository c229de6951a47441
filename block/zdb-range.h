/*
 * zdb block driver: a lock on ranges of blocks
 *
 * Writes in flight, oldest first.  A write that replaces part of a block
 * reads, patches and writes the whole block, and a copy between sides
 * reads a block on one and writes it on the other: no other write may
 * touch such a block meanwhile, or one of the two would be lost.  Two
 * writes of one block in flight at once could also reach the server in
 * one order and be answered in the other (zdb-disk.c).  So a holder waits
 * until no holder overlaps its blocks.  Flush waits for every holder
 * older than itself.
 *
 * Used from coroutines of one AioContext only (no locking of its own).
 *
 * Copyright (c) 2026 the zdb driver authors
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#ifndef BLOCK_ZDB_RANGE_H
#define BLOCK_ZDB_RANGE_H

#include "qemu/coroutine.h"
#include "qemu/queue.h"

/* One holder: blocks [first, last], its place in issue order */
typedef struct ZdbRange {
    uint64_t seq;
    uint64_t first;
    uint64_t last;
    QTAILQ_ENTRY(ZdbRange) next;
} ZdbRange;

typedef struct ZdbRangeLock {
    uint64_t last_seq;          /* of the newest holder */
    QTAILQ_HEAD(, ZdbRange) holders;    /* oldest first */
    CoQueue waiters;
} ZdbRangeLock;

void zdb_range_lock_init(ZdbRangeLock *lock);
void coroutine_fn zdb_range_co_lock(ZdbRangeLock *lock, ZdbRange *r,
                                    uint64_t first, uint64_t last);
void coroutine_fn zdb_range_unlock(ZdbRangeLock *lock, ZdbRange *r);

/* Waits until every holder that took its range before this call is gone */
void coroutine_fn zdb_range_co_wait_older(ZdbRangeLock *lock);

#endif

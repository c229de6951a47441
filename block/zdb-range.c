/*
 * zdb block driver: a lock on ranges of blocks
 *
 * Copyright (c) 2026 the zdb driver authors
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#include "qemu/osdep.h"
#include "block/zdb-range.h"

void zdb_range_lock_init(ZdbRangeLock *lock)
{
    lock->last_seq = 0;
    QTAILQ_INIT(&lock->holders);
    qemu_co_queue_init(&lock->waiters);
}

static bool zdb_range_conflicts(ZdbRangeLock *lock, ZdbRange *r)
{
    ZdbRange *o;

    QTAILQ_FOREACH(o, &lock->holders, next) {
        if (o->first <= r->last && r->first <= o->last) {
            return true;
        }
    }
    return false;
}

void coroutine_fn zdb_range_co_lock(ZdbRangeLock *lock, ZdbRange *r,
                                    uint64_t first, uint64_t last)
{
    r->first = first;
    r->last = last;
    while (zdb_range_conflicts(lock, r)) {
        qemu_co_queue_wait(&lock->waiters, NULL);
    }
    r->seq = ++lock->last_seq;
    QTAILQ_INSERT_TAIL(&lock->holders, r, next);
}

void coroutine_fn zdb_range_unlock(ZdbRangeLock *lock, ZdbRange *r)
{
    QTAILQ_REMOVE(&lock->holders, r, next);
    if (!qemu_co_queue_empty(&lock->waiters)) {
        qemu_co_queue_restart_all(&lock->waiters);
    }
}

void coroutine_fn zdb_range_co_wait_older(ZdbRangeLock *lock)
{
    uint64_t barrier = lock->last_seq;
    ZdbRange *oldest;

    while ((oldest = QTAILQ_FIRST(&lock->holders)) && oldest->seq <= barrier) {
        qemu_co_queue_wait(&lock->waiters, NULL);
    }
}

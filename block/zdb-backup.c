/*
 * zdb block driver: active-active backup
 *
 * With backup-* options a disk lives in two namespaces, the primary and
 * the backup, usually on two servers.  Every write goes to both in
 * parallel; reads go to a side in sync, the primary first.  When a side
 * fails, the other goes on alone and the blocks written meanwhile are
 * remembered in the lost side's dirty bitmap.  A monitor retries the lost
 * side every second; once it answers it takes writes again (state
 * "behind"), the remembered blocks are copied to it from the live side,
 * and only then does it serve reads again.
 *
 * Across restarts: each side's metadata holds a generation.  Before any
 * write is acknowledged while a side is not in sync, the live side's
 * generation is raised, so a later open knows which side missed writes
 * and copies that one in full (the dirty bitmap itself is not durable).
 *
 * Copyright (c) 2026 the zdb driver authors
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#include "qemu/osdep.h"
#include "qemu/bitmap.h"
#include "qemu/error-report.h"
#include "block/block-io.h"
#include "block/zdb-int.h"
#include "trace.h"

#define ZDB_MONITOR_INTERVAL_MS 1000
/* blocks copied under one hold, and holds per monitor pass */
#define ZDB_CATCHUP_BATCH       256
#define ZDB_CATCHUP_BATCHES     64

static ZdbSide *zdb_other_side(BDRVZdbState *s, ZdbSide *side)
{
    return side == &s->side[0] ? &s->side[1] : &s->side[0];
}

/* A side in sync other than @not, the primary first; NULL if none. */
ZdbSide *zdb_read_side(BDRVZdbState *s, ZdbSide *not)
{
    int t;

    for (t = 0; t < s->nsides; t++) {
        if (&s->side[t] != not && s->side[t].state == ZDB_SIDE_STATE_SYNC) {
            return &s->side[t];
        }
    }
    return NULL;
}

bool zdb_degraded(BDRVZdbState *s)
{
    return s->nsides > 1 && (s->side[0].state != ZDB_SIDE_STATE_SYNC ||
                             s->side[1].state != ZDB_SIDE_STATE_SYNC);
}

static void zdb_monitor_arm(BDRVZdbState *s, int64_t ms)
{
    if (s->monitor && !s->quiesced) {
        timer_mod(s->monitor, qemu_clock_get_ms(QEMU_CLOCK_REALTIME) + ms);
    }
}

/*
 * @side failed.  The last side in sync is never given up: it alone holds
 * everything acknowledged, so it stays, and requests fail until it
 * answers again.
 */
void zdb_side_lost(BDRVZdbState *s, ZdbSide *side, int err)
{
    ZdbSide *other;

    if (s->nsides < 2 || side->state == ZDB_SIDE_STATE_DOWN) {
        return;
    }
    other = zdb_other_side(s, side);
    if (side->state == ZDB_SIDE_STATE_SYNC &&
        other->state != ZDB_SIDE_STATE_SYNC) {
        return;
    }
    trace_zdb_side_lost(side->name, side->addr.namespace, err);
    warn_report("zdb: %s namespace '%s' lost (%s); the %s goes on alone",
                side->name, side->addr.namespace, strerror(-err),
                other->name);
    /* Its metadata may claim to be current: the live side must say more. */
    if (side->generation >= other->generation) {
        s->degraded_recorded = false;
    }
    side->state = ZDB_SIDE_STATE_DOWN;
    zdb_monitor_arm(s, ZDB_MONITOR_INTERVAL_MS);
}

/* @side missed blocks [first, last], or list[first..last] */
void zdb_side_mark_dirty(BDRVZdbState *s, ZdbSide *side, uint64_t first,
                         uint64_t last, const uint64_t *list)
{
    uint64_t i;

    if (!side->dirty) {
        return;
    }
    if (!list) {
        bitmap_set(side->dirty, first, last - first + 1);
        return;
    }
    for (i = first; i <= last; i++) {
        set_bit(list[i], side->dirty);
    }
}

/*
 * Raises the generation of the sides in sync, once per loss, before a
 * write made without the other side is acknowledged.
 */
int coroutine_fn zdb_co_record_degraded(BDRVZdbState *s)
{
    int ret = 0;
    int t;

    if (s->degraded_recorded) {
        return 0;
    }
    qemu_co_mutex_lock(&s->meta_lock);
    if (!s->degraded_recorded) {
        uint64_t gen = MAX(s->side[0].generation, s->side[1].generation) + 1;

        for (t = 0; t < s->nsides && ret == 0; t++) {
            ZdbSide *side = &s->side[t];

            if (side->state == ZDB_SIDE_STATE_SYNC) {
                side->generation = gen;
                ret = zdb_co_write_meta(s, side);
            }
        }
        s->degraded_recorded = ret == 0;
    }
    qemu_co_mutex_unlock(&s->meta_lock);
    return ret;
}

/* Every block copied: @side says it is as current as @src, and is. */
static void coroutine_fn zdb_co_finish_catch_up(BDRVZdbState *s,
                                                ZdbSide *side, ZdbSide *src)
{
    int ret;

    qemu_co_mutex_lock(&s->meta_lock);
    side->generation = src->generation;
    ret = zdb_co_write_meta(s, side);
    qemu_co_mutex_unlock(&s->meta_lock);
    if (ret < 0) {
        zdb_side_lost(s, side, ret);
        return;
    }
    /* a write may have failed on it meanwhile, or dirtied a block */
    if (side->state != ZDB_SIDE_STATE_BEHIND ||
        find_first_bit(side->dirty, s->nblocks) < s->nblocks) {
        return;
    }
    side->state = ZDB_SIDE_STATE_SYNC;
    trace_zdb_catchup_done(side->name, 0);
    info_report("zdb: %s namespace '%s' is in sync again", side->name,
                side->addr.namespace);
}

/*
 * Copies some of the blocks @side lacks from @src, each batch held like a
 * partial write so that no guest write to those blocks interleaves.
 * Returns true when more remain.
 */
static bool coroutine_fn zdb_co_catch_up(BDRVZdbState *s, ZdbSide *side,
                                         ZdbSide *src)
{
    uint64_t blocks[ZDB_CATCHUP_BATCH];
    int batch;

    for (batch = 0; batch < ZDB_CATCHUP_BATCHES; batch++) {
        uint64_t b = find_first_bit(side->dirty, s->nblocks);
        ZdbWrite w;
        int i, n = 0, ret;

        if (b >= s->nblocks) {
            zdb_co_finish_catch_up(s, side, src);
            return false;
        }
        while (b < s->nblocks && n < ZDB_CATCHUP_BATCH) {
            blocks[n++] = b;
            b = find_next_bit(side->dirty, s->nblocks, b + 1);
        }
        if (batch == 0) {
            trace_zdb_catchup_start(side->name,
                                    bitmap_count_one(side->dirty, s->nblocks));
        }
        zdb_write_begin(s, &w, blocks[0], blocks[n - 1], true);
        ret = zdb_co_copy_blocks(s, src, side, blocks, n);
        if (ret == 0) {
            for (i = 0; i < n; i++) {
                clear_bit(blocks[i], side->dirty);
            }
        }
        zdb_write_end(s, &w);
        if (ret < 0) {
            zdb_side_lost(s, side, ret);
            return false;
        }
        if (side->state != ZDB_SIDE_STATE_BEHIND ||
            src->state != ZDB_SIDE_STATE_SYNC) {
            return false;
        }
    }
    return true;
}

/* One pass: retry the sides that are down, copy to the ones behind. */
static void coroutine_fn zdb_monitor_co(void *opaque)
{
    BDRVZdbState *s = opaque;
    bool more = false;
    int t;

    for (t = 0; t < s->nsides; t++) {
        ZdbSide *side = &s->side[t];
        ZdbSide *src = zdb_read_side(s, side);
        ZdbConn *conn;

        if (side->state == ZDB_SIDE_STATE_DOWN && src &&
            zdb_pool_co_get(side->pool, &conn) == 0) {
            /* from now on it takes every write, then it is caught up */
            trace_zdb_side_back(side->name, side->addr.namespace);
            side->state = ZDB_SIDE_STATE_BEHIND;
        }
        if (side->state == ZDB_SIDE_STATE_BEHIND && src) {
            more |= zdb_co_catch_up(s, side, src);
        }
    }
    s->monitor_running = false;
    if (zdb_degraded(s)) {
        zdb_monitor_arm(s, more ? 0 : ZDB_MONITOR_INTERVAL_MS);
    }
    bdrv_dec_in_flight(s->bs);
}

static void zdb_monitor_tick(void *opaque)
{
    BDRVZdbState *s = opaque;
    Coroutine *co;

    if (s->monitor_running || s->quiesced) {
        return;
    }
    s->monitor_running = true;
    /* drain waits for the pass, so it never copies behind drain's back */
    bdrv_inc_in_flight(s->bs);
    co = qemu_coroutine_create(zdb_monitor_co, s);
    aio_co_enter(bdrv_get_aio_context(s->bs), co);
}

void zdb_backup_attach(BDRVZdbState *s, AioContext *ctx)
{
    if (s->nsides < 2 || !s->writable) {
        return;
    }
    s->monitor = aio_timer_new(ctx, QEMU_CLOCK_REALTIME, SCALE_MS,
                               zdb_monitor_tick, s);
    if (zdb_degraded(s)) {
        zdb_monitor_arm(s, 0);
    }
}

void zdb_backup_detach(BDRVZdbState *s)
{
    if (s->monitor) {
        timer_free(s->monitor);
        s->monitor = NULL;
    }
}

void zdb_backup_init(BDRVZdbState *s)
{
    s->writable = true;
    zdb_backup_attach(s, bdrv_get_aio_context(s->bs));
}

void zdb_backup_cleanup(BDRVZdbState *s)
{
    zdb_backup_detach(s);
}

void zdb_backup_quiesce(BDRVZdbState *s, bool quiesced)
{
    s->quiesced = quiesced;
    if (!s->monitor) {
        return;
    }
    if (quiesced) {
        timer_del(s->monitor);
    } else if (zdb_degraded(s)) {
        zdb_monitor_arm(s, 0);
    }
}

/*
 * zdb block driver: the namespaces that hold a disk, and keeping them equal
 *
 * Copyright (c) 2026 the zdb driver authors
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#include "qemu/osdep.h"
#include "qapi/error.h"
#include "qemu/bitmap.h"
#include "qemu/error-report.h"
#include "block/block-io.h"
#include "block/zdb-sides.h"
#include "trace.h"

#define ZDB_MONITOR_INTERVAL_MS 1000
/* blocks copied under one hold, and holds per monitor pass */
#define ZDB_CATCHUP_BATCH       256
#define ZDB_CATCHUP_BATCHES     64

void zdb_sides_init(ZdbSides *sides, BlockDriverState *bs,
                    ZdbRangeLock *ranges)
{
    sides->bs = bs;
    sides->ranges = ranges;
    sides->side[0].name = "primary";
    sides->side[1].name = "backup";
    sides->nsides = 1;
    qemu_co_mutex_init(&sides->meta_lock);
}

void zdb_sides_set_geometry(ZdbSides *sides, uint64_t size,
                            uint32_t blocksize)
{
    sides->size = size;
    sides->blocksize = blocksize;
    sides->nblocks = DIV_ROUND_UP(size, blocksize);
}

static ZdbSide *zdb_other_side(ZdbSides *sides, ZdbSide *side)
{
    return side == &sides->side[0] ? &sides->side[1] : &sides->side[0];
}

ZdbSide *zdb_sides_reader(ZdbSides *sides, ZdbSide *not)
{
    int t;

    for (t = 0; t < sides->nsides; t++) {
        if (&sides->side[t] != not &&
            sides->side[t].state == ZDB_SIDE_STATE_SYNC) {
            return &sides->side[t];
        }
    }
    return NULL;
}

bool zdb_sides_degraded(ZdbSides *sides)
{
    return sides->nsides > 1 &&
           (sides->side[0].state != ZDB_SIDE_STATE_SYNC ||
            sides->side[1].state != ZDB_SIDE_STATE_SYNC);
}

/* ------------------------------------------------------------------ */
/* Open                                                                */
/* ------------------------------------------------------------------ */

bool zdb_sides_probe(ZdbSides *sides, int open_timeout_s, ZdbProbe *primary,
                     ZdbProbe *backup, Error **errp)
{
    ERRP_GUARD();
    Error *primary_err = NULL;

    if (sides->nsides == 1) {
        return zdb_store_probe(&sides->side[0].store.addr, open_timeout_s,
                               primary, errp);
    }
    if (!zdb_store_probe(&sides->side[0].store.addr, open_timeout_s, primary,
                         &primary_err) && !primary->unreachable) {
        error_propagate(errp, primary_err);
        return false;
    }
    if (!zdb_store_probe(&sides->side[1].store.addr, open_timeout_s, backup,
                         errp)) {
        if (!backup->unreachable || primary->unreachable) {
            error_free(primary_err);
            return false;
        }
        warn_report_err(*errp);
        *errp = NULL;
    }
    if (primary_err) {
        warn_report_err(primary_err);
    }
    return true;
}

/*
 * A side that missed writes has a lower generation in its metadata than
 * the other; a side without metadata beside one with it is new.  Either
 * is behind on everything: it is copied in full before it serves reads
 * (which blocks it missed is not recorded across restarts, so a full copy
 * is the only safe answer).  A side that cannot be reached is down, and
 * behind on everything as well.
 */
void zdb_sides_settle(ZdbSides *sides, const ZdbProbe *p, const ZdbProbe *b)
{
    ZdbSide *primary = &sides->side[0], *backup = &sides->side[1];
    ZdbSide *stale = NULL;
    int t;

    for (t = 0; t < 2; t++) {
        const ZdbProbe *probe = t ? b : p;

        sides->side[t].has_meta = probe->found > 0;
        sides->side[t].generation = probe->found > 0 ? probe->g.generation
                                                     : 0;
        sides->side[t].state = ZDB_SIDE_STATE_SYNC;
        sides->side[t].out_of_sync = bitmap_new(sides->nblocks);
    }
    if (p->unreachable) {
        stale = primary;
    } else if (b->unreachable) {
        stale = backup;
    } else if (primary->has_meta != backup->has_meta) {
        stale = primary->has_meta ? backup : primary;
    } else if (!primary->has_meta) {
        /*
         * Two namespaces without metadata: nothing says which one holds
         * the disk, so the primary is taken as the truth.
         */
        stale = backup;
    } else if (primary->generation != backup->generation) {
        stale = primary->generation < backup->generation ? primary : backup;
    }
    if (stale) {
        const ZdbProbe *probe = stale == primary ? p : b;

        stale->state = probe->unreachable ? ZDB_SIDE_STATE_DOWN
                                          : ZDB_SIDE_STATE_BEHIND;
        bitmap_set(stale->out_of_sync, 0, sides->nblocks);
    }
}

/* ------------------------------------------------------------------ */
/* Losing a side                                                       */
/* ------------------------------------------------------------------ */

static void zdb_monitor_arm(ZdbSides *sides, int64_t ms)
{
    if (sides->monitor && !sides->quiesced) {
        timer_mod(sides->monitor,
                  qemu_clock_get_ms(QEMU_CLOCK_REALTIME) + ms);
    }
}

/*
 * @side failed.  The last side in sync is never given up: it alone holds
 * everything acknowledged, so it stays, and requests fail until it
 * answers again.
 */
static void zdb_side_lost(ZdbSides *sides, ZdbSide *side, int err)
{
    ZdbSide *other;

    if (sides->nsides < 2 || side->state == ZDB_SIDE_STATE_DOWN) {
        return;
    }
    other = zdb_other_side(sides, side);
    if (side->state == ZDB_SIDE_STATE_SYNC &&
        other->state != ZDB_SIDE_STATE_SYNC) {
        return;
    }
    trace_zdb_side_lost(side->name, side->store.addr.namespace, err);
    warn_report("zdb: %s namespace '%s' lost (%s); the %s goes on alone",
                side->name, side->store.addr.namespace, strerror(-err),
                other->name);
    /* Its metadata may claim to be current: the live side must say more. */
    if (side->generation >= other->generation) {
        sides->degraded_recorded = false;
    }
    side->state = ZDB_SIDE_STATE_DOWN;
    zdb_monitor_arm(sides, ZDB_MONITOR_INTERVAL_MS);
}

/* @side missed @blocks */
static void zdb_side_mark(ZdbSides *sides, ZdbSide *side,
                          const ZdbBlocks *blocks)
{
    uint64_t i;

    if (!side->out_of_sync) {
        return;
    }
    if (!blocks->list) {
        bitmap_set(side->out_of_sync, blocks->first, blocks->n);
        return;
    }
    for (i = 0; i < blocks->n; i++) {
        set_bit(blocks->list[i], side->out_of_sync);
    }
}

/* Records the geometry and @side's generation in its metadata key */
static int coroutine_fn zdb_side_co_write_meta(ZdbSides *sides,
                                               ZdbSide *side)
{
    ZdbGeometry g = {
        .size = sides->size,
        .blocksize = sides->blocksize,
        .generation = side->generation,
    };
    int ret;

    trace_zdb_generation(side->name, side->generation);
    ret = zdb_store_co_write_meta(&side->store, &g);
    if (ret == 0) {
        side->has_meta = true;
    }
    return ret;
}

/*
 * Raises the generation of the sides in sync, once per loss, before a
 * write made without the other side is acknowledged.
 */
static int coroutine_fn zdb_sides_co_record_degraded(ZdbSides *sides)
{
    int ret = 0;
    int t;

    if (sides->degraded_recorded) {
        return 0;
    }
    qemu_co_mutex_lock(&sides->meta_lock);
    if (!sides->degraded_recorded) {
        uint64_t gen = MAX(sides->side[0].generation,
                           sides->side[1].generation) + 1;

        for (t = 0; t < sides->nsides && ret == 0; t++) {
            ZdbSide *side = &sides->side[t];

            if (side->state == ZDB_SIDE_STATE_SYNC) {
                side->generation = gen;
                ret = zdb_side_co_write_meta(sides, side);
            }
        }
        sides->degraded_recorded = ret == 0;
    }
    qemu_co_mutex_unlock(&sides->meta_lock);
    return ret;
}

/* ------------------------------------------------------------------ */
/* Reads and writes                                                    */
/* ------------------------------------------------------------------ */

int coroutine_fn zdb_sides_co_fetch(ZdbSides *sides, ZdbFetch *f,
                                    const uint64_t *blocks, uint64_t n)
{
    ZdbSide *side = zdb_sides_reader(sides, NULL);
    ZdbSide *other;
    int ret;

    if (!side) {
        return -EIO;
    }
    ret = zdb_store_co_fetch(&side->store, f, blocks, n);
    while (ret < 0 && (other = zdb_sides_reader(sides, side))) {
        trace_zdb_failover(side->name, ret);
        zdb_side_lost(sides, side, ret);
        side = other;
        if (f->missing) {
            memset(f->missing, 0, n * sizeof(bool));
        }
        ret = zdb_store_co_fetch(&side->store, f, blocks, n);
    }
    return ret;
}

/* One side's part of a put, in a coroutine of its own (as quorum.c does) */
typedef struct ZdbSidePut {
    ZdbSide *side;
    const ZdbBlocks *blocks;
    const ZdbValues *v;
    int ret;
    bool done;
    Coroutine *waiter;          /* set while the put waits for this part */
} ZdbSidePut;

static void coroutine_fn zdb_side_put_entry(void *opaque)
{
    ZdbSidePut *p = opaque;

    p->ret = zdb_store_co_put(&p->side->store, p->blocks, p->v);
    p->done = true;
    if (p->waiter) {
        aio_co_wake(p->waiter);
    }
}

int coroutine_fn zdb_sides_co_put(ZdbSides *sides, const ZdbBlocks *blocks,
                                  const ZdbValues *v)
{
    ZdbSidePut parts[2];
    int nparts = 0, t, ret = 0;
    bool taken = false;

    for (t = 0; t < sides->nsides; t++) {
        ZdbSide *side = &sides->side[t];

        if (side->state == ZDB_SIDE_STATE_DOWN) {
            zdb_side_mark(sides, side, blocks);
            continue;
        }
        parts[nparts++] = (ZdbSidePut) {
            .side = side, .blocks = blocks, .v = v,
        };
    }
    /* the first part in this coroutine, a second one beside it */
    if (nparts > 1) {
        qemu_coroutine_enter(qemu_coroutine_create(zdb_side_put_entry,
                                                   &parts[1]));
    }
    if (nparts > 0) {
        parts[0].ret = zdb_store_co_put(&parts[0].side->store, blocks, v);
        parts[0].done = true;
    }
    while (nparts > 1 && !parts[1].done) {
        parts[1].waiter = qemu_coroutine_self();
        qemu_coroutine_yield();
        parts[1].waiter = NULL;
    }

    for (t = 0; t < nparts; t++) {
        if (parts[t].ret == 0 &&
            parts[t].side->state == ZDB_SIDE_STATE_SYNC) {
            taken = true;
        } else if (parts[t].ret < 0 && !ret) {
            ret = parts[t].ret;
        }
    }
    if (!taken) {
        return ret < 0 ? ret : -EIO;
    }
    for (t = 0; t < nparts; t++) {
        if (parts[t].ret < 0) {
            zdb_side_lost(sides, parts[t].side, parts[t].ret);
            zdb_side_mark(sides, parts[t].side, blocks);
        }
    }
    return zdb_sides_degraded(sides) ? zdb_sides_co_record_degraded(sides)
                                     : 0;
}

int coroutine_fn zdb_sides_co_exists(ZdbSides *sides, uint64_t first, int n,
                                     int8_t *out)
{
    ZdbSide *side = zdb_sides_reader(sides, NULL);

    if (!side) {
        return -EIO;
    }
    return zdb_store_co_exists(&side->store, first, n, out);
}

/* ------------------------------------------------------------------ */
/* Size                                                                */
/* ------------------------------------------------------------------ */

static void zdb_sides_extend_bitmaps(ZdbSides *sides, uint64_t size)
{
    uint64_t blocks = DIV_ROUND_UP(size, sides->blocksize);
    int t;

    for (t = 0; t < sides->nsides; t++) {
        if (sides->side[t].out_of_sync && blocks > sides->nblocks) {
            sides->side[t].out_of_sync =
                bitmap_zero_extend(sides->side[t].out_of_sync,
                                   sides->nblocks, blocks);
        }
    }
    sides->nblocks = MAX(sides->nblocks, blocks);
}

/*
 * Records @size as the disk's size on every side that is not down; a side
 * in sync must take it.  Called with meta_lock held.
 */
static int coroutine_fn zdb_sides_co_set_size(ZdbSides *sides, uint64_t size)
{
    uint64_t old_size = sides->size;
    bool taken = false;
    int ret = 0, t;

    zdb_sides_extend_bitmaps(sides, size);
    sides->size = size;
    for (t = 0; t < sides->nsides; t++) {
        ZdbSide *side = &sides->side[t];
        int r;

        if (side->state == ZDB_SIDE_STATE_DOWN) {
            continue;
        }
        r = zdb_side_co_write_meta(sides, side);
        if (r < 0) {
            ret = ret ?: r;
        } else if (side->state == ZDB_SIDE_STATE_SYNC) {
            taken = true;
        }
    }
    if (!taken) {
        sides->size = old_size;
        return ret < 0 ? ret : -EIO;
    }
    return 0;
}

int coroutine_fn zdb_sides_co_grow(ZdbSides *sides, uint64_t end)
{
    int ret = 0;

    qemu_co_mutex_lock(&sides->meta_lock);
    if (end > sides->size) {
        ret = zdb_sides_co_set_size(sides, ROUND_UP(end, BDRV_SECTOR_SIZE));
    }
    qemu_co_mutex_unlock(&sides->meta_lock);
    return ret;
}

int coroutine_fn zdb_sides_co_resize(ZdbSides *sides, uint64_t size)
{
    int ret;

    qemu_co_mutex_lock(&sides->meta_lock);
    ret = zdb_sides_co_set_size(sides, size);
    qemu_co_mutex_unlock(&sides->meta_lock);
    return ret;
}

int coroutine_fn zdb_sides_co_reread_size(ZdbSides *sides, Error **errp)
{
    ZdbSide *side = zdb_sides_reader(sides, NULL);
    ZdbGeometry g;
    int ret;

    if (!side) {
        error_setg(errp, "zdb: no namespace of the disk is reachable");
        return -EIO;
    }
    ret = zdb_store_co_read_meta(&side->store, &g, errp);
    if (ret <= 0 || g.size == sides->size) {
        return ret;
    }
    if (g.blocksize != sides->blocksize) {
        error_setg(errp, "zdb: namespace '%s' now records blocksize %"
                   PRIu64 ", not %" PRIu32, side->store.addr.namespace,
                   g.blocksize, sides->blocksize);
        return -EIO;
    }
    zdb_sides_extend_bitmaps(sides, g.size);
    sides->size = g.size;
    return 0;
}

/* ------------------------------------------------------------------ */
/* The monitor: bringing a side back                                   */
/* ------------------------------------------------------------------ */

/* Every block copied: @side says it is as current as @src, and is. */
static void coroutine_fn zdb_co_finish_catch_up(ZdbSides *sides,
                                                ZdbSide *side, ZdbSide *src)
{
    int ret;

    qemu_co_mutex_lock(&sides->meta_lock);
    side->generation = src->generation;
    ret = zdb_side_co_write_meta(sides, side);
    qemu_co_mutex_unlock(&sides->meta_lock);
    if (ret < 0) {
        zdb_side_lost(sides, side, ret);
        return;
    }
    /* a write may have failed on it meanwhile, or marked a block */
    if (side->state != ZDB_SIDE_STATE_BEHIND ||
        find_first_bit(side->out_of_sync, sides->nblocks) < sides->nblocks) {
        return;
    }
    side->state = ZDB_SIDE_STATE_SYNC;
    trace_zdb_catchup_done(side->name, side->copied);
    side->copied = 0;
    info_report("zdb: %s namespace '%s' is in sync again", side->name,
                side->store.addr.namespace);
}

/*
 * Copies some of the blocks @side lacks from @src, each batch held like a
 * partial write so that no guest write to those blocks interleaves.
 * Returns true when more remain.
 */
static bool coroutine_fn zdb_co_catch_up(ZdbSides *sides, ZdbSide *side,
                                         ZdbSide *src)
{
    uint64_t blocks[ZDB_CATCHUP_BATCH];
    int batch;

    for (batch = 0; batch < ZDB_CATCHUP_BATCHES; batch++) {
        uint64_t b = find_first_bit(side->out_of_sync, sides->nblocks);
        ZdbRange range;
        int i, n = 0, ret;

        if (b >= sides->nblocks) {
            zdb_co_finish_catch_up(sides, side, src);
            return false;
        }
        while (b < sides->nblocks && n < ZDB_CATCHUP_BATCH) {
            blocks[n++] = b;
            b = find_next_bit(side->out_of_sync, sides->nblocks, b + 1);
        }
        if (batch == 0) {
            trace_zdb_catchup_start(side->name,
                                    bitmap_count_one(side->out_of_sync,
                                                     sides->nblocks));
        }
        zdb_range_co_lock(sides->ranges, &range, blocks[0], blocks[n - 1],
                          true);
        ret = zdb_store_co_copy(&src->store, &side->store, blocks, n);
        if (ret == 0) {
            for (i = 0; i < n; i++) {
                clear_bit(blocks[i], side->out_of_sync);
            }
            side->copied += n;
        }
        zdb_range_unlock(sides->ranges, &range);
        if (ret < 0) {
            zdb_side_lost(sides, side, ret);
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
    ZdbSides *sides = opaque;
    bool more = false;
    int t;

    for (t = 0; t < sides->nsides; t++) {
        ZdbSide *side = &sides->side[t];
        ZdbSide *src = zdb_sides_reader(sides, side);

        if (side->state == ZDB_SIDE_STATE_DOWN && src &&
            zdb_store_co_connect(&side->store) == 0) {
            /* from now on it takes every write, then it is caught up */
            trace_zdb_side_back(side->name, side->store.addr.namespace);
            side->state = ZDB_SIDE_STATE_BEHIND;
        }
        if (side->state == ZDB_SIDE_STATE_BEHIND && src) {
            more |= zdb_co_catch_up(sides, side, src);
        }
    }
    sides->monitor_running = false;
    if (zdb_sides_degraded(sides)) {
        zdb_monitor_arm(sides, more ? 0 : ZDB_MONITOR_INTERVAL_MS);
    }
    bdrv_dec_in_flight(sides->bs);
}

static void zdb_monitor_tick(void *opaque)
{
    ZdbSides *sides = opaque;
    Coroutine *co;

    if (sides->monitor_running || sides->quiesced) {
        return;
    }
    sides->monitor_running = true;
    /* drain waits for the pass, so it never copies behind drain's back */
    bdrv_inc_in_flight(sides->bs);
    co = qemu_coroutine_create(zdb_monitor_co, sides);
    aio_co_enter(bdrv_get_aio_context(sides->bs), co);
}

static void zdb_monitor_start(ZdbSides *sides, AioContext *ctx)
{
    sides->monitor = aio_timer_new(ctx, QEMU_CLOCK_REALTIME, SCALE_MS,
                                   zdb_monitor_tick, sides);
    if (zdb_sides_degraded(sides)) {
        zdb_monitor_arm(sides, 0);
    }
}

void zdb_sides_attach_aio_context(ZdbSides *sides, AioContext *ctx)
{
    int t;

    for (t = 0; t < sides->nsides; t++) {
        zdb_store_attach_aio_context(&sides->side[t].store, ctx);
    }
    if (sides->monitor_enabled) {
        zdb_monitor_start(sides, ctx);
    }
}

void zdb_sides_detach_aio_context(ZdbSides *sides)
{
    int t;

    if (sides->monitor) {
        timer_free(sides->monitor);
        sides->monitor = NULL;
    }
    for (t = 0; t < sides->nsides; t++) {
        zdb_store_detach_aio_context(&sides->side[t].store);
    }
}

void zdb_sides_connect(ZdbSides *sides, bool zero_marker, int connections,
                       int timeout_s, bool monitor, AioContext *ctx)
{
    int t;

    for (t = 0; t < sides->nsides; t++) {
        zdb_store_connect(&sides->side[t].store, sides->blocksize,
                          zero_marker, connections, timeout_s, ctx);
    }
    sides->monitor_enabled = monitor && sides->nsides > 1;
    if (sides->monitor_enabled) {
        zdb_monitor_start(sides, ctx);
    }
}

void zdb_sides_close(ZdbSides *sides)
{
    int t;

    if (sides->monitor) {
        timer_free(sides->monitor);
        sides->monitor = NULL;
    }
    for (t = 0; t < 2; t++) {
        zdb_store_close(&sides->side[t].store);
        g_free(sides->side[t].out_of_sync);
        sides->side[t].out_of_sync = NULL;
    }
}

void zdb_sides_quiesce(ZdbSides *sides, bool quiesced)
{
    sides->quiesced = quiesced;
    if (!sides->monitor) {
        return;
    }
    if (quiesced) {
        timer_del(sides->monitor);
    } else if (zdb_sides_degraded(sides)) {
        zdb_monitor_arm(sides, 0);
    }
}

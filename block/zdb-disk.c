/*
 * zdb block driver: what the guest sees
 *
 * Copyright (c) 2026 the zdb driver authors
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#include "qemu/osdep.h"
#include "qapi/error.h"
#include "block/block-io.h"
#include "block/zdb-disk.h"
#include "trace.h"

/*
 * Small requests (a guest's usual 4 KiB to 64 KiB) keep their block lists
 * on the coroutine's stack: no allocation per request on the hot path.
 */
#define ZDB_STACK_BLOCKS        16

void zdb_disk_init(ZdbDisk *d, BlockDriverState *bs)
{
    zdb_range_lock_init(&d->ranges);
    zdb_sides_init(&d->sides, bs, &d->ranges);
}

static uint64_t zdb_disk_sessions_lost(ZdbDisk *d)
{
    uint64_t n = 0;
    int t;

    for (t = 0; t < d->sides.nsides; t++) {
        n += zdb_store_sessions_lost(&d->sides.side[t].store);
    }
    return n;
}

static uint64_t zdb_disk_blocks(ZdbDisk *d)
{
    return DIV_ROUND_UP(d->sides.size, d->sides.blocksize);
}

/* ------------------------------------------------------------------ */
/* The walk: what a disk opened with blocks in it holds                */
/* ------------------------------------------------------------------ */

/*
 * Each step of 0-db's SCAN works about 2 ms on the server, which serves
 * nobody else meanwhile (one thread): the walk waits ZDB_WALK_PACE times
 * as long as a step took before the next, so it takes at most a fifth of
 * the server's time, and other disks' requests wait 2 ms at worst.
 */
#define ZDB_WALK_PACE           4
#define ZDB_WALK_RETRY_MS       1000

/*
 * But a step never cuts short a run of entries overwritten since: the
 * first step over a much rewritten namespace holds 0-db for seconds.  A
 * short-lived tool (qemu-img info, map, bench; a small convert) has no use
 * for the walk and would make every client of the server pay that: the
 * walk starts only once a disk has been open this long.
 */
#define ZDB_WALK_START_MS       5000

/* The timer for the next step as last set, unless the walk is paused */
static void zdb_walk_rearm(ZdbDisk *d)
{
    if (d->walk_timer && d->walking && !d->quiesced && !d->sides.inactive) {
        timer_mod(d->walk_timer, d->walk_due_ms);
    }
}

static void zdb_walk_arm(ZdbDisk *d, int64_t ms)
{
    d->walk_due_ms = qemu_clock_get_ms(QEMU_CLOCK_REALTIME) + ms;
    zdb_walk_rearm(d);
}

static void zdb_walk_pause(ZdbDisk *d)
{
    if (d->walk_timer) {
        timer_del(d->walk_timer);
    }
}

/* From the first key, knowing what is known now, in @ms */
static void zdb_walk_restart(ZdbDisk *d, int64_t ms)
{
    bool redis = d->walk.redis;

    memset(&d->walk, 0, sizeof(d->walk));
    d->walk.redis = redis;
    d->walk_gen++;
    d->walk_failed = d->writes_failed;
    d->walk_steps = d->walk_keys = 0;
    d->walking = d->key_scan;
    zdb_walk_arm(d, ms);
}

/*
 * What a step saw.  A listed key was there when the server ran the step;
 * a block whose write or delete ended since is known from that write, so
 * only blocks still unknown learn from the step.  At the end, every block
 * still unknown was in no step: absent.  A write ends by making its blocks
 * known, also when it is still in flight then, unless it fails: a write
 * that failed during the walk may have landed unseen, so the walk starts
 * over.
 */
static void zdb_walk_learn(ZdbDisk *d, const ZdbScan *scan, int side,
                           GArray *seen)
{
    guint i;

    for (i = 0; i < seen->len; i++) {
        uint64_t block = g_array_index(seen, uint64_t, i);

        if (block >= d->known.nblocks) {
            /* a disk of the original driver opened smaller than it is */
            d->keys_past_end = true;
        } else if (zdb_known_get(&d->known, block) == ZDB_KNOWN_UNKNOWN) {
            zdb_known_set(&d->known, block, 1, ZDB_KNOWN_PRESENT);
        }
    }
    d->walk = *scan;
    d->walk_side = side;
    d->walk_steps++;
    d->walk_keys += seen->len;
    if (!scan->done) {
        return;
    }
    if (d->writes_failed != d->walk_failed) {
        zdb_walk_restart(d, ZDB_WALK_RETRY_MS);
        return;
    }
    zdb_known_settle(&d->known, ZDB_KNOWN_ABSENT);
    d->walking = false;
    trace_zdb_walk_done(d->sides.side[side].store.addr.namespace,
                        d->walk_steps, d->walk_keys);
}

void zdb_disk_forget(ZdbDisk *d)
{
    trace_zdb_known_forget(d->sides.side[0].store.addr.namespace);
    zdb_known_forget(&d->known);
    zdb_known_resize(&d->known, zdb_disk_blocks(d), ZDB_KNOWN_UNKNOWN);
    /* a read in flight saw the namespace before: it must not teach that */
    d->writes_ended++;
    /* not at once: a lost session is often a server that just restarted */
    zdb_walk_restart(d, ZDB_WALK_RETRY_MS);
}

/*
 * A connection that lost its session may have missed another writer's
 * changes, from the loss on.  Returns whether the knowledge was dropped.
 */
static bool zdb_disk_check_sessions(ZdbDisk *d)
{
    uint64_t now = zdb_disk_sessions_lost(d);

    if (now == d->sessions_lost_seen) {
        return false;
    }
    d->sessions_lost_seen = now;
    zdb_disk_forget(d);
    return true;
}

static void coroutine_fn zdb_walk_step_co(void *opaque)
{
    ZdbDisk *d = opaque;
    g_autoptr(GArray) seen = g_array_new(false, false, sizeof(uint64_t));
    int64_t began = qemu_clock_get_ms(QEMU_CLOCK_REALTIME);
    ZdbScan scan = d->walk;
    int side = d->walk_side;
    uint64_t gen = d->walk_gen;
    int ret;

    /* a session lost since the last step starts the walk over, later */
    if (!zdb_disk_check_sessions(d)) {
        ret = zdb_sides_co_scan(&d->sides, &side, &scan, seen);
        zdb_disk_check_sessions(d);
        if (gen != d->walk_gen) {
            /* started over meanwhile; its tick may have come and gone */
            zdb_walk_rearm(d);
        } else if (ret == 0) {
            zdb_walk_learn(d, &scan, side, seen);
            if (gen == d->walk_gen) {
                zdb_walk_arm(d, ZDB_WALK_PACE *
                             (qemu_clock_get_ms(QEMU_CLOCK_REALTIME) - began));
            }
        } else {
            /* another side to walk, or a cursor the server refuses */
            trace_zdb_walk_restart(d->sides.side[side].store.addr.namespace,
                                   ret);
            zdb_walk_restart(d, ret == -ESTALE ? 0 : ZDB_WALK_RETRY_MS);
        }
    }
    d->walk_step_running = false;
    bdrv_dec_in_flight(d->sides.bs);
}

static void zdb_walk_tick(void *opaque)
{
    ZdbDisk *d = opaque;
    Coroutine *co;

    if (d->walk_step_running || !d->walking || d->quiesced ||
        d->sides.inactive) {
        return;
    }
    d->walk_step_running = true;
    /* drain waits for the step, as for the sides' monitor */
    bdrv_inc_in_flight(d->sides.bs);
    co = qemu_coroutine_create(zdb_walk_step_co, d);
    aio_co_enter(bdrv_get_aio_context(d->sides.bs), co);
}

static void zdb_walk_timer_new(ZdbDisk *d, AioContext *ctx)
{
    d->walk_timer = aio_timer_new(ctx, QEMU_CLOCK_REALTIME, SCALE_MS,
                                  zdb_walk_tick, d);
    zdb_walk_rearm(d);
}

static void zdb_walk_timer_free(ZdbDisk *d)
{
    if (d->walk_timer) {
        timer_free(d->walk_timer);
        d->walk_timer = NULL;
    }
}

/* ------------------------------------------------------------------ */
/* Life                                                                */
/* ------------------------------------------------------------------ */

void zdb_disk_start(ZdbDisk *d, bool empty)
{
    zdb_known_init(&d->known, zdb_disk_blocks(d),
                   empty ? ZDB_KNOWN_ABSENT : ZDB_KNOWN_UNKNOWN);
    d->sessions_lost_seen = zdb_disk_sessions_lost(d);
    zdb_walk_timer_new(d, bdrv_get_aio_context(d->sides.bs));
    if (!empty) {
        zdb_walk_restart(d, ZDB_WALK_START_MS);
    }
}

void zdb_disk_close(ZdbDisk *d)
{
    zdb_walk_timer_free(d);
    zdb_known_free(&d->known);
    zdb_sides_close(&d->sides);
    zdb_store_close(&d->thin);
}

void zdb_disk_detach_aio_context(ZdbDisk *d)
{
    zdb_walk_timer_free(d);
    zdb_sides_detach_aio_context(&d->sides);
    if (d->has_thin) {
        zdb_store_detach_aio_context(&d->thin);
    }
}

void zdb_disk_attach_aio_context(ZdbDisk *d, AioContext *ctx)
{
    if (d->has_thin) {
        zdb_store_attach_aio_context(&d->thin, ctx);
    }
    zdb_sides_attach_aio_context(&d->sides, ctx);
    zdb_walk_timer_new(d, ctx);
}

void zdb_disk_quiesce(ZdbDisk *d, bool quiesced)
{
    zdb_sides_quiesce(&d->sides, quiesced);
    d->quiesced = quiesced;
    if (quiesced) {
        zdb_walk_pause(d);
    } else {
        zdb_walk_rearm(d);
    }
}

void zdb_disk_inactivate(ZdbDisk *d)
{
    zdb_sides_inactivate(&d->sides);
    zdb_walk_pause(d);
}

void coroutine_fn zdb_disk_co_take_over(ZdbDisk *d, ZdbKeep keep,
                                        Error **errp)
{
    if (d->sides.inactive) {
        zdb_sides_co_activate(&d->sides, keep, errp);
    } else {
        zdb_sides_co_reread_size(&d->sides, errp);
    }
    zdb_disk_forget(d);
}

static void zdb_disk_know(ZdbDisk *d, const ZdbBlocks *blocks,
                          ZdbKnownState state)
{
    uint64_t i;

    if (!blocks->list) {
        zdb_known_set(&d->known, blocks->first, blocks->n, state);
        return;
    }
    for (i = 0; i < blocks->n; i++) {
        zdb_known_set(&d->known, blocks->list[i], 1, state);
    }
}

/* What a fetch saw, unless a write ended meanwhile (@ended: before it) */
static void zdb_disk_learn(ZdbDisk *d, uint64_t ended, const uint64_t *blocks,
                           const int8_t *exists, uint64_t n)
{
    uint64_t i;

    if (ended != d->writes_ended) {
        return;
    }
    for (i = 0; i < n; i++) {
        if (exists[i] >= 0) {
            zdb_known_set(&d->known, blocks[i], 1,
                          exists[i] ? ZDB_KNOWN_PRESENT : ZDB_KNOWN_ABSENT);
        }
    }
}

/* A put, and what the disk holds after it: @after, or unknown on failure */
static int coroutine_fn zdb_disk_co_put(ZdbDisk *d, const ZdbBlocks *blocks,
                                        const ZdbValues *v,
                                        ZdbKnownState after)
{
    int ret;

    zdb_disk_know(d, blocks, ZDB_KNOWN_UNKNOWN);
    ret = zdb_sides_co_put(&d->sides, blocks, v);
    zdb_disk_know(d, blocks, ret == 0 ? after : ZDB_KNOWN_UNKNOWN);
    d->writes_ended++;
    d->writes_failed += ret < 0;
    return ret;
}

/* ------------------------------------------------------------------ */
/* Reads                                                               */
/* ------------------------------------------------------------------ */

/* Lays block @block, of kind @kind with value @val, into the read's qiov */
static void zdb_disk_fill(ZdbDisk *d, QEMUIOVector *qiov, int64_t offset,
                          int64_t bytes, uint64_t block, int8_t kind,
                          const uint8_t *val)
{
    int64_t bstart = block * d->sides.blocksize;
    int64_t lo = MAX(bstart, offset);
    int64_t hi = MIN(bstart + d->sides.blocksize, offset + bytes);

    if (kind == ZDB_KIND_VALUE) {
        qemu_iovec_from_buf(qiov, lo - offset, val + (lo - bstart), hi - lo);
    } else {
        qemu_iovec_memset(qiov, lo - offset, 0, hi - lo);
    }
}

/* A fetch from the base beside the disk's own, as quorum.c runs children */
typedef struct ZdbBaseFetch {
    ZdbDisk *d;
    const uint64_t *blocks;
    uint64_t n;
    int8_t *kinds;
    uint8_t *vals;
    int ret;
    bool done;
    Coroutine *waiter;          /* set while the read waits for it */
} ZdbBaseFetch;

static void coroutine_fn zdb_base_fetch_entry(void *opaque)
{
    ZdbBaseFetch *bf = opaque;
    ZdbFetch f = { .copy = bf->vals, .kinds = bf->kinds };

    bf->ret = bf->n ? zdb_store_co_fetch(&bf->d->thin, &f, bf->blocks, bf->n)
                    : 0;
    bf->done = true;
    if (bf->waiter) {
        aio_co_wake(bf->waiter);
    }
}

/*
 * Copy-on-read: of the @n blocks fetched from the base (@kinds, @vals),
 * the ones it holds go into the disk as well.
 */
static int coroutine_fn zdb_disk_co_keep(ZdbDisk *d, uint64_t *blocks,
                                         uint64_t n, int8_t *kinds,
                                         uint8_t *vals)
{
    uint32_t bsz = d->sides.blocksize;
    ZdbBlocks list = { .list = blocks };
    ZdbValues v = { .kinds = kinds, .vals = vals };
    uint64_t i;

    for (i = 0; i < n; i++) {
        if (kinds[i] != ZDB_KIND_VALUE) {
            continue;
        }
        if (list.n != i) {
            blocks[list.n] = blocks[i];
            kinds[list.n] = kinds[i];
            memcpy(vals + list.n * bsz, vals + i * bsz, bsz);
        }
        list.n++;
    }
    return list.n ? zdb_disk_co_put(d, &list, &v, ZDB_KNOWN_PRESENT) : 0;
}

/* A disk without a base: one batch, and what it says of the blocks */
static int coroutine_fn zdb_disk_co_fetch(ZdbDisk *d, int64_t offset,
                                          int64_t bytes, QEMUIOVector *qiov)
{
    uint32_t bsz = d->sides.blocksize;
    uint64_t first = offset / bsz;
    uint64_t n = (offset + bytes - 1) / bsz - first + 1;
    uint64_t blocks_here[ZDB_STACK_BLOCKS] = { 0 };
    int8_t exists_here[ZDB_STACK_BLOCKS];
    g_autofree uint64_t *blocks_heap = NULL;
    g_autofree int8_t *exists_heap = NULL;
    uint64_t *blocks = blocks_here;
    ZdbFetch f = {
        .qiov = qiov, .offset = offset, .bytes = bytes, .exists = exists_here,
    };
    uint64_t ended = d->writes_ended;
    uint64_t i;
    int ret;

    if (n > ZDB_STACK_BLOCKS) {
        blocks = blocks_heap = g_new(uint64_t, n);
        f.exists = exists_heap = g_new(int8_t, n);
    }
    for (i = 0; i < n; i++) {
        blocks[i] = first + i;
    }
    memset(f.exists, -1, n);
    ret = zdb_sides_co_fetch(&d->sides, &f, blocks, n);
    zdb_disk_learn(d, ended, blocks, f.exists, n);
    return ret;
}

/*
 * A disk on a thin base.  Blocks known present are read from the disk,
 * blocks known absent from the base, blocks not known from both at once;
 * the base's value counts where the disk has none.  A block the disk
 * lacks although it was known present (another writer) is read from the
 * base afterwards.
 */
static int coroutine_fn zdb_disk_co_fetch_thin(ZdbDisk *d, int64_t offset,
                                               int64_t bytes,
                                               QEMUIOVector *qiov, bool copy)
{
    uint32_t bsz = d->sides.blocksize;
    uint64_t first = offset / bsz;
    uint64_t n = (offset + bytes - 1) / bsz - first + 1;
    g_autofree uint64_t *own = g_new(uint64_t, n);
    g_autofree uint64_t *base = g_new(uint64_t, n);
    g_autofree int64_t *own_pos = g_new(int64_t, n);
    g_autofree bool *present = g_new0(bool, n);
    g_autofree bool *missing = g_new0(bool, n);
    g_autofree int8_t *exists = g_new(int8_t, n);
    g_autofree int8_t *kinds = g_new0(int8_t, n);
    g_autofree uint8_t *vals = g_malloc((size_t)n * bsz);
    ZdbBaseFetch bf = { .d = d, .blocks = base, .kinds = kinds, .vals = vals };
    ZdbFetch f = {
        .qiov = qiov, .offset = offset, .bytes = bytes, .missing = missing,
        .exists = exists,
    };
    uint64_t ended = d->writes_ended;
    uint64_t nown = 0, nused = 0, i, j;
    int ret = 0;

    for (i = 0; i < n; i++) {
        ZdbKnownState st = zdb_known_get(&d->known, first + i);

        own_pos[i] = st != ZDB_KNOWN_ABSENT ? nown : -1;
        present[i] = st == ZDB_KNOWN_PRESENT;
        if (st != ZDB_KNOWN_ABSENT) {
            own[nown++] = first + i;
        }
        if (st != ZDB_KNOWN_PRESENT) {
            base[bf.n++] = first + i;
        }
    }
    memset(exists, -1, n);
    if (bf.n && nown) {
        qemu_coroutine_enter(qemu_coroutine_create(zdb_base_fetch_entry,
                                                   &bf));
    }
    if (nown) {
        ret = zdb_sides_co_fetch(&d->sides, &f, own, nown);
    }
    if (bf.n && !nown) {
        zdb_base_fetch_entry(&bf);
    }
    while (!bf.done && bf.n) {
        bf.waiter = qemu_coroutine_self();
        qemu_coroutine_yield();
        bf.waiter = NULL;
    }
    if (ret < 0) {
        return ret;
    }
    zdb_disk_learn(d, ended, own, exists, nown);

    /* the base's blocks where the disk has none */
    for (j = 0; j < bf.n; j++) {
        int64_t pos = own_pos[base[j] - first];

        if (pos < 0 || missing[pos]) {
            if (bf.ret < 0) {
                /* a base that failed matters only where it is needed */
                return bf.ret;
            }
            zdb_disk_fill(d, qiov, offset, bytes, base[j], kinds[j],
                          vals + j * bsz);
            if (j != nused) {
                base[nused] = base[j];
                kinds[nused] = kinds[j];
                memcpy(vals + nused * bsz, vals + j * bsz, bsz);
            }
            nused++;
        }
    }
    /* blocks the disk lacks although they were known present */
    for (i = 0; i < nown; i++) {
        ZdbFetch late = { .qiov = qiov, .offset = offset, .bytes = bytes };

        if (missing[i] && present[own[i] - first]) {
            ret = zdb_store_co_fetch(&d->thin, &late, &own[i], 1);
            if (ret < 0) {
                return ret;
            }
        }
    }
    return copy ? zdb_disk_co_keep(d, base, nused, kinds, vals) : 0;
}

/*
 * Reads [offset, offset + bytes) as the guest sees it.  On a thin disk,
 * where the blocks were looked for depends on the knowledge: if a session
 * was lost meanwhile, look again knowing nothing.
 */
static int coroutine_fn zdb_disk_co_fetch_any(ZdbDisk *d, int64_t offset,
                                              int64_t bytes,
                                              QEMUIOVector *qiov, bool copy)
{
    int ret;

    if (!d->has_thin) {
        zdb_disk_check_sessions(d);
        return zdb_disk_co_fetch(d, offset, bytes, qiov);
    }
    do {
        zdb_disk_check_sessions(d);
        ret = zdb_disk_co_fetch_thin(d, offset, bytes, qiov, copy);
    } while (ret == 0 && zdb_disk_check_sessions(d));
    return ret;
}

int coroutine_fn zdb_disk_co_read(ZdbDisk *d, int64_t offset, int64_t bytes,
                                  QEMUIOVector *qiov, bool copy)
{
    uint32_t bsz = d->sides.blocksize;
    ZdbRange range;
    int ret;

    /* a block copied from the base must not land after a guest write */
    copy &= d->has_thin;
    if (copy) {
        zdb_range_co_lock(&d->ranges, &range, offset / bsz,
                          (offset + bytes - 1) / bsz);
    }
    ret = zdb_disk_co_fetch_any(d, offset, bytes, qiov, copy);
    if (copy) {
        zdb_range_unlock(&d->ranges, &range);
    }
    return ret;
}

/* ------------------------------------------------------------------ */
/* Writes                                                              */
/* ------------------------------------------------------------------ */

/*
 * Reads block @block whole into @buf and lays @len bytes of @qiov from
 * @qoff (zeros when @qiov is NULL) over it at @boff.
 */
static int coroutine_fn zdb_disk_co_patch_block(ZdbDisk *d, uint64_t block,
                                                uint8_t *buf, size_t boff,
                                                QEMUIOVector *qiov,
                                                size_t qoff, size_t len)
{
    uint32_t bsz = d->sides.blocksize;
    QEMUIOVector local;
    int ret;

    qemu_iovec_init_buf(&local, buf, bsz);
    ret = zdb_disk_co_fetch_any(d, block * bsz, bsz, &local, false);
    if (ret < 0) {
        return ret;
    }
    if (qiov) {
        qemu_iovec_to_buf(qiov, qoff, buf + boff, len);
    } else {
        memset(buf + boff, 0, len);
    }
    return 0;
}

/*
 * A block only partly covered is read, patched and written whole.  Every
 * write holds its range exclusively: no other write to it interleaves
 * with a read-modify-write; writes to one block reach both sides of a
 * backup in the same order; and what the knowledge says of a block is
 * what the last write to reach the server did (two writes of one block
 * in flight on two connections could be applied in one order and
 * answered in the other).
 */
int coroutine_fn zdb_disk_co_write(ZdbDisk *d, int64_t offset, int64_t bytes,
                                   QEMUIOVector *qiov)
{
    uint32_t bsz = d->sides.blocksize;
    uint64_t first = offset / bsz;
    uint64_t last = (offset + bytes - 1) / bsz;
    size_t head = offset % bsz;
    size_t tail = (offset + bytes) % bsz;
    g_autofree uint8_t *head_buf = NULL;
    g_autofree uint8_t *tail_buf = NULL;
    ZdbBlocks blocks = { .first = first, .n = last - first + 1 };
    ZdbValues v = { .qiov = qiov };
    ZdbRange range;
    int ret = 0;

    zdb_range_co_lock(&d->ranges, &range, first, last);
    if (head || (first == last && tail)) {
        size_t len = MIN(bytes, bsz - head);

        v.head = head_buf = g_malloc(bsz);
        v.qiov_offset = len;
        ret = zdb_disk_co_patch_block(d, first, head_buf, head, qiov, 0,
                                      len);
    }
    if (ret == 0 && tail && !(first == last && head_buf)) {
        v.tail = tail_buf = g_malloc(bsz);
        ret = zdb_disk_co_patch_block(d, last, tail_buf, 0, qiov,
                                      bytes - tail, tail);
    }
    if (ret == 0) {
        ret = zdb_disk_co_put(d, &blocks, &v, ZDB_KNOWN_PRESENT);
    }
    zdb_range_unlock(&d->ranges, &range);
    return ret;
}

/*
 * Zeroing is DEL, or on a thin disk SET of the empty zero marker, so that
 * the base does not show through.
 */
int coroutine_fn zdb_disk_co_drop(ZdbDisk *d, uint64_t first, uint64_t last)
{
    ZdbBlocks blocks = { .first = first, .n = last - first + 1 };
    ZdbRange range;
    int ret;

    zdb_range_co_lock(&d->ranges, &range, first, last);
    ret = zdb_disk_co_put(d, &blocks, NULL, d->has_thin ? ZDB_KNOWN_PRESENT
                                                        : ZDB_KNOWN_ABSENT);
    zdb_range_unlock(&d->ranges, &range);
    return ret;
}

void coroutine_fn zdb_disk_co_flush(ZdbDisk *d)
{
    zdb_range_co_wait_older(&d->ranges);
}

/* ------------------------------------------------------------------ */
/* Block status                                                        */
/* ------------------------------------------------------------------ */

/* How many entries from the first have its value */
static int zdb_run(const int8_t *v, int n)
{
    int i;

    for (i = 1; i < n && v[i] == v[0]; i++) {
        /* count */
    }
    return i;
}

static int coroutine_fn zdb_disk_co_status_once(ZdbDisk *d, uint64_t first,
                                                int n, bool *data, int *run)
{
    g_autofree int8_t *own = NULL;
    g_autofree int8_t *base = NULL;
    uint64_t ended = d->writes_ended;
    ZdbKnownState st;
    int i, ret;

    n = zdb_known_run(&d->known, first, n, &st);
    if (st == ZDB_KNOWN_UNKNOWN) {
        own = g_new(int8_t, n);
        ret = zdb_sides_co_exists(&d->sides, first, n, own);
        if (ret < 0) {
            return ret;
        }
        if (ended == d->writes_ended) {
            for (i = 0; i < n; i++) {
                zdb_known_set(&d->known, first + i, 1,
                              own[i] ? ZDB_KNOWN_PRESENT : ZDB_KNOWN_ABSENT);
            }
        }
        n = zdb_run(own, n);
        st = own[0] ? ZDB_KNOWN_PRESENT : ZDB_KNOWN_ABSENT;
    }
    *run = n;
    *data = st == ZDB_KNOWN_PRESENT;
    if (*data || !d->has_thin) {
        return 0;
    }
    base = g_new(int8_t, n);
    ret = zdb_store_co_exists(&d->thin, first, n, base);
    if (ret < 0) {
        return ret;
    }
    *run = zdb_run(base, n);
    *data = base[0];
    return 0;
}

int coroutine_fn zdb_disk_co_status(ZdbDisk *d, uint64_t first, int n,
                                    bool *data, int *run)
{
    int ret;

    do {
        zdb_disk_check_sessions(d);
        ret = zdb_disk_co_status_once(d, first, n, data, run);
    } while (ret == 0 && zdb_disk_check_sessions(d));
    return ret;
}

/* ------------------------------------------------------------------ */
/* Size                                                                */
/* ------------------------------------------------------------------ */

/*
 * What blocks past the end are: known absent stays exact, as only this
 * driver writes there and a shrink drops them, unless the walk saw keys
 * there (a disk of the original driver opened with a smaller size).
 */
static ZdbKnownState zdb_disk_past_end(ZdbDisk *d)
{
    return d->keys_past_end ? ZDB_KNOWN_UNKNOWN : d->known.fill;
}

int coroutine_fn zdb_disk_co_grow(ZdbDisk *d, uint64_t end)
{
    int ret;

    if (end <= d->sides.size) {
        return 0;
    }
    if (d->has_thin) {
        return -ENOSPC;     /* the base's geometry is the disk's */
    }
    ret = zdb_sides_co_grow(&d->sides, end);
    zdb_known_resize(&d->known, zdb_disk_blocks(d), zdb_disk_past_end(d));
    return ret;
}

/*
 * Growing again must read zeros: a shrink drops the blocks past the new
 * end and zeroes the tail of a new partial last block.
 */
static int coroutine_fn zdb_disk_co_drop_past(ZdbDisk *d, uint64_t size,
                                              Error **errp)
{
    uint32_t bsz = d->sides.blocksize;
    uint64_t old_blocks = DIV_ROUND_UP(d->sides.size, bsz);
    uint64_t new_blocks = DIV_ROUND_UP(size, bsz);
    uint64_t tail = size % bsz;
    int ret;

    if (old_blocks > new_blocks) {
        ret = zdb_disk_co_drop(d, new_blocks, old_blocks - 1);
        if (ret < 0) {
            error_setg_errno(errp, -ret, "zdb: cannot drop blocks past the "
                             "new end");
            return ret;
        }
    }
    if (tail) {
        ret = zdb_disk_co_write(d, size, MIN(d->sides.size - size,
                                             bsz - tail), NULL);
        if (ret < 0) {
            error_setg_errno(errp, -ret, "zdb: cannot zero the tail of the "
                             "last block");
            return ret;
        }
    }
    return 0;
}

int coroutine_fn zdb_disk_co_resize(ZdbDisk *d, uint64_t size, Error **errp)
{
    int ret = 0;

    if (size < d->sides.size) {
        ret = zdb_disk_co_drop_past(d, size, errp);
    }
    if (ret == 0) {
        ret = zdb_sides_co_resize(&d->sides, size);
        if (ret < 0) {
            error_setg_errno(errp, -ret, "zdb: namespace '%s': cannot record "
                             "the new size",
                             d->sides.side[0].store.addr.namespace);
        }
    }
    zdb_known_resize(&d->known, zdb_disk_blocks(d), zdb_disk_past_end(d));
    return ret;
}

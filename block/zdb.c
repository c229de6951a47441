/*
 * QEMU block driver for 0-db (zdb)
 *
 * A disk lives in one 0-db namespace: block N of the disk is the key N as
 * 8 bytes big-endian and its value is exactly blocksize bytes; a missing key
 * reads as zeros.  That is the layout of the original zdb driver, so its
 * disks open unchanged.  The geometry is also recorded in a metadata key
 * whose name is not 8 bytes long and so cannot collide with a block.
 *
 * This file holds the BlockDriver callbacks.  The layers below, each using
 * only the ones under it:
 *
 *   zdb-options.c   options, filenames, geometry settling, create
 *   zdb-sides.c     primary and backup: failover, fan-out, catch-up
 *   zdb-range.c     the lock on ranges of blocks that writes hold
 *   zdb-store.c     the blocks and metadata of one namespace
 *   zdb-conn.c      hiredis connections driven by an AioContext
 *   zdb-proto.c     keys, metadata text, errors, session commands
 *   zdb-resp-scan.c where replies end in the byte stream
 *
 * Copyright (c) 2026 the zdb driver authors
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#include "qemu/osdep.h"
#include "qapi/error.h"
#include "qemu/bitmap.h"
#include "qemu/error-report.h"
#include "qemu/module.h"
#include "block/block-io.h"
#include "block/block_int.h"
#include "block/zdb-options.h"
#include "block/zdb-sides.h"
#include "trace.h"

/*
 * Small requests (a guest's usual 4 KiB to 64 KiB) keep their block lists
 * on the coroutine's stack: no allocation per request on the hot path.
 */
#define ZDB_STACK_BLOCKS        16
/* Blocks block status looks at per call */
#define ZDB_STATUS_BLOCKS       1024
/* How often a request whose connection was lost tries again */
#define ZDB_RETRY_INTERVAL_MS   100

/*
 * Threads and locks.  Requests may come from any thread (the multiqueue
 * block layer); every callback that touches the state below first moves
 * its coroutine to @ctx, the disk's AioContext, and back at the end
 * (zdb_co_enter_home), so all of it, and the connections, sides and range
 * lock below, are used by @ctx's thread only and need no lock of their
 * own.  @ctx itself changes only in attach_aio_context, with the node
 * drained.  Within @ctx: sides.meta_lock (a CoMutex) orders metadata
 * writes; a coroutine may take it while holding a range of @ranges, never
 * the other way round.
 */
typedef struct BDRVZdbState {
    /* Set at open, read-only afterwards */
    BlockDriverState *bs;
    bool has_thin;
    bool thin_copy_on_read;
    int64_t reconnect_delay_ms;
    ZdbKeep keep;               /* split-brain-keep, for activation too */

    AioContext *ctx;

    /* The disk's namespaces (primary, backup) and its geometry */
    ZdbSides sides;
    /* The read-only base that blocks missing from the disk are read from */
    ZdbStore thin;
    /* The blocks that writes in flight hold */
    ZdbRangeLock ranges;
    /* reconnect-delay ran out: requests fail at once until one succeeds */
    bool fail_fast;
} BDRVZdbState;

/* ------------------------------------------------------------------ */
/* Thread hop and retries, written out at each call site               */
/* ------------------------------------------------------------------ */

/*
 * Moves the calling coroutine to the disk's AioContext, so that hiredis
 * is only ever used by one thread.  Returns the caller's context, for
 * zdb_co_leave_home.
 */
static AioContext *coroutine_fn zdb_co_enter_home(BDRVZdbState *s)
{
    AioContext *caller = qemu_get_current_aio_context();

    if (caller != s->ctx) {
        aio_co_reschedule_self(s->ctx);
    }
    return caller;
}

static void coroutine_fn zdb_co_leave_home(BDRVZdbState *s,
                                           AioContext *caller)
{
    if (caller != s->ctx) {
        aio_co_reschedule_self(caller);
    }
}

typedef struct ZdbRetry {
    int64_t deadline_ms;        /* 0 until the first loss */
    int attempt;
} ZdbRetry;

/*
 * A request whose connection was lost (-ENOTCONN) is sent again: SET, DEL
 * and GET are idempotent, and a read-modify-write reads again.  That goes
 * on for reconnect-delay seconds from the loss; after that requests fail
 * at once, each trying one connect, until one gets through.
 */
static bool coroutine_fn zdb_co_will_retry(BDRVZdbState *s, ZdbRetry *r,
                                           int ret)
{
    int64_t now = qemu_clock_get_ms(QEMU_CLOCK_REALTIME);

    if (ret != -ENOTCONN || !s->reconnect_delay_ms || s->fail_fast) {
        return false;
    }
    if (!r->deadline_ms) {
        r->deadline_ms = now + s->reconnect_delay_ms;
    }
    if (now >= r->deadline_ms) {
        s->fail_fast = true;
        return false;
    }
    trace_zdb_reconnect(s->sides.side[0].store.addr.namespace, ++r->attempt);
    qemu_co_sleep_ns(QEMU_CLOCK_REALTIME, ZDB_RETRY_INTERVAL_MS * SCALE_MS);
    return true;
}

/* What a request returns once it is not sent again */
static int zdb_retry_end(BDRVZdbState *s, int ret)
{
    if (ret >= 0) {
        s->fail_fast = false;
    }
    return ret == -ENOTCONN ? -EIO : ret;
}

/* ------------------------------------------------------------------ */
/* Reads                                                               */
/* ------------------------------------------------------------------ */

/*
 * Copy-on-read: of the @n blocks fetched from the base (@kinds, @vals),
 * the ones it holds go into the disk as well.
 */
static int coroutine_fn zdb_co_keep_base_blocks(BDRVZdbState *s,
                                                uint64_t *blocks, uint64_t n,
                                                int8_t *kinds, uint8_t *vals)
{
    uint32_t bsz = s->sides.blocksize;
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
    return list.n ? zdb_sides_co_put(&s->sides, &list, &v) : 0;
}

/*
 * Reads [offset, offset + bytes): one batch from the disk's namespace,
 * then one batch from the thin base for the blocks the disk lacks.  With
 * @copy, base blocks are also written to the disk (the caller holds the
 * range exclusively).
 */
static int coroutine_fn zdb_co_read(BDRVZdbState *s, int64_t offset,
                                    int64_t bytes, QEMUIOVector *qiov,
                                    bool copy)
{
    uint32_t bsz = s->sides.blocksize;
    ZdbFetch f = { .qiov = qiov, .offset = offset, .bytes = bytes };
    uint64_t first = offset / bsz;
    uint64_t n = (offset + bytes - 1) / bsz - first + 1;
    uint64_t blocks_here[ZDB_STACK_BLOCKS];
    bool missing_here[ZDB_STACK_BLOCKS] = { false };
    g_autofree uint64_t *blocks_heap = NULL;
    g_autofree bool *missing_heap = NULL;
    g_autofree uint8_t *vals = NULL;
    g_autofree int8_t *kinds = NULL;
    uint64_t *blocks = blocks_here;
    uint64_t i, m;
    int ret;

    if (n > ZDB_STACK_BLOCKS) {
        blocks = blocks_heap = g_new(uint64_t, n);
    }
    for (i = 0; i < n; i++) {
        blocks[i] = first + i;
    }
    if (s->has_thin) {
        f.missing = n > ZDB_STACK_BLOCKS ? (missing_heap = g_new0(bool, n))
                                         : missing_here;
    }
    ret = zdb_sides_co_fetch(&s->sides, &f, blocks, n);
    if (ret < 0 || !s->has_thin) {
        return ret;
    }

    for (i = m = 0; i < n; i++) {
        if (f.missing[i]) {
            blocks[m++] = first + i;
        }
    }
    if (m == 0) {
        return 0;
    }
    f.missing = NULL;
    if (copy) {
        f.copy = vals = g_malloc((size_t)m * bsz);
        f.kinds = kinds = g_new0(int8_t, m);
    }
    ret = zdb_store_co_fetch(&s->thin, &f, blocks, m);
    if (ret < 0 || !copy) {
        return ret;
    }
    return zdb_co_keep_base_blocks(s, blocks, m, kinds, vals);
}

static int coroutine_fn GRAPH_RDLOCK
zdb_co_preadv(BlockDriverState *bs, int64_t offset, int64_t bytes,
              QEMUIOVector *qiov, BdrvRequestFlags flags)
{
    BDRVZdbState *s = bs->opaque;
    bool copy = s->thin_copy_on_read && !bdrv_is_read_only(bs);
    ZdbRetry retry = { 0 };
    AioContext *caller;
    ZdbRange range;
    int ret;

    trace_zdb_co_preadv(bs, offset, bytes);
    if (bytes == 0) {
        return 0;
    }
    caller = zdb_co_enter_home(s);
    /* a block copied from the base must not land after a guest write */
    if (copy) {
        zdb_range_co_lock(&s->ranges, &range, offset / s->sides.blocksize,
                          (offset + bytes - 1) / s->sides.blocksize, true);
    }
    do {
        ret = zdb_co_read(s, offset, bytes, qiov, copy);
    } while (zdb_co_will_retry(s, &retry, ret));
    if (copy) {
        zdb_range_unlock(&s->ranges, &range);
    }
    ret = zdb_retry_end(s, ret);
    zdb_co_leave_home(s, caller);
    return ret;
}

/* ------------------------------------------------------------------ */
/* Writes                                                              */
/* ------------------------------------------------------------------ */

/*
 * Reads block @block whole into @buf and lays @len bytes of @qiov from
 * @qoff (zeros when @qiov is NULL) over it at @boff.
 */
static int coroutine_fn zdb_co_patch_block(BDRVZdbState *s, uint64_t block,
                                           uint8_t *buf, size_t boff,
                                           QEMUIOVector *qiov, size_t qoff,
                                           size_t len)
{
    uint32_t bsz = s->sides.blocksize;
    QEMUIOVector local;
    int ret;

    qemu_iovec_init_buf(&local, buf, bsz);
    ret = zdb_co_read(s, block * bsz, bsz, &local, false);
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
 * Writes [offset, offset + bytes) from @qiov (zeros when NULL).  A block
 * only partly covered is read, patched and written whole, holding its
 * range exclusively so that no other write to it interleaves.
 */
static int coroutine_fn zdb_co_write(BDRVZdbState *s, int64_t offset,
                                     int64_t bytes, QEMUIOVector *qiov)
{
    uint32_t bsz = s->sides.blocksize;
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

    /*
     * With a backup, writes to one block are ordered, so that both sides
     * apply them in the same order.
     */
    zdb_range_co_lock(&s->ranges, &range, first, last,
                      head || tail || s->sides.nsides > 1);
    if (head || (first == last && tail)) {
        size_t len = MIN(bytes, bsz - head);

        v.head = head_buf = g_malloc(bsz);
        v.qiov_offset = len;
        ret = zdb_co_patch_block(s, first, head_buf, head, qiov, 0, len);
    }
    if (ret == 0 && tail && !(first == last && head_buf)) {
        v.tail = tail_buf = g_malloc(bsz);
        ret = zdb_co_patch_block(s, last, tail_buf, 0, qiov, bytes - tail,
                                 tail);
    }
    if (ret == 0) {
        ret = zdb_sides_co_put(&s->sides, &blocks, &v);
    }
    zdb_range_unlock(&s->ranges, &range);
    return ret;
}

/*
 * A write past the end grows the disk, as a file grows: formats such as
 * qcow2 create their image on an empty protocol node and write their
 * metadata past its end.  The new size is recorded, and every map of the
 * blocks grown, before the write is sent.
 */
static int coroutine_fn zdb_co_grow(BDRVZdbState *s, uint64_t end)
{
    if (end <= s->sides.size) {
        return 0;
    }
    if (s->has_thin) {
        return -ENOSPC;     /* the base's geometry is the disk's */
    }
    return zdb_sides_co_grow(&s->sides, end);
}

static int coroutine_fn GRAPH_RDLOCK
zdb_co_pwritev(BlockDriverState *bs, int64_t offset, int64_t bytes,
               QEMUIOVector *qiov, BdrvRequestFlags flags)
{
    BDRVZdbState *s = bs->opaque;
    ZdbRetry retry = { 0 };
    AioContext *caller;
    int ret;

    trace_zdb_co_pwritev(bs, offset, bytes);
    if (bytes == 0) {
        return 0;
    }
    caller = zdb_co_enter_home(s);
    do {
        ret = zdb_co_grow(s, offset + bytes);
        if (ret == 0) {
            ret = zdb_co_write(s, offset, bytes, qiov);
        }
    } while (zdb_co_will_retry(s, &retry, ret));
    ret = zdb_retry_end(s, ret);
    zdb_co_leave_home(s, caller);
    return ret;
}

/* Zeroes whole blocks [first, last]: see zdb_store_co_put */
static int coroutine_fn zdb_co_drop(BDRVZdbState *s, uint64_t first,
                                    uint64_t last)
{
    ZdbBlocks blocks = { .first = first, .n = last - first + 1 };
    ZdbRange range;
    int ret;

    zdb_range_co_lock(&s->ranges, &range, first, last, s->sides.nsides > 1);
    ret = zdb_sides_co_put(&s->sides, &blocks, NULL);
    zdb_range_unlock(&s->ranges, &range);
    return ret;
}

static int coroutine_fn GRAPH_RDLOCK
zdb_co_pwrite_zeroes(BlockDriverState *bs, int64_t offset, int64_t bytes,
                     BdrvRequestFlags flags)
{
    BDRVZdbState *s = bs->opaque;
    uint32_t bsz = s->sides.blocksize;
    ZdbRetry retry = { 0 };
    AioContext *caller;
    int ret;

    trace_zdb_co_pwrite_zeroes(bs, offset, bytes);
    if (!QEMU_IS_ALIGNED(offset | bytes, bsz)) {
        /* the block layer falls back to writing a zeroed buffer */
        return -ENOTSUP;
    }
    caller = zdb_co_enter_home(s);
    do {
        ret = zdb_co_grow(s, offset + bytes);
        if (ret == 0) {
            ret = zdb_co_drop(s, offset / bsz, (offset + bytes) / bsz - 1);
        }
    } while (zdb_co_will_retry(s, &retry, ret));
    ret = zdb_retry_end(s, ret);
    zdb_co_leave_home(s, caller);
    return ret;
}

/* Discard is advisory: partial blocks are left as they are. */
static int coroutine_fn GRAPH_RDLOCK
zdb_co_pdiscard(BlockDriverState *bs, int64_t offset, int64_t bytes)
{
    BDRVZdbState *s = bs->opaque;
    uint64_t first = DIV_ROUND_UP(offset, s->sides.blocksize);
    uint64_t end = (offset + bytes) / s->sides.blocksize;
    ZdbRetry retry = { 0 };
    AioContext *caller;
    int ret;

    trace_zdb_co_pdiscard(bs, offset, bytes);
    if (end <= first) {
        return 0;
    }
    caller = zdb_co_enter_home(s);
    do {
        ret = zdb_co_drop(s, first, end - 1);
    } while (zdb_co_will_retry(s, &retry, ret));
    ret = zdb_retry_end(s, ret);
    zdb_co_leave_home(s, caller);
    return ret;
}

/* Every write that was issued before the flush has been acknowledged. */
static int coroutine_fn GRAPH_RDLOCK zdb_co_flush(BlockDriverState *bs)
{
    BDRVZdbState *s = bs->opaque;
    AioContext *caller = zdb_co_enter_home(s);

    zdb_range_co_wait_older(&s->ranges);
    zdb_co_leave_home(s, caller);
    return 0;
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

/*
 * Whether block @first is data, and for how many blocks that holds (at
 * most @n): blocks in the disk's namespace are data; blocks only in the
 * thin base are data too (a copy must take them: it is a full disk);
 * blocks in neither read as zeros.
 */
static int coroutine_fn zdb_co_status(BDRVZdbState *s, uint64_t first, int n,
                                      bool *data, int *run)
{
    g_autofree int8_t *own = g_new(int8_t, n);
    g_autofree int8_t *base = NULL;
    int ret;

    ret = zdb_sides_co_exists(&s->sides, first, n, own);
    if (ret < 0) {
        return ret;
    }
    *run = zdb_run(own, n);
    *data = own[0];
    if (*data || !s->has_thin) {
        return 0;
    }
    base = g_new(int8_t, *run);
    ret = zdb_store_co_exists(&s->thin, first, *run, base);
    if (ret < 0) {
        return ret;
    }
    *run = zdb_run(base, *run);
    *data = base[0];
    return 0;
}

static int coroutine_fn GRAPH_RDLOCK
zdb_co_block_status(BlockDriverState *bs, bool want_zero, int64_t offset,
                    int64_t bytes, int64_t *pnum, int64_t *map,
                    BlockDriverState **file)
{
    BDRVZdbState *s = bs->opaque;
    uint32_t bsz = s->sides.blocksize;
    uint64_t first = offset / bsz;
    int n = MIN((offset + bytes - 1) / bsz - first + 1, ZDB_STATUS_BLOCKS);
    ZdbRetry retry = { 0 };
    AioContext *caller;
    bool data = false;
    int run = 0, ret;

    caller = zdb_co_enter_home(s);
    do {
        ret = zdb_co_status(s, first, n, &data, &run);
    } while (zdb_co_will_retry(s, &retry, ret));
    ret = zdb_retry_end(s, ret);
    zdb_co_leave_home(s, caller);
    if (ret < 0) {
        return ret;
    }
    *pnum = MIN((int64_t)(first + run) * bsz - offset, bytes);
    *map = offset;
    *file = bs;
    return BDRV_BLOCK_OFFSET_VALID | (data ? BDRV_BLOCK_DATA : BDRV_BLOCK_ZERO);
}

/* ------------------------------------------------------------------ */
/* Size                                                                */
/* ------------------------------------------------------------------ */

static int64_t coroutine_fn GRAPH_RDLOCK zdb_co_getlength(BlockDriverState *bs)
{
    BDRVZdbState *s = bs->opaque;

    return s->sides.size;
}

/*
 * Growing again must read zeros: a shrink drops the blocks past the new
 * end and zeroes the tail of a new partial last block.
 */
static int coroutine_fn zdb_co_drop_past(BDRVZdbState *s, uint64_t size,
                                         Error **errp)
{
    uint32_t bsz = s->sides.blocksize;
    uint64_t old_blocks = DIV_ROUND_UP(s->sides.size, bsz);
    uint64_t new_blocks = DIV_ROUND_UP(size, bsz);
    uint64_t tail = size % bsz;
    int ret;

    if (old_blocks > new_blocks) {
        ret = zdb_co_drop(s, new_blocks, old_blocks - 1);
        if (ret < 0) {
            error_setg_errno(errp, -ret, "zdb: cannot drop blocks past the "
                             "new end");
            return ret;
        }
    }
    if (tail) {
        ret = zdb_co_write(s, size, MIN(s->sides.size - size, bsz - tail),
                           NULL);
        if (ret < 0) {
            error_setg_errno(errp, -ret, "zdb: cannot zero the tail of the "
                             "last block");
            return ret;
        }
    }
    return 0;
}

static int coroutine_fn GRAPH_RDLOCK
zdb_co_truncate(BlockDriverState *bs, int64_t offset, bool exact,
                PreallocMode prealloc, BdrvRequestFlags flags, Error **errp)
{
    BDRVZdbState *s = bs->opaque;
    AioContext *caller;
    int ret = 0;

    if (prealloc != PREALLOC_MODE_OFF) {
        error_setg(errp, "zdb: unsupported preallocation mode '%s'",
                   PreallocMode_str(prealloc));
        return -ENOTSUP;
    }
    if (s->has_thin) {
        /* its geometry must stay the base's */
        error_setg(errp, "zdb: a disk on a thin base cannot be resized");
        return -ENOTSUP;
    }
    if (!zdb_geometry_check_size(offset, errp)) {
        return -EINVAL;
    }
    caller = zdb_co_enter_home(s);
    if (offset < s->sides.size) {
        ret = zdb_co_drop_past(s, offset, errp);
    }
    if (ret == 0) {
        ret = zdb_sides_co_resize(&s->sides, offset);
        if (ret < 0) {
            error_setg_errno(errp, -ret, "zdb: namespace '%s': cannot record "
                             "the new size",
                             s->sides.side[0].store.addr.namespace);
        }
    }
    zdb_co_leave_home(s, caller);
    return ret;
}

/*
 * Another process may have grown the disk since it was opened: an
 * incoming migration's destination opens it before the source is done
 * with it.  Re-read the recorded size when the block layer asks.
 */
static void coroutine_fn GRAPH_RDLOCK
zdb_co_invalidate_cache(BlockDriverState *bs, Error **errp)
{
    BDRVZdbState *s = bs->opaque;
    AioContext *caller = zdb_co_enter_home(s);

    if (s->sides.inactive) {
        zdb_sides_co_activate(&s->sides, s->keep, errp);
    } else {
        zdb_sides_co_reread_size(&s->sides, errp);
    }
    zdb_co_leave_home(s, caller);
}

/*
 * qemu-img check on a disk with a backup: are the two sides equal?  With
 * -r all, what differs is copied from the side in sync.
 */
static int coroutine_fn GRAPH_RDLOCK
zdb_co_check(BlockDriverState *bs, BdrvCheckResult *result,
             BdrvCheckMode fix)
{
    BDRVZdbState *s = bs->opaque;
    bool repair = fix & BDRV_FIX_ERRORS;
    AioContext *caller = zdb_co_enter_home(s);
    Error *err = NULL;
    ZdbVerify v;
    int ret;

    ret = zdb_sides_co_verify(&s->sides, repair, &v, &err);
    zdb_co_leave_home(s, caller);
    if (ret < 0) {
        error_report_err(err);
        result->check_errors++;
        return ret;
    }
    result->corruptions = v.differ - v.repaired;
    result->corruptions_fixed = v.repaired;
    result->image_end_offset = s->sides.size;
    if (s->sides.nsides > 1) {
        fprintf(stderr, "zdb: compared %" PRIu64 " blocks of the primary "
                "and the backup: %" PRIu64 " differ%s\n", v.compared,
                v.differ, repair ? ", copied from the side in sync" : "");
    }
    return 0;
}

/* The disk is handed over (migration): it writes no metadata any more */
static int GRAPH_RDLOCK zdb_inactivate(BlockDriverState *bs)
{
    BDRVZdbState *s = bs->opaque;

    zdb_sides_inactivate(&s->sides);
    return 0;
}

/* ------------------------------------------------------------------ */
/* Open and close                                                      */
/* ------------------------------------------------------------------ */

/* The stores own the addresses from here on */
static void zdb_take_options(BDRVZdbState *s, ZdbOptions *o, int flags)
{
    s->sides.side[0].store.addr = o->disk;
    if (o->thin.namespace) {
        s->thin.addr = o->thin;
        s->has_thin = true;
    }
    if (o->backup.namespace) {
        s->sides.side[1].store.addr = o->backup;
        s->sides.nsides = 2;
    }
    s->thin_copy_on_read = o->thin_copy_on_read;
    s->keep = o->keep;
    s->sides.inactive = flags & BDRV_O_INACTIVE;
    s->reconnect_delay_ms = (int64_t)o->reconnect_delay_s * 1000;
}

/*
 * Asks each namespace what it records, decides which side is current,
 * and settles the geometry from that side and the base.
 */
static int zdb_probe_all(BDRVZdbState *s, const ZdbOptions *o,
                         ZdbProbe *primary, ZdbProbe *backup, ZdbProbe *thin,
                         ZdbMeta *g, Error **errp)
{
    const ZdbProbe *recorded[2] = { NULL, thin };

    if (!zdb_sides_probe(&s->sides, o->open_timeout_s, o->probe_timeout_s,
                         primary, backup, errp)) {
        return -EIO;
    }
    if (s->has_thin &&
        !zdb_store_probe(&s->thin.addr, o->open_timeout_s,
                         o->probe_timeout_s, thin, errp)) {
        return -EIO;
    }
    recorded[0] = zdb_sides_decide(&s->sides, primary, backup, o->keep,
                                   errp);
    if (!recorded[0] ||
        !zdb_settle_geometry(o, recorded, s->has_thin ? 2 : 1, g, errp)) {
        return -EINVAL;
    }
    zdb_sides_set_geometry(&s->sides, g->size, g->blocksize);
    return 0;
}

static void zdb_connect_all(BDRVZdbState *s, const ZdbOptions *o,
                            bool read_only)
{
    s->ctx = bdrv_get_aio_context(s->bs);
    /* zeroing a block of a disk on a base must hide the base's block */
    zdb_sides_connect(&s->sides, s->has_thin, o->connections, o->timeout_s,
                      !read_only, s->ctx);
    if (s->has_thin) {
        /* only ever read: the base is shared by many disks */
        zdb_store_connect(&s->thin, s->sides.blocksize, false,
                          o->connections, o->timeout_s, s->ctx);
    }
}

static int zdb_open(BlockDriverState *bs, QDict *options, int flags,
                    Error **errp)
{
    BDRVZdbState *s = bs->opaque;
    ZdbProbe primary = { .role = "disk" };
    ZdbProbe backup = { .role = "backup" };
    ZdbProbe thin = { .role = "thin base" };
    ZdbOptions o;
    ZdbMeta g;
    int ret;

    s->bs = bs;
    zdb_range_lock_init(&s->ranges);
    zdb_sides_init(&s->sides, bs, &s->ranges);
    if (!zdb_options_parse(options, &o, errp)) {
        return -EINVAL;
    }
    zdb_take_options(s, &o, flags);
    ret = zdb_probe_all(s, &o, &primary, &backup, &thin, &g, errp);
    if (ret == 0 && (primary.read_only || backup.read_only)) {
        ret = bdrv_apply_auto_read_only(bs, "zdb: the namespace is read-only "
                                        "for this client (protected without "
                                        "password, or locked)", errp);
    }
    if (ret == 0) {
        zdb_sides_settle(&s->sides, &primary, &backup,
                         bdrv_is_read_only(bs));
        zdb_connect_all(s, &o, bdrv_is_read_only(bs));
        bs->supported_zero_flags = BDRV_REQ_MAY_UNMAP | BDRV_REQ_NO_FALLBACK;
        trace_zdb_open(bs, s->sides.side[0].store.addr.namespace, g.size,
                       g.blocksize, o.connections);
    } else {
        zdb_sides_close(&s->sides);
        zdb_store_close(&s->thin);
    }
    zdb_probe_clear(&primary);
    zdb_probe_clear(&backup);
    zdb_probe_clear(&thin);
    return ret;
}

static void zdb_close(BlockDriverState *bs)
{
    BDRVZdbState *s = bs->opaque;

    zdb_sides_clean_up(&s->sides);
    zdb_sides_close(&s->sides);
    zdb_store_close(&s->thin);
}

static void zdb_refresh_limits(BlockDriverState *bs, Error **errp)
{
    BDRVZdbState *s = bs->opaque;

    /* partial blocks are read-modify-written here (zdb_co_write) */
    bs->bl.request_alignment = BDRV_SECTOR_SIZE;
    bs->bl.pwrite_zeroes_alignment = s->sides.blocksize;
    bs->bl.pdiscard_alignment = s->sides.blocksize;
    bs->bl.opt_transfer = s->sides.blocksize;
}

/*
 * A zdb:// filename that reopens the same disk, when one can: a disk with
 * a password, a base or a backup gets a json: filename from the block
 * layer instead (and a password is never put in a filename tools print).
 */
static void zdb_refresh_filename(BlockDriverState *bs)
{
    BDRVZdbState *s = bs->opaque;
    const ZdbAddr *a = &s->sides.side[0].store.addr;
    g_autofree char *ns = g_uri_escape_string(a->namespace, NULL, false);
    g_autofree char *query = NULL;

    if (a->password || s->has_thin || s->sides.nsides > 1) {
        return;
    }
    /* the geometry goes in only where the namespace does not record it */
    if (!s->sides.side[0].has_meta) {
        query = g_strdup_printf("size=%" PRIu64 "&blocksize=%" PRIu32,
                                s->sides.size, s->sides.blocksize);
    }
    if (a->socket) {
        g_autofree char *sock = g_uri_escape_string(a->socket, "/", false);
        snprintf(bs->exact_filename, sizeof(bs->exact_filename),
                 "zdb+unix:///%s?socket=%s%s%s", ns, sock, query ? "&" : "",
                 query ?: "");
    } else {
        bool v6 = strchr(a->host, ':');
        snprintf(bs->exact_filename, sizeof(bs->exact_filename),
                 "zdb://%s%s%s:%d/%s%s%s", v6 ? "[" : "", a->host,
                 v6 ? "]" : "", a->port, ns, query ? "?" : "", query ?: "");
    }
}

static void zdb_detach_aio_context(BlockDriverState *bs)
{
    BDRVZdbState *s = bs->opaque;

    zdb_sides_detach_aio_context(&s->sides);
    if (s->has_thin) {
        zdb_store_detach_aio_context(&s->thin);
    }
}

static void zdb_attach_aio_context(BlockDriverState *bs,
                                   AioContext *new_context)
{
    BDRVZdbState *s = bs->opaque;

    s->ctx = new_context;
    if (s->has_thin) {
        zdb_store_attach_aio_context(&s->thin, new_context);
    }
    zdb_sides_attach_aio_context(&s->sides, new_context);
}

static void zdb_drain_begin(BlockDriverState *bs)
{
    BDRVZdbState *s = bs->opaque;

    zdb_sides_quiesce(&s->sides, true);
}

static void zdb_drain_end(BlockDriverState *bs)
{
    BDRVZdbState *s = bs->opaque;

    zdb_sides_quiesce(&s->sides, false);
}

static ZdbNamespaceInfo *zdb_namespace_info(BDRVZdbState *s,
                                            const ZdbAddr *addr,
                                            ZdbSide *side)
{
    ZdbNamespaceInfo *info = g_new0(ZdbNamespaceInfo, 1);

    info->server = zdb_addr_describe(addr);
    info->q_namespace = g_strdup(addr->namespace);
    if (side && s->sides.nsides > 1) {
        info->has_state = true;
        info->state = side->state;
        info->has_generation = true;
        info->generation = side->meta.generation;
        info->identifier = g_strdup_printf("%016" PRIx64, side->meta.uuid);
        info->has_behind_blocks = true;
        info->behind_blocks = bitmap_count_one(side->out_of_sync,
                                               s->sides.nblocks);
    }
    return info;
}

static ImageInfoSpecific *zdb_get_specific_info(BlockDriverState *bs,
                                                Error **errp)
{
    BDRVZdbState *s = bs->opaque;
    ImageInfoSpecific *spec = g_new0(ImageInfoSpecific, 1);
    ImageInfoSpecificZdb *zdb = g_new0(ImageInfoSpecificZdb, 1);
    ZdbSide *primary = &s->sides.side[0];

    spec->type = IMAGE_INFO_SPECIFIC_KIND_ZDB;
    spec->u.zdb.data = zdb;
    zdb->blocksize = s->sides.blocksize;
    zdb->layout_version = primary->has_meta ? ZDB_LAYOUT_VERSION : 0;
    zdb->primary = zdb_namespace_info(s, &primary->store.addr, primary);
    if (s->sides.nsides > 1) {
        zdb->backup = zdb_namespace_info(s, &s->sides.side[1].store.addr,
                                         &s->sides.side[1]);
    }
    if (s->has_thin) {
        zdb->thin = zdb_namespace_info(s, &s->thin.addr, NULL);
        zdb->has_thin_copy_on_read = true;
        zdb->thin_copy_on_read = s->thin_copy_on_read;
    }
    return spec;
}

/* ------------------------------------------------------------------ */
/* Create                                                              */
/* ------------------------------------------------------------------ */

static int coroutine_fn zdb_co_create_opts(BlockDriver *drv,
                                           const char *filename,
                                           QemuOpts *opts, Error **errp)
{
    return zdb_create_from_opts(filename, opts, errp);
}

static int coroutine_fn zdb_co_create(BlockdevCreateOptions *options,
                                      Error **errp)
{
    assert(options->driver == BLOCKDEV_DRIVER_ZDB);
    return zdb_create_from_qapi(&options->u.zdb, errp);
}

/* A new disk reads as zeros, unless a thin base shows through it */
static int zdb_has_zero_init(BlockDriverState *bs)
{
    BDRVZdbState *s = bs->opaque;

    return !s->has_thin;
}

/* What zdb:// and zdb+unix:// (zdb+unix:///namespace?socket=PATH) share */
#define ZDB_DRIVER_COMMON                                           \
    .format_name                = "zdb",                            \
    .instance_size              = sizeof(BDRVZdbState),             \
    .bdrv_parse_filename        = zdb_parse_filename,               \
    .bdrv_open                  = zdb_open,                         \
    .bdrv_close                 = zdb_close,                        \
    .bdrv_co_create             = zdb_co_create,                    \
    .bdrv_co_create_opts        = zdb_co_create_opts,               \
    .create_opts                = &zdb_create_opts,                 \
    .bdrv_has_zero_init         = zdb_has_zero_init,                \
    .bdrv_co_preadv             = zdb_co_preadv,                    \
    .bdrv_co_pwritev            = zdb_co_pwritev,                   \
    .bdrv_co_pwrite_zeroes      = zdb_co_pwrite_zeroes,             \
    .bdrv_co_pdiscard           = zdb_co_pdiscard,                  \
    .bdrv_co_flush_to_disk      = zdb_co_flush,                     \
    .bdrv_co_block_status       = zdb_co_block_status,              \
    .bdrv_co_getlength          = zdb_co_getlength,                 \
    .bdrv_co_truncate           = zdb_co_truncate,                  \
    .bdrv_co_invalidate_cache   = zdb_co_invalidate_cache,          \
    .bdrv_inactivate            = zdb_inactivate,                   \
    .bdrv_co_check              = zdb_co_check,                     \
    .bdrv_refresh_limits        = zdb_refresh_limits,               \
    .bdrv_refresh_filename      = zdb_refresh_filename,             \
    .bdrv_detach_aio_context    = zdb_detach_aio_context,           \
    .bdrv_attach_aio_context    = zdb_attach_aio_context,           \
    .bdrv_drain_begin           = zdb_drain_begin,                  \
    .bdrv_drain_end             = zdb_drain_end,                    \
    .bdrv_get_specific_info     = zdb_get_specific_info,            \
    .strong_runtime_opts        = zdb_strong_runtime_opts

static BlockDriver bdrv_zdb = {
    .protocol_name              = "zdb",
    ZDB_DRIVER_COMMON,
};

static BlockDriver bdrv_zdb_unix = {
    .protocol_name              = "zdb+unix",
    ZDB_DRIVER_COMMON,
};

static void bdrv_zdb_init(void)
{
    bdrv_register(&bdrv_zdb);
    bdrv_register(&bdrv_zdb_unix);
}

block_init(bdrv_zdb_init);

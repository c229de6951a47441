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
 *   zdb-disk.c      what the guest sees: sides, thin base, knowledge
 *   zdb-sides.c     primary and backup: failover, fan-out, catch-up
 *   zdb-known.c     which blocks a namespace holds, as far as known
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
#include "block/zdb-compat.h"
#include "block/zdb-options.h"
#include "block/zdb-disk.h"
#include "trace.h"

/*
 * Small requests (a guest's usual 4 KiB to 64 KiB) keep their block lists
 * on the coroutine's stack: no allocation per request on the hot path.
 */
#define ZDB_STACK_BLOCKS        16
/*
 * Blocks block status asks the server about per call where nothing is
 * known (all of them are learnt).  Not more: 0-db over TCP stops reading
 * a client whose commands filled an 8 KiB read exactly, until more comes;
 * the driver's PING gets it going again only if the PING can be sent.
 * 8192 EXISTS (240 KiB) filled the socket buffers first and map timed out
 * (zdb-thin test_server_leaves_input_unread), for a convert 10% faster.
 */
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
    int64_t reconnect_delay_ms;
    ZdbKeep keep;               /* split-brain-keep, for activation too */
    bool ns_read_only;          /* a namespace refuses our writes */

    AioContext *ctx;

    /* The disk's namespaces, its base, its range lock and geometry */
    ZdbDisk disk;
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
    trace_zdb_reconnect(s->disk.sides.side[0].store.addr.namespace,
                        ++r->attempt);
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

static int coroutine_fn GRAPH_RDLOCK
zdb_co_preadv(BlockDriverState *bs, int64_t offset, int64_t bytes,
              QEMUIOVector *qiov, BdrvRequestFlags flags)
{
    BDRVZdbState *s = bs->opaque;
    bool copy = s->disk.thin_copy_on_read && !bdrv_is_read_only(bs);
    ZdbRetry retry = { 0 };
    AioContext *caller;
    int ret;

    trace_zdb_co_preadv(bs, offset, bytes);
    if (bytes == 0) {
        return 0;
    }
    caller = zdb_co_enter_home(s);
    do {
        ret = zdb_disk_co_read(&s->disk, offset, bytes, qiov, copy);
    } while (zdb_co_will_retry(s, &retry, ret));
    ret = zdb_retry_end(s, ret);
    zdb_co_leave_home(s, caller);
    return ret;
}

/* ------------------------------------------------------------------ */
/* Writes                                                              */
/* ------------------------------------------------------------------ */

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
        ret = zdb_disk_co_grow(&s->disk, offset + bytes);
        if (ret == 0) {
            ret = zdb_disk_co_write(&s->disk, offset, bytes, qiov);
        }
    } while (zdb_co_will_retry(s, &retry, ret));
    ret = zdb_retry_end(s, ret);
    zdb_co_leave_home(s, caller);
    return ret;
}

static int coroutine_fn GRAPH_RDLOCK
zdb_co_pwrite_zeroes(BlockDriverState *bs, int64_t offset, int64_t bytes,
                     BdrvRequestFlags flags)
{
    BDRVZdbState *s = bs->opaque;
    uint32_t bsz = s->disk.sides.blocksize;
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
        ret = zdb_disk_co_grow(&s->disk, offset + bytes);
        if (ret == 0) {
            ret = zdb_disk_co_drop(&s->disk, offset / bsz,
                                   (offset + bytes) / bsz - 1);
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
    uint64_t first = DIV_ROUND_UP(offset, s->disk.sides.blocksize);
    uint64_t end = (offset + bytes) / s->disk.sides.blocksize;
    ZdbRetry retry = { 0 };
    AioContext *caller;
    int ret;

    trace_zdb_co_pdiscard(bs, offset, bytes);
    if (end <= first) {
        return 0;
    }
    caller = zdb_co_enter_home(s);
    do {
        ret = zdb_disk_co_drop(&s->disk, first, end - 1);
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

    zdb_disk_co_flush(&s->disk);
    zdb_co_leave_home(s, caller);
    return 0;
}

/* ------------------------------------------------------------------ */
/* Block status                                                        */
/* ------------------------------------------------------------------ */

static int coroutine_fn GRAPH_RDLOCK
zdb_co_block_status(BlockDriverState *bs, ZdbWantMode mode, int64_t offset,
                    int64_t bytes, int64_t *pnum, int64_t *map,
                    BlockDriverState **file)
{
    BDRVZdbState *s = bs->opaque;
    uint32_t bsz = s->disk.sides.blocksize;
    uint64_t first = offset / bsz;
    int n = MIN((offset + bytes - 1) / bsz - first + 1, ZDB_STATUS_BLOCKS);
    ZdbRetry retry = { 0 };
    AioContext *caller;
    bool data = false;
    int run = 0, ret;

    caller = zdb_co_enter_home(s);
    do {
        ret = zdb_disk_co_status(&s->disk, first, n, &data, &run);
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

    return s->disk.sides.size;
}

static int coroutine_fn GRAPH_RDLOCK
zdb_co_truncate(BlockDriverState *bs, int64_t offset, bool exact,
                PreallocMode prealloc, BdrvRequestFlags flags, Error **errp)
{
    BDRVZdbState *s = bs->opaque;
    AioContext *caller;
    int ret;

    if (prealloc != PREALLOC_MODE_OFF) {
        error_setg(errp, "zdb: unsupported preallocation mode '%s'",
                   PreallocMode_str(prealloc));
        return -ENOTSUP;
    }
    if (s->disk.has_thin) {
        /* its geometry must stay the base's */
        error_setg(errp, "zdb: a disk on a thin base cannot be resized");
        return -ENOTSUP;
    }
    if (!zdb_geometry_check_size(offset, errp)) {
        return -EINVAL;
    }
    caller = zdb_co_enter_home(s);
    ret = zdb_disk_co_resize(&s->disk, offset, errp);
    zdb_co_leave_home(s, caller);
    return ret;
}

/*
 * Another process had the disk: an incoming migration's destination
 * opens it before the source is done with it.
 */
static void coroutine_fn GRAPH_RDLOCK
zdb_co_invalidate_cache(BlockDriverState *bs, Error **errp)
{
    BDRVZdbState *s = bs->opaque;
    AioContext *caller = zdb_co_enter_home(s);

    zdb_disk_co_take_over(&s->disk, s->keep, errp);
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

    ret = zdb_sides_co_verify(&s->disk.sides, repair, &v, &err);
    zdb_co_leave_home(s, caller);
    if (ret < 0) {
        error_report_err(err);
        result->check_errors++;
        return ret;
    }
    result->corruptions = v.differ - v.repaired;
    result->corruptions_fixed = v.repaired;
    result->image_end_offset = s->disk.sides.size;
    if (s->disk.sides.nsides > 1) {
        fprintf(stderr, "zdb: compared %" PRIu64 " blocks of the primary "
                "and the backup: %" PRIu64 " differ%s\n", v.compared,
                v.differ, repair ? ", copied from the side in sync" : "");
    }
    return 0;
}

/*
 * Read-only <-> read-write (qemu-img commit, block-commit into this
 * node, blockdev-reopen).  The connections stay; what changes is whether
 * a side that is behind is copied to.  Other options cannot change: the
 * block layer refuses those.
 */
static int zdb_reopen_prepare(BDRVReopenState *state,
                              BlockReopenQueue *queue, Error **errp)
{
    BDRVZdbState *s = state->bs->opaque;

    if ((state->flags & BDRV_O_RDWR) && s->ns_read_only) {
        error_setg(errp, "zdb: cannot reopen read-write: the namespace is "
                   "read-only for this client (protected without password, "
                   "or locked)");
        return -EACCES;
    }
    return 0;
}

static void zdb_reopen_commit(BDRVReopenState *state)
{
    BDRVZdbState *s = state->bs->opaque;

    zdb_sides_set_writable(&s->disk.sides, state->flags & BDRV_O_RDWR,
                           s->ctx);
}

/* ------------------------------------------------------------------ */
/* Open and close                                                      */
/* ------------------------------------------------------------------ */

/* The stores own the addresses from here on */
static void zdb_take_options(BDRVZdbState *s, ZdbOptions *o, int flags)
{
    s->disk.sides.side[0].store.addr = o->disk;
    if (o->thin.namespace) {
        s->disk.thin.addr = o->thin;
        s->disk.has_thin = true;
    }
    if (o->backup.namespace) {
        s->disk.sides.side[1].store.addr = o->backup;
        s->disk.sides.nsides = 2;
    }
    s->disk.thin_copy_on_read = o->thin_copy_on_read;
    s->disk.key_scan = o->key_scan;
    s->keep = o->keep;
    s->disk.sides.inactive = flags & BDRV_O_INACTIVE;
    s->reconnect_delay_ms = (int64_t)o->reconnect_delay_s * 1000;
}

/*
 * Asks each namespace what it records, decides which side is current,
 * and settles the geometry from that side and the base.
 */
static int zdb_probe_all(BDRVZdbState *s, const ZdbOptions *o,
                         ZdbProbe *primary, ZdbProbe *backup, ZdbProbe *thin,
                         ZdbMeta *g, bool *empty, Error **errp)
{
    const ZdbProbe *recorded[2] = { NULL, thin };

    if (!zdb_sides_probe(&s->disk.sides, o->open_timeout_s, o->probe_timeout_s,
                         primary, backup, errp)) {
        return -EIO;
    }
    if (s->disk.has_thin &&
        !zdb_store_probe(&s->disk.thin.addr, o->open_timeout_s,
                         o->probe_timeout_s, thin, errp)) {
        return -EIO;
    }
    recorded[0] = zdb_sides_decide(&s->disk.sides, primary, backup, o->keep,
                                   errp);
    if (!recorded[0] ||
        !zdb_settle_geometry(o, recorded, s->disk.has_thin ? 2 : 1, g, errp)) {
        return -EINVAL;
    }
    zdb_sides_set_geometry(&s->disk.sides, g->size, g->blocksize);
    *empty = recorded[0]->empty;
    return 0;
}

static void zdb_connect_all(BDRVZdbState *s, const ZdbOptions *o,
                            bool read_only)
{
    s->ctx = bdrv_get_aio_context(s->bs);
    /* zeroing a block of a disk on a base must hide the base's block */
    zdb_sides_connect(&s->disk.sides, s->disk.has_thin, o->connections,
                      o->timeout_s, !read_only, s->ctx);
    if (s->disk.has_thin) {
        /* only ever read: the base is shared by many disks */
        zdb_store_connect(&s->disk.thin, s->disk.sides.blocksize, false,
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
    bool empty = false;
    int ret;

    s->bs = bs;
    zdb_disk_init(&s->disk, bs);
    if (!zdb_options_parse(options, &o, errp)) {
        return -EINVAL;
    }
    zdb_take_options(s, &o, flags);
    ret = zdb_probe_all(s, &o, &primary, &backup, &thin, &g, &empty, errp);
    s->ns_read_only = primary.read_only || backup.read_only;
    if (ret == 0 && s->ns_read_only) {
        ret = bdrv_apply_auto_read_only(bs, "zdb: the namespace is read-only "
                                        "for this client (protected without "
                                        "password, or locked)", errp);
    }
    if (ret == 0) {
        zdb_sides_settle(&s->disk.sides, &primary, &backup,
                         bdrv_is_read_only(bs));
        zdb_connect_all(s, &o, bdrv_is_read_only(bs));
        zdb_disk_start(&s->disk, empty);
        bs->supported_zero_flags = BDRV_REQ_MAY_UNMAP | BDRV_REQ_NO_FALLBACK;
        trace_zdb_open(bs, s->disk.sides.side[0].store.addr.namespace, g.size,
                       g.blocksize, o.connections);
    } else {
        zdb_disk_close(&s->disk);
    }
    zdb_probe_clear(&primary);
    zdb_probe_clear(&backup);
    zdb_probe_clear(&thin);
    return ret;
}

static void zdb_close(BlockDriverState *bs)
{
    BDRVZdbState *s = bs->opaque;

    zdb_sides_clean_up(&s->disk.sides);
    zdb_disk_close(&s->disk);
}

static void zdb_refresh_limits(BlockDriverState *bs, Error **errp)
{
    BDRVZdbState *s = bs->opaque;

    /*
     * Partial blocks are read-modify-written here (zdb_disk_co_write), at
     * any byte offset.  The block layer must not pad requests itself: in
     * QEMU 10.0 a write whose padding read fails goes on with the padding
     * buffer's garbage (bdrv_co_pwritev_part ignores the read's error).
     */
    bs->bl.request_alignment = 1;
    bs->bl.pwrite_zeroes_alignment = s->disk.sides.blocksize;
    bs->bl.pdiscard_alignment = s->disk.sides.blocksize;
    bs->bl.opt_transfer = s->disk.sides.blocksize;
}

/*
 * A zdb:// filename that reopens the same disk, when one can: a disk with
 * a password, a base or a backup gets a json: filename from the block
 * layer instead (and a password is never put in a filename tools print).
 */
static void zdb_refresh_filename(BlockDriverState *bs)
{
    BDRVZdbState *s = bs->opaque;
    const ZdbAddr *a = &s->disk.sides.side[0].store.addr;
    g_autofree char *ns = g_uri_escape_string(a->namespace, NULL, false);
    g_autofree char *query = NULL;

    if (a->password || s->disk.has_thin || s->disk.sides.nsides > 1) {
        return;
    }
    /* the geometry goes in only where the namespace does not record it */
    if (!s->disk.sides.side[0].has_meta) {
        query = g_strdup_printf("size=%" PRIu64 "&blocksize=%" PRIu32,
                                s->disk.sides.size, s->disk.sides.blocksize);
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

    zdb_disk_detach_aio_context(&s->disk);
}

static void zdb_attach_aio_context(BlockDriverState *bs,
                                   AioContext *new_context)
{
    BDRVZdbState *s = bs->opaque;

    s->ctx = new_context;
    zdb_disk_attach_aio_context(&s->disk, new_context);
}

static void zdb_drain_begin(BlockDriverState *bs)
{
    BDRVZdbState *s = bs->opaque;

    zdb_disk_quiesce(&s->disk, true);
}

/*
 * The disk is handed over (migration): from here on it writes no
 * metadata and copies nothing.  QEMU calls .bdrv_inactivate before it
 * checks that the node may go inactive, and then sets BDRV_O_INACTIVE in
 * a drained section: the hand-over happens at that section's end, when
 * no request and no background pass is in flight.
 */
static void zdb_drain_end(BlockDriverState *bs)
{
    BDRVZdbState *s = bs->opaque;

    if ((bs->open_flags & BDRV_O_INACTIVE) && !s->disk.sides.inactive) {
        zdb_disk_inactivate(&s->disk);
    }
    zdb_disk_quiesce(&s->disk, false);
}

static ZdbNamespaceInfo *zdb_namespace_info(BDRVZdbState *s,
                                            const ZdbAddr *addr,
                                            ZdbSide *side)
{
    ZdbNamespaceInfo *info = g_new0(ZdbNamespaceInfo, 1);

    info->server = zdb_addr_describe(addr);
    info->q_namespace = g_strdup(addr->namespace);
    if (side && side->has_usage) {
        info->has_live_bytes = true;
        info->live_bytes = side->live_bytes;
        info->has_entries = true;
        info->entries = side->entries;
    }
    if (side && s->disk.sides.nsides > 1) {
        info->has_state = true;
        info->state = side->state;
        info->has_generation = true;
        info->generation = side->meta.generation;
        info->identifier = g_strdup_printf("%016" PRIx64, side->meta.uuid);
        info->has_behind_blocks = true;
        info->behind_blocks = bitmap_count_one(side->out_of_sync,
                                               s->disk.sides.nblocks);
    }
    return info;
}

static ImageInfoSpecific *zdb_get_specific_info(BlockDriverState *bs,
                                                Error **errp)
{
    BDRVZdbState *s = bs->opaque;
    ImageInfoSpecific *spec = g_new0(ImageInfoSpecific, 1);
    ImageInfoSpecificZdb *zdb = g_new0(ImageInfoSpecificZdb, 1);
    ZdbSide *primary = &s->disk.sides.side[0];

    spec->type = IMAGE_INFO_SPECIFIC_KIND_ZDB;
    spec->u.zdb.data = zdb;
    zdb->blocksize = s->disk.sides.blocksize;
    zdb->layout_version = primary->has_meta ? ZDB_LAYOUT_VERSION : 0;
    zdb->primary = zdb_namespace_info(s, &primary->store.addr, primary);
    if (s->disk.sides.nsides > 1) {
        zdb->backup = zdb_namespace_info(s, &s->disk.sides.side[1].store.addr,
                                         &s->disk.sides.side[1]);
    }
    if (s->disk.has_thin) {
        zdb->thin = zdb_namespace_info(s, &s->disk.thin.addr, NULL);
        zdb->has_thin_copy_on_read = true;
        zdb->thin_copy_on_read = s->disk.thin_copy_on_read;
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

/*
 * "disk size": what the servers spend on the disk, its live bytes on
 * every side (0-db is append-only: what it has on disk may be more).
 */
static int64_t coroutine_fn GRAPH_RDLOCK
zdb_co_get_allocated_file_size(BlockDriverState *bs)
{
    BDRVZdbState *s = bs->opaque;
    AioContext *caller = zdb_co_enter_home(s);
    int64_t ret;

    ret = zdb_sides_co_usage(&s->disk.sides);
    zdb_co_leave_home(s, caller);
    return ret;
}

/* A new disk reads as zeros, unless a thin base shows through it */
static int zdb_has_zero_init(BlockDriverState *bs)
{
    BDRVZdbState *s = bs->opaque;

    return !s->disk.has_thin;
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
    .bdrv_co_get_allocated_file_size = zdb_co_get_allocated_file_size, \
    .bdrv_co_truncate           = zdb_co_truncate,                  \
    .bdrv_co_invalidate_cache   = zdb_co_invalidate_cache,          \
    .bdrv_co_check              = zdb_co_check,                     \
    .bdrv_refresh_limits        = zdb_refresh_limits,               \
    .bdrv_refresh_filename      = zdb_refresh_filename,             \
    .bdrv_detach_aio_context    = zdb_detach_aio_context,           \
    .bdrv_attach_aio_context    = zdb_attach_aio_context,           \
    .bdrv_reopen_prepare        = zdb_reopen_prepare,               \
    .bdrv_reopen_commit         = zdb_reopen_commit,                \
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

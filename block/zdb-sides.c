/*
 * zdb block driver: the namespaces that hold a disk, and keeping them equal
 *
 * Copyright (c) 2026 the zdb driver authors
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#include "qemu/osdep.h"
#include "qapi/error.h"
#include "qapi/qapi-events-block-core.h"
#include "qemu/bitmap.h"
#include "qemu/error-report.h"
#include "qemu/guest-random.h"
#include "block/block-io.h"
#include "block/zdb-sides.h"
#include "trace.h"

#define ZDB_MONITOR_INTERVAL_MS 1000
/* blocks copied under one hold, and holds per monitor pass */
#define ZDB_CATCHUP_BATCH       256
#define ZDB_CATCHUP_BATCHES     64
/* what one bit of the out-of-sync record stands for */
#define ZDB_CHUNK_BYTES         (4 * 1024 * 1024)
/* the blocking connection that empties the record at close */
#define ZDB_CLEAN_UP_TIMEOUT    5

void zdb_sides_init(ZdbSides *sides, BlockDriverState *bs,
                    ZdbRangeLock *ranges)
{
    sides->bs = bs;
    sides->ranges = ranges;
    sides->side[0].name = "primary";
    sides->side[1].name = "backup";
    sides->nsides = 1;
    sides->stale = -1;
    qemu_co_mutex_init(&sides->meta_lock);
    qemu_co_queue_init(&sides->record_waiters);
}

void zdb_sides_set_geometry(ZdbSides *sides, uint64_t size,
                            uint32_t blocksize)
{
    sides->size = size;
    sides->blocksize = blocksize;
    sides->nblocks = DIV_ROUND_UP(size, blocksize);
    sides->chunk_blocks = MAX(1, ZDB_CHUNK_BYTES / blocksize);
    sides->nchunks = DIV_ROUND_UP(sides->nblocks, sides->chunk_blocks);
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

/* As quorum.c reports its children: a QMP event, and a line on stderr */
static void zdb_side_set_state(ZdbSides *sides, ZdbSide *side,
                               ZdbSideState state)
{
    g_autofree char *server = zdb_addr_describe(&side->store.addr);
    g_autofree char *id = g_strdup_printf("%016" PRIx64, side->meta.uuid);

    if (side->state == state) {
        return;
    }
    side->state = state;
    qapi_event_send_zdb_side_state_change(bdrv_get_node_name(sides->bs),
                                          side == &sides->side[0]
                                          ? ZDB_SIDE_NAME_PRIMARY
                                          : ZDB_SIDE_NAME_BACKUP,
                                          server, side->store.addr.namespace,
                                          state, id);
}

/* ------------------------------------------------------------------ */
/* Open: which side is current                                         */
/* ------------------------------------------------------------------ */

bool zdb_sides_probe(ZdbSides *sides, int open_timeout_s, int reply_timeout_s,
                     ZdbProbe *primary, ZdbProbe *backup, Error **errp)
{
    ERRP_GUARD();
    Error *primary_err = NULL;

    if (sides->nsides == 1) {
        return zdb_store_probe(&sides->side[0].store.addr, open_timeout_s,
                               reply_timeout_s, primary, errp);
    }
    if (!zdb_store_probe(&sides->side[0].store.addr, open_timeout_s,
                         reply_timeout_s, primary, &primary_err) &&
        !primary->unreachable) {
        error_propagate(errp, primary_err);
        return false;
    }
    if (!zdb_store_probe(&sides->side[1].store.addr, open_timeout_s,
                         reply_timeout_s, backup, errp)) {
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
 * Whether @cur's record holds every chunk written since @behind's
 * identifier: it started at or before that identifier.
 */
static bool zdb_record_covers(const ZdbProbe *cur, const ZdbProbe *behind)
{
    int since_age = zdb_meta_age(&cur->g, cur->g.since);
    int behind_age = zdb_meta_age(&cur->g, behind->g.uuid);

    return cur->record && since_age >= 0 && behind_age >= 0 &&
           behind_age <= since_age;
}

static char *zdb_probe_describe(const ZdbSide *side, const ZdbProbe *p)
{
    g_autofree char *server = zdb_addr_describe(&side->store.addr);

    return g_strdup_printf("the %s (%s, namespace '%s') holds identifier "
                           "%016" PRIx64, side->name, server,
                           side->store.addr.namespace, p->g.uuid);
}

/*
 * Sets sides->stale (which side open must copy to) and stale_whole; a
 * split brain is an error unless @keep names the side to keep.
 */
static bool zdb_sides_compare(ZdbSides *sides, const ZdbProbe *p,
                              const ZdbProbe *b, ZdbKeep keep, Error **errp)
{
    const ZdbProbe *probe[2] = { p, b };
    g_autofree char *pdesc = NULL;
    g_autofree char *bdesc = NULL;
    int t;

    sides->stale = -1;
    sides->stale_whole = false;
    sides->split = false;
    if (p->unreachable || b->unreachable) {
        /* the side that answers is trusted: 0-db cannot tell us more */
        sides->stale = p->unreachable ? 0 : 1;
        sides->stale_whole = true;
        return true;
    }
    if (!p->found || !b->found) {
        /*
         * A namespace without metadata is new; with none at all, the
         * primary is taken as the truth.
         */
        sides->stale = !b->found ? 1 : 0;
        sides->stale_whole = true;
        return true;
    }
    if (!p->g.has_uuid || !b->g.has_uuid) {
        /* written by a driver without identifiers: generations */
        if (p->g.generation != b->g.generation) {
            sides->stale = p->g.generation < b->g.generation ? 0 : 1;
            sides->stale_whole = true;
        }
        return true;
    }
    if (p->g.uuid == b->g.uuid) {
        /* in sync, but chunks still marked were being written at a crash */
        if ((p->record && !bitmap_empty(p->record, p->record_chunks)) ||
            (b->record && !bitmap_empty(b->record, b->record_chunks))) {
            sides->stale = 1;
        }
        return true;
    }
    for (t = 0; t < 2; t++) {
        const ZdbProbe *cur = probe[t], *behind = probe[!t];

        if (zdb_meta_age(&cur->g, behind->g.uuid) > 0) {
            sides->stale = !t;
            sides->stale_whole = !zdb_record_covers(cur, behind);
            return true;
        }
    }

    /* split brain: both moved on from what they last shared */
    pdesc = zdb_probe_describe(&sides->side[0], p);
    bdesc = zdb_probe_describe(&sides->side[1], b);
    if (keep == ZDB_KEEP_NONE) {
        error_setg(errp, "zdb: split brain: %s and %s; each took writes "
                   "without the other.  Open with "
                   "split-brain-keep=primary or split-brain-keep=backup to "
                   "keep that side: the other side's writes since they "
                   "parted are then overwritten", pdesc, bdesc);
        return false;
    }
    warn_report("zdb: split brain: %s and %s; keeping the %s as "
                "split-brain-keep says", pdesc, bdesc,
                sides->side[keep == ZDB_KEEP_PRIMARY ? 0 : 1].name);
    sides->stale = keep == ZDB_KEEP_PRIMARY ? 1 : 0;
    sides->split = true;
    /* both records count from where they parted, or nothing is known */
    sides->stale_whole = !p->record || !b->record || p->g.since != b->g.since;
    return true;
}

const ZdbProbe *zdb_sides_decide(ZdbSides *sides, const ZdbProbe *p,
                                 const ZdbProbe *b, ZdbKeep keep,
                                 Error **errp)
{
    const ZdbProbe *cur, *stale;

    if (sides->nsides == 1) {
        return p;
    }
    if (!zdb_sides_compare(sides, p, b, keep, errp)) {
        return NULL;
    }
    if (sides->stale < 0) {
        if (p->found && b->found && (p->g.size != b->g.size ||
                                     p->g.blocksize != b->g.blocksize)) {
            error_setg(errp, "zdb: the disk records size %" PRIu64
                       " blocksize %" PRIu64 " but the backup records size %"
                       PRIu64 " blocksize %" PRIu64 ", and neither missed "
                       "writes of the other", p->g.size, p->g.blocksize,
                       b->g.size, b->g.blocksize);
            return NULL;
        }
        return p;
    }
    cur = sides->stale ? p : b;
    stale = sides->stale ? b : p;
    if (stale->found && cur->found &&
        stale->g.blocksize != cur->g.blocksize) {
        error_setg(errp, "zdb: the %s records blocksize %" PRIu64 " but the "
                   "%s records blocksize %" PRIu64,
                   sides->side[!sides->stale].name, cur->g.blocksize,
                   sides->side[sides->stale].name, stale->g.blocksize);
        return NULL;
    }
    /* a resize the stale side missed is replayed on it */
    return cur;
}

void zdb_sides_settle(ZdbSides *sides, const ZdbProbe *p, const ZdbProbe *b,
                      bool read_only)
{
    const ZdbProbe *probe[2] = { p, b };
    uint64_t stale_blocks = 0;
    int t;

    sides->side[0].has_meta = p->found > 0;
    sides->side[0].meta = p->g;
    if (sides->nsides == 1) {
        return;
    }
    /* blocks past the end of a side that missed a shrink go too */
    for (t = 0; t < 2; t++) {
        if (probe[t]->found > 0 && probe[t]->g.blocksize == sides->blocksize) {
            stale_blocks = MAX(stale_blocks,
                               DIV_ROUND_UP(probe[t]->g.size,
                                            sides->blocksize));
        }
        if (probe[t]->record && probe[t]->g.chunk_blocks ==
                                sides->chunk_blocks) {
            /* a side may have dropped blocks past its end: they go too */
            stale_blocks = MAX(stale_blocks, probe[t]->record_chunks *
                                             sides->chunk_blocks);
        }
    }
    sides->nblocks = MAX(sides->nblocks, stale_blocks);
    sides->nchunks = DIV_ROUND_UP(sides->nblocks, sides->chunk_blocks);
    sides->record = bitmap_new(sides->nchunks);
    sides->recorded = bitmap_new(sides->nchunks);
    for (t = 0; t < 2; t++) {
        ZdbSide *side = &sides->side[t];
        const ZdbProbe *pr = probe[t];
        uint64_t c;

        side->has_meta = pr->found > 0;
        side->meta = pr->g;
        side->state = ZDB_SIDE_STATE_SYNC;
        side->out_of_sync = bitmap_new(sides->nblocks);
        /* chunk bits mean the same only at the same chunk size */
        if (pr->record && pr->g.chunk_blocks == sides->chunk_blocks) {
            for (c = find_first_bit(pr->record, pr->record_chunks);
                 c < MIN(pr->record_chunks, sides->nchunks);
                 c = find_next_bit(pr->record, pr->record_chunks, c + 1)) {
                set_bit(c, sides->record);
            }
        }
    }
    if (sides->stale >= 0) {
        ZdbSide *stale = &sides->side[sides->stale];
        uint64_t c;

        stale->state = probe[sides->stale]->unreachable
                       ? ZDB_SIDE_STATE_DOWN : ZDB_SIDE_STATE_BEHIND;
        if (sides->split && read_only) {
            /* nothing will copy to it: it is just not read */
            stale->state = ZDB_SIDE_STATE_SPLIT;
        }
        if (sides->stale_whole) {
            bitmap_set(stale->out_of_sync, 0, sides->nblocks);
        }
        for (c = find_first_bit(sides->record, sides->nchunks);
             !sides->stale_whole && c < sides->nchunks;
             c = find_next_bit(sides->record, sides->nchunks, c + 1)) {
            uint64_t first = c * sides->chunk_blocks;

            bitmap_set(stale->out_of_sync, first,
                       MIN(sides->chunk_blocks, sides->nblocks - first));
        }
        trace_zdb_open_stale(stale->name, sides->stale_whole,
                             bitmap_count_one(stale->out_of_sync,
                                              sides->nblocks));
    }
}

/* ------------------------------------------------------------------ */
/* Identifiers and the out-of-sync record                              */
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
 * answers again.  Returns whether it was given up.
 */
static bool zdb_side_lost(ZdbSides *sides, ZdbSide *side, int err)
{
    ZdbSide *other;

    if (sides->nsides < 2) {
        return false;
    }
    if (side->state == ZDB_SIDE_STATE_DOWN) {
        return true;
    }
    other = zdb_other_side(sides, side);
    if (side->state == ZDB_SIDE_STATE_SYNC &&
        other->state != ZDB_SIDE_STATE_SYNC) {
        return false;
    }
    trace_zdb_side_lost(side->name, side->store.addr.namespace, err);
    warn_report("zdb: %s namespace '%s' lost (%s); the %s goes on alone",
                side->name, side->store.addr.namespace, strerror(-err),
                other->name);
    zdb_side_set_state(sides, side, ZDB_SIDE_STATE_DOWN);
    zdb_monitor_arm(sides, ZDB_MONITOR_INTERVAL_MS);
    return true;
}

/* Whether block @b of @blocks is past what the bitmaps cover */
static void zdb_sides_cover(ZdbSides *sides, uint64_t blocks)
{
    uint64_t nchunks;
    int t;

    if (blocks <= sides->nblocks) {
        return;
    }
    for (t = 0; t < sides->nsides; t++) {
        if (sides->side[t].out_of_sync) {
            sides->side[t].out_of_sync =
                bitmap_zero_extend(sides->side[t].out_of_sync,
                                   sides->nblocks, blocks);
        }
    }
    nchunks = DIV_ROUND_UP(blocks, sides->chunk_blocks);
    if (sides->record) {
        sides->record = bitmap_zero_extend(sides->record, sides->nchunks,
                                           nchunks);
        sides->recorded = bitmap_zero_extend(sides->recorded,
                                             sides->nchunks, nchunks);
    }
    sides->nblocks = blocks;
    sides->nchunks = nchunks;
}

/* @side lacks @blocks */
static void zdb_side_mark(ZdbSides *sides, ZdbSide *side,
                          const ZdbBlocks *blocks)
{
    uint64_t i;

    if (!side->out_of_sync) {
        return;
    }
    if (!blocks->list) {
        zdb_sides_cover(sides, blocks->first + blocks->n);
        bitmap_set(side->out_of_sync, blocks->first, blocks->n);
        return;
    }
    for (i = 0; i < blocks->n; i++) {
        zdb_sides_cover(sides, blocks->list[i] + 1);
        set_bit(blocks->list[i], side->out_of_sync);
    }
}

/* Records the geometry and @side's identifiers in its metadata key */
/*
 * Records @m (the geometry added) as @side's metadata; only once the
 * server took it does @side's in-memory metadata become @m, so a write
 * that fails is tried again by whoever needs it next.
 */
static int coroutine_fn zdb_side_co_write_meta(ZdbSides *sides,
                                               ZdbSide *side, ZdbMeta *m)
{
    int ret;

    assert(!sides->inactive);
    m->size = sides->size;
    m->blocksize = sides->blocksize;
    if (sides->nsides > 1) {
        m->chunk_blocks = sides->chunk_blocks;
        m->record_chunks = sides->nchunks;
    }
    trace_zdb_generation(side->name, m->generation, m->uuid);
    ret = zdb_store_co_write_meta(&side->store, m);
    if (ret == 0) {
        side->meta = *m;
        side->has_meta = true;
    }
    return ret;
}

static uint64_t zdb_new_uuid(void)
{
    uint64_t id = 0;

    while (!id) {
        qemu_guest_getrandom_nofail(&id, sizeof(id));
    }
    return id;
}

/*
 * The sides in sync start a new identifier, unless they already hold one
 * their peer lacks, before a write the peer misses is acknowledged.
 */
static int coroutine_fn zdb_sides_co_diverge(ZdbSides *sides, bool force)
{
    int ret = 0;
    int t;

    qemu_co_mutex_lock(&sides->meta_lock);
    /* a catch-up may have ended while this waited for the lock */
    for (t = 0; t < sides->nsides && ret == 0 && zdb_sides_degraded(sides);
         t++) {
        ZdbSide *side = &sides->side[t];
        ZdbMeta m = side->meta;

        if (side->state != ZDB_SIDE_STATE_SYNC ||
            (m.has_uuid && m.uuid != m.since && !force)) {
            continue;
        }
        if (m.has_uuid) {
            memmove(&m.history[1], &m.history[0],
                    (ZDB_HISTORY_LEN - 1) * sizeof(m.history[0]));
            m.history[0] = m.uuid;
            m.nhistory = MIN(m.nhistory + 1, ZDB_HISTORY_LEN);
        } else {
            /* from a driver without identifiers: the peer shares none */
            m.nhistory = 0;
        }
        m.since = m.has_uuid ? m.uuid : 0;
        m.uuid = zdb_new_uuid();
        m.has_uuid = true;
        m.generation++;
        ret = zdb_side_co_write_meta(sides, side, &m);
    }
    qemu_co_mutex_unlock(&sides->meta_lock);
    return ret;
}

/*
 * Before the first chunk is recorded, every side that is up must say in
 * its metadata that it keeps a record, and sides in sync must share an
 * identifier: a disk made by qemu-img create, or by a driver without
 * identifiers, has neither.
 */
static int coroutine_fn zdb_sides_co_adopt(ZdbSides *sides)
{
    bool in_sync = !zdb_sides_degraded(sides);
    uint64_t shared;
    int ret = 0;
    int t;

    qemu_co_mutex_lock(&sides->meta_lock);
    shared = sides->side[0].meta.has_uuid ? sides->side[0].meta.uuid
                                          : zdb_new_uuid();
    for (t = 0; t < sides->nsides && ret == 0 && !sides->adopted; t++) {
        ZdbSide *side = &sides->side[t];
        ZdbMeta m = side->meta;

        /* a side behind is written when it is caught up, not before */
        if (side->state != ZDB_SIDE_STATE_SYNC ||
            (m.has_uuid && m.chunk_blocks == sides->chunk_blocks)) {
            continue;
        }
        if (in_sync && (!m.has_uuid || m.uuid != shared)) {
            m.has_uuid = true;
            m.uuid = m.since = shared;
            m.nhistory = 0;
        }
        ret = zdb_side_co_write_meta(sides, side, &m);
        if (ret < 0 && zdb_side_lost(sides, side, ret)) {
            /* it learns all this when it is caught up */
            ret = 0;
        }
    }
    sides->adopted = ret == 0;
    qemu_co_mutex_unlock(&sides->meta_lock);
    return ret;
}

/*
 * One side's part of a request, in a coroutine of its own (as quorum.c
 * does): the sides answer in one round trip, not one after the other.
 */
typedef struct ZdbSidePart ZdbSidePart;
struct ZdbSidePart {
    ZdbSide *side;
    int coroutine_fn (*run)(ZdbSidePart *part);
    const void *opaque;         /* what run works on, shared by the parts */
    int ret;
    bool done;
    Coroutine *waiter;          /* set while the request waits for this */
};

static void coroutine_fn zdb_side_part_entry(void *opaque)
{
    ZdbSidePart *p = opaque;

    p->ret = p->run(p);
    p->done = true;
    if (p->waiter) {
        aio_co_wake(p->waiter);
    }
}

/* Runs every part to its end: the first in this coroutine */
static void coroutine_fn zdb_side_parts_co_run(ZdbSidePart *parts,
                                               int nparts)
{
    int t;

    for (t = 1; t < nparts; t++) {
        qemu_coroutine_enter(qemu_coroutine_create(zdb_side_part_entry,
                                                   &parts[t]));
    }
    if (nparts > 0) {
        zdb_side_part_entry(&parts[0]);
    }
    for (t = 1; t < nparts; t++) {
        while (!parts[t].done) {
            parts[t].waiter = qemu_coroutine_self();
            qemu_coroutine_yield();
            parts[t].waiter = NULL;
        }
    }
}

/* The record's pages to write, the same for every side */
typedef struct ZdbRecordWrite {
    const unsigned long *snapshot;  /* the record to write */
    const unsigned long *todo;      /* chunks not yet on every side up */
    uint64_t nchunks;
} ZdbRecordWrite;

static int coroutine_fn zdb_side_co_write_record(ZdbSidePart *part)
{
    const ZdbRecordWrite *rw = part->opaque;
    g_autofree uint8_t *page = g_malloc(ZDB_RECORD_PAGE_BYTES);
    uint32_t last_page = UINT32_MAX;
    uint64_t c;
    int ret = 0;

    for (c = find_first_bit(rw->todo, rw->nchunks);
         c < rw->nchunks && ret == 0;
         c = find_next_bit(rw->todo, rw->nchunks, c + 1)) {
        uint32_t p = c / ZDB_RECORD_PAGE_BITS;

        if (p == last_page) {
            continue;
        }
        last_page = p;
        zdb_record_page_encode(rw->snapshot, rw->nchunks, p, page);
        ret = zdb_store_co_write_record_page(&part->side->store, p, page);
    }
    return ret;
}

/* Writes the record's pages that hold chunks not yet on every side up */
static int coroutine_fn zdb_sides_co_write_record(ZdbSides *sides)
{
    g_autofree unsigned long *snapshot = bitmap_new(sides->nchunks);
    g_autofree unsigned long *todo = bitmap_new(sides->nchunks);
    ZdbRecordWrite rw = {
        .snapshot = snapshot, .todo = todo, .nchunks = sides->nchunks,
    };
    ZdbSidePart parts[2];
    bool written = false;
    int nparts = 0, t, ret = 0;

    assert(!sides->inactive);
    bitmap_copy(snapshot, sides->record, rw.nchunks);
    bitmap_andnot(todo, snapshot, sides->recorded, rw.nchunks);
    for (t = 0; t < sides->nsides; t++) {
        if (sides->side[t].state != ZDB_SIDE_STATE_DOWN) {
            parts[nparts++] = (ZdbSidePart) {
                .side = &sides->side[t], .run = zdb_side_co_write_record,
                .opaque = &rw,
            };
        }
    }
    zdb_side_parts_co_run(parts, nparts);
    for (t = 0; t < nparts; t++) {
        if (parts[t].ret == 0) {
            written |= parts[t].side->state == ZDB_SIDE_STATE_SYNC;
        } else if (!zdb_side_lost(sides, parts[t].side, parts[t].ret)) {
            ret = parts[t].ret;
        }
    }
    if (ret == 0 && written) {
        bitmap_or(sides->recorded, sides->recorded, snapshot, rw.nchunks);
        return 0;
    }
    return ret ?: -EIO;
}

static bool zdb_sides_recorded(ZdbSides *sides, const ZdbBlocks *blocks)
{
    uint64_t i, c;

    if (!blocks->list) {
        for (c = blocks->first / sides->chunk_blocks;
             c <= (blocks->first + blocks->n - 1) / sides->chunk_blocks; c++) {
            if (!test_bit(c, sides->recorded)) {
                return false;
            }
        }
        return true;
    }
    for (i = 0; i < blocks->n; i++) {
        if (!test_bit(blocks->list[i] / sides->chunk_blocks,
                      sides->recorded)) {
            return false;
        }
    }
    return true;
}

/*
 * The chunks of @blocks into the out-of-sync record of every side that
 * will take them, before any of them is written: a crash or a failure in
 * the middle then leaves a trace of what may differ.  One write of the
 * record runs at a time and takes every chunk marked meanwhile along.
 */
static int coroutine_fn zdb_sides_co_record(ZdbSides *sides,
                                            const ZdbBlocks *blocks)
{
    uint64_t i, c;
    int ret;

    if (sides->nsides < 2) {
        return 0;
    }
    if (!sides->adopted) {
        ret = zdb_sides_co_adopt(sides);
        if (ret < 0) {
            return ret;
        }
    }
    if (!blocks->list) {
        zdb_sides_cover(sides, blocks->first + blocks->n);
        for (c = blocks->first / sides->chunk_blocks;
             c <= (blocks->first + blocks->n - 1) / sides->chunk_blocks; c++) {
            set_bit(c, sides->record);
        }
    } else {
        for (i = 0; i < blocks->n; i++) {
            zdb_sides_cover(sides, blocks->list[i] + 1);
            set_bit(blocks->list[i] / sides->chunk_blocks, sides->record);
        }
    }
    while (!zdb_sides_recorded(sides, blocks)) {
        if (sides->record_busy) {
            qemu_co_queue_wait(&sides->record_waiters, NULL);
            continue;
        }
        sides->record_busy = true;
        ret = zdb_sides_co_write_record(sides);
        sides->record_busy = false;
        qemu_co_queue_restart_all(&sides->record_waiters);
        if (ret < 0) {
            return ret;
        }
    }
    return 0;
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

/* What a put writes, the same for every side */
typedef struct ZdbPut {
    const ZdbBlocks *blocks;
    const ZdbValues *v;
} ZdbPut;

static int coroutine_fn zdb_side_co_put(ZdbSidePart *part)
{
    const ZdbPut *put = part->opaque;

    return zdb_store_co_put(&part->side->store, put->blocks, put->v);
}

/*
 * What the parts' results mean; see zdb_sides_co_put.  Returns whether a
 * side in sync took the blocks.
 */
static bool zdb_sides_settle_put(ZdbSides *sides, ZdbSidePart *parts,
                                 int nparts, const ZdbBlocks *blocks)
{
    bool taken = false;
    int t;

    for (t = 0; t < nparts; t++) {
        if (parts[t].ret < 0 &&
            zdb_side_lost(sides, parts[t].side, parts[t].ret)) {
            zdb_side_mark(sides, parts[t].side, blocks);
        }
    }
    for (t = 0; t < nparts; t++) {
        taken |= parts[t].ret == 0 &&
                 parts[t].side->state == ZDB_SIDE_STATE_SYNC;
    }
    for (t = 0; t < nparts && !taken; t++) {
        /* it took blocks that the side in sync may not have */
        if (parts[t].side->state != ZDB_SIDE_STATE_SYNC) {
            zdb_side_mark(sides, parts[t].side, blocks);
        }
    }
    return taken;
}

int coroutine_fn zdb_sides_co_put(ZdbSides *sides, const ZdbBlocks *blocks,
                                  const ZdbValues *v)
{
    ZdbPut put = { .blocks = blocks, .v = v };
    ZdbSidePart parts[2];
    int nparts = 0, t, ret;

    ret = zdb_sides_co_record(sides, blocks);
    if (ret < 0) {
        return ret;
    }
    for (t = 0; t < sides->nsides; t++) {
        ZdbSide *side = &sides->side[t];

        if (side->state == ZDB_SIDE_STATE_DOWN) {
            zdb_side_mark(sides, side, blocks);
            continue;
        }
        parts[nparts++] = (ZdbSidePart) {
            .side = side, .run = zdb_side_co_put, .opaque = &put,
        };
    }
    zdb_side_parts_co_run(parts, nparts);

    if (!zdb_sides_settle_put(sides, parts, nparts, blocks)) {
        ret = -EIO;
        for (t = 0; t < nparts; t++) {
            ret = parts[t].ret < 0 ? parts[t].ret : ret;
        }
        return ret;
    }
    return zdb_sides_degraded(sides) ? zdb_sides_co_diverge(sides, false) : 0;
}

int64_t coroutine_fn zdb_sides_co_usage(ZdbSides *sides)
{
    int64_t total = -ENOTSUP;
    int t;

    for (t = 0; t < sides->nsides; t++) {
        ZdbSide *side = &sides->side[t];

        side->has_usage = side->state != ZDB_SIDE_STATE_DOWN &&
                          zdb_store_co_usage(&side->store, &side->live_bytes,
                                             &side->entries) == 0;
        if (side->has_usage) {
            total = MAX(total, 0) + side->live_bytes;
        }
    }
    return total;
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

int coroutine_fn zdb_sides_co_scan(ZdbSides *sides, int *walked,
                                   ZdbScan *scan, GArray *blocks)
{
    ZdbSide *side = zdb_sides_reader(sides, NULL);

    if (!side) {
        return -EIO;
    }
    if (scan->cursor_len && side != &sides->side[*walked]) {
        return -ESTALE;
    }
    *walked = side - sides->side;
    return zdb_store_co_scan(&side->store, scan, blocks);
}

/*
 * Copies @blocks from @src to @side, exactly, and clears them from what
 * @side lacks.  The caller holds the blocks.
 */
static int coroutine_fn zdb_side_co_copy(ZdbSide *src, ZdbSide *side,
                                         const uint64_t *blocks, uint64_t n)
{
    int ret = zdb_store_co_copy(&src->store, &side->store, blocks, n);
    uint64_t i;

    for (i = 0; i < n && ret == 0; i++) {
        clear_bit(blocks[i], side->out_of_sync);
    }
    return ret;
}

/* ------------------------------------------------------------------ */
/* Verify                                                              */
/* ------------------------------------------------------------------ */

static const char *zdb_kind_name(int8_t kind)
{
    return kind == ZDB_KIND_VALUE ? "data" :
           kind == ZDB_KIND_MARKER ? "the zero marker" : "no key";
}

/*
 * Compares blocks [first, first + n): each that differs is reported and
 * listed in @diff, which gets the count in *ndiff.
 */
static int coroutine_fn zdb_sides_co_compare(ZdbSides *sides, ZdbSide *ref,
                                             ZdbSide *other, uint64_t *blocks,
                                             uint64_t n, uint64_t *diff,
                                             uint64_t *ndiff, ZdbVerify *res)
{
    uint32_t bsz = sides->blocksize;
    g_autofree uint8_t *ref_vals = g_malloc(n * bsz);
    g_autofree uint8_t *other_vals = g_malloc(n * bsz);
    g_autofree int8_t *ref_kinds = g_new0(int8_t, n);
    g_autofree int8_t *other_kinds = g_new0(int8_t, n);
    uint8_t *vals[2] = { ref_vals, other_vals };
    int8_t *kinds[2] = { ref_kinds, other_kinds };
    ZdbSide *side[2] = { ref, other };
    uint64_t i;
    int t, ret;

    for (t = 0; t < 2; t++) {
        ZdbFetch f = { .copy = vals[t], .kinds = kinds[t] };

        ret = zdb_store_co_fetch(&side[t]->store, &f, blocks, n);
        if (ret < 0) {
            return ret;
        }
    }
    *ndiff = 0;
    for (i = 0; i < n; i++) {
        bool known;

        if (kinds[0][i] == kinds[1][i] &&
            (kinds[0][i] != ZDB_KIND_VALUE ||
             !memcmp(vals[0] + i * bsz, vals[1] + i * bsz, bsz))) {
            continue;
        }
        known = test_bit(blocks[i], other->out_of_sync);
        if (kinds[0][i] == kinds[1][i]) {
            fprintf(stderr, "zdb: block %" PRIu64 " differs: the %s and "
                    "the %s hold different data%s\n", blocks[i], ref->name,
                    other->name, known ? " (known: being caught up)" : "");
        } else {
            fprintf(stderr, "zdb: block %" PRIu64 " differs: the %s holds "
                    "%s, the %s holds %s%s\n", blocks[i], ref->name,
                    zdb_kind_name(kinds[0][i]), other->name,
                    zdb_kind_name(kinds[1][i]),
                    known ? " (known: being caught up)" : "");
        }
        res->known += known;
        diff[(*ndiff)++] = blocks[i];
    }
    res->differ += *ndiff;
    return 0;
}

int coroutine_fn zdb_sides_co_verify(ZdbSides *sides, bool repair,
                                     ZdbVerify *res, Error **errp)
{
    ZdbSide *ref = zdb_sides_reader(sides, NULL);
    ZdbSide *other;
    uint64_t blocks[ZDB_CATCHUP_BATCH], diff[ZDB_CATCHUP_BATCH];
    uint64_t first, i, n, ndiff;
    int ret = 0;

    memset(res, 0, sizeof(*res));
    if (sides->nsides < 2) {
        return 0;
    }
    other = ref ? zdb_other_side(sides, ref) : NULL;
    if (!ref || other->state == ZDB_SIDE_STATE_DOWN ||
        other->state == ZDB_SIDE_STATE_SPLIT) {
        error_setg(errp, "zdb: cannot compare the sides: the %s is %s",
                   ref ? other->name : "primary",
                   ref ? ZdbSideState_str(other->state) : "not in sync");
        return -EIO;
    }
    for (first = 0; first < sides->nblocks && ret == 0; first += n) {
        ZdbRange range;

        n = MIN(ZDB_CATCHUP_BATCH, sides->nblocks - first);
        for (i = 0; i < n; i++) {
            blocks[i] = first + i;
        }
        /* no write may land between the comparison and the repair */
        zdb_range_co_lock(sides->ranges, &range, first, first + n - 1);
        ret = zdb_sides_co_compare(sides, ref, other, blocks, n, diff, &ndiff,
                                   res);
        if (ret == 0 && repair && ndiff) {
            ret = zdb_side_co_copy(ref, other, diff, ndiff);
            res->repaired += ret == 0 ? ndiff : 0;
        }
        zdb_range_unlock(sides->ranges, &range);
        res->compared += n;
    }
    if (ret < 0) {
        error_setg_errno(errp, -ret, "zdb: cannot compare the sides");
    }
    return ret;
}

/* ------------------------------------------------------------------ */
/* Size                                                                */
/* ------------------------------------------------------------------ */

/*
 * Records @size as the disk's size on the sides in sync; one must take
 * it.  Any other side learns it at catch-up, when its metadata is written,
 * and the blocks past a smaller end are among the blocks it lacks (the
 * shrink dropped them through zdb_sides_co_put).  Called with meta_lock
 * held.
 */
static int coroutine_fn zdb_sides_co_set_size(ZdbSides *sides, uint64_t size)
{
    uint64_t old_size = sides->size;
    bool taken = false;
    int r[2] = { 0, 0 };
    int ret = 0, t;

    zdb_sides_cover(sides, DIV_ROUND_UP(size, sides->blocksize));
    sides->size = size;

    for (t = 0; t < sides->nsides; t++) {
        ZdbSide *side = &sides->side[t];

        /* a side behind or down learns the size when it is caught up */
        if (side->state != ZDB_SIDE_STATE_SYNC) {
            continue;
        }
        ZdbMeta m = side->meta;

        r[t] = zdb_side_co_write_meta(sides, side, &m);
        if (r[t] < 0) {
            ret = ret ?: r[t];
        } else if (side->state == ZDB_SIDE_STATE_SYNC) {
            taken = true;
        }
    }
    if (!taken) {
        sides->size = old_size;
        return ret < 0 ? ret : -EIO;
    }
    for (t = 0; t < sides->nsides; t++) {
        if (r[t] < 0) {
            /* it does not say the new size: it learns it at catch-up */
            zdb_side_lost(sides, &sides->side[t], r[t]);
        }
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
    if (ret == 0 && zdb_sides_degraded(sides)) {
        ret = zdb_sides_co_diverge(sides, false);
    }
    return ret;
}

int coroutine_fn zdb_sides_co_resize(ZdbSides *sides, uint64_t size)
{
    int ret;

    qemu_co_mutex_lock(&sides->meta_lock);
    ret = zdb_sides_co_set_size(sides, size);
    qemu_co_mutex_unlock(&sides->meta_lock);
    if (ret == 0 && zdb_sides_degraded(sides)) {
        ret = zdb_sides_co_diverge(sides, false);
    }
    return ret;
}

int coroutine_fn zdb_sides_co_reread_size(ZdbSides *sides, Error **errp)
{
    ZdbSide *side = zdb_sides_reader(sides, NULL);
    ZdbMeta g;
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
    zdb_sides_cover(sides, DIV_ROUND_UP(g.size, sides->blocksize));
    sides->size = g.size;
    return 0;
}

/* ------------------------------------------------------------------ */
/* The monitor: bringing a side back                                   */
/* ------------------------------------------------------------------ */

/*
 * Every block copied: @side holds @src's data, and says so.  Its record
 * gets every chunk first (a crash later must find them on either side),
 * then its identifiers become @src's, and both record that this is the
 * last point they shared.
 */
static void coroutine_fn zdb_co_finish_catch_up(ZdbSides *sides,
                                                ZdbSide *side, ZdbSide *src)
{
    int ret = 0;

    while (sides->record_busy) {
        qemu_co_queue_wait(&sides->record_waiters, NULL);
    }
    sides->record_busy = true;
    /* a write of the record that began while it was down skipped it */
    bitmap_zero(sides->recorded, sides->nchunks);
    ret = zdb_sides_co_write_record(sides);
    sides->record_busy = false;
    qemu_co_queue_restart_all(&sides->record_waiters);

    qemu_co_mutex_lock(&sides->meta_lock);
    if (ret == 0 && !src->meta.has_uuid) {
        /* a disk never written with both up: they share a first one */
        ZdbMeta m = src->meta;

        m.has_uuid = true;
        m.uuid = m.since = zdb_new_uuid();
        m.nhistory = 0;
        ret = zdb_side_co_write_meta(sides, src, &m);
    }
    if (ret == 0) {
        ZdbMeta m = src->meta;

        m.since = src->meta.uuid;
        ret = zdb_side_co_write_meta(sides, side, &m);
    }
    if (ret == 0 && src->meta.since != src->meta.uuid) {
        ZdbMeta m = src->meta;

        /* if this fails, the next open sees equal identifiers: harmless */
        m.since = src->meta.uuid;
        zdb_side_co_write_meta(sides, src, &m);
    }
    qemu_co_mutex_unlock(&sides->meta_lock);
    if (ret < 0) {
        zdb_side_lost(sides, side, ret);
        return;
    }
    /*
     * A write may have failed on it meanwhile, or marked a block: then its
     * metadata says more than it holds, and the side in sync must start a
     * new identifier at once, so that the next open knows it is behind.
     */
    if (side->state != ZDB_SIDE_STATE_BEHIND ||
        find_first_bit(side->out_of_sync, sides->nblocks) < sides->nblocks) {
        /* if this fails, the next write tries again before it returns */
        zdb_sides_co_diverge(sides, true);
        return;
    }
    zdb_side_set_state(sides, side, ZDB_SIDE_STATE_SYNC);
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
        int n = 0, ret;

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
        zdb_range_co_lock(sides->ranges, &range, blocks[0], blocks[n - 1]);
        ret = zdb_side_co_copy(src, side, blocks, n);
        side->copied += ret == 0 ? n : 0;
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

        /*
         * Nothing waits for the connect: a server that accepts and never
         * answers would hold up drain, which waits for this pass.
         */
        if (side->state == ZDB_SIDE_STATE_DOWN && src &&
            zdb_store_try_connect(&side->store)) {
            /*
             * From now on it takes every write, then it is caught up; the
             * record goes to it again in full with the next write that
             * marks a chunk (a write of the record already under way may
             * mark its chunks recorded without it), and in any case when
             * the catch-up ends, before it counts as in sync.
             */
            trace_zdb_side_back(side->name, side->store.addr.namespace);
            bitmap_zero(sides->recorded, sides->nchunks);
            zdb_side_set_state(sides, side, ZDB_SIDE_STATE_BEHIND);
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

    if (sides->monitor_running || sides->quiesced || sides->inactive) {
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

static void zdb_monitor_stop(ZdbSides *sides)
{
    if (sides->monitor) {
        timer_free(sides->monitor);
        sides->monitor = NULL;
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

    zdb_monitor_stop(sides);
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

void zdb_sides_set_writable(ZdbSides *sides, bool writable, AioContext *ctx)
{
    bool monitor = writable && sides->nsides > 1;
    int t;

    if (monitor == sides->monitor_enabled) {
        return;
    }
    if (!monitor) {
        /* as at a close: nothing copies to a side behind any more */
        zdb_sides_clean_up(sides);
        zdb_monitor_stop(sides);
        sides->monitor_enabled = false;
        return;
    }
    for (t = 0; t < sides->nsides; t++) {
        if (sides->side[t].state == ZDB_SIDE_STATE_SPLIT) {
            /* kept out only because nothing could copy to it */
            zdb_side_set_state(sides, &sides->side[t],
                               ZDB_SIDE_STATE_BEHIND);
        }
    }
    sides->monitor_enabled = true;
    zdb_monitor_start(sides, ctx);
}

void zdb_sides_clean_up(ZdbSides *sides)
{
    Error *err = NULL;
    int t;

    if (!sides->monitor_enabled || sides->inactive ||
        zdb_sides_degraded(sides) ||
        bitmap_empty(sides->record, sides->nchunks)) {
        return;
    }
    for (t = 0; t < sides->nsides; t++) {
        if (!zdb_store_drop_record_sync(&sides->side[t].store.addr,
                                        sides->nchunks, ZDB_CLEAN_UP_TIMEOUT,
                                        &err)) {
            /* the next open copies the chunks again: slower, not wrong */
            warn_report_err(err);
            err = NULL;
        }
    }
    /*
     * The servers' record is gone (or, where the drop failed, left as it
     * was): a later write (after a reopen read-write, an activation)
     * records its chunk again.
     */
    bitmap_zero(sides->record, sides->nchunks);
    bitmap_zero(sides->recorded, sides->nchunks);
}

void zdb_sides_close(ZdbSides *sides)
{
    int t;

    zdb_monitor_stop(sides);
    for (t = 0; t < 2; t++) {
        zdb_store_close(&sides->side[t].store);
        g_free(sides->side[t].out_of_sync);
        sides->side[t].out_of_sync = NULL;
    }
    g_free(sides->record);
    g_free(sides->recorded);
    sides->record = sides->recorded = NULL;
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

void zdb_sides_inactivate(ZdbSides *sides)
{
    /*
     * Drained and still the owner: as at a close, so that the process
     * taking the disk over does not copy what is already on both sides.
     */
    zdb_sides_clean_up(sides);
    sides->inactive = true;
    if (sides->monitor) {
        timer_del(sides->monitor);
    }
}

/* What open's probe learns, read through the connections */
static int coroutine_fn zdb_side_co_reprobe(ZdbSides *sides, ZdbSide *side,
                                            ZdbProbe *p, Error **errp)
{
    Error *local_err = NULL;
    int ret;

    ret = zdb_store_co_read_meta(&side->store, &p->g, &local_err);
    if (ret == -ENOTCONN) {
        /* as at open: a side that cannot be reached is down */
        warn_report_err(local_err);
        p->unreachable = true;
        return 0;
    }
    if (ret < 0) {
        error_propagate(errp, local_err);
        return ret;
    }
    p->found = ret;
    if (p->found && p->g.chunk_blocks) {
        uint64_t nblocks = DIV_ROUND_UP(p->g.size, p->g.blocksize);

        p->record_chunks = MAX(DIV_ROUND_UP(nblocks, p->g.chunk_blocks),
                               p->g.record_chunks);
        p->record = bitmap_new(p->record_chunks);
        ret = zdb_store_co_read_record(&side->store, p->record,
                                       p->record_chunks);
        if (ret < 0) {
            p->unreachable = true;
        }
    }
    return 0;
}

int coroutine_fn zdb_sides_co_activate(ZdbSides *sides, ZdbKeep keep,
                                       Error **errp)
{
    ZdbProbe probe[2] = { { .role = "disk" }, { .role = "backup" } };
    const ZdbProbe *cur;
    int ret = 0, t;

    if (sides->nsides == 1) {
        sides->inactive = false;
        return zdb_sides_co_reread_size(sides, errp);
    }
    for (t = 0; t < 2 && ret == 0; t++) {
        ret = zdb_side_co_reprobe(sides, &sides->side[t], &probe[t], errp);
    }
    if (ret == 0 && probe[0].unreachable && probe[1].unreachable) {
        error_setg(errp, "zdb: no namespace of the disk is reachable");
        ret = -EIO;
    }
    cur = ret == 0 ? zdb_sides_decide(sides, &probe[0], &probe[1], keep,
                                      errp) : NULL;
    if (cur) {
        for (t = 0; t < 2; t++) {
            g_free(sides->side[t].out_of_sync);
        }
        g_free(sides->record);
        g_free(sides->recorded);
        zdb_sides_set_geometry(sides, cur->g.size ?: sides->size,
                               sides->blocksize);
        zdb_sides_settle(sides, &probe[0], &probe[1], false);
        sides->inactive = false;
        if (sides->monitor && zdb_sides_degraded(sides)) {
            zdb_monitor_arm(sides, 0);
        }
    } else if (ret == 0) {
        ret = -EIO;
    }
    for (t = 0; t < 2; t++) {
        zdb_probe_clear(&probe[t]);
    }
    return ret;
}

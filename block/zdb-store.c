/*
 * zdb block driver: the blocks of a disk in one namespace on one server
 *
 * Copyright (c) 2026 the zdb driver authors
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#include "qemu/osdep.h"
#include "qapi/error.h"
#include "qemu/error-report.h"
#include "qemu/units.h"
#include "qemu/bitmap.h"
#include "qemu/cutils.h"
#include "block/zdb-store.h"
#include "trace.h"

/* Bound one MGET reply's size, as well as its keys. */
#define ZDB_MGET_MAX_BYTES      (256 * KiB)
/* Commands a zeroing put keeps in flight */
#define ZDB_ZERO_BATCH          1024
/*
 * A put queues at most this many bytes of SETs before it waits for their
 * replies: a big write does not copy itself whole into hiredis' output
 * buffer, and the pipeline stays full across the requests.
 */
#define ZDB_PUT_BATCH_BYTES     (256 * KiB)
/*
 * Small requests (a guest's usual 4 KiB to 64 KiB) keep their bookkeeping
 * on the coroutine's stack: no allocation per request on the hot path.
 */
#define ZDB_STACK_CMDS          16
/* The blocking connection of open and create: seconds per reply */
#define ZDB_PROBE_TIMEOUT       10

void zdb_store_connect(ZdbStore *st, uint32_t blocksize, bool zero_marker,
                       int connections, int timeout_s, AioContext *ctx)
{
    st->blocksize = blocksize;
    st->zero_marker = zero_marker;
    st->pool = zdb_pool_new(&st->addr, connections, timeout_s, ctx);
}

void zdb_store_close(ZdbStore *st)
{
    zdb_pool_free(st->pool);
    st->pool = NULL;
    zdb_addr_clear(&st->addr);
}

void zdb_store_detach_aio_context(ZdbStore *st)
{
    zdb_pool_detach_aio_context(st->pool);
}

void zdb_store_attach_aio_context(ZdbStore *st, AioContext *ctx)
{
    zdb_pool_attach_aio_context(st->pool, ctx);
}

bool zdb_store_try_connect(ZdbStore *st)
{
    return zdb_pool_try_connect(st->pool);
}

/* ------------------------------------------------------------------ */
/* Fetch                                                               */
/* ------------------------------------------------------------------ */

typedef struct ZdbFetchCmd {
    ZdbCmd cmd;
    ZdbStore *st;
    ZdbFetch *f;
    const uint64_t *list;       /* the whole fetch's blocks */
    const uint64_t *blocks;     /* this command's, inside list */
    int nkeys;
} ZdbFetchCmd;

/* The part of @block inside the fetch: its offset in the block and qiov */
static void zdb_fetch_slice(ZdbFetchCmd *fc, uint64_t block, size_t *boff,
                            size_t *qoff, size_t *len)
{
    int64_t bstart = block * fc->st->blocksize;
    int64_t lo = MAX(bstart, fc->f->offset);
    int64_t hi = MIN(bstart + fc->st->blocksize,
                     fc->f->offset + fc->f->bytes);

    *boff = lo - bstart;
    *qoff = lo - fc->f->offset;
    *len = hi - lo;
}

/*
 * One value into the fetch's buffer (if any) and copy (if any).  Nil is
 * zeros, or "look in the base" with @missing; an empty value is the zero
 * marker that keeps a thin disk's zeroed block from showing the base.
 */
static int zdb_fetch_value(ZdbFetchCmd *fc, const uint64_t *pblock,
                           redisReply *v)
{
    ZdbFetch *f = fc->f;
    uint32_t blocksize = fc->st->blocksize;
    uint64_t block = *pblock;
    size_t idx = pblock - fc->list;
    size_t boff = 0, qoff = 0, len = 0;

    if (f->qiov) {
        zdb_fetch_slice(fc, block, &boff, &qoff, &len);
    }
    if (f->exists && v->type != REDIS_REPLY_ERROR) {
        f->exists[idx] = v->type != REDIS_REPLY_NIL;
    }
    if (v->type == REDIS_REPLY_NIL && f->missing) {
        f->missing[idx] = true;
        return 0;
    }
    if (v->type == REDIS_REPLY_NIL ||
        (v->type == REDIS_REPLY_STRING && v->len == 0)) {
        if (f->qiov) {
            qemu_iovec_memset(f->qiov, qoff, 0, len);
        }
        if (f->kinds) {
            f->kinds[idx] = v->type == REDIS_REPLY_NIL ? ZDB_KIND_NIL
                                                       : ZDB_KIND_MARKER;
        }
        return 0;
    }
    if (v->type == REDIS_REPLY_STRING && v->len == blocksize) {
        if (f->qiov) {
            qemu_iovec_from_buf(f->qiov, qoff, v->str + boff, len);
        }
        if (f->copy) {
            memcpy(f->copy + idx * blocksize, v->str, blocksize);
            f->kinds[idx] = ZDB_KIND_VALUE;
        }
        return 0;
    }
    if (v->type == REDIS_REPLY_ERROR) {
        return zdb_error_to_errno(v->str);
    }
    if (v->type == REDIS_REPLY_STRING) {
        error_report("zdb: namespace '%s': block %" PRIu64 " holds %zu "
                     "bytes, expected %" PRIu32, fc->st->addr.namespace,
                     block, (size_t)v->len, blocksize);
    } else {
        error_report("zdb: namespace '%s': unexpected reply type %d for "
                     "block %" PRIu64, fc->st->addr.namespace, v->type,
                     block);
    }
    return -EIO;
}

static int zdb_fetch_done(ZdbCmd *cmd, redisReply *reply)
{
    ZdbFetchCmd *fc = container_of(cmd, ZdbFetchCmd, cmd);
    int ret = 0;
    int i;

    trace_zdb_reply(fc->blocks[0], fc->nkeys, reply ? reply->type : -1);
    if (!reply) {
        return -ENOTCONN;
    }
    if (fc->nkeys == 1 && reply->type != REDIS_REPLY_ARRAY) {
        return zdb_fetch_value(fc, &fc->blocks[0], reply);
    }
    if (reply->type == REDIS_REPLY_ARRAY && reply->elements == fc->nkeys) {
        for (i = 0; i < fc->nkeys && ret == 0; i++) {
            ret = zdb_fetch_value(fc, &fc->blocks[i], reply->element[i]);
        }
        return ret;
    }
    if (reply->type == REDIS_REPLY_ERROR) {
        return zdb_error_to_errno(reply->str);
    }
    error_report("zdb: namespace '%s': MGET of %d keys from block %" PRIu64
                 " got a reply of type %d with %zu elements",
                 fc->st->addr.namespace, fc->nkeys, fc->blocks[0],
                 reply->type, (size_t)reply->elements);
    return -EIO;
}

int coroutine_fn zdb_store_co_fetch(ZdbStore *st, ZdbFetch *f,
                                    const uint64_t *blocks, uint64_t n)
{
    int per_cmd = MIN(ZDB_MGET_MAX_KEYS,
                      MAX(1, ZDB_MGET_MAX_BYTES / st->blocksize));
    int ncmds = DIV_ROUND_UP(n, per_cmd);
    int nargs = MIN(n, per_cmd) + 1;
    ZdbFetchCmd cmds_here[ZDB_STACK_CMDS];
    const char *argv_here[ZDB_STACK_CMDS + 1];
    size_t argvlen_here[ZDB_STACK_CMDS + 1];
    uint8_t keys_here[(ZDB_STACK_CMDS + 1) * ZDB_KEY_LEN];
    g_autofree ZdbFetchCmd *cmds_heap = NULL;
    g_autofree const char **argv_heap = NULL;
    g_autofree size_t *argvlen_heap = NULL;
    g_autofree uint8_t *keys_heap = NULL;
    ZdbFetchCmd *cmds = cmds_here;
    const char **argv = argv_here;
    size_t *argvlen = argvlen_here;
    uint8_t *keys = keys_here;
    ZdbWait wait;
    int i, j, ret = 0, ret2;

    if (ncmds > ZDB_STACK_CMDS) {
        cmds = cmds_heap = g_new(ZdbFetchCmd, ncmds);
    }
    if (nargs > ZDB_STACK_CMDS + 1) {
        argv = argv_heap = g_new(const char *, nargs);
        argvlen = argvlen_heap = g_new(size_t, nargs);
        keys = keys_heap = g_malloc(nargs * ZDB_KEY_LEN);
    }
    zdb_wait_init(&wait);
    for (i = 0; i < ncmds && ret == 0; i++) {
        ZdbFetchCmd *fc = &cmds[i];

        fc->st = st;
        fc->f = f;
        fc->list = blocks;
        fc->blocks = blocks + (uint64_t)i * per_cmd;
        fc->nkeys = MIN(per_cmd, n - (uint64_t)i * per_cmd);
        argv[0] = fc->nkeys == 1 ? "GET" : "MGET";
        argvlen[0] = strlen(argv[0]);
        for (j = 0; j < fc->nkeys; j++) {
            zdb_key(keys + j * ZDB_KEY_LEN, fc->blocks[j]);
            argv[j + 1] = (const char *)keys + j * ZDB_KEY_LEN;
            argvlen[j + 1] = ZDB_KEY_LEN;
        }
        ret = zdb_pool_co_send(st->pool, &fc->cmd, zdb_fetch_done, &wait,
                               fc->nkeys + 1, argv, argvlen);
    }
    ret2 = zdb_wait_all(&wait);
    return ret < 0 ? ret : ret2;
}

/* ------------------------------------------------------------------ */
/* Put                                                                 */
/* ------------------------------------------------------------------ */

/* Where a put is in its values: each put has its own, see zdb_values_next */
typedef struct ZdbValuesCursor {
    const ZdbValues *v;
    struct iovec *iov;
    size_t iov_off;
    uint8_t *bounce;            /* for a block split across iov elements */
} ZdbValuesCursor;

static void zdb_values_cursor_init(ZdbValuesCursor *c, const ZdbValues *v)
{
    size_t skip = v->qiov_offset;

    c->v = v;
    c->bounce = NULL;
    c->iov = v->qiov ? v->qiov->iov : NULL;
    c->iov_off = 0;
    if (!v->qiov) {
        return;     /* zeros or a copy: no vector */
    }
    while (skip && skip >= c->iov->iov_len) {
        skip -= c->iov->iov_len;
        c->iov++;
    }
    c->iov_off = skip;
}

/*
 * The value of entry @i of @n for a guest write: the patched head or tail
 * block, else the next whole block of the vector, in place when one
 * element holds it (guest buffers are usually whole pages), else gathered
 * into the bounce buffer.  hiredis copies a command when it is queued, so
 * one bounce buffer serves every block of a put.
 */
static const char *zdb_values_next(ZdbValuesCursor *c, uint64_t i,
                                   uint64_t n, size_t len)
{
    uint8_t *dst;
    size_t left = len;

    if (i == 0 && c->v->head) {
        return (const char *)c->v->head;
    }
    if (i == n - 1 && c->v->tail) {
        return (const char *)c->v->tail;
    }
    while (c->iov_off == c->iov->iov_len) {
        c->iov++;
        c->iov_off = 0;
    }
    if (c->iov->iov_len - c->iov_off >= len) {
        const char *p = (const char *)c->iov->iov_base + c->iov_off;
        c->iov_off += len;
        return p;
    }
    if (!c->bounce) {
        c->bounce = g_malloc(len);
    }
    dst = c->bounce;
    while (left) {
        size_t step;

        while (c->iov_off == c->iov->iov_len) {
            c->iov++;
            c->iov_off = 0;
        }
        step = MIN(left, c->iov->iov_len - c->iov_off);
        memcpy(dst, (const char *)c->iov->iov_base + c->iov_off, step);
        dst += step;
        left -= step;
        c->iov_off += step;
    }
    return (const char *)c->bounce;
}

static int zdb_put_done(ZdbCmd *cmd, redisReply *reply)
{
    return zdb_reply_check_write(reply);
}

static int zdb_del_done(ZdbCmd *cmd, redisReply *reply)
{
    return zdb_reply_check_del(reply);
}

/*
 * The command for entry @i into @argv/@argvlen (SET key value, SET key ""
 * for the zero marker, DEL key); @key is the key's buffer.  Returns argc.
 */
static int zdb_put_argv(ZdbStore *st, const ZdbValues *v, ZdbValuesCursor *c,
                        const ZdbBlocks *blocks, uint64_t i, uint8_t *key,
                        const char **argv, size_t *argvlen)
{
    zdb_key(key, zdb_blocks_at(blocks, i));
    argv[1] = (const char *)key;
    argvlen[1] = ZDB_KEY_LEN;
    argv[0] = "SET";
    argvlen[0] = 3;
    argv[2] = "";
    argvlen[2] = 0;
    if (v && v->kinds) {
        switch (v->kinds[i]) {
        case ZDB_KIND_VALUE:
            argv[2] = (const char *)v->vals + i * st->blocksize;
            argvlen[2] = st->blocksize;
            return 3;
        case ZDB_KIND_MARKER:
            return 3;
        default:
            break;
        }
    } else if (v) {
        argv[2] = zdb_values_next(c, i, blocks->n, st->blocksize);
        argvlen[2] = st->blocksize;
        return 3;
    } else if (st->zero_marker) {
        return 3;
    }
    argv[0] = "DEL";
    return 2;
}

int coroutine_fn zdb_store_co_put(ZdbStore *st, const ZdbBlocks *blocks,
                                  const ZdbValues *v)
{
    int batch = MIN(blocks->n, v ? MAX(1, ZDB_PUT_BATCH_BYTES / st->blocksize)
                                 : ZDB_ZERO_BATCH);
    ZdbCmd cmds_here[ZDB_STACK_CMDS];
    g_autofree ZdbCmd *cmds_heap = NULL;
    ZdbCmd *cmds = cmds_here;
    ZdbValuesCursor cursor = { 0 };
    uint64_t done = 0;
    int ret = 0;

    if (batch > ZDB_STACK_CMDS) {
        cmds = cmds_heap = g_new(ZdbCmd, batch);
    }
    if (v) {
        zdb_values_cursor_init(&cursor, v);
    }
    while (done < blocks->n && ret == 0) {
        ZdbWait wait;
        int i;

        zdb_wait_init(&wait);
        for (i = 0; i < batch && done < blocks->n && ret == 0; i++, done++) {
            uint8_t key[ZDB_KEY_LEN];
            const char *argv[3];
            size_t argvlen[3];
            int argc = zdb_put_argv(st, v, &cursor, blocks, done, key, argv,
                                    argvlen);

            ret = zdb_pool_co_send(st->pool, &cmds[i],
                                   argc == 2 ? zdb_del_done : zdb_put_done,
                                   &wait, argc, argv, argvlen);
        }
        ret = zdb_wait_all(&wait) ?: ret;
    }
    if (v) {
        g_free(cursor.bounce);
    }
    return ret;
}

int coroutine_fn zdb_store_co_copy(ZdbStore *from, ZdbStore *to,
                                   const uint64_t *blocks, uint64_t n)
{
    g_autofree uint8_t *copy = g_malloc((size_t)n * from->blocksize);
    g_autofree int8_t *kinds = g_new0(int8_t, n);
    ZdbFetch f = { .copy = copy, .kinds = kinds };
    ZdbBlocks list = { .list = blocks, .n = n };
    ZdbValues v = { .kinds = kinds, .vals = copy };
    int ret;

    ret = zdb_store_co_fetch(from, &f, blocks, n);
    if (ret < 0) {
        return ret;
    }
    return zdb_store_co_put(to, &list, &v);
}

/* ------------------------------------------------------------------ */
/* Exists                                                              */
/* ------------------------------------------------------------------ */

typedef struct ZdbExistsCmd {
    ZdbCmd cmd;
    int8_t exists;
} ZdbExistsCmd;

static int zdb_exists_done(ZdbCmd *cmd, redisReply *reply)
{
    ZdbExistsCmd *ec = container_of(cmd, ZdbExistsCmd, cmd);

    if (reply && reply->type == REDIS_REPLY_INTEGER) {
        ec->exists = reply->integer != 0;
        return 0;
    }
    if (reply && reply->type == REDIS_REPLY_ERROR) {
        return zdb_error_to_errno(reply->str);
    }
    return reply ? -EIO : -ENOTCONN;
}

int coroutine_fn zdb_store_co_exists(ZdbStore *st, uint64_t first, int n,
                                     int8_t *out)
{
    g_autofree ZdbExistsCmd *cmds = g_new(ZdbExistsCmd, n);
    ZdbWait wait;
    int i, ret = 0, ret2;

    zdb_wait_init(&wait);
    for (i = 0; i < n; i++) {
        cmds[i].exists = -1;
    }
    for (i = 0; i < n && ret == 0; i++) {
        uint8_t key[ZDB_KEY_LEN];
        const char *argv[2] = { "EXISTS", (const char *)key };
        size_t argvlen[2] = { 6, ZDB_KEY_LEN };

        zdb_key(key, first + i);
        ret = zdb_pool_co_send(st->pool, &cmds[i].cmd, zdb_exists_done,
                               &wait, 2, argv, argvlen);
    }
    ret2 = zdb_wait_all(&wait);
    for (i = 0; i < n; i++) {
        out[i] = cmds[i].exists;
    }
    return ret < 0 ? ret : ret2;
}

typedef struct ZdbScanCmd {
    ZdbCmd cmd;
    ZdbScan *scan;
    GArray *blocks;
} ZdbScanCmd;

static int zdb_scan_done(ZdbCmd *cmd, redisReply *reply)
{
    ZdbScanCmd *sc = container_of(cmd, ZdbScanCmd, cmd);

    return zdb_scan_reply(sc->scan, reply, sc->blocks);
}

int coroutine_fn zdb_store_co_scan(ZdbStore *st, ZdbScan *scan,
                                   GArray *blocks)
{
    ZdbScanCmd sc = { .scan = scan, .blocks = blocks };
    const char *argv[4];
    size_t argvlen[4];
    int argc, ret;

    argc = zdb_scan_argv(scan, argv, argvlen);
    ret = zdb_pool_co_call(st->pool, &sc.cmd, zdb_scan_done, argc, argv,
                           argvlen);
    if (ret == -EAGAIN) {
        /* Redis: the same step its way */
        argc = zdb_scan_argv(scan, argv, argvlen);
        ret = zdb_pool_co_call(st->pool, &sc.cmd, zdb_scan_done, argc, argv,
                               argvlen);
    }
    return ret;
}

/* ------------------------------------------------------------------ */
/* Metadata                                                            */
/* ------------------------------------------------------------------ */

int coroutine_fn zdb_store_co_write_meta(ZdbStore *st, const ZdbMeta *g)
{
    g_autofree char *val = zdb_meta_format(g);
    const char *argv[] = { "SET", ZDB_META_KEY, val };
    size_t argvlen[] = { 3, strlen(ZDB_META_KEY), strlen(val) };
    ZdbCmd cmd;

    return zdb_pool_co_call(st->pool, &cmd, zdb_put_done, 3, argv, argvlen);
}

typedef struct ZdbUsageCmd {
    ZdbCmd cmd;
    uint64_t live_bytes;
    uint64_t entries;
} ZdbUsageCmd;

/* One "name: value" line of NSINFO's text */
static bool zdb_nsinfo_field(const char *info, const char *name,
                             uint64_t *value)
{
    g_autofree char *key = g_strdup_printf("\n%s: ", name);
    const char *at = strstr(info, key);
    const char *end;

    return at && qemu_strtou64(at + strlen(key), &end, 10, value) >= 0;
}

static int zdb_usage_done(ZdbCmd *cmd, redisReply *reply)
{
    ZdbUsageCmd *uc = container_of(cmd, ZdbUsageCmd, cmd);

    if (!reply) {
        return -ENOTCONN;
    }
    if (reply->type != REDIS_REPLY_STRING) {
        return -ENOTSUP;
    }
    if (!zdb_nsinfo_field(reply->str, "data_size_bytes", &uc->live_bytes) ||
        !zdb_nsinfo_field(reply->str, "entries", &uc->entries)) {
        return -ENOTSUP;
    }
    return 0;
}

int coroutine_fn zdb_store_co_usage(ZdbStore *st, uint64_t *live_bytes,
                                    uint64_t *entries)
{
    const char *argv[] = { "NSINFO", st->addr.namespace };
    ZdbUsageCmd uc = { .live_bytes = 0 };
    int ret;

    ret = zdb_pool_co_call(st->pool, &uc.cmd, zdb_usage_done, 2, argv, NULL);
    *live_bytes = uc.live_bytes;
    *entries = uc.entries;
    return ret;
}

typedef struct ZdbMetaCmd {
    ZdbCmd cmd;
    char *text;             /* the metadata, NULL when there is none */
    size_t len;
} ZdbMetaCmd;

static int zdb_meta_done(ZdbCmd *cmd, redisReply *reply)
{
    ZdbMetaCmd *mc = container_of(cmd, ZdbMetaCmd, cmd);

    if (!reply) {
        return -ENOTCONN;
    }
    if (reply->type == REDIS_REPLY_STRING) {
        mc->text = g_strndup(reply->str, reply->len);
        mc->len = reply->len;
        return 0;
    }
    return reply->type == REDIS_REPLY_NIL ? 0 : -EIO;
}

int coroutine_fn zdb_store_co_read_meta(ZdbStore *st, ZdbMeta *g,
                                        Error **errp)
{
    const char *argv[] = { "GET", ZDB_META_KEY };
    ZdbMetaCmd mc = { .text = NULL };
    int ret;

    ret = zdb_pool_co_call(st->pool, &mc.cmd, zdb_meta_done, 2, argv, NULL);
    if (ret < 0) {
        error_setg_errno(errp, -ret, "zdb: cannot read the metadata of "
                         "namespace '%s'", st->addr.namespace);
    } else if (mc.text) {
        ret = zdb_meta_parse(mc.text, mc.len, g, st->addr.namespace,
                                 errp) ? 1 : -EIO;
    }
    g_free(mc.text);
    return ret;
}

/* ------------------------------------------------------------------ */
/* The out-of-sync record                                              */
/* ------------------------------------------------------------------ */

static uint32_t zdb_record_pages(uint64_t nchunks)
{
    return DIV_ROUND_UP(nchunks, ZDB_RECORD_PAGE_BITS);
}

typedef struct ZdbRecordCmd {
    ZdbCmd cmd;
    uint32_t page;
    unsigned long *chunks;
    uint64_t nchunks;
} ZdbRecordCmd;

static int zdb_record_page_done(ZdbCmd *cmd, redisReply *reply)
{
    ZdbRecordCmd *rc = container_of(cmd, ZdbRecordCmd, cmd);

    if (!reply) {
        return -ENOTCONN;
    }
    if (reply->type == REDIS_REPLY_STRING) {
        zdb_record_page_decode((const uint8_t *)reply->str, reply->len,
                               rc->page, rc->chunks, rc->nchunks);
        return 0;
    }
    if (reply->type == REDIS_REPLY_ERROR) {
        return zdb_error_to_errno(reply->str);
    }
    return reply->type == REDIS_REPLY_NIL ? 0 : -EIO;
}

int coroutine_fn zdb_store_co_read_record(ZdbStore *st, unsigned long *chunks,
                                          uint64_t nchunks)
{
    uint32_t npages = zdb_record_pages(nchunks);
    g_autofree ZdbRecordCmd *cmds = g_new0(ZdbRecordCmd, npages);
    ZdbWait wait;
    uint32_t p;
    int ret = 0, ret2;

    zdb_wait_init(&wait);
    for (p = 0; p < npages && ret == 0; p++) {
        char key[32];
        const char *argv[2] = { "GET", key };

        zdb_record_key(key, sizeof(key), p);
        cmds[p].page = p;
        cmds[p].chunks = chunks;
        cmds[p].nchunks = nchunks;
        ret = zdb_pool_co_send(st->pool, &cmds[p].cmd, zdb_record_page_done,
                               &wait, 2, argv, NULL);
    }
    ret2 = zdb_wait_all(&wait);
    return ret < 0 ? ret : ret2;
}

int coroutine_fn zdb_store_co_write_record_page(ZdbStore *st, uint32_t page,
                                                const uint8_t *bytes)
{
    char key[32];
    const char *argv[3] = { "SET", key, (const char *)bytes };
    size_t argvlen[3] = { 3, 0, ZDB_RECORD_PAGE_BYTES };
    ZdbCmd cmd;

    zdb_record_key(key, sizeof(key), page);
    argvlen[1] = strlen(key);
    return zdb_pool_co_call(st->pool, &cmd, zdb_put_done, 3, argv, argvlen);
}

/* ------------------------------------------------------------------ */
/* Open and create (blocking)                                          */
/* ------------------------------------------------------------------ */

/*
 * Reads the namespace's state with NSINFO (0-db only: Redis lacks it) and
 * refuses what cannot hold a disk.  *read_only tells whether writes would
 * be refused.
 */
static bool zdb_check_namespace(redisContext *c, const ZdbAddr *addr,
                                bool *read_only, Error **errp)
{
    const char *argv[] = { "NSINFO", addr->namespace };
    redisReply *r = zdb_sync_command(c, addr, errp, 2, argv, NULL);
    bool ok = true;

    *read_only = false;
    if (!r) {
        return false;
    }
    if (r->type == REDIS_REPLY_STRING) {
        const char *info = r->str;
        bool protected = strstr(info, "\npassword: yes") != NULL;

        if (strstr(info, "\nmode: sequential") ||
            strstr(info, "\nmode: seq")) {
            error_setg(errp, "zdb: namespace '%s' is in sequential mode, "
                       "where the server chooses the keys; a disk needs a "
                       "namespace in user-key mode", addr->namespace);
            ok = false;
        }
        if ((protected && !addr->password) ||
            strstr(info, "\nlocked: yes")) {
            *read_only = true;
        }
    }
    /* An error reply means a server without NSINFO (Redis): nothing known */
    freeReplyObject(r);
    return ok;
}

/* Returns 1 and fills @g when the metadata exists, 0 when not, -1 on error */
static int zdb_read_geometry(redisContext *c, const ZdbAddr *addr,
                             ZdbMeta *g, Error **errp)
{
    const char *argv[] = { "GET", ZDB_META_KEY };
    redisReply *r = zdb_sync_command(c, addr, errp, 2, argv, NULL);
    int ret;

    if (!r) {
        return -1;
    }
    if (r->type == REDIS_REPLY_NIL) {
        ret = 0;
    } else if (r->type == REDIS_REPLY_STRING) {
        ret = zdb_meta_parse(r->str, r->len, g, addr->namespace, errp)
              ? 1 : -1;
    } else {
        error_setg(errp, "zdb: namespace '%s': cannot read metadata: %s",
                   addr->namespace,
                   r->type == REDIS_REPLY_ERROR ? r->str : "unexpected reply");
        ret = -1;
    }
    freeReplyObject(r);
    return ret;
}

/* DBSIZE: the keys the namespace holds, -1 when the server will not say */
static long long zdb_count_keys(redisContext *c, const ZdbAddr *addr)
{
    const char *argv[] = { "DBSIZE" };
    redisReply *r = zdb_sync_command(c, addr, NULL, 1, argv, NULL);
    long long keys = -1;

    if (r && r->type == REDIS_REPLY_INTEGER) {
        keys = r->integer;
    }
    if (r) {
        freeReplyObject(r);
    }
    return keys;
}

/* The out-of-sync record that @p's metadata announces, into p->record */
static bool zdb_read_record_sync(redisContext *c, const ZdbAddr *addr,
                                 ZdbProbe *p, Error **errp)
{
    uint64_t nblocks = DIV_ROUND_UP(p->g.size, p->g.blocksize);
    uint32_t page, npages;

    if (!p->g.chunk_blocks) {
        return true;
    }
    p->record_chunks = MAX(DIV_ROUND_UP(nblocks, p->g.chunk_blocks),
                           p->g.record_chunks);
    p->record = bitmap_new(p->record_chunks);
    npages = zdb_record_pages(p->record_chunks);
    for (page = 0; page < npages; page++) {
        char key[32];
        const char *argv[2] = { "GET", key };
        redisReply *r;

        zdb_record_key(key, sizeof(key), page);
        r = zdb_sync_command(c, addr, errp, 2, argv, NULL);
        if (!r) {
            return false;
        }
        if (r->type == REDIS_REPLY_STRING) {
            zdb_record_page_decode((const uint8_t *)r->str, r->len, page,
                                   p->record, p->record_chunks);
            p->record_pages++;
        } else if (r->type != REDIS_REPLY_NIL) {
            error_setg(errp, "zdb: namespace '%s': cannot read the "
                       "out-of-sync record: %s", addr->namespace,
                       r->type == REDIS_REPLY_ERROR ? r->str
                                                    : "unexpected reply");
            freeReplyObject(r);
            return false;
        }
        freeReplyObject(r);
    }
    return true;
}

void zdb_probe_clear(ZdbProbe *p)
{
    g_free(p->record);
    p->record = NULL;
}

bool zdb_store_probe(const ZdbAddr *addr, int open_timeout_s,
                     int reply_timeout_s, ZdbProbe *p, Error **errp)
{
    redisContext *c = zdb_sync_connect(addr, reply_timeout_s, open_timeout_s,
                                       &p->unreachable, errp);
    bool ok = false;

    if (!c) {
        goto out;
    }
    if (!zdb_check_namespace(c, addr, &p->read_only, errp)) {
        goto out;
    }
    p->found = zdb_read_geometry(c, addr, &p->g, errp);
    if (p->found < 0) {
        goto out;
    }
    if (p->found && (!zdb_geometry_check_size(p->g.size, errp) ||
                     !zdb_geometry_check_blocksize(p->g.blocksize, errp))) {
        error_prepend(errp, "namespace '%s' records a bad geometry: ",
                      addr->namespace);
        goto out;
    }
    if (p->found && !zdb_read_record_sync(c, addr, p, errp)) {
        goto out;
    }
    p->empty = zdb_count_keys(c, addr) == p->found + p->record_pages;
    ok = true;
out:
    if (!ok) {
        error_prepend(errp, "%s: ", p->role);
    }
    if (c) {
        redisFree(c);
    }
    return ok;
}

static bool zdb_write_geometry_sync(redisContext *c, const ZdbAddr *addr,
                                    const ZdbMeta *g, Error **errp)
{
    g_autofree char *val = zdb_meta_format(g);
    const char *argv[] = { "SET", ZDB_META_KEY, val };
    size_t argvlen[] = { 3, strlen(ZDB_META_KEY), strlen(val) };
    redisReply *r = zdb_sync_command(c, addr, errp, 3, argv, argvlen);
    int ret;

    if (!r) {
        return false;
    }
    ret = zdb_reply_check_write(r);
    if (ret < 0) {
        error_setg_errno(errp, -ret, "zdb: namespace '%s': cannot write "
                         "metadata: %s", addr->namespace,
                         r->type == REDIS_REPLY_ERROR ? r->str
                                                      : "unexpected reply");
    }
    freeReplyObject(r);
    return ret == 0;
}

bool zdb_store_drop_record_sync(const ZdbAddr *addr, uint64_t nchunks,
                                int timeout_s, Error **errp)
{
    redisContext *c = zdb_sync_connect(addr, timeout_s, 0, NULL, errp);
    uint32_t p, npages = zdb_record_pages(nchunks);
    bool ok = c != NULL;

    for (p = 0; p < npages && ok; p++) {
        char key[32];
        const char *argv[2] = { "DEL", key };
        redisReply *r;

        zdb_record_key(key, sizeof(key), p);
        r = zdb_sync_command(c, addr, errp, 2, argv, NULL);
        ok = r && zdb_reply_check_del(r) == 0;
        if (r && !ok) {
            error_setg(errp, "zdb: namespace '%s': cannot empty the "
                       "out-of-sync record", addr->namespace);
        }
        if (r) {
            freeReplyObject(r);
        }
    }
    if (c) {
        redisFree(c);
    }
    return ok;
}

/* A disk created over old blocks would show their data: refuse them. */
int zdb_store_create(const ZdbAddr *addr, const ZdbMeta *g, Error **errp)
{
    ZdbMeta old;
    redisContext *c;
    bool read_only;
    long long keys;
    int found, ret = -EIO;

    if (!zdb_geometry_check_size(g->size, errp) ||
        !zdb_geometry_check_blocksize(g->blocksize, errp)) {
        return -EINVAL;
    }
    c = zdb_sync_connect(addr, ZDB_PROBE_TIMEOUT, 0, NULL, errp);
    if (!c) {
        return -EIO;
    }
    if (!zdb_check_namespace(c, addr, &read_only, errp)) {
        goto out;
    }
    if (read_only) {
        error_setg(errp, "zdb: namespace '%s' is read-only for this client",
                   addr->namespace);
        ret = -EROFS;
        goto out;
    }
    found = zdb_read_geometry(c, addr, &old, NULL);
    keys = zdb_count_keys(c, addr);
    if (keys < 0) {
        error_setg(errp, "zdb: namespace '%s': DBSIZE failed",
                   addr->namespace);
        goto out;
    }
    if (keys - (found == 1 ? 1 : 0) > 0) {
        error_setg(errp, "zdb: namespace '%s' already holds %lld keys; a new "
                   "disk needs an empty namespace", addr->namespace, keys);
        ret = -EEXIST;
        goto out;
    }
    if (zdb_write_geometry_sync(c, addr, g, errp)) {
        ret = 0;
    }
out:
    redisFree(c);
    return ret;
}

/*
 * QEMU block driver for 0-db (zdb)
 *
 * A disk lives in one 0-db namespace: block N of the disk is the key N as
 * 8 bytes big-endian and its value is exactly blocksize bytes; a missing key
 * reads as zeros.  That is the layout of the original zdb driver, so its
 * disks open unchanged.  The geometry is also recorded in a metadata key
 * whose name is not 8 bytes long and so cannot collide with a block.
 *
 * The block layer does read-modify-write for requests that are not aligned
 * to the blocksize (request_alignment), serialising overlapping requests,
 * so this driver only ever sees whole blocks.
 *
 * Copyright (c) 2026 the zdb driver authors
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#include "qemu/osdep.h"
#include "qapi/error.h"
#include "qobject/qdict.h"
#include "qobject/qstring.h"
#include "qemu/bswap.h"
#include "qemu/cutils.h"
#include "qemu/error-report.h"
#include "qemu/module.h"
#include "qemu/option.h"
#include "qemu/units.h"
#include "block/block-io.h"
#include "block/block_int.h"
#include "block/qdict.h"
#include "block/zdb-conn.h"
#include "trace.h"

#define ZDB_DEFAULT_PORT        9900
#define ZDB_DEFAULT_SIZE        (1 * GiB)
#define ZDB_DEFAULT_BLOCKSIZE   4096
#define ZDB_MIN_BLOCKSIZE       512
#define ZDB_MAX_BLOCKSIZE       (8 * MiB)   /* 0-db's value limit */
#define ZDB_DEFAULT_CONNECTIONS 4
#define ZDB_MAX_CONNECTIONS     64
#define ZDB_OPEN_TIMEOUT        10          /* seconds */

/* 0-db answers at most 1023 keys per MGET; also bound one reply's size. */
#define ZDB_MGET_MAX_KEYS       1023
#define ZDB_MGET_MAX_BYTES      (16 * MiB)
/* Commands one request keeps in flight when it deletes or probes ranges */
#define ZDB_BATCH               1024

#define ZDB_KEY_LEN             8
#define ZDB_META_KEY            "zdb-disk-metadata"
#define ZDB_LAYOUT_VERSION      1

typedef struct ZdbWrite {
    uint64_t seq;
    QTAILQ_ENTRY(ZdbWrite) next;
} ZdbWrite;

typedef struct BDRVZdbState {
    ZdbAddr addr;
    uint64_t size;
    uint32_t blocksize;
    bool has_meta;

    int nconns;
    ZdbConn **conns;
    unsigned next_conn;

    /* Writes in flight, oldest first, so that flush can wait for them */
    uint64_t write_seq;
    QTAILQ_HEAD(, ZdbWrite) writes;
    CoQueue flush_queue;
} BDRVZdbState;

/* Geometry as found in, or written to, the metadata key */
typedef struct ZdbGeometry {
    uint64_t size;
    uint64_t blocksize;
} ZdbGeometry;

static QemuOptsList runtime_opts = {
    .name = "zdb",
    .head = QTAILQ_HEAD_INITIALIZER(runtime_opts.head),
    .desc = {
        {
            .name = "host",
            .type = QEMU_OPT_STRING,
            .help = "0-db server host (default: localhost)",
        },
        {
            .name = "port",
            .type = QEMU_OPT_NUMBER,
            .help = "0-db server TCP port (default: 9900)",
        },
        {
            .name = "socket",
            .type = QEMU_OPT_STRING,
            .help = "0-db server unix socket, overrides host and port",
        },
        {
            .name = "namespace",
            .type = QEMU_OPT_STRING,
            .help = "namespace holding the disk (default: default)",
        },
        {
            .name = "password",
            .type = QEMU_OPT_STRING,
            .help = "namespace password",
        },
        {
            .name = "size",
            .type = QEMU_OPT_SIZE,
            .help = "disk size (default: recorded size, else 1G)",
        },
        {
            .name = "blocksize",
            .type = QEMU_OPT_SIZE,
            .help = "bytes per key (default: recorded blocksize, else 4k)",
        },
        {
            .name = "connections",
            .type = QEMU_OPT_NUMBER,
            .help = "connections to the server (default: 4)",
        },
        { /* end of list */ }
    },
};

static const char *const zdb_strong_runtime_opts[] = {
    "host",
    "port",
    "socket",
    "namespace",
    "size",
    "blocksize",

    NULL
};

/* ------------------------------------------------------------------ */
/* Options                                                             */
/* ------------------------------------------------------------------ */

static void zdb_addr_clear(ZdbAddr *addr)
{
    g_free(addr->host);
    g_free(addr->socket);
    g_free(addr->namespace);
    g_free(addr->password);
    memset(addr, 0, sizeof(*addr));
}

static bool zdb_addr_from_opts(ZdbAddr *addr, QemuOpts *opts, Error **errp)
{
    uint64_t port = qemu_opt_get_number(opts, "port", ZDB_DEFAULT_PORT);
    const char *ns = qemu_opt_get(opts, "namespace");

    if (port == 0 || port > 65535) {
        error_setg(errp, "zdb: port must be from 1 to 65535, not %" PRIu64,
                   port);
        return false;
    }
    if (ns && (!ns[0] || strlen(ns) > 255)) {
        error_setg(errp, "zdb: namespace must be 1 to 255 characters long");
        return false;
    }
    addr->host = g_strdup(qemu_opt_get(opts, "host") ?: "localhost");
    addr->port = port;
    addr->socket = g_strdup(qemu_opt_get(opts, "socket"));
    addr->namespace = g_strdup(ns ?: "default");
    addr->password = g_strdup(qemu_opt_get(opts, "password"));
    if (addr->socket && !addr->socket[0]) {
        error_setg(errp, "zdb: socket must not be empty");
        return false;
    }
    if (!addr->host[0]) {
        error_setg(errp, "zdb: host must not be empty");
        return false;
    }
    return true;
}

static bool zdb_check_blocksize(uint64_t blocksize, Error **errp)
{
    if (blocksize < ZDB_MIN_BLOCKSIZE || blocksize > ZDB_MAX_BLOCKSIZE ||
        !is_power_of_2(blocksize)) {
        error_setg(errp, "zdb: blocksize must be a power of two from 512 "
                   "to 8M, not %" PRIu64, blocksize);
        return false;
    }
    return true;
}

static bool zdb_check_size(uint64_t size, Error **errp)
{
    if (size % BDRV_SECTOR_SIZE || size > INT64_MAX / 2) {
        error_setg(errp, "zdb: size must be a multiple of 512, not %" PRIu64,
                   size);
        return false;
    }
    return true;
}

/*
 * zdb://[password@]host[:port]/namespace[?size=..&blocksize=..]
 * zdb+unix:///namespace?socket=PATH[&size=..&blocksize=..]
 */
static void zdb_parse_filename(const char *filename, QDict *options,
                               Error **errp)
{
    g_autoptr(GUri) uri = NULL;
    g_autoptr(GHashTable) qp = NULL;
    g_autoptr(GError) gerr = NULL;
    const char *scheme, *path, *host, *user, *query;
    bool is_unix;
    GHashTableIter iter;
    gpointer k, v;

    if (qdict_haskey(options, "host") || qdict_haskey(options, "port") ||
        qdict_haskey(options, "socket") || qdict_haskey(options, "namespace")) {
        error_setg(errp, "zdb: host, port, socket and namespace may not be "
                   "given with a filename");
        return;
    }

    uri = g_uri_parse(filename, G_URI_FLAGS_NONE, &gerr);
    if (!uri) {
        error_setg(errp, "zdb: invalid filename '%s': %s", filename,
                   gerr->message);
        return;
    }
    scheme = g_uri_get_scheme(uri);
    if (!g_strcmp0(scheme, "zdb")) {
        is_unix = false;
    } else if (!g_strcmp0(scheme, "zdb+unix")) {
        is_unix = true;
    } else {
        error_setg(errp, "zdb: filename '%s' must start with zdb:// or "
                   "zdb+unix://", filename);
        return;
    }

    path = g_uri_get_path(uri) ?: "";
    while (path[0] == '/') {
        path++;
    }
    if (strchr(path, '/')) {
        error_setg(errp, "zdb: filename '%s': namespace '%s' must not "
                   "contain '/'", filename, path);
        return;
    }
    if (path[0]) {
        qdict_put_str(options, "namespace", path);
    }

    query = g_uri_get_query(uri);
    if (query) {
        qp = g_uri_parse_params(query, -1, "&", G_URI_PARAMS_NONE, &gerr);
        if (!qp) {
            error_setg(errp, "zdb: filename '%s': bad query '%s'",
                       filename, query);
            return;
        }
        g_hash_table_iter_init(&iter, qp);
        while (g_hash_table_iter_next(&iter, &k, &v)) {
            if (strcmp(k, "size") && strcmp(k, "blocksize") &&
                strcmp(k, "connections") && (!is_unix || strcmp(k, "socket"))) {
                error_setg(errp, "zdb: filename '%s': unknown parameter '%s'",
                           filename, (char *)k);
                return;
            }
            qdict_put_str(options, k, v);
        }
    }

    host = g_uri_get_host(uri);
    user = g_uri_get_user(uri);
    if (user) {
        qdict_put_str(options, "password", user);
    }
    if (is_unix) {
        if ((host && host[0]) || g_uri_get_port(uri) != -1) {
            error_setg(errp, "zdb: filename '%s': zdb+unix takes no host "
                       "or port", filename);
            return;
        }
        if (!qdict_haskey(options, "socket")) {
            error_setg(errp, "zdb: filename '%s': zdb+unix needs "
                       "?socket=PATH", filename);
            return;
        }
    } else {
        if (host && host[0]) {
            qdict_put_str(options, "host", host);
        }
        if (g_uri_get_port(uri) != -1) {
            qdict_put_int(options, "port", g_uri_get_port(uri));
        }
    }
}

/* ------------------------------------------------------------------ */
/* Metadata and open-time checks (blocking: open and create only)      */
/* ------------------------------------------------------------------ */

static char *zdb_geometry_format(const ZdbGeometry *g)
{
    return g_strdup_printf("zdb-disk-layout %d\nsize %" PRIu64
                           "\nblocksize %" PRIu64 "\n",
                           ZDB_LAYOUT_VERSION, g->size, g->blocksize);
}

static bool zdb_geometry_parse(const char *text, size_t len, ZdbGeometry *g,
                               const char *ns, Error **errp)
{
    g_autofree char *copy = g_strndup(text, len);
    g_auto(GStrv) lines = g_strsplit(copy, "\n", -1);
    uint64_t version = 0;
    int i;

    g->size = 0;
    g->blocksize = 0;
    for (i = 0; lines[i]; i++) {
        const char *line = lines[i];
        uint64_t *dst = NULL;
        const char *val;

        if (g_str_has_prefix(line, "zdb-disk-layout ")) {
            dst = &version;
            val = line + strlen("zdb-disk-layout ");
        } else if (g_str_has_prefix(line, "size ")) {
            dst = &g->size;
            val = line + strlen("size ");
        } else if (g_str_has_prefix(line, "blocksize ")) {
            dst = &g->blocksize;
            val = line + strlen("blocksize ");
        } else {
            continue;   /* later layouts may add lines */
        }
        if (qemu_strtou64(val, NULL, 10, dst) < 0) {
            dst = NULL;
            break;
        }
    }
    if (version != ZDB_LAYOUT_VERSION) {
        error_setg(errp, "zdb: namespace '%s': metadata key '%s' has layout "
                   "version %" PRIu64 ", this driver knows version %d",
                   ns, ZDB_META_KEY, version, ZDB_LAYOUT_VERSION);
        return false;
    }
    if (!g->size && !g->blocksize) {
        error_setg(errp, "zdb: namespace '%s': metadata key '%s' is "
                   "malformed", ns, ZDB_META_KEY);
        return false;
    }
    return true;
}

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
                             ZdbGeometry *g, Error **errp)
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
        ret = zdb_geometry_parse(r->str, r->len, g, addr->namespace, errp)
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

static bool zdb_write_geometry_sync(redisContext *c, const ZdbAddr *addr,
                                    const ZdbGeometry *g, Error **errp)
{
    g_autofree char *val = zdb_geometry_format(g);
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

/* ------------------------------------------------------------------ */
/* Connections                                                         */
/* ------------------------------------------------------------------ */

/*
 * The connection with the fewest commands in flight, round-robin among
 * equals, ready to take commands.
 */
static int coroutine_fn zdb_co_get_conn(BDRVZdbState *s, ZdbConn **out)
{
    ZdbConn *best = NULL;
    int i, best_load = INT_MAX;

    for (i = 0; i < s->nconns; i++) {
        ZdbConn *c = s->conns[(s->next_conn + i) % s->nconns];
        int load = zdb_conn_in_flight(c);
        if (load < best_load) {
            best = c;
            best_load = load;
        }
    }
    s->next_conn++;
    *out = best;
    return zdb_conn_co_ready(best);
}

static inline void zdb_key(uint8_t *key, uint64_t block)
{
    stq_be_p(key, block);
}

/* ------------------------------------------------------------------ */
/* Reads                                                               */
/* ------------------------------------------------------------------ */

typedef struct ZdbReadCmd {
    ZdbCmd cmd;
    ZdbWait *wait;
    BDRVZdbState *s;
    QEMUIOVector *qiov;
    size_t qiov_offset;
    uint64_t first_block;
    int nkeys;
} ZdbReadCmd;

/* One value (or nil) into the request's buffer. */
static int zdb_read_value(ZdbReadCmd *rc, redisReply *v, int i)
{
    size_t bs = rc->s->blocksize;
    size_t off = rc->qiov_offset + i * bs;

    if (v->type == REDIS_REPLY_NIL) {
        qemu_iovec_memset(rc->qiov, off, 0, bs);
        return 0;
    }
    if (v->type == REDIS_REPLY_STRING && v->len == bs) {
        qemu_iovec_from_buf(rc->qiov, off, v->str, bs);
        return 0;
    }
    if (v->type == REDIS_REPLY_ERROR) {
        trace_zdb_server_error(v->str);
        return -zdb_error_to_errno(v->str);
    }
    if (v->type == REDIS_REPLY_STRING) {
        error_report("zdb: namespace '%s': block %" PRIu64 " holds %zu "
                     "bytes, expected %zu", rc->s->addr.namespace,
                     rc->first_block + i, v->len, bs);
    } else {
        error_report("zdb: namespace '%s': unexpected reply type %d for "
                     "block %" PRIu64, rc->s->addr.namespace, v->type,
                     rc->first_block + i);
    }
    return -EIO;
}

static void zdb_read_done(ZdbCmd *cmd, redisReply *reply)
{
    ZdbReadCmd *rc = container_of(cmd, ZdbReadCmd, cmd);
    int ret = 0;
    int i;

    trace_zdb_reply(rc->first_block, rc->nkeys, reply ? reply->type : -1);
    if (!reply) {
        ret = -EIO;
    } else if (rc->nkeys == 1 && reply->type != REDIS_REPLY_ARRAY) {
        ret = zdb_read_value(rc, reply, 0);
    } else if (reply->type == REDIS_REPLY_ARRAY &&
               reply->elements == rc->nkeys) {
        for (i = 0; i < rc->nkeys && ret == 0; i++) {
            ret = zdb_read_value(rc, reply->element[i], i);
        }
    } else if (reply->type == REDIS_REPLY_ERROR) {
        trace_zdb_server_error(reply->str);
        ret = -zdb_error_to_errno(reply->str);
    } else {
        error_report("zdb: namespace '%s': MGET of %d keys from block %"
                     PRIu64 " got a reply of type %d with %zu elements",
                     rc->s->addr.namespace, rc->nkeys, rc->first_block,
                     reply->type, reply->elements);
        ret = -EIO;
    }
    zdb_wait_done(rc->wait, ret);
}

static int coroutine_fn GRAPH_RDLOCK
zdb_co_preadv(BlockDriverState *bs, int64_t offset, int64_t bytes,
              QEMUIOVector *qiov, BdrvRequestFlags flags)
{
    BDRVZdbState *s = bs->opaque;
    uint64_t first = offset / s->blocksize;
    uint64_t nblocks = bytes / s->blocksize;
    int per_cmd = MIN(ZDB_MGET_MAX_KEYS,
                      MAX(1, ZDB_MGET_MAX_BYTES / s->blocksize));
    int ncmds = DIV_ROUND_UP(nblocks, per_cmd);
    int nargs = MIN(nblocks, per_cmd) + 1;
    g_autofree ZdbReadCmd *cmds = g_new(ZdbReadCmd, ncmds);
    g_autofree const char **argv = g_new(const char *, nargs);
    g_autofree size_t *argvlen = g_new(size_t, nargs);
    g_autofree uint8_t *keys = g_malloc(nargs * ZDB_KEY_LEN);
    ZdbWait wait;
    int i, j, ret = 0;

    assert(QEMU_IS_ALIGNED(offset | bytes, s->blocksize));
    trace_zdb_co_preadv(bs, offset, bytes);
    zdb_wait_init(&wait);
    for (i = 0; i < ncmds; i++) {
        ZdbReadCmd *rc = &cmds[i];
        ZdbConn *conn;

        rc->cmd.fn = zdb_read_done;
        rc->wait = &wait;
        rc->s = s;
        rc->qiov = qiov;
        rc->first_block = first + (uint64_t)i * per_cmd;
        rc->nkeys = MIN(per_cmd, nblocks - (uint64_t)i * per_cmd);
        rc->qiov_offset = (uint64_t)i * per_cmd * s->blocksize;

        argv[0] = rc->nkeys == 1 ? "GET" : "MGET";
        argvlen[0] = strlen(argv[0]);
        for (j = 0; j < rc->nkeys; j++) {
            zdb_key(keys + j * ZDB_KEY_LEN, rc->first_block + j);
            argv[j + 1] = (const char *)keys + j * ZDB_KEY_LEN;
            argvlen[j + 1] = ZDB_KEY_LEN;
        }
        ret = zdb_co_get_conn(s, &conn);
        if (ret == 0) {
            /* hiredis copies the command out, so argv can be reused */
            ret = zdb_conn_send(conn, &rc->cmd, rc->nkeys + 1, argv, argvlen);
        }
        if (ret < 0) {
            break;
        }
        wait.pending++;
    }
    i = zdb_wait_all(&wait);
    return ret < 0 ? ret : i;
}

/* ------------------------------------------------------------------ */
/* Writes                                                              */
/* ------------------------------------------------------------------ */

/* Where the next block of a write starts in its QEMUIOVector */
typedef struct ZdbIovCursor {
    struct iovec *iov;
    size_t off;
} ZdbIovCursor;

/*
 * The next @len bytes of the vector, in place when one element holds them
 * (guest buffers are usually whole pages), else gathered into *@bounce.
 * hiredis copies a command when it is queued, so one bounce buffer serves
 * every block of a request.
 */
static const char *zdb_iov_next_block(ZdbIovCursor *c, size_t len,
                                      uint8_t **bounce)
{
    uint8_t *dst;
    size_t left = len;

    while (c->off == c->iov->iov_len) {
        c->iov++;
        c->off = 0;
    }
    if (c->iov->iov_len - c->off >= len) {
        const char *p = (const char *)c->iov->iov_base + c->off;
        c->off += len;
        return p;
    }
    if (!*bounce) {
        *bounce = g_malloc(len);
    }
    dst = *bounce;
    while (left) {
        size_t step;

        while (c->off == c->iov->iov_len) {
            c->iov++;
            c->off = 0;
        }
        step = MIN(left, c->iov->iov_len - c->off);
        memcpy(dst, (const char *)c->iov->iov_base + c->off, step);
        dst += step;
        left -= step;
        c->off += step;
    }
    return (const char *)*bounce;
}

typedef struct ZdbWriteCmd {
    ZdbCmd cmd;
    ZdbWait *wait;
    int (*check)(redisReply *reply);
} ZdbWriteCmd;

static void zdb_write_done(ZdbCmd *cmd, redisReply *reply)
{
    ZdbWriteCmd *wc = container_of(cmd, ZdbWriteCmd, cmd);

    zdb_wait_done(wc->wait, wc->check(reply));
}

static void coroutine_fn zdb_write_begin(BDRVZdbState *s, ZdbWrite *w)
{
    w->seq = ++s->write_seq;
    QTAILQ_INSERT_TAIL(&s->writes, w, next);
}

static void coroutine_fn zdb_write_end(BDRVZdbState *s, ZdbWrite *w)
{
    QTAILQ_REMOVE(&s->writes, w, next);
    qemu_co_queue_restart_all(&s->flush_queue);
}

/*
 * Sends SET (value != NULL, one blocksize each, contiguous) or DEL for
 * @n blocks from @first, at most ZDB_BATCH at a time.
 */
static int coroutine_fn zdb_co_write_blocks(BDRVZdbState *s, uint64_t first,
                                            uint64_t n, QEMUIOVector *qiov,
                                            bool del)
{
    int batch = MIN(n, ZDB_BATCH);
    g_autofree ZdbWriteCmd *cmds = g_new(ZdbWriteCmd, batch);
    g_autofree uint8_t *bounce = NULL;
    ZdbIovCursor cur = { .iov = qiov ? qiov->iov : NULL };
    uint64_t done = 0;
    ZdbWrite w;
    int ret = 0, ret2;

    zdb_write_begin(s, &w);
    while (done < n && ret == 0) {
        ZdbWait wait;
        int i;

        zdb_wait_init(&wait);
        for (i = 0; i < batch && done < n; i++, done++) {
            uint8_t key[ZDB_KEY_LEN];
            const char *argv[3];
            size_t argvlen[3];
            ZdbConn *conn;

            zdb_key(key, first + done);
            argv[1] = (const char *)key;
            argvlen[1] = ZDB_KEY_LEN;
            if (del) {
                argv[0] = "DEL";
                argvlen[0] = 3;
                cmds[i].check = zdb_reply_check_del;
            } else {
                argv[0] = "SET";
                argvlen[0] = 3;
                argvlen[2] = s->blocksize;
                argv[2] = zdb_iov_next_block(&cur, s->blocksize, &bounce);
                cmds[i].check = zdb_reply_check_write;
            }
            cmds[i].cmd.fn = zdb_write_done;
            cmds[i].wait = &wait;
            ret = zdb_co_get_conn(s, &conn);
            if (ret == 0) {
                ret = zdb_conn_send(conn, &cmds[i].cmd, del ? 2 : 3, argv,
                                    argvlen);
            }
            if (ret < 0) {
                break;
            }
            wait.pending++;
        }
        ret2 = zdb_wait_all(&wait);
        ret = ret < 0 ? ret : ret2;
    }
    zdb_write_end(s, &w);
    return ret;
}

static int coroutine_fn GRAPH_RDLOCK
zdb_co_pwritev(BlockDriverState *bs, int64_t offset, int64_t bytes,
               QEMUIOVector *qiov, BdrvRequestFlags flags)
{
    BDRVZdbState *s = bs->opaque;

    assert(QEMU_IS_ALIGNED(offset | bytes, s->blocksize));
    trace_zdb_co_pwritev(bs, offset, bytes);
    return zdb_co_write_blocks(s, offset / s->blocksize, bytes / s->blocksize,
                               qiov, false);
}

/* A missing key reads as zeros: zeroing and discarding are deletes. */
static int coroutine_fn GRAPH_RDLOCK
zdb_co_pwrite_zeroes(BlockDriverState *bs, int64_t offset, int64_t bytes,
                     BdrvRequestFlags flags)
{
    BDRVZdbState *s = bs->opaque;

    if (!QEMU_IS_ALIGNED(offset | bytes, s->blocksize)) {
        return -ENOTSUP;    /* the block layer writes a zeroed buffer */
    }
    trace_zdb_co_pwrite_zeroes(bs, offset, bytes);
    return zdb_co_write_blocks(s, offset / s->blocksize, bytes / s->blocksize,
                               NULL, true);
}

static int coroutine_fn GRAPH_RDLOCK
zdb_co_pdiscard(BlockDriverState *bs, int64_t offset, int64_t bytes)
{
    BDRVZdbState *s = bs->opaque;
    uint64_t first = DIV_ROUND_UP(offset, s->blocksize);
    uint64_t end = (offset + bytes) / s->blocksize;

    /* Discard is advisory: partial blocks are left as they are. */
    if (end <= first) {
        return 0;
    }
    trace_zdb_co_pdiscard(bs, offset, bytes);
    return zdb_co_write_blocks(s, first, end - first, NULL, true);
}

/* Every write that was issued before the flush has been acknowledged. */
static int coroutine_fn GRAPH_RDLOCK zdb_co_flush(BlockDriverState *bs)
{
    BDRVZdbState *s = bs->opaque;
    uint64_t barrier = s->write_seq;
    ZdbWrite *oldest;

    while ((oldest = QTAILQ_FIRST(&s->writes)) && oldest->seq <= barrier) {
        qemu_co_queue_wait(&s->flush_queue, NULL);
    }
    return 0;
}

/* ------------------------------------------------------------------ */
/* Block status                                                        */
/* ------------------------------------------------------------------ */

typedef struct ZdbExistsCmd {
    ZdbCmd cmd;
    ZdbWait *wait;
    int8_t exists;
} ZdbExistsCmd;

static void zdb_exists_done(ZdbCmd *cmd, redisReply *reply)
{
    ZdbExistsCmd *ec = container_of(cmd, ZdbExistsCmd, cmd);
    int ret = 0;

    if (reply && reply->type == REDIS_REPLY_INTEGER) {
        ec->exists = reply->integer != 0;
    } else if (reply && reply->type == REDIS_REPLY_ERROR) {
        ret = -zdb_error_to_errno(reply->str);
    } else {
        ret = -EIO;
    }
    zdb_wait_done(ec->wait, ret);
}

/*
 * Existing keys are data, missing ones read as zeros.  One pipelined
 * EXISTS per block, at most ZDB_BATCH blocks per call; the answer covers
 * the run of blocks that share the first one's state.
 */
static int coroutine_fn GRAPH_RDLOCK
zdb_co_block_status(BlockDriverState *bs, bool want_zero, int64_t offset,
                    int64_t bytes, int64_t *pnum, int64_t *map,
                    BlockDriverState **file)
{
    BDRVZdbState *s = bs->opaque;
    uint64_t first = offset / s->blocksize;
    int n = MIN(DIV_ROUND_UP(bytes, s->blocksize), ZDB_BATCH);
    g_autofree ZdbExistsCmd *cmds = g_new(ZdbExistsCmd, n);
    ZdbWait wait;
    int i, ret = 0, ret2;
    int64_t run;

    assert(QEMU_IS_ALIGNED(offset, s->blocksize));
    zdb_wait_init(&wait);
    for (i = 0; i < n; i++) {
        uint8_t key[ZDB_KEY_LEN];
        const char *argv[2] = { "EXISTS", (const char *)key };
        size_t argvlen[2] = { 6, ZDB_KEY_LEN };
        ZdbConn *conn;

        zdb_key(key, first + i);
        cmds[i].cmd.fn = zdb_exists_done;
        cmds[i].wait = &wait;
        cmds[i].exists = -1;
        ret = zdb_co_get_conn(s, &conn);
        if (ret == 0) {
            ret = zdb_conn_send(conn, &cmds[i].cmd, 2, argv, argvlen);
        }
        if (ret < 0) {
            break;
        }
        wait.pending++;
    }
    ret2 = zdb_wait_all(&wait);
    if (ret < 0 || ret2 < 0) {
        return ret < 0 ? ret : ret2;
    }

    for (i = 1; i < n && cmds[i].exists == cmds[0].exists; i++) {
        /* count the run */
    }
    run = (int64_t)i * s->blocksize;
    *pnum = MIN(run, bytes);
    *map = offset;
    *file = bs;
    return BDRV_BLOCK_OFFSET_VALID |
           (cmds[0].exists ? BDRV_BLOCK_DATA : BDRV_BLOCK_ZERO);
}

/* ------------------------------------------------------------------ */
/* Size                                                                */
/* ------------------------------------------------------------------ */

static int64_t coroutine_fn GRAPH_RDLOCK zdb_co_getlength(BlockDriverState *bs)
{
    BDRVZdbState *s = bs->opaque;

    return s->size;
}

static void zdb_set_done(ZdbCmd *cmd, redisReply *reply)
{
    zdb_wait_done(cmd->opaque, zdb_reply_check_write(reply));
}

static int coroutine_fn zdb_co_write_geometry(BDRVZdbState *s,
                                              const ZdbGeometry *g)
{
    g_autofree char *val = zdb_geometry_format(g);
    const char *argv[] = { "SET", ZDB_META_KEY, val };
    size_t argvlen[] = { 3, strlen(ZDB_META_KEY), strlen(val) };
    ZdbCmd cmd = { .fn = zdb_set_done };
    ZdbWait wait;
    ZdbConn *conn;
    int ret;

    zdb_wait_init(&wait);
    cmd.opaque = &wait;
    ret = zdb_co_get_conn(s, &conn);
    if (ret == 0) {
        ret = zdb_conn_send(conn, &cmd, 3, argv, argvlen);
    }
    if (ret < 0) {
        return ret;
    }
    wait.pending++;
    return zdb_wait_all(&wait);
}

static int coroutine_fn GRAPH_RDLOCK
zdb_co_truncate(BlockDriverState *bs, int64_t offset, bool exact,
                PreallocMode prealloc, BdrvRequestFlags flags, Error **errp)
{
    BDRVZdbState *s = bs->opaque;
    uint64_t old_blocks = DIV_ROUND_UP(s->size, s->blocksize);
    uint64_t new_blocks = DIV_ROUND_UP(offset, s->blocksize);
    uint64_t tail = offset % s->blocksize;
    ZdbGeometry g = { .size = offset, .blocksize = s->blocksize };
    int ret;

    if (prealloc != PREALLOC_MODE_OFF) {
        error_setg(errp, "zdb: unsupported preallocation mode '%s'",
                   PreallocMode_str(prealloc));
        return -ENOTSUP;
    }
    if (!zdb_check_size(offset, errp)) {
        return -EINVAL;
    }

    if (offset < s->size) {
        /*
         * Growing again must read zeros: drop the blocks past the end and
         * zero the tail of a new partial last block.
         */
        if (old_blocks > new_blocks) {
            ret = zdb_co_write_blocks(s, new_blocks, old_blocks - new_blocks,
                                      NULL, true);
            if (ret < 0) {
                error_setg_errno(errp, -ret, "zdb: cannot drop blocks past "
                                 "the new end");
                return ret;
            }
        }
        if (tail) {
            QEMUIOVector qiov;
            g_autofree uint8_t *buf = g_malloc(s->blocksize);
            int64_t start = (new_blocks - 1) * s->blocksize;

            qemu_iovec_init_buf(&qiov, buf, s->blocksize);
            ret = zdb_co_preadv(bs, start, s->blocksize, &qiov, 0);
            if (ret == 0) {
                memset(buf + tail, 0, s->blocksize - tail);
                ret = zdb_co_pwritev(bs, start, s->blocksize, &qiov, 0);
            }
            if (ret < 0) {
                error_setg_errno(errp, -ret, "zdb: cannot zero the tail of "
                                 "the last block");
                return ret;
            }
        }
    }

    ret = zdb_co_write_geometry(s, &g);
    if (ret < 0) {
        error_setg_errno(errp, -ret, "zdb: namespace '%s': cannot record "
                         "the new size", s->addr.namespace);
        return ret;
    }
    s->size = offset;
    s->has_meta = true;
    return 0;
}

/* ------------------------------------------------------------------ */
/* Open, close, create                                                 */
/* ------------------------------------------------------------------ */

/*
 * Checks the server and the namespace and settles the geometry: the
 * recorded one wins, options must agree with it.
 */
static bool zdb_probe(BDRVZdbState *s, QemuOpts *opts, bool *read_only,
                      Error **errp)
{
    uint64_t size = qemu_opt_get_size(opts, "size", ZDB_DEFAULT_SIZE);
    uint64_t blocksize = qemu_opt_get_size(opts, "blocksize",
                                           ZDB_DEFAULT_BLOCKSIZE);
    bool size_set = qemu_opt_get(opts, "size");
    bool blocksize_set = qemu_opt_get(opts, "blocksize");
    redisContext *c;
    ZdbGeometry g;
    int found;
    bool ok = false;

    if (!zdb_check_size(size, errp) || !zdb_check_blocksize(blocksize, errp)) {
        return false;
    }
    c = zdb_sync_connect(&s->addr, ZDB_OPEN_TIMEOUT, errp);
    if (!c) {
        return false;
    }
    if (!zdb_check_namespace(c, &s->addr, read_only, errp)) {
        goto out;
    }
    found = zdb_read_geometry(c, &s->addr, &g, errp);
    if (found < 0) {
        goto out;
    }
    if (found) {
        if (!zdb_check_size(g.size, errp) ||
            !zdb_check_blocksize(g.blocksize, errp)) {
            error_prepend(errp, "namespace '%s' records a bad geometry: ",
                          s->addr.namespace);
            goto out;
        }
        if (size_set && size != g.size) {
            error_setg(errp, "zdb: size=%" PRIu64 " disagrees with the size "
                       "%" PRIu64 " recorded in namespace '%s'", size, g.size,
                       s->addr.namespace);
            goto out;
        }
        if (blocksize_set && blocksize != g.blocksize) {
            error_setg(errp, "zdb: blocksize=%" PRIu64 " disagrees with the "
                       "blocksize %" PRIu64 " recorded in namespace '%s'",
                       blocksize, g.blocksize, s->addr.namespace);
            goto out;
        }
        size = g.size;
        blocksize = g.blocksize;
    }
    s->size = size;
    s->blocksize = blocksize;
    s->has_meta = found;
    ok = true;
out:
    redisFree(c);
    return ok;
}

static int zdb_open(BlockDriverState *bs, QDict *options, int flags,
                    Error **errp)
{
    BDRVZdbState *s = bs->opaque;
    QemuOpts *opts;
    uint64_t nconns;
    bool read_only = false;
    int i, ret = -EINVAL;

    opts = qemu_opts_create(&runtime_opts, NULL, 0, &error_abort);
    if (!qemu_opts_absorb_qdict(opts, options, errp)) {
        goto fail;
    }
    if (!zdb_addr_from_opts(&s->addr, opts, errp)) {
        goto fail;
    }
    nconns = qemu_opt_get_number(opts, "connections",
                                 ZDB_DEFAULT_CONNECTIONS);
    if (nconns < 1 || nconns > ZDB_MAX_CONNECTIONS) {
        error_setg(errp, "zdb: connections must be from 1 to %d, not %"
                   PRIu64, ZDB_MAX_CONNECTIONS, nconns);
        goto fail;
    }
    if (!zdb_probe(s, opts, &read_only, errp)) {
        ret = -EIO;
        goto fail;
    }
    if (read_only) {
        ret = bdrv_apply_auto_read_only(bs, "zdb: the namespace is read-only "
                                        "for this client (protected without "
                                        "password, or locked)", errp);
        if (ret < 0) {
            goto fail;
        }
    }

    QTAILQ_INIT(&s->writes);
    qemu_co_queue_init(&s->flush_queue);
    s->nconns = nconns;
    s->conns = g_new0(ZdbConn *, nconns);
    for (i = 0; i < nconns; i++) {
        s->conns[i] = zdb_conn_new(&s->addr, bdrv_get_aio_context(bs));
    }
    bs->supported_zero_flags = BDRV_REQ_MAY_UNMAP | BDRV_REQ_NO_FALLBACK;
    trace_zdb_open(bs, s->addr.namespace, s->size, s->blocksize, nconns);
    qemu_opts_del(opts);
    return 0;

fail:
    qemu_opts_del(opts);
    zdb_addr_clear(&s->addr);
    return ret;
}

static void zdb_close(BlockDriverState *bs)
{
    BDRVZdbState *s = bs->opaque;
    int i;

    for (i = 0; i < s->nconns; i++) {
        zdb_conn_free(s->conns[i]);
    }
    g_free(s->conns);
    zdb_addr_clear(&s->addr);
}

static void zdb_refresh_limits(BlockDriverState *bs, Error **errp)
{
    BDRVZdbState *s = bs->opaque;

    bs->bl.request_alignment = s->blocksize;
    bs->bl.pwrite_zeroes_alignment = s->blocksize;
    bs->bl.pdiscard_alignment = s->blocksize;
    bs->bl.opt_transfer = s->blocksize;
}

static void zdb_refresh_filename(BlockDriverState *bs)
{
    BDRVZdbState *s = bs->opaque;
    g_autofree char *ns = g_uri_escape_string(s->addr.namespace, NULL, false);
    g_autofree char *query = NULL;

    /* A password is not put in a filename that tools print. */
    if (s->addr.password) {
        return;
    }
    query = g_strdup_printf("size=%" PRIu64 "&blocksize=%" PRIu32,
                            s->size, s->blocksize);
    if (s->addr.socket) {
        g_autofree char *sock = g_uri_escape_string(s->addr.socket, "/",
                                                    false);
        snprintf(bs->exact_filename, sizeof(bs->exact_filename),
                 "zdb+unix:///%s?socket=%s&%s", ns, sock, query);
    } else {
        bool v6 = strchr(s->addr.host, ':');
        snprintf(bs->exact_filename, sizeof(bs->exact_filename),
                 "zdb://%s%s%s:%d/%s?%s", v6 ? "[" : "", s->addr.host,
                 v6 ? "]" : "", s->addr.port, ns, query);
    }
}

static void zdb_detach_aio_context(BlockDriverState *bs)
{
    BDRVZdbState *s = bs->opaque;
    int i;

    for (i = 0; i < s->nconns; i++) {
        zdb_conn_detach_aio_context(s->conns[i]);
    }
}

static void zdb_attach_aio_context(BlockDriverState *bs,
                                   AioContext *new_context)
{
    BDRVZdbState *s = bs->opaque;
    int i;

    for (i = 0; i < s->nconns; i++) {
        zdb_conn_attach_aio_context(s->conns[i], new_context);
    }
}

static QemuOptsList zdb_create_opts = {
    .name = "zdb-create-opts",
    .head = QTAILQ_HEAD_INITIALIZER(zdb_create_opts.head),
    .desc = {
        {
            .name = BLOCK_OPT_SIZE,
            .type = QEMU_OPT_SIZE,
            .help = "Virtual disk size",
        },
        {
            .name = "blocksize",
            .type = QEMU_OPT_SIZE,
            .help = "bytes per key, a power of two from 512 to 8M "
                    "(default: 4k)",
        },
        {
            .name = "namespace",
            .type = QEMU_OPT_STRING,
            .help = "namespace holding the disk (default: default)",
        },
        {
            .name = "password",
            .type = QEMU_OPT_STRING,
            .help = "namespace password",
        },
        { /* end of list */ }
    },
};

/*
 * Records the geometry of a new disk.  The namespace must exist (0-db
 * namespaces are made by the operator) and hold no blocks: a disk created
 * over old blocks would show their data.
 */
static int coroutine_fn zdb_co_create_opts(BlockDriver *drv,
                                           const char *filename,
                                           QemuOpts *opts, Error **errp)
{
    ERRP_GUARD();
    g_autoptr(QDict) options = qdict_new();
    QemuOpts *ropts = NULL;
    ZdbAddr addr = { 0 };
    ZdbGeometry g, old;
    redisContext *c = NULL;
    redisReply *r;
    const char *dbsize[] = { "DBSIZE" };
    bool read_only;
    long long keys;
    int found, ret = -EINVAL;
    const char *v;

    if (strstart(filename, "zdb", NULL)) {
        zdb_parse_filename(filename, options, errp);
        if (*errp) {
            return -EINVAL;
        }
    }
    if ((v = qemu_opt_get(opts, "namespace"))) {
        qdict_put_str(options, "namespace", v);
    }
    if ((v = qemu_opt_get(opts, "password"))) {
        qdict_put_str(options, "password", v);
    }
    if ((v = qemu_opt_get(opts, "blocksize"))) {
        qdict_put_str(options, "blocksize", v);
    }
    ropts = qemu_opts_create(&runtime_opts, NULL, 0, &error_abort);
    if (!qemu_opts_absorb_qdict(ropts, options, errp) ||
        !zdb_addr_from_opts(&addr, ropts, errp)) {
        goto out;
    }
    g.size = qemu_opt_get_size(opts, BLOCK_OPT_SIZE, 0);
    g.blocksize = qemu_opt_get_size(ropts, "blocksize", ZDB_DEFAULT_BLOCKSIZE);
    if (!zdb_check_size(g.size, errp) ||
        !zdb_check_blocksize(g.blocksize, errp)) {
        goto out;
    }

    ret = -EIO;
    c = zdb_sync_connect(&addr, ZDB_OPEN_TIMEOUT, errp);
    if (!c || !zdb_check_namespace(c, &addr, &read_only, errp)) {
        goto out;
    }
    if (read_only) {
        error_setg(errp, "zdb: namespace '%s' is read-only for this client",
                   addr.namespace);
        ret = -EROFS;
        goto out;
    }
    found = zdb_read_geometry(c, &addr, &old, NULL);
    r = zdb_sync_command(c, &addr, errp, 1, dbsize, NULL);
    if (!r) {
        goto out;
    }
    keys = r->type == REDIS_REPLY_INTEGER ? r->integer : -1;
    freeReplyObject(r);
    if (keys < 0) {
        error_setg(errp, "zdb: namespace '%s': DBSIZE failed",
                   addr.namespace);
        goto out;
    }
    if (keys - (found == 1 ? 1 : 0) > 0) {
        error_setg(errp, "zdb: namespace '%s' already holds %lld keys; a new "
                   "disk needs an empty namespace", addr.namespace, keys);
        ret = -EEXIST;
        goto out;
    }
    if (!zdb_write_geometry_sync(c, &addr, &g, errp)) {
        goto out;
    }
    ret = 0;
out:
    if (c) {
        redisFree(c);
    }
    qemu_opts_del(ropts);
    zdb_addr_clear(&addr);
    return ret;
}

static BlockDriver bdrv_zdb = {
    .format_name                = "zdb",
    .protocol_name              = "zdb",
    .instance_size              = sizeof(BDRVZdbState),
    .bdrv_parse_filename        = zdb_parse_filename,
    .bdrv_open                  = zdb_open,
    .bdrv_close                 = zdb_close,
    .bdrv_co_create_opts        = zdb_co_create_opts,
    .create_opts                = &zdb_create_opts,
    .bdrv_has_zero_init         = bdrv_has_zero_init_1,
    .bdrv_co_preadv             = zdb_co_preadv,
    .bdrv_co_pwritev            = zdb_co_pwritev,
    .bdrv_co_pwrite_zeroes      = zdb_co_pwrite_zeroes,
    .bdrv_co_pdiscard           = zdb_co_pdiscard,
    .bdrv_co_flush_to_disk      = zdb_co_flush,
    .bdrv_co_block_status       = zdb_co_block_status,
    .bdrv_co_getlength          = zdb_co_getlength,
    .bdrv_co_truncate           = zdb_co_truncate,
    .bdrv_refresh_limits        = zdb_refresh_limits,
    .bdrv_refresh_filename      = zdb_refresh_filename,
    .bdrv_detach_aio_context    = zdb_detach_aio_context,
    .bdrv_attach_aio_context    = zdb_attach_aio_context,
    .strong_runtime_opts        = zdb_strong_runtime_opts,
};

/* zdb+unix:///namespace?socket=PATH */
static BlockDriver bdrv_zdb_unix = {
    .format_name                = "zdb",
    .protocol_name              = "zdb+unix",
    .instance_size              = sizeof(BDRVZdbState),
    .bdrv_parse_filename        = zdb_parse_filename,
    .bdrv_open                  = zdb_open,
    .bdrv_close                 = zdb_close,
    .bdrv_co_create_opts        = zdb_co_create_opts,
    .create_opts                = &zdb_create_opts,
    .bdrv_has_zero_init         = bdrv_has_zero_init_1,
    .bdrv_co_preadv             = zdb_co_preadv,
    .bdrv_co_pwritev            = zdb_co_pwritev,
    .bdrv_co_pwrite_zeroes      = zdb_co_pwrite_zeroes,
    .bdrv_co_pdiscard           = zdb_co_pdiscard,
    .bdrv_co_flush_to_disk      = zdb_co_flush,
    .bdrv_co_block_status       = zdb_co_block_status,
    .bdrv_co_getlength          = zdb_co_getlength,
    .bdrv_co_truncate           = zdb_co_truncate,
    .bdrv_refresh_limits        = zdb_refresh_limits,
    .bdrv_refresh_filename      = zdb_refresh_filename,
    .bdrv_detach_aio_context    = zdb_detach_aio_context,
    .bdrv_attach_aio_context    = zdb_attach_aio_context,
    .strong_runtime_opts        = zdb_strong_runtime_opts,
};

static void bdrv_zdb_init(void)
{
    bdrv_register(&bdrv_zdb);
    bdrv_register(&bdrv_zdb_unix);
}

block_init(bdrv_zdb_init);

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
#include "qemu/bitmap.h"
#include "crypto/secret.h"
#include "qapi/qapi-visit-block-core.h"
#include "qapi/qobject-output-visitor.h"
#include "block/zdb-int.h"
#include "trace.h"

#define ZDB_DEFAULT_PORT        9900
#define ZDB_DEFAULT_SIZE        (1 * GiB)
#define ZDB_DEFAULT_BLOCKSIZE   4096
#define ZDB_MIN_BLOCKSIZE       512
#define ZDB_MAX_BLOCKSIZE       (8 * MiB)   /* 0-db's value limit */
#define ZDB_DEFAULT_CONNECTIONS 2
#define ZDB_MAX_CONNECTIONS     64
#define ZDB_OPEN_TIMEOUT        10          /* seconds */

/* 0-db answers at most 1023 keys per MGET; also bound one reply's size. */
#define ZDB_MGET_MAX_KEYS       1023
#define ZDB_MGET_MAX_BYTES      (256 * KiB)
/* Commands one request keeps in flight when it deletes or probes ranges */
#define ZDB_BATCH               1024
/*
 * A write queues at most this many bytes of SETs per side before it waits
 * for their replies: a big write does not copy itself whole into hiredis'
 * output buffer, and the pipeline stays full across the requests.
 */
#define ZDB_PUT_BATCH_BYTES     (256 * KiB)
/*
 * Small requests (a guest's usual 4 KiB to 64 KiB) keep their bookkeeping
 * on the coroutine's stack: no allocation per request on the hot path.
 */
#define ZDB_STACK_BLOCKS        16

#define ZDB_DEFAULT_TIMEOUT     30          /* seconds */

/* What a fetched key held, for copies (catch-up, copy-on-read) */
enum {
    ZDB_KIND_NIL,           /* no key */
    ZDB_KIND_MARKER,        /* the empty zero marker of thin disks */
    ZDB_KIND_VALUE,         /* a block */
};

/*
 * The value of each block of a write, in order: a patched head and tail
 * block and the whole blocks of an iovec between, or (with kinds) what a
 * copy fetched.
 */
typedef struct ZdbValues {
    uint64_t first;
    uint64_t last;
    uint8_t *head;          /* patched copy of block first, or NULL */
    uint8_t *tail;          /* patched copy of block last, or NULL */
    struct iovec *iov;      /* the whole blocks between, in place */
    size_t iov_off;
    uint8_t *bounce;        /* for a block split across iov elements */
    const int8_t *kinds;    /* a copy: ZDB_KIND_* per block of the list */
    const uint8_t *vals;    /* and the values, blocksize each */
} ZdbValues;

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
            .help = "namespace password (visible in the process list)",
        },
        {
            .name = "password-secret",
            .type = QEMU_OPT_STRING,
            .help = "ID of the secret object with the namespace password",
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
        /* the thin base and the backup: like the plain options */
        {
            .name = "thin-host",
            .type = QEMU_OPT_STRING,
            .help = "thin base server host (default: the disk's server)",
        },
        {
            .name = "thin-port",
            .type = QEMU_OPT_NUMBER,
            .help = "thin base server TCP port",
        },
        {
            .name = "thin-socket",
            .type = QEMU_OPT_STRING,
            .help = "thin base server unix socket",
        },
        {
            .name = "thin-namespace",
            .type = QEMU_OPT_STRING,
            .help = "thin base namespace (default: default)",
        },
        {
            .name = "thin-password",
            .type = QEMU_OPT_STRING,
            .help = "thin base namespace password",
        },
        {
            .name = "thin-password-secret",
            .type = QEMU_OPT_STRING,
            .help = "ID of the secret object with the thin base password",
        },
        {
            .name = "thin-copy-on-read",
            .type = QEMU_OPT_BOOL,
            .help = "copy blocks read from the base into the disk "
                    "(default: off)",
        },
        {
            .name = "backup-host",
            .type = QEMU_OPT_STRING,
            .help = "backup server host (default: the disk's server)",
        },
        {
            .name = "backup-port",
            .type = QEMU_OPT_NUMBER,
            .help = "backup server TCP port",
        },
        {
            .name = "backup-socket",
            .type = QEMU_OPT_STRING,
            .help = "backup server unix socket",
        },
        {
            .name = "backup-namespace",
            .type = QEMU_OPT_STRING,
            .help = "backup namespace (default: default)",
        },
        {
            .name = "backup-password",
            .type = QEMU_OPT_STRING,
            .help = "backup namespace password",
        },
        {
            .name = "backup-password-secret",
            .type = QEMU_OPT_STRING,
            .help = "ID of the secret object with the backup password",
        },
        {
            .name = "timeout",
            .type = QEMU_OPT_NUMBER,
            .help = "seconds to wait for a reply before the connection is "
                    "taken as lost, 0 for ever (default: 30)",
        },
        {
            .name = "open-timeout",
            .type = QEMU_OPT_NUMBER,
            .help = "seconds open keeps trying to reach the servers "
                    "(default: 0, one attempt)",
        },
        {
            .name = "reconnect-delay",
            .type = QEMU_OPT_NUMBER,
            .help = "seconds requests wait for a lost server to come back "
                    "before they fail (default: 0)",
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
    "thin-host",
    "thin-port",
    "thin-socket",
    "thin-namespace",
    "backup-host",
    "backup-port",
    "backup-socket",
    "backup-namespace",

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

static const char *zdb_opt(QemuOpts *opts, const char *prefix,
                           const char *name)
{
    g_autofree char *key = g_strconcat(prefix, name, NULL);

    return qemu_opt_get(opts, key);
}

/* Whether any option of the server named by @prefix ("thin-", ...) is set */
static bool zdb_addr_given(QemuOpts *opts, const char *prefix)
{
    static const char *const names[] = {
        "host", "port", "socket", "namespace", "password", "password-secret",
    };
    size_t i;

    for (i = 0; i < ARRAY_SIZE(names); i++) {
        if (zdb_opt(opts, prefix, names[i])) {
            return true;
        }
    }
    return false;
}

/*
 * The server and namespace named by the options with @prefix.  A thin or
 * backup namespace without a server of its own is on @base's server.
 */
static bool zdb_addr_from_opts(ZdbAddr *addr, QemuOpts *opts,
                               const char *prefix, const ZdbAddr *base,
                               Error **errp)
{
    g_autofree char *port_key = g_strconcat(prefix, "port", NULL);
    uint64_t port = qemu_opt_get_number(opts, port_key, ZDB_DEFAULT_PORT);
    const char *ns = zdb_opt(opts, prefix, "namespace");
    const char *host = zdb_opt(opts, prefix, "host");
    const char *sock = zdb_opt(opts, prefix, "socket");
    const char *secret;

    if (port == 0 || port > 65535) {
        error_setg(errp, "zdb: %sport must be from 1 to 65535, not %" PRIu64,
                   prefix, port);
        return false;
    }
    if (ns && (!ns[0] || strlen(ns) > 255)) {
        error_setg(errp, "zdb: %snamespace must be 1 to 255 characters long",
                   prefix);
        return false;
    }
    if (sock && !sock[0]) {
        error_setg(errp, "zdb: %ssocket must not be empty", prefix);
        return false;
    }
    if (host && !host[0]) {
        error_setg(errp, "zdb: %shost must not be empty", prefix);
        return false;
    }
    if (base && !host && !sock && !qemu_opt_get(opts, port_key)) {
        addr->host = g_strdup(base->host);
        addr->port = base->port;
        addr->socket = g_strdup(base->socket);
    } else {
        addr->host = g_strdup(host ?: "localhost");
        addr->port = port;
        addr->socket = g_strdup(sock);
    }
    addr->namespace = g_strdup(ns ?: "default");
    addr->password = g_strdup(zdb_opt(opts, prefix, "password"));
    secret = zdb_opt(opts, prefix, "password-secret");
    if (secret) {
        if (addr->password) {
            error_setg(errp, "zdb: %spassword and %spassword-secret are "
                       "mutually exclusive", prefix, prefix);
            return false;
        }
        addr->password = qcrypto_secret_lookup_as_utf8(secret, errp);
        if (!addr->password) {
            error_prepend(errp, "zdb: %spassword-secret: ", prefix);
            return false;
        }
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
    if (size % BDRV_SECTOR_SIZE) {
        error_setg(errp, "zdb: size must be a multiple of 512, not %" PRIu64,
                   size);
        return false;
    }
    if (size > INT64_MAX / 2) {
        error_setg(errp, "zdb: size must be at most %" PRId64 ", not %"
                   PRIu64, INT64_MAX / 2, size);
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

char *zdb_geometry_format(const ZdbGeometry *g)
{
    return g_strdup_printf("zdb-disk-layout %d\nsize %" PRIu64
                           "\nblocksize %" PRIu64 "\ngeneration %" PRIu64
                           "\n", ZDB_LAYOUT_VERSION, g->size, g->blocksize,
                           g->generation);
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
    g->generation = 0;
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
        } else if (g_str_has_prefix(line, "generation ")) {
            dst = &g->generation;
            val = line + strlen("generation ");
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

static inline void zdb_key(uint8_t *key, uint64_t block)
{
    stq_be_p(key, block);
}

/*
 * A request whose connection was lost (-ENOTCONN) is sent again: SET, DEL
 * and GET are idempotent, and a read-modify-write reads again.  That goes
 * on for reconnect-delay seconds from the loss; after that requests fail
 * at once, each trying one connect, until one gets through.
 */
static bool coroutine_fn zdb_co_retry(BDRVZdbState *s, int ret,
                                      int64_t *deadline, int *attempt)
{
    int64_t now = qemu_clock_get_ms(QEMU_CLOCK_REALTIME);

    if (ret != -ENOTCONN || !s->reconnect_delay_ms || s->fail_fast) {
        return false;
    }
    if (!*deadline) {
        *deadline = now + s->reconnect_delay_ms;
    }
    if (now >= *deadline) {
        s->fail_fast = true;
        return false;
    }
    trace_zdb_reconnect(s->side[0].addr.namespace, ++*attempt);
    qemu_co_sleep_ns(QEMU_CLOCK_REALTIME, 100 * SCALE_MS);
    return true;
}

/* Runs @expr (an int, 0 or -errno) under the reconnect policy above. */
#define ZDB_WITH_RETRY(s, expr) ({                                  \
    int64_t deadline_ = 0;                                          \
    int attempt_ = 0, ret_;                                         \
    do {                                                            \
        ret_ = (expr);                                              \
    } while (zdb_co_retry((s), ret_, &deadline_, &attempt_));       \
    if (ret_ >= 0) {                                                \
        (s)->fail_fast = false;                                     \
    }                                                               \
    ret_ == -ENOTCONN ? -EIO : ret_;                                \
})

/* ------------------------------------------------------------------ */
/* Reads                                                               */
/* ------------------------------------------------------------------ */

/*
 * One read request: the bytes [offset, offset + bytes) of the disk into
 * qiov.  Blocks only partly inside the range are fetched whole and
 * sliced.
 */
typedef struct ZdbRead {
    BDRVZdbState *s;
    QEMUIOVector *qiov;
    int64_t offset;
    int64_t bytes;
    const uint64_t *list;   /* the blocks fetched, in order */
    bool *missing;          /* if set: nil blocks are marked, not zeroed */
    uint8_t *copy;          /* if set: whole values kept, for copies */
    int8_t *kinds;          /* and what each key held, ZDB_KIND_* */
} ZdbRead;

typedef struct ZdbReadCmd {
    ZdbCmd cmd;
    ZdbWait *wait;
    ZdbRead *rd;
    const uint64_t *blocks;
    int nkeys;
} ZdbReadCmd;

/* The part of @block inside the request: its offset in the block and qiov */
static void zdb_read_slice(ZdbRead *rd, uint64_t block, size_t *boff,
                           size_t *qoff, size_t *len)
{
    int64_t bstart = block * rd->s->blocksize;
    int64_t lo = MAX(bstart, rd->offset);
    int64_t hi = MIN(bstart + rd->s->blocksize, rd->offset + rd->bytes);

    *boff = lo - bstart;
    *qoff = lo - rd->offset;
    *len = hi - lo;
}

/*
 * One value into the request's buffer (if any) and copy (if any).  Nil is
 * zeros, or "look in the base" on a thin disk; an empty value is the zero
 * marker that keeps a thin disk's zeroed block from showing the base.
 */
static int zdb_read_value(ZdbRead *rd, const uint64_t *pblock, redisReply *v)
{
    BDRVZdbState *s = rd->s;
    uint64_t block = *pblock;
    size_t idx = pblock - rd->list;
    size_t boff = 0, qoff = 0, len = 0;

    if (rd->qiov) {
        zdb_read_slice(rd, block, &boff, &qoff, &len);
    }
    if (v->type == REDIS_REPLY_NIL && rd->missing) {
        rd->missing[idx] = true;
        return 0;
    }
    if (v->type == REDIS_REPLY_NIL ||
        (v->type == REDIS_REPLY_STRING && v->len == 0)) {
        if (rd->qiov) {
            qemu_iovec_memset(rd->qiov, qoff, 0, len);
        }
        if (rd->kinds) {
            rd->kinds[idx] = v->type == REDIS_REPLY_NIL ? ZDB_KIND_NIL
                                                        : ZDB_KIND_MARKER;
        }
        return 0;
    }
    if (v->type == REDIS_REPLY_STRING && v->len == s->blocksize) {
        if (rd->qiov) {
            qemu_iovec_from_buf(rd->qiov, qoff, v->str + boff, len);
        }
        if (rd->copy) {
            memcpy(rd->copy + idx * s->blocksize, v->str, s->blocksize);
            rd->kinds[idx] = ZDB_KIND_VALUE;
        }
        return 0;
    }
    if (v->type == REDIS_REPLY_ERROR) {
        trace_zdb_server_error(v->str);
        return zdb_error_to_errno(v->str);
    }
    if (v->type == REDIS_REPLY_STRING) {
        error_report("zdb: namespace '%s': block %" PRIu64 " holds %zu "
                     "bytes, expected %" PRIu32, s->side[0].addr.namespace,
                     block, (size_t)v->len, s->blocksize);
    } else {
        error_report("zdb: namespace '%s': unexpected reply type %d for "
                     "block %" PRIu64, s->side[0].addr.namespace, v->type,
                     block);
    }
    return -EIO;
}

static void zdb_read_done(ZdbCmd *cmd, redisReply *reply)
{
    ZdbReadCmd *rc = container_of(cmd, ZdbReadCmd, cmd);
    int ret = 0;
    int i;

    trace_zdb_reply(rc->blocks[0], rc->nkeys, reply ? reply->type : -1);
    if (!reply) {
        ret = -ENOTCONN;
    } else if (rc->nkeys == 1 && reply->type != REDIS_REPLY_ARRAY) {
        ret = zdb_read_value(rc->rd, &rc->blocks[0], reply);
    } else if (reply->type == REDIS_REPLY_ARRAY &&
               reply->elements == rc->nkeys) {
        for (i = 0; i < rc->nkeys && ret == 0; i++) {
            ret = zdb_read_value(rc->rd, &rc->blocks[i], reply->element[i]);
        }
    } else if (reply->type == REDIS_REPLY_ERROR) {
        trace_zdb_server_error(reply->str);
        ret = zdb_error_to_errno(reply->str);
    } else {
        error_report("zdb: namespace '%s': MGET of %d keys from block %"
                     PRIu64 " got a reply of type %d with %zu elements",
                     rc->rd->s->side[0].addr.namespace, rc->nkeys,
                     rc->blocks[0], reply->type, (size_t)reply->elements);
        ret = -EIO;
    }
    zdb_wait_done(rc->wait, ret);
}

/*
 * Fetches @n blocks from @pool into @rd: one GET, or MGETs of at most
 * 1023 keys (and a bounded reply size), spread over the connections.
 */
static int coroutine_fn zdb_co_fetch(ZdbPool *pool, ZdbRead *rd,
                                     const uint64_t *blocks, uint64_t n)
{
    BDRVZdbState *s = rd->s;
    int per_cmd = MIN(ZDB_MGET_MAX_KEYS,
                      MAX(1, ZDB_MGET_MAX_BYTES / s->blocksize));
    int ncmds = DIV_ROUND_UP(n, per_cmd);
    int nargs = MIN(n, per_cmd) + 1;
    ZdbReadCmd cmds_here[ZDB_STACK_BLOCKS];
    const char *argv_here[ZDB_STACK_BLOCKS + 1];
    size_t argvlen_here[ZDB_STACK_BLOCKS + 1];
    uint8_t keys_here[(ZDB_STACK_BLOCKS + 1) * ZDB_KEY_LEN];
    g_autofree ZdbReadCmd *cmds_heap = NULL;
    g_autofree const char **argv_heap = NULL;
    g_autofree size_t *argvlen_heap = NULL;
    g_autofree uint8_t *keys_heap = NULL;
    ZdbReadCmd *cmds = cmds_here;
    const char **argv = argv_here;
    size_t *argvlen = argvlen_here;
    uint8_t *keys = keys_here;
    ZdbWait wait;
    int i, j, ret = 0, ret2;

    if (ncmds > ZDB_STACK_BLOCKS) {
        cmds = cmds_heap = g_new(ZdbReadCmd, ncmds);
    }
    if (nargs > ZDB_STACK_BLOCKS + 1) {
        argv = argv_heap = g_new(const char *, nargs);
        argvlen = argvlen_heap = g_new(size_t, nargs);
        keys = keys_heap = g_malloc(nargs * ZDB_KEY_LEN);
    }
    rd->list = blocks;
    zdb_wait_init(&wait);
    for (i = 0; i < ncmds; i++) {
        ZdbReadCmd *rc = &cmds[i];
        ZdbConn *conn;

        rc->cmd.fn = zdb_read_done;
        rc->wait = &wait;
        rc->rd = rd;
        rc->blocks = blocks + (uint64_t)i * per_cmd;
        rc->nkeys = MIN(per_cmd, n - (uint64_t)i * per_cmd);

        argv[0] = rc->nkeys == 1 ? "GET" : "MGET";
        argvlen[0] = strlen(argv[0]);
        for (j = 0; j < rc->nkeys; j++) {
            zdb_key(keys + j * ZDB_KEY_LEN, rc->blocks[j]);
            argv[j + 1] = (const char *)keys + j * ZDB_KEY_LEN;
            argvlen[j + 1] = ZDB_KEY_LEN;
        }
        ret = zdb_pool_co_get(pool, &conn);
        if (ret == 0) {
            /* hiredis copies the command out, so argv can be reused */
            ret = zdb_conn_send(conn, &rc->cmd, rc->nkeys + 1, argv, argvlen);
        }
        if (ret < 0) {
            break;
        }
        wait.pending++;
    }
    ret2 = zdb_wait_all(&wait);
    return ret < 0 ? ret : ret2;
}

static int coroutine_fn zdb_co_put(BDRVZdbState *s, ZdbSide *only,
                                   uint64_t first, uint64_t last,
                                   const uint64_t *list, ZdbValues *v);
static int coroutine_fn zdb_co_grow(BDRVZdbState *s, uint64_t end);

/*
 * Fetches @n blocks of the disk's own namespace from a side in sync; when
 * that side fails and the other is in sync, the other serves the read and
 * the failed one is taken as lost.
 */
static int coroutine_fn zdb_co_fetch_own(BDRVZdbState *s, ZdbRead *rd,
                                         const uint64_t *blocks, uint64_t n)
{
    ZdbSide *side = zdb_read_side(s, NULL);
    ZdbSide *other;
    int ret;

    if (!side) {
        return -EIO;
    }
    ret = zdb_co_fetch(side->pool, rd, blocks, n);
    while (ret < 0 && (other = zdb_read_side(s, side))) {
        trace_zdb_failover(side->name, ret);
        zdb_side_lost(s, side, ret);
        side = other;
        if (rd->missing) {
            memset(rd->missing, 0, n * sizeof(bool));
        }
        ret = zdb_co_fetch(side->pool, rd, blocks, n);
    }
    return ret;
}

/*
 * Reads [offset, offset + bytes): one batch from the disk's namespace,
 * then one batch from the thin base for the blocks the disk lacks.  With
 * @cor, base blocks are also written to the disk (the caller holds the
 * range, see zdb_co_preadv).
 */
static int coroutine_fn zdb_co_read(BDRVZdbState *s, int64_t offset,
                                    int64_t bytes, QEMUIOVector *qiov,
                                    bool cor)
{
    ZdbRead rd = {
        .s = s, .qiov = qiov, .offset = offset, .bytes = bytes,
    };
    uint64_t first = offset / s->blocksize;
    uint64_t n = (offset + bytes - 1) / s->blocksize - first + 1;
    uint64_t blocks_here[ZDB_STACK_BLOCKS];
    g_autofree uint64_t *blocks_heap = NULL;
    uint64_t *blocks = blocks_here;
    bool missing_here[ZDB_STACK_BLOCKS] = { false };
    g_autofree bool *missing_heap = NULL;
    g_autofree uint8_t *copy = NULL;
    g_autofree int8_t *kinds = NULL;
    uint64_t i, m;
    int ret;

    if (n > ZDB_STACK_BLOCKS) {
        blocks = blocks_heap = g_new(uint64_t, n);
    }
    for (i = 0; i < n; i++) {
        blocks[i] = first + i;
    }
    if (s->thin) {
        rd.missing = n > ZDB_STACK_BLOCKS ? (missing_heap = g_new0(bool, n))
                                          : missing_here;
    }
    ret = zdb_co_fetch_own(s, &rd, blocks, n);
    if (ret < 0 || !s->thin) {
        return ret;
    }

    for (i = m = 0; i < n; i++) {
        if (rd.missing[i]) {
            blocks[m++] = first + i;
        }
    }
    if (m == 0) {
        return 0;
    }
    rd.missing = NULL;
    if (cor) {
        rd.copy = copy = g_malloc((size_t)m * s->blocksize);
        rd.kinds = kinds = g_new0(int8_t, m);
    }
    ret = zdb_co_fetch(s->thin, &rd, blocks, m);
    if (ret < 0 || !cor) {
        return ret;
    }

    /* copy-on-read: the blocks the base had, now in the disk too */
    for (i = n = 0; i < m; i++) {
        if (kinds[i] == ZDB_KIND_VALUE) {
            if (n != i) {
                blocks[n] = blocks[i];
                kinds[n] = kinds[i];
                memcpy(copy + n * s->blocksize, copy + i * s->blocksize,
                       s->blocksize);
            }
            n++;
        }
    }
    if (n == 0) {
        return 0;
    }
    {
        ZdbValues v = { .kinds = kinds, .vals = copy };
        return zdb_co_put(s, NULL, 0, n - 1, blocks, &v);
    }
}

static int coroutine_fn GRAPH_RDLOCK
zdb_home_preadv(BlockDriverState *bs, int64_t offset, int64_t bytes,
              QEMUIOVector *qiov, BdrvRequestFlags flags)
{
    BDRVZdbState *s = bs->opaque;
    ZdbWrite w;
    int ret;

    trace_zdb_co_preadv(bs, offset, bytes);
    if (bytes == 0) {
        return 0;
    }
    if (!s->thin_cor || bdrv_is_read_only(bs)) {
        return ZDB_WITH_RETRY(s, zdb_co_read(s, offset, bytes, qiov, false));
    }
    /*
     * Copying a base block must not land after a guest write to it: hold
     * the blocks like a partial write does.
     */
    zdb_write_begin(s, &w, offset / s->blocksize,
                    (offset + bytes - 1) / s->blocksize, true);
    ret = ZDB_WITH_RETRY(s, zdb_co_read(s, offset, bytes, qiov, true));
    zdb_write_end(s, &w);
    return ret;
}

/* ------------------------------------------------------------------ */
/* Writes                                                              */
/* ------------------------------------------------------------------ */

/*
 * Writes in flight, oldest first.  A write that covers part of a block
 * reads, patches and writes the whole block: no other write may touch
 * that block meanwhile, or one of the two would be lost.  Such a
 * "serialising" write waits until no write overlaps its blocks; any other
 * write waits only for overlapping serialising ones.  Flush waits for
 * every write older than itself.
 */
void coroutine_fn zdb_write_begin(BDRVZdbState *s, ZdbWrite *w,
                                         uint64_t first, uint64_t last,
                                         bool serialising)
{
    ZdbWrite *o;

    w->first = first;
    w->last = last;
    w->serialising = serialising;
    /* the common case, whole blocks and no partial write in flight */
    if (!serialising && !s->serialising_writes) {
        goto insert;
    }
retry:
    QTAILQ_FOREACH(o, &s->writes, next) {
        if (o->first <= last && first <= o->last &&
            (serialising || o->serialising)) {
            qemu_co_queue_wait(&s->write_queue, NULL);
            goto retry;
        }
    }
insert:
    w->seq = ++s->write_seq;
    s->serialising_writes += serialising;
    QTAILQ_INSERT_TAIL(&s->writes, w, next);
}

void coroutine_fn zdb_write_end(BDRVZdbState *s, ZdbWrite *w)
{
    QTAILQ_REMOVE(&s->writes, w, next);
    s->serialising_writes -= w->serialising;
    if (!qemu_co_queue_empty(&s->write_queue)) {
        qemu_co_queue_restart_all(&s->write_queue);
    }
}


/*
 * The next whole block of the vector, in place when one element holds it
 * (guest buffers are usually whole pages), else gathered into the bounce
 * buffer.  hiredis copies a command when it is queued, so one bounce
 * buffer serves every block of a request.
 */
static const char *zdb_values_next(ZdbValues *v, uint64_t block, size_t len)
{
    uint8_t *dst;
    size_t left = len;

    if (block == v->first && v->head) {
        return (const char *)v->head;
    }
    if (block == v->last && v->tail) {
        return (const char *)v->tail;
    }
    while (v->iov_off == v->iov->iov_len) {
        v->iov++;
        v->iov_off = 0;
    }
    if (v->iov->iov_len - v->iov_off >= len) {
        const char *p = (const char *)v->iov->iov_base + v->iov_off;
        v->iov_off += len;
        return p;
    }
    if (!v->bounce) {
        v->bounce = g_malloc(len);
    }
    dst = v->bounce;
    while (left) {
        size_t step;

        while (v->iov_off == v->iov->iov_len) {
            v->iov++;
            v->iov_off = 0;
        }
        step = MIN(left, v->iov->iov_len - v->iov_off);
        memcpy(dst, (const char *)v->iov->iov_base + v->iov_off, step);
        dst += step;
        left -= step;
        v->iov_off += step;
    }
    return (const char *)v->bounce;
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

/*
 * SET blocks [first, last] (or list[first..last]) from @v, or zero them
 * when @v is NULL, ZDB_PUT_BATCH_BYTES of values or ZDB_BATCH zeroed
 * blocks at a time.  Zeroing is DEL,
 * or on a thin disk SET of the empty zero marker, so that the base does
 * not show through.
 *
 * The blocks go to @only, or to every side that is not down, in parallel.
 * A write succeeds when a side in sync took it: a side that failed while
 * another one in sync succeeded is taken as lost, and the blocks are
 * remembered for it, as for a side that is down.
 */
static int coroutine_fn zdb_co_put(BDRVZdbState *s, ZdbSide *only,
                                   uint64_t first, uint64_t last,
                                   const uint64_t *list, ZdbValues *v)
{
    uint64_t n = last - first + 1;
    int batch = MIN(n, v ? MAX(1, ZDB_PUT_BATCH_BYTES / s->blocksize)
                         : ZDB_BATCH);
    ZdbWriteCmd cmds_here[ZDB_STACK_BLOCKS];
    g_autofree ZdbWriteCmd *cmds_heap = NULL;
    ZdbWriteCmd *cmds = cmds_here;
    ZdbSide *targets[2];
    int err[2] = { 0, 0 };
    int nt = 0, t, ret = 0;
    uint64_t done = 0;
    bool ok = false;

    if (batch * s->nsides > ZDB_STACK_BLOCKS) {
        cmds = cmds_heap = g_new(ZdbWriteCmd, batch * s->nsides);
    }
    for (t = 0; t < s->nsides && !only; t++) {
        if (s->side[t].state != ZDB_SIDE_STATE_DOWN) {
            targets[nt++] = &s->side[t];
        } else {
            zdb_side_mark_dirty(s, &s->side[t], first, last, list);
        }
    }
    if (only) {
        targets[nt++] = only;
    }

    while (done < n) {
        ZdbWait wait[2];
        int i;

        for (t = 0; t < nt; t++) {
            zdb_wait_init(&wait[t]);
        }
        for (i = 0; i < batch && done < n; i++, done++) {
            uint8_t key[ZDB_KEY_LEN];
            const char *argv[3] = { "SET", (const char *)key, "" };
            size_t argvlen[3] = { 3, ZDB_KEY_LEN, s->blocksize };
            uint64_t block = list ? list[first + done] : first + done;
            bool del = !v && !s->thin;

            zdb_key(key, block);
            if (v && v->kinds) {
                switch (v->kinds[first + done]) {
                case ZDB_KIND_VALUE:
                    argv[2] = (const char *)v->vals +
                              (first + done) * s->blocksize;
                    break;
                case ZDB_KIND_MARKER:
                    argvlen[2] = 0;
                    break;
                default:
                    argv[0] = "DEL";
                    del = true;
                }
            } else if (v) {
                argv[2] = zdb_values_next(v, block, s->blocksize);
            } else if (del) {
                argv[0] = "DEL";
            } else {
                argvlen[2] = 0;
            }
            for (t = 0; t < nt; t++) {
                ZdbWriteCmd *wc = &cmds[i * nt + t];
                ZdbConn *conn;
                int r;

                if (err[t]) {
                    continue;
                }
                wc->check = del ? zdb_reply_check_del : zdb_reply_check_write;
                wc->cmd.fn = zdb_write_done;
                wc->wait = &wait[t];
                r = zdb_pool_co_get(targets[t]->pool, &conn);
                if (r == 0) {
                    r = zdb_conn_send(conn, &wc->cmd, del ? 2 : 3, argv,
                                      argvlen);
                }
                if (r < 0) {
                    err[t] = r;
                    continue;
                }
                wait[t].pending++;
            }
        }
        ok = false;
        for (t = 0; t < nt; t++) {
            int r = zdb_wait_all(&wait[t]);
            if (r < 0 && !err[t]) {
                err[t] = r;
            }
            ok |= !err[t];
        }
        if (!ok) {
            break;
        }
    }

    if (only) {
        return err[0];
    }
    ok = false;
    for (t = 0; t < nt; t++) {
        if (!err[t] && targets[t]->state == ZDB_SIDE_STATE_SYNC) {
            ok = true;
        } else if (err[t] && !ret) {
            ret = err[t];
        }
    }
    if (!ok) {
        return ret < 0 ? ret : -EIO;
    }
    for (t = 0; t < nt; t++) {
        if (err[t]) {
            zdb_side_lost(s, targets[t], err[t]);
            zdb_side_mark_dirty(s, targets[t], first, last, list);
        }
    }
    /* nothing is acknowledged before the other side is known to be behind */
    return zdb_degraded(s) ? zdb_co_record_degraded(s) : 0;
}

/*
 * Copies blocks from one side's namespace to another's, exactly: values,
 * zero markers and missing keys.  The caller holds the blocks.
 */
int coroutine_fn zdb_co_copy_blocks(BDRVZdbState *s, ZdbSide *from,
                                    ZdbSide *to, const uint64_t *blocks,
                                    uint64_t n)
{
    g_autofree uint8_t *copy = g_malloc((size_t)n * s->blocksize);
    g_autofree int8_t *kinds = g_new0(int8_t, n);
    ZdbRead rd = { .s = s, .copy = copy, .kinds = kinds };
    ZdbValues v = { .kinds = kinds, .vals = copy };
    int ret;

    ret = zdb_co_fetch(from->pool, &rd, blocks, n);
    if (ret < 0) {
        return ret;
    }
    return zdb_co_put(s, to, 0, n - 1, blocks, &v);
}

/* Reads whole block @block and lays @len bytes of @qiov at @boff over it */
static int coroutine_fn zdb_co_patch_block(BDRVZdbState *s, uint64_t block,
                                           uint8_t *buf, size_t boff,
                                           QEMUIOVector *qiov, size_t qoff,
                                           size_t len)
{
    QEMUIOVector local;
    int ret;

    qemu_iovec_init_buf(&local, buf, s->blocksize);
    ret = zdb_co_read(s, block * s->blocksize, s->blocksize, &local, false);
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

/* Writes [offset, offset + bytes) from @qiov (zeros when NULL). */
static int coroutine_fn zdb_co_write(BDRVZdbState *s, int64_t offset,
                                     int64_t bytes, QEMUIOVector *qiov)
{
    uint32_t bsz = s->blocksize;
    uint64_t first = offset / bsz;
    uint64_t last = (offset + bytes - 1) / bsz;
    size_t head = offset % bsz;
    size_t tail = (offset + bytes) % bsz;
    ZdbValues v = {
        .first = first,
        .last = last,
        .iov = qiov ? qiov->iov : NULL,
    };
    ZdbWrite w;
    int ret = 0;

    zdb_write_begin(s, &w, first, last, head || tail);
    if (head || (first == last && tail)) {
        size_t len = MIN(bytes, bsz - head);
        v.head = g_malloc(bsz);
        ret = zdb_co_patch_block(s, first, v.head, head, qiov, 0, len);
        v.iov_off = len;
    }
    if (ret == 0 && tail && !(first == last && v.head)) {
        v.tail = g_malloc(bsz);
        ret = zdb_co_patch_block(s, last, v.tail, 0, qiov, bytes - tail,
                                 tail);
    }
    if (ret == 0 && qiov && v.iov_off) {
        /* position the cursor after the head block's part */
        size_t skip = v.iov_off;
        v.iov_off = 0;
        while (skip && skip >= v.iov->iov_len - v.iov_off) {
            skip -= v.iov->iov_len - v.iov_off;
            v.iov++;
            v.iov_off = 0;
        }
        v.iov_off += skip;
    }
    if (ret == 0) {
        ret = zdb_co_put(s, NULL, first, last, NULL, &v);
    }
    zdb_write_end(s, &w);
    g_free(v.head);
    g_free(v.tail);
    g_free(v.bounce);
    return ret;
}

static int coroutine_fn GRAPH_RDLOCK
zdb_home_pwritev(BlockDriverState *bs, int64_t offset, int64_t bytes,
               QEMUIOVector *qiov, BdrvRequestFlags flags)
{
    BDRVZdbState *s = bs->opaque;
    int ret;

    trace_zdb_co_pwritev(bs, offset, bytes);
    if (bytes == 0) {
        return 0;
    }
    ret = ZDB_WITH_RETRY(s, zdb_co_write(s, offset, bytes, qiov));
    if (ret == 0 && offset + bytes > s->size) {
        ret = ZDB_WITH_RETRY(s, zdb_co_grow(s, offset + bytes));
    }
    return ret;
}

/* Deletes whole blocks [first, last]: a missing key reads as zeros. */
static int coroutine_fn zdb_co_drop(BDRVZdbState *s, uint64_t first,
                                    uint64_t last)
{
    ZdbWrite w;
    int ret;

    zdb_write_begin(s, &w, first, last, false);
    ret = zdb_co_put(s, NULL, first, last, NULL, NULL);
    zdb_write_end(s, &w);
    return ret;
}

static int coroutine_fn GRAPH_RDLOCK
zdb_home_pwrite_zeroes(BlockDriverState *bs, int64_t offset, int64_t bytes,
                     BdrvRequestFlags flags)
{
    BDRVZdbState *s = bs->opaque;
    int ret;

    trace_zdb_co_pwrite_zeroes(bs, offset, bytes);
    if (!QEMU_IS_ALIGNED(offset | bytes, s->blocksize)) {
        /* the block layer falls back to writing a zeroed buffer */
        return -ENOTSUP;
    }
    ret = ZDB_WITH_RETRY(s, zdb_co_drop(s, offset / s->blocksize,
                                        (offset + bytes) / s->blocksize - 1));
    if (ret == 0 && offset + bytes > s->size) {
        ret = ZDB_WITH_RETRY(s, zdb_co_grow(s, offset + bytes));
    }
    return ret;
}

static int coroutine_fn GRAPH_RDLOCK
zdb_home_pdiscard(BlockDriverState *bs, int64_t offset, int64_t bytes)
{
    BDRVZdbState *s = bs->opaque;
    uint64_t first = DIV_ROUND_UP(offset, s->blocksize);
    uint64_t end = (offset + bytes) / s->blocksize;

    trace_zdb_co_pdiscard(bs, offset, bytes);
    /* Discard is advisory: partial blocks are left as they are. */
    if (end <= first) {
        return 0;
    }
    return ZDB_WITH_RETRY(s, zdb_co_drop(s, first, end - 1));
}

/* Every write that was issued before the flush has been acknowledged. */
static int coroutine_fn GRAPH_RDLOCK zdb_home_flush(BlockDriverState *bs)
{
    BDRVZdbState *s = bs->opaque;
    uint64_t barrier = s->write_seq;
    ZdbWrite *oldest;

    while ((oldest = QTAILQ_FIRST(&s->writes)) && oldest->seq <= barrier) {
        qemu_co_queue_wait(&s->write_queue, NULL);
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
        ret = zdb_error_to_errno(reply->str);
    } else {
        ret = reply ? -EIO : -ENOTCONN;
    }
    zdb_wait_done(ec->wait, ret);
}

/* EXISTS for blocks [first, first + n) of @pool, pipelined: 1, 0 in @out */
static int coroutine_fn zdb_co_exists(ZdbPool *pool, uint64_t first, int n,
                                      int8_t *out)
{
    g_autofree ZdbExistsCmd *cmds = g_new(ZdbExistsCmd, n);
    ZdbWait wait;
    int i, ret = 0, ret2;

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
        ret = zdb_pool_co_get(pool, &conn);
        if (ret == 0) {
            ret = zdb_conn_send(conn, &cmds[i].cmd, 2, argv, argvlen);
        }
        if (ret < 0) {
            break;
        }
        wait.pending++;
    }
    ret2 = zdb_wait_all(&wait);
    for (i = 0; i < n; i++) {
        out[i] = cmds[i].exists;
    }
    return ret < 0 ? ret : ret2;
}

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
 * Blocks in the disk's namespace are data; blocks only in the thin base
 * are data too (a copy must take them: it is a full disk); blocks in
 * neither read as zeros.  At most ZDB_BATCH blocks are looked at per call;
 * the answer covers the run that shares the first block's state.
 */
static int coroutine_fn GRAPH_RDLOCK
zdb_home_block_status(BlockDriverState *bs, bool want_zero, int64_t offset,
                    int64_t bytes, int64_t *pnum, int64_t *map,
                    BlockDriverState **file)
{
    BDRVZdbState *s = bs->opaque;
    uint64_t first = offset / s->blocksize;
    uint64_t last = (offset + bytes - 1) / s->blocksize;
    int n = MIN(last - first + 1, ZDB_BATCH);
    g_autofree int8_t *own = g_new(int8_t, n);
    g_autofree int8_t *base = NULL;
    bool data;
    int run, ret;

    ZdbSide *side = zdb_read_side(s, NULL);

    if (!side) {
        return -EIO;
    }
    ret = ZDB_WITH_RETRY(s, zdb_co_exists(side->pool, first, n, own));
    if (ret < 0) {
        return ret;
    }
    run = zdb_run(own, n);
    data = own[0];
    if (!data && s->thin) {
        base = g_new(int8_t, run);
        ret = ZDB_WITH_RETRY(s, zdb_co_exists(s->thin, first, run, base));
        if (ret < 0) {
            return ret;
        }
        run = zdb_run(base, run);
        data = base[0];
    }
    *pnum = MIN((int64_t)(first + run) * s->blocksize - offset, bytes);
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

    return s->size;
}

static void zdb_set_done(ZdbCmd *cmd, redisReply *reply)
{
    zdb_wait_done(cmd->opaque, zdb_reply_check_write(reply));
}

/* Records the geometry and @side's generation in its metadata key */
int coroutine_fn zdb_co_write_meta(BDRVZdbState *s, ZdbSide *side)
{
    ZdbGeometry g = {
        .size = s->size,
        .blocksize = s->blocksize,
        .generation = side->generation,
    };
    g_autofree char *val = zdb_geometry_format(&g);
    const char *argv[] = { "SET", ZDB_META_KEY, val };
    size_t argvlen[] = { 3, strlen(ZDB_META_KEY), strlen(val) };
    ZdbWait wait;
    ZdbCmd cmd = { .fn = zdb_set_done, .opaque = &wait };
    int ret;

    trace_zdb_generation(side->name, side->generation);
    ret = zdb_pool_co_call(side->pool, &cmd, &wait, 3, argv, argvlen);
    if (ret == 0) {
        side->has_meta = true;
    }
    return ret;
}

/*
 * Records @size as the disk's size on every side that is not down; a side
 * in sync must take it.  Called with meta_lock held.
 */
static int coroutine_fn zdb_co_set_size(BDRVZdbState *s, uint64_t size)
{
    uint64_t old_size = s->size;
    uint64_t blocks = DIV_ROUND_UP(size, s->blocksize);
    bool ok = false;
    int ret = 0, t;

    for (t = 0; t < s->nsides; t++) {
        if (s->side[t].dirty && blocks > s->nblocks) {
            s->side[t].dirty = bitmap_zero_extend(s->side[t].dirty,
                                                  s->nblocks, blocks);
        }
    }
    s->nblocks = MAX(s->nblocks, blocks);
    s->size = size;
    for (t = 0; t < s->nsides; t++) {
        int r;

        if (s->side[t].state == ZDB_SIDE_STATE_DOWN) {
            continue;
        }
        r = zdb_co_write_meta(s, &s->side[t]);
        if (r < 0) {
            ret = ret ?: r;
        } else if (s->side[t].state == ZDB_SIDE_STATE_SYNC) {
            ok = true;
        }
    }
    if (!ok) {
        s->size = old_size;
        return ret < 0 ? ret : -EIO;
    }
    return 0;
}

/*
 * A write past the end grows the disk, as a file grows: formats such as
 * qcow2 create their image on an empty protocol node and write their
 * metadata past its end.  The new size is recorded before the write is
 * acknowledged.
 */
static int coroutine_fn zdb_co_grow(BDRVZdbState *s, uint64_t end)
{
    int ret = 0;

    if (s->thin) {
        return -ENOSPC;     /* the base's geometry is the disk's */
    }
    qemu_co_mutex_lock(&s->meta_lock);
    if (end > s->size) {
        ret = zdb_co_set_size(s, ROUND_UP(end, BDRV_SECTOR_SIZE));
    }
    qemu_co_mutex_unlock(&s->meta_lock);
    return ret;
}

typedef struct ZdbMetaCmd {
    ZdbCmd cmd;
    ZdbWait wait;
    char *text;             /* the metadata, NULL when there is none */
    size_t len;
} ZdbMetaCmd;

static void zdb_meta_done(ZdbCmd *cmd, redisReply *reply)
{
    ZdbMetaCmd *mc = container_of(cmd, ZdbMetaCmd, cmd);
    int ret = 0;

    if (reply && reply->type == REDIS_REPLY_STRING) {
        mc->text = g_strndup(reply->str, reply->len);
        mc->len = reply->len;
    } else if (!reply) {
        ret = -ENOTCONN;
    } else if (reply->type != REDIS_REPLY_NIL) {
        ret = -EIO;
    }
    zdb_wait_done(&mc->wait, ret);
}

/*
 * Another process may have grown the disk since it was opened: an
 * incoming migration's destination opens it before the source is done
 * with it.  Re-read the recorded size when the block layer asks.
 */
static void coroutine_fn GRAPH_RDLOCK
zdb_home_invalidate_cache(BlockDriverState *bs, Error **errp)
{
    BDRVZdbState *s = bs->opaque;
    const char *argv[] = { "GET", ZDB_META_KEY };
    ZdbMetaCmd mc = { .cmd.fn = zdb_meta_done };
    ZdbSide *side = zdb_read_side(s, NULL);
    ZdbGeometry g;
    int ret;

    if (!side) {
        error_setg(errp, "zdb: no namespace of the disk is reachable");
        return;
    }
    ret = zdb_pool_co_call(side->pool, &mc.cmd, &mc.wait, 2, argv, NULL);
    if (ret < 0) {
        error_setg_errno(errp, -ret, "zdb: cannot read the metadata of "
                         "namespace '%s'", side->addr.namespace);
    } else if (mc.text &&
               zdb_geometry_parse(mc.text, mc.len, &g, side->addr.namespace,
                                  errp) &&
               g.size != s->size) {
        if (g.blocksize != s->blocksize) {
            error_setg(errp, "zdb: namespace '%s' now records blocksize %"
                       PRIu64 ", not %" PRIu32, side->addr.namespace,
                       g.blocksize, s->blocksize);
        } else {
            uint64_t blocks = DIV_ROUND_UP(g.size, s->blocksize);
            int t;

            for (t = 0; t < s->nsides; t++) {
                if (s->side[t].dirty && blocks > s->nblocks) {
                    s->side[t].dirty = bitmap_zero_extend(s->side[t].dirty,
                                                          s->nblocks, blocks);
                }
            }
            s->nblocks = MAX(s->nblocks, blocks);
            s->size = g.size;
        }
    }
    g_free(mc.text);
}

static int coroutine_fn GRAPH_RDLOCK
zdb_home_truncate(BlockDriverState *bs, int64_t offset, bool exact,
                PreallocMode prealloc, BdrvRequestFlags flags, Error **errp)
{
    BDRVZdbState *s = bs->opaque;
    uint64_t old_blocks = DIV_ROUND_UP(s->size, s->blocksize);
    uint64_t new_blocks = DIV_ROUND_UP(offset, s->blocksize);
    uint64_t tail = offset % s->blocksize;
    int ret = 0;

    if (prealloc != PREALLOC_MODE_OFF) {
        error_setg(errp, "zdb: unsupported preallocation mode '%s'",
                   PreallocMode_str(prealloc));
        return -ENOTSUP;
    }
    if (s->thin) {
        /* its geometry must stay the base's */
        error_setg(errp, "zdb: a disk on a thin base cannot be resized");
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
            ret = zdb_co_drop(s, new_blocks, old_blocks - 1);
            if (ret < 0) {
                error_setg_errno(errp, -ret, "zdb: cannot drop blocks past "
                                 "the new end");
                return ret;
            }
        }
        if (tail) {
            ret = zdb_co_write(s, offset,
                               MIN(s->size - offset, s->blocksize - tail),
                               NULL);
            if (ret < 0) {
                error_setg_errno(errp, -ret, "zdb: cannot zero the tail of "
                                 "the last block");
                return ret;
            }
        }
    }

    qemu_co_mutex_lock(&s->meta_lock);
    ret = zdb_co_set_size(s, offset);
    qemu_co_mutex_unlock(&s->meta_lock);
    if (ret < 0) {
        error_setg_errno(errp, -ret, "zdb: namespace '%s': cannot record "
                         "the new size", s->side[0].addr.namespace);
    }
    return ret;
}

/* ------------------------------------------------------------------ */
/* Open, close, create                                                 */
/* ------------------------------------------------------------------ */

/* What open learns of one namespace */
typedef struct ZdbSideInfo {
    const char *role;       /* "disk", "thin base", ... for messages */
    bool unreachable;       /* could not be reached (not: said no) */
    int found;              /* metadata present */
    ZdbGeometry g;
    bool read_only;
} ZdbSideInfo;

static bool zdb_probe_side(const ZdbAddr *addr, int open_timeout,
                           ZdbSideInfo *info, Error **errp)
{
    redisContext *c = zdb_sync_connect(addr, ZDB_OPEN_TIMEOUT, open_timeout,
                                       &info->unreachable, errp);
    bool ok = false;

    if (!c) {
        goto out;
    }
    if (!zdb_check_namespace(c, addr, &info->read_only, errp)) {
        goto out;
    }
    info->found = zdb_read_geometry(c, addr, &info->g, errp);
    if (info->found < 0) {
        goto out;
    }
    if (info->found && (!zdb_check_size(info->g.size, errp) ||
                        !zdb_check_blocksize(info->g.blocksize, errp))) {
        error_prepend(errp, "namespace '%s' records a bad geometry: ",
                      addr->namespace);
        goto out;
    }
    ok = true;
out:
    if (!ok) {
        error_prepend(errp, "%s: ", info->role);
    }
    if (c) {
        redisFree(c);
    }
    return ok;
}

/*
 * Settles the geometry: what a namespace records wins, options must agree
 * with it, and every namespace of the disk must record the same.
 */
static bool zdb_settle_geometry(BDRVZdbState *s, QemuOpts *opts,
                                ZdbSideInfo **sides, int n, Error **errp)
{
    ZdbGeometry g = {
        .size = qemu_opt_get_size(opts, "size", ZDB_DEFAULT_SIZE),
        .blocksize = qemu_opt_get_size(opts, "blocksize",
                                       ZDB_DEFAULT_BLOCKSIZE),
    };
    bool size_set = qemu_opt_get(opts, "size");
    bool blocksize_set = qemu_opt_get(opts, "blocksize");
    const char *from = NULL;
    int i;

    if (!zdb_check_size(g.size, errp) ||
        !zdb_check_blocksize(g.blocksize, errp)) {
        return false;
    }
    for (i = 0; i < n; i++) {
        ZdbSideInfo *side = sides[i];

        if (!side->found) {
            continue;
        }
        if (from) {
            if (side->g.size != g.size || side->g.blocksize != g.blocksize) {
                error_setg(errp, "zdb: the %s records size %" PRIu64
                           " blocksize %" PRIu64 " but the %s records size %"
                           PRIu64 " blocksize %" PRIu64, from, g.size,
                           g.blocksize, side->role, side->g.size,
                           side->g.blocksize);
                return false;
            }
            continue;
        }
        if (size_set && g.size != side->g.size) {
            error_setg(errp, "zdb: size=%" PRIu64 " disagrees with the size "
                       "%" PRIu64 " recorded in the %s", g.size, side->g.size,
                       side->role);
            return false;
        }
        if (blocksize_set && g.blocksize != side->g.blocksize) {
            error_setg(errp, "zdb: blocksize=%" PRIu64 " disagrees with the "
                       "blocksize %" PRIu64 " recorded in the %s",
                       g.blocksize, side->g.blocksize, side->role);
            return false;
        }
        g.size = side->g.size;
        g.blocksize = side->g.blocksize;
        from = side->role;
    }
    s->size = g.size;
    s->blocksize = g.blocksize;
    s->nblocks = DIV_ROUND_UP(g.size, g.blocksize);
    s->side[0].has_meta = sides[0]->found > 0;
    return true;
}

/*
 * Which of primary and backup can be trusted.  A side that missed writes
 * has a lower generation in its metadata than the other; a side without
 * metadata beside one with it is new.  Either is behind on everything: it
 * is copied in full before it serves reads (which blocks it missed is not
 * recorded across restarts, so a full copy is the only safe answer).  A
 * side that cannot be reached is down, and behind on everything as well.
 */
static void zdb_settle_sides(BDRVZdbState *s, ZdbSideInfo *p, ZdbSideInfo *b)
{
    ZdbSide *primary = &s->side[0], *backup = &s->side[1];
    ZdbSide *stale = NULL;
    int t;

    for (t = 0; t < 2; t++) {
        ZdbSideInfo *i = t ? b : p;
        s->side[t].has_meta = i->found > 0;
        s->side[t].generation = i->found > 0 ? i->g.generation : 0;
        s->side[t].state = ZDB_SIDE_STATE_SYNC;
        s->side[t].dirty = bitmap_new(s->nblocks);
    }
    if (p->unreachable) {
        stale = primary;
    } else if (b->unreachable) {
        stale = backup;
    } else if (primary->has_meta != backup->has_meta) {
        stale = primary->has_meta ? backup : primary;
    } else if (!primary->has_meta ||
               primary->generation == backup->generation) {
        /*
         * Two namespaces without metadata: nothing says which one holds
         * the disk, so the primary is taken as the truth.
         */
        stale = primary->has_meta ? NULL : backup;
    } else {
        stale = primary->generation < backup->generation ? primary : backup;
    }
    if (stale) {
        ZdbSideInfo *i = stale == primary ? p : b;
        stale->state = i->unreachable ? ZDB_SIDE_STATE_DOWN
                                      : ZDB_SIDE_STATE_BEHIND;
        bitmap_set(stale->dirty, 0, s->nblocks);
    }
}

static int zdb_open(BlockDriverState *bs, QDict *options, int flags,
                    Error **errp)
{
    BDRVZdbState *s = bs->opaque;
    QemuOpts *opts;
    uint64_t nconns, timeout, open_timeout, reconnect_delay;
    ZdbSideInfo primary = { .role = "disk" };
    ZdbSideInfo backup = { .role = "backup" };
    ZdbSideInfo thin = { .role = "thin base" };
    ZdbSideInfo *found[3] = { &primary };
    int nfound = 1;
    Error *backup_err = NULL;
    int t, ret = -EINVAL;

    s->bs = bs;
    s->side[0].name = "primary";
    s->side[1].name = "backup";
    s->nsides = 1;
    opts = qemu_opts_create(&runtime_opts, NULL, 0, &error_abort);
    if (!qemu_opts_absorb_qdict(opts, options, errp)) {
        goto fail;
    }
    if (!zdb_addr_from_opts(&s->side[0].addr, opts, "", NULL, errp)) {
        goto fail;
    }
    if (zdb_addr_given(opts, "thin-")) {
        if (!zdb_addr_from_opts(&s->thin_addr, opts, "thin-",
                                &s->side[0].addr, errp)) {
            goto fail;
        }
        found[nfound++] = &thin;
    }
    if (zdb_addr_given(opts, "backup-")) {
        if (!zdb_addr_from_opts(&s->side[1].addr, opts, "backup-",
                                &s->side[0].addr, errp)) {
            goto fail;
        }
        s->nsides = 2;
        found[nfound++] = &backup;
    }
    s->thin_cor = qemu_opt_get_bool(opts, "thin-copy-on-read", false);
    if (s->thin_cor && !s->thin_addr.namespace) {
        error_setg(errp, "zdb: thin-copy-on-read needs a thin base "
                   "(thin-namespace)");
        goto fail;
    }
    nconns = qemu_opt_get_number(opts, "connections",
                                 ZDB_DEFAULT_CONNECTIONS);
    if (nconns < 1 || nconns > ZDB_MAX_CONNECTIONS) {
        error_setg(errp, "zdb: connections must be from 1 to %d, not %"
                   PRIu64, ZDB_MAX_CONNECTIONS, nconns);
        goto fail;
    }
    timeout = qemu_opt_get_number(opts, "timeout", ZDB_DEFAULT_TIMEOUT);
    open_timeout = qemu_opt_get_number(opts, "open-timeout", 0);
    reconnect_delay = qemu_opt_get_number(opts, "reconnect-delay", 0);
    if (timeout > 3600 || open_timeout > 3600 || reconnect_delay > 3600) {
        error_setg(errp, "zdb: timeout, open-timeout and reconnect-delay "
                   "must be at most 3600 seconds");
        goto fail;
    }
    s->reconnect_delay_ms = reconnect_delay * 1000;

    ret = -EIO;
    if (!zdb_probe_side(&s->side[0].addr, open_timeout, &primary,
                        s->nsides > 1 ? &backup_err : errp)) {
        /* with a backup, an unreachable primary is survivable */
        if (s->nsides == 1 || !primary.unreachable) {
            error_propagate(errp, backup_err);
            goto fail;
        }
    }
    if (s->nsides > 1 &&
        !zdb_probe_side(&s->side[1].addr, open_timeout, &backup, errp)) {
        if (!backup.unreachable || primary.unreachable) {
            error_free(backup_err);
            goto fail;
        }
        warn_report_err(*errp);
        *errp = NULL;
    }
    if (backup_err) {
        warn_report_err(backup_err);
    }
    if (s->thin_addr.namespace &&
        !zdb_probe_side(&s->thin_addr, open_timeout, &thin, errp)) {
        goto fail;
    }
    ret = -EINVAL;
    if (!zdb_settle_geometry(s, opts, found, nfound, errp)) {
        goto fail;
    }
    if (primary.read_only || backup.read_only) {
        ret = bdrv_apply_auto_read_only(bs, "zdb: the namespace is read-only "
                                        "for this client (protected without "
                                        "password, or locked)", errp);
        if (ret < 0) {
            goto fail;
        }
    }
    if (s->nsides > 1) {
        zdb_settle_sides(s, &primary, &backup);
    }

    s->ctx = bdrv_get_aio_context(bs);
    QTAILQ_INIT(&s->writes);
    qemu_co_queue_init(&s->write_queue);
    qemu_co_mutex_init(&s->meta_lock);
    for (t = 0; t < s->nsides; t++) {
        s->side[t].pool = zdb_pool_new(&s->side[t].addr, nconns, timeout,
                                       bdrv_get_aio_context(bs));
    }
    if (s->thin_addr.namespace) {
        /* only ever read: the base is shared by many disks */
        s->thin = zdb_pool_new(&s->thin_addr, nconns, timeout,
                               bdrv_get_aio_context(bs));
    }
    if (s->nsides > 1 && !bdrv_is_read_only(bs)) {
        zdb_backup_init(s);
    }
    bs->supported_zero_flags = BDRV_REQ_MAY_UNMAP | BDRV_REQ_NO_FALLBACK;
    trace_zdb_open(bs, s->side[0].addr.namespace, s->size, s->blocksize,
                   nconns);
    qemu_opts_del(opts);
    return 0;

fail:
    qemu_opts_del(opts);
    for (t = 0; t < 2; t++) {
        zdb_addr_clear(&s->side[t].addr);
        g_free(s->side[t].dirty);
        s->side[t].dirty = NULL;
    }
    zdb_addr_clear(&s->thin_addr);
    return ret;
}

static void zdb_close(BlockDriverState *bs)
{
    BDRVZdbState *s = bs->opaque;
    int t;

    zdb_backup_cleanup(s);
    for (t = 0; t < s->nsides; t++) {
        zdb_pool_free(s->side[t].pool);
        zdb_addr_clear(&s->side[t].addr);
        g_free(s->side[t].dirty);
    }
    zdb_pool_free(s->thin);
    zdb_addr_clear(&s->thin_addr);
}

static void zdb_refresh_limits(BlockDriverState *bs, Error **errp)
{
    BDRVZdbState *s = bs->opaque;

    /* partial blocks are read-modify-written here (zdb_co_write) */
    bs->bl.request_alignment = BDRV_SECTOR_SIZE;
    bs->bl.pwrite_zeroes_alignment = s->blocksize;
    bs->bl.pdiscard_alignment = s->blocksize;
    bs->bl.opt_transfer = s->blocksize;
}

/*
 * A zdb:// filename that reopens the same disk, when one can: a disk with
 * a password, a base or a backup gets a json: filename from the block
 * layer instead (and a password is never put in a filename tools print).
 */
static void zdb_refresh_filename(BlockDriverState *bs)
{
    BDRVZdbState *s = bs->opaque;
    const ZdbAddr *a = &s->side[0].addr;
    g_autofree char *ns = g_uri_escape_string(a->namespace, NULL, false);
    g_autofree char *query = NULL;

    if (a->password || s->thin || s->nsides > 1) {
        return;
    }
    /* the geometry goes in only where the namespace does not record it */
    if (!s->side[0].has_meta) {
        query = g_strdup_printf("size=%" PRIu64 "&blocksize=%" PRIu32,
                                s->size, s->blocksize);
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
    int t;

    zdb_backup_detach(s);
    for (t = 0; t < s->nsides; t++) {
        zdb_pool_detach_aio_context(s->side[t].pool);
    }
    if (s->thin) {
        zdb_pool_detach_aio_context(s->thin);
    }
}

static void zdb_attach_aio_context(BlockDriverState *bs,
                                   AioContext *new_context)
{
    BDRVZdbState *s = bs->opaque;
    int t;

    s->ctx = new_context;
    for (t = 0; t < s->nsides; t++) {
        zdb_pool_attach_aio_context(s->side[t].pool, new_context);
    }
    if (s->thin) {
        zdb_pool_attach_aio_context(s->thin, new_context);
    }
    zdb_backup_attach(s, new_context);
}

static void zdb_drain_begin(BlockDriverState *bs)
{
    zdb_backup_quiesce(bs->opaque, true);
}

static void zdb_drain_end(BlockDriverState *bs)
{
    zdb_backup_quiesce(bs->opaque, false);
}

static ZdbNamespaceInfo *zdb_namespace_info(BDRVZdbState *s,
                                            const ZdbAddr *addr,
                                            ZdbSide *side)
{
    ZdbNamespaceInfo *info = g_new0(ZdbNamespaceInfo, 1);

    info->server = zdb_addr_describe(addr);
    info->q_namespace = g_strdup(addr->namespace);
    if (side && s->nsides > 1) {
        info->has_state = true;
        info->state = side->state;
        info->has_generation = true;
        info->generation = side->generation;
        info->has_behind_blocks = true;
        info->behind_blocks = bitmap_count_one(side->dirty, s->nblocks);
    }
    return info;
}

static ImageInfoSpecific *zdb_get_specific_info(BlockDriverState *bs,
                                                Error **errp)
{
    BDRVZdbState *s = bs->opaque;
    ImageInfoSpecific *spec = g_new0(ImageInfoSpecific, 1);
    ImageInfoSpecificZdb *zdb = g_new0(ImageInfoSpecificZdb, 1);

    spec->type = IMAGE_INFO_SPECIFIC_KIND_ZDB;
    spec->u.zdb.data = zdb;
    zdb->blocksize = s->blocksize;
    zdb->layout_version = s->side[0].has_meta ? ZDB_LAYOUT_VERSION : 0;
    zdb->primary = zdb_namespace_info(s, &s->side[0].addr, &s->side[0]);
    if (s->nsides > 1) {
        zdb->backup = zdb_namespace_info(s, &s->side[1].addr, &s->side[1]);
    }
    if (s->thin) {
        zdb->thin = zdb_namespace_info(s, &s->thin_addr, NULL);
        zdb->has_thin_copy_on_read = true;
        zdb->thin_copy_on_read = s->thin_cor;
    }
    return spec;
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
        {
            .name = "password-secret",
            .type = QEMU_OPT_STRING,
            .help = "ID of the secret object with the namespace password",
        },
        { /* end of list */ }
    },
};

/*
 * Records geometry @g of a new disk in the namespace at @addr.  It must
 * exist (0-db namespaces are made by the operator), be writable and hold
 * no blocks (the metadata of an earlier create aside): a disk created over
 * old blocks would show their data.
 */
static int zdb_create(const ZdbAddr *addr, const ZdbGeometry *g,
                      Error **errp)
{
    ZdbGeometry old;
    redisContext *c;
    redisReply *r;
    const char *dbsize[] = { "DBSIZE" };
    bool read_only;
    long long keys;
    int found, ret = -EIO;

    if (!zdb_check_size(g->size, errp) ||
        !zdb_check_blocksize(g->blocksize, errp)) {
        return -EINVAL;
    }
    c = zdb_sync_connect(addr, ZDB_OPEN_TIMEOUT, 0, NULL, errp);
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
    r = zdb_sync_command(c, addr, errp, 1, dbsize, NULL);
    if (!r) {
        goto out;
    }
    keys = r->type == REDIS_REPLY_INTEGER ? r->integer : -1;
    freeReplyObject(r);
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

static int coroutine_fn zdb_co_create_opts(BlockDriver *drv,
                                           const char *filename,
                                           QemuOpts *opts, Error **errp)
{
    ERRP_GUARD();
    g_autoptr(QDict) options = qdict_new();
    QemuOpts *ropts = NULL;
    ZdbAddr addr = { 0 };
    ZdbGeometry g = { 0 };
    int ret = -EINVAL;
    static const char *const passed[] = {
        "namespace", "password", "password-secret", "blocksize",
    };
    size_t i;

    if (strstart(filename, "zdb", NULL)) {
        zdb_parse_filename(filename, options, errp);
        if (*errp) {
            return -EINVAL;
        }
    }
    for (i = 0; i < ARRAY_SIZE(passed); i++) {
        const char *v = qemu_opt_get(opts, passed[i]);

        if (v) {
            qdict_put_str(options, passed[i], v);
        }
    }
    ropts = qemu_opts_create(&runtime_opts, NULL, 0, &error_abort);
    if (qemu_opts_absorb_qdict(ropts, options, errp) &&
        zdb_addr_from_opts(&addr, ropts, "", NULL, errp)) {
        /* as for a file, the block layer counts whole 512-byte sectors */
        g.size = ROUND_UP(qemu_opt_get_size(opts, BLOCK_OPT_SIZE, 0),
                          BDRV_SECTOR_SIZE);
        g.blocksize = qemu_opt_get_size(ropts, "blocksize",
                                        ZDB_DEFAULT_BLOCKSIZE);
        ret = zdb_create(&addr, &g, errp);
    }
    qemu_opts_del(ropts);
    zdb_addr_clear(&addr);
    return ret;
}

/*
 * blockdev-create: @location says where, as blockdev-add's options do
 * (they go through the same parsing, secrets included); the geometry is
 * given beside it.  A disk is made in one namespace: thin and backup
 * members, and a size or blocksize inside @location, are refused rather
 * than silently ignored.
 */
static int coroutine_fn zdb_co_create(BlockdevCreateOptions *options,
                                      Error **errp)
{
    BlockdevCreateOptionsZdb *o = &options->u.zdb;
    g_autoptr(QDict) loc = NULL;
    const QDictEntry *e;
    QObject *obj = NULL;
    QemuOpts *ropts = NULL;
    ZdbAddr addr = { 0 };
    ZdbGeometry g = {
        .size = ROUND_UP(o->size, BDRV_SECTOR_SIZE),
        .blocksize = o->has_blocksize ? o->blocksize : ZDB_DEFAULT_BLOCKSIZE,
    };
    Visitor *v;
    int ret = -EINVAL;

    assert(options->driver == BLOCKDEV_DRIVER_ZDB);
    v = qobject_output_visitor_new(&obj);
    visit_type_BlockdevOptionsZdb(v, NULL, &o->location, &error_abort);
    visit_complete(v, &obj);
    visit_free(v);
    loc = qobject_to(QDict, obj);

    for (e = qdict_first(loc); e; e = qdict_next(loc, e)) {
        const char *key = qdict_entry_key(e);

        bool other_ns = strstart(key, "thin-", NULL) ||
                        strstart(key, "backup-", NULL);

        if (other_ns || !strcmp(key, "size") || !strcmp(key, "blocksize")) {
            error_setg(errp, "zdb: location.%s is not used by blockdev-create"
                       ": %s", key, other_ns
                       ? "a disk is created in one namespace"
                       : "give it beside location");
            return -EINVAL;
        }
    }
    ropts = qemu_opts_create(&runtime_opts, NULL, 0, &error_abort);
    if (qemu_opts_absorb_qdict(ropts, loc, errp) &&
        zdb_addr_from_opts(&addr, ropts, "", NULL, errp)) {
        ret = zdb_create(&addr, &g, errp);
    }
    qemu_opts_del(ropts);
    zdb_addr_clear(&addr);
    return ret;
}

/*
 * Requests may come from any thread (multiqueue block layer), but the
 * connections live in one AioContext: a request from elsewhere moves
 * there for its duration, so that hiredis is only ever used by one thread.
 */
static AioContext *coroutine_fn zdb_co_go_home(BDRVZdbState *s)
{
    AioContext *caller = qemu_get_current_aio_context();

    if (caller != s->ctx) {
        aio_co_reschedule_self(s->ctx);
    }
    return caller;
}

static void coroutine_fn zdb_co_go_back(BDRVZdbState *s, AioContext *caller)
{
    if (caller != s->ctx) {
        aio_co_reschedule_self(caller);
    }
}

#define ZDB_AT_HOME(bs, call) ({                                    \
    BDRVZdbState *s_ = (bs)->opaque;                                \
    AioContext *caller_ = zdb_co_go_home(s_);                       \
    typeof(call) r_ = (call);                                       \
    zdb_co_go_back(s_, caller_);                                    \
    r_;                                                             \
})

static int coroutine_fn GRAPH_RDLOCK
zdb_co_preadv(BlockDriverState *bs, int64_t offset, int64_t bytes,
              QEMUIOVector *qiov, BdrvRequestFlags flags)
{
    return ZDB_AT_HOME(bs, zdb_home_preadv(bs, offset, bytes, qiov, flags));
}

static int coroutine_fn GRAPH_RDLOCK
zdb_co_pwritev(BlockDriverState *bs, int64_t offset, int64_t bytes,
               QEMUIOVector *qiov, BdrvRequestFlags flags)
{
    return ZDB_AT_HOME(bs, zdb_home_pwritev(bs, offset, bytes, qiov, flags));
}

static int coroutine_fn GRAPH_RDLOCK
zdb_co_pwrite_zeroes(BlockDriverState *bs, int64_t offset, int64_t bytes,
                     BdrvRequestFlags flags)
{
    return ZDB_AT_HOME(bs, zdb_home_pwrite_zeroes(bs, offset, bytes, flags));
}

static int coroutine_fn GRAPH_RDLOCK
zdb_co_pdiscard(BlockDriverState *bs, int64_t offset, int64_t bytes)
{
    return ZDB_AT_HOME(bs, zdb_home_pdiscard(bs, offset, bytes));
}

static int coroutine_fn GRAPH_RDLOCK zdb_co_flush(BlockDriverState *bs)
{
    return ZDB_AT_HOME(bs, zdb_home_flush(bs));
}

static int coroutine_fn GRAPH_RDLOCK
zdb_co_block_status(BlockDriverState *bs, bool want_zero, int64_t offset,
                    int64_t bytes, int64_t *pnum, int64_t *map,
                    BlockDriverState **file)
{
    return ZDB_AT_HOME(bs, zdb_home_block_status(bs, want_zero, offset,
                                                 bytes, pnum, map, file));
}

static void coroutine_fn GRAPH_RDLOCK
zdb_co_invalidate_cache(BlockDriverState *bs, Error **errp)
{
    BDRVZdbState *s = bs->opaque;
    AioContext *caller = zdb_co_go_home(s);

    zdb_home_invalidate_cache(bs, errp);
    zdb_co_go_back(s, caller);
}

static int coroutine_fn GRAPH_RDLOCK
zdb_co_truncate(BlockDriverState *bs, int64_t offset, bool exact,
                PreallocMode prealloc, BdrvRequestFlags flags, Error **errp)
{
    return ZDB_AT_HOME(bs, zdb_home_truncate(bs, offset, exact, prealloc,
                                             flags, errp));
}

/* A new disk reads as zeros, unless a thin base shows through it */
static int zdb_has_zero_init(BlockDriverState *bs)
{
    BDRVZdbState *s = bs->opaque;

    return !s->thin;
}

static BlockDriver bdrv_zdb = {
    .format_name                = "zdb",
    .protocol_name              = "zdb",
    .instance_size              = sizeof(BDRVZdbState),
    .bdrv_parse_filename        = zdb_parse_filename,
    .bdrv_open                  = zdb_open,
    .bdrv_close                 = zdb_close,
    .bdrv_co_create             = zdb_co_create,
    .bdrv_co_create_opts        = zdb_co_create_opts,
    .create_opts                = &zdb_create_opts,
    .bdrv_has_zero_init         = zdb_has_zero_init,
    .bdrv_co_preadv             = zdb_co_preadv,
    .bdrv_co_pwritev            = zdb_co_pwritev,
    .bdrv_co_pwrite_zeroes      = zdb_co_pwrite_zeroes,
    .bdrv_co_pdiscard           = zdb_co_pdiscard,
    .bdrv_co_flush_to_disk      = zdb_co_flush,
    .bdrv_co_block_status       = zdb_co_block_status,
    .bdrv_co_getlength          = zdb_co_getlength,
    .bdrv_co_truncate           = zdb_co_truncate,
    .bdrv_co_invalidate_cache   = zdb_co_invalidate_cache,
    .bdrv_refresh_limits        = zdb_refresh_limits,
    .bdrv_refresh_filename      = zdb_refresh_filename,
    .bdrv_detach_aio_context    = zdb_detach_aio_context,
    .bdrv_attach_aio_context    = zdb_attach_aio_context,
    .bdrv_drain_begin           = zdb_drain_begin,
    .bdrv_drain_end             = zdb_drain_end,
    .bdrv_get_specific_info     = zdb_get_specific_info,
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
    .bdrv_co_create             = zdb_co_create,
    .bdrv_co_create_opts        = zdb_co_create_opts,
    .create_opts                = &zdb_create_opts,
    .bdrv_has_zero_init         = zdb_has_zero_init,
    .bdrv_co_preadv             = zdb_co_preadv,
    .bdrv_co_pwritev            = zdb_co_pwritev,
    .bdrv_co_pwrite_zeroes      = zdb_co_pwrite_zeroes,
    .bdrv_co_pdiscard           = zdb_co_pdiscard,
    .bdrv_co_flush_to_disk      = zdb_co_flush,
    .bdrv_co_block_status       = zdb_co_block_status,
    .bdrv_co_getlength          = zdb_co_getlength,
    .bdrv_co_truncate           = zdb_co_truncate,
    .bdrv_co_invalidate_cache   = zdb_co_invalidate_cache,
    .bdrv_refresh_limits        = zdb_refresh_limits,
    .bdrv_refresh_filename      = zdb_refresh_filename,
    .bdrv_detach_aio_context    = zdb_detach_aio_context,
    .bdrv_attach_aio_context    = zdb_attach_aio_context,
    .bdrv_drain_begin           = zdb_drain_begin,
    .bdrv_drain_end             = zdb_drain_end,
    .bdrv_get_specific_info     = zdb_get_specific_info,
    .strong_runtime_opts        = zdb_strong_runtime_opts,
};

static void bdrv_zdb_init(void)
{
    bdrv_register(&bdrv_zdb);
    bdrv_register(&bdrv_zdb_unix);
}

block_init(bdrv_zdb_init);

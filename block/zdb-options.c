/*
 * zdb block driver: options, filenames, the geometry they settle on, and
 * creating a disk
 *
 * Copyright (c) 2026 the zdb driver authors
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#include "qemu/osdep.h"
#include "qapi/error.h"
#include "qobject/qbool.h"
#include "qobject/qdict.h"
#include "qobject/qnum.h"
#include "qobject/qstring.h"
#include "qemu/cutils.h"
#include "qemu/option.h"
#include "qemu/units.h"
#include "block/block_int.h"
#include "crypto/secret.h"
#include "qapi/qapi-visit-block-core.h"
#include "qapi/qobject-output-visitor.h"
#include "block/zdb-options.h"

#define ZDB_DEFAULT_PORT        9900
#define ZDB_DEFAULT_SIZE        (1 * GiB)
#define ZDB_DEFAULT_BLOCKSIZE   4096
#define ZDB_DEFAULT_CONNECTIONS 2
#define ZDB_MAX_CONNECTIONS     64
#define ZDB_DEFAULT_TIMEOUT     30          /* seconds */
#define ZDB_MAX_TIMEOUT         3600        /* seconds */
#define ZDB_PROBE_TIMEOUT       10          /* seconds */

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
            .help = "connections to each server (default: 2)",
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
            .name = "split-brain-keep",
            .type = QEMU_OPT_STRING,
            .help = "after a split brain, the side whose data is kept: "
                    "primary or backup",
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
            .name = "key-scan",
            .type = QEMU_OPT_BOOL,
            .help = "learn which blocks the namespace holds with SCAN "
                    "(default: on)",
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

const char *const zdb_strong_runtime_opts[] = {
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

/* What a zdb:// or zdb+unix:// filename says, into @options */
static bool zdb_parse_uri(const char *filename, QDict *options,
                          Error **errp)
{
    g_autoptr(GUri) uri = NULL;
    g_autoptr(GHashTable) qp = NULL;
    g_autoptr(GError) gerr = NULL;
    const char *scheme, *path, *host, *user, *query;
    bool is_unix;
    GHashTableIter iter;
    gpointer k, v;

    uri = g_uri_parse(filename, G_URI_FLAGS_NONE, &gerr);
    if (!uri) {
        error_setg(errp, "zdb: invalid filename '%s': %s", filename,
                   gerr->message);
        return false;
    }
    scheme = g_uri_get_scheme(uri);
    if (!g_strcmp0(scheme, "zdb")) {
        is_unix = false;
    } else if (!g_strcmp0(scheme, "zdb+unix")) {
        is_unix = true;
    } else {
        error_setg(errp, "zdb: filename '%s' must start with zdb:// or "
                   "zdb+unix://", filename);
        return false;
    }

    path = g_uri_get_path(uri) ?: "";
    while (path[0] == '/') {
        path++;
    }
    if (strchr(path, '/')) {
        error_setg(errp, "zdb: filename '%s': namespace '%s' must not "
                   "contain '/'", filename, path);
        return false;
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
            return false;
        }
        g_hash_table_iter_init(&iter, qp);
        while (g_hash_table_iter_next(&iter, &k, &v)) {
            if (strcmp(k, "size") && strcmp(k, "blocksize") &&
                strcmp(k, "connections") && (!is_unix || strcmp(k, "socket"))) {
                error_setg(errp, "zdb: filename '%s': unknown parameter '%s'",
                           filename, (char *)k);
                return false;
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
            return false;
        }
        if (!qdict_haskey(options, "socket")) {
            error_setg(errp, "zdb: filename '%s': zdb+unix needs "
                       "?socket=PATH", filename);
            return false;
        }
    } else {
        if (host && host[0]) {
            qdict_put_str(options, "host", host);
        }
        if (g_uri_get_port(uri) != -1) {
            qdict_put_int(options, "port", g_uri_get_port(uri));
        }
    }
    return true;
}


/* An option's value as text, whether it came as a string or a number */
static char *zdb_option_text(QObject *obj)
{
    QString *str = qobject_to(QString, obj);
    QNum *num = qobject_to(QNum, obj);
    QBool *b = qobject_to(QBool, obj);

    if (str) {
        return g_strdup(qstring_get_str(str));
    }
    if (num) {
        return qnum_to_string(num);
    }
    return g_strdup(b && qbool_get_bool(b) ? "on" : "off");
}

/*
 * With host, port, socket or namespace given as options too, the
 * filename must name the same disk: QEMU hands a backing file's recorded
 * name to a backing node given in full, as to a file node.
 */
void zdb_parse_filename(const char *filename, QDict *options, Error **errp)
{
    g_autoptr(QDict) named = qdict_new();
    const QDictEntry *e;

    if (!qdict_haskey(options, "host") && !qdict_haskey(options, "port") &&
        !qdict_haskey(options, "socket") &&
        !qdict_haskey(options, "namespace")) {
        zdb_parse_uri(filename, options, errp);
        return;
    }
    if (!zdb_parse_uri(filename, named, errp)) {
        return;
    }
    for (e = qdict_first(named); e; e = qdict_next(named, e)) {
        QObject *given = qdict_get(options, e->key);
        g_autofree char *want = zdb_option_text(e->value);
        g_autofree char *have = given ? zdb_option_text(given) : NULL;

        if (have && strcmp(have, want)) {
            error_setg(errp, "zdb: filename '%s' says %s '%s', the %s "
                       "option '%s'", filename, e->key,
                       strcmp(e->key, "password") ? want : "...", e->key,
                       strcmp(e->key, "password") ? have : "...");
            return;
        }
        if (!have) {
            qdict_put_obj(options, e->key, qobject_ref(e->value));
        }
    }
}

bool zdb_options_parse(QDict *options, ZdbOptions *o, Error **errp)
{
    QemuOpts *opts = qemu_opts_create(&runtime_opts, NULL, 0, &error_abort);
    uint64_t connections, timeout, open_timeout, reconnect_delay;
    const char *keep;
    bool ok = false;

    memset(o, 0, sizeof(*o));
    if (!qemu_opts_absorb_qdict(opts, options, errp) ||
        !zdb_addr_from_opts(&o->disk, opts, "", NULL, errp)) {
        goto out;
    }
    if (zdb_addr_given(opts, "thin-") &&
        !zdb_addr_from_opts(&o->thin, opts, "thin-", &o->disk, errp)) {
        goto out;
    }
    if (zdb_addr_given(opts, "backup-") &&
        !zdb_addr_from_opts(&o->backup, opts, "backup-", &o->disk, errp)) {
        goto out;
    }
    o->thin_copy_on_read = qemu_opt_get_bool(opts, "thin-copy-on-read",
                                             false);
    o->key_scan = qemu_opt_get_bool(opts, "key-scan", true);
    if (o->thin_copy_on_read && !o->thin.namespace) {
        error_setg(errp, "zdb: thin-copy-on-read needs a thin base "
                   "(thin-namespace)");
        goto out;
    }
    keep = qemu_opt_get(opts, "split-brain-keep");
    if (keep && !o->backup.namespace) {
        error_setg(errp, "zdb: split-brain-keep needs a backup "
                   "(backup-namespace)");
        goto out;
    }
    if (keep && strcmp(keep, "primary") && strcmp(keep, "backup")) {
        error_setg(errp, "zdb: split-brain-keep must be primary or backup, "
                   "not '%s'", keep);
        goto out;
    }
    o->keep = !keep ? ZDB_KEEP_NONE : !strcmp(keep, "primary")
              ? ZDB_KEEP_PRIMARY : ZDB_KEEP_BACKUP;
    o->size_given = qemu_opt_get(opts, "size");
    o->blocksize_given = qemu_opt_get(opts, "blocksize");
    o->size = qemu_opt_get_size(opts, "size", ZDB_DEFAULT_SIZE);
    o->blocksize = qemu_opt_get_size(opts, "blocksize",
                                     ZDB_DEFAULT_BLOCKSIZE);
    if (!zdb_geometry_check_size(o->size, errp) ||
        !zdb_geometry_check_blocksize(o->blocksize, errp)) {
        goto out;
    }
    connections = qemu_opt_get_number(opts, "connections",
                                      ZDB_DEFAULT_CONNECTIONS);
    if (connections < 1 || connections > ZDB_MAX_CONNECTIONS) {
        error_setg(errp, "zdb: connections must be from 1 to %d, not %"
                   PRIu64, ZDB_MAX_CONNECTIONS, connections);
        goto out;
    }
    timeout = qemu_opt_get_number(opts, "timeout", ZDB_DEFAULT_TIMEOUT);
    open_timeout = qemu_opt_get_number(opts, "open-timeout", 0);
    reconnect_delay = qemu_opt_get_number(opts, "reconnect-delay", 0);
    if (timeout > ZDB_MAX_TIMEOUT || open_timeout > ZDB_MAX_TIMEOUT ||
        reconnect_delay > ZDB_MAX_TIMEOUT) {
        error_setg(errp, "zdb: timeout, open-timeout and reconnect-delay "
                   "must be at most %d seconds", ZDB_MAX_TIMEOUT);
        goto out;
    }
    o->connections = connections;
    o->timeout_s = timeout;
    o->open_timeout_s = open_timeout;
    o->reconnect_delay_s = reconnect_delay;
    /* no option makes open wait for a silent server longer than asked */
    o->probe_timeout_s = MIN(ZDB_PROBE_TIMEOUT, timeout ?: ZDB_PROBE_TIMEOUT);
    if (open_timeout) {
        o->probe_timeout_s = MIN(o->probe_timeout_s, open_timeout);
    }
    ok = true;
out:
    qemu_opts_del(opts);
    if (!ok) {
        zdb_options_clear(o);
    }
    return ok;
}

void zdb_options_clear(ZdbOptions *o)
{
    zdb_addr_clear(&o->disk);
    zdb_addr_clear(&o->backup);
    zdb_addr_clear(&o->thin);
}

bool zdb_settle_geometry(const ZdbOptions *o, const ZdbProbe *const *probes,
                         int n,
                         ZdbMeta *g, Error **errp)
{
    const char *from = NULL;
    int i;

    g->size = o->size;
    g->blocksize = o->blocksize;
    g->generation = 0;
    for (i = 0; i < n; i++) {
        const ZdbProbe *p = probes[i];

        if (!p->found) {
            continue;
        }
        if (from) {
            if (p->g.size != g->size || p->g.blocksize != g->blocksize) {
                error_setg(errp, "zdb: the %s records size %" PRIu64
                           " blocksize %" PRIu64 " but the %s records size %"
                           PRIu64 " blocksize %" PRIu64, from, g->size,
                           g->blocksize, p->role, p->g.size, p->g.blocksize);
                return false;
            }
            continue;
        }
        if (o->size_given && g->size != p->g.size) {
            error_setg(errp, "zdb: size=%" PRIu64 " disagrees with the size "
                       "%" PRIu64 " recorded in the %s", g->size, p->g.size,
                       p->role);
            return false;
        }
        if (o->blocksize_given && g->blocksize != p->g.blocksize) {
            error_setg(errp, "zdb: blocksize=%" PRIu64 " disagrees with the "
                       "blocksize %" PRIu64 " recorded in the %s",
                       g->blocksize, p->g.blocksize, p->role);
            return false;
        }
        g->size = p->g.size;
        g->blocksize = p->g.blocksize;
        from = p->role;
    }
    return true;
}

QemuOptsList zdb_create_opts = {
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
 * Creates a disk of geometry @g in the namespace that @location names, as
 * blockdev-add's options do (secrets included); a blocksize in @location
 * (from a filename's query) overrides @g's.
 */
static int zdb_create_in(QDict *location, ZdbMeta *g, Error **errp)
{
    QemuOpts *opts = qemu_opts_create(&runtime_opts, NULL, 0, &error_abort);
    ZdbAddr addr = { 0 };
    int ret = -EINVAL;

    if (qemu_opts_absorb_qdict(opts, location, errp) &&
        zdb_addr_from_opts(&addr, opts, "", NULL, errp)) {
        g->blocksize = qemu_opt_get_size(opts, "blocksize", g->blocksize);
        ret = zdb_store_create(&addr, g, errp);
    }
    qemu_opts_del(opts);
    zdb_addr_clear(&addr);
    return ret;
}

int zdb_create_from_opts(const char *filename, QemuOpts *opts, Error **errp)
{
    ERRP_GUARD();
    g_autoptr(QDict) location = qdict_new();
    static const char *const passed[] = {
        "namespace", "password", "password-secret", "blocksize",
    };
    ZdbMeta g = {
        /* as for a file, the block layer counts whole 512-byte sectors */
        .size = ROUND_UP(qemu_opt_get_size(opts, BLOCK_OPT_SIZE, 0),
                         BDRV_SECTOR_SIZE),
        .blocksize = ZDB_DEFAULT_BLOCKSIZE,
    };
    size_t i;

    if (strstart(filename, "zdb", NULL)) {
        zdb_parse_filename(filename, location, errp);
        if (*errp) {
            return -EINVAL;
        }
    }
    for (i = 0; i < ARRAY_SIZE(passed); i++) {
        const char *v = qemu_opt_get(opts, passed[i]);

        if (v) {
            qdict_put_str(location, passed[i], v);
        }
    }
    return zdb_create_in(location, &g, errp);
}

/*
 * blockdev-create: @location says where; the geometry is given beside it.
 * A disk is made in one namespace: thin and backup members, and a size or
 * blocksize inside @location, are refused rather than silently ignored.
 */
int zdb_create_from_qapi(BlockdevCreateOptionsZdb *o, Error **errp)
{
    g_autoptr(QDict) location = NULL;
    const QDictEntry *e;
    QObject *obj = NULL;
    ZdbMeta g = {
        .size = ROUND_UP(o->size, BDRV_SECTOR_SIZE),
        .blocksize = o->has_blocksize ? o->blocksize : ZDB_DEFAULT_BLOCKSIZE,
    };
    Visitor *v;

    v = qobject_output_visitor_new(&obj);
    visit_type_BlockdevOptionsZdb(v, NULL, &o->location, &error_abort);
    visit_complete(v, &obj);
    visit_free(v);
    location = qobject_to(QDict, obj);

    for (e = qdict_first(location); e; e = qdict_next(location, e)) {
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
    return zdb_create_in(location, &g, errp);
}

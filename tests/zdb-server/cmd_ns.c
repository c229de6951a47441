/*
 * Namespace commands: SELECT, NSNEW, NSDEL, NSLIST, NSSET, NSINFO,
 * RELOAD, FLUSH (0-db v2.0.7, zdbd/commands_namespace.c).
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <sys/statvfs.h>
#include "aof.h"
#include "commands.h"

/* 0-db's COMMAND_MAXLEN: longest NSSET property or value it copies */
#define NSSET_ARG_MAX 256

void cmd_select(Client *c, Request *req)
{
    char name[ZS_NS_NAME_MAX + 1];
    Namespace *ns;
    bool writable = true;

    if (req->argc < 2) {
        reply_error(c, "Invalid argument");
        return;
    }
    if (!cmd_ns_name(c, &req->argv[1], name)) {
        return;
    }
    ns = ns_find(name);
    if (!ns) {
        reply_error(c, "Namespace not found");
        return;
    }

    /* without a password, extra arguments are ignored */
    if (ns->password) {
        if (req->argc < 3) {
            if (!ns->public) {
                reply_error(c, "Namespace protected and private");
                return;
            }
            /* public: anyone may read, only the password holder write */
            writable = false;
        } else if (req->argc > 4) {
            reply_error(c, "Too many arguments");
            return;
        } else if (req->argc == 3) {
            char pw[ZS_PASSWORD_MAX + 1];

            if (req->argv[2].len > ZS_PASSWORD_MAX) {
                reply_error(c, "Password too long");
                return;
            }
            cmd_cstr(&req->argv[2], pw, sizeof(pw));
            if (strcmp(pw, ns->password) != 0) {
                reply_error(c, "Access denied");
                return;
            }
            stats.select_plain++;
        } else {
            const Arg *method = &req->argv[2];

            /* 0-db compares over the argument's length: "S" is SECURE */
            if (strncasecmp((const char *)method->buf, "SECURE",
                            method->len) != 0) {
                reply_error(c, "Only SECURE extra method supported");
                return;
            }
            if (!auth_secure_check(c, &req->argv[3], ns->password)) {
                return;
            }
            stats.select_secure++;
        }
    }

    c->ns = ns;
    c->writable = writable;
    reply_status(c, "OK");
}

void cmd_nsnew(Client *c, Request *req)
{
    char name[ZS_NS_NAME_MAX + 1];

    if (!cmd_admin(c) || !cmd_args(c, req, 2, false) ||
        !cmd_ns_name(c, &req->argv[1], name)) {
        return;
    }
    if (!ns_name_valid(name)) {
        reply_error(c, "This name is not allowed");
        return;
    }
    if (ns_find(name)) {
        reply_error(c, "This namespace is not available");
        return;
    }
    if (!aof_nsnew(name)) {
        reply_error(c, "Could not create namespace");
        return;
    }
    ns_create(name);
    reply_status(c, "OK");
}

void cmd_nsdel(Client *c, Request *req)
{
    char name[ZS_NS_NAME_MAX + 1];
    Namespace *ns;
    Client *o;

    if (!cmd_admin(c) || !cmd_args(c, req, 2, false) ||
        !cmd_ns_name(c, &req->argv[1], name)) {
        return;
    }
    if (strcmp(name, "default") == 0) {
        reply_error(c, "Cannot remove default namespace");
        return;
    }
    ns = ns_find(name);
    if (!ns) {
        reply_error(c, "This namespace doesn't exists");
        return;
    }
    if (c->ns == ns) {
        reply_error(c, "Cannot remove namespace you're currently using.");
        return;
    }
    if (!aof_nsdel(name)) {
        reply_error(c, "Could not delete this namespace");
        return;
    }
    /* other users of it are told on their next command, then dropped */
    for (o = client_first(); o; o = o->next) {
        if (o->ns == ns) {
            o->ns = NULL;
        }
    }
    ns_delete(ns);
    reply_status(c, "OK");
}

void cmd_nslist(Client *c, Request *req)
{
    char hdr[32];
    size_t slot = 0;
    Namespace *ns;

    /* 0-db streams it: one send() for the header, then one per name */
    reply_raw(c, hdr, snprintf(hdr, sizeof(hdr), "*%zu\r\n", ns_count()));
    while ((ns = ns_iter(&slot))) {
        reply_bulk(c, ns->name, strlen(ns->name));
    }
}

void cmd_nsset(Client *c, Request *req)
{
    char name[ZS_NS_NAME_MAX + 1], prop[NSSET_ARG_MAX + 1];
    char value[ZS_NSSET_VALUE_MAX + 1];
    Namespace *ns;
    const char *err;

    if (!cmd_admin(c) || !cmd_args(c, req, 4, false) ||
        !cmd_ns_name(c, &req->argv[1], name)) {
        return;
    }
    if (req->argv[2].len > NSSET_ARG_MAX || req->argv[3].len > NSSET_ARG_MAX) {
        reply_error(c, "Argument too long");
        return;
    }
    if (req->argv[3].len > ZS_NSSET_VALUE_MAX) {
        reply_error(c, "Invalid value");
        return;
    }
    if (strcmp(name, "default") == 0) {
        reply_error(c, "Cannot update default namespace");
        return;
    }
    ns = ns_find(name);
    if (!ns) {
        reply_error(c, "Namespace not found");
        return;
    }
    cmd_cstr(&req->argv[2], prop, sizeof(prop));
    cmd_cstr(&req->argv[3], value, sizeof(value));

    err = ns_set_property(ns, prop, value);
    if (err) {
        reply_error(c, err);
        return;
    }
    if (!aof_nsset(name, prop, value)) {
        reply_error(c, "Could not update namespace");
        return;
    }
    reply_status(c, "OK");
}

static size_t disk_free(void)
{
    struct statvfs st;

    if (statvfs(config.datadir ? config.datadir : "/", &st) < 0) {
        return 0;
    }
    return (size_t)st.f_bsize * st.f_bavail;
}

void cmd_nsinfo(Client *c, Request *req)
{
    char name[ZS_NS_NAME_MAX + 1], info[8192];
    Namespace *ns;
    uint64_t id;
    size_t len, dfree;
    const char *root;

    if (!cmd_args(c, req, 2, false) || !cmd_ns_name(c, &req->argv[1], name)) {
        return;
    }
    ns = ns_find(name);
    if (!ns) {
        reply_error(c, "Namespace not found");
        return;
    }
    id = __builtin_bswap64(ns->nextid);
    root = config.datadir ? config.datadir : "/memory";
    dfree = disk_free();

    /* 0-db's fields, in its order; sizes of its files are estimates */
    len = snprintf(info, sizeof(info),
                   "# namespace\n"
                   "name: %s\n"
                   "entries: %llu\n"
                   "public: %s\n"
                   "worm: %s\n"
                   "locked: %s\n"
                   "password: %s\n"
                   "data_size_bytes: %llu\n"
                   "data_size_mb: %.2f\n"
                   "data_limits_bytes: %llu\n"
                   "index_size_bytes: %llu\n"
                   "index_size_kb: %.2f\n"
                   "next_internal_id: 0x%08llx\n"
                   "mode: %s\n"
                   "stats_index_io_errors: 0\n"
                   "stats_index_io_error_last: 0\n"
                   "stats_index_faults: 0\n"
                   "stats_data_io_errors: 0\n"
                   "stats_data_io_error_last: 0\n"
                   "stats_data_faults: 0\n",
                   ns->name,
                   (unsigned long long)ns->entries,
                   ns->public ? "yes" : "no",
                   ns->worm ? "yes" : "no",
                   ns->lock != NS_UNLOCKED ? "yes" : "no",
                   ns->password ? "yes" : "no",
                   (unsigned long long)ns->datasize,
                   ns->datasize / (1024.0 * 1024.0),
                   (unsigned long long)ns->maxsize,
                   (unsigned long long)ns->indexsize,
                   ns->indexsize / 1024.0,
                   (unsigned long long)id,
                   ns->mode == NS_MODE_SEQ ? "sequential" : "userkey");
    if (ns->maxsize) {
        /* unsigned like 0-db's size_t: wraps when over the limit */
        len += snprintf(info + len, sizeof(info) - len,
                        "space_available: %llu\n",
                        (unsigned long long)(ns->maxsize - ns->datasize));
    }
    len += snprintf(info + len, sizeof(info) - len,
                    "index_disk_freespace_bytes: %zu\n"
                    "index_disk_freespace_mb: %.2f\n"
                    "data_disk_freespace_bytes: %zu\n"
                    "data_disk_freespace_mb: %.2f\n",
                    dfree, dfree / (1024.0 * 1024.0),
                    dfree, dfree / (1024.0 * 1024.0));
    /*
     * Where the append log is now, the one trace of the writes since the
     * namespace began: 0-db tells admin clients only
     */
    if (c->admin) {
        len += snprintf(info + len, sizeof(info) - len,
                        "data_path: %s/data/%s\n"
                        "data_active: %s/data/%s/d%u\n"
                        "index_path: %s/index/%s\n"
                        "index_active: %s/index/%s/i%u\n"
                        "data_current_id: %u\n"
                        "data_current_offset: %llu\n",
                        root, ns->name, root, ns->name, ns->fileid,
                        root, ns->name, root, ns->name, ns->fileid,
                        ns->fileid, (unsigned long long)ns->data_offset);
    }
    reply_bulk(c, info, len < sizeof(info) ? len : sizeof(info) - 1);
}

void cmd_reload(Client *c, Request *req)
{
    char name[ZS_NS_NAME_MAX + 1];

    if (!cmd_admin(c) || !cmd_args(c, req, 2, false) ||
        !cmd_ns_name(c, &req->argv[1], name)) {
        return;
    }
    if (!ns_find(name)) {
        reply_error(c, "Namespace not found");
        return;
    }
    /* memory is always what the log says: nothing to reload */
    reply_status(c, "OK");
}

void cmd_flush(Client *c, Request *req)
{
    Namespace *ns = c->ns;

    /* 0-db checks nothing else: not admin, lock or read-only view */
    if (ns->public || !ns->password) {
        reply_error(c, "Flushing public namespace denied");
        return;
    }
    /*
     * 0-db v2.0.7's namespace_flush() unlinks only files named like
     * those of 0-db v1 (zdb-data-*, zdb-index-*) and then reloads the
     * namespace from its v2 files (d0, i0, ...), which it left in place:
     * the answer is +OK and every key is still there (measured).
     */
    reply_status(c, "OK");
}

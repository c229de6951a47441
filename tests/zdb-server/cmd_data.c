/*
 * Data commands: SET, GET, MGET, DEL, EXISTS, CHECK, DBSIZE.
 *
 * The checks run in the order of 0-db v2.0.7 (zdbd/commands_set.c,
 * commands_get.c, commands_dataset.c), so that a request that breaks
 * several rules gets the same error as from 0-db.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include "aof.h"
#include "commands.h"
#include "fault.h"

/* Writes: read-only view, then frozen, then locked (frozen is locked too) */
static bool check_writable(Client *c)
{
    if (!c->writable) {
        reply_error(c, "Namespace is in read-only mode");
        return false;
    }
    if (!check_frozen(c)) {
        return false;
    }
    if (c->ns->lock != NS_UNLOCKED) {
        reply_error(c, "Namespace is temporarily locked (read-only)");
        return false;
    }
    return true;
}

/*
 * 0-db answers nil when the new value's CRC32-C equals the stored one's
 * and then its length and bytes do too (data_compare_matching()).
 */
static bool same_value(const Entry *e, const Arg *v)
{
    return e->vlen == v->len && memcmp(entry_value(e), v->buf, v->len) == 0;
}

void cmd_set(Client *c, Request *req)
{
    Namespace *ns = c->ns;
    const Arg *key, *val;
    unsigned char seqkey[ZS_SEQ_KEY_LEN];
    const void *k;
    size_t klen;
    Entry *e = NULL;
    uint32_t ts;

    if (req->argc == 4) {
        /* SET key value timestamp: admin only (replication) */
        if (!cmd_admin(c)) {
            return;
        }
    } else if (!cmd_args(c, req, 3, true)) {
        return;
    }
    key = &req->argv[1];
    val = &req->argv[2];
    if (req->argc == 4) {
        /* 0-db's timestamp_from_set(): atoll() of the argument */
        char tbuf[32];

        cmd_cstr(&req->argv[3], tbuf, sizeof(tbuf));
        ts = (uint32_t)atoll(tbuf);
    } else {
        ts = (uint32_t)time(NULL);
    }

    if (key->len > ZS_MAX_KEY) {
        reply_error(c, "Key too large");
        return;
    }
    if (!check_writable(c)) {
        return;
    }
    if (key->len) {
        e = ns_get(ns, key->buf, key->len);
    }
    if (e && ns->worm) {
        reply_error(c, "Namespace is protected by worm mode");
        return;
    }
    if (ns->maxsize) {
        /* replacing a value frees the old one's room */
        uint64_t limit = ns->maxsize + (e ? e->vlen : 0);

        if (ns->datasize + val->len > limit) {
            reply_error(c, "No space left on this namespace");
            return;
        }
    }

    if (ns->mode == NS_MODE_SEQ) {
        if (key->len && !e) {
            reply_error(c, "Invalid key, only update authorized");
            return;
        }
        if (e) {
            k = key->buf;
            klen = key->len;
        } else {
            ns_seq_key(ns, seqkey);
            k = seqkey;
            klen = sizeof(seqkey);
        }
    } else {
        if (key->len == 0) {
            reply_error(c, "Invalid argument, key needed");
            return;
        }
        k = key->buf;
        klen = key->len;
    }

    if (e && same_value(e, val)) {
        reply_nil(c);
        return;
    }
    if (fault_take_write_failure() || !aof_set(ns, k, klen, val->buf,
                                               val->len, ts) ||
        !ns_put(ns, k, klen, val->buf, val->len, ts)) {
        reply_error(c, "Cannot write data right now");
        return;
    }
    reply_bulk(c, k, klen);
}

static void get_one(Client *c, const Arg *key)
{
    Entry *e = ns_get(c->ns, key->buf, key->len);

    if (e) {
        reply_bulk(c, entry_value(e), e->vlen);
    } else {
        reply_nil(c);
    }
}

void cmd_get(Client *c, Request *req)
{
    if (!cmd_args(c, req, 2, false)) {
        return;
    }
    if (req->argv[1].len > ZS_MAX_KEY) {
        reply_error(c, "Invalid key");
        return;
    }
    if (!check_frozen(c)) {
        return;
    }
    get_one(c, &req->argv[1]);
}

void cmd_mget(Client *c, Request *req)
{
    char hdr[32];
    int i;

    if (req->argc < 2) {
        reply_error(c, "Invalid arguments");
        return;
    }
    for (i = 1; i < req->argc; i++) {
        if (req->argv[i].len > ZS_MAX_KEY) {
            reply_error(c, "Invalid key");
            return;
        }
    }
    if (!check_frozen(c)) {
        return;
    }
    /*
     * 0-db streams MGET: one send() for the array header, then one per
     * item.  Keep that, it decides how Nagle delays the reply.
     */
    reply_raw(c, hdr, snprintf(hdr, sizeof(hdr), "*%d\r\n", req->argc - 1));
    for (i = 1; i < req->argc; i++) {
        get_one(c, &req->argv[i]);
    }
}

void cmd_del(Client *c, Request *req)
{
    Namespace *ns = c->ns;
    const Arg *key;

    if (req->argc == 3) {
        if (!cmd_admin(c)) {
            return;
        }
    } else if (!cmd_args(c, req, 2, false)) {
        return;
    }
    key = &req->argv[1];
    if (key->len > ZS_MAX_KEY) {
        reply_error(c, "Invalid key");
        return;
    }
    if (!check_writable(c)) {
        return;
    }
    if (!ns_get(ns, key->buf, key->len)) {
        reply_error(c, "Key not found");
        return;
    }
    if (ns->worm) {
        reply_error(c, "Cannot delete a key when namespace is in worm mode");
        return;
    }
    if (fault_take_write_failure() || !aof_del(ns, key->buf, key->len)) {
        reply_error(c, "Cannot delete key (data)");
        return;
    }
    ns_del(ns, key->buf, key->len);
    reply_status(c, "OK");
}

void cmd_exists(Client *c, Request *req)
{
    if (!cmd_args(c, req, 2, false)) {
        return;
    }
    if (req->argv[1].len > ZS_MAX_KEY) {
        reply_error(c, "Invalid key");
        return;
    }
    if (!check_frozen(c)) {
        return;
    }
    reply_int(c, ns_get(c->ns, req->argv[1].buf, req->argv[1].len) != NULL);
}

void cmd_check(Client *c, Request *req)
{
    if (!cmd_args(c, req, 2, false)) {
        return;
    }
    if (req->argv[1].len > ZS_MAX_KEY) {
        reply_error(c, "Invalid key");
        return;
    }
    if (!check_frozen(c)) {
        return;
    }
    /* memory cannot rot: an existing key always passes its CRC check */
    if (ns_get(c->ns, req->argv[1].buf, req->argv[1].len)) {
        reply_int(c, 1);
    } else {
        reply_nil(c);
    }
}

void cmd_dbsize(Client *c, Request *req)
{
    reply_int(c, (long long)c->ns->entries);
}

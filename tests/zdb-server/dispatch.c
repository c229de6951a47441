/*
 * Command dispatch, with 0-db's own matching rule: the name received is
 * compared with strncasecmp() over its own length against a table, first
 * match wins.  So "" reaches "*", and a prefix such as "PIN" reaches
 * PING, exactly as on 0-db.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#include <stdio.h>
#include <string.h>
#include <strings.h>
#include "commands.h"
#include "fault.h"

/* 0-db v2.0.7's table, in its order (zdbd/commands.c) */
static const struct {
    const char *name;
    CmdFn *fn;
} table[] = {
    { "*", cmd_asterisk },
    { "WAIT", cmd_missing },
    { "MIRROR", cmd_missing },
    { "MASTER", cmd_missing },
    { "PING", cmd_ping },
    { "TIME", cmd_time },
    { "AUTH", cmd_auth },
    { "HOOKS", cmd_missing },
    { "INDEX", cmd_missing },
    { "DATA", cmd_missing },
    { "SET", cmd_set },
    { "SETX", cmd_set },
    { "GET", cmd_get },
    { "MGET", cmd_mget },
    { "DEL", cmd_del },
    { "EXISTS", cmd_exists },
    { "CHECK", cmd_check },
    { "SCAN", cmd_scan },
    { "SCANX", cmd_scan },
    { "RSCAN", cmd_rscan },
    { "KSCAN", cmd_missing },
    { "HISTORY", cmd_missing },
    { "KEYCUR", cmd_keycur },
    { "LENGTH", cmd_length },
    { "KEYTIME", cmd_keytime },
    { "INFO", cmd_info },
    { "STOP", cmd_stop },
    { "DBSIZE", cmd_dbsize },
    { "NSNEW", cmd_nsnew },
    { "NSDEL", cmd_nsdel },
    { "NSLIST", cmd_nslist },
    { "NSSET", cmd_nsset },
    { "NSINFO", cmd_nsinfo },
    { "NSJUMP", cmd_nsjump },
    { "SELECT", cmd_select },
    { "RELOAD", cmd_reload },
    { "FLUSH", cmd_flush },
};

bool check_frozen(Client *c)
{
    if (c->ns->lock == NS_FROZEN) {
        reply_error(c, "Namespace is temporarily frozen (read-write "
                       "disabled)");
        return false;
    }
    return true;
}

bool cmd_args(Client *c, Request *req, int expected, bool allow_empty)
{
    int i;

    if (req->argc != expected) {
        reply_error(c, "Unexpected arguments");
        return false;
    }
    if (!allow_empty) {
        for (i = 0; i < expected; i++) {
            if (req->argv[i].len == 0) {
                reply_error(c, "Invalid argument");
                return false;
            }
        }
    }
    return true;
}

bool cmd_admin(Client *c)
{
    if (!c->admin) {
        stats.admin_failed++;
        reply_error(c, "Permission denied");
        return false;
    }
    return true;
}

void cmd_cstr(const Arg *a, char *out, size_t size)
{
    size_t len = a->len < size - 1 ? a->len : size - 1;

    memcpy(out, a->buf, len);
    out[len] = '\0';
}

bool cmd_ns_name(Client *c, const Arg *a, char out[ZS_NS_NAME_MAX + 1])
{
    if (a->len > ZS_NS_NAME_MAX) {
        reply_error(c, "Namespace too long");
        return false;
    }
    cmd_cstr(a, out, ZS_NS_NAME_MAX + 1);
    return true;
}

void dispatch(Client *c, Request *req)
{
    const Arg *name = &req->argv[0];
    char buf[16];
    size_t i;

    if (!c->ns) {
        /* 0-db: the namespace was deleted under this client */
        reply_error(c, "Your active namespace is not available anymore "
                       "(probably removed).");
        client_close_after_replies(c);
        return;
    }

    /* ours, checked first; 0-db answers "-Command not supported" */
    if (name->len == 7 && strncasecmp((const char *)name->buf, "ZDBTEST",
                                      7) == 0) {
        cmd_zdbtest(c, req);
        return;
    }

    stats.commands++;
    reply_set_garbage(fault_take_garbage());

    /*
     * Only the first few bytes can decide a match (names are <= 7
     * chars), so a short NUL-terminated copy gives strncasecmp() the
     * same answer as on the whole argument.
     */
    cmd_cstr(name, buf, sizeof(buf));
    for (i = 0; i < sizeof(table) / sizeof(table[0]); i++) {
        if (strncasecmp(buf, table[i].name, name->len) == 0) {
            table[i].fn(c, req);
            break;
        }
    }
    if (i == sizeof(table) / sizeof(table[0])) {
        stats.commands_failed++;
        reply_error(c, "Command not supported");
    }

    reply_set_garbage(false);
    fault_after_command();
}

/*
 * Fault injection for tests.
 *
 * A real 0-db answers "-Command not supported" to ZDBTEST, so these can
 * never be mistaken for 0-db commands.  See README.md for the list.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include "fault.h"

/*
 * Default garbage: '?' is no RESP type byte, so any RESP client must
 * report a protocol error instead of taking it for a reply.
 */
static const char default_garbage[] = "?zdb-server garbage\x00\xff\r\n";

Faults faults;

void fault_clear(void)
{
    faults.hang_until = 0;
    faults.refuse_until = 0;
    faults.fail_writes = 0;
    faults.garbage = 0;
    faults.drop_after = 0;
    faults.delay_us = 0;        /* replies held already keep their time */
    faults.stall_reads = 0;
    memcpy(faults.garbage_bytes, default_garbage, sizeof(default_garbage) - 1);
    faults.garbage_len = sizeof(default_garbage) - 1;
}

void fault_init(void)
{
    fault_clear();
}

bool fault_hanging(int64_t now)
{
    return faults.hang_until && now < faults.hang_until;
}

bool fault_refusing(int64_t now)
{
    return faults.refuse_until < 0 ||
           (faults.refuse_until && now < faults.refuse_until);
}

int64_t fault_deadline(int64_t now)
{
    int64_t d = -1;

    if (faults.hang_until > now) {
        d = faults.hang_until;
    }
    if (faults.refuse_until > now && (d < 0 || faults.refuse_until < d)) {
        d = faults.refuse_until;
    }
    return d;
}

bool fault_take_write_failure(void)
{
    if (faults.fail_writes) {
        faults.fail_writes--;
        return true;
    }
    return false;
}

bool fault_take_garbage(void)
{
    if (faults.garbage) {
        faults.garbage--;
        return true;
    }
    return false;
}

void fault_drop_all(void)
{
    Client *c;

    for (c = client_first(); c; c = c->next) {
        client_flush(c);
        /* with a delay, the replies held are sent first, when due */
        client_close_after_replies(c);
    }
}

void fault_after_command(void)
{
    if (faults.drop_after && --faults.drop_after == 0) {
        fault_drop_all();
    }
}

/* Parse a non-negative decimal argument; false if it is not one */
static bool arg_u64(const Arg *a, uint64_t *out)
{
    char buf[24], junk;

    if (a->len == 0 || a->len >= sizeof(buf)) {
        return false;
    }
    memcpy(buf, a->buf, a->len);
    buf[a->len] = '\0';
    if (buf[0] < '0' || buf[0] > '9') {
        return false;
    }
    return sscanf(buf, "%" SCNu64 "%c", out, &junk) == 1;
}

static void fault_status(Client *c)
{
    char text[1024];
    int64_t now = now_ms();
    Client *o;
    int n = 0;

    for (o = client_first(); o; o = o->next) {
        n++;
    }
    snprintf(text, sizeof(text),
             "hang_ms_left: %lld\n"
             "refuse: %s\n"
             "refuse_ms_left: %lld\n"
             "fail_writes: %llu\n"
             "garbage: %llu\n"
             "drop_after: %llu\n"
             "delay_us: %llu\n"
             "stall_reads: %llu\n"
             "clients: %d\n"
             "clients_lifetime: %llu\n"
             "commands: %llu\n"
             "reply_writes: %llu\n"
             "resets: %llu\n"
             "input_stalls: %llu\n"
             "fast: %s\n",
             (long long)(fault_hanging(now) ? faults.hang_until - now : 0),
             fault_refusing(now) ? "yes" : "no",
             (long long)(faults.refuse_until > now ?
                         faults.refuse_until - now : 0),
             (unsigned long long)faults.fail_writes,
             (unsigned long long)faults.garbage,
             (unsigned long long)faults.drop_after,
             (unsigned long long)faults.delay_us,
             (unsigned long long)faults.stall_reads,
             n,
             (unsigned long long)stats.clients_lifetime,
             (unsigned long long)stats.commands,
             (unsigned long long)stats.writes,
             (unsigned long long)stats.resets,
             (unsigned long long)stats.input_stalls,
             config.fast ? "yes" : "no");
    reply_bulk(c, text, strlen(text));
}

void cmd_zdbtest(Client *c, Request *req)
{
    char sub[16];
    uint64_t n = 0;
    size_t len;

    if (config.admin && !c->admin) {
        reply_error(c, "Permission denied");
        return;
    }
    if (req->argc < 2 || req->argv[1].len >= sizeof(sub)) {
        reply_error(c, "Invalid arguments");
        return;
    }
    len = req->argv[1].len;
    memcpy(sub, req->argv[1].buf, len);
    sub[len] = '\0';

    /* subcommands that take a number take exactly one, except GARBAGE */
    if (req->argc >= 3 && !arg_u64(&req->argv[2], &n)) {
        reply_error(c, "Invalid arguments");
        return;
    }

    if (strcasecmp(sub, "STATUS") == 0 && req->argc == 2) {
        fault_status(c);
    } else if (strcasecmp(sub, "CLEAR") == 0 && req->argc == 2) {
        fault_clear();
        reply_status(c, "OK");
    } else if (strcasecmp(sub, "DROP") == 0 && req->argc == 2) {
        reply_status(c, "OK");
        fault_drop_all();
    } else if (strcasecmp(sub, "HANG") == 0 && req->argc == 3) {
        faults.hang_until = n ? now_ms() + (int64_t)n : 0;
        reply_status(c, "OK");
    } else if (strcasecmp(sub, "REFUSE") == 0 && req->argc == 3) {
        faults.refuse_until = n ? now_ms() + (int64_t)n : -1;
        reply_status(c, "OK");
    } else if (strcasecmp(sub, "FAILWRITES") == 0 && req->argc == 3) {
        faults.fail_writes = n;
        reply_status(c, "OK");
    } else if (strcasecmp(sub, "DELAY") == 0 && req->argc == 3 &&
               n <= FAULT_DELAY_MAX_US) {
        /* from the next request on; this reply keeps the old delay */
        faults.delay_us = n;
        reply_status(c, "OK");
    } else if (strcasecmp(sub, "STALLREAD") == 0 && req->argc == 3) {
        faults.stall_reads = n;
        reply_status(c, "OK");
    } else if (strcasecmp(sub, "DROPAFTER") == 0 && req->argc == 3) {
        faults.drop_after = n;
        reply_status(c, "OK");
    } else if (strcasecmp(sub, "GARBAGE") == 0 && req->argc <= 4) {
        faults.garbage = req->argc >= 3 ? n : 1;
        memcpy(faults.garbage_bytes, default_garbage,
               sizeof(default_garbage) - 1);
        faults.garbage_len = sizeof(default_garbage) - 1;
        if (req->argc == 4) {
            const Arg *b = &req->argv[3];

            if (b->len == 0 || b->len > FAULT_GARBAGE_MAX) {
                reply_error(c, "Invalid arguments");
                faults.garbage = 0;
                return;
            }
            memcpy(faults.garbage_bytes, b->buf, b->len);
            faults.garbage_len = b->len;
        }
        reply_status(c, "OK");
    } else {
        reply_error(c, "Unknown ZDBTEST subcommand or wrong arguments");
    }
}

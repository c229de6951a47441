/*
 * Index commands: SCAN (SCANX), RSCAN, KEYCUR, LENGTH, KEYTIME, NSJUMP.
 *
 * As in 0-db v2.0.7 (zdbd/commands_scan.c, libzdb/index_scan.c): SCAN
 * walks the namespace's index in the order it was written, RSCAN
 * backwards, each skipping the entries flagged deleted (values replaced
 * since, or keys deleted).  A reply is a cursor, the position of its last
 * entry, and a list of [key, value length, timestamp]; a call that finds
 * nothing answers "-No more data".  A cursor stays good while its entry
 * is in the index, also once that entry is flagged deleted: a walk goes
 * on from it and sees what was written since.
 *
 * How many entries one call answers: 0-db walks until 2 ms have passed,
 * checked before each entry it looks for, while skipping a run of
 * deleted entries is never cut.  Our index is in memory, so we count the
 * time 0-db's file reads take instead of our own (COST_* below, measured
 * on v2.0.7), and, unless --fast, hold the server for that time, as
 * 0-db's single thread is busy for it.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include "aof.h"
#include "commands.h"

/* 0-db's SCAN_TIMESLICE_US */
#define SCAN_SLICE_NS   2000000ull

/*
 * What 0-db v2.0.7 spends on one index entry (release build, measured on
 * a 2-core VM: about 2,080 entries per call in the current index file,
 * 980 in older ones, whose file it opens and closes for every entry;
 * 100,000 deleted entries skipped in 35 ms in the current file, in 185 ms
 * in older ones).
 */
#define COST_LIVE_CUR   960
#define COST_LIVE_OLD   2000
#define COST_DEL_CUR    350
#define COST_DEL_OLD    1850

static uint64_t rec_cost(const Namespace *ns, const IndexRec *r)
{
    bool cur = r->fileid == ns->fileid;

    if (r->entry) {
        return cur ? COST_LIVE_CUR : COST_LIVE_OLD;
    }
    return cur ? COST_DEL_CUR : COST_DEL_OLD;
}

enum { WALK_FOUND, WALK_END, WALK_FAIL };

/*
 * From position *pos (excluded; -1 or nrecs: from an end) to the next
 * live entry in direction dir (+1 or -1), counting the cost of every
 * entry read.  Forwards, 0-db goes from the end of an index file to the
 * start of the next one, empty or not.  Backwards it starts at the last
 * entry written, read in the current index file (empty after NSJUMP:
 * the read fails), then follows each entry's link to the one written
 * before it, looked for in the file before when it is the first of its
 * file: across an empty file (NSJUMP twice) that read fails too.
 * WALK_END: no more entries; WALK_FAIL: a failed read.
 */
static int next_live(const Namespace *ns, long long *pos, int dir,
                     uint64_t *cost)
{
    long long i = *pos + dir;

    for (; i >= 0 && i < (long long)ns->nrecs; i += dir) {
        const IndexRec *r = &ns->recs[i];

        if (dir < 0 && i + 1 == (long long)ns->nrecs) {
            /* the last entry written, read in the current file */
            if (r->fileid != ns->fileid) {
                return WALK_FAIL;
            }
        } else if (dir < 0) {
            uint32_t from = ns->recs[i + 1].fileid;

            if (r->fileid != from && r->fileid + 1 != from) {
                return WALK_FAIL;
            }
        }
        *cost += rec_cost(ns, r);
        if (r->entry) {
            *pos = i;
            return WALK_FOUND;
        }
    }
    return WALK_END;
}

/* Hold the server as long as 0-db would work on this (not with --fast) */
static void spend(uint64_t ns_cost)
{
    struct timespec ts = {
        .tv_sec = (time_t)(ns_cost / 1000000000ull),
        .tv_nsec = (long)(ns_cost % 1000000000ull),
    };

    if (config.fast || ns_cost == 0) {
        return;
    }
    while (nanosleep(&ts, &ts) < 0 && errno == EINTR) {
    }
}

/* Worst case of one listed entry: 0-db sizes its buffer alike */
#define ITEM_MAX (ZS_MAX_KEY + 64)

static void scan(Client *c, Request *req, int dir)
{
    Namespace *ns = c->ns;
    long long pos, first;
    uint64_t cost = 0, slice = 0;
    size_t n = 0, cap = 0, len;
    long long *found = NULL;
    unsigned char cursor[ZS_CURSOR_LEN], *out, *p;

    if (!check_frozen(c)) {
        return;
    }
    if (req->argc == 1) {
        /* from the first (last) live entry, which is listed */
        int st;

        pos = dir > 0 ? -1 : (long long)ns->nrecs;
        /*
         * RSCAN starts at the last entry written, looked for in the
         * current index file: after NSJUMP, and before the next SET,
         * that file is empty and the read fails.
         */
        st = next_live(ns, &pos, dir, &cost);
        spend(st == WALK_FOUND ? 0 : cost);
        if (st != WALK_FOUND) {
            reply_error(c, st == WALK_FAIL ? "Internal Error" :
                        "No more data");
            return;
        }
        first = pos;
    } else {
        /* a cursor: from the entry after (before) the one it names */
        size_t at;

        if (!ns_cursor_find(ns, req->argv[1].buf, req->argv[1].len, &at)) {
            reply_error(c, "Invalid key format");
            return;
        }
        pos = (long long)at;
        first = -1;
    }

    if (first >= 0) {
        cap = 64;
        found = malloc(cap * sizeof(*found));
        if (!found) {
            reply_error(c, "Internal Error");
            return;
        }
        found[n++] = first;
    }
    /* 0-db's time slice: checked before each entry looked for */
    while (slice < SCAN_SLICE_NS &&
           (config.scan_batch == 0 || n < config.scan_batch)) {
        uint64_t step = 0;

        if (next_live(ns, &pos, dir, &step) != WALK_FOUND) {
            cost += step;
            break;     /* 0-db: "this scan failed, let's guess it's the end" */
        }
        cost += step;
        slice += step;
        if (n == cap) {
            long long *f;

            cap = cap ? cap * 2 : 64;
            f = realloc(found, cap * sizeof(*found));
            if (!f) {
                free(found);
                reply_error(c, "Internal Error");
                return;
            }
            found = f;
        }
        found[n++] = pos;
    }
    spend(cost);

    if (n == 0) {
        free(found);
        reply_error(c, "No more data");
        return;
    }

    /* one reply, written at once as 0-db does */
    out = malloc(64 + n * ITEM_MAX);
    if (!out) {
        free(found);
        reply_error(c, "Internal Error");
        return;
    }
    ns_cursor_make(&ns->recs[found[n - 1]], cursor);
    p = out;
    p += sprintf((char *)p, "*2\r\n$%d\r\n", ZS_CURSOR_LEN);
    memcpy(p, cursor, ZS_CURSOR_LEN);
    p += ZS_CURSOR_LEN;
    p += sprintf((char *)p, "\r\n*%zu\r\n", n);
    for (size_t i = 0; i < n; i++) {
        const IndexRec *r = &ns->recs[found[i]];

        p += sprintf((char *)p, "*3\r\n$%u\r\n", r->klen);
        memcpy(p, entry_key(r->entry), r->klen);
        p += r->klen;
        /* 0-db prints both with %d */
        p += sprintf((char *)p, "\r\n:%d\r\n:%d\r\n", (int32_t)r->length,
                     (int32_t)r->timestamp);
    }
    len = (size_t)(p - out);
    reply_raw(c, out, len);
    free(out);
    free(found);
}

void cmd_scan(Client *c, Request *req)
{
    scan(c, req, 1);
}

void cmd_rscan(Client *c, Request *req)
{
    scan(c, req, -1);
}

void cmd_keycur(Client *c, Request *req)
{
    unsigned char buf[32];
    Entry *e;
    int len;

    if (!cmd_args(c, req, 2, false) || !check_frozen(c)) {
        return;
    }
    e = req->argv[1].len > ZS_MAX_KEY ? NULL :
        ns_get(c->ns, req->argv[1].buf, req->argv[1].len);
    if (!e) {
        reply_error(c, "Key not found");
        return;
    }
    len = sprintf((char *)buf, "$%d\r\n", ZS_CURSOR_LEN);
    ns_cursor_make(&c->ns->recs[e->rec], buf + len);
    len += ZS_CURSOR_LEN;
    memcpy(buf + len, "\r\n", 2);
    reply_raw(c, buf, (size_t)len + 2);
}

/* LENGTH and KEYTIME: one field of a key's index entry, or nil */
static const IndexRec *key_rec(Client *c, Request *req)
{
    Entry *e;

    if (!cmd_args(c, req, 2, false)) {
        return NULL;
    }
    if (req->argv[1].len > ZS_MAX_KEY) {
        reply_error(c, "Invalid key");
        return NULL;
    }
    if (!check_frozen(c)) {
        return NULL;
    }
    e = ns_get(c->ns, req->argv[1].buf, req->argv[1].len);
    if (!e) {
        reply_nil(c);
        return NULL;
    }
    return &c->ns->recs[e->rec];
}

void cmd_length(Client *c, Request *req)
{
    const IndexRec *r = key_rec(c, req);

    if (r) {
        reply_int(c, r->length);
    }
}

void cmd_keytime(Client *c, Request *req)
{
    const IndexRec *r = key_rec(c, req);

    if (r) {
        reply_int(c, r->timestamp);
    }
}

void cmd_nsjump(Client *c, Request *req)
{
    if (!cmd_admin(c)) {
        return;
    }
    if (!aof_jump(c->ns->name)) {
        reply_error(c, "Internal Server Error");
        return;
    }
    ns_jump(c->ns);
    reply_status(c, "OK");
}

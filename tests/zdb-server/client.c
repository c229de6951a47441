/*
 * Client connections: buffering input, parsing requests, sending replies.
 *
 * Faithful mode (the default) sends each reply with one sendmsg() as soon
 * as the request is parsed, like 0-db; the kernel then applies Nagle's
 * algorithm to a pipelining TCP client exactly as it does with 0-db.
 * Only what the kernel refuses (EAGAIN) is queued.  With --fast, replies
 * are gathered and sent once per batch of input, which 0-db never does.
 *
 * With a delay (--delay-us, ZDBTEST DELAY) every reply is held back until
 * its request was parsed that long ago, then sent the same way (one
 * sendmsg() each, or gathered with --fast).  The server goes on reading
 * and running requests meanwhile, so a client that pipelines still gets
 * its replies one delay later, in order: a network's round trip.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>
#include "fault.h"
#include "net.h"
#include "resp.h"
#include "store.h"

#define IBUF_INITIAL    (16 * 1024)
#define IBUF_KEEP       (1024 * 1024)     /* shrink an idle buffer above */
#define FAST_READ_CHUNK (256 * 1024)
#define OUT_PAUSE       (16 * 1024 * 1024) /* stop reading above this */
#define DRAIN_MS        2000

static Client *clients;
static uint64_t next_client_id;
static int garbage_state;       /* 0: off, 1: replace next, 2: swallow */
static size_t held_total;       /* replies held back, every client */
static int64_t reply_due;       /* now_us() at which the replies to the
                                   request being run are due; 0: at once */

/* One request at a time: argv points into the client's input buffer */
static Request request;

static void *xrealloc(void *p, size_t size)
{
    p = realloc(p, size);
    if (!p) {
        perror("zdb-server: realloc");
        exit(1);
    }
    return p;
}

Client *client_first(void)
{
    return clients;
}

static void client_update_events(Client *c)
{
    struct epoll_event ev;

    memset(&ev, 0, sizeof(ev));
    ev.data.ptr = c;
    ev.events = (c->paused || c->stalled ? 0 : EPOLLIN) |
                (c->want_write ? EPOLLOUT : 0);
    epoll_ctl(net_epfd, EPOLL_CTL_MOD, c->fd, &ev);
}

Client *client_new(int fd, bool tcp)
{
    Client *c = calloc(1, sizeof(*c));
    struct epoll_event ev;

    if (!c) {
        close(fd);
        return NULL;
    }
    c->tag = EV_CLIENT;
    c->fd = fd;
    c->tcp = tcp;
    c->id = ++next_client_id;
    c->ns = ns_default();
    /* 0-db: --protect makes "default" read-only until SELECTed with pw */
    c->writable = !config.protect;
    c->admin = config.admin == NULL;
    c->icap = IBUF_INITIAL;
    c->ibuf = xrealloc(NULL, c->icap);

    memset(&ev, 0, sizeof(ev));
    ev.data.ptr = c;
    ev.events = EPOLLIN;
    if (epoll_ctl(net_epfd, EPOLL_CTL_ADD, fd, &ev) < 0) {
        perror("zdb-server: epoll_ctl");
        close(fd);
        free(c->ibuf);
        free(c);
        return NULL;
    }

    c->next = clients;
    if (clients) {
        clients->prev = c;
    }
    clients = c;
    stats.clients_lifetime++;
    return c;
}

static void client_process(Client *c);

static bool has_held(const Client *c)
{
    return c->htail != c->hhead;
}

static void client_free(Client *c)
{
    if (c->prev) {
        c->prev->next = c->next;
    } else {
        clients = c->next;
    }
    if (c->next) {
        c->next->prev = c->prev;
    }
    close(c->fd);   /* unread input makes the kernel send a reset */
    held_total -= c->htail - c->hhead;
    free(c->ibuf);
    free(c->obuf);
    free(c->hbuf);
    free(c->held);
    free(c);
}

void clients_reap(void)
{
    Client *c = clients, *next;

    for (; c; c = next) {
        next = c->next;
        if (c->dead) {
            client_free(c);
        }
    }
}

void clients_close_all(void)
{
    while (clients) {
        client_free(clients);
    }
}

/*
 * Output queue
 */

static size_t out_pending(const Client *c)
{
    return c->oend - c->ostart;
}

/* Bytes queued for the socket: sent ones and held ones */
static size_t out_queued(const Client *c)
{
    return out_pending(c) + (c->hend - c->hstart);
}

/*
 * Append iov, but its first skip bytes, to the byte queue [*start, *end)
 * of *buf (capacity *cap)
 */
static void bytes_append(unsigned char **buf, size_t *cap, size_t *start,
                         size_t *end, const struct iovec *iov, int cnt,
                         size_t skip)
{
    size_t total = 0;
    int i;

    for (i = 0; i < cnt; i++) {
        total += iov[i].iov_len;
    }
    total -= skip;
    if (*start == *end) {
        *start = *end = 0;
    }
    if (*cap - *end < total) {
        if (*start > 0) {
            memmove(*buf, *buf + *start, *end - *start);
            *end -= *start;
            *start = 0;
        }
        if (*cap - *end < total) {
            size_t ncap = *cap ? *cap : 64 * 1024;

            while (ncap - *end < total) {
                ncap *= 2;
            }
            *buf = xrealloc(*buf, ncap);
            *cap = ncap;
        }
    }
    for (i = 0; i < cnt; i++) {
        const unsigned char *p = iov[i].iov_base;
        size_t len = iov[i].iov_len;

        if (skip >= len) {
            skip -= len;
            continue;
        }
        memcpy(*buf + *end, p + skip, len - skip);
        *end += len - skip;
        skip = 0;
    }
}

/* Queue iov, skipping its first skip bytes (already sent) */
static void out_append(Client *c, const struct iovec *iov, int cnt,
                       size_t skip)
{
    bytes_append(&c->obuf, &c->ocap, &c->ostart, &c->oend, iov, cnt, skip);
}

static void arm_write(Client *c, bool on)
{
    if (c->want_write != on) {
        c->want_write = on;
        client_update_events(c);
    }
}

static void half_close(Client *c)
{
    shutdown(c->fd, SHUT_WR);
    c->finishing = false;
    c->draining = true;
    c->drain_deadline = now_ms() + DRAIN_MS;
    c->istart = c->iend = 0;
}

/*
 * Once no output is left: close a connection that was to be closed after
 * its replies, half-close one that is finishing
 */
static void client_settle(Client *c)
{
    if (c->dead || has_held(c)) {
        return;
    }
    if (c->close_after) {
        c->dead = true;     /* as without a delay: unsent output is lost */
    } else if (c->finishing && !out_pending(c)) {
        half_close(c);
    }
}

void client_flush(Client *c)
{
    while (!c->dead && out_pending(c)) {
        ssize_t n = send(c->fd, c->obuf + c->ostart, out_pending(c),
                         MSG_NOSIGNAL | MSG_DONTWAIT);

        stats.writes++;
        if (n < 0) {
            if (errno == EINTR) {
                continue;
            }
            if (errno != EAGAIN && errno != EWOULDBLOCK) {
                c->dead = true;
            }
            break;
        }
        c->ostart += n;
    }
    if (c->dead) {
        return;
    }
    if (out_pending(c)) {
        arm_write(c, true);
        return;
    }
    c->ostart = c->oend = 0;
    arm_write(c, false);
    client_settle(c);
}

void client_finish(Client *c)
{
    c->finishing = true;
    /* the held replies first: they are due up to one delay from now */
    c->drain_deadline = now_ms() + DRAIN_MS +
                        (int64_t)(faults.delay_us / 1000);
    if (!out_pending(c) && !has_held(c)) {
        half_close(c);
    }
}

void client_close_after_replies(Client *c)
{
    if (has_held(c)) {
        c->close_after = true;
    } else {
        c->dead = true;
    }
}

/*
 * Replies
 */

void reply_set_garbage(bool on)
{
    garbage_state = on ? 1 : 0;
}

/* One reply to the socket now: one sendmsg(), or queued */
static void send_now(Client *c, const struct iovec *iov, int cnt,
                     size_t total)
{
    struct msghdr msg;
    ssize_t n;

    if (config.fast || out_pending(c)) {
        out_append(c, iov, cnt, 0);
        if (!config.fast) {
            arm_write(c, true);
        }
        return;
    }

    memset(&msg, 0, sizeof(msg));
    msg.msg_iov = (struct iovec *)iov;
    msg.msg_iovlen = cnt;
    do {
        n = sendmsg(c->fd, &msg, MSG_NOSIGNAL | MSG_DONTWAIT);
    } while (n < 0 && errno == EINTR);
    stats.writes++;
    if (n == (ssize_t)total) {
        return;
    }
    if (n < 0) {
        if (errno != EAGAIN && errno != EWOULDBLOCK) {
            c->dead = true;
            return;
        }
        n = 0;
    }
    out_append(c, iov, cnt, n);
    arm_write(c, true);
}

/* Hold one reply back until reply_due, and after every reply held */
static void held_append(Client *c, const struct iovec *iov, int cnt,
                        size_t total)
{
    int64_t due = reply_due;
    size_t n = c->htail - c->hhead;

    if (n && c->held[c->htail - 1].due_us > due) {
        due = c->held[c->htail - 1].due_us;     /* the delay was lowered */
    }
    if (c->htail == c->heldcap) {
        if (c->hhead > 0 && c->hhead >= c->heldcap / 2) {
            /* moving costs at most what it frees: amortized O(1) */
            memmove(c->held, c->held + c->hhead, n * sizeof(*c->held));
            c->hhead = 0;
            c->htail = n;
        } else {
            c->heldcap = c->heldcap ? c->heldcap * 2 : 64;
            c->held = xrealloc(c->held, c->heldcap * sizeof(*c->held));
        }
    }
    c->held[c->htail].due_us = due;
    c->held[c->htail].len = total;
    c->htail++;
    held_total++;
    bytes_append(&c->hbuf, &c->hcap, &c->hstart, &c->hend, iov, cnt, 0);
}

void reply_iov(Client *c, const struct iovec *iov, int cnt)
{
    struct iovec garbage;
    size_t total = 0;
    int i;

    if (c->dead || c->draining) {
        return;
    }
    if (garbage_state == 2) {
        return;
    }
    if (garbage_state == 1) {
        garbage_state = 2;
        garbage.iov_base = faults.garbage_bytes;
        garbage.iov_len = faults.garbage_len;
        iov = &garbage;
        cnt = 1;
    }
    for (i = 0; i < cnt; i++) {
        total += iov[i].iov_len;
    }
    stats.tx_bytes += total;

    if (reply_due || has_held(c)) {
        held_append(c, iov, cnt, total);
    } else {
        send_now(c, iov, cnt, total);
    }
}

void reply_raw(Client *c, const void *buf, size_t len)
{
    struct iovec iov = { .iov_base = (void *)buf, .iov_len = len };

    reply_iov(c, &iov, 1);
}

static void reply_line(Client *c, char type, const char *msg)
{
    size_t len = strlen(msg);
    struct iovec iov[3] = {
        { .iov_base = &type, .iov_len = 1 },
        { .iov_base = (void *)msg, .iov_len = len },
        { .iov_base = "\r\n", .iov_len = 2 },
    };

    reply_iov(c, iov, 3);
}

void reply_error(Client *c, const char *msg)
{
    reply_line(c, '-', msg);
}

void reply_status(Client *c, const char *msg)
{
    reply_line(c, '+', msg);
}

void reply_bulk(Client *c, const void *buf, size_t len)
{
    char hdr[32];
    struct iovec iov[3];

    iov[0].iov_base = hdr;
    iov[0].iov_len = snprintf(hdr, sizeof(hdr), "$%zu\r\n", len);
    iov[1].iov_base = (void *)buf;
    iov[1].iov_len = len;
    iov[2].iov_base = "\r\n";
    iov[2].iov_len = 2;
    reply_iov(c, iov, 3);
}

void reply_nil(Client *c)
{
    reply_raw(c, "$-1\r\n", 5);
}

void reply_int(Client *c, long long v)
{
    char buf[32];

    reply_raw(c, buf, snprintf(buf, sizeof(buf), ":%lld\r\n", v));
}

/*
 * Input
 */

/* Make room for at least want more bytes after iend */
static void input_room(Client *c, size_t want)
{
    size_t used = c->iend - c->istart;

    if (c->icap - c->iend >= want) {
        return;
    }
    /* moving costs at most what it frees, so it stays amortized O(1) */
    if (c->istart > 0 && used <= c->istart) {
        memmove(c->ibuf, c->ibuf + c->istart, used);
        c->istart = 0;
        c->iend = used;
        if (c->icap - c->iend >= want) {
            return;
        }
    }
    if (c->istart > 0) {
        memmove(c->ibuf, c->ibuf + c->istart, used);
        c->istart = 0;
        c->iend = used;
    }
    while (c->icap - c->iend < want) {
        c->icap *= 2;
    }
    c->ibuf = xrealloc(c->ibuf, c->icap);
}

static void protocol_error(Client *c, RespStatus st)
{
    switch (st) {
    case RESP_ERR_TOOBIG:
        /*
         * 0-db answers "-Payload too big" as soon as it reads the length
         * and closes the connection with the value unread (measured on
         * v2.0.7: the client that goes on sending gets EPIPE, but reads
         * the reply and then EOF).
         */
        reply_error(c, "Payload too big");
        client_close_after_replies(c);
        break;
    case RESP_ERR_ARRAY:
        reply_error(c, "Malformed request, array expected");
        client_close_after_replies(c);
        break;
    case RESP_ERR_MEMORY:
        reply_error(c, "Internal memory error");
        client_close_after_replies(c);
        break;
    case RESP_ERR_NOARGS:
    case RESP_ERR_TOOMANY:
    case RESP_ERR_STRING:
        /*
         * 0-db sends the error and then cannot find the next request
         * again: the connection is useless from here on.  We make that
         * explicit with a clean close once the error is delivered.
         */
        reply_error(c, st == RESP_ERR_NOARGS ? "Missing arguments" :
                       st == RESP_ERR_TOOMANY ? "Too many arguments" :
                       "Malformed query string");
        client_finish(c);
        break;
    default:
        break;
    }
}

static void client_process(Client *c)
{
    while (!c->dead && !c->paused && !c->finishing && !c->draining &&
           !c->close_after && c->istart < c->iend) {
        size_t used = 0, need = 0;
        RespStatus st;

        if (faults.hang_until && fault_hanging(now_ms())) {
            return;
        }
        st = resp_parse(c->ibuf + c->istart, c->iend - c->istart, &request,
                        &used, &need);
        if (st == RESP_MORE) {
            if (need > c->icap - c->istart) {
                input_room(c, need - (c->iend - c->istart));
            }
            return;
        }
        /* its replies are due one delay after it was parsed */
        reply_due = faults.delay_us ?
                    now_us() + (int64_t)faults.delay_us : 0;
        if (st != RESP_DONE) {
            protocol_error(c, st);
            reply_due = 0;
            return;
        }
        dispatch(c, &request);
        reply_due = 0;
        c->istart += used;
        if (c->istart == c->iend) {
            c->istart = c->iend = 0;
        }
        if (out_queued(c) > OUT_PAUSE) {
            /* a client that does not read its replies: stop reading it */
            c->paused = true;
            client_update_events(c);
        }
    }
}

static int client_unread(Client *c)
{
    int avail = 0;

    return ioctl(c->fd, FIONREAD, &avail) < 0 ? 0 : avail;
}

/*
 * 0-db v2.0.7 (redis_chunk_read, on edge-triggered epoll) reads 8 KiB and
 * returns once what it read parsed into whole commands: when the read
 * filled its buffer and ended exactly where a command did, what follows
 * stays in the socket, unanswered, until the client sends more.  As
 * measured: a read into an empty buffer that is all small commands (200
 * pipelined 64-byte ones: 128 answered); 0-db moves big values out of its
 * buffer as they come, and 8,000 pipelined SETs of 4 KiB never stalled
 * it, so a read that began inside a command does not stall here.  Over
 * TCP only: on a unix socket each read of a reply by the client wakes the
 * server's epoll again (EPOLLOUT, reported with EPOLLIN), and it reads on.
 * The faithful mode does the same (--fast does not).
 */
static bool client_stall(Client *c, bool filled, bool fresh)
{
    bool forced = faults.stall_reads > 0 && filled && !c->dead &&
                  client_unread(c);

    /*
     * ZDBTEST STALLREAD: at the next read that filled its chunk and left
     * input behind, wherever the commands end
     */
    if (forced) {
        faults.stall_reads--;
    } else if (config.fast || !c->tcp || !filled || !fresh || c->dead ||
               c->istart != c->iend) {
        return false;
    }
    c->stalled_avail = client_unread(c);
    if (c->stalled_avail == 0) {
        return false;
    }
    c->stalled = true;
    stats.input_stalls++;
    client_update_events(c);
    return true;
}

/* A stalled client reads again once more bytes arrived; when to look */
static int64_t client_check_stalled(Client *c, int64_t now)
{
    if (!c->stalled || c->dead) {
        return -1;
    }
    if (client_unread(c) == c->stalled_avail) {
        return now + 2;
    }
    c->stalled = false;
    client_update_events(c);
    return -1;
}

void client_on_readable(Client *c)
{
    size_t chunk = config.fast ? FAST_READ_CHUNK : ZS_READ_CHUNK;
    bool fresh;
    int rounds;

    for (rounds = 0; rounds < 64; rounds++) {
        ssize_t n;

        if (c->dead || c->paused) {
            break;
        }
        input_room(c, chunk);
        n = recv(c->fd, c->ibuf + c->iend, chunk, MSG_DONTWAIT);
        if (n < 0) {
            if (errno == EINTR) {
                continue;
            }
            if (errno != EAGAIN && errno != EWOULDBLOCK) {
                stats.resets += errno == ECONNRESET;
                c->dead = true;
            }
            break;
        }
        if (n == 0) {
            c->dead = true;     /* peer closed: 0-db drops the client too */
            break;
        }
        stats.rx_bytes += n;
        if (c->draining || c->finishing || c->close_after) {
            continue;           /* discard: the connection is over */
        }
        fresh = c->istart == c->iend;
        c->iend += n;
        client_process(c);
        if (client_stall(c, n == (ssize_t)chunk, fresh)) {
            break;
        }
    }

    if (!c->dead && c->istart == c->iend && c->icap > IBUF_KEEP) {
        free(c->ibuf);
        c->icap = IBUF_INITIAL;
        c->ibuf = xrealloc(NULL, c->icap);
        c->istart = c->iend = 0;
    }
    if (config.fast && !c->dead) {
        client_flush(c);
    }
}

/* Read again from a paused client once its output went down */
static void client_maybe_resume(Client *c)
{
    if (!c->dead && c->paused && out_queued(c) < OUT_PAUSE / 2) {
        c->paused = false;
        client_update_events(c);
        client_process(c);
        if (config.fast) {
            client_flush(c);
        }
    }
}

void client_on_writable(Client *c)
{
    client_flush(c);
    client_maybe_resume(c);
}

/* Send the held replies of c that are due at now */
static void held_release(Client *c, int64_t now)
{
    while (!c->dead && has_held(c) && c->held[c->hhead].due_us <= now) {
        HeldReply *h = &c->held[c->hhead++];
        struct iovec iov = { .iov_base = c->hbuf + c->hstart,
                             .iov_len = h->len };

        c->hstart += h->len;
        held_total--;
        send_now(c, &iov, 1, h->len);
    }
    if (!has_held(c)) {
        c->hhead = c->htail = 0;
        c->hstart = c->hend = 0;
    }
    if (config.fast) {
        client_flush(c);    /* gathered: one write for all that was due */
    }
    client_settle(c);
    client_maybe_resume(c);
}

void clients_release(int64_t now)
{
    Client *c;

    if (!held_total) {
        return;
    }
    /* clients are freed only by clients_reap(): the list stays valid */
    for (c = clients; c; c = c->next) {
        if (!c->dead && has_held(c) && c->held[c->hhead].due_us <= now) {
            held_release(c, now);
        }
    }
}

int64_t clients_held_next(void)
{
    int64_t next = -1;
    Client *c;

    if (!held_total) {
        return -1;
    }
    for (c = clients; c; c = c->next) {
        if (!c->dead && has_held(c) &&
            (next < 0 || c->held[c->hhead].due_us < next)) {
            next = c->held[c->hhead].due_us;
        }
    }
    return next;
}

void clients_resume(void)
{
    Client *c;

    for (c = clients; c; c = c->next) {
        if (!c->dead) {
            client_process(c);
            if (config.fast) {
                client_flush(c);
            }
        }
    }
}

int64_t clients_timers(int64_t now)
{
    int64_t next = -1;
    Client *c;

    for (c = clients; c; c = c->next) {
        int64_t t = client_check_stalled(c, now);

        if (t >= 0 && (next < 0 || t < next)) {
            next = t;
        }
        if (!(c->draining || c->finishing) || c->dead) {
            continue;
        }
        if (now >= c->drain_deadline) {
            c->dead = true;
        } else if (next < 0 || c->drain_deadline < next) {
            next = c->drain_deadline;
        }
    }
    return next;
}

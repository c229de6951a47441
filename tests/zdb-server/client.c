/*
 * Client connections: buffering input, parsing requests, sending replies.
 *
 * Faithful mode (the default) sends each reply with one sendmsg() as soon
 * as the request is parsed, like 0-db; the kernel then applies Nagle's
 * algorithm to a pipelining TCP client exactly as it does with 0-db.
 * Only what the kernel refuses (EAGAIN) is queued.  With --fast, replies
 * are gathered and sent once per batch of input, which 0-db never does.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
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
    ev.events = (c->paused ? 0 : EPOLLIN) | (c->want_write ? EPOLLOUT : 0);
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
    free(c->ibuf);
    free(c->obuf);
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

/* Queue iov, skipping its first skip bytes (already sent) */
static void out_append(Client *c, const struct iovec *iov, int cnt,
                       size_t skip)
{
    size_t total = 0;
    int i;

    for (i = 0; i < cnt; i++) {
        total += iov[i].iov_len;
    }
    total -= skip;
    if (c->ostart == c->oend) {
        c->ostart = c->oend = 0;
    }
    if (c->ocap - c->oend < total) {
        if (c->ostart > 0) {
            memmove(c->obuf, c->obuf + c->ostart, c->oend - c->ostart);
            c->oend -= c->ostart;
            c->ostart = 0;
        }
        if (c->ocap - c->oend < total) {
            size_t cap = c->ocap ? c->ocap : 64 * 1024;

            while (cap - c->oend < total) {
                cap *= 2;
            }
            c->obuf = xrealloc(c->obuf, cap);
            c->ocap = cap;
        }
    }
    for (i = 0; i < cnt; i++) {
        const unsigned char *p = iov[i].iov_base;
        size_t len = iov[i].iov_len;

        if (skip >= len) {
            skip -= len;
            continue;
        }
        memcpy(c->obuf + c->oend, p + skip, len - skip);
        c->oend += len - skip;
        skip = 0;
    }
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
    if (c->finishing) {
        half_close(c);
    }
}

void client_finish(Client *c)
{
    c->finishing = true;
    c->drain_deadline = now_ms() + DRAIN_MS;
    if (!out_pending(c)) {
        half_close(c);
    }
}

/*
 * Replies
 */

void reply_set_garbage(bool on)
{
    garbage_state = on ? 1 : 0;
}

void reply_iov(Client *c, const struct iovec *iov, int cnt)
{
    struct iovec garbage;
    struct msghdr msg;
    size_t total = 0;
    ssize_t n;
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
         * ZDB-PROTOCOL.md (measured): over 8 MiB the connection is dropped
         * without a reply.  0-db closes with the value unread, which
         * resets the connection while the client is still sending.
         */
        c->dead = true;
        break;
    case RESP_ERR_ARRAY:
        reply_error(c, "Malformed request, array expected");
        c->dead = true;
        break;
    case RESP_ERR_MEMORY:
        reply_error(c, "Internal memory error");
        c->dead = true;
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
           c->istart < c->iend) {
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
        if (st != RESP_DONE) {
            protocol_error(c, st);
            return;
        }
        dispatch(c, &request);
        c->istart += used;
        if (c->istart == c->iend) {
            c->istart = c->iend = 0;
        }
        if (out_pending(c) > OUT_PAUSE) {
            /* a client that does not read its replies: stop reading it */
            c->paused = true;
            client_update_events(c);
        }
    }
}

void client_on_readable(Client *c)
{
    size_t chunk = config.fast ? FAST_READ_CHUNK : ZS_READ_CHUNK;
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
                c->dead = true;
            }
            break;
        }
        if (n == 0) {
            c->dead = true;     /* peer closed: 0-db drops the client too */
            break;
        }
        stats.rx_bytes += n;
        if (c->draining || c->finishing) {
            continue;           /* discard: the connection is over */
        }
        c->iend += n;
        client_process(c);
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

void client_on_writable(Client *c)
{
    client_flush(c);
    if (!c->dead && c->paused && out_pending(c) < OUT_PAUSE / 2) {
        c->paused = false;
        client_update_events(c);
        client_process(c);
        if (config.fast) {
            client_flush(c);
        }
    }
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

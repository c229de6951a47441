/*
 * zdb block driver: RESP connections to a 0-db server
 *
 * hiredis does the protocol; this file gives it an event loop (a custom
 * adapter on aio_set_fd_handler) and turns replies into coroutine wake-ups.
 *
 * Copyright (c) 2026 the zdb driver authors
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#include "qemu/osdep.h"
#include <netinet/tcp.h>
#include "qapi/error.h"
#include "qemu/queue.h"
#include "qemu/timer.h"
#include "block/zdb-conn.h"
#include "block/zdb-resp-scan.h"
#include "trace.h"

/*
 * What one read handler hands out: requests whose replies all came are
 * entered when hiredis' reply loop is over (entering them inside it would
 * let them send and drop connections under hiredis' feet), and what they
 * queue on this connection is written once they all ran.  A completed
 * request costs neither a scheduled coroutine nor an event loop round.
 */
#define ZDB_READY_MAX 64

typedef struct ZdbReadyWaiter {
    Coroutine *co;
    AioContext *ctx;
    int ret;
    QSIMPLEQ_ENTRY(ZdbReadyWaiter) next;
} ZdbReadyWaiter;

struct ZdbConn {
    const ZdbAddr *addr;
    uint64_t *sessions_lost;    /* the pool's count, see ZdbPool */
    AioContext *ctx;
    redisAsyncContext *ac;
    int fd;
    bool tcp;
    bool reading;           /* hiredis wants read events */
    bool writing;           /* hiredis has bytes to write */
    bool poll_write;        /* ... and waits for the socket to take them */
    QEMUBH *flush_bh;       /* writes what commands queued, see below */
    bool attached;          /* fd handlers may be installed in ctx */
    bool ready;             /* namespace selected, data commands may flow */
    ZdbRespScan scan;       /* where the replies read so far end */
    int in_flight;
    int64_t timeout_ms;     /* 0: wait for replies for ever */
    QEMUTimer *timer;       /* fires when no reply came for timeout_ms */
    QEMUTimer *nudge_timer; /* ... for ZDB_NUDGE_MS, see zdb_conn_nudge */
    ZdbCmd hello;           /* SELECT (or PING) that opens the session */
    bool challenged;        /* hello is at its SELECT ... SECURE step */
    QSIMPLEQ_HEAD(, ZdbReadyWaiter) waiters;

    /* Set while zdb_conn_read runs: see ZDB_READY_MAX */
    bool in_read_handler;
    int nwoken;
    Coroutine *woken[ZDB_READY_MAX];
};

/* ------------------------------------------------------------------ */
/* hiredis event adapter                                               */
/* ------------------------------------------------------------------ */

static void zdb_conn_read(void *opaque);
static void zdb_conn_write(void *opaque);

/*
 * hiredis' reply loop (what redisAsyncHandleRead runs after reading): an
 * exported function of 0.14 and 1.x alike that not every version's
 * headers declare, so it is bound by its symbol under a name of ours.
 */
extern void zdb_hiredis_process_callbacks(redisAsyncContext *ac)
    __asm__("redisProcessCallbacks");

static void zdb_conn_update_handlers(ZdbConn *conn)
{
    if (conn->fd < 0 || !conn->attached) {
        return;
    }
    aio_set_fd_handler(conn->ctx, conn->fd,
                       conn->reading ? zdb_conn_read : NULL,
                       conn->poll_write ? zdb_conn_write : NULL,
                       NULL, NULL, conn);
}

/* Changing the fd handler only when a wish changes saves event loop work */
static void zdb_ev_set(ZdbConn *conn, bool *flag, bool on)
{
    if (*flag != on) {
        *flag = on;
        zdb_conn_update_handlers(conn);
    }
}

/*
 * hiredis asks for write events when a command is queued.  A connected
 * socket almost always takes the bytes at once, so they are written from
 * a bottom half instead, after every request of this event loop round
 * has queued its commands: one write for all of them, and no round trip
 * through the poller (two fd handler changes and a wake-up per command
 * at depth 1).  Only what the socket refuses waits for writability.
 */
static void zdb_conn_flush(void *opaque)
{
    ZdbConn *conn = opaque;

    if (!conn->ac || !conn->writing || conn->poll_write) {
        return;
    }
    redisAsyncHandleWrite(conn->ac);
    if (conn->ac && conn->writing) {
        zdb_ev_set(conn, &conn->poll_write, true);
    }
}

static void zdb_ev_add_read(void *privdata)
{
    ZdbConn *conn = privdata;
    zdb_ev_set(conn, &conn->reading, true);
}

static void zdb_ev_del_read(void *privdata)
{
    ZdbConn *conn = privdata;
    zdb_ev_set(conn, &conn->reading, false);
}

static void zdb_ev_add_write(void *privdata)
{
    ZdbConn *conn = privdata;

    if (conn->writing) {
        return;
    }
    conn->writing = true;
    if (!(conn->ac->c.flags & REDIS_CONNECTED)) {
        /* writability is how hiredis learns that the connect ended */
        zdb_ev_set(conn, &conn->poll_write, true);
        return;
    }
    /*
     * Within this connection's read handler, the handler writes once the
     * requests it entered have run; detached, attaching schedules it.
     */
    if (!conn->in_read_handler && conn->flush_bh) {
        qemu_bh_schedule(conn->flush_bh);
    }
}

static void zdb_ev_del_write(void *privdata)
{
    ZdbConn *conn = privdata;

    conn->writing = false;
    zdb_ev_set(conn, &conn->poll_write, false);
}

/* hiredis frees the context after this: forget it. */
static void zdb_ev_cleanup(void *privdata)
{
    ZdbConn *conn = privdata;

    conn->reading = false;
    conn->writing = false;
    conn->poll_write = false;
    if (conn->fd >= 0 && conn->attached) {
        aio_set_fd_handler(conn->ctx, conn->fd, NULL, NULL, NULL, NULL, NULL);
    }
    conn->fd = -1;
    conn->ac = NULL;
    *conn->sessions_lost += conn->ready;
    conn->ready = false;
}

/* Drops the connection: every command in flight fails with -ENOTCONN. */
/*
 * Closes with a reset rather than a FIN: the kernel discards what it has
 * not sent yet, so a SET queued before a timeout cannot reach the server
 * after a partition heals, behind a newer write or a catch-up copy.
 */
static void zdb_conn_reset(ZdbConn *conn)
{
    struct linger reset = { .l_onoff = 1, .l_linger = 0 };

    if (conn->fd >= 0) {
        setsockopt(conn->fd, SOL_SOCKET, SO_LINGER, &reset, sizeof(reset));
    }
}

static void zdb_conn_drop(ZdbConn *conn, const char *why)
{
    trace_zdb_connect_failed(conn->addr->namespace, why);
    zdb_conn_reset(conn);
    redisAsyncFree(conn->ac);
}

/*
 * Reads what the server sent and lets hiredis run the reply callbacks,
 * one whole reply at a time (see zdb-resp-scan.h): hiredis aborts the
 * process on a reply to a request never sent, so such a reply drops the
 * connection instead, as malformed bytes do; and hiredis' buffer is empty
 * after each reply, so it never moves what follows down.
 */
static void zdb_conn_read_replies(ZdbConn *conn)
{
    char buf[64 * 1024];
    ssize_t n, used;
    size_t off = 0;
    bool complete;
    int one = 1;

    n = read(conn->fd, buf, sizeof(buf));
    if (n < 0 && (errno == EAGAIN || errno == EINTR)) {
        return;
    }
    if (n <= 0) {
        zdb_conn_drop(conn, n ? strerror(errno) : "closed by the server");
        return;
    }
    while (off < n) {
        used = zdb_resp_scan(&conn->scan, buf + off, n - off, &complete);
        if (used < 0) {
            zdb_conn_drop(conn, "malformed reply");
            return;
        }
        if (complete && conn->in_flight == 0) {
            zdb_conn_drop(conn, "a reply to no request");
            return;
        }
        if (redisReaderFeed(conn->ac->c.reader, buf + off, used) != REDIS_OK) {
            zdb_conn_drop(conn, "out of memory");
            return;
        }
        off += used;
        /*
         * Also for part of a reply: hiredis parses the elements that are
         * whole and drops them from its buffer, which then never holds
         * more than a read's worth of a big MGET reply.
         */
        zdb_hiredis_process_callbacks(conn->ac);
        if (!conn->ac) {
            return;     /* a callback or a bad reply dropped it */
        }
    }
    /*
     * 0-db writes one reply per command without TCP_NODELAY: with delayed
     * ACKs on our side each pipelined batch would stall ~40 ms.  Linux
     * forgets TCP_QUICKACK, so re-arm it after every read.
     */
    if (conn->tcp) {
        setsockopt(conn->fd, IPPROTO_TCP, TCP_QUICKACK, &one, sizeof(one));
    }
}

static void zdb_conn_read(void *opaque)
{
    ZdbConn *conn = opaque;
    int i;

    conn->in_read_handler = true;
    zdb_conn_read_replies(conn);
    for (i = 0; i < conn->nwoken; i++) {
        aio_co_enter(qemu_coroutine_get_aio_context(conn->woken[i]),
                     conn->woken[i]);
    }
    conn->nwoken = 0;
    conn->in_read_handler = false;
    zdb_conn_flush(conn);
}

static void zdb_conn_write(void *opaque)
{
    ZdbConn *conn = opaque;

    redisAsyncHandleWrite(conn->ac);
}

/* ------------------------------------------------------------------ */
/* Session set-up                                                      */
/* ------------------------------------------------------------------ */

static void zdb_conn_wake_waiters(ZdbConn *conn, int ret)
{
    ZdbReadyWaiter *w;

    while ((w = QSIMPLEQ_FIRST(&conn->waiters))) {
        QSIMPLEQ_REMOVE_HEAD(&conn->waiters, next);
        w->ret = ret;
        aio_co_schedule(w->ctx, w->co);
    }
}

static int zdb_conn_send(ZdbConn *conn, ZdbCmd *cmd, int argc,
                         const char **argv, const size_t *argvlen);

/*
 * The answer to AUTH SECURE CHALLENGE: a nonce from 0-db, an error from a
 * server without challenges.
 */
static void zdb_conn_select(ZdbConn *conn, redisReply *challenge)
{
    g_autofree char *proof = NULL;
    const char *argv[4];
    int argc = zdb_select_argv(conn->addr,
                               challenge->type == REDIS_REPLY_STATUS
                               ? challenge->str : NULL, &proof, argv);

    conn->challenged = true;
    if (zdb_conn_send(conn, &conn->hello, argc, argv, NULL) < 0) {
        zdb_conn_wake_waiters(conn, -ENOTCONN);
    }
}

/* Waiters hear of the session's outcome; hello has no ZdbWait. */
static int zdb_conn_hello_done(ZdbCmd *cmd, redisReply *reply)
{
    ZdbConn *conn = cmd->conn;
    int ret = 0;

    if (reply && !conn->challenged && conn->addr->password) {
        zdb_conn_select(conn, reply);
        return 0;
    }
    if (!reply) {
        ret = -ENOTCONN;
    } else if (reply->type == REDIS_REPLY_ERROR) {
        ret = zdb_error_to_errno(reply->str);
        trace_zdb_select_failed(conn->addr->namespace, reply->str);
        redisAsyncDisconnect(conn->ac);
    } else if (reply->type != REDIS_REPLY_STATUS) {
        ret = -EIO;
        redisAsyncDisconnect(conn->ac);
    } else {
        conn->ready = true;
    }
    zdb_conn_wake_waiters(conn, ret);
    return ret;
}

/*
 * 0-db v2.0.7 reads a client's socket 8 KiB at a time on edge-triggered
 * epoll, and stops when a read ended exactly where a command did: the
 * commands behind it stay in the socket, unread, until the client sends
 * something more.  A connection whose commands got no reply for this
 * long sends a PING, which wakes the server to read on.
 */
#define ZDB_NUDGE_MS            50

static void zdb_timer_arm(QEMUTimer *timer, int64_t ms, bool on)
{
    if (timer && on) {
        timer_mod(timer, qemu_clock_get_ms(QEMU_CLOCK_REALTIME) + ms);
    } else if (timer) {
        timer_del(timer);
    }
}

/* The deadlines move with every reply: a slow server is not a dead one. */
static void zdb_conn_arm_timer(ZdbConn *conn)
{
    zdb_timer_arm(conn->timer, conn->timeout_ms, conn->in_flight > 0);
    zdb_timer_arm(conn->nudge_timer, ZDB_NUDGE_MS, conn->in_flight > 0);
}

/*
 * No reply for timeout_ms while commands wait: the server hangs.  Freeing
 * the context fails every command in flight (callbacks see no reply); the
 * next command connects again.
 */
static void zdb_conn_timeout(void *opaque)
{
    ZdbConn *conn = opaque;

    if (conn->ac && conn->in_flight > 0) {
        trace_zdb_timeout(conn->addr->namespace,
                          (int)(conn->timeout_ms / 1000));
        zdb_conn_reset(conn);
        redisAsyncFree(conn->ac);
    }
}

static int zdb_nudge_done(ZdbCmd *cmd, redisReply *reply)
{
    g_free(cmd);
    return 0;
}

static void zdb_conn_nudge(void *opaque)
{
    ZdbConn *conn = opaque;
    const char *argv[] = { "PING" };
    ZdbCmd *cmd;

    if (!conn->ac || !conn->ready || conn->in_flight == 0) {
        return;
    }
    cmd = g_new0(ZdbCmd, 1);
    cmd->fn = zdb_nudge_done;
    if (zdb_conn_send(conn, cmd, 1, argv, NULL) < 0) {
        g_free(cmd);
    }
    zdb_timer_arm(conn->nudge_timer, ZDB_NUDGE_MS, true);
}

/*
 * The last reply of a group wakes its coroutine: in this connection's read
 * handler, once hiredis' reply loop is over; elsewhere (a connection freed
 * or timed out) through the coroutine's AioContext.
 */
static void zdb_wait_done(ZdbConn *conn, ZdbWait *w, int ret)
{
    if (ret < 0 && w->ret == 0) {
        w->ret = ret;
    }
    assert(w->pending > 0);
    if (--w->pending > 0 || !w->co) {
        return;
    }
    if (conn->in_read_handler && conn->nwoken < ZDB_READY_MAX &&
        !qemu_in_coroutine()) {
        conn->woken[conn->nwoken++] = w->co;
    } else {
        aio_co_schedule(qemu_coroutine_get_aio_context(w->co), w->co);
    }
}

static void zdb_conn_reply(redisAsyncContext *ac, void *r, void *privdata)
{
    ZdbCmd *cmd = privdata;
    ZdbConn *conn = cmd->conn;
    ZdbWait *wait = cmd->wait;
    int ret;

    conn->in_flight--;
    if (r) {
        zdb_conn_arm_timer(conn);
    }
    ret = cmd->fn(cmd, r);
    if (wait) {
        zdb_wait_done(conn, wait, ret);
    }
}

static int zdb_conn_connect(ZdbConn *conn)
{
    const ZdbAddr *addr = conn->addr;
    redisAsyncContext *ac;
    int one = 1;
    const char *argv[3];
    int argc;

    if (addr->socket) {
        ac = redisAsyncConnectUnix(addr->socket);
    } else {
        ac = redisAsyncConnect(addr->host, addr->port);
    }
    if (!ac) {
        return -ENOMEM;
    }
    if (ac->err) {
        trace_zdb_connect_failed(addr->namespace, ac->errstr);
        redisAsyncFree(ac);
        return -ENOTCONN;
    }
    conn->ac = ac;
    conn->fd = ac->c.fd;
    zdb_resp_scan_init(&conn->scan);
    conn->tcp = !addr->socket;
    conn->ready = false;
    ac->data = conn;
    ac->ev.data = conn;
    ac->ev.addRead = zdb_ev_add_read;
    ac->ev.delRead = zdb_ev_del_read;
    ac->ev.addWrite = zdb_ev_add_write;
    ac->ev.delWrite = zdb_ev_del_write;
    ac->ev.cleanup = zdb_ev_cleanup;
    if (conn->tcp) {
        setsockopt(conn->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    }
    /* hiredis waits for writability to learn that the connect finished */
    zdb_ev_add_write(conn);

    /*
     * Nothing else is sent before this first reply: a data command that
     * ran ahead of a failed SELECT would land in the default namespace.
     */
    conn->challenged = false;
    argc = zdb_hello_argv(addr, argv);
    conn->hello.fn = zdb_conn_hello_done;
    conn->hello.wait = NULL;
    trace_zdb_connect(addr->namespace, addr->socket ? addr->socket
                                                    : addr->host, addr->port);
    return zdb_conn_send(conn, &conn->hello, argc, argv, NULL);
}

/* The timer and the bottom half live in the connection's AioContext */
static void zdb_conn_bind_ctx(ZdbConn *conn)
{
    conn->flush_bh = aio_bh_new(conn->ctx, zdb_conn_flush, conn);
    if (conn->timeout_ms) {
        conn->timer = aio_timer_new(conn->ctx, QEMU_CLOCK_REALTIME, SCALE_MS,
                                    zdb_conn_timeout, conn);
    }
    conn->nudge_timer = aio_timer_new(conn->ctx, QEMU_CLOCK_REALTIME,
                                      SCALE_MS, zdb_conn_nudge, conn);
}

static void zdb_conn_unbind_ctx(ZdbConn *conn)
{
    qemu_bh_delete(conn->flush_bh);
    conn->flush_bh = NULL;
    if (conn->timer) {
        timer_free(conn->timer);
        conn->timer = NULL;
    }
    timer_free(conn->nudge_timer);
    conn->nudge_timer = NULL;
}

static ZdbConn *zdb_conn_new(const ZdbAddr *addr, int timeout_s,
                             AioContext *ctx)
{
    ZdbConn *conn = g_new0(ZdbConn, 1);

    conn->addr = addr;
    conn->ctx = ctx;
    conn->fd = -1;
    conn->attached = true;
    conn->timeout_ms = (int64_t)timeout_s * 1000;
    QSIMPLEQ_INIT(&conn->waiters);
    zdb_conn_bind_ctx(conn);
    return conn;
}

static void zdb_conn_free(ZdbConn *conn)
{
    if (!conn) {
        return;
    }
    if (conn->ac) {
        /* runs every pending callback with a NULL reply, then cleanup */
        redisAsyncFree(conn->ac);
    }
    assert(QSIMPLEQ_EMPTY(&conn->waiters));
    zdb_conn_unbind_ctx(conn);
    g_free(conn);
}

static void zdb_conn_detach_aio_context(ZdbConn *conn)
{
    if (conn->fd >= 0) {
        aio_set_fd_handler(conn->ctx, conn->fd, NULL, NULL, NULL, NULL, NULL);
    }
    conn->attached = false;
    zdb_conn_unbind_ctx(conn);
}

static void zdb_conn_attach_aio_context(ZdbConn *conn, AioContext *ctx)
{
    conn->ctx = ctx;
    conn->attached = true;
    zdb_conn_update_handlers(conn);
    zdb_conn_bind_ctx(conn);
    zdb_conn_arm_timer(conn);
    if (conn->writing) {
        qemu_bh_schedule(conn->flush_bh);   /* what was queued meanwhile */
    }
}

static int zdb_conn_in_flight(ZdbConn *conn)
{
    return conn->in_flight + (conn->ready ? 0 : 1);
}

/*
 * Waits until the connection has selected its namespace, connecting (again)
 * if it is down.  Returns 0 or a negative errno.
 */
static int coroutine_fn zdb_conn_co_ready(ZdbConn *conn)
{
    ZdbReadyWaiter w;
    int ret;

    if (conn->ready) {
        return 0;
    }
    if (!conn->ac) {
        ret = zdb_conn_connect(conn);
        if (ret < 0) {
            return ret;
        }
    }
    w.co = qemu_coroutine_self();
    w.ctx = qemu_get_current_aio_context();
    w.ret = -ENOTCONN;
    QSIMPLEQ_INSERT_TAIL(&conn->waiters, &w, next);
    qemu_coroutine_yield();
    return w.ret;
}

/*
 * Queues one command.  Returns 0 or -ENOTCONN when the connection cannot
 * take it (then its fn will not run).
 */
static int zdb_conn_send(ZdbConn *conn, ZdbCmd *cmd, int argc,
                         const char **argv, const size_t *argvlen)
{
    if (!conn->ac) {
        return -ENOTCONN;
    }
    cmd->conn = conn;
    if (redisAsyncCommandArgv(conn->ac, zdb_conn_reply, cmd, argc, argv,
                              argvlen) != REDIS_OK) {
        return -ENOTCONN;
    }
    if (conn->in_flight++ == 0) {
        zdb_conn_arm_timer(conn);
    }
    return 0;
}

/* ------------------------------------------------------------------ */
/* Pools                                                               */
/* ------------------------------------------------------------------ */

ZdbPool *zdb_pool_new(const ZdbAddr *addr, int n, int timeout_s,
                      AioContext *ctx)
{
    ZdbPool *pool = g_new0(ZdbPool, 1);
    int i;

    pool->addr = addr;
    pool->n = n;
    pool->conns = g_new0(ZdbConn *, n);
    for (i = 0; i < n; i++) {
        pool->conns[i] = zdb_conn_new(addr, timeout_s, ctx);
        pool->conns[i]->sessions_lost = &pool->sessions_lost;
    }
    return pool;
}

void zdb_pool_free(ZdbPool *pool)
{
    int i;

    if (!pool) {
        return;
    }
    for (i = 0; i < pool->n; i++) {
        zdb_conn_free(pool->conns[i]);
    }
    g_free(pool->conns);
    g_free(pool);
}

void zdb_pool_detach_aio_context(ZdbPool *pool)
{
    int i;

    for (i = 0; i < pool->n; i++) {
        zdb_conn_detach_aio_context(pool->conns[i]);
    }
}

void zdb_pool_attach_aio_context(ZdbPool *pool, AioContext *ctx)
{
    int i;

    for (i = 0; i < pool->n; i++) {
        zdb_conn_attach_aio_context(pool->conns[i], ctx);
    }
}

/*
 * A light load stays on the first ready connection: the server answers
 * a whole batch per wake-up there, and 32 disks on one server keep 32
 * sockets busy, not 64.  Past ZDB_POOL_SPREAD commands in flight on each,
 * the connection with the fewest, round-robin among equals, once it is
 * ready to take commands (a lost one is made again then).
 */
#define ZDB_POOL_SPREAD         8

static ZdbConn *zdb_pool_light(ZdbPool *pool)
{
    int i;

    for (i = 0; i < pool->n; i++) {
        ZdbConn *c = pool->conns[i];

        if (c->ready && c->in_flight < ZDB_POOL_SPREAD) {
            return c;
        }
    }
    return NULL;
}

static ZdbConn *zdb_pool_least_busy(ZdbPool *pool)
{
    ZdbConn *best = NULL;
    int i, best_load = INT_MAX;

    for (i = 0; i < pool->n; i++) {
        ZdbConn *c = pool->conns[(pool->next + i) % pool->n];
        int load = zdb_conn_in_flight(c);
        if (load < best_load) {
            best = c;
            best_load = load;
        }
    }
    pool->next++;
    return best;
}

/*
 * With none ready, the one already connecting: requests that come before
 * the first connection is made (right after open) must not make another.
 */
static ZdbConn *zdb_pool_connecting(ZdbPool *pool)
{
    int i;

    for (i = 0; i < pool->n; i++) {
        if (pool->conns[i]->ready) {
            return NULL;
        }
    }
    for (i = 0; i < pool->n; i++) {
        if (pool->conns[i]->ac) {
            return pool->conns[i];
        }
    }
    return NULL;
}

static int coroutine_fn zdb_pool_co_get(ZdbPool *pool, ZdbConn **out)
{
    *out = zdb_pool_light(pool) ?: zdb_pool_connecting(pool) ?:
           zdb_pool_least_busy(pool);
    return zdb_conn_co_ready(*out);
}

bool zdb_pool_try_connect(ZdbPool *pool)
{
    int i;

    for (i = 0; i < pool->n; i++) {
        if (pool->conns[i]->ready) {
            return true;
        }
    }
    if (!pool->conns[0]->ac) {
        zdb_conn_connect(pool->conns[0]);
    }
    return false;
}

int coroutine_fn zdb_pool_co_send(ZdbPool *pool, ZdbCmd *cmd, ZdbReplyFn *fn,
                                  ZdbWait *wait, int argc, const char **argv,
                                  const size_t *argvlen)
{
    ZdbConn *conn;
    int ret;

    cmd->fn = fn;
    cmd->wait = wait;
    ret = zdb_pool_co_get(pool, &conn);
    if (ret == 0) {
        ret = zdb_conn_send(conn, cmd, argc, argv, argvlen);
    }
    if (ret == 0) {
        wait->pending++;
    }
    return ret;
}

int coroutine_fn zdb_pool_co_call(ZdbPool *pool, ZdbCmd *cmd, ZdbReplyFn *fn,
                                  int argc, const char **argv,
                                  const size_t *argvlen)
{
    ZdbWait wait;
    int ret;

    zdb_wait_init(&wait);
    ret = zdb_pool_co_send(pool, cmd, fn, &wait, argc, argv, argvlen);
    if (ret < 0) {
        return ret;
    }
    return zdb_wait_all(&wait);
}

void zdb_wait_init(ZdbWait *w)
{
    w->co = NULL;
    w->pending = 0;
    w->ret = 0;
}

int coroutine_fn zdb_wait_all(ZdbWait *w)
{
    if (w->pending > 0) {
        w->co = qemu_coroutine_self();
        qemu_coroutine_yield();
        w->co = NULL;
    }
    return w->ret;
}

/* ------------------------------------------------------------------ */
/* Blocking helpers for open and create                                */
/* ------------------------------------------------------------------ */

redisReply *zdb_sync_command(redisContext *c, const ZdbAddr *addr,
                             Error **errp, int argc, const char **argv,
                             const size_t *argvlen)
{
    redisReply *reply = redisCommandArgv(c, argc, argv, argvlen);

    if (!reply) {
        g_autofree char *where = zdb_addr_describe(addr);
        error_setg(errp, "zdb: %s: %s failed: %s", where, argv[0],
                   c->errstr[0] ? c->errstr : "connection lost");
    }
    return reply;
}

/*
 * Connects, checks that the server answers and selects the namespace.
 * Connecting is retried until @open_timeout_s (0: one attempt); *unreachable
 * tells a server that could not be reached from one that said no.
 */
redisContext *zdb_sync_connect(const ZdbAddr *addr, int timeout_s,
                               int open_timeout_s, bool *unreachable,
                               Error **errp)
{
    struct timeval tv = { .tv_sec = timeout_s };
    g_autofree char *where = zdb_addr_describe(addr);
    int64_t deadline = g_get_monotonic_time() +
                       (int64_t)open_timeout_s * G_USEC_PER_SEC;
    redisContext *c;
    redisReply *reply;
    const char *argv[3] = { "PING" };
    int argc;

    if (unreachable) {
        *unreachable = false;
    }
    for (;;) {
        if (addr->socket) {
            c = redisConnectUnixWithTimeout(addr->socket, tv);
        } else {
            c = redisConnectWithTimeout(addr->host, addr->port, tv);
        }
        if (c && !c->err) {
            break;
        }
        if (g_get_monotonic_time() >= deadline) {
            error_setg(errp, "zdb: cannot connect to %s: %s", where,
                       c ? c->errstr : "out of memory");
            if (unreachable) {
                *unreachable = true;
            }
            goto fail;
        }
        if (c) {
            redisFree(c);
        }
        g_usleep(100 * 1000);
    }
    redisSetTimeout(c, tv);

    reply = zdb_sync_command(c, addr, errp, 1, argv, NULL);
    if (!reply) {
        if (unreachable) {
            *unreachable = true;
        }
        goto fail;
    }
    if (reply->type == REDIS_REPLY_ERROR) {
        error_setg(errp, "zdb: %s does not answer PING: %s", where,
                   reply->str);
        freeReplyObject(reply);
        goto fail;
    }
    freeReplyObject(reply);

    if (zdb_addr_needs_select(addr)) {
        g_autofree char *proof = NULL;
        g_autofree char *nonce = NULL;
        const char *sel[4];

        if (addr->password) {
            argc = zdb_hello_argv(addr, argv);
            reply = zdb_sync_command(c, addr, errp, argc, argv, NULL);
            if (!reply) {
                goto fail;
            }
            if (reply->type == REDIS_REPLY_STATUS) {
                nonce = g_strdup(reply->str);
            }
            freeReplyObject(reply);
        }
        argc = zdb_select_argv(addr, nonce, &proof, sel);
        reply = zdb_sync_command(c, addr, errp, argc, sel, NULL);
        if (!reply) {
            goto fail;
        }
        if (reply->type != REDIS_REPLY_STATUS) {
            error_setg(errp, "zdb: %s: cannot select namespace '%s': %s",
                       where, addr->namespace,
                       reply->type == REDIS_REPLY_ERROR ? reply->str
                                                        : "unexpected reply");
            freeReplyObject(reply);
            goto fail;
        }
        freeReplyObject(reply);
    }
    return c;

fail:
    if (c) {
        redisFree(c);
    }
    return NULL;
}

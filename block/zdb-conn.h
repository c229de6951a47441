/*
 * zdb block driver: RESP connections to a 0-db server
 *
 * A ZdbConn is one hiredis async connection whose socket is driven by an
 * AioContext.  Commands are sent from coroutines; replies arrive in fd
 * handlers and wake the coroutine that waits for them.  The synchronous
 * helpers are only for open and create, which may block.
 *
 * Copyright (c) 2026 the zdb driver authors
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#ifndef BLOCK_ZDB_CONN_H
#define BLOCK_ZDB_CONN_H

#include <hiredis/hiredis.h>
#include <hiredis/async.h>
#include "block/aio.h"
#include "qemu/coroutine.h"
#include "qemu/timer.h"

/* Where a namespace lives and how to enter it. */
typedef struct ZdbAddr {
    char *host;
    int port;
    char *socket;       /* overrides host/port when set */
    char *namespace;
    char *password;
} ZdbAddr;

typedef struct ZdbConn ZdbConn;

/*
 * One command in flight.  The callback runs in the fd handler with the
 * reply (NULL when the connection is lost) and must copy out what it
 * needs: hiredis frees the reply when the callback returns.
 */
typedef struct ZdbCmd ZdbCmd;
typedef void ZdbReplyFn(ZdbCmd *cmd, redisReply *reply);
struct ZdbCmd {
    ZdbReplyFn *fn;
    void *opaque;
    ZdbConn *conn;
};

/* A group of commands that one coroutine waits for as a whole. */
typedef struct ZdbWait {
    Coroutine *co;
    int pending;
    int ret;            /* first error, negative errno; 0 when all went well */
} ZdbWait;

ZdbConn *zdb_conn_new(const ZdbAddr *addr, int timeout_s, AioContext *ctx);
void zdb_conn_free(ZdbConn *conn);
void zdb_conn_detach_aio_context(ZdbConn *conn);
void zdb_conn_attach_aio_context(ZdbConn *conn, AioContext *ctx);
int zdb_conn_in_flight(ZdbConn *conn);

/*
 * Wait until the connection has selected its namespace, connecting (again)
 * if it is down.  Returns 0 or a negative errno.
 */
int coroutine_fn zdb_conn_co_ready(ZdbConn *conn);

/*
 * Queue one command; @cmd must live until its callback ran.  Returns 0 or
 * -ENOTCONN when the connection cannot take it (the callback will not
 * run).  -ENOTCONN is also what a command gets when its connection is lost
 * before the reply: the callback sees a NULL reply.
 */
int zdb_conn_send(ZdbConn *conn, ZdbCmd *cmd, int argc, const char **argv,
                  const size_t *argvlen);

/*
 * The connections to one namespace; requests go to the least busy.
 * @addr must outlive the pool.
 */
typedef struct ZdbPool {
    const ZdbAddr *addr;
    int n;
    unsigned next;
    ZdbConn **conns;
} ZdbPool;

ZdbPool *zdb_pool_new(const ZdbAddr *addr, int n, int timeout_s,
                      AioContext *ctx);
void zdb_pool_free(ZdbPool *pool);
void zdb_pool_detach_aio_context(ZdbPool *pool);
void zdb_pool_attach_aio_context(ZdbPool *pool, AioContext *ctx);
int coroutine_fn zdb_pool_co_get(ZdbPool *pool, ZdbConn **out);
/* One command on a connection of @pool, waited for; @cmd's fn ends @wait */
int coroutine_fn zdb_pool_co_call(ZdbPool *pool, ZdbCmd *cmd, ZdbWait *wait,
                                  int argc, const char **argv,
                                  const size_t *argvlen);

/* ZdbWait helpers: account one command, finish one, wait for all. */
void zdb_wait_init(ZdbWait *w);
void zdb_wait_done(ZdbWait *w, int ret);
int coroutine_fn zdb_wait_all(ZdbWait *w);

/* Reply interpretation shared by the async and the sync paths. */
int zdb_error_to_errno(const char *msg);
int zdb_reply_check_write(redisReply *reply);
int zdb_reply_check_del(redisReply *reply);

/* Blocking helpers for open and create. */
redisContext *zdb_sync_connect(const ZdbAddr *addr, int timeout_s,
                               int open_timeout_s, bool *unreachable,
                               Error **errp);
redisReply *zdb_sync_command(redisContext *c, const ZdbAddr *addr,
                             Error **errp, int argc, const char **argv,
                             const size_t *argvlen);
char *zdb_addr_describe(const ZdbAddr *addr);
char *zdb_secure_proof(const char *nonce, const char *password);

#endif

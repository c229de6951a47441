/*
 * zdb block driver: RESP connections to a 0-db server
 *
 * A ZdbConn is one hiredis async connection whose socket is driven by an
 * AioContext; a ZdbPool is the connections to one namespace.  Commands are
 * sent from coroutines in that AioContext; replies arrive in fd handlers,
 * are interpreted by the command's ZdbReplyFn and counted off a ZdbWait,
 * whose coroutine wakes when all of its commands are answered.  The
 * synchronous helpers are only for open and create, which may block.
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
#include "block/zdb-proto.h"

typedef struct ZdbConn ZdbConn;

/* A group of commands that one coroutine waits for as a whole. */
typedef struct ZdbWait {
    Coroutine *co;
    int pending;
    int ret;            /* first error, negative errno; 0 when all went well */
} ZdbWait;

/*
 * One command in flight.  @fn runs in the fd handler with the reply (NULL
 * when the connection was lost before it came), copies out what it needs
 * (hiredis frees the reply afterwards) and returns 0 or a negative errno,
 * which is counted off @wait.
 */
typedef struct ZdbCmd ZdbCmd;
typedef int ZdbReplyFn(ZdbCmd *cmd, redisReply *reply);
struct ZdbCmd {
    ZdbReplyFn *fn;
    ZdbWait *wait;
    ZdbConn *conn;      /* the connection it was sent on */
};

/*
 * The connections to one namespace; requests go to the least busy.
 * @addr must outlive the pool.
 */
typedef struct ZdbPool {
    const ZdbAddr *addr;
    int n;
    unsigned next;
    ZdbConn **conns;
    /*
     * Sessions lost (the connection dropped after it had selected the
     * namespace): from then on, another client may have changed the
     * namespace unseen.
     */
    uint64_t sessions_lost;
} ZdbPool;

ZdbPool *zdb_pool_new(const ZdbAddr *addr, int n, int timeout_s,
                      AioContext *ctx);
void zdb_pool_free(ZdbPool *pool);
void zdb_pool_detach_aio_context(ZdbPool *pool);
void zdb_pool_attach_aio_context(ZdbPool *pool, AioContext *ctx);

/*
 * Whether a connection of @pool has selected its namespace; if none has,
 * one starts connecting, and nothing waits for it.
 */
bool zdb_pool_try_connect(ZdbPool *pool);

/*
 * Sends one command on the least busy connection of @pool (connecting it
 * first if it is down) and counts it on @wait; @cmd must live until @wait
 * is over.  hiredis copies the command out: @argv may be reused at once.
 * Returns 0, or a negative errno and then @wait does not count it.
 */
int coroutine_fn zdb_pool_co_send(ZdbPool *pool, ZdbCmd *cmd, ZdbReplyFn *fn,
                                  ZdbWait *wait, int argc, const char **argv,
                                  const size_t *argvlen);

/* One command sent and waited for; its @fn's result. */
int coroutine_fn zdb_pool_co_call(ZdbPool *pool, ZdbCmd *cmd, ZdbReplyFn *fn,
                                  int argc, const char **argv,
                                  const size_t *argvlen);

void zdb_wait_init(ZdbWait *w);
/* Waits until every command counted on @w is answered; the first error. */
int coroutine_fn zdb_wait_all(ZdbWait *w);

/* Blocking helpers for open and create. */
redisContext *zdb_sync_connect(const ZdbAddr *addr, int timeout_s,
                               int open_timeout_s, bool *unreachable,
                               Error **errp);
redisReply *zdb_sync_command(redisContext *c, const ZdbAddr *addr,
                             Error **errp, int argc, const char **argv,
                             const size_t *argvlen);

#endif

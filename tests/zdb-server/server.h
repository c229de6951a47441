/*
 * zdb-server: a test server that answers like 0-db v2.0.7
 *
 * Shared types: configuration, requests, clients and the reply API.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#ifndef ZS_SERVER_H
#define ZS_SERVER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/uio.h>

/* Limits of 0-db v2.0.7 (zdbd/redis.h, libzdb) */
#define ZS_MAX_KEY          255
#define ZS_MAX_PAYLOAD      (8 * 1024 * 1024)
#define ZS_MAX_ARGS         1024
#define ZS_NS_NAME_MAX      128
#define ZS_PASSWORD_MAX     255
#define ZS_NSSET_VALUE_MAX  63

/*
 * 0-db reads a socket 8 KiB at a time and answers every request as soon
 * as it is parsed, so replies are interleaved with reads.  We do the same
 * so that the timing of replies on the wire (Nagle) matches.
 */
#define ZS_READ_CHUNK       8192

typedef struct Namespace Namespace;

typedef struct Arg {
    const unsigned char *buf;   /* points into the client's input buffer */
    size_t len;
} Arg;

typedef struct Request {
    int argc;
    Arg argv[ZS_MAX_ARGS];
} Request;

typedef struct Config {
    const char *listen;         /* TCP address, NULL: no TCP */
    const char *port;
    const char *socket;         /* unix socket path, NULL: none */
    const char *datadir;        /* NULL: memory only */
    const char *admin;          /* admin password, NULL: everyone is admin */
    bool sync;                  /* fdatasync() the log before replying */
    bool fast;                  /* coalesce replies, TCP_NODELAY: NOT 0-db */
    bool no_challenge;          /* no AUTH SECURE: an older 0-db */
    bool protect;               /* default namespace protected by admin pw */
    bool verbose;
    int mode;                   /* -1: mixed (0-db default), else NS_MODE_* */
    uint64_t default_maxsize;
    uint64_t datasize;          /* data file size before the next (--datasize) */
    uint64_t scan_batch;        /* NOT 0-db: at most this many per SCAN call */
} Config;

typedef struct Stats {
    uint64_t clients_lifetime;
    uint64_t commands;
    uint64_t commands_failed;
    uint64_t admin_failed;
    uint64_t writes;            /* reply write() calls */
    uint64_t resets;            /* connections the client reset (RST) */
    uint64_t input_stalls;      /* reads that left input unread (0-db) */
    uint64_t rx_bytes;
    uint64_t tx_bytes;
    uint64_t select_plain;      /* SELECT with the password in clear */
    uint64_t select_secure;     /* SELECT ... SECURE (challenge) */
    int64_t boot_time;
} Stats;

/* A reply held back by a delay (ZDBTEST DELAY): its length and due time */
typedef struct HeldReply {
    int64_t due_us;             /* now_us() at which it may be sent */
    size_t len;                 /* its bytes, next in the client's hbuf */
} HeldReply;

typedef struct Client {
    int tag;                    /* EV_CLIENT, see net.c */
    int fd;
    bool tcp;
    uint64_t id;

    Namespace *ns;              /* NULL once its namespace was deleted */
    bool writable;
    bool admin;
    bool has_nonce;
    char nonce[17];

    /* input: bytes [istart, iend) are received and not yet consumed */
    unsigned char *ibuf;
    size_t icap, istart, iend;

    /* output not yet accepted by the kernel: [ostart, oend) */
    unsigned char *obuf;
    size_t ocap, ostart, oend;
    bool want_write;            /* EPOLLOUT armed */

    /*
     * Replies held back by a delay, oldest first: bytes [hstart, hend) of
     * hbuf, cut into replies by held[hhead, htail).  A reply goes to the
     * socket (or the output queue) only once it is due, and only after
     * every reply before it: order is kept per connection.
     */
    unsigned char *hbuf;
    size_t hcap, hstart, hend;
    HeldReply *held;
    size_t heldcap, hhead, htail;
    bool close_after;           /* close once the held replies are sent */
    bool paused;                /* input not read: too much output queued */
    /*
     * As 0-db: a read of a whole chunk that ended where a command ended
     * leaves the rest in the socket until more arrives (stalled_avail:
     * the bytes unread then).
     */
    bool stalled;
    int stalled_avail;

    bool dead;                  /* close at the end of this loop turn */
    bool finishing;             /* half-close once output is flushed */
    bool draining;              /* half-closed: discard input until EOF */
    int64_t drain_deadline;     /* close anyway then (finishing/draining) */

    struct Client *prev, *next;
} Client;

extern Config config;
extern Stats stats;

/* Monotonic milliseconds, and microseconds (the same clock) */
int64_t now_ms(void);
int64_t now_us(void);

/*
 * Replies.  In the default (faithful) mode each call is exactly one
 * sendmsg() on the socket, as 0-db does one send() per reply; with
 * --fast replies are gathered and sent once per batch of input.
 */
void reply_iov(Client *c, const struct iovec *iov, int iovcnt);
void reply_raw(Client *c, const void *buf, size_t len);
void reply_error(Client *c, const char *msg);   /* "-msg\r\n" */
void reply_status(Client *c, const char *msg);  /* "+msg\r\n" */
void reply_bulk(Client *c, const void *buf, size_t len);
void reply_nil(Client *c);
void reply_int(Client *c, long long v);

/*
 * While on, the first reply is replaced by the fault's garbage bytes and
 * any further reply to the same command is dropped (ZDBTEST GARBAGE).
 */
void reply_set_garbage(bool on);

/* Client list, for commands that act on every connection */
Client *client_first(void);

/* Send what is queued, then half-close and drop the connection */
void client_finish(Client *c);
/* Flush queued output now (used before dropping connections) */
void client_flush(Client *c);
/*
 * Close the connection once the replies held back by a delay are sent
 * (at once when none is held), reading nothing more from it: a reply
 * followed by a close reaches the client in that order, delay or not.
 */
void client_close_after_replies(Client *c);

/* Command dispatch (dispatch.c) */
void dispatch(Client *c, Request *req);

#endif

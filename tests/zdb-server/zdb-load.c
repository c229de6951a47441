/*
 * zdb-load: load generator for zdb-server (or a real 0-db)
 *
 * N clients, each on its own connection and thread, write a batch of
 * pipelined SETs of fixed-size values, then read the same keys back with
 * a batch of pipelined GETs and check every byte.  Keys are 8 bytes
 * big-endian, like the block driver's.  Prints ops/s.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#define KEYS_PER_CLIENT 256

static const char *opt_socket, *opt_host = "127.0.0.1", *opt_port;
static int opt_clients = 64, opt_depth = 32, opt_size = 4096;
static double opt_seconds = 3.0;
static bool opt_quickack, opt_nodelay;

static int go;                  /* start line: set once, read atomically */
static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static uint64_t total_set, total_get, total_errors;

typedef struct Worker {
    pthread_t thread;
    int id;
    int fd;
    uint32_t gen[KEYS_PER_CLIENT];
    unsigned char *in;
    size_t incap, inlen, inpos;
    unsigned char *out;
    size_t outcap;
    unsigned char *val;
    uint64_t sets, gets, errors;
} Worker;

static double now_s(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec / 1e9;
}

static int connect_server(void)
{
    int fd, one = 1;

    if (opt_socket) {
        struct sockaddr_un sa;

        memset(&sa, 0, sizeof(sa));
        sa.sun_family = AF_UNIX;
        snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", opt_socket);
        fd = socket(AF_UNIX, SOCK_STREAM, 0);
        if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
            perror("zdb-load: connect");
            return -1;
        }
        return fd;
    } else {
        struct addrinfo hints, *res;

        memset(&hints, 0, sizeof(hints));
        hints.ai_socktype = SOCK_STREAM;
        if (getaddrinfo(opt_host, opt_port, &hints, &res) != 0) {
            fprintf(stderr, "zdb-load: cannot resolve %s\n", opt_host);
            return -1;
        }
        fd = socket(res->ai_family, SOCK_STREAM, 0);
        if (fd < 0 || connect(fd, res->ai_addr, res->ai_addrlen) < 0) {
            perror("zdb-load: connect");
            freeaddrinfo(res);
            return -1;
        }
        freeaddrinfo(res);
        if (opt_nodelay) {
            setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
        }
        return fd;
    }
}

static void fill_value(unsigned char *v, uint64_t key, uint32_t gen)
{
    uint32_t x = (uint32_t)(key * 2654435761u) ^ (gen * 40503u);
    int i;

    for (i = 0; i < opt_size; i++) {
        x = x * 1103515245u + 12345u;
        v[i] = (unsigned char)(x >> 16);
    }
}

static void make_key(unsigned char k[8], uint64_t key)
{
    int i;

    for (i = 0; i < 8; i++) {
        k[i] = (unsigned char)(key >> (56 - 8 * i));
    }
}

static size_t put_cmd(unsigned char *p, const char *cmd,
                      const unsigned char *key, const unsigned char *val,
                      int vlen)
{
    size_t n = 0;
    bool set = val != NULL;

    n += sprintf((char *)p + n, "*%d\r\n$%zu\r\n%s\r\n$8\r\n", set ? 3 : 2,
                 strlen(cmd), cmd);
    memcpy(p + n, key, 8);
    n += 8;
    memcpy(p + n, "\r\n", 2);
    n += 2;
    if (set) {
        n += sprintf((char *)p + n, "$%d\r\n", vlen);
        memcpy(p + n, val, vlen);
        n += vlen;
        memcpy(p + n, "\r\n", 2);
        n += 2;
    }
    return n;
}

static bool write_all(int fd, const unsigned char *p, size_t len)
{
    while (len) {
        ssize_t n = write(fd, p, len);

        if (n < 0) {
            if (errno == EINTR) {
                continue;
            }
            perror("zdb-load: write");
            return false;
        }
        p += n;
        len -= n;
    }
    return true;
}

static bool fill(Worker *w)
{
    ssize_t n;
    int one = 1;

    if (w->inpos == w->inlen) {
        w->inpos = w->inlen = 0;
    }
    if (w->incap - w->inlen < 65536) {
        memmove(w->in, w->in + w->inpos, w->inlen - w->inpos);
        w->inlen -= w->inpos;
        w->inpos = 0;
    }
    if (opt_quickack && !opt_socket) {
        /* Linux clears it after use: re-arm before every read */
        setsockopt(w->fd, IPPROTO_TCP, TCP_QUICKACK, &one, sizeof(one));
    }
    do {
        n = read(w->fd, w->in + w->inlen, w->incap - w->inlen);
    } while (n < 0 && errno == EINTR);
    if (n <= 0) {
        fprintf(stderr, "zdb-load: client %d: %s\n", w->id,
                n == 0 ? "connection closed" : strerror(errno));
        return false;
    }
    w->inlen += n;
    return true;
}

/* Read one reply: bulk payload in data, len; len -1: nil, -2: other */
static bool read_reply(Worker *w, const unsigned char **data, long *len)
{
    for (;;) {
        unsigned char *p = w->in + w->inpos;
        size_t avail = w->inlen - w->inpos;
        unsigned char *nl = memchr(p, '\n', avail);

        if (nl) {
            size_t hdr = nl - p + 1;

            if (p[0] != '$') {
                *data = p;
                *len = -2;
                if (p[0] == '-') {
                    fprintf(stderr, "zdb-load: client %d: error %.*s\n",
                            w->id, (int)(hdr - 2), p + 1);
                }
                w->inpos += hdr;
                return true;
            }
            *len = atol((char *)p + 1);
            if (*len < 0) {
                *data = NULL;
                w->inpos += hdr;
                return true;
            }
            if (avail >= hdr + *len + 2) {
                *data = p + hdr;
                w->inpos += hdr + *len + 2;
                return true;
            }
        }
        if (!fill(w)) {
            return false;
        }
    }
}

static void *worker_main(void *opaque)
{
    Worker *w = opaque;
    double end;
    unsigned char key[8];
    uint32_t next = 0;

    while (!__atomic_load_n(&go, __ATOMIC_ACQUIRE)) {
        usleep(1000);
    }
    end = now_s() + opt_seconds;

    while (now_s() < end) {
        size_t n = 0;
        uint32_t first = next;
        int i;

        /* a batch of SETs, pipelined in one write */
        for (i = 0; i < opt_depth; i++) {
            uint32_t k = (first + i) % KEYS_PER_CLIENT;
            uint64_t kk = ((uint64_t)w->id << 32) | k;

            w->gen[k]++;
            fill_value(w->val, kk, w->gen[k]);
            make_key(key, kk);
            n += put_cmd(w->out + n, "SET", key, w->val, opt_size);
        }
        if (!write_all(w->fd, w->out, n)) {
            w->errors++;
            break;
        }
        for (i = 0; i < opt_depth; i++) {
            const unsigned char *d;
            long len;
            uint64_t kk = ((uint64_t)w->id << 32) |
                          ((first + i) % KEYS_PER_CLIENT);

            if (!read_reply(w, &d, &len)) {
                w->errors++;
                goto out;
            }
            make_key(key, kk);
            if (len != 8 || memcmp(d, key, 8) != 0) {
                w->errors++;
            }
            w->sets++;
        }

        /* the same keys back, pipelined GETs, every byte checked */
        n = 0;
        for (i = 0; i < opt_depth; i++) {
            uint64_t kk = ((uint64_t)w->id << 32) |
                          ((first + i) % KEYS_PER_CLIENT);

            make_key(key, kk);
            n += put_cmd(w->out + n, "GET", key, NULL, 0);
        }
        if (!write_all(w->fd, w->out, n)) {
            w->errors++;
            break;
        }
        for (i = 0; i < opt_depth; i++) {
            uint32_t k = (first + i) % KEYS_PER_CLIENT;
            uint64_t kk = ((uint64_t)w->id << 32) | k;
            const unsigned char *d;
            long len;

            if (!read_reply(w, &d, &len)) {
                w->errors++;
                goto out;
            }
            fill_value(w->val, kk, w->gen[k]);
            if (len != opt_size || memcmp(d, w->val, opt_size) != 0) {
                if (!w->errors) {
                    fprintf(stderr, "zdb-load: client %d: bad GET reply "
                            "(len %ld)\n", w->id, len);
                }
                w->errors++;
            }
            w->gets++;
        }
        next = (first + opt_depth) % KEYS_PER_CLIENT;
    }
out:
    pthread_mutex_lock(&lock);
    total_set += w->sets;
    total_get += w->gets;
    total_errors += w->errors;
    pthread_mutex_unlock(&lock);
    return NULL;
}

static void usage(void)
{
    fprintf(stderr,
        "usage: zdb-load (--socket PATH | [--host H] --port P)\n"
        "       [--clients N] [--depth N] [--size BYTES] [--seconds S]\n"
        "       [--quickack] [--nodelay]\n");
    exit(2);
}

int main(int argc, char **argv)
{
    Worker *ws;
    double t0, t1;
    int i;

    for (i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;

        if (strcmp(a, "--quickack") == 0) {
            opt_quickack = true;
            continue;
        }
        if (strcmp(a, "--nodelay") == 0) {
            opt_nodelay = true;
            continue;
        }
        if (!v) {
            usage();
        }
        i++;
        if (strcmp(a, "--socket") == 0) {
            opt_socket = v;
        } else if (strcmp(a, "--host") == 0) {
            opt_host = v;
        } else if (strcmp(a, "--port") == 0) {
            opt_port = v;
        } else if (strcmp(a, "--clients") == 0) {
            opt_clients = atoi(v);
        } else if (strcmp(a, "--depth") == 0) {
            opt_depth = atoi(v);
        } else if (strcmp(a, "--size") == 0) {
            opt_size = atoi(v);
        } else if (strcmp(a, "--seconds") == 0) {
            opt_seconds = atof(v);
        } else {
            usage();
        }
    }
    if ((!opt_socket && !opt_port) || opt_clients < 1 || opt_depth < 1 ||
        opt_depth > KEYS_PER_CLIENT || opt_size < 1) {
        usage();
    }

    ws = calloc(opt_clients, sizeof(*ws));
    for (i = 0; i < opt_clients; i++) {
        Worker *w = &ws[i];

        w->id = i + 1;
        w->fd = connect_server();
        if (w->fd < 0) {
            return 1;
        }
        w->outcap = (size_t)opt_depth * (opt_size + 64);
        w->out = malloc(w->outcap);
        w->incap = (size_t)opt_depth * (opt_size + 64) + 131072;
        w->in = malloc(w->incap);
        w->val = malloc(opt_size);
        pthread_create(&w->thread, NULL, worker_main, w);
    }
    t0 = now_s();
    __atomic_store_n(&go, 1, __ATOMIC_RELEASE);
    for (i = 0; i < opt_clients; i++) {
        pthread_join(ws[i].thread, NULL);
        close(ws[i].fd);
        free(ws[i].in);
        free(ws[i].out);
        free(ws[i].val);
    }
    free(ws);
    t1 = now_s() - t0;

    printf("zdb-load: transport=%s clients=%d depth=%d size=%d "
           "seconds=%.2f set=%.0f/s get=%.0f/s total=%.0f/s errors=%llu\n",
           opt_socket ? "unix" : "tcp", opt_clients, opt_depth, opt_size, t1,
           total_set / t1, total_get / t1, (total_set + total_get) / t1,
           (unsigned long long)total_errors);
    return total_errors ? 1 : 0;
}

/*
 * Listening sockets and the event loop: one thread, level-triggered
 * epoll, a signalfd for SIGTERM/SIGINT (exit) and SIGUSR1 (clear faults).
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#include <arpa/inet.h>
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/signalfd.h>
#include <sys/timerfd.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>
#include "fault.h"
#include "net.h"

#define MAX_LISTENERS 2
#define MAX_EVENTS 256

typedef struct Listener {
    int tag;
    int fd;
    bool tcp;
} Listener;

int net_epfd = -1;

static Listener listeners[MAX_LISTENERS];
static int nlisteners;
static const char *unix_path;
static int sig_tag = EV_SIGNAL;
static int sig_fd = -1;
static bool stopping;
/*
 * Replies held back by a delay are sent when a timerfd fires: epoll's
 * timeout counts milliseconds, a delay microseconds
 */
static int timer_tag = EV_TIMER;
static int timer_fd = -1;
static int64_t timer_due = -1;  /* now_us() it is set to fire at; -1: off */

bool net_init(void)
{
    struct epoll_event ev;
    sigset_t set;

    signal(SIGPIPE, SIG_IGN);
    net_epfd = epoll_create1(EPOLL_CLOEXEC);
    if (net_epfd < 0) {
        perror("zdb-server: epoll_create1");
        return false;
    }

    sigemptyset(&set);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGUSR1);
    sigprocmask(SIG_BLOCK, &set, NULL);
    sig_fd = signalfd(-1, &set, SFD_NONBLOCK | SFD_CLOEXEC);
    if (sig_fd < 0) {
        perror("zdb-server: signalfd");
        return false;
    }
    memset(&ev, 0, sizeof(ev));
    ev.events = EPOLLIN;
    ev.data.ptr = &sig_tag;
    if (epoll_ctl(net_epfd, EPOLL_CTL_ADD, sig_fd, &ev) < 0) {
        perror("zdb-server: epoll_ctl");
        return false;
    }

    timer_fd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
    if (timer_fd < 0) {
        perror("zdb-server: timerfd_create");
        return false;
    }
    memset(&ev, 0, sizeof(ev));
    ev.events = EPOLLIN;
    ev.data.ptr = &timer_tag;
    return epoll_ctl(net_epfd, EPOLL_CTL_ADD, timer_fd, &ev) == 0;
}

/* Fire the timer at due (now_us() time, CLOCK_MONOTONIC); -1: never */
static void timer_set(int64_t due)
{
    struct itimerspec its;

    if (due == timer_due) {
        return;
    }
    memset(&its, 0, sizeof(its));
    if (due >= 0) {
        its.it_value.tv_sec = due / 1000000;
        its.it_value.tv_nsec = due % 1000000 * 1000 + 1;  /* 0 is "off" */
    }
    timerfd_settime(timer_fd, TFD_TIMER_ABSTIME, &its, NULL);
    timer_due = due;
}

static void on_timer(void)
{
    uint64_t ticks;

    if (read(timer_fd, &ticks, sizeof(ticks)) == sizeof(ticks)) {
        timer_due = -1;     /* a one-shot timer is off once it fired */
    }
}

static bool add_listener(int fd, bool tcp)
{
    Listener *l = &listeners[nlisteners++];
    struct epoll_event ev;

    l->tag = EV_LISTEN;
    l->fd = fd;
    l->tcp = tcp;
    memset(&ev, 0, sizeof(ev));
    ev.events = EPOLLIN;
    ev.data.ptr = l;
    if (listen(fd, 1024) < 0 || epoll_ctl(net_epfd, EPOLL_CTL_ADD, fd,
                                          &ev) < 0) {
        perror("zdb-server: listen");
        return false;
    }
    return true;
}

bool net_listen_tcp(const char *addr, const char *port)
{
    struct addrinfo hints, *res, *ai;
    struct sockaddr_storage ss;
    socklen_t sslen = sizeof(ss);
    char host[INET6_ADDRSTRLEN];
    int fd = -1, one = 1, err;

    memset(&hints, 0, sizeof(hints));
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_PASSIVE;
    err = getaddrinfo(addr, port, &hints, &res);
    if (err) {
        fprintf(stderr, "zdb-server: %s:%s: %s\n", addr, port,
                gai_strerror(err));
        return false;
    }
    for (ai = res; ai; ai = ai->ai_next) {
        fd = socket(ai->ai_family, ai->ai_socktype | SOCK_NONBLOCK |
                    SOCK_CLOEXEC, ai->ai_protocol);
        if (fd < 0) {
            continue;
        }
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
        if (bind(fd, ai->ai_addr, ai->ai_addrlen) == 0) {
            break;
        }
        close(fd);
        fd = -1;
    }
    freeaddrinfo(res);
    if (fd < 0) {
        fprintf(stderr, "zdb-server: cannot bind %s:%s: %s\n", addr, port,
                strerror(errno));
        return false;
    }
    if (!add_listener(fd, true)) {
        return false;
    }

    /* print the real port: "--port 0" lets the kernel pick a free one */
    getsockname(fd, (struct sockaddr *)&ss, &sslen);
    if (ss.ss_family == AF_INET6) {
        struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)&ss;

        inet_ntop(AF_INET6, &s6->sin6_addr, host, sizeof(host));
        printf("listening tcp [%s]:%u\n", host, ntohs(s6->sin6_port));
    } else {
        struct sockaddr_in *s4 = (struct sockaddr_in *)&ss;

        inet_ntop(AF_INET, &s4->sin_addr, host, sizeof(host));
        printf("listening tcp %s:%u\n", host, ntohs(s4->sin_port));
    }
    fflush(stdout);
    return true;
}

bool net_listen_unix(const char *path)
{
    struct sockaddr_un sa;
    int fd;

    if (strlen(path) >= sizeof(sa.sun_path)) {
        fprintf(stderr, "zdb-server: socket path too long: %s\n", path);
        return false;
    }
    memset(&sa, 0, sizeof(sa));
    sa.sun_family = AF_UNIX;
    strcpy(sa.sun_path, path);

    fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        perror("zdb-server: socket");
        return false;
    }
    unlink(path);   /* a stale socket of an earlier run */
    if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
        fprintf(stderr, "zdb-server: bind %s: %s\n", path, strerror(errno));
        close(fd);
        return false;
    }
    unix_path = path;
    if (!add_listener(fd, false)) {
        return false;
    }
    printf("listening unix %s\n", path);
    fflush(stdout);
    return true;
}

void net_shutdown(void)
{
    int i;

    for (i = 0; i < nlisteners; i++) {
        close(listeners[i].fd);
    }
    nlisteners = 0;
    if (unix_path) {
        unlink(unix_path);
        unix_path = NULL;
    }
}

static void accept_all(Listener *l)
{
    for (;;) {
        int fd = accept4(l->fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
        int one = 1, nodelay = config.fast;

        if (fd < 0) {
            if (errno == EINTR) {
                continue;
            }
            return;     /* EAGAIN, or out of descriptors: retry later */
        }
        if (fault_refusing(now_ms())) {
            close(fd);
            continue;
        }
        /* 0-db sets keepalive and leaves Nagle on; --fast turns it off */
        setsockopt(fd, SOL_SOCKET, SO_KEEPALIVE, &one, sizeof(one));
        if (l->tcp) {
            setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &nodelay,
                       sizeof(nodelay));
        }
        client_new(fd, l->tcp);
    }
}

static void on_signal(void)
{
    struct signalfd_siginfo si;

    while (read(sig_fd, &si, sizeof(si)) == sizeof(si)) {
        if (si.ssi_signo == SIGUSR1) {
            fault_clear();
            clients_resume();
        } else {
            stopping = true;
        }
    }
}

void net_run(void)
{
    struct epoll_event evs[MAX_EVENTS];

    while (!stopping) {
        int64_t now = now_ms(), next, t;
        int timeout = -1, n, i;

        next = fault_deadline(now);
        t = clients_timers(now);
        if (t >= 0 && (next < 0 || t < next)) {
            next = t;
        }
        if (next >= 0) {
            timeout = next > now ? (int)(next - now) : 0;
        }
        timer_set(clients_held_next());

        n = epoll_wait(net_epfd, evs, MAX_EVENTS, timeout);
        if (n < 0 && errno != EINTR) {
            perror("zdb-server: epoll_wait");
            break;
        }

        now = now_ms();
        if (faults.hang_until && now >= faults.hang_until) {
            /* answer everything that arrived during the hang */
            faults.hang_until = 0;
            clients_resume();
        }
        if (faults.refuse_until > 0 && now >= faults.refuse_until) {
            faults.refuse_until = 0;
        }

        for (i = 0; i < n; i++) {
            int tag = *(int *)evs[i].data.ptr;

            if (tag == EV_SIGNAL) {
                on_signal();
            } else if (tag == EV_TIMER) {
                on_timer();
            } else if (tag == EV_LISTEN) {
                accept_all(evs[i].data.ptr);
            } else {
                Client *c = evs[i].data.ptr;

                if (evs[i].events & (EPOLLHUP | EPOLLERR)) {
                    int err = 0;
                    socklen_t len = sizeof(err);

                    getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &len);
                    stats.resets += err == ECONNRESET;
                    c->dead = true;     /* like 0-db: drop it at once */
                }
                if (!c->dead && (evs[i].events & EPOLLOUT)) {
                    client_on_writable(c);
                }
                if (!c->dead && (evs[i].events & EPOLLIN)) {
                    client_on_readable(c);
                }
            }
        }
        /* whatever woke us: send the held replies that are due */
        clients_release(now_us());
        clients_timers(now_ms());
        clients_reap();
    }
    clients_close_all();
}

/*
 * Listening sockets and the event loop
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#ifndef ZS_NET_H
#define ZS_NET_H

#include "server.h"

/* Tags at the start of every object registered with epoll */
enum { EV_LISTEN = 1, EV_CLIENT, EV_SIGNAL, EV_TIMER };

extern int net_epfd;

bool net_init(void);
bool net_listen_tcp(const char *addr, const char *port);
bool net_listen_unix(const char *path);
/* Serve until SIGTERM or SIGINT */
void net_run(void);
/* Close listeners and remove the unix socket */
void net_shutdown(void);

/* client.c, called by the event loop */
Client *client_new(int fd, bool tcp);
void client_on_readable(Client *c);
void client_on_writable(Client *c);
/* Parse and answer what is buffered (after a hang ends) */
void clients_resume(void);
/* Close draining clients whose time is up; earliest deadline or -1 */
int64_t clients_timers(int64_t now);
/* Send the replies held back by a delay that are due at now (now_us()) */
void clients_release(int64_t now);
/* now_us() at which the next held reply is due, or -1 */
int64_t clients_held_next(void);
/* Close and free clients marked dead */
void clients_reap(void);
void clients_close_all(void);

#endif

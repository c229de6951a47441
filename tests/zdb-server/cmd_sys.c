/*
 * System commands: PING, TIME, INFO, STOP, and the answers for commands
 * of 0-db that this server does not implement.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#include <stdio.h>
#include <string.h>
#include <sys/time.h>
#include "commands.h"

#define ZDB_REVISION "v2.0.7"

void cmd_ping(Client *c, Request *req)
{
    reply_status(c, "PONG");
}

void cmd_time(Client *c, Request *req)
{
    struct timeval tv;
    char sec[32], usec[32], out[128];
    int len;

    gettimeofday(&tv, NULL);
    snprintf(sec, sizeof(sec), "%ld", (long)tv.tv_sec);
    snprintf(usec, sizeof(usec), "%ld", (long)tv.tv_usec);
    len = snprintf(out, sizeof(out), "*2\r\n$%zu\r\n%s\r\n$%zu\r\n%s\r\n",
                   strlen(sec), sec, strlen(usec), usec);
    reply_raw(c, out, len);
}

void cmd_info(Client *c, Request *req)
{
    char info[2048];
    struct timeval now;
    int len;

    gettimeofday(&now, NULL);
    len = snprintf(info, sizeof(info),
                   "# server\n"
                   "server_name: 0-db (zdb)\n"
                   "server_revision: " ZDB_REVISION "\n"
                   "engine_revision: " ZDB_REVISION "\n"
                   "instance_id: %u\n"
                   "boot_time: %lld\n"
                   "uptime: %lld\n"
                   "\n# clients\n"
                   "clients_lifetime: %llu\n"
                   "\n# internals\n"
                   "sequential_key_size: 4\n"
                   "\n# stats\n"
                   "commands_executed: %llu\n"
                   "commands_failed: %llu\n"
                   "commands_unauthorized: %llu\n"
                   "network_rx_bytes: %llu\n"
                   "network_rx_mb: %.2f\n"
                   "network_tx_bytes: %llu\n"
                   "network_tx_mb: %.2f\n"
                   "\n# zdb-server\n"
                   "test_server: yes\n"
                   "fast_mode: %s\n"
                   "select_plain: %llu\n"
                   "select_secure: %llu\n",
                   (unsigned)(stats.boot_time & 0xffffffff),
                   (long long)stats.boot_time,
                   (long long)(now.tv_sec - stats.boot_time),
                   (unsigned long long)stats.clients_lifetime,
                   (unsigned long long)stats.commands,
                   (unsigned long long)stats.commands_failed,
                   (unsigned long long)stats.admin_failed,
                   (unsigned long long)stats.rx_bytes,
                   stats.rx_bytes / (1024.0 * 1024.0),
                   (unsigned long long)stats.tx_bytes,
                   stats.tx_bytes / (1024.0 * 1024.0),
                   config.fast ? "yes" : "no",
                   (unsigned long long)stats.select_plain,
                   (unsigned long long)stats.select_secure);
    reply_bulk(c, info, len);
}

void cmd_stop(Client *c, Request *req)
{
    /* what a release build of 0-db answers */
    reply_error(c, "Unauthorized");
}

void cmd_asterisk(Client *c, Request *req)
{
    /* "*" only exists in 0-db's table for WAIT; an empty name lands here */
    reply_error(c, "This is not a valid command");
}

void cmd_missing(Client *c, Request *req)
{
    /* 0-db has these; a block driver needs none of them */
    reply_error(c, "Command not implemented by zdb-server (test server)");
}

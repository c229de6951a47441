/*
 * zdb-server: a test server that answers like 0-db v2.0.7.
 * Options follow zdbd's where it has them; see README.md.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include "aof.h"
#include "fault.h"
#include "net.h"
#include "store.h"

Config config = {
    .mode = -1,
    .datasize = ZS_DATASIZE_DEFAULT,
};
Stats stats;

int64_t now_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int64_t now_us(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

/* A non-negative decimal option value, or exit */
static uint64_t opt_u64(const char *name, const char *s)
{
    uint64_t v;
    char junk;

    if (s[0] < '0' || s[0] > '9' ||
        sscanf(s, "%" SCNu64 "%c", &v, &junk) != 1) {
        fprintf(stderr, "zdb-server: --%s wants a number, not '%s'\n",
                name, s);
        exit(2);
    }
    return v;
}

static void usage(FILE *f)
{
    fprintf(f,
        "usage: zdb-server [options]\n"
        "  --port N          TCP port (0: any free one; printed at start)\n"
        "  --listen ADDR     TCP address (default 127.0.0.1)\n"
        "  --socket PATH     unix socket (TCP too only if --port/--listen)\n"
        "  --data DIR        keep an append-only log in DIR (default: "
        "memory)\n"
        "  --sync            fdatasync() the log before each reply\n"
        "  --admin PW        admin password (default: everyone is admin)\n"
        "  --protect         'default' namespace protected by admin pw\n"
        "  --maxsize N       size limit of the 'default' namespace\n"
        "  --mode user|seq   one mode for every namespace (default mixed)\n"
        "  --datasize N      bytes of a data file before the next one\n"
        "                    (0-db's, default 256 MiB; shows in SCAN "
        "cursors)\n"
        "  --fast            NOT like 0-db: TCP_NODELAY, replies coalesced,"
        "\n"
        "                    SCAN does not hold the server\n"
        "  --scan-batch N    NOT like 0-db: at most N entries per SCAN/RSCAN "
        "call\n"
        "  --no-challenge    like a 0-db older than SECURE: no AUTH SECURE\n"
        "  --delay-us N      NOT like 0-db: hold every reply back N "
        "microseconds\n"
        "                    (an emulated round trip; requests go on being "
        "served)\n"
        "  --verbose\n"
        "fault injection (also at run time with ZDBTEST, see README.md):\n"
        "  --fault-hang MS         answer nothing for MS ms after start\n"
        "  --fault-refuse MS       close new connections for MS ms "
        "(0: until cleared)\n"
        "  --fault-fail-writes N   fail the next N SET/DEL\n"
        "  --fault-garbage N       answer garbage to the next N commands\n"
        "  --fault-drop-after N    drop all connections after N commands\n");
}

enum {
    OPT_PORT = 256, OPT_LISTEN, OPT_SOCKET, OPT_DATA, OPT_INDEX, OPT_SYNC,
    OPT_ADMIN, OPT_PROTECT, OPT_MAXSIZE, OPT_MODE, OPT_FAST, OPT_VERBOSE,
    OPT_NO_CHALLENGE,
    OPT_DUALNET, OPT_HELP, OPT_HANG, OPT_REFUSE, OPT_FAILW, OPT_GARBAGE,
    OPT_DROPAFTER, OPT_DELAY, OPT_DATASIZE, OPT_SCAN_BATCH,
};

static const struct option options[] = {
    { "port", required_argument, NULL, OPT_PORT },
    { "listen", required_argument, NULL, OPT_LISTEN },
    { "socket", required_argument, NULL, OPT_SOCKET },
    { "data", required_argument, NULL, OPT_DATA },
    { "index", required_argument, NULL, OPT_INDEX },
    { "sync", no_argument, NULL, OPT_SYNC },
    { "admin", required_argument, NULL, OPT_ADMIN },
    { "protect", no_argument, NULL, OPT_PROTECT },
    { "maxsize", required_argument, NULL, OPT_MAXSIZE },
    { "mode", required_argument, NULL, OPT_MODE },
    { "fast", no_argument, NULL, OPT_FAST },
    { "no-challenge", no_argument, NULL, OPT_NO_CHALLENGE },
    { "verbose", no_argument, NULL, OPT_VERBOSE },
    { "dualnet", no_argument, NULL, OPT_DUALNET },
    { "help", no_argument, NULL, OPT_HELP },
    { "fault-hang", required_argument, NULL, OPT_HANG },
    { "fault-refuse", required_argument, NULL, OPT_REFUSE },
    { "fault-fail-writes", required_argument, NULL, OPT_FAILW },
    { "fault-garbage", required_argument, NULL, OPT_GARBAGE },
    { "fault-drop-after", required_argument, NULL, OPT_DROPAFTER },
    { "delay-us", required_argument, NULL, OPT_DELAY },
    { "datasize", required_argument, NULL, OPT_DATASIZE },
    { "scan-batch", required_argument, NULL, OPT_SCAN_BATCH },
    { NULL, 0, NULL, 0 },
};

int main(int argc, char **argv)
{
    const char *port = NULL, *listen_addr = NULL;
    uint64_t hang = 0;
    int64_t refuse = -1;
    int opt;

    fault_init();
    /* getopt_long_only, like zdbd: "-port 9900" works too */
    while ((opt = getopt_long_only(argc, argv, "", options, NULL)) != -1) {
        switch (opt) {
        case OPT_PORT:
            port = optarg;
            break;
        case OPT_LISTEN:
            listen_addr = optarg;
            break;
        case OPT_SOCKET:
            config.socket = optarg;
            break;
        case OPT_DATA:
            config.datadir = optarg;
            break;
        case OPT_INDEX:
        case OPT_DUALNET:
            break;      /* zdbd options with nothing to do here */
        case OPT_SYNC:
            config.sync = true;
            break;
        case OPT_ADMIN:
            config.admin = optarg;
            break;
        case OPT_PROTECT:
            config.protect = true;
            break;
        case OPT_MAXSIZE:
            config.default_maxsize = opt_u64("maxsize", optarg);
            break;
        case OPT_MODE:
            if (strcmp(optarg, "user") == 0) {
                config.mode = NS_MODE_USER;
            } else if (strcmp(optarg, "seq") == 0) {
                config.mode = NS_MODE_SEQ;
            } else {
                fprintf(stderr, "zdb-server: mode 'user' or 'seq'\n");
                return 2;
            }
            break;
        case OPT_FAST:
            config.fast = true;
            break;
        case OPT_NO_CHALLENGE:
            config.no_challenge = true;
            break;
        case OPT_VERBOSE:
            config.verbose = true;
            break;
        case OPT_HANG:
            hang = opt_u64("fault-hang", optarg);
            break;
        case OPT_REFUSE:
            refuse = opt_u64("fault-refuse", optarg);
            break;
        case OPT_FAILW:
            faults.fail_writes = opt_u64("fault-fail-writes", optarg);
            break;
        case OPT_GARBAGE:
            faults.garbage = opt_u64("fault-garbage", optarg);
            break;
        case OPT_DROPAFTER:
            faults.drop_after = opt_u64("fault-drop-after", optarg);
            break;
        case OPT_DELAY:
            faults.delay_us = opt_u64("delay-us", optarg);
            if (faults.delay_us > FAULT_DELAY_MAX_US) {
                fprintf(stderr, "zdb-server: --delay-us at most %llu\n",
                        (unsigned long long)FAULT_DELAY_MAX_US);
                return 2;
            }
            break;
        case OPT_DATASIZE:
            /* 0-db's limits: 512 KiB to under 4 GiB */
            config.datasize = opt_u64("datasize", optarg);
            if (config.datasize < 512 * 1024 ||
                config.datasize >= 0xffffffffull) {
                fprintf(stderr, "zdb-server: --datasize from 524288 to "
                        "4294967294\n");
                return 2;
            }
            break;
        case OPT_SCAN_BATCH:
            config.scan_batch = opt_u64("scan-batch", optarg);
            break;
        case OPT_HELP:
            usage(stdout);
            return 0;
        default:
            usage(stderr);
            return 2;
        }
    }
    if (optind < argc) {
        usage(stderr);
        return 2;
    }
    if (config.protect && !config.admin) {
        fprintf(stderr, "zdb-server: --protect needs --admin\n");
        return 2;
    }

    /* like zdbd: a unix socket alone replaces TCP unless asked for too */
    if (port || listen_addr || !config.socket) {
        config.listen = listen_addr ? listen_addr : "127.0.0.1";
        config.port = port ? port : "9900";
    }

    stats.boot_time = time(NULL);
    store_init();
    if (config.datadir && !aof_open(config.datadir)) {
        return 1;
    }
    if (!net_init()) {
        return 1;
    }
    if (config.listen && !net_listen_tcp(config.listen, config.port)) {
        return 1;
    }
    if (config.socket && !net_listen_unix(config.socket)) {
        net_shutdown();
        return 1;
    }
    if (hang > 0) {
        faults.hang_until = now_ms() + hang;
    }
    if (refuse >= 0) {
        faults.refuse_until = refuse ? now_ms() + refuse : -1;
    }

    net_run();

    net_shutdown();
    aof_close();
    store_free();
    return 0;
}

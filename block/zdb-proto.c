/*
 * zdb block driver: what the driver says to a 0-db server and how it reads
 * the answers
 *
 * Copyright (c) 2026 the zdb driver authors
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#include "qemu/osdep.h"
#include "qapi/error.h"
#include "qemu/cutils.h"
#include "qemu/host-utils.h"
#include "block/block.h"
#include "block/zdb-proto.h"
#include "trace.h"

char *zdb_geometry_format(const ZdbGeometry *g)
{
    return g_strdup_printf("zdb-disk-layout %d\nsize %" PRIu64
                           "\nblocksize %" PRIu64 "\ngeneration %" PRIu64
                           "\n", ZDB_LAYOUT_VERSION, g->size, g->blocksize,
                           g->generation);
}

bool zdb_geometry_check_blocksize(uint64_t blocksize, Error **errp)
{
    if (blocksize < ZDB_MIN_BLOCKSIZE || blocksize > ZDB_MAX_BLOCKSIZE ||
        !is_power_of_2(blocksize)) {
        error_setg(errp, "zdb: blocksize must be a power of two from 512 "
                   "to 8M, not %" PRIu64, blocksize);
        return false;
    }
    return true;
}

bool zdb_geometry_check_size(uint64_t size, Error **errp)
{
    if (size % BDRV_SECTOR_SIZE) {
        error_setg(errp, "zdb: size must be a multiple of 512, not %" PRIu64,
                   size);
        return false;
    }
    if (size > INT64_MAX / 2) {
        error_setg(errp, "zdb: size must be at most %" PRId64 ", not %"
                   PRIu64, INT64_MAX / 2, size);
        return false;
    }
    return true;
}

bool zdb_geometry_parse(const char *text, size_t len, ZdbGeometry *g,
                        const char *ns, Error **errp)
{
    g_autofree char *copy = g_strndup(text, len);
    g_auto(GStrv) lines = g_strsplit(copy, "\n", -1);
    uint64_t version = 0;
    int i;

    g->size = 0;
    g->blocksize = 0;
    g->generation = 0;
    for (i = 0; lines[i]; i++) {
        const char *line = lines[i];
        uint64_t *dst = NULL;
        const char *val;

        if (g_str_has_prefix(line, "zdb-disk-layout ")) {
            dst = &version;
            val = line + strlen("zdb-disk-layout ");
        } else if (g_str_has_prefix(line, "size ")) {
            dst = &g->size;
            val = line + strlen("size ");
        } else if (g_str_has_prefix(line, "blocksize ")) {
            dst = &g->blocksize;
            val = line + strlen("blocksize ");
        } else if (g_str_has_prefix(line, "generation ")) {
            dst = &g->generation;
            val = line + strlen("generation ");
        } else {
            continue;   /* later layouts may add lines */
        }
        if (qemu_strtou64(val, NULL, 10, dst) < 0) {
            break;
        }
    }
    if (version != ZDB_LAYOUT_VERSION) {
        error_setg(errp, "zdb: namespace '%s': metadata key '%s' has layout "
                   "version %" PRIu64 ", this driver knows version %d",
                   ns, ZDB_META_KEY, version, ZDB_LAYOUT_VERSION);
        return false;
    }
    if (!g->size && !g->blocksize) {
        error_setg(errp, "zdb: namespace '%s': metadata key '%s' is "
                   "malformed", ns, ZDB_META_KEY);
        return false;
    }
    return true;
}

char *zdb_addr_describe(const ZdbAddr *addr)
{
    if (addr->socket) {
        return g_strdup_printf("unix:%s", addr->socket);
    }
    return g_strdup_printf("%s:%d", addr->host, addr->port);
}

void zdb_addr_clear(ZdbAddr *addr)
{
    g_free(addr->host);
    g_free(addr->socket);
    g_free(addr->namespace);
    g_free(addr->password);
    memset(addr, 0, sizeof(*addr));
}

bool zdb_addr_needs_select(const ZdbAddr *addr)
{
    return strcmp(addr->namespace, "default") != 0 || addr->password;
}

int zdb_hello_argv(const ZdbAddr *addr, const char **argv)
{
    int argc = 0;

    if (addr->password) {
        argv[argc++] = "AUTH";
        argv[argc++] = "SECURE";
        argv[argc++] = "CHALLENGE";
    } else if (zdb_addr_needs_select(addr)) {
        argv[argc++] = "SELECT";
        argv[argc++] = addr->namespace;
    } else {
        argv[argc++] = "PING";
    }
    return argc;
}

/* 0-db's SECURE proof: hex sha1 of "nonce:password" */
static char *zdb_secure_proof(const char *nonce, const char *password)
{
    g_autofree char *text = g_strdup_printf("%s:%s", nonce, password);

    return g_compute_checksum_for_string(G_CHECKSUM_SHA1, text, -1);
}

/* By challenge the password never crosses the wire. */
int zdb_select_argv(const ZdbAddr *addr, const char *nonce, char **proof,
                    const char **argv)
{
    int argc = 0;

    *proof = NULL;
    argv[argc++] = "SELECT";
    argv[argc++] = addr->namespace;
    if (addr->password && nonce) {
        *proof = zdb_secure_proof(nonce, addr->password);
        argv[argc++] = "SECURE";
        argv[argc++] = *proof;
        trace_zdb_select_secure(addr->namespace);
    } else if (addr->password) {
        argv[argc++] = addr->password;
        trace_zdb_select_plain(addr->namespace);
    }
    return argc;
}

/* 0-db's error texts (ZDB-PROTOCOL.md) as the -errno a guest should see */
int zdb_error_to_errno(const char *msg)
{
    static const struct {
        const char *text;
        int err;
    } map[] = {
        { "No space left on this namespace", ENOSPC },
        { "Namespace is in read-only mode", EROFS },
        { "Namespace is temporarily locked", EROFS },
        { "Namespace is temporarily frozen", EACCES },
        { "Invalid key, only update authorized", EPERM },
        { "Access denied", EACCES },
        { "Namespace protected and private", EACCES },
        { "Permission denied", EACCES },
        { "Namespace not found", ENOENT },
        { "Key too large", EINVAL },
    };
    size_t i;

    trace_zdb_server_error(msg ?: "");
    for (i = 0; i < ARRAY_SIZE(map); i++) {
        if (msg && g_str_has_prefix(msg, map[i].text)) {
            return -map[i].err;
        }
    }
    return -EIO;
}

/*
 * SET succeeded when 0-db answers the key (or nil: the value was already
 * there) or Redis answers +OK.
 */
int zdb_reply_check_write(redisReply *reply)
{
    if (!reply) {
        return -ENOTCONN;
    }
    switch (reply->type) {
    case REDIS_REPLY_STRING:
    case REDIS_REPLY_NIL:
    case REDIS_REPLY_STATUS:
        return 0;
    case REDIS_REPLY_ERROR:
        return zdb_error_to_errno(reply->str);
    default:
        return -EIO;
    }
}

/* DEL: +OK or "-Key not found" from 0-db, an integer from Redis. */
int zdb_reply_check_del(redisReply *reply)
{
    if (reply && reply->type == REDIS_REPLY_ERROR &&
        strcmp(reply->str, "Key not found") == 0) {
        return 0;
    }
    if (reply && reply->type == REDIS_REPLY_INTEGER) {
        return 0;
    }
    return zdb_reply_check_write(reply);
}

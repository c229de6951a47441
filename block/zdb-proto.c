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
#include "qemu/bitops.h"
#include "block/block.h"
#include "block/zdb-proto.h"
#include "trace.h"

char *zdb_meta_format(const ZdbMeta *g)
{
    GString *text = g_string_new(NULL);
    int i;

    g_string_append_printf(text, "zdb-disk-layout %d\nsize %" PRIu64
                           "\nblocksize %" PRIu64 "\ngeneration %" PRIu64
                           "\n", ZDB_LAYOUT_VERSION, g->size, g->blocksize,
                           g->generation);
    if (g->has_uuid) {
        g_string_append_printf(text, "uuid %016" PRIx64 "\nsince %016" PRIx64
                               "\n", g->uuid, g->since);
        if (g->nhistory) {
            g_string_append(text, "history");
            for (i = 0; i < g->nhistory; i++) {
                g_string_append_printf(text, " %016" PRIx64, g->history[i]);
            }
            g_string_append(text, "\n");
        }
    }
    if (g->chunk_blocks) {
        g_string_append_printf(text, "chunk-blocks %" PRIu64 "\n"
                               "record-chunks %" PRIu64 "\n",
                               g->chunk_blocks, g->record_chunks);
    }
    return g_string_free(text, false);
}

int zdb_meta_age(const ZdbMeta *m, uint64_t id)
{
    int i;

    if (!m->has_uuid) {
        return -1;
    }
    if (m->uuid == id) {
        return 0;
    }
    for (i = 0; i < m->nhistory; i++) {
        if (m->history[i] == id) {
            return i + 1;
        }
    }
    return -1;
}

void zdb_record_key(char *key, size_t len, uint32_t page)
{
    snprintf(key, len, ZDB_RECORD_KEY, page);
}

void zdb_record_page_encode(const unsigned long *chunks, uint64_t nchunks,
                            uint32_t page, uint8_t *bytes)
{
    uint64_t first = (uint64_t)page * ZDB_RECORD_PAGE_BITS;
    uint64_t i;

    memset(bytes, 0, ZDB_RECORD_PAGE_BYTES);
    for (i = find_next_bit(chunks, nchunks, first);
         i < nchunks && i < first + ZDB_RECORD_PAGE_BITS;
         i = find_next_bit(chunks, nchunks, i + 1)) {
        bytes[(i - first) / 8] |= 1 << ((i - first) % 8);
    }
}

void zdb_record_page_decode(const uint8_t *bytes, size_t len, uint32_t page,
                            unsigned long *chunks, uint64_t nchunks)
{
    uint64_t first = (uint64_t)page * ZDB_RECORD_PAGE_BITS;
    uint64_t i;

    for (i = 0; i < MIN(len, ZDB_RECORD_PAGE_BYTES) * 8; i++) {
        if ((bytes[i / 8] & (1 << (i % 8))) && first + i < nchunks) {
            set_bit(first + i, chunks);
        }
    }
}

/* "history A B C": hexadecimal identifiers, newest first */
static bool zdb_meta_parse_history(const char *val, ZdbMeta *g)
{
    g_auto(GStrv) ids = g_strsplit(val, " ", -1);
    int i;

    for (i = 0; ids[i] && g->nhistory < ZDB_HISTORY_LEN; i++) {
        if (!ids[i][0]) {
            continue;
        }
        if (qemu_strtou64(ids[i], NULL, 16, &g->history[g->nhistory]) < 0) {
            return false;
        }
        g->nhistory++;
    }
    return true;
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

bool zdb_meta_parse(const char *text, size_t len, ZdbMeta *g,
                    const char *ns, Error **errp)
{
    g_autofree char *copy = g_strndup(text, len);
    g_auto(GStrv) lines = g_strsplit(copy, "\n", -1);
    uint64_t version = 0;
    bool ok = true;
    int i;

    memset(g, 0, sizeof(*g));
    for (i = 0; lines[i] && ok; i++) {
        const char *line = lines[i];
        const char *val;

        if (g_str_has_prefix(line, "zdb-disk-layout ")) {
            val = line + strlen("zdb-disk-layout ");
            ok = qemu_strtou64(val, NULL, 10, &version) == 0;
        } else if (g_str_has_prefix(line, "size ")) {
            ok = qemu_strtou64(line + 5, NULL, 10, &g->size) == 0;
        } else if (g_str_has_prefix(line, "blocksize ")) {
            ok = qemu_strtou64(line + 10, NULL, 10, &g->blocksize) == 0;
        } else if (g_str_has_prefix(line, "generation ")) {
            ok = qemu_strtou64(line + 11, NULL, 10, &g->generation) == 0;
        } else if (g_str_has_prefix(line, "uuid ")) {
            ok = qemu_strtou64(line + 5, NULL, 16, &g->uuid) == 0;
            g->has_uuid = true;
        } else if (g_str_has_prefix(line, "since ")) {
            ok = qemu_strtou64(line + 6, NULL, 16, &g->since) == 0;
        } else if (g_str_has_prefix(line, "history ")) {
            ok = zdb_meta_parse_history(line + 8, g);
        } else if (g_str_has_prefix(line, "chunk-blocks ")) {
            ok = qemu_strtou64(line + 13, NULL, 10, &g->chunk_blocks) == 0;
        } else if (g_str_has_prefix(line, "record-chunks ")) {
            ok = qemu_strtou64(line + 14, NULL, 10, &g->record_chunks) == 0;
        }
        /* other lines: later layouts may add them */
    }
    if (ok && version != ZDB_LAYOUT_VERSION) {
        error_setg(errp, "zdb: namespace '%s': metadata key '%s' has layout "
                   "version %" PRIu64 ", this driver knows version %d",
                   ns, ZDB_META_KEY, version, ZDB_LAYOUT_VERSION);
        return false;
    }
    if (!ok || (!g->size && !g->blocksize)) {
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

/* ------------------------------------------------------------------ */
/* SCAN                                                                */
/* ------------------------------------------------------------------ */

int zdb_scan_argv(const ZdbScan *scan, const char **argv, size_t *argvlen)
{
    argv[0] = "SCAN";
    argvlen[0] = 4;
    if (scan->redis) {
        argv[1] = scan->cursor_len ? (const char *)scan->cursor : "0";
        argvlen[1] = scan->cursor_len ? scan->cursor_len : 1;
        argv[2] = "COUNT";
        argvlen[2] = 5;
        argv[3] = "1000";
        argvlen[3] = 4;
        return 4;
    }
    if (!scan->cursor_len) {
        return 1;
    }
    argv[1] = (const char *)scan->cursor;
    argvlen[1] = scan->cursor_len;
    return 2;
}

/* A listed key: a bulk string (Redis), or [key, size, timestamp] (0-db) */
static const redisReply *zdb_scan_entry_key(const redisReply *e)
{
    if (e->type == REDIS_REPLY_ARRAY && e->elements >= 1) {
        e = e->element[0];
    }
    return e->type == REDIS_REPLY_STRING ? e : NULL;
}

int zdb_scan_reply(ZdbScan *scan, const redisReply *reply, GArray *blocks)
{
    const redisReply *cursor, *list;
    size_t i;

    if (!reply) {
        return -ENOTCONN;
    }
    if (reply->type == REDIS_REPLY_ERROR) {
        if (!scan->redis && !scan->cursor_len &&
            strstr(reply->str, "wrong number of arguments")) {
            /* Redis wants a cursor from the start: ask again its way */
            scan->redis = true;
            return -EAGAIN;
        }
        if (!scan->redis && strcmp(reply->str, "No more data") == 0) {
            scan->done = true;
            return 0;
        }
        return zdb_error_to_errno(reply->str);
    }
    if (reply->type != REDIS_REPLY_ARRAY || reply->elements != 2 ||
        reply->element[0]->type != REDIS_REPLY_STRING ||
        reply->element[0]->len > ZDB_SCAN_CURSOR_MAX ||
        reply->element[1]->type != REDIS_REPLY_ARRAY) {
        return -EPROTO;
    }
    cursor = reply->element[0];
    list = reply->element[1];
    for (i = 0; i < list->elements; i++) {
        const redisReply *key = zdb_scan_entry_key(list->element[i]);
        uint64_t block;

        if (!key) {
            return -EPROTO;
        }
        if (key->len == ZDB_KEY_LEN) {
            block = ldq_be_p(key->str);
            g_array_append_val(blocks, block);
        }
    }
    memcpy(scan->cursor, cursor->str, cursor->len);
    scan->cursor_len = cursor->len;
    if (scan->redis && cursor->len == 1 && cursor->str[0] == '0') {
        scan->done = true;
    }
    return 0;
}

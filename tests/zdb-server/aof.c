/*
 * Persistence: an append-only log of every change.
 *
 * 0-db itself appends every change to its data and index files and
 * acknowledges it once write() returned (and fsync() with --sync).  We
 * keep the same promise with a simpler format: one file of records
 *
 *   u32 magic, u8 op, u8 nfields, u16 zero, u32 length[nfields], fields
 *
 * (little-endian).  A record cut short by a crash is dropped on replay.
 * Lock and freeze are replayed as no-ops: 0-db does not keep them either.
 * A SET carries its timestamp (u32) as a fourth field; a FLUSH record (of
 * an older zdb-server, when FLUSH still erased) is skipped, as 0-db's
 * FLUSH erases nothing.  The order of the records gives back the order
 * of the index, and so what SCAN answers, cursors included.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include "aof.h"

#define AOF_FILE_MAGIC  "ZDBSAOF1"
#define AOF_REC_MAGIC   0x5a445352u     /* "RSDZ" on disk */
#define AOF_MAX_FIELDS  4

enum { OP_SET = 1, OP_DEL, OP_NSNEW, OP_NSSET, OP_NSDEL, OP_FLUSH, OP_JUMP };

static int aof_fd = -1;

/* write the whole iovec, resuming after a short write */
static bool write_all(int fd, struct iovec *iov, int cnt)
{
    while (cnt > 0) {
        ssize_t n = writev(fd, iov, cnt);

        if (n < 0) {
            if (errno == EINTR) {
                continue;
            }
            perror("zdb-server: log write");
            return false;
        }
        while (cnt > 0 && (size_t)n >= iov->iov_len) {
            n -= iov->iov_len;
            iov++;
            cnt--;
        }
        if (cnt > 0) {
            iov->iov_base = (char *)iov->iov_base + n;
            iov->iov_len -= n;
        }
    }
    return true;
}

static bool aof_append(int op, int nfields, const void *const *fields,
                       const size_t *lens)
{
    unsigned char hdr[8 + 4 * AOF_MAX_FIELDS];
    struct iovec iov[1 + AOF_MAX_FIELDS];
    int i;

    if (aof_fd < 0) {
        return true;
    }
    le32_put(hdr, AOF_REC_MAGIC);
    hdr[4] = (unsigned char)op;
    hdr[5] = (unsigned char)nfields;
    hdr[6] = 0;
    hdr[7] = 0;
    iov[0].iov_base = hdr;
    iov[0].iov_len = 8 + 4 * nfields;
    for (i = 0; i < nfields; i++) {
        le32_put(hdr + 8 + 4 * i, (uint32_t)lens[i]);
        iov[1 + i].iov_base = (void *)fields[i];
        iov[1 + i].iov_len = lens[i];
    }
    if (!write_all(aof_fd, iov, 1 + nfields)) {
        return false;
    }
    if (config.sync && fdatasync(aof_fd) < 0) {
        perror("zdb-server: fdatasync");
        return false;
    }
    return true;
}

bool aof_set(const Namespace *ns, const void *key, size_t klen,
             const void *val, size_t vlen, uint32_t timestamp)
{
    unsigned char ts[4];
    const void *f[4] = { ns->name, key, val, ts };
    size_t l[4] = { strlen(ns->name), klen, vlen, sizeof(ts) };

    le32_put(ts, timestamp);
    return aof_append(OP_SET, 4, f, l);
}

bool aof_del(const Namespace *ns, const void *key, size_t klen)
{
    const void *f[2] = { ns->name, key };
    size_t l[2] = { strlen(ns->name), klen };

    return aof_append(OP_DEL, 2, f, l);
}

static bool aof_name_op(int op, const char *name)
{
    const void *f[1] = { name };
    size_t l[1] = { strlen(name) };

    return aof_append(op, 1, f, l);
}

bool aof_nsnew(const char *name)
{
    return aof_name_op(OP_NSNEW, name);
}

bool aof_nsdel(const char *name)
{
    return aof_name_op(OP_NSDEL, name);
}

bool aof_jump(const char *name)
{
    return aof_name_op(OP_JUMP, name);
}

bool aof_nsset(const char *name, const char *prop, const char *value)
{
    const void *f[3] = { name, prop, value };
    size_t l[3] = { strlen(name), strlen(prop), strlen(value) };

    return aof_append(OP_NSSET, 3, f, l);
}

/* NUL-terminated copy of a short field */
static void field_str(char *dst, size_t size, const unsigned char *p,
                      size_t len)
{
    if (len >= size) {
        len = size - 1;
    }
    memcpy(dst, p, len);
    dst[len] = '\0';
}

static void replay_one(int op, const unsigned char **f, const size_t *l)
{
    char name[ZS_NS_NAME_MAX + 1], prop[64], value[ZS_NSSET_VALUE_MAX + 1];
    Namespace *ns;

    field_str(name, sizeof(name), f[0], l[0]);
    ns = ns_find(name);

    switch (op) {
    case OP_SET:
        if (ns) {
            ns_put(ns, f[1], l[1], f[2], l[2],
                   l[3] == 4 ? le32_get(f[3]) : (uint32_t)time(NULL));
        }
        break;
    case OP_DEL:
        if (ns) {
            ns_del(ns, f[1], l[1]);
        }
        break;
    case OP_NSNEW:
        if (!ns) {
            ns_create(name);
        }
        break;
    case OP_NSSET:
        field_str(prop, sizeof(prop), f[1], l[1]);
        field_str(value, sizeof(value), f[2], l[2]);
        if (ns && strcmp(prop, "lock") != 0 && strcmp(prop, "freeze") != 0) {
            ns_set_property(ns, prop, value);
        }
        break;
    case OP_NSDEL:
        if (ns && ns != ns_default()) {
            ns_delete(ns);
        }
        break;
    case OP_FLUSH:
        break;
    case OP_JUMP:
        if (ns) {
            ns_jump(ns);
        }
        break;
    }
}

/* Replay records; returns the offset after the last whole record */
static size_t replay(const unsigned char *p, size_t size)
{
    size_t pos = strlen(AOF_FILE_MAGIC);

    while (pos + 8 <= size) {
        const unsigned char *f[AOF_MAX_FIELDS];
        size_t l[AOF_MAX_FIELDS];
        int op = p[pos + 4], n = p[pos + 5], i;
        size_t at;

        if (le32_get(p + pos) != AOF_REC_MAGIC || n < 1 || n > AOF_MAX_FIELDS ||
            pos + 8 + 4 * n > size) {
            break;
        }
        at = pos + 8 + 4 * n;
        for (i = 0; i < n; i++) {
            l[i] = le32_get(p + pos + 8 + 4 * i);
            if (l[i] > size - at) {
                return pos;
            }
            f[i] = p + at;
            at += l[i];
        }
        if (n < AOF_MAX_FIELDS) {
            l[n] = 0;       /* a SET of three fields: no timestamp */
        }
        if ((op == OP_SET && n != 3 && n != 4) || (op == OP_DEL && n != 2) ||
            (op == OP_NSSET && n != 3)) {
            break;
        }
        replay_one(op, f, l);
        pos = at;
    }
    return pos;
}

bool aof_open(const char *dir)
{
    char path[4096];
    struct stat st;
    size_t magic = strlen(AOF_FILE_MAGIC);

    if (mkdir(dir, 0755) < 0 && errno != EEXIST) {
        fprintf(stderr, "zdb-server: mkdir %s: %s\n", dir, strerror(errno));
        return false;
    }
    snprintf(path, sizeof(path), "%s/zdb-server.aof", dir);
    aof_fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    if (aof_fd < 0 || fstat(aof_fd, &st) < 0) {
        fprintf(stderr, "zdb-server: %s: %s\n", path, strerror(errno));
        return false;
    }

    if ((size_t)st.st_size < magic) {
        /* new (or cut before its header was complete): start afresh */
        if (ftruncate(aof_fd, 0) < 0 ||
            write(aof_fd, AOF_FILE_MAGIC, magic) != (ssize_t)magic) {
            perror("zdb-server: log header");
            return false;
        }
    } else {
        unsigned char *p = mmap(NULL, st.st_size, PROT_READ, MAP_PRIVATE,
                                aof_fd, 0);
        size_t good;

        if (p == MAP_FAILED) {
            perror("zdb-server: mmap log");
            return false;
        }
        if (memcmp(p, AOF_FILE_MAGIC, magic) != 0) {
            fprintf(stderr, "zdb-server: %s is not a zdb-server log\n", path);
            munmap(p, st.st_size);
            return false;
        }
        good = replay(p, st.st_size);
        munmap(p, st.st_size);
        if (good < (size_t)st.st_size) {
            fprintf(stderr, "zdb-server: dropping %zu bytes of a torn "
                    "record at the end of %s\n",
                    (size_t)st.st_size - good, path);
            if (ftruncate(aof_fd, good) < 0) {
                perror("zdb-server: ftruncate log");
                return false;
            }
        }
    }
    if (lseek(aof_fd, 0, SEEK_END) < 0) {
        perror("zdb-server: lseek log");
        return false;
    }
    return true;
}

void aof_close(void)
{
    if (aof_fd >= 0) {
        close(aof_fd);
        aof_fd = -1;
    }
}

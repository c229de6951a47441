/*
 * Namespaces and their keys, in memory
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#ifndef ZS_STORE_H
#define ZS_STORE_H

#include "server.h"

enum { NS_UNLOCKED, NS_LOCKED, NS_FROZEN };
enum { NS_MODE_USER, NS_MODE_SEQ };

typedef struct Entry {
    struct Entry *next;
    uint64_t hash;
    uint32_t vlen;
    uint8_t klen;
    unsigned char data[];       /* key, then value */
} Entry;

static inline const unsigned char *entry_key(const Entry *e)
{
    return e->data;
}

static inline const unsigned char *entry_value(const Entry *e)
{
    return e->data + e->klen;
}

struct Namespace {
    char name[ZS_NS_NAME_MAX + 1];
    char *password;             /* NULL: not protected */
    bool public;
    bool worm;
    int lock;                   /* NS_UNLOCKED, NS_LOCKED, NS_FROZEN */
    int mode;                   /* NS_MODE_USER, NS_MODE_SEQ */
    uint64_t maxsize;           /* 0: no limit */

    uint64_t entries;           /* live keys */
    uint64_t datasize;          /* bytes of live values */
    uint64_t indexsize;         /* bytes 0-db's index would hold */
    uint32_t nextid;            /* index entries written since creation */

    Entry **buckets;
    size_t nbuckets;
};

void store_init(void);
void store_free(void);

Namespace *ns_default(void);
Namespace *ns_find(const char *name);
Namespace *ns_create(const char *name);
void ns_delete(Namespace *ns);
void ns_flush(Namespace *ns);

/* Namespaces in 0-db's list order (freed slots are reused) */
size_t ns_count(void);
Namespace *ns_iter(size_t *slot);

/* 0-db's namespace_valid_name() */
bool ns_name_valid(const char *name);

/* A namespace still without any write may change its mode */
bool ns_is_fresh(const Namespace *ns);

/*
 * Apply an NSSET property.  Returns NULL on success or the error text of
 * 0-db (without '-').  Used by the NSSET command and by log replay.
 */
const char *ns_set_property(Namespace *ns, const char *prop,
                            const char *value);

Entry *ns_get(Namespace *ns, const void *key, size_t klen);
/* Insert or replace; returns false when out of memory */
bool ns_put(Namespace *ns, const void *key, size_t klen,
            const void *val, size_t vlen);
bool ns_del(Namespace *ns, const void *key, size_t klen);

/* The key a SET makes in a sequential namespace: next id, little-endian */
void ns_seq_key(const Namespace *ns, unsigned char key[4]);

#endif

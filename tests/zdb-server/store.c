/*
 * Namespaces and their keys, in memory.
 *
 * Each namespace has its own chained hash table, so a lookup costs the
 * same with ten keys or ten million (a block device has one key per
 * block).  Counters follow 0-db's index statistics, which NSINFO and
 * DBSIZE report.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "store.h"

/* Size of one index entry on disk in 0-db, before the key */
#define INDEX_ENTRY_SIZE 30

static Namespace **slots;       /* slot 0 is always "default" */
static size_t nslots;

static void *xcalloc(size_t n, size_t size)
{
    void *p = calloc(n, size);

    if (!p) {
        perror("calloc");
        exit(1);
    }
    return p;
}

/* FNV-1a then a murmur3 finalizer: block keys differ only in low bits */
static uint64_t key_hash(const void *key, size_t len)
{
    const unsigned char *p = key;
    uint64_t h = 0xcbf29ce484222325ULL;
    size_t i;

    for (i = 0; i < len; i++) {
        h = (h ^ p[i]) * 0x100000001b3ULL;
    }
    h ^= h >> 33;
    h *= 0xff51afd7ed558ccdULL;
    h ^= h >> 33;
    h *= 0xc4ceb9fe1a85ec53ULL;
    h ^= h >> 33;
    return h;
}

static Namespace *ns_alloc(const char *name)
{
    Namespace *ns = xcalloc(1, sizeof(*ns));

    snprintf(ns->name, sizeof(ns->name), "%s", name);
    ns->public = true;
    ns->mode = config.mode < 0 ? NS_MODE_USER : config.mode;
    ns->nbuckets = 1024;
    ns->buckets = xcalloc(ns->nbuckets, sizeof(Entry *));
    return ns;
}

static void ns_clear_keys(Namespace *ns)
{
    size_t i;

    for (i = 0; i < ns->nbuckets; i++) {
        Entry *e = ns->buckets[i];

        while (e) {
            Entry *next = e->next;

            free(e);
            e = next;
        }
        ns->buckets[i] = NULL;
    }
    ns->entries = 0;
    ns->datasize = 0;
    ns->indexsize = 0;
    ns->nextid = 0;
}

static void ns_free(Namespace *ns)
{
    ns_clear_keys(ns);
    free(ns->buckets);
    free(ns->password);
    free(ns);
}

void store_init(void)
{
    nslots = 1;
    slots = xcalloc(1, sizeof(Namespace *));
    slots[0] = ns_alloc("default");
    slots[0]->maxsize = config.default_maxsize;
    if (config.protect && config.admin) {
        slots[0]->password = strdup(config.admin);
    }
}

void store_free(void)
{
    size_t i;

    for (i = 0; i < nslots; i++) {
        if (slots[i]) {
            ns_free(slots[i]);
        }
    }
    free(slots);
    slots = NULL;
    nslots = 0;
}

Namespace *ns_default(void)
{
    return slots[0];
}

Namespace *ns_iter(size_t *slot)
{
    while (*slot < nslots) {
        Namespace *ns = slots[(*slot)++];

        if (ns) {
            return ns;
        }
    }
    return NULL;
}

size_t ns_count(void)
{
    size_t i, n = 0;

    for (i = 0; i < nslots; i++) {
        n += slots[i] != NULL;
    }
    return n;
}

Namespace *ns_find(const char *name)
{
    size_t slot = 0;
    Namespace *ns;

    while ((ns = ns_iter(&slot))) {
        if (strcmp(ns->name, name) == 0) {
            return ns;
        }
    }
    return NULL;
}

bool ns_name_valid(const char *name)
{
    if (strcmp(name, ".") == 0 || strcmp(name, "..") == 0) {
        return false;
    }
    if (strchr(name, '/')) {
        return false;
    }
    return strcmp(name, "default") != 0;
}

Namespace *ns_create(const char *name)
{
    Namespace *ns = ns_alloc(name);
    size_t i;

    /* 0-db reuses the first free slot, which shows in NSLIST's order */
    for (i = 0; i < nslots; i++) {
        if (!slots[i]) {
            slots[i] = ns;
            return ns;
        }
    }
    slots = realloc(slots, (nslots + 1) * sizeof(Namespace *));
    if (!slots) {
        perror("realloc");
        exit(1);
    }
    slots[nslots++] = ns;
    return ns;
}

void ns_delete(Namespace *ns)
{
    size_t i;

    for (i = 1; i < nslots; i++) {
        if (slots[i] == ns) {
            slots[i] = NULL;
            ns_free(ns);
            return;
        }
    }
}

void ns_flush(Namespace *ns)
{
    ns_clear_keys(ns);
}

bool ns_is_fresh(const Namespace *ns)
{
    return ns->nextid == 0;
}

const char *ns_set_property(Namespace *ns, const char *prop,
                            const char *value)
{
    if (strcmp(prop, "maxsize") == 0) {
        /* atoll() like 0-db: garbage is 0, negative wraps to huge */
        ns->maxsize = (uint64_t)atoll(value);
    } else if (strcmp(prop, "password") == 0) {
        free(ns->password);
        ns->password = strcmp(value, "*") == 0 ? NULL : strdup(value);
    } else if (strcmp(prop, "public") == 0) {
        ns->public = value[0] == '1';
    } else if (strcmp(prop, "worm") == 0) {
        ns->worm = value[0] == '1';
    } else if (strcmp(prop, "mode") == 0) {
        if (config.mode >= 0) {
            return "This server instance is configured to use a single "
                   "runtime mode";
        }
        if (!ns_is_fresh(ns)) {
            return "Cannot change mode of used namespace";
        }
        if (strcmp(value, "user") == 0) {
            ns->mode = NS_MODE_USER;
        } else if (strcmp(value, "seq") == 0) {
            ns->mode = NS_MODE_SEQ;
        } else {
            return "Invalid property value (expected: user, seq)";
        }
    } else if (strcmp(prop, "lock") == 0) {
        /* lock and freeze are one state in 0-db: either clears both */
        ns->lock = value[0] == '1' ? NS_LOCKED : NS_UNLOCKED;
    } else if (strcmp(prop, "freeze") == 0) {
        ns->lock = value[0] == '1' ? NS_FROZEN : NS_UNLOCKED;
    } else {
        return "Invalid property";
    }
    return NULL;
}

Entry *ns_get(Namespace *ns, const void *key, size_t klen)
{
    uint64_t h = key_hash(key, klen);
    Entry *e;

    for (e = ns->buckets[h & (ns->nbuckets - 1)]; e; e = e->next) {
        if (e->hash == h && e->klen == klen &&
            memcmp(entry_key(e), key, klen) == 0) {
            return e;
        }
    }
    return NULL;
}

static void ns_grow(Namespace *ns)
{
    size_t n = ns->nbuckets * 2, i;
    Entry **b = calloc(n, sizeof(Entry *));

    if (!b) {
        return;     /* keep the longer chains, still correct */
    }
    for (i = 0; i < ns->nbuckets; i++) {
        Entry *e = ns->buckets[i];

        while (e) {
            Entry *next = e->next;

            e->next = b[e->hash & (n - 1)];
            b[e->hash & (n - 1)] = e;
            e = next;
        }
    }
    free(ns->buckets);
    ns->buckets = b;
    ns->nbuckets = n;
}

bool ns_put(Namespace *ns, const void *key, size_t klen,
            const void *val, size_t vlen)
{
    uint64_t h = key_hash(key, klen);
    Entry **pp = &ns->buckets[h & (ns->nbuckets - 1)];
    Entry *e, *old = NULL;

    for (; *pp; pp = &(*pp)->next) {
        if ((*pp)->hash == h && (*pp)->klen == klen &&
            memcmp(entry_key(*pp), key, klen) == 0) {
            old = *pp;
            break;
        }
    }

    e = malloc(sizeof(*e) + klen + vlen);
    if (!e) {
        return false;
    }
    e->hash = h;
    e->klen = (uint8_t)klen;
    e->vlen = (uint32_t)vlen;
    memcpy(e->data, key, klen);
    if (vlen) {
        memcpy(e->data + klen, val, vlen);
    }

    if (old) {
        e->next = old->next;
        *pp = e;
        ns->datasize -= old->vlen;
        free(old);
    } else {
        e->next = ns->buckets[h & (ns->nbuckets - 1)];
        ns->buckets[h & (ns->nbuckets - 1)] = e;
        ns->entries++;
    }
    ns->datasize += vlen;
    ns->indexsize += INDEX_ENTRY_SIZE + klen;
    ns->nextid++;

    if (ns->entries > ns->nbuckets) {
        ns_grow(ns);
    }
    return true;
}

bool ns_del(Namespace *ns, const void *key, size_t klen)
{
    uint64_t h = key_hash(key, klen);
    Entry **pp = &ns->buckets[h & (ns->nbuckets - 1)];

    for (; *pp; pp = &(*pp)->next) {
        Entry *e = *pp;

        if (e->hash == h && e->klen == klen &&
            memcmp(entry_key(e), key, klen) == 0) {
            *pp = e->next;
            ns->entries--;
            ns->datasize -= e->vlen;
            ns->indexsize += INDEX_ENTRY_SIZE + klen;
            free(e);
            return true;
        }
    }
    return false;
}

void ns_seq_key(const Namespace *ns, unsigned char key[4])
{
    uint32_t id = ns->nextid;

    key[0] = (unsigned char)id;
    key[1] = (unsigned char)(id >> 8);
    key[2] = (unsigned char)(id >> 16);
    key[3] = (unsigned char)(id >> 24);
}

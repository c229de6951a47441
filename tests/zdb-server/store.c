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

/*
 * What NSINFO's index_size_bytes counts per live key, before the key:
 * 0-db's in-memory index_entry_t on a 64-bit machine.  Measured on
 * v2.0.7: a SET of a new 8-byte key adds 72, a SET over a live key adds
 * nothing, a DEL takes 72 away, and a restart counts the same.
 */
#define INDEX_ENTRY_MEM 64

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

static void ns_files_init(Namespace *ns)
{
    ns->fileid = 0;
    ns->idx_offset = ZS_INDEX_HEADER;
    ns->data_offset = ZS_DATA_HEADER;
}

static Namespace *ns_alloc(const char *name)
{
    Namespace *ns = xcalloc(1, sizeof(*ns));

    snprintf(ns->name, sizeof(ns->name), "%s", name);
    ns->public = true;
    ns->mode = config.mode < 0 ? NS_MODE_USER : config.mode;
    ns->nbuckets = 1024;
    ns->buckets = xcalloc(ns->nbuckets, sizeof(Entry *));
    ns_files_init(ns);
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
    free(ns->recs);
    ns->recs = NULL;
    ns->nrecs = ns->caprecs = 0;
    ns_files_init(ns);
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

/* Room for one more index entry; false when out of memory */
static bool rec_reserve(Namespace *ns)
{
    IndexRec *r;
    size_t cap;

    if (ns->nrecs < ns->caprecs) {
        return true;
    }
    cap = ns->caprecs ? ns->caprecs * 2 : 1024;
    r = realloc(ns->recs, cap * sizeof(*r));
    if (!r) {
        return false;
    }
    ns->recs = r;
    ns->caprecs = cap;
    return true;
}

/* Append an index entry (room reserved); its position */
static size_t rec_append(Namespace *ns, Entry *e, size_t klen,
                         uint32_t length, uint32_t crc, uint32_t timestamp)
{
    IndexRec *r = &ns->recs[ns->nrecs];

    r->entry = e;
    r->fileid = ns->fileid;
    r->offset = ns->idx_offset;
    r->length = length;
    r->crc = crc;
    r->timestamp = timestamp;
    r->klen = (uint8_t)klen;
    ns->idx_offset += ZS_INDEX_ITEM + klen;
    return ns->nrecs++;
}

void ns_jump(Namespace *ns)
{
    ns->fileid++;
    ns->idx_offset = ZS_INDEX_HEADER;
    ns->data_offset = ZS_DATA_HEADER;
}

bool ns_put(Namespace *ns, const void *key, size_t klen,
            const void *val, size_t vlen, uint32_t timestamp)
{
    uint64_t h = key_hash(key, klen);
    Entry **pp = &ns->buckets[h & (ns->nbuckets - 1)];
    Entry *e, *old = NULL;
    uint32_t crc;

    for (; *pp; pp = &(*pp)->next) {
        if ((*pp)->hash == h && (*pp)->klen == klen &&
            memcmp(entry_key(*pp), key, klen) == 0) {
            old = *pp;
            break;
        }
    }

    e = malloc(sizeof(*e) + klen + vlen);
    if (!e || !rec_reserve(ns)) {
        free(e);
        return false;
    }
    e->hash = h;
    e->klen = (uint8_t)klen;
    e->vlen = (uint32_t)vlen;
    memcpy(e->data, key, klen);
    if (vlen) {
        memcpy(e->data + klen, val, vlen);
    }
    crc = crc32c(val, vlen);

    /* 0-db's command_set(): the next files first if the value won't fit */
    if (ns->data_offset + vlen > config.datasize) {
        ns_jump(ns);
    }
    ns->data_offset += ZS_DATA_ITEM + klen + vlen;

    if (old && ns->mode == NS_MODE_SEQ) {
        /*
         * Sequential mode (0-db's index_update_entry_sequential()): the
         * id is a position, so a copy of the old entry is appended,
         * flagged deleted, and the entry at the key's own position is
         * rewritten in place with the new value.
         */
        IndexRec *r = &ns->recs[old->rec];

        rec_append(ns, NULL, r->klen, r->length, r->crc, r->timestamp);
        r = &ns->recs[old->rec];
        r->entry = e;
        r->length = (uint32_t)vlen;
        r->crc = crc;
        r->timestamp = timestamp;
        e->rec = old->rec;
    } else {
        /* the entry replaced is flagged deleted, the new one appended */
        if (old) {
            ns->recs[old->rec].entry = NULL;
        }
        e->rec = rec_append(ns, e, klen, (uint32_t)vlen, crc, timestamp);
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
    if (!old) {
        ns->indexsize += INDEX_ENTRY_MEM + klen;
    }
    /*
     * v2.0.7 in user-key mode counts new keys only (3 after three keys
     * set and one of them set five times more); sequential keys are ids
     */
    if (!old || ns->mode == NS_MODE_SEQ) {
        ns->nextid++;
    }

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
            ns->indexsize -= INDEX_ENTRY_MEM + klen;
            /* flagged deleted in the index; an empty, flagged data entry */
            ns->recs[e->rec].entry = NULL;
            ns->data_offset += ZS_DATA_ITEM + klen;
            free(e);
            return true;
        }
    }
    return false;
}

void ns_seq_key(const Namespace *ns, unsigned char key[ZS_SEQ_KEY_LEN])
{
    uint64_t id = ns->nextid;
    int i;

    for (i = 0; i < ZS_SEQ_KEY_LEN; i++) {
        key[i] = (unsigned char)(id >> (8 * i));
    }
}

/*
 * Cursors: 0-db's index_bkey_t, packed little-endian: u8 key length,
 * u32 file id, u32 value length, u32 offset in the index file, u32 CRC.
 */
void ns_cursor_make(const IndexRec *r, unsigned char out[ZS_CURSOR_LEN])
{
    out[0] = r->klen;
    le32_put(out + 1, r->fileid);
    le32_put(out + 5, r->length);
    le32_put(out + 9, r->offset);
    le32_put(out + 13, r->crc);
}

static uint64_t rec_pos(uint32_t fileid, uint32_t offset)
{
    return (uint64_t)fileid << 32 | offset;
}

/* First entry at or after (fileid, offset): entries are in that order */
static size_t rec_lower_bound(const Namespace *ns, uint64_t pos)
{
    size_t lo = 0, hi = ns->nrecs;

    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;

        if (rec_pos(ns->recs[mid].fileid, ns->recs[mid].offset) < pos) {
            lo = mid + 1;
        } else {
            hi = mid;
        }
    }
    return lo;
}

bool ns_cursor_find(const Namespace *ns, const void *cur, size_t len,
                    size_t *pos)
{
    const unsigned char *p = cur;
    uint32_t klen, fileid, length, offset, crc, end;
    const IndexRec *r, *last;
    size_t i, next;

    if (len != ZS_CURSOR_LEN) {
        return false;
    }
    klen = p[0];
    fileid = le32_get(p + 1);
    length = le32_get(p + 5);
    offset = le32_get(p + 9);
    crc = le32_get(p + 13);

    /*
     * 0-db reads an entry header and the cursor's key length at that
     * offset of that index file and compares the value's length and CRC;
     * nothing else (a deleted entry's cursor is still good).
     */
    i = rec_lower_bound(ns, rec_pos(fileid, offset));
    if (i == ns->nrecs) {
        return false;
    }
    r = &ns->recs[i];
    if (r->fileid != fileid || r->offset != offset ||
        r->length != length || r->crc != crc) {
        return false;
    }
    /* the read of the cursor's key length must stay inside the file */
    if (fileid == ns->fileid) {
        end = ns->idx_offset;
    } else {
        next = rec_lower_bound(ns, rec_pos(fileid + 1, 0));
        last = &ns->recs[next - 1];
        end = last->offset + ZS_INDEX_ITEM + last->klen;
    }
    if ((uint64_t)offset + ZS_INDEX_ITEM + klen > end) {
        return false;
    }
    *pos = i;
    return true;
}

/*
 * CRC32-C (Castagnoli), started at 0 and not inverted, as 0-db's
 * zdb_crc32(): with SSE4.2 when the CPU has it, else by table.
 */
static uint32_t crc32c_table[256];

static void crc32c_init(void)
{
    uint32_t i, j, c;

    for (i = 0; i < 256; i++) {
        c = i;
        for (j = 0; j < 8; j++) {
            c = c & 1 ? (c >> 1) ^ 0x82f63b78u : c >> 1;
        }
        crc32c_table[i] = c;
    }
}

#if defined(__x86_64__)
__attribute__((target("sse4.2")))
static uint32_t crc32c_sse42(const unsigned char *p, size_t len)
{
    uint64_t c = 0;

    for (; len >= 8; len -= 8, p += 8) {
        uint64_t v;

        memcpy(&v, p, 8);
        c = __builtin_ia32_crc32di(c, v);
    }
    for (; len; len--) {
        c = __builtin_ia32_crc32qi((uint32_t)c, *p++);
    }
    return (uint32_t)c;
}
#endif

uint32_t crc32c(const void *buf, size_t len)
{
    static int hw = -1;
    const unsigned char *p = buf;
    uint32_t c = 0;

    if (hw < 0) {
        crc32c_init();
#if defined(__x86_64__)
        hw = __builtin_cpu_supports("sse4.2");
#else
        hw = 0;
#endif
    }
#if defined(__x86_64__)
    if (hw) {
        return crc32c_sse42(p, len);
    }
#endif
    while (len--) {
        c = crc32c_table[(c ^ *p++) & 0xff] ^ (c >> 8);
    }
    return c;
}

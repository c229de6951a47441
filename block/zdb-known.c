/*
 * zdb block driver: what the driver knows of which blocks a namespace holds
 *
 * Copyright (c) 2026 the zdb driver authors
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#include "qemu/osdep.h"
#include "qemu/bitmap.h"
#include "block/zdb-known.h"

#define ZDB_REGION_BLOCKS       32768   /* 8 KiB of bits a region */

struct ZdbKnownRegion {
    unsigned long *known;
    unsigned long *present;
};

void zdb_known_init(ZdbKnown *k, uint64_t nblocks, ZdbKnownState fill)
{
    k->nblocks = nblocks;
    k->fill = fill;
    k->nregions = DIV_ROUND_UP(nblocks, ZDB_REGION_BLOCKS);
    k->regions = g_new0(ZdbKnownRegion *, k->nregions);
}

static void zdb_known_drop_regions(ZdbKnown *k, uint64_t from)
{
    uint64_t r;

    for (r = from; r < k->nregions; r++) {
        if (k->regions[r]) {
            g_free(k->regions[r]->known);
            g_free(k->regions[r]->present);
            g_free(k->regions[r]);
            k->regions[r] = NULL;
        }
    }
}

void zdb_known_free(ZdbKnown *k)
{
    if (k->regions) {
        zdb_known_drop_regions(k, 0);
    }
    g_free(k->regions);
    k->regions = NULL;
    k->nregions = 0;
}

void zdb_known_forget(ZdbKnown *k)
{
    zdb_known_drop_regions(k, 0);
    k->fill = ZDB_KNOWN_UNKNOWN;
}

static ZdbKnownRegion *zdb_known_region(ZdbKnown *k, uint64_t r)
{
    ZdbKnownRegion *reg = k->regions[r];

    if (!reg) {
        reg = k->regions[r] = g_new0(ZdbKnownRegion, 1);
        reg->known = bitmap_new(ZDB_REGION_BLOCKS);
        reg->present = bitmap_new(ZDB_REGION_BLOCKS);
        if (k->fill != ZDB_KNOWN_UNKNOWN) {
            bitmap_set(reg->known, 0, ZDB_REGION_BLOCKS);
        }
        if (k->fill == ZDB_KNOWN_PRESENT) {
            bitmap_set(reg->present, 0, ZDB_REGION_BLOCKS);
        }
    }
    return reg;
}

void zdb_known_resize(ZdbKnown *k, uint64_t nblocks, ZdbKnownState fill)
{
    uint64_t old = k->nblocks;
    uint64_t nregions = DIV_ROUND_UP(nblocks, ZDB_REGION_BLOCKS);

    if (nblocks < old) {
        zdb_known_drop_regions(k, nregions);
    }
    if (nregions != k->nregions) {
        k->regions = g_renew(ZdbKnownRegion *, k->regions, nregions);
        if (nregions > k->nregions) {
            memset(k->regions + k->nregions, 0,
                   (nregions - k->nregions) * sizeof(*k->regions));
        }
    }
    k->nregions = nregions;
    k->nblocks = nblocks;
    if (nblocks > old) {
        /* a region kept by a shrink still has the old bits past its end */
        zdb_known_set(k, old, nblocks - old, fill);
    }
}

void zdb_known_set(ZdbKnown *k, uint64_t first, uint64_t n,
                   ZdbKnownState state)
{
    uint64_t end = MIN(first + n, k->nblocks);

    while (first < end) {
        uint64_t r = first / ZDB_REGION_BLOCKS;
        uint64_t off = first % ZDB_REGION_BLOCKS;
        uint64_t len = MIN(end - first, ZDB_REGION_BLOCKS - off);
        ZdbKnownRegion *reg;

        if (!k->regions[r] && state == k->fill) {
            first += len;
            continue;
        }
        reg = zdb_known_region(k, r);
        if (state == ZDB_KNOWN_UNKNOWN) {
            bitmap_clear(reg->known, off, len);
        } else {
            bitmap_set(reg->known, off, len);
        }
        if (state == ZDB_KNOWN_PRESENT) {
            bitmap_set(reg->present, off, len);
        } else {
            bitmap_clear(reg->present, off, len);
        }
        first += len;
    }
}

void zdb_known_settle(ZdbKnown *k, ZdbKnownState state)
{
    size_t words = BITS_TO_LONGS(ZDB_REGION_BLOCKS);
    uint64_t r;
    size_t i;

    assert(state != ZDB_KNOWN_UNKNOWN);
    for (r = 0; r < k->nregions; r++) {
        ZdbKnownRegion *reg = k->regions[r];

        if (!reg) {
            continue;
        }
        for (i = 0; i < words; i++) {
            if (state == ZDB_KNOWN_PRESENT) {
                reg->present[i] |= ~reg->known[i];
            }
            reg->known[i] = ~0UL;
        }
    }
    if (k->fill == ZDB_KNOWN_UNKNOWN) {
        k->fill = state;
    }
}

ZdbKnownState zdb_known_get(const ZdbKnown *k, uint64_t block)
{
    const ZdbKnownRegion *reg;
    uint64_t off = block % ZDB_REGION_BLOCKS;

    if (block >= k->nblocks) {
        return ZDB_KNOWN_UNKNOWN;
    }
    reg = k->regions[block / ZDB_REGION_BLOCKS];
    if (!reg) {
        return k->fill;
    }
    if (!test_bit(off, reg->known)) {
        return ZDB_KNOWN_UNKNOWN;
    }
    return test_bit(off, reg->present) ? ZDB_KNOWN_PRESENT
                                       : ZDB_KNOWN_ABSENT;
}

uint64_t zdb_known_run(const ZdbKnown *k, uint64_t first, uint64_t max,
                       ZdbKnownState *state)
{
    uint64_t n = 1;

    *state = zdb_known_get(k, first);
    while (n < max && first + n < k->nblocks) {
        const ZdbKnownRegion *reg = k->regions[(first + n) /
                                               ZDB_REGION_BLOCKS];

        if (!reg && k->fill == *state) {
            /* a whole region of the fill state at once */
            n += ZDB_REGION_BLOCKS - (first + n) % ZDB_REGION_BLOCKS;
            continue;
        }
        if (zdb_known_get(k, first + n) != *state) {
            break;
        }
        n++;
    }
    return MIN(n, MIN(max, k->nblocks - first));
}

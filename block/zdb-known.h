/*
 * zdb block driver: what the driver knows of which blocks a namespace holds
 *
 * Three states per block: unknown, absent (no key: zeros, or the thin
 * base shows through) and present (a value or the zero marker).  Two bits
 * a block, in regions allocated only where something is known other than
 * the map's default, so a disk the driver knows nothing of, or knows to be
 * empty, costs a pointer per region: for a 1 TiB disk of 4 KiB blocks,
 * 64 KiB of pointers, and 64 MiB when every block is known.
 *
 * Used from the disk's AioContext only.
 *
 * Copyright (c) 2026 the zdb driver authors
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#ifndef BLOCK_ZDB_KNOWN_H
#define BLOCK_ZDB_KNOWN_H

typedef enum ZdbKnownState {
    ZDB_KNOWN_UNKNOWN,
    ZDB_KNOWN_ABSENT,
    ZDB_KNOWN_PRESENT,
} ZdbKnownState;

typedef struct ZdbKnownRegion ZdbKnownRegion;

typedef struct ZdbKnown {
    uint64_t nblocks;
    ZdbKnownState fill;         /* of blocks in no region */
    uint64_t nregions;
    ZdbKnownRegion **regions;
} ZdbKnown;

/* Every block @fill: unknown, or absent for a namespace known empty */
void zdb_known_init(ZdbKnown *k, uint64_t nblocks, ZdbKnownState fill);
void zdb_known_free(ZdbKnown *k);
/* Forget everything: another writer may have changed the namespace */
void zdb_known_forget(ZdbKnown *k);
/* Blocks past the old end are @fill */
void zdb_known_resize(ZdbKnown *k, uint64_t nblocks, ZdbKnownState fill);

void zdb_known_set(ZdbKnown *k, uint64_t first, uint64_t n,
                   ZdbKnownState state);
/* Every block not known is @state from now on */
void zdb_known_settle(ZdbKnown *k, ZdbKnownState state);
ZdbKnownState zdb_known_get(const ZdbKnown *k, uint64_t block);
/* How many blocks from @first (at most @max) share its state, *state */
uint64_t zdb_known_run(const ZdbKnown *k, uint64_t first, uint64_t max,
                       ZdbKnownState *state);

#endif

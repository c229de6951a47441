/*
 * zdb block driver: state shared by its files
 *
 * Copyright (c) 2026 the zdb driver authors
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#ifndef BLOCK_ZDB_INT_H
#define BLOCK_ZDB_INT_H

#include "block/block_int.h"
#include "qapi/qapi-types-block-core.h"
#include "qemu/coroutine.h"
#include "block/zdb-conn.h"

#define ZDB_KEY_LEN             8
#define ZDB_META_KEY            "zdb-disk-metadata"
#define ZDB_LAYOUT_VERSION      1

/*
 * One namespace that holds the disk: the primary, and the backup that
 * mirrors it.  Reads go to a side in sync, writes to every side that is
 * not down; a side that missed writes is behind until they are copied.
 */
typedef struct ZdbSide {
    const char *name;           /* "primary", "backup" */
    ZdbAddr addr;
    ZdbPool *pool;
    ZdbSideState state;
    bool has_meta;
    uint64_t generation;        /* as recorded in its metadata */
    unsigned long *dirty;       /* blocks it lacks (with a backup only) */
} ZdbSide;

/* A write in flight: its blocks, and its place in issue order for flush */
typedef struct ZdbWrite {
    uint64_t seq;
    uint64_t first;
    uint64_t last;
    bool serialising;
    QTAILQ_ENTRY(ZdbWrite) next;
} ZdbWrite;

typedef struct BDRVZdbState {
    BlockDriverState *bs;
    AioContext *ctx;            /* where the connections live */
    uint64_t size;
    uint32_t blocksize;
    uint64_t nblocks;

    ZdbSide side[2];
    int nsides;

    /* The read-only base that blocks missing here are read from */
    ZdbAddr thin_addr;
    ZdbPool *thin;
    bool thin_cor;

    /* Lost connections: see zdb_co_retry */
    int64_t reconnect_delay_ms;
    bool fail_fast;

    /* Writes in flight, oldest first (see zdb_write_begin) */
    uint64_t write_seq;
    int serialising_writes;
    QTAILQ_HEAD(, ZdbWrite) writes;
    CoQueue write_queue;

    /* Backup: see zdb-backup.c */
    CoMutex meta_lock;
    bool degraded_recorded;     /* live sides' generation bumped */
    bool writable;              /* the monitor may copy */
    QEMUTimer *monitor;
    bool monitor_running;
    bool quiesced;
} BDRVZdbState;

/* Geometry (and generation) as found in, or written to, the metadata */
typedef struct ZdbGeometry {
    uint64_t size;
    uint64_t blocksize;
    uint64_t generation;
} ZdbGeometry;

/* zdb.c */
char *zdb_geometry_format(const ZdbGeometry *g);
void coroutine_fn zdb_write_begin(BDRVZdbState *s, ZdbWrite *w,
                                  uint64_t first, uint64_t last,
                                  bool serialising);
void coroutine_fn zdb_write_end(BDRVZdbState *s, ZdbWrite *w);
int coroutine_fn zdb_co_write_meta(BDRVZdbState *s, ZdbSide *side);
int coroutine_fn zdb_co_copy_blocks(BDRVZdbState *s, ZdbSide *from,
                                    ZdbSide *to, const uint64_t *blocks,
                                    uint64_t n);

/* zdb-backup.c */
void zdb_backup_init(BDRVZdbState *s);
void zdb_backup_cleanup(BDRVZdbState *s);
void zdb_backup_attach(BDRVZdbState *s, AioContext *ctx);
void zdb_backup_detach(BDRVZdbState *s);
void zdb_backup_quiesce(BDRVZdbState *s, bool quiesced);
ZdbSide *zdb_read_side(BDRVZdbState *s, ZdbSide *not);
void zdb_side_lost(BDRVZdbState *s, ZdbSide *side, int err);
void zdb_side_mark_dirty(BDRVZdbState *s, ZdbSide *side, uint64_t first,
                         uint64_t last, const uint64_t *list);
int coroutine_fn zdb_co_record_degraded(BDRVZdbState *s);
bool zdb_degraded(BDRVZdbState *s);

#endif

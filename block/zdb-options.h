/*
 * zdb block driver: options, filenames, the geometry they settle on, and
 * creating a disk
 *
 * Copyright (c) 2026 the zdb driver authors
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#ifndef BLOCK_ZDB_OPTIONS_H
#define BLOCK_ZDB_OPTIONS_H

#include "qapi/qapi-types-block-core.h"
#include "qemu/option.h"
#include "block/zdb-sides.h"

/* A disk's options, checked; the addresses are handed over by the caller */
typedef struct ZdbOptions {
    ZdbAddr disk;
    ZdbAddr backup;             /* namespace NULL: no backup */
    ZdbAddr thin;               /* namespace NULL: no thin base */
    bool thin_copy_on_read;
    bool key_scan;              /* the walk of a disk opened with data */
    ZdbKeep keep;               /* split-brain-keep */
    uint64_t size;              /* as given, or the default */
    uint64_t blocksize;
    bool size_given;
    bool blocksize_given;
    int connections;
    int timeout_s;
    int open_timeout_s;
    int reconnect_delay_s;
    int probe_timeout_s;        /* how long open waits for a reply */
} ZdbOptions;

extern const char *const zdb_strong_runtime_opts[];
extern QemuOptsList zdb_create_opts;

/* Absorbs the driver's options from @options; false with @errp set */
bool zdb_options_parse(QDict *options, ZdbOptions *o, Error **errp);
void zdb_options_clear(ZdbOptions *o);

/*
 * zdb://[password@]host[:port]/namespace[?size=..&blocksize=..]
 * zdb+unix:///namespace?socket=PATH[&size=..&blocksize=..]
 */
void zdb_parse_filename(const char *filename, QDict *options, Error **errp);

/*
 * The geometry: what a namespace records wins, options must agree with
 * it, and every namespace of the disk must record the same.
 */
bool zdb_settle_geometry(const ZdbOptions *o, const ZdbProbe *const *probes,
                         int n,
                         ZdbMeta *g, Error **errp);

/* qemu-img create, and blockdev-create */
int zdb_create_from_opts(const char *filename, QemuOpts *opts, Error **errp);
int zdb_create_from_qapi(BlockdevCreateOptionsZdb *o, Error **errp);

#endif

/*
 * zdb: the differences of QEMU's driver interface between the series
 * the driver builds on (10.0, Debian 13's, and 10.1 and later)
 *
 * Keyed on QEMU's version (config-host.h, through qemu/osdep.h), so that
 * block/zdb.c holds no version test of its own.
 *
 * Differences that need nothing here:
 * - 10.1 marks .bdrv_close GRAPH_UNLOCKED: zdb_close takes no graph lock
 *   and calls nothing that needs one, and the annotation binds callers of
 *   the pointer, not the function assigned to it (nbd_close and
 *   qemu_rbd_close carry none either).
 * - 10.1 gives bdrv_co_create_file() an argument: the driver does not call
 *   it (a zdb disk is created in a namespace, not in a file).
 *
 * Copyright (c) 2026 the zdb driver authors
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#ifndef BLOCK_ZDB_COMPAT_H
#define BLOCK_ZDB_COMPAT_H

#define ZDB_QEMU_AT_LEAST(major, minor) \
    (QEMU_VERSION_MAJOR > (major) || \
     (QEMU_VERSION_MAJOR == (major) && QEMU_VERSION_MINOR >= (minor)))

/*
 * The second argument of .bdrv_co_block_status: "bool want_zero" up to
 * 10.0, "unsigned int mode" (BDRV_WANT_ZERO | ...) from 10.1.  The driver
 * answers the same either way: which blocks hold keys is all it knows.
 */
#if ZDB_QEMU_AT_LEAST(10, 1)
typedef unsigned int ZdbWantMode;
#else
typedef bool ZdbWantMode;
#endif

#endif

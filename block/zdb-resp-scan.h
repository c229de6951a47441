/*
 * zdb block driver: find where RESP replies end in a byte stream
 *
 * hiredis aborts the process when a reply arrives that no command waits
 * for, and its reader moves the rest of its buffer down after every reply
 * it takes out.  Scanning the bytes first, without copying them, tells how
 * many replies a read brought and where each ends: the connection can
 * refuse replies nobody asked for, and hand hiredis one whole reply at a
 * time so that its buffer is empty after each.
 *
 * Copyright (c) 2026 the zdb driver authors
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#ifndef BLOCK_ZDB_RESP_SCAN_H
#define BLOCK_ZDB_RESP_SCAN_H

/* hiredis' own nesting limit */
#define ZDB_RESP_MAX_DEPTH 7

typedef struct ZdbRespScan {
    int depth;                                /* open arrays */
    int64_t left[ZDB_RESP_MAX_DEPTH];         /* elements each still needs */
    int64_t bulk;           /* bytes of bulk body and CRLF still to come */
    char type;              /* type byte of the line being read, or 0 */
    bool cr;                /* the line's last byte so far was CR */
    bool sign;              /* the number had a sign */
    bool negative;
    int digits;
    int64_t number;         /* the line's number, for '$', '*' and ':' */
} ZdbRespScan;

void zdb_resp_scan_init(ZdbRespScan *sc);

/*
 * Scans at most @len bytes of @buf, stopping right after the first reply
 * that ends there.  Returns the bytes consumed; *@complete tells whether a
 * reply ended at that point.  Returns -1 on bytes that are not RESP.
 */
ssize_t zdb_resp_scan(ZdbRespScan *sc, const char *buf, size_t len,
                      bool *complete);

#endif

/*
 * RESP request parser
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#ifndef ZS_RESP_H
#define ZS_RESP_H

#include "server.h"

typedef enum RespStatus {
    RESP_DONE,          /* one whole request is in *req */
    RESP_MORE,          /* incomplete: *need is the total size, or 0 */
    RESP_ERR_ARRAY,     /* not an array: "-Malformed request, array expected" */
    RESP_ERR_NOARGS,    /* "*0": "-Missing arguments" */
    RESP_ERR_TOOMANY,   /* more than 1024 items: "-Too many arguments" */
    RESP_ERR_STRING,    /* item not a bulk string: "-Malformed query string" */
    RESP_ERR_TOOBIG,    /* bulk string over 8 MiB */
    RESP_ERR_MEMORY,    /* negative array size: "-Internal memory error" */
} RespStatus;

/*
 * Parse one request at the start of buf[0..len).  On RESP_DONE, *used is
 * its size in bytes and req->argv points into buf.  Re-parsing an
 * incomplete request from its start after each read is cheap: items are
 * skipped by their announced length, never scanned.
 */
RespStatus resp_parse(const unsigned char *buf, size_t len, Request *req,
                      size_t *used, size_t *need);

#endif

/*
 * zdb block driver: find where RESP replies end in a byte stream
 *
 * The grammar is hiredis' (0.14 and 1.x): a type byte, a line ended by
 * CRLF, then for '$' a body of the given length and CRLF, for '*' the
 * given number of elements.  Where hiredis would read a malformed number
 * as -1, this scanner refuses the bytes: the connection is dropped, which
 * is what a garbled stream deserves anyway.
 *
 * Copyright (c) 2026 the zdb driver authors
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#include "qemu/osdep.h"
#include "block/zdb-resp-scan.h"

/* longest number line accepted: a sign and 18 digits */
#define ZDB_RESP_MAX_DIGITS 18

void zdb_resp_scan_init(ZdbRespScan *sc)
{
    memset(sc, 0, sizeof(*sc));
}

/* An element ended: close the arrays it fills; true when the reply ended */
static bool zdb_resp_element_done(ZdbRespScan *sc)
{
    while (sc->depth > 0) {
        if (--sc->left[sc->depth - 1] > 0) {
            return false;
        }
        sc->depth--;
    }
    return true;
}

/*
 * A line ended.  Returns 1 when the element ended with it, 0 when a body
 * or elements follow, -1 when the line is not RESP.
 */
static int zdb_resp_line_done(ZdbRespScan *sc)
{
    int64_t n = sc->negative ? -sc->number : sc->number;
    char type = sc->type;

    sc->type = 0;
    if (type == '+' || type == '-') {
        return 1;
    }
    if (!sc->digits) {
        return -1;
    }
    switch (type) {
    case ':':
        return 1;
    case '$':
        if (n < -1) {
            return -1;
        }
        if (n == -1) {
            return 1;
        }
        sc->bulk = n + 2;
        return 0;
    case '*':
        if (n < -1) {
            return -1;
        }
        if (n <= 0) {
            return 1;
        }
        if (sc->depth == ZDB_RESP_MAX_DEPTH) {
            return -1;
        }
        sc->left[sc->depth++] = n;
        return 0;
    }
    return -1;
}

/* One byte of a number line; 1 at its end, 0 for more, -1 if bad */
static int zdb_resp_number_byte(ZdbRespScan *sc, char c)
{
    if (sc->cr) {
        sc->cr = false;
        return c == '\n' ? 1 : -1;
    }
    if (c == '\r') {
        sc->cr = true;
    } else if (c >= '0' && c <= '9' && sc->digits < ZDB_RESP_MAX_DIGITS) {
        sc->number = sc->number * 10 + (c - '0');
        sc->digits++;
    } else if ((c == '-' || c == '+') && !sc->digits && !sc->sign) {
        sc->negative = c == '-';
        sc->sign = true;
    } else {
        return -1;
    }
    return 0;
}

ssize_t zdb_resp_scan(ZdbRespScan *sc, const char *buf, size_t len,
                      bool *complete)
{
    size_t i = 0;
    int r;

    *complete = false;
    while (i < len) {
        if (sc->bulk > 0) {
            size_t step = MIN((uint64_t)sc->bulk, len - i);

            i += step;
            sc->bulk -= step;
            if (sc->bulk > 0) {
                break;
            }
            r = 1;
        } else if (!sc->type) {
            char t = buf[i++];

            if (t != '+' && t != '-' && t != ':' && t != '$' && t != '*') {
                return -1;
            }
            sc->type = t;
            sc->negative = sc->sign = sc->cr = false;
            sc->digits = 0;
            sc->number = 0;
            continue;
        } else if (sc->type == '+' || sc->type == '-') {
            /* free text up to CRLF, which may straddle two reads */
            const char *nl;

            if (sc->cr && buf[i] == '\n') {
                i++;
            } else {
                nl = memchr(buf + i, '\n', len - i);
                while (nl && (nl == buf + i ? !sc->cr : nl[-1] != '\r')) {
                    nl = memchr(nl + 1, '\n', buf + len - nl - 1);
                }
                if (!nl) {
                    sc->cr = buf[len - 1] == '\r';
                    i = len;
                    break;
                }
                i = nl - buf + 1;
            }
            r = zdb_resp_line_done(sc);
        } else {
            r = zdb_resp_number_byte(sc, buf[i++]);
            if (r == 0) {
                continue;
            }
            if (r == 1) {
                r = zdb_resp_line_done(sc);
            }
        }
        if (r < 0) {
            return -1;
        }
        if (r == 1 && zdb_resp_element_done(sc)) {
            *complete = true;
            break;
        }
    }
    return i;
}

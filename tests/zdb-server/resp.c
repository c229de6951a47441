/*
 * RESP request parser, with the limits and quirks of 0-db's zdbd/redis.c:
 * requests must be arrays of bulk strings, numbers are read like atoi(),
 * and the two bytes after a bulk payload are skipped without a check.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#include <string.h>
#include "resp.h"

/*
 * Longest header line we wait for.  0-db's buffer is 8 KiB; a line that
 * does not fit can never be parsed.
 */
#define LINE_MAX_LEN 8192

/* atoi() on a line that is not NUL-terminated, saturating */
static long long line_atoi(const unsigned char *p, const unsigned char *end)
{
    long long v = 0;
    bool neg = false;

    while (p < end && (*p == ' ' || *p == '\t')) {
        p++;
    }
    if (p < end && (*p == '-' || *p == '+')) {
        neg = *p == '-';
        p++;
    }
    while (p < end && *p >= '0' && *p <= '9') {
        if (v < (1LL << 40)) {
            v = v * 10 + (*p - '0');
        }
        p++;
    }
    return neg ? -v : v;
}

/* Find the end of the line starting at pos: index of '\n', or -1 */
static long find_eol(const unsigned char *buf, size_t len, size_t pos)
{
    const unsigned char *nl = memchr(buf + pos, '\n', len - pos);

    return nl ? (long)(nl - buf) : -1;
}

RespStatus resp_parse(const unsigned char *buf, size_t len, Request *req,
                      size_t *used, size_t *need)
{
    size_t pos = 0;
    long eol;
    long long n;
    int i;

    *need = 0;
    if (len == 0) {
        return RESP_MORE;
    }
    if (buf[0] != '*') {
        return RESP_ERR_ARRAY;
    }
    eol = find_eol(buf, len, 0);
    if (eol < 0) {
        return len > LINE_MAX_LEN ? RESP_ERR_ARRAY : RESP_MORE;
    }
    n = line_atoi(buf + 1, buf + eol);
    if (n == 0) {
        return RESP_ERR_NOARGS;
    }
    if (n < 0) {
        return RESP_ERR_MEMORY;
    }
    if (n > ZS_MAX_ARGS) {
        return RESP_ERR_TOOMANY;
    }
    req->argc = (int)n;
    pos = eol + 1;

    for (i = 0; i < req->argc; i++) {
        long long alen;
        size_t end;

        if (pos >= len) {
            return RESP_MORE;
        }
        if (buf[pos] != '$') {
            return RESP_ERR_STRING;
        }
        eol = find_eol(buf, len, pos);
        if (eol < 0) {
            return len - pos > LINE_MAX_LEN ? RESP_ERR_STRING : RESP_MORE;
        }
        alen = line_atoi(buf + pos + 1, buf + eol);
        if (alen > ZS_MAX_PAYLOAD) {
            return RESP_ERR_TOOBIG;
        }
        if (alen < 0) {
            return RESP_ERR_STRING;
        }
        /* payload, then two bytes (CRLF) that 0-db skips unchecked */
        end = (size_t)eol + 1 + (size_t)alen + 2;
        if (end > len) {
            *need = end;
            return RESP_MORE;
        }
        req->argv[i].buf = buf + eol + 1;
        req->argv[i].len = (size_t)alen;
        pos = end;
    }

    *used = pos;
    return RESP_DONE;
}

/*
 * Unit test of block/zdb-resp-scan.c: reply boundaries found in a stream
 * of every RESP type, whatever way the stream is cut into reads, and
 * bytes that are not RESP refused.
 *
 * Built and run by tests/run-tests against the fetched QEMU tree.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#include "qemu/osdep.h"
#include "block/zdb-resp-scan.h"

static const char *const replies[] = {
    "+OK\r\n",
    "-ERR no such namespace\r\n",
    ":42\r\n",
    ":-7\r\n",
    "$-1\r\n",
    "$0\r\n\r\n",
    "$6\r\na\r\nb\n\r\r\n",        /* CR, LF inside a bulk body */
    "+a\rb\nc\r\n",                 /* lone CR and LF in a status */
    "*0\r\n",
    "*-1\r\n",
    "*3\r\n$1\r\nx\r\n$-1\r\n*2\r\n:1\r\n+OK\r\n",
    "*1\r\n*1\r\n*1\r\n$2\r\nhi\r\n",
};

static GString *stream(GArray *ends)
{
    GString *s = g_string_new(NULL);
    size_t i;

    for (i = 0; i < G_N_ELEMENTS(replies); i++) {
        g_string_append(s, replies[i]);
        g_array_append_val(ends, s->len);
    }
    /* a value as big as a block, then the list again after it */
    g_string_append(s, "$4096\r\n");
    for (i = 0; i < 4096; i++) {
        g_string_append_c(s, "\r\n$*+"[i % 5]);
    }
    g_string_append(s, "\r\n");
    g_array_append_val(ends, s->len);
    return s;
}

/* Feeds @s in reads of at most @chunk bytes (the first one @first bytes) */
static void scan_in_reads(GString *s, GArray *ends, size_t first,
                          size_t chunk)
{
    ZdbRespScan sc;
    size_t pos = 0, read_end = 0, n = 0;

    zdb_resp_scan_init(&sc);
    while (pos < s->len) {
        bool complete;
        ssize_t used;

        if (pos == read_end) {
            read_end = MIN(s->len, pos + (pos == 0 ? first : chunk));
        }
        used = zdb_resp_scan(&sc, s->str + pos, read_end - pos, &complete);
        g_assert_cmpint(used, >, 0);
        pos += used;
        if (complete) {
            g_assert_cmpuint(n, <, ends->len);
            g_assert_cmpuint(pos, ==, g_array_index(ends, guint, n));
            n++;
        } else {
            g_assert_cmpuint(pos, ==, read_end);
        }
    }
    g_assert_cmpuint(n, ==, ends->len);
}

static void test_every_cut(void)
{
    GArray *ends = g_array_new(false, false, sizeof(guint));
    GString *s = stream(ends);
    size_t cut;

    scan_in_reads(s, ends, s->len, s->len);
    scan_in_reads(s, ends, 1, 1);
    scan_in_reads(s, ends, 3, 7);
    for (cut = 1; cut < s->len; cut++) {
        scan_in_reads(s, ends, cut, s->len);
    }
    g_string_free(s, true);
    g_array_free(ends, true);
}

static void test_not_resp(void)
{
    static const char *const bad[] = {
        "?zdb-server garbage\r\n", "\0\r\n", "$abc\r\n", "$-2\r\n",
        "*x\r\n", ":\r\n", ":1-2\r\n", "$3\rx\n", "*1\r\n*1\r\n*1\r\n*1\r\n"
        "*1\r\n*1\r\n*1\r\n*1\r\n:1\r\n", "$99999999999999999999\r\n",
    };
    size_t i;

    for (i = 0; i < G_N_ELEMENTS(bad); i++) {
        ZdbRespScan sc;
        size_t len = i == 1 ? 3 : strlen(bad[i]);
        size_t pos = 0;
        ssize_t used = 0;
        bool complete = false;

        zdb_resp_scan_init(&sc);
        while (pos < len && !complete) {
            used = zdb_resp_scan(&sc, bad[i] + pos, len - pos, &complete);
            if (used < 0) {
                break;
            }
            pos += used;
        }
        g_assert_cmpint(used, ==, -1);
    }
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    g_test_add_func("/zdb-resp-scan/every-cut", test_every_cut);
    g_test_add_func("/zdb-resp-scan/not-resp", test_not_resp);
    return g_test_run();
}

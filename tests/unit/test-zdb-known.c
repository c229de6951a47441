/*
 * Unit test of block/zdb-known.c: the map of which blocks a namespace
 * holds, against a plain array of states.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#include "qemu/osdep.h"
#include "block/zdb-known.h"

#define BLOCKS  (3 * 32768 + 100)

static void check_same(const ZdbKnown *k, const uint8_t *ref, uint64_t n)
{
    uint64_t b, run;
    ZdbKnownState st;

    for (b = 0; b < n; b++) {
        g_assert_cmpint(zdb_known_get(k, b), ==, ref[b]);
    }
    for (b = 0; b < n; b += run) {
        uint64_t i;

        run = zdb_known_run(k, b, n, &st);
        g_assert_cmpint(st, ==, ref[b]);
        g_assert_cmpuint(run, >=, 1);
        g_assert_cmpuint(b + run, <=, n);
        for (i = b; i < b + run; i++) {
            g_assert_cmpint(ref[i], ==, st);
        }
        g_assert_true(b + run == n || ref[b + run] != st);
    }
}

static void test_random(void)
{
    g_autofree uint8_t *ref = g_malloc(BLOCKS);
    ZdbKnown k;
    int round;

    memset(ref, ZDB_KNOWN_ABSENT, BLOCKS);
    zdb_known_init(&k, BLOCKS, ZDB_KNOWN_ABSENT);
    check_same(&k, ref, BLOCKS);
    for (round = 0; round < 2000; round++) {
        uint64_t first = g_test_rand_int_range(0, BLOCKS);
        uint64_t n = g_test_rand_int_range(1, round % 10 ? 40 : 70000);
        ZdbKnownState st = g_test_rand_int_range(0, 3);

        zdb_known_set(&k, first, n, st);
        memset(ref + first, st, MIN(n, BLOCKS - first));
        if (round % 100 == 0) {
            check_same(&k, ref, BLOCKS);
        }
    }
    check_same(&k, ref, BLOCKS);

    /* shrink, then grow: what is past the old end is new */
    zdb_known_resize(&k, 40000, ZDB_KNOWN_UNKNOWN);
    zdb_known_resize(&k, BLOCKS, ZDB_KNOWN_ABSENT);
    memset(ref + 40000, ZDB_KNOWN_ABSENT, BLOCKS - 40000);
    check_same(&k, ref, BLOCKS);
    g_assert_cmpint(zdb_known_get(&k, BLOCKS), ==, ZDB_KNOWN_UNKNOWN);

    zdb_known_forget(&k);
    memset(ref, ZDB_KNOWN_UNKNOWN, BLOCKS);
    check_same(&k, ref, BLOCKS);
    zdb_known_free(&k);
}

/* A walk's end: what it did not see is absent, the rest stays */
static void test_settle(void)
{
    g_autofree uint8_t *ref = g_malloc(BLOCKS);
    ZdbKnownState to;
    uint64_t b;

    for (to = ZDB_KNOWN_ABSENT; to <= ZDB_KNOWN_PRESENT; to++) {
        ZdbKnown k;
        int round;

        memset(ref, ZDB_KNOWN_UNKNOWN, BLOCKS);
        zdb_known_init(&k, BLOCKS, ZDB_KNOWN_UNKNOWN);
        /* the first region untouched, the others mixed */
        for (round = 0; round < 300; round++) {
            uint64_t first = g_test_rand_int_range(32768, BLOCKS);
            uint64_t n = g_test_rand_int_range(1, 500);
            ZdbKnownState st = g_test_rand_int_range(0, 3);

            zdb_known_set(&k, first, n, st);
            memset(ref + first, st, MIN(n, BLOCKS - first));
        }
        zdb_known_settle(&k, to);
        for (b = 0; b < BLOCKS; b++) {
            if (ref[b] == ZDB_KNOWN_UNKNOWN) {
                ref[b] = to;
            }
        }
        check_same(&k, ref, BLOCKS);
        /* growing after it: the new blocks are what resize says */
        zdb_known_resize(&k, BLOCKS + 10, ZDB_KNOWN_UNKNOWN);
        g_assert_cmpint(zdb_known_get(&k, BLOCKS + 9), ==,
                        ZDB_KNOWN_UNKNOWN);
        check_same(&k, ref, BLOCKS);
        zdb_known_free(&k);
    }
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    g_test_add_func("/zdb-known/random", test_random);
    g_test_add_func("/zdb-known/settle", test_settle);
    return g_test_run();
}

/*
 * Unit test of block/zdb-proto.c: the metadata text, identifiers' ages,
 * the out-of-sync record's pages, the session commands and SCAN.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#include "qemu/osdep.h"
#include "qapi/error.h"
#include "qemu/bitmap.h"
#include "block/zdb-proto.h"

static void test_meta_round_trip(void)
{
    ZdbMeta m = {
        .size = 53687091200ULL, .blocksize = 4096, .generation = 3,
        .has_uuid = true, .uuid = 0x5f1c0e2a9b7d3c41ULL,
        .since = 0x0be3f7aa01c2d9e8ULL,
        .history = { 0x0be3f7aa01c2d9e8ULL, 0x93d2c5e0771a4b06ULL },
        .nhistory = 2, .chunk_blocks = 1024, .record_chunks = 77,
    };
    g_autofree char *text = zdb_meta_format(&m);
    ZdbMeta back;

    g_assert_true(zdb_meta_parse(text, strlen(text), &back, "ns",
                                 &error_abort));
    g_assert_cmpuint(back.size, ==, m.size);
    g_assert_cmpuint(back.blocksize, ==, m.blocksize);
    g_assert_cmpuint(back.generation, ==, 3);
    g_assert_true(back.has_uuid);
    g_assert_cmpuint(back.uuid, ==, m.uuid);
    g_assert_cmpuint(back.since, ==, m.since);
    g_assert_cmpint(back.nhistory, ==, 2);
    g_assert_cmpuint(back.history[1], ==, m.history[1]);
    g_assert_cmpuint(back.chunk_blocks, ==, 1024);
    g_assert_cmpuint(back.record_chunks, ==, 77);

    g_assert_cmpint(zdb_meta_age(&back, m.uuid), ==, 0);
    g_assert_cmpint(zdb_meta_age(&back, m.history[0]), ==, 1);
    g_assert_cmpint(zdb_meta_age(&back, m.history[1]), ==, 2);
    g_assert_cmpint(zdb_meta_age(&back, 42), ==, -1);
}

/* What a driver without identifiers wrote, and what a later one may add */
static void test_meta_legacy_and_unknown_lines(void)
{
    const char *text = "zdb-disk-layout 1\nsize 1048576\nblocksize 4096\n"
                       "generation 7\nsome-later-line 12\n";
    ZdbMeta m;

    g_assert_true(zdb_meta_parse(text, strlen(text), &m, "ns",
                                 &error_abort));
    g_assert_false(m.has_uuid);
    g_assert_cmpuint(m.generation, ==, 7);
    g_assert_cmpint(zdb_meta_age(&m, 0), ==, -1);
}

static void test_meta_bad(void)
{
    static const char *const bad[] = {
        "zdb-disk-layout 2\nsize 4096\nblocksize 4096\n",
        "zdb-disk-layout 1\nsize x\nblocksize 4096\n",
        "zdb-disk-layout 1\nsize 4096\nblocksize 4096\nuuid zz\n",
        "zdb-disk-layout 1\n",
        "",
    };
    size_t i;

    for (i = 0; i < ARRAY_SIZE(bad); i++) {
        Error *err = NULL;
        ZdbMeta m;

        g_assert_false(zdb_meta_parse(bad[i], strlen(bad[i]), &m, "ns",
                                      &err));
        g_assert_nonnull(err);
        g_assert_nonnull(strstr(error_get_pretty(err), "'ns'"));
        error_free(err);
    }
}

static void test_record_pages(void)
{
    uint64_t nchunks = ZDB_RECORD_PAGE_BITS + 100;
    g_autofree unsigned long *chunks = bitmap_new(nchunks);
    g_autofree unsigned long *back = bitmap_new(nchunks);
    uint8_t page[ZDB_RECORD_PAGE_BYTES];
    char key[32];

    set_bit(0, chunks);
    set_bit(9, chunks);
    set_bit(ZDB_RECORD_PAGE_BITS - 1, chunks);
    set_bit(ZDB_RECORD_PAGE_BITS + 99, chunks);

    zdb_record_page_encode(chunks, nchunks, 0, page);
    /* the layout on the server does not depend on the host's words */
    g_assert_cmpint(page[0], ==, 0x01);
    g_assert_cmpint(page[1], ==, 0x02);
    g_assert_cmpint(page[ZDB_RECORD_PAGE_BYTES - 1], ==, 0x80);
    zdb_record_page_decode(page, sizeof(page), 0, back, nchunks);
    zdb_record_page_encode(chunks, nchunks, 1, page);
    g_assert_cmpint(page[12], ==, 0x08);
    zdb_record_page_decode(page, sizeof(page), 1, back, nchunks);
    g_assert_true(bitmap_equal(chunks, back, nchunks));

    zdb_record_key(key, sizeof(key), 1);
    g_assert_cmpstr(key, ==, "zdb-out-of-sync-00000001");
    g_assert_cmpint(strlen(key), !=, ZDB_KEY_LEN);
}

static void test_select(void)
{
    ZdbAddr plain = { .namespace = (char *)"disk1" };
    ZdbAddr secret = { .namespace = (char *)"disk2",
                       .password = (char *)"pw" };
    ZdbAddr dflt = { .namespace = (char *)"default" };
    const char *argv[4];
    g_autofree char *proof = NULL;
    g_autofree char *none = NULL;

    g_assert_cmpint(zdb_hello_argv(&dflt, argv), ==, 1);
    g_assert_cmpstr(argv[0], ==, "PING");
    g_assert_cmpint(zdb_hello_argv(&plain, argv), ==, 2);
    g_assert_cmpstr(argv[0], ==, "SELECT");
    g_assert_cmpint(zdb_hello_argv(&secret, argv), ==, 3);
    g_assert_cmpstr(argv[2], ==, "CHALLENGE");

    /* sha1("nonce:pw"), the password itself never sent */
    g_assert_cmpint(zdb_select_argv(&secret, "nonce", &proof, argv), ==, 4);
    g_assert_cmpstr(argv[2], ==, "SECURE");
    g_assert_cmpstr(argv[3], ==, "149b8564e1fece05003ca9a935fe2476f470ca8a");
    /* a server without challenges gets the password in clear */
    g_assert_cmpint(zdb_select_argv(&secret, NULL, &none, argv), ==, 3);
    g_assert_cmpstr(argv[2], ==, "pw");
}

/* @resp parsed by hiredis, as a reply reaches the driver */
static redisReply *parse(const char *resp, size_t len)
{
    redisReader *r = redisReaderCreate();
    void *reply = NULL;

    g_assert_cmpint(redisReaderFeed(r, resp, len), ==, REDIS_OK);
    g_assert_cmpint(redisReaderGetReply(r, &reply), ==, REDIS_OK);
    g_assert_nonnull(reply);
    redisReaderFree(r);
    return reply;
}

static int scan_reply(ZdbScan *scan, const char *resp, size_t len,
                      GArray *blocks)
{
    redisReply *reply = parse(resp, len);
    int ret = zdb_scan_reply(scan, reply, blocks);

    freeReplyObject(reply);
    return ret;
}

/* A reply written as a C string: its bytes without the final NUL */
#define RESP_LEN(s) (sizeof(s) - 1)

static void test_scan_zdb(void)
{
    g_autoptr(GArray) blocks = g_array_new(false, false, sizeof(uint64_t));
    ZdbScan scan = { 0 };
    const char *argv[4];
    size_t argvlen[4];

    /* 0-db starts without a cursor */
    g_assert_cmpint(zdb_scan_argv(&scan, argv, argvlen), ==, 1);
    g_assert_cmpstr(argv[0], ==, "SCAN");

    /* blocks 1 and 0x0102030405060708; the metadata key is no block */
    static const char step[] =
        "*2\r\n$4\r\n\x01\x00\r\x07\r\n*3\r\n"
        "*3\r\n$8\r\n\0\0\0\0\0\0\0\x01\r\n:4096\r\n:1700000000\r\n"
        "*3\r\n$17\r\nzdb-disk-metadata\r\n:60\r\n:1700000000\r\n"
        "*3\r\n$8\r\n\x01\x02\x03\x04\x05\x06\x07\x08\r\n:0\r\n:1\r\n";
    static const char end[] = "-No more data\r\n";

    g_assert_cmpint(scan_reply(&scan, step, RESP_LEN(step), blocks), ==, 0);
    g_assert_false(scan.done);
    g_assert_cmpint(blocks->len, ==, 2);
    g_assert_cmphex(g_array_index(blocks, uint64_t, 0), ==, 1);
    g_assert_cmphex(g_array_index(blocks, uint64_t, 1), ==,
                    0x0102030405060708ULL);

    /* then from the binary cursor it answered */
    g_assert_cmpint(zdb_scan_argv(&scan, argv, argvlen), ==, 2);
    g_assert_cmpint(argvlen[1], ==, 4);
    g_assert_cmpmem(argv[1], 4, "\x01\x00\r\x07", 4);

    /* the end */
    g_assert_cmpint(scan_reply(&scan, end, RESP_LEN(end), blocks), ==, 0);
    g_assert_true(scan.done);
    g_assert_cmpint(blocks->len, ==, 2);
}

static void test_scan_redis(void)
{
    g_autoptr(GArray) blocks = g_array_new(false, false, sizeof(uint64_t));
    ZdbScan scan = { 0 };
    const char *argv[4];
    size_t argvlen[4];

    static const char arity[] =
        "-ERR wrong number of arguments for 'scan' command\r\n";
    static const char step[] =
        "*2\r\n$2\r\n17\r\n*2\r\n$8\r\n\0\0\0\0\0\0\0\x05\r\n"
        "$17\r\nzdb-disk-metadata\r\n";
    static const char last[] =
        "*2\r\n$1\r\n0\r\n*1\r\n$8\r\n\0\0\0\0\0\0\0\x06\r\n";

    /* Redis refuses SCAN without a cursor: the step is asked again */
    g_assert_cmpint(scan_reply(&scan, arity, RESP_LEN(arity), blocks), ==,
                    -EAGAIN);
    g_assert_true(scan.redis);
    g_assert_cmpint(zdb_scan_argv(&scan, argv, argvlen), ==, 4);
    g_assert_cmpmem(argv[1], argvlen[1], "0", 1);

    g_assert_cmpint(scan_reply(&scan, step, RESP_LEN(step), blocks), ==, 0);
    g_assert_false(scan.done);
    g_assert_cmpint(blocks->len, ==, 1);
    g_assert_cmpint(g_array_index(blocks, uint64_t, 0), ==, 5);
    g_assert_cmpint(zdb_scan_argv(&scan, argv, argvlen), ==, 4);
    g_assert_cmpmem(argv[1], argvlen[1], "17", 2);

    /* cursor 0 again: the walk is over, with this step's keys */
    g_assert_cmpint(scan_reply(&scan, last, RESP_LEN(last), blocks), ==, 0);
    g_assert_true(scan.done);
    g_assert_cmpint(blocks->len, ==, 2);
}

static void test_scan_bad(void)
{
    g_autoptr(GArray) blocks = g_array_new(false, false, sizeof(uint64_t));
    static const struct {
        const char *resp;
        int err;
    } bad[] = {
        { "-Namespace not found\r\n", -ENOENT },
        /* a cursor 0-db does not know */
        { "-Invalid key format\r\n", -EIO },
        { ":1\r\n", -EPROTO },
        { "*1\r\n$1\r\na\r\n", -EPROTO },
        { "*2\r\n$1\r\na\r\n*1\r\n:5\r\n", -EPROTO },
    };
    ZdbScan scan = { .cursor_len = 2, .cursor = "ab" };
    g_autofree char *long_cursor = NULL;
    size_t i;

    g_assert_cmpint(zdb_scan_reply(&scan, NULL, blocks), ==, -ENOTCONN);
    for (i = 0; i < ARRAY_SIZE(bad); i++) {
        g_assert_cmpint(scan_reply(&scan, bad[i].resp, strlen(bad[i].resp),
                                   blocks), ==, bad[i].err);
    }
    long_cursor = g_strdup_printf("*2\r\n$%d\r\n%0*d\r\n*0\r\n",
                                  ZDB_SCAN_CURSOR_MAX + 1,
                                  ZDB_SCAN_CURSOR_MAX + 1, 0);
    g_assert_cmpint(scan_reply(&scan, long_cursor, strlen(long_cursor),
                               blocks), ==, -EPROTO);
    /* nothing moved */
    g_assert_cmpint(blocks->len, ==, 0);
    g_assert_cmpmem(scan.cursor, scan.cursor_len, "ab", 2);
    g_assert_false(scan.done);
    g_assert_false(scan.redis);
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    g_test_add_func("/zdb-proto/meta-round-trip", test_meta_round_trip);
    g_test_add_func("/zdb-proto/meta-legacy",
                    test_meta_legacy_and_unknown_lines);
    g_test_add_func("/zdb-proto/meta-bad", test_meta_bad);
    g_test_add_func("/zdb-proto/record-pages", test_record_pages);
    g_test_add_func("/zdb-proto/select", test_select);
    g_test_add_func("/zdb-proto/scan-zdb", test_scan_zdb);
    g_test_add_func("/zdb-proto/scan-redis", test_scan_redis);
    g_test_add_func("/zdb-proto/scan-bad", test_scan_bad);
    return g_test_run();
}

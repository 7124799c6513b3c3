/* Tests common/schema_file.c: round trip, atomic write, the fixtures of tests/data/schema/
 * (made from docs/format/schema.md by make_fixtures.sh), every truncation and every flipped
 * bit (BDX_ECORRUPT), a future version (BDX_EVERSION). */
#include <criterion/criterion.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include "common/error.h"
#include "common/schema_file.h"
#include "common/schema_pb.h"

/* The schema of tests/data/schema/clean/schema (see make_fixtures.sh). */
static schema_t *fixture_schema(limits_t *l)
{
    schema_t *s;

    cr_assert_eq(schema_new("images", &s), 0);
    cr_assert_eq(schema_add_filter(s, "nsfwLevel", SCHEMA_INT, false, false), 0);
    cr_assert_eq(schema_add_filter(s, "tagIds", SCHEMA_INT, true, true), 0);
    cr_assert_eq(schema_add_sort(s, "createdAt", 32), 0);
    cr_assert_eq(schema_add_sort(s, "publishedAt", 32), 0);
    cr_assert_eq(schema_add_computed_sort(s, "sortAt", 32, SCHEMA_COMPUTED_GREATEST, "createdAt",
                                          "publishedAt"),
                 0);
    cr_assert_eq(schema_add_stored(s, "url", SCHEMA_STRING), 0);
    memset(l, 0, sizeof(*l));
    l->max_page_size = 200;
    cr_assert_eq(limits_resolve(l, NULL), 0);
    return s;
}

static void tmpdir(char *dir, size_t n)
{
    snprintf(dir, n, "/tmp/bitdex-test-schema-XXXXXX");
    cr_assert_not_null(mkdtemp(dir));
}

static void rm_dir(const char *dir)
{
    char p[512];

    snprintf(p, sizeof(p), "%s/%s", dir, SCHEMA_FILE_NAME);
    unlink(p);
    snprintf(p, sizeof(p), "%s/%s", dir, SCHEMA_FILE_TMP_NAME);
    unlink(p);
    rmdir(dir);
}

static uint8_t *read_all(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    uint8_t *b = malloc(1 << 16);

    cr_assert_not_null(f, "open %s", path);
    *len = fread(b, 1, 1 << 16, f);
    fclose(f);
    return b;
}

static void expect_same(const schema_t *a, const limits_t *la, const schema_t *b,
                        const limits_t *lb)
{
    char diff[256];

    cr_assert_not(schema_pb_diff(a, la, "a", b, lb, "b", diff, sizeof(diff)), "%s", diff);
}

Test(schema_file, encode_decode_round_trip)
{
    limits_t l, l2;
    schema_t *s = fixture_schema(&l), *s2;
    uint8_t *buf;
    size_t len;
    bdx_error_t err = {0};

    cr_assert_eq(schema_file_encode(s, &l, &buf, &len), 0);
    cr_assert_eq(memcmp(buf, "BDXSCH\r\n", 8), 0);
    cr_assert_eq(schema_file_decode("mem", "images", buf, len, &s2, &l2, &err), 0, "%s", err.msg);
    expect_same(s, &l, s2, &l2);
    cr_assert_str_eq(s2->name, "images");
    schema_free(s2);
    free(buf);
    schema_free(s);
}

Test(schema_file, write_read_atomic_and_replace)
{
    char dir[64], path[128];
    limits_t l, l2;
    schema_t *s = fixture_schema(&l), *s2;
    bdx_error_t err = {0};
    struct stat st;

    tmpdir(dir, sizeof(dir));
    cr_assert_eq(schema_file_read(dir, "images", &s2, &l2, &err), -ENOENT);
    cr_assert_not_null(strstr(err.msg, dir), "%s", err.msg);
    cr_assert_null(s2);
    cr_assert_eq(schema_file_write(dir, s, &l, &err), 0, "%s", err.msg);
    snprintf(path, sizeof(path), "%s/%s", dir, SCHEMA_FILE_TMP_NAME);
    cr_assert_neq(stat(path, &st), 0, "no temp file left behind");
    /* A stale temp file from a crash is simply overwritten. */
    FILE *f = fopen(path, "w");
    fputs("garbage", f);
    fclose(f);
    l.max_batch_ops = 7;
    cr_assert_eq(schema_file_write(dir, s, &l, &err), 0, "%s", err.msg);
    cr_assert_eq(schema_file_read(dir, "images", &s2, &l2, &err), 0, "%s", err.msg);
    expect_same(s, &l, s2, &l2);
    cr_assert_eq(l2.max_batch_ops, 7);
    schema_free(s2);
    cr_assert_neq(stat(path, &st), 0);
    rm_dir(dir);
    /* A directory that does not exist: an error naming the file, nothing created. */
    cr_assert_eq(schema_file_write(dir, s, &l, &err), -ENOENT);
    cr_assert_not_null(strstr(err.msg, "schema.tmp"), "%s", err.msg);
    schema_free(s);
}

/* The clean fixture is exactly what this build writes (the document and the code agree). */
Test(schema_file, fixture_clean_matches_encoder)
{
    char dir[512];
    limits_t l, l2;
    schema_t *s = fixture_schema(&l), *s2;
    uint8_t *want, *got;
    size_t wlen, glen;
    bdx_error_t err = {0};

    snprintf(dir, sizeof(dir), "%s/tests/data/schema/clean", BITDEX_SOURCE_DIR);
    cr_assert_eq(schema_file_read(dir, "images", &s2, &l2, &err), 0, "%s", err.msg);
    expect_same(s, &l, s2, &l2);
    snprintf(dir, sizeof(dir), "%s/tests/data/schema/clean/schema", BITDEX_SOURCE_DIR);
    want = read_all(dir, &wlen);
    cr_assert_eq(schema_file_encode(s, &l, &got, &glen), 0);
    cr_assert_eq(glen, wlen);
    cr_assert_eq(glen, 167);
    cr_assert_eq(memcmp(want, got, glen), 0, "encoder output differs from the fixture");
    free(want);
    free(got);
    schema_free(s2);
    schema_free(s);
}

static void expect_fixture(const char *name, int code, const char *want)
{
    char dir[512];
    schema_t *s = (schema_t *)1;
    limits_t l;
    bdx_error_t err = {0};

    snprintf(dir, sizeof(dir), "%s/tests/data/schema/%s", BITDEX_SOURCE_DIR, name);
    cr_assert_eq(schema_file_read(dir, "images", &s, &l, &err), code, "%s: %s", name, err.msg);
    cr_assert_null(s);
    cr_assert_not_null(strstr(err.msg, want), "%s: message '%s' must contain '%s'", name, err.msg,
                       want);
    cr_assert_not_null(strstr(err.msg, "tests/data/schema/"), "%s: message names the file: %s",
                       name, err.msg);
}

Test(schema_file, fixtures_damaged)
{
    expect_fixture("bad_magic", BDX_ECORRUPT, "bad magic at offset 0");
    expect_fixture("truncated", BDX_ECORRUPT, "at offset 12 does not match the file size 157");
    expect_fixture("flipped_crc", BDX_ECORRUPT, "CRC mismatch at offset 163");
    expect_fixture("flipped_payload", BDX_ECORRUPT, "CRC mismatch at offset 163");
    expect_fixture("future_version", BDX_EVERSION, "format version 2 at offset 8");
    expect_fixture("bad_payload", BDX_ECORRUPT, "payload at offset 20 does not decode");
    expect_fixture("invalid_schema", BDX_ECORRUPT,
                   "payload at offset 20 is not a valid schema: schema.sort_fields[0].bits: 65 > "
                   "64");
}

Test(schema_file, every_truncation_is_corrupt)
{
    limits_t l, l2;
    schema_t *s = fixture_schema(&l), *s2;
    uint8_t *buf;
    size_t len;
    bdx_error_t err = {0};

    cr_assert_eq(schema_file_encode(s, &l, &buf, &len), 0);
    for (size_t n = 0; n < len; n++) {
        bdx_error_clear(&err);
        cr_assert_eq(schema_file_decode("f", "images", buf, n, &s2, &l2, &err), BDX_ECORRUPT,
                     "truncated to %zu bytes: %s", n, err.msg);
        cr_assert_not_null(strstr(err.msg, "offset"), "%zu: %s", n, err.msg);
    }
    free(buf);
    schema_free(s);
}

Test(schema_file, every_flipped_bit_is_corrupt)
{
    limits_t l, l2;
    schema_t *s = fixture_schema(&l), *s2;
    uint8_t *buf;
    size_t len;
    bdx_error_t err = {0};

    cr_assert_eq(schema_file_encode(s, &l, &buf, &len), 0);
    for (size_t bit = 0; bit < len * 8; bit++) {
        buf[bit / 8] ^= (uint8_t)(1u << (bit % 8));
        bdx_error_clear(&err);
        cr_assert_eq(schema_file_decode("f", "images", buf, len, &s2, &l2, &err), BDX_ECORRUPT,
                     "bit %zu (byte %zu): got %d %s", bit, bit / 8, err.code, err.msg);
        cr_assert_not_null(strstr(err.msg, "offset"), "%zu: %s", bit, err.msg);
        buf[bit / 8] ^= (uint8_t)(1u << (bit % 8));
    }
    /* trailing bytes are damage too */
    buf = realloc(buf, len + 1);
    buf[len] = 0;
    cr_assert_eq(schema_file_decode("f", "images", buf, len + 1, &s2, &l2, &err), BDX_ECORRUPT);
    free(buf);
    schema_free(s);
}

static void put_u32(uint8_t *p, uint32_t v)
{
    for (int i = 0; i < 4; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

Test(schema_file, versions)
{
    limits_t l, l2;
    schema_t *s = fixture_schema(&l), *s2;
    uint8_t *buf;
    size_t len;
    bdx_error_t err = {0};

    cr_assert_eq(schema_file_encode(s, &l, &buf, &len), 0);
    for (uint32_t v = 0; v < 4; v++) {
        put_u32(buf + 8, v);
        put_u32(buf + len - 4, (uint32_t)crc32(0, buf, (uInt)(len - 4)));
        int rc = schema_file_decode("f", "images", buf, len, &s2, &l2, &err);
        if (v == 1) {
            cr_assert_eq(rc, 0, "%s", err.msg);
            schema_free(s2);
        } else if (v == 0) {
            cr_assert_eq(rc, BDX_ECORRUPT);
            cr_assert_not_null(strstr(err.msg, "version 0 at offset 8"), "%s", err.msg);
        } else {
            cr_assert_eq(rc, BDX_EVERSION, "version %u: %s", v, err.msg);
            cr_assert_not_null(strstr(err.msg, "this build reads version 1"), "%s", err.msg);
        }
    }
    /* the reserved word is ignored by version-1 readers (when the CRC covers it) */
    put_u32(buf + 8, 1);
    put_u32(buf + 16, 0xabcdef);
    put_u32(buf + len - 4, (uint32_t)crc32(0, buf, (uInt)(len - 4)));
    cr_assert_eq(schema_file_decode("f", "images", buf, len, &s2, &l2, &err), 0, "%s", err.msg);
    schema_free(s2);
    /* a length beyond the format maximum */
    put_u32(buf + 12, SCHEMA_FILE_MAX_PAYLOAD + 1);
    cr_assert_eq(schema_file_decode("f", "images", buf, len, &s2, &l2, &err), BDX_ECORRUPT);
    cr_assert_not_null(strstr(err.msg, "exceeds the maximum"), "%s", err.msg);
    free(buf);
    schema_free(s);
}

/*
 * Tests common/wal.c, wal_segment.c and wal_reader.c: round trips across rotations, recovery
 * outcomes (torn tail at every byte, a flipped bit in every field, bad magic, future version,
 * the fixtures in tests/data/wal/), truncation after checkpoints, and readers tailing a live log.
 * Frames are also written here with an encoder of our own, straight from docs/format/wal.md.
 * Randomized tests print their seed; BITDEX_TEST_SEED reproduces a run.
 * BITDEX_WAL_BENCH=1 runs the throughput measurement (skipped otherwise).
 */
#include "common/log.h"
#include "common/wal.h"

#include <criterion/criterion.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <zlib.h>

/* ---- seeded randomness (BITDEX_TEST_SEED reproduces a run) ---- */

static uint64_t seed;

static uint64_t seed_init(void)
{
    const char *s = getenv("BITDEX_TEST_SEED");
    seed = s ? strtoull(s, NULL, 0) : ((uint64_t)time(NULL) << 20) ^ (uint64_t)getpid();
    fprintf(stderr, "test_wal seed=%" PRIu64 " (rerun with BITDEX_TEST_SEED=%" PRIu64 ")\n", seed,
            seed);
    return seed;
}

#define SEEDMSG "seed=%" PRIu64, seed

static uint64_t splitmix(uint64_t *s)
{
    uint64_t z = (*s += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

/* The payload of `lsn`: `len` bytes derived from (salt, lsn) only, so it can be checked later. */
static void payload_fill(unsigned char *out, size_t len, uint64_t lsn, uint64_t salt)
{
    uint64_t s = lsn * 0x2545f4914f6cdd1dull ^ salt;
    for (size_t i = 0; i < len; i++) {
        if (i % 8 == 0)
            s = splitmix(&s);
        out[i] = (unsigned char)(s >> (8 * (i % 8)));
    }
}

static bool payload_ok(const void *p, size_t len, uint64_t lsn, uint64_t salt)
{
    unsigned char *want = malloc(len ? len : 1);
    bool ok;
    payload_fill(want, len, lsn, salt);
    ok = memcmp(want, p, len) == 0;
    free(want);
    return ok;
}

/* ---- files ---- */

static void tmpdir(char *buf)
{
    strcpy(buf, "/tmp/bdx-wal-XXXXXX");
    cr_assert_not_null(mkdtemp(buf));
}

/* Removes `dir` and everything below it (no symlinks are followed: lstat). Unlinking while
 * reading a directory may skip entries, so it makes passes until the directory is gone. */
static void rm_rf(const char *dir)
{
    for (int pass = 0; pass < 8; pass++) {
        DIR *d = opendir(dir);
        struct dirent *e;
        if (!d)
            return;
        while ((e = readdir(d))) {
            char p[1024];
            struct stat st;
            if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
                continue;
            snprintf(p, sizeof(p), "%s/%s", dir, e->d_name);
            if (lstat(p, &st) == 0 && S_ISDIR(st.st_mode))
                rm_rf(p);
            else
                unlink(p);
        }
        closedir(d);
        if (rmdir(dir) == 0 || errno != ENOTEMPTY)
            return;
    }
}

static char *seg_path(char *buf, size_t n, const char *dir, uint64_t lsn)
{
    snprintf(buf, n, "%s/%016" PRIx64 ".log", dir, lsn);
    return buf;
}

static unsigned char *file_read(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    unsigned char *b;
    long n;
    cr_assert_not_null(f, "open %s", path);
    fseek(f, 0, SEEK_END);
    n = ftell(f);
    fseek(f, 0, SEEK_SET);
    b = malloc((size_t)n + 1);
    cr_assert_eq(fread(b, 1, (size_t)n, f), (size_t)n);
    fclose(f);
    *len = (size_t)n;
    return b;
}

static void file_write(const char *path, const void *b, size_t len)
{
    FILE *f = fopen(path, "wb");
    cr_assert_not_null(f, "create %s", path);
    cr_assert_eq(fwrite(b, 1, len, f), len);
    fclose(f);
}

static uint64_t file_size(const char *path)
{
    struct stat st;
    cr_assert_eq(stat(path, &st), 0, "stat %s", path);
    return (uint64_t)st.st_size;
}

static size_t count_segments(const char *dir)
{
    char cmd[512];
    size_t n = 0;
    FILE *p;
    snprintf(cmd, sizeof(cmd), "ls %s | grep -c '^[0-9a-f]\\{16\\}\\.log$'", dir);
    p = popen(cmd, "r");
    cr_assert_not_null(p);
    cr_assert_eq(fscanf(p, "%zu", &n), 1);
    pclose(p);
    return n;
}

/* ---- an encoder written from docs/format/wal.md, independent of the code under test ---- */

static void le32(unsigned char *p, uint32_t v)
{
    for (int i = 0; i < 4; i++)
        p[i] = (unsigned char)(v >> (8 * i));
}

static void le64(unsigned char *p, uint64_t v)
{
    for (int i = 0; i < 8; i++)
        p[i] = (unsigned char)(v >> (8 * i));
}

/* Encodes a frame into out (16 + len bytes); returns its size. */
static size_t enc_frame(unsigned char *out, uint64_t lsn, const void *payload, uint32_t len)
{
    le32(out, len);
    le64(out + 4, lsn);
    memcpy(out + 12, payload, len);
    le32(out + 12 + len, (uint32_t)crc32(0, out, 12 + len));
    return 16 + (size_t)len;
}

static void enc_header(unsigned char out[40], uint32_t version, uint64_t log_id, uint64_t lsn)
{
    memset(out, 0, 40);
    memcpy(out, "BDXWAL\r\n", 8);
    le32(out + 8, version);
    le64(out + 16, log_id);
    le64(out + 24, lsn);
    le32(out + 36, (uint32_t)crc32(0, out, 36));
}

/* ---- helpers over the API ---- */

static wal_t *open_ok(const char *dir, const wal_options_t *o, wal_recovery_t *rep)
{
    wal_t *w = NULL;
    bdx_error_t err = {0};
    int rc = wal_open(dir, o, &w, rep, &err);
    cr_assert_eq(rc, 0, "wal_open %s: %s (%s)", dir, bdx_strerror(rc), err.msg);
    cr_assert_not_null(w);
    return w;
}

static uint64_t append_ok(wal_t *w, const void *p, size_t len)
{
    uint64_t lsn = 0;
    bdx_error_t err = {0};
    int rc = wal_append(w, p, len, &lsn, &err);
    cr_assert_eq(rc, 0, "wal_append(%zu): %s", len, err.msg);
    return lsn;
}

/* Appends `n` frames of `len` derived bytes each (salt 0) and syncs. */
static void append_derived(wal_t *w, size_t n, size_t len)
{
    unsigned char *b = malloc(len ? len : 1);
    for (size_t i = 0; i < n; i++) {
        uint64_t lsn = wal_last_lsn(w) + 1;
        payload_fill(b, len, lsn, 0);
        cr_assert_eq(append_ok(w, b, len), lsn);
    }
    cr_assert_eq(wal_sync(w, NULL, NULL), 0);
    free(b);
}

/* Reads frames [from, to] with derived payloads (salt 0) and then expects WAL_AGAIN. */
static void read_all_derived(const char *dir, uint64_t from, uint64_t to)
{
    wal_reader_t *r = NULL;
    bdx_error_t err = {0};
    const void *p;
    size_t len;
    uint64_t lsn;
    int rc = wal_reader_open(dir, from, 0, &r, &err);
    cr_assert_eq(rc, 0, "reader_open: %s", err.msg);
    for (uint64_t want = from; want <= to; want++) {
        rc = wal_reader_next(r, &lsn, &p, &len, &err);
        cr_assert_eq(rc, 0, "reader at %" PRIu64 ": %d %s", want, rc, err.msg);
        cr_assert_eq(lsn, want);
        cr_assert(payload_ok(p, len, lsn, 0), "payload of LSN %" PRIu64, lsn);
    }
    cr_assert_eq(wal_reader_next(r, &lsn, &p, &len, &err), WAL_AGAIN);
    wal_reader_close(r);
}

static wal_options_t small_opts(uint64_t segment_size, uint32_t max_frame)
{
    wal_options_t o;
    wal_options_init(&o);
    o.segment_size = segment_size;
    o.max_frame = max_frame;
    o.create = true;
    return o;
}

/* ---- round trip ---- */

Test(wal, round_trip_across_rotations_and_reopen)
{
    char dir[64];
    const uint32_t max = 64 << 10;
    wal_options_t o = small_opts(256 << 10, max);
    wal_recovery_t rep;
    bdx_error_t err = {0};
    const size_t n = 1500, more = 50;
    size_t *sizes = calloc(n + more + 1, sizeof(size_t));
    unsigned char *buf = malloc(max + 1);
    uint64_t s, durable = 0, lsn;
    wal_t *w;

    seed_init();
    s = seed;
    tmpdir(dir);
    log_set_level(LOG_WARN);
    w = open_ok(dir, &o, &rep);
    cr_assert_eq(rep.outcome, WAL_CLEAN);
    cr_assert_eq(wal_last_lsn(w), 0);
    for (size_t i = 1; i <= n + more; i++) {
        uint64_t r = splitmix(&s);
        size_t len = r % 10 == 0 ? 0 : r % 10 == 1 ? max : r % 10 == 2 ? max - 1 : (r >> 8) % 4096;
        if (i == n + 1) {
            /* reopen mid-way: LSNs continue */
            cr_assert_eq(wal_sync(w, &durable, &err), 0, "%s", err.msg);
            cr_assert_eq(durable, n);
            wal_close(w);
            w = open_ok(dir, &o, &rep);
            cr_assert_eq(rep.outcome, WAL_CLEAN, SEEDMSG);
            cr_assert_eq(rep.last_lsn, n);
            cr_assert_eq(rep.frames, n);
            cr_assert_eq(rep.first_lsn, 1);
            cr_assert_gt(rep.segments, 10, "%zu segments", rep.segments);
            cr_assert_eq(wal_last_lsn(w), n);
            cr_assert_eq(wal_durable_lsn(w), n);
        }
        sizes[i] = len;
        payload_fill(buf, len, i, 0);
        cr_assert_eq(append_ok(w, buf, len), i, SEEDMSG);
        if (i % 100 == 0) {
            cr_assert_eq(wal_sync(w, &durable, &err), 0, "%s", err.msg);
            cr_assert_eq(durable, i);
        }
    }
    /* Over the limit is an error, not a crash, and uses no LSN. */
    cr_assert_eq(wal_append(w, buf, max + 1, &lsn, &err), BDX_ELIMIT);
    cr_assert_not_null(strstr(err.msg, "limit"), "%s", err.msg);
    cr_assert_eq(wal_last_lsn(w), n + more);
    cr_assert_eq(wal_sync(w, &durable, &err), 0);
    cr_assert_eq(durable, n + more);
    wal_close(w);

    /* Every frame back, in order, with its exact size and bytes; then "not yet". */
    read_all_derived(dir, 1, n + more);
    read_all_derived(dir, n / 2, n + more);
    read_all_derived(dir, n + more, n + more);
    {
        wal_reader_t *r;
        const void *p;
        size_t len;
        cr_assert_eq(wal_reader_open(dir, 1, 0, &r, &err), 0);
        for (uint64_t i = 1; i <= n + more; i++) {
            cr_assert_eq(wal_reader_next(r, &lsn, &p, &len, &err), 0);
            cr_assert_eq(len, sizes[i], "LSN %" PRIu64 " " SEEDMSG, i);
        }
        cr_assert_eq(wal_reader_next_lsn(r), n + more + 1);
        wal_reader_close(r);
    }
    cr_assert_eq(wal_check(dir, &o, &rep, &err), 0);
    cr_assert_eq(rep.outcome, WAL_CLEAN);
    cr_assert_eq(rep.last_lsn, n + more);
    free(sizes);
    free(buf);
    rm_rf(dir);
}

Test(wal, empty_log_starts_at_start_lsn)
{
    char dir[64], sub[128];
    wal_options_t o = small_opts(0, 0);
    wal_recovery_t rep;
    wal_t *w;

    tmpdir(dir);
    snprintf(sub, sizeof(sub), "%s/indexes/images/wal", dir);
    o.start_lsn = 1000;
    w = open_ok(sub, &o, &rep);
    cr_assert_eq(rep.first_lsn, 1000);
    cr_assert_eq(rep.last_lsn, 999);
    cr_assert_eq(wal_last_lsn(w), 999);
    cr_assert_eq(wal_first_lsn(w), 1000);
    append_derived(w, 3, 10);
    cr_assert_eq(wal_last_lsn(w), 1002);
    wal_close(w);
    read_all_derived(sub, 1000, 1002);
    /* start_lsn only applies to an empty directory */
    o.start_lsn = 5;
    w = open_ok(sub, &o, &rep);
    cr_assert_eq(wal_last_lsn(w), 1002);
    wal_close(w);
    rm_rf(dir);
}

/* ---- recovery: torn tails ---- */

/* Writes frames with these payload sizes into a fresh log in `dir`; returns the segment size. */
static uint64_t make_log(const char *dir, const size_t *sizes, size_t n, uint64_t *last_off)
{
    wal_options_t o = small_opts(0, 0);
    char path[128];
    uint64_t off = 40;
    wal_t *w = open_ok(dir, &o, NULL);
    for (size_t i = 0; i < n; i++) {
        unsigned char b[4096];
        payload_fill(b, sizes[i], i + 1, 0);
        append_ok(w, b, sizes[i]);
        *last_off = off;
        off += 16 + sizes[i];
    }
    cr_assert_eq(wal_sync(w, NULL, NULL), 0);
    wal_close(w);
    cr_assert_eq(file_size(seg_path(path, sizeof(path), dir, 1)), off);
    return off;
}

Test(wal, torn_tail_at_every_byte_of_the_last_frame)
{
    static const size_t sizes[] = {40, 0, 100, 7, 300};
    char src[64], dst[64], path[128], path2[128];
    unsigned char *orig;
    size_t len;
    uint64_t last_off, size;

    tmpdir(src);
    tmpdir(dst);
    log_set_level(LOG_ERROR);
    size = make_log(src, sizes, 5, &last_off);
    orig = file_read(seg_path(path, sizeof(path), src, 1), &len);
    seg_path(path2, sizeof(path2), dst, 1);
    for (uint64_t cut = last_off; cut < size; cut++) {
        wal_recovery_t rep;
        wal_t *w;
        unsigned char b[16];

        file_write(path2, orig, cut);
        w = open_ok(dst, NULL, &rep);
        if (cut == last_off) {
            cr_assert_eq(rep.outcome, WAL_CLEAN);
        } else {
            cr_assert_eq(rep.outcome, WAL_TORN_TAIL, "cut at %" PRIu64, cut);
            cr_assert_str_eq(rep.file, path2);
            cr_assert_eq(rep.offset, last_off);
            cr_assert_eq(rep.dropped_bytes, cut - last_off);
        }
        cr_assert_eq(rep.last_lsn, 4, "cut at %" PRIu64, cut);
        cr_assert_eq(rep.frames, 4);
        cr_assert_eq(file_size(path2), last_off);
        /* the log continues where the good frames end */
        payload_fill(b, sizeof(b), 5, 0);
        cr_assert_eq(append_ok(w, b, sizeof(b)), 5);
        wal_close(w);
        read_all_derived(dst, 1, 5);
    }
    free(orig);
    rm_rf(src);
    rm_rf(dst);
}

/* Copies `orig` with bit `bit` of byte `byte` flipped into dst's segment 1. */
static void write_flipped(const char *path, const unsigned char *orig, size_t len, size_t byte,
                          int bit)
{
    unsigned char *b = malloc(len);
    memcpy(b, orig, len);
    b[byte] ^= (unsigned char)(1u << bit);
    file_write(path, b, len);
    free(b);
}

Test(wal, flipped_bit_in_every_field_of_a_middle_frame_is_corruption)
{
    static const size_t sizes[] = {24, 24, 24, 24, 24, 24};
    char src[64], dst[64], path[128], path2[128], at[64];
    unsigned char *orig;
    size_t len;
    uint64_t last_off, mid = 40 + 2 * 40; /* frame 3 */

    tmpdir(src);
    tmpdir(dst);
    make_log(src, sizes, 6, &last_off);
    orig = file_read(seg_path(path, sizeof(path), src, 1), &len);
    seg_path(path2, sizeof(path2), dst, 1);
    snprintf(at, sizeof(at), "offset %" PRIu64 ":", mid);
    /* length (4 bytes), LSN (8), payload (24), CRC (4): every bit */
    for (size_t byte = mid; byte < mid + 40; byte++) {
        for (int bit = 0; bit < 8; bit++) {
            wal_recovery_t rep;
            bdx_error_t err = {0};
            wal_t *w = NULL;
            wal_reader_t *r = NULL;
            const void *p;
            size_t plen;
            uint64_t lsn;
            int rc;

            write_flipped(path2, orig, len, byte, bit);
            rc = wal_open(dst, NULL, &w, &rep, &err);
            cr_assert_eq(rc, BDX_ECORRUPT, "byte %zu bit %d: rc %d %s", byte, bit, rc, err.msg);
            cr_assert_null(w);
            cr_assert_eq(rep.outcome, WAL_CORRUPT);
            cr_assert_eq(rep.offset, mid, "byte %zu bit %d", byte, bit);
            cr_assert_str_eq(rep.file, path2);
            cr_assert_not_null(strstr(err.msg, path2), "%s", err.msg);
            cr_assert_not_null(strstr(err.msg, at), "%s", err.msg);
            cr_assert_not_null(strstr(err.msg, "bitdex-check"), "%s", err.msg);
            cr_assert_eq(file_size(path2), len, "a refused log is left as it was");
            cr_assert_eq(wal_check(dst, NULL, &rep, &err), BDX_ECORRUPT);
            cr_assert_eq(rep.offset, mid);
            /* A reader returns frames 1 and 2, then never frame 3: it fails or waits. */
            cr_assert_eq(wal_reader_open(dst, 1, 0, &r, &err), 0);
            cr_assert_eq(wal_reader_next(r, &lsn, &p, &plen, &err), 0);
            cr_assert_eq(wal_reader_next(r, &lsn, &p, &plen, &err), 0);
            cr_assert_eq(lsn, 2);
            rc = wal_reader_next(r, &lsn, &p, &plen, &err);
            cr_assert(rc == BDX_ECORRUPT || rc == WAL_AGAIN, "byte %zu bit %d: %d", byte, bit, rc);
            wal_reader_close(r);
        }
    }
    free(orig);
    rm_rf(src);
    rm_rf(dst);
}

Test(wal, flipped_bit_in_the_last_frame_is_a_torn_tail)
{
    static const size_t sizes[] = {24, 24, 24, 24, 24, 24};
    char src[64], dst[64], path[128], path2[128];
    unsigned char *orig;
    size_t len;
    uint64_t last_off;

    tmpdir(src);
    tmpdir(dst);
    log_set_level(LOG_ERROR);
    make_log(src, sizes, 6, &last_off);
    orig = file_read(seg_path(path, sizeof(path), src, 1), &len);
    seg_path(path2, sizeof(path2), dst, 1);
    for (size_t byte = last_off; byte < len; byte++) {
        for (int bit = 0; bit < 8; bit++) {
            wal_recovery_t rep;
            wal_reader_t *r;
            const void *p;
            size_t plen;
            uint64_t lsn;

            write_flipped(path2, orig, len, byte, bit);
            /* before recovery, a tailing reader waits at the damaged last frame */
            cr_assert_eq(wal_reader_open(dst, 6, 0, &r, NULL), 0);
            cr_assert_eq(wal_reader_next(r, &lsn, &p, &plen, NULL), WAL_AGAIN, "byte %zu", byte);
            wal_reader_close(r);
            wal_close(open_ok(dst, NULL, &rep));
            cr_assert_eq(rep.outcome, WAL_TORN_TAIL, "byte %zu bit %d", byte, bit);
            cr_assert_eq(rep.offset, last_off);
            cr_assert_eq(rep.dropped_bytes, 40);
            cr_assert_eq(rep.last_lsn, 5);
            cr_assert_eq(file_size(path2), last_off);
        }
    }
    free(orig);
    rm_rf(src);
    rm_rf(dst);
}

/* ---- recovery: damage outside the last frame ---- */

/* A log of 3+ segments: frames of 1000 bytes, 4 KiB segments (3 frames each). */
static wal_options_t three_segments(const char *dir, uint64_t frames)
{
    wal_options_t o = small_opts(4096, 0);
    wal_t *w = open_ok(dir, &o, NULL);
    append_derived(w, frames, 1000);
    wal_close(w);
    cr_assert_geq(count_segments(dir), 3);
    return o;
}

static void expect_corrupt(const char *dir, const wal_options_t *o, const char *file,
                           const char *needle)
{
    wal_recovery_t rep;
    bdx_error_t err = {0};
    wal_t *w = NULL;
    int rc = wal_open(dir, o, &w, &rep, &err);
    cr_assert_eq(rc, BDX_ECORRUPT, "rc %d: %s", rc, err.msg);
    cr_assert_eq(rep.outcome, WAL_CORRUPT);
    cr_assert_str_eq(rep.file, file);
    cr_assert_not_null(strstr(err.msg, file), "%s", err.msg);
    cr_assert_not_null(strstr(err.msg, needle), "'%s' not in: %s", needle, err.msg);
    cr_assert_not_null(strstr(err.msg, "bitdex-check"), "%s", err.msg);
}

Test(wal, damage_in_a_non_last_segment_is_corruption)
{
    char dir[64], p1[128], p4[128], p7[128];
    wal_options_t o;
    unsigned char *orig;
    size_t len;

    tmpdir(dir);
    o = three_segments(dir, 8); /* segments 1 (1-3), 4 (4-6), 7 (7-8) */
    seg_path(p1, sizeof(p1), dir, 1);
    seg_path(p4, sizeof(p4), dir, 4);
    seg_path(p7, sizeof(p7), dir, 7);
    orig = file_read(p4, &len);

    /* a torn tail in segment 4 is not a torn tail of the log */
    cr_assert_eq(truncate(p4, (off_t)len - 3), 0);
    expect_corrupt(dir, &o, p4, "not the last");
    /* a flipped payload bit in its last frame */
    write_flipped(p4, orig, len, len - 100, 3);
    expect_corrupt(dir, &o, p4, "CRC");
    /* a flipped header CRC */
    write_flipped(p4, orig, len, 37, 0);
    expect_corrupt(dir, &o, p4, "header CRC");
    /* a missing segment */
    file_write(p4, orig, len);
    cr_assert_eq(rename(p4, "/tmp/bdx-wal-moved.log"), 0);
    expect_corrupt(dir, &o, p7, "missing");
    cr_assert_eq(rename("/tmp/bdx-wal-moved.log", p4), 0);
    /* a segment renamed: name and header disagree */
    {
        char p5[128];
        seg_path(p5, sizeof(p5), dir, 5);
        cr_assert_eq(rename(p4, p5), 0);
        expect_corrupt(dir, &o, p5, "named for");
        cr_assert_eq(rename(p5, p4), 0);
    }
    /* a segment of another log */
    {
        wal_options_t other = o;
        other.log_id = wal_log_id("another index");
        cr_assert_neq(other.log_id, 0);
        expect_corrupt(dir, &other, p1, "another log");
    }
    /* a valid frame (CRC good) with the wrong LSN */
    {
        unsigned char b[40 + 64];
        size_t n;
        enc_header(b, 1, 0, 7);
        n = enc_frame(b + 40, 8, "skips LSN 7", 11);
        file_write(p7, b, 40 + n);
        expect_corrupt(dir, &o, p7, "expected 7");
    }
    /* intact again: clean */
    {
        wal_recovery_t rep;
        wal_t *w = NULL;
        rm_rf(dir);
        tmpdir(dir);
        o = three_segments(dir, 8);
        w = open_ok(dir, &o, &rep);
        cr_assert_eq(rep.outcome, WAL_CLEAN);
        cr_assert_eq(rep.segments, 3);
        wal_close(w);
    }
    free(orig);
    rm_rf(dir);
}

Test(wal, damage_followed_by_valid_frames_is_refused_unless_repairing)
{
    static const size_t sizes[] = {24, 24, 24, 24};
    char dir[64], path[128];
    unsigned char *orig;
    size_t len;
    uint64_t last_off;
    wal_options_t o = small_opts(0, 0);
    wal_recovery_t rep;
    bdx_error_t err = {0};
    wal_t *w = NULL;

    tmpdir(dir);
    log_set_level(LOG_ERROR);
    make_log(dir, sizes, 4, &last_off);
    orig = file_read(seg_path(path, sizeof(path), dir, 1), &len);
    write_flipped(path, orig, len, 40 + 40 + 20, 1); /* payload of frame 2 */
    cr_assert_eq(wal_open(dir, &o, &w, &rep, &err), BDX_ECORRUPT);
    cr_assert_not_null(strstr(err.msg, "followed by a valid frame (LSN 3 at offset 120)"), "%s",
                       err.msg);
    o.repair_last_segment = true;
    cr_assert_eq(wal_check(dir, &o, &rep, &err), 0, "%s", err.msg);
    cr_assert_eq(rep.outcome, WAL_REPAIRED);
    cr_assert_eq(file_size(path), len, "wal_check changes nothing");
    w = open_ok(dir, &o, &rep);
    cr_assert_eq(rep.outcome, WAL_REPAIRED);
    cr_assert_eq(rep.offset, 80);
    cr_assert_eq(rep.dropped_bytes, len - 80);
    cr_assert_eq(wal_last_lsn(w), 1);
    wal_close(w);
    free(orig);
    rm_rf(dir);
}

Test(wal, bad_magic_and_future_version)
{
    char dir[64], path[128];
    unsigned char b[40 + 64];
    size_t n;
    wal_recovery_t rep;
    bdx_error_t err = {0};
    wal_t *w = NULL;
    wal_reader_t *r = NULL;

    tmpdir(dir);
    seg_path(path, sizeof(path), dir, 1);
    enc_header(b, 2, 0, 1);
    n = 40 + enc_frame(b + 40, 1, "x", 1);
    file_write(path, b, n);
    cr_assert_eq(wal_open(dir, NULL, &w, &rep, &err), BDX_EVERSION, "%s", err.msg);
    cr_assert_eq(rep.outcome, WAL_VERSION_MISMATCH);
    cr_assert_not_null(strstr(err.msg, "version 2"), "%s", err.msg);
    cr_assert_eq(wal_reader_open(dir, 1, 0, &r, &err), BDX_EVERSION);
    cr_assert_null(r);

    enc_header(b, 1, 0, 1);
    b[5] = 'X';
    file_write(path, b, n);
    cr_assert_eq(wal_open(dir, NULL, &w, &rep, &err), BDX_ECORRUPT);
    cr_assert_eq(rep.outcome, WAL_CORRUPT);
    cr_assert_eq(rep.offset, 0);
    cr_assert_not_null(strstr(err.msg, "magic"), "%s", err.msg);
    cr_assert_eq(wal_reader_open(dir, 1, 0, &r, &err), BDX_ECORRUPT);

    /* a header cut short */
    enc_header(b, 1, 0, 1);
    file_write(path, b, 30);
    cr_assert_eq(wal_open(dir, NULL, &w, &rep, &err), BDX_ECORRUPT);
    cr_assert_not_null(strstr(err.msg, "cut short"), "%s", err.msg);

    /* our own encoder's log is read by the code under test */
    enc_header(b, 1, 0, 1);
    file_write(path, b, n);
    w = open_ok(dir, NULL, &rep);
    cr_assert_eq(rep.outcome, WAL_CLEAN);
    cr_assert_eq(wal_last_lsn(w), 1);
    wal_close(w);
    rm_rf(dir);
}

/* ---- fixtures (tests/data/wal/, made by make_fixtures.sh) ---- */

static void fixture_copy(const char *name, char *dir, char *path, size_t n)
{
    char src[512];
    unsigned char *b;
    size_t len;
    tmpdir(dir);
    snprintf(src, sizeof(src), "%s/tests/data/wal/%s/0000000000000001.log", BITDEX_SOURCE_DIR,
             name);
    b = file_read(src, &len);
    seg_path(path, n, dir, 1);
    file_write(path, b, len);
    free(b);
}

Test(wal, fixtures)
{
    char dir[64], path[128];
    wal_recovery_t rep;
    bdx_error_t err = {0};
    wal_t *w = NULL;
    wal_reader_t *r;
    const void *p;
    size_t len;
    uint64_t lsn;

    log_set_level(LOG_ERROR);
    fixture_copy("clean", dir, path, sizeof(path));
    cr_assert_eq(wal_reader_open(dir, 1, 0x0123456789abcdefull, &r, &err), 0, "%s", err.msg);
    for (uint64_t i = 1; i <= 3; i++) {
        char want[32] = "";
        if (i != 2)
            snprintf(want, sizeof(want), "bitdex frame %" PRIu64, i);
        cr_assert_eq(wal_reader_next(r, &lsn, &p, &len, &err), 0, "%s", err.msg);
        cr_assert_eq(lsn, i);
        cr_assert_eq(len, strlen(want));
        cr_assert_eq(memcmp(p, want, len), 0);
    }
    cr_assert_eq(wal_reader_next(r, &lsn, &p, &len, &err), WAL_AGAIN);
    wal_reader_close(r);
    w = open_ok(dir, NULL, &rep);
    cr_assert_eq(rep.outcome, WAL_CLEAN);
    cr_assert_eq(rep.last_lsn, 3);
    wal_close(w);
    rm_rf(dir);

    fixture_copy("torn_tail", dir, path, sizeof(path));
    w = open_ok(dir, NULL, &rep);
    cr_assert_eq(rep.outcome, WAL_TORN_TAIL);
    cr_assert_eq(rep.offset, 116);
    cr_assert_eq(rep.dropped_bytes, 20);
    cr_assert_eq(rep.last_lsn, 3);
    wal_close(w);
    rm_rf(dir);

    fixture_copy("flipped_crc", dir, path, sizeof(path));
    cr_assert_eq(wal_open(dir, NULL, &w, &rep, &err), BDX_ECORRUPT);
    cr_assert_eq(rep.offset, 70);
    cr_assert_not_null(strstr(err.msg, "offset 70:"), "%s", err.msg);
    rm_rf(dir);

    fixture_copy("bad_magic", dir, path, sizeof(path));
    cr_assert_eq(wal_open(dir, NULL, &w, &rep, &err), BDX_ECORRUPT);
    cr_assert_eq(rep.outcome, WAL_CORRUPT);
    rm_rf(dir);

    fixture_copy("future_version", dir, path, sizeof(path));
    cr_assert_eq(wal_open(dir, NULL, &w, &rep, &err), BDX_EVERSION);
    cr_assert_eq(rep.outcome, WAL_VERSION_MISMATCH);
    rm_rf(dir);
}

/* ---- truncation after checkpoints ---- */

Test(wal, truncate_before_deletes_whole_old_segments_only)
{
    char dir[64];
    wal_options_t o = small_opts(4096, 0);
    wal_recovery_t rep;
    bdx_error_t err = {0};
    wal_reader_t *held, *r = NULL;
    const void *p;
    size_t len, removed, before;
    uint64_t lsn;
    wal_t *w;

    tmpdir(dir);
    log_set_level(LOG_WARN);
    w = open_ok(dir, &o, NULL);
    append_derived(w, 40, 1000); /* 3 frames per segment: segments 1, 4, 7, ..., 40 */
    before = count_segments(dir);
    cr_assert_eq(before, 14);
    /* a reader holding segment 1 open */
    cr_assert_eq(wal_reader_open(dir, 1, 0, &held, &err), 0);
    cr_assert_eq(wal_reader_next(held, &lsn, &p, &len, &err), 0);

    cr_assert_eq(wal_truncate_before(w, 21, &removed, &err), 0, "%s", err.msg);
    /* segments 1..16 hold LSNs < 19; segment 19 holds 19-21 and stays */
    cr_assert_eq(removed, 6);
    cr_assert_eq(wal_first_lsn(w), 19);
    cr_assert_eq(count_segments(dir), before - 6);
    cr_assert_eq(wal_truncate_before(w, 21, &removed, &err), 0);
    cr_assert_eq(removed, 0);

    /* the held reader finishes its deleted segment, then learns the rest is gone */
    cr_assert_eq(wal_reader_next(held, &lsn, &p, &len, &err), 0);
    cr_assert_eq(wal_reader_next(held, &lsn, &p, &len, &err), 0);
    cr_assert_eq(lsn, 3);
    cr_assert_eq(wal_reader_next(held, &lsn, &p, &len, &err), BDX_ENOTFOUND);
    cr_assert_not_null(strstr(err.msg, "no longer"), "%s", err.msg);
    wal_reader_close(held);
    /* a new reader from before the first segment is told so at open */
    cr_assert_eq(wal_reader_open(dir, 18, 0, &r, &err), BDX_ENOTFOUND);
    cr_assert_null(r);
    read_all_derived(dir, 19, 40);
    read_all_derived(dir, 21, 40);

    /* never the last segment */
    cr_assert_eq(wal_truncate_before(w, UINT64_MAX, &removed, &err), 0);
    cr_assert_eq(count_segments(dir), 1);
    cr_assert_eq(wal_first_lsn(w), 40);
    append_derived(w, 1, 1000);
    wal_close(w);
    w = open_ok(dir, &o, &rep);
    cr_assert_eq(rep.outcome, WAL_CLEAN);
    cr_assert_eq(rep.first_lsn, 40);
    cr_assert_eq(wal_last_lsn(w), 41);
    wal_close(w);
    read_all_derived(dir, 40, 41);
    rm_rf(dir);
}

/* ---- readers tailing a live log ---- */

Test(wal, reader_never_returns_a_partial_frame)
{
    char dir[64], path[128];
    unsigned char payload[200], frame[216];
    bdx_error_t err = {0};
    wal_recovery_t rep;
    wal_reader_t *r;
    const void *p;
    size_t len, n;
    uint64_t lsn;
    wal_t *w;
    int fd;

    tmpdir(dir);
    log_set_level(LOG_ERROR);
    w = open_ok(dir, NULL, NULL);
    append_derived(w, 3, 50);
    wal_close(w);
    cr_assert_eq(wal_reader_open(dir, 1, 0, &r, &err), 0);
    for (int i = 0; i < 3; i++)
        cr_assert_eq(wal_reader_next(r, &lsn, &p, &len, &err), 0);
    cr_assert_eq(wal_reader_next(r, &lsn, &p, &len, &err), WAL_AGAIN);

    /* frame 4 arrives one byte at a time */
    payload_fill(payload, sizeof(payload), 4, 0);
    n = enc_frame(frame, 4, payload, sizeof(payload));
    fd = open(seg_path(path, sizeof(path), dir, 1), O_WRONLY | O_APPEND);
    cr_assert_geq(fd, 0);
    for (size_t i = 0; i < n; i++) {
        int rc;
        cr_assert_eq(write(fd, frame + i, 1), 1);
        rc = wal_reader_next(r, &lsn, &p, &len, &err);
        if (i + 1 < n) {
            cr_assert_eq(rc, WAL_AGAIN, "after %zu of %zu bytes: %d %s", i + 1, n, rc, err.msg);
        } else {
            cr_assert_eq(rc, 0, "%s", err.msg);
            cr_assert_eq(lsn, 4);
            cr_assert_eq(len, sizeof(payload));
            cr_assert_eq(memcmp(p, payload, len), 0);
        }
    }
    /* a complete-looking frame 5 with a bad CRC at the end: the reader waits... */
    payload_fill(payload, sizeof(payload), 5, 0);
    n = enc_frame(frame, 5, payload, sizeof(payload));
    frame[n - 1] ^= 0x80;
    cr_assert_eq(write(fd, frame, n), (ssize_t)n);
    close(fd);
    cr_assert_eq(wal_reader_next(r, &lsn, &p, &len, &err), WAL_AGAIN);
    cr_assert_eq(wal_reader_next(r, &lsn, &p, &len, &err), WAL_AGAIN);
    /* ...the writer's recovery cuts it and writes a real frame 5 in its place... */
    w = open_ok(dir, NULL, &rep);
    cr_assert_eq(rep.outcome, WAL_TORN_TAIL);
    cr_assert_eq(append_ok(w, "fresh", 5), 5);
    /* ...which the same reader then returns */
    cr_assert_eq(wal_reader_next(r, &lsn, &p, &len, &err), 0, "%s", err.msg);
    cr_assert_eq(lsn, 5);
    cr_assert_eq(len, 5);
    cr_assert_eq(memcmp(p, "fresh", 5), 0);
    cr_assert_eq(wal_reader_next(r, &lsn, &p, &len, &err), WAL_AGAIN);
    wal_close(w);
    wal_reader_close(r);
    rm_rf(dir);
}

Test(wal, reader_waits_for_the_first_segment)
{
    char dir[64], sub[128];
    wal_reader_t *r;
    const void *p;
    size_t len;
    uint64_t lsn;
    wal_options_t o = small_opts(0, 0);
    wal_t *w;

    tmpdir(dir);
    snprintf(sub, sizeof(sub), "%s/wal", dir);
    cr_assert_eq(wal_reader_open(sub, 1, 0, &r, NULL), -ENOENT);
    cr_assert_eq(mkdir(sub, 0755), 0);
    cr_assert_eq(wal_reader_open(sub, 1, 0, &r, NULL), 0);
    cr_assert_eq(wal_reader_next(r, &lsn, &p, &len, NULL), WAL_AGAIN);
    w = open_ok(sub, &o, NULL);
    cr_assert_eq(wal_reader_next(r, &lsn, &p, &len, NULL), WAL_AGAIN);
    append_derived(w, 2, 10);
    cr_assert_eq(wal_reader_next(r, &lsn, &p, &len, NULL), 0);
    cr_assert_eq(lsn, 1);
    wal_close(w);
    wal_reader_close(r);
    rm_rf(dir);
}

typedef struct tail_ctx {
    wal_t *w;
    size_t n;
    uint64_t seed;
    atomic_int done;
    int sync_errors;
    int monotonic_errors;
} tail_ctx_t;

static size_t tail_len(uint64_t lsn, uint64_t s)
{
    uint64_t x = lsn ^ s;
    return (size_t)(splitmix(&x) % 3000);
}

static void *tail_writer(void *arg)
{
    tail_ctx_t *c = arg;
    unsigned char b[3000];
    for (size_t i = 1; i <= c->n; i++) {
        size_t len = tail_len(i, c->seed);
        payload_fill(b, len, i, c->seed);
        if (wal_append(c->w, b, len, NULL, NULL) != 0)
            break;
        if (i % 97 == 0)
            usleep(1000);
    }
    c->done = 1;
    return NULL;
}

static void *tail_syncer(void *arg)
{
    tail_ctx_t *c = arg;
    uint64_t prev = 0;
    while (!c->done) {
        uint64_t d, last;
        if (wal_sync(c->w, &d, NULL) != 0)
            c->sync_errors++;
        last = wal_last_lsn(c->w);
        if (d < prev || d > last)
            c->monotonic_errors++;
        prev = d;
    }
    return NULL;
}

Test(wal, tailing_reader_follows_appends_rotations_and_group_commit, .timeout = 120)
{
    char dir[64];
    wal_options_t o = small_opts(16 << 10, 0);
    tail_ctx_t c = {0};
    pthread_t tw, ts;
    wal_reader_t *r = NULL;
    bdx_error_t err = {0};
    uint64_t want = 1, durable;

    seed_init();
    tmpdir(dir);
    log_set_level(LOG_WARN);
    c.w = open_ok(dir, &o, NULL);
    c.n = 3000;
    c.seed = seed;
    cr_assert_eq(wal_reader_open(dir, 1, 0, &r, &err), 0);
    pthread_create(&tw, NULL, tail_writer, &c);
    pthread_create(&ts, NULL, tail_syncer, &c);
    while (want <= c.n) {
        const void *p;
        size_t len;
        uint64_t lsn;
        int rc = wal_reader_next(r, &lsn, &p, &len, &err);
        if (rc == WAL_AGAIN) {
            usleep(200);
            continue;
        }
        cr_assert_eq(rc, 0, "at LSN %" PRIu64 ": %s " SEEDMSG, want, err.msg);
        cr_assert_eq(lsn, want);
        cr_assert_eq(len, tail_len(lsn, seed), "LSN %" PRIu64 " " SEEDMSG, lsn);
        cr_assert(payload_ok(p, len, lsn, seed), "LSN %" PRIu64 " " SEEDMSG, lsn);
        want++;
    }
    pthread_join(tw, NULL);
    pthread_join(ts, NULL);
    cr_assert_eq(c.sync_errors, 0);
    cr_assert_eq(c.monotonic_errors, 0);
    cr_assert_eq(wal_sync(c.w, &durable, NULL), 0);
    cr_assert_eq(durable, c.n);
    cr_assert_gt(count_segments(dir), 50);
    wal_reader_close(r);
    wal_close(c.w);
    rm_rf(dir);
}

/* ---- options and small errors ---- */

Test(wal, options_and_errors)
{
    char dir[64], sub[128], path[256];
    wal_options_t o = small_opts(0, 0);
    wal_recovery_t rep;
    bdx_error_t err = {0};
    wal_reader_t *r = NULL;
    wal_t *w = NULL;

    tmpdir(dir);
    snprintf(sub, sizeof(sub), "%s/missing", dir);
    cr_assert_eq(wal_open(sub, NULL, &w, &rep, &err), -ENOENT);
    cr_assert_null(w);
    cr_assert_eq(wal_check(sub, NULL, &rep, &err), -ENOENT);
    o.max_frame = WAL_FRAME_LIMIT + 1;
    cr_assert_eq(wal_open(dir, &o, &w, &rep, &err), BDX_EINVAL);
    o = small_opts(10, 0);
    cr_assert_eq(wal_open(dir, &o, &w, &rep, &err), BDX_EINVAL);
    cr_assert_eq(wal_reader_open(dir, 0, 0, &r, &err), BDX_EINVAL);

    /* leftovers of an interrupted rotation go; unrelated files stay */
    w = open_ok(dir, NULL, NULL);
    append_derived(w, 2, 8);
    wal_close(w);
    snprintf(path, sizeof(path), "%s/0000000000000003.log.tmp", dir);
    file_write(path, "partial", 7);
    snprintf(path, sizeof(path), "%s/README", dir);
    file_write(path, "hi", 2);
    cr_assert_eq(wal_check(dir, NULL, &rep, &err), 0);
    cr_assert_eq(rep.temp_removed, 1);
    w = open_ok(dir, NULL, &rep);
    cr_assert_eq(rep.temp_removed, 1);
    cr_assert_eq(rep.outcome, WAL_CLEAN);
    snprintf(path, sizeof(path), "%s/0000000000000003.log.tmp", dir);
    cr_assert_eq(access(path, F_OK), -1);
    snprintf(path, sizeof(path), "%s/README", dir);
    cr_assert_eq(access(path, F_OK), 0);
    cr_assert_eq(wal_append(w, NULL, 4, NULL, &err), BDX_EINVAL);
    cr_assert_eq(append_ok(w, NULL, 0), 3);
    wal_close(w);
    wal_close(NULL);
    wal_reader_close(NULL);
    cr_assert_str_eq(wal_outcome_name(WAL_TORN_TAIL), "torn_tail");
    cr_assert_eq(wal_log_id("images"), wal_log_id("images"));
    cr_assert_neq(wal_log_id("images"), wal_log_id("posts"));
    rm_rf(dir);
}

/* ---- throughput (BITDEX_WAL_BENCH=1) ---- */

static double now_s(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec * 1e-9;
}

Test(wal, throughput)
{
    const char *direnv = getenv("BITDEX_WAL_BENCH_DIR");
    char dir[256];
    const size_t ops = 1000, op_bytes = 100, batch = ops * op_bytes;
    unsigned char *b;
    wal_t *w;

    if (!getenv("BITDEX_WAL_BENCH"))
        cr_skip_test("set BITDEX_WAL_BENCH=1 to measure");
    if (direnv) {
        snprintf(dir, sizeof(dir), "%s/bdx-wal-bench-%d", direnv, (int)getpid());
        cr_assert_eq(mkdir(dir, 0755), 0);
    } else {
        tmpdir(dir);
    }
    b = malloc(batch);
    payload_fill(b, batch, 1, 0);
    log_set_level(LOG_WARN);
    w = open_ok(dir, NULL, NULL);
    for (int per_sync = 1; per_sync <= 16; per_sync *= 4) {
        size_t batches = 0;
        double t0 = now_s(), t;
        do {
            for (int i = 0; i < per_sync; i++, batches++)
                append_ok(w, b, batch);
            cr_assert_eq(wal_sync(w, NULL, NULL), 0);
            t = now_s() - t0;
        } while (t < 3.0);
        fprintf(stderr,
                "wal throughput: %d batch(es) of %zu x %zu B per fdatasync: %.0f batches/s, "
                "%.0f ops/s, %.1f MB/s, %.2f ms per sync\n",
                per_sync, ops, op_bytes, (double)batches / t, (double)batches * ops / t,
                (double)batches * batch / t / 1e6, t * 1e3 / ((double)batches / per_sync));
    }
    {
        size_t batches = 0;
        double t0 = now_s(), t;
        do {
            append_ok(w, b, batch);
            batches++;
            t = now_s() - t0;
        } while (t < 2.0);
        fprintf(stderr, "wal throughput: append only (no sync): %.0f batches/s, %.1f MB/s\n",
                (double)batches / t, (double)batches * batch / t / 1e6);
    }
    wal_close(w);
    free(b);
    rm_rf(dir);
}

/* Tests common/slotstore.c against a brute-force model (an array of byte strings): random puts
 * and removes, image write -> open -> further writes, corrupted images, copy-on-write memory. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "common/slotstore.h"

static uint64_t seed, rng;

static void seed_init(void)
{
    const char *s = getenv("BITDEX_TEST_SEED");
    seed = s != NULL ? strtoull(s, NULL, 0) : (uint64_t)time(NULL) ^ ((uint64_t)getpid() << 20);
    rng = seed;
}

static uint64_t rnd(void)
{
    uint64_t z = (rng += 0x9E3779B97F4A7C15ULL);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
    return z ^ (z >> 31);
}

#define SEEDFMT "seed=%llu (rerun with BITDEX_TEST_SEED=%llu)"
#define SEEDARG (unsigned long long)seed, (unsigned long long)seed

/* The model: candidate slots (a dense run over several pages, a few far ones) and their values. */
enum {
    NDENSE = 3 * 4096 + 100,
    NFAR = 6,
    NSLOTS = NDENSE + NFAR
};

typedef struct model {
    uint8_t *val[NSLOTS];
    size_t len[NSLOTS];
} model_t;

static uint32_t slot_of(size_t i)
{
    static const uint32_t far[NFAR] = {40000,           40001,          1u << 20,
                                       (1u << 24) + 17, UINT32_MAX - 1, UINT32_MAX};
    return i < NDENSE ? (uint32_t)i : far[i - NDENSE];
}

static void model_set(model_t *m, size_t i, const uint8_t *v, size_t len)
{
    free(m->val[i]);
    m->val[i] = NULL;
    m->len[i] = len;
    if (len > 0) {
        m->val[i] = malloc(len);
        memcpy(m->val[i], v, len);
    }
}

static void model_free(model_t *m)
{
    for (size_t i = 0; i < NSLOTS; i++)
        free(m->val[i]);
    memset(m, 0, sizeof(*m));
}

static void check_slot(const slotstore_t *s, const model_t *m, size_t i)
{
    size_t len = 99;
    const uint8_t *v = slotstore_get(s, slot_of(i), &len);

    cr_assert_eq(len, m->len[i], "slot %u: length %zu, model %zu " SEEDFMT, slot_of(i), len,
                 m->len[i], SEEDARG);
    if (m->len[i] == 0) {
        cr_assert_null(v, "slot %u " SEEDFMT, slot_of(i), SEEDARG);
        return;
    }
    cr_assert_not_null(v);
    cr_assert_eq(memcmp(v, m->val[i], len), 0, "slot %u: bytes differ " SEEDFMT, slot_of(i),
                 SEEDARG);
}

static void check_all(const slotstore_t *s, const model_t *m)
{
    uint32_t count = 0;

    for (size_t i = 0; i < NSLOTS; i++) {
        check_slot(s, m, i);
        count += m->len[i] > 0;
    }
    cr_assert_eq(slotstore_count(s), count, "count " SEEDFMT, SEEDARG);
    /* slots never used */
    for (uint32_t slot = NDENSE; slot < NDENSE + 50; slot++) {
        size_t len = 1;
        cr_assert_null(slotstore_get(s, slot, &len));
        cr_assert_eq(len, 0);
    }
}

/* One random write to the store and the model. `focus` (if not SIZE_MAX) picks slots of one
 * page more often, so pages fill past the overlay and get copied. */
static void random_op(slotstore_t *s, model_t *m, size_t focus)
{
    uint8_t buf[3000];
    size_t i = rnd() % NSLOTS, len;

    if (focus != SIZE_MAX && rnd() % 2)
        i = focus * 4096 + rnd() % 4096;
    switch (rnd() % 8) {
    case 0:
        slotstore_remove(s, slot_of(i));
        model_set(m, i, NULL, 0);
        return;
    case 1:
        cr_assert_eq(slotstore_put(s, slot_of(i), "", 0), 0); /* len 0 removes */
        model_set(m, i, NULL, 0);
        return;
    case 2: { /* copy another slot's value (the source points into the store itself) */
        size_t j = rnd() % NSLOTS, l;
        const uint8_t *v = slotstore_get(s, slot_of(j), &l);
        uint8_t *copy = l > 0 ? malloc(l) : NULL;
        if (l > 0)
            memcpy(copy, v, l);
        cr_assert_eq(slotstore_put(s, slot_of(i), v, l), 0);
        model_set(m, i, copy, l);
        free(copy);
        return;
    }
    default:
        len = rnd() % 8 == 0 ? rnd() % sizeof(buf) : rnd() % 40;
        if (rnd() % 4 == 0 && m->len[i] > 0 && m->len[i] <= sizeof(buf))
            len = m->len[i]; /* same length: rewritten in place */
        for (size_t k = 0; k < len; k++)
            buf[k] = (uint8_t)rnd();
        cr_assert_eq(slotstore_put(s, slot_of(i), buf, len), 0);
        model_set(m, i, buf, len);
    }
}

Test(slotstore, random_vs_model)
{
    slotstore_t *s;
    model_t m = {0};

    seed_init();
    cr_assert_eq(slotstore_new(&s), 0);
    check_all(s, &m);
    for (int round = 0; round < 20; round++) {
        for (int op = 0; op < 4000; op++) {
            random_op(s, &m, round % 3 == 0 ? (size_t)(round / 3) % 3 : SIZE_MAX);
            if (op % 97 == 0)
                check_slot(s, &m, rnd() % NSLOTS);
        }
        if (round % 5 == 4)
            cr_assert_eq(slotstore_compact(s), 0);
        check_all(s, &m);
        cr_assert_gt(slotstore_memory(s), 0);
    }
    /* remove everything: pages are freed, compaction leaves almost nothing */
    for (size_t i = 0; i < NSLOTS; i++)
        slotstore_remove(s, slot_of(i));
    model_free(&m);
    check_all(s, &m);
    cr_assert_eq(slotstore_compact(s), 0);
    cr_assert_lt(slotstore_memory(s), 8192 + 256, "empty store holds %zu bytes",
                 slotstore_memory(s));
    slotstore_free(s);
    slotstore_free(NULL);
}

Test(slotstore, too_big)
{
    slotstore_t *s;
    uint8_t *big = calloc(1, SLOTSTORE_VALUE_MAX + 1);
    size_t len;

    cr_assert_eq(slotstore_new(&s), 0);
    cr_assert_eq(slotstore_put(s, 7, big, SLOTSTORE_VALUE_MAX + 1), BDX_ETOOBIG);
    cr_assert_null(slotstore_get(s, 7, &len));
    big[SLOTSTORE_VALUE_MAX - 1] = 9;
    cr_assert_eq(slotstore_put(s, 7, big, SLOTSTORE_VALUE_MAX), 0);
    cr_assert_eq(slotstore_get(s, 7, &len)[SLOTSTORE_VALUE_MAX - 1], 9);
    cr_assert_eq(len, SLOTSTORE_VALUE_MAX);
    slotstore_free(s);
    free(big);
}

/* Writes s's image into a fresh aligned buffer. */
static uint8_t *image_of(const slotstore_t *s, size_t *size)
{
    uint8_t *buf;

    *size = slotstore_image_size(s);
    cr_assert_eq(*size % SLOTSTORE_IMAGE_ALIGN, 0);
    buf = aligned_alloc(SLOTSTORE_IMAGE_ALIGN, *size);
    cr_assert_not_null(buf);
    memset(buf, 0xA5, *size); /* the writer must set every byte */
    slotstore_image_write(s, buf);
    return buf;
}

Test(slotstore, image_round_trip_then_writes)
{
    slotstore_t *s, *a, *b, *c;
    model_t m = {0}, m2 = {0};
    uint8_t *img, *img2, *copy;
    size_t size, size2;
    bdx_error_t err = {0};

    seed_init();
    cr_assert_eq(slotstore_new(&s), 0);
    for (int op = 0; op < 20000; op++)
        random_op(s, &m, SIZE_MAX);
    img = image_of(s, &size);
    copy = malloc(size);
    memcpy(copy, img, size);
    /* the image is deterministic: writing it twice gives the same bytes */
    {
        size_t sz;
        uint8_t *again = image_of(s, &sz);
        cr_assert_eq(sz, size);
        cr_assert_eq(memcmp(again, img, size), 0);
        free(again);
    }
    slotstore_free(s);

    cr_assert_eq(slotstore_image_open(img, size, &a, &err), 0, "%s", bdx_error_message(&err));
    cr_assert_eq(slotstore_image_open(img, size, &b, &err), 0, "%s", bdx_error_message(&err));
    check_all(a, &m);
    /* single slots read in place without an open: the same values */
    for (size_t i = 0; i < NSLOTS; i++) {
        const uint8_t *v;
        size_t len;
        cr_assert_eq(slotstore_image_get(img, size, slot_of(i), &v, &len), 0);
        cr_assert_eq(len, m.len[i], "slot %u " SEEDFMT, slot_of(i), SEEDARG);
        cr_assert(len == 0 ? v == NULL : memcmp(v, m.val[i], len) == 0);
    }
    {
        const uint8_t *v;
        size_t len;
        cr_assert_eq(slotstore_image_get(img, size, NDENSE + 7, &v, &len), 0);
        cr_assert(v == NULL && len == 0);
        cr_assert_eq(slotstore_image_get(img, size - 32, 0, &v, &len), BDX_ECORRUPT);
        copy[0] ^= 1; /* bad magic */
        cr_assert_eq(slotstore_image_get(copy, size, 0, &v, &len), BDX_ECORRUPT);
        copy[0] ^= 1;
    }
    /* an opened, unwritten store owns only its page directory: the top level and the chunks
     * of 1024 page headers the image uses (here 3: slots < 2^22, 2^24 + 17, UINT32_MAX) */
    cr_assert_lt(slotstore_memory(a), 4 * 1024 * 48 + 8192 + 256,
                 "fresh image store owns %zu bytes", slotstore_memory(a));
    for (size_t i = 0; i < NSLOTS; i++)
        model_set(&m2, i, m.val[i], m.len[i]);
    /* further writes on a, scattered and then concentrated on one page */
    for (int round = 0; round < 6; round++) {
        for (int op = 0; op < 3000; op++)
            random_op(a, &m, round >= 3 ? 1 : SIZE_MAX);
        if (round == 4)
            cr_assert_eq(slotstore_compact(a), 0);
        check_all(a, &m);
    }
    /* b (same image) and the image bytes are untouched by a's writes */
    check_all(b, &m2);
    cr_assert_eq(memcmp(copy, img, size), 0, "the image was written to");

    /* a mixed store (image + owned values) writes an image that opens to the same contents */
    img2 = image_of(a, &size2);
    cr_assert_eq(slotstore_image_open(img2, size2, &c, &err), 0, "%s", bdx_error_message(&err));
    check_all(c, &m);
    for (int op = 0; op < 5000; op++)
        random_op(c, &m, SIZE_MAX);
    check_all(c, &m);

    slotstore_free(a);
    slotstore_free(b);
    slotstore_free(c);
    free(img);
    free(img2);
    free(copy);
    model_free(&m);
    model_free(&m2);
}

Test(slotstore, empty_image)
{
    slotstore_t *s, *o;
    uint8_t *img;
    size_t size, len;
    bdx_error_t err = {0};

    cr_assert_eq(slotstore_new(&s), 0);
    img = image_of(s, &size);
    cr_assert_eq(size, 64);
    cr_assert_eq(slotstore_image_open(img, size, &o, &err), 0, "%s", bdx_error_message(&err));
    cr_assert_eq(slotstore_count(o), 0);
    cr_assert_null(slotstore_get(o, 0, &len));
    cr_assert_eq(slotstore_put(o, 5, "x", 1), 0);
    cr_assert_eq(slotstore_get(o, 5, &len)[0], 'x');
    slotstore_free(o);
    slotstore_free(s);
    free(img);
}

/* Opens a damaged copy; expects `code` (0 = either refusal or a store that reads safely). */
static void open_damaged(const uint8_t *img, size_t size, int code, const char *what)
{
    uint8_t *buf = aligned_alloc(SLOTSTORE_IMAGE_ALIGN, size > 0 ? (size + 31) & ~31u : 32);
    slotstore_t *s = (slotstore_t *)1;
    bdx_error_t err = {0};
    int rc;

    memcpy(buf, img, size);
    rc = slotstore_image_open(buf, size, &s, &err);
    if (code != 0) {
        cr_assert_eq(rc, code, "%s: got %d (%s), want %d " SEEDFMT, what, rc,
                     bdx_error_message(&err), code, SEEDARG);
        cr_assert_null(s);
        cr_assert_neq(err.msg[0], '\0', "%s: no message", what);
    } else if (rc == 0) {
        /* accepted (a flipped value byte): every read stays inside the buffer (ASan checks) */
        for (uint32_t slot = 0; slot < 3 * 4096; slot++) {
            size_t len;
            const uint8_t *v = slotstore_get(s, slot, &len);
            volatile uint8_t sink = 0;
            for (size_t k = 0; k < len; k++)
                sink ^= v[k];
            (void)sink;
        }
        slotstore_free(s);
    } else {
        cr_assert(rc == BDX_ECORRUPT || rc == BDX_EVERSION, "%s: got %d " SEEDFMT, what, rc,
                  SEEDARG);
        cr_assert_null(s);
    }
    free(buf);
}

Test(slotstore, corrupt_images)
{
    slotstore_t *s;
    model_t m = {0};
    uint8_t *img, *bad;
    size_t size;
    uint32_t u32;
    uint64_t u64;

    seed_init();
    cr_assert_eq(slotstore_new(&s), 0);
    for (uint32_t slot = 0; slot < 3 * 4096; slot += 1 + (uint32_t)(rnd() % 5))
        cr_assert_eq(slotstore_put(s, slot, "value", 1 + rnd() % 5), 0);
    cr_assert_eq(slotstore_put(s, 5 * 4096 + 3, "far", 3), 0); /* page 3 and 4 empty */
    img = image_of(s, &size);
    bad = malloc(size);

    /* truncated: every header length, then chunks of the rest */
    for (size_t n = 0; n < size; n += n < 128 ? 1 : 509)
        open_damaged(img, n, BDX_ECORRUPT, "truncated");
    /* longer than described */
    memcpy(bad, img, size);
    {
        uint8_t *longer = calloc(1, size + 32);
        memcpy(longer, img, size);
        open_damaged(longer, size + 32, BDX_ECORRUPT, "trailing bytes");
        free(longer);
    }
    memcpy(bad, img, size);
    bad[3] ^= 0x20;
    open_damaged(bad, size, BDX_ECORRUPT, "magic");
    memcpy(bad, img, size);
    u32 = 3;
    memcpy(bad + 8, &u32, 4);
    open_damaged(bad, size, BDX_EVERSION, "version");
    /* version 1 (a dense directory: per page its table or 0xFFFFFFFF) still opens; here its
     * tables start at the same offset (align32(64 + 6 * 4) = align32(64 + 4 * 4) = 96) */
    {
        uint32_t dense[6] = {0, 1, 2, UINT32_MAX, UINT32_MAX, 3}, sparse[4];
        slotstore_t *o = NULL;
        bdx_error_t err = {0};
        memcpy(sparse, img + 64, sizeof(sparse));
        cr_assert_eq(sparse[0], 0);
        cr_assert_eq(sparse[3], 5, "version 2 lists the page numbers");
        memcpy(bad, img, size);
        u32 = 1;
        memcpy(bad + 8, &u32, 4);
        memcpy(bad + 64, dense, sizeof(dense));
        cr_assert_eq(slotstore_image_open(bad, size, &o, &err), 0, "%s", err.msg);
        for (uint32_t slot = 0; slot < 6 * 4096; slot++) {
            size_t la, lb;
            const uint8_t *a = slotstore_get(o, slot, &la), *b = slotstore_get(s, slot, &lb);
            cr_assert_eq(la, lb, "slot %u", slot);
            cr_assert((a == NULL) == (b == NULL));
        }
        slotstore_free(o);
        dense[3] = 3; /* an empty page naming a table */
        memcpy(bad + 64, dense, sizeof(dense));
        open_damaged(bad, size, BDX_ECORRUPT, "version 1 directory");
    }
    memcpy(bad, img, size);
    u32 = 1024;
    memcpy(bad + 12, &u32, 4);
    open_damaged(bad, size, BDX_ECORRUPT, "page_slots");
    memcpy(bad, img, size);
    u64 = UINT64_MAX / 2;
    memcpy(bad + 16, &u64, 8);
    open_damaged(bad, size, BDX_ECORRUPT, "npages");
    memcpy(bad, img, size);
    u64 = 5; /* more tables than pages */
    memcpy(bad + 16, &u64, 8);
    u64 = 6;
    memcpy(bad + 24, &u64, 8);
    open_damaged(bad, size, BDX_ECORRUPT, "nstored");
    memcpy(bad, img, size);
    u64 = UINT64_MAX - 7;
    memcpy(bad + 40, &u64, 8);
    open_damaged(bad, size, BDX_ECORRUPT, "data_size");
    memcpy(bad, img, size);
    memcpy(&u64, bad + 32, 8);
    u64++;
    memcpy(bad + 32, &u64, 8);
    open_damaged(bad, size, BDX_ECORRUPT, "count");
    /* directory: page 1 names table 0 again; an empty page names a table */
    memcpy(bad, img, size);
    u32 = 0;
    memcpy(bad + 64 + 4, &u32, 4);
    open_damaged(bad, size, BDX_ECORRUPT, "directory order");
    memcpy(bad, img, size);
    u32 = 3;
    memcpy(bad + 64 + 3 * 4, &u32, 4);
    open_damaged(bad, size, BDX_ECORRUPT, "directory count");
    /* a value beyond the data section; a loc with the owned bit; an over-long length */
    {
        size_t tbl = 96; /* header 64 + 6 directory entries, aligned to 32 */
        uint64_t loc;
        memcpy(&loc, img + tbl, 8);
        cr_assert_neq(loc, 0, "slot 0 has a value");
        memcpy(bad, img, size);
        loc = (uint64_t)size << 25 | 3;
        memcpy(bad + tbl, &loc, 8);
        open_damaged(bad, size, BDX_ECORRUPT, "offset out of range");
        memcpy(bad, img, size);
        loc = UINT64_MAX;
        memcpy(bad + tbl, &loc, 8);
        open_damaged(bad, size, BDX_ECORRUPT, "owned bit");
        memcpy(bad, img, size);
        loc = ((uint64_t)1 << 25) - 1;
        memcpy(bad + tbl, &loc, 8);
        open_damaged(bad, size, BDX_ECORRUPT, "length");
        /* a stored page without any value */
        memcpy(bad, img, size);
        memset(bad + tbl, 0, 4096 * 8);
        open_damaged(bad, size, BDX_ECORRUPT, "empty page table");
    }
    /* random byte flips: refused or safely readable, never a crash */
    for (int k = 0; k < 300; k++) {
        memcpy(bad, img, size);
        for (int f = 0; f < 1 + (int)(rnd() % 3); f++)
            bad[rnd() % (rnd() % 2 ? 200 : size)] ^= (uint8_t)(1 + rnd() % 255);
        open_damaged(bad, size, 0, "flipped bytes");
    }
    /* misaligned buffer */
    {
        uint8_t *mis = aligned_alloc(32, size + 32);
        slotstore_t *o;
        memcpy(mis + 4, img, size);
        cr_assert_eq(slotstore_image_open(mis + 4, size, &o, NULL), BDX_EINVAL);
        free(mis);
    }
    free(bad);
    free(img);
    slotstore_free(s);
    model_free(&m);
}

/*
 * Copy on write after an image open is proportional to the writes. Figures on x86-64 (Debug):
 * a 10M-slot image with a 4-byte value per slot is 120 MB (80 MB of slot tables, 40 MB of
 * values); opened, the store owns 156 KB (its page directory: 3 chunks of 1024 page headers and
 * the top level). Then
 *   - 1% of the slots (100,000) rewritten at random: 2.1 MB private (overlays ~1.3 MB incl.
 *     slack, 0.4 MB of new values in a 0.6 MB area, the directory), vs ~120 MB for a copy;
 *   - 1% of the slots rewritten in one run (slots 5,000,000..5,099,999): 1.5 MB (25 page
 *     copies of 32 KiB, the values, the directory).
 * The assertions allow 2x slack over those figures.
 */
Test(slotstore, copy_on_write_memory, .timeout = 120)
{
    enum {
        N = 10 * 1000 * 1000,
        W = N / 100
    };
    slotstore_t *s, *o;
    uint8_t *img;
    size_t size, len, mem_open, mem_random, mem_run;
    bdx_error_t err = {0};

    seed_init();
    cr_assert_eq(slotstore_new(&s), 0);
    for (uint32_t i = 0; i < N; i++)
        cr_assert_eq(slotstore_put(s, i, &i, 4), 0);
    img = image_of(s, &size);
    slotstore_free(s);
    cr_assert_eq(size, (size_t)9856 + (size_t)2442 * 32768 + (size_t)N * 4);

    cr_assert_eq(slotstore_image_open(img, size, &o, &err), 0, "%s", bdx_error_message(&err));
    mem_open = slotstore_memory(o);
    for (int k = 0; k < W; k++) {
        uint32_t slot = (uint32_t)(rnd() % N), v = ~slot;
        cr_assert_eq(slotstore_put(o, slot, &v, 4), 0);
    }
    mem_random = slotstore_memory(o);
    slotstore_free(o);

    cr_assert_eq(slotstore_image_open(img, size, &o, &err), 0, "%s", bdx_error_message(&err));
    for (uint32_t slot = N / 2; slot < N / 2 + W; slot++) {
        uint32_t v = ~slot;
        cr_assert_eq(slotstore_put(o, slot, &v, 4), 0);
    }
    mem_run = slotstore_memory(o);
    /* spot checks: rewritten and untouched slots */
    for (uint32_t slot = 0; slot < N; slot += 9973) {
        const uint8_t *v = slotstore_get(o, slot, &len);
        uint32_t x;
        cr_assert_eq(len, 4);
        memcpy(&x, v, 4);
        cr_assert_eq(x, slot >= N / 2 && slot < N / 2 + W ? ~slot : slot);
    }
    slotstore_free(o);
    free(img);
    fprintf(stderr,
            "slotstore cow: image %zu B; owned after open %zu B, after 1%% random writes %zu B, "
            "after 1%% clustered writes %zu B\n",
            size, mem_open, mem_random, mem_run);
    cr_assert_lt(mem_open, 256 * 1024);
    cr_assert_lt(mem_random, 5 * 1000 * 1000, "random 1%%: %zu B", mem_random);
    cr_assert_lt(mem_run, 4 * 1000 * 1000, "clustered 1%%: %zu B", mem_run);
}

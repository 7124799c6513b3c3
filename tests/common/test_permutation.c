/* Tests common/permutation.c: (value, slot) order, walks both ways, seeks, skipping. */
#include <criterion/criterion.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

#include "common/bitmap.h"
#include "common/error.h"
#include "common/permutation.h"
#include "common/schema.h"
#include "image_buf.h"

static uint64_t seed, rng;

static void seed_init(void)
{
    const char *s = getenv("BITDEX_TEST_SEED");
    seed = s != NULL ? strtoull(s, NULL, 0) : (uint64_t)time(NULL) ^ ((uint64_t)getpid() << 20);
    rng = seed;
    cr_log_info("seed=%llu", (unsigned long long)seed);
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

typedef struct entry {
    uint64_t v;
    uint32_t s;
} entry_t;

static int entry_cmp(const void *a, const void *b)
{
    const entry_t *x = a, *y = b;
    if (x->v != y->v)
        return x->v < y->v ? -1 : 1;
    return (x->s > y->s) - (x->s < y->s);
}

/* Index of the first entry >= (v, s) in sorted e[0..n). */
static size_t lower(const entry_t *e, size_t n, uint64_t v, uint32_t s)
{
    entry_t key = {v, s};
    size_t i = 0;
    while (i < n && entry_cmp(&e[i], &key) < 0)
        i++;
    return i;
}

static void run(unsigned bits, unsigned nvalues, bool image)
{
    enum {
        N = 20000
    };
    column_t *col;
    roaring_bitmap_t *members = roaring_bitmap_create(), *skip = roaring_bitmap_create();
    entry_t *e = malloc(sizeof(*e) * N);
    size_t n = 0;
    permutation_t *p;
    uint64_t max = schema_bits_max(bits);
    image_buf_t buf = {0};

    cr_assert_eq(column_new(bits, &col), 0);
    for (uint32_t i = 0; i < N; i++) {
        uint32_t slot = i * 13 + (uint32_t)(rnd() % 13);
        uint64_t v;
        switch (rnd() % 4) {
        case 0:
            v = 0;
            break;
        case 1:
            v = max;
            break;
        default:
            v = nvalues ? (rnd() % nvalues) & max : (bits == 64 ? rnd() : rnd() % (max + 1));
        }
        cr_assert_eq(column_set(col, slot, v), 0);
        if (rnd() % 5 == 0)
            continue; /* not a member: must not appear */
        roaring_bitmap_add(members, slot);
        e[n].v = v;
        e[n].s = slot;
        n++;
        if (rnd() % 7 == 0)
            roaring_bitmap_add(skip, slot);
    }
    qsort(e, n, sizeof(*e), entry_cmp);
    cr_assert_eq(permutation_build(col, members, &p), 0);
    cr_assert_eq(permutation_count(p), n);
    for (size_t i = 0; i < n; i++) {
        cr_assert_eq(permutation_slot(p, (uint32_t)i), e[i].s, "pos %zu " SEEDFMT, i, SEEDARG);
        cr_assert_eq(permutation_value(p, (uint32_t)i), e[i].v, "pos %zu " SEEDFMT, i, SEEDARG);
    }
    cr_assert_geq(permutation_memory(p), n * 5);
    if (image) {
        /* Everything below runs on the permutation opened from p's image instead. */
        permutation_t *o;
        bdx_error_t err;
        size_t size = permutation_image_size(p);
        size_t w = bits <= 8 ? 1 : bits <= 16 ? 2 : bits <= 32 ? 4 : 8;
        cr_assert_eq(size, 32 + (n * 4 + 31) / 32 * 32 + (n * w + 31) / 32 * 32);
        image_buf_init(&buf, size);
        memset(buf.data, 0xAB, size);
        permutation_image_write(p, buf.data);
        image_buf_seal(&buf);
        permutation_free(p);
        cr_assert_eq(permutation_image_open(buf.data, size, &o, &err), 0, "%s", err.msg);
        p = o;
        cr_assert_eq(permutation_width(p), w);
        cr_assert_lt(permutation_memory(p), 64, "borrowed arrays are not private memory");
        cr_assert_eq(permutation_count(p), n);
        for (size_t i = 0; i < n; i++) {
            cr_assert_eq(permutation_slot(p, (uint32_t)i), e[i].s, "pos %zu " SEEDFMT, i, SEEDARG);
            cr_assert_eq(permutation_value(p, (uint32_t)i), e[i].v, "pos %zu " SEEDFMT, i, SEEDARG);
        }
    }

    /* full walks, with and without skipping */
    for (int desc = 0; desc < 2; desc++) {
        for (int use_skip = 0; use_skip < 2; use_skip++) {
            permutation_iter_t it;
            size_t seen = 0;
            uint64_t v;
            uint32_t s;
            permutation_iter_init(&it, p, desc, use_skip ? skip : NULL);
            for (size_t k = 0; k < n; k++) {
                size_t i = desc ? n - 1 - k : k;
                if (use_skip && roaring_bitmap_contains(skip, e[i].s))
                    continue;
                cr_assert(permutation_iter_next(&it, &v, &s));
                cr_assert(v == e[i].v && s == e[i].s, "walk desc=%d " SEEDFMT, desc, SEEDARG);
                seen++;
            }
            cr_assert(!permutation_iter_next(&it, &v, &s));
            cr_assert(!permutation_iter_next(&it, &v, &s), "stays at the end");
            (void)seen;
        }
    }

    /* seeks: from existing entries and from in-between positions */
    for (int trial = 0; trial < 300; trial++) {
        size_t i = (size_t)(rnd() % n);
        uint64_t v = e[i].v;
        uint32_t s = e[i].s;
        int jiggle = (int)(rnd() % 3);
        permutation_iter_t it;
        uint64_t gv;
        uint32_t gs;
        size_t lb;
        if (jiggle == 1 && s > 0)
            s--; /* a (value, slot) that may not exist */
        else if (jiggle == 2 && s < UINT32_MAX)
            s++;
        lb = lower(e, n, v, s);
        cr_assert_eq(permutation_lower_bound(p, v, s), lb, SEEDFMT, SEEDARG);
        for (int desc = 0; desc < 2; desc++) {
            size_t want;
            bool any;
            permutation_iter_init(&it, p, desc, NULL);
            permutation_iter_seek_after(&it, v, s);
            if (desc) {
                any = lb > 0;
                want = lb - 1; /* first entry < (v, s) going down */
            } else {
                want = lb;
                if (want < n && e[want].v == v && e[want].s == s)
                    want++; /* strictly after */
                any = want < n;
            }
            cr_assert_eq(permutation_iter_next(&it, &gv, &gs), any, SEEDFMT, SEEDARG);
            if (any)
                cr_assert(gv == e[want].v && gs == e[want].s, "seek desc=%d " SEEDFMT, desc,
                          SEEDARG);
        }
    }
    /* seeks beyond both ends */
    {
        permutation_iter_t it;
        uint64_t gv;
        uint32_t gs;
        permutation_iter_init(&it, p, false, NULL);
        permutation_iter_seek_after(&it, UINT64_MAX, UINT32_MAX);
        cr_assert(!permutation_iter_next(&it, &gv, &gs));
        permutation_iter_init(&it, p, true, NULL);
        permutation_iter_seek_after(&it, 0, 0);
        cr_assert(!permutation_iter_next(&it, &gv, &gs));
    }
    permutation_free(p);
    if (image)
        image_buf_free(&buf);
    column_free(col);
    roaring_bitmap_free(members);
    roaring_bitmap_free(skip);
    free(e);
}

Test(permutation, order_walks_and_seeks)
{
    seed_init();
    for (int image = 0; image < 2; image++) {
        run(32, 0, image);
        run(32, 5, image); /* heavy ties */
        run(1, 0, image);
        run(7, 3, image);
        run(64, 0, image);
        run(64, 4, image);
        run(16, 1000, image);
    }
}

Test(permutation, empty)
{
    column_t *col;
    permutation_t *p;
    permutation_iter_t it;
    roaring_bitmap_t *none = roaring_bitmap_create();
    uint64_t v;
    uint32_t s;

    cr_assert_eq(column_new(32, &col), 0);
    cr_assert_eq(permutation_build(col, NULL, &p), 0);
    cr_assert_eq(permutation_count(p), 0);
    cr_assert_eq(permutation_lower_bound(p, 5, 5), 0);
    permutation_iter_init(&it, p, true, NULL);
    cr_assert(!permutation_iter_next(&it, &v, &s));
    permutation_free(p);
    cr_assert_eq(permutation_build(col, none, &p), 0);
    cr_assert_eq(permutation_count(p), 0);
    permutation_free(p);
    permutation_free(NULL);
    column_free(col);
    bitmap_free_roaring(none);
}

/* Image of a permutation of `n` 16-bit entries (value = slot / 3), unsealed, for damaging. */
static void small_image(image_buf_t *b, uint32_t n)
{
    column_t *col;
    roaring_bitmap_t *members = roaring_bitmap_create();
    permutation_t *p;

    cr_assert_eq(column_new(16, &col), 0);
    for (uint32_t s = 0; s < n; s++) {
        cr_assert_eq(column_set(col, s, s / 3), 0);
        roaring_bitmap_add(members, s);
    }
    cr_assert_eq(permutation_build(col, members, &p), 0);
    image_buf_init(b, permutation_image_size(p));
    permutation_image_write(p, b->data);
    permutation_free(p);
    column_free(col);
    roaring_bitmap_free(members);
}

static int open_rc(const void *data, size_t size)
{
    permutation_t *o = NULL;
    bdx_error_t err;
    int rc = permutation_image_open(data, size, &o, &err);
    if (rc != 0) {
        cr_assert_null(o);
        cr_assert_eq(err.code, rc);
        cr_assert_neq(err.msg[0], '\0');
    } else {
        /* Whatever opened must be readable end to end without leaving the image. */
        uint64_t v;
        uint32_t s;
        permutation_iter_t it;
        permutation_iter_init(&it, o, false, NULL);
        while (permutation_iter_next(&it, &v, &s))
            ;
        (void)permutation_lower_bound(o, 5, 5);
    }
    permutation_free(o);
    return rc;
}

Test(permutation, corrupt_images)
{
    image_buf_t b;
    unsigned char *p;
    uint32_t u;

    seed_init();
    small_image(&b, 40); /* 32 + 160 + 96 bytes */
    p = b.data;
    cr_assert_eq(b.size, 32 + 160 + 96);
    cr_assert_eq(open_rc(p, b.size), 0);
    cr_assert_eq(open_rc(p, 0), BDX_ECORRUPT);
    cr_assert_eq(open_rc(p, 31), BDX_ECORRUPT, "truncated header");
    cr_assert_eq(open_rc(p, b.size - 1), BDX_ECORRUPT, "truncated values");
    cr_assert_eq(open_rc(p, 32 + 160), BDX_ECORRUPT, "no values");
    {
        permutation_t *o;
        cr_assert_eq(permutation_image_open(p + 16, b.size - 16, &o, NULL), BDX_EINVAL);
    }
    p[7] ^= 0x10;
    cr_assert_eq(open_rc(p, b.size), BDX_ECORRUPT, "magic");
    p[7] ^= 0x10;
    u = 7;
    memcpy(p + 8, &u, 4);
    cr_assert_eq(open_rc(p, b.size), BDX_EVERSION);
    u = 1;
    memcpy(p + 8, &u, 4);
    for (unsigned w = 0; w < 256; w++) {
        p[12] = (unsigned char)w;
        int rc = open_rc(p, b.size);
        if (w == 2)
            cr_assert_eq(rc, 0);
        else if (w == 1) /* fits (40 bytes <= 96) but reads the u16 bytes out of order */
            cr_assert(rc == 0 || rc == BDX_ECORRUPT);
        else /* 4 and 8: 160 or 320 bytes of values exceed the 96 there are */
            cr_assert_eq(rc, BDX_ECORRUPT, "width %u", w);
    }
    p[12] = 2;
    for (int i = 0; i < 64; i++) {
        u = i == 0 ? UINT32_MAX : 41 + (uint32_t)(rnd() % 100000);
        memcpy(p + 16, &u, 4);
        cr_assert_eq(open_rc(p, b.size), BDX_ECORRUPT, "count %u", u);
    }
    u = 40;
    memcpy(p + 16, &u, 4);
    cr_assert_eq(open_rc(p, b.size), 0);
    /* Two swapped entries: fewer than 64 entries are all checked. */
    {
        uint32_t s0, s1;
        memcpy(&s0, p + 32, 4);
        memcpy(&s1, p + 36, 4);
        memcpy(p + 32, &s1, 4);
        memcpy(p + 36, &s0, 4);
        cr_assert_eq(open_rc(p, b.size), BDX_ECORRUPT, "out of order");
        memcpy(p + 32, &s0, 4);
        memcpy(p + 36, &s1, 4);
    }
    /* Random damage anywhere: an error or a readable permutation, never a crash. */
    for (int i = 0; i < 3000; i++) {
        unsigned char save[32 + 160 + 96];
        memcpy(save, p, b.size);
        for (int k = 0; k < 3; k++) {
            size_t at = rnd() % 4 ? rnd() % 32 : rnd() % b.size;
            p[at] ^= (unsigned char)(1u << (rnd() % 8));
        }
        (void)open_rc(p, b.size);
        memcpy(p, save, b.size);
    }
    image_buf_free(&b);
}

Test(permutation, large_image_spot_check)
{
    image_buf_t b;
    unsigned char *p;
    uint16_t a, z;

    small_image(&b, 100000);
    p = b.data;
    cr_assert_eq(open_rc(p, b.size), 0);
    /* Swap the values of entries 0 and 99999: the spot check compares entry 0 with a later one. */
    memcpy(&a, p + 32 + 400000, 2);
    memcpy(&z, p + 32 + 400000 + 2 * 99999, 2);
    memcpy(p + 32 + 400000, &z, 2);
    memcpy(p + 32 + 400000 + 2 * 99999, &a, 2);
    cr_assert_eq(open_rc(p, b.size), BDX_ECORRUPT);
    image_buf_free(&b);
}

Test(permutation, empty_image)
{
    column_t *col;
    permutation_t *p, *o;
    image_buf_t b;

    cr_assert_eq(column_new(8, &col), 0);
    cr_assert_eq(permutation_build(col, NULL, &p), 0);
    cr_assert_eq(permutation_image_size(p), 32);
    image_buf_init(&b, 32);
    permutation_image_write(p, b.data);
    image_buf_seal(&b);
    cr_assert_eq(permutation_image_open(b.data, 32, &o, NULL), 0);
    cr_assert_eq(permutation_count(o), 0);
    cr_assert_eq(permutation_width(o), 1);
    cr_assert_eq(permutation_lower_bound(o, 1, 1), 0);
    permutation_free(o);
    permutation_free(p);
    column_free(col);
    image_buf_free(&b);
}

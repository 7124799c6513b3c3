/* Tests common/permutation.c: (value, slot) order, walks both ways, seeks, skipping. */
#include <criterion/criterion.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

#include "common/bitmap.h"
#include "common/permutation.h"
#include "common/schema.h"

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

static void run(unsigned bits, unsigned nvalues)
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
    column_free(col);
    roaring_bitmap_free(members);
    roaring_bitmap_free(skip);
    free(e);
}

Test(permutation, order_walks_and_seeks)
{
    seed_init();
    run(32, 0);
    run(32, 5); /* heavy ties */
    run(1, 0);
    run(7, 3);
    run(64, 0);
    run(64, 4);
    run(16, 1000);
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

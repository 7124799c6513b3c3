/* Tests common/valuemap.c against a brute-force model: lookups, drops, key order, ranges. */
#include <criterion/criterion.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

#include "common/valuemap.h"

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

enum {
    NKEYS = 3000,
    NSLOTS = 64
};

/* model: bit s of has[k] = slot s holds key index k */
static uint64_t has[NKEYS];
static int64_t keyval[NKEYS];

typedef struct visit {
    int64_t last;
    uint64_t count;
    bool first;
    int64_t lo, hi;
    uint64_t stop_after;
} visit_t;

static int key_index(int64_t key)
{
    for (int i = 0; i < NKEYS; i++)
        if (keyval[i] == key)
            return i;
    return -1;
}

static bool visitor(int64_t key, const roaring_bitmap_t *bm, void *arg)
{
    visit_t *v = arg;
    int k = key_index(key);

    cr_assert(v->first || key > v->last, "ascending " SEEDFMT, SEEDARG);
    cr_assert(key >= v->lo && key <= v->hi, SEEDFMT, SEEDARG);
    cr_assert(k >= 0 && has[k] != 0, "visited keys are held " SEEDFMT, SEEDARG);
    cr_assert_eq(roaring_bitmap_get_cardinality(bm), (uint64_t)__builtin_popcountll(has[k]));
    v->first = false;
    v->last = key;
    v->count++;
    return v->count < v->stop_after;
}

static void check_all(valuemap_t *m)
{
    uint64_t held = 0;

    for (int k = 0; k < NKEYS; k++) {
        const roaring_bitmap_t *bm = valuemap_get(m, keyval[k]);
        if (has[k] == 0) {
            cr_assert_null(bm, "key %lld dropped " SEEDFMT, (long long)keyval[k], SEEDARG);
            continue;
        }
        held++;
        cr_assert_not_null(bm, SEEDFMT, SEEDARG);
        for (int s = 0; s < NSLOTS; s++)
            cr_assert_eq(roaring_bitmap_contains(bm, (uint32_t)s * 70000), (has[k] >> s) & 1,
                         SEEDFMT, SEEDARG);
    }
    cr_assert_eq(valuemap_count(m), held, SEEDFMT, SEEDARG);
    /* ranges */
    for (int t = 0; t < 20; t++) {
        int64_t a = keyval[rnd() % NKEYS] + (int64_t)(rnd() % 3) - 1;
        int64_t b = keyval[rnd() % NKEYS] + (int64_t)(rnd() % 3) - 1;
        visit_t v = {
            .first = true, .lo = a < b ? a : b, .hi = a < b ? b : a, .stop_after = UINT64_MAX};
        uint64_t want = 0;
        for (int k = 0; k < NKEYS; k++)
            if (has[k] && keyval[k] >= v.lo && keyval[k] <= v.hi)
                want++;
        valuemap_range(m, v.lo, v.hi, visitor, &v);
        cr_assert_eq(v.count, want, "range [%lld, %lld] " SEEDFMT, (long long)v.lo, (long long)v.hi,
                     SEEDARG);
    }
    {
        visit_t v = {.first = true, .lo = INT64_MIN, .hi = INT64_MAX, .stop_after = 3};
        valuemap_range(m, INT64_MIN, INT64_MAX, visitor, &v);
        cr_assert_eq(v.count, held < 3 ? held : 3, "visitor can stop");
    }
}

Test(valuemap, model)
{
    valuemap_t *m;
    frozen_t *arena = NULL;

    seed_init();
    for (int k = 0; k < NKEYS; k++) {
        bool dup;
        do {
            switch (rnd() % 4) {
            case 0:
                keyval[k] = (int64_t)rnd(); /* anywhere in int64 */
                break;
            case 1:
                keyval[k] = -(int64_t)(rnd() % 5000);
                break;
            default:
                keyval[k] = (int64_t)(rnd() % 100000);
            }
            dup = false;
            for (int j = 0; j < k && !dup; j++)
                dup = keyval[j] == keyval[k];
        } while (dup);
        has[k] = 0;
    }
    keyval[0] = INT64_MIN;
    keyval[1] = INT64_MAX;
    cr_assert_eq(valuemap_new(&m), 0);
    for (int round = 0; round < 4; round++) {
        for (int op = 0; op < 40000; op++) {
            int k = (int)(rnd() % NKEYS);
            int s = (int)(rnd() % NSLOTS);
            /* bias: first rounds mostly add, later mostly remove */
            bool add = rnd() % 4 < (round < 2 ? 3u : 1u);
            if (add) {
                cr_assert_eq(valuemap_add(m, keyval[k], (uint32_t)s * 70000), 0);
                has[k] |= 1ULL << s;
            } else {
                cr_assert_eq(valuemap_remove(m, keyval[k], (uint32_t)s * 70000), 0);
                has[k] &= ~(1ULL << s);
            }
        }
        check_all(m);
        valuemap_optimize(m);
        check_all(m);
        if (round % 2 == 0) {
            /* frozen bitmaps (copy-on-write) behave the same; the previous arena is freed once
             * every frozen bitmap moved to the new one */
            frozen_t *next;
            cr_assert_eq(frozen_new(valuemap_frozen_footprint(m), &next), 0);
            cr_assert_eq(valuemap_freeze(m, next), 0);
            cr_assert_eq(frozen_used(next), frozen_capacity(next));
            frozen_free(arena);
            arena = next;
            check_all(m);
        }
    }
    /* remove everything */
    for (int k = 0; k < NKEYS; k++)
        for (int s = 0; s < NSLOTS; s++)
            if ((has[k] >> s) & 1) {
                cr_assert_eq(valuemap_remove(m, keyval[k], (uint32_t)s * 70000), 0);
                has[k] &= ~(1ULL << s);
            }
    check_all(m);
    cr_assert_eq(valuemap_count(m), 0);
    {
        bitmap_usage_t bm = {0};
        cr_assert_gt(valuemap_memory(m, &bm), 0);
        cr_assert_eq(bm.bytes, 0);
    }
    valuemap_free(m);
    frozen_free(arena); /* after the map: its slots may point into it */
}

Test(valuemap, ascending_bulk_keys)
{
    valuemap_t *m;
    visit_t v = {.first = true, .lo = INT64_MIN, .hi = INT64_MAX, .stop_after = UINT64_MAX};

    cr_assert_eq(valuemap_new(&m), 0);
    for (int64_t k = 0; k < 200000; k++)
        cr_assert_eq(valuemap_add(m, k * 3, (uint32_t)k), 0);
    cr_assert_eq(valuemap_count(m), 200000);
    for (int64_t k = 0; k < 200000; k += 1111) {
        const roaring_bitmap_t *bm = valuemap_get(m, k * 3);
        cr_assert(bm != NULL && roaring_bitmap_contains(bm, (uint32_t)k));
        cr_assert_null(valuemap_get(m, k * 3 + 1));
    }
    /* key_index() is a linear model lookup; keep it out of this bulk check */
    (void)v;
    valuemap_free(m);
}

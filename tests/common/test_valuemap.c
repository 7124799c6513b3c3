/* Tests common/valuemap.c against a brute-force model: lookups, drops, key order, ranges. */
#include <criterion/criterion.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

#include "common/error.h"
#include "common/valuemap.h"

/* x + d (d in -1..1) without overflowing at INT64_MIN / INT64_MAX. */
static int64_t nudge(int64_t x, int d)
{
    if ((d > 0 && x == INT64_MAX) || (d < 0 && x == INT64_MIN))
        return x;
    return x + d;
}

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
        int64_t a = nudge(keyval[rnd() % NKEYS], (int)(rnd() % 3) - 1);
        int64_t b = nudge(keyval[rnd() % NKEYS], (int)(rnd() % 3) - 1);
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

/* ---- generation support: frozen inserts over borrowed bytes, adopt, slot visit ---- */

typedef struct visit_log {
    int64_t keys[64];
    const bitmap_t *slots[64];
    int n;
} visit_log_t;

static bool log_visit(int64_t key, const bitmap_t *slot, void *arg)
{
    visit_log_t *l = arg;
    cr_assert(l->n < 64);
    l->keys[l->n] = key;
    l->slots[l->n++] = slot;
    return true;
}

Test(valuemap, frozen_adopt_visit)
{
    valuemap_t *m;
    roaring_bitmap_t *model[40] = {0}; /* key k - 20 */
    char *bufs[40] = {0};
    visit_log_t log = {0};

    seed_init();
    cr_assert_eq(valuemap_new(&m), 0);
    for (int round = 0; round < 400; round++) {
        int k = (int)(rnd() % 40);
        roaring_bitmap_t *rb = roaring_bitmap_create();
        size_t n = rnd() % 4 == 0 ? 0 : 1 + rnd() % 50;
        for (size_t i = 0; i < n; i++)
            roaring_bitmap_add(rb, (uint32_t)(rnd() % 100000));
        if (n > 0 && rnd() % 2 == 0) {
            /* frozen over bytes we own (a stand-in for a mapped generation) */
            size_t len = bitmap_freeze_size(rb);
            char *buf = aligned_alloc(BITMAP_FROZEN_ALIGN, (len + 31) / 32 * 32);
            bitmap_freeze_to(rb, buf);
            cr_assert_eq(valuemap_set_frozen(m, k - 20, buf, len), 0, SEEDFMT, SEEDARG);
            const bitmap_t *slot = valuemap_slot(m, k - 20);
            cr_assert(slot != NULL && slot->kind == BITMAP_FROZEN && slot->frozen == buf);
            bitmap_free_roaring(model[k]);
            model[k] = rb;
            free(bufs[k]);
            bufs[k] = buf;
        } else {
            roaring_bitmap_t *copy = roaring_bitmap_copy(rb);
            cr_assert_eq(valuemap_adopt(m, k - 20, rb), 0);
            bitmap_free_roaring(model[k]);
            model[k] = n > 0 ? copy : NULL;
            if (n == 0)
                bitmap_free_roaring(copy);
        }
        /* an empty frozen bitmap is refused and changes nothing */
        if (round % 50 == 0) {
            char empty[64] __attribute__((aligned(32)));
            bitmap_freeze_to(NULL, empty);
            cr_assert_eq(valuemap_set_frozen(m, 1000, empty, bitmap_freeze_size(NULL)),
                         BDX_ECORRUPT);
            cr_assert_null(valuemap_get(m, 1000));
        }
    }
    uint64_t count = 0;
    for (int k = 0; k < 40; k++) {
        const roaring_bitmap_t *got = valuemap_get(m, k - 20);
        count += model[k] != NULL;
        if (model[k] == NULL)
            cr_assert_null(got, "key %d " SEEDFMT, k - 20, SEEDARG);
        else
            cr_assert(got != NULL && roaring_bitmap_equals(got, model[k]), "key %d " SEEDFMT,
                      k - 20, SEEDARG);
    }
    cr_assert_eq(valuemap_count(m), count);
    valuemap_visit(m, log_visit, &log);
    cr_assert_eq((uint64_t)log.n, count);
    for (int i = 0; i < log.n; i++) {
        cr_assert(i == 0 || log.keys[i - 1] < log.keys[i]);
        cr_assert_eq(log.slots[i], valuemap_slot(m, log.keys[i]));
    }
    valuemap_free(m);
    for (int k = 0; k < 40; k++) {
        bitmap_free_roaring(model[k]);
        free(bufs[k]);
    }
}

/* valuemap_load_*: a map built in bulk from sorted frozen buffers equals one built by
 * valuemap_set_frozen() key by key, for reads and for the writes that follow. */
Test(valuemap, bulk_load_equals_incremental)
{
    enum {
        N = 5000
    };
    valuemap_t *bulk, *inc;
    int64_t *keys = malloc(N * sizeof(*keys));
    char **bufs = calloc(N, sizeof(*bufs));
    size_t *lens = calloc(N, sizeof(*lens));
    char empty[64] __attribute__((aligned(32)));
    int64_t k = -1000;

    seed_init();
    for (int trusted = 0; trusted < 2; trusted++) {
        cr_assert_eq(valuemap_new(&bulk), 0);
        cr_assert_eq(valuemap_new(&inc), 0);
        cr_assert_eq(valuemap_load_begin(bulk, N), 0);
        for (int i = 0; i < N; i++) {
            roaring_bitmap_t *rb = roaring_bitmap_create();
            size_t n = 1 + rnd() % 20;
            k += 1 + (int64_t)(rnd() % 1000);
            keys[i] = k;
            for (size_t j = 0; j < n; j++)
                roaring_bitmap_add(rb, (uint32_t)(rnd() % 200000));
            lens[i] = bitmap_freeze_size(rb);
            bufs[i] = aligned_alloc(BITMAP_FROZEN_ALIGN, (lens[i] + 31) / 32 * 32);
            bitmap_freeze_to(rb, bufs[i]);
            bitmap_free_roaring(rb);
            cr_assert_eq(valuemap_load_frozen(bulk, keys[i], bufs[i], lens[i], trusted), 0);
            cr_assert_eq(valuemap_set_frozen(inc, keys[i], bufs[i], lens[i]), 0);
        }
        /* refused, changing nothing: a key not above the last, an empty or bad bitmap */
        cr_assert_eq(valuemap_load_frozen(bulk, keys[N - 1], bufs[0], lens[0], trusted),
                     BDX_EINVAL);
        bitmap_freeze_to(NULL, empty);
        cr_assert_eq(valuemap_load_frozen(bulk, k + 1, empty, bitmap_freeze_size(NULL), trusted),
                     BDX_ECORRUPT);
        cr_assert_eq(valuemap_load_frozen(bulk, k + 1, bufs[0] + 1, lens[0], trusted),
                     BDX_ECORRUPT);
        cr_assert_eq(valuemap_load_end(bulk), 0);
        cr_assert_eq(valuemap_count(bulk), N);
        /* a second bulk load needs an empty map */
        cr_assert_eq(valuemap_load_begin(bulk, 1), BDX_EINVAL);
        for (int i = 0; i < N; i++) {
            const bitmap_t *slot = valuemap_slot(bulk, keys[i]);
            cr_assert(slot != NULL && slot->kind == BITMAP_FROZEN && slot->frozen == bufs[i]);
            cr_assert(
                roaring_bitmap_equals(valuemap_get(bulk, keys[i]), valuemap_get(inc, keys[i])),
                "key %lld " SEEDFMT, (long long)keys[i], SEEDARG);
        }
        cr_assert_null(valuemap_get(bulk, k + 7));
        cr_assert_null(valuemap_get(bulk, keys[0] - 1));
        /* writes after the load: copy-on-write adds and removes, new keys, dropped keys */
        for (int round = 0; round < 20000; round++) {
            int64_t key = rnd() % 3 == 0 ? k + 1 + (int64_t)(rnd() % 500) : keys[rnd() % N];
            uint32_t slot = (uint32_t)(rnd() % 200000);
            if (rnd() % 2 == 0) {
                cr_assert_eq(valuemap_add(bulk, key, slot), 0);
                cr_assert_eq(valuemap_add(inc, key, slot), 0);
            } else {
                const roaring_bitmap_t *rb = valuemap_get(inc, key);
                if (rb != NULL && roaring_bitmap_get_cardinality(rb) > 0)
                    slot = roaring_bitmap_minimum(rb);
                cr_assert_eq(valuemap_remove(bulk, key, slot), 0);
                cr_assert_eq(valuemap_remove(inc, key, slot), 0);
            }
        }
        cr_assert_eq(valuemap_count(bulk), valuemap_count(inc));
        for (int i = 0; i < N; i++) {
            const roaring_bitmap_t *a = valuemap_get(bulk, keys[i]),
                                   *b = valuemap_get(inc, keys[i]);
            cr_assert((a == NULL) == (b == NULL) && (a == NULL || roaring_bitmap_equals(a, b)));
        }
        valuemap_free(bulk);
        valuemap_free(inc);
        for (int i = 0; i < N; i++)
            free(bufs[i]);
    }
    free(keys);
    free(bufs);
    free(lens);
}

/* Tests common/docvalues.c: record editing, encode/decode round trips, replacement, compaction. */
#include <criterion/criterion.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

#include "common/docvalues.h"

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
    NF = 24, /* many fields, mostly absent: exercises long field gaps */
    NS = 3000
};

static void random_rec(docvalues_rec_t *r)
{
    docvalues_rec_clear(r);
    for (size_t f = 0; f < NF; f++) {
        int64_t keys[20];
        size_t n = rnd() % 20;
        switch (rnd() % (f < 4 ? 4 : 16)) {
        case 0:
            break; /* NONE */
        case 1:
            cr_assert_eq(docvalues_rec_set(r, f, DOCVALUES_NULL, NULL, 0), 0);
            break;
        case 2:
        case 3:
            for (size_t i = 0; i < n; i++) {
                switch (rnd() % 4) {
                case 0:
                    keys[i] = (int64_t)rnd();
                    break;
                case 1:
                    keys[i] = i > 0 ? keys[i - 1] : 0; /* duplicates collapse */
                    break;
                case 2:
                    keys[i] = rnd() % 2 ? INT64_MIN : INT64_MAX;
                    break;
                default:
                    keys[i] = (int64_t)(rnd() % 1000) - 500;
                }
            }
            cr_assert_eq(docvalues_rec_set(r, f, DOCVALUES_VALUES, keys, n), 0);
            break;
        default:
            break; /* NONE */
        }
    }
}

static void assert_rec_eq(const docvalues_rec_t *a, const docvalues_rec_t *b)
{
    for (size_t f = 0; f < NF; f++) {
        size_t na, nb;
        const int64_t *ka = docvalues_rec_keys(a, f, &na), *kb = docvalues_rec_keys(b, f, &nb);
        cr_assert_eq(a->fields[f].kind, b->fields[f].kind, "field %zu " SEEDFMT, f, SEEDARG);
        cr_assert_eq(na, nb, SEEDFMT, SEEDARG);
        for (size_t i = 0; i < na; i++) {
            cr_assert_eq(ka[i], kb[i], SEEDFMT, SEEDARG);
            if (i > 0)
                cr_assert_lt(ka[i - 1], ka[i], "sorted and distinct " SEEDFMT, SEEDARG);
        }
    }
}

Test(docvalues, round_trip_replace_compact)
{
    docvalues_t *dv;
    docvalues_rec_t *model = calloc(NS, sizeof(*model)), got;

    seed_init();
    cr_assert_eq(docvalues_new(&dv), 0);
    cr_assert_eq(docvalues_rec_init(&got, NF), 0);
    for (int s = 0; s < NS; s++)
        cr_assert_eq(docvalues_rec_init(&model[s], NF), 0);
    for (int round = 0; round < 30; round++) {
        for (int op = 0; op < NS; op++) {
            int s = (int)(rnd() % NS);
            uint32_t slot = (uint32_t)s * 1001;
            if (rnd() % 5 == 0) {
                docvalues_remove(dv, slot);
                docvalues_rec_clear(&model[s]);
            } else {
                random_rec(&model[s]);
                cr_assert_eq(docvalues_store(dv, slot, &model[s]), 0);
            }
        }
        if (round % 10 == 9)
            cr_assert_eq(docvalues_compact(dv), 0);
        for (int s = 0; s < NS; s++) {
            cr_assert_eq(docvalues_load(dv, (uint32_t)s * 1001, &got), 0);
            assert_rec_eq(&got, &model[s]);
            cr_assert_eq(docvalues_rec_empty(&got), docvalues_rec_empty(&model[s]));
        }
    }
    cr_assert_eq(docvalues_load(dv, UINT32_MAX, &got), 0);
    cr_assert(docvalues_rec_empty(&got));
    cr_assert_gt(docvalues_memory(dv), 0);
    {
        docvalues_rec_t copy;
        cr_assert_eq(docvalues_rec_init(&copy, NF), 0);
        cr_assert_eq(docvalues_rec_copy(&copy, &model[0]), 0);
        assert_rec_eq(&copy, &model[0]);
        docvalues_rec_free(&copy);
    }
    for (int s = 0; s < NS; s++)
        docvalues_rec_free(&model[s]);
    free(model);
    docvalues_rec_free(&got);
    docvalues_free(dv);
    docvalues_free(NULL);
}

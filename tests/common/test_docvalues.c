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

/* A store written to a slotstore image and reopened over it (docvalues_from_slots) loads the
 * same records, and keeps working (copy on write) for further stores. */
Test(docvalues, image_round_trip)
{
    docvalues_t *dv, *back;
    docvalues_rec_t *model = calloc(NS, sizeof(*model)), got;
    slotstore_t *s;
    uint8_t *img;
    size_t size;
    bdx_error_t err = {0};

    seed_init();
    cr_assert_eq(docvalues_new(&dv), 0);
    cr_assert_eq(docvalues_rec_init(&got, NF), 0);
    for (int i = 0; i < NS; i++) {
        cr_assert_eq(docvalues_rec_init(&model[i], NF), 0);
        random_rec(&model[i]);
        cr_assert_eq(docvalues_store(dv, (uint32_t)i * 7, &model[i]), 0);
    }
    size = slotstore_image_size(docvalues_slots(dv));
    img = aligned_alloc(SLOTSTORE_IMAGE_ALIGN, size);
    slotstore_image_write(docvalues_slots(dv), img);
    docvalues_free(dv);
    cr_assert_eq(slotstore_image_open(img, size, &s, &err), 0, "%s", bdx_error_message(&err));
    cr_assert_eq(docvalues_from_slots(s, &back), 0);
    for (int round = 0; round < 2; round++) {
        for (int i = 0; i < NS; i++) {
            cr_assert_eq(docvalues_load(back, (uint32_t)i * 7, &got), 0);
            assert_rec_eq(&got, &model[i]);
        }
        for (int op = 0; op < NS / 3; op++) {
            int i = (int)(rnd() % NS);
            random_rec(&model[i]);
            cr_assert_eq(docvalues_store(back, (uint32_t)i * 7, &model[i]), 0);
        }
    }
    for (int i = 0; i < NS; i++)
        docvalues_rec_free(&model[i]);
    free(model);
    docvalues_rec_free(&got);
    docvalues_free(back);
    free(img);
}

/* Malformed records (possible only from a damaged image) are BDX_ECORRUPT, never a wild read. */
Test(docvalues, malformed_records)
{
    slotstore_t *s;
    docvalues_t *dv;
    docvalues_rec_t got;
    static const uint8_t field_too_far[] = {0x0f, 0x20, 0x01}; /* gap 7 + 32 >= NF */
    static const uint8_t truncated_key[] = {0x10, 0x80};       /* 1 key, varint cut */
    static const uint8_t too_many_keys[] = {0xf0, 0x01, 0x02}; /* 15 keys, 1 byte */
    static const uint8_t long_varint[] = {0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
                                          0xff, 0xff, 0xff, 0xff, 0x01}; /* > 64 bits */
    int rc;

    seed_init();
    cr_assert_eq(slotstore_new(&s), 0);
    cr_assert_eq(docvalues_from_slots(s, &dv), 0);
    cr_assert_eq(docvalues_rec_init(&got, NF), 0);
    cr_assert_eq(slotstore_put(s, 1, field_too_far, sizeof(field_too_far)), 0);
    cr_assert_eq(slotstore_put(s, 2, truncated_key, sizeof(truncated_key)), 0);
    cr_assert_eq(slotstore_put(s, 3, too_many_keys, sizeof(too_many_keys)), 0);
    cr_assert_eq(slotstore_put(s, 4, long_varint, sizeof(long_varint)), 0);
    for (uint32_t slot = 1; slot <= 4; slot++) {
        cr_assert_eq(docvalues_load(dv, slot, &got), BDX_ECORRUPT, "slot %u", slot);
        cr_assert(docvalues_rec_empty(&got));
    }
    /* random bytes: decoded or refused, never out of bounds (ASan run) */
    for (int k = 0; k < 20000; k++) {
        uint8_t buf[24];
        size_t len = 1 + rnd() % sizeof(buf);
        for (size_t i = 0; i < len; i++)
            buf[i] = (uint8_t)rnd();
        cr_assert_eq(slotstore_put(s, 9, buf, len), 0);
        rc = docvalues_load(dv, 9, &got);
        cr_assert(rc == 0 || rc == BDX_ECORRUPT, SEEDFMT, SEEDARG);
    }
    docvalues_rec_free(&got);
    docvalues_free(dv);
}

/* Memory stays what the former dense layout cost: ~8 bytes of slot table per slot of the range
 * plus the records (figures: 100,000 dense 1-key records of 2 bytes -> ~1.2 MB). */
Test(docvalues, memory_figure)
{
    docvalues_t *dv;
    docvalues_rec_t r;
    enum {
        N = 100000
    };

    cr_assert_eq(docvalues_new(&dv), 0);
    cr_assert_eq(docvalues_rec_init(&r, NF), 0);
    for (uint32_t i = 0; i < N; i++) {
        int64_t k = i % 50;
        cr_assert_eq(docvalues_rec_set(&r, 0, DOCVALUES_VALUES, &k, 1), 0);
        cr_assert_eq(docvalues_store(dv, i, &r), 0);
    }
    cr_assert_eq(docvalues_compact(dv), 0);
    cr_assert_lt(docvalues_memory(dv), (size_t)N * (8 + 2) * 3 / 2 + 128 * 1024, "%zu bytes",
                 docvalues_memory(dv));
    cr_assert_gt(docvalues_memory(dv), (size_t)N * (8 + 2));
    docvalues_rec_free(&r);
    docvalues_free(dv);
}

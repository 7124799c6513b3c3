/* Tests common/bsi.c: compare and top-K against brute force on seeded random data. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

#include "common/bitmap.h"
#include "common/bsi.h"
#include "common/error.h"
#include "common/schema.h"

/* ---- seeded randomness (BITDEX_TEST_SEED reproduces a run) ---- */

static uint64_t seed, rng;

static void seed_init(void)
{
    const char *s = getenv("BITDEX_TEST_SEED");
    seed = s != NULL ? strtoull(s, NULL, 0) : (uint64_t)time(NULL) ^ ((uint64_t)getpid() << 20);
    rng = seed;
}

static uint64_t rnd(void)
{
    /* splitmix64 */
    uint64_t z = (rng += 0x9E3779B97F4A7C15ULL);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
    return z ^ (z >> 31);
}

static uint64_t below(uint64_t n)
{
    return n ? rnd() % n : 0;
}

#define SEEDFMT "seed=%llu (rerun with BITDEX_TEST_SEED=%llu)"
#define SEEDARG (unsigned long long)seed, (unsigned long long)seed

/* ---- model ---- */

#define NSLOTS 4000

typedef struct model {
    unsigned bits;
    uint64_t max;
    uint32_t slot[NSLOTS]; /* distinct, spread over several containers */
    bool has[NSLOTS];
    uint64_t val[NSLOTS];
    bsi_t *b;
} model_t;

static uint64_t pick_value(model_t *m, int style)
{
    switch (style) {
    case 0: /* full range with the edges */
        switch (below(6)) {
        case 0:
            return 0;
        case 1:
            return m->max;
        case 2: {
            uint64_t d = below(3);
            return d > m->max ? m->max : m->max - d;
        }
        default:
            return m->bits == 64 ? rnd() : below(m->max + 1);
        }
    case 1: /* heavy ties: a handful of values */
        return (below(4) * (m->max / 3 + 1)) & m->max;
    default: /* small values */
        return below(8) & m->max;
    }
}

static void model_build(model_t *m, unsigned bits, int style)
{
    m->bits = bits;
    m->max = schema_bits_max(bits);
    cr_assert_eq(bsi_new(bits, &m->b), 0);
    for (int i = 0; i < NSLOTS; i++) {
        /* distinct slots: i * 97 + small jitter, reaching ~390k (6 containers) */
        m->slot[i] = (uint32_t)i * 97 + (uint32_t)below(90);
        m->has[i] = below(5) != 0;
        m->val[i] = pick_value(m, style);
    }
    /* insert in random order to exercise non-append paths, then overwrite some */
    for (int n = 0; n < NSLOTS; n++) {
        int i = (int)below(NSLOTS);
        if (m->has[i])
            cr_assert_eq(bsi_set(m->b, m->slot[i], m->val[i]), 0, SEEDFMT, SEEDARG);
    }
    for (int i = 0; i < NSLOTS; i++) {
        if (m->has[i])
            cr_assert_eq(bsi_set(m->b, m->slot[i], m->val[i]), 0, SEEDFMT, SEEDARG);
        else if (below(2))
            cr_assert_eq(bsi_clear(m->b, m->slot[i]), 0, SEEDFMT, SEEDARG);
    }
    /* clear some and set again with new values */
    for (int n = 0; n < NSLOTS / 10; n++) {
        int i = (int)below(NSLOTS);
        if (below(2)) {
            m->has[i] = false;
            cr_assert_eq(bsi_clear(m->b, m->slot[i]), 0);
        } else {
            m->has[i] = true;
            m->val[i] = pick_value(m, style);
            cr_assert_eq(bsi_set(m->b, m->slot[i], m->val[i]), 0);
        }
    }
}

static bool op_holds(bsi_op_t op, uint64_t v, uint64_t a, uint64_t b)
{
    switch (op) {
    case BSI_EQ:
        return v == a;
    case BSI_NE:
        return v != a;
    case BSI_LT:
        return v < a;
    case BSI_LE:
        return v <= a;
    case BSI_GT:
        return v > a;
    case BSI_GE:
        return v >= a;
    default:
        return a <= v && v <= b;
    }
}

static roaring_bitmap_t *random_subset(model_t *m, int kind)
{
    roaring_bitmap_t *r = roaring_bitmap_create();
    if (kind == 1)
        return r; /* empty */
    for (int i = 0; i < NSLOTS; i++)
        if (below(3) == 0)
            roaring_bitmap_add(r, m->slot[i]);
    roaring_bitmap_add(r, 5000000); /* a slot no model entry has */
    return r;
}

static uint64_t pick_operand(model_t *m)
{
    switch (below(9)) {
    case 0:
        return 0;
    case 1:
        return m->max;
    case 2:
        return m->max == UINT64_MAX ? UINT64_MAX : m->max + 1;
    case 3:
        return UINT64_MAX;
    case 4:
        return 1;
    case 5:
        return m->max ? m->max - 1 : 0;
    default: {
        int i = (int)below(NSLOTS);
        uint64_t v = m->val[i];
        int d = (int)below(3) - 1;
        if (d < 0 && v > 0)
            v--;
        else if (d > 0 && v < UINT64_MAX)
            v++;
        return v;
    }
    }
}

static void check_compare(model_t *m, bsi_op_t op, uint64_t a, uint64_t b,
                          const roaring_bitmap_t *restrict_to)
{
    roaring_bitmap_t *out = roaring_bitmap_create(), *want = roaring_bitmap_create();

    roaring_bitmap_add(out, 123456789); /* must be overwritten */
    cr_assert_eq(bsi_compare(m->b, op, a, b, restrict_to, out), 0);
    for (int i = 0; i < NSLOTS; i++)
        if (m->has[i] && op_holds(op, m->val[i], a, b) &&
            (restrict_to == NULL || roaring_bitmap_contains(restrict_to, m->slot[i])))
            roaring_bitmap_add(want, m->slot[i]);
    cr_assert(roaring_bitmap_equals(out, want),
              "bits=%u op=%d a=%llu b=%llu restrict=%s: got %llu slots, want %llu; " SEEDFMT,
              m->bits, (int)op, (unsigned long long)a, (unsigned long long)b,
              restrict_to ? "yes" : "no", (unsigned long long)roaring_bitmap_get_cardinality(out),
              (unsigned long long)roaring_bitmap_get_cardinality(want), SEEDARG);
    roaring_bitmap_free(out);
    roaring_bitmap_free(want);
}

static const unsigned bit_widths[] = {1, 7, 32, 64};

Test(bsi, compare_vs_brute_force)
{
    seed_init();
    for (size_t w = 0; w < sizeof(bit_widths) / sizeof(*bit_widths); w++) {
        for (int style = 0; style < 3; style++) {
            model_t *m = calloc(1, sizeof(*m));
            model_build(m, bit_widths[w], style);
            for (int restrict_kind = 0; restrict_kind < 3; restrict_kind++) {
                roaring_bitmap_t *r = restrict_kind == 0 ? NULL : random_subset(m, restrict_kind);
                for (int trial = 0; trial < 12; trial++) {
                    uint64_t a = pick_operand(m), b = pick_operand(m);
                    for (int op = BSI_EQ; op <= BSI_BETWEEN; op++)
                        check_compare(m, (bsi_op_t)op, a, b, r);
                    check_compare(m, BSI_BETWEEN, a < b ? a : b, a < b ? b : a, r);
                }
                /* the edges, always */
                for (int op = BSI_EQ; op <= BSI_BETWEEN; op++) {
                    check_compare(m, (bsi_op_t)op, 0, m->max, r);
                    check_compare(m, (bsi_op_t)op, m->max, m->max, r);
                    check_compare(m, (bsi_op_t)op, 0, 0, r);
                }
                bitmap_free_roaring(r);
            }
            bsi_free(m->b);
            free(m);
        }
    }
}

Test(bsi, get_set_clear_and_edges)
{
    bsi_t *b;
    uint64_t v;
    roaring_bitmap_t *out = roaring_bitmap_create();

    cr_assert_eq(bsi_new(0, &b), BDX_EINVAL);
    cr_assert_eq(bsi_new(65, &b), BDX_EINVAL);
    cr_assert_eq(bsi_new(64, &b), 0);
    cr_assert_eq(bsi_bits(b), 64);
    cr_assert_eq(bsi_set(b, 1, UINT64_MAX), 0);
    cr_assert_eq(bsi_set(b, 2, 0), 0);
    cr_assert_eq(bsi_set(b, UINT32_MAX, 1ULL << 63), 0);
    cr_assert(bsi_get(b, 1, &v) && v == UINT64_MAX);
    cr_assert(bsi_get(b, 2, &v) && v == 0);
    cr_assert(bsi_get(b, UINT32_MAX, &v) && v == 1ULL << 63);
    cr_assert(!bsi_get(b, 3, &v));
    cr_assert_eq(bsi_count(b), 3);
    cr_assert_eq(bsi_compare(b, BSI_GT, 1ULL << 63, 0, NULL, out), 0);
    cr_assert_eq(roaring_bitmap_get_cardinality(out), 1);
    cr_assert(roaring_bitmap_contains(out, 1));
    cr_assert_eq(bsi_compare(b, (bsi_op_t)99, 0, 0, NULL, out), BDX_EINVAL);
    /* overwrite with a smaller value clears the high slices */
    cr_assert_eq(bsi_set(b, 1, 5), 0);
    cr_assert(bsi_get(b, 1, &v) && v == 5);
    cr_assert(!roaring_bitmap_contains(bsi_slice(b, 63), 1));
    cr_assert_eq(bsi_clear(b, 1), 0);
    cr_assert(!bsi_get(b, 1, &v));
    for (unsigned i = 0; i < 64; i++)
        cr_assert(!roaring_bitmap_contains(bsi_slice(b, i), 1));
    bsi_free(b);

    cr_assert_eq(bsi_new(7, &b), 0);
    cr_assert_eq(bsi_set(b, 1, 128), BDX_EINVAL);
    cr_assert_eq(bsi_count(b), 0);
    cr_assert_eq(bsi_set(b, 1, 127), 0);
    bsi_optimize(b);
    cr_assert(bsi_get(b, 1, &v) && v == 127);
    cr_assert_gt(bsi_memory(b, NULL), 0);
    bsi_free(b);
    roaring_bitmap_free(out);
}

/* ---- top-K ---- */

typedef struct pair {
    uint64_t v;
    uint32_t s;
} pair_t;

static int pair_desc(const void *a, const void *b)
{
    const pair_t *x = a, *y = b;
    if (x->v != y->v)
        return x->v < y->v ? 1 : -1;
    return (x->s < y->s) - (x->s > y->s);
}

static void check_topk(model_t *m, const roaring_bitmap_t *cand, uint64_t k, bool desc)
{
    pair_t *c = malloc(sizeof(*c) * NSLOTS);
    size_t n = 0;
    roaring_bitmap_t *out = roaring_bitmap_create(), *want = roaring_bitmap_create();
    uint64_t kth = 777, want_kth = 0;

    for (int i = 0; i < NSLOTS; i++)
        if (m->has[i] && (cand == NULL || roaring_bitmap_contains(cand, m->slot[i]))) {
            c[n].v = desc ? m->val[i] : ~m->val[i]; /* sort "best first" either way */
            c[n].s = m->slot[i];
            n++;
        }
    qsort(c, n, sizeof(*c), pair_desc);
    if (k > 0 && n > 0) {
        uint64_t idx = k <= n ? k - 1 : n - 1;
        uint64_t v = c[idx].v;
        want_kth = desc ? v : ~v;
        for (size_t i = 0; i < n; i++)
            if (c[i].v >= v)
                roaring_bitmap_add(want, c[i].s);
    }
    roaring_bitmap_add(out, 999999999); /* must be overwritten */
    cr_assert_eq(bsi_topk(m->b, cand, k, desc, out, &kth), 0);
    cr_assert(roaring_bitmap_equals(out, want),
              "bits=%u k=%llu desc=%d n=%zu: got %llu slots, want %llu; " SEEDFMT, m->bits,
              (unsigned long long)k, desc, n,
              (unsigned long long)roaring_bitmap_get_cardinality(out),
              (unsigned long long)roaring_bitmap_get_cardinality(want), SEEDARG);
    if (k > 0)
        cr_assert_eq(kth, want_kth, "bits=%u k=%llu desc=%d: kth %llu want %llu; " SEEDFMT, m->bits,
                     (unsigned long long)k, desc, (unsigned long long)kth,
                     (unsigned long long)want_kth, SEEDARG);
    /* invariants stated in the header */
    if (k > 0 && n >= k)
        cr_assert_geq(roaring_bitmap_get_cardinality(out), k);
    cr_assert_eq(bsi_topk(m->b, cand, k, desc, out, NULL), 0);
    cr_assert(roaring_bitmap_equals(out, want), SEEDFMT, SEEDARG);
    roaring_bitmap_free(out);
    roaring_bitmap_free(want);
    free(c);
}

Test(bsi, topk_vs_brute_force)
{
    seed_init();
    for (size_t w = 0; w < sizeof(bit_widths) / sizeof(*bit_widths); w++) {
        for (int style = 0; style < 3; style++) {
            model_t *m = calloc(1, sizeof(*m));
            model_build(m, bit_widths[w], style);
            for (int ck = 0; ck < 3; ck++) {
                roaring_bitmap_t *cand = ck == 0 ? NULL : random_subset(m, ck);
                uint64_t n = ck == 0 ? bsi_count(m->b) : roaring_bitmap_get_cardinality(cand);
                uint64_t ks[] = {
                    0, 1, 2, 5, 50, n / 2, n > 0 ? n - 1 : 0, n, n + 3, 1 + below(n + 1)};
                for (size_t i = 0; i < sizeof(ks) / sizeof(*ks); i++) {
                    check_topk(m, cand, ks[i], true);
                    check_topk(m, cand, ks[i], false);
                }
                bitmap_free_roaring(cand);
            }
            bsi_free(m->b);
            free(m);
        }
    }
}

Test(bsi, topk_all_ties_and_empty)
{
    bsi_t *b;
    roaring_bitmap_t *out = roaring_bitmap_create();
    uint64_t kth;

    cr_assert_eq(bsi_new(32, &b), 0);
    cr_assert_eq(bsi_topk(b, NULL, 10, true, out, &kth), 0);
    cr_assert(roaring_bitmap_is_empty(out));
    cr_assert_eq(kth, 0);
    for (uint32_t s = 0; s < 1000; s++)
        cr_assert_eq(bsi_set(b, s * 3, 42), 0);
    cr_assert_eq(bsi_topk(b, NULL, 10, true, out, &kth), 0);
    cr_assert_eq(roaring_bitmap_get_cardinality(out), 1000); /* all tied at the 10th */
    cr_assert_eq(kth, 42);
    cr_assert_eq(bsi_topk(b, NULL, 10, false, out, &kth), 0);
    cr_assert_eq(roaring_bitmap_get_cardinality(out), 1000);
    cr_assert_eq(bsi_set(b, 3, 43), 0);
    cr_assert_eq(bsi_topk(b, NULL, 1, true, out, &kth), 0);
    cr_assert_eq(roaring_bitmap_get_cardinality(out), 1);
    cr_assert_eq(kth, 43);
    bsi_free(b);
    roaring_bitmap_free(out);
}

Test(bsi, append_matches_set)
{
    enum {
        N = 50000
    };
    bsi_t *a, *s;
    uint32_t *slots = malloc(N * sizeof(*slots));
    uint64_t *vals = malloc(N * sizeof(*vals));
    uint64_t v1, v2;

    seed_init();
    for (unsigned w = 0; w < sizeof(bit_widths) / sizeof(*bit_widths); w++) {
        unsigned bits = bit_widths[w];
        uint64_t max = schema_bits_max(bits);
        cr_assert_eq(bsi_new(bits, &a), 0);
        cr_assert_eq(bsi_new(bits, &s), 0);
        for (uint32_t i = 0; i < N; i++) {
            slots[i] = i * 3 + (uint32_t)below(3);
            vals[i] = below(3) == 0 ? max : (bits == 64 ? rnd() : below(max + 1));
        }
        /* fast path (first half), then the fallback (second half overlaps the first) */
        cr_assert_eq(bsi_append(a, slots, vals, N / 2), 0);
        cr_assert_eq(bsi_append(a, slots + N / 4, vals + N / 4, N - N / 4), 0);
        for (uint32_t i = 0; i < N; i++)
            cr_assert_eq(bsi_set(s, slots[i], vals[i]), 0);
        for (uint32_t i = 0; i < N; i += 7) {
            cr_assert(bsi_get(a, slots[i], &v1) && bsi_get(s, slots[i], &v2));
            cr_assert_eq(v1, v2, "bits=%u " SEEDFMT, bits, SEEDARG);
        }
        cr_assert(roaring_bitmap_equals(bsi_exists(a), bsi_exists(s)));
        for (unsigned k = 0; k < bits; k++)
            cr_assert(roaring_bitmap_equals(bsi_slice(a, k), bsi_slice(s, k)), SEEDFMT, SEEDARG);
        /* refused inputs change nothing */
        if (bits < 64) {
            uint64_t wide = max + 1;
            uint32_t far = 10 * N;
            cr_assert_eq(bsi_append(a, &far, &wide, 1), BDX_EINVAL);
        }
        {
            uint32_t desc[2] = {20 * N, 20 * N - 1};
            uint64_t two[2] = {1, 1};
            cr_assert_eq(bsi_append(a, desc, two, 2), BDX_EINVAL);
        }
        cr_assert_eq(bsi_count(a), bsi_count(s));
        cr_assert_eq(bsi_append(a, NULL, NULL, 0), 0);
        bsi_free(a);
        bsi_free(s);
    }
    free(slots);
    free(vals);
}

/*
 * Tests common/index.c against a simple model: random put / merge / delete / set / add / remove
 * (and rejected writes) on seeded random data, then every value bitmap, null and exists bitmap,
 * alive, BSI, column, computed field, dirty bitmap and permutation is compared with the model.
 */
#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "common/bitmap.h"
#include "common/error.h"
#include "common/index.h"

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

static uint64_t below(uint64_t n)
{
    return n ? rnd() % n : 0;
}

#define SEEDFMT "seed=%llu (rerun with BITDEX_TEST_SEED=%llu)"
#define SEEDARG (unsigned long long)seed, (unsigned long long)seed

/* ---- the schema under test ---- */

enum {
    F_LEVEL,
    F_TAGS,
    F_MODEL,
    F_FLAG,
    F_LABELS,
    NF
};
enum {
    S_A,
    S_B,
    S_G,
    S_L,
    S_BIG,
    NSORT
};

static const char *const pool[] = {"SDXL", "Pony", "SD 1.5", "", "Flux", "Illustrious", "x"};
#define NPOOL ((int)(sizeof(pool) / sizeof(*pool)))

static schema_t *make_schema(void)
{
    schema_t *s;
    cr_assert_eq(schema_new("t", &s), 0);
    cr_assert_eq(schema_add_filter(s, "level", SCHEMA_INT, false, false), 0);
    cr_assert_eq(schema_add_filter(s, "tags", SCHEMA_INT, true, false), 0);
    cr_assert_eq(schema_add_filter(s, "model", SCHEMA_STRING, false, true), 0);
    cr_assert_eq(schema_add_filter(s, "flag", SCHEMA_BOOL, false, true), 0);
    cr_assert_eq(schema_add_filter(s, "labels", SCHEMA_STRING, true, true), 0);
    cr_assert_eq(schema_add_sort(s, "a", 32), 0);
    cr_assert_eq(schema_add_sort(s, "b", 7), 0);
    cr_assert_eq(schema_add_computed_sort(s, "g", 32, SCHEMA_COMPUTED_GREATEST, "a", "b"), 0);
    cr_assert_eq(schema_add_computed_sort(s, "l", 32, SCHEMA_COMPUTED_LEAST, "a", "b"), 0);
    cr_assert_eq(schema_add_sort(s, "big", 64), 0);
    cr_assert_eq(schema_add_stored(s, "url", SCHEMA_STRING), 0);
    return s;
}

static const bool is_string[NF] = {false, false, true, false, true};
static const bool is_multi[NF] = {false, true, false, false, true};
static const bool is_nullable[NF] = {false, false, true, true, true};
static const unsigned sort_bits[NSORT] = {32, 7, 32, 32, 64};

/* ---- the model ---- */

enum {
    NSLOT = 300,
    MAXV = 12
};

typedef struct mfield {
    int kind; /* 0 none, 1 values, 2 null */
    int n;
    int64_t v[MAXV]; /* ints, or pool indexes for strings; sorted distinct */
} mfield_t;

typedef struct mdoc {
    bool alive;
    mfield_t f[NF];
    bool has[NSORT];
    uint64_t val[NSORT];
    uint32_t stored; /* stored blob: the 4 bytes of this value; 0 = none */
} mdoc_t;

static mdoc_t model[NSLOT];
static bool dirty[NSORT][NSLOT];

static uint32_t slot_of(int i)
{
    return (uint32_t)i * 523u; /* spread over three roaring containers */
}

static int cmp64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return (x > y) - (x < y);
}

static void mfield_set(mfield_t *f, bool null, const int64_t *v, int n)
{
    int64_t t[MAXV * 2];
    int m = 0;

    if (null) {
        f->kind = 2;
        f->n = 0;
        return;
    }
    memcpy(t, v, sizeof(*t) * (size_t)n);
    qsort(t, (size_t)n, sizeof(*t), cmp64);
    for (int i = 0; i < n; i++)
        if (m == 0 || t[m - 1] != t[i])
            t[m++] = t[i];
    cr_assert_leq(m, MAXV);
    f->kind = m > 0 ? 1 : 0;
    f->n = m;
    memcpy(f->v, t, sizeof(*t) * (size_t)m);
}

static void model_recompute(mdoc_t *d)
{
    for (int c = S_G; c <= S_L; c++) {
        bool greatest = c == S_G, any = false;
        uint64_t v = 0;
        for (int k = 0; k < 2; k++) {
            int src = k == 0 ? S_A : S_B;
            if (!d->has[src])
                continue;
            if (!any || (greatest ? d->val[src] > v : d->val[src] < v))
                v = d->val[src];
            any = true;
        }
        d->has[c] = any;
        d->val[c] = any ? v : 0;
    }
}

/* Marks dirty the sort fields whose (has, value) differ between before and after. */
static void model_dirty(int i, const mdoc_t *before, const mdoc_t *after)
{
    for (int s = 0; s < NSORT; s++)
        if (before->has[s] != after->has[s] || (after->has[s] && before->val[s] != after->val[s]))
            dirty[s][i] = true;
}

/* ---- random inputs (arrays backing index_doc_t) ---- */

typedef struct gen {
    index_doc_filter_t filters[NF];
    index_doc_sort_t sorts[NSORT];
    int64_t ints[NF][MAXV];
    const char *strs[NF][MAXV];
    int64_t idx[NF][MAXV]; /* model values (pool indexes for strings) */
} gen_t;

static int64_t random_int(int f)
{
    if (f == F_FLAG)
        return (int64_t)below(2);
    if (f == F_LEVEL) {
        switch (below(10)) {
        case 0:
            return INT64_MIN;
        case 1:
            return INT64_MAX;
        default:
            return (int64_t)below(9) - 3;
        }
    }
    return (int64_t)below(20); /* tags */
}

static uint64_t random_sort_value(int s)
{
    uint64_t max = schema_bits_max(sort_bits[s]);
    switch (below(6)) {
    case 0:
        return 0;
    case 1:
        return max;
    case 2:
        return below(4); /* ties */
    default:
        return sort_bits[s] == 64 ? rnd() : below(max + 1);
    }
}

/* Fills field f of g with random (null | values); returns the count. */
static void random_values(gen_t *g, int f, bool allow_null, int max_n)
{
    index_doc_filter_t *df = &g->filters[f];
    int n = is_multi[f] ? (int)below((uint64_t)max_n + 1) : (int)below(5) != 0;

    memset(df, 0, sizeof(*df));
    df->present = true;
    if (allow_null && is_nullable[f] && below(6) == 0) {
        df->null = true;
        return;
    }
    for (int i = 0; i < n; i++) {
        if (is_string[f]) {
            int p = (int)below(NPOOL);
            g->strs[f][i] = pool[p];
            g->idx[f][i] = p;
        } else {
            g->ints[f][i] = random_int(f);
            g->idx[f][i] = g->ints[f][i];
        }
    }
    df->values.count = (size_t)n;
    if (is_string[f])
        df->values.strings = g->strs[f];
    else
        df->values.ints = g->ints[f];
}

static void random_doc(gen_t *g)
{
    memset(g, 0, sizeof(*g));
    for (int f = 0; f < NF; f++)
        if (below(10) < 7)
            random_values(g, f, true, 6);
    for (int s = 0; s < NSORT; s++) {
        if (s == S_G || s == S_L)
            continue;
        g->sorts[s].present = below(10) < 7;
        g->sorts[s].value = random_sort_value(s);
    }
}

/* ---- comparing index and model ---- */

/* The index key of a model value; false when a string was never interned. */
static bool key_of(const index_t *ix, int f, int64_t model_value, int64_t *key)
{
    if (!is_string[f]) {
        *key = model_value;
        return true;
    }
    return dictionary_lookup(index_dict(ix, (size_t)f), pool[model_value], key) == 0;
}

static bool holds(const mfield_t *mf, int64_t v)
{
    for (int i = 0; i < mf->n; i++)
        if (mf->v[i] == v)
            return true;
    return false;
}

typedef struct range_visit {
    int64_t keys[256];
    int n;
} range_visit_t;

static bool collect(int64_t key, const roaring_bitmap_t *bm, void *arg)
{
    range_visit_t *rv = arg;
    cr_assert(bm != NULL && !roaring_bitmap_is_empty(bm));
    cr_assert_lt(rv->n, 256);
    rv->keys[rv->n++] = key;
    return true;
}

static void check_filter_field(const index_t *ix, int f)
{
    int64_t cand[64];
    int nc = 0;
    uint64_t distinct = 0;
    roaring_bitmap_t *want = roaring_bitmap_create();
    range_visit_t rv = {.n = 0};

    /* candidate model values */
    if (is_string[f]) {
        for (int p = 0; p < NPOOL; p++)
            cand[nc++] = p;
    } else if (f == F_FLAG) {
        cand[nc++] = 0;
        cand[nc++] = 1;
    } else {
        for (int64_t v = -3; v < 20; v++)
            cand[nc++] = v;
        cand[nc++] = INT64_MIN;
        cand[nc++] = INT64_MAX;
    }
    for (int c = 0; c < nc; c++) {
        int64_t key;
        bool known = key_of(ix, f, cand[c], &key);
        const roaring_bitmap_t *bm;
        roaring_bitmap_clear(want);
        for (int i = 0; i < NSLOT; i++)
            if (model[i].alive && model[i].f[f].kind == 1 && holds(&model[i].f[f], cand[c]))
                roaring_bitmap_add(want, slot_of(i));
        if (!known) {
            cr_assert(roaring_bitmap_is_empty(want), "field %d value never interned " SEEDFMT, f,
                      SEEDARG);
            continue;
        }
        bm = index_filter_value(ix, (size_t)f, key);
        if (roaring_bitmap_is_empty(want)) {
            cr_assert_null(bm, "field %d value %lld: empty bitmap must be dropped " SEEDFMT, f,
                           (long long)cand[c], SEEDARG);
        } else {
            distinct++;
            cr_assert_not_null(bm, "field %d value %lld " SEEDFMT, f, (long long)cand[c], SEEDARG);
            cr_assert(roaring_bitmap_equals(bm, want), "field %d value %lld " SEEDFMT, f,
                      (long long)cand[c], SEEDARG);
        }
    }
    cr_assert_eq(index_filter_value_count(ix, (size_t)f), distinct, "field %d " SEEDFMT, f,
                 SEEDARG);

    /* null and exists */
    roaring_bitmap_clear(want);
    for (int i = 0; i < NSLOT; i++)
        if (model[i].alive && model[i].f[f].kind == 2)
            roaring_bitmap_add(want, slot_of(i));
    if (roaring_bitmap_is_empty(want))
        cr_assert_null(index_filter_null(ix, (size_t)f), "field %d null " SEEDFMT, f, SEEDARG);
    else
        cr_assert(roaring_bitmap_equals(index_filter_null(ix, (size_t)f), want),
                  "field %d null " SEEDFMT, f, SEEDARG);
    roaring_bitmap_clear(want);
    for (int i = 0; i < NSLOT; i++)
        if (model[i].alive && model[i].f[f].kind == 1)
            roaring_bitmap_add(want, slot_of(i));
    cr_assert(roaring_bitmap_equals(index_filter_exists(ix, (size_t)f), want),
              "field %d exists " SEEDFMT, f, SEEDARG);

    /* ordered traversal: every held key once, ascending */
    index_filter_range(ix, (size_t)f, INT64_MIN, INT64_MAX, collect, &rv);
    cr_assert_eq((uint64_t)rv.n, distinct, "field %d range " SEEDFMT, f, SEEDARG);
    for (int i = 1; i < rv.n; i++)
        cr_assert_lt(rv.keys[i - 1], rv.keys[i], SEEDFMT, SEEDARG);
    if (f == F_LEVEL) {
        range_visit_t sub = {.n = 0};
        int want_n = 0;
        index_filter_range(ix, (size_t)f, -1, 2, collect, &sub);
        for (int i = 0; i < rv.n; i++)
            want_n += rv.keys[i] >= -1 && rv.keys[i] <= 2;
        cr_assert_eq(sub.n, want_n, SEEDFMT, SEEDARG);
    }
    roaring_bitmap_free(want);
}

static void check_sort_field(const index_t *ix, int s)
{
    const bsi_t *b = index_sort_bsi(ix, (size_t)s);
    roaring_bitmap_t *want = roaring_bitmap_create();

    for (int i = 0; i < NSLOT; i++) {
        uint64_t v = 12345;
        bool got = bsi_get(b, slot_of(i), &v);
        bool has = model[i].alive && model[i].has[s];
        cr_assert_eq(got, has, "sort %d slot %d presence " SEEDFMT, s, i, SEEDARG);
        if (has) {
            cr_assert_eq(v, model[i].val[s], "sort %d slot %d value " SEEDFMT, s, i, SEEDARG);
            roaring_bitmap_add(want, slot_of(i));
        }
        cr_assert_eq(index_sort_value(ix, (size_t)s, slot_of(i)), has ? model[i].val[s] : 0,
                     "sort %d slot %d column " SEEDFMT, s, i, SEEDARG);
        cr_assert_eq(column_get(index_sort_column(ix, (size_t)s), slot_of(i)),
                     has ? model[i].val[s] : 0, SEEDFMT, SEEDARG);
    }
    cr_assert(roaring_bitmap_equals(bsi_exists(b), want), "sort %d exists " SEEDFMT, s, SEEDARG);
    /* no stray slice bits outside existence */
    for (unsigned k = 0; k < bsi_bits(b); k++)
        cr_assert(roaring_bitmap_is_subset(bsi_slice(b, k), bsi_exists(b)), SEEDFMT, SEEDARG);
    /* dirty */
    roaring_bitmap_clear(want);
    for (int i = 0; i < NSLOT; i++)
        if (dirty[s][i])
            roaring_bitmap_add(want, slot_of(i));
    cr_assert(roaring_bitmap_equals(index_sort_dirty(ix, (size_t)s), want),
              "sort %d dirty: got %llu want %llu " SEEDFMT, s,
              (unsigned long long)roaring_bitmap_get_cardinality(index_sort_dirty(ix, (size_t)s)),
              (unsigned long long)roaring_bitmap_get_cardinality(want), SEEDARG);
    roaring_bitmap_free(want);
}

static void check_all(const index_t *ix)
{
    roaring_bitmap_t *alive = roaring_bitmap_create();
    int64_t max = -1;

    for (int i = 0; i < NSLOT; i++) {
        if (model[i].alive) {
            roaring_bitmap_add(alive, slot_of(i));
            max = slot_of(i);
        }
        cr_assert_eq(index_doc_exists(ix, slot_of(i)), model[i].alive, SEEDFMT, SEEDARG);
    }
    cr_assert(roaring_bitmap_equals(index_alive(ix), alive), "alive " SEEDFMT, SEEDARG);
    cr_assert_eq(index_doc_count(ix), roaring_bitmap_get_cardinality(alive), SEEDFMT, SEEDARG);
    cr_assert_eq(index_max_slot(ix), max, SEEDFMT, SEEDARG);
    for (int f = 0; f < NF; f++)
        check_filter_field(ix, f);
    for (int s = 0; s < NSORT; s++)
        check_sort_field(ix, s);
    roaring_bitmap_free(alive);
}

/* The permutation of each sort field right after a rebuild: the present slots by (value, slot). */
static void check_perms(const index_t *ix)
{
    for (int s = 0; s < NSORT; s++) {
        const permutation_t *p = index_sort_perm(ix, (size_t)s);
        uint32_t n = 0;
        for (int i = 0; i < NSLOT; i++)
            n += model[i].alive && model[i].has[s];
        cr_assert_eq(permutation_count(p), n, "sort %d perm size " SEEDFMT, s, SEEDARG);
        for (uint32_t k = 0; k < n; k++) {
            uint32_t slot = permutation_slot(p, k);
            int i = (int)(slot / 523u);
            cr_assert_eq(slot_of(i), slot, SEEDFMT, SEEDARG);
            cr_assert(model[i].alive && model[i].has[s], SEEDFMT, SEEDARG);
            cr_assert_eq(permutation_value(p, k), model[i].val[s], SEEDFMT, SEEDARG);
            if (k > 0) {
                uint64_t pv = permutation_value(p, k - 1);
                cr_assert(pv < model[i].val[s] ||
                              (pv == model[i].val[s] && permutation_slot(p, k - 1) < slot),
                          "perm order " SEEDFMT, SEEDARG);
            }
        }
    }
}

/* ---- operations, applied to both ---- */

static void op_write(index_t *ix, int i, bool merge)
{
    gen_t g;
    index_doc_t doc;
    mdoc_t before = model[i], *d = &model[i];
    bdx_error_t err = {0};

    random_doc(&g);
    doc.filters = below(20) ? g.filters : NULL;
    doc.sorts = below(20) ? g.sorts : NULL;
    cr_assert_eq(merge ? index_merge(ix, slot_of(i), &doc, &err)
                       : index_put(ix, slot_of(i), &doc, &err),
                 0, "%s " SEEDFMT, err.msg, SEEDARG);
    if (!merge || !d->alive)
        memset(d, 0, sizeof(*d));
    d->alive = true;
    for (int f = 0; f < NF; f++)
        if (doc.filters != NULL && g.filters[f].present)
            mfield_set(&d->f[f], g.filters[f].null, g.idx[f], (int)g.filters[f].values.count);
    for (int s = 0; s < NSORT; s++) {
        if (s == S_G || s == S_L)
            continue;
        if (doc.sorts != NULL && g.sorts[s].present) {
            d->has[s] = true;
            d->val[s] = g.sorts[s].value;
        }
    }
    model_recompute(d);
    model_dirty(i, &before, d);
}

static void op_delete(index_t *ix, int i)
{
    mdoc_t before = model[i];
    cr_assert_eq(index_delete(ix, slot_of(i)), 0);
    memset(&model[i], 0, sizeof(model[i]));
    model_dirty(i, &before, &model[i]);
}

static void ensure_alive(mdoc_t *d)
{
    if (!d->alive) {
        memset(d, 0, sizeof(*d));
        d->alive = true;
    }
}

static void op_set_filter(index_t *ix, int i)
{
    gen_t g;
    int f = (int)below(NF);
    bdx_error_t err = {0};
    mdoc_t before = model[i];

    memset(&g, 0, sizeof(g));
    random_values(&g, f, true, 6);
    cr_assert_eq(
        index_set_filter(ix, slot_of(i), (size_t)f, g.filters[f].null, &g.filters[f].values, &err),
        0, "%s " SEEDFMT, err.msg, SEEDARG);
    ensure_alive(&model[i]);
    mfield_set(&model[i].f[f], g.filters[f].null, g.idx[f], (int)g.filters[f].values.count);
    model_dirty(i, &before, &model[i]);
}

static void op_set_sort(index_t *ix, int i)
{
    int s = below(2) ? S_A : (below(2) ? S_B : S_BIG);
    uint64_t v = random_sort_value(s);
    bdx_error_t err = {0};
    mdoc_t before = model[i];

    cr_assert_eq(index_set_sort(ix, slot_of(i), (size_t)s, v, &err), 0, "%s " SEEDFMT, err.msg,
                 SEEDARG);
    ensure_alive(&model[i]);
    model[i].has[s] = true;
    model[i].val[s] = v;
    model_recompute(&model[i]);
    model_dirty(i, &before, &model[i]);
}

static void op_clear_sort(index_t *ix, int i)
{
    int s = below(2) ? S_A : (below(2) ? S_B : S_BIG);
    bdx_error_t err = {0};
    mdoc_t before = model[i];

    cr_assert_eq(index_clear_sort(ix, slot_of(i), (size_t)s, &err), 0, "%s " SEEDFMT, err.msg,
                 SEEDARG);
    if (!model[i].alive)
        return; /* a missing document is not created */
    cr_assert(roaring_bitmap_contains(index_touched(ix), slot_of(i)));
    model[i].has[s] = false;
    model[i].val[s] = 0;
    model_recompute(&model[i]);
    model_dirty(i, &before, &model[i]); /* dirty only if the value was there */
}

static void op_set_stored(index_t *ix, int i)
{
    uint32_t v = below(4) ? (uint32_t)(1 + below(1000)) : 0;

    cr_assert_eq(index_set_stored(ix, slot_of(i), &v, v ? sizeof(v) : 0), 0);
    if (v != 0 || model[i].stored != 0)
        cr_assert(roaring_bitmap_contains(index_touched(ix), slot_of(i)), "touched");
    if (v != 0)
        ensure_alive(&model[i]);
    model[i].stored = v;
}

static void check_stored(const index_t *ix)
{
    uint32_t n = 0;

    for (int i = 0; i < NSLOT; i++) {
        size_t len;
        const uint8_t *b = index_stored(ix, slot_of(i), &len);
        uint32_t v = 0;
        if (b != NULL) {
            cr_assert_eq(len, sizeof(v));
            memcpy(&v, b, sizeof(v));
        }
        cr_assert_eq(v, model[i].stored, "slot %u stored " SEEDFMT, slot_of(i), SEEDARG);
        n += v != 0;
    }
    cr_assert_eq(docstore_count(index_docstore(ix)), n);
}

static void op_add_remove(index_t *ix, int i, bool remove)
{
    gen_t g;
    int f = below(2) ? F_TAGS : F_LABELS;
    bdx_error_t err = {0};
    mdoc_t before = model[i];
    mfield_t *mf = &model[i].f[f];
    int64_t merged[MAXV * 2];
    int n = 0;

    memset(&g, 0, sizeof(g));
    random_values(&g, f, false, 4);
    if (remove) {
        cr_assert_eq(index_remove_values(ix, slot_of(i), (size_t)f, &g.filters[f].values, &err), 0,
                     "%s " SEEDFMT, err.msg, SEEDARG);
        if (!model[i].alive || mf->kind != 1)
            return;
        for (int k = 0; k < mf->n; k++) {
            bool drop = false;
            for (size_t j = 0; j < g.filters[f].values.count; j++)
                drop |= g.idx[f][j] == mf->v[k];
            if (!drop)
                merged[n++] = mf->v[k];
        }
        mfield_set(mf, false, merged, n);
        return;
    }
    cr_assert_eq(index_add_values(ix, slot_of(i), (size_t)f, &g.filters[f].values, &err), 0,
                 "%s " SEEDFMT, err.msg, SEEDARG);
    if (g.filters[f].values.count == 0)
        return;
    if (mf->n + (int)g.filters[f].values.count > MAXV)
        cr_skip_test("model capacity"); /* unreachable with these sizes */
    ensure_alive(&model[i]);
    if (mf->kind == 1)
        for (int k = 0; k < mf->n; k++)
            merged[n++] = mf->v[k];
    for (size_t j = 0; j < g.filters[f].values.count; j++)
        merged[n++] = g.idx[f][j];
    mfield_set(mf, false, merged, n);
    model_dirty(i, &before, &model[i]);
}

Test(index, random_ops_vs_model, .timeout = 120)
{
    schema_t *s = make_schema();
    index_t *ix;
    bdx_error_t err = {0};

    seed_init();
    memset(model, 0, sizeof(model));
    memset(dirty, 0, sizeof(dirty));
    cr_assert_eq(index_new(s, &ix, &err), 0, "%s", err.msg);
    schema_free(s); /* the index holds its own copy */
    cr_assert_str_eq(index_schema(ix)->sort_fields[S_G].name, "g");
    check_all(ix);
    for (int round = 0; round < 40; round++) {
        for (int op = 0; op < 150; op++) {
            int i = (int)below(NSLOT);
            switch (below(10)) {
            case 0:
            case 1:
                op_write(ix, i, false);
                break;
            case 2:
            case 3:
                op_write(ix, i, true);
                break;
            case 4:
                op_delete(ix, i);
                break;
            case 5:
                op_set_filter(ix, i);
                break;
            case 6:
                switch (below(4)) {
                case 0:
                    op_clear_sort(ix, i);
                    break;
                case 1:
                    op_set_stored(ix, i);
                    break;
                default:
                    op_set_sort(ix, i);
                }
                break;
            case 7:
                op_add_remove(ix, i, false);
                break;
            default:
                op_add_remove(ix, i, true);
                break;
            }
            if (model[i].f[F_TAGS].n > MAXV - 4)
                op_delete(ix, i); /* keep the model's fixed arrays roomy */
        }
        check_all(ix);
        check_stored(ix);
        if (round % 5 == 4) {
            cr_assert_eq(index_rebuild_perms(ix), 0);
            memset(dirty, 0, sizeof(dirty));
            check_perms(ix);
            check_all(ix);
        }
        if (round % 7 == 6) {
            cr_assert_eq(index_optimize(ix), 0);
            check_all(ix);
        }
        if (round % 3 == 1) {
            /* packed (frozen view) bitmaps must behave the same under later writes */
            cr_assert_eq(index_freeze(ix), 0);
            check_all(ix);
        }
    }
    /* clean delete: deleting every document leaves no bit anywhere */
    for (int i = 0; i < NSLOT; i++)
        op_delete(ix, i);
    check_all(ix);
    for (int f = 0; f < NF; f++) {
        cr_assert_eq(index_filter_value_count(ix, (size_t)f), 0);
        cr_assert_null(index_filter_null(ix, (size_t)f));
        cr_assert(roaring_bitmap_is_empty(index_filter_exists(ix, (size_t)f)));
    }
    for (int k = 0; k < NSORT; k++) {
        const bsi_t *b = index_sort_bsi(ix, (size_t)k);
        cr_assert(roaring_bitmap_is_empty(bsi_exists(b)));
        for (unsigned bit = 0; bit < bsi_bits(b); bit++)
            cr_assert(roaring_bitmap_is_empty(bsi_slice(b, bit)));
    }
    cr_assert(roaring_bitmap_is_empty(index_alive(ix)));
    cr_assert_eq(index_max_slot(ix), -1);
    check_stored(ix);
    index_free(ix);
}

/* ---- rejected writes: code, message naming the field, and nothing changed ---- */

static void expect_rejected(int rc, const bdx_error_t *err, const char *field)
{
    cr_assert_eq(rc, BDX_EINVAL, "want EINVAL for %s, got %d", field, rc);
    cr_assert_eq(err->code, BDX_EINVAL);
    cr_assert_not_null(strstr(err->msg, field), "message '%s' must name '%s'", err->msg, field);
}

Test(index, validation_errors_change_nothing)
{
    schema_t *s = make_schema();
    index_t *ix;
    bdx_error_t err = {0};
    gen_t g;
    index_doc_t doc;
    int64_t two[2] = {1, 2}, bad_bool = 2;
    const char *strs[2] = {"a", "b"}, *nullstr[1] = {NULL};
    index_values_t v;

    seed_init();
    memset(model, 0, sizeof(model));
    memset(dirty, 0, sizeof(dirty));
    cr_assert_eq(index_new(s, &ix, &err), 0);
    schema_free(s);
    for (int i = 0; i < 50; i++)
        op_write(ix, i, false);
    check_all(ix);

    /* null on a non-nullable field */
    random_doc(&g);
    doc.filters = g.filters;
    doc.sorts = g.sorts;
    g.filters[F_LEVEL] = (index_doc_filter_t){.present = true, .null = true};
    expect_rejected(index_put(ix, slot_of(3), &doc, &err), &err, "level");
    expect_rejected(index_merge(ix, slot_of(3), &doc, &err), &err, "level");
    expect_rejected(index_check_doc(ix, &doc, &err), &err, "level");
    /* null together with values */
    random_doc(&g);
    g.filters[F_MODEL] = (index_doc_filter_t){
        .present = true, .null = true, .values = {.strings = strs, .count = 1}};
    expect_rejected(index_put(ix, slot_of(3), &doc, &err), &err, "model");
    /* several values on a single-valued field */
    random_doc(&g);
    g.filters[F_MODEL] =
        (index_doc_filter_t){.present = true, .values = {.strings = strs, .count = 2}};
    expect_rejected(index_put(ix, slot_of(4), &doc, &err), &err, "model");
    /* wrong types */
    random_doc(&g);
    g.filters[F_TAGS] =
        (index_doc_filter_t){.present = true, .values = {.strings = strs, .count = 2}};
    expect_rejected(index_put(ix, slot_of(4), &doc, &err), &err, "tags");
    random_doc(&g);
    g.filters[F_LABELS] =
        (index_doc_filter_t){.present = true, .values = {.ints = two, .count = 2}};
    expect_rejected(index_put(ix, slot_of(4), &doc, &err), &err, "labels");
    random_doc(&g);
    g.filters[F_LABELS] =
        (index_doc_filter_t){.present = true, .values = {.strings = nullstr, .count = 1}};
    expect_rejected(index_put(ix, slot_of(4), &doc, &err), &err, "labels");
    random_doc(&g);
    g.filters[F_FLAG] =
        (index_doc_filter_t){.present = true, .values = {.ints = &bad_bool, .count = 1}};
    expect_rejected(index_put(ix, slot_of(4), &doc, &err), &err, "flag");
    /* sort value wider than its bits; computed field written */
    random_doc(&g);
    g.sorts[S_B] = (index_doc_sort_t){.present = true, .value = 128};
    expect_rejected(index_put(ix, slot_of(5), &doc, &err), &err, "field b");
    random_doc(&g);
    g.sorts[S_G] = (index_doc_sort_t){.present = true, .value = 1};
    expect_rejected(index_merge(ix, slot_of(5), &doc, &err), &err, "field g");
    /* field-level */
    v = (index_values_t){.ints = two, .count = 2};
    expect_rejected(index_set_filter(ix, slot_of(6), F_LEVEL, false, &v, &err), &err, "level");
    expect_rejected(index_set_filter(ix, slot_of(6), F_LEVEL, true, NULL, &err), &err, "level");
    expect_rejected(index_check_filter(ix, F_LEVEL, true, NULL, &err), &err, "level");
    expect_rejected(index_add_values(ix, slot_of(6), F_LEVEL, &v, &err), &err, "level");
    expect_rejected(index_remove_values(ix, slot_of(6), F_MODEL, &v, &err), &err, "model");
    expect_rejected(index_check_values(ix, F_LEVEL, &v, &err), &err, "level");
    expect_rejected(index_set_sort(ix, slot_of(6), S_L, 1, &err), &err, "field l");
    expect_rejected(index_set_sort(ix, slot_of(6), S_B, 200, &err), &err, "field b");
    expect_rejected(index_check_sort(ix, S_B, 200, &err), &err, "field b");
    expect_rejected(index_set_filter(ix, slot_of(6), 99, false, &v, &err), &err, "#99");
    expect_rejected(index_set_sort(ix, slot_of(6), 99, 1, &err), &err, "#99");
    expect_rejected(index_clear_sort(ix, slot_of(6), S_G, &err), &err, "field g");
    expect_rejected(index_clear_sort(ix, slot_of(6), 99, &err), &err, "#99");
    cr_assert_eq(index_check_sort(ix, S_BIG, UINT64_MAX, &err), 0);
    /* none of it changed anything */
    check_all(ix);
    /* out-of-range reads are harmless */
    cr_assert_null(index_filter_value(ix, 99, 1));
    cr_assert_null(index_sort_bsi(ix, 99));
    cr_assert_null(index_dict(ix, F_LEVEL));
    cr_assert_not_null(index_dict(ix, F_MODEL));
    index_free(ix);
    index_free(NULL);
}

Test(index, bad_schema_is_rejected)
{
    schema_t *s = make_schema();
    index_t *ix = (index_t *)1;
    bdx_error_t err = {0};

    cr_assert_eq(schema_add_sort(s, "level", 8), 0);
    cr_assert_eq(index_new(s, &ix, &err), BDX_EINVAL);
    cr_assert_null(ix);
    cr_assert_not_null(strstr(err.msg, "level"));
    schema_free(s);
}

/* index_bulk_put gives exactly what index_put gives (checked against the same model). */
Test(index, bulk_put_vs_model)
{
    schema_t *s = make_schema();
    index_t *ix;
    bdx_error_t err = {0};

    seed_init();
    memset(model, 0, sizeof(model));
    memset(dirty, 0, sizeof(dirty));
    cr_assert_eq(index_new(s, &ix, &err), 0);
    schema_free(s);
    /* a few regular documents first, then a bulk run above them */
    for (int i = 0; i < 20; i++)
        op_write(ix, i, false);
    for (int i = 20; i < NSLOT; i++) {
        gen_t g;
        index_doc_t doc;
        mdoc_t before = model[i], *d = &model[i];
        if (below(4) == 0)
            continue; /* gaps */
        random_doc(&g);
        doc.filters = below(20) ? g.filters : NULL;
        doc.sorts = below(20) ? g.sorts : NULL;
        cr_assert_eq(index_bulk_put(ix, slot_of(i), &doc, &err), 0, "%s " SEEDFMT, err.msg,
                     SEEDARG);
        memset(d, 0, sizeof(*d));
        d->alive = true;
        for (int f = 0; f < NF; f++)
            if (doc.filters != NULL && g.filters[f].present)
                mfield_set(&d->f[f], g.filters[f].null, g.idx[f], (int)g.filters[f].values.count);
        for (int k = 0; k < NSORT; k++)
            if (k != S_G && k != S_L && doc.sorts != NULL && g.sorts[k].present) {
                d->has[k] = true;
                d->val[k] = g.sorts[k].value;
            }
        model_recompute(d);
        model_dirty(i, &before, d);
        /* slots must increase: the same slot again is refused */
        cr_assert_eq(index_bulk_put(ix, slot_of(i), &doc, &err), BDX_EINVAL);
        cr_assert_not_null(strstr(err.msg, "bulk slots must increase"));
    }
    cr_assert_eq(index_bulk_put(ix, slot_of(5), &(index_doc_t){NULL, NULL}, &err), BDX_EINVAL);
    cr_assert_eq(index_bulk_flush(ix), 0);
    cr_assert_eq(index_bulk_flush(ix), 0, "flush with nothing buffered");
    check_all(ix);
    /* regular writes after a bulk run (and a bulk run flushed implicitly by a write) */
    for (int op = 0; op < 300; op++)
        op_write(ix, (int)below(NSLOT), below(2));
    check_all(ix);
    cr_assert_eq(index_rebuild_perms(ix), 0);
    memset(dirty, 0, sizeof(dirty));
    check_perms(ix);
    index_free(ix);
}

/* Bulk load in slot order (the benchmark's path), then memory accounting. */
Test(index, bulk_load_and_memory)
{
    schema_t *s = make_schema();
    index_t *ix;
    bdx_error_t err = {0};
    index_memory_t st;
    enum {
        N = 500000
    }; /* ~5M buffered pairs: crosses the periodic flush */

    cr_assert_eq(index_new(s, &ix, &err), 0);
    schema_free(s);
    for (uint32_t slot = 0; slot < N; slot++) {
        int64_t level = slot % 7, tags[4] = {slot % 100, slot % 37 + 100, slot % 3 + 200, 7};
        const char *model_s[1] = {pool[slot % NPOOL]};
        index_doc_filter_t f[NF] = {
            [F_LEVEL] = {.present = true, .values = {.ints = &level, .count = 1}},
            [F_TAGS] = {.present = true, .values = {.ints = tags, .count = 4}},
            [F_MODEL] = {.present = true, .values = {.strings = model_s, .count = 1}},
            [F_FLAG] = {.present = true, .null = slot % 2 == 0},
        };
        index_doc_sort_t so[NSORT] = {[S_A] = {true, slot}, [S_B] = {true, slot % 100}};
        index_doc_t doc = {f, so};
        cr_assert_eq(slot < 1000 ? index_put(ix, slot, &doc, &err)
                                 : index_bulk_put(ix, slot, &doc, &err),
                     0, "%s", err.msg);
    }
    cr_assert_lt(index_doc_count(ix), N, "the last bulk batch is buffered until a flush");
    cr_assert_gt(index_doc_count(ix), 1000, "full batches were applied on the way");
    cr_assert_eq(index_optimize(ix), 0); /* flushes */
    cr_assert_eq(index_rebuild_perms(ix), 0);
    {
        index_memory_t before, after;
        index_memory(ix, &before);
        cr_assert_eq(index_freeze(ix), 0);
        index_memory(ix, &after);
        cr_assert_lt(after.filter_bitmaps, before.filter_bitmaps);
        /* packed values still take writes (copy-on-write) */
        int64_t t999 = 999;
        index_values_t v = {.ints = &t999, .count = 1};
        cr_assert_eq(index_add_values(ix, 7, F_TAGS, &v, &err), 0);
        cr_assert(roaring_bitmap_contains(index_filter_value(ix, F_TAGS, 999), 7));
        cr_assert_eq(index_remove_values(ix, 7, F_TAGS, &v, &err), 0);
        cr_assert_null(index_filter_value(ix, F_TAGS, 999));
    }
    cr_assert_eq(index_doc_count(ix), N);
    cr_assert_eq(bitmap_count(index_filter_value(ix, F_TAGS, 7)), N);
    cr_assert_eq(bitmap_count(index_filter_value(ix, F_LEVEL, 3)), N / 7 + (N % 7 > 3));
    cr_assert_eq(bitmap_count(index_filter_null(ix, F_FLAG)), N / 2);
    cr_assert_eq(permutation_count(index_sort_perm(ix, S_G)), N);
    cr_assert_eq(index_sort_value(ix, S_G, 5), 5);
    cr_assert_eq(index_sort_value(ix, S_L, 500), 0);
    cr_assert(roaring_bitmap_is_empty(index_sort_dirty(ix, S_A)));
    for (uint32_t slot = 0; slot < N; slot += 4999) {
        cr_assert(roaring_bitmap_contains(index_filter_value(ix, F_TAGS, slot % 100), slot));
        cr_assert(roaring_bitmap_contains(index_filter_value(ix, F_TAGS, slot % 37 + 100), slot));
        cr_assert_eq(index_sort_value(ix, S_B, slot), slot % 100);
        uint64_t v;
        cr_assert(bsi_get(index_sort_bsi(ix, S_G), slot, &v) && v == slot);
    }
    index_memory(ix, &st);
    cr_assert_eq(st.docs, N);
    cr_assert_gt(st.filter_bitmaps, 0);
    cr_assert_gt(st.sort_bitmaps, 0);
    cr_assert_eq(st.bitmaps, st.filter_bitmaps + st.sort_bitmaps + st.other_bitmaps);
    cr_assert_geq(st.columns, (size_t)N * (4 + 1 + 4 + 4));
    cr_assert_gt(st.permutations, 0);
    cr_assert_gt(st.forward, 0);
    cr_assert_gt(st.total, st.bitmaps);
    index_free(ix);
}

/* ---- freezing: a frozen index holds exactly the bitmaps of an unfrozen twin ---- */

typedef struct keyed {
    int64_t keys[4096];
    const roaring_bitmap_t *bms[4096];
    size_t n;
} keyed_t;

static bool collect_keyed(int64_t key, const roaring_bitmap_t *bm, void *arg)
{
    keyed_t *k = arg;
    cr_assert_lt(k->n, 4096);
    k->keys[k->n] = key;
    k->bms[k->n++] = bm;
    return true;
}

static void assert_same_bitmap(const roaring_bitmap_t *x, const roaring_bitmap_t *y,
                               const char *what, size_t i)
{
    bool xe = x == NULL || roaring_bitmap_is_empty(x);
    bool ye = y == NULL || roaring_bitmap_is_empty(y);
    cr_assert(xe == ye && (xe || roaring_bitmap_equals(x, y)), "%s #%zu differs " SEEDFMT, what, i,
              SEEDARG);
}

/* Every bitmap of a equals the one of b (a is frozen, b is not, or both). */
static void assert_same_index(const index_t *a, const index_t *b)
{
    static keyed_t ka, kb;

    assert_same_bitmap(index_alive(a), index_alive(b), "alive", 0);
    for (size_t f = 0; f < NF; f++) {
        ka.n = kb.n = 0;
        index_filter_range(a, f, INT64_MIN, INT64_MAX, collect_keyed, &ka);
        index_filter_range(b, f, INT64_MIN, INT64_MAX, collect_keyed, &kb);
        cr_assert_eq(ka.n, kb.n, "field %zu: value count " SEEDFMT, f, SEEDARG);
        for (size_t i = 0; i < ka.n; i++) {
            cr_assert_eq(ka.keys[i], kb.keys[i]);
            assert_same_bitmap(ka.bms[i], kb.bms[i], "value", f);
            assert_same_bitmap(index_filter_value(a, f, ka.keys[i]), ka.bms[i], "lookup", f);
        }
        assert_same_bitmap(index_filter_null(a, f), index_filter_null(b, f), "null", f);
        assert_same_bitmap(index_filter_exists(a, f), index_filter_exists(b, f), "exists", f);
    }
    for (size_t s = 0; s < NSORT; s++) {
        const bsi_t *x = index_sort_bsi(a, s), *y = index_sort_bsi(b, s);
        assert_same_bitmap(bsi_exists(x), bsi_exists(y), "bsi exists", s);
        for (unsigned bit = 0; bit < bsi_bits(x); bit++)
            assert_same_bitmap(bsi_slice(x, bit), bsi_slice(y, bit), "bsi slice", s);
        assert_same_bitmap(index_sort_dirty(a, s), index_sort_dirty(b, s), "dirty", s);
    }
}

/* The same random write to both indexes. */
static void twin_op(index_t *a, index_t *b)
{
    uint32_t slot = (uint32_t)below(NSLOT) * 37;
    bdx_error_t err = {0};
    gen_t g;
    index_doc_t doc;

    switch (below(4)) {
    case 0:
        cr_assert_eq(index_delete(a, slot), 0);
        cr_assert_eq(index_delete(b, slot), 0);
        return;
    case 1: {
        uint64_t v = below(1000);
        cr_assert_eq(index_set_sort(a, slot, S_A, v, &err), 0, "%s", err.msg);
        cr_assert_eq(index_set_sort(b, slot, S_A, v, &err), 0, "%s", err.msg);
        return;
    }
    default:
        random_doc(&g);
        doc.filters = g.filters;
        doc.sorts = g.sorts;
        cr_assert_eq(index_merge(a, slot, &doc, &err), 0, "%s", err.msg);
        cr_assert_eq(index_merge(b, slot, &doc, &err), 0, "%s", err.msg);
    }
}

Test(index, freeze_keeps_every_bitmap, .timeout = 120)
{
    schema_t *s = make_schema();
    index_t *a, *b;
    index_memory_t before, after, written;
    bdx_error_t err = {0};

    seed_init();
    cr_assert_eq(index_new(s, &a, &err), 0, "%s", err.msg);
    cr_assert_eq(index_new(s, &b, &err), 0, "%s", err.msg);
    schema_free(s);
    /* freezing an empty index works and changes nothing */
    cr_assert_eq(index_freeze(a), 0);
    assert_same_index(a, b);
    for (int i = 0; i < 2000; i++)
        twin_op(a, b);
    cr_assert_eq(index_optimize(a), 0);
    cr_assert_eq(index_rebuild_perms(a), 0);
    cr_assert_eq(index_rebuild_perms(b), 0);

    index_memory(a, &before);
    cr_assert_eq(index_freeze(a), 0);
    index_memory(a, &after);
    cr_assert_gt(after.frozen_arena, 0);
    cr_assert_eq(after.frozen_arena % BITMAP_FROZEN_ALIGN, 0);
    cr_assert_eq(after.frozen_live, after.frozen_arena, "right after a freeze all bytes are used");
    cr_assert_eq(after.frozen_view_count, 1, "no header before a read; alive was read (docs)");
    cr_assert_lt(after.bitmaps, before.bitmaps);
    cr_assert_geq(after.bitmaps, after.frozen_arena);
    assert_same_index(a, b);
    {
        index_memory_t read;
        index_memory(a, &read);
        cr_assert_gt(read.frozen_view_count, 0, "reads made view headers");
        cr_assert_eq(read.bitmaps - after.bitmaps, read.frozen_views - after.frozen_views,
                     "headers are counted");
    }

    /* writes after freezing copy on write; the arena bytes they leave stay counted */
    for (int round = 0; round < 6; round++) {
        for (int i = 0; i < 300; i++)
            twin_op(a, b);
        assert_same_index(a, b);
        index_memory(a, &written);
        cr_assert_lt(written.frozen_live, written.frozen_arena);
        if (round % 2 == 1) {
            cr_assert_eq(index_freeze(a), 0); /* again: frozen slots move to a new arena */
            assert_same_index(a, b);
        }
        if (round == 4) {
            cr_assert_eq(index_freeze(b), 0); /* both frozen */
            assert_same_index(a, b);
        }
    }
    index_free(a);
    index_free(b);
}

/* ---- ids at the ends of the uint32 range ---- */

/* Any uint32 is a valid id: documents at 0, 2^31, 2^32 - 2 and 2^32 - 1 are put, merged, read
 * and deleted like any other, and the index's memory (and the images a generation would write
 * of its columns and per-slot stores) follow the documents, not the highest id. */
Test(index, extreme_ids)
{
    static const uint32_t ids[] = {0, 1u << 31, UINT32_MAX - 1, UINT32_MAX};
    enum {
        NIDS = 4
    };
    schema_t *s = make_schema();
    index_t *ix;
    bdx_error_t err = {0};
    index_memory_t mem;
    docvalues_rec_t rec = {0};

    cr_assert_eq(index_new(s, &ix, &err), 0, "%s", err.msg);
    schema_free(s);
    for (int k = 0; k < NIDS; k++) {
        int64_t level = k - 2, tags[3] = {7, k, 100 + k};
        const char *mod[1] = {pool[k]}, *labels[2] = {pool[k + 1], pool[k + 2]};
        index_doc_filter_t f[NF] = {
            [F_LEVEL] = {true, false, {.ints = &level, .count = 1}},
            [F_TAGS] = {true, false, {.ints = tags, .count = 3}},
            [F_MODEL] = {true, false, {.strings = mod, .count = 1}},
            [F_LABELS] = {true, false, {.strings = labels, .count = 2}},
        };
        index_doc_sort_t so[NSORT] = {[S_A] = {true, ids[k] >> 1},
                                      [S_B] = {true, (uint64_t)k},
                                      [S_BIG] = {true, UINT64_MAX - k}};
        index_doc_t d = {f, so};
        uint32_t blob = 0xB10B0000u + (uint32_t)k;
        cr_assert_eq(index_put(ix, ids[k], &d, &err), 0, "id %u: %s", ids[k], err.msg);
        cr_assert_eq(index_set_stored(ix, ids[k], &blob, sizeof(blob)), 0, "id %u", ids[k]);
    }
    /* merge: a new sort value and a flag; add and remove values */
    for (int k = 0; k < NIDS; k++) {
        int64_t one = 1, seven = 7, extra = 55;
        index_doc_filter_t f[NF] = {[F_FLAG] = {true, false, {.ints = &one, .count = 1}}};
        index_doc_sort_t so[NSORT] = {[S_B] = {true, 100 + (uint64_t)k}};
        index_doc_t d = {f, so};
        index_values_t rm = {.ints = &seven, .count = 1}, add = {.ints = &extra, .count = 1};
        cr_assert_eq(index_merge(ix, ids[k], &d, &err), 0, "id %u: %s", ids[k], err.msg);
        cr_assert_eq(index_remove_values(ix, ids[k], F_TAGS, &rm, &err), 0, "%s", err.msg);
        cr_assert_eq(index_add_values(ix, ids[k], F_TAGS, &add, &err), 0, "%s", err.msg);
    }
    cr_assert_eq(index_doc_count(ix), NIDS);
    cr_assert_eq(index_max_slot(ix), (int64_t)UINT32_MAX);
    cr_assert_eq(docvalues_rec_init(&rec, NF), 0);
    for (int k = 0; k < NIDS; k++) {
        size_t len, n;
        uint32_t blob;
        const uint8_t *b = index_stored(ix, ids[k], &len);
        int64_t key;
        cr_assert(index_doc_exists(ix, ids[k]));
        cr_assert_eq(index_sort_value(ix, S_A, ids[k]), ids[k] >> 1, "id %u", ids[k]);
        cr_assert_eq(index_sort_value(ix, S_B, ids[k]), 100 + (uint64_t)k);
        cr_assert_eq(index_sort_value(ix, S_G, ids[k]),
                     (ids[k] >> 1) > 100u + k ? ids[k] >> 1 : 100u + k);
        cr_assert_eq(index_sort_value(ix, S_BIG, ids[k]), UINT64_MAX - k);
        cr_assert(roaring_bitmap_contains(bsi_exists(index_sort_bsi(ix, S_BIG)), ids[k]));
        cr_assert(roaring_bitmap_contains(index_filter_value(ix, F_TAGS, 55), ids[k]));
        cr_assert(roaring_bitmap_contains(index_filter_value(ix, F_FLAG, 1), ids[k]));
        cr_assert_eq(dictionary_lookup(index_dict(ix, F_MODEL), pool[k], &key), 0);
        cr_assert(roaring_bitmap_contains(index_filter_value(ix, F_MODEL, key), ids[k]));
        cr_assert_eq(index_doc_filters(ix, ids[k], &rec), 0);
        const int64_t *keys = docvalues_rec_keys(&rec, F_TAGS, &n);
        cr_assert_eq(n, 3, "id %u tags", ids[k]); /* {k, 100 + k, 55}, 7 removed */
        for (size_t j = 0; j < n; j++)
            cr_assert(keys[j] == k || keys[j] == 100 + k || keys[j] == 55);
        cr_assert_not_null(b, "id %u stored", ids[k]);
        cr_assert_eq(len, sizeof(blob));
        memcpy(&blob, b, sizeof(blob));
        cr_assert_eq(blob, 0xB10B0000u + (uint32_t)k);
    }
    cr_assert_null(index_filter_value(ix, F_TAGS, 7));
    cr_assert_eq(index_sort_value(ix, S_A, UINT32_MAX - 2), 0);
    cr_assert_eq(index_rebuild_perms(ix), 0);
    const permutation_t *perm = index_sort_perm(ix, S_A);
    cr_assert_eq(permutation_count(perm), NIDS);
    for (uint32_t i = 0; i < NIDS; i++)
        cr_assert_eq(permutation_slot(perm, i), ids[i], "ascending a = id / 2");
    cr_assert_eq(index_freeze(ix), 0);

    /* memory, and the images of the per-slot structures, are small */
    index_memory(ix, &mem);
    cr_assert_lt(mem.columns, 1u << 20, "columns %zu bytes for 4 documents", mem.columns);
    cr_assert_lt(mem.total, 4u << 20, "%zu bytes for 4 documents", mem.total);
    for (size_t k = 0; k < NSORT; k++)
        cr_assert_lt(column_image_size(index_sort_column(ix, k)), 1u << 20, "column %zu image", k);
    cr_assert_lt(slotstore_image_size(docstore_slots(index_docstore(ix))), 1u << 20,
                 "docstore image");

    /* deletes clean up at the ends too */
    for (int k = NIDS - 1; k >= 0; k--) {
        size_t len;
        cr_assert_eq(index_delete(ix, ids[k]), 0);
        cr_assert_not(index_doc_exists(ix, ids[k]));
        cr_assert_null(index_stored(ix, ids[k], &len));
        cr_assert_not(roaring_bitmap_contains(bsi_exists(index_sort_bsi(ix, S_A)), ids[k]));
    }
    cr_assert_eq(index_max_slot(ix), -1);
    cr_assert_null(index_filter_value(ix, F_TAGS, 55));
    cr_assert_eq(docstore_count(index_docstore(ix)), 0);
    docvalues_rec_free(&rec);
    index_free(ix);
}

/*
 * test_oracle: the query engine against a brute-force model.
 *
 * Each round builds a random schema (filter fields of every type, single/multi, nullable; sort
 * fields of 1, 3, 8, 32 and 64 bits and a computed greatest/least), loads random documents into
 * both an index and a plain array of documents (heavy ties, 0 and 2^bits-1, nulls, multi-values,
 * gaps in the slots; some single-valued fields dense: every document has a value, one value on
 * ~90 % of them, which exercises the complement forms), then changes some (deletes, merges, field sets, value adds/removes) with
 * the sort permutations rebuilt at random points so that some sort fields have dirty slots.
 * Then it generates random query trees of every clause kind and checks, for every sort strategy
 * in turn, that paging through the whole result with random page sizes yields exactly the
 * model's list — evaluated document by document and ordered with qsort by (value, slot) — and
 * that totals and counts agree.
 *
 * The model knows nothing about bitmaps: it evaluates each clause per document from the
 * documents it stores.
 *
 *   BITDEX_TEST_SEED=<n>      reproduce a run (the seed is printed on failure)
 *   BITDEX_ORACLE_CASES=<n>   number of queries to check (default 2400)
 */
#include <criterion/criterion.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/search.h"

#define NF_MAX 8
#define NS_MAX 7
#define MV_MAX 4

/* ---- random numbers ---- */

typedef struct rng {
    uint64_t s;
} rng_t;

static uint64_t rnd(rng_t *r)
{
    uint64_t z = (r->s += UINT64_C(0x9e3779b97f4a7c15));
    z = (z ^ (z >> 30)) * UINT64_C(0xbf58476d1ce4e5b9);
    z = (z ^ (z >> 27)) * UINT64_C(0x94d049bb133111eb);
    return z ^ (z >> 31);
}

static uint64_t below(rng_t *r, uint64_t n)
{
    return n ? rnd(r) % n : 0;
}

static bool chance(rng_t *r, double p)
{
    return (double)(rnd(r) >> 11) / 9007199254740992.0 < p;
}

/* ---- the model ---- */

static const char *const STRS[] = {"a", "b", "ab", "zz", "h\xc3\xa9llo", "with space", "x\"q"};
#define NSTR (sizeof(STRS) / sizeof(STRS[0]))
static const int64_t INTS[] = {-3, -2, -1, 0, 1, 2, 3, 4, 5, 1000000, INT64_MIN, INT64_MAX};
#define NINTS (sizeof(INTS) / sizeof(INTS[0]))
static const unsigned BITS[] = {1, 3, 8, 32, 64};

typedef struct mfield {
    char name[16];
    schema_field_type_t type;
    bool multi, nullable;
    bool dense; /* every document has a value, one value on ~90 % (complement forms) */
} mfield_t;

typedef struct msort {
    char name[16];
    unsigned bits;
    schema_computed_t computed;
    int src[2];
} msort_t;

typedef struct mdoc {
    bool alive;
    bool null[NF_MAX];
    uint8_t n[NF_MAX];
    int64_t v[NF_MAX][MV_MAX]; /* ints, bools (0/1) or indexes into STRS */
    bool has[NS_MAX];
    uint64_t s[NS_MAX];
} mdoc_t;

typedef struct model {
    rng_t rng;
    uint64_t seed;
    int nf, ns;
    mfield_t f[NF_MAX];
    msort_t s[NS_MAX];
    uint32_t nslots;
    mdoc_t *docs;
    schema_t *schema;
    index_t *ix;
    roaring_bitmap_t *pre_even, *pre_third; /* prefilter bitmaps (include dead slots) */
} model_t;

static uint64_t bits_max(unsigned bits)
{
    return bits >= 64 ? UINT64_MAX : (UINT64_C(1) << bits) - 1;
}

static int64_t rand_filter_value(model_t *m, int f)
{
    switch (m->f[f].type) {
    case SCHEMA_BOOL:
        return (int64_t)below(&m->rng, 2);
    case SCHEMA_STRING:
        return (int64_t)below(&m->rng, NSTR);
    default:
        /* mostly a small set (ties), sometimes the extremes */
        return chance(&m->rng, 0.8) ? INTS[below(&m->rng, 9)] : INTS[below(&m->rng, NINTS)];
    }
}

static uint64_t rand_sort_value(model_t *m, unsigned bits)
{
    uint64_t max = bits_max(bits);
    if (chance(&m->rng, 0.65)) {
        uint64_t pick[] = {0, 1, 2, max, max - 1, 7};
        uint64_t v = pick[below(&m->rng, 6)];
        return v > max ? max : v;
    }
    return rnd(&m->rng) & max;
}

static bool has_value(const mdoc_t *d, int f, int64_t v)
{
    for (int i = 0; i < d->n[f]; i++)
        if (d->v[f][i] == v)
            return true;
    return false;
}

static void add_value(model_t *m, mdoc_t *d, int f, int64_t v)
{
    if (has_value(d, f, v))
        return;
    if (!m->f[f].multi)
        d->n[f] = 0;
    if (d->n[f] < MV_MAX)
        d->v[f][d->n[f]++] = v;
    d->null[f] = false;
}

/* A random new state for field f of d: null, no value, or values. */
static void rand_field(model_t *m, mdoc_t *d, int f)
{
    d->n[f] = 0;
    d->null[f] = false;
    if (m->f[f].dense) {
        add_value(m, d, f, chance(&m->rng, 0.9) ? 1 : rand_filter_value(m, f));
        return;
    }
    if (m->f[f].nullable && chance(&m->rng, 0.15)) {
        d->null[f] = true;
        return;
    }
    if (chance(&m->rng, 0.15))
        return;
    int n = m->f[f].multi ? 1 + (int)below(&m->rng, MV_MAX) : 1;
    for (int i = 0; i < n; i++)
        add_value(m, d, f, rand_filter_value(m, f));
}

static void compute(model_t *m, mdoc_t *d)
{
    for (int i = 0; i < m->ns; i++) {
        if (m->s[i].computed == SCHEMA_COMPUTED_NONE)
            continue;
        bool present = false;
        uint64_t v = 0;
        for (int k = 0; k < 2; k++) {
            int src = m->s[i].src[k];
            if (!d->has[src])
                continue;
            uint64_t x = d->s[src];
            if (!present || (m->s[i].computed == SCHEMA_COMPUTED_GREATEST ? x > v : x < v))
                v = x;
            present = true;
        }
        d->has[i] = present;
        d->s[i] = present ? v : 0;
    }
}

/* ---- applying the same change to the index and the model ---- */

typedef struct docbuf {
    index_doc_filter_t filters[NF_MAX];
    index_doc_sort_t sorts[NS_MAX];
    int64_t ints[NF_MAX][MV_MAX];
    const char *strs[NF_MAX][MV_MAX];
} docbuf_t;

static void values_of(model_t *m, const mdoc_t *d, int f, docbuf_t *b, index_values_t *out)
{
    memset(out, 0, sizeof(*out));
    out->count = d->n[f];
    if (m->f[f].type == SCHEMA_STRING) {
        for (int i = 0; i < d->n[f]; i++)
            b->strs[f][i] = STRS[d->v[f][i]];
        out->strings = b->strs[f];
    } else {
        for (int i = 0; i < d->n[f]; i++)
            b->ints[f][i] = d->v[f][i];
        out->ints = b->ints[f];
    }
}

/* Writes `d` with index_put (all fields; `present` chosen per field) or index_merge. */
static void apply_doc(model_t *m, uint32_t slot, bool merge)
{
    mdoc_t *cur = &m->docs[slot];
    mdoc_t next;
    docbuf_t b;
    bdx_error_t err;
    memset(&b, 0, sizeof(b));
    if (merge && cur->alive)
        next = *cur;
    else
        memset(&next, 0, sizeof(next));
    next.alive = true;
    for (int f = 0; f < m->nf; f++) {
        bool present = merge ? chance(&m->rng, 0.5) : chance(&m->rng, 0.9);
        if (m->f[f].dense && !merge)
            present = true;
        b.filters[f].present = present;
        if (!present) {
            if (!merge) {
                next.n[f] = 0;
                next.null[f] = false;
            }
            continue;
        }
        rand_field(m, &next, f);
        b.filters[f].null = next.null[f];
        values_of(m, &next, f, &b, &b.filters[f].values);
    }
    for (int s = 0; s < m->ns; s++) {
        if (m->s[s].computed != SCHEMA_COMPUTED_NONE)
            continue;
        bool present = merge ? chance(&m->rng, 0.5) : chance(&m->rng, 0.9);
        b.sorts[s].present = present;
        if (present) {
            next.has[s] = true;
            next.s[s] = rand_sort_value(m, m->s[s].bits);
            b.sorts[s].value = next.s[s];
        } else if (!merge) {
            next.has[s] = false;
            next.s[s] = 0;
        }
    }
    compute(m, &next);
    index_doc_t doc = {.filters = b.filters, .sorts = b.sorts};
    int rc = merge ? index_merge(m->ix, slot, &doc, &err) : index_put(m->ix, slot, &doc, &err);
    cr_assert_eq(rc, 0, "seed %" PRIu64 ": %s slot %u: %s", m->seed, merge ? "merge" : "put", slot,
                 bdx_error_message(&err));
    *cur = next;
}

static void apply_delete(model_t *m, uint32_t slot)
{
    cr_assert_eq(index_delete(m->ix, slot), 0);
    memset(&m->docs[slot], 0, sizeof(mdoc_t));
}

static void apply_set_filter(model_t *m, uint32_t slot)
{
    mdoc_t *d = &m->docs[slot];
    docbuf_t b;
    index_values_t vals;
    bdx_error_t err;
    int f = (int)below(&m->rng, (uint64_t)m->nf);
    if (!d->alive)
        memset(d, 0, sizeof(*d));
    d->alive = true;
    rand_field(m, d, f);
    values_of(m, d, f, &b, &vals);
    int rc = index_set_filter(m->ix, slot, (size_t)f, d->null[f], &vals, &err);
    cr_assert_eq(rc, 0, "seed %" PRIu64 ": set_filter: %s", m->seed, bdx_error_message(&err));
    compute(m, d);
}

static void apply_set_sort(model_t *m, uint32_t slot)
{
    mdoc_t *d = &m->docs[slot];
    bdx_error_t err;
    int s = (int)below(&m->rng, (uint64_t)m->ns);
    if (m->s[s].computed != SCHEMA_COMPUTED_NONE)
        s = m->s[s].src[0];
    if (chance(&m->rng, 0.3)) { /* clear: a no-op on a missing document or an absent value */
        int rc = index_clear_sort(m->ix, slot, (size_t)s, &err);
        cr_assert_eq(rc, 0, "seed %" PRIu64 ": clear_sort: %s", m->seed, bdx_error_message(&err));
        if (d->alive) {
            d->has[s] = false;
            d->s[s] = 0;
            compute(m, d);
        }
        return;
    }
    if (!d->alive)
        memset(d, 0, sizeof(*d));
    d->alive = true;
    d->has[s] = true;
    d->s[s] = rand_sort_value(m, m->s[s].bits);
    int rc = index_set_sort(m->ix, slot, (size_t)s, d->s[s], &err);
    cr_assert_eq(rc, 0, "seed %" PRIu64 ": set_sort: %s", m->seed, bdx_error_message(&err));
    compute(m, d);
}

static void apply_add_remove(model_t *m, uint32_t slot)
{
    int f = -1;
    for (int tries = 0; tries < 8 && f < 0; tries++) {
        int c = (int)below(&m->rng, (uint64_t)m->nf);
        if (m->f[c].multi)
            f = c;
    }
    if (f < 0)
        return;
    mdoc_t *d = &m->docs[slot];
    bool remove = chance(&m->rng, 0.5);
    int64_t vals[2] = {rand_filter_value(m, f), rand_filter_value(m, f)};
    if (remove && d->alive && d->n[f] && chance(&m->rng, 0.7))
        vals[0] = d->v[f][below(&m->rng, d->n[f])];
    int nv = 1 + (int)below(&m->rng, 2);
    if (!remove && d->alive && d->n[f] + nv > MV_MAX)
        return; /* the model holds at most MV_MAX values */
    docbuf_t b;
    index_values_t iv = {.count = (size_t)nv};
    for (int i = 0; i < nv; i++) {
        b.ints[0][i] = vals[i];
        b.strs[0][i] = STRS[m->f[f].type == SCHEMA_STRING ? vals[i] : 0];
    }
    if (m->f[f].type == SCHEMA_STRING)
        iv.strings = b.strs[0];
    else
        iv.ints = b.ints[0];
    bdx_error_t err;
    int rc = remove ? index_remove_values(m->ix, slot, (size_t)f, &iv, &err)
                    : index_add_values(m->ix, slot, (size_t)f, &iv, &err);
    cr_assert_eq(rc, 0, "seed %" PRIu64 ": add/remove: %s", m->seed, bdx_error_message(&err));
    if (remove) {
        if (!d->alive)
            return;
        for (int i = 0; i < nv; i++) {
            int w = 0;
            for (int j = 0; j < d->n[f]; j++)
                if (d->v[f][j] != vals[i])
                    d->v[f][w++] = d->v[f][j];
            d->n[f] = (uint8_t)w;
        }
        return;
    }
    if (!d->alive) {
        memset(d, 0, sizeof(*d));
        d->alive = true;
    }
    for (int i = 0; i < nv; i++)
        add_value(m, d, f, vals[i]);
    compute(m, d);
}

/* ---- building a round ---- */

static void model_free(model_t *m)
{
    index_free(m->ix);
    schema_free(m->schema);
    free(m->docs);
    if (m->pre_even)
        roaring_bitmap_free(m->pre_even);
    if (m->pre_third)
        roaring_bitmap_free(m->pre_third);
}

static void model_build(model_t *m, uint64_t seed, int size_class)
{
    bdx_error_t err;
    memset(m, 0, sizeof(*m));
    m->seed = seed;
    m->rng.s = seed;
    cr_assert_eq(schema_new("oracle", &m->schema), 0);

    m->nf = 2 + (int)below(&m->rng, NF_MAX - 1);
    for (int i = 0; i < m->nf; i++) {
        mfield_t *f = &m->f[i];
        snprintf(f->name, sizeof(f->name), "f%d", i);
        f->type = (schema_field_type_t)(i < 3 ? i : (int)below(&m->rng, 3));
        f->multi = chance(&m->rng, 0.35);
        f->nullable = chance(&m->rng, 0.5);
        f->dense = !f->multi && f->type != SCHEMA_STRING && chance(&m->rng, 0.3);
        cr_assert_eq(schema_add_filter(m->schema, f->name, f->type, f->multi, f->nullable), 0);
    }
    int plain = 1 + (int)below(&m->rng, 5);
    for (int i = 0; i < plain; i++) {
        msort_t *s = &m->s[m->ns++];
        snprintf(s->name, sizeof(s->name), "s%d", i);
        s->bits = BITS[i < 5 && chance(&m->rng, 0.6) ? i : (int)below(&m->rng, 5)];
        cr_assert_eq(schema_add_sort(m->schema, s->name, s->bits), 0);
    }
    if (plain >= 2 && chance(&m->rng, 0.7)) {
        msort_t *s = &m->s[m->ns++];
        snprintf(s->name, sizeof(s->name), "c0");
        s->computed = chance(&m->rng, 0.5) ? SCHEMA_COMPUTED_GREATEST : SCHEMA_COMPUTED_LEAST;
        s->src[0] = (int)below(&m->rng, (uint64_t)plain);
        s->src[1] = (s->src[0] + 1 + (int)below(&m->rng, (uint64_t)plain - 1)) % plain;
        unsigned a = m->s[s->src[0]].bits, b = m->s[s->src[1]].bits;
        s->bits = a > b ? a : b;
        cr_assert_eq(schema_add_computed_sort(m->schema, s->name, s->bits, s->computed,
                                              m->s[s->src[0]].name, m->s[s->src[1]].name),
                     0);
    }
    cr_assert_eq(schema_add_stored(m->schema, "title", SCHEMA_STRING), 0);
    int rc = index_new(m->schema, &m->ix, &err);
    cr_assert_eq(rc, 0, "index_new: %s", bdx_error_message(&err));

    switch (size_class) {
    case 0:
        m->nslots = 8 + (uint32_t)below(&m->rng, 120);
        break;
    case 1:
        m->nslots = 100 + (uint32_t)below(&m->rng, 900);
        break;
    case 2:
        m->nslots = 1000 + (uint32_t)below(&m->rng, 4000);
        break;
    default:
        m->nslots = 40000 + (uint32_t)below(&m->rng, 30000);
        break;
    }
    m->docs = calloc(m->nslots, sizeof(mdoc_t));
    cr_assert(m->docs);

    /* load: most slots in increasing order (bulk-load shape), some gaps */
    double fill = 0.3 + 0.65 * (double)below(&m->rng, 100) / 100.0;
    if (chance(&m->rng, 0.03))
        fill = 0.0; /* an empty index (changes below may still add a few documents) */
    for (uint32_t slot = 0; slot < m->nslots; slot++)
        if (chance(&m->rng, fill))
            apply_doc(m, slot, false);
    if (chance(&m->rng, 0.75))
        cr_assert_eq(index_rebuild_perms(m->ix), 0);

    /* change some: deletes, merges, field-level writes, re-puts */
    uint32_t changes = (uint32_t)below(&m->rng, m->nslots / 3 + 2);
    if (size_class == 3)
        changes = (uint32_t)below(&m->rng, 3000);
    for (uint32_t i = 0; i < changes; i++) {
        uint32_t slot = (uint32_t)below(&m->rng, m->nslots);
        switch (below(&m->rng, 6)) {
        case 0:
            apply_delete(m, slot);
            break;
        case 1:
            apply_doc(m, slot, true);
            break;
        case 2:
            apply_doc(m, slot, false);
            break;
        case 3:
            apply_set_filter(m, slot);
            break;
        case 4:
            apply_set_sort(m, slot);
            break;
        default:
            apply_add_remove(m, slot);
            break;
        }
        if (chance(&m->rng, 0.002))
            cr_assert_eq(index_rebuild_perms(m->ix), 0);
    }
    if (chance(&m->rng, 0.1))
        cr_assert_eq(index_rebuild_perms(m->ix), 0);

    m->pre_even = roaring_bitmap_create();
    m->pre_third = roaring_bitmap_create();
    for (uint32_t slot = 0; slot < m->nslots + 8; slot++) {
        if (slot % 2 == 0)
            roaring_bitmap_add(m->pre_even, slot);
        if (slot % 3 == 0)
            roaring_bitmap_add(m->pre_third, slot);
    }
}

/* ---- the model's evaluator ---- */

static int find_filter(const model_t *m, const char *name)
{
    for (int i = 0; i < m->nf; i++)
        if (strcmp(m->f[i].name, name) == 0)
            return i;
    return -1;
}

static int find_sort(const model_t *m, const char *name)
{
    for (int i = 0; i < m->ns; i++)
        if (strcmp(m->s[i].name, name) == 0)
            return i;
    return -1;
}

/* The model value a query value stands for; false when no document can hold it. */
static bool model_key(const model_t *m, int f, const query_value_t *v, int64_t *key)
{
    if (m->f[f].type != SCHEMA_STRING) {
        *key = v->i;
        return true;
    }
    for (size_t i = 0; i < NSTR; i++) {
        if (strlen(STRS[i]) == v->len && memcmp(STRS[i], v->s, v->len) == 0) {
            *key = (int64_t)i;
            return true;
        }
    }
    return false;
}

/* Does a value x satisfy a comparison (ranges and Eq) against the node's values? */
static bool cmp_signed(const query_node_t *n, int64_t x)
{
    switch (n->op) {
    case QUERY_EQ:
        return x == n->values[0].i;
    case QUERY_GT:
        return x > n->values[0].i;
    case QUERY_GTE:
        return x >= n->values[0].i;
    case QUERY_LT:
        return x < n->values[0].i;
    case QUERY_LTE:
        return x <= n->values[0].i;
    case QUERY_BETWEEN:
        return x >= n->values[0].i && x <= n->values[1].i;
    default:
        cr_assert_fail("cmp_signed: op %d", n->op);
        return false;
    }
}

static bool cmp_unsigned(const query_node_t *n, uint64_t x)
{
    uint64_t a = (uint64_t)n->values[0].i;
    switch (n->op) {
    case QUERY_EQ:
        return x == a;
    case QUERY_GT:
        return x > a;
    case QUERY_GTE:
        return x >= a;
    case QUERY_LT:
        return x < a;
    case QUERY_LTE:
        return x <= a;
    case QUERY_BETWEEN:
        return x >= a && x <= (uint64_t)n->values[1].i;
    default:
        cr_assert_fail("cmp_unsigned: op %d", n->op);
        return false;
    }
}

static bool in_list_u(const query_node_t *n, uint64_t x)
{
    for (size_t i = 0; i < n->nvalues; i++)
        if ((uint64_t)n->values[i].i == x)
            return true;
    return false;
}

static bool model_match(const model_t *m, const query_node_t *n, uint32_t slot)
{
    const mdoc_t *d = &m->docs[slot];
    switch (n->op) {
    case QUERY_AND:
        for (size_t i = 0; i < n->nchildren; i++)
            if (!model_match(m, n->children[i], slot))
                return false;
        return true;
    case QUERY_OR:
        for (size_t i = 0; i < n->nchildren; i++)
            if (model_match(m, n->children[i], slot))
                return true;
        return false;
    case QUERY_NOT:
        return !model_match(m, n->children[0], slot);
    case QUERY_PREFILTER:
        return strcmp(n->field, "even") == 0 ? slot % 2 == 0 : slot % 3 == 0;
    default:
        break;
    }
    if (strcmp(n->field, "id") == 0) {
        switch (n->op) {
        case QUERY_IS_NULL:
            return false;
        case QUERY_IS_NOT_NULL:
            return true;
        case QUERY_IN:
            return in_list_u(n, slot);
        case QUERY_NOT_EQ:
            return slot != (uint64_t)n->values[0].i;
        case QUERY_NOT_IN:
            return !in_list_u(n, slot);
        default:
            return cmp_unsigned(n, slot);
        }
    }
    int s = find_sort(m, n->field);
    if (s >= 0) {
        bool has = d->has[s];
        uint64_t x = d->s[s];
        switch (n->op) {
        case QUERY_IS_NULL:
            return !has;
        case QUERY_IS_NOT_NULL:
            return has;
        case QUERY_IN:
            return has && in_list_u(n, x);
        case QUERY_NOT_EQ:
            return has && x != (uint64_t)n->values[0].i;
        case QUERY_NOT_IN:
            return has && !in_list_u(n, x);
        default:
            return has && cmp_unsigned(n, x);
        }
    }
    int f = find_filter(m, n->field);
    cr_assert(f >= 0, "model: unknown field %s", n->field);
    int cnt = d->n[f];
    switch (n->op) {
    case QUERY_IS_NULL:
        return cnt == 0;
    case QUERY_IS_NOT_NULL:
        return cnt > 0;
    case QUERY_EQ:
    case QUERY_NOT_EQ:
    case QUERY_IN:
    case QUERY_NOT_IN: {
        bool any = false;
        for (size_t i = 0; i < n->nvalues && !any; i++) {
            int64_t key;
            if (model_key(m, f, &n->values[i], &key))
                any = has_value(d, f, key);
        }
        if (n->op == QUERY_EQ || n->op == QUERY_IN)
            return any;
        return cnt > 0 && !any;
    }
    default:
        for (int i = 0; i < cnt; i++)
            if (cmp_signed(n, d->v[f][i]))
                return true;
        return false;
    }
}

typedef struct row {
    uint64_t value;
    uint32_t slot;
} row_t;

static int row_asc(const void *a, const void *b)
{
    const row_t *x = a, *y = b;
    if (x->value != y->value)
        return x->value < y->value ? -1 : 1;
    return x->slot < y->slot ? -1 : x->slot > y->slot;
}

static int row_desc(const void *a, const void *b)
{
    return row_asc(b, a);
}

/* The expected full result: matching live documents in order. Caller frees. */
static row_t *model_query(const model_t *m, const query_node_t *filter, int sort, bool desc,
                          size_t *n)
{
    row_t *rows = malloc((m->nslots + 1) * sizeof(*rows));
    cr_assert(rows);
    size_t k = 0;
    for (uint32_t slot = 0; slot < m->nslots; slot++) {
        const mdoc_t *d = &m->docs[slot];
        if (!d->alive || (filter && !model_match(m, filter, slot)))
            continue;
        rows[k].slot = slot;
        rows[k].value = sort >= 0 && d->has[sort] ? d->s[sort] : 0;
        k++;
    }
    if (sort >= 0)
        qsort(rows, k, sizeof(*rows), desc ? row_desc : row_asc);
    else
        qsort(rows, k, sizeof(*rows), row_desc); /* values all 0: slot desc */
    *n = k;
    return rows;
}

/* ---- random queries ---- */

static query_value_t qval_filter(model_t *m, int f)
{
    switch (m->f[f].type) {
    case SCHEMA_BOOL:
        return query_bool(below(&m->rng, 2));
    case SCHEMA_STRING:
        return chance(&m->rng, 0.9) ? query_str(STRS[below(&m->rng, NSTR)]) : query_str("nope");
    default:
        if (chance(&m->rng, 0.15))
            return query_int((int64_t)below(&m->rng, 21) - 10);
        return query_int(INTS[below(&m->rng, NINTS)]);
    }
}

static query_value_t qval_sort(model_t *m, int s)
{
    uint64_t v = rand_sort_value(m, m->s[s].bits);
    if (chance(&m->rng, 0.1))
        v += below(&m->rng, 3); /* may step past max: validation would reject it */
    uint64_t max = bits_max(m->s[s].bits);
    if (v > max)
        v = max;
    if (v > (uint64_t)INT64_MAX)
        v = chance(&m->rng, 0.5) ? (uint64_t)INT64_MAX : v >> 1;
    return query_int((int64_t)v);
}

static query_value_t qval_slot(model_t *m)
{
    if (chance(&m->rng, 0.03))
        return query_int(UINT32_MAX);
    return query_int((int64_t)below(&m->rng, m->nslots + 4));
}

static query_node_t *gen_leaf(model_t *m)
{
    static const query_op_t all_ops[] = {
        QUERY_EQ, QUERY_NOT_EQ, QUERY_IN,      QUERY_NOT_IN,  QUERY_GT,         QUERY_GTE,
        QUERY_LT, QUERY_LTE,    QUERY_BETWEEN, QUERY_IS_NULL, QUERY_IS_NOT_NULL};
    static const query_op_t eq_ops[] = {QUERY_EQ,      QUERY_NOT_EQ,      QUERY_IN, QUERY_NOT_IN,
                                        QUERY_IS_NULL, QUERY_IS_NOT_NULL, QUERY_EQ, QUERY_IN};
    uint64_t pick = below(&m->rng, 100);
    if (pick < 3)
        return query_prefilter(chance(&m->rng, 0.5) ? "even" : "third");

    const char *field;
    query_op_t op;
    query_value_t vals[8];
    size_t nv = 0;
    enum {
        K_FILTER,
        K_SORT,
        K_SLOT
    } kind;
    int idx = 0;
    if (pick < 8) {
        kind = K_SLOT;
        field = "id";
        op = all_ops[below(&m->rng, 11)];
    } else if (pick < 45) {
        kind = K_SORT;
        idx = (int)below(&m->rng, (uint64_t)m->ns);
        field = m->s[idx].name;
        op = all_ops[below(&m->rng, 11)];
    } else {
        kind = K_FILTER;
        idx = (int)below(&m->rng, (uint64_t)m->nf);
        field = m->f[idx].name;
        op = m->f[idx].type == SCHEMA_INT ? all_ops[below(&m->rng, 11)] : eq_ops[below(&m->rng, 8)];
    }
    switch (op) {
    case QUERY_IS_NULL:
    case QUERY_IS_NOT_NULL:
        nv = 0;
        break;
    case QUERY_IN:
    case QUERY_NOT_IN:
        nv = below(&m->rng, 7);
        break;
    case QUERY_BETWEEN:
        nv = 2;
        break;
    default:
        nv = 1;
        break;
    }
    for (size_t i = 0; i < nv; i++)
        vals[i] = kind == K_SLOT   ? qval_slot(m)
                  : kind == K_SORT ? qval_sort(m, idx)
                                   : qval_filter(m, idx);
    if (op == QUERY_IN || op == QUERY_NOT_IN)
        return query_in(op, field, vals, nv);
    if (op == QUERY_BETWEEN) {
        if (chance(&m->rng, 0.8) && vals[0].i > vals[1].i) {
            query_value_t t = vals[0];
            vals[0] = vals[1];
            vals[1] = t;
        }
        return query_between(field, vals[0], vals[1]);
    }
    if (nv == 0)
        return query_null(op, field);
    return query_cmp(op, field, vals[0]);
}

static query_node_t *gen_node(model_t *m, int depth)
{
    if (depth >= 4 || chance(&m->rng, depth == 0 ? 0.3 : 0.55))
        return gen_leaf(m);
    uint64_t k = below(&m->rng, 10);
    if (k < 2)
        return query_not(gen_node(m, depth + 1));
    query_node_t *g = query_group(k < 6 ? QUERY_AND : QUERY_OR);
    size_t n = 1 + below(&m->rng, 4);
    for (size_t i = 0; i < n; i++) {
        query_node_t *c = gen_node(m, depth + 1);
        if (chance(&m->rng, 0.05))
            cr_assert_eq(query_add(g, query_node_clone(c)), 0); /* duplicate */
        cr_assert_eq(query_add(g, c), 0);
    }
    return g;
}

/* A filter-field leaf `op` on field f with random values (1..5 for In/NotIn; a dense field's
 * common value 1 often, so an exclusion removes most documents now and then). */
static query_node_t *filter_leaf(model_t *m, int f, query_op_t op)
{
    query_value_t vals[5];
    size_t nv = op == QUERY_IN || op == QUERY_NOT_IN ? 1 + below(&m->rng, 5)
                : op == QUERY_IS_NULL                ? 0
                                                     : 1;
    for (size_t i = 0; i < nv; i++) {
        vals[i] = qval_filter(m, f);
        if (m->f[f].dense && chance(&m->rng, 0.2))
            vals[i] = m->f[f].type == SCHEMA_BOOL ? query_bool(true) : query_int(1);
    }
    if (op == QUERY_IN || op == QUERY_NOT_IN)
        return query_in(op, m->f[f].name, vals, nv);
    if (nv == 0)
        return query_null(op, m->f[f].name);
    return query_cmp(op, m->f[f].name, vals[0]);
}

/*
 * An And made of complement-form clauses, the shape planner_count() counts as |alive - union|
 * (or |P| - |P AND union| with one positive child P): NotEq/NotIn on a dense field (every live
 * document has a value), IsNull on any filter field, Not(Eq/In) on any filter field; then, half
 * of the time, one arbitrary child. Random trees almost never produce it.
 */
static query_node_t *gen_exclusions(model_t *m)
{
    int dense[NF_MAX], nd = 0;
    for (int f = 0; f < m->nf; f++)
        if (m->f[f].dense)
            dense[nd++] = f;
    query_node_t *g = query_group(QUERY_AND);
    size_t n = 1 + below(&m->rng, 4);
    for (size_t i = 0; i < n; i++) {
        uint64_t k = below(&m->rng, nd ? 4 : 2);
        int f = (int)below(&m->rng, (uint64_t)m->nf);
        query_node_t *c;
        if (k == 0) {
            c = filter_leaf(m, f, QUERY_IS_NULL);
        } else if (k == 1) {
            c = query_not(filter_leaf(m, f, chance(&m->rng, 0.5) ? QUERY_EQ : QUERY_IN));
        } else {
            f = dense[below(&m->rng, (uint64_t)nd)];
            c = filter_leaf(m, f, k == 2 ? QUERY_NOT_EQ : QUERY_NOT_IN);
        }
        cr_assert_eq(query_add(g, c), 0);
    }
    if (chance(&m->rng, 0.5))
        cr_assert_eq(query_add(g, chance(&m->rng, 0.5) ? gen_leaf(m) : gen_node(m, 1)), 0);
    return g;
}

/* ---- checking ---- */

static uint64_t g_seed;
static uint64_t g_pages;

static int resolve(void *arg, const char *name, const roaring_bitmap_t **out, bdx_error_t *err)
{
    model_t *m = arg;
    if (strcmp(name, "even") == 0)
        *out = m->pre_even;
    else if (strcmp(name, "third") == 0)
        *out = m->pre_third;
    else
        return bdx_error_set(err, BDX_ENOTFOUND, "prefilter %s not registered", name);
    return 0;
}

static void fail_case(const model_t *m, const query_t *q, const char *strategy, const char *what)
{
    char *text = NULL, *canon = NULL;
    query_node_t *c = query_node_clone(q->filter);
    query_canonical_text(q->filter, &text);
    if (c && query_canonicalize(&c) == 0)
        query_canonical_text(c, &canon);
    fprintf(stderr,
            "oracle FAILED: BITDEX_TEST_SEED=%" PRIu64 " (round seed %" PRIu64 ")\n"
            "  strategy %s: %s\n  query: %s\n  canonical: %s\n  sort: %s %s\n",
            g_seed, m->seed, strategy, what, text ? text : "?", canon ? canon : "?",
            q->sort_field ? q->sort_field : "(none)", q->sort_desc ? "desc" : "asc");
    free(text);
    free(canon);
    query_node_free(c);
}

/* Pages through the whole result with `force` and compares with the expected rows. */
static bool check_strategy(model_t *m, query_t *q, sort_strategy_t force, const row_t *want,
                           size_t nwant)
{
    sort_thresholds_t th;
    sort_thresholds_default(&th);
    if (force == SORT_AUTO && chance(&m->rng, 0.5)) {
        uint64_t mm[] = {0, 5, 100, 16384};
        uint64_t ws[] = {0, 50, 1000, 100000};
        th.materialize_max = mm[below(&m->rng, 4)];
        th.walk_max_scan = ws[below(&m->rng, 4)];
        th.walk_max_dirty = chance(&m->rng, 0.5) ? 0 : 1u << 20;
    }
    search_options_t opt = {
        .thresholds = &th, .force = force, .prefilter = resolve, .prefilter_arg = m};
    const char *sname = sort_strategy_name(force);
    size_t pos = 0;
    /* small pages on small results (ties split across pages); about 4..40 pages otherwise */
    uint64_t maxlim = chance(&m->rng, 0.5) ? 4 : 40;
    if (nwant > 150)
        maxlim = nwant / (2 + below(&m->rng, 20)) + 1;
    if (maxlim > 1000)
        maxlim = 1000;
    query_set_cursor(q, NULL, 0);
    char what[256];
    for (int page = 0;; page++) {
        search_result_t *r = NULL;
        bdx_error_t err = {0};
        q->limit = 1 + (int64_t)below(&m->rng, maxlim);
        q->flags =
            (page == 0 ? QUERY_WANT_TOTAL : 0) | (chance(&m->rng, 0.05) ? QUERY_WANT_EXPLAIN : 0);
        int rc = search_run(m->ix, q, &opt, &r, &err);
        g_pages++;
        if (rc) {
            snprintf(what, sizeof(what), "page %d: search_run: %s", page, bdx_error_message(&err));
            fail_case(m, q, sname, what);
            return false;
        }
        if (page == 0 && (!r->has_total || r->total != nwant)) {
            snprintf(what, sizeof(what), "total %" PRIu64 ", expected %zu", r->total, nwant);
            fail_case(m, q, sname, what);
            search_result_free(r);
            return false;
        }
        if (r->explain) {
            char *text = NULL;
            cr_assert_eq(explain_format(r->explain, &text), 0);
            free(text);
        }
        size_t expect_n = nwant - pos < (size_t)q->limit ? nwant - pos : (size_t)q->limit;
        bool ok = r->count == expect_n;
        size_t bad = 0;
        for (size_t i = 0; ok && i < r->count; i++) {
            if (r->slots[i] != want[pos + i].slot || r->values[i] != want[pos + i].value) {
                ok = false;
                bad = i;
            }
        }
        bool more = pos + r->count < nwant;
        if (ok && more != (r->cursor_len > 0)) {
            snprintf(what, sizeof(what), "page %d at row %zu: cursor %s but %s rows follow", page,
                     pos, r->cursor_len ? "set" : "empty", more ? "more" : "no");
            fail_case(m, q, sname, what);
            search_result_free(r);
            return false;
        }
        if (!ok) {
            if (r->count != expect_n)
                snprintf(what, sizeof(what),
                         "page %d at row %zu (limit %lld): %zu rows, expected %zu", page, pos,
                         (long long)q->limit, r->count, expect_n);
            else
                snprintf(what, sizeof(what),
                         "page %d row %zu: got (%" PRIu64 ", slot %u), expected (%" PRIu64
                         ", slot %u)",
                         page, pos + bad, r->values[bad], r->slots[bad], want[pos + bad].value,
                         want[pos + bad].slot);
            fail_case(m, q, sname, what);
            search_result_free(r);
            return false;
        }
        pos += r->count;
        if (r->cursor_len == 0) {
            search_result_free(r);
            break;
        }
        cr_assert_eq(query_set_cursor(q, r->cursor, r->cursor_len), 0);
        search_result_free(r);
    }
    return pos == nwant;
}

static bool check_query(model_t *m, query_node_t *filter)
{
    query_t *q = query_new(chance(&m->rng, 0.5) ? "oracle" : NULL);
    cr_assert(q);
    int sort = chance(&m->rng, 0.15) ? -1 : (int)below(&m->rng, (uint64_t)m->ns);
    bool desc = chance(&m->rng, 0.6);
    if (sort >= 0)
        cr_assert_eq(query_set_sort(q, m->s[sort].name, desc), 0);
    query_set_filter(q, filter);

    size_t nwant;
    row_t *want = model_query(m, filter, sort, sort >= 0 ? desc : true, &nwant);

    /* counts */
    search_options_t opt = {.prefilter = resolve, .prefilter_arg = m};
    uint64_t count = 0;
    bdx_error_t err = {0};
    int rc = search_count(m->ix, q, &opt, &count, &err);
    bool ok = true;
    if (rc || count != nwant) {
        char what[200];
        snprintf(what, sizeof(what), "search_count rc %d (%s) count %" PRIu64 " expected %zu", rc,
                 bdx_error_message(&err), count, nwant);
        fail_case(m, q, "count", what);
        ok = false;
    }
    static const sort_strategy_t strategies[] = {SORT_MATERIALIZE, SORT_BSI, SORT_WALK, SORT_AUTO};
    for (size_t i = 0; ok && i < 4; i++) {
        if (sort < 0 && i > 0 && i < 3)
            continue; /* without a sort every strategy is slot order */
        ok = check_strategy(m, q, strategies[i], want, nwant);
    }
    free(want);
    query_free(q);
    return ok;
}

static uint64_t env_u64(const char *name, uint64_t dflt)
{
    const char *s = getenv(name);
    return s && *s ? strtoull(s, NULL, 0) : dflt;
}

Test(oracle, random_queries_all_strategies, .timeout = 600)
{
    g_seed = env_u64("BITDEX_TEST_SEED", 0);
    if (g_seed == 0) {
        FILE *f = fopen("/dev/urandom", "rb");
        if (!f || fread(&g_seed, sizeof(g_seed), 1, f) != 1)
            g_seed = 42;
        if (f)
            fclose(f);
    }
    uint64_t cases = env_u64("BITDEX_ORACLE_CASES", 2400);
    rng_t top = {g_seed};
    uint64_t done = 0, rounds = 0, nonempty = 0, failures = 0;
    while (done < cases && failures == 0) {
        uint64_t round_seed = rnd(&top);
        uint64_t cls = below(&top, 100);
        int size_class = cls < 45 ? 0 : cls < 85 ? 1 : cls < 98 ? 2 : 3;
        model_t m;
        model_build(&m, round_seed, size_class);
        int queries = size_class == 3 ? 4 : 8;
        for (int i = 0; i < queries && done < cases; i++, done++) {
            query_node_t *filter = chance(&m.rng, 0.05)   ? NULL
                                   : chance(&m.rng, 0.15) ? gen_exclusions(&m)
                                                          : gen_node(&m, 0);
            size_t n = 0;
            free(model_query(&m, filter, -1, true, &n));
            nonempty += n > 0;
            if (!check_query(&m, filter)) {
                fprintf(stderr,
                        "oracle: BITDEX_TEST_SEED=%" PRIu64 " reproduces (round %" PRIu64
                        ", query %d)\n",
                        g_seed, rounds, i);
                failures++;
                break;
            }
        }
        model_free(&m);
        rounds++;
    }
    fprintf(stderr,
            "oracle: seed %" PRIu64 ": %" PRIu64 " queries (%" PRIu64 " non-empty) over %" PRIu64
            " indexes, %" PRIu64 " pages\n",
            g_seed, done, nonempty, rounds, g_pages);
    cr_assert_eq(failures, 0, "oracle failed; rerun with BITDEX_TEST_SEED=%" PRIu64, g_seed);
}

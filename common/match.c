/*
 * match: compiling a filter tree into a per-slot predicate. See match.h.
 *
 * Each node becomes one of a few test kinds over borrowed structures; a filter-field range
 * covering many values is the one case built up front (their union), so a test never costs
 * more than a handful of membership probes per clause.
 */
#include "common/match.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#define MANY_VALUES 16 /* a range over more value bitmaps than this is built as one union */

typedef enum kind {
    K_FALSE,
    K_TRUE,
    K_ANY,  /* some bitmap of bms contains the slot */
    K_NONE, /* (req == NULL or req contains it) and no bitmap of bms does */
    K_SORT, /* a sort-field clause, from the column */
    K_SLOT, /* an `id` clause */
    K_AND,
    K_OR,
    K_NOT,
} kind_t;

typedef struct mnode mnode_t;

struct mnode {
    kind_t kind;
    query_op_t op;
    const roaring_bitmap_t **bms; /* K_ANY / K_NONE; owned array of borrowed bitmaps */
    size_t nbm;
    const roaring_bitmap_t *req; /* K_NONE: required (existence); K_SORT: existence */
    roaring_bitmap_t *owned;     /* a built union (wide ranges, id lists), freed with the node */
    const column_t *col;         /* K_SORT */
    const query_value_t *vals;   /* K_SORT / K_SLOT: the clause's values (borrowed) */
    size_t nvals;
    uint64_t lo, hi; /* K_SORT / K_SLOT ranges, inclusive */
    mnode_t **kids;  /* K_AND / K_OR / K_NOT */
    size_t nkids;
};

struct match {
    mnode_t *root;
};

static void node_free(mnode_t *n)
{
    if (!n)
        return;
    for (size_t i = 0; i < n->nkids; i++)
        node_free(n->kids[i]);
    free(n->kids);
    free(n->bms);
    if (n->owned)
        roaring_bitmap_free(n->owned);
    free(n);
}

static bool in_list(const mnode_t *n, uint64_t x)
{
    for (size_t i = 0; i < n->nvals; i++)
        if ((uint64_t)n->vals[i].i == x)
            return true;
    return false;
}

static bool any_of(const mnode_t *n, uint32_t slot)
{
    for (size_t i = 0; i < n->nbm; i++)
        if (roaring_bitmap_contains(n->bms[i], slot))
            return true;
    return false;
}

static bool test(const mnode_t *n, uint32_t slot)
{
    switch (n->kind) {
    case K_FALSE:
        return false;
    case K_TRUE:
        return true;
    case K_ANY:
        return any_of(n, slot);
    case K_NONE:
        return (!n->req || roaring_bitmap_contains(n->req, slot)) && !any_of(n, slot);
    case K_SORT: {
        bool has = roaring_bitmap_contains(n->req, slot);
        if (n->op == QUERY_IS_NULL)
            return !has;
        if (!has)
            return false;
        if (n->op == QUERY_IS_NOT_NULL)
            return true;
        uint64_t v = column_get(n->col, slot);
        switch (n->op) {
        case QUERY_EQ:
        case QUERY_IN:
            return in_list(n, v);
        case QUERY_NOT_EQ:
        case QUERY_NOT_IN:
            return !in_list(n, v);
        default:
            return v >= n->lo && v <= n->hi;
        }
    }
    case K_SLOT:
        switch (n->op) {
        case QUERY_EQ:
        case QUERY_IN:
            return in_list(n, slot);
        case QUERY_NOT_EQ:
        case QUERY_NOT_IN:
            return !in_list(n, slot);
        default:
            return slot >= n->lo && slot <= n->hi;
        }
    case K_AND:
        for (size_t i = 0; i < n->nkids; i++)
            if (!test(n->kids[i], slot))
                return false;
        return true;
    case K_OR:
        for (size_t i = 0; i < n->nkids; i++)
            if (test(n->kids[i], slot))
                return true;
        return false;
    case K_NOT:
        return !test(n->kids[0], slot);
    }
    return false;
}

bool match_test(const match_t *m, uint32_t slot)
{
    return test(m->root, slot);
}

bool match_test_fn(void *arg, uint32_t slot)
{
    return test(((const match_t *)arg)->root, slot);
}

void match_free(match_t *m)
{
    if (!m)
        return;
    node_free(m->root);
    free(m);
}

/* ---- compiling ---- */

static int push_bm(mnode_t *n, const roaring_bitmap_t *bm, size_t *cap)
{
    if (!bm)
        return 0;
    if (n->nbm == *cap) {
        size_t c = *cap ? *cap * 2 : 4;
        const roaring_bitmap_t **v = realloc(n->bms, c * sizeof(*v));
        if (!v)
            return -ENOMEM;
        n->bms = v;
        *cap = c;
    }
    n->bms[n->nbm++] = bm;
    return 0;
}

typedef struct range_acc {
    mnode_t *n;
    size_t cap;
    int rc;
} range_acc_t;

static bool range_visit(int64_t key, const roaring_bitmap_t *bm, void *arg)
{
    (void)key;
    range_acc_t *a = arg;
    a->rc = push_bm(a->n, bm, &a->cap);
    return a->rc == 0;
}

/* Inclusive signed range of a comparison op; false when empty. */
static bool int_range(const query_node_t *q, int64_t *lo, int64_t *hi)
{
    int64_t a = q->values[0].i;
    *lo = INT64_MIN;
    *hi = INT64_MAX;
    switch (q->op) {
    case QUERY_GT:
        if (a == INT64_MAX)
            return false;
        *lo = a + 1;
        break;
    case QUERY_GTE:
        *lo = a;
        break;
    case QUERY_LT:
        if (a == INT64_MIN)
            return false;
        *hi = a - 1;
        break;
    case QUERY_LTE:
        *hi = a;
        break;
    default: /* BETWEEN */
        *lo = a;
        *hi = q->values[1].i;
        break;
    }
    return *lo <= *hi;
}

static int compile_filter_leaf(const planner_t *p, const query_node_t *q, mnode_t *n)
{
    size_t f = (size_t)q->field_index, cap = 0;
    const roaring_bitmap_t *exists = index_filter_exists(p->ix, f);
    const dictionary_t *d = index_dict(p->ix, f);
    int rc = 0;
    switch (q->op) {
    case QUERY_IS_NULL:
        n->kind = K_NONE;
        return push_bm(n, exists, &cap);
    case QUERY_IS_NOT_NULL:
        n->kind = K_ANY;
        return push_bm(n, exists, &cap);
    case QUERY_EQ:
    case QUERY_IN:
    case QUERY_NOT_EQ:
    case QUERY_NOT_IN:
        n->kind = q->op == QUERY_EQ || q->op == QUERY_IN ? K_ANY : K_NONE;
        if (n->kind == K_NONE)
            n->req = exists;
        for (size_t i = 0; i < q->nvalues && rc == 0; i++) {
            const query_value_t *v = &q->values[i];
            int64_t key = v->i;
            if (v->kind == QUERY_VALUE_STRING &&
                (!d || strlen(v->s) != v->len || dictionary_lookup(d, v->s, &key) != 0))
                continue; /* no document holds it */
            rc = push_bm(n, index_filter_value(p->ix, f, key), &cap);
        }
        return rc;
    default: {
        int64_t lo, hi;
        n->kind = K_ANY;
        if (!int_range(q, &lo, &hi))
            return 0;
        range_acc_t a = {.n = n};
        index_filter_range(p->ix, f, lo, hi, range_visit, &a);
        if (a.rc)
            return a.rc;
        if (n->nbm > MANY_VALUES) {
            n->owned = roaring_bitmap_or_many(n->nbm, n->bms);
            if (!n->owned)
                return -ENOMEM;
            n->bms[0] = n->owned;
            n->nbm = 1;
        }
        return 0;
    }
    }
}

static int compile(const planner_t *p, const query_node_t *q, mnode_t **out, bdx_error_t *err);

/* Children sorted for early exit: And most selective first, Or least selective first. */
static int compile_kids(const planner_t *p, const query_node_t *q, mnode_t *n, bdx_error_t *err)
{
    size_t k = q->nchildren;
    const query_node_t **order = malloc(k * sizeof(*order));
    n->kids = calloc(k, sizeof(*n->kids));
    if (!order || !n->kids) {
        free(order);
        return -ENOMEM;
    }
    for (size_t i = 0; i < k; i++) {
        const query_node_t *x = q->children[i];
        size_t j = i;
        bool and = q->op == QUERY_AND;
        while (j > 0 && (and? x->stats.estimate < order[j - 1]->stats.estimate
                            : x->stats.estimate > order[j - 1]->stats.estimate)) {
            order[j] = order[j - 1];
            j--;
        }
        order[j] = x;
    }
    int rc = 0;
    for (size_t i = 0; i < k && rc == 0; i++) {
        rc = compile(p, order[i], &n->kids[i], err);
        if (rc == 0)
            n->nkids++;
    }
    free(order);
    return rc;
}

static int compile(const planner_t *p, const query_node_t *q, mnode_t **out, bdx_error_t *err)
{
    mnode_t *n = calloc(1, sizeof(*n));
    int rc = 0;
    if (!n)
        return -ENOMEM;
    n->op = q->op;
    switch (q->op) {
    case QUERY_AND:
    case QUERY_OR:
        n->kind = q->op == QUERY_AND ? K_AND : K_OR;
        rc = compile_kids(p, q, n, err);
        break;
    case QUERY_NOT:
        n->kind = K_NOT;
        n->kids = calloc(1, sizeof(*n->kids));
        rc = n->kids ? compile(p, q->children[0], &n->kids[0], err) : -ENOMEM;
        if (rc == 0)
            n->nkids = 1;
        break;
    case QUERY_PREFILTER: {
        size_t cap = 0;
        const roaring_bitmap_t *bm = NULL;
        n->kind = K_ANY;
        if (!p->prefilter)
            rc = bdx_error_set(err, BDX_ENOTFOUND, "prefilter %s not registered", q->field);
        else
            rc = p->prefilter(p->prefilter_arg, q->field, &bm, err);
        if (rc == 0 && !bm)
            rc = bdx_error_set(err, BDX_ENOTFOUND, "prefilter %s not registered", q->field);
        if (rc == 0)
            rc = push_bm(n, bm, &cap); /* tested slots are live: no AND alive needed */
        break;
    }
    default:
        switch (q->field_kind) {
        case QUERY_FIELD_FILTER:
            rc = compile_filter_leaf(p, q, n);
            break;
        case QUERY_FIELD_SORT: {
            const bsi_t *bsi = index_sort_bsi(p->ix, (size_t)q->field_index);
            unsigned bits = bsi_bits(bsi);
            uint64_t max = bits >= 64 ? UINT64_MAX : (UINT64_C(1) << bits) - 1;
            n->kind = K_SORT;
            n->req = bsi_exists(bsi);
            n->col = index_sort_column(p->ix, (size_t)q->field_index);
            n->vals = q->values;
            n->nvals = q->nvalues;
            if (q->op >= QUERY_GT && q->op <= QUERY_BETWEEN &&
                !query_node_bounds(q, max, &n->lo, &n->hi))
                n->kind = K_FALSE;
            break;
        }
        case QUERY_FIELD_SLOT:
            n->kind = K_SLOT;
            n->vals = q->values;
            n->nvals = q->nvalues;
            if (q->op == QUERY_IS_NULL)
                n->kind = K_FALSE;
            else if (q->op == QUERY_IS_NOT_NULL)
                n->kind = K_TRUE;
            else if (q->op >= QUERY_GT && q->op <= QUERY_BETWEEN &&
                     !query_node_bounds(q, UINT32_MAX, &n->lo, &n->hi))
                n->kind = K_FALSE;
            break;
        default:
            rc = bdx_error_set(err, BDX_EINTERNAL, "field %s: clause not bound (validate first)",
                               q->field ? q->field : "?");
            break;
        }
        break;
    }
    if (rc) {
        node_free(n);
        return rc;
    }
    *out = n;
    return 0;
}

int match_new(const planner_t *p, const query_node_t *root, match_t **out, bdx_error_t *err)
{
    match_t *m = calloc(1, sizeof(*m));
    if (!m)
        return -ENOMEM;
    int rc = compile(p, root, &m->root, err);
    if (rc) {
        free(m);
        return rc;
    }
    *out = m;
    return 0;
}

/*
 * planner: cardinality estimates and filter evaluation. See planner.h.
 *
 * Two evaluation modes per node:
 *   eval()      produces the node's own bitmap (borrowed from the index when it is one stored
 *               bitmap, owned otherwise);
 *   restrict_() applies the node to a running set `acc` in place (acc &= node), which is how
 *               And children after the first are evaluated: no intermediate as large as the
 *               child itself is built when acc is smaller, and negative clauses become andnots.
 */
#include "common/planner.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/bitmap.h"

#define SLOT_END (UINT64_C(1) << 32) /* one past the largest slot */

static uint64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static uint64_t sat_sub(uint64_t a, uint64_t b)
{
    return a > b ? a - b : 0;
}

static uint64_t min_u64(uint64_t a, uint64_t b)
{
    return a < b ? a : b;
}

/* ---- value and range helpers ---- */

/* The key a filter-field value is filed under; false when no document can hold it (a string
 * never interned, or one with an embedded NUL). */
static bool filter_key(const planner_t *p, const query_node_t *n, const query_value_t *v,
                       int64_t *key)
{
    if (v->kind != QUERY_VALUE_STRING) {
        *key = v->i;
        return true;
    }
    const dictionary_t *d = index_dict(p->ix, (size_t)n->field_index);
    if (!d || strlen(v->s) != v->len)
        return false;
    return dictionary_lookup(d, v->s, key) == 0;
}

static const roaring_bitmap_t *filter_bm(const planner_t *p, const query_node_t *n,
                                         const query_value_t *v)
{
    int64_t key;
    if (!filter_key(p, n, v, &key))
        return NULL;
    return index_filter_value(p->ix, (size_t)n->field_index, key);
}

/* Inclusive signed range of a comparison op, clamped to [min, max]; false when empty. */
static bool int_range(const query_node_t *n, int64_t min, int64_t max, int64_t *lo, int64_t *hi)
{
    int64_t a = n->values[0].i;
    *lo = min;
    *hi = max;
    switch (n->op) {
    case QUERY_EQ:
        *lo = *hi = a;
        break;
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
    case QUERY_BETWEEN:
        *lo = a;
        *hi = n->values[1].i;
        break;
    default:
        return false;
    }
    if (*lo < min)
        *lo = min;
    if (*hi > max)
        *hi = max;
    return *lo <= *hi;
}

static bsi_op_t bsi_op_of(query_op_t op)
{
    switch (op) {
    case QUERY_EQ:
        return BSI_EQ;
    case QUERY_NOT_EQ:
        return BSI_NE;
    case QUERY_GT:
        return BSI_GT;
    case QUERY_GTE:
        return BSI_GE;
    case QUERY_LT:
        return BSI_LT;
    case QUERY_LTE:
        return BSI_LE;
    default:
        return BSI_BETWEEN;
    }
}

/* Clauses applied to a running set by andnot (or removal): evaluated after the positive ones. */
static bool is_negative(const query_node_t *n)
{
    switch (n->op) {
    case QUERY_NOT:
    case QUERY_NOT_EQ:
    case QUERY_NOT_IN:
    case QUERY_IS_NULL:
        return true;
    default:
        return false;
    }
}

/* A clause whose bitmap is one stored bitmap, borrowed by eval() without building anything. */
static bool is_stored(const query_node_t *n)
{
    if (n->op == QUERY_IS_NOT_NULL)
        return n->field_kind != QUERY_FIELD_UNBOUND;
    return n->op == QUERY_EQ && n->field_kind == QUERY_FIELD_FILTER;
}

/* A growable list of borrowed bitmaps (the value bitmaps of an In or a range). */
typedef struct bmvec {
    const roaring_bitmap_t **v;
    size_t n, cap;
    bool oom;
} bmvec_t;

static void bmvec_push(bmvec_t *b, const roaring_bitmap_t *bm)
{
    if (!bm || b->oom)
        return;
    if (b->n == b->cap) {
        size_t cap = b->cap ? b->cap * 2 : 8;
        const roaring_bitmap_t **v = realloc(b->v, cap * sizeof(*v));
        if (!v) {
            b->oom = true;
            return;
        }
        b->v = v;
        b->cap = cap;
    }
    b->v[b->n++] = bm;
}

/* Whether the cardinalities of the bitmaps add up to more than `limit` (stops summing there:
 * counting a dense run-container bitmap costs O(runs)). */
static bool bmvec_exceeds(const bmvec_t *b, uint64_t limit)
{
    uint64_t sum = 0;
    for (size_t i = 0; i < b->n; i++) {
        sum += roaring_bitmap_get_cardinality(b->v[i]);
        if (sum > limit)
            return true;
    }
    return false;
}

/* Sum of the cardinalities, stopping once it exceeds `cap` (then some value > cap). */
static uint64_t bmvec_total(const bmvec_t *b, uint64_t cap)
{
    uint64_t sum = 0;
    for (size_t i = 0; i < b->n && sum <= cap; i++)
        sum += roaring_bitmap_get_cardinality(b->v[i]);
    return sum;
}

static bool range_visit(int64_t key, const roaring_bitmap_t *bm, void *arg)
{
    (void)key;
    bmvec_push(arg, bm);
    return !((bmvec_t *)arg)->oom;
}

/* The value bitmaps an In / NotIn / range on a filter field covers. */
static int filter_bitmaps(const planner_t *p, const query_node_t *n, bmvec_t *out)
{
    memset(out, 0, sizeof(*out));
    if (n->op == QUERY_IN || n->op == QUERY_NOT_IN || n->op == QUERY_EQ || n->op == QUERY_NOT_EQ) {
        for (size_t i = 0; i < n->nvalues; i++)
            bmvec_push(out, filter_bm(p, n, &n->values[i]));
    } else {
        int64_t lo, hi;
        if (int_range(n, INT64_MIN, INT64_MAX, &lo, &hi))
            index_filter_range(p->ix, (size_t)n->field_index, lo, hi, range_visit, out);
    }
    if (out->oom) {
        free(out->v);
        out->v = NULL;
        return -ENOMEM;
    }
    return 0;
}

/* ---- estimates ---- */

/* Count of permutation entries with a value in [lo, hi] (as of the permutation's build). */
static uint64_t perm_count(const permutation_t *perm, uint64_t lo, uint64_t hi)
{
    if (lo > hi)
        return 0;
    uint32_t a = permutation_lower_bound(perm, lo, 0);
    uint32_t b =
        hi == UINT64_MAX ? permutation_count(perm) : permutation_lower_bound(perm, hi + 1, 0);
    return b > a ? b - a : 0;
}

static uint64_t sort_estimate(const planner_t *p, const query_node_t *n, uint64_t alive)
{
    size_t f = (size_t)n->field_index;
    const permutation_t *perm = index_sort_perm(p->ix, f);
    uint64_t exists = index_sort_exists_count(p->ix, f);
    uint64_t built = permutation_count(perm);
    uint64_t est = 0;
    switch (n->op) {
    case QUERY_IS_NULL:
        return sat_sub(alive, exists);
    case QUERY_IS_NOT_NULL:
        return exists;
    case QUERY_EQ:
    case QUERY_NOT_EQ:
    case QUERY_IN:
    case QUERY_NOT_IN:
        for (size_t i = 0; i < n->nvalues; i++) {
            uint64_t v = (uint64_t)n->values[i].i;
            est += perm_count(perm, v, v);
        }
        if (n->op == QUERY_NOT_EQ || n->op == QUERY_NOT_IN)
            est = sat_sub(built, est);
        break;
    default: {
        uint64_t a = (uint64_t)n->values[0].i, lo = 0, hi = UINT64_MAX;
        switch (n->op) {
        case QUERY_GT:
            lo = a + 1;
            break;
        case QUERY_GTE:
            lo = a;
            break;
        case QUERY_LT:
            if (a == 0)
                return 0;
            hi = a - 1;
            break;
        case QUERY_LTE:
            hi = a;
            break;
        default:
            lo = a;
            hi = (uint64_t)n->values[1].i;
            break;
        }
        est = perm_count(perm, lo, hi);
        break;
    }
    }
    /* The permutation is as of its build; scale to today's population. */
    if (built && built != exists)
        est = (uint64_t)((double)est * (double)exists / (double)built);
    return min_u64(est, exists);
}

static uint64_t slot_estimate(const planner_t *p, const query_node_t *n, uint64_t alive)
{
    const roaring_bitmap_t *live = index_alive(p->ix);
    uint64_t c = 0;
    int64_t lo, hi;
    switch (n->op) {
    case QUERY_IS_NULL:
        return 0;
    case QUERY_IS_NOT_NULL:
        return alive;
    case QUERY_EQ:
    case QUERY_NOT_EQ:
    case QUERY_IN:
    case QUERY_NOT_IN:
        for (size_t i = 0; i < n->nvalues; i++)
            c += roaring_bitmap_contains(live, (uint32_t)n->values[i].i);
        return n->op == QUERY_EQ || n->op == QUERY_IN ? c : sat_sub(alive, c);
    default:
        if (!int_range(n, 0, UINT32_MAX, &lo, &hi))
            return 0;
        return roaring_bitmap_range_cardinality(live, (uint64_t)lo, (uint64_t)hi + 1);
    }
}

static uint64_t filter_estimate(const planner_t *p, const query_node_t *n, uint64_t alive)
{
    size_t f = (size_t)n->field_index;
    uint64_t exists = index_filter_exists_count(p->ix, f);
    bmvec_t bms;
    switch (n->op) {
    case QUERY_IS_NULL:
        return sat_sub(alive, exists);
    case QUERY_IS_NOT_NULL:
        return exists;
    default:
        break;
    }
    if (filter_bitmaps(p, n, &bms) < 0)
        return alive;
    uint64_t sum = bmvec_total(&bms, exists);
    free(bms.v);
    if (n->op == QUERY_NOT_EQ || n->op == QUERY_NOT_IN)
        return sat_sub(exists, sum);
    return min_u64(sum, exists);
}

static uint64_t estimate(const planner_t *p, query_node_t *n, uint64_t alive)
{
    uint64_t est = 0;
    memset(&n->stats, 0, sizeof(n->stats));
    switch (n->op) {
    case QUERY_AND:
        est = alive;
        for (size_t i = 0; i < n->nchildren; i++)
            est = min_u64(est, estimate(p, n->children[i], alive));
        break;
    case QUERY_OR:
        for (size_t i = 0; i < n->nchildren; i++)
            est += estimate(p, n->children[i], alive);
        est = min_u64(est, alive);
        break;
    case QUERY_NOT:
        est = sat_sub(alive, estimate(p, n->children[0], alive));
        break;
    case QUERY_PREFILTER: {
        const roaring_bitmap_t *bm = NULL;
        est = alive;
        if (p->prefilter && p->prefilter(p->prefilter_arg, n->field, &bm, NULL) == 0 && bm)
            est = min_u64(roaring_bitmap_get_cardinality(bm), alive);
        break;
    }
    default:
        switch (n->field_kind) {
        case QUERY_FIELD_SORT:
            est = sort_estimate(p, n, alive);
            break;
        case QUERY_FIELD_SLOT:
            est = slot_estimate(p, n, alive);
            break;
        default:
            est = filter_estimate(p, n, alive);
            break;
        }
        break;
    }
    n->stats.estimate = est;
    return est;
}

uint64_t planner_estimate(const planner_t *p, query_node_t *root)
{
    uint64_t alive = index_doc_count(p->ix);
    return root ? estimate(p, root, alive) : alive;
}

static double selectivity(const query_node_t *n, double alive)
{
    double s = 1.0;
    switch (n->op) {
    case QUERY_AND:
        for (size_t i = 0; i < n->nchildren; i++)
            s *= selectivity(n->children[i], alive);
        return s;
    case QUERY_OR:
        for (size_t i = 0; i < n->nchildren; i++)
            s *= 1.0 - selectivity(n->children[i], alive);
        return 1.0 - s;
    case QUERY_NOT:
        return 1.0 - selectivity(n->children[0], alive);
    default:
        s = (double)n->stats.estimate / alive;
        return s > 1.0 ? 1.0 : s;
    }
}

uint64_t planner_expected(const planner_t *p, const query_node_t *root)
{
    uint64_t alive = index_doc_count(p->ix);
    if (!root || alive == 0)
        return alive;
    return (uint64_t)(selectivity(root, (double)alive) * (double)alive + 0.5);
}

/* ---- evaluation ---- */

static int eval(const planner_t *p, query_node_t *n, planner_result_t *out, bdx_error_t *err);
static int restrict_node(const planner_t *p, query_node_t *n, roaring_bitmap_t **acc,
                         bdx_error_t *err);

void planner_result_release(planner_result_t *r)
{
    if (r->owned)
        roaring_bitmap_free(r->owned);
    r->owned = NULL;
    r->bm = NULL;
}

static int set_owned(planner_result_t *out, roaring_bitmap_t *bm)
{
    out->owned = bm;
    out->bm = bm;
    return bm ? 0 : -ENOMEM;
}

static int set_borrowed(planner_result_t *out, const roaring_bitmap_t *bm)
{
    if (!bm)
        return set_owned(out, roaring_bitmap_create());
    out->owned = NULL;
    out->bm = bm;
    return 0;
}

/* Replaces *acc with `next` (owned). */
static void acc_replace(roaring_bitmap_t **acc, roaring_bitmap_t *next)
{
    roaring_bitmap_free(*acc);
    *acc = next;
}

static int resolve_prefilter(const planner_t *p, const query_node_t *n, const roaring_bitmap_t **bm,
                             bdx_error_t *err)
{
    if (!p->prefilter)
        return bdx_error_set(err, BDX_ENOTFOUND, "prefilter %s not registered", n->field);
    *bm = NULL;
    int rc = p->prefilter(p->prefilter_arg, n->field, bm, err);
    if (rc)
        return rc;
    if (!*bm)
        return bdx_error_set(err, BDX_ENOTFOUND, "prefilter %s not registered", n->field);
    return 0;
}

/* The union of a sort field's EQ sets for each value of n, restricted to `within` (NULL = all). */
static int sort_in(const planner_t *p, const query_node_t *n, const roaring_bitmap_t *within,
                   roaring_bitmap_t **out)
{
    const bsi_t *bsi = index_sort_bsi(p->ix, (size_t)n->field_index);
    roaring_bitmap_t *u = roaring_bitmap_create();
    roaring_bitmap_t *t = roaring_bitmap_create();
    int rc = 0;
    if (!u || !t) {
        rc = -ENOMEM;
        goto out;
    }
    for (size_t i = 0; i < n->nvalues; i++) {
        rc = bsi_compare(bsi, BSI_EQ, (uint64_t)n->values[i].i, 0, within, t);
        if (rc)
            goto out;
        roaring_bitmap_or_inplace(u, t);
    }
out:
    if (t)
        roaring_bitmap_free(t);
    if (rc) {
        if (u)
            roaring_bitmap_free(u);
        u = NULL;
    }
    *out = u;
    return rc;
}

static int eval_filter_leaf(const planner_t *p, query_node_t *n, planner_result_t *out)
{
    size_t f = (size_t)n->field_index;
    const roaring_bitmap_t *exists = index_filter_exists(p->ix, f);
    bmvec_t bms = {0};
    int rc;
    switch (n->op) {
    case QUERY_EQ:
        return set_borrowed(out, filter_bm(p, n, &n->values[0]));
    case QUERY_IS_NOT_NULL:
        return set_borrowed(out, exists);
    case QUERY_IS_NULL:
        return set_owned(out, roaring_bitmap_andnot(index_alive(p->ix), exists));
    default:
        break;
    }
    rc = filter_bitmaps(p, n, &bms);
    if (rc)
        return rc;
    if (n->op == QUERY_NOT_EQ || n->op == QUERY_NOT_IN) {
        roaring_bitmap_t *r = roaring_bitmap_copy(exists);
        if (r) {
            for (size_t i = 0; i < bms.n; i++)
                roaring_bitmap_andnot_inplace(r, bms.v[i]);
        }
        rc = set_owned(out, r);
    } else if (bms.n == 1) {
        rc = set_borrowed(out, bms.v[0]);
    } else {
        roaring_bitmap_t *r = roaring_bitmap_create();
        rc = r ? bitmap_or_many(bms.v, bms.n, r) : -ENOMEM;
        if (rc == 0) {
            rc = set_owned(out, r);
        } else if (r) {
            roaring_bitmap_free(r);
        }
    }
    free(bms.v);
    return rc;
}

/* ---- sort-field ranges from the permutation ---- */

/* A range read entry by entry from the permutation is worth it up to this fraction of the live
 * documents: past it the BSI's cost (bits x containers) is the smaller one. */
#define PERM_RANGE_DIV 16

/* Inclusive [lo, hi] of an Eq or range on a sort field; false when it is empty. */
static bool is_sort_range(query_op_t op)
{
    return op == QUERY_EQ || (op >= QUERY_GT && op <= QUERY_BETWEEN);
}

/* Sorts a[0..n) ascending with tmp[0..n) as scratch (LSD radix, 3 passes of 11 bits); returns
 * the buffer holding the result (a or tmp). */
static uint32_t *sort_slots(uint32_t *a, uint32_t *tmp, size_t n)
{
    size_t count[2048];
    for (unsigned shift = 0; shift < 33; shift += 11) {
        memset(count, 0, sizeof(count));
        for (size_t i = 0; i < n; i++)
            count[(a[i] >> shift) & 2047]++;
        size_t sum = 0;
        for (size_t k = 0; k < 2048; k++) {
            size_t c = count[k];
            count[k] = sum;
            sum += c;
        }
        for (size_t i = 0; i < n; i++)
            tmp[count[(a[i] >> shift) & 2047]++] = a[i];
        uint32_t *t = a;
        a = tmp;
        tmp = t;
    }
    return a;
}

/*
 * The slots of the sort-field range [lo, hi] read from the field's permutation: the entries
 * with a build-time value in range that are not dirty (so that value is still current and the
 * slot is live), plus the dirty slots that are live and have a current value in range. Exact;
 * cost ~ segment + dirty slots (binary search for the bounds). Leaves *out NULL (returns 0)
 * when either is over `max` entries: then the BSI is the cheaper way.
 */
static int sort_range_perm(const planner_t *p, size_t f, uint64_t lo, uint64_t hi, uint64_t max,
                           roaring_bitmap_t **out)
{
    const permutation_t *perm = index_sort_perm(p->ix, f);
    const roaring_bitmap_t *dirty = index_sort_dirty(p->ix, f);
    uint64_t ndirty = index_sort_dirty_count(p->ix, f);
    uint32_t a = permutation_lower_bound(perm, lo, 0);
    uint32_t b =
        hi == UINT64_MAX ? permutation_count(perm) : permutation_lower_bound(perm, hi + 1, 0);
    size_t n = 0;
    *out = NULL;
    if (b < a)
        b = a;
    if ((uint64_t)(b - a) > max || ndirty > max)
        return 0;
    size_t cap = (size_t)(b - a) + (size_t)ndirty;
    uint32_t *buf = malloc((cap ? cap : 1) * 2 * sizeof(*buf));
    if (!buf)
        return -ENOMEM;
    for (uint32_t i = a; i < b; i++) {
        uint32_t slot = permutation_slot(perm, i);
        if (ndirty == 0 || !roaring_bitmap_contains(dirty, slot))
            buf[n++] = slot;
    }
    if (ndirty) {
        const roaring_bitmap_t *alive = index_alive(p->ix);
        const roaring_bitmap_t *exists = bsi_exists(index_sort_bsi(p->ix, f));
        const column_t *col = index_sort_column(p->ix, f);
        roaring_uint32_iterator_t it;
        roaring_init_iterator(dirty, &it);
        for (; it.has_value; roaring_advance_uint32_iterator(&it)) {
            uint32_t slot = it.current_value;
            if (!roaring_bitmap_contains(alive, slot) || !roaring_bitmap_contains(exists, slot))
                continue;
            uint64_t v = column_get(col, slot);
            if (v >= lo && v <= hi)
                buf[n++] = slot;
        }
    }
    const uint32_t *sorted = sort_slots(buf, buf + cap, n);
    roaring_bitmap_t *r = roaring_bitmap_create();
    if (r)
        roaring_bitmap_add_many(r, n, sorted);
    free(buf);
    *out = r;
    return r ? 0 : -ENOMEM;
}

static int eval_sort_leaf(const planner_t *p, query_node_t *n, planner_result_t *out)
{
    const bsi_t *bsi = index_sort_bsi(p->ix, (size_t)n->field_index);
    roaring_bitmap_t *r = NULL;
    int rc;
    switch (n->op) {
    case QUERY_IS_NOT_NULL:
        return set_borrowed(out, bsi_exists(bsi));
    case QUERY_IS_NULL:
        return set_owned(out, roaring_bitmap_andnot(index_alive(p->ix), bsi_exists(bsi)));
    case QUERY_IN:
        rc = sort_in(p, n, NULL, &r);
        return rc ? rc : set_owned(out, r);
    case QUERY_NOT_IN: {
        roaring_bitmap_t *in = NULL;
        rc = sort_in(p, n, NULL, &in);
        if (rc)
            return rc;
        r = roaring_bitmap_andnot(bsi_exists(bsi), in);
        roaring_bitmap_free(in);
        return set_owned(out, r);
    }
    default: {
        uint64_t lo, hi;
        if (is_sort_range(n->op)) {
            if (!query_node_bounds(n, UINT64_MAX, &lo, &hi))
                return set_owned(out, roaring_bitmap_create());
            rc = sort_range_perm(p, (size_t)n->field_index, lo, hi,
                                 index_doc_count(p->ix) / PERM_RANGE_DIV, &r);
            if (rc || r)
                return rc ? rc : set_owned(out, r);
        }
        r = roaring_bitmap_create();
        if (!r)
            return -ENOMEM;
        uint64_t b = n->op == QUERY_BETWEEN ? (uint64_t)n->values[1].i : 0;
        rc = bsi_compare(bsi, bsi_op_of(n->op), (uint64_t)n->values[0].i, b, NULL, r);
        if (rc) {
            roaring_bitmap_free(r);
            return rc;
        }
        return set_owned(out, r);
    }
    }
}

/* Slots named by an id In list, as a bitmap (not yet intersected with alive). */
static roaring_bitmap_t *slot_set(const query_node_t *n)
{
    roaring_bitmap_t *r = roaring_bitmap_create();
    if (!r)
        return NULL;
    for (size_t i = 0; i < n->nvalues; i++)
        roaring_bitmap_add(r, (uint32_t)n->values[i].i);
    return r;
}

static int eval_slot_leaf(const planner_t *p, query_node_t *n, planner_result_t *out)
{
    const roaring_bitmap_t *alive = index_alive(p->ix);
    roaring_bitmap_t *r = NULL;
    int64_t lo, hi;
    switch (n->op) {
    case QUERY_IS_NULL:
        return set_owned(out, roaring_bitmap_create());
    case QUERY_IS_NOT_NULL:
        return set_borrowed(out, alive);
    case QUERY_EQ:
    case QUERY_IN:
        r = slot_set(n);
        if (r)
            roaring_bitmap_and_inplace(r, alive);
        return set_owned(out, r);
    case QUERY_NOT_EQ:
    case QUERY_NOT_IN:
        r = roaring_bitmap_copy(alive);
        for (size_t i = 0; r && i < n->nvalues; i++)
            roaring_bitmap_remove(r, (uint32_t)n->values[i].i);
        return set_owned(out, r);
    default:
        /* clamp to the live span first: a range over 2^32 slots would build 65536 containers */
        if (roaring_bitmap_is_empty(alive) ||
            !int_range(n, roaring_bitmap_minimum(alive), roaring_bitmap_maximum(alive), &lo, &hi))
            return set_owned(out, roaring_bitmap_create());
        r = roaring_bitmap_from_range((uint64_t)lo, (uint64_t)hi + 1, 1);
        if (r)
            roaring_bitmap_and_inplace(r, alive);
        return set_owned(out, r);
    }
}

/* Children of an And in evaluation order: positive clauses by ascending estimate, then the
 * negative ones (applied as andnots) by descending estimate of what they remove. */
static int and_order(const query_node_t *n, size_t **order)
{
    size_t k = n->nchildren;
    size_t *o = malloc(k * sizeof(*o));
    if (!o)
        return -ENOMEM;
    for (size_t i = 0; i < k; i++)
        o[i] = i;
    /* insertion sort: And nodes have few children and this keeps it stable */
    for (size_t i = 1; i < k; i++) {
        size_t x = o[i], j = i;
        const query_node_t *cx = n->children[x];
        while (j > 0) {
            const query_node_t *cy = n->children[o[j - 1]];
            bool nx = is_negative(cx), ny = is_negative(cy);
            bool before = nx != ny ? !nx : cx->stats.estimate < cy->stats.estimate;
            if (!before)
                break;
            o[j] = o[j - 1];
            j--;
        }
        o[j] = x;
    }
    *order = o;
    return 0;
}

/* acc &= every child of the And `n` from order[from], stopping when acc is empty. */
static int restrict_children(const planner_t *p, query_node_t *n, const size_t *order, size_t from,
                             roaring_bitmap_t **acc, bdx_error_t *err)
{
    for (size_t i = from; i < n->nchildren; i++) {
        if (roaring_bitmap_is_empty(*acc))
            break;
        int rc = restrict_node(p, n->children[order[i]], acc, err);
        if (rc)
            return rc;
    }
    return 0;
}

static int eval_and(const planner_t *p, query_node_t *n, planner_result_t *out, bdx_error_t *err)
{
    size_t *order = NULL;
    roaring_bitmap_t *acc = NULL;
    planner_result_t a = {0}, b = {0};
    size_t from = 0;
    int rc = and_order(n, &order);
    if (rc)
        return rc;
    query_node_t *first = n->children[order[0]];
    if (is_negative(first)) {
        acc = roaring_bitmap_copy(index_alive(p->ix));
    } else {
        rc = eval(p, first, &a, err);
        if (rc)
            goto out;
        from = 1;
        query_node_t *second = n->nchildren > 1 ? n->children[order[1]] : NULL;
        if (!a.owned && second && is_stored(second) && !roaring_bitmap_is_empty(a.bm)) {
            /* Two stored bitmaps: one AND builds the running set without copying either. (A
             * second clause that would be built, e.g. a dense In, restricts a copy instead.) */
            rc = eval(p, second, &b, err);
            if (rc)
                goto out;
            acc = roaring_bitmap_and(a.bm, b.bm);
            from = 2;
        } else if (a.owned) {
            acc = a.owned;
            a.owned = NULL;
        } else {
            acc = roaring_bitmap_copy(a.bm);
        }
    }
    if (!acc) {
        rc = -ENOMEM;
        goto out;
    }
    rc = restrict_children(p, n, order, from, &acc, err);
    if (rc)
        goto out;
    rc = set_owned(out, acc);
    acc = NULL;
out:
    planner_result_release(&a);
    planner_result_release(&b);
    if (acc)
        roaring_bitmap_free(acc);
    free(order);
    return rc;
}

static int eval_or(const planner_t *p, query_node_t *n, planner_result_t *out, bdx_error_t *err)
{
    size_t k = n->nchildren;
    planner_result_t *rs = calloc(k, sizeof(*rs));
    const roaring_bitmap_t **bms = calloc(k, sizeof(*bms));
    roaring_bitmap_t *r = NULL;
    int rc = 0;
    if (!rs || !bms) {
        rc = -ENOMEM;
        goto out;
    }
    for (size_t i = 0; i < k; i++) {
        rc = eval(p, n->children[i], &rs[i], err);
        if (rc)
            goto out;
        bms[i] = rs[i].bm;
    }
    r = roaring_bitmap_create();
    rc = r ? bitmap_or_many(bms, k, r) : -ENOMEM;
    if (rc == 0) {
        rc = set_owned(out, r);
        r = NULL;
    }
out:
    if (r)
        roaring_bitmap_free(r);
    for (size_t i = 0; rs && i < k; i++)
        planner_result_release(&rs[i]);
    free(rs);
    free(bms);
    return rc;
}

static int eval_inner(const planner_t *p, query_node_t *n, planner_result_t *out, bdx_error_t *err)
{
    switch (n->op) {
    case QUERY_AND:
        return eval_and(p, n, out, err);
    case QUERY_OR:
        return eval_or(p, n, out, err);
    case QUERY_NOT: {
        roaring_bitmap_t *acc = roaring_bitmap_copy(index_alive(p->ix));
        if (!acc)
            return -ENOMEM;
        int rc = restrict_node(p, n, &acc, err);
        if (rc) {
            roaring_bitmap_free(acc);
            return rc;
        }
        return set_owned(out, acc);
    }
    case QUERY_PREFILTER: {
        const roaring_bitmap_t *bm;
        int rc = resolve_prefilter(p, n, &bm, err);
        if (rc)
            return rc;
        /* a cached prefilter may predate a delete: keep only live documents */
        return set_owned(out, roaring_bitmap_and(bm, index_alive(p->ix)));
    }
    default:
        switch (n->field_kind) {
        case QUERY_FIELD_SORT:
            return eval_sort_leaf(p, n, out);
        case QUERY_FIELD_SLOT:
            return eval_slot_leaf(p, n, out);
        case QUERY_FIELD_FILTER:
            return eval_filter_leaf(p, n, out);
        default:
            return bdx_error_set(err, BDX_EINTERNAL, "field %s: clause not bound (validate first)",
                                 n->field ? n->field : "?");
        }
    }
}

static int eval(const planner_t *p, query_node_t *n, planner_result_t *out, bdx_error_t *err)
{
    uint64_t t0 = p->trace ? now_ns() : 0;
    memset(out, 0, sizeof(*out));
    int rc = eval_inner(p, n, out, err);
    if (rc) {
        planner_result_release(out);
        return rc;
    }
    n->stats.evaluated = true;
    n->stats.applied = false;
    if (p->trace) {
        n->stats.actual = roaring_bitmap_get_cardinality(out->bm);
        n->stats.ns = now_ns() - t0;
    }
    return 0;
}

/* ---- restriction: acc &= node ---- */

/* acc &= union(bms): per-bitmap ANDs when acc is much smaller than the union, else one OR. */
static int restrict_union(roaring_bitmap_t **acc, const bmvec_t *bms)
{
    if (bms->n == 0) {
        roaring_bitmap_clear(*acc);
        return 0;
    }
    if (bms->n == 1) {
        roaring_bitmap_and_inplace(*acc, bms->v[0]);
        return 0;
    }
    roaring_bitmap_t *r = roaring_bitmap_create();
    if (!r)
        return -ENOMEM;
    if (bmvec_exceeds(bms, roaring_bitmap_get_cardinality(*acc) * 4)) {
        for (size_t i = 0; i < bms->n; i++) {
            roaring_bitmap_t *t = roaring_bitmap_and(*acc, bms->v[i]);
            if (!t) {
                roaring_bitmap_free(r);
                return -ENOMEM;
            }
            roaring_bitmap_or_inplace(r, t);
            roaring_bitmap_free(t);
        }
        acc_replace(acc, r);
        return 0;
    }
    int rc = bitmap_or_many(bms->v, bms->n, r);
    if (rc == 0)
        roaring_bitmap_and_inplace(*acc, r);
    roaring_bitmap_free(r);
    return rc;
}

static int restrict_filter_leaf(const planner_t *p, query_node_t *n, roaring_bitmap_t **acc)
{
    size_t f = (size_t)n->field_index;
    const roaring_bitmap_t *exists = index_filter_exists(p->ix, f);
    bmvec_t bms;
    int rc;
    switch (n->op) {
    case QUERY_EQ: {
        const roaring_bitmap_t *bm = filter_bm(p, n, &n->values[0]);
        if (bm)
            roaring_bitmap_and_inplace(*acc, bm);
        else
            roaring_bitmap_clear(*acc);
        return 0;
    }
    case QUERY_IS_NOT_NULL:
        roaring_bitmap_and_inplace(*acc, exists);
        return 0;
    case QUERY_IS_NULL:
        roaring_bitmap_andnot_inplace(*acc, exists);
        return 0;
    default:
        break;
    }
    rc = filter_bitmaps(p, n, &bms);
    if (rc)
        return rc;
    if (n->op == QUERY_NOT_EQ || n->op == QUERY_NOT_IN) {
        roaring_bitmap_and_inplace(*acc, exists);
        for (size_t i = 0; i < bms.n && !roaring_bitmap_is_empty(*acc); i++)
            roaring_bitmap_andnot_inplace(*acc, bms.v[i]);
    } else {
        rc = restrict_union(acc, &bms);
    }
    free(bms.v);
    return rc;
}

static int restrict_sort_leaf(const planner_t *p, query_node_t *n, roaring_bitmap_t **acc)
{
    const bsi_t *bsi = index_sort_bsi(p->ix, (size_t)n->field_index);
    roaring_bitmap_t *r = NULL;
    int rc;
    switch (n->op) {
    case QUERY_IS_NOT_NULL:
        roaring_bitmap_and_inplace(*acc, bsi_exists(bsi));
        return 0;
    case QUERY_IS_NULL:
        roaring_bitmap_andnot_inplace(*acc, bsi_exists(bsi));
        return 0;
    case QUERY_IN:
        rc = sort_in(p, n, *acc, &r);
        if (rc == 0)
            acc_replace(acc, r);
        return rc;
    case QUERY_NOT_IN:
        roaring_bitmap_and_inplace(*acc, bsi_exists(bsi));
        rc = sort_in(p, n, *acc, &r);
        if (rc == 0) {
            roaring_bitmap_andnot_inplace(*acc, r);
            roaring_bitmap_free(r);
        }
        return rc;
    default: {
        /* a segment of the permutation no larger than the running set: read it, AND it */
        uint64_t lo, hi;
        if (is_sort_range(n->op)) {
            if (!query_node_bounds(n, UINT64_MAX, &lo, &hi)) {
                roaring_bitmap_clear(*acc);
                return 0;
            }
            uint64_t max = min_u64(index_doc_count(p->ix) / PERM_RANGE_DIV,
                                   roaring_bitmap_get_cardinality(*acc));
            rc = sort_range_perm(p, (size_t)n->field_index, lo, hi, max, &r);
            if (rc)
                return rc;
            if (r) {
                roaring_bitmap_and_inplace(*acc, r);
                roaring_bitmap_free(r);
                return 0;
            }
        }
        /* O'Neil-Quass over the slices, restricted to the running set */
        r = roaring_bitmap_create();
        if (!r)
            return -ENOMEM;
        uint64_t b = n->op == QUERY_BETWEEN ? (uint64_t)n->values[1].i : 0;
        rc = bsi_compare(bsi, bsi_op_of(n->op), (uint64_t)n->values[0].i, b, *acc, r);
        if (rc) {
            roaring_bitmap_free(r);
            return rc;
        }
        acc_replace(acc, r);
        return 0;
    }
    }
}

static int restrict_slot_leaf(query_node_t *n, roaring_bitmap_t **acc)
{
    int64_t lo, hi;
    switch (n->op) {
    case QUERY_IS_NULL:
        roaring_bitmap_clear(*acc);
        return 0;
    case QUERY_IS_NOT_NULL:
        return 0;
    case QUERY_NOT_EQ:
    case QUERY_NOT_IN:
        for (size_t i = 0; i < n->nvalues; i++)
            roaring_bitmap_remove(*acc, (uint32_t)n->values[i].i);
        return 0;
    case QUERY_EQ:
    case QUERY_IN: {
        roaring_bitmap_t *s = slot_set(n);
        if (!s)
            return -ENOMEM;
        roaring_bitmap_and_inplace(*acc, s);
        roaring_bitmap_free(s);
        return 0;
    }
    default:
        if (!int_range(n, 0, UINT32_MAX, &lo, &hi)) {
            roaring_bitmap_clear(*acc);
            return 0;
        }
        if (lo > 0)
            roaring_bitmap_remove_range(*acc, 0, (uint64_t)lo);
        if ((uint64_t)hi + 1 < SLOT_END)
            roaring_bitmap_remove_range(*acc, (uint64_t)hi + 1, SLOT_END);
        return 0;
    }
}

/* acc &= Not(child) = acc − child. When acc is the smaller side, the child is evaluated only
 * inside acc (a copy of acc restricted by it); otherwise the child is evaluated on its own
 * (borrowed when it is a stored bitmap) and removed. */
static int restrict_not(const planner_t *p, query_node_t *child, roaring_bitmap_t **acc,
                        bdx_error_t *err)
{
    int rc;
    if (roaring_bitmap_get_cardinality(*acc) < child->stats.estimate) {
        roaring_bitmap_t *t = roaring_bitmap_copy(*acc);
        if (!t)
            return -ENOMEM;
        rc = restrict_node(p, child, &t, err);
        if (rc == 0)
            roaring_bitmap_andnot_inplace(*acc, t);
        roaring_bitmap_free(t);
        return rc;
    }
    planner_result_t r;
    rc = eval(p, child, &r, err);
    if (rc)
        return rc;
    roaring_bitmap_andnot_inplace(*acc, r.bm);
    planner_result_release(&r);
    return 0;
}

/* acc &= Or(children): inside a small acc, the union of acc restricted by each child;
 * otherwise the Or evaluated on its own. */
static int restrict_or(const planner_t *p, query_node_t *n, roaring_bitmap_t **acc,
                       bdx_error_t *err)
{
    int rc = 0;
    if (roaring_bitmap_get_cardinality(*acc) >= n->stats.estimate) {
        planner_result_t r;
        rc = eval_or(p, n, &r, err);
        if (rc)
            return rc;
        roaring_bitmap_and_inplace(*acc, r.bm);
        planner_result_release(&r);
        return 0;
    }
    roaring_bitmap_t *u = roaring_bitmap_create();
    if (!u)
        return -ENOMEM;
    for (size_t i = 0; i < n->nchildren; i++) {
        roaring_bitmap_t *t = roaring_bitmap_andnot(*acc, u); /* skip what already matched */
        if (!t) {
            rc = -ENOMEM;
            break;
        }
        if (!roaring_bitmap_is_empty(t))
            rc = restrict_node(p, n->children[i], &t, err);
        if (rc == 0)
            roaring_bitmap_or_inplace(u, t);
        roaring_bitmap_free(t);
        if (rc)
            break;
    }
    if (rc) {
        roaring_bitmap_free(u);
        return rc;
    }
    acc_replace(acc, u);
    return 0;
}

static int restrict_inner(const planner_t *p, query_node_t *n, roaring_bitmap_t **acc,
                          bdx_error_t *err)
{
    switch (n->op) {
    case QUERY_AND: {
        size_t *order;
        int rc = and_order(n, &order);
        if (rc)
            return rc;
        rc = restrict_children(p, n, order, 0, acc, err);
        free(order);
        return rc;
    }
    case QUERY_OR:
        return restrict_or(p, n, acc, err);
    case QUERY_NOT:
        return restrict_not(p, n->children[0], acc, err);
    case QUERY_PREFILTER: {
        const roaring_bitmap_t *bm;
        int rc = resolve_prefilter(p, n, &bm, err);
        if (rc == 0)
            roaring_bitmap_and_inplace(*acc, bm);
        return rc;
    }
    default:
        switch (n->field_kind) {
        case QUERY_FIELD_SORT:
            return restrict_sort_leaf(p, n, acc);
        case QUERY_FIELD_SLOT:
            return restrict_slot_leaf(n, acc);
        case QUERY_FIELD_FILTER:
            return restrict_filter_leaf(p, n, acc);
        default:
            return bdx_error_set(err, BDX_EINTERNAL, "field %s: clause not bound (validate first)",
                                 n->field ? n->field : "?");
        }
    }
}

static int restrict_node(const planner_t *p, query_node_t *n, roaring_bitmap_t **acc,
                         bdx_error_t *err)
{
    uint64_t t0 = p->trace ? now_ns() : 0;
    int rc = restrict_inner(p, n, acc, err);
    if (rc)
        return rc;
    n->stats.evaluated = true;
    n->stats.applied = true;
    if (p->trace) {
        n->stats.actual = roaring_bitmap_get_cardinality(*acc);
        n->stats.ns = now_ns() - t0;
    }
    return 0;
}

int planner_eval(const planner_t *p, query_node_t *root, planner_result_t *out, bdx_error_t *err)
{
    memset(out, 0, sizeof(*out));
    if (!root)
        return set_borrowed(out, index_alive(p->ix));
    return eval(p, root, out, err);
}

/* ---- counting ---- */

/* A node whose bitmap is one stored bitmap: its count needs no evaluation. Sets *bm. */
static bool stored_bitmap(const planner_t *p, const query_node_t *n, const roaring_bitmap_t **bm)
{
    if (n->op == QUERY_EQ && n->field_kind == QUERY_FIELD_FILTER) {
        *bm = filter_bm(p, n, &n->values[0]);
        return true;
    }
    if (n->op == QUERY_IS_NOT_NULL) {
        switch (n->field_kind) {
        case QUERY_FIELD_FILTER:
            *bm = index_filter_exists(p->ix, (size_t)n->field_index);
            return true;
        case QUERY_FIELD_SORT:
            *bm = bsi_exists(index_sort_bsi(p->ix, (size_t)n->field_index));
            return true;
        case QUERY_FIELD_SLOT:
            *bm = index_alive(p->ix);
            return true;
        default:
            return false;
        }
    }
    return false;
}

/*
 * Complement form for counting: the bitmaps whose union is what a negative And child removes
 * from the live documents. NotEq/NotIn on a field every live document has a value of removes
 * its value bitmaps; IsNull removes the field's existence bitmap; Not(Eq/In) on a filter field
 * removes the value bitmaps. Value and existence bitmaps are subsets of alive (clean deletes),
 * so |alive - union| is exact. Returns false when `c` has no such form.
 */
static bool excluded_bitmaps(const planner_t *p, const query_node_t *c, uint64_t alive,
                             bmvec_t *out)
{
    if (c->op == QUERY_NOT) {
        const query_node_t *x = c->children[0];
        if (x->field_kind != QUERY_FIELD_FILTER || (x->op != QUERY_EQ && x->op != QUERY_IN))
            return false;
        bmvec_t v;
        if (filter_bitmaps(p, x, &v) < 0)
            return false;
        for (size_t i = 0; i < v.n; i++)
            bmvec_push(out, v.v[i]);
        free(v.v);
        return !out->oom;
    }
    if (c->field_kind != QUERY_FIELD_FILTER)
        return false;
    const roaring_bitmap_t *exists = index_filter_exists(p->ix, (size_t)c->field_index);
    if (c->op == QUERY_IS_NULL) {
        bmvec_push(out, exists);
        return !out->oom;
    }
    if ((c->op != QUERY_NOT_EQ && c->op != QUERY_NOT_IN) ||
        index_filter_exists_count(p->ix, (size_t)c->field_index) != alive)
        return false;
    bmvec_t v;
    if (filter_bitmaps(p, c, &v) < 0)
        return false;
    for (size_t i = 0; i < v.n; i++)
        bmvec_push(out, v.v[i]);
    free(v.v);
    return !out->oom;
}

/* Counts an And whose children are all complement forms but at most one: alive - |union| or
 * |P| - |P AND union|, never building the dense result. False when it does not apply. */
static int count_and_complement(const planner_t *p, query_node_t *n, uint64_t *count, bool *done,
                                bdx_error_t *err)
{
    uint64_t alive = index_doc_count(p->ix);
    bmvec_t ex = {0};
    query_node_t *pos = NULL;
    roaring_bitmap_t *u = NULL;
    planner_result_t r = {0};
    int rc = 0;
    *done = false;
    for (size_t i = 0; i < n->nchildren; i++) {
        size_t before = ex.n;
        if (excluded_bitmaps(p, n->children[i], alive, &ex))
            continue;
        ex.n = before;
        if (pos || ex.oom)
            goto out; /* two positive children: the running-set evaluation is better */
        pos = n->children[i];
    }
    u = roaring_bitmap_create();
    if (!u) {
        rc = -ENOMEM;
        goto out;
    }
    if (ex.n)
        rc = bitmap_or_many(ex.v, ex.n, u);
    if (rc)
        goto out;
    if (!pos) {
        *count = sat_sub(alive, roaring_bitmap_get_cardinality(u));
    } else {
        rc = eval(p, pos, &r, err);
        if (rc)
            goto out;
        *count = roaring_bitmap_get_cardinality(r.bm) - roaring_bitmap_and_cardinality(r.bm, u);
    }
    *done = true;
out:
    planner_result_release(&r);
    if (u)
        roaring_bitmap_free(u);
    free(ex.v);
    return rc;
}

static int count_node(const planner_t *p, query_node_t *n, uint64_t *count, bdx_error_t *err)
{
    const roaring_bitmap_t *a, *b;
    uint64_t alive = index_doc_count(p->ix);
    if (stored_bitmap(p, n, &a)) {
        *count = bitmap_count(a);
        return 0;
    }
    if (n->op == QUERY_NOT) {
        uint64_t c;
        int rc = count_node(p, n->children[0], &c, err);
        *count = sat_sub(alive, c); /* every result is a subset of alive */
        return rc;
    }
    if ((n->op == QUERY_AND || n->op == QUERY_OR) && n->nchildren == 2) {
        query_node_t *x = n->children[0], *y = n->children[1];
        if (stored_bitmap(p, x, &a) && stored_bitmap(p, y, &b)) {
            if (!a || !b) {
                *count = n->op == QUERY_AND ? 0 : bitmap_count(a ? a : b);
                return 0;
            }
            *count = n->op == QUERY_AND ? roaring_bitmap_and_cardinality(a, b)
                                        : roaring_bitmap_or_cardinality(a, b);
            return 0;
        }
        if (n->op == QUERY_AND) {
            /* And(x, Not y) = |x| - |x AND y| */
            if (y->op == QUERY_NOT && stored_bitmap(p, x, &a) &&
                stored_bitmap(p, y->children[0], &b)) {
                *count = !a ? 0 : !b ? bitmap_count(a) : roaring_bitmap_andnot_cardinality(a, b);
                return 0;
            }
            if (x->op == QUERY_NOT && stored_bitmap(p, y, &a) &&
                stored_bitmap(p, x->children[0], &b)) {
                *count = !a ? 0 : !b ? bitmap_count(a) : roaring_bitmap_andnot_cardinality(a, b);
                return 0;
            }
        }
    }
    if (n->op == QUERY_AND) {
        bool done;
        int rc = count_and_complement(p, n, count, &done, err);
        if (rc || done)
            return rc;
    }
    planner_result_t r;
    int rc = eval(p, n, &r, err);
    if (rc)
        return rc;
    *count = roaring_bitmap_get_cardinality(r.bm);
    planner_result_release(&r);
    return 0;
}

int planner_count(const planner_t *p, query_node_t *root, uint64_t *count, bdx_error_t *err)
{
    if (!root) {
        *count = index_doc_count(p->ix);
        return 0;
    }
    planner_estimate(p, root);
    return count_node(p, root, count, err);
}

/*
 * search: one query, one page. See search.h for the steps.
 *
 * The caller's query is never modified: validation binds fields and canonicalization rewrites
 * the tree, so both work on a private copy of the filter.
 */
#include "common/search.h"

#include <stdio.h>

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/match.h"

static uint64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* A validated, canonical private copy of the query. */
typedef struct prepared {
    query_t q;            /* shallow copy of the caller's query; filter replaced */
    query_node_t *filter; /* owned canonical copy */
    uint32_t limit;
    int sort_field; /* -1 = no sort */
    uint64_t fingerprint;
    bool has_cursor;
    cursor_t cursor;
} prepared_t;

static int prepare(const index_t *ix, const query_t *q, const search_options_t *opt, prepared_t *pq,
                   bdx_error_t *err)
{
    const schema_t *schema = index_schema(ix);
    int rc;
    memset(pq, 0, sizeof(*pq));
    pq->q = *q;
    pq->q.filter = NULL;
    if (!pq->q.index)
        pq->q.index = schema->name;
    if (q->filter) {
        pq->filter = query_node_clone(q->filter);
        if (!pq->filter)
            return -ENOMEM;
    }
    pq->q.filter = pq->filter;
    rc = query_validate(&pq->q, schema, opt ? opt->limits : NULL, &pq->limit, err);
    if (rc)
        return rc;
    rc = query_canonicalize(&pq->filter);
    pq->q.filter = pq->filter;
    if (rc)
        return rc;
    pq->sort_field = q->sort_field ? schema_sort_find(schema, q->sort_field) : -1;
    rc = query_fingerprint(&pq->q, pq->filter, &pq->fingerprint);
    if (rc)
        return rc;
    if (q->cursor && q->cursor_len) {
        rc = cursor_decode(q->cursor, q->cursor_len, pq->fingerprint, pq->sort_field >= 0,
                           &pq->cursor, err);
        if (rc)
            return rc;
        pq->has_cursor = true;
    }
    return 0;
}

void search_result_free(search_result_t *r)
{
    if (!r)
        return;
    free(r->slots);
    free(r->values);
    explain_free(r->explain);
    free(r);
}

/* A filter whose bitmap costs nothing to get (borrowed from the index). */
static bool filter_is_stored(const query_node_t *f)
{
    return !f || (f->field_kind == QUERY_FIELD_FILTER &&
                  (f->op == QUERY_EQ || f->op == QUERY_IS_NOT_NULL));
}

/* Whether to test the filter slot by slot instead of building it: a walk (or slot-order read)
 * expected to read few slots, of a filter that would cost something to build. Sets *budget,
 * the number of slot tests after which the walk gives up (0 = never: forced). */
static bool use_predicate(const sort_request_t *rq, const query_node_t *f, uint64_t expected,
                          const search_options_t *opt, sort_strategy_t choice, uint64_t *budget)
{
    sort_thresholds_t def;
    const sort_thresholds_t *th = opt && opt->thresholds ? opt->thresholds : NULL;
    if (!th) {
        sort_thresholds_default(&def);
        th = &def;
    }
    *budget = 0;
    if (filter_is_stored(f))
        return false;
    if (choice == SORT_WALK && opt && opt->force == SORT_WALK)
        return true;
    if (choice != SORT_WALK && choice != SORT_SLOT)
        return false;
    uint64_t alive = index_doc_count(rq->ix);
    double scan = (double)rq->limit * (double)alive / (double)(expected ? expected : 1);
    if (choice == SORT_SLOT && (expected <= th->materialize_max || scan > th->walk_max_scan))
        return false;
    /* a filter sparser than expected costs a bounded detour before it is built */
    double b = 8.0 * scan;
    if (b < 4096)
        b = 4096;
    if (b > (double)th->walk_max_scan)
        b = (double)th->walk_max_scan;
    *budget = (uint64_t)b + 1;
    return true;
}

int search_run(const index_t *ix, const query_t *q, const search_options_t *opt,
               search_result_t **out, bdx_error_t *err)
{
    uint64_t t0 = now_ns(), t1, t2, t3;
    prepared_t pq;
    planner_result_t filter = {0};
    match_t *match = NULL;
    search_result_t *r = NULL;
    bool explain = q->flags & QUERY_WANT_EXPLAIN;
    bool built = false;
    uint64_t filter_count = 0, tested = 0;
    size_t got = 0;
    sort_strategy_t force = opt ? opt->force : SORT_AUTO;
    const sort_thresholds_t *th = opt ? opt->thresholds : NULL;
    int rc;

    *out = NULL;
    rc = prepare(ix, q, opt, &pq, err);
    if (rc)
        goto out;
    r = calloc(1, sizeof(*r));
    if (!r) {
        rc = -ENOMEM;
        goto out;
    }
    r->slots = malloc(((size_t)pq.limit + 1) * sizeof(*r->slots));
    r->values = malloc(((size_t)pq.limit + 1) * sizeof(*r->values));
    if (!r->slots || !r->values || (explain && !(r->explain = explain_new()))) {
        rc = -ENOMEM;
        goto out;
    }
    t1 = now_ns();

    planner_t planner = {
        .ix = ix,
        .prefilter = opt ? opt->prefilter : NULL,
        .prefilter_arg = opt ? opt->prefilter_arg : NULL,
        .trace = explain,
    };
    /* Slot order over one stored bitmap (a user page) needs no estimate: nothing is chosen from
     * it, and counting a run-heavy value bitmap costs O(runs). */
    bool stored = filter_is_stored(pq.filter);
    bool need_estimate = pq.sort_field >= 0 || explain || !stored;
    uint64_t estimate = need_estimate ? planner_estimate(&planner, pq.filter) : 0;
    uint64_t expected = need_estimate ? planner_expected(&planner, pq.filter) : 0;
    sort_request_t rq = {
        .ix = ix,
        .field = pq.sort_field,
        .desc = q->sort_field ? q->sort_desc : true, /* a sort field, or `id` */
        .after = pq.has_cursor ? &pq.cursor : NULL,
        .limit = pq.limit + 1, /* one more than the page: tells whether a next page exists */
    };
    char reason[sizeof(r->explain->reason)];
    /* First choice from the expected size: a dense filter is tested per slot, never built. */
    r->strategy = sort_choose(&rq, expected, force, th, reason, sizeof(reason));
    if (use_predicate(&rq, pq.filter, expected, opt, r->strategy, &rq.max_scan)) {
        rc = match_new(&planner, pq.filter, &match, err);
        if (rc)
            goto out;
        if (q->flags & QUERY_WANT_TOTAL) {
            rc = planner_count(&planner, pq.filter, &filter_count, err);
            if (rc)
                goto out;
        }
        t2 = now_ns();
        rq.match = match_test_fn;
        rq.match_arg = match;
        rc = sort_run(r->strategy, &rq, r->slots, r->values, &got);
        if (rc == 0) {
            size_t l = strlen(reason);
            snprintf(reason + l, sizeof(reason) - l, "; expected %llu rows, tested per slot",
                     (unsigned long long)expected);
            goto page;
        }
        if (rc != -EAGAIN)
            goto out;
        tested = rq.max_scan; /* sparser than expected: build it after all */
        rq.match = NULL;
        rq.match_arg = NULL;
        rq.max_scan = 0;
    }
    rc = planner_eval(&planner, pq.filter, &filter, err);
    if (rc)
        goto out;
    built = true;
    /* a stored bitmap's estimate is its exact cardinality (no need to count it again); without
     * an estimate (slot order) the count is only needed for the total */
    if (stored && need_estimate)
        filter_count = estimate;
    else if (need_estimate || (q->flags & QUERY_WANT_TOTAL))
        filter_count = roaring_bitmap_get_cardinality(filter.bm);
    t2 = now_ns();
    rq.filter = filter.bm;
    r->strategy = sort_choose(&rq, filter_count, force, th, reason, sizeof(reason));
    rc = sort_run(r->strategy, &rq, r->slots, r->values, &got);
    if (rc)
        goto out;
page:
    if (q->flags & QUERY_WANT_TOTAL) {
        r->has_total = true;
        r->total = filter_count;
    }
    if (got > pq.limit) {
        r->count = pq.limit;
        cursor_t next = {
            .has_value = pq.sort_field >= 0,
            .value = pq.sort_field >= 0 ? r->values[pq.limit - 1] : 0,
            .slot = r->slots[pq.limit - 1],
        };
        cursor_encode(&next, pq.fingerprint, r->cursor);
        r->cursor_len = CURSOR_SIZE;
    } else {
        r->count = got;
    }
    t3 = now_ns();

    if (explain) {
        explain_t *e = r->explain;
        rc = explain_set_plan(e, pq.filter);
        if (rc == 0)
            rc = explain_set_sort(e, q->sort_field, q->sort_desc);
        if (rc)
            goto out;
        e->limit = pq.limit;
        e->has_cursor = pq.has_cursor;
        e->filter_estimate = estimate;
        e->filter_expected = expected;
        e->filter_count = filter_count;
        e->filter_built = built;
        e->has_total = r->has_total;
        e->walk_tested = tested;
        e->strategy = r->strategy;
        memcpy(e->reason, reason, sizeof(e->reason));
        e->prepare_ns = t1 - t0;
        e->filter_ns = t2 - t1;
        e->sort_ns = t3 - t2;
        e->total_ns = now_ns() - t0;
        e->rows = r->count;
    }
    *out = r;
    r = NULL;
out:
    match_free(match);
    planner_result_release(&filter);
    query_node_free(pq.filter);
    search_result_free(r);
    return rc;
}

int search_count(const index_t *ix, const query_t *q, const search_options_t *opt, uint64_t *count,
                 bdx_error_t *err)
{
    query_t plain = *q;
    explain_t *none = NULL;

    plain.flags &= ~(unsigned)QUERY_WANT_EXPLAIN;
    return search_count_explain(ix, &plain, opt, count, &none, err);
}

int search_count_explain(const index_t *ix, const query_t *q, const search_options_t *opt,
                         uint64_t *count, explain_t **explain, bdx_error_t *err)
{
    uint64_t t0 = now_ns(), t1;
    planner_result_t res = {0};
    explain_t *e = NULL;
    prepared_t pq;
    int rc;

    *explain = NULL;
    rc = prepare(ix, q, opt, &pq, err);
    if (rc)
        goto out;
    planner_t planner = {
        .ix = ix,
        .prefilter = opt ? opt->prefilter : NULL,
        .prefilter_arg = opt ? opt->prefilter_arg : NULL,
        .trace = (q->flags & QUERY_WANT_EXPLAIN) != 0,
    };
    if (!planner.trace) {
        rc = planner_count(&planner, pq.filter, count, err);
        goto out;
    }
    t1 = now_ns();
    if (!(e = explain_new())) {
        rc = -ENOMEM;
        goto out;
    }
    e->filter_estimate = planner_estimate(&planner, pq.filter);
    e->filter_expected = planner_expected(&planner, pq.filter);
    rc = planner_eval(&planner, pq.filter, &res, err);
    if (rc)
        goto out;
    *count = roaring_bitmap_get_cardinality(res.bm);
    rc = explain_set_plan(e, pq.filter);
    if (rc == 0)
        rc = explain_set_sort(e, NULL, true);
    if (rc)
        goto out;
    e->filter_count = *count;
    e->filter_built = true;
    e->has_total = true;
    e->strategy = SORT_AUTO;
    snprintf(e->reason, sizeof(e->reason), "count: no ordering");
    e->prepare_ns = t1 - t0;
    e->filter_ns = now_ns() - t1;
    e->total_ns = now_ns() - t0;
    *explain = e;
    e = NULL;
out:
    explain_free(e);
    planner_result_release(&res);
    query_node_free(pq.filter);
    return rc;
}

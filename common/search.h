/*
 * search: the query engine's entry point — run one query against an index, get one page.
 *
 *   query_t *q = query_new("images");
 *   query_set_filter(q, query_and(2, query_eq("nsfwLevel", query_int(1)),
 *                                    query_not(query_in(QUERY_IN, "tagIds", tags, ntags))));
 *   query_set_sort(q, "sortAt", true);
 *   q->limit = 50;
 *   search_result_t *r;
 *   if (search_run(ix, q, NULL, &r, &err) == 0) {
 *       ... r->slots[0..r->count), r->values[...], r->cursor[0..r->cursor_len) ...
 *       search_result_free(r);
 *   }
 *   // next page: query_set_cursor(q, r->cursor, r->cursor_len) (copy it before freeing r)
 *
 * Steps: validate (query.h) -> canonicalize -> fingerprint and decode the cursor (cursor.h) ->
 * estimate and evaluate the filter (planner.h) -> choose and run a sort strategy (sort.h) ->
 * page + next cursor (+ total count, + explain trace).
 *
 * The page holds the first `limit` rows strictly after the cursor; the next cursor is set only
 * when more rows follow (it is found by asking the strategy for limit + 1 rows), so paging
 * until the cursor is empty visits every match exactly once, in order.
 *
 * Concurrency: reads the index only; the caller keeps it (its snapshot) alive and unwritten for
 * the duration of the call. Any number of searches may run concurrently on one index.
 */
#ifndef BITDEX_SEARCH_H
#define BITDEX_SEARCH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/cursor.h"
#include "common/error.h"
#include "common/explain.h"
#include "common/index.h"
#include "common/planner.h"
#include "common/query.h"
#include "common/sort.h"

typedef struct search_options {
    const query_limits_t *limits;        /* NULL = query_limits_default() */
    const sort_thresholds_t *thresholds; /* NULL = sort_thresholds_default() */
    sort_strategy_t force;               /* SORT_AUTO = choose; else always this strategy
                                             (ignored for queries without a sort field) */
    planner_prefilter_fn prefilter;      /* NULL = no prefilters registered */
    void *prefilter_arg;
} search_options_t;

typedef struct search_result {
    uint32_t *slots;  /* the page: `count` slots (= document ids) in order. Owned. */
    uint64_t *values; /* their sort values (0 without a sort). Owned. */
    size_t count;
    uint8_t cursor[CURSOR_SIZE]; /* next-page cursor: cursor_len bytes, 0 = no more rows */
    size_t cursor_len;
    bool has_total;           /* set when the query asked for QUERY_WANT_TOTAL */
    uint64_t total;           /* exact number of matching documents (all pages) */
    sort_strategy_t strategy; /* the strategy used */
    explain_t *explain;       /* trace when the query asked for QUERY_WANT_EXPLAIN; owned */
} search_result_t;

/*
 * Runs `q` against `ix` (both borrowed). `opt` may be NULL (defaults). On success *out is the
 * result (caller frees with search_result_free()). Returns 0, or
 *   BDX_EINVAL / BDX_ELIMIT  the query is invalid (see query_validate());
 *   BDX_ECURSOR              malformed cursor, or one from another query;
 *   BDX_ENOTFOUND            a prefilter is not registered;
 *   -ENOMEM.
 * with a message in `err` (may be NULL).
 */
int search_run(const index_t *ix, const query_t *q, const search_options_t *opt,
               search_result_t **out, bdx_error_t *err);

/* Exact count of the documents matching q's filter (sort, limit and cursor are validated but
 * otherwise ignored), with cardinality-only operations where possible. Same errors. */
int search_count(const index_t *ix, const query_t *q, const search_options_t *opt, uint64_t *count,
                 bdx_error_t *err);

/* search_count() that also returns a trace when q->flags has QUERY_WANT_EXPLAIN: *explain is then
 * set (caller frees with explain_free()), with strategy SORT_AUTO (no ordering ran) and the
 * filter evaluated in full (a trace needs the per-clause cardinalities); otherwise *explain is
 * NULL and the count costs what search_count() costs. Same errors. */
int search_count_explain(const index_t *ix, const query_t *q, const search_options_t *opt,
                         uint64_t *count, explain_t **explain, bdx_error_t *err);

/* Frees a result. NULL is a no-op. */
void search_result_free(search_result_t *r);

#endif

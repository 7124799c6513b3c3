/*
 * match: a filter tree compiled into a per-slot predicate.
 *
 * A dense filter (most live documents match) is cheaper to test slot by slot than to build:
 * a sorted walk reads ~ limit / selectivity slots, while building `nsfwLevel NotIn {16,32}` over
 * 10M documents touches every container. match_new() resolves everything a test needs once
 * (value bitmaps, the field's existence bitmap, the sort column, prefilter bitmaps) and orders
 * And children most selective first and Or children least selective first (by the estimates
 * planner_estimate() stored), so a test usually stops after one or two membership probes.
 *
 * The predicate answers for a *live* slot exactly what the planner's evaluation answers (the
 * semantics of query.h); callers test live slots only (a sorted walk's non-dirty permutation
 * entries are live by construction).
 *
 * Ownership: the matcher borrows the index and prefilter bitmaps (valid while the index is held
 * and the resolver's bitmaps live) and the tree's values; caller frees it with match_free().
 * Concurrency: match_test() only reads; one matcher may be tested from one thread at a time.
 */
#ifndef BITDEX_MATCH_H
#define BITDEX_MATCH_H

#include <stdbool.h>
#include <stdint.h>

#include "common/error.h"
#include "common/planner.h"
#include "common/query.h"

typedef struct match match_t;

/*
 * Compiles `root` (validated, bound, canonical, after planner_estimate(); not NULL) for the
 * planner's index. Caller frees *out with match_free(). Returns 0, -ENOMEM, or the planner's
 * prefilter errors (BDX_ENOTFOUND).
 */
int match_new(const planner_t *p, const query_node_t *root, match_t **out, bdx_error_t *err);

/* True when the live slot `slot` matches. */
bool match_test(const match_t *m, uint32_t slot);

/* Same, with the signature of sort_match_fn (arg is a match_t). */
bool match_test_fn(void *arg, uint32_t slot);

/* Frees it. NULL is a no-op. */
void match_free(match_t *m);

#endif

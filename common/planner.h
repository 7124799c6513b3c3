/*
 * planner: estimates and evaluates a validated, canonical filter tree against an index.
 *
 * Estimation (planner_estimate) gives every node a cardinality estimate from what is cheap to
 * read: roaring cardinalities of value/null/exists bitmaps, the sort field's permutation (a
 * binary search counts the values in a range as of its build) and range cardinalities of the
 * alive bitmap for `id`. Evaluation (planner_eval) then follows the estimates:
 *
 *   - an And starts from its cheapest positive child and *restricts* that running set in place
 *     with the others in ascending estimate order (and_inplace / andnot_inplace; a sort-field
 *     range (or Eq) reads its segment of the field's permutation when that is at most 1/16 of
 *     the live documents and no larger than the running set, correcting for the dirty slots,
 *     else goes through bsi_compare restricted to the running set), stopping as soon as it is
 *     empty; negative children (Not x, NotEq, NotIn, IsNull) become andnot operations, so
 *     `And(x, Not y)` never materializes Not y;
 *   - leaves that are a stored bitmap (Eq, IsNotNull) are borrowed, never copied, when they are
 *     the whole answer, so an unfiltered or single-clause query costs no copy;
 *   - counts that need no bitmap (planner_count) use cardinality-only operations
 *     (and/andnot/or_cardinality) where the tree is shallow enough.
 *
 * Every result is a subset of the alive bitmap (prefilter bitmaps, which may be older than a
 * delete, are intersected with it).
 *
 * With `trace` set the planner records, in each node's `stats`, its estimate, its actual
 * cardinality and the time it took (explain.h prints them).
 *
 * Concurrency: reads the index only; the caller holds it (or its snapshot) for the duration.
 * Writes only to the query tree it is given (stats).
 */
#ifndef BITDEX_PLANNER_H
#define BITDEX_PLANNER_H

#include <roaring/roaring.h>
#include <stdbool.h>
#include <stdint.h>

#include "common/error.h"
#include "common/index.h"
#include "common/query.h"

/*
 * Resolves a prefilter by name: on success stores a bitmap in *out that stays valid for the
 * whole query (borrowed) and returns 0; otherwise returns an error code (and may fill err).
 */
typedef int (*planner_prefilter_fn)(void *arg, const char *name, const roaring_bitmap_t **out,
                                    bdx_error_t *err);

typedef struct planner {
    const index_t *ix;              /* borrowed; must outlive the planner's use */
    planner_prefilter_fn prefilter; /* NULL: every Prefilter clause is BDX_ENOTFOUND */
    void *prefilter_arg;
    bool trace; /* record stats.actual / stats.ns in every node */
} planner_t;

/* A filter result: `bm` is what to read; `owned` is non-NULL when the result was built for the
 * caller (then bm == owned and planner_result_release() frees it); otherwise bm is borrowed
 * from the index (valid while the index is held). bm is never NULL after success. */
typedef struct planner_result {
    const roaring_bitmap_t *bm;
    roaring_bitmap_t *owned;
} planner_result_t;

/* Estimates the cardinality of every node of `root` (stored in stats.estimate) and returns the
 * root's. NULL root = every live document. */
uint64_t planner_estimate(const planner_t *p, query_node_t *root);

/*
 * The expected cardinality of `root` assuming its clauses are independent (And: alive x the
 * product of the children's selectivities; Or: alive x (1 - the product of the complements);
 * Not: the complement), from the estimates planner_estimate() stored. Tighter than the
 * estimate (an And's estimate is its smallest child's) for the dense filters whose cost a
 * sorted walk depends on; correlated clauses make it optimistic, so use it to choose, not to
 * promise. NULL root = every live document.
 */
uint64_t planner_expected(const planner_t *p, const query_node_t *root);

/*
 * Evaluates `root` (validated, bound and preferably canonical; NULL = every live document) after
 * planner_estimate() has run on it. On success *out holds the result (release with
 * planner_result_release()). Returns 0, -ENOMEM, or BDX_ENOTFOUND ("prefilter X not
 * registered") / the resolver's error for a Prefilter clause.
 */
int planner_eval(const planner_t *p, query_node_t *root, planner_result_t *out, bdx_error_t *err);

/* Exact number of documents matching `root` (NULL = all live), using cardinality-only
 * operations where possible. Estimates are computed if needed. Same errors as planner_eval(). */
int planner_count(const planner_t *p, query_node_t *root, uint64_t *count, bdx_error_t *err);

/* Frees an owned result and clears it. Safe on a zeroed result. */
void planner_result_release(planner_result_t *r);

#endif

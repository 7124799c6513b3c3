/*
 * shape_query: a benchmark shape as a bitdex query, and running it in process.
 *
 * shape_query_build() turns a parsed parameter line into a query_t exactly as a client would
 * send it (filter tree, sort, limit 50, and for Q4 a cursor positioned after the line's
 * (sortAt, id)); shape_query_run() answers it through the engine's public entry points:
 * search_run() for pages, search_count() for Qc.
 *
 * One shape needs a workaround: Q8 sorts by id ascending, which search.h cannot express (a query
 * without a sort field is id descending, and `id` is not a sort field). Q8 therefore runs the
 * same preparation as search_run() (validate, canonicalize) and the planner, then reads the
 * first 50 slots of the filter bitmap in ascending order. That is the cheapest possible
 * implementation of "id asc" and is labelled in the reports.
 *
 * Thread-safety: a shape_query_t is used by one thread at a time (running it writes planner
 * statistics into a private copy of the filter only; the query itself is not modified except for
 * its flags during shape_query_run()).
 */
#ifndef BITDEX_BENCH_SHAPE_QUERY_H
#define BITDEX_BENCH_SHAPE_QUERY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "bench/shape.h"
#include "common/error.h"
#include "common/index.h"
#include "common/query.h"
#include "common/search.h"
#include "common/sort.h"

typedef struct shape_query {
    query_t *q;      /* owned */
    bool id_asc;     /* Q8: planner + ascending read (see above) */
    bool count_only; /* Qc: search_count() */
} shape_query_t;

typedef struct shape_answer {
    size_t n;
    uint32_t ids[SHAPE_LIMIT];
    uint64_t values[SHAPE_LIMIT];
    bool has_count; /* count is valid (Qc, or want_total) */
    uint64_t count;
    sort_strategy_t strategy; /* SORT_AUTO for count-only and id-asc runs */
} shape_answer_t;

/* Builds the query for `a` against `ix`'s schema. Free with shape_query_free() (also after a
 * failure). Returns 0, -ENOMEM, or the error of query validation (BDX_EINVAL ...). */
int shape_query_build(const index_t *ix, const shape_args_t *a, shape_query_t *out,
                      bdx_error_t *err);

void shape_query_free(shape_query_t *sq);

/*
 * Runs it. `opt` is passed to search (may be NULL). With `want_total`, page shapes also report
 * the exact number of matching documents (QUERY_WANT_TOTAL; costs extra, so not in timed runs).
 * Returns the engine's error code (0 on success).
 */
int shape_query_run(const index_t *ix, shape_query_t *sq, const search_options_t *opt,
                    bool want_total, shape_answer_t *out, bdx_error_t *err);

#endif

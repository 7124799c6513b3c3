/*
 * naive: the brute-force reference. Answers a shape by scanning every row of the dataset's
 * columns, with none of bitdex's machinery (no bitmaps, no planner, no sort strategies), so its
 * answer is an independent check of the engine's and its time is a baseline: "how long a scan
 * over plain columns in the same process takes".
 *
 * Semantics are the engine's (common/query.h): a page is the first SHAPE_LIMIT rows in
 * (value, id) order in the sort's direction, strictly after the cursor for Q4; NOT clauses
 * match documents without tags; strings are compared exactly.
 *
 * Reads the dataset only; thread-safe.
 */
#ifndef BITDEX_BENCH_NAIVE_H
#define BITDEX_BENCH_NAIVE_H

#include <stddef.h>
#include <stdint.h>

#include "bench/dataset.h"
#include "bench/shape.h"

typedef struct naive_result {
    size_t n;                     /* rows in the page */
    uint32_t ids[SHAPE_LIMIT];    /* in page order */
    uint64_t values[SHAPE_LIMIT]; /* sort value per row (0 for id orders) */
    uint64_t count;               /* documents matching the filter (every shape) */
} naive_result_t;

/* Answers `a` over `ds` into *out. Returns 0 or -ENOMEM. */
int naive_run(const dataset_t *ds, const shape_args_t *a, naive_result_t *out);

#endif

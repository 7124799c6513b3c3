/*
 * loader: fills a bitdex index from a loaded dataset, with the benchmark's schema.
 *
 * Schema (BENCHMARK "Data"): filter fields nsfwLevel, userId, postId (int), tagIds (int,
 * multi-valued), baseModel, type, availability (string), hasMeta, onSite, poi, minor (bool),
 * blockedFor (string, nullable); sort fields sortAt, reactionCount, commentCount,
 * collectedCount (32 bits). url/width/height are stored-only data the index does not hold.
 *
 * The fill goes through the public write path (index_put per document, in increasing id order,
 * which is the bulk-friendly order), then index_rebuild_perms() and index_optimize(), and times
 * each phase separately.
 *
 * Single-threaded; the index is the caller's and has a single writer.
 */
#ifndef BITDEX_BENCH_LOADER_H
#define BITDEX_BENCH_LOADER_H

#include "bench/dataset.h"
#include "common/error.h"
#include "common/index.h"
#include "common/schema.h"

typedef struct loader_stats {
    double put_seconds;      /* index_bulk_put of every document, then index_bulk_flush */
    double perms_seconds;    /* index_rebuild_perms() */
    double optimize_seconds; /* index_optimize() */
    double freeze_seconds;   /* index_freeze() */
} loader_stats_t;

/* The benchmark schema, validated. Caller frees *out with schema_free(). 0, -ENOMEM or
 * BDX_EINVAL. */
int loader_schema(schema_t **out, bdx_error_t *err);

/* Builds a new index holding every document of `ds`. Caller frees *out with index_free().
 * Returns 0, -ENOMEM, or BDX_EINVAL naming the document and field the index rejected. */
int loader_build(const dataset_t *ds, index_t **out, loader_stats_t *st, bdx_error_t *err);

#endif

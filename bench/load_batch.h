/*
 * load_batch: dataset rows as a bitdex.v1.ApplyRequest of Put ops, packed to wire bytes.
 *
 * Each row becomes Put{Document{id, filter fields, sort fields}} with the fields and names of
 * the benchmark schema (loader_schema() in loader.h): nsfwLevel, userId, postId, tagIds (all
 * the row's tags), baseModel, type, availability, hasMeta, onSite, poi, minor, blockedFor (left
 * out when null, which Put turns into null), sortAt, reactionCount, commentCount,
 * collectedCount. The dataset holds no stored fields (url, width, height), so none are sent.
 *
 * The messages are built in scratch arrays owned by the load_batch_t (no allocation per row
 * once the scratch has grown to the largest batch) and point into the dataset's columns and
 * dictionaries without copying. A load_batch_t is used by one thread at a time; the dataset is
 * read-only and may be shared.
 */
#ifndef BITDEX_BENCH_LOAD_BATCH_H
#define BITDEX_BENCH_LOAD_BATCH_H

#include <stddef.h>
#include <stdint.h>

#include "bench/dataset.h"

typedef struct load_batch load_batch_t;

/* A scratch for batches of up to max_docs rows. Caller frees with load_batch_free(). 0 or
 * -ENOMEM. */
int load_batch_new(size_t max_docs, load_batch_t **out);
void load_batch_free(load_batch_t *b);

/*
 * Packs rows [first, first + n) of `ds` (n <= max_docs, first + n <= ds->n) as one
 * ApplyRequest for `index` with an empty batch_id. *out points into b (borrowed; valid until
 * the next encode or free), *len is its size. Returns 0 or -ENOMEM.
 */
int load_batch_encode(load_batch_t *b, const dataset_t *ds, const char *index, uint64_t first,
                      size_t n, const uint8_t **out, size_t *len);

#endif

/*
 * shape_pb: a benchmark shape as the bitdex.v1 request a gRPC client sends.
 *
 * The same filter trees as shape_query.c builds for the in-process engine, expressed in
 * filter.proto (bench/README.md spells out each shape):
 *   Q1/Q4  all_of[not_in nsfwLevel, negate(is_in tagIds hidden)], sort sortAt desc
 *   Q2     all_of[eq tagIds T, is_in nsfwLevel], sort reactionCount desc
 *   Q3     eq userId U, no sort (id desc)
 *   Q5     all_of[is_in tagIds, not_in nsfwLevel], sort reactionCount desc
 *   Q6     all_of[eq baseModel, eq type], sort reactionCount desc
 *   Q7     all_of[gte sortAt, eq nsfwLevel], sort reactionCount desc
 *   Q8     eq nsfwLevel, sort id asc (query.proto allows `id` as a sort field)
 *   Q9     all_of[neq availability Private, neq availability Unsearchable, is_null blockedFor,
 *          eq poi false, eq minor false, neq nsfwLevel 0,
 *          negate(all_of[is_in nsfwLevel, is_in baseModel]), eq tagIds T], sort sortAt desc
 *   Qc     CountRequest with the Q1 or Q5 filter
 * Every SearchRequest asks for limit SHAPE_LIMIT and nothing else (no total, no fields).
 *
 * Q4's cursor is opaque on the wire; the caller passes the token (shape_query_build() makes the
 * engine's token for the line's (sortAt, id), bound to the canonical query).
 *
 * Pure functions; thread-safe.
 */
#ifndef BITDEX_BENCH_SHAPE_PB_H
#define BITDEX_BENCH_SHAPE_PB_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "bench/shape.h"

/* Which RPC a packed request is for. */
typedef enum shape_pb_rpc {
    SHAPE_PB_SEARCH = 0, /* /bitdex.v1.Query/Search, SearchRequest */
    SHAPE_PB_COUNT,      /* /bitdex.v1.Query/Count, CountRequest */
} shape_pb_rpc_t;

/* The full method name of an RPC (static). */
const char *shape_pb_method(shape_pb_rpc_t rpc);

/*
 * Packs the request for line `a` on index `index`; `cursor` (may be NULL) of cursor_len bytes
 * goes into SearchRequest.cursor. On success *out is a malloc'd buffer of *len bytes (caller
 * frees with free()) and *rpc names the method. Returns 0 or -ENOMEM.
 */
int shape_pb_encode(const shape_args_t *a, const char *index, const uint8_t *cursor,
                    size_t cursor_len, uint8_t **out, size_t *len, shape_pb_rpc_t *rpc);

#endif

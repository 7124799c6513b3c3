/*
 * alias: Walker/Vose alias tables, O(1) sampling from a fixed discrete distribution.
 *
 * The generator draws ~N·(12 + a few) values from Zipf distributions over tens of thousands of
 * ranks (tags, users); a binary search per draw would dominate generation time, the alias table
 * costs one random number and one table lookup per draw.
 *
 * Not thread-safe to build; sampling only reads the table, so threads may share a built table.
 */
#ifndef BITDEX_BENCH_ALIAS_H
#define BITDEX_BENCH_ALIAS_H

#include <stddef.h>
#include <stdint.h>

#include "bench/rng.h"

typedef struct alias {
    uint32_t n;
    uint32_t *threshold; /* keep column i when the low 32 random bits are below this */
    uint32_t *other;     /* otherwise return other[i] */
} alias_t;

/*
 * Builds a table for `n` (1 ≤ n < 2^32) non-negative weights with a positive sum. Returns 0,
 * -ENOMEM or BDX_EINVAL. `weights` is borrowed for the call. Free with alias_free(), also after
 * a failed alias_init() (it leaves `a` freeable).
 */
int alias_init(alias_t *a, const double *weights, size_t n);

/* Builds a Zipf table: weight of rank r (0-based) is (r + 1)^-s. Same contract as alias_init. */
int alias_init_zipf(alias_t *a, size_t n, double s);

/* Releases the table; safe on a zeroed or already freed table. */
void alias_free(alias_t *a);

/* Returns an index in [0, n) drawn with probability weight[i] / sum. */
static inline uint32_t alias_sample(const alias_t *a, rng_t *r)
{
    uint64_t x = rng_next(r);
    uint32_t i = (uint32_t)(((x >> 32) * a->n) >> 32);
    return (uint32_t)x < a->threshold[i] ? i : a->other[i];
}

#endif

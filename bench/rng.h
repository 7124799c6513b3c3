/*
 * rng: the benchmark's own pseudo-random generator (xoshiro256** seeded through splitmix64).
 *
 * The data generator must produce byte-identical output for the same arguments on every run and
 * every libc, so it never touches rand(). Independent streams (documents, tags, parameters) are
 * made by seeding with (seed, stream), so changing one knob (tags per document) leaves the
 * other files unchanged.
 *
 * Not thread-safe: one rng_t per thread. Plain value type; nothing to free.
 */
#ifndef BITDEX_BENCH_RNG_H
#define BITDEX_BENCH_RNG_H

#include <stdint.h>

typedef struct rng {
    uint64_t s[4];
} rng_t;

/* Seeds `r` from (seed, stream); different streams give unrelated sequences. */
void rng_seed(rng_t *r, uint64_t seed, uint64_t stream);

static inline uint64_t rng_rotl(uint64_t x, int k)
{
    return (x << k) | (x >> (64 - k));
}

/* Returns the next 64 random bits. */
static inline uint64_t rng_next(rng_t *r)
{
    uint64_t *s = r->s;
    uint64_t result = rng_rotl(s[1] * 5, 7) * 9;
    uint64_t t = s[1] << 17;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = rng_rotl(s[3], 45);
    return result;
}

/* Returns a uniform integer in [0, n) (n > 0; multiply-shift, bias below 2^-32 for n < 2^32). */
static inline uint64_t rng_below(rng_t *r, uint64_t n)
{
    return (uint64_t)(((unsigned __int128)rng_next(r) * n) >> 64);
}

/* Returns a uniform double in [0, 1) with 53 random bits. */
static inline double rng_unit(rng_t *r)
{
    return (double)(rng_next(r) >> 11) * 0x1.0p-53;
}

/* Returns true with probability p. */
static inline int rng_chance(rng_t *r, double p)
{
    return rng_unit(r) < p;
}

#endif

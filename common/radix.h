/*
 * radix: stable LSD radix sort of (uint64 key, uint32 payload) pairs.
 *
 * Used where the engine orders large arrays of slots by a value: building a sort field's
 * permutation, and grouping (value, slot) pairs by value in a bulk load. Stable, so pairs
 * collected in slot order stay in slot order within equal keys. O(n) per significant byte;
 * bytes that are equal across all keys are skipped, so small keys cost few passes.
 */
#ifndef BITDEX_RADIX_H
#define BITDEX_RADIX_H

#include <stddef.h>
#include <stdint.h>

/* Sorts key[0..n) ascending, moving val[] along. tmp_key / tmp_val are caller-provided scratch
 * arrays of n entries (their content is clobbered). The result is in key / val. */
void radix_sort_pairs(uint64_t *key, uint32_t *val, uint64_t *tmp_key, uint32_t *tmp_val, size_t n);

#endif

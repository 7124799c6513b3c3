/*
 * bsi: a bit-sliced index over unsigned integer values of a fixed width (1..64 bits).
 *
 * One bitmap per bit ("slice i" = the slots whose value has bit i set) plus an existence
 * bitmap (the slots that have a value at all). Range predicates are answered by O'Neil-Quass
 * comparison over the slices (cost ~ bits bitmap operations, independent of how many distinct
 * values exist; values are never enumerated), and top-K by Rinfret-O'Neil (walk the slices from
 * the most significant bit, keeping the candidates that can still be in the top K).
 *
 * Value 0 is stored as existence with no slice bits; 2^bits - 1 as every slice set.
 *
 * Concurrency: single writer, no internal locking; reads may run concurrently with each other,
 * not with bsi_set()/bsi_clear().
 */
#ifndef BITDEX_BSI_H
#define BITDEX_BSI_H

#include <roaring/roaring.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/bitmap.h"
#include "common/frozen.h"

typedef struct bsi bsi_t;

typedef enum bsi_op {
    BSI_EQ = 0, /* value == a */
    BSI_NE,     /* value != a (only slots that have a value) */
    BSI_LT,     /* value <  a */
    BSI_LE,     /* value <= a */
    BSI_GT,     /* value >  a */
    BSI_GE,     /* value >= a */
    BSI_BETWEEN /* a <= value <= b (empty when a > b) */
} bsi_op_t;

/* New empty BSI for values of `bits` bits (1..64). Caller frees with bsi_free().
 * Returns 0, -ENOMEM, or BDX_EINVAL for bits outside 1..64. */
int bsi_new(unsigned bits, bsi_t **out);

/* Frees it and the bitmaps it owns. NULL is a no-op. */
void bsi_free(bsi_t *b);

/* Bits of the values. */
unsigned bsi_bits(const bsi_t *b);

/* Sets slot's value (replacing any previous one). Returns 0, -ENOMEM, or BDX_EINVAL when
 * `value` does not fit in the BSI's bits (nothing changed then). Fastest when slots arrive in
 * increasing order. */
int bsi_set(bsi_t *b, uint32_t slot, uint64_t value);

/*
 * Bulk form of bsi_set() for loads: sets slots[i] to values[i] for i < n. Slots must be strictly
 * ascending. When none of them has a value yet, each slice is built with one batched add (the
 * fast path); otherwise this falls back to bsi_set() per slot. Returns 0,
 * -ENOMEM, or BDX_EINVAL (a value too wide or slots not ascending; nothing changed then).
 */
int bsi_append(bsi_t *b, const uint32_t *slots, const uint64_t *values, size_t n);

/* Removes slot's value (no-op when it has none). Returns 0 or -ENOMEM. */
int bsi_clear(bsi_t *b, uint32_t slot);

/* Slow path (one membership test per bit), for tests and debugging: true and *value when the
 * slot has a value; false otherwise. */
bool bsi_get(const bsi_t *b, uint32_t slot, uint64_t *value);

/* Slots that have a value. Borrowed, never NULL; valid until the next write. */
const roaring_bitmap_t *bsi_exists(const bsi_t *b);

/* Slice `bit` (0 = least significant, < bsi_bits()). Borrowed, never NULL; valid until the
 * next write. */
const roaring_bitmap_t *bsi_slice(const bsi_t *b, unsigned bit);

/* Number of slots that have a value. */
uint64_t bsi_count(const bsi_t *b);

/*
 * out = the slots in `restrict_to` (NULL = every slot with a value) that have a value and whose
 * value satisfies `op` against a (and b for BSI_BETWEEN; ignored otherwise). Operands outside
 * the value range are handled exactly (e.g. LT 2^bits is every value, GT 2^bits - 1 is none).
 * O'Neil-Quass: about 2 bitmap operations per bit, no enumeration of values. `out` is caller
 * owned and overwritten; it may not alias restrict_to. Returns 0, or BDX_EINVAL for an unknown op.
 */
int bsi_compare(const bsi_t *b, bsi_op_t op, uint64_t a, uint64_t bval,
                const roaring_bitmap_t *restrict_to, roaring_bitmap_t *out);

/*
 * Top-K by value (Rinfret-O'Neil). Let C = candidates (NULL = every slot with a value) AND the
 * slots with a value. If |C| <= k, out = C. Otherwise let v be the k-th largest (desc) /
 * smallest (asc) value in C (counting duplicates); then
 *     out = { s in C : value(s) > v }  UNION  { s in C : value(s) == v }      (desc)
 *     out = { s in C : value(s) < v }  UNION  { s in C : value(s) == v }      (asc)
 * i.e. every slot strictly better than the k-th value plus ALL slots tied with it, so
 * |out| >= k and out may hold more than k slots when there are ties at v. The caller orders
 * `out` by (value from the column, slot) and keeps the first k; any tie order (slot asc or desc)
 * is then correct because all ties at the boundary are present.
 * `*kth` (may be NULL) receives v, or, when |C| <= k, the worst value in C (0 when C is empty).
 * k == 0 gives an empty out. `out` is caller owned and overwritten; it may not alias candidates.
 * Returns 0 or -ENOMEM.
 */
int bsi_topk(const bsi_t *b, const roaring_bitmap_t *candidates, uint64_t k, bool desc,
             roaring_bitmap_t *out, uint64_t *kth);

/* The slot of slice `bit` (< bsi_bits()), or of the existence bitmap for bit == -1, for the
 * generation code: its writer tells slots still frozen over a base mapping from changed ones,
 * its loader makes them frozen over a mapping (a slot must never be left empty: readers expect
 * a bitmap). Borrowed; valid while the BSI lives. */
const bitmap_t *bsi_slot(const bsi_t *b, int bit);
bitmap_t *bsi_slot_mut(bsi_t *b, int bit);

/* run_optimize + shrink_to_fit on every bitmap it owns. */
void bsi_optimize(bsi_t *b);

/* Bytes of memory it uses (its bitmaps and itself); *bitmaps (may be NULL) also receives the
 * bitmaps' usage by kind. */
size_t bsi_memory(const bsi_t *b, bitmap_usage_t *bitmaps);

/* Arena bytes bsi_freeze() needs (see bitmap_frozen_footprint()). */
size_t bsi_frozen_footprint(const bsi_t *b);

/* Moves its bitmaps into `arena` (frozen slots; see valuemap_freeze() for the rules: the arena
 * is borrowed and must outlive the BSI's use of it; writes copy on write). Returns 0, or
 * BDX_EINVAL when the arena has too little room (content unchanged either way). */
int bsi_freeze(bsi_t *b, frozen_t *arena);

#endif

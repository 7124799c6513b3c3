/*
 * permutation: one sort field's slots in sort order, built in bulk.
 *
 * A permutation lists the member slots (those with a value for the field when it was built)
 * ordered by (value, slot) ascending, together with the value each had at build time. Walking
 * it forward gives `asc` order, backward gives `desc` order (value desc, then slot desc), so a
 * dense-filter query can walk it and test membership, stopping after `limit` hits.
 *
 * It is immutable once built. Changes after the build are not reflected in it: the index keeps,
 * per sort field, a "dirty" bitmap of slots whose value changed, or that were added or deleted,
 * since the permutation was built (index_sort_dirty()). A correct walk skips the dirty slots it
 * finds in the permutation (their recorded entry may be stale) and merges in the dirty slots
 * that currently have a value, ordered by their current value from the column. The iterator
 * below does the skipping when given the dirty bitmap; the merge is the query's job.
 *
 * Cost: 4 bytes (slot) + the column's value width per member. Build: a stable radix sort.
 *
 * Image: permutation_image_write() stores it (docs/format/images.md, "permutation");
 * permutation_image_open() reads it back zero copy. Being immutable, an opened permutation never
 * copies anything: it borrows the image for its whole life.
 *
 * Concurrency: immutable after permutation_build() / permutation_image_open(); any number of
 * threads may read it. An opened permutation borrows its image: the bytes must stay mapped and
 * unchanged until permutation_free().
 */
#ifndef BITDEX_PERMUTATION_H
#define BITDEX_PERMUTATION_H

#include <roaring/roaring.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/column.h"
#include "common/error.h"

typedef struct permutation permutation_t;

/*
 * Builds the permutation of the slots in `members` (typically the field's BSI existence
 * bitmap; NULL = no members) ordered by (column value, slot) ascending. Caller frees *out with
 * permutation_free(). Returns 0 or -ENOMEM.
 */
int permutation_build(const column_t *col, const roaring_bitmap_t *members, permutation_t **out);

/* Frees it (borrowed image bytes are the caller's). NULL is a no-op. */
void permutation_free(permutation_t *p);

/* Number of entries. */
uint32_t permutation_count(const permutation_t *p);

/* Slot / build-time value at position pos (< permutation_count()), ascending order. */
uint32_t permutation_slot(const permutation_t *p, uint32_t pos);
uint64_t permutation_value(const permutation_t *p, uint32_t pos);

/* First position whose (value, slot) is >= (value, slot), or permutation_count(). O(log n). */
uint32_t permutation_lower_bound(const permutation_t *p, uint64_t value, uint32_t slot);

/* Bytes of value each entry stores (1, 2, 4 or 8: the width of the column it was built from). */
unsigned permutation_width(const permutation_t *p);

/* Bytes of private memory it uses (the arrays count only when owned, not when borrowed). */
size_t permutation_memory(const permutation_t *p);

/* Bytes permutation_image_write() writes: a 32-byte header, then the slots and the values, each
 * array padded to 32 bytes. */
size_t permutation_image_size(const permutation_t *p);

/* Writes the image of `p` into `buf`: 32-byte aligned, permutation_image_size(p) bytes, every
 * byte written (padding is zero). */
void permutation_image_write(const permutation_t *p, void *buf);

/*
 * Opens a permutation over the image in buf[0, size), zero copy: it borrows buf, which must be
 * 32-byte aligned and outlive *out (caller frees *out with permutation_free()). Checks in O(1):
 * magic, version, value width, that count entries of both arrays lie inside `size`, and that 64
 * evenly spaced entries are in (value, slot) order. It does not check the whole order in O(n)
 * (that would read the whole mapping at load), nor that the values fit the field's bits; the
 * containing generation file's checksum vouches for the bytes. Returns 0, BDX_ECORRUPT or
 * BDX_EVERSION (err says what is wrong), BDX_EINVAL when buf is misaligned, or -ENOMEM. Nothing
 * to free after a failure.
 */
int permutation_image_open(const void *buf, size_t size, permutation_t **out, bdx_error_t *err);

/* A walk in either direction. Plain data; no cleanup needed. */
typedef struct permutation_iter {
    const permutation_t *perm;
    const roaring_bitmap_t *skip; /* borrowed; slots to skip (e.g. the dirty bitmap) or NULL */
    uint32_t next;                /* asc: next position; desc: one past the next position */
    bool desc;
} permutation_iter_t;

/* Starts a walk at the first entry in the given direction (asc: smallest (value, slot); desc:
 * largest). Entries whose slot is in `skip` (may be NULL; borrowed, must outlive the walk)
 * are passed over. */
void permutation_iter_init(permutation_iter_t *it, const permutation_t *p, bool desc,
                           const roaring_bitmap_t *skip);

/* Repositions the walk to the first entry strictly after (value, slot) in its direction (asc:
 * the first entry > (value, slot); desc: the first entry < (value, slot)). This is how a cursor
 * resumes. O(log n). */
void permutation_iter_seek_after(permutation_iter_t *it, uint64_t value, uint32_t slot);

/* Next entry of the walk: true with *value (build-time) and *slot; false at the end. */
bool permutation_iter_next(permutation_iter_t *it, uint64_t *value, uint32_t *slot);

#endif

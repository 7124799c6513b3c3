/*
 * frozen: an arena of bitmaps in CRoaring's frozen format.
 *
 * index_freeze() serializes every bitmap of an index into one arena and turns each bitmap slot
 * into a frozen slot over its bytes (see bitmap.h, BITMAP_FROZEN). A frozen bitmap costs its
 * serialized size rounded up to 32 bytes, instead of CRoaring's per-bitmap and per-container
 * heap structures; a read-only view header is made only when a query first reads the bitmap.
 *
 * Layout: one block of `capacity` bytes, BITMAP_FROZEN_ALIGN (32) aligned. Bitmaps are placed
 * back to back in the order frozen_alloc() is called; each starts on a 32-byte boundary (a
 * CRoaring requirement for roaring_bitmap_frozen_view()) and is exactly the bytes
 * roaring_bitmap_frozen_serialize() writes, followed by zero padding up to the next boundary.
 * The arena holds no directory of its own: the slots pointing into it are the directory. The
 * same bytes are what a generation file will store (its own format document will add the
 * directory and checksums).
 *
 * Ownership and lifetime: the arena's owner (the index) frees it with frozen_free() only when
 * no slot points into it any more: at index_free() (after every slot is released) or at the
 * next index_freeze() (after every frozen slot was moved into the new arena). A slot that is
 * written after freezing copies its bitmap out (copy-on-write in bitmap_mut()) and stops
 * pointing into the arena; its bytes stay allocated, unused, until the arena is freed.
 *
 * Concurrency: filled by one thread; once filled it is never written, so any number of threads
 * may read it.
 */
#ifndef BITDEX_FROZEN_H
#define BITDEX_FROZEN_H

#include <stddef.h>

typedef struct frozen frozen_t;

/* New arena of `capacity` bytes (a multiple of BITMAP_FROZEN_ALIGN; 0 allowed). Caller frees
 * with frozen_free(). 0 or -ENOMEM (BDX_EINVAL when capacity is not a multiple). */
int frozen_new(size_t capacity, frozen_t **out);

/* Frees the arena. Every slot pointing into it must have been released or moved. NULL is a
 * no-op. */
void frozen_free(frozen_t *f);

/* Reserves the next `n` bytes (a multiple of BITMAP_FROZEN_ALIGN), zeroed, 32-byte aligned.
 * Borrowed; valid until frozen_free(). NULL when fewer than n bytes are left (the caller
 * sized the arena wrongly) or n is not a multiple. */
char *frozen_alloc(frozen_t *f, size_t n);

/* Bytes allocated for the arena (its capacity; what it costs in memory). 0 for NULL. */
size_t frozen_capacity(const frozen_t *f);

/* Bytes handed out by frozen_alloc(). 0 for NULL. */
size_t frozen_used(const frozen_t *f);

/* Rounds n up to BITMAP_FROZEN_ALIGN (the arena footprint of an n-byte frozen bitmap). */
size_t frozen_align(size_t n);

#endif

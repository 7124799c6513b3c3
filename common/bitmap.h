/*
 * bitmap: the access layer over CRoaring bitmaps.
 *
 * Every bitmap the engine keeps lives in a bitmap_t slot. A slot is either empty, owns a
 * mutable roaring bitmap, holds a frozen view (a read-only bitmap whose containers point into
 * a 32-byte aligned buffer someone else owns, e.g. an mmap'd generation file), or borrows a
 * bitmap owned elsewhere (shared between snapshots). Reads never care which: they take
 * `const roaring_bitmap_t *` from bitmap_get(). Writes go through bitmap_mut(), which copies a
 * view or a borrowed bitmap into an owned one on the first write (copy-on-write), so the buffer
 * under a view is never modified. bitmap_release() frees only what the slot owns.
 *
 * The file also holds the few multi-bitmap operations the planner needs that CRoaring 0.2.66
 * lacks (an AND of many, smallest first, stopping as soon as the result is empty).
 *
 * Concurrency: a slot is plain data with no locking; a slot being written must not be read
 * concurrently. Views and borrowed bitmaps may be read by any number of threads.
 */
#ifndef BITDEX_BITMAP_H
#define BITDEX_BITMAP_H

#include <roaring/roaring.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Alignment the buffer under a frozen view must have (a CRoaring requirement). */
#define BITMAP_FROZEN_ALIGN 32

typedef enum bitmap_kind {
    BITMAP_EMPTY = 0, /* no bitmap; bitmap_get() returns NULL */
    BITMAP_OWNED,     /* rb is ours: freed by bitmap_release() */
    BITMAP_VIEW,      /* rb is a frozen view: its header is ours, its buffer is borrowed */
    BITMAP_BORROWED,  /* rb belongs to someone else; read-only here, never freed here */
} bitmap_kind_t;

typedef struct bitmap {
    roaring_bitmap_t *rb;
    bitmap_kind_t kind;
} bitmap_t;

#define BITMAP_INIT        \
    {                      \
        NULL, BITMAP_EMPTY \
    }

/* Makes `b` an empty slot (no allocation). */
void bitmap_init(bitmap_t *b);

/* The slot's bitmap for reading, or NULL when the slot is empty. Borrowed; valid until the
 * slot is next written or released. */
static inline const roaring_bitmap_t *bitmap_get(const bitmap_t *b)
{
    return b->rb;
}

/* True when the slot can be written without a copy (it owns its bitmap). */
static inline bool bitmap_is_owned(const bitmap_t *b)
{
    return b->kind == BITMAP_OWNED;
}

/*
 * The slot's bitmap for writing. An empty slot gets a new empty bitmap; a view or a borrowed
 * bitmap is first copied into an owned one (the view's buffer is left untouched). Returns NULL
 * only when out of memory (the slot is then unchanged). Borrowed; valid until the slot is
 * released.
 */
roaring_bitmap_t *bitmap_mut(bitmap_t *b);

/* Releases the slot's current content and takes ownership of `rb` (may be NULL = empty). */
void bitmap_adopt(bitmap_t *b, roaring_bitmap_t *rb);

/* Releases the slot's current content and borrows `rb` (NULL = empty); `rb` must outlive the
 * slot's use of it. */
void bitmap_borrow(bitmap_t *b, const roaring_bitmap_t *rb);

/*
 * Releases the slot's current content and makes it a frozen view over buf[0..len), which must
 * hold bytes written by bitmap_freeze_to() and be BITMAP_FROZEN_ALIGN aligned. The buffer is
 * borrowed and must stay unchanged while the slot uses it. Returns 0, or BDX_ECORRUPT when
 * CRoaring rejects the buffer (misaligned or wrong length); the slot is then empty.
 */
int bitmap_set_view(bitmap_t *b, const char *buf, size_t len);

/* Releases the slot's current content and takes over `view`, made by bitmap_view() (the
 * slot frees its header; the buffer stays borrowed). */
void bitmap_adopt_view(bitmap_t *b, const roaring_bitmap_t *view);

/* Frees what the slot owns (an owned bitmap, or a view's header) and empties it. */
void bitmap_release(bitmap_t *b);

/* Frees a roaring bitmap this code owns; NULL is a no-op (CRoaring 0.2.66's
 * roaring_bitmap_free(NULL) crashes). Never pass a view or a borrowed bitmap. */
void bitmap_free_roaring(roaring_bitmap_t *rb);

/* Cardinality; NULL counts as empty. */
uint64_t bitmap_count(const roaring_bitmap_t *rb);

/* Bytes in memory that a slot's bitmap costs its owner (0 for empty and borrowed; for a view,
 * the view header only, not the borrowed buffer). Approximate for owned bitmaps. */
size_t bitmap_memory(const bitmap_t *b);

/* ---- frozen format: used by generation files (writer) and mmap'd views (readers) ---- */

/* Bytes bitmap_freeze_to() writes for `rb` (NULL = an empty bitmap). */
size_t bitmap_freeze_size(const roaring_bitmap_t *rb);

/* Writes `rb` (NULL = empty) in CRoaring's frozen format to buf, which must be
 * BITMAP_FROZEN_ALIGN aligned and hold bitmap_freeze_size(rb) bytes. */
void bitmap_freeze_to(const roaring_bitmap_t *rb, char *buf);

/*
 * Makes a read-only view over buf[0..len) (aligned as above, len exactly as written). On
 * success *out is the view: caller frees with bitmap_view_free(); the buffer is borrowed and
 * must outlive the view. Returns 0 or BDX_ECORRUPT. Never feed it bytes this process did not
 * checksum: CRoaring 0.2.66 does not validate container contents.
 */
int bitmap_view(const char *buf, size_t len, const roaring_bitmap_t **out);

/* Frees a view made by bitmap_view() (its header only). NULL is a no-op. */
void bitmap_view_free(const roaring_bitmap_t *view);

/* ---- multi-bitmap operations ---- */

/*
 * out = in[0] AND in[1] AND ... AND in[n-1]. NULL entries are empty bitmaps. Intersects in
 * ascending order of cardinality and stops as soon as the result is empty. `out` is caller
 * owned and overwritten (it may not be one of the inputs). n must be >= 1. Returns 0, or
 * BDX_EINVAL when n == 0.
 */
int bitmap_and_many(const roaring_bitmap_t *const *in, size_t n, roaring_bitmap_t *out);

/* acc &= in[0] AND ... AND in[n-1], smallest input first, stopping when acc is empty. NULL
 * entries are empty bitmaps. n may be 0 (acc unchanged). */
void bitmap_and_many_inplace(roaring_bitmap_t *acc, const roaring_bitmap_t *const *in, size_t n);

/* out = OR of in[0..n) (NULL entries skipped; n may be 0 = empty). `out` is caller owned and
 * overwritten (it may not be one of the inputs). Returns 0 or -ENOMEM. */
int bitmap_or_many(const roaring_bitmap_t *const *in, size_t n, roaring_bitmap_t *out);

/* Cardinality of the AND of in[0..n) without materializing more than one intermediate
 * (n >= 1; NULL = empty). For n == 2 no intermediate is built at all. */
uint64_t bitmap_and_many_count(const roaring_bitmap_t *const *in, size_t n);

#endif

/*
 * bitmap: the access layer over CRoaring bitmaps.
 *
 * Every bitmap the engine keeps lives in a bitmap_t slot. A slot is either empty, owns a
 * mutable roaring bitmap, holds a frozen view (a read-only bitmap whose containers point into
 * a 32-byte aligned buffer someone else owns, e.g. an mmap'd generation file), borrows a
 * bitmap owned elsewhere (shared between snapshots), or is frozen: its bitmap is serialized in
 * an arena (common/frozen.h) and the view header over those bytes is made on the first read
 * (one small allocation, kept until the slot is released), so bitmaps nobody reads cost only
 * their serialized bytes. Reads never care which: they take `const roaring_bitmap_t *` from
 * bitmap_get(). Writes go through bitmap_mut(), which copies a view, a frozen or a borrowed
 * bitmap into an owned one on the first write (copy-on-write), so the buffer under a view is
 * never modified. bitmap_release() frees only what the slot owns.
 *
 * The file also holds the few multi-bitmap operations the planner needs that CRoaring 0.2.66
 * lacks (an AND of many, smallest first, stopping as soon as the result is empty).
 *
 * Concurrency: a slot is plain data with no locking; a slot being written must not be read
 * concurrently. Views and borrowed bitmaps may be read by any number of threads. Reading a
 * frozen slot may create its view header: concurrent first reads race on an atomic
 * compare-and-swap, the loser frees its header, so any number of threads may read a frozen
 * slot (this is the only write a read makes, and it never changes the bitmap's content).
 */
#ifndef BITDEX_BITMAP_H
#define BITDEX_BITMAP_H

#include <roaring/roaring.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct frozen frozen_t; /* common/frozen.h */

/* Alignment the buffer under a frozen view must have (a CRoaring requirement). */
#define BITMAP_FROZEN_ALIGN 32

typedef enum bitmap_kind {
    BITMAP_EMPTY = 0, /* no bitmap; bitmap_get() returns NULL */
    BITMAP_OWNED,     /* rb is ours: freed by bitmap_release() */
    BITMAP_VIEW,      /* rb is a frozen view: its header is ours, its buffer is borrowed */
    BITMAP_BORROWED,  /* rb belongs to someone else; read-only here, never freed here */
    BITMAP_FROZEN,    /* frozen[0..frozen_len) holds the bitmap (borrowed, in an arena); rb is
                         NULL or the view header over it made by the first read (ours) */
} bitmap_kind_t;

typedef struct bitmap {
    /* atomic only for BITMAP_FROZEN's lazy view (see Concurrency); other kinds just use it */
    roaring_bitmap_t *_Atomic rb;
    const char *frozen; /* BITMAP_FROZEN: the serialized bitmap; NULL otherwise */
    uint32_t frozen_len;
    bitmap_kind_t kind;
} bitmap_t;

#define BITMAP_INIT                 \
    {                               \
        NULL, NULL, 0, BITMAP_EMPTY \
    }

/* Makes `b` an empty slot (no allocation). */
void bitmap_init(bitmap_t *b);

/* The view header of a frozen slot, made now when no read made it yet. Use bitmap_get(). */
const roaring_bitmap_t *bitmap_frozen_get(const bitmap_t *b);

/* The slot's bitmap for reading, or NULL when the slot is empty. Borrowed; valid until the
 * slot is next written or released. For a frozen slot the first read makes the view header;
 * when that allocation fails the process aborts (a NULL would read as an empty bitmap and
 * give wrong answers). */
static inline const roaring_bitmap_t *bitmap_get(const bitmap_t *b)
{
    const roaring_bitmap_t *rb = atomic_load_explicit(&b->rb, memory_order_acquire);

    return rb != NULL || b->kind != BITMAP_FROZEN ? rb : bitmap_frozen_get(b);
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
 * the view header only, not the borrowed buffer; for a frozen slot, its bytes in the arena
 * with their padding plus the view header when one was made). Approximate for owned bitmaps
 * and view headers (calibrated with mallinfo2() against CRoaring 0.2.66). */
size_t bitmap_memory(const bitmap_t *b);

/* Memory of many slots, by where it lives. */
typedef struct bitmap_usage {
    size_t bytes;        /* sum of bitmap_memory() */
    size_t frozen;       /* of which: arena bytes of frozen slots (with padding) */
    size_t views;        /* of which: view headers (views and frozen slots read so far) */
    uint64_t view_count; /* number of those view headers */
} bitmap_usage_t;

/* Adds the slot's memory to *u. */
void bitmap_usage_add(const bitmap_t *b, bitmap_usage_t *u);

/* ---- freezing into an arena (common/frozen.h) ---- */

/* Bytes the slot's bitmap takes in a frozen arena: its frozen size rounded up to
 * BITMAP_FROZEN_ALIGN. 0 for slots that are not the owner's memory and are left alone by
 * bitmap_freeze_into(): empty, views and borrowed bitmaps. */
size_t bitmap_frozen_footprint(const bitmap_t *b);

/*
 * Moves the slot's bitmap into `arena`: reserves bitmap_frozen_footprint(b) bytes with
 * frozen_alloc(), writes the bitmap there and makes the slot frozen over them. An owned bitmap
 * is freed; an already frozen slot is copied from its old arena (its view header is freed).
 * No-op for slots whose footprint is 0. Allocates nothing. The arena is borrowed: it must
 * outlive the slot's use of it. Returns 0, or BDX_EINVAL when the arena has too little room
 * left (the slot is then unchanged).
 */
int bitmap_freeze_into(bitmap_t *b, frozen_t *arena);

/* Releases the slot's current content and makes it frozen over buf[0..len) (written by
 * bitmap_freeze_to(), BITMAP_FROZEN_ALIGN aligned, borrowed as above). The view header is made
 * on the first read. Returns 0, or BDX_ECORRUPT when CRoaring rejects the buffer (the slot is
 * then empty). */
int bitmap_set_frozen(bitmap_t *b, const char *buf, size_t len);

/*
 * bitmap_set_frozen() without CRoaring's validation: checks only what is O(1) (alignment,
 * length against the header's container count, the frozen cookie) and leaves the full check to
 * the first read, which makes the view header anyway. For bytes that bitmap_freeze_to() wrote
 * and whose checksum this process verified (a generation opened with GENERATION_VERIFY): the
 * first read of a buffer CRoaring would reject aborts the process. Returns 0 or BDX_ECORRUPT
 * (the slot is then empty).
 */
int bitmap_set_frozen_trusted(bitmap_t *b, const char *buf, size_t len);

/* The number of containers a frozen buffer's header announces (0 = an empty bitmap), read in
 * O(1) after the checks of bitmap_set_frozen_trusted(). Returns 0 or BDX_ECORRUPT. */
int bitmap_frozen_containers(const char *buf, size_t len, uint32_t *containers);

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

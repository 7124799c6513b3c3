/*
 * column: a dense array of one sort field's values, one per slot, for O(1) value lookup.
 *
 * The element width follows the field's bits (u8 / u16 / u32 / u64), so a 32-bit field costs 4
 * bytes per slot up to the highest slot written. Slots never written (and slots beyond the end)
 * read as 0: the column does not know which slots have a value; the field's BSI existence
 * bitmap does.
 *
 * Storage is paged: COLUMN_PAGE_SLOTS slots per page, found through a two-level page table
 * (chunks of COLUMN_CHUNK_PAGES page pointers, allocated when first used). A page is either
 * owned (heap) or borrowed: a page of an image opened with column_image_open() (the read-only
 * mapping of a generation file) or a shared page of zeros (the gap left by a write far past the
 * end). column_set() on a borrowed page first copies that one page (copy on write), so the
 * private memory of a column opened from an image follows the pages written, not its size.
 * Only the last page may be shorter than COLUMN_PAGE_SLOTS (small columns stay small). A gap of
 * whole chunks costs nothing, so memory (and the image) follow the pages holding values, not
 * the highest slot: slots 0 and 2^32 - 1 alone cost two pages, two chunks and an 8 KiB root.
 *
 * Image byte layout: docs/format/images.md ("column").
 *
 * Concurrency: single writer, no internal locking; column_get() may run concurrently with other
 * reads, not with column_set(). A column opened from an image borrows the image bytes: they must
 * stay mapped and unchanged until column_free().
 */
#ifndef BITDEX_COLUMN_H
#define BITDEX_COLUMN_H

#include <stddef.h>
#include <stdint.h>

#include "common/error.h"

/* Slots per page (a power of two): 16 KiB for a 32-bit field, one 4 KiB OS page for 8 bits. */
#define COLUMN_PAGE_SHIFT 12
#define COLUMN_PAGE_SLOTS (1u << COLUMN_PAGE_SHIFT)
/* Pages per chunk of the page table; a chunk covers 2^22 slots. */
#define COLUMN_CHUNK_SHIFT 10
#define COLUMN_CHUNK_PAGES (1u << COLUMN_CHUNK_SHIFT)

/* One chunk of the page table. Private to column.c. */
typedef struct column_chunk {
    void *pages[COLUMN_CHUNK_PAGES]; /* each owned, borrowed, or the shared zero page */
    uint8_t owned[COLUMN_CHUNK_PAGES];
} column_chunk_t;

/* Fields are private to column.c; they are visible only so that column_get() can inline. */
typedef struct column {
    column_chunk_t **chunks; /* nchunks entries; NULL (or past nchunks) = zero pages */
    uint32_t nchunks;        /* entries allocated in chunks[] (at most 2^32 / 2^22 = 1024) */
    uint32_t live_chunks;    /* chunks allocated */
    uint32_t npages;         /* pages in use: all full except the last */
    uint32_t tail;           /* slots held by the last page (1..COLUMN_PAGE_SLOTS), 0 if none */
    uint64_t length;         /* slots covered: [0, length) */
    size_t owned_size;       /* bytes of owned pages */
    uint8_t width;           /* 1, 2, 4 or 8 */
    uint8_t bits;            /* 1..64 */
} column_t;

/* New empty column for values of `bits` bits (1..64). Caller frees with column_free().
 * Returns 0, -ENOMEM, or BDX_EINVAL for bits outside 1..64. */
int column_new(unsigned bits, column_t **out);

/* Frees it (its owned pages; borrowed image bytes are the caller's). NULL is a no-op. */
void column_free(column_t *c);

/* Sets the value of `slot`, growing the column as needed (new slots read 0); copies the slot's
 * page first when it is borrowed. `value` must fit in the column's bits (else BDX_EINVAL).
 * Returns 0, -ENOMEM or BDX_EINVAL. */
int column_set(column_t *c, uint32_t slot, uint64_t value);

/* Ensures slots [0, slots) are allocated (a bulk load can call it once up front). 0 or -ENOMEM. */
int column_reserve(column_t *c, uint64_t slots);

/* Releases the capacity beyond the highest slot set (after a bulk load). */
void column_shrink(column_t *c);

/* Value of `slot`; 0 when never set or beyond the end. O(1): two page-table loads. */
static inline uint64_t column_get(const column_t *c, uint32_t slot)
{
    const column_chunk_t *chunk;
    const void *page;
    uint32_t i = slot & (COLUMN_PAGE_SLOTS - 1),
             k = slot >> (COLUMN_PAGE_SHIFT + COLUMN_CHUNK_SHIFT);

    if (slot >= c->length || k >= c->nchunks || (chunk = c->chunks[k]) == NULL)
        return 0; /* beyond the end, or in a gap of whole chunks */
    page = chunk->pages[(slot >> COLUMN_PAGE_SHIFT) & (COLUMN_CHUNK_PAGES - 1)];
    switch (c->width) {
    case 1:
        return ((const uint8_t *)page)[i];
    case 2:
        return ((const uint16_t *)page)[i];
    case 4:
        return ((const uint32_t *)page)[i];
    default:
        return ((const uint64_t *)page)[i];
    }
}

/* Slots covered (one past the highest slot ever set). */
static inline uint64_t column_length(const column_t *c)
{
    return c->length;
}

/* Bits of the values it holds. */
static inline unsigned column_bits(const column_t *c)
{
    return c->bits;
}

/* Bytes of private memory it uses: the struct, the page table and the owned pages. Borrowed
 * pages (image bytes, the shared zero page) are not counted. */
size_t column_memory(const column_t *c);

/* Bytes column_image_write() writes for `c`: a 32-byte header, the numbers of the pages holding
 * a non-zero value, and those pages (docs/format/images.md); pages of zeros are left out. Reads
 * every page that is not a known gap, so it costs O(pages in use). */
size_t column_image_size(const column_t *c);

/* Writes the image of `c` (docs/format/images.md) into `buf`: 32-byte aligned,
 * column_image_size(c) bytes, every byte written (padding is zero). */
void column_image_write(const column_t *c, void *buf);

/*
 * Opens a column over the image in buf[0, size), zero copy: its pages borrow buf, which must be
 * 32-byte aligned and outlive *out (caller frees *out with column_free(), then may unmap buf).
 * Reads images of version 2 (sparse) and 1 (dense). Checks magic, version, bits/width
 * agreement, that the page numbers ascend below the page count and that every page lies inside
 * `size`; does not read the values (so it does not check that they fit in `bits`). Returns 0,
 * BDX_ECORRUPT or BDX_EVERSION (err says what is wrong), BDX_EINVAL when buf is misaligned, or
 * -ENOMEM. Nothing to free after a failure.
 */
int column_image_open(const void *buf, size_t size, column_t **out, bdx_error_t *err);

#endif

/*
 * column: a dense array of one sort field's values, one per slot, for O(1) value lookup.
 *
 * The element width follows the field's bits (u8 / u16 / u32 / u64), so a 32-bit field costs 4
 * bytes per slot up to the highest slot written. Slots never written (and slots beyond the end)
 * read as 0: the column does not know which slots have a value; the field's BSI existence
 * bitmap does.
 *
 * Concurrency: single writer, no internal locking; column_get() may run concurrently with other
 * reads, not with column_set().
 */
#ifndef BITDEX_COLUMN_H
#define BITDEX_COLUMN_H

#include <stddef.h>
#include <stdint.h>

/* Fields are private to column.c; they are visible only so that column_get() can inline. */
typedef struct column {
    void *data;        /* owned; `capacity` elements of `width` bytes */
    uint64_t length;   /* slots covered: [0, length) */
    uint64_t capacity; /* elements allocated */
    uint8_t width;     /* 1, 2, 4 or 8 */
    uint8_t bits;      /* 1..64 */
} column_t;

/* New empty column for values of `bits` bits (1..64). Caller frees with column_free().
 * Returns 0, -ENOMEM, or BDX_EINVAL for bits outside 1..64. */
int column_new(unsigned bits, column_t **out);

/* Frees it. NULL is a no-op. */
void column_free(column_t *c);

/* Sets the value of `slot`, growing the column as needed (new slots read 0). `value` must fit
 * in the column's bits (else BDX_EINVAL). Returns 0, -ENOMEM or BDX_EINVAL. */
int column_set(column_t *c, uint32_t slot, uint64_t value);

/* Ensures slots [0, slots) are allocated (a bulk load can call it once up front). 0 or -ENOMEM. */
int column_reserve(column_t *c, uint64_t slots);

/* Releases the capacity beyond the highest slot set (after a bulk load). */
void column_shrink(column_t *c);

/* Value of `slot`; 0 when never set or beyond the end. O(1). */
static inline uint64_t column_get(const column_t *c, uint32_t slot)
{
    if (slot >= c->length)
        return 0;
    switch (c->width) {
    case 1:
        return ((const uint8_t *)c->data)[slot];
    case 2:
        return ((const uint16_t *)c->data)[slot];
    case 4:
        return ((const uint32_t *)c->data)[slot];
    default:
        return ((const uint64_t *)c->data)[slot];
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

/* Bytes of memory it uses (allocated capacity). */
size_t column_memory(const column_t *c);

#endif

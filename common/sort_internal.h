/*
 * sort_internal: helpers shared by the sort strategies (sort.c, sort_materialize.c,
 * sort_bsi.c, sort_walk.c). Private to common/sort*.c.
 */
#ifndef BITDEX_SORT_INTERNAL_H
#define BITDEX_SORT_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/sort.h"

typedef struct sort_row {
    uint64_t value;
    uint32_t slot;
} sort_row_t;

/* < 0 when row a comes before row b in the order (asc or desc), 0 when equal. */
static inline int sort_row_cmp(const sort_row_t *a, const sort_row_t *b, bool desc)
{
    int c;
    if (a->value != b->value)
        c = a->value < b->value ? -1 : 1;
    else if (a->slot != b->slot)
        c = a->slot < b->slot ? -1 : 1;
    else
        c = 0;
    return desc ? -c : c;
}

/* True when `r` is strictly after the cursor (or there is no cursor). */
static inline bool sort_row_after(const sort_row_t *r, const cursor_t *after, bool desc)
{
    if (!after)
        return true;
    sort_row_t c = {after->value, after->slot};
    return sort_row_cmp(r, &c, desc) > 0;
}

/* The value the order uses for `slot` (0 when it has none). */
static inline uint64_t sort_value(const sort_request_t *rq, uint32_t slot)
{
    return column_get(index_sort_column(rq->ix, (size_t)rq->field), slot);
}

/*
 * The best `cap` rows pushed so far: a max-heap on the order, the worst row on top, so a
 * new row costs one comparison when it cannot enter. Rows are caller-provided storage.
 */
typedef struct sort_heap {
    sort_row_t *rows;
    size_t n, cap;
    bool desc;
} sort_heap_t;

/* Offers `r`; keeps it when there is room or it beats the current worst row. */
void sort_heap_push(sort_heap_t *h, sort_row_t r);

/* Sorts the kept rows into the order (destroys the heap shape). */
void sort_heap_finish(sort_heap_t *h);

/* Sorts rows[0..n) into the order. */
void sort_rows_sort(sort_row_t *rows, size_t n, bool desc);

/*
 * Reads up to `max` slots of `bm` in slot order — ascending (desc false) or descending — that
 * are strictly past `from` in that direction (from_set false: from the first/last slot), into
 * out[]. Returns how many were read.
 */
size_t sort_bitmap_slots(const roaring_bitmap_t *bm, bool desc, bool from_set, uint32_t from,
                         uint32_t *out, size_t max);

/* Copies rows into the caller's output arrays. */
void sort_emit(const sort_row_t *rows, size_t n, uint32_t *slots, uint64_t *values);

#endif

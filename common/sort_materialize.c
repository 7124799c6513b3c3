/*
 * sort_materialize: the small-result strategy. Every slot of the filter is read (in bulk from
 * the roaring iterator), its value looked up in the dense column, and the best `limit` rows
 * after the cursor kept in a bounded heap: O(|filter| log limit), no allocation beyond the
 * page.
 */
#include <errno.h>
#include <stdlib.h>

#include "common/sort_internal.h"

#define CHUNK 1024

int sort_materialize(const sort_request_t *rq, uint32_t *slots, uint64_t *values, size_t *n)
{
    sort_heap_t h = {.cap = rq->limit, .desc = rq->desc};
    uint32_t buf[CHUNK];
    roaring_uint32_iterator_t it;
    const column_t *col = index_sort_column(rq->ix, (size_t)rq->field);

    *n = 0;
    if (!rq->filter)
        return BDX_EINVAL; /* needs the filter as a bitmap */
    h.rows = malloc((rq->limit ? rq->limit : 1) * sizeof(*h.rows));
    if (!h.rows)
        return -ENOMEM;
    roaring_init_iterator(rq->filter, &it);
    while (it.has_value) {
        uint32_t got = roaring_read_uint32_iterator(&it, buf, CHUNK);
        if (got == 0)
            break;
        for (uint32_t i = 0; i < got; i++) {
            sort_row_t r = {column_get(col, buf[i]), buf[i]};
            if (sort_row_after(&r, rq->after, rq->desc))
                sort_heap_push(&h, r);
        }
    }
    sort_heap_finish(&h);
    sort_emit(h.rows, h.n, slots, values);
    *n = h.n;
    free(h.rows);
    return 0;
}

/*
 * sort_walk: the dense-filter strategy. Three ordered streams are merged until the page is
 * full:
 *   P  the field's permutation walked in order from the cursor position (binary search),
 *      skipping dirty slots (their build-time entry may be stale), keeping the filter's slots;
 *   D  the dirty slots in the filter, by their current value from the column (only the best
 *      `limit` after the cursor are kept, in a bounded heap);
 *   Z  the filter's slots that have no value and are not dirty (they sort as 0 and are not in
 *      the permutation), in slot order.
 * Every row of the filter is in exactly one stream, so the merge yields each once. Cost ~
 * limit / selectivity permutation entries + the dirty slots in the filter.
 */
#include <errno.h>
#include <stdlib.h>

#include "common/sort_internal.h"

int sort_walk(const sort_request_t *rq, uint32_t *slots, uint64_t *values, size_t *n)
{
    size_t f = (size_t)rq->field, k = rq->limit;
    const roaring_bitmap_t *dirty = index_sort_dirty(rq->ix, f);
    const roaring_bitmap_t *exists = bsi_exists(index_sort_bsi(rq->ix, f));
    const cursor_t *after = rq->after;
    sort_heap_t dh = {.cap = k, .desc = rq->desc};
    roaring_bitmap_t *dm = NULL, *z = NULL;
    uint32_t *zslots = NULL;
    size_t nz = 0, zi = 0, di = 0;
    permutation_iter_t it;
    sort_row_t p;
    bool p_ok = false, p_done = false;
    int rc = 0;

    *n = 0;
    dh.rows = malloc((k ? k : 1) * sizeof(*dh.rows));
    zslots = malloc((k ? k : 1) * sizeof(*zslots));
    dm = roaring_bitmap_and(rq->filter, dirty);
    if (!dh.rows || !zslots || !dm) {
        rc = -ENOMEM;
        goto out;
    }

    /* D: current values of the dirty slots that pass the filter */
    roaring_uint32_iterator_t di_it;
    roaring_init_iterator(dm, &di_it);
    while (di_it.has_value) {
        sort_row_t r = {sort_value(rq, di_it.current_value), di_it.current_value};
        if (sort_row_after(&r, after, rq->desc))
            sort_heap_push(&dh, r);
        roaring_advance_uint32_iterator(&di_it);
    }
    sort_heap_finish(&dh);

    /* Z: rows without a value (0), not dirty, in slot order after the cursor */
    if (roaring_bitmap_andnot_cardinality(rq->filter, exists) > 0) {
        bool any = true, from_set = false;
        if (after && after->value == 0)
            from_set = true;
        else if (after && !rq->desc)
            any = false; /* asc past a value > 0: every 0 is before the cursor */
        if (any) {
            z = roaring_bitmap_andnot(rq->filter, exists);
            if (!z) {
                rc = -ENOMEM;
                goto out;
            }
            roaring_bitmap_andnot_inplace(z, dirty);
            nz = sort_bitmap_slots(z, rq->desc, from_set, after ? after->slot : 0, zslots, k);
        }
    }

    /* P: the permutation from the cursor, skipping dirty slots */
    permutation_iter_init(&it, index_sort_perm(rq->ix, f), rq->desc, dirty);
    if (after)
        permutation_iter_seek_after(&it, after->value, after->slot);

    while (*n < k) {
        while (!p_ok && !p_done) {
            if (!permutation_iter_next(&it, &p.value, &p.slot))
                p_done = true;
            else if (roaring_bitmap_contains(rq->filter, p.slot))
                p_ok = true;
        }
        const sort_row_t *best = NULL;
        int which = -1;
        sort_row_t zr;
        if (p_ok) {
            best = &p;
            which = 0;
        }
        if (di < dh.n && (!best || sort_row_cmp(&dh.rows[di], best, rq->desc) < 0)) {
            best = &dh.rows[di];
            which = 1;
        }
        if (zi < nz) {
            zr.value = 0;
            zr.slot = zslots[zi];
            if (!best || sort_row_cmp(&zr, best, rq->desc) < 0) {
                best = &zr;
                which = 2;
            }
        }
        if (!best)
            break;
        slots[*n] = best->slot;
        values[*n] = best->value;
        (*n)++;
        if (which == 0)
            p_ok = false;
        else if (which == 1)
            di++;
        else
            zi++;
    }
out:
    free(dh.rows);
    free(zslots);
    if (dm)
        roaring_bitmap_free(dm);
    if (z)
        roaring_bitmap_free(z);
    return rc;
}

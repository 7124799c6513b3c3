/*
 * sort_walk: the dense-filter strategy. Three ordered streams are merged until the page is
 * full:
 *   P  the field's permutation walked in order from the cursor position (binary search),
 *      skipping dirty slots (their build-time entry may be stale), keeping the filter's slots;
 *   D  the dirty slots in the filter, by their current value from the column (only the best
 *      `limit` after the cursor are kept, in a bounded heap);
 *   Z  the filter's slots that have no value and are not dirty (they sort as 0 and are not in
 *      the permutation), in slot order, read lazily.
 * Every row of the filter is in exactly one stream, so the merge yields each once. Cost ~
 * limit / selectivity permutation entries + the dirty slots in the filter.
 *
 * The filter is a bitmap or a predicate (sort_request_t.match). A permutation entry that is not
 * dirty is a live slot, so the predicate only ever sees live slots; D and Z test liveness
 * first. With a predicate the walk counts the slots it tests and gives up (-EAGAIN) past
 * rq->max_scan, so a filter that turned out sparser than estimated costs a bounded detour.
 */
#include <errno.h>
#include <stdlib.h>

#include "common/sort_internal.h"

/* Counts predicate tests against the budget. */
typedef struct scan {
    const sort_request_t *rq;
    uint64_t tested;
} scan_t;

static bool keep(scan_t *sc, uint32_t slot)
{
    const sort_request_t *rq = sc->rq;
    if (rq->filter)
        return roaring_bitmap_contains(rq->filter, slot);
    sc->tested++;
    return rq->match(rq->match_arg, slot);
}

static bool over_budget(const scan_t *sc)
{
    return !sc->rq->filter && sc->rq->max_scan && sc->tested > sc->rq->max_scan;
}

/* A lazy slot-order reader of a bitmap past a starting slot, keeping the slots `test` accepts. */
typedef struct zstream {
    roaring_uint32_iterator_t it;
    bool desc, live; /* live: the bitmap holds live slots to test with the predicate */
    bool ok;         /* `cur` holds the next row */
    uint32_t cur;
} zstream_t;

static void zstream_init(zstream_t *z, const roaring_bitmap_t *bm, bool desc, bool from_set,
                         uint32_t from)
{
    z->desc = desc;
    z->ok = false;
    if (!desc) {
        roaring_init_iterator(bm, &z->it);
        if (from_set) {
            if (from == UINT32_MAX)
                z->it.has_value = false;
            else
                roaring_move_uint32_iterator_equalorlarger(&z->it, from + 1);
        }
    } else if (from_set) {
        roaring_init_iterator(bm, &z->it);
        roaring_move_uint32_iterator_equalorlarger(&z->it, from);
        roaring_previous_uint32_iterator(&z->it);
    } else {
        roaring_init_iterator_last(bm, &z->it);
    }
}

static void zstream_fill(zstream_t *z, scan_t *sc)
{
    while (!z->ok && z->it.has_value && !over_budget(sc)) {
        uint32_t s = z->it.current_value;
        if (z->desc)
            roaring_previous_uint32_iterator(&z->it);
        else
            roaring_advance_uint32_iterator(&z->it);
        if (!z->live || keep(sc, s)) {
            z->cur = s;
            z->ok = true;
        }
    }
}

int sort_walk(const sort_request_t *rq, uint32_t *slots, uint64_t *values, size_t *n)
{
    size_t f = (size_t)rq->field, k = rq->limit;
    const roaring_bitmap_t *dirty = index_sort_dirty(rq->ix, f);
    const roaring_bitmap_t *exists = bsi_exists(index_sort_bsi(rq->ix, f));
    const roaring_bitmap_t *alive = index_alive(rq->ix);
    const cursor_t *after = rq->after;
    sort_heap_t dh = {.cap = k, .desc = rq->desc};
    roaring_bitmap_t *z = NULL;
    zstream_t zs = {.ok = false};
    bool zon = false;
    size_t di = 0;
    permutation_iter_t it;
    scan_t sc = {.rq = rq};
    sort_row_t p;
    bool p_ok = false, p_done = false;
    int rc = 0;

    *n = 0;
    dh.rows = malloc((k ? k : 1) * sizeof(*dh.rows));
    if (!dh.rows) {
        rc = -ENOMEM;
        goto out;
    }

    /* D: current values of the dirty slots that pass the filter */
    roaring_uint32_iterator_t di_it;
    roaring_init_iterator(dirty, &di_it);
    while (di_it.has_value) {
        uint32_t s = di_it.current_value;
        roaring_advance_uint32_iterator(&di_it);
        if (!rq->filter && !roaring_bitmap_contains(alive, s))
            continue;
        if (!keep(&sc, s))
            continue;
        sort_row_t r = {sort_value(rq, s), s};
        if (sort_row_after(&r, after, rq->desc))
            sort_heap_push(&dh, r);
    }
    sort_heap_finish(&dh);

    /* Z: rows without a value (0), not dirty, in slot order after the cursor. exists is a
     * subset of alive, so equal counts mean there are none. */
    const roaring_bitmap_t *zsrc = rq->filter ? rq->filter : alive;
    bool any_z = index_doc_count(rq->ix) > index_sort_exists_count(rq->ix, f) &&
                 (!rq->filter || roaring_bitmap_andnot_cardinality(zsrc, exists) > 0);
    if (any_z) {
        bool from_set = false;
        zon = true;
        if (after && after->value == 0)
            from_set = true;
        else if (after && !rq->desc)
            zon = false; /* asc past a value > 0: every 0 is before the cursor */
        if (zon) {
            z = roaring_bitmap_andnot(zsrc, exists);
            if (!z) {
                rc = -ENOMEM;
                goto out;
            }
            roaring_bitmap_andnot_inplace(z, dirty);
            zstream_init(&zs, z, rq->desc, from_set, after ? after->slot : 0);
            zs.live = rq->filter == NULL;
        }
    }

    /* P: the permutation from the cursor, skipping dirty slots */
    permutation_iter_init(&it, index_sort_perm(rq->ix, f), rq->desc, dirty);
    if (after)
        permutation_iter_seek_after(&it, after->value, after->slot);

    while (*n < k) {
        while (!p_ok && !p_done) {
            if (over_budget(&sc)) {
                rc = -EAGAIN;
                goto out;
            }
            if (!permutation_iter_next(&it, &p.value, &p.slot))
                p_done = true;
            else if (keep(&sc, p.slot))
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
        if (zon) {
            zstream_fill(&zs, &sc);
            if (over_budget(&sc)) {
                rc = -EAGAIN;
                goto out;
            }
            if (zs.ok) {
                zr.value = 0;
                zr.slot = zs.cur;
                if (!best || sort_row_cmp(&zr, best, rq->desc) < 0) {
                    best = &zr;
                    which = 2;
                }
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
            zs.ok = false;
    }
out:
    free(dh.rows);
    if (z)
        roaring_bitmap_free(z);
    return rc;
}

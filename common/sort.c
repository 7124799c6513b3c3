/*
 * sort: strategy choice, the slot-order strategy and the helpers the others share.
 * See sort.h; the sorted strategies live in sort_materialize.c, sort_bsi.c and sort_walk.c.
 */
#include "common/sort.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/error.h"
#include "common/sort_internal.h"

void sort_thresholds_default(sort_thresholds_t *th)
{
    th->materialize_max = 16384;
    th->walk_max_scan = 100000;
    th->walk_max_dirty = 65536;
}

const char *sort_strategy_name(sort_strategy_t s)
{
    switch (s) {
    case SORT_AUTO:
        return "auto";
    case SORT_MATERIALIZE:
        return "materialize";
    case SORT_BSI:
        return "bsi";
    case SORT_WALK:
        return "walk";
    case SORT_SLOT:
        return "slot";
    }
    return "?";
}

int sort_strategy_parse(const char *name, sort_strategy_t *out)
{
    static const sort_strategy_t all[] = {SORT_AUTO, SORT_MATERIALIZE, SORT_BSI, SORT_WALK};
    for (size_t i = 0; i < sizeof(all) / sizeof(all[0]); i++) {
        if (name && strcmp(name, sort_strategy_name(all[i])) == 0) {
            *out = all[i];
            return 0;
        }
    }
    return BDX_EINVAL;
}

sort_strategy_t sort_choose(const sort_request_t *rq, uint64_t filter_count, sort_strategy_t force,
                            const sort_thresholds_t *th, char *reason, size_t len)
{
    sort_thresholds_t defaults;
    char scratch[8];
    if (!reason) {
        reason = scratch;
        len = sizeof(scratch);
    }
    if (!th) {
        sort_thresholds_default(&defaults);
        th = &defaults;
    }
    if (rq->field < 0) {
        snprintf(reason, len, "no sort field: slot order, %s iteration of the filter",
                 rq->desc ? "reverse" : "forward");
        return SORT_SLOT;
    }
    if (force != SORT_AUTO && force != SORT_SLOT) {
        snprintf(reason, len, "forced by the caller");
        return force;
    }
    if (filter_count <= th->materialize_max) {
        snprintf(reason, len, "filter has %llu rows <= materialize_max %llu",
                 (unsigned long long)filter_count, (unsigned long long)th->materialize_max);
        return SORT_MATERIALIZE;
    }
    uint64_t alive = index_doc_count(rq->ix);
    double scan = (double)rq->limit * (double)alive / (double)(filter_count ? filter_count : 1);
    uint64_t dirty = index_sort_dirty_count(rq->ix, (size_t)rq->field);
    if (scan <= (double)th->walk_max_scan && dirty <= th->walk_max_dirty) {
        snprintf(reason, len,
                 "filter has %llu of %llu rows: a walk reads ~%.0f entries <= %llu, "
                 "%llu dirty slots <= %llu",
                 (unsigned long long)filter_count, (unsigned long long)alive, scan,
                 (unsigned long long)th->walk_max_scan, (unsigned long long)dirty,
                 (unsigned long long)th->walk_max_dirty);
        return SORT_WALK;
    }
    snprintf(reason, len,
             "filter has %llu of %llu rows: a walk would read ~%.0f entries (max %llu) with "
             "%llu dirty slots (max %llu)",
             (unsigned long long)filter_count, (unsigned long long)alive, scan,
             (unsigned long long)th->walk_max_scan, (unsigned long long)dirty,
             (unsigned long long)th->walk_max_dirty);
    return SORT_BSI;
}

int sort_run(sort_strategy_t s, const sort_request_t *rq, uint32_t *slots, uint64_t *values,
             size_t *n)
{
    *n = 0;
    if (s == SORT_AUTO)
        s = !rq->filter ? SORT_WALK
                        : sort_choose(rq, roaring_bitmap_get_cardinality(rq->filter), SORT_AUTO,
                                      NULL, NULL, 0);
    if (rq->field < 0 && s != SORT_SLOT)
        s = SORT_SLOT;
    if (!rq->filter && (s == SORT_MATERIALIZE || s == SORT_BSI))
        return BDX_EINVAL;
    switch (s) {
    case SORT_MATERIALIZE:
        return sort_materialize(rq, slots, values, n);
    case SORT_BSI:
        return sort_bsi(rq, slots, values, n);
    case SORT_WALK:
        return sort_walk(rq, slots, values, n);
    case SORT_SLOT:
        return sort_by_slot(rq, slots, values, n);
    default:
        return BDX_EINVAL;
    }
}

/* ---- slot order ---- */

/* Slot order with a predicate filter: the live slots from the cursor on (down for desc, up for
 * asc), tested one by one. */
static int slot_walk(const sort_request_t *rq, uint32_t *slots, size_t *n)
{
    roaring_uint32_iterator_t it;
    uint64_t tested = 0;
    const roaring_bitmap_t *alive = index_alive(rq->ix);
    if (!rq->desc) {
        roaring_init_iterator(alive, &it);
        if (rq->after) {
            if (rq->after->slot == UINT32_MAX)
                return 0;
            roaring_move_uint32_iterator_equalorlarger(&it, rq->after->slot + 1);
        }
    } else if (rq->after) {
        roaring_init_iterator(alive, &it);
        roaring_move_uint32_iterator_equalorlarger(&it, rq->after->slot);
        roaring_previous_uint32_iterator(&it);
    } else {
        roaring_init_iterator_last(alive, &it);
    }
    while (it.has_value && *n < rq->limit) {
        if (rq->max_scan && tested >= rq->max_scan)
            return -EAGAIN;
        uint32_t s = it.current_value;
        tested++;
        if (rq->match(rq->match_arg, s))
            slots[(*n)++] = s;
        if (rq->desc)
            roaring_previous_uint32_iterator(&it);
        else
            roaring_advance_uint32_iterator(&it);
    }
    return 0;
}

int sort_by_slot(const sort_request_t *rq, uint32_t *slots, uint64_t *values, size_t *n)
{
    *n = 0;
    if (!rq->filter) {
        int rc = slot_walk(rq, slots, n);
        if (rc)
            return rc;
    } else {
        *n = sort_bitmap_slots(rq->filter, rq->desc, rq->after != NULL,
                               rq->after ? rq->after->slot : 0, slots, rq->limit);
    }
    for (size_t i = 0; i < *n; i++)
        values[i] = rq->field >= 0 ? sort_value(rq, slots[i]) : 0;
    return 0;
}

size_t sort_bitmap_slots(const roaring_bitmap_t *bm, bool desc, bool from_set, uint32_t from,
                         uint32_t *out, size_t max)
{
    roaring_uint32_iterator_t it;
    size_t n = 0;
    if (max == 0)
        return 0;
    if (!desc) {
        roaring_init_iterator(bm, &it);
        if (from_set) {
            if (from == UINT32_MAX)
                return 0;
            roaring_move_uint32_iterator_equalorlarger(&it, from + 1);
        }
        while (it.has_value && n < max) {
            uint32_t got = roaring_read_uint32_iterator(&it, out + n, (uint32_t)(max - n));
            if (got == 0)
                break;
            n += got;
        }
        return n;
    }
    if (from_set) {
        /* position on the first slot >= from, then step back: the last slot < from */
        roaring_init_iterator(bm, &it);
        roaring_move_uint32_iterator_equalorlarger(&it, from);
        roaring_previous_uint32_iterator(&it);
    } else {
        roaring_init_iterator_last(bm, &it);
    }
    while (it.has_value && n < max) {
        out[n++] = it.current_value;
        roaring_previous_uint32_iterator(&it);
    }
    return n;
}

/* ---- rows ---- */

static bool worse(const sort_heap_t *h, size_t a, size_t b)
{
    return sort_row_cmp(&h->rows[a], &h->rows[b], h->desc) > 0;
}

static void swap_rows(sort_row_t *r, size_t a, size_t b)
{
    sort_row_t t = r[a];
    r[a] = r[b];
    r[b] = t;
}

static void sift_down(sort_heap_t *h, size_t i)
{
    for (;;) {
        size_t l = 2 * i + 1, r = l + 1, m = i;
        if (l < h->n && worse(h, l, m))
            m = l;
        if (r < h->n && worse(h, r, m))
            m = r;
        if (m == i)
            return;
        swap_rows(h->rows, i, m);
        i = m;
    }
}

void sort_heap_push(sort_heap_t *h, sort_row_t r)
{
    if (h->cap == 0)
        return;
    if (h->n < h->cap) {
        size_t i = h->n++;
        h->rows[i] = r;
        while (i > 0) {
            size_t parent = (i - 1) / 2;
            if (!worse(h, i, parent))
                break;
            swap_rows(h->rows, i, parent);
            i = parent;
        }
        return;
    }
    if (sort_row_cmp(&r, &h->rows[0], h->desc) >= 0)
        return;
    h->rows[0] = r;
    sift_down(h, 0);
}

static int cmp_asc(const void *a, const void *b)
{
    return sort_row_cmp(a, b, false);
}

static int cmp_desc(const void *a, const void *b)
{
    return sort_row_cmp(a, b, true);
}

void sort_rows_sort(sort_row_t *rows, size_t n, bool desc)
{
    if (n > 1)
        qsort(rows, n, sizeof(*rows), desc ? cmp_desc : cmp_asc);
}

void sort_heap_finish(sort_heap_t *h)
{
    sort_rows_sort(h->rows, h->n, h->desc);
}

void sort_emit(const sort_row_t *rows, size_t n, uint32_t *slots, uint64_t *values)
{
    for (size_t i = 0; i < n; i++) {
        slots[i] = rows[i].slot;
        values[i] = rows[i].value;
    }
}

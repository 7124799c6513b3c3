/*
 * sort_bsi: the large-result strategy. Everything before the final page is bitmap algebra over
 * the BSI slices; only the page (plus rows tied with the cursor) is ever looked up one by one.
 *
 *   1. A = the filter rows after the cursor, bit-sliced: (values strictly after the cursor
 *      value) OR (value == cursor value AND slot past the cursor slot). Rows without a value
 *      count as 0 and are handled as the set M = A - exists.
 *   2. S = bsi_topk(A, limit) (every row better than the limit-th value plus all its ties),
 *      joined with M when rows valued 0 can reach the page; v = the boundary value.
 *   3. The page = the rows of S strictly better than v (fewer than 2 x limit; sorted), then
 *      rows tied at v read in slot order straight from the bitmap: a tie group of millions costs
 *      one iterator, not a sort.
 */
#include <errno.h>
#include <stdlib.h>

#include "common/bitmap.h"
#include "common/sort_internal.h"

#define SLOT_END (UINT64_C(1) << 32)

/* The filter rows strictly after the cursor (see step 1). Caller frees *out. */
static int after_cursor(const sort_request_t *rq, const bsi_t *bsi, roaring_bitmap_t **out)
{
    const roaring_bitmap_t *exists = bsi_exists(bsi);
    uint64_t cv = rq->after->value;
    uint64_t cs = rq->after->slot;
    roaring_bitmap_t *r = roaring_bitmap_create(), *t = roaring_bitmap_create(), *m = NULL;
    int rc = 0;
    if (!r || !t) {
        rc = -ENOMEM;
        goto out;
    }
    rc = bsi_compare(bsi, rq->desc ? BSI_LT : BSI_GT, cv, 0, rq->filter, r);
    if (rc == 0)
        rc = bsi_compare(bsi, BSI_EQ, cv, 0, rq->filter, t);
    if (rc)
        goto out;
    if (rq->desc)
        roaring_bitmap_remove_range(t, cs, SLOT_END);
    else
        roaring_bitmap_remove_range(t, 0, cs + 1);
    roaring_bitmap_or_inplace(r, t);
    /* rows without a value sort as 0 */
    if ((rq->desc || cv == 0) && roaring_bitmap_andnot_cardinality(rq->filter, exists) > 0) {
        m = roaring_bitmap_andnot(rq->filter, exists);
        if (!m) {
            rc = -ENOMEM;
            goto out;
        }
        if (cv == 0) {
            if (rq->desc)
                roaring_bitmap_remove_range(m, cs, SLOT_END);
            else
                roaring_bitmap_remove_range(m, 0, cs + 1);
        }
        roaring_bitmap_or_inplace(r, m);
    }
out:
    if (t)
        roaring_bitmap_free(t);
    if (m)
        roaring_bitmap_free(m);
    if (rc && r) {
        roaring_bitmap_free(r);
        r = NULL;
    }
    *out = r;
    return rc;
}

/* Reads every slot of `bm` as a row (value from the column) into a new array. */
static int rows_of(const sort_request_t *rq, const roaring_bitmap_t *bm, sort_row_t **rows,
                   size_t *n)
{
    uint64_t count = roaring_bitmap_get_cardinality(bm);
    sort_row_t *r = malloc((count ? count : 1) * sizeof(*r));
    uint32_t *s = malloc((count ? count : 1) * sizeof(*s));
    if (!r || !s) {
        free(r);
        free(s);
        return -ENOMEM;
    }
    roaring_bitmap_to_uint32_array(bm, s);
    for (uint64_t i = 0; i < count; i++) {
        r[i].slot = s[i];
        r[i].value = sort_value(rq, s[i]);
    }
    free(s);
    *rows = r;
    *n = (size_t)count;
    return 0;
}

/* The page from S, whose rows are all after the cursor and at least as good as v, with every
 * row of A tied at v that could reach the page (see step 3). */
static int select_page(const sort_request_t *rq, const bsi_t *bsi, const roaring_bitmap_t *s,
                       uint64_t v, uint32_t *slots, uint64_t *values, size_t *n)
{
    size_t k = rq->limit, nb = 0;
    sort_row_t *rows = NULL;
    roaring_bitmap_t *better = NULL, *ties = NULL;
    int rc;

    if (roaring_bitmap_get_cardinality(s) <= 2 * (uint64_t)k + 64) {
        rc = rows_of(rq, s, &rows, &nb);
        if (rc)
            return rc;
        sort_rows_sort(rows, nb, rq->desc);
        *n = nb < k ? nb : k;
        sort_emit(rows, *n, slots, values);
        free(rows);
        return 0;
    }
    better = roaring_bitmap_create();
    if (!better)
        return -ENOMEM;
    rc = bsi_compare(bsi, rq->desc ? BSI_GT : BSI_LT, v, 0, s, better);
    if (rc)
        goto out;
    if (!rq->desc && v > 0) {
        /* rows without a value (0) are better than v in asc order */
        roaring_bitmap_t *m = roaring_bitmap_andnot(s, bsi_exists(bsi));
        if (!m) {
            rc = -ENOMEM;
            goto out;
        }
        roaring_bitmap_or_inplace(better, m);
        roaring_bitmap_free(m);
    }
    rc = rows_of(rq, better, &rows, &nb);
    if (rc)
        goto out;
    sort_rows_sort(rows, nb, rq->desc);
    *n = nb < k ? nb : k;
    sort_emit(rows, *n, slots, values);
    if (*n < k) {
        ties = roaring_bitmap_andnot(s, better);
        if (!ties) {
            rc = -ENOMEM;
            goto out;
        }
        size_t got = sort_bitmap_slots(ties, rq->desc, false, 0, slots + *n, k - *n);
        for (size_t i = 0; i < got; i++)
            values[*n + i] = v;
        *n += got;
    }
out:
    free(rows);
    if (better)
        roaring_bitmap_free(better);
    if (ties)
        roaring_bitmap_free(ties);
    return rc;
}

int sort_bsi(const sort_request_t *rq, uint32_t *slots, uint64_t *values, size_t *n)
{
    const bsi_t *bsi = index_sort_bsi(rq->ix, (size_t)rq->field);
    const roaring_bitmap_t *exists = bsi_exists(bsi);
    const roaring_bitmap_t *a = rq->filter;
    roaring_bitmap_t *a_owned = NULL, *m = NULL, *top = NULL, *s_owned = NULL;
    const roaring_bitmap_t *s;
    uint64_t k = rq->limit, kth = 0, v, mcount;
    int rc = 0;

    *n = 0;
    if (!rq->filter)
        return BDX_EINVAL; /* needs the filter as a bitmap */
    if (rq->after) {
        rc = after_cursor(rq, bsi, &a_owned);
        if (rc)
            return rc;
        a = a_owned;
    }
    mcount = roaring_bitmap_andnot_cardinality(a, exists);
    if (mcount) {
        m = roaring_bitmap_andnot(a, exists);
        if (!m) {
            rc = -ENOMEM;
            goto out;
        }
    }
    top = roaring_bitmap_create();
    if (!top) {
        rc = -ENOMEM;
        goto out;
    }
    if (!rq->desc && mcount >= k) {
        /* asc: at least a page of rows valued 0 without a value; the page is all 0s */
        rc = bsi_compare(bsi, BSI_EQ, 0, 0, a, top);
        if (rc)
            goto out;
        roaring_bitmap_or_inplace(top, m);
        s = top;
        v = 0;
    } else {
        rc = bsi_topk(bsi, a, k, rq->desc, top, &kth);
        if (rc)
            goto out;
        uint64_t got = roaring_bitmap_get_cardinality(top);
        s = top;
        v = got ? kth : 0;
        if (m && (!rq->desc || got < k || kth == 0)) {
            /* rows valued 0 can reach the page: desc when the top is short or ends at 0 */
            s_owned = roaring_bitmap_or(top, m);
            if (!s_owned) {
                rc = -ENOMEM;
                goto out;
            }
            s = s_owned;
            if (rq->desc)
                v = 0;
        }
    }
    rc = select_page(rq, bsi, s, v, slots, values, n);
out:
    if (a_owned)
        roaring_bitmap_free(a_owned);
    if (m)
        roaring_bitmap_free(m);
    if (top)
        roaring_bitmap_free(top);
    if (s_owned)
        roaring_bitmap_free(s_owned);
    return rc;
}

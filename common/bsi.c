/*
 * bsi: bit-sliced index arithmetic.
 *
 * Range comparison follows O'Neil & Quass ("Improved query performance with variant indexes",
 * SIGMOD 1997): walk the slices from the most significant bit keeping EQ (slots whose prefix
 * equals the constant's prefix so far), and move slots out of EQ into LT or GT at the first bit
 * where they differ. Top-K follows Rinfret, O'Neil & O'Neil ("Bit-sliced index arithmetic",
 * SIGMOD 2001): walk from the most significant bit keeping G (slots surely in the top K) and E
 * (slots whose prefix ties the K-th value's prefix so far), counting with cardinality-only
 * intersections before materializing a branch.
 */
#include "common/bsi.h"

#include <errno.h>
#include <stdlib.h>

#include "common/bitmap.h"
#include "common/error.h"
#include "common/schema.h"

struct bsi {
    unsigned bits;
    bitmap_t exists;
    bitmap_t slices[64];
};

static bool fits(unsigned bits, uint64_t value)
{
    return bits >= 64 || (value >> bits) == 0;
}

int bsi_new(unsigned bits, bsi_t **out)
{
    bsi_t *b;

    *out = NULL;
    if (bits < 1 || bits > 64)
        return BDX_EINVAL;
    b = calloc(1, sizeof(*b));
    if (b == NULL)
        return -ENOMEM;
    b->bits = bits;
    /* Every bitmap exists from the start so that readers never see NULL. */
    if (bitmap_mut(&b->exists) == NULL)
        goto nomem;
    for (unsigned i = 0; i < bits; i++)
        if (bitmap_mut(&b->slices[i]) == NULL)
            goto nomem;
    *out = b;
    return 0;
nomem:
    bsi_free(b);
    return -ENOMEM;
}

void bsi_free(bsi_t *b)
{
    if (b == NULL)
        return;
    bitmap_release(&b->exists);
    for (unsigned i = 0; i < 64; i++)
        bitmap_release(&b->slices[i]);
    free(b);
}

unsigned bsi_bits(const bsi_t *b)
{
    return b->bits;
}

const roaring_bitmap_t *bsi_exists(const bsi_t *b)
{
    return bitmap_get(&b->exists);
}

const roaring_bitmap_t *bsi_slice(const bsi_t *b, unsigned bit)
{
    return bitmap_get(&b->slices[bit]);
}

const bitmap_t *bsi_slot(const bsi_t *b, int bit)
{
    return bit < 0 ? &b->exists : &b->slices[bit];
}

bitmap_t *bsi_slot_mut(bsi_t *b, int bit)
{
    return bit < 0 ? &b->exists : &b->slices[bit];
}

uint64_t bsi_count(const bsi_t *b)
{
    return roaring_bitmap_get_cardinality(bsi_exists(b));
}

/* Makes every bitmap writable (copy-on-write of views) before a write, so that a write either
 * fully happens or (out of memory) does not start. */
static int make_writable(bsi_t *b)
{
    if (bitmap_mut(&b->exists) == NULL)
        return -ENOMEM;
    for (unsigned i = 0; i < b->bits; i++)
        if (bitmap_mut(&b->slices[i]) == NULL)
            return -ENOMEM;
    return 0;
}

int bsi_set(bsi_t *b, uint32_t slot, uint64_t value)
{
    bool had;

    if (!fits(b->bits, value))
        return BDX_EINVAL;
    if (make_writable(b) != 0)
        return -ENOMEM;
    had = roaring_bitmap_contains(b->exists.rb, slot);
    roaring_bitmap_add(b->exists.rb, slot);
    for (unsigned i = 0; i < b->bits; i++) {
        if ((value >> i) & 1)
            roaring_bitmap_add(b->slices[i].rb, slot);
        else if (had)
            roaring_bitmap_remove(b->slices[i].rb, slot);
    }
    return 0;
}

int bsi_append(bsi_t *b, const uint32_t *slots, const uint64_t *values, size_t n)
{
    const roaring_bitmap_t *ex = bsi_exists(b);
    uint32_t *sel;
    int rc;

    if (n == 0)
        return 0;
    for (size_t i = 0; i < n; i++)
        if (!fits(b->bits, values[i]) || (i > 0 && slots[i] <= slots[i - 1]))
            return BDX_EINVAL;
    if (!roaring_bitmap_is_empty(ex) && slots[0] <= roaring_bitmap_maximum(ex)) {
        /* some slot may already have a value: then take the general path */
        for (size_t i = 0; i < n; i++) {
            if (!roaring_bitmap_contains(ex, slots[i]))
                continue;
            for (size_t k = 0; k < n; k++)
                if ((rc = bsi_set(b, slots[k], values[k])) != 0)
                    return rc;
            return 0;
        }
    }
    if (make_writable(b) != 0 || (sel = malloc(n * sizeof(*sel))) == NULL)
        return -ENOMEM;
    roaring_bitmap_add_many(b->exists.rb, n, slots);
    for (unsigned bit = 0; bit < b->bits; bit++) {
        size_t k = 0;
        for (size_t i = 0; i < n; i++)
            if ((values[i] >> bit) & 1)
                sel[k++] = slots[i];
        if (k > 0)
            roaring_bitmap_add_many(b->slices[bit].rb, k, sel);
    }
    free(sel);
    return 0;
}

int bsi_clear(bsi_t *b, uint32_t slot)
{
    if (!roaring_bitmap_contains(bsi_exists(b), slot))
        return 0;
    if (make_writable(b) != 0)
        return -ENOMEM;
    roaring_bitmap_remove(b->exists.rb, slot);
    for (unsigned i = 0; i < b->bits; i++)
        roaring_bitmap_remove(b->slices[i].rb, slot);
    return 0;
}

bool bsi_get(const bsi_t *b, uint32_t slot, uint64_t *value)
{
    uint64_t v = 0;

    if (!roaring_bitmap_contains(bsi_exists(b), slot))
        return false;
    for (unsigned i = 0; i < b->bits; i++)
        if (roaring_bitmap_contains(bsi_slice(b, i), slot))
            v |= (uint64_t)1 << i;
    *value = v;
    return true;
}

/* ---- comparison (O'Neil-Quass) ---- */

/* The slots with a value, restricted: a new bitmap (caller frees) or NULL when out of memory. */
static roaring_bitmap_t *base_set(const bsi_t *b, const roaring_bitmap_t *restrict_to)
{
    if (restrict_to == NULL)
        return roaring_bitmap_copy(bsi_exists(b));
    return roaring_bitmap_and(restrict_to, bsi_exists(b));
}

/*
 * Splits `eq` (taken over: freed or returned) against constant c: *lt / *gt receive the slots
 * whose value is below / above c (either pointer may be NULL when not wanted), and the return
 * value holds the slots equal to c. Returns NULL when out of memory (all outputs freed).
 */
static roaring_bitmap_t *split(const bsi_t *b, roaring_bitmap_t *eq, uint64_t c,
                               roaring_bitmap_t **lt, roaring_bitmap_t **gt)
{
    roaring_bitmap_t *l = NULL, *g = NULL;

    if (lt != NULL && (l = roaring_bitmap_create()) == NULL)
        goto nomem;
    if (gt != NULL && (g = roaring_bitmap_create()) == NULL)
        goto nomem;
    for (int i = (int)b->bits - 1; i >= 0 && !roaring_bitmap_is_empty(eq); i--) {
        const roaring_bitmap_t *s = bsi_slice(b, (unsigned)i);
        if (!((c >> i) & 1) && roaring_bitmap_is_empty(s))
            continue; /* nobody has a 1 here: nothing moves to GT */
        if ((c >> i) & 1) {
            /* slots with a 0 here are below c from now on */
            if (l != NULL) {
                roaring_bitmap_t *t = roaring_bitmap_andnot(eq, s);
                if (t == NULL)
                    goto nomem;
                roaring_bitmap_or_inplace(l, t);
                bitmap_free_roaring(t);
            }
            roaring_bitmap_and_inplace(eq, s);
        } else {
            /* slots with a 1 here are above c from now on */
            if (g != NULL) {
                roaring_bitmap_t *t = roaring_bitmap_and(eq, s);
                if (t == NULL)
                    goto nomem;
                roaring_bitmap_or_inplace(g, t);
                bitmap_free_roaring(t);
            }
            roaring_bitmap_andnot_inplace(eq, s);
        }
    }
    if (lt != NULL)
        *lt = l;
    if (gt != NULL)
        *gt = g;
    return eq;
nomem:
    bitmap_free_roaring(l);
    bitmap_free_roaring(g);
    bitmap_free_roaring(eq);
    return NULL;
}

/* out = slots of `set` (taken over) satisfying op against c, for a single-constant op. */
static int compare_one(const bsi_t *b, bsi_op_t op, uint64_t c, roaring_bitmap_t *set,
                       roaring_bitmap_t *out)
{
    roaring_bitmap_t *all = NULL, *eq, *lt = NULL, *gt = NULL;
    uint64_t max = schema_bits_max(b->bits);
    bool want_lt = op == BSI_LT || op == BSI_LE;
    bool want_gt = op == BSI_GT || op == BSI_GE;

    if (c > max) {
        /* every stored value is below c */
        if (op == BSI_LT || op == BSI_LE || op == BSI_NE)
            roaring_bitmap_overwrite(out, set);
        else
            roaring_bitmap_clear(out);
        bitmap_free_roaring(set);
        return 0;
    }
    if (op == BSI_NE && (all = roaring_bitmap_copy(set)) == NULL) {
        bitmap_free_roaring(set);
        return -ENOMEM;
    }
    eq = split(b, set, c, want_lt ? &lt : NULL, want_gt ? &gt : NULL);
    if (eq == NULL) {
        bitmap_free_roaring(all);
        return -ENOMEM;
    }
    switch (op) {
    case BSI_EQ:
        roaring_bitmap_overwrite(out, eq);
        break;
    case BSI_NE:
        roaring_bitmap_andnot_inplace(all, eq);
        roaring_bitmap_overwrite(out, all);
        break;
    case BSI_LT:
        roaring_bitmap_overwrite(out, lt);
        break;
    case BSI_LE:
        roaring_bitmap_or_inplace(lt, eq);
        roaring_bitmap_overwrite(out, lt);
        break;
    case BSI_GT:
        roaring_bitmap_overwrite(out, gt);
        break;
    default: /* BSI_GE */
        roaring_bitmap_or_inplace(gt, eq);
        roaring_bitmap_overwrite(out, gt);
        break;
    }
    bitmap_free_roaring(all);
    bitmap_free_roaring(eq);
    bitmap_free_roaring(lt);
    bitmap_free_roaring(gt);
    return 0;
}

int bsi_compare(const bsi_t *b, bsi_op_t op, uint64_t a, uint64_t bval,
                const roaring_bitmap_t *restrict_to, roaring_bitmap_t *out)
{
    roaring_bitmap_t *set, *ge;
    int rc;

    if (op < BSI_EQ || op > BSI_BETWEEN)
        return BDX_EINVAL;
    if (op == BSI_BETWEEN && a > bval) {
        roaring_bitmap_clear(out);
        return 0;
    }
    set = base_set(b, restrict_to);
    if (set == NULL)
        return -ENOMEM;
    if (op != BSI_BETWEEN)
        return compare_one(b, op, a, set, out);
    /* a <= value <= b: GE a first, then LE b within it. */
    ge = roaring_bitmap_create();
    if (ge == NULL) {
        bitmap_free_roaring(set);
        return -ENOMEM;
    }
    rc = compare_one(b, BSI_GE, a, set, ge);
    if (rc == 0)
        rc = compare_one(b, BSI_LE, bval, ge, out);
    else
        bitmap_free_roaring(ge);
    return rc;
}

/* ---- top-K (Rinfret-O'Neil) ---- */

/*
 * Completes *v (bits above `from` already decided) with the largest (want_max) or smallest
 * value held by the slots of `set` (taken over and freed), walking bits from-1 .. 0. `set` must
 * be non-empty. Returns 0 or -ENOMEM.
 */
static int extreme(const bsi_t *b, roaring_bitmap_t *set, int from, bool want_max, uint64_t *v)
{
    for (int i = from - 1; i >= 0; i--) {
        const roaring_bitmap_t *s = bsi_slice(b, (unsigned)i);
        uint64_t with = roaring_bitmap_and_cardinality(set, s);
        uint64_t total = roaring_bitmap_get_cardinality(set);
        bool one = want_max ? with > 0 : with == total;
        if (one) {
            *v |= (uint64_t)1 << i;
            if (with != total)
                roaring_bitmap_and_inplace(set, s);
        } else if (with != 0) {
            roaring_bitmap_andnot_inplace(set, s);
        }
    }
    bitmap_free_roaring(set);
    return 0;
}

int bsi_topk(const bsi_t *b, const roaring_bitmap_t *candidates, uint64_t k, bool desc,
             roaring_bitmap_t *out, uint64_t *kth)
{
    roaring_bitmap_t *e, *g = NULL;
    uint64_t n, ng = 0, v = 0;
    int rc = 0;

    if (kth != NULL)
        *kth = 0;
    if (k == 0) {
        roaring_bitmap_clear(out);
        return 0;
    }
    e = base_set(b, candidates);
    if (e == NULL)
        return -ENOMEM;
    n = roaring_bitmap_get_cardinality(e);
    if (n <= k) {
        /* all of C; kth = its worst value */
        roaring_bitmap_overwrite(out, e);
        if (n == 0 || kth == NULL) {
            bitmap_free_roaring(e);
            return 0;
        }
        return extreme(b, e, (int)b->bits, !desc, kth);
    }
    g = roaring_bitmap_create();
    if (g == NULL) {
        bitmap_free_roaring(e);
        return -ENOMEM;
    }
    /* Invariant: |G| < k < |G| + |E|; G beats E; E's values share v's bits above i. */
    for (int i = (int)b->bits - 1; i >= 0; i--) {
        const roaring_bitmap_t *s = bsi_slice(b, (unsigned)i);
        if (roaring_bitmap_is_empty(s))
            continue; /* every value has a 0 here: nothing to decide, v's bit is 0 */
        /* "better" half of E at this bit: bit 1 for desc, bit 0 for asc */
        uint64_t with = roaring_bitmap_and_cardinality(e, s);
        uint64_t better = desc ? with : roaring_bitmap_get_cardinality(e) - with;
        uint64_t x = ng + better;
        roaring_bitmap_t *t;

        if (x > k) {
            /* the k-th value is in the better half: narrow E to it */
            if (desc) {
                roaring_bitmap_and_inplace(e, s);
                v |= (uint64_t)1 << i;
            } else {
                roaring_bitmap_andnot_inplace(e, s);
            }
            continue;
        }
        /* the better half is surely in: move it to G; the k-th value is in the rest */
        t = desc ? roaring_bitmap_and(e, s) : roaring_bitmap_andnot(e, s);
        if (t == NULL) {
            rc = -ENOMEM;
            goto out;
        }
        if (x == k) {
            /* G + better half is exactly the top k and nothing outside ties with it */
            roaring_bitmap_or_inplace(g, t);
            roaring_bitmap_overwrite(out, g);
            if (kth == NULL) {
                bitmap_free_roaring(t);
                goto out;
            }
            /* v = the worst value of the better half (bit i: 1 for desc, 0 for asc) */
            if (desc)
                v |= (uint64_t)1 << i;
            rc = extreme(b, t, i, !desc, &v);
            *kth = v;
            goto out;
        }
        roaring_bitmap_or_inplace(g, t);
        bitmap_free_roaring(t);
        ng = x;
        if (desc) {
            roaring_bitmap_andnot_inplace(e, s);
        } else {
            roaring_bitmap_and_inplace(e, s);
            v |= (uint64_t)1 << i;
        }
    }
    /* Every bit decided: E holds exactly the slots tied at the k-th value v. */
    roaring_bitmap_or_inplace(g, e);
    roaring_bitmap_overwrite(out, g);
    if (kth != NULL)
        *kth = v;
out:
    bitmap_free_roaring(e);
    bitmap_free_roaring(g);
    return rc;
}

void bsi_optimize(bsi_t *b)
{
    if (bitmap_is_owned(&b->exists)) {
        roaring_bitmap_run_optimize(b->exists.rb);
        roaring_bitmap_shrink_to_fit(b->exists.rb);
    }
    for (unsigned i = 0; i < b->bits; i++) {
        if (!bitmap_is_owned(&b->slices[i]))
            continue;
        roaring_bitmap_run_optimize(b->slices[i].rb);
        roaring_bitmap_shrink_to_fit(b->slices[i].rb);
    }
}

size_t bsi_memory(const bsi_t *b, bitmap_usage_t *bitmaps)
{
    bitmap_usage_t u = {0};

    bitmap_usage_add(&b->exists, &u);
    for (unsigned i = 0; i < b->bits; i++)
        bitmap_usage_add(&b->slices[i], &u);
    if (bitmaps != NULL) {
        bitmaps->bytes += u.bytes;
        bitmaps->frozen += u.frozen;
        bitmaps->views += u.views;
        bitmaps->view_count += u.view_count;
    }
    return sizeof(*b) + u.bytes;
}

size_t bsi_frozen_footprint(const bsi_t *b)
{
    size_t n = bitmap_frozen_footprint(&b->exists);

    for (unsigned i = 0; i < b->bits; i++)
        n += bitmap_frozen_footprint(&b->slices[i]);
    return n;
}

int bsi_freeze(bsi_t *b, frozen_t *arena)
{
    int rc = bitmap_freeze_into(&b->exists, arena);

    for (unsigned i = 0; rc == 0 && i < b->bits; i++)
        rc = bitmap_freeze_into(&b->slices[i], arena);
    return rc;
}

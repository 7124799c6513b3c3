/*
 * generation_items: the bitmaps of an index as generation items, named (kind, field, key) and
 * visited in that order, which is the order of the bitmap directory of base and delta files.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "common/generation_internal.h"

typedef struct value_walk {
    gen_item_fn fn;
    void *arg;
    unsigned field;
    int rc;
} value_walk_t;

static bool visit_value(int64_t key, const bitmap_t *slot, void *arg)
{
    value_walk_t *v = arg;

    v->rc = v->fn(GEN_ITEM_VALUE, v->field, key, slot, v->arg);
    return v->rc == 0;
}

int gen_walk_items(const index_t *ix, gen_item_fn fn, void *arg)
{
    return gen_walk_fields(ix, fn, NULL, arg);
}

int gen_walk_fields(const index_t *ix, gen_item_fn fn, gen_values_fn values, void *arg)
{
    const schema_t *s = ix->schema;
    int rc;

    if ((rc = fn(GEN_ITEM_ALIVE, 0, 0, &ix->alive, arg)) != 0)
        return rc;
    for (size_t f = 0; f < s->filter_count; f++) {
        value_walk_t v = {fn, arg, (unsigned)f, 0};
        if (values != NULL) {
            if ((rc = values((unsigned)f, arg)) != 0)
                return rc;
            continue;
        }
        valuemap_visit(ix->filters[f].values, visit_value, &v);
        if (v.rc != 0)
            return v.rc;
    }
    for (size_t f = 0; f < s->filter_count; f++)
        if ((rc = fn(GEN_ITEM_NULL, (unsigned)f, 0, &ix->filters[f].null, arg)) != 0)
            return rc;
    for (size_t f = 0; f < s->filter_count; f++)
        if ((rc = fn(GEN_ITEM_EXISTS, (unsigned)f, 0, &ix->filters[f].exists, arg)) != 0)
            return rc;
    for (size_t f = 0; f < s->sort_count; f++)
        if ((rc = fn(GEN_ITEM_BSI_EXISTS, (unsigned)f, 0, bsi_slot(ix->sorts[f].bsi, -1), arg)) !=
            0)
            return rc;
    for (size_t f = 0; f < s->sort_count; f++)
        for (unsigned b = 0; b < s->sort_fields[f].bits; b++)
            if ((rc = fn(GEN_ITEM_BSI_SLICE, (unsigned)f, b, bsi_slot(ix->sorts[f].bsi, (int)b),
                         arg)) != 0)
                return rc;
    for (size_t f = 0; f < s->sort_count; f++)
        if ((rc = fn(GEN_ITEM_DIRTY, (unsigned)f, 0, &ix->sorts[f].dirty, arg)) != 0)
            return rc;
    return 0;
}

bitmap_t *gen_item_slot(index_t *ix, unsigned kind, unsigned field, int64_t key)
{
    const schema_t *s = ix->schema;

    switch (kind) {
    case GEN_ITEM_ALIVE:
        return field == 0 && key == 0 ? &ix->alive : NULL;
    case GEN_ITEM_NULL:
        return field < s->filter_count && key == 0 ? &ix->filters[field].null : NULL;
    case GEN_ITEM_EXISTS:
        return field < s->filter_count && key == 0 ? &ix->filters[field].exists : NULL;
    case GEN_ITEM_BSI_EXISTS:
        return field < s->sort_count && key == 0 ? bsi_slot_mut(ix->sorts[field].bsi, -1) : NULL;
    case GEN_ITEM_BSI_SLICE:
        if (field >= s->sort_count || key < 0 || key >= s->sort_fields[field].bits)
            return NULL;
        return bsi_slot_mut(ix->sorts[field].bsi, (int)key);
    case GEN_ITEM_DIRTY:
        return field < s->sort_count && key == 0 ? &ix->sorts[field].dirty : NULL;
    default:
        return NULL;
    }
}

int gen_put_bitmap(gen_writer_t *w, const bitmap_t *slot, const roaring_bitmap_t *rb, uint32_t *len)
{
    size_t n;

    if (slot != NULL && slot->kind == BITMAP_FROZEN) {
        /* already in frozen format (an arena or a mapped generation): copy the bytes */
        *len = slot->frozen_len;
        return gen_writer_put(w, slot->frozen, slot->frozen_len);
    }
    if (slot != NULL)
        rb = bitmap_get(slot);
    n = bitmap_freeze_size(rb);
    if (n > UINT32_MAX)
        return BDX_ETOOBIG;
    if (n > w->scratch_cap) {
        size_t cap = gen_align(n > 4096 ? n * 2 : 4096);
        char *p = aligned_alloc(BITMAP_FROZEN_ALIGN, cap);
        if (p == NULL)
            return -ENOMEM;
        free(w->scratch);
        w->scratch = p;
        w->scratch_cap = cap;
    }
    bitmap_freeze_to(rb, w->scratch);
    *len = (uint32_t)n;
    return gen_writer_put(w, w->scratch, n);
}

/*
 * generation_delta: writes the delta file of a generation: every change of an index since the
 * base it was loaded from (cumulative), so that base + delta loads to exactly that index.
 *
 * Bitmaps: the index's items are walked in directory order next to the base's directory (a
 * merge join). An item whose slot is still frozen over its own bytes in the base mapping is
 * unchanged and costs nothing; any other item is diffed against its base bitmap and written as
 * (added, removed) bitmaps when they differ; a base item the index no longer has (a value no
 * document holds any more) is written as removed entirely. Per-slot data (column values,
 * docvalues records) is written for the touched slots, permutations rebuilt since the base in
 * full, and dictionary strings added since the base.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "common/generation_write_internal.h"

typedef struct delta_walk {
    gen_writer_t *w;
    const generation_t *base;
    const uint8_t *loaded; /* the index's own mapping of the same base bitmaps section */
    uint64_t arena_start;
    uint64_t bi; /* next base directory entry */
    uint8_t *dir;
    size_t n, cap;
} delta_walk_t;

static void base_item(const delta_walk_t *d, uint64_t i, gen_item_t *it)
{
    gen_item_decode(d->base->base_dir + i * GEN_DIR_ENTRY_SIZE, it);
}

/* Writes one entry: added (rb or slot) then removed (rb or raw frozen bytes). */
static int emit(delta_walk_t *d, const gen_item_t *id, const bitmap_t *add_slot,
                const roaring_bitmap_t *add, const roaring_bitmap_t *rem, const uint8_t *rem_raw,
                uint32_t rem_raw_len)
{
    gen_item_t it = *id;
    int rc;

    it.len_a = it.len_r = 0;
    if ((rc = gen_writer_begin_item(d->w)) != 0)
        return rc;
    it.off = d->w->pos - d->arena_start;
    if ((add_slot != NULL || add != NULL) &&
        (rc = gen_put_bitmap(d->w, add_slot, add, &it.len_a)) != 0)
        return rc;
    if ((rc = gen_writer_begin_item(d->w)) != 0)
        return rc;
    if (rem_raw != NULL) {
        it.len_r = rem_raw_len;
        rc = gen_writer_put(d->w, rem_raw, rem_raw_len);
    } else if (rem != NULL) {
        rc = gen_put_bitmap(d->w, NULL, rem, &it.len_r);
    }
    if (rc != 0)
        return rc;
    return gen_dir_push(&d->dir, &d->n, &d->cap, &it);
}

/* A base item the index no longer has: removed entirely. */
static int emit_removed(delta_walk_t *d, const gen_item_t *b)
{
    return emit(d, b, NULL, NULL, NULL, d->base->base_bitmaps + b->off, b->len_a);
}

static int diff_item(delta_walk_t *d, const gen_item_t *b, const bitmap_t *slot)
{
    const uint8_t *bytes = d->base->base_bitmaps + b->off;
    const roaring_bitmap_t *view = NULL, *cur;
    roaring_bitmap_t *add = NULL, *rem = NULL;
    int rc;

    /* The index may have been loaded from another generation sharing this base file (mapped
     * elsewhere): offsets into the same base file are the same. */
    if (slot->kind == BITMAP_FROZEN && (const uint8_t *)slot->frozen == d->loaded + b->off &&
        slot->frozen_len == b->len_a)
        return 0; /* untouched since the base was loaded */
    if ((rc = bitmap_view((const char *)bytes, b->len_a, &view)) != 0)
        return rc;
    cur = bitmap_get(slot);
    rc = -ENOMEM;
    if (cur == NULL) {
        if ((rem = roaring_bitmap_copy(view)) == NULL)
            goto out;
    } else if ((add = roaring_bitmap_andnot(cur, view)) == NULL ||
               (rem = roaring_bitmap_andnot(view, cur)) == NULL) {
        goto out;
    }
    rc = 0;
    if ((add != NULL && !roaring_bitmap_is_empty(add)) || !roaring_bitmap_is_empty(rem)) {
        roaring_bitmap_run_optimize(rem);
        if (add != NULL)
            roaring_bitmap_run_optimize(add);
        rc = emit(d, b, NULL, add != NULL && !roaring_bitmap_is_empty(add) ? add : NULL,
                  roaring_bitmap_is_empty(rem) ? NULL : rem, NULL, 0);
    }
out:
    bitmap_free_roaring(add);
    bitmap_free_roaring(rem);
    bitmap_view_free(view);
    return rc;
}

static int delta_item(unsigned kind, unsigned field, int64_t key, const bitmap_t *slot, void *arg)
{
    delta_walk_t *d = arg;
    gen_item_t b, cur = {(uint16_t)kind, (uint16_t)field, key, 0, 0, 0};
    int rc, c = 1;

    while (d->bi < d->base->base_items) {
        base_item(d, d->bi, &b);
        c = gen_item_cmp(b.kind, b.field, b.key, kind, field, key);
        if (c >= 0)
            break;
        if ((rc = emit_removed(d, &b)) != 0)
            return rc;
        d->bi++;
    }
    if (d->bi < d->base->base_items && c == 0) {
        d->bi++;
        return diff_item(d, &b, slot);
    }
    /* not in the base: added entirely when not empty */
    if (slot->kind == BITMAP_EMPTY ||
        (slot->kind != BITMAP_FROZEN && roaring_bitmap_is_empty(bitmap_get(slot))))
        return 0;
    return emit(d, &cur, slot, NULL, NULL, NULL, 0);
}

/* The touched slots' values of a slotstore (docvalues records, stored blobs), raw: u32 length
 * (0 = none any more) + bytes, in slot order. (A slotstore image would cost a slot table page
 * per 4096 slots touched.) */
static int put_raw_slots(gen_writer_t *w, uint32_t type, const slotstore_t *ss,
                         const roaring_bitmap_t *touched)
{
    roaring_uint32_iterator_t *it = roaring_create_iterator(touched);
    uint8_t b4[4];
    int rc;

    if (it == NULL)
        return -ENOMEM;
    if ((rc = gen_writer_begin(w, type, 0)) != 0)
        goto out;
    for (; it->has_value; roaring_advance_uint32_iterator(it)) {
        size_t n;
        const uint8_t *v = slotstore_get(ss, it->current_value, &n);
        gen_put32(b4, (uint32_t)n);
        if ((rc = gen_writer_put(w, b4, 4)) != 0 || (rc = gen_writer_put(w, v, n)) != 0)
            goto out;
    }
    rc = gen_writer_end(w);
out:
    roaring_free_uint32_iterator(it);
    return rc;
}

int gen_write_delta(const index_t *ix, const generation_t *base, const char *path, uint64_t number,
                    gen_file_out_t *out, bdx_error_t *err)
{
    const schema_t *s = ix->schema;
    const roaring_bitmap_t *touched = bitmap_get(&ix->touched);
    uint64_t ntouched = roaring_bitmap_get_cardinality(touched);
    gen_writer_t w;
    delta_walk_t d = {&w, base, ix->base_bitmaps, 0, 0, NULL, 0, 0};
    roaring_uint32_iterator_t *it = NULL;
    uint32_t nsec = 5 + (uint32_t)s->sort_count, len;
    uint8_t b8[8];
    int rc;

    for (size_t f = 0; f < s->sort_count; f++)
        nsec += ix->sorts[f].perm_rebuilt;
    for (size_t f = 0; f < s->filter_count; f++)
        nsec += ix->filters[f].dict != NULL;
    if ((rc = gen_writer_open(&w, path, GEN_KIND_DELTA, number, base->base_id, nsec, err)) != 0)
        return rc;
    if ((rc = gen_writer_begin(&w, GEN_SEC_BITMAPS, 0)) != 0)
        goto fail;
    d.arena_start = w.pos;
    if ((rc = gen_walk_items(ix, delta_item, &d)) != 0)
        goto fail;
    for (; d.bi < base->base_items; d.bi++) {
        gen_item_t b;
        base_item(&d, d.bi, &b);
        if ((rc = emit_removed(&d, &b)) != 0)
            goto fail;
    }
    if ((rc = gen_writer_end(&w)) != 0 || (rc = gen_writer_begin(&w, GEN_SEC_BITMAP_DIR, 0)) != 0 ||
        (rc = gen_writer_put(&w, d.dir, d.n * GEN_DIR_ENTRY_SIZE)) != 0 ||
        (rc = gen_writer_end(&w)) != 0)
        goto fail;
    out->items = d.n;
    out->slots = ntouched;
    if ((rc = gen_writer_begin(&w, GEN_SEC_TOUCHED, 0)) != 0 ||
        (rc = gen_put_bitmap(&w, NULL, touched, &len)) != 0 || (rc = gen_writer_end(&w)) != 0)
        goto fail;
    rc = -ENOMEM;
    if ((it = roaring_create_iterator(touched)) == NULL)
        goto fail;
    for (size_t f = 0; f < s->sort_count; f++) {
        const column_t *col = ix->sorts[f].col;
        if ((rc = gen_writer_begin(&w, GEN_SEC_SORT_VALUES, (uint32_t)f)) != 0)
            goto fail;
        gen_put64(b8, column_length(col));
        if ((rc = gen_writer_put(&w, b8, 8)) != 0)
            goto fail;
        roaring_free_uint32_iterator(it);
        if ((it = roaring_create_iterator(touched)) == NULL) {
            rc = -ENOMEM;
            goto fail;
        }
        for (; it->has_value; roaring_advance_uint32_iterator(it)) {
            gen_put64(b8, column_get(col, it->current_value));
            if ((rc = gen_writer_put(&w, b8, 8)) != 0)
                goto fail;
        }
        if ((rc = gen_writer_end(&w)) != 0)
            goto fail;
    }
    for (size_t f = 0; f < s->sort_count; f++) {
        if (!ix->sorts[f].perm_rebuilt)
            continue;
        if ((rc = gen_writer_begin(&w, GEN_SEC_PERM, (uint32_t)f)) != 0 ||
            (rc = gen_put_perm(&w, ix->sorts[f].perm)) != 0 || (rc = gen_writer_end(&w)) != 0)
            goto fail;
    }
    for (size_t f = 0; f < s->filter_count; f++) {
        if (ix->filters[f].dict == NULL)
            continue;
        if ((rc = gen_writer_begin(&w, GEN_SEC_DICT, (uint32_t)f)) != 0 ||
            (rc = gen_put_dict(&w, ix->filters[f].dict, ix->dict_base[f])) != 0 ||
            (rc = gen_writer_end(&w)) != 0)
            goto fail;
    }
    if ((rc = put_raw_slots(&w, GEN_SEC_DOCVALUES, docvalues_slots(ix->dv), touched)) != 0 ||
        (rc = put_raw_slots(&w, GEN_SEC_DOCSTORE, docstore_slots(ix->docs), touched)) != 0)
        goto fail;
    roaring_free_uint32_iterator(it);
    free(d.dir);
    return gen_writer_finish(&w, &out->header_hash, &out->size, err);
fail:
    if (it != NULL)
        roaring_free_uint32_iterator(it);
    free(d.dir);
    gen_writer_abort(&w);
    return bdx_error_set(err, rc, "generation %s: write: %s", path, bdx_strerror(rc));
}

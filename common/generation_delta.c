/*
 * generation_delta: writes the delta file of a generation: every change of an index since the
 * base it was loaded from (cumulative), so that base + delta loads to exactly that index.
 *
 * The cost follows the change, not the index. Every write path adds its slot to the index's
 * `touched` set, and a bitmap can differ from its base image only at touched slots (the one
 * exception, the sort fields' dirty bitmaps, which index_rebuild_perms() clears, is diffed in
 * full). So:
 *   - fixed items (alive, null, exists, BSI existence and slices, dirty: a few per field) whose
 *     slot is still frozen over its own bytes in the base mapping are unchanged and cost
 *     nothing; the others are diffed at the touched slots only: added = (current AND touched)
 *     ANDNOT base, removed = (base AND touched) ANDNOT current;
 *   - filter values: only keys that some touched slot gained or lost can have changed. They are
 *     found by comparing each touched slot's docvalues record in the base image (read in place,
 *     slotstore_image_get()) with its current record, then looked up by binary search in the
 *     base directory and diffed as above. The other keys (millions for an id field) are never
 *     visited;
 *   - per-slot data (column values, docvalues records, stored blobs) is written for the touched
 *     slots, permutations rebuilt since the base in full, dictionary strings added since it.
 * Because `touched` is cumulative (a loaded delta's touched set is the index's), so is all of
 * this: load -> write -> load chains need no other state.
 *
 * The writer also estimates what a loader must materialize privately to apply the delta
 * (gen_file_out_t.materialized): the changed bitmaps' new images, the column pages holding
 * touched slots (copied on write), and the docvalues / docstore entries of touched slots.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "common/generation_write_internal.h"

/* Private bytes a slotstore spends per written slot of an image page (a sorted overlay entry,
 * with growth slack) and at most per page (an owned copy of the page's slot table). Estimates
 * for gen_file_out_t.materialized only. */
#define OVERLAY_ENTRY_BYTES 16u
#define SLOT_TABLE_PAGE_BYTES (SLOTSTORE_PAGE_SLOTS * 8u)
/* Heap bytes per container of an owned CRoaring bitmap beyond its payload (bitmap_memory()). */
#define LOADER_CONTAINER_BYTES 72u

/* A value key a touched slot gained or lost since the base. */
typedef struct key_slot {
    int64_t key;
    uint32_t slot;
} key_slot_t;

typedef struct keybuf {
    key_slot_t *k;
    size_t n, cap;
} keybuf_t;

typedef struct delta_walk {
    gen_writer_t *w;
    const index_t *ix;
    const generation_t *base;
    const uint8_t *loaded; /* the index's own mapping of the same base bitmaps section */
    const roaring_bitmap_t *touched;
    uint64_t arena_start;
    uint8_t *dir;
    size_t n, cap;
    keybuf_t *keys;        /* per filter field: (key, slot) gained or lost, sorted */
    uint64_t field_lo;     /* base directory: first entry not below the current field's keys */
    uint64_t materialized; /* bytes a loader materializes for the bitmaps written so far */
} delta_walk_t;

/* ---- base directory ---- */

/* First base directory entry at or above (kind, field, key), searching [lo, base_items). */
static uint64_t base_lower(const delta_walk_t *d, uint64_t lo, unsigned kind, unsigned field,
                           int64_t key)
{
    uint64_t hi = d->base->base_items;
    gen_item_t b;

    while (lo < hi) {
        uint64_t mid = lo + (hi - lo) / 2;
        gen_item_decode(d->base->base_dir + mid * GEN_DIR_ENTRY_SIZE, &b);
        if (gen_item_cmp(b.kind, b.field, b.key, kind, field, key) < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

/* The base entry of (kind, field, key) at or after entry `from`; *at = where it is or would be. */
static bool base_find(const delta_walk_t *d, uint64_t from, unsigned kind, unsigned field,
                      int64_t key, gen_item_t *b, uint64_t *at)
{
    uint64_t i = base_lower(d, from, kind, field, key);

    *at = i;
    if (i >= d->base->base_items)
        return false;
    gen_item_decode(d->base->base_dir + i * GEN_DIR_ENTRY_SIZE, b);
    return gen_item_cmp(b->kind, b->field, b->key, kind, field, key) == 0;
}

/* ---- bitmap entries ---- */

/* Writes one entry: added (rb or slot) then removed (rb or raw frozen bytes). */
static int emit(delta_walk_t *d, const gen_item_t *id, const bitmap_t *add_slot,
                const roaring_bitmap_t *add, const roaring_bitmap_t *rem, const uint8_t *rem_raw,
                uint32_t rem_raw_len)
{
    gen_item_t it = *id;
    int rc = 0;

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

/* A base item the index no longer has (or holds empty): removed entirely. */
static int emit_removed(delta_walk_t *d, const gen_item_t *b)
{
    return emit(d, b, NULL, NULL, NULL, d->base->base_bitmaps + b->off, b->len_a);
}

/* Bytes the loader's owned copy of the slot's bitmap takes: its container payloads (about
 * its frozen size) plus CRoaring's per-container bookkeeping, calibrated as bitmap_memory()
 * (which is exact but costs a pass over the containers' statistics). */
static uint64_t loader_bytes(const bitmap_t *slot)
{
    const roaring_bitmap_t *rb;

    if (slot->kind == BITMAP_FROZEN)
        return gen_align(slot->frozen_len) + LOADER_CONTAINER_BYTES;
    rb = bitmap_get(slot);
    return bitmap_freeze_size(rb) +
           (uint64_t)(rb->high_low_container.size + 1) * LOADER_CONTAINER_BYTES;
}

static bool slot_empty(const bitmap_t *slot)
{
    const roaring_bitmap_t *rb;

    if (slot == NULL || slot->kind == BITMAP_EMPTY)
        return true;
    if (slot->kind == BITMAP_FROZEN)
        return false; /* frozen images are never empty */
    rb = bitmap_get(slot);
    return rb == NULL || roaring_bitmap_is_empty(rb);
}

/*
 * An item the base has (b) against its slot now (NULL: the index has no such value any more),
 * diffed at the slots of `within` only, which must hold every slot where they can differ; NULL:
 * everywhere (dirty bitmaps, which index_rebuild_perms() clears anywhere).
 */
static int diff_item(delta_walk_t *d, const gen_item_t *b, const bitmap_t *slot,
                     const roaring_bitmap_t *within)
{
    const roaring_bitmap_t *view = NULL, *cur;
    roaring_bitmap_t *add = NULL, *rem = NULL;
    bool has_add, has_rem;
    int rc;

    /* The index may have been loaded from another generation sharing this base file (mapped
     * elsewhere): offsets into the same base file are the same. */
    if (slot != NULL && slot->kind == BITMAP_FROZEN &&
        (const uint8_t *)slot->frozen == d->loaded + b->off && slot->frozen_len == b->len_a)
        return 0; /* untouched since the base was loaded */
    if ((rc = bitmap_view((const char *)d->base->base_bitmaps + b->off, b->len_a, &view)) != 0)
        return rc;
    if (slot_empty(slot)) {
        /* fixed items may be empty in the base too (a BSI slice no value sets) */
        rc = roaring_bitmap_is_empty(view) ? 0 : emit_removed(d, b);
        bitmap_view_free(view);
        return rc;
    }
    cur = bitmap_get(slot);
    rc = -ENOMEM;
    if (within == NULL) {
        if ((add = roaring_bitmap_andnot(cur, view)) == NULL ||
            (rem = roaring_bitmap_andnot(view, cur)) == NULL)
            goto out;
    } else {
        if ((add = roaring_bitmap_and(cur, within)) == NULL ||
            (rem = roaring_bitmap_and(view, within)) == NULL)
            goto out;
        roaring_bitmap_andnot_inplace(add, view);
        roaring_bitmap_andnot_inplace(rem, cur);
    }
    rc = 0;
    has_add = !roaring_bitmap_is_empty(add);
    has_rem = !roaring_bitmap_is_empty(rem);
    if (has_add || has_rem) {
        if (has_add)
            roaring_bitmap_run_optimize(add);
        if (has_rem)
            roaring_bitmap_run_optimize(rem);
        d->materialized += loader_bytes(slot);
        rc = emit(d, b, NULL, has_add ? add : NULL, has_rem ? rem : NULL, NULL, 0);
    }
out:
    bitmap_free_roaring(add);
    bitmap_free_roaring(rem);
    bitmap_view_free(view);
    return rc;
}

/* An item now in the index (slot may be NULL: none) with base entry b when `in_base`. */
static int delta_one(delta_walk_t *d, const gen_item_t *id, bool in_base, const gen_item_t *b,
                     const bitmap_t *slot, const roaring_bitmap_t *within)
{
    if (in_base)
        return diff_item(d, b, slot, within);
    if (slot_empty(slot))
        return 0;
    /* not in the base: added entirely */
    d->materialized += loader_bytes(slot);
    return emit(d, id, slot, NULL, NULL, NULL, 0);
}

/* gen_walk_fields() visitor for the fixed items (a few per field). */
static int fixed_item(unsigned kind, unsigned field, int64_t key, const bitmap_t *slot, void *arg)
{
    delta_walk_t *d = arg;
    gen_item_t b, id = {(uint16_t)kind, (uint16_t)field, key, 0, 0, 0};
    uint64_t at;
    bool found = base_find(d, 0, kind, field, key, &b, &at);

    return delta_one(d, &id, found, &b, slot, kind == GEN_ITEM_DIRTY ? NULL : d->touched);
}

/*
 * A filter value that the touched slots slots[0..n) (ascending) gained or lost. Outside those
 * slots the bitmap equals the base's, so added = the ones it holds now, removed = the others
 * makes the loader's result (base OR added ANDNOT removed) equal to it, without reading the
 * base bitmap. `part` is scratch for n slots.
 */
static int value_item(delta_walk_t *d, const gen_item_t *id, bool in_base, const gen_item_t *b,
                      const bitmap_t *slot, const uint32_t *slots, size_t n, uint32_t *part)
{
    const roaring_bitmap_t *cur;
    roaring_bitmap_t *add = NULL, *rem = NULL;
    size_t na = 0, nr = n;
    int rc = -ENOMEM;

    if (!in_base)
        return delta_one(d, id, false, b, slot, NULL);
    if (slot != NULL && slot->kind == BITMAP_FROZEN &&
        (const uint8_t *)slot->frozen == d->loaded + b->off && slot->frozen_len == b->len_a)
        return 0; /* untouched since the base was loaded */
    if (slot_empty(slot))
        return emit_removed(d, b);
    cur = bitmap_get(slot);
    for (size_t i = 0; i < n; i++) /* held now to the front, the others to the back, in order */
        if (roaring_bitmap_contains(cur, slots[i]))
            part[na++] = slots[i];
    for (size_t i = n; i-- > 0;)
        if (!roaring_bitmap_contains(cur, slots[i]))
            part[--nr] = slots[i];
    if ((na > 0 && (add = roaring_bitmap_of_ptr(na, part)) == NULL) ||
        (nr < n && (rem = roaring_bitmap_of_ptr(n - nr, part + nr)) == NULL))
        goto out;
    d->materialized += loader_bytes(slot);
    rc = emit(d, b, NULL, add, rem, NULL, 0);
out:
    bitmap_free_roaring(add);
    bitmap_free_roaring(rem);
    return rc;
}

/* The candidate keys of one filter field, ascending; each looked up in the base directory from
 * where the previous one was found (the field's entries are sorted by key). */
static int field_values(unsigned field, void *arg)
{
    delta_walk_t *d = arg;
    const keybuf_t *kb = &d->keys[field];
    const valuemap_t *m = d->ix->filters[field].values;
    uint64_t from = base_lower(d, 0, GEN_ITEM_VALUE, field, INT64_MIN), at;
    uint32_t *slots = NULL;
    size_t cap = 0;
    int rc = 0;

    for (size_t i = 0, j; rc == 0 && i < kb->n; i = j) {
        int64_t key = kb->k[i].key;
        gen_item_t b, id = {GEN_ITEM_VALUE, (uint16_t)field, key, 0, 0, 0};
        bool found = base_find(d, from, GEN_ITEM_VALUE, field, key, &b, &at);
        for (j = i; j < kb->n && kb->k[j].key == key; j++)
            ;
        if (2 * (j - i) > cap) {
            uint32_t *p = realloc(slots, 4 * (j - i) * sizeof(*p));
            if (p == NULL) {
                rc = -ENOMEM;
                break;
            }
            slots = p;
            cap = 4 * (j - i);
        }
        for (size_t k = i; k < j; k++)
            slots[k - i] = kb->k[k].slot;
        from = at;
        rc = value_item(d, &id, found, &b, valuemap_slot(m, key), slots, j - i, slots + (j - i));
    }
    free(slots);
    return rc;
}

/* ---- candidate keys ---- */

static int key_push(keybuf_t *kb, int64_t key, uint32_t slot)
{
    if (kb->n == kb->cap) {
        size_t cap = kb->cap ? kb->cap * 2 : 64;
        key_slot_t *p = realloc(kb->k, cap * sizeof(*p));
        if (p == NULL)
            return -ENOMEM;
        kb->k = p;
        kb->cap = cap;
    }
    kb->k[kb->n].key = key;
    kb->k[kb->n++].slot = slot;
    return 0;
}

static int key_cmp(const void *a, const void *b)
{
    const key_slot_t *x = a, *y = b;

    if (x->key != y->key)
        return x->key < y->key ? -1 : 1;
    return (x->slot > y->slot) - (x->slot < y->slot);
}

/* Keys in exactly one of the two sorted sets go to kb with `slot`. */
static int push_sym_diff(keybuf_t *kb, uint32_t slot, const int64_t *a, size_t na, const int64_t *b,
                         size_t nb)
{
    size_t i = 0, j = 0;
    int rc = 0;

    while (rc == 0 && (i < na || j < nb)) {
        if (j >= nb || (i < na && a[i] < b[j]))
            rc = key_push(kb, a[i++], slot);
        else if (i >= na || b[j] < a[i])
            rc = key_push(kb, b[j++], slot);
        else
            i++, j++;
    }
    return rc;
}

/*
 * For each filter field, the (key, slot) pairs where a touched slot holds the key in the base
 * but not now, or now but not in the base, sorted. A value bitmap holds a slot exactly when
 * the slot's record holds the key, in the base as now, so these are the only value bitmaps,
 * and the only slots of them, that can differ.
 */
static int collect_keys(const index_t *ix, const generation_t *base, keybuf_t *keys,
                        bdx_error_t *err)
{
    const gen_file_t *f = &base->files[0];
    const gen_section_t *s = gen_file_find(f, GEN_SEC_DOCVALUES, 0);
    const roaring_bitmap_t *touched = bitmap_get(&ix->touched);
    size_t nfields = ix->schema->filter_count;
    docvalues_rec_t was = {0}, now = {0};
    roaring_uint32_iterator_t *it = NULL;
    int rc;

    if (s == NULL)
        return bdx_error_set(err, BDX_ECORRUPT, "generation %s: no docvalues section", f->path);
    if ((rc = docvalues_rec_init(&was, nfields)) != 0 ||
        (rc = docvalues_rec_init(&now, nfields)) != 0 ||
        (it = roaring_create_iterator(touched)) == NULL) {
        rc = -ENOMEM;
        goto out;
    }
    for (; it->has_value; roaring_advance_uint32_iterator(it)) {
        uint32_t slot = it->current_value;
        const uint8_t *raw, *cur;
        size_t len, cur_len;
        if ((rc = slotstore_image_get(f->map + s->off, s->len, slot, &raw, &len)) == 0) {
            cur = slotstore_get(docvalues_slots(ix->dv), slot, &cur_len);
            if (cur_len == len && (len == 0 || memcmp(cur, raw, len) == 0))
                continue; /* the same bytes: the same record, no key gained or lost */
            rc = docvalues_decode(raw, len, &was);
        }
        if (rc != 0) {
            if (rc != -ENOMEM)
                rc = bdx_error_set(err, BDX_ECORRUPT,
                                   "generation %s: docvalues record of slot %u unreadable; run "
                                   "bitdex-check",
                                   f->path, slot);
            goto out;
        }
        if ((rc = docvalues_load(ix->dv, slot, &now)) != 0) {
            if (rc != -ENOMEM)
                rc = bdx_error_set(err, rc, "index: docvalues record of slot %u: %s", slot,
                                   bdx_strerror(rc));
            goto out;
        }
        for (size_t fi = 0; fi < nfields; fi++) {
            size_t na, nb;
            const int64_t *a = docvalues_rec_keys(&was, fi, &na);
            const int64_t *b = docvalues_rec_keys(&now, fi, &nb);
            if ((na != 0 || nb != 0) && (rc = push_sym_diff(&keys[fi], slot, a, na, b, nb)) != 0)
                goto out;
        }
    }
    for (size_t fi = 0; fi < nfields; fi++)
        if (keys[fi].n > 1)
            qsort(keys[fi].k, keys[fi].n, sizeof(*keys[fi].k), key_cmp);
out:
    if (it != NULL)
        roaring_free_uint32_iterator(it);
    docvalues_rec_free(&was);
    docvalues_rec_free(&now);
    if (rc == -ENOMEM)
        bdx_error_set(err, rc, "generation %s: out of memory", f->path);
    return rc;
}

/* ---- per-slot data ---- */

/* The touched slots' values of a slotstore (docvalues records, stored blobs), raw: u32 length
 * (0 = none any more) + bytes, in slot order. (A slotstore image would cost a slot table page
 * per 4096 slots touched.) *materialized += what the loader's store keeps privately for them. */
static int put_raw_slots(gen_writer_t *w, uint32_t type, const slotstore_t *ss,
                         const roaring_bitmap_t *touched, uint64_t *materialized)
{
    roaring_uint32_iterator_t *it = roaring_create_iterator(touched);
    uint64_t page = UINT64_MAX, in_page = 0;
    uint8_t b4[4];
    int rc;

    if (it == NULL)
        return -ENOMEM;
    if ((rc = gen_writer_begin(w, type, 0)) != 0)
        goto out;
    for (; it->has_value; roaring_advance_uint32_iterator(it)) {
        size_t n;
        const uint8_t *v = slotstore_get(ss, it->current_value, &n);
        if (it->current_value / SLOTSTORE_PAGE_SLOTS != page) {
            *materialized += in_page < SLOT_TABLE_PAGE_BYTES ? in_page : SLOT_TABLE_PAGE_BYTES;
            page = it->current_value / SLOTSTORE_PAGE_SLOTS;
            in_page = 0;
        }
        in_page += OVERLAY_ENTRY_BYTES;
        *materialized += n;
        gen_put32(b4, (uint32_t)n);
        if ((rc = gen_writer_put(w, b4, 4)) != 0 || (rc = gen_writer_put(w, v, n)) != 0)
            goto out;
    }
    *materialized += in_page < SLOT_TABLE_PAGE_BYTES ? in_page : SLOT_TABLE_PAGE_BYTES;
    rc = gen_writer_end(w);
out:
    roaring_free_uint32_iterator(it);
    return rc;
}

/* Column pages holding touched slots: the loader writes each (copy on write). */
static uint64_t column_pages_bytes(const column_t *col, const roaring_bitmap_t *touched)
{
    unsigned bits = column_bits(col);
    uint64_t width = bits <= 8 ? 1 : bits <= 16 ? 2 : bits <= 32 ? 4 : 8, pages = 0;
    roaring_uint32_iterator_t *it = roaring_create_iterator(touched);

    if (it == NULL)
        return 0;
    while (it->has_value) {
        uint64_t next = ((uint64_t)(it->current_value >> COLUMN_PAGE_SHIFT) + 1)
                        << COLUMN_PAGE_SHIFT;
        pages++;
        if (next > UINT32_MAX || !roaring_move_uint32_iterator_equalorlarger(it, (uint32_t)next))
            break;
    }
    roaring_free_uint32_iterator(it);
    return pages * COLUMN_PAGE_SLOTS * width;
}

int gen_write_delta(const index_t *ix, const generation_t *base, const char *path, uint64_t number,
                    gen_file_out_t *out, bdx_error_t *err)
{
    const schema_t *s = ix->schema;
    const roaring_bitmap_t *touched = bitmap_get(&ix->touched);
    uint64_t ntouched = roaring_bitmap_get_cardinality(touched), slot_bytes = 0;
    gen_writer_t w;
    delta_walk_t d = {&w, ix, base, ix->base_bitmaps, touched, 0, NULL, 0, 0, NULL, 0, 0};
    roaring_uint32_iterator_t *it = NULL;
    uint32_t nsec = 5 + (uint32_t)s->sort_count, len;
    uint8_t b8[8];
    int rc;

    for (size_t f = 0; f < s->sort_count; f++)
        nsec += ix->sorts[f].perm_rebuilt;
    for (size_t f = 0; f < s->filter_count; f++)
        nsec += ix->filters[f].dict != NULL;
    if ((d.keys = calloc(s->filter_count + 1, sizeof(*d.keys))) == NULL)
        return bdx_error_set(err, -ENOMEM, "generation %s: out of memory", path);
    if ((rc = collect_keys(ix, base, d.keys, err)) != 0) {
        for (size_t f = 0; f < s->filter_count; f++)
            free(d.keys[f].k);
        free(d.keys);
        return rc;
    }
    if ((rc = gen_writer_open(&w, path, GEN_KIND_DELTA, number, base->base_id, nsec, err)) != 0)
        goto free_keys;
    if ((rc = gen_writer_begin(&w, GEN_SEC_BITMAPS, 0)) != 0)
        goto fail;
    d.arena_start = w.pos;
    if ((rc = gen_walk_fields(ix, fixed_item, field_values, &d)) != 0)
        goto fail;
    if ((rc = gen_writer_end(&w)) != 0 || (rc = gen_writer_begin(&w, GEN_SEC_BITMAP_DIR, 0)) != 0 ||
        (rc = gen_writer_put(&w, d.dir, d.n * GEN_DIR_ENTRY_SIZE)) != 0 ||
        (rc = gen_writer_end(&w)) != 0)
        goto fail;
    out->items = d.n;
    out->slots = ntouched;
    if ((rc = gen_writer_begin(&w, GEN_SEC_TOUCHED, 0)) != 0 ||
        (rc = gen_put_bitmap(&w, NULL, touched, &len)) != 0 || (rc = gen_writer_end(&w)) != 0)
        goto fail;
    for (size_t f = 0; f < s->sort_count; f++) {
        const column_t *col = ix->sorts[f].col;
        if ((rc = gen_writer_begin(&w, GEN_SEC_SORT_VALUES, (uint32_t)f)) != 0)
            goto fail;
        gen_put64(b8, column_length(col));
        if ((rc = gen_writer_put(&w, b8, 8)) != 0)
            goto fail;
        if ((it = roaring_create_iterator(touched)) == NULL) {
            rc = -ENOMEM;
            goto fail;
        }
        for (; it->has_value; roaring_advance_uint32_iterator(it)) {
            gen_put64(b8, column_get(col, it->current_value));
            if ((rc = gen_writer_put(&w, b8, 8)) != 0)
                goto fail;
        }
        roaring_free_uint32_iterator(it);
        it = NULL;
        if ((rc = gen_writer_end(&w)) != 0)
            goto fail;
        slot_bytes += column_pages_bytes(col, touched);
    }
    for (size_t f = 0; f < s->sort_count; f++) {
        if (!ix->sorts[f].perm_rebuilt)
            continue;
        if ((rc = gen_writer_begin(&w, GEN_SEC_PERM, (uint32_t)f)) != 0 ||
            (rc = gen_put_perm(&w, ix->sorts[f].perm)) != 0 || (rc = gen_writer_end(&w)) != 0)
            goto fail;
    }
    for (size_t f = 0; f < s->filter_count; f++) {
        uint64_t start = w.pos;
        if (ix->filters[f].dict == NULL)
            continue;
        if ((rc = gen_writer_begin(&w, GEN_SEC_DICT, (uint32_t)f)) != 0 ||
            (rc = gen_put_dict(&w, ix->filters[f].dict, ix->dict_base[f])) != 0 ||
            (rc = gen_writer_end(&w)) != 0)
            goto fail;
        slot_bytes += w.pos - start; /* the strings are interned at load */
    }
    if ((rc = put_raw_slots(&w, GEN_SEC_DOCVALUES, docvalues_slots(ix->dv), touched,
                            &slot_bytes)) != 0 ||
        (rc = put_raw_slots(&w, GEN_SEC_DOCSTORE, docstore_slots(ix->docs), touched,
                            &slot_bytes)) != 0)
        goto fail;
    out->materialized = d.materialized + slot_bytes;
    free(d.dir);
    for (size_t f = 0; f < s->filter_count; f++)
        free(d.keys[f].k);
    free(d.keys);
    return gen_writer_finish(&w, &out->header_hash, &out->size, err);
fail:
    if (it != NULL)
        roaring_free_uint32_iterator(it);
    gen_writer_abort(&w);
    bdx_error_set(err, rc, "generation %s: write: %s", path, bdx_strerror(rc));
free_keys:
    free(d.dir);
    for (size_t f = 0; f < s->filter_count; f++)
        free(d.keys[f].k);
    free(d.keys);
    return rc;
}

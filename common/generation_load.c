/*
 * generation_load: builds an index over an open generation. Base bitmaps become frozen slots
 * over the mapping (each filter field's value map built in bulk from its sorted run of the
 * directory; for a verified generation CRoaring's per-bitmap validation waits for the first
 * read, see bitmap_set_frozen_trusted()), columns, permutations, dictionaries and docvalues are opened from their
 * images in the mapping (all zero copy; writes copy on write). Then
 * the delta, if any, is applied: changed bitmaps are materialized as owned bitmaps, per-slot
 * data of the touched slots replaces the base's, and index_touched() becomes the delta's
 * touched slots, so the next delta written from this index is again cumulative.
 *
 * Every offset and length read from the files is checked against its section before use; the
 * contents of bitmaps are trusted only as far as the checksums vouch for them (open with
 * GENERATION_VERIFY).
 */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "common/generation_internal.h"

#define BAD(...) bdx_error_set(err, BDX_ECORRUPT, __VA_ARGS__)

/* Checks that entry i of a directory is in range of its arena and after entry i - 1. */
static int check_item(const gen_file_t *f, const uint8_t *dir, uint64_t i, uint64_t arena_len,
                      bool delta, gen_item_t *it, bdx_error_t *err)
{
    gen_item_t prev;
    uint64_t end;

    gen_item_decode(dir + i * GEN_DIR_ENTRY_SIZE, it);
    end = it->off + (it->len_r != 0 ? gen_align(it->len_a) + it->len_r : it->len_a);
    if (it->off % GEN_ALIGN != 0 || it->off > arena_len || end > arena_len || end < it->off ||
        (!delta && (it->len_r != 0 || it->len_a == 0)))
        return BAD("generation %s: bitmap directory entry %llu out of range", f->path,
                   (unsigned long long)i);
    if (i > 0) {
        gen_item_decode(dir + (i - 1) * GEN_DIR_ENTRY_SIZE, &prev);
        if (gen_item_cmp(prev.kind, prev.field, prev.key, it->kind, it->field, it->key) >= 0)
            return BAD("generation %s: bitmap directory entry %llu out of order", f->path,
                       (unsigned long long)i);
    }
    return 0;
}

/* One past the last directory entry (from `first` on) with the same (kind, field) as entry
 * `first`: binary search (the directory is sorted; check_item() verifies each entry's order as
 * it is loaded, so a bad order is still caught). */
static uint64_t run_end(const uint8_t *dir, uint64_t first, uint64_t count)
{
    gen_item_t a, b;
    uint64_t lo = first + 1, hi = count;

    gen_item_decode(dir + first * GEN_DIR_ENTRY_SIZE, &a);
    while (lo < hi) {
        uint64_t mid = lo + (hi - lo) / 2;
        gen_item_decode(dir + mid * GEN_DIR_ENTRY_SIZE, &b);
        if (b.kind == a.kind && b.field == a.field)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

/* The value bitmaps of one filter field: directory entries [*i, run_end()), keys ascending,
 * built in bulk (valuemap_load_*). Advances *i past them. */
static int load_values(const generation_t *g, index_t *ix, uint64_t *i, bdx_error_t *err)
{
    const gen_file_t *f = &g->files[0];
    uint64_t end = run_end(g->base_dir, *i, g->base_items);
    valuemap_t *m;
    gen_item_t it;
    int rc;

    gen_item_decode(g->base_dir + *i * GEN_DIR_ENTRY_SIZE, &it);
    if (it.field >= ix->schema->filter_count)
        return BAD("generation %s: bitmap entry %llu: no filter field %u", f->path,
                   (unsigned long long)*i, it.field);
    m = ix->filters[it.field].values;
    if ((rc = valuemap_load_begin(m, end - *i)) == BDX_EINVAL)
        return BAD("generation %s: bitmap entry %llu: values of field %u twice", f->path,
                   (unsigned long long)*i, it.field);
    for (; rc == 0 && *i < end; ++*i) {
        if ((rc = check_item(f, g->base_dir, *i, g->base_bitmaps_len, false, &it, err)) != 0)
            return rc;
        rc = valuemap_load_frozen(m, it.key, (const char *)g->base_bitmaps + it.off, it.len_a,
                                  g->verified);
        if (rc == BDX_ECORRUPT || rc == BDX_EINVAL)
            return BAD("generation %s: bitmap entry %llu: not a frozen bitmap", f->path,
                       (unsigned long long)*i);
    }
    if (rc == 0)
        rc = valuemap_load_end(m);
    if (rc != 0)
        return bdx_error_set(err, rc, "generation %s: %s", f->path, bdx_strerror(rc));
    return 0;
}

static int load_base_bitmaps(const generation_t *g, index_t *ix, bdx_error_t *err)
{
    const gen_file_t *f = &g->files[0];
    gen_item_t it;
    int rc;

    for (uint64_t i = 0; i < g->base_items;) {
        const char *bytes;
        bitmap_t *slot;
        if ((rc = check_item(f, g->base_dir, i, g->base_bitmaps_len, false, &it, err)) != 0)
            return rc;
        if (it.kind == GEN_ITEM_VALUE) {
            if ((rc = load_values(g, ix, &i, err)) != 0)
                return rc;
            continue;
        }
        bytes = (const char *)g->base_bitmaps + it.off;
        if ((slot = gen_item_slot(ix, it.kind, it.field, it.key)) == NULL)
            return BAD("generation %s: bitmap entry %llu: no item (%u, %u, %lld)", f->path,
                       (unsigned long long)i, it.kind, it.field, (long long)it.key);
        rc = g->verified ? bitmap_set_frozen_trusted(slot, bytes, it.len_a)
                         : bitmap_set_frozen(slot, bytes, it.len_a);
        if (rc == BDX_ECORRUPT)
            return BAD("generation %s: bitmap entry %llu: not a frozen bitmap", f->path,
                       (unsigned long long)i);
        if (rc != 0)
            return bdx_error_set(err, rc, "generation %s: %s", f->path, bdx_strerror(rc));
        i++;
    }
    return 0;
}

/* Opens the slotstore image of section s zero-copy as a docvalues store. */
static int open_records(const gen_file_t *f, const gen_section_t *s, docvalues_t **out,
                        bdx_error_t *err)
{
    slotstore_t *ss;
    int rc;

    if ((rc = slotstore_image_open(f->map + s->off, s->len, &ss, err)) != 0)
        return bdx_error_set(err, rc, "generation %s section docvalues: %s", f->path,
                             bdx_error_message(err));
    if ((rc = docvalues_from_slots(ss, out)) != 0) {
        slotstore_free(ss);
        return bdx_error_set(err, rc, "generation %s: %s", f->path, bdx_strerror(rc));
    }
    return 0;
}

static int open_docstore(const gen_file_t *f, index_t *ix, bdx_error_t *err)
{
    const gen_section_t *s = gen_file_find(f, GEN_SEC_DOCSTORE, 0);
    slotstore_t *ss;
    docstore_t *ds;
    int rc;

    if (s == NULL)
        return BAD("generation %s: no docstore section", f->path);
    if ((rc = slotstore_image_open(f->map + s->off, s->len, &ss, err)) != 0)
        return bdx_error_set(err, rc, "generation %s section docstore: %s", f->path,
                             bdx_error_message(err));
    if ((rc = docstore_from_slots(ss, &ds)) != 0) {
        slotstore_free(ss);
        return bdx_error_set(err, rc, "generation %s: %s", f->path, bdx_strerror(rc));
    }
    docstore_free(ix->docs);
    ix->docs = ds;
    return 0;
}

/* Replaces the stored blobs of the touched slots by the delta's (length 0: removed). */
static int apply_blobs(const gen_file_t *f, index_t *ix, const roaring_bitmap_t *touched,
                       bdx_error_t *err)
{
    const gen_section_t *s = gen_file_find(f, GEN_SEC_DOCSTORE, 0);
    const uint8_t *p, *end;
    roaring_uint32_iterator_t *it;
    int rc = 0;

    if (s == NULL)
        return BAD("generation %s: no docstore section", f->path);
    p = f->map + s->off;
    end = p + s->len;
    if ((it = roaring_create_iterator(touched)) == NULL)
        return bdx_error_set(err, -ENOMEM, "generation %s: out of memory", f->path);
    for (; it->has_value; roaring_advance_uint32_iterator(it)) {
        uint32_t n;
        if (end - p < 4 || (n = gen_get32(p)) > (uint64_t)(end - p - 4)) {
            rc = BDX_ECORRUPT;
            break;
        }
        if (n == 0)
            docstore_remove(ix->docs, it->current_value);
        else if ((rc = docstore_put(ix->docs, it->current_value, p + 4, n)) != 0)
            break;
        p += 4 + n;
    }
    roaring_free_uint32_iterator(it);
    if (rc == 0 && p != end)
        rc = BDX_ECORRUPT;
    if (rc == BDX_ECORRUPT)
        return BAD("generation %s: bad docstore section", f->path);
    if (rc != 0)
        return bdx_error_set(err, rc, "generation %s: %s", f->path, bdx_strerror(rc));
    return 0;
}

/* Replaces the records of the touched slots by the delta's (length 0: removed). The raw
 * records go through a scratch slotstore so that docvalues decodes them. */
static int apply_records(const gen_file_t *f, const gen_section_t *s, index_t *ix,
                         const roaring_bitmap_t *touched, bdx_error_t *err)
{
    const uint8_t *p = f->map + s->off, *end = p + s->len;
    slotstore_t *ss = NULL;
    docvalues_t *recs = NULL;
    docvalues_rec_t rec = {0};
    roaring_uint32_iterator_t *it = NULL;
    int rc;

    if ((rc = slotstore_new(&ss)) != 0 || (rc = docvalues_from_slots(ss, &recs)) != 0) {
        slotstore_free(ss);
        return bdx_error_set(err, rc, "generation %s: %s", f->path, bdx_strerror(rc));
    }
    if ((rc = docvalues_rec_init(&rec, ix->schema->filter_count)) == 0 &&
        (it = roaring_create_iterator(touched)) == NULL)
        rc = -ENOMEM;
    for (; rc == 0 && it->has_value; roaring_advance_uint32_iterator(it)) {
        uint32_t n;
        if (end - p < 4 || (n = gen_get32(p)) > (uint64_t)(end - p - 4)) {
            rc = BDX_ECORRUPT;
            break;
        }
        /* through the scratch store: put, decode, store into the index, drop */
        if (n == 0)
            docvalues_rec_clear(&rec);
        else if ((rc = slotstore_put(ss, 0, p + 4, n)) != 0 ||
                 (rc = docvalues_load(recs, 0, &rec)) != 0)
            break;
        p += 4 + n;
        rc = docvalues_store(ix->dv, it->current_value, &rec);
    }
    if (rc == 0 && p != end)
        rc = BDX_ECORRUPT;
    if (it != NULL)
        roaring_free_uint32_iterator(it);
    docvalues_rec_free(&rec);
    docvalues_free(recs);
    if (rc == BDX_ECORRUPT)
        return BAD("generation %s: bad docvalues record", f->path);
    if (rc != 0)
        return bdx_error_set(err, rc, "generation %s: %s", f->path, bdx_strerror(rc));
    return 0;
}

/* Delta: the strings each string field interned since the base. */
static int load_dict_adds(const gen_file_t *f, index_t *ix, bdx_error_t *err)
{
    int rc;

    for (size_t i = 0; i < ix->schema->filter_count; i++) {
        const gen_section_t *s = gen_file_find(f, GEN_SEC_DICT, (uint32_t)i);
        int64_t first;
        if (ix->filters[i].dict == NULL || s == NULL)
            continue;
        if ((rc = gen_load_dict(ix->filters[i].dict, f->map + s->off, s->len, f->path, &first,
                                err)) != 0)
            return rc;
    }
    return 0;
}

/* Opens an image section with `open`, naming the file and section in errors. */
static int open_image(const gen_file_t *f, uint32_t type, uint32_t arg,
                      int (*open)(const void *, size_t, void **, bdx_error_t *), void **out,
                      bdx_error_t *err)
{
    const gen_section_t *s = gen_file_find(f, type, arg);
    int rc;

    if (s == NULL)
        return BAD("generation %s: no %s section for field %u", f->path, gen_section_name(type),
                   arg);
    if ((rc = open(f->map + s->off, s->len, out, err)) != 0)
        return bdx_error_set(err, rc, "generation %s offset %llu (%s, field %u): %s", f->path,
                             (unsigned long long)s->off, gen_section_name(type), arg,
                             bdx_error_message(err));
    return 0;
}

static int open_column(const void *buf, size_t size, void **out, bdx_error_t *err)
{
    return column_image_open(buf, size, (column_t **)out, err);
}

static int open_perm(const void *buf, size_t size, void **out, bdx_error_t *err)
{
    return permutation_image_open(buf, size, (permutation_t **)out, err);
}

static int open_dict(const void *buf, size_t size, void **out, bdx_error_t *err)
{
    return dictionary_image_open(buf, size, (dictionary_t **)out, err);
}

/* The sort field's permutation from `f` (base, or a delta that rebuilt it). */
static int load_perm(const gen_file_t *f, index_t *ix, size_t field, bdx_error_t *err)
{
    void *p;
    int rc;

    if ((rc = open_image(f, GEN_SEC_PERM, (uint32_t)field, open_perm, &p, err)) != 0)
        return rc;
    permutation_free(ix->sorts[field].perm);
    ix->sorts[field].perm = p;
    return 0;
}

static int load_base(const generation_t *g, index_t *ix, bdx_error_t *err)
{
    const gen_file_t *f = &g->files[0];
    const gen_section_t *s;
    docvalues_t *dv;
    int rc;

    if ((rc = load_base_bitmaps(g, ix, err)) != 0)
        return rc;
    for (size_t i = 0; i < ix->schema->sort_count; i++) {
        void *col;
        if ((rc = open_image(f, GEN_SEC_COLUMN, (uint32_t)i, open_column, &col, err)) != 0)
            return rc;
        if (column_bits(col) != ix->schema->sort_fields[i].bits) {
            column_free(col);
            return BAD("generation %s: column of sort field %zu has %u bits, the schema %u",
                       f->path, i, column_bits(col), ix->schema->sort_fields[i].bits);
        }
        column_free(ix->sorts[i].col);
        ix->sorts[i].col = col;
        if ((rc = load_perm(f, ix, i, err)) != 0)
            return rc;
    }
    for (size_t i = 0; i < ix->schema->filter_count; i++) {
        void *d;
        if (ix->filters[i].dict == NULL)
            continue;
        if ((rc = open_image(f, GEN_SEC_DICT, (uint32_t)i, open_dict, &d, err)) != 0)
            return rc;
        dictionary_free(ix->filters[i].dict);
        ix->filters[i].dict = d;
        ix->dict_base[i] = dictionary_count(d);
    }
    if ((s = gen_file_find(f, GEN_SEC_DOCVALUES, 0)) == NULL)
        return BAD("generation %s: no docvalues section", f->path);
    if ((rc = open_records(f, s, &dv, err)) != 0)
        return rc;
    docvalues_free(ix->dv);
    ix->dv = dv;
    return open_docstore(f, ix, err);
}

/* ---- delta ---- */

/*
 * A delta's changed bitmaps and the columns its sort values patch are the same for every index
 * loaded from the generation, so they are materialized once, here, and each index borrows them
 * (bitmap_borrow(), valuemap_borrow(), column_image_open() over the patched image): a reader's
 * Left-Right pair holds one copy, not two. Nothing ever writes into this memory: an index's first
 * write to a borrowed bitmap or column page copies it into that index (copy on write), so the
 * two instances of a pair stay independent. Per-slot records and blobs, and dictionary strings,
 * stay per index (the stores copy only the pages the touched slots hit).
 */
struct gen_shared {
    uint64_t nitems;
    roaring_bitmap_t **rb; /* per delta directory entry: base | added - removed; NULL = empty */
    size_t ncols;
    void **col; /* per sort field: the patched column's image, or NULL (base unchanged) */
    size_t *col_len;
};

void gen_shared_free(gen_shared_t *sh)
{
    if (sh == NULL)
        return;
    for (uint64_t i = 0; sh->rb != NULL && i < sh->nitems; i++)
        bitmap_free_roaring(sh->rb[i]);
    for (size_t i = 0; sh->col != NULL && i < sh->ncols; i++)
        free(sh->col[i]);
    free(sh->rb);
    free(sh->col);
    free(sh->col_len);
    free(sh);
}

/* The base's bitmap of item `want` (binary search of the base directory), or *out = NULL. */
static int base_view(const generation_t *g, const gen_item_t *want, const roaring_bitmap_t **out,
                     bdx_error_t *err)
{
    uint64_t lo = 0, hi = g->base_items;
    gen_item_t it;
    int rc;

    *out = NULL;
    while (lo < hi) {
        uint64_t mid = lo + (hi - lo) / 2;
        int c;
        gen_item_decode(g->base_dir + mid * GEN_DIR_ENTRY_SIZE, &it);
        c = gen_item_cmp(it.kind, it.field, it.key, want->kind, want->field, want->key);
        if (c < 0) {
            lo = mid + 1;
        } else if (c > 0) {
            hi = mid;
        } else {
            if ((rc = check_item(&g->files[0], g->base_dir, mid, g->base_bitmaps_len, false, &it,
                                 err)) != 0)
                return rc;
            if (bitmap_view((const char *)g->base_bitmaps + it.off, it.len_a, out) != 0)
                return BAD("generation %s: bitmap entry %llu: not a frozen bitmap",
                           g->files[0].path, (unsigned long long)mid);
            return 0;
        }
    }
    return 0;
}

/* base | added - removed for delta item `it`: *out owned by the caller (NULL = empty). */
static int materialize(const generation_t *g, const gen_item_t *it, const uint8_t *arena,
                       roaring_bitmap_t **out, bdx_error_t *err)
{
    const roaring_bitmap_t *cur = NULL, *add = NULL, *rem = NULL;
    roaring_bitmap_t *rb = NULL;
    int rc;

    *out = NULL;
    if ((rc = base_view(g, it, &cur, err)) != 0)
        return rc;
    rc = BDX_ECORRUPT;
    if ((it->len_a != 0 && bitmap_view((const char *)arena + it->off, it->len_a, &add) != 0) ||
        (it->len_r != 0 &&
         bitmap_view((const char *)arena + it->off + gen_align(it->len_a), it->len_r, &rem) != 0))
        goto out;
    rc = -ENOMEM;
    if ((rb = cur != NULL ? roaring_bitmap_copy(cur) : roaring_bitmap_create()) == NULL)
        goto out;
    if (add != NULL)
        roaring_bitmap_or_inplace(rb, add);
    if (rem != NULL)
        roaring_bitmap_andnot_inplace(rb, rem);
    if (roaring_bitmap_is_empty(rb)) {
        bitmap_free_roaring(rb);
        rb = NULL;
    } else {
        roaring_bitmap_run_optimize(rb);
        roaring_bitmap_shrink_to_fit(rb);
    }
    *out = rb;
    rc = 0;
out:
    bitmap_view_free(cur);
    bitmap_view_free(add);
    bitmap_view_free(rem);
    return rc;
}

/* Column `field` with the delta's sort values of the touched slots written into it. */
static int patch_column(const gen_file_t *f, size_t field, column_t *col,
                        const roaring_bitmap_t *touched, bdx_error_t *err)
{
    uint64_t ntouched = roaring_bitmap_get_cardinality(touched), len;
    const gen_section_t *s = gen_file_find(f, GEN_SEC_SORT_VALUES, (uint32_t)field);
    roaring_uint32_iterator_t *iter;
    const uint8_t *p;
    int rc;

    if (s == NULL || s->len != 8 + 8 * ntouched)
        return BAD("generation %s: sort values of field %zu missing or wrong size", f->path, field);
    p = f->map + s->off;
    len = gen_get64(p);
    if ((iter = roaring_create_iterator(touched)) == NULL)
        return bdx_error_set(err, -ENOMEM, "generation %s: out of memory", f->path);
    for (p += 8, rc = 0; iter->has_value && rc == 0; roaring_advance_uint32_iterator(iter)) {
        uint64_t v = gen_get64(p);
        p += 8;
        if (iter->current_value < len && (v != 0 || iter->current_value < column_length(col)))
            rc = column_set(col, iter->current_value, v);
    }
    roaring_free_uint32_iterator(iter);
    if (rc == 0 && len > column_length(col) && len <= UINT32_MAX + 1ULL)
        rc = column_set(col, (uint32_t)(len - 1), column_get(col, (uint32_t)(len - 1)));
    if (rc != 0)
        return BAD("generation %s: sort values of field %zu: %s", f->path, field, bdx_strerror(rc));
    return 0;
}

/* Builds the shared materialization of g's delta (see struct gen_shared). */
static int build_shared(const generation_t *g, gen_shared_t **out, bdx_error_t *err)
{
    const gen_file_t *f = &g->files[1];
    const gen_section_t *dir = gen_file_find(f, GEN_SEC_BITMAP_DIR, 0);
    const gen_section_t *arena = gen_file_find(f, GEN_SEC_BITMAPS, 0);
    const gen_section_t *ts = gen_file_find(f, GEN_SEC_TOUCHED, 0);
    const roaring_bitmap_t *touched = NULL;
    gen_shared_t *sh;
    gen_item_t it;
    int rc = 0;

    *out = NULL;
    if (dir == NULL || arena == NULL || ts == NULL || dir->len % GEN_DIR_ENTRY_SIZE != 0)
        return BAD("generation %s: missing delta sections", f->path);
    if ((sh = calloc(1, sizeof(*sh))) == NULL)
        return bdx_error_set(err, -ENOMEM, "generation %s: out of memory", f->path);
    sh->nitems = dir->len / GEN_DIR_ENTRY_SIZE;
    sh->ncols = g->schema->sort_count;
    sh->rb = calloc(sh->nitems + 1, sizeof(*sh->rb));
    sh->col = calloc(sh->ncols + 1, sizeof(*sh->col));
    sh->col_len = calloc(sh->ncols + 1, sizeof(*sh->col_len));
    if (sh->rb == NULL || sh->col == NULL || sh->col_len == NULL) {
        rc = bdx_error_set(err, -ENOMEM, "generation %s: out of memory", f->path);
        goto fail;
    }
    for (uint64_t i = 0; i < sh->nitems; i++) {
        if ((rc = check_item(f, f->map + dir->off, i, arena->len, true, &it, err)) != 0)
            goto fail;
        if (it.kind == GEN_ITEM_VALUE && it.field >= g->schema->filter_count) {
            rc = BAD("generation %s: bitmap entry %llu: no filter field %u", f->path,
                     (unsigned long long)i, it.field);
            goto fail;
        }
        if ((rc = materialize(g, &it, f->map + arena->off, &sh->rb[i], err)) == BDX_ECORRUPT)
            rc =
                BAD("generation %s: bitmap entry %llu: bad bitmap", f->path, (unsigned long long)i);
        else if (rc == -ENOMEM)
            rc = bdx_error_set(err, rc, "generation %s: out of memory", f->path);
        if (rc != 0)
            goto fail;
    }
    if (bitmap_view((const char *)f->map + ts->off, ts->len, &touched) != 0) {
        rc = BAD("generation %s: bad touched bitmap", f->path);
        goto fail;
    }
    for (size_t i = 0; i < sh->ncols && !roaring_bitmap_is_empty(touched); i++) {
        void *col;
        if ((rc = open_image(&g->files[0], GEN_SEC_COLUMN, (uint32_t)i, open_column, &col, err)) !=
            0)
            goto fail;
        if ((rc = patch_column(f, i, col, touched, err)) == 0) {
            sh->col_len[i] = column_image_size(col);
            sh->col[i] = aligned_alloc(GEN_ALIGN, gen_align(sh->col_len[i]) + GEN_ALIGN);
            if (sh->col[i] == NULL)
                rc = bdx_error_set(err, -ENOMEM, "generation %s: out of memory", f->path);
            else
                column_image_write(col, sh->col[i]);
        }
        column_free(col);
        if (rc != 0)
            goto fail;
    }
    bitmap_view_free(touched);
    *out = sh;
    return 0;
fail:
    bitmap_view_free(touched);
    gen_shared_free(sh);
    return rc;
}

/* The generation's shared materialization, built by the first load that needs it. */
static int shared_get(const generation_t *g, const gen_shared_t **out, bdx_error_t *err)
{
    /* A lazily filled cache: generation_t is heap memory, and shared_lock orders its one
     * construction before every use (generation.h: loads may run concurrently). */
    generation_t *gm = (generation_t *)g;
    int rc = 0;

    pthread_mutex_lock(&gm->shared_lock);
    if (gm->shared == NULL)
        rc = build_shared(g, &gm->shared, err);
    *out = gm->shared;
    pthread_mutex_unlock(&gm->shared_lock);
    return rc;
}

static int load_delta(const generation_t *g, index_t *ix, bdx_error_t *err)
{
    const gen_file_t *f = &g->files[1];
    const gen_section_t *dir = gen_file_find(f, GEN_SEC_BITMAP_DIR, 0);
    const gen_section_t *ts = gen_file_find(f, GEN_SEC_TOUCHED, 0), *s;
    const roaring_bitmap_t *touched;
    const gen_shared_t *sh;
    gen_item_t it;
    int rc;

    if ((rc = shared_get(g, &sh, err)) != 0)
        return rc;
    /* the directory and sections were checked by build_shared() */
    for (uint64_t i = 0; i < sh->nitems; i++) {
        gen_item_decode(f->map + dir->off + i * GEN_DIR_ENTRY_SIZE, &it);
        if (it.kind == GEN_ITEM_VALUE) {
            rc = valuemap_borrow(ix->filters[it.field].values, it.key, sh->rb[i]);
        } else {
            bitmap_t *slot = gen_item_slot(ix, it.kind, it.field, it.key);
            roaring_bitmap_t *empty;
            if (slot == NULL)
                return BAD("generation %s: bitmap entry %llu: no item (%u, %u, %lld)", f->path,
                           (unsigned long long)i, it.kind, it.field, (long long)it.key);
            rc = 0;
            if (sh->rb[i] != NULL)
                bitmap_borrow(slot, sh->rb[i]);
            else if ((empty = roaring_bitmap_create()) != NULL)
                bitmap_adopt(slot, empty); /* fixed slots hold a bitmap, even empty */
            else
                rc = -ENOMEM;
        }
        if (rc != 0)
            return bdx_error_set(err, rc, "generation %s: %s", f->path, bdx_strerror(rc));
    }
    if (bitmap_set_frozen(&ix->touched, (const char *)f->map + ts->off, ts->len) != 0)
        return BAD("generation %s: bad touched bitmap", f->path);
    touched = bitmap_get(&ix->touched);
    for (size_t i = 0; i < ix->schema->sort_count; i++) {
        if (sh->col[i] != NULL) {
            column_t *col;
            if ((rc = column_image_open(sh->col[i], sh->col_len[i], &col, err)) != 0)
                return bdx_error_set(err, rc, "generation %s: patched column %zu: %s", f->path, i,
                                     bdx_error_message(err));
            column_free(ix->sorts[i].col);
            ix->sorts[i].col = col;
        }
        if (gen_file_find(f, GEN_SEC_PERM, (uint32_t)i) != NULL) {
            if ((rc = load_perm(f, ix, i, err)) != 0)
                return rc;
            ix->sorts[i].perm_rebuilt = true;
        }
    }
    if ((rc = load_dict_adds(f, ix, err)) != 0)
        return rc;
    if ((s = gen_file_find(f, GEN_SEC_DOCVALUES, 0)) == NULL)
        return BAD("generation %s: no docvalues section", f->path);
    if ((rc = apply_records(f, s, ix, touched, err)) != 0)
        return rc;
    return apply_blobs(f, ix, touched, err);
}

int generation_load(const generation_t *g, index_t **out, bdx_error_t *err)
{
    index_t *ix;
    int rc;

    *out = NULL;
    if ((rc = index_new(g->schema, &ix, err)) != 0)
        return rc;
    ix->dict_base = calloc(g->schema->filter_count + 1, sizeof(*ix->dict_base));
    if (ix->dict_base == NULL) {
        index_free(ix);
        return bdx_error_set(err, -ENOMEM, "generation %s: out of memory", g->dir);
    }
    if ((rc = load_base(g, ix, err)) != 0 || (g->has_delta && (rc = load_delta(g, ix, err)) != 0)) {
        index_free(ix);
        return rc;
    }
    ix->base_id = g->base_id;
    ix->base_bitmaps = g->base_bitmaps;
    ix->writes++; /* nothing cached before the load is valid */
    *out = ix;
    return 0;
}

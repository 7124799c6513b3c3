/*
 * index: the in-memory index state and the document operations that keep it consistent.
 *
 * Every write follows the same path: validate the input against the schema (nothing changes on
 * a validation error), decode the document's current filter values from its docvalues record,
 * build the new values, apply the difference to the bitmaps (clearing exactly the bits the old
 * values set), store the new record, then update the sort fields (BSI, column, dirty) and
 * recompute the computed sort fields that depend on them.
 */
#include "common/index.h"
#include "common/index_internal.h"

#include <errno.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "common/bitmap.h"
#include "common/docstore.h"
#include "common/docvalues.h"
#include "common/frozen.h"
#include "common/radix.h"
#include "common/valuemap.h"

static int bulk_apply(index_t *ix);
static void bulk_free(bulk_t *b, size_t nfilters, size_t nsorts);

/* Applies buffered bulk documents before any other write. Every write calls it (or
 * bulk_apply()) before changing anything, which makes it the place that invalidates the cached
 * counts. */
static int flush_pending(index_t *ix)
{
    ix->writes++;
    return ix->bulk != NULL ? index_bulk_flush(ix) : 0;
}

/* ---- lifecycle ---- */

void index_free(index_t *ix)
{
    if (ix == NULL)
        return;
    if (ix->bulk != NULL)
        bulk_free(ix->bulk, ix->schema->filter_count, ix->schema->sort_count);
    for (size_t i = 0; ix->filters != NULL && i < ix->schema->filter_count; i++) {
        filter_state_t *f = &ix->filters[i];
        valuemap_free(f->values);
        bitmap_release(&f->null);
        bitmap_release(&f->exists);
        dictionary_free(f->dict);
    }
    for (size_t i = 0; ix->sorts != NULL && i < ix->schema->sort_count; i++) {
        sort_state_t *s = &ix->sorts[i];
        bsi_free(s->bsi);
        column_free(s->col);
        permutation_free(s->perm);
        bitmap_release(&s->dirty);
    }
    free(ix->filters);
    free(ix->sorts);
    free(ix->counts);
    free(ix->dict_base);
    bitmap_release(&ix->alive);
    bitmap_release(&ix->touched);
    docvalues_free(ix->dv);
    docstore_free(ix->docs);
    docvalues_rec_free(&ix->old);
    docvalues_rec_free(&ix->cur);
    free(ix->keys);
    schema_free(ix->schema);
    frozen_free(ix->frozen); /* last: every slot pointing into it was released above */
    free(ix);
}

int index_new(const schema_t *schema, index_t **out, bdx_error_t *err)
{
    index_t *ix;
    int rc;

    *out = NULL;
    if ((rc = schema_validate(schema, err)) != 0)
        return rc;
    ix = calloc(1, sizeof(*ix));
    if (ix == NULL)
        return bdx_error_set(err, -ENOMEM, "index: out of memory");
    if ((rc = schema_copy(schema, &ix->schema)) != 0)
        goto fail;
    rc = -ENOMEM;
    ix->filters = calloc(schema->filter_count + 1, sizeof(*ix->filters));
    ix->sorts = calloc(schema->sort_count + 1, sizeof(*ix->sorts));
    ix->counts = calloc(1 + schema->filter_count + 2 * schema->sort_count, sizeof(*ix->counts));
    ix->writes = 1;
    if (ix->filters == NULL || ix->sorts == NULL || ix->counts == NULL)
        goto fail;
    for (size_t i = 0; i < schema->filter_count; i++) {
        filter_state_t *f = &ix->filters[i];
        if (valuemap_new(&f->values) != 0 || bitmap_mut(&f->exists) == NULL)
            goto fail;
        if (schema->filter_fields[i].type == SCHEMA_STRING && dictionary_new(&f->dict) != 0)
            goto fail;
    }
    for (size_t i = 0; i < schema->sort_count; i++) {
        const schema_sort_field_t *sf = &schema->sort_fields[i];
        sort_state_t *s = &ix->sorts[i];
        s->src[0] = s->src[1] = -1;
        if ((rc = bsi_new(sf->bits, &s->bsi)) != 0 || (rc = column_new(sf->bits, &s->col)) != 0)
            goto fail;
        rc = -ENOMEM;
        if (bitmap_mut(&s->dirty) == NULL)
            goto fail;
        if (sf->computed != SCHEMA_COMPUTED_NONE) {
            s->src[0] = schema_sort_find(schema, sf->sources[0]);
            s->src[1] = schema_sort_find(schema, sf->sources[1]);
        }
    }
    if (bitmap_mut(&ix->alive) == NULL || bitmap_mut(&ix->touched) == NULL ||
        docvalues_new(&ix->dv) != 0 || docstore_new(&ix->docs) != 0 ||
        docvalues_rec_init(&ix->old, schema->filter_count) != 0 ||
        docvalues_rec_init(&ix->cur, schema->filter_count) != 0)
        goto fail;
    /* permutations start empty (every slot added later is dirty until the first rebuild) */
    for (size_t i = 0; i < schema->sort_count; i++)
        if (permutation_build(ix->sorts[i].col, NULL, &ix->sorts[i].perm) != 0)
            goto fail;
    *out = ix;
    return 0;
fail:
    index_free(ix);
    return bdx_error_set(err, rc, "index: %s", bdx_strerror(rc));
}

const schema_t *index_schema(const index_t *ix)
{
    return ix->schema;
}

/* ---- validation ---- */

static int check_filter(const index_t *ix, size_t field, bool null, const index_values_t *v,
                        bdx_error_t *err)
{
    const schema_filter_field_t *f;

    if (field >= ix->schema->filter_count)
        return bdx_error_set(err, BDX_EINVAL, "filter field #%zu: no such field", field);
    f = &ix->schema->filter_fields[field];
    if (null) {
        if (!f->nullable)
            return bdx_error_set(err, BDX_EINVAL, "field %s: null on a non-nullable field",
                                 f->name);
        if (v != NULL && v->count > 0)
            return bdx_error_set(err, BDX_EINVAL, "field %s: null together with values", f->name);
        return 0;
    }
    if (v == NULL || v->count == 0)
        return 0;
    if (!f->multi && v->count > 1)
        return bdx_error_set(err, BDX_EINVAL, "field %s: %zu values for a single-valued field",
                             f->name, v->count);
    if (f->type == SCHEMA_STRING) {
        if (v->strings == NULL)
            return bdx_error_set(err, BDX_EINVAL, "field %s: wrong type (want strings)", f->name);
        for (size_t i = 0; i < v->count; i++)
            if (v->strings[i] == NULL)
                return bdx_error_set(err, BDX_EINVAL, "field %s: value #%zu is missing", f->name,
                                     i);
        return 0;
    }
    if (v->ints == NULL)
        return bdx_error_set(err, BDX_EINVAL, "field %s: wrong type (want %s)", f->name,
                             f->type == SCHEMA_BOOL ? "bools" : "integers");
    if (f->type == SCHEMA_BOOL)
        for (size_t i = 0; i < v->count; i++)
            if (v->ints[i] != 0 && v->ints[i] != 1)
                return bdx_error_set(err, BDX_EINVAL, "field %s: bool value %lld (want 0 or 1)",
                                     f->name, (long long)v->ints[i]);
    return 0;
}

int index_check_filter(const index_t *ix, size_t field, bool null, const index_values_t *values,
                       bdx_error_t *err)
{
    return check_filter(ix, field, null, values, err);
}

int index_check_sort(const index_t *ix, size_t field, uint64_t value, bdx_error_t *err)
{
    const schema_sort_field_t *f;

    if (field >= ix->schema->sort_count)
        return bdx_error_set(err, BDX_EINVAL, "sort field #%zu: no such field", field);
    f = &ix->schema->sort_fields[field];
    if (f->computed != SCHEMA_COMPUTED_NONE)
        return bdx_error_set(err, BDX_EINVAL, "field %s: computed field cannot be written",
                             f->name);
    if (value > schema_bits_max(f->bits))
        return bdx_error_set(err, BDX_EINVAL, "field %s: value %llu wider than %u bits", f->name,
                             (unsigned long long)value, f->bits);
    return 0;
}

int index_check_values(const index_t *ix, size_t field, const index_values_t *values,
                       bdx_error_t *err)
{
    if (field >= ix->schema->filter_count)
        return bdx_error_set(err, BDX_EINVAL, "filter field #%zu: no such field", field);
    if (!ix->schema->filter_fields[field].multi)
        return bdx_error_set(err, BDX_EINVAL, "field %s: add/remove on a single-valued field",
                             ix->schema->filter_fields[field].name);
    return check_filter(ix, field, false, values, err);
}

int index_check_doc(const index_t *ix, const index_doc_t *doc, bdx_error_t *err)
{
    int rc;

    for (size_t i = 0; doc->filters != NULL && i < ix->schema->filter_count; i++) {
        const index_doc_filter_t *f = &doc->filters[i];
        if (f->present && (rc = check_filter(ix, i, f->null, &f->values, err)) != 0)
            return rc;
    }
    for (size_t i = 0; doc->sorts != NULL && i < ix->schema->sort_count; i++)
        if (doc->sorts[i].present && (rc = index_check_sort(ix, i, doc->sorts[i].value, err)) != 0)
            return rc;
    return 0;
}

/* ---- filter values ---- */

/* Converts values to keys in ix->keys (strings interned, or only looked up when `lookup_only`,
 * unknown strings then skipped). *n receives the number of keys. 0 or -ENOMEM. */
static int to_keys(index_t *ix, size_t field, const index_values_t *v, bool lookup_only, size_t *n)
{
    filter_state_t *f = &ix->filters[field];
    size_t k = 0;

    *n = 0;
    if (v == NULL || v->count == 0)
        return 0;
    if (v->count > ix->keys_cap) {
        int64_t *nk = realloc(ix->keys, v->count * sizeof(*nk));
        if (nk == NULL)
            return -ENOMEM;
        ix->keys = nk;
        ix->keys_cap = v->count;
    }
    if (f->dict == NULL) {
        memcpy(ix->keys, v->ints, v->count * sizeof(*ix->keys));
        *n = v->count;
        return 0;
    }
    for (size_t i = 0; i < v->count; i++) {
        int rc = lookup_only ? dictionary_lookup(f->dict, v->strings[i], &ix->keys[k])
                             : dictionary_intern(f->dict, v->strings[i], &ix->keys[k]);
        if (rc == 0)
            k++;
        else if (rc != BDX_ENOTFOUND)
            return rc;
    }
    *n = k;
    return 0;
}

/* Sets field's entry in ix->cur from (null, values). */
static int cur_set(index_t *ix, size_t field, bool null, const index_values_t *v)
{
    size_t n;
    int rc;

    if (null)
        return docvalues_rec_set(&ix->cur, field, DOCVALUES_NULL, NULL, 0);
    if ((rc = to_keys(ix, field, v, false, &n)) != 0)
        return rc;
    return docvalues_rec_set(&ix->cur, field, DOCVALUES_VALUES, ix->keys, n);
}

static int bitmap_add_slot(bitmap_t *b, uint32_t slot)
{
    roaring_bitmap_t *rb = bitmap_mut(b);

    if (rb == NULL)
        return -ENOMEM;
    roaring_bitmap_add(rb, slot);
    return 0;
}

static int bitmap_remove_slot(bitmap_t *b, uint32_t slot)
{
    roaring_bitmap_t *rb;

    if (bitmap_get(b) == NULL || !roaring_bitmap_contains(bitmap_get(b), slot))
        return 0;
    rb = bitmap_mut(b);
    if (rb == NULL)
        return -ENOMEM;
    roaring_bitmap_remove(rb, slot);
    return 0;
}

/* Applies the difference between ix->old and ix->cur for one field to its bitmaps. */
static int diff_field(index_t *ix, uint32_t slot, size_t field)
{
    filter_state_t *f = &ix->filters[field];
    const docvalues_field_t *o = &ix->old.fields[field], *c = &ix->cur.fields[field];
    const int64_t *ok, *ck;
    size_t on, cn, i = 0, j = 0;
    int rc = 0;

    if (o->kind == DOCVALUES_NONE && c->kind == DOCVALUES_NONE)
        return 0;
    ok = docvalues_rec_keys(&ix->old, field, &on);
    ck = docvalues_rec_keys(&ix->cur, field, &cn);
    /* merge walk over the two sorted key sets */
    while (rc == 0 && (i < on || j < cn)) {
        if (j >= cn || (i < on && ok[i] < ck[j]))
            rc = valuemap_remove(f->values, ok[i++], slot);
        else if (i >= on || ck[j] < ok[i])
            rc = valuemap_add(f->values, ck[j++], slot);
        else
            i++, j++;
    }
    if (rc != 0)
        return rc;
    if (o->kind == DOCVALUES_NULL && c->kind != DOCVALUES_NULL)
        rc = bitmap_remove_slot(&f->null, slot);
    else if (c->kind == DOCVALUES_NULL && o->kind != DOCVALUES_NULL)
        rc = bitmap_add_slot(&f->null, slot);
    if (rc != 0)
        return rc;
    if (o->kind == DOCVALUES_VALUES && c->kind != DOCVALUES_VALUES)
        rc = bitmap_remove_slot(&f->exists, slot);
    else if (c->kind == DOCVALUES_VALUES && o->kind != DOCVALUES_VALUES)
        rc = bitmap_add_slot(&f->exists, slot);
    return rc;
}

/* Applies ix->old -> ix->cur for every field and stores ix->cur as the slot's record. */
static int commit_filters(index_t *ix, uint32_t slot)
{
    int rc;

    for (size_t i = 0; i < ix->schema->filter_count; i++)
        if ((rc = diff_field(ix, slot, i)) != 0)
            return rc;
    return docvalues_store(ix->dv, slot, &ix->cur);
}

/* Loads the slot's current record into ix->old (empty when the slot is not alive) and copies it
 * to ix->cur. */
static int load(index_t *ix, uint32_t slot, bool alive)
{
    int rc;

    if (alive) {
        if ((rc = docvalues_load(ix->dv, slot, &ix->old)) != 0)
            return rc;
    } else {
        docvalues_rec_clear(&ix->old);
    }
    return docvalues_rec_copy(&ix->cur, &ix->old);
}

/* ---- sort values ---- */

static int sort_write(index_t *ix, uint32_t slot, size_t field, bool present, uint64_t v)
{
    sort_state_t *s = &ix->sorts[field];
    bool had = roaring_bitmap_contains(bsi_exists(s->bsi), slot);
    int rc;

    if (present) {
        if (had && column_get(s->col, slot) == v)
            return 0;
        if ((rc = column_set(s->col, slot, v)) != 0 || (rc = bsi_set(s->bsi, slot, v)) != 0)
            return rc;
    } else {
        if (!had)
            return 0;
        if ((rc = bsi_clear(s->bsi, slot)) != 0 || (rc = column_set(s->col, slot, 0)) != 0)
            return rc;
    }
    return bitmap_add_slot(&s->dirty, slot);
}

/* Recomputes every computed sort field of the slot from its sources. */
static int recompute(index_t *ix, uint32_t slot)
{
    for (size_t i = 0; i < ix->schema->sort_count; i++) {
        const sort_state_t *s = &ix->sorts[i];
        bool greatest = ix->schema->sort_fields[i].computed == SCHEMA_COMPUTED_GREATEST;
        bool present = false;
        uint64_t v = 0;
        int rc;

        if (s->src[0] < 0)
            continue;
        for (int k = 0; k < 2; k++) {
            const sort_state_t *src = &ix->sorts[s->src[k]];
            uint64_t x;
            if (!roaring_bitmap_contains(bsi_exists(src->bsi), slot))
                continue; /* an absent source is ignored */
            x = column_get(src->col, slot);
            if (!present || (greatest ? x > v : x < v))
                v = x;
            present = true;
        }
        if ((rc = sort_write(ix, slot, i, present, v)) != 0)
            return rc;
    }
    return 0;
}

/* ---- writes ---- */

static int write_doc(index_t *ix, uint32_t slot, const index_doc_t *doc, bool merge,
                     bdx_error_t *err)
{
    bool alive;
    int rc;

    if ((rc = index_check_doc(ix, doc, err)) != 0)
        return rc;
    if ((rc = flush_pending(ix)) != 0)
        goto out;
    alive = roaring_bitmap_contains(bitmap_get(&ix->alive), slot);
    if ((rc = bitmap_add_slot(&ix->touched, slot)) != 0 || (rc = load(ix, slot, alive)) != 0)
        goto out;
    if (!merge) {
        docvalues_rec_clear(&ix->cur);
        docstore_remove(ix->docs, slot); /* a Put replaces the stored fields too */
    }
    for (size_t i = 0; doc->filters != NULL && i < ix->schema->filter_count; i++) {
        const index_doc_filter_t *f = &doc->filters[i];
        if (f->present && (rc = cur_set(ix, i, f->null, &f->values)) != 0)
            goto out;
    }
    if ((rc = commit_filters(ix, slot)) != 0 || (rc = bitmap_add_slot(&ix->alive, slot)) != 0)
        goto out;
    for (size_t i = 0; i < ix->schema->sort_count; i++) {
        bool present = doc->sorts != NULL && doc->sorts[i].present;
        if (ix->schema->sort_fields[i].computed != SCHEMA_COMPUTED_NONE)
            continue;
        if (merge && !present)
            continue;
        if ((rc = sort_write(ix, slot, i, present, present ? doc->sorts[i].value : 0)) != 0)
            goto out;
    }
    rc = recompute(ix, slot);
out:
    return rc == 0 ? 0 : bdx_error_set(err, rc, "slot %u: %s", slot, bdx_strerror(rc));
}

int index_put(index_t *ix, uint32_t slot, const index_doc_t *doc, bdx_error_t *err)
{
    return write_doc(ix, slot, doc, false, err);
}

int index_merge(index_t *ix, uint32_t slot, const index_doc_t *doc, bdx_error_t *err)
{
    return write_doc(ix, slot, doc, true, err);
}

int index_delete(index_t *ix, uint32_t slot)
{
    int rc;

    if ((rc = flush_pending(ix)) != 0)
        return rc;
    if (!roaring_bitmap_contains(bitmap_get(&ix->alive), slot))
        return 0;
    if ((rc = bitmap_add_slot(&ix->touched, slot)) != 0 || (rc = load(ix, slot, true)) != 0)
        return rc;
    docvalues_rec_clear(&ix->cur);
    if ((rc = commit_filters(ix, slot)) != 0)
        return rc;
    for (size_t i = 0; i < ix->schema->sort_count; i++)
        if ((rc = sort_write(ix, slot, i, false, 0)) != 0)
            return rc;
    docstore_remove(ix->docs, slot);
    return bitmap_remove_slot(&ix->alive, slot);
}

int index_set_stored(index_t *ix, uint32_t slot, const void *blob, size_t len)
{
    int rc;

    if ((rc = flush_pending(ix)) != 0 || (rc = bitmap_add_slot(&ix->touched, slot)) != 0)
        return rc;
    if (len == 0) {
        size_t had;
        if (docstore_get(ix->docs, slot, &had) == NULL)
            return 0;
        if ((rc = bitmap_add_slot(&ix->touched, slot)) != 0)
            return rc;
        docstore_remove(ix->docs, slot);
        return 0;
    }
    if ((rc = bitmap_add_slot(&ix->touched, slot)) != 0 ||
        (rc = docstore_put(ix->docs, slot, blob, len)) != 0)
        return rc;
    return bitmap_add_slot(&ix->alive, slot);
}

int index_set_filter(index_t *ix, uint32_t slot, size_t field, bool null,
                     const index_values_t *values, bdx_error_t *err)
{
    int rc;

    if ((rc = check_filter(ix, field, null, values, err)) != 0)
        return rc;
    if ((rc = flush_pending(ix)) != 0 || (rc = bitmap_add_slot(&ix->touched, slot)) != 0 ||
        (rc = load(ix, slot, roaring_bitmap_contains(bitmap_get(&ix->alive), slot))) != 0 ||
        (rc = cur_set(ix, field, null, values)) != 0 || (rc = commit_filters(ix, slot)) != 0 ||
        (rc = bitmap_add_slot(&ix->alive, slot)) != 0)
        return bdx_error_set(err, rc, "slot %u: %s", slot, bdx_strerror(rc));
    return 0;
}

int index_set_sort(index_t *ix, uint32_t slot, size_t field, uint64_t value, bdx_error_t *err)
{
    int rc;

    if ((rc = index_check_sort(ix, field, value, err)) != 0)
        return rc;
    if ((rc = flush_pending(ix)) != 0 || (rc = bitmap_add_slot(&ix->touched, slot)) != 0 ||
        (rc = bitmap_add_slot(&ix->alive, slot)) != 0 ||
        (rc = sort_write(ix, slot, field, true, value)) != 0 || (rc = recompute(ix, slot)) != 0)
        return bdx_error_set(err, rc, "slot %u: %s", slot, bdx_strerror(rc));
    return 0;
}

int index_clear_sort(index_t *ix, uint32_t slot, size_t field, bdx_error_t *err)
{
    int rc;

    if ((rc = index_check_sort(ix, field, 0, err)) != 0)
        return rc;
    if ((rc = flush_pending(ix)) != 0)
        return bdx_error_set(err, rc, "slot %u: %s", slot, bdx_strerror(rc));
    if (!roaring_bitmap_contains(bitmap_get(&ix->alive), slot))
        return 0;
    /* sort_write() is a no-op when the document has no value: nothing is marked dirty */
    if ((rc = bitmap_add_slot(&ix->touched, slot)) != 0 ||
        (rc = sort_write(ix, slot, field, false, 0)) != 0 || (rc = recompute(ix, slot)) != 0)
        return bdx_error_set(err, rc, "slot %u: %s", slot, bdx_strerror(rc));
    return 0;
}

/* Add (remove == false) or remove values of a multi-valued field. */
static int change_values(index_t *ix, uint32_t slot, size_t field, const index_values_t *values,
                         bool remove, bdx_error_t *err)
{
    bool alive;
    const int64_t *have;
    size_t nhave, n, m = 0;
    int64_t *merged = NULL;
    int rc;

    if ((rc = index_check_values(ix, field, values, err)) != 0)
        return rc;
    if ((rc = flush_pending(ix)) != 0)
        return bdx_error_set(err, rc, "slot %u: %s", slot, bdx_strerror(rc));
    alive = roaring_bitmap_contains(bitmap_get(&ix->alive), slot);
    if (remove && !alive)
        return 0;
    if ((rc = bitmap_add_slot(&ix->touched, slot)) != 0 || (rc = load(ix, slot, alive)) != 0 ||
        (rc = to_keys(ix, field, values, remove, &n)) != 0)
        goto out;
    have = docvalues_rec_keys(&ix->old, field, &nhave);
    rc = -ENOMEM;
    merged = malloc((nhave + n + 1) * sizeof(*merged));
    if (merged == NULL)
        goto out;
    if (remove) {
        /* keep the keys not listed (n is small: a linear scan per key is fine) */
        for (size_t i = 0; i < nhave; i++) {
            bool drop = false;
            for (size_t j = 0; j < n && !drop; j++)
                drop = ix->keys[j] == have[i];
            if (!drop)
                merged[m++] = have[i];
        }
        if (m == nhave) {
            rc = 0; /* nothing to remove */
            goto out;
        }
    } else {
        if (n == 0) {
            rc = 0; /* nothing to add */
            goto out;
        }
        if (nhave > 0)
            memcpy(merged, have, nhave * sizeof(*merged));
        memcpy(merged + nhave, ix->keys, n * sizeof(*merged));
        m = nhave + n;
    }
    if ((rc = docvalues_rec_set(&ix->cur, field, DOCVALUES_VALUES, merged, m)) != 0 ||
        (rc = commit_filters(ix, slot)) != 0 || (rc = bitmap_add_slot(&ix->alive, slot)) != 0)
        goto out;
out:
    free(merged);
    if (rc != 0)
        return bdx_error_set(err, rc, "slot %u: %s", slot, bdx_strerror(rc));
    return 0;
}

int index_add_values(index_t *ix, uint32_t slot, size_t field, const index_values_t *values,
                     bdx_error_t *err)
{
    return change_values(ix, slot, field, values, false, err);
}

int index_remove_values(index_t *ix, uint32_t slot, size_t field, const index_values_t *values,
                        bdx_error_t *err)
{
    return change_values(ix, slot, field, values, true, err);
}

int index_rebuild_perms(index_t *ix)
{
    size_t n = ix->schema->sort_count;
    permutation_t **perms;
    int rc;

    if ((rc = flush_pending(ix)) != 0)
        return rc;
    rc = -ENOMEM;
    perms = calloc(n + 1, sizeof(*perms));
    if (perms == NULL)
        return -ENOMEM;
    for (size_t i = 0; i < n; i++)
        if ((rc = permutation_build(ix->sorts[i].col, bsi_exists(ix->sorts[i].bsi), &perms[i])) !=
            0)
            goto out;
    for (size_t i = 0; i < n; i++) {
        sort_state_t *s = &ix->sorts[i];
        roaring_bitmap_t *dirty = roaring_bitmap_create();
        if (dirty == NULL) {
            rc = -ENOMEM;
            goto out;
        }
        permutation_free(s->perm);
        s->perm = perms[i];
        s->perm_rebuilt = true;
        perms[i] = NULL;
        bitmap_adopt(&s->dirty, dirty);
    }
    rc = 0;
out:
    for (size_t i = 0; i < n; i++)
        permutation_free(perms[i]);
    free(perms);
    return rc;
}

static void optimize_bitmap(bitmap_t *b)
{
    if (!bitmap_is_owned(b))
        return;
    roaring_bitmap_run_optimize(b->rb);
    roaring_bitmap_shrink_to_fit(b->rb);
}

int index_optimize(index_t *ix)
{
    int rc;

    if ((rc = flush_pending(ix)) != 0)
        return rc;
    for (size_t i = 0; i < ix->schema->filter_count; i++) {
        valuemap_optimize(ix->filters[i].values);
        optimize_bitmap(&ix->filters[i].null);
        optimize_bitmap(&ix->filters[i].exists);
    }
    for (size_t i = 0; i < ix->schema->sort_count; i++) {
        bsi_optimize(ix->sorts[i].bsi);
        column_shrink(ix->sorts[i].col);
        optimize_bitmap(&ix->sorts[i].dirty);
    }
    optimize_bitmap(&ix->alive);
    if ((rc = docvalues_compact(ix->dv)) != 0)
        return rc;
    return docstore_compact(ix->docs);
}

/* Arena bytes every bitmap of the index needs, or (with `arena`) moves them into it. */
static int freeze_all(index_t *ix, frozen_t *arena, size_t *footprint)
{
    size_t n = 0;
    int rc = 0;

    for (size_t i = 0; i < ix->schema->filter_count; i++) {
        filter_state_t *f = &ix->filters[i];
        if (arena == NULL) {
            n += valuemap_frozen_footprint(f->values) + bitmap_frozen_footprint(&f->null) +
                 bitmap_frozen_footprint(&f->exists);
            continue;
        }
        if ((rc = valuemap_freeze(f->values, arena)) != 0 ||
            (rc = bitmap_freeze_into(&f->null, arena)) != 0 ||
            (rc = bitmap_freeze_into(&f->exists, arena)) != 0)
            return rc;
    }
    for (size_t i = 0; i < ix->schema->sort_count; i++) {
        sort_state_t *s = &ix->sorts[i];
        if (arena == NULL) {
            n += bsi_frozen_footprint(s->bsi) + bitmap_frozen_footprint(&s->dirty);
            continue;
        }
        if ((rc = bsi_freeze(s->bsi, arena)) != 0 ||
            (rc = bitmap_freeze_into(&s->dirty, arena)) != 0)
            return rc;
    }
    if (arena == NULL)
        n += bitmap_frozen_footprint(&ix->alive);
    else
        rc = bitmap_freeze_into(&ix->alive, arena);
    if (footprint != NULL)
        *footprint = n;
    return rc;
}

int index_freeze(index_t *ix)
{
    frozen_t *arena;
    size_t need;
    int rc;

    if ((rc = flush_pending(ix)) != 0)
        return rc;
    freeze_all(ix, NULL, &need);
    if ((rc = frozen_new(need, &arena)) != 0)
        return rc;
    /* Sized exactly by the same walk, so this cannot run out of room; nothing allocates from
     * here on. Frozen slots are copied out of the old arena, which is then unused. */
    if ((rc = freeze_all(ix, arena, NULL)) != 0)
        return rc; /* unreachable; the old arena stays (slots may point into either) */
    frozen_free(ix->frozen);
    ix->frozen = arena;
    return 0;
}

/* ---- bulk load ---- */

/* Flush once this many (value, slot) pairs are buffered (~100 MB of buffers and scratch). */
#define BULK_FLUSH_PAIRS ((size_t)1 << 22)

typedef struct slotbuf {
    uint32_t *slots;
    size_t n, cap;
} slotbuf_t;

typedef struct pairbuf {
    uint64_t *keys; /* filter values: int64 key with the sign bit flipped (sorts as unsigned);
                       sort fields: the value */
    uint32_t *slots;
    size_t n, cap;
} pairbuf_t;

struct bulk {
    pairbuf_t *values;         /* per filter field */
    slotbuf_t *nulls, *exists; /* per filter field */
    pairbuf_t *sorts;          /* per sort field */
    slotbuf_t alive;
    size_t pending; /* pairs buffered */
    int64_t last;   /* last slot buffered, -1 = none */
    uint64_t *tmp_keys;
    uint32_t *tmp_slots;
    size_t tmp_cap;
};

#define KEY_FLIP (1ULL << 63)

static void bulk_free(bulk_t *b, size_t nfilters, size_t nsorts)
{
    for (size_t i = 0; b->values != NULL && i < nfilters; i++) {
        free(b->values[i].keys);
        free(b->values[i].slots);
        free(b->nulls[i].slots);
        free(b->exists[i].slots);
    }
    for (size_t i = 0; b->sorts != NULL && i < nsorts; i++) {
        free(b->sorts[i].keys);
        free(b->sorts[i].slots);
    }
    free(b->values);
    free(b->nulls);
    free(b->exists);
    free(b->sorts);
    free(b->alive.slots);
    free(b->tmp_keys);
    free(b->tmp_slots);
    free(b);
}

static int bulk_new(index_t *ix)
{
    size_t nf = ix->schema->filter_count + 1, ns = ix->schema->sort_count + 1;
    bulk_t *b = calloc(1, sizeof(*b));

    if (b == NULL)
        return -ENOMEM;
    b->values = calloc(nf, sizeof(*b->values));
    b->nulls = calloc(nf, sizeof(*b->nulls));
    b->exists = calloc(nf, sizeof(*b->exists));
    b->sorts = calloc(ns, sizeof(*b->sorts));
    if (b->values == NULL || b->nulls == NULL || b->exists == NULL || b->sorts == NULL) {
        bulk_free(b, 0, 0);
        return -ENOMEM;
    }
    b->last = -1;
    ix->bulk = b;
    return 0;
}

static int grow(void **arr, size_t *cap, size_t need, size_t size)
{
    size_t c = *cap ? *cap : 1024;
    void *n;

    if (need <= *cap)
        return 0;
    while (c < need)
        c *= 2;
    n = realloc(*arr, c * size);
    if (n == NULL)
        return -ENOMEM;
    *arr = n;
    *cap = c;
    return 0;
}

static int push_slot(slotbuf_t *s, uint32_t slot)
{
    if (s->n == s->cap && grow((void **)&s->slots, &s->cap, s->n + 1, sizeof(*s->slots)) != 0)
        return -ENOMEM;
    s->slots[s->n++] = slot;
    return 0;
}

static int push_pair(pairbuf_t *p, uint64_t key, uint32_t slot)
{
    if (p->n == p->cap) {
        size_t cap = p->cap;
        if (grow((void **)&p->keys, &cap, p->n + 1, sizeof(*p->keys)) != 0 ||
            grow((void **)&p->slots, &p->cap, p->n + 1, sizeof(*p->slots)) != 0)
            return -ENOMEM;
    }
    p->keys[p->n] = key;
    p->slots[p->n++] = slot;
    return 0;
}

static int add_many(bitmap_t *b, const slotbuf_t *s)
{
    roaring_bitmap_t *rb;

    if (s->n == 0)
        return 0;
    if ((rb = bitmap_mut(b)) == NULL)
        return -ENOMEM;
    roaring_bitmap_add_many(rb, s->n, s->slots);
    return 0;
}

/* Adds every buffered pair and slot to the bitmaps and empties the buffers. */
static int bulk_apply(index_t *ix)
{
    bulk_t *b = ix->bulk;
    int rc;

    ix->writes++;
    if ((rc = add_many(&ix->alive, &b->alive)) != 0 ||
        (rc = add_many(&ix->touched, &b->alive)) != 0)
        return rc;
    b->alive.n = 0;
    for (size_t f = 0; f < ix->schema->filter_count; f++) {
        pairbuf_t *p = &b->values[f];
        if (p->n > 0) {
            size_t cap = b->tmp_cap;
            if (grow((void **)&b->tmp_keys, &cap, p->n, sizeof(*b->tmp_keys)) != 0 ||
                grow((void **)&b->tmp_slots, &b->tmp_cap, p->n, sizeof(*b->tmp_slots)) != 0)
                return -ENOMEM;
            /* group by value; stable, so each value's slots stay ascending */
            radix_sort_pairs(p->keys, p->slots, b->tmp_keys, b->tmp_slots, p->n);
            for (size_t i = 0, j; i < p->n; i = j) {
                for (j = i + 1; j < p->n && p->keys[j] == p->keys[i]; j++)
                    ;
                rc = valuemap_add_many(ix->filters[f].values, (int64_t)(p->keys[i] ^ KEY_FLIP),
                                       p->slots + i, j - i);
                if (rc != 0)
                    return rc;
            }
            p->n = 0;
        }
        if ((rc = add_many(&ix->filters[f].null, &b->nulls[f])) != 0 ||
            (rc = add_many(&ix->filters[f].exists, &b->exists[f])) != 0)
            return rc;
        b->nulls[f].n = b->exists[f].n = 0;
    }
    for (size_t s = 0; s < ix->schema->sort_count; s++) {
        pairbuf_t *p = &b->sorts[s];
        slotbuf_t dirty = {p->slots, p->n, p->cap};
        if (p->n == 0)
            continue;
        if ((rc = bsi_append(ix->sorts[s].bsi, p->slots, p->keys, p->n)) != 0 ||
            (rc = add_many(&ix->sorts[s].dirty, &dirty)) != 0)
            return rc;
        p->n = 0;
    }
    b->pending = 0;
    return 0;
}

int index_bulk_put(index_t *ix, uint32_t slot, const index_doc_t *doc, bdx_error_t *err)
{
    bulk_t *b;
    bool has[SCHEMA_MAX_SORT_FIELDS];
    uint64_t val[SCHEMA_MAX_SORT_FIELDS];
    int rc;

    if ((rc = index_check_doc(ix, doc, err)) != 0)
        return rc;
    if (ix->bulk == NULL && (rc = bulk_new(ix)) != 0)
        goto out;
    b = ix->bulk;
    if ((int64_t)slot <= b->last)
        return bdx_error_set(err, BDX_EINVAL, "slot %u: bulk slots must increase (last %lld)", slot,
                             (long long)b->last);
    if (roaring_bitmap_contains(bitmap_get(&ix->alive), slot))
        return bdx_error_set(err, BDX_EINVAL, "slot %u: bulk slots must not be live", slot);
    /* filter values: normalized (sorted, deduplicated, strings interned) in ix->cur */
    docvalues_rec_clear(&ix->cur);
    for (size_t f = 0; doc->filters != NULL && f < ix->schema->filter_count; f++) {
        const index_doc_filter_t *df = &doc->filters[f];
        if (df->present && (rc = cur_set(ix, f, df->null, &df->values)) != 0)
            goto out;
    }
    for (size_t f = 0; f < ix->schema->filter_count; f++) {
        const docvalues_field_t *cf = &ix->cur.fields[f];
        size_t n;
        const int64_t *keys = docvalues_rec_keys(&ix->cur, f, &n);
        if (cf->kind == DOCVALUES_NULL && (rc = push_slot(&b->nulls[f], slot)) != 0)
            goto out;
        if (cf->kind != DOCVALUES_VALUES)
            continue;
        for (size_t i = 0; i < n; i++)
            if ((rc = push_pair(&b->values[f], (uint64_t)keys[i] ^ KEY_FLIP, slot)) != 0)
                goto out;
        if ((rc = push_slot(&b->exists[f], slot)) != 0)
            goto out;
        b->pending += n;
    }
    if ((rc = docvalues_store(ix->dv, slot, &ix->cur)) != 0)
        goto out;
    /* sort values, computed ones from their sources in this document */
    for (size_t s = 0; s < ix->schema->sort_count; s++) {
        has[s] = doc->sorts != NULL && doc->sorts[s].present &&
                 ix->schema->sort_fields[s].computed == SCHEMA_COMPUTED_NONE;
        val[s] = has[s] ? doc->sorts[s].value : 0;
    }
    for (size_t s = 0; s < ix->schema->sort_count; s++) {
        const sort_state_t *ss = &ix->sorts[s];
        bool greatest = ix->schema->sort_fields[s].computed == SCHEMA_COMPUTED_GREATEST;
        if (ss->src[0] < 0)
            continue;
        for (int k = 0; k < 2; k++) {
            int src = ss->src[k];
            if (!has[src])
                continue;
            if (!has[s] || (greatest ? val[src] > val[s] : val[src] < val[s]))
                val[s] = val[src];
            has[s] = true;
        }
    }
    for (size_t s = 0; s < ix->schema->sort_count; s++) {
        if (!has[s])
            continue;
        if ((rc = column_set(ix->sorts[s].col, slot, val[s])) != 0 ||
            (rc = push_pair(&b->sorts[s], val[s], slot)) != 0)
            goto out;
        b->pending++;
    }
    if ((rc = push_slot(&b->alive, slot)) != 0)
        goto out;
    b->last = slot;
    if (b->pending >= BULK_FLUSH_PAIRS)
        rc = bulk_apply(ix);
out:
    return rc == 0 ? 0 : bdx_error_set(err, rc, "slot %u: %s", slot, bdx_strerror(rc));
}

int index_bulk_flush(index_t *ix)
{
    int rc;

    if (ix->bulk == NULL)
        return 0;
    rc = bulk_apply(ix);
    if (rc != 0)
        return rc;
    bulk_free(ix->bulk, ix->schema->filter_count, ix->schema->sort_count);
    ix->bulk = NULL;
    return 0;
}

/* ---- reads ---- */

const roaring_bitmap_t *index_alive(const index_t *ix)
{
    return bitmap_get(&ix->alive);
}

const roaring_bitmap_t *index_touched(const index_t *ix)
{
    return bitmap_get(&ix->touched);
}

/*
 * The cardinality of `bm`, cached in entry i for the current write generation: the roaring
 * count is O(containers), and O(runs) for run containers, which costs ~0.3 ms on a dense 10M
 * bitmap; queries ask for the same few counts every time. Readers may run concurrently (never
 * with a write), so racing readers can only store the same value for the same generation; the
 * release/acquire pair on `gen` publishes `count` with it.
 */
static uint64_t cached_count(const index_t *ix, size_t i, const roaring_bitmap_t *bm)
{
    count_cache_t *c = &ix->counts[i];
    uint64_t n;

    if (atomic_load_explicit(&c->gen, memory_order_acquire) == ix->writes)
        return atomic_load_explicit(&c->count, memory_order_relaxed);
    n = roaring_bitmap_get_cardinality(bm);
    atomic_store_explicit(&c->count, n, memory_order_relaxed);
    atomic_store_explicit(&c->gen, ix->writes, memory_order_release);
    return n;
}

uint64_t index_doc_count(const index_t *ix)
{
    return cached_count(ix, 0, bitmap_get(&ix->alive));
}

uint64_t index_filter_exists_count(const index_t *ix, size_t field)
{
    if (field >= ix->schema->filter_count)
        return 0;
    return cached_count(ix, 1 + field, bitmap_get(&ix->filters[field].exists));
}

uint64_t index_sort_exists_count(const index_t *ix, size_t field)
{
    if (field >= ix->schema->sort_count)
        return 0;
    return cached_count(ix, 1 + ix->schema->filter_count + 2 * field,
                        bsi_exists(ix->sorts[field].bsi));
}

uint64_t index_sort_dirty_count(const index_t *ix, size_t field)
{
    if (field >= ix->schema->sort_count)
        return 0;
    return cached_count(ix, 2 + ix->schema->filter_count + 2 * field,
                        bitmap_get(&ix->sorts[field].dirty));
}

int64_t index_max_slot(const index_t *ix)
{
    const roaring_bitmap_t *a = bitmap_get(&ix->alive);

    return roaring_bitmap_is_empty(a) ? -1 : (int64_t)roaring_bitmap_maximum(a);
}

bool index_doc_exists(const index_t *ix, uint32_t slot)
{
    return roaring_bitmap_contains(bitmap_get(&ix->alive), slot);
}

const roaring_bitmap_t *index_filter_value(const index_t *ix, size_t field, int64_t key)
{
    if (field >= ix->schema->filter_count)
        return NULL;
    return valuemap_get(ix->filters[field].values, key);
}

const roaring_bitmap_t *index_filter_null(const index_t *ix, size_t field)
{
    const roaring_bitmap_t *rb;

    if (field >= ix->schema->filter_count)
        return NULL;
    rb = bitmap_get(&ix->filters[field].null);
    return rb != NULL && !roaring_bitmap_is_empty(rb) ? rb : NULL;
}

const roaring_bitmap_t *index_filter_exists(const index_t *ix, size_t field)
{
    if (field >= ix->schema->filter_count)
        return NULL;
    return bitmap_get(&ix->filters[field].exists);
}

uint64_t index_filter_value_count(const index_t *ix, size_t field)
{
    if (field >= ix->schema->filter_count)
        return 0;
    return valuemap_count(ix->filters[field].values);
}

void index_filter_range(const index_t *ix, size_t field, int64_t lo, int64_t hi, index_value_fn fn,
                        void *arg)
{
    if (field >= ix->schema->filter_count)
        return;
    valuemap_range(ix->filters[field].values, lo, hi, fn, arg);
}

const dictionary_t *index_dict(const index_t *ix, size_t field)
{
    if (field >= ix->schema->filter_count)
        return NULL;
    return ix->filters[field].dict;
}

const bsi_t *index_sort_bsi(const index_t *ix, size_t field)
{
    return field < ix->schema->sort_count ? ix->sorts[field].bsi : NULL;
}

const column_t *index_sort_column(const index_t *ix, size_t field)
{
    return field < ix->schema->sort_count ? ix->sorts[field].col : NULL;
}

const permutation_t *index_sort_perm(const index_t *ix, size_t field)
{
    return field < ix->schema->sort_count ? ix->sorts[field].perm : NULL;
}

const roaring_bitmap_t *index_sort_dirty(const index_t *ix, size_t field)
{
    return field < ix->schema->sort_count ? bitmap_get(&ix->sorts[field].dirty) : NULL;
}

uint64_t index_sort_value(const index_t *ix, size_t field, uint32_t slot)
{
    return field < ix->schema->sort_count ? column_get(ix->sorts[field].col, slot) : 0;
}

int index_doc_filters(const index_t *ix, uint32_t slot, docvalues_rec_t *rec)
{
    if (!roaring_bitmap_contains(bitmap_get(&ix->alive), slot)) {
        docvalues_rec_clear(rec);
        return 0;
    }
    return docvalues_load(ix->dv, slot, rec);
}

const uint8_t *index_stored(const index_t *ix, uint32_t slot, size_t *len)
{
    return docstore_get(ix->docs, slot, len);
}

const docstore_t *index_docstore(const index_t *ix)
{
    return ix->docs;
}

static void usage_sum(bitmap_usage_t *acc, const bitmap_usage_t *u)
{
    acc->bytes += u->bytes;
    acc->frozen += u->frozen;
    acc->views += u->views;
    acc->view_count += u->view_count;
}

void index_memory(const index_t *ix, index_memory_t *st)
{
    bitmap_usage_t all = {0};

    memset(st, 0, sizeof(*st));
    st->docs = index_doc_count(ix);
    for (size_t i = 0; i < ix->schema->filter_count; i++) {
        const filter_state_t *f = &ix->filters[i];
        bitmap_usage_t u = {0};
        st->maps += valuemap_memory(f->values, &u);
        bitmap_usage_add(&f->null, &u);
        bitmap_usage_add(&f->exists, &u);
        st->filter_bitmaps += u.bytes;
        usage_sum(&all, &u);
        if (f->dict != NULL)
            st->dictionaries += dictionary_memory(f->dict);
    }
    for (size_t i = 0; i < ix->schema->sort_count; i++) {
        const sort_state_t *s = &ix->sorts[i];
        bitmap_usage_t u = {0}, d = {0};
        st->sort_bitmaps += bsi_memory(s->bsi, &u);
        usage_sum(&all, &u);
        bitmap_usage_add(&s->dirty, &d);
        st->other_bitmaps += d.bytes;
        usage_sum(&all, &d);
        st->columns += column_memory(s->col);
        st->permutations += permutation_memory(s->perm);
    }
    {
        bitmap_usage_t u = {0};
        bitmap_usage_add(&ix->alive, &u);
        st->other_bitmaps += u.bytes;
        usage_sum(&all, &u);
    }
    st->frozen_arena = frozen_capacity(ix->frozen);
    st->frozen_live = all.frozen;
    st->frozen_views = all.views;
    st->frozen_view_count = all.view_count;
    /* arena bytes of bitmaps written since the freeze are still allocated */
    if (st->frozen_arena > st->frozen_live)
        st->other_bitmaps += st->frozen_arena - st->frozen_live;
    st->bitmaps = st->filter_bitmaps + st->sort_bitmaps + st->other_bitmaps;
    st->forward = docvalues_memory(ix->dv);
    st->docstore = docstore_memory(ix->docs);
    st->total = st->bitmaps + st->columns + st->permutations + st->dictionaries + st->maps +
                st->forward + st->docstore + sizeof(*ix);
}

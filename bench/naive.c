/*
 * naive: one pass over the rows per query. A row's place in the order is a 64-bit key
 * (value << 32 | id), complemented for ascending orders so that "best" is always "largest";
 * a bounded min-heap of SHAPE_LIMIT keys keeps the page. Tag lists become a bitset per query
 * so each of a row's tags costs one bit test.
 */
#include "bench/naive.h"

#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

typedef struct tagset {
    uint64_t *bits;
    int64_t max; /* largest tag id representable */
} tagset_t;

static int tagset_init(tagset_t *t, const shape_list_t *l)
{
    int64_t max = 0;
    for (size_t i = 0; i < l->n; i++)
        if (l->v[i] > max)
            max = l->v[i];
    t->max = max;
    t->bits = calloc((size_t)(max / 64 + 1), sizeof(uint64_t));
    if (!t->bits)
        return -ENOMEM;
    for (size_t i = 0; i < l->n; i++)
        if (l->v[i] >= 0)
            t->bits[l->v[i] / 64] |= 1ULL << (l->v[i] % 64);
    return 0;
}

/* True when row `r` has a tag in the set. */
static bool has_any(const dataset_t *ds, uint64_t r, const tagset_t *t)
{
    for (uint64_t i = ds->tag_off[r]; i < ds->tag_off[r + 1]; i++) {
        int64_t v = ds->tag_ids[i];
        if (v >= 0 && v <= t->max && (t->bits[v / 64] >> (v % 64) & 1))
            return true;
    }
    return false;
}

static bool has_tag(const dataset_t *ds, uint64_t r, int64_t tag)
{
    uint64_t lo = ds->tag_off[r], hi = ds->tag_off[r + 1];
    while (lo < hi) {
        uint64_t mid = lo + (hi - lo) / 2;
        if (ds->tag_ids[mid] < tag)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo < ds->tag_off[r + 1] && ds->tag_ids[lo] == tag;
}

static bool in_list(int64_t v, const shape_list_t *l)
{
    for (size_t i = 0; i < l->n; i++)
        if (l->v[i] == v)
            return true;
    return false;
}

/* Bounded min-heap of the best keys seen. */
typedef struct topk {
    uint64_t key[SHAPE_LIMIT];
    size_t n;
} topk_t;

static void topk_push(topk_t *h, uint64_t key)
{
    if (h->n < SHAPE_LIMIT) {
        size_t i = h->n++;
        while (i > 0 && h->key[(i - 1) / 2] > key) {
            h->key[i] = h->key[(i - 1) / 2];
            i = (i - 1) / 2;
        }
        h->key[i] = key;
        return;
    }
    if (key <= h->key[0])
        return;
    size_t i = 0;
    for (;;) {
        size_t l = 2 * i + 1, r = l + 1, m = i;
        uint64_t mk = key;
        if (l < h->n && h->key[l] < mk) {
            m = l;
            mk = h->key[l];
        }
        if (r < h->n && h->key[r] < mk)
            m = r;
        if (m == i)
            break;
        h->key[i] = h->key[m];
        i = m;
    }
    h->key[i] = key;
}

static int cmp_desc(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return (x < y) - (x > y);
}

int naive_run(const dataset_t *ds, const shape_args_t *a, naive_result_t *out)
{
    memset(out, 0, sizeof(*out));
    shape_kind_t kind = a->kind == SHAPE_QC ? a->count_of : a->kind;
    tagset_t tags = {0};
    int rc = 0;
    if (kind == SHAPE_Q1 || kind == SHAPE_Q4)
        rc = tagset_init(&tags, &a->hidden);
    else if (kind == SHAPE_Q5)
        rc = tagset_init(&tags, &a->tags);
    if (rc != 0)
        return rc;

    int model = dataset_dict_find(&ds->dict_base_model, a->base_model);
    int type = dataset_dict_find(&ds->dict_type, a->type);
    int av_private = dataset_dict_find(&ds->dict_availability, "Private");
    int av_unsearchable = dataset_dict_find(&ds->dict_availability, "Unsearchable");
    bool restricted_model[256] = {false};
    for (size_t i = 0; i < a->models_restricted.n; i++) {
        int c = dataset_dict_find(&ds->dict_base_model, a->models_restricted.v[i]);
        if (c >= 0)
            restricted_model[c] = true;
    }
    uint64_t cursor_key = (uint64_t)a->after_sort_at << 32 | a->after_id;

    shape_sort_t sort = shape_sort(a);
    topk_t h = {.n = 0};
    uint64_t count = 0;
    for (uint64_t r = 0; r < ds->n; r++) {
        int64_t nsfw = ds->nsfw_level[r];
        bool m;
        switch (kind) {
        case SHAPE_Q1:
        case SHAPE_Q4:
            m = !in_list(nsfw, &a->nsfw_not_in) && !has_any(ds, r, &tags);
            if (m && kind == SHAPE_Q4)
                m = ((uint64_t)ds->sort_at[r] << 32 | ds->id[r]) < cursor_key;
            break;
        case SHAPE_Q2:
            m = in_list(nsfw, &a->nsfw_in) && has_tag(ds, r, a->tag);
            break;
        case SHAPE_Q3:
            m = ds->user_id[r] == a->user;
            break;
        case SHAPE_Q5:
            m = !in_list(nsfw, &a->nsfw_not_in) && has_any(ds, r, &tags);
            break;
        case SHAPE_Q6:
            m = model >= 0 && type >= 0 && ds->base_model[r] == model && ds->type[r] == type;
            break;
        case SHAPE_Q7:
            m = ds->sort_at[r] >= a->sort_at_gte && nsfw == a->nsfw;
            break;
        case SHAPE_Q8:
            m = nsfw == a->nsfw;
            break;
        case SHAPE_Q9:
            m = ds->availability[r] != av_private && ds->availability[r] != av_unsearchable &&
                ds->blocked_for[r] == DATASET_NULL_CODE &&
                !(ds->flags[r] & (DATASET_POI | DATASET_MINOR)) && nsfw != 0 &&
                !(in_list(nsfw, &a->nsfw_restricted) && restricted_model[ds->base_model[r]]) &&
                has_tag(ds, r, a->tag);
            break;
        default:
            m = false;
        }
        if (!m)
            continue;
        count++;
        switch (sort) {
        case SHAPE_SORT_SORTAT_DESC:
            topk_push(&h, (uint64_t)ds->sort_at[r] << 32 | ds->id[r]);
            break;
        case SHAPE_SORT_REACTIONS_DESC:
            topk_push(&h, (uint64_t)ds->reaction_count[r] << 32 | ds->id[r]);
            break;
        case SHAPE_SORT_ID_DESC:
            topk_push(&h, ds->id[r]);
            break;
        case SHAPE_SORT_ID_ASC:
            topk_push(&h, ~(uint64_t)ds->id[r]);
            break;
        case SHAPE_SORT_NONE:
            break;
        }
    }
    free(tags.bits);
    out->count = count;
    qsort(h.key, h.n, sizeof(uint64_t), cmp_desc);
    out->n = h.n;
    for (size_t i = 0; i < h.n; i++) {
        uint64_t k = sort == SHAPE_SORT_ID_ASC ? ~h.key[i] : h.key[i];
        out->ids[i] = (uint32_t)k;
        out->values[i] =
            sort == SHAPE_SORT_SORTAT_DESC || sort == SHAPE_SORT_REACTIONS_DESC ? k >> 32 : 0;
    }
    return 0;
}

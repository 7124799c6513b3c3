/*
 * load_batch: protobuf-c messages laid out in per-batch scratch arrays, packed once per batch.
 */
#include "bench/load_batch.h"

#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "bitdex/v1/writer.pb-c.h"

/* Single-valued filter fields per document (tagIds is the multi-valued one). */
enum {
    F_NSFW = 0,
    F_USER,
    F_POST,
    F_BASE_MODEL,
    F_TYPE,
    F_AVAILABILITY,
    F_HAS_META,
    F_ON_SITE,
    F_POI,
    F_MINOR,
    F_BLOCKED_FOR,
    F_SINGLE,
    F_TAGS = F_SINGLE,
    F_COUNT
};
enum {
    S_COUNT = 4
};

/* Names as loader_schema() declares them. */
static const char *const filter_names[F_COUNT] = {
    "nsfwLevel", "userId", "postId", "baseModel", "type",       "availability",
    "hasMeta",   "onSite", "poi",    "minor",     "blockedFor", "tagIds"};
static const char *const sort_names[S_COUNT] = {"sortAt", "reactionCount", "commentCount",
                                                "collectedCount"};

/* One document's messages. */
typedef struct doc_msgs {
    Bitdex__V1__Op op;
    Bitdex__V1__PutOp put;
    Bitdex__V1__Document doc;
    Bitdex__V1__FieldValue fv[F_COUNT];
    Bitdex__V1__FieldValue *fvp[F_COUNT];
    Bitdex__V1__Value val[F_SINGLE];
    Bitdex__V1__SortFieldValue sv[S_COUNT];
    Bitdex__V1__SortFieldValue *svp[S_COUNT];
} doc_msgs_t;

struct load_batch {
    size_t max_docs;
    doc_msgs_t *docs;
    Bitdex__V1__Op **ops;
    Bitdex__V1__Value *tags; /* tag values of the whole batch */
    Bitdex__V1__Value **tagp;
    size_t tags_cap;
    uint8_t *wire;
    size_t wire_cap;
};

int load_batch_new(size_t max_docs, load_batch_t **out)
{
    *out = NULL;
    load_batch_t *b = calloc(1, sizeof(*b));
    if (b == NULL)
        return -ENOMEM;
    b->max_docs = max_docs;
    b->docs = calloc(max_docs ? max_docs : 1, sizeof(*b->docs));
    b->ops = calloc(max_docs ? max_docs : 1, sizeof(*b->ops));
    if (b->docs == NULL || b->ops == NULL) {
        load_batch_free(b);
        return -ENOMEM;
    }
    *out = b;
    return 0;
}

void load_batch_free(load_batch_t *b)
{
    if (b == NULL)
        return;
    free(b->docs);
    free(b->ops);
    free(b->tags);
    free(b->tagp);
    free(b->wire);
    free(b);
}

static int reserve_tags(load_batch_t *b, size_t n)
{
    if (n <= b->tags_cap)
        return 0;
    size_t cap = b->tags_cap ? b->tags_cap : 1024;
    while (cap < n)
        cap *= 2;
    Bitdex__V1__Value *t = realloc(b->tags, cap * sizeof(*t));
    if (t == NULL)
        return -ENOMEM;
    b->tags = t;
    Bitdex__V1__Value **p = realloc(b->tagp, cap * sizeof(*p));
    if (p == NULL)
        return -ENOMEM;
    b->tagp = p;
    b->tags_cap = cap;
    return 0;
}

static void set_int(Bitdex__V1__Value *v, int64_t x)
{
    *v = (Bitdex__V1__Value)BITDEX__V1__VALUE__INIT;
    v->kind_case = BITDEX__V1__VALUE__KIND_INT_VALUE;
    v->int_value = x;
}

static void set_bool(Bitdex__V1__Value *v, int x)
{
    *v = (Bitdex__V1__Value)BITDEX__V1__VALUE__INIT;
    v->kind_case = BITDEX__V1__VALUE__KIND_BOOL_VALUE;
    v->bool_value = x != 0;
}

static void set_str(Bitdex__V1__Value *v, const char *s)
{
    *v = (Bitdex__V1__Value)BITDEX__V1__VALUE__INIT;
    v->kind_case = BITDEX__V1__VALUE__KIND_STRING_VALUE;
    v->string_value = (char *)s; /* borrowed from the dataset; pack only reads it */
}

/* Fills d for row r; tags go to b->tags[*tag_at ...]. */
static void fill_doc(load_batch_t *b, doc_msgs_t *d, const dataset_t *ds, uint64_t r,
                     size_t *tag_at)
{
    set_int(&d->val[F_NSFW], ds->nsfw_level[r]);
    set_int(&d->val[F_USER], ds->user_id[r]);
    set_int(&d->val[F_POST], ds->post_id[r]);
    set_str(&d->val[F_BASE_MODEL], ds->dict_base_model.names[ds->base_model[r]]);
    set_str(&d->val[F_TYPE], ds->dict_type.names[ds->type[r]]);
    set_str(&d->val[F_AVAILABILITY], ds->dict_availability.names[ds->availability[r]]);
    set_bool(&d->val[F_HAS_META], ds->flags[r] & DATASET_HAS_META);
    set_bool(&d->val[F_ON_SITE], ds->flags[r] & DATASET_ON_SITE);
    set_bool(&d->val[F_POI], ds->flags[r] & DATASET_POI);
    set_bool(&d->val[F_MINOR], ds->flags[r] & DATASET_MINOR);
    bool blocked = ds->blocked_for[r] != DATASET_NULL_CODE;
    if (blocked)
        set_str(&d->val[F_BLOCKED_FOR], ds->dict_blocked_for.names[ds->blocked_for[r]]);

    size_t nf = 0;
    for (int i = 0; i < F_SINGLE; i++) {
        if (i == F_BLOCKED_FOR && !blocked)
            continue; /* Put leaves it null */
        Bitdex__V1__FieldValue *fv = &d->fv[nf];
        *fv = (Bitdex__V1__FieldValue)BITDEX__V1__FIELD_VALUE__INIT;
        fv->field = (char *)filter_names[i];
        fv->value = &d->val[i];
        d->fvp[nf++] = fv;
    }
    Bitdex__V1__FieldValue *tags = &d->fv[nf];
    *tags = (Bitdex__V1__FieldValue)BITDEX__V1__FIELD_VALUE__INIT;
    tags->field = (char *)filter_names[F_TAGS];
    size_t nt = (size_t)(ds->tag_off[r + 1] - ds->tag_off[r]);
    const int64_t *t = ds->tag_ids + ds->tag_off[r];
    tags->n_values = nt;
    tags->values = b->tagp + *tag_at;
    for (size_t k = 0; k < nt; k++) {
        set_int(&b->tags[*tag_at + k], t[k]);
        b->tagp[*tag_at + k] = &b->tags[*tag_at + k];
    }
    *tag_at += nt;
    d->fvp[nf++] = tags;

    const uint32_t sorts[S_COUNT] = {ds->sort_at[r], ds->reaction_count[r], ds->comment_count[r],
                                     ds->collected_count[r]};
    for (int i = 0; i < S_COUNT; i++) {
        Bitdex__V1__SortFieldValue *sv = &d->sv[i];
        *sv = (Bitdex__V1__SortFieldValue)BITDEX__V1__SORT_FIELD_VALUE__INIT;
        sv->field = (char *)sort_names[i];
        sv->kind_case = BITDEX__V1__SORT_FIELD_VALUE__KIND_VALUE;
        sv->value = sorts[i];
        d->svp[i] = sv;
    }

    d->doc = (Bitdex__V1__Document)BITDEX__V1__DOCUMENT__INIT;
    d->doc.id = ds->id[r];
    d->doc.n_filter_fields = nf;
    d->doc.filter_fields = d->fvp;
    d->doc.n_sort_fields = S_COUNT;
    d->doc.sort_fields = d->svp;
    d->put = (Bitdex__V1__PutOp)BITDEX__V1__PUT_OP__INIT;
    d->put.document = &d->doc;
    d->op = (Bitdex__V1__Op)BITDEX__V1__OP__INIT;
    d->op.op_case = BITDEX__V1__OP__OP_PUT;
    d->op.put = &d->put;
}

int load_batch_encode(load_batch_t *b, const dataset_t *ds, const char *index, uint64_t first,
                      size_t n, const uint8_t **out, size_t *len)
{
    if (n > b->max_docs)
        n = b->max_docs;
    size_t ntags = (size_t)(ds->tag_off[first + n] - ds->tag_off[first]);
    if (reserve_tags(b, ntags) != 0)
        return -ENOMEM;
    size_t tag_at = 0;
    for (size_t i = 0; i < n; i++) {
        fill_doc(b, &b->docs[i], ds, first + i, &tag_at);
        b->ops[i] = &b->docs[i].op;
    }
    Bitdex__V1__ApplyRequest req = BITDEX__V1__APPLY_REQUEST__INIT;
    req.index = (char *)index;
    req.n_ops = n;
    req.ops = b->ops;
    size_t need = protobuf_c_message_get_packed_size(&req.base);
    if (need > b->wire_cap) {
        uint8_t *w = realloc(b->wire, need);
        if (w == NULL)
            return -ENOMEM;
        b->wire = w;
        b->wire_cap = need;
    }
    *len = protobuf_c_message_pack(&req.base, b->wire);
    *out = b->wire;
    return 0;
}

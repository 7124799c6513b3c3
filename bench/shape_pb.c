/*
 * shape_pb: filter trees as protobuf-c messages in a small fixed arena, packed once.
 *
 * The arena is sized for the largest shape (Q9: 14 Filter nodes; Q1: 20 hidden tags) with a
 * wide margin; running out is reported as -ENOMEM and cannot happen with SHAPE_MAX_LIST lists.
 */
#include "bench/shape_pb.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "bitdex/v1/query.pb-c.h"

#define MAX_NODES 32
#define MAX_VALUES (4 * SHAPE_MAX_LIST + 32)

typedef struct arena {
    Bitdex__V1__Filter filters[MAX_NODES];
    Bitdex__V1__Filter *filter_ptrs[MAX_NODES];
    Bitdex__V1__FilterList lists[MAX_NODES];
    Bitdex__V1__FieldComparison cmps[MAX_NODES];
    Bitdex__V1__FieldSet sets[MAX_NODES];
    Bitdex__V1__FieldRef refs[MAX_NODES];
    Bitdex__V1__Value values[MAX_VALUES];
    Bitdex__V1__Value *value_ptrs[MAX_VALUES];
    size_t n_filters, n_filter_ptrs, n_lists, n_cmps, n_sets, n_refs, n_values;
    bool full;
} arena_t;

static Bitdex__V1__Filter *new_filter(arena_t *a, Bitdex__V1__Filter__ClauseCase c)
{
    if (a->n_filters == MAX_NODES) {
        a->full = true;
        return NULL;
    }
    Bitdex__V1__Filter *f = &a->filters[a->n_filters++];
    *f = (Bitdex__V1__Filter)BITDEX__V1__FILTER__INIT;
    f->clause_case = c;
    return f;
}

static Bitdex__V1__Value *new_value(arena_t *a)
{
    if (a->n_values == MAX_VALUES) {
        a->full = true;
        return NULL;
    }
    Bitdex__V1__Value *v = &a->values[a->n_values];
    a->value_ptrs[a->n_values++] = v;
    *v = (Bitdex__V1__Value)BITDEX__V1__VALUE__INIT;
    return v;
}

static Bitdex__V1__Value *int_value(arena_t *a, int64_t x)
{
    Bitdex__V1__Value *v = new_value(a);
    if (v) {
        v->kind_case = BITDEX__V1__VALUE__KIND_INT_VALUE;
        v->int_value = x;
    }
    return v;
}

static Bitdex__V1__Value *str_value(arena_t *a, const char *s)
{
    Bitdex__V1__Value *v = new_value(a);
    if (v) {
        v->kind_case = BITDEX__V1__VALUE__KIND_STRING_VALUE;
        v->string_value = (char *)s; /* borrowed from the caller's shape_args_t */
    }
    return v;
}

static Bitdex__V1__Value *bool_value(arena_t *a, bool b)
{
    Bitdex__V1__Value *v = new_value(a);
    if (v) {
        v->kind_case = BITDEX__V1__VALUE__KIND_BOOL_VALUE;
        v->bool_value = b;
    }
    return v;
}

/* eq / neq / gte ... of `field` with `v`. */
static Bitdex__V1__Filter *cmp(arena_t *a, Bitdex__V1__Filter__ClauseCase c, const char *field,
                               Bitdex__V1__Value *v)
{
    if (a->n_cmps == MAX_NODES || v == NULL) {
        a->full = true;
        return NULL;
    }
    Bitdex__V1__FieldComparison *fc = &a->cmps[a->n_cmps++];
    *fc = (Bitdex__V1__FieldComparison)BITDEX__V1__FIELD_COMPARISON__INIT;
    fc->field = (char *)field;
    fc->value = v;
    Bitdex__V1__Filter *f = new_filter(a, c);
    if (f)
        f->eq = fc; /* every comparison case shares the union slot's type */
    return f;
}

/* is_in / not_in over `n` values already appended at value index `first`. */
static Bitdex__V1__Filter *set_of(arena_t *a, Bitdex__V1__Filter__ClauseCase c, const char *field,
                                  size_t first, size_t n)
{
    if (a->n_sets == MAX_NODES) {
        a->full = true;
        return NULL;
    }
    Bitdex__V1__FieldSet *fs = &a->sets[a->n_sets++];
    *fs = (Bitdex__V1__FieldSet)BITDEX__V1__FIELD_SET__INIT;
    fs->field = (char *)field;
    fs->n_values = n;
    fs->values = &a->value_ptrs[first];
    Bitdex__V1__Filter *f = new_filter(a, c);
    if (f)
        f->is_in = fs;
    return f;
}

static Bitdex__V1__Filter *int_set(arena_t *a, Bitdex__V1__Filter__ClauseCase c, const char *field,
                                   const shape_list_t *l)
{
    size_t first = a->n_values;
    for (size_t i = 0; i < l->n; i++)
        int_value(a, l->v[i]);
    return set_of(a, c, field, first, a->n_values - first);
}

static Bitdex__V1__Filter *str_set(arena_t *a, Bitdex__V1__Filter__ClauseCase c, const char *field,
                                   const shape_strings_t *l)
{
    size_t first = a->n_values;
    for (size_t i = 0; i < l->n; i++)
        str_value(a, l->v[i]);
    return set_of(a, c, field, first, a->n_values - first);
}

static Bitdex__V1__Filter *is_null(arena_t *a, const char *field)
{
    if (a->n_refs == MAX_NODES) {
        a->full = true;
        return NULL;
    }
    Bitdex__V1__FieldRef *r = &a->refs[a->n_refs++];
    *r = (Bitdex__V1__FieldRef)BITDEX__V1__FIELD_REF__INIT;
    r->field = (char *)field;
    Bitdex__V1__Filter *f = new_filter(a, BITDEX__V1__FILTER__CLAUSE_IS_NULL);
    if (f)
        f->is_null = r;
    return f;
}

static Bitdex__V1__Filter *negate(arena_t *a, Bitdex__V1__Filter *sub)
{
    Bitdex__V1__Filter *f = new_filter(a, BITDEX__V1__FILTER__CLAUSE_NEGATE);
    if (f)
        f->negate = sub;
    return f;
}

/* all_of over subs[0..n). */
static Bitdex__V1__Filter *all_of(arena_t *a, Bitdex__V1__Filter *const *subs, size_t n)
{
    if (a->n_lists == MAX_NODES || a->n_filter_ptrs + n > MAX_NODES) {
        a->full = true;
        return NULL;
    }
    Bitdex__V1__FilterList *l = &a->lists[a->n_lists++];
    *l = (Bitdex__V1__FilterList)BITDEX__V1__FILTER_LIST__INIT;
    l->n_filters = n;
    l->filters = &a->filter_ptrs[a->n_filter_ptrs];
    for (size_t i = 0; i < n; i++)
        a->filter_ptrs[a->n_filter_ptrs++] = subs[i];
    Bitdex__V1__Filter *f = new_filter(a, BITDEX__V1__FILTER__CLAUSE_ALL_OF);
    if (f)
        f->all_of = l;
    return f;
}

#define ALL_OF(a, ...)                                      \
    all_of((a), (Bitdex__V1__Filter *const[]){__VA_ARGS__}, \
           sizeof((Bitdex__V1__Filter *const[]){__VA_ARGS__}) / sizeof(Bitdex__V1__Filter *))

static Bitdex__V1__Filter *build_filter(arena_t *a, const shape_args_t *s, shape_kind_t kind)
{
    switch (kind) {
    case SHAPE_Q1:
    case SHAPE_Q4:
        return ALL_OF(
            a, int_set(a, BITDEX__V1__FILTER__CLAUSE_NOT_IN, "nsfwLevel", &s->nsfw_not_in),
            negate(a, int_set(a, BITDEX__V1__FILTER__CLAUSE_IS_IN, "tagIds", &s->hidden)));
    case SHAPE_Q2:
        return ALL_OF(a, cmp(a, BITDEX__V1__FILTER__CLAUSE_EQ, "tagIds", int_value(a, s->tag)),
                      int_set(a, BITDEX__V1__FILTER__CLAUSE_IS_IN, "nsfwLevel", &s->nsfw_in));
    case SHAPE_Q3:
        return cmp(a, BITDEX__V1__FILTER__CLAUSE_EQ, "userId", int_value(a, s->user));
    case SHAPE_Q5:
        return ALL_OF(a, int_set(a, BITDEX__V1__FILTER__CLAUSE_IS_IN, "tagIds", &s->tags),
                      int_set(a, BITDEX__V1__FILTER__CLAUSE_NOT_IN, "nsfwLevel", &s->nsfw_not_in));
    case SHAPE_Q6:
        return ALL_OF(
            a, cmp(a, BITDEX__V1__FILTER__CLAUSE_EQ, "baseModel", str_value(a, s->base_model)),
            cmp(a, BITDEX__V1__FILTER__CLAUSE_EQ, "type", str_value(a, s->type)));
    case SHAPE_Q7:
        return ALL_OF(
            a, cmp(a, BITDEX__V1__FILTER__CLAUSE_GTE, "sortAt", int_value(a, s->sort_at_gte)),
            cmp(a, BITDEX__V1__FILTER__CLAUSE_EQ, "nsfwLevel", int_value(a, s->nsfw)));
    case SHAPE_Q8:
        return cmp(a, BITDEX__V1__FILTER__CLAUSE_EQ, "nsfwLevel", int_value(a, s->nsfw));
    case SHAPE_Q9:
        return ALL_OF(
            a, cmp(a, BITDEX__V1__FILTER__CLAUSE_NEQ, "availability", str_value(a, "Private")),
            cmp(a, BITDEX__V1__FILTER__CLAUSE_NEQ, "availability", str_value(a, "Unsearchable")),
            is_null(a, "blockedFor"),
            cmp(a, BITDEX__V1__FILTER__CLAUSE_EQ, "poi", bool_value(a, false)),
            cmp(a, BITDEX__V1__FILTER__CLAUSE_EQ, "minor", bool_value(a, false)),
            cmp(a, BITDEX__V1__FILTER__CLAUSE_NEQ, "nsfwLevel", int_value(a, 0)),
            negate(a, ALL_OF(a,
                             int_set(a, BITDEX__V1__FILTER__CLAUSE_IS_IN, "nsfwLevel",
                                     &s->nsfw_restricted),
                             str_set(a, BITDEX__V1__FILTER__CLAUSE_IS_IN, "baseModel",
                                     &s->models_restricted))),
            cmp(a, BITDEX__V1__FILTER__CLAUSE_EQ, "tagIds", int_value(a, s->tag)));
    case SHAPE_QC:
        return NULL;
    }
    return NULL;
}

const char *shape_pb_method(shape_pb_rpc_t rpc)
{
    return rpc == SHAPE_PB_COUNT ? "/bitdex.v1.Query/Count" : "/bitdex.v1.Query/Search";
}

static uint8_t *pack(const ProtobufCMessage *m, size_t *len)
{
    *len = protobuf_c_message_get_packed_size(m);
    uint8_t *buf = malloc(*len ? *len : 1);
    if (buf)
        protobuf_c_message_pack(m, buf);
    return buf;
}

int shape_pb_encode(const shape_args_t *s, const char *index, const uint8_t *cursor,
                    size_t cursor_len, uint8_t **out, size_t *len, shape_pb_rpc_t *rpc)
{
    *out = NULL;
    arena_t *a = calloc(1, sizeof(*a));
    if (a == NULL)
        return -ENOMEM;
    shape_kind_t kind = s->kind == SHAPE_QC ? s->count_of : s->kind;
    Bitdex__V1__Filter *filter = build_filter(a, s, kind);
    int rc = 0;
    if (filter == NULL || a->full) {
        rc = -ENOMEM;
        goto out;
    }
    if (s->kind == SHAPE_QC) {
        Bitdex__V1__CountRequest req = BITDEX__V1__COUNT_REQUEST__INIT;
        req.index = (char *)index;
        req.filter = filter;
        *rpc = SHAPE_PB_COUNT;
        *out = pack(&req.base, len);
    } else {
        Bitdex__V1__SearchRequest req = BITDEX__V1__SEARCH_REQUEST__INIT;
        Bitdex__V1__Sort sort = BITDEX__V1__SORT__INIT;
        req.index = (char *)index;
        req.filter = filter;
        req.limit = SHAPE_LIMIT;
        switch (shape_sort(s)) {
        case SHAPE_SORT_SORTAT_DESC:
            sort.field = (char *)"sortAt";
            sort.direction = BITDEX__V1__SORT_DIRECTION__SORT_DIRECTION_DESC;
            req.sort = &sort;
            break;
        case SHAPE_SORT_REACTIONS_DESC:
            sort.field = (char *)"reactionCount";
            sort.direction = BITDEX__V1__SORT_DIRECTION__SORT_DIRECTION_DESC;
            req.sort = &sort;
            break;
        case SHAPE_SORT_ID_ASC:
            sort.field = (char *)"id";
            sort.direction = BITDEX__V1__SORT_DIRECTION__SORT_DIRECTION_ASC;
            req.sort = &sort;
            break;
        case SHAPE_SORT_ID_DESC:
        case SHAPE_SORT_NONE:
            break; /* no sort: id descending */
        }
        if (cursor != NULL && cursor_len > 0) {
            req.cursor.data = (uint8_t *)cursor;
            req.cursor.len = cursor_len;
        }
        *rpc = SHAPE_PB_SEARCH;
        *out = pack(&req.base, len);
    }
    if (*out == NULL)
        rc = -ENOMEM;
out:
    free(a);
    return rc;
}

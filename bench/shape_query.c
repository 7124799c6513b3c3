/*
 * shape_query: the filter trees of the shapes (BENCHMARK "Query shapes"; bench/README.md spells
 * out each one) built with the query.h builders, and the three ways of running them.
 */
#include "bench/shape_query.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "common/cursor.h"
#include "common/planner.h"

static query_node_t *int_in(query_op_t op, const char *field, const shape_list_t *l)
{
    query_value_t v[SHAPE_MAX_LIST];
    for (size_t i = 0; i < l->n; i++)
        v[i] = query_int(l->v[i]);
    return query_in(op, field, v, l->n);
}

static query_node_t *str_in(query_op_t op, const char *field, const shape_strings_t *l)
{
    query_value_t v[8];
    for (size_t i = 0; i < l->n; i++)
        v[i] = query_str(l->v[i]);
    return query_in(op, field, v, l->n);
}

/* Q1 / Q4: nsfwLevel NotIn {..} AND NOT tagIds In {hidden} */
static query_node_t *feed_filter(const shape_args_t *a)
{
    return query_and(2, int_in(QUERY_NOT_IN, "nsfwLevel", &a->nsfw_not_in),
                     query_not(int_in(QUERY_IN, "tagIds", &a->hidden)));
}

/* Q5: tagIds In {t1,t2,t3} AND nsfwLevel NotIn {..} */
static query_node_t *or3_filter(const shape_args_t *a)
{
    return query_and(2, int_in(QUERY_IN, "tagIds", &a->tags),
                     int_in(QUERY_NOT_IN, "nsfwLevel", &a->nsfw_not_in));
}

/* Q9: the 7-clause safety filter AND tagIds Eq T */
static query_node_t *safety_filter(const shape_args_t *a)
{
    return query_and(8, query_cmp(QUERY_NOT_EQ, "availability", query_str("Private")),
                     query_cmp(QUERY_NOT_EQ, "availability", query_str("Unsearchable")),
                     query_null(QUERY_IS_NULL, "blockedFor"), query_eq("poi", query_bool(false)),
                     query_eq("minor", query_bool(false)),
                     query_cmp(QUERY_NOT_EQ, "nsfwLevel", query_int(0)),
                     query_not(query_and(2, int_in(QUERY_IN, "nsfwLevel", &a->nsfw_restricted),
                                         str_in(QUERY_IN, "baseModel", &a->models_restricted))),
                     query_eq("tagIds", query_int(a->tag)));
}

static query_node_t *build_filter(const shape_args_t *a, shape_kind_t kind)
{
    switch (kind) {
    case SHAPE_Q1:
    case SHAPE_Q4:
        return feed_filter(a);
    case SHAPE_Q2:
        return query_and(2, query_eq("tagIds", query_int(a->tag)),
                         int_in(QUERY_IN, "nsfwLevel", &a->nsfw_in));
    case SHAPE_Q3:
        return query_eq("userId", query_int(a->user));
    case SHAPE_Q5:
        return or3_filter(a);
    case SHAPE_Q6:
        return query_and(2, query_eq("baseModel", query_str(a->base_model)),
                         query_eq("type", query_str(a->type)));
    case SHAPE_Q7:
        return query_and(2, query_cmp(QUERY_GTE, "sortAt", query_int(a->sort_at_gte)),
                         query_eq("nsfwLevel", query_int(a->nsfw)));
    case SHAPE_Q8:
        return query_eq("nsfwLevel", query_int(a->nsfw));
    case SHAPE_Q9:
        return safety_filter(a);
    case SHAPE_QC:
        return NULL;
    }
    return NULL;
}

/* A validated, canonical private copy of q's filter, as search.c prepares it. */
static int prepare_filter(const index_t *ix, const query_t *q, query_t *tmp, query_node_t **filter,
                          bdx_error_t *err)
{
    *tmp = *q;
    *filter = q->filter ? query_node_clone(q->filter) : NULL;
    if (q->filter && !*filter)
        return -ENOMEM;
    tmp->filter = *filter;
    if (!tmp->index)
        tmp->index = index_schema(ix)->name;
    int rc = query_validate(tmp, index_schema(ix), NULL, NULL, err);
    if (rc == 0)
        rc = query_canonicalize(filter);
    tmp->filter = *filter;
    return rc;
}

/* The cursor token for "after (value, slot)" of query q, bound to its fingerprint. */
static int set_cursor(const index_t *ix, query_t *q, uint64_t value, uint32_t slot,
                      bdx_error_t *err)
{
    query_t tmp;
    query_node_t *filter = NULL;
    uint64_t fp;
    int rc = prepare_filter(ix, q, &tmp, &filter, err);
    if (rc == 0)
        rc = query_fingerprint(&tmp, filter, &fp);
    query_node_free(filter);
    if (rc != 0)
        return rc;
    cursor_t c = {.has_value = true, .value = value, .slot = slot};
    uint8_t buf[CURSOR_SIZE];
    cursor_encode(&c, fp, buf);
    return query_set_cursor(q, buf, sizeof(buf));
}

int shape_query_build(const index_t *ix, const shape_args_t *a, shape_query_t *out,
                      bdx_error_t *err)
{
    memset(out, 0, sizeof(*out));
    shape_kind_t kind = a->kind == SHAPE_QC ? a->count_of : a->kind;
    query_t *q = query_new(index_schema(ix)->name);
    if (!q)
        return -ENOMEM;
    out->q = q;
    query_node_t *f = build_filter(a, kind);
    if (!f)
        return -ENOMEM;
    query_set_filter(q, f);
    q->limit = SHAPE_LIMIT;
    int rc = 0;
    out->count_only = a->kind == SHAPE_QC;
    if (!out->count_only) {
        switch (shape_sort(a)) {
        case SHAPE_SORT_SORTAT_DESC:
            rc = query_set_sort(q, "sortAt", true);
            break;
        case SHAPE_SORT_REACTIONS_DESC:
            rc = query_set_sort(q, "reactionCount", true);
            break;
        case SHAPE_SORT_ID_ASC:
            out->id_asc = true;
            break;
        case SHAPE_SORT_ID_DESC:
        case SHAPE_SORT_NONE:
            break;
        }
    }
    if (rc == 0 && a->kind == SHAPE_Q4)
        rc = set_cursor(ix, q, a->after_sort_at, a->after_id, err);
    if (rc == 0) { /* fail early on anything the engine would reject */
        query_t tmp;
        query_node_t *filter = NULL;
        rc = prepare_filter(ix, q, &tmp, &filter, err);
        query_node_free(filter);
    }
    return rc;
}

void shape_query_free(shape_query_t *sq)
{
    query_free(sq->q);
    sq->q = NULL;
}

/* Q8: id ascending = the first SHAPE_LIMIT slots of the filter bitmap. */
static int run_id_asc(const index_t *ix, const query_t *q, const search_options_t *opt,
                      bool want_total, shape_answer_t *out, bdx_error_t *err)
{
    query_t tmp;
    query_node_t *filter = NULL;
    planner_result_t res = {0};
    int rc = prepare_filter(ix, q, &tmp, &filter, err);
    if (rc == 0) {
        planner_t p = {
            .ix = ix,
            .prefilter = opt ? opt->prefilter : NULL,
            .prefilter_arg = opt ? opt->prefilter_arg : NULL,
        };
        planner_estimate(&p, filter);
        rc = planner_eval(&p, filter, &res, err);
    }
    if (rc == 0) {
        roaring_uint32_iterator_t it;
        roaring_init_iterator(res.bm, &it);
        out->n = roaring_read_uint32_iterator(&it, out->ids, SHAPE_LIMIT);
        if (want_total) {
            out->has_count = true;
            out->count = roaring_bitmap_get_cardinality(res.bm);
        }
    }
    planner_result_release(&res);
    query_node_free(filter);
    return rc;
}

int shape_query_run(const index_t *ix, shape_query_t *sq, const search_options_t *opt,
                    bool want_total, shape_answer_t *out, bdx_error_t *err)
{
    out->n = 0;
    out->has_count = false;
    out->strategy = SORT_AUTO;
    if (sq->count_only) {
        out->has_count = true;
        return search_count(ix, sq->q, opt, &out->count, err);
    }
    if (sq->id_asc) {
        memset(out->values, 0, sizeof(out->values));
        return run_id_asc(ix, sq->q, opt, want_total, out, err);
    }
    unsigned flags = sq->q->flags;
    if (want_total)
        sq->q->flags |= QUERY_WANT_TOTAL;
    search_result_t *r = NULL;
    int rc = search_run(ix, sq->q, opt, &r, err);
    sq->q->flags = flags;
    if (rc != 0)
        return rc;
    size_t n = r->count < SHAPE_LIMIT ? r->count : SHAPE_LIMIT;
    memcpy(out->ids, r->slots, n * sizeof(uint32_t));
    memcpy(out->values, r->values, n * sizeof(uint64_t));
    out->n = n;
    out->has_count = r->has_total;
    out->count = r->total;
    out->strategy = r->strategy;
    search_result_free(r);
    return 0;
}

/*
 * query_pb: Filter / SearchRequest / CountRequest to query_t, and engine results to
 * SearchResponse / CountResponse / Explain. See query_pb.h.
 *
 * Requests are checked here, with paths, rather than left to query_validate(): the engine's
 * messages name a field but not where in the request tree it sits, and the API promises the
 * path. The checks are a superset of the engine's, so the engine never rejects what passed.
 */
#include "common/query_pb.h"

#include "common/schema_pb.h"

#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void query_pb_limits(const limits_t *l, query_limits_t *out)
{
    out->max_in = l->max_in_values;
    out->max_clauses = l->max_filter_clauses;
    out->max_depth = l->max_filter_depth;
    out->max_page = l->max_page_size;
    out->default_page =
        l->max_page_size < QUERY_PB_DEFAULT_PAGE ? l->max_page_size : QUERY_PB_DEFAULT_PAGE;
}

/* ---- filter translation ---- */

/* Long enough for the deepest allowed tree (64 levels of ".all_of.filters[4095]") */
#define PATH_MAX_LEN 2048

typedef struct xlat {
    const schema_t *schema;
    const limits_t *limits;
    size_t clauses;
    char path[PATH_MAX_LEN];
    size_t plen;
    bdx_error_t *err;
} xlat_t;

/* Appends a printf-formatted piece to the path; returns the previous length for path_pop(). */
static size_t path_push(xlat_t *x, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static size_t path_push(xlat_t *x, const char *fmt, ...)
{
    size_t old = x->plen;
    va_list ap;
    int n;

    va_start(ap, fmt);
    n = vsnprintf(x->path + x->plen, sizeof(x->path) - x->plen, fmt, ap);
    va_end(ap);
    if (n > 0)
        x->plen +=
            (size_t)n < sizeof(x->path) - x->plen ? (size_t)n : sizeof(x->path) - 1 - x->plen;
    return old;
}

static void path_pop(xlat_t *x, size_t len)
{
    x->plen = len;
    x->path[len] = '\0';
}

/* Sets "<path><sfx>: <reason>" and returns code. */
static int fail(xlat_t *x, int code, const char *sfx, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static int fail(xlat_t *x, int code, const char *sfx, const char *fmt, ...)
{
    char reason[BDX_ERROR_MSG_MAX];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(reason, sizeof(reason), fmt, ap);
    va_end(ap);
    return bdx_error_set(x->err, code, "%s%s: %s", x->path, sfx, reason);
}

/* What a name in a filter refers to. */
typedef struct field_ref {
    query_field_kind_t kind;
    int index;
    const char *name;
} field_ref_t;

/* Resolves the field named at path + sfx (".eq.field"). */
static int resolve_field(xlat_t *x, const char *sfx, const char *name, field_ref_t *out)
{
    out->name = name;
    if (name == NULL || name[0] == '\0')
        return fail(x, BDX_EINVAL, sfx, "required");
    if (strcmp(name, QUERY_FIELD_ID) == 0) {
        out->kind = QUERY_FIELD_SLOT;
        out->index = -1;
        return 0;
    }
    if ((out->index = schema_sort_find(x->schema, name)) >= 0) {
        out->kind = QUERY_FIELD_SORT;
        return 0;
    }
    if ((out->index = schema_filter_find(x->schema, name)) >= 0) {
        out->kind = QUERY_FIELD_FILTER;
        return 0;
    }
    if (schema_stored_find(x->schema, name) >= 0)
        return fail(x, BDX_EINVAL, sfx,
                    "\"%s\" is a stored field: stored fields cannot be filtered", name);
    return fail(x, BDX_EINVAL, sfx, "unknown field \"%s\"", name);
}

/* True when range clauses are allowed on the field. */
static bool rangeable(const xlat_t *x, const field_ref_t *f)
{
    return f->kind != QUERY_FIELD_FILTER || x->schema->filter_fields[f->index].type == SCHEMA_INT;
}

/* Checks one comparison value at path + sfx and converts it (strings stay borrowed). */
static int convert_value(xlat_t *x, const char *sfx, const field_ref_t *f,
                         const Bitdex__V1__Value *v, query_value_t *out)
{
    if (v == NULL)
        return fail(x, BDX_EINVAL, sfx, "required");
    if (v->kind_case == BITDEX__V1__VALUE__KIND__NOT_SET)
        return fail(x, BDX_EINVAL, sfx, "no value set (field \"%s\")", f->name);
    if (v->kind_case == BITDEX__V1__VALUE__KIND_NULL_VALUE)
        return fail(x, BDX_EINVAL, sfx,
                    "null is not a comparison value (field \"%s\"): use is_null / is_not_null",
                    f->name);
    if (f->kind != QUERY_FIELD_FILTER) {
        bool id = f->kind == QUERY_FIELD_SLOT;
        unsigned bits = id ? 32 : x->schema->sort_fields[f->index].bits;

        if (v->kind_case != BITDEX__V1__VALUE__KIND_INT_VALUE)
            return fail(x, BDX_EINVAL, sfx, "field \"%s\" is %s and takes int_value, got %s",
                        f->name, id ? "the document id" : "a sort field",
                        schema_pb_value_kind_name(v->kind_case));
        if (v->int_value < 0)
            return fail(x, BDX_EINVAL, sfx, "%lld is negative (field \"%s\" is unsigned)",
                        (long long)v->int_value, f->name);
        if ((unsigned long long)v->int_value > schema_bits_max(bits))
            return fail(x, BDX_EINVAL, sfx, "%lld does not fit field \"%s\" (%u bits, max %llu)",
                        (long long)v->int_value, f->name, bits, schema_bits_max(bits));
        *out = query_int(v->int_value);
        return 0;
    }
    const schema_filter_field_t *ff = &x->schema->filter_fields[f->index];
    Bitdex__V1__Value__KindCase want = ff->type == SCHEMA_INT ? BITDEX__V1__VALUE__KIND_INT_VALUE
                                       : ff->type == SCHEMA_BOOL
                                           ? BITDEX__V1__VALUE__KIND_BOOL_VALUE
                                           : BITDEX__V1__VALUE__KIND_STRING_VALUE;
    if (v->kind_case != want)
        return fail(x, BDX_EINVAL, sfx, "field \"%s\" is %s, got %s", f->name,
                    schema_type_name(ff->type), schema_pb_value_kind_name(v->kind_case));
    switch (want) {
    case BITDEX__V1__VALUE__KIND_INT_VALUE:
        *out = query_int(v->int_value);
        break;
    case BITDEX__V1__VALUE__KIND_BOOL_VALUE:
        *out = query_bool(v->bool_value);
        break;
    default: {
        size_t len = strlen(v->string_value);
        if (len > x->limits->max_string_bytes)
            return fail(x, BDX_EINVAL, sfx, "string of %zu bytes exceeds max_string_bytes %u", len,
                        x->limits->max_string_bytes);
        *out = query_strn(v->string_value, len);
        break;
    }
    }
    return 0;
}

/* Eq, NotEq, Gt, Gte, Lt, Lte at path + "." + name. */
static int comparison(xlat_t *x, const char *name, query_op_t op,
                      const Bitdex__V1__FieldComparison *c, query_node_t **out)
{
    char sfx[48];
    field_ref_t f = {0};
    query_value_t v;
    int rc;

    if (c == NULL)
        return fail(x, BDX_EINVAL, "", "%s: clause required", name);
    snprintf(sfx, sizeof(sfx), ".%s.field", name);
    if ((rc = resolve_field(x, sfx, c->field, &f)) != 0)
        return rc;
    if (op != QUERY_EQ && op != QUERY_NOT_EQ && !rangeable(x, &f)) {
        snprintf(sfx, sizeof(sfx), ".%s", name);
        return fail(x, BDX_EINVAL, sfx,
                    "field \"%s\" is %s: ranges need an INT filter field, a sort field or id",
                    f.name, schema_type_name(x->schema->filter_fields[f.index].type));
    }
    snprintf(sfx, sizeof(sfx), ".%s.value", name);
    if ((rc = convert_value(x, sfx, &f, c->value, &v)) != 0)
        return rc;
    *out = query_cmp(op, c->field, v);
    return *out ? 0 : -ENOMEM;
}

/* In, NotIn at path + "." + name. */
static int set_clause(xlat_t *x, const char *name, query_op_t op, const Bitdex__V1__FieldSet *s,
                      query_node_t **out)
{
    char sfx[48];
    field_ref_t f = {0};
    query_value_t *vals = NULL;
    int rc;

    if (s == NULL)
        return fail(x, BDX_EINVAL, "", "%s: clause required", name);
    snprintf(sfx, sizeof(sfx), ".%s.field", name);
    if ((rc = resolve_field(x, sfx, s->field, &f)) != 0)
        return rc;
    if (s->n_values > x->limits->max_in_values) {
        snprintf(sfx, sizeof(sfx), ".%s.values", name);
        return fail(x, BDX_ELIMIT, sfx, "%zu values exceed max_in_values %u", s->n_values,
                    x->limits->max_in_values);
    }
    if (s->n_values > 0 && (vals = calloc(s->n_values, sizeof(*vals))) == NULL)
        return -ENOMEM;
    for (size_t i = 0; i < s->n_values; i++) {
        snprintf(sfx, sizeof(sfx), ".%s.values[%zu]", name, i);
        if ((rc = convert_value(x, sfx, &f, s->values[i], &vals[i])) != 0) {
            free(vals);
            return rc;
        }
    }
    *out = query_in(op, s->field, vals, s->n_values);
    free(vals);
    return *out ? 0 : -ENOMEM;
}

static int between(xlat_t *x, const Bitdex__V1__FieldRange *r, query_node_t **out)
{
    field_ref_t f = {0};
    query_value_t lo, hi;
    int rc;

    if (r == NULL)
        return fail(x, BDX_EINVAL, "", "between: clause required");
    if ((rc = resolve_field(x, ".between.field", r->field, &f)) != 0)
        return rc;
    if (!rangeable(x, &f))
        return fail(x, BDX_EINVAL, ".between",
                    "field \"%s\" is %s: ranges need an INT filter field, a sort field or id",
                    f.name, schema_type_name(x->schema->filter_fields[f.index].type));
    if ((rc = convert_value(x, ".between.lo", &f, r->lo, &lo)) != 0 ||
        (rc = convert_value(x, ".between.hi", &f, r->hi, &hi)) != 0)
        return rc;
    *out = query_between(r->field, lo, hi);
    return *out ? 0 : -ENOMEM;
}

static int null_test(xlat_t *x, const char *name, query_op_t op, const Bitdex__V1__FieldRef *r,
                     query_node_t **out)
{
    char sfx[48];
    field_ref_t f = {0};
    int rc;

    if (r == NULL)
        return fail(x, BDX_EINVAL, "", "%s: clause required", name);
    snprintf(sfx, sizeof(sfx), ".%s.field", name);
    if ((rc = resolve_field(x, sfx, r->field, &f)) != 0)
        return rc;
    *out = query_null(op, r->field);
    return *out ? 0 : -ENOMEM;
}

static int node(xlat_t *x, const Bitdex__V1__Filter *f, unsigned depth, query_node_t **out);

/* all_of / any_of at path + "." + name. */
static int list_clause(xlat_t *x, const char *name, query_op_t op, const Bitdex__V1__FilterList *l,
                       unsigned depth, query_node_t **out)
{
    query_node_t *g;
    int rc = 0;

    if (l == NULL || l->n_filters == 0) {
        char sfx[32];
        snprintf(sfx, sizeof(sfx), ".%s.filters", name);
        return fail(x, BDX_EINVAL, sfx, "at least one sub-filter required");
    }
    if ((g = query_group(op)) == NULL)
        return -ENOMEM;
    for (size_t i = 0; i < l->n_filters && rc == 0; i++) {
        size_t mark = path_push(x, ".%s.filters[%zu]", name, i);
        query_node_t *child = NULL;
        if ((rc = node(x, l->filters[i], depth + 1, &child)) == 0)
            rc = query_add(g, child);
        path_pop(x, mark);
    }
    if (rc != 0) {
        query_node_free(g);
        return rc;
    }
    *out = g;
    return 0;
}

/* One nested Filter at x->path (which names it). */
static int node(xlat_t *x, const Bitdex__V1__Filter *f, unsigned depth, query_node_t **out)
{
    *out = NULL;
    if (depth > x->limits->max_filter_depth)
        return fail(x, BDX_ELIMIT, "", "filter nesting exceeds max_filter_depth %u",
                    x->limits->max_filter_depth);
    if (++x->clauses > x->limits->max_filter_clauses)
        return fail(x, BDX_ELIMIT, "", "filter has more than max_filter_clauses %u clauses",
                    x->limits->max_filter_clauses);
    if (f == NULL)
        return fail(x, BDX_EINVAL, "", "no clause set");
    switch (f->clause_case) {
    case BITDEX__V1__FILTER__CLAUSE_EQ:
        return comparison(x, "eq", QUERY_EQ, f->eq, out);
    case BITDEX__V1__FILTER__CLAUSE_NEQ:
        return comparison(x, "neq", QUERY_NOT_EQ, f->neq, out);
    case BITDEX__V1__FILTER__CLAUSE_GT:
        return comparison(x, "gt", QUERY_GT, f->gt, out);
    case BITDEX__V1__FILTER__CLAUSE_GTE:
        return comparison(x, "gte", QUERY_GTE, f->gte, out);
    case BITDEX__V1__FILTER__CLAUSE_LT:
        return comparison(x, "lt", QUERY_LT, f->lt, out);
    case BITDEX__V1__FILTER__CLAUSE_LTE:
        return comparison(x, "lte", QUERY_LTE, f->lte, out);
    case BITDEX__V1__FILTER__CLAUSE_IS_IN:
        return set_clause(x, "is_in", QUERY_IN, f->is_in, out);
    case BITDEX__V1__FILTER__CLAUSE_NOT_IN:
        return set_clause(x, "not_in", QUERY_NOT_IN, f->not_in, out);
    case BITDEX__V1__FILTER__CLAUSE_BETWEEN:
        return between(x, f->between, out);
    case BITDEX__V1__FILTER__CLAUSE_IS_NULL:
        return null_test(x, "is_null", QUERY_IS_NULL, f->is_null, out);
    case BITDEX__V1__FILTER__CLAUSE_IS_NOT_NULL:
        return null_test(x, "is_not_null", QUERY_IS_NOT_NULL, f->is_not_null, out);
    case BITDEX__V1__FILTER__CLAUSE_ALL_OF:
        return list_clause(x, "all_of", QUERY_AND, f->all_of, depth, out);
    case BITDEX__V1__FILTER__CLAUSE_ANY_OF:
        return list_clause(x, "any_of", QUERY_OR, f->any_of, depth, out);
    case BITDEX__V1__FILTER__CLAUSE_NEGATE: {
        size_t mark = path_push(x, ".negate");
        query_node_t *child = NULL;
        int rc = node(x, f->negate, depth + 1, &child);
        path_pop(x, mark);
        if (rc != 0)
            return rc;
        *out = query_not(child);
        return *out ? 0 : -ENOMEM;
    }
    case BITDEX__V1__FILTER__CLAUSE_PREFILTER:
        if (f->prefilter == NULL || f->prefilter[0] == '\0')
            return fail(x, BDX_EINVAL, ".prefilter", "name required");
        /* TODO: resolve names once the reader follows prefilters (Watch). */
        return fail(x, BDX_EINVAL, ".prefilter",
                    "prefilter \"%s\" is not registered on this reader", f->prefilter);
    default:
        return fail(x, BDX_EINVAL, "", "no clause set");
    }
}

int query_pb_filter(const Bitdex__V1__Filter *f, const char *path, const schema_t *schema,
                    const limits_t *limits, query_node_t **out, bdx_error_t *err)
{
    xlat_t *x;
    int rc;

    *out = NULL;
    if (f == NULL || f->clause_case == BITDEX__V1__FILTER__CLAUSE__NOT_SET)
        return 0;
    /* the path buffer is too large for the stack of a deep recursion's caller */
    if ((x = calloc(1, sizeof(*x))) == NULL)
        return bdx_error_set(err, -ENOMEM, "out of memory");
    x->schema = schema;
    x->limits = limits;
    x->err = err;
    path_push(x, "%s", path);
    rc = node(x, f, 1, out);
    if (rc == -ENOMEM)
        bdx_error_set(err, -ENOMEM, "out of memory");
    if (rc != 0) {
        query_node_free(*out);
        *out = NULL;
    }
    free(x);
    return rc;
}

/* ---- requests ---- */

static const char *kind_of(const schema_t *s, const char *name)
{
    if (schema_filter_find(s, name) >= 0)
        return "a filter field";
    if (schema_sort_find(s, name) >= 0)
        return "a sort field";
    if (schema_stored_find(s, name) >= 0)
        return "a stored field";
    return NULL;
}

static int translate_sort(const Bitdex__V1__Sort *sort, const schema_t *schema, query_t *q,
                          bdx_error_t *err)
{
    const char *kind;
    bool desc;

    if (sort == NULL)
        return 0;
    switch (sort->direction) {
    case BITDEX__V1__SORT_DIRECTION__SORT_DIRECTION_UNSPECIFIED:
    case BITDEX__V1__SORT_DIRECTION__SORT_DIRECTION_DESC:
        desc = true;
        break;
    case BITDEX__V1__SORT_DIRECTION__SORT_DIRECTION_ASC:
        desc = false;
        break;
    default:
        return bdx_error_set(err, BDX_EINVAL, "sort.direction: unknown direction %d",
                             (int)sort->direction);
    }
    if (sort->field == NULL || sort->field[0] == '\0')
        return bdx_error_set(err, BDX_EINVAL, "sort.field: required");
    if (strcmp(sort->field, QUERY_FIELD_ID) != 0 && schema_sort_find(schema, sort->field) < 0) {
        if ((kind = kind_of(schema, sort->field)) != NULL)
            return bdx_error_set(err, BDX_EINVAL, "sort.field: \"%s\" is %s, not a sort field",
                                 sort->field, kind);
        return bdx_error_set(err, BDX_EINVAL, "sort.field: unknown sort field \"%s\"", sort->field);
    }
    return query_set_sort(q, sort->field, desc);
}

/* SearchRequest.fields: stored fields, no duplicates. */
static int stored_fields(const schema_t *schema, char *const *names, size_t n, size_t **out,
                         size_t *nout, bdx_error_t *err)
{
    size_t *idx;

    *out = NULL;
    *nout = 0;
    if (n == 0)
        return 0;
    if ((idx = calloc(n, sizeof(*idx))) == NULL)
        return bdx_error_set(err, -ENOMEM, "out of memory");
    for (size_t i = 0; i < n; i++) {
        const char *kind;
        int k = schema_stored_find(schema, names[i]), rc = 0;

        if (names[i][0] == '\0')
            rc = bdx_error_set(err, BDX_EINVAL, "fields[%zu]: empty field name", i);
        else if (k < 0 && (kind = kind_of(schema, names[i])) != NULL)
            rc = bdx_error_set(err, BDX_EINVAL,
                               "fields[%zu]: \"%s\" is %s; only stored fields can be requested", i,
                               names[i], kind);
        else if (k < 0)
            rc = bdx_error_set(err, BDX_EINVAL, "fields[%zu]: unknown stored field \"%s\"", i,
                               names[i]);
        idx[i] = (size_t)k;
        for (size_t j = 0; rc == 0 && j < i; j++)
            if (idx[j] == idx[i])
                rc = bdx_error_set(err, BDX_EINVAL, "fields[%zu]: \"%s\" repeats fields[%zu]", i,
                                   names[i], j);
        if (rc != 0) {
            free(idx);
            return rc;
        }
    }
    *out = idx;
    *nout = n;
    return 0;
}

int query_pb_search(const Bitdex__V1__SearchRequest *req, const schema_t *schema,
                    const limits_t *limits, query_t **out, size_t **fields, size_t *nfields,
                    bdx_error_t *err)
{
    query_node_t *filter = NULL;
    query_t *q;
    int rc;

    *out = NULL;
    *fields = NULL;
    *nfields = 0;
    if (req->limit > limits->max_page_size)
        return bdx_error_set(err, BDX_ELIMIT, "limit: %u exceeds max_page_size %u", req->limit,
                             limits->max_page_size);
    if ((rc = query_pb_filter(req->filter, "filter", schema, limits, &filter, err)) != 0)
        return rc;
    if ((q = query_new(schema->name)) == NULL) {
        query_node_free(filter);
        return bdx_error_set(err, -ENOMEM, "out of memory");
    }
    query_set_filter(q, filter);
    q->limit = req->limit == 0 ? QUERY_LIMIT_DEFAULT : (int64_t)req->limit;
    q->flags =
        (req->include_total ? QUERY_WANT_TOTAL : 0) | (req->explain ? QUERY_WANT_EXPLAIN : 0);
    if ((rc = translate_sort(req->sort, schema, q, err)) == 0 &&
        (rc = query_set_cursor(q, req->cursor.data, req->cursor.len)) == 0)
        rc = stored_fields(schema, req->fields, req->n_fields, fields, nfields, err);
    if (rc == -ENOMEM)
        bdx_error_set(err, rc, "out of memory");
    if (rc != 0) {
        query_free(q);
        return rc;
    }
    *out = q;
    return 0;
}

int query_pb_count(const Bitdex__V1__CountRequest *req, const schema_t *schema,
                   const limits_t *limits, query_t **out, bdx_error_t *err)
{
    query_node_t *filter = NULL;
    query_t *q;
    int rc;

    *out = NULL;
    if ((rc = query_pb_filter(req->filter, "filter", schema, limits, &filter, err)) != 0)
        return rc;
    if ((q = query_new(schema->name)) == NULL) {
        query_node_free(filter);
        return bdx_error_set(err, -ENOMEM, "out of memory");
    }
    query_set_filter(q, filter);
    q->flags = req->explain ? QUERY_WANT_EXPLAIN : 0;
    *out = q;
    return 0;
}

void query_pb_engine_error(bdx_error_t *err)
{
    char msg[BDX_ERROR_MSG_MAX];

    if (err == NULL || err->code != BDX_ECURSOR || strncmp(err->msg, "cursor: ", 8) == 0)
        return;
    snprintf(msg, sizeof(msg), "%s", bdx_error_message(err));
    bdx_error_set(err, BDX_ECURSOR, "cursor: %s", msg);
}

/* ---- responses ---- */

Bitdex__V1__SortStrategy query_pb_strategy(sort_strategy_t s)
{
    switch (s) {
    case SORT_SLOT:
        return BITDEX__V1__SORT_STRATEGY__SORT_STRATEGY_SLOT_ORDER;
    case SORT_MATERIALIZE:
        return BITDEX__V1__SORT_STRATEGY__SORT_STRATEGY_MATERIALIZE;
    case SORT_BSI:
        return BITDEX__V1__SORT_STRATEGY__SORT_STRATEGY_BSI_TOP_K;
    case SORT_WALK:
        return BITDEX__V1__SORT_STRATEGY__SORT_STRATEGY_SORTED_WALK;
    default:
        return BITDEX__V1__SORT_STRATEGY__SORT_STRATEGY_UNSPECIFIED;
    }
}

/* The plan as indented lines. Caller frees. NULL when out of memory. */
static char *plan_text(const explain_t *e)
{
    size_t len = 1;
    char *s, *p;

    if (e->nclauses == 0)
        return strdup(e->canonical ? e->canonical : "all");
    for (size_t i = 0; i < e->nclauses; i++)
        len += 2 * e->clauses[i].depth + strlen(e->clauses[i].text) + 1;
    if ((s = malloc(len)) == NULL)
        return NULL;
    p = s;
    for (size_t i = 0; i < e->nclauses; i++) {
        const explain_clause_t *c = &e->clauses[i];
        size_t n = strlen(c->text);
        memset(p, ' ', 2 * c->depth);
        p += 2 * c->depth;
        memcpy(p, c->text, n);
        p += n;
        *p++ = i + 1 < e->nclauses ? '\n' : '\0';
    }
    return s;
}

int query_pb_explain(const explain_t *e, Bitdex__V1__Explain **out)
{
    Bitdex__V1__Explain *x = malloc(sizeof(*x));

    *out = NULL;
    if (x == NULL)
        return -ENOMEM;
    bitdex__v1__explain__init(x);
    x->estimated_matches = e->filter_estimate;
    x->strategy = query_pb_strategy(e->strategy);
    x->sort_time_ns = e->sort_ns;
    x->total_time_ns = e->total_ns;
    if ((x->plan = plan_text(e)) == NULL || (x->strategy_reason = strdup(e->reason)) == NULL)
        goto oom;
    if (e->nclauses > 0 && (x->steps = calloc(e->nclauses, sizeof(*x->steps))) == NULL)
        goto oom;
    for (size_t i = 0; i < e->nclauses; i++) {
        const explain_clause_t *c = &e->clauses[i];
        Bitdex__V1__ExplainStep *st = malloc(sizeof(*st));
        const char *detail = !c->evaluated ? "skipped: result already empty"
                             : c->applied  ? "applied to the running set"
                                           : "";
        if (st == NULL)
            goto oom;
        bitdex__v1__explain_step__init(st);
        x->steps[x->n_steps++] = st;
        st->estimated_cardinality = c->estimate;
        st->actual_cardinality = c->actual;
        st->time_ns = c->ns;
        if ((st->clause = strdup(c->text)) == NULL ||
            (detail[0] != '\0' && (st->detail = strdup(detail)) == NULL))
            goto oom;
    }
    *out = x;
    return 0;
oom:
    protobuf_c_message_free_unpacked(&x->base, NULL);
    return -ENOMEM;
}

/* Hit.fields of slot `h->id`: the requested stored fields its blob holds. 0, -ENOMEM or
 * BDX_ECORRUPT (message set, naming the id). */
static int hit_fields(const index_t *ix, const size_t *fields, size_t nfields, Bitdex__V1__Hit *h,
                      bdx_error_t *err)
{
    size_t len;
    const uint8_t *blob = index_stored(ix, h->id, &len);
    bdx_error_t e = {0};
    int rc;

    if (blob == NULL)
        return 0;
    rc =
        docstore_decode(index_schema(ix), blob, len, fields, nfields, &h->fields, &h->n_fields, &e);
    if (rc == -ENOMEM || rc == 0)
        return rc;
    /* the request's indexes were checked, so any other error is the blob's */
    return bdx_error_set(err, BDX_ECORRUPT, "id %u: %s", h->id, bdx_error_message(&e));
}

int query_pb_search_response(const index_t *ix, const query_t *q, const search_result_t *r,
                             const size_t *fields, size_t nfields, uint64_t lsn,
                             Bitdex__V1__SearchResponse **out, bdx_error_t *err)
{
    Bitdex__V1__SearchResponse *resp = malloc(sizeof(*resp));
    bool by_value = q->sort_field != NULL && strcmp(q->sort_field, QUERY_FIELD_ID) != 0;
    int rc = -ENOMEM;

    *out = NULL;
    if (resp == NULL)
        goto fail;
    bitdex__v1__search_response__init(resp);
    resp->snapshot_lsn = lsn;
    if (r->count > 0 && (resp->hits = calloc(r->count, sizeof(*resp->hits))) == NULL)
        goto fail;
    for (size_t i = 0; i < r->count; i++) {
        Bitdex__V1__Hit *h = malloc(sizeof(*h));
        if (h == NULL)
            goto fail;
        bitdex__v1__hit__init(h);
        resp->hits[resp->n_hits++] = h;
        h->id = r->slots[i];
        h->sort_value = by_value ? r->values[i] : r->slots[i];
        if (nfields > 0 && (rc = hit_fields(ix, fields, nfields, h, err)) != 0)
            goto fail;
        rc = -ENOMEM;
    }
    if (r->cursor_len > 0) {
        if ((resp->next_cursor.data = malloc(r->cursor_len)) == NULL)
            goto fail;
        memcpy(resp->next_cursor.data, r->cursor, r->cursor_len);
        resp->next_cursor.len = r->cursor_len;
    }
    if (r->has_total) {
        if ((resp->total = malloc(sizeof(*resp->total))) == NULL)
            goto fail;
        bitdex__v1__total_count__init(resp->total);
        resp->total->value = r->total;
    }
    if (r->explain != NULL && query_pb_explain(r->explain, &resp->explain) != 0)
        goto fail;
    *out = resp;
    return 0;
fail:
    if (rc == -ENOMEM)
        bdx_error_set(err, rc, "out of memory");
    if (resp != NULL)
        protobuf_c_message_free_unpacked(&resp->base, NULL);
    return rc;
}

int query_pb_count_response(uint64_t count, const explain_t *explain, uint64_t lsn,
                            Bitdex__V1__CountResponse **out)
{
    Bitdex__V1__CountResponse *resp = malloc(sizeof(*resp));

    *out = NULL;
    if (resp == NULL)
        return -ENOMEM;
    bitdex__v1__count_response__init(resp);
    resp->count = count;
    resp->snapshot_lsn = lsn;
    if (explain != NULL && query_pb_explain(explain, &resp->explain) != 0) {
        protobuf_c_message_free_unpacked(&resp->base, NULL);
        return -ENOMEM;
    }
    *out = resp;
    return 0;
}

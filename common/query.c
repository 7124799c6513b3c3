/*
 * query: building, validating and canonicalizing query trees. See query.h for the semantics.
 *
 * Canonical order is the byte order of each child's canonical text. It is computed bottom-up,
 * so sorting a node's children costs one print per child; trees are bounded by the clause limit,
 * so this stays small next to evaluating the query.
 */
#include "common/query.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/schema.h"

/* ---- values ---- */

query_value_t query_int(int64_t v)
{
    return (query_value_t){.kind = QUERY_VALUE_INT, .i = v};
}

query_value_t query_bool(bool v)
{
    return (query_value_t){.kind = QUERY_VALUE_BOOL, .i = v ? 1 : 0};
}

query_value_t query_strn(const char *s, size_t len)
{
    return (query_value_t){.kind = QUERY_VALUE_STRING, .s = s ? s : "", .len = s ? len : 0};
}

query_value_t query_str(const char *s)
{
    return query_strn(s, s ? strlen(s) : 0);
}

static char *dup_bytes(const char *s, size_t len)
{
    char *p = malloc(len + 1);
    if (!p)
        return NULL;
    if (len)
        memcpy(p, s, len);
    p[len] = '\0';
    return p;
}

/* Copies v into *dst, owning a copy of its string. 0 or -ENOMEM. */
static int value_copy(query_value_t *dst, const query_value_t *v)
{
    *dst = *v;
    if (v->kind == QUERY_VALUE_STRING) {
        dst->s = dup_bytes(v->s ? v->s : "", v->s ? v->len : 0);
        if (!dst->s)
            return -ENOMEM;
    } else {
        dst->s = NULL;
        dst->len = 0;
    }
    return 0;
}

static void value_release(query_value_t *v)
{
    if (v->kind == QUERY_VALUE_STRING)
        free((char *)v->s);
    v->s = NULL;
}

/* Total order on values: kind, then int or bytes. */
static int value_cmp(const query_value_t *a, const query_value_t *b)
{
    if (a->kind != b->kind)
        return a->kind < b->kind ? -1 : 1;
    if (a->kind != QUERY_VALUE_STRING)
        return a->i < b->i ? -1 : a->i > b->i;
    size_t n = a->len < b->len ? a->len : b->len;
    int c = n ? memcmp(a->s, b->s, n) : 0;
    if (c)
        return c < 0 ? -1 : 1;
    return a->len < b->len ? -1 : a->len > b->len;
}

static int value_cmp_qsort(const void *a, const void *b)
{
    return value_cmp(a, b);
}

/* ---- nodes ---- */

static query_node_t *node_new(query_op_t op, const char *field)
{
    query_node_t *n = calloc(1, sizeof(*n));
    if (!n)
        return NULL;
    n->op = op;
    n->field_index = -1;
    if (field) {
        n->field = dup_bytes(field, strlen(field));
        if (!n->field) {
            free(n);
            return NULL;
        }
    }
    return n;
}

static query_node_t *leaf_new(query_op_t op, const char *field, const query_value_t *values,
                              size_t n)
{
    query_node_t *node = node_new(op, field ? field : "");
    if (!node)
        return NULL;
    if (n) {
        node->values = calloc(n, sizeof(*node->values));
        if (!node->values)
            goto fail;
        for (size_t i = 0; i < n; i++) {
            if (value_copy(&node->values[i], &values[i]) < 0)
                goto fail;
            node->nvalues = i + 1;
        }
    }
    return node;
fail:
    query_node_free(node);
    return NULL;
}

query_node_t *query_cmp(query_op_t op, const char *field, query_value_t v)
{
    return leaf_new(op, field, &v, 1);
}

query_node_t *query_eq(const char *field, query_value_t v)
{
    return leaf_new(QUERY_EQ, field, &v, 1);
}

query_node_t *query_between(const char *field, query_value_t lo, query_value_t hi)
{
    query_value_t v[2] = {lo, hi};
    return leaf_new(QUERY_BETWEEN, field, v, 2);
}

query_node_t *query_in(query_op_t op, const char *field, const query_value_t *values, size_t n)
{
    return leaf_new(op, field, values, n);
}

query_node_t *query_null(query_op_t op, const char *field)
{
    return leaf_new(op, field, NULL, 0);
}

query_node_t *query_prefilter(const char *name)
{
    return leaf_new(QUERY_PREFILTER, name, NULL, 0);
}

static bool is_composite(query_op_t op)
{
    return op == QUERY_AND || op == QUERY_OR || op == QUERY_NOT;
}

int query_add(query_node_t *parent, query_node_t *child)
{
    if (!child || !parent || !is_composite(parent->op)) {
        query_node_free(child);
        return child ? BDX_EINVAL : -ENOMEM;
    }
    if (parent->nchildren == parent->cap) {
        size_t cap = parent->cap ? parent->cap * 2 : 4;
        query_node_t **c = realloc(parent->children, cap * sizeof(*c));
        if (!c) {
            query_node_free(child);
            return -ENOMEM;
        }
        parent->children = c;
        parent->cap = cap;
    }
    parent->children[parent->nchildren++] = child;
    return 0;
}

query_node_t *query_not(query_node_t *child)
{
    if (!child)
        return NULL;
    query_node_t *n = node_new(QUERY_NOT, NULL);
    if (!n) {
        query_node_free(child);
        return NULL;
    }
    if (query_add(n, child) < 0) {
        query_node_free(n);
        return NULL;
    }
    return n;
}

query_node_t *query_group(query_op_t op)
{
    if (op != QUERY_AND && op != QUERY_OR)
        return NULL;
    return node_new(op, NULL);
}

static query_node_t *group_va(query_op_t op, size_t n, va_list ap)
{
    query_node_t *g = node_new(op, NULL);
    bool ok = g != NULL;
    for (size_t i = 0; i < n; i++) {
        query_node_t *c = va_arg(ap, query_node_t *);
        if (!ok) {
            query_node_free(c);
            continue;
        }
        if (query_add(g, c) < 0)
            ok = false;
    }
    if (!ok) {
        query_node_free(g);
        return NULL;
    }
    return g;
}

query_node_t *query_and(size_t n, ...)
{
    va_list ap;
    va_start(ap, n);
    query_node_t *g = group_va(QUERY_AND, n, ap);
    va_end(ap);
    return g;
}

query_node_t *query_or(size_t n, ...)
{
    va_list ap;
    va_start(ap, n);
    query_node_t *g = group_va(QUERY_OR, n, ap);
    va_end(ap);
    return g;
}

void query_node_free(query_node_t *n)
{
    if (!n)
        return;
    for (size_t i = 0; i < n->nchildren; i++)
        query_node_free(n->children[i]);
    for (size_t i = 0; i < n->nvalues; i++)
        value_release(&n->values[i]);
    free(n->children);
    free(n->values);
    free(n->field);
    free(n);
}

query_node_t *query_node_clone(const query_node_t *n)
{
    if (!n)
        return NULL;
    query_node_t *c = leaf_new(n->op, n->field, n->values, n->nvalues);
    if (!c)
        return NULL;
    if (!n->field) {
        free(c->field);
        c->field = NULL;
    }
    c->field_kind = n->field_kind;
    c->field_index = n->field_index;
    for (size_t i = 0; i < n->nchildren; i++) {
        if (query_add(c, query_node_clone(n->children[i])) < 0) {
            query_node_free(c);
            return NULL;
        }
    }
    return c;
}

size_t query_node_count(const query_node_t *n)
{
    if (!n)
        return 0;
    size_t count = 1;
    for (size_t i = 0; i < n->nchildren; i++)
        count += query_node_count(n->children[i]);
    return count;
}

/* ---- the query ---- */

query_t *query_new(const char *index)
{
    query_t *q = calloc(1, sizeof(*q));
    if (!q)
        return NULL;
    q->limit = QUERY_LIMIT_DEFAULT;
    if (index) {
        q->index = dup_bytes(index, strlen(index));
        if (!q->index) {
            free(q);
            return NULL;
        }
    }
    return q;
}

void query_free(query_t *q)
{
    if (!q)
        return;
    query_node_free(q->filter);
    free(q->index);
    free(q->sort_field);
    free(q->cursor);
    free(q);
}

void query_set_filter(query_t *q, query_node_t *filter)
{
    query_node_free(q->filter);
    q->filter = filter;
}

int query_set_sort(query_t *q, const char *field, bool desc)
{
    char *f = NULL;
    if (field) {
        f = dup_bytes(field, strlen(field));
        if (!f)
            return -ENOMEM;
    }
    free(q->sort_field);
    q->sort_field = f;
    q->sort_desc = desc;
    return 0;
}

int query_set_cursor(query_t *q, const uint8_t *cursor, size_t len)
{
    uint8_t *c = NULL;
    if (cursor && len) {
        c = malloc(len);
        if (!c)
            return -ENOMEM;
        memcpy(c, cursor, len);
    }
    free(q->cursor);
    q->cursor = c;
    q->cursor_len = c ? len : 0;
    return 0;
}

void query_limits_default(query_limits_t *lim)
{
    lim->max_in = 10000;
    lim->max_clauses = 1024;
    lim->max_depth = 32;
    lim->max_page = 1000;
    lim->default_page = 50;
}

bool query_node_bounds(const query_node_t *n, uint64_t max, uint64_t *lo, uint64_t *hi)
{
    uint64_t a = (uint64_t)n->values[0].i;

    *lo = 0;
    *hi = max;
    switch (n->op) {
    case QUERY_EQ:
        *lo = *hi = a;
        break;
    case QUERY_GT:
        if (a >= max)
            return false;
        *lo = a + 1;
        break;
    case QUERY_GTE:
        *lo = a;
        break;
    case QUERY_LT:
        if (a == 0)
            return false;
        *hi = a - 1;
        break;
    case QUERY_LTE:
        *hi = a;
        break;
    default: /* QUERY_BETWEEN */
        *lo = a;
        *hi = (uint64_t)n->values[1].i;
        break;
    }
    if (*hi > max)
        *hi = max;
    return *lo <= *hi;
}

const char *query_op_name(query_op_t op)
{
    switch (op) {
    case QUERY_EQ:
        return "eq";
    case QUERY_NOT_EQ:
        return "not_eq";
    case QUERY_IN:
        return "in";
    case QUERY_NOT_IN:
        return "not_in";
    case QUERY_GT:
        return "gt";
    case QUERY_GTE:
        return "gte";
    case QUERY_LT:
        return "lt";
    case QUERY_LTE:
        return "lte";
    case QUERY_BETWEEN:
        return "between";
    case QUERY_IS_NULL:
        return "is_null";
    case QUERY_IS_NOT_NULL:
        return "is_not_null";
    case QUERY_AND:
        return "and";
    case QUERY_OR:
        return "or";
    case QUERY_NOT:
        return "not";
    case QUERY_PREFILTER:
        return "prefilter";
    }
    return "?";
}

/* ---- validation ---- */

static const char *kind_name(query_value_kind_t k)
{
    switch (k) {
    case QUERY_VALUE_INT:
        return "int";
    case QUERY_VALUE_BOOL:
        return "bool";
    case QUERY_VALUE_STRING:
        return "string";
    }
    return "unknown";
}

typedef struct validator {
    const schema_t *schema;
    const query_limits_t *lim;
    size_t clauses;
    bdx_error_t *err;
} validator_t;

static bool op_is_range(query_op_t op)
{
    return op == QUERY_GT || op == QUERY_GTE || op == QUERY_LT || op == QUERY_LTE ||
           op == QUERY_BETWEEN;
}

/* Number of values a leaf op takes; -1 = a list. */
static int op_arity(query_op_t op)
{
    switch (op) {
    case QUERY_IN:
    case QUERY_NOT_IN:
        return -1;
    case QUERY_BETWEEN:
        return 2;
    case QUERY_IS_NULL:
    case QUERY_IS_NOT_NULL:
        return 0;
    default:
        return 1;
    }
}

static int check_unsigned(validator_t *v, const query_node_t *n, const query_value_t *val,
                          unsigned bits, const char *what)
{
    if (val->kind != QUERY_VALUE_INT)
        return bdx_error_set(v->err, BDX_EINVAL, "field %s: %s expects int values, got %s",
                             n->field, what, kind_name(val->kind));
    if (val->i < 0)
        return bdx_error_set(v->err, BDX_EINVAL, "field %s: value %lld is negative (%s)", n->field,
                             (long long)val->i, what);
    if (bits < 64 && (uint64_t)val->i > ((UINT64_C(1) << bits) - 1))
        return bdx_error_set(v->err, BDX_EINVAL,
                             "field %s: value %lld does not fit in %u bits (%s)", n->field,
                             (long long)val->i, bits, what);
    return 0;
}

static int validate_leaf(validator_t *v, query_node_t *n)
{
    int arity = op_arity(n->op);
    const char *opname = query_op_name(n->op);
    if (!n->field || !n->field[0])
        return bdx_error_set(v->err, BDX_EINVAL, "%s: missing field name", opname);
    if (arity >= 0 && n->nvalues != (size_t)arity)
        return bdx_error_set(v->err, BDX_EINVAL, "field %s: %s takes %d value%s, got %zu", n->field,
                             opname, arity, arity == 1 ? "" : "s", n->nvalues);
    if (arity < 0 && n->nvalues > v->lim->max_in)
        return bdx_error_set(v->err, BDX_ELIMIT, "field %s: %s list has %zu values, limit is %u",
                             n->field, opname, n->nvalues, v->lim->max_in);

    if (strcmp(n->field, QUERY_FIELD_ID) == 0) {
        n->field_kind = QUERY_FIELD_SLOT;
        n->field_index = -1;
        for (size_t i = 0; i < n->nvalues; i++) {
            int rc = check_unsigned(v, n, &n->values[i], 32, "document id");
            if (rc)
                return rc;
        }
        return 0;
    }

    int idx = schema_sort_find(v->schema, n->field);
    if (idx >= 0) {
        n->field_kind = QUERY_FIELD_SORT;
        n->field_index = idx;
        for (size_t i = 0; i < n->nvalues; i++) {
            int rc =
                check_unsigned(v, n, &n->values[i], v->schema->sort_fields[idx].bits, "sort field");
            if (rc)
                return rc;
        }
        return 0;
    }
    idx = schema_filter_find(v->schema, n->field);
    if (idx < 0) {
        if (schema_stored_find(v->schema, n->field) >= 0)
            return bdx_error_set(v->err, BDX_EINVAL,
                                 "field %s: stored-only field cannot be used in a filter",
                                 n->field);
        return bdx_error_set(v->err, BDX_EINVAL, "field %s: unknown field", n->field);
    }

    n->field_kind = QUERY_FIELD_FILTER;
    n->field_index = idx;
    query_value_kind_t want;
    switch (v->schema->filter_fields[idx].type) {
    case SCHEMA_INT:
        want = QUERY_VALUE_INT;
        break;
    case SCHEMA_BOOL:
        want = QUERY_VALUE_BOOL;
        break;
    default:
        want = QUERY_VALUE_STRING;
        break;
    }
    if (op_is_range(n->op) && want != QUERY_VALUE_INT)
        return bdx_error_set(v->err, BDX_EINVAL, "field %s: %s is not supported on a %s field",
                             n->field, opname, kind_name(want));
    for (size_t i = 0; i < n->nvalues; i++) {
        if (n->values[i].kind != want)
            return bdx_error_set(v->err, BDX_EINVAL, "field %s: expected %s value, got %s",
                                 n->field, kind_name(want), kind_name(n->values[i].kind));
    }
    return 0;
}

static int validate_node(validator_t *v, query_node_t *n, uint32_t depth)
{
    if (depth > v->lim->max_depth)
        return bdx_error_set(v->err, BDX_ELIMIT, "filter nesting is deeper than the limit of %u",
                             v->lim->max_depth);
    if (++v->clauses > v->lim->max_clauses)
        return bdx_error_set(v->err, BDX_ELIMIT, "filter has more than %u clauses",
                             v->lim->max_clauses);
    switch (n->op) {
    case QUERY_AND:
    case QUERY_OR:
    case QUERY_NOT:
        if (n->nchildren == 0)
            return bdx_error_set(v->err, BDX_EINVAL, "%s: has no clauses", query_op_name(n->op));
        if (n->op == QUERY_NOT && n->nchildren != 1)
            return bdx_error_set(v->err, BDX_EINVAL, "not: takes one clause, got %zu",
                                 n->nchildren);
        for (size_t i = 0; i < n->nchildren; i++) {
            if (!n->children[i])
                return bdx_error_set(v->err, BDX_EINVAL, "%s: missing clause",
                                     query_op_name(n->op));
            int rc = validate_node(v, n->children[i], depth + 1);
            if (rc)
                return rc;
        }
        return 0;
    case QUERY_PREFILTER:
        if (!n->field || !n->field[0])
            return bdx_error_set(v->err, BDX_EINVAL, "prefilter: missing name");
        return 0;
    case QUERY_EQ:
    case QUERY_NOT_EQ:
    case QUERY_IN:
    case QUERY_NOT_IN:
    case QUERY_GT:
    case QUERY_GTE:
    case QUERY_LT:
    case QUERY_LTE:
    case QUERY_BETWEEN:
    case QUERY_IS_NULL:
    case QUERY_IS_NOT_NULL:
        if (n->nchildren)
            return bdx_error_set(v->err, BDX_EINVAL, "%s: a leaf clause has no sub-clauses",
                                 query_op_name(n->op));
        return validate_leaf(v, n);
    }
    return bdx_error_set(v->err, BDX_EINVAL, "unknown clause kind %d", (int)n->op);
}

int query_validate(query_t *q, const schema_t *schema, const query_limits_t *lim, uint32_t *limit,
                   bdx_error_t *err)
{
    query_limits_t defaults;
    if (!lim) {
        query_limits_default(&defaults);
        lim = &defaults;
    }
    int64_t page = q->limit == QUERY_LIMIT_DEFAULT ? (int64_t)lim->default_page : q->limit;
    if (page < 1)
        return bdx_error_set(err, BDX_EINVAL, "limit %lld: must be at least 1",
                             (long long)q->limit);
    if (page > (int64_t)lim->max_page)
        return bdx_error_set(err, BDX_ELIMIT, "limit %lld: exceeds the maximum page size %u",
                             (long long)page, lim->max_page);
    if (q->sort_field && strcmp(q->sort_field, QUERY_FIELD_ID) != 0) {
        if (schema_sort_find(schema, q->sort_field) < 0) {
            bool known = schema_filter_find(schema, q->sort_field) >= 0 ||
                         schema_stored_find(schema, q->sort_field) >= 0;
            return bdx_error_set(err, BDX_EINVAL, "sort field %s: %s", q->sort_field,
                                 known ? "not a sort field" : "unknown field");
        }
    }
    if (q->filter) {
        validator_t v = {.schema = schema, .lim = lim, .err = err};
        int rc = validate_node(&v, q->filter, 1);
        if (rc)
            return rc;
    }
    if (limit)
        *limit = (uint32_t)page;
    return 0;
}

/* ---- canonical text ---- */

typedef struct sbuf {
    char *p;
    size_t len, cap;
    bool oom;
} sbuf_t;

static void sb_put(sbuf_t *b, const char *s, size_t n)
{
    if (b->oom)
        return;
    if (b->len + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 64;
        while (cap < b->len + n + 1)
            cap *= 2;
        char *p = realloc(b->p, cap);
        if (!p) {
            b->oom = true;
            return;
        }
        b->p = p;
        b->cap = cap;
    }
    memcpy(b->p + b->len, s, n);
    b->len += n;
    b->p[b->len] = '\0';
}

static void sb_str(sbuf_t *b, const char *s)
{
    sb_put(b, s, strlen(s));
}

static void sb_quoted(sbuf_t *b, const char *s, size_t len)
{
    sb_put(b, "\"", 1);
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c == '"' || c == '\\') {
            char e[2] = {'\\', (char)c};
            sb_put(b, e, 2);
        } else if (c < 0x20 || c >= 0x7f) {
            char e[5];
            snprintf(e, sizeof(e), "\\x%02x", c);
            sb_put(b, e, 4);
        } else {
            sb_put(b, (const char *)&s[i], 1);
        }
    }
    sb_put(b, "\"", 1);
}

static void sb_name(sbuf_t *b, const char *s)
{
    size_t len = s ? strlen(s) : 0;
    bool plain = len > 0;
    for (size_t i = 0; i < len && plain; i++) {
        char c = s[i];
        plain = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                c == '_' || c == '.' || c == '-';
    }
    if (plain && !(s[0] >= '0' && s[0] <= '9') && strcmp(s, "true") && strcmp(s, "false"))
        sb_put(b, s, len);
    else
        sb_quoted(b, s ? s : "", len);
}

/* Decimal text of v, as "%lld" prints it (snprintf costs more than the rest of a fingerprint). */
static void sb_int(sbuf_t *b, int64_t v)
{
    char num[24];
    size_t i = sizeof(num);
    uint64_t u = v < 0 ? 0 - (uint64_t)v : (uint64_t)v;
    do {
        num[--i] = (char)('0' + u % 10);
        u /= 10;
    } while (u);
    if (v < 0)
        num[--i] = '-';
    sb_put(b, num + i, sizeof(num) - i);
}

static void sb_value(sbuf_t *b, const query_value_t *v)
{
    switch (v->kind) {
    case QUERY_VALUE_INT:
        sb_int(b, v->i);
        break;
    case QUERY_VALUE_BOOL:
        sb_str(b, v->i ? "true" : "false");
        break;
    case QUERY_VALUE_STRING:
        sb_quoted(b, v->s ? v->s : "", v->len);
        break;
    }
}

static void sb_node(sbuf_t *b, const query_node_t *n)
{
    sb_str(b, query_op_name(n->op));
    sb_put(b, "(", 1);
    if (n->op == QUERY_AND || n->op == QUERY_OR || n->op == QUERY_NOT) {
        for (size_t i = 0; i < n->nchildren; i++) {
            if (i)
                sb_put(b, ",", 1);
            sb_node(b, n->children[i]);
        }
    } else if (n->op == QUERY_PREFILTER) {
        sb_quoted(b, n->field ? n->field : "", n->field ? strlen(n->field) : 0);
    } else {
        sb_name(b, n->field);
        if (n->op == QUERY_IN || n->op == QUERY_NOT_IN) {
            sb_str(b, ",[");
            for (size_t i = 0; i < n->nvalues; i++) {
                if (i)
                    sb_put(b, ",", 1);
                sb_value(b, &n->values[i]);
            }
            sb_put(b, "]", 1);
        } else {
            for (size_t i = 0; i < n->nvalues; i++) {
                sb_put(b, ",", 1);
                sb_value(b, &n->values[i]);
            }
        }
    }
    sb_put(b, ")", 1);
}

int query_canonical_text(const query_node_t *n, char **out)
{
    sbuf_t b = {0};
    if (n)
        sb_node(&b, n);
    else
        sb_str(&b, "all");
    if (b.oom) {
        free(b.p);
        *out = NULL;
        return -ENOMEM;
    }
    *out = b.p;
    return 0;
}

/* ---- canonicalization ---- */

typedef struct keyed {
    query_node_t *node;
    char *text;
} keyed_t;

static int keyed_cmp(const void *a, const void *b)
{
    const keyed_t *x = a, *y = b;
    return strcmp(x->text, y->text);
}

static void in_normalize(query_node_t *n)
{
    if (n->nvalues > 1) {
        qsort(n->values, n->nvalues, sizeof(*n->values), value_cmp_qsort);
        size_t w = 1;
        for (size_t r = 1; r < n->nvalues; r++) {
            if (value_cmp(&n->values[r], &n->values[w - 1]) == 0)
                value_release(&n->values[r]);
            else
                n->values[w++] = n->values[r];
        }
        n->nvalues = w;
    }
    if (n->nvalues == 1)
        n->op = n->op == QUERY_IN ? QUERY_EQ : QUERY_NOT_EQ;
}

/* Moves the children of same-op children up into n. */
static int flatten(query_node_t *n)
{
    size_t total = 0;
    bool any = false;
    for (size_t i = 0; i < n->nchildren; i++) {
        if (n->children[i]->op == n->op) {
            total += n->children[i]->nchildren;
            any = true;
        } else {
            total++;
        }
    }
    if (!any)
        return 0;
    query_node_t **c = malloc(total * sizeof(*c));
    if (!c)
        return -ENOMEM;
    size_t w = 0;
    for (size_t i = 0; i < n->nchildren; i++) {
        query_node_t *ch = n->children[i];
        if (ch->op == n->op) {
            for (size_t j = 0; j < ch->nchildren; j++)
                c[w++] = ch->children[j];
            ch->nchildren = 0;
            query_node_free(ch);
        } else {
            c[w++] = ch;
        }
    }
    free(n->children);
    n->children = c;
    n->nchildren = n->cap = total;
    return 0;
}

static int sort_dedupe(query_node_t *n)
{
    int rc = 0;
    size_t count = n->nchildren;
    keyed_t *k = calloc(count, sizeof(*k));
    if (!k)
        return -ENOMEM;
    for (size_t i = 0; i < count; i++) {
        k[i].node = n->children[i];
        rc = query_canonical_text(k[i].node, &k[i].text);
        if (rc)
            goto out;
    }
    qsort(k, count, sizeof(*k), keyed_cmp);
    size_t w = 0;
    for (size_t i = 0; i < count; i++) {
        if (w && strcmp(k[i].text, k[w - 1].text) == 0) {
            query_node_free(k[i].node);
            free(k[i].text);
            k[i].text = NULL;
            continue;
        }
        if (w != i) {
            k[w] = k[i];
            k[i].text = NULL;
        }
        w++;
    }
    for (size_t i = 0; i < w; i++)
        n->children[i] = k[i].node;
    n->nchildren = w;
out:
    for (size_t i = 0; i < count; i++)
        free(k[i].text);
    free(k);
    return rc;
}

int query_canonicalize(query_node_t **root)
{
    query_node_t *n = *root;
    int rc = 0;
    if (!n)
        return 0;
    for (size_t i = 0; i < n->nchildren; i++) {
        int r = query_canonicalize(&n->children[i]);
        if (r)
            rc = r;
    }
    switch (n->op) {
    case QUERY_NOT:
        if (n->nchildren == 1 && n->children[0]->op == QUERY_NOT &&
            n->children[0]->nchildren == 1) {
            query_node_t *inner = n->children[0];
            query_node_t *x = inner->children[0];
            inner->nchildren = 0;
            query_node_free(n); /* frees inner too */
            *root = x;
        }
        break;
    case QUERY_AND:
    case QUERY_OR:
        if (flatten(n) < 0 || sort_dedupe(n) < 0) {
            rc = -ENOMEM;
            break;
        }
        if (n->nchildren == 1) {
            query_node_t *only = n->children[0];
            n->nchildren = 0;
            query_node_free(n);
            *root = only;
        }
        break;
    case QUERY_IN:
    case QUERY_NOT_IN:
        in_normalize(n);
        break;
    default:
        break;
    }
    return rc;
}

/* ---- fingerprint ---- */

uint64_t query_hash64(const void *data, size_t len, uint64_t seed)
{
    const unsigned char *p = data;
    uint64_t h = UINT64_C(14695981039346656037) ^ seed;
    for (size_t i = 0; i < len; i++) {
        h ^= p[i];
        h *= UINT64_C(1099511628211);
    }
    /* splitmix64 finalizer: spreads every input bit over the whole word */
    h ^= h >> 30;
    h *= UINT64_C(0xbf58476d1ce4e5b9);
    h ^= h >> 27;
    h *= UINT64_C(0x94d049bb133111eb);
    h ^= h >> 31;
    return h;
}

int query_fingerprint(const query_t *q, const query_node_t *canonical_filter, uint64_t *out)
{
    sbuf_t b = {0};
    sb_str(&b, "index=");
    sb_quoted(&b, q->index ? q->index : "", q->index ? strlen(q->index) : 0);
    sb_str(&b, ";filter=");
    if (canonical_filter)
        sb_node(&b, canonical_filter);
    else
        sb_str(&b, "all");
    sb_str(&b, ";sort=");
    if (q->sort_field) {
        sb_name(&b, q->sort_field);
        sb_str(&b, q->sort_desc ? ":desc" : ":asc");
    } else {
        sb_str(&b, "id:desc");
    }
    if (b.oom) {
        free(b.p);
        return -ENOMEM;
    }
    *out = query_hash64(b.p, b.len, UINT64_C(0x62697464657831)); /* "bitdex1" */
    free(b.p);
    return 0;
}

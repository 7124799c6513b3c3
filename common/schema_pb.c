/*
 * schema_pb: IndexSchema <-> schema_t + limits_t. See schema_pb.h.
 *
 * The checks here duplicate part of schema_validate() on purpose: schema_validate() speaks of
 * fields by name, while API callers need the path of the offending element in their request.
 * schema_validate() still runs last, so the engine never sees a schema it would refuse.
 */
#include "common/schema_pb.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Printable, bounded rendering of a name from a request, for messages. */
static const char *quote(char *buf, size_t len, const char *s)
{
    size_t o = 0;

    if (len < 8)
        return "";
    buf[o++] = '"';
    for (size_t i = 0; s[i] != '\0' && o + 6 < len; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c >= 0x20 && c < 0x7f && c != '"' && c != '\\')
            buf[o++] = (char)c;
        else
            o += (size_t)snprintf(buf + o, len - o, "\\x%02x", c);
    }
    buf[o++] = '"';
    buf[o] = '\0';
    return buf;
}

static bool is_alpha(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

static bool is_digit(char c)
{
    return c >= '0' && c <= '9';
}

int schema_pb_check_index_name(const char *name, const char *path, bdx_error_t *err)
{
    char q[96];
    size_t len;

    if (name == NULL || name[0] == '\0')
        return bdx_error_set(err, BDX_EINVAL, "%s: required", path);
    len = strlen(name);
    for (size_t i = 0; i < len; i++) {
        char c = name[i];
        bool ok = is_alpha(c) || is_digit(c) || (i > 0 && (c == '_' || c == '-'));
        if (!ok || len > SCHEMA_PB_INDEX_NAME_MAX)
            return bdx_error_set(err, BDX_EINVAL,
                                 "%s: invalid name %s (want [A-Za-z0-9][A-Za-z0-9_-]{0,63})", path,
                                 quote(q, sizeof(q), name));
    }
    return 0;
}

/* ---- protobuf -> schema_t ---- */

/* Where a field name is already used, for duplicate messages: "schema.<kind>_fields[i]". */
typedef struct seen_name {
    const char *name;
    const char *kind;
    size_t idx;
} seen_name_t;

typedef struct check {
    bdx_error_t *err;
    seen_name_t *seen;
    size_t nseen;
} check_t;

static int check_field_name(check_t *c, const char *kind, size_t idx, const char *name)
{
    char q[96];
    size_t len;

    if (name == NULL || name[0] == '\0')
        return bdx_error_set(c->err, BDX_EINVAL, "schema.%s_fields[%zu].name: required", kind, idx);
    len = strlen(name);
    for (size_t i = 0; i < len; i++) {
        char ch = name[i];
        if (len > SCHEMA_NAME_MAX || !(is_alpha(ch) || ch == '_' || (i > 0 && is_digit(ch))))
            return bdx_error_set(c->err, BDX_EINVAL,
                                 "schema.%s_fields[%zu].name: invalid name %s "
                                 "(want [A-Za-z_][A-Za-z0-9_]{0,63})",
                                 kind, idx, quote(q, sizeof(q), name));
    }
    if (strcmp(name, SCHEMA_RESERVED_NAME) == 0)
        return bdx_error_set(c->err, BDX_EINVAL,
                             "schema.%s_fields[%zu].name: \"id\" is reserved (the document id)",
                             kind, idx);
    /* At most 256 + 32 + 256 names: a linear scan per name is fine. */
    for (size_t i = 0; i < c->nseen; i++)
        if (strcmp(c->seen[i].name, name) == 0)
            return bdx_error_set(c->err, BDX_EINVAL,
                                 "schema.%s_fields[%zu].name: \"%s\" is already used by "
                                 "schema.%s_fields[%zu]",
                                 kind, idx, name, c->seen[i].kind, c->seen[i].idx);
    c->seen[c->nseen++] = (seen_name_t){name, kind, idx};
    return 0;
}

static int filter_type(const Bitdex__V1__FilterFieldSpec *f, size_t i, schema_field_type_t *out,
                       bdx_error_t *err)
{
    switch (f->type) {
    case BITDEX__V1__FILTER_FIELD_TYPE__FILTER_FIELD_TYPE_INT:
        *out = SCHEMA_INT;
        return 0;
    case BITDEX__V1__FILTER_FIELD_TYPE__FILTER_FIELD_TYPE_BOOL:
        *out = SCHEMA_BOOL;
        return 0;
    case BITDEX__V1__FILTER_FIELD_TYPE__FILTER_FIELD_TYPE_STRING:
        *out = SCHEMA_STRING;
        return 0;
    case BITDEX__V1__FILTER_FIELD_TYPE__FILTER_FIELD_TYPE_UNSPECIFIED:
        return bdx_error_set(err, BDX_EINVAL,
                             "schema.filter_fields[%zu].type: required (field \"%s\")", i, f->name);
    default:
        return bdx_error_set(err, BDX_EINVAL, "schema.filter_fields[%zu].type: unknown value %d", i,
                             (int)f->type);
    }
}

static int stored_type(const Bitdex__V1__StoredFieldSpec *f, size_t i, schema_field_type_t *out,
                       bdx_error_t *err)
{
    switch (f->type) {
    case BITDEX__V1__STORED_FIELD_TYPE__STORED_FIELD_TYPE_INT:
        *out = SCHEMA_INT;
        return 0;
    case BITDEX__V1__STORED_FIELD_TYPE__STORED_FIELD_TYPE_BOOL:
        *out = SCHEMA_BOOL;
        return 0;
    case BITDEX__V1__STORED_FIELD_TYPE__STORED_FIELD_TYPE_STRING:
        *out = SCHEMA_STRING;
        return 0;
    case BITDEX__V1__STORED_FIELD_TYPE__STORED_FIELD_TYPE_BYTES:
    case BITDEX__V1__STORED_FIELD_TYPE__STORED_FIELD_TYPE_DOUBLE:
        return bdx_error_set(err, BDX_EINVAL,
                             "schema.stored_fields[%zu].type: %s is not supported by this build "
                             "(use INT, BOOL or STRING)",
                             i,
                             f->type == BITDEX__V1__STORED_FIELD_TYPE__STORED_FIELD_TYPE_BYTES
                                 ? "STORED_FIELD_TYPE_BYTES"
                                 : "STORED_FIELD_TYPE_DOUBLE");
    case BITDEX__V1__STORED_FIELD_TYPE__STORED_FIELD_TYPE_UNSPECIFIED:
        return bdx_error_set(err, BDX_EINVAL,
                             "schema.stored_fields[%zu].type: required (field \"%s\")", i, f->name);
    default:
        return bdx_error_set(err, BDX_EINVAL, "schema.stored_fields[%zu].type: unknown value %d", i,
                             (int)f->type);
    }
}

static unsigned sort_bits(const Bitdex__V1__SortFieldSpec *f)
{
    return f->bits == 0 ? SCHEMA_PB_DEFAULT_BITS : f->bits;
}

static const Bitdex__V1__SortFieldSpec *find_sort(const Bitdex__V1__IndexSchema *pb,
                                                  const char *name)
{
    for (size_t i = 0; i < pb->n_sort_fields; i++)
        if (pb->sort_fields[i] != NULL && strcmp(pb->sort_fields[i]->name, name) == 0)
            return pb->sort_fields[i];
    return NULL;
}

static bool is_other_field(const Bitdex__V1__IndexSchema *pb, const char *name)
{
    for (size_t i = 0; i < pb->n_filter_fields; i++)
        if (strcmp(pb->filter_fields[i]->name, name) == 0)
            return true;
    for (size_t i = 0; i < pb->n_stored_fields; i++)
        if (strcmp(pb->stored_fields[i]->name, name) == 0)
            return true;
    return false;
}

/* Checks the computed spec of sort field i (names already checked). */
static int check_computed(const Bitdex__V1__IndexSchema *pb, size_t i, schema_computed_t *fn,
                          bdx_error_t *err)
{
    const Bitdex__V1__SortFieldSpec *f = pb->sort_fields[i];
    const Bitdex__V1__ComputedSortSpec *c = f->computed;
    char q[96];

    switch (c->function) {
    case BITDEX__V1__COMPUTE_FUNCTION__COMPUTE_FUNCTION_GREATEST:
        *fn = SCHEMA_COMPUTED_GREATEST;
        break;
    case BITDEX__V1__COMPUTE_FUNCTION__COMPUTE_FUNCTION_LEAST:
        *fn = SCHEMA_COMPUTED_LEAST;
        break;
    case BITDEX__V1__COMPUTE_FUNCTION__COMPUTE_FUNCTION_UNSPECIFIED:
        return bdx_error_set(err, BDX_EINVAL, "schema.sort_fields[%zu].computed.function: required",
                             i);
    default:
        return bdx_error_set(err, BDX_EINVAL,
                             "schema.sort_fields[%zu].computed.function: unknown value %d", i,
                             (int)c->function);
    }
    if (c->n_sources != 2)
        return bdx_error_set(err, BDX_EINVAL,
                             "schema.sort_fields[%zu].computed.sources: need exactly 2, got %zu", i,
                             c->n_sources);
    for (size_t k = 0; k < 2; k++) {
        const char *src = c->sources[k];
        const Bitdex__V1__SortFieldSpec *s;

        if (src == NULL || src[0] == '\0')
            return bdx_error_set(err, BDX_EINVAL,
                                 "schema.sort_fields[%zu].computed.sources[%zu]: required", i, k);
        quote(q, sizeof(q), src);
        if (strcmp(src, f->name) == 0)
            return bdx_error_set(err, BDX_EINVAL,
                                 "schema.sort_fields[%zu].computed.sources[%zu]: %s is the field "
                                 "itself",
                                 i, k, q);
        s = find_sort(pb, src);
        if (s == NULL)
            return bdx_error_set(
                err, BDX_EINVAL, "schema.sort_fields[%zu].computed.sources[%zu]: %s %s", i, k, q,
                is_other_field(pb, src) ? "is not a sort field" : "is not a field of the schema");
        if (s->computed != NULL)
            return bdx_error_set(err, BDX_EINVAL,
                                 "schema.sort_fields[%zu].computed.sources[%zu]: %s is itself "
                                 "computed",
                                 i, k, q);
        if (sort_bits(s) > sort_bits(f))
            return bdx_error_set(err, BDX_EINVAL,
                                 "schema.sort_fields[%zu].computed.sources[%zu]: %s has %u bits, "
                                 "wider than this field's %u",
                                 i, k, q, sort_bits(s), sort_bits(f));
    }
    if (strcmp(c->sources[0], c->sources[1]) == 0)
        return bdx_error_set(err, BDX_EINVAL,
                             "schema.sort_fields[%zu].computed.sources: the two sources must "
                             "differ (both \"%s\")",
                             i, c->sources[0]);
    return 0;
}

static int check_counts(const Bitdex__V1__IndexSchema *pb, bdx_error_t *err)
{
    if (pb->n_filter_fields > SCHEMA_MAX_FILTER_FIELDS)
        return bdx_error_set(err, BDX_EINVAL,
                             "schema.filter_fields: %zu fields exceed the limit %d",
                             pb->n_filter_fields, SCHEMA_MAX_FILTER_FIELDS);
    if (pb->n_sort_fields > SCHEMA_MAX_SORT_FIELDS)
        return bdx_error_set(err, BDX_EINVAL, "schema.sort_fields: %zu fields exceed the limit %d",
                             pb->n_sort_fields, SCHEMA_MAX_SORT_FIELDS);
    if (pb->n_stored_fields > SCHEMA_MAX_STORED_FIELDS)
        return bdx_error_set(err, BDX_EINVAL,
                             "schema.stored_fields: %zu fields exceed the limit %d",
                             pb->n_stored_fields, SCHEMA_MAX_STORED_FIELDS);
    return 0;
}

/* Fills and checks the limits; the message gets its "schema.limits." path here. */
static int convert_limits(const Bitdex__V1__IndexLimits *pl, limits_t *l, bdx_error_t *err)
{
    bdx_error_t e = {0};

    memset(l, 0, sizeof(*l));
    if (pl != NULL) {
        l->max_page_size = pl->max_page_size;
        l->max_filter_clauses = pl->max_filter_clauses;
        l->max_filter_depth = pl->max_filter_depth;
        l->max_in_values = pl->max_in_values;
        l->max_get_documents = pl->max_get_documents;
        l->max_values_per_field = pl->max_values_per_field;
        l->max_string_bytes = pl->max_string_bytes;
        l->max_stored_bytes = pl->max_stored_bytes;
        l->max_batch_ops = pl->max_batch_ops;
        l->max_prefilters = pl->max_prefilters;
    }
    if (limits_resolve(l, &e) != 0)
        return bdx_error_set(err, BDX_EINVAL, "schema.limits.%s", e.msg);
    return 0;
}

int schema_pb_to_schema(const char *index, const Bitdex__V1__IndexSchema *pb, schema_t **out,
                        limits_t *limits, bdx_error_t *err)
{
    check_t c = {.err = err};
    schema_t *s = NULL;
    bdx_error_t e = {0};
    int rc;

    *out = NULL;
    if ((rc = schema_pb_check_index_name(index, "index", err)) != 0)
        return rc;
    if (pb == NULL)
        return bdx_error_set(err, BDX_EINVAL, "schema: required");
    if ((rc = check_counts(pb, err)) != 0)
        return rc;
    c.seen =
        calloc(pb->n_filter_fields + pb->n_sort_fields + pb->n_stored_fields + 1, sizeof(*c.seen));
    if (c.seen == NULL || schema_new(index, &s) != 0) {
        rc = bdx_error_set(err, -ENOMEM, "out of memory");
        goto out;
    }
    /* Names first, across all kinds, so that computed sources can be resolved afterwards. */
    for (size_t i = 0; i < pb->n_filter_fields; i++)
        if ((rc = check_field_name(&c, "filter", i, pb->filter_fields[i]->name)) != 0)
            goto out;
    for (size_t i = 0; i < pb->n_sort_fields; i++)
        if ((rc = check_field_name(&c, "sort", i, pb->sort_fields[i]->name)) != 0)
            goto out;
    for (size_t i = 0; i < pb->n_stored_fields; i++)
        if ((rc = check_field_name(&c, "stored", i, pb->stored_fields[i]->name)) != 0)
            goto out;

    for (size_t i = 0; i < pb->n_filter_fields; i++) {
        const Bitdex__V1__FilterFieldSpec *f = pb->filter_fields[i];
        schema_field_type_t t = SCHEMA_INT;
        if ((rc = filter_type(f, i, &t, err)) != 0)
            goto out;
        if ((rc = schema_add_filter(s, f->name, t, f->multi_valued, f->nullable)) != 0)
            goto nomem;
    }
    for (size_t i = 0; i < pb->n_sort_fields; i++) {
        const Bitdex__V1__SortFieldSpec *f = pb->sort_fields[i];
        schema_computed_t fn = SCHEMA_COMPUTED_NONE;
        if (f->bits > 64) {
            rc =
                bdx_error_set(err, BDX_EINVAL, "schema.sort_fields[%zu].bits: %u > 64", i, f->bits);
            goto out;
        }
        if (f->computed != NULL && (rc = check_computed(pb, i, &fn, err)) != 0)
            goto out;
        rc = fn == SCHEMA_COMPUTED_NONE
                 ? schema_add_sort(s, f->name, sort_bits(f))
                 : schema_add_computed_sort(s, f->name, sort_bits(f), fn, f->computed->sources[0],
                                            f->computed->sources[1]);
        if (rc != 0)
            goto nomem;
    }
    for (size_t i = 0; i < pb->n_stored_fields; i++) {
        const Bitdex__V1__StoredFieldSpec *f = pb->stored_fields[i];
        schema_field_type_t t = SCHEMA_INT;
        if ((rc = stored_type(f, i, &t, err)) != 0)
            goto out;
        if ((rc = schema_add_stored(s, f->name, t)) != 0)
            goto nomem;
    }
    if ((rc = convert_limits(pb->limits, limits, err)) != 0)
        goto out;
    /* The checks above cover schema_validate()'s rules; this is the engine's own gate. */
    if ((rc = schema_validate(s, &e)) != 0) {
        bdx_error_set(err, rc, "schema: %s", bdx_error_message(&e));
        goto out;
    }
    *out = s;
    s = NULL;
    goto out;
nomem:
    rc = bdx_error_set(err, -ENOMEM, "out of memory");
out:
    schema_free(s);
    free(c.seen);
    return rc;
}

/* ---- schema_t -> protobuf ---- */

static Bitdex__V1__FilterFieldType filter_type_pb(schema_field_type_t t)
{
    switch (t) {
    case SCHEMA_INT:
        return BITDEX__V1__FILTER_FIELD_TYPE__FILTER_FIELD_TYPE_INT;
    case SCHEMA_BOOL:
        return BITDEX__V1__FILTER_FIELD_TYPE__FILTER_FIELD_TYPE_BOOL;
    case SCHEMA_STRING:
        return BITDEX__V1__FILTER_FIELD_TYPE__FILTER_FIELD_TYPE_STRING;
    }
    return BITDEX__V1__FILTER_FIELD_TYPE__FILTER_FIELD_TYPE_UNSPECIFIED;
}

static Bitdex__V1__StoredFieldType stored_type_pb(schema_field_type_t t)
{
    switch (t) {
    case SCHEMA_INT:
        return BITDEX__V1__STORED_FIELD_TYPE__STORED_FIELD_TYPE_INT;
    case SCHEMA_BOOL:
        return BITDEX__V1__STORED_FIELD_TYPE__STORED_FIELD_TYPE_BOOL;
    case SCHEMA_STRING:
        return BITDEX__V1__STORED_FIELD_TYPE__STORED_FIELD_TYPE_STRING;
    }
    return BITDEX__V1__STORED_FIELD_TYPE__STORED_FIELD_TYPE_UNSPECIFIED;
}

/* Every part of the message is malloc'ed, strings included, so protobuf-c's
 * free_unpacked() with the default allocator frees it (schema_pb_free). */
int schema_pb_from_schema(const schema_t *s, const limits_t *limits, Bitdex__V1__IndexSchema **out)
{
    Bitdex__V1__IndexSchema *pb = calloc(1, sizeof(*pb));

    *out = NULL;
    if (pb == NULL)
        return -ENOMEM;
    bitdex__v1__index_schema__init(pb);
    pb->filter_fields = calloc(s->filter_count + 1, sizeof(*pb->filter_fields));
    pb->sort_fields = calloc(s->sort_count + 1, sizeof(*pb->sort_fields));
    pb->stored_fields = calloc(s->stored_count + 1, sizeof(*pb->stored_fields));
    pb->limits = calloc(1, sizeof(*pb->limits));
    if (!pb->filter_fields || !pb->sort_fields || !pb->stored_fields || !pb->limits) {
        free(pb->limits);
        pb->limits = NULL;
        goto nomem;
    }
    bitdex__v1__index_limits__init(pb->limits);
    pb->limits->max_page_size = limits->max_page_size;
    pb->limits->max_filter_clauses = limits->max_filter_clauses;
    pb->limits->max_filter_depth = limits->max_filter_depth;
    pb->limits->max_in_values = limits->max_in_values;
    pb->limits->max_get_documents = limits->max_get_documents;
    pb->limits->max_values_per_field = limits->max_values_per_field;
    pb->limits->max_string_bytes = limits->max_string_bytes;
    pb->limits->max_stored_bytes = limits->max_stored_bytes;
    pb->limits->max_batch_ops = limits->max_batch_ops;
    pb->limits->max_prefilters = limits->max_prefilters;

    for (size_t i = 0; i < s->filter_count; i++) {
        Bitdex__V1__FilterFieldSpec *f = calloc(1, sizeof(*f));
        if (f == NULL)
            goto nomem;
        bitdex__v1__filter_field_spec__init(f);
        pb->filter_fields[pb->n_filter_fields++] = f;
        if ((f->name = strdup(s->filter_fields[i].name)) == NULL)
            goto nomem;
        f->type = filter_type_pb(s->filter_fields[i].type);
        f->multi_valued = s->filter_fields[i].multi;
        f->nullable = s->filter_fields[i].nullable;
    }
    for (size_t i = 0; i < s->sort_count; i++) {
        const schema_sort_field_t *sf = &s->sort_fields[i];
        Bitdex__V1__SortFieldSpec *f = calloc(1, sizeof(*f));
        if (f == NULL)
            goto nomem;
        bitdex__v1__sort_field_spec__init(f);
        pb->sort_fields[pb->n_sort_fields++] = f;
        if ((f->name = strdup(sf->name)) == NULL)
            goto nomem;
        f->bits = sf->bits;
        if (sf->computed == SCHEMA_COMPUTED_NONE)
            continue;
        if ((f->computed = calloc(1, sizeof(*f->computed))) == NULL)
            goto nomem;
        bitdex__v1__computed_sort_spec__init(f->computed);
        f->computed->function = sf->computed == SCHEMA_COMPUTED_GREATEST
                                    ? BITDEX__V1__COMPUTE_FUNCTION__COMPUTE_FUNCTION_GREATEST
                                    : BITDEX__V1__COMPUTE_FUNCTION__COMPUTE_FUNCTION_LEAST;
        if ((f->computed->sources = calloc(2, sizeof(char *))) == NULL)
            goto nomem;
        for (size_t k = 0; k < 2; k++) {
            if ((f->computed->sources[k] = strdup(sf->sources[k])) == NULL)
                goto nomem;
            f->computed->n_sources++;
        }
    }
    for (size_t i = 0; i < s->stored_count; i++) {
        Bitdex__V1__StoredFieldSpec *f = calloc(1, sizeof(*f));
        if (f == NULL)
            goto nomem;
        bitdex__v1__stored_field_spec__init(f);
        pb->stored_fields[pb->n_stored_fields++] = f;
        if ((f->name = strdup(s->stored_fields[i].name)) == NULL)
            goto nomem;
        f->type = stored_type_pb(s->stored_fields[i].type);
    }
    *out = pb;
    return 0;
nomem:
    schema_pb_free(pb);
    return -ENOMEM;
}

void schema_pb_free(Bitdex__V1__IndexSchema *pb)
{
    if (pb == NULL)
        return;
    /* A name left NULL by a failed strdup points nowhere protobuf-c would free wrongly:
     * free_unpacked() skips NULL strings. */
    protobuf_c_message_free_unpacked(&pb->base, NULL);
}

/* ---- comparison ---- */

static const char *type_name(schema_field_type_t t)
{
    switch (t) {
    case SCHEMA_INT:
        return "int";
    case SCHEMA_BOOL:
        return "bool";
    case SCHEMA_STRING:
        return "string";
    }
    return "?";
}

static const char *computed_name(schema_computed_t c)
{
    switch (c) {
    case SCHEMA_COMPUTED_NONE:
        return "not computed";
    case SCHEMA_COMPUTED_GREATEST:
        return "greatest";
    case SCHEMA_COMPUTED_LEAST:
        return "least";
    }
    return "?";
}

typedef struct differ {
    const char *la, *lb;
    char *buf;
    size_t len;
} differ_t;

static bool differ_str(const differ_t *d, const char *path, const char *a, const char *b)
{
    if (strcmp(a, b) == 0)
        return false;
    if (d->buf != NULL && d->len > 0)
        snprintf(d->buf, d->len, "%s is %s %s, %s %s", path, a, d->la, b, d->lb);
    return true;
}

static bool differ_num(const differ_t *d, const char *path, unsigned long long a,
                       unsigned long long b)
{
    char sa[24], sb[24];

    snprintf(sa, sizeof(sa), "%llu", a);
    snprintf(sb, sizeof(sb), "%llu", b);
    return differ_str(d, path, sa, sb);
}

static const char *yes_no(bool v)
{
    return v ? "true" : "false";
}

bool schema_pb_diff(const schema_t *a, const limits_t *la, const char *label_a, const schema_t *b,
                    const limits_t *lb, const char *label_b, char *diff, size_t difflen)
{
    differ_t d = {label_a, label_b, diff, difflen};
    char p[128];

    if (differ_str(&d, "name", a->name, b->name) ||
        differ_num(&d, "filter_fields (count)", a->filter_count, b->filter_count) ||
        differ_num(&d, "sort_fields (count)", a->sort_count, b->sort_count) ||
        differ_num(&d, "stored_fields (count)", a->stored_count, b->stored_count))
        return true;
    for (size_t i = 0; i < a->filter_count; i++) {
        const schema_filter_field_t *fa = &a->filter_fields[i], *fb = &b->filter_fields[i];
        snprintf(p, sizeof(p), "filter_fields[%zu].name", i);
        if (differ_str(&d, p, fa->name, fb->name))
            return true;
        snprintf(p, sizeof(p), "filter_fields[%zu] (%s).type", i, fa->name);
        if (differ_str(&d, p, type_name(fa->type), type_name(fb->type)))
            return true;
        snprintf(p, sizeof(p), "filter_fields[%zu] (%s).multi_valued", i, fa->name);
        if (differ_str(&d, p, yes_no(fa->multi), yes_no(fb->multi)))
            return true;
        snprintf(p, sizeof(p), "filter_fields[%zu] (%s).nullable", i, fa->name);
        if (differ_str(&d, p, yes_no(fa->nullable), yes_no(fb->nullable)))
            return true;
    }
    for (size_t i = 0; i < a->sort_count; i++) {
        const schema_sort_field_t *fa = &a->sort_fields[i], *fb = &b->sort_fields[i];
        snprintf(p, sizeof(p), "sort_fields[%zu].name", i);
        if (differ_str(&d, p, fa->name, fb->name))
            return true;
        snprintf(p, sizeof(p), "sort_fields[%zu] (%s).bits", i, fa->name);
        if (differ_num(&d, p, fa->bits, fb->bits))
            return true;
        snprintf(p, sizeof(p), "sort_fields[%zu] (%s).computed.function", i, fa->name);
        if (differ_str(&d, p, computed_name(fa->computed), computed_name(fb->computed)))
            return true;
        for (size_t k = 0; fa->computed != SCHEMA_COMPUTED_NONE && k < 2; k++) {
            snprintf(p, sizeof(p), "sort_fields[%zu] (%s).computed.sources[%zu]", i, fa->name, k);
            if (differ_str(&d, p, fa->sources[k], fb->sources[k]))
                return true;
        }
    }
    for (size_t i = 0; i < a->stored_count; i++) {
        const schema_stored_field_t *fa = &a->stored_fields[i], *fb = &b->stored_fields[i];
        snprintf(p, sizeof(p), "stored_fields[%zu].name", i);
        if (differ_str(&d, p, fa->name, fb->name))
            return true;
        snprintf(p, sizeof(p), "stored_fields[%zu] (%s).type", i, fa->name);
        if (differ_str(&d, p, type_name(fa->type), type_name(fb->type)))
            return true;
    }
    for (size_t i = 0; i < LIMITS_COUNT; i++) {
        const limits_spec_t *spec = &limits_specs()[i];
        snprintf(p, sizeof(p), "limits.%s", spec->name);
        if (differ_num(&d, p, limits_get(la, spec), limits_get(lb, spec)))
            return true;
    }
    return false;
}

const char *schema_pb_value_kind_name(Bitdex__V1__Value__KindCase k)
{
    switch (k) {
    case BITDEX__V1__VALUE__KIND_INT_VALUE:
        return "int";
    case BITDEX__V1__VALUE__KIND_BOOL_VALUE:
        return "bool";
    case BITDEX__V1__VALUE__KIND_STRING_VALUE:
        return "string";
    case BITDEX__V1__VALUE__KIND_NULL_VALUE:
        return "null";
    default:
        return "nothing";
    }
}

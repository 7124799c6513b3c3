/*
 * schema: building, checking and copying index schemas. See schema.h for the rules.
 */
#include "common/schema.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

int schema_new(const char *name, schema_t **out)
{
    schema_t *s = calloc(1, sizeof(*s));

    *out = NULL;
    if (s == NULL)
        return -ENOMEM;
    s->name = strdup(name != NULL ? name : "");
    if (s->name == NULL) {
        free(s);
        return -ENOMEM;
    }
    *out = s;
    return 0;
}

/* Grows *arr (of *count elements of `size` bytes) by one zeroed element; returns it or NULL. */
static void *append(void **arr, size_t *count, size_t size)
{
    char *n = realloc(*arr, (*count + 1) * size);

    if (n == NULL)
        return NULL;
    memset(n + *count * size, 0, size);
    *arr = n;
    return n + (*count)++ * size;
}

static char *dup_or_null(const char *s)
{
    return s != NULL ? strdup(s) : NULL;
}

int schema_add_filter(schema_t *s, const char *name, schema_field_type_t type, bool multi,
                      bool nullable)
{
    char *n = dup_or_null(name);
    schema_filter_field_t *f;

    if (name != NULL && n == NULL)
        return -ENOMEM;
    f = append((void **)&s->filter_fields, &s->filter_count, sizeof(*f));
    if (f == NULL) {
        free(n);
        return -ENOMEM;
    }
    f->name = n;
    f->type = type;
    f->multi = multi;
    f->nullable = nullable;
    return 0;
}

int schema_add_computed_sort(schema_t *s, const char *name, unsigned bits,
                             schema_computed_t computed, const char *source_a, const char *source_b)
{
    char *n = dup_or_null(name), *a = dup_or_null(source_a), *b = dup_or_null(source_b);
    schema_sort_field_t *f;

    if ((name != NULL && n == NULL) || (source_a != NULL && a == NULL) ||
        (source_b != NULL && b == NULL))
        goto nomem;
    f = append((void **)&s->sort_fields, &s->sort_count, sizeof(*f));
    if (f == NULL)
        goto nomem;
    f->name = n;
    f->bits = bits;
    f->computed = computed;
    f->sources[0] = a;
    f->sources[1] = b;
    return 0;
nomem:
    free(n);
    free(a);
    free(b);
    return -ENOMEM;
}

int schema_add_sort(schema_t *s, const char *name, unsigned bits)
{
    return schema_add_computed_sort(s, name, bits, SCHEMA_COMPUTED_NONE, NULL, NULL);
}

int schema_add_stored(schema_t *s, const char *name, schema_field_type_t type)
{
    char *n = dup_or_null(name);
    schema_stored_field_t *f;

    if (name != NULL && n == NULL)
        return -ENOMEM;
    f = append((void **)&s->stored_fields, &s->stored_count, sizeof(*f));
    if (f == NULL) {
        free(n);
        return -ENOMEM;
    }
    f->name = n;
    f->type = type;
    return 0;
}

void schema_free(schema_t *s)
{
    if (s == NULL)
        return;
    for (size_t i = 0; i < s->filter_count; i++)
        free(s->filter_fields[i].name);
    for (size_t i = 0; i < s->sort_count; i++) {
        free(s->sort_fields[i].name);
        free(s->sort_fields[i].sources[0]);
        free(s->sort_fields[i].sources[1]);
    }
    for (size_t i = 0; i < s->stored_count; i++)
        free(s->stored_fields[i].name);
    free(s->filter_fields);
    free(s->sort_fields);
    free(s->stored_fields);
    free(s->name);
    free(s);
}

int schema_copy(const schema_t *s, schema_t **out)
{
    schema_t *c = NULL;
    int rc;

    *out = NULL;
    rc = schema_new(s->name, &c);
    if (rc != 0)
        return rc;
    for (size_t i = 0; i < s->filter_count && rc == 0; i++) {
        const schema_filter_field_t *f = &s->filter_fields[i];
        rc = schema_add_filter(c, f->name, f->type, f->multi, f->nullable);
    }
    for (size_t i = 0; i < s->sort_count && rc == 0; i++) {
        const schema_sort_field_t *f = &s->sort_fields[i];
        rc = schema_add_computed_sort(c, f->name, f->bits, f->computed, f->sources[0],
                                      f->sources[1]);
    }
    for (size_t i = 0; i < s->stored_count && rc == 0; i++)
        rc = schema_add_stored(c, s->stored_fields[i].name, s->stored_fields[i].type);
    if (rc != 0) {
        schema_free(c);
        return rc;
    }
    *out = c;
    return 0;
}

int schema_filter_find(const schema_t *s, const char *name)
{
    for (size_t i = 0; name != NULL && i < s->filter_count; i++)
        if (s->filter_fields[i].name != NULL && strcmp(s->filter_fields[i].name, name) == 0)
            return (int)i;
    return -1;
}

int schema_sort_find(const schema_t *s, const char *name)
{
    for (size_t i = 0; name != NULL && i < s->sort_count; i++)
        if (s->sort_fields[i].name != NULL && strcmp(s->sort_fields[i].name, name) == 0)
            return (int)i;
    return -1;
}

int schema_stored_find(const schema_t *s, const char *name)
{
    for (size_t i = 0; name != NULL && i < s->stored_count; i++)
        if (s->stored_fields[i].name != NULL && strcmp(s->stored_fields[i].name, name) == 0)
            return (int)i;
    return -1;
}

/* ---- validation ---- */

static bool name_valid(const char *n)
{
    size_t len;

    if (n == NULL || n[0] == '\0')
        return false;
    len = strlen(n);
    if (len > SCHEMA_NAME_MAX)
        return false;
    for (size_t i = 0; i < len; i++) {
        char c = n[i];
        bool alpha = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_';
        bool digit = c >= '0' && c <= '9';
        if (!(alpha || (digit && i > 0)))
            return false;
    }
    return true;
}

/* Index names become directory names: [A-Za-z0-9][A-Za-z0-9_-]{0,63}, so never "." or "/". */
static bool index_name_valid(const char *n)
{
    size_t len = n ? strlen(n) : 0;

    if (len == 0 || len > SCHEMA_NAME_MAX)
        return false;
    for (size_t i = 0; i < len; i++) {
        char c = n[i];
        bool alnum = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
        if (!(alnum || (i > 0 && (c == '_' || c == '-'))))
            return false;
    }
    return true;
}

static int check_name(const char *kind, const char *n, size_t idx, bdx_error_t *err)
{
    if (n == NULL || n[0] == '\0')
        return bdx_error_set(err, BDX_EINVAL, "%s field #%zu: empty name", kind, idx);
    if (strlen(n) > SCHEMA_NAME_MAX)
        return bdx_error_set(err, BDX_EINVAL, "field %.80s: name longer than %d bytes", n,
                             SCHEMA_NAME_MAX);
    if (!name_valid(n))
        return bdx_error_set(err, BDX_EINVAL,
                             "field %.80s: invalid name (want [A-Za-z_][A-Za-z0-9_]*)", n);
    if (strcmp(n, SCHEMA_RESERVED_NAME) == 0)
        return bdx_error_set(err, BDX_EINVAL, "field %s: reserved name (the document id)", n);
    return 0;
}

static bool type_valid(schema_field_type_t t)
{
    return t == SCHEMA_INT || t == SCHEMA_BOOL || t == SCHEMA_STRING;
}

/* The name of field number i across all kinds (filter, then sort, then stored). */
static const char *nth_name(const schema_t *s, size_t i)
{
    if (i < s->filter_count)
        return s->filter_fields[i].name;
    i -= s->filter_count;
    if (i < s->sort_count)
        return s->sort_fields[i].name;
    return s->stored_fields[i - s->sort_count].name;
}

static int check_duplicates(const schema_t *s, bdx_error_t *err)
{
    size_t n = s->filter_count + s->sort_count + s->stored_count;

    /* Field counts are bounded (a few hundred), so a quadratic scan is fine. */
    for (size_t i = 0; i < n; i++)
        for (size_t j = 0; j < i; j++)
            if (strcmp(nth_name(s, i), nth_name(s, j)) == 0)
                return bdx_error_set(err, BDX_EINVAL, "field %s: duplicate name", nth_name(s, i));
    return 0;
}

static int check_computed(const schema_t *s, const schema_sort_field_t *f, bdx_error_t *err)
{
    unsigned need = 0;

    if (f->computed != SCHEMA_COMPUTED_GREATEST && f->computed != SCHEMA_COMPUTED_LEAST)
        return bdx_error_set(err, BDX_EINVAL, "field %s: unknown computed kind %d", f->name,
                             (int)f->computed);
    for (int k = 0; k < 2; k++) {
        const char *src = f->sources[k];
        int idx;
        if (src == NULL || src[0] == '\0')
            return bdx_error_set(err, BDX_EINVAL, "field %s: computed field needs two sources",
                                 f->name);
        if (strcmp(src, f->name) == 0)
            return bdx_error_set(err, BDX_EINVAL, "field %s: computed from itself", f->name);
        idx = schema_sort_find(s, src);
        if (idx < 0) {
            if (schema_filter_find(s, src) >= 0 || schema_stored_find(s, src) >= 0)
                return bdx_error_set(err, BDX_EINVAL, "field %s: source %s is not a sort field",
                                     f->name, src);
            return bdx_error_set(err, BDX_EINVAL, "field %s: unknown source %s", f->name, src);
        }
        if (s->sort_fields[idx].computed != SCHEMA_COMPUTED_NONE)
            return bdx_error_set(err, BDX_EINVAL, "field %s: source %s is itself computed", f->name,
                                 src);
        /* least() too needs the wider source's bits: with one source absent the result is
         * the other source's value */
        if (s->sort_fields[idx].bits > need)
            need = s->sort_fields[idx].bits;
    }
    if (f->bits < need)
        return bdx_error_set(err, BDX_EINVAL,
                             "field %s: %u bits cannot hold its result (sources need %u)", f->name,
                             f->bits, need);
    return 0;
}

int schema_validate(const schema_t *s, bdx_error_t *err)
{
    int rc;

    if (s == NULL)
        return bdx_error_set(err, BDX_EINVAL, "schema: missing");
    if (s->name == NULL || !index_name_valid(s->name))
        return bdx_error_set(err, BDX_EINVAL,
                             "index %.80s: invalid name (want [A-Za-z0-9][A-Za-z0-9_-]{0,63})",
                             s->name != NULL ? s->name : "(null)");
    if (s->filter_count > SCHEMA_MAX_FILTER_FIELDS)
        return bdx_error_set(err, BDX_EINVAL, "index %s: %zu filter fields (limit %d)", s->name,
                             s->filter_count, SCHEMA_MAX_FILTER_FIELDS);
    if (s->sort_count > SCHEMA_MAX_SORT_FIELDS)
        return bdx_error_set(err, BDX_EINVAL, "index %s: %zu sort fields (limit %d)", s->name,
                             s->sort_count, SCHEMA_MAX_SORT_FIELDS);
    if (s->stored_count > SCHEMA_MAX_STORED_FIELDS)
        return bdx_error_set(err, BDX_EINVAL, "index %s: %zu stored fields (limit %d)", s->name,
                             s->stored_count, SCHEMA_MAX_STORED_FIELDS);
    for (size_t i = 0; i < s->filter_count; i++) {
        const schema_filter_field_t *f = &s->filter_fields[i];
        if ((rc = check_name("filter", f->name, i, err)) != 0)
            return rc;
        if (!type_valid(f->type))
            return bdx_error_set(err, BDX_EINVAL, "field %s: unknown type %d", f->name,
                                 (int)f->type);
    }
    for (size_t i = 0; i < s->sort_count; i++) {
        const schema_sort_field_t *f = &s->sort_fields[i];
        if ((rc = check_name("sort", f->name, i, err)) != 0)
            return rc;
        if (f->bits < 1 || f->bits > 64)
            return bdx_error_set(err, BDX_EINVAL, "field %s: bits %u outside 1..64", f->name,
                                 f->bits);
    }
    for (size_t i = 0; i < s->stored_count; i++) {
        const schema_stored_field_t *f = &s->stored_fields[i];
        if ((rc = check_name("stored", f->name, i, err)) != 0)
            return rc;
        if (!type_valid(f->type))
            return bdx_error_set(err, BDX_EINVAL, "field %s: unknown type %d", f->name,
                                 (int)f->type);
    }
    if ((rc = check_duplicates(s, err)) != 0)
        return rc;
    for (size_t i = 0; i < s->sort_count; i++) {
        const schema_sort_field_t *f = &s->sort_fields[i];
        if (f->computed == SCHEMA_COMPUTED_NONE) {
            if (f->sources[0] != NULL || f->sources[1] != NULL)
                return bdx_error_set(err, BDX_EINVAL,
                                     "field %s: sources given but the field is not computed",
                                     f->name);
            continue;
        }
        if ((rc = check_computed(s, f, err)) != 0)
            return rc;
    }
    return 0;
}

const char *schema_type_name(schema_field_type_t t)
{
    return t == SCHEMA_INT ? "INT" : t == SCHEMA_BOOL ? "BOOL" : "STRING";
}

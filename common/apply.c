/*
 * apply: validation and application of write batches. See apply.h for the contract.
 *
 * apply_check() walks the protobuf message once and stops at the first bad op; it carries the
 * path of what it looks at in a small buffer so every message starts with the exact field path.
 * apply_run() converts each document into index_doc_t form in per-call scratch arrays (sized to
 * the schema and the largest document) and calls the index's write for the op.
 */
#include "common/apply.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/docstore.h"
#include "common/schema_pb.h"

/* ---- validation ---- */

#define NO_INDEX SIZE_MAX

/*
 * Where in the current op the checker looks, kept as parts and formatted only when an error is
 * reported (most batches have none): `<part>[<item>]<member>[<value>]` after `ops[<op>]<kind>`,
 * e.g. ".filter_fields" 3 ".values" 1 -> ".filter_fields[3].values[1]".
 */
typedef struct where {
    const char *part;   /* ".filter_fields", ".filter", ".stored_fields", "" ... */
    size_t item;        /* index in part, or NO_INDEX */
    const char *member; /* ".field", ".value", ".values" or "" */
    size_t value;       /* index in member, or NO_INDEX */
} where_t;

typedef struct checker {
    const schema_t *schema;
    limits_t limits;
    bdx_error_t *err;
    size_t op;           /* index of the op in the batch */
    const char *op_part; /* ".put.document", ".set", ... */
    unsigned char *seen; /* per document: filter, then sort, then stored fields */
    /* Per position in a document's list, the field found there last time (filter, then sort,
     * then stored; -1 = none): clients list fields in the same order in every document, so
     * this is usually right and saves the search by name. */
    int *memo;
} checker_t;

static where_t at(const char *part, size_t item)
{
    return (where_t){part, item, "", NO_INDEX};
}

static where_t with(where_t w, const char *member)
{
    w.member = member;
    return w;
}

static int fail(checker_t *c, const where_t *w, int code, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/* Sets the error to "ops[<op>]<kind><where>: <message>". */
static int fail(checker_t *c, const where_t *w, int code, const char *fmt, ...)
{
    char msg[BDX_ERROR_MSG_MAX], item[24] = "", value[24] = "";
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    if (w->item != NO_INDEX)
        snprintf(item, sizeof(item), "[%zu]", w->item);
    if (w->value != NO_INDEX)
        snprintf(value, sizeof(value), "[%zu]", w->value);
    return bdx_error_set(c->err, code, "ops[%zu]%s%s%s%s%s: %s", c->op, c->op_part, w->part, item,
                         w->member, value, msg);
}

/* Index of field `name` among `count` names (stride `size` bytes from `first`), trying
 * *memo first and remembering the answer there (memo may be NULL); -1 when absent. Names are
 * unique in a validated schema, so the first match is the only one. */
static int find_name(const void *first, size_t size, size_t count, const char *name, int *memo)
{
    const char *base = first;

    if (name == NULL)
        return -1;
    if (memo != NULL && *memo >= 0 && (size_t)*memo < count &&
        strcmp(*(const char *const *)(base + (size_t)*memo * size), name) == 0)
        return *memo;
    for (size_t i = 0; i < count; i++) {
        const char *n = *(const char *const *)(base + i * size);
        if (n != NULL && strcmp(n, name) == 0) {
            if (memo != NULL)
                *memo = (int)i;
            return (int)i;
        }
    }
    return -1;
}

static int filter_find(const schema_t *s, const char *name, int *memo)
{
    return find_name(&s->filter_fields[0].name, sizeof(s->filter_fields[0]), s->filter_count, name,
                     memo);
}

static int sort_find(const schema_t *s, const char *name, int *memo)
{
    return find_name(&s->sort_fields[0].name, sizeof(s->sort_fields[0]), s->sort_count, name, memo);
}

static int stored_find(const schema_t *s, const char *name, int *memo)
{
    return find_name(&s->stored_fields[0].name, sizeof(s->stored_fields[0]), s->stored_count, name,
                     memo);
}

/* The memo entry of position j of a document's filter (kind 0), sort (1) or stored (2) list;
 * NULL past the schema's count (such a document repeats a field and fails anyway). */
static int *memo_at(checker_t *c, int kind, size_t j)
{
    const schema_t *s = c->schema;
    size_t off = kind == 0 ? 0 : kind == 1 ? s->filter_count : s->filter_count + s->sort_count;
    size_t n = kind == 0 ? s->filter_count : kind == 1 ? s->sort_count : s->stored_count;

    return c->memo != NULL && j < n ? &c->memo[off + j] : NULL;
}

/* What kind of field `name` is, for messages about a name used in the wrong list. */
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

/* One non-null value of filter field `f`, at `w`. */
static int check_value(checker_t *c, const where_t *w, const schema_filter_field_t *f,
                       const Bitdex__V1__Value *v)
{
    Bitdex__V1__Value__KindCase want;
    size_t len;

    if (v->kind_case == BITDEX__V1__VALUE__KIND__NOT_SET)
        return fail(c, w, BDX_EINVAL, "no value set (field \"%s\")", f->name);
    want = f->type == SCHEMA_INT    ? BITDEX__V1__VALUE__KIND_INT_VALUE
           : f->type == SCHEMA_BOOL ? BITDEX__V1__VALUE__KIND_BOOL_VALUE
                                    : BITDEX__V1__VALUE__KIND_STRING_VALUE;
    if (v->kind_case != want)
        return fail(c, w, BDX_EINVAL, "field \"%s\" is %s, got %s", f->name,
                    schema_type_name(f->type), schema_pb_value_kind_name(v->kind_case));
    if (want == BITDEX__V1__VALUE__KIND_STRING_VALUE &&
        (len = strlen(v->string_value)) > c->limits.max_string_bytes)
        return fail(c, w, BDX_EINVAL, "string of %zu bytes exceeds max_string_bytes %u", len,
                    c->limits.max_string_bytes);
    return 0;
}

/* A list of values of multi-valued field `f` at `w` (member ".values"). */
static int check_values(checker_t *c, where_t w, const schema_filter_field_t *f, size_t n,
                        Bitdex__V1__Value *const *values)
{
    int rc;

    if (n > c->limits.max_values_per_field)
        return fail(c, &w, BDX_EINVAL, "%zu values exceed max_values_per_field %u (field \"%s\")",
                    n, c->limits.max_values_per_field, f->name);
    for (size_t k = 0; k < n; k++) {
        w.value = k;
        if (values[k]->kind_case == BITDEX__V1__VALUE__KIND_NULL_VALUE)
            return fail(c, &w, BDX_EINVAL, "null is not allowed in a list of values (field \"%s\")",
                        f->name);
        if ((rc = check_value(c, &w, f, values[k])) != 0)
            return rc;
    }
    return 0;
}

/* A FieldValue at `w`; *field_out receives the field's index. */
static int check_field_value(checker_t *c, where_t w, const Bitdex__V1__FieldValue *fv, int *memo,
                             int *field_out)
{
    const schema_filter_field_t *f;
    const char *kind;
    int fi = filter_find(c->schema, fv->field, memo);
    where_t m;

    if (fi < 0) {
        m = with(w, ".field");
        if ((kind = kind_of(c->schema, fv->field)) != NULL)
            return fail(c, &m, BDX_EINVAL, "\"%s\" is %s, not a filter field", fv->field, kind);
        return fail(c, &m, BDX_EINVAL, "unknown filter field \"%s\"", fv->field);
    }
    f = &c->schema->filter_fields[fi];
    *field_out = fi;
    if (f->multi) {
        m = with(w, ".value");
        if (fv->value != NULL)
            return fail(c, &m, BDX_EINVAL, "field \"%s\" is multi-valued: set values, not value",
                        f->name);
        return check_values(c, with(w, ".values"), f, fv->n_values, fv->values);
    }
    m = with(w, ".values");
    if (fv->n_values > 0)
        return fail(c, &m, BDX_EINVAL, "field \"%s\" is single-valued: set value, not values",
                    f->name);
    m = with(w, ".value");
    if (fv->value == NULL)
        return fail(c, &m, BDX_EINVAL, "required for single-valued field \"%s\"", f->name);
    if (fv->value->kind_case == BITDEX__V1__VALUE__KIND_NULL_VALUE) {
        if (!f->nullable)
            return fail(c, &m, BDX_EINVAL, "null on non-nullable field \"%s\"", f->name);
        return 0;
    }
    return check_value(c, &m, f, fv->value);
}
/* A SortFieldValue at `w` (null: left out in a Put, cleared in Merge and Set). */
static int check_sort_value(checker_t *c, where_t w, const Bitdex__V1__SortFieldValue *sv,
                            int *memo, int *field_out)
{
    const schema_sort_field_t *f;
    const char *kind;
    int si = sort_find(c->schema, sv->field, memo);
    where_t m = with(w, ".field");

    if (si < 0 && (kind = kind_of(c->schema, sv->field)) != NULL)
        return fail(c, &m, BDX_EINVAL, "\"%s\" is %s, not a sort field", sv->field, kind);
    if (si < 0)
        return fail(c, &m, BDX_EINVAL, "unknown sort field \"%s\"", sv->field);
    f = &c->schema->sort_fields[si];
    *field_out = si;
    if (f->computed != SCHEMA_COMPUTED_NONE)
        return fail(c, &m, BDX_EINVAL, "sort field \"%s\" is computed and cannot be written",
                    f->name);
    switch (sv->kind_case) {
    case BITDEX__V1__SORT_FIELD_VALUE__KIND_VALUE:
        m = with(w, ".value");
        if ((unsigned long long)sv->value > schema_bits_max(f->bits))
            return fail(c, &m, BDX_EINVAL,
                        "%llu does not fit sort field \"%s\" (%u bits, max %llu)",
                        (unsigned long long)sv->value, f->name, f->bits, schema_bits_max(f->bits));
        return 0;
    case BITDEX__V1__SORT_FIELD_VALUE__KIND_NULL_VALUE:
        return 0;
    default:
        return fail(c, &w, BDX_EINVAL, "value or null_value required (sort field \"%s\")", f->name);
    }
}

/* Encoded size of a stored value, for max_stored_bytes. */
static size_t stored_size(const Bitdex__V1__StoredValue *v)
{
    switch (v->kind_case) {
    case BITDEX__V1__STORED_VALUE__KIND_STRING_VALUE:
        return strlen(v->string_value);
    case BITDEX__V1__STORED_VALUE__KIND_BYTES_VALUE:
        return v->bytes_value.len;
    case BITDEX__V1__STORED_VALUE__KIND_NULL_VALUE:
        return 0;
    default:
        return 8;
    }
}

/* A StoredFieldValue at `w`. */
static int check_stored_value(checker_t *c, where_t w, const Bitdex__V1__StoredFieldValue *sv,
                              int *memo, int *field_out)
{
    const schema_stored_field_t *f;
    const char *kind;
    Bitdex__V1__StoredValue__KindCase want;
    int ti = stored_find(c->schema, sv->field, memo);
    where_t m = with(w, ".field");

    if (ti < 0 && (kind = kind_of(c->schema, sv->field)) != NULL)
        return fail(c, &m, BDX_EINVAL, "\"%s\" is %s, not a stored field", sv->field, kind);
    if (ti < 0)
        return fail(c, &m, BDX_EINVAL, "unknown stored field \"%s\"", sv->field);
    f = &c->schema->stored_fields[ti];
    *field_out = ti;
    m = with(w, ".value");
    if (sv->value == NULL || sv->value->kind_case == BITDEX__V1__STORED_VALUE__KIND__NOT_SET)
        return fail(c, &m, BDX_EINVAL, "required (stored field \"%s\")", f->name);
    if (sv->value->kind_case == BITDEX__V1__STORED_VALUE__KIND_NULL_VALUE)
        return 0;
    want = f->type == SCHEMA_INT    ? BITDEX__V1__STORED_VALUE__KIND_INT_VALUE
           : f->type == SCHEMA_BOOL ? BITDEX__V1__STORED_VALUE__KIND_BOOL_VALUE
                                    : BITDEX__V1__STORED_VALUE__KIND_STRING_VALUE;
    if (sv->value->kind_case != want)
        return fail(c, &m, BDX_EINVAL, "stored field \"%s\" is %s, got another type", f->name,
                    schema_type_name(f->type));
    return 0;
}

/* A duplicate name within one document (c->seen has a flag per field of each kind). */
static int check_once(checker_t *c, const where_t *w, size_t slot, const char *name)
{
    if (c->seen[slot])
        return fail(c, w, BDX_EINVAL, "field \"%s\" appears more than once in the document", name);
    c->seen[slot] = 1;
    return 0;
}

static int check_document(checker_t *c, const Bitdex__V1__Document *d)
{
    const schema_t *s = c->schema;
    size_t stored_bytes = 0;
    where_t w;
    int rc, fi;

    if (d == NULL)
        return fail(c, &(where_t){"", NO_INDEX, "", NO_INDEX}, BDX_EINVAL, "required");
    memset(c->seen, 0, s->filter_count + s->sort_count + s->stored_count);
    for (size_t j = 0; j < d->n_filter_fields; j++) {
        w = at(".filter_fields", j);
        if ((rc = check_field_value(c, w, d->filter_fields[j], memo_at(c, 0, j), &fi)) != 0 ||
            (rc = check_once(c, &w, (size_t)fi, d->filter_fields[j]->field)) != 0)
            return rc;
    }
    for (size_t j = 0; j < d->n_sort_fields; j++) {
        w = at(".sort_fields", j);
        if ((rc = check_sort_value(c, w, d->sort_fields[j], memo_at(c, 1, j), &fi)) != 0 ||
            (rc = check_once(c, &w, s->filter_count + (size_t)fi, d->sort_fields[j]->field)) != 0)
            return rc;
    }
    for (size_t j = 0; j < d->n_stored_fields; j++) {
        w = at(".stored_fields", j);
        if ((rc = check_stored_value(c, w, d->stored_fields[j], memo_at(c, 2, j), &fi)) != 0 ||
            (rc = check_once(c, &w, s->filter_count + s->sort_count + (size_t)fi,
                             d->stored_fields[j]->field)) != 0)
            return rc;
        stored_bytes += stored_size(d->stored_fields[j]->value);
    }
    if (stored_bytes > c->limits.max_stored_bytes)
        return fail(c, &(where_t){".stored_fields", NO_INDEX, "", NO_INDEX}, BDX_EINVAL,
                    "%zu bytes exceed max_stored_bytes %u", stored_bytes,
                    c->limits.max_stored_bytes);
    return 0;
}

static int check_set(checker_t *c, const Bitdex__V1__SetOp *op)
{
    int fi;

    switch (op->field_case) {
    case BITDEX__V1__SET_OP__FIELD_FILTER:
        return check_field_value(c, at(".filter", NO_INDEX), op->filter, NULL, &fi);
    case BITDEX__V1__SET_OP__FIELD_SORT:
        return check_sort_value(c, at(".sort", NO_INDEX), op->sort, NULL, &fi);
    case BITDEX__V1__SET_OP__FIELD_STORED:
        return check_stored_value(c, at(".stored", NO_INDEX), op->stored, NULL, &fi);
    default:
        return fail(c, &(where_t){"", NO_INDEX, "", NO_INDEX}, BDX_EINVAL,
                    "no field set (exactly one of filter, sort, stored)");
    }
}

static int check_multi(checker_t *c, const Bitdex__V1__MultiValueOp *op)
{
    const schema_filter_field_t *f;
    const char *kind;
    int fi = filter_find(c->schema, op->field, NULL);
    where_t w = at("", NO_INDEX), m = with(w, ".field");

    if (fi < 0 && (kind = kind_of(c->schema, op->field)) != NULL)
        return fail(c, &m, BDX_EINVAL, "\"%s\" is %s, not a filter field", op->field, kind);
    if (fi < 0)
        return fail(c, &m, BDX_EINVAL, "unknown filter field \"%s\"", op->field);
    f = &c->schema->filter_fields[fi];
    if (!f->multi)
        return fail(c, &m, BDX_EINVAL,
                    "field \"%s\" is single-valued (add and remove need a "
                    "multi-valued field)",
                    f->name);
    m = with(w, ".values");
    if (op->n_values == 0)
        return fail(c, &m, BDX_EINVAL, "at least one value required (field \"%s\")", f->name);
    return check_values(c, m, f, op->n_values, op->values);
}

static int check_op(checker_t *c, size_t i, const Bitdex__V1__Op *op)
{
    c->op = i;
    c->op_part = "";
    switch (op->op_case) {
    case BITDEX__V1__OP__OP_PUT:
        c->op_part = ".put.document";
        return check_document(c, op->put->document);
    case BITDEX__V1__OP__OP_MERGE:
        c->op_part = ".merge.document";
        return check_document(c, op->merge->document);
    case BITDEX__V1__OP__OP_DELETE:
        return 0;
    case BITDEX__V1__OP__OP_SET:
        c->op_part = ".set";
        return check_set(c, op->set);
    case BITDEX__V1__OP__OP_ADD:
        c->op_part = ".add";
        return check_multi(c, op->add);
    case BITDEX__V1__OP__OP_REMOVE:
        c->op_part = ".remove";
        return check_multi(c, op->remove);
    default:
        return fail(c, &(where_t){"", NO_INDEX, "", NO_INDEX}, BDX_EINVAL,
                    "no operation set (exactly one of put, merge, delete, set, add, remove)");
    }
}

int apply_check(const index_t *ix, const limits_t *limits, const Bitdex__V1__ApplyRequest *req,
                bdx_error_t *err)
{
    const schema_t *s = index_schema(ix);
    size_t nfields = s->filter_count + s->sort_count + s->stored_count;
    checker_t c = {.schema = s, .err = err};
    int rc = 0;

    if (limits != NULL)
        c.limits = *limits;
    else
        limits_defaults(&c.limits);
    if (req->n_ops == 0)
        return bdx_error_set(err, BDX_EINVAL, "ops: at least one op required");
    if (req->n_ops > c.limits.max_batch_ops)
        return bdx_error_set(err, BDX_EINVAL, "ops: %zu ops exceed max_batch_ops %u", req->n_ops,
                             c.limits.max_batch_ops);
    if (req->batch_id != NULL && strlen(req->batch_id) > APPLY_BATCH_ID_MAX)
        return bdx_error_set(err, BDX_EINVAL, "batch_id: %zu bytes exceed %d",
                             strlen(req->batch_id), APPLY_BATCH_ID_MAX);
    c.seen = malloc(nfields + 1);
    c.memo = malloc((nfields + 1) * sizeof(*c.memo));
    if (c.seen == NULL || c.memo == NULL) {
        rc = bdx_error_set(err, -ENOMEM, "out of memory");
        goto out;
    }
    for (size_t k = 0; k < nfields; k++)
        c.memo[k] = -1;
    for (size_t i = 0; i < req->n_ops && rc == 0; i++)
        rc = check_op(&c, i, req->ops[i]);
out:
    free(c.seen);
    free(c.memo);
    return rc;
}

/* ---- application ---- */

typedef struct scratch {
    const schema_t *schema;
    docstore_buf_t blob;         /* stored fields of the current op */
    index_doc_filter_t *filters; /* schema filter_count */
    index_doc_sort_t *sorts;     /* schema sort_count */
    int64_t *ints;               /* value storage for the current op */
    const char **strs;
    size_t cap, used;
    int *memo; /* per position of a document's filter, then sort list: the field found there */
} scratch_t;

static int scratch_reserve(scratch_t *sc, size_t n)
{
    if (n > sc->cap) {
        int64_t *ints = realloc(sc->ints, n * sizeof(*ints));
        if (ints == NULL)
            return -ENOMEM;
        sc->ints = ints;
        const char **strs = realloc(sc->strs, n * sizeof(*strs));
        if (strs == NULL)
            return -ENOMEM;
        sc->strs = strs;
        sc->cap = n;
    }
    sc->used = 0;
    return 0;
}

/* Converts `n` checked values of filter field `f` into the next free scratch entries. */
static void to_values(scratch_t *sc, const schema_filter_field_t *f, size_t n,
                      Bitdex__V1__Value *const *values, index_values_t *out)
{
    size_t base = sc->used;

    memset(out, 0, sizeof(*out));
    for (size_t k = 0; k < n; k++) {
        const Bitdex__V1__Value *v = values[k];
        if (f->type == SCHEMA_STRING)
            sc->strs[base + k] = v->string_value;
        else
            sc->ints[base + k] = f->type == SCHEMA_INT ? v->int_value : (v->bool_value ? 1 : 0);
    }
    sc->used += n;
    out->count = n;
    if (f->type == SCHEMA_STRING)
        out->strings = sc->strs + base;
    else
        out->ints = sc->ints + base;
}

/* The (null, values) pair of a checked FieldValue. */
static void field_value(scratch_t *sc, const schema_filter_field_t *f,
                        const Bitdex__V1__FieldValue *fv, bool *null, index_values_t *values)
{
    *null = false;
    if (f->multi) {
        to_values(sc, f, fv->n_values, fv->values, values);
    } else if (fv->value->kind_case == BITDEX__V1__VALUE__KIND_NULL_VALUE) {
        *null = true;
        memset(values, 0, sizeof(*values));
    } else {
        Bitdex__V1__Value *const one[1] = {fv->value};
        to_values(sc, f, 1, one, values);
    }
}

/* The zero value of a non-nullable single-valued field, for fields Put leaves out. */
static void zero_value(scratch_t *sc, const schema_filter_field_t *f, index_values_t *out)
{
    memset(out, 0, sizeof(*out));
    out->count = 1;
    if (f->type == SCHEMA_STRING) {
        sc->strs[sc->used] = "";
        out->strings = sc->strs + sc->used;
    } else {
        sc->ints[sc->used] = 0;
        out->ints = sc->ints + sc->used;
    }
    sc->used++;
}

/* Builds the index document of a checked Document; `defaults` fills Put's zero values. */
static int build_doc(scratch_t *sc, const Bitdex__V1__Document *d, bool defaults, index_doc_t *out)
{
    const schema_t *s = sc->schema;
    size_t need = s->filter_count;
    int rc;

    for (size_t j = 0; j < d->n_filter_fields; j++)
        need += d->filter_fields[j]->n_values + 1;
    if ((rc = scratch_reserve(sc, need)) != 0)
        return rc;
    memset(sc->filters, 0, s->filter_count * sizeof(*sc->filters));
    memset(sc->sorts, 0, s->sort_count * sizeof(*sc->sorts));
    for (size_t j = 0; j < d->n_filter_fields; j++) {
        const Bitdex__V1__FieldValue *fv = d->filter_fields[j];
        int fi = filter_find(s, fv->field, j < s->filter_count ? &sc->memo[j] : NULL);
        index_doc_filter_t *f = &sc->filters[fi];
        f->present = true;
        field_value(sc, &s->filter_fields[fi], fv, &f->null, &f->values);
    }
    for (size_t j = 0; j < d->n_sort_fields; j++) {
        const Bitdex__V1__SortFieldValue *sv = d->sort_fields[j];
        if (sv->kind_case != BITDEX__V1__SORT_FIELD_VALUE__KIND_VALUE)
            continue; /* null: left out in a Put, cleared after index_merge() in a Merge */
        int si = sort_find(s, sv->field, j < s->sort_count ? &sc->memo[s->filter_count + j] : NULL);
        sc->sorts[si].present = true;
        sc->sorts[si].value = sv->value;
    }
    for (size_t fi = 0; defaults && fi < s->filter_count; fi++) {
        const schema_filter_field_t *f = &s->filter_fields[fi];
        if (!sc->filters[fi].present && !f->multi && !f->nullable) {
            sc->filters[fi].present = true;
            zero_value(sc, f, &sc->filters[fi].values);
        }
    }
    out->filters = sc->filters;
    out->sorts = sc->sorts;
    return 0;
}

/* Merges the n stored fields into the document's blob (`keep`: on top of its current blob,
 * else from nothing, as a Put) and stores the result. No fields and `keep`: nothing to do. */
static int write_stored(index_t *ix, scratch_t *sc, uint32_t id, bool keep,
                        Bitdex__V1__StoredFieldValue *const *fields, size_t n, bdx_error_t *err)
{
    const uint8_t *old = NULL;
    size_t len = 0;
    int rc;

    if (n == 0 && keep)
        return 0;
    if (keep)
        old = index_stored(ix, id, &len);
    if ((rc = docstore_merge(index_schema(ix), old, len, fields, n, &sc->blob, err)) != 0)
        return rc;
    if (!keep && sc->blob.len == 0)
        return 0; /* index_put() removed the old blob */
    if ((rc = index_set_stored(ix, id, sc->blob.data, sc->blob.len)) != 0)
        return bdx_error_set(err, rc, "slot %u: stored fields: %s", id, bdx_strerror(rc));
    return 0;
}

/* Clears the sort fields a Merge of a live document sets to Null. */
static int clear_sorts(index_t *ix, const Bitdex__V1__Document *d, bdx_error_t *err)
{
    int rc, si;

    for (size_t j = 0; j < d->n_sort_fields; j++) {
        if (d->sort_fields[j]->kind_case != BITDEX__V1__SORT_FIELD_VALUE__KIND_NULL_VALUE)
            continue;
        if ((si = schema_sort_find(index_schema(ix), d->sort_fields[j]->field)) < 0)
            return bdx_error_set(err, BDX_EINVAL, "unknown sort field");
        if ((rc = index_clear_sort(ix, d->id, (size_t)si, err)) != 0)
            return rc;
    }
    return 0;
}

static int run_set(index_t *ix, scratch_t *sc, const Bitdex__V1__SetOp *op, bdx_error_t *err)
{
    const schema_t *s = sc->schema;
    index_values_t values;
    bool null;
    int rc, fi;

    switch (op->field_case) {
    case BITDEX__V1__SET_OP__FIELD_FILTER:
        fi = schema_filter_find(s, op->filter->field);
        if (fi < 0)
            return bdx_error_set(err, BDX_EINVAL, "unknown filter field");
        if ((rc = scratch_reserve(sc, op->filter->n_values + 1)) != 0)
            return rc;
        field_value(sc, &s->filter_fields[fi], op->filter, &null, &values);
        return index_set_filter(ix, op->id, (size_t)fi, null, &values, err);
    case BITDEX__V1__SET_OP__FIELD_SORT:
        fi = schema_sort_find(s, op->sort->field);
        if (fi < 0)
            return bdx_error_set(err, BDX_EINVAL, "unknown sort field");
        if (op->sort->kind_case == BITDEX__V1__SORT_FIELD_VALUE__KIND_NULL_VALUE)
            return index_clear_sort(ix, op->id, (size_t)fi, err);
        return index_set_sort(ix, op->id, (size_t)fi, op->sort->value, err);
    case BITDEX__V1__SET_OP__FIELD_STORED:
        return write_stored(ix, sc, op->id, true, &op->stored, 1, err);
    default:
        return bdx_error_set(err, BDX_EINVAL, "no field set");
    }
}

static int run_multi(index_t *ix, scratch_t *sc, const Bitdex__V1__MultiValueOp *op, bool remove,
                     bdx_error_t *err)
{
    int fi = schema_filter_find(sc->schema, op->field);
    index_values_t values;
    int rc;

    if (fi < 0)
        return bdx_error_set(err, BDX_EINVAL, "unknown filter field");
    if ((rc = scratch_reserve(sc, op->n_values)) != 0)
        return rc;
    to_values(sc, &sc->schema->filter_fields[fi], op->n_values, op->values, &values);
    return remove ? index_remove_values(ix, op->id, (size_t)fi, &values, err)
                  : index_add_values(ix, op->id, (size_t)fi, &values, err);
}

/* Applies one op; *skipped is set when it was a no-op on a document that is not live. */
static int run_op(index_t *ix, scratch_t *sc, const Bitdex__V1__Op *op, bool *skipped,
                  bdx_error_t *err)
{
    const Bitdex__V1__Document *d;
    index_doc_t doc;
    int rc;

    *skipped = false;
    switch (op->op_case) {
    case BITDEX__V1__OP__OP_PUT:
        d = op->put->document;
        if ((rc = build_doc(sc, d, true, &doc)) != 0 || (rc = index_put(ix, d->id, &doc, err)) != 0)
            return rc;
        return write_stored(ix, sc, d->id, false, d->stored_fields, d->n_stored_fields, err);
    case BITDEX__V1__OP__OP_MERGE:
        d = op->merge->document;
        if (!index_doc_exists(ix, d->id)) { /* creates: unlisted fields default as in Put */
            if ((rc = build_doc(sc, d, true, &doc)) != 0 ||
                (rc = index_put(ix, d->id, &doc, err)) != 0)
                return rc;
            return write_stored(ix, sc, d->id, false, d->stored_fields, d->n_stored_fields, err);
        }
        if ((rc = build_doc(sc, d, false, &doc)) != 0 ||
            (rc = index_merge(ix, d->id, &doc, err)) != 0 || (rc = clear_sorts(ix, d, err)) != 0)
            return rc;
        return write_stored(ix, sc, d->id, true, d->stored_fields, d->n_stored_fields, err);
    case BITDEX__V1__OP__OP_DELETE:
        if (!(*skipped = !index_doc_exists(ix, op->delete_->id)))
            return index_delete(ix, op->delete_->id);
        return 0;
    case BITDEX__V1__OP__OP_SET:
        if (!(*skipped = !index_doc_exists(ix, op->set->id)))
            return run_set(ix, sc, op->set, err);
        return 0;
    case BITDEX__V1__OP__OP_ADD:
        if (!(*skipped = !index_doc_exists(ix, op->add->id)))
            return run_multi(ix, sc, op->add, false, err);
        return 0;
    case BITDEX__V1__OP__OP_REMOVE:
        if (!(*skipped = !index_doc_exists(ix, op->remove->id)))
            return run_multi(ix, sc, op->remove, true, err);
        return 0;
    default:
        return bdx_error_set(err, BDX_EINVAL, "no operation set");
    }
}

/*
 * A Put that can go through the index's bulk path (index_bulk_put(): its bits are added per
 * value for the whole run with CRoaring's batched adds instead of one at a time): a document
 * that is not live, above the last one buffered, with no stored fields (storing a blob would
 * flush the run). The result is the same as index_put()'s.
 */
static bool bulk_eligible(const index_t *ix, const Bitdex__V1__Op *op, int64_t last)
{
    const Bitdex__V1__Document *d;

    if (op->op_case != BITDEX__V1__OP__OP_PUT)
        return false;
    d = op->put->document;
    return d->n_stored_fields == 0 && (int64_t)d->id > last && !index_doc_exists(ix, d->id);
}

int apply_run(index_t *ix, const Bitdex__V1__ApplyRequest *req, apply_stats_t *stats,
              bdx_error_t *err)
{
    const schema_t *s = index_schema(ix);
    scratch_t sc = {.schema = s};
    apply_stats_t st = {0};
    bdx_error_t e = {0};
    int64_t bulk_last = -1; /* last slot of the bulk run in progress, -1 = none */
    int rc = 0, frc;

    sc.filters = calloc(s->filter_count + 1, sizeof(*sc.filters));
    sc.sorts = calloc(s->sort_count + 1, sizeof(*sc.sorts));
    sc.memo = malloc((s->filter_count + s->sort_count + 1) * sizeof(*sc.memo));
    if (sc.filters == NULL || sc.sorts == NULL || sc.memo == NULL) {
        rc = bdx_error_set(err, -ENOMEM, "out of memory");
        goto out;
    }
    for (size_t k = 0; k < s->filter_count + s->sort_count; k++)
        sc.memo[k] = -1;
    for (size_t i = 0; i < req->n_ops; i++) {
        const Bitdex__V1__Op *op = req->ops[i];
        bool skipped = false;
        bdx_error_clear(&e);
        if (bulk_eligible(ix, op, bulk_last)) {
            const Bitdex__V1__Document *d = op->put->document;
            index_doc_t doc;
            if ((rc = build_doc(&sc, d, true, &doc)) == 0 &&
                (rc = index_bulk_put(ix, d->id, &doc, &e)) == 0)
                bulk_last = d->id;
        } else if (bulk_last >= 0 && (rc = index_bulk_flush(ix)) != 0) {
            bulk_last = -1; /* the op may read the index (index_doc_exists()): run first */
        } else {
            bulk_last = -1;
            rc = run_op(ix, &sc, op, &skipped, &e);
        }
        if (rc != 0) {
            /* the ops before this one are applied, as when they go one by one */
            if (bulk_last >= 0 && (frc = index_bulk_flush(ix)) != 0) {
                bdx_error_clear(&e);
                rc = frc;
            }
            bdx_error_set(err, rc, "ops[%zu]: %s", i,
                          e.code ? bdx_error_message(&e) : bdx_strerror(rc));
            goto out;
        }
        st.ops++;
        st.skipped += skipped;
    }
    if (bulk_last >= 0 && (rc = index_bulk_flush(ix)) != 0)
        bdx_error_set(err, rc, "ops[%zu]: %s", req->n_ops - 1, bdx_strerror(rc));
out:
    if (stats != NULL)
        *stats = st;
    free(sc.filters);
    free(sc.sorts);
    free(sc.memo);
    free(sc.ints);
    free(sc.strs);
    docstore_buf_free(&sc.blob);
    return rc;
}

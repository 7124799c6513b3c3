/*
 * docstore: stored-field blobs per document, and their codec. See docstore.h for the contract
 * and docs/format/docstore.md for the encoding.
 *
 * A blob is a run of entries in ascending stored-field index; each is a varint head
 * (gap << 3 | tag), where gap = field - (previous field + 1), and the value the tag says: a
 * zigzag varint (INT), nothing (BOOL: the tag is the value), or a varint length and the bytes
 * (STRING). One entry for "next field, small value" is two or three bytes. Every parse checks
 * bounds, field indexes and tags against the schema: blobs may come from an image on disk.
 */
#include "common/docstore.h"

#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

enum {
    TAG_INT = 0,
    TAG_FALSE = 1,
    TAG_TRUE = 2,
    TAG_STRING = 3,
    TAG_BITS = 3
};

struct docstore {
    slotstore_t *slots;
};

/* ---- the store ---- */

int docstore_new(docstore_t **out)
{
    slotstore_t *s;
    int rc;

    *out = NULL;
    if ((rc = slotstore_new(&s)) != 0)
        return rc;
    if ((rc = docstore_from_slots(s, out)) != 0)
        slotstore_free(s);
    return rc;
}

int docstore_from_slots(slotstore_t *s, docstore_t **out)
{
    *out = calloc(1, sizeof(**out));
    if (*out == NULL)
        return -ENOMEM;
    (*out)->slots = s;
    return 0;
}

const slotstore_t *docstore_slots(const docstore_t *ds)
{
    return ds->slots;
}

void docstore_free(docstore_t *ds)
{
    if (ds == NULL)
        return;
    slotstore_free(ds->slots);
    free(ds);
}

const uint8_t *docstore_get(const docstore_t *ds, uint32_t slot, size_t *len)
{
    return slotstore_get(ds->slots, slot, len);
}

int docstore_put(docstore_t *ds, uint32_t slot, const void *blob, size_t len)
{
    return slotstore_put(ds->slots, slot, blob, len);
}

void docstore_remove(docstore_t *ds, uint32_t slot)
{
    slotstore_remove(ds->slots, slot);
}

int docstore_compact(docstore_t *ds)
{
    return slotstore_compact(ds->slots);
}

size_t docstore_memory(const docstore_t *ds)
{
    return sizeof(*ds) + slotstore_memory(ds->slots);
}

uint32_t docstore_count(const docstore_t *ds)
{
    return slotstore_count(ds->slots);
}

/* ---- varints and the output buffer ---- */

void docstore_buf_free(docstore_buf_t *b)
{
    free(b->data);
    memset(b, 0, sizeof(*b));
}

static int buf_reserve(docstore_buf_t *b, size_t more)
{
    size_t cap;
    uint8_t *d;

    if (more <= b->cap - b->len)
        return 0;
    if (more > SIZE_MAX / 4 - b->len)
        return -ENOMEM;
    cap = b->cap ? b->cap : 256;
    while (cap < b->len + more)
        cap *= 2;
    if ((d = realloc(b->data, cap)) == NULL)
        return -ENOMEM;
    b->data = d;
    b->cap = cap;
    return 0;
}

/* Appends a varint (room for 10 bytes must be reserved). */
static void put_varint(docstore_buf_t *b, uint64_t v)
{
    while (v >= 0x80) {
        b->data[b->len++] = (uint8_t)(v | 0x80);
        v >>= 7;
    }
    b->data[b->len++] = (uint8_t)v;
}

static bool get_varint(const uint8_t **p, const uint8_t *end, uint64_t *out)
{
    uint64_t v = 0;

    for (unsigned shift = 0; *p < end && shift < 64; shift += 7) {
        uint8_t b = *(*p)++;
        v |= (uint64_t)(b & 0x7f) << shift;
        if (b < 0x80) {
            *out = v;
            return true;
        }
    }
    return false;
}

/* ---- entries ---- */

/* One parsed entry of a blob. */
typedef struct entry {
    size_t field;
    unsigned tag;
    int64_t i;        /* TAG_INT */
    const uint8_t *s; /* TAG_STRING: s[0..slen) */
    size_t slen;
    const uint8_t *body; /* the value's bytes after the head, body[0..body_len) */
    size_t body_len;
} entry_t;

static unsigned tag_of_type(schema_field_type_t t)
{
    return t == SCHEMA_INT ? TAG_INT : t == SCHEMA_BOOL ? TAG_FALSE : TAG_STRING;
}

/* Parses the entry at *p (< end) following field `next` - 1. 0 or BDX_ECORRUPT. */
static int parse_entry(const schema_t *schema, const uint8_t **p, const uint8_t *end, size_t next,
                       entry_t *e, bdx_error_t *err)
{
    uint64_t head, v;
    unsigned want;

    if (!get_varint(p, end, &head))
        return bdx_error_set(err, BDX_ECORRUPT, "stored blob: truncated entry head");
    if ((head >> TAG_BITS) >= schema->stored_count - next)
        return bdx_error_set(err, BDX_ECORRUPT, "stored blob: field beyond the schema's %zu",
                             schema->stored_count);
    e->field = next + (size_t)(head >> TAG_BITS);
    e->tag = (unsigned)(head & ((1u << TAG_BITS) - 1));
    want = tag_of_type(schema->stored_fields[e->field].type);
    if (e->tag != want && !(want == TAG_FALSE && e->tag == TAG_TRUE))
        return bdx_error_set(err, BDX_ECORRUPT, "stored blob: field %s: tag %u for its type",
                             schema->stored_fields[e->field].name, e->tag);
    e->body = *p;
    switch (e->tag) {
    case TAG_INT:
        if (!get_varint(p, end, &v))
            return bdx_error_set(err, BDX_ECORRUPT, "stored blob: field %s: truncated integer",
                                 schema->stored_fields[e->field].name);
        e->i = (int64_t)(v >> 1) ^ -(int64_t)(v & 1);
        break;
    case TAG_STRING:
        if (!get_varint(p, end, &v) || v > (uint64_t)(end - *p))
            return bdx_error_set(err, BDX_ECORRUPT, "stored blob: field %s: truncated string",
                                 schema->stored_fields[e->field].name);
        e->s = *p;
        e->slen = (size_t)v;
        *p += v;
        break;
    default: /* booleans: the tag is the value */
        break;
    }
    e->body_len = (size_t)(*p - e->body);
    return 0;
}

/* Appends an entry: head for `field` after `*next` - 1, then the body bytes. */
static int emit(docstore_buf_t *out, size_t *next, size_t field, unsigned tag, const void *body,
                size_t body_len)
{
    if (buf_reserve(out, 10 + body_len) != 0)
        return -ENOMEM;
    put_varint(out, (uint64_t)(field - *next) << TAG_BITS | tag);
    if (body_len > 0)
        memcpy(out->data + out->len, body, body_len);
    out->len += body_len;
    *next = field + 1;
    return 0;
}

/* Appends the entry of a (checked, non-null) message value. */
static int emit_value(docstore_buf_t *out, size_t *next, size_t field,
                      const Bitdex__V1__StoredValue *v)
{
    uint8_t tmp[10];
    docstore_buf_t t = {tmp, 0, sizeof(tmp)};
    size_t len;

    switch (v->kind_case) {
    case BITDEX__V1__STORED_VALUE__KIND_INT_VALUE:
        put_varint(&t, ((uint64_t)v->int_value << 1) ^ (uint64_t)(v->int_value >> 63));
        return emit(out, next, field, TAG_INT, tmp, t.len);
    case BITDEX__V1__STORED_VALUE__KIND_BOOL_VALUE:
        return emit(out, next, field, v->bool_value ? TAG_TRUE : TAG_FALSE, NULL, 0);
    default: /* string */
        len = strlen(v->string_value);
        put_varint(&t, len);
        if (emit(out, next, field, TAG_STRING, tmp, t.len) != 0 || buf_reserve(out, len) != 0)
            return -ENOMEM;
        memcpy(out->data + out->len, v->string_value, len);
        out->len += len;
        return 0;
    }
}

/* ---- merge ---- */

typedef struct listed {
    size_t field;
    const Bitdex__V1__StoredValue *value;
} listed_t;

static const char *kind_name(Bitdex__V1__StoredValue__KindCase k)
{
    switch (k) {
    case BITDEX__V1__STORED_VALUE__KIND_INT_VALUE:
        return "int";
    case BITDEX__V1__STORED_VALUE__KIND_BOOL_VALUE:
        return "bool";
    case BITDEX__V1__STORED_VALUE__KIND_STRING_VALUE:
        return "string";
    case BITDEX__V1__STORED_VALUE__KIND_BYTES_VALUE:
        return "bytes";
    case BITDEX__V1__STORED_VALUE__KIND_DOUBLE_VALUE:
        return "double";
    default:
        return "nothing";
    }
}

/* Resolves and checks the listed fields into l[0..n), sorted by field. */
static int resolve(const schema_t *schema, Bitdex__V1__StoredFieldValue *const *fields, size_t n,
                   listed_t *l, bdx_error_t *err)
{
    static const Bitdex__V1__StoredValue__KindCase want[] = {
        [SCHEMA_INT] = BITDEX__V1__STORED_VALUE__KIND_INT_VALUE,
        [SCHEMA_BOOL] = BITDEX__V1__STORED_VALUE__KIND_BOOL_VALUE,
        [SCHEMA_STRING] = BITDEX__V1__STORED_VALUE__KIND_STRING_VALUE,
    };

    for (size_t i = 0; i < n; i++) {
        const Bitdex__V1__StoredFieldValue *f = fields[i];
        int fi = f->field != NULL ? schema_stored_find(schema, f->field) : -1;
        const schema_stored_field_t *sf;
        size_t j;

        if (fi < 0)
            return bdx_error_set(err, BDX_EINVAL, "stored field \"%s\": unknown",
                                 f->field != NULL ? f->field : "");
        sf = &schema->stored_fields[fi];
        if (f->value == NULL || f->value->kind_case == BITDEX__V1__STORED_VALUE__KIND__NOT_SET)
            return bdx_error_set(err, BDX_EINVAL, "stored field \"%s\": no value", sf->name);
        if (f->value->kind_case != BITDEX__V1__STORED_VALUE__KIND_NULL_VALUE &&
            f->value->kind_case != want[sf->type])
            return bdx_error_set(err, BDX_EINVAL, "stored field \"%s\": want %s, got %s", sf->name,
                                 kind_name(want[sf->type]), kind_name(f->value->kind_case));
        /* insertion sort: documents list a few stored fields */
        for (j = i; j > 0 && l[j - 1].field > (size_t)fi; j--)
            l[j] = l[j - 1];
        if (j > 0 && l[j - 1].field == (size_t)fi)
            return bdx_error_set(err, BDX_EINVAL, "stored field \"%s\": listed twice", sf->name);
        l[j].field = (size_t)fi;
        l[j].value = f->value;
    }
    return 0;
}

int docstore_merge(const schema_t *schema, const uint8_t *old, size_t old_len,
                   Bitdex__V1__StoredFieldValue *const *fields, size_t n, docstore_buf_t *out,
                   bdx_error_t *err)
{
    const uint8_t *p = old, *end = old != NULL ? old + old_len : NULL;
    size_t onext = 0, next = 0, i = 0;
    listed_t *l = NULL;
    entry_t e;
    bool have = false;
    int rc = 0;

    out->len = 0;
    if (n > 0 && (l = malloc(n * sizeof(*l))) == NULL)
        return bdx_error_set(err, -ENOMEM, "stored fields: out of memory");
    if ((rc = resolve(schema, fields, n, l, err)) != 0)
        goto out;
    for (;;) {
        if (!have && p != NULL && p < end) {
            if ((rc = parse_entry(schema, &p, end, onext, &e, err)) != 0)
                goto out;
            onext = e.field + 1;
            have = true;
        }
        if (!have && i == n)
            break;
        if (i < n && (!have || l[i].field <= e.field)) {
            if (have && l[i].field == e.field)
                have = false; /* replaced or removed */
            if (l[i].value->kind_case != BITDEX__V1__STORED_VALUE__KIND_NULL_VALUE &&
                (rc = emit_value(out, &next, l[i].field, l[i].value)) != 0)
                goto nomem;
            i++;
        } else {
            if ((rc = emit(out, &next, e.field, e.tag, e.body, e.body_len)) != 0)
                goto nomem;
            have = false;
        }
    }
    goto out;
nomem:
    rc = bdx_error_set(err, -ENOMEM, "stored fields: out of memory");
out:
    free(l);
    if (rc != 0)
        out->len = 0;
    return rc;
}

int docstore_check(const schema_t *schema, const uint8_t *blob, size_t len, bdx_error_t *err)
{
    const uint8_t *p = blob, *end = len > 0 ? blob + len : blob;
    size_t next = 0;
    entry_t e = {0};
    int rc;

    while (p < end) {
        if ((rc = parse_entry(schema, &p, end, next, &e, err)) != 0)
            return rc;
        next = e.field + 1;
    }
    return 0;
}

/* ---- decode ---- */

void docstore_fields_free(Bitdex__V1__StoredFieldValue **fields, size_t n)
{
    for (size_t i = 0; fields != NULL && i < n; i++)
        bitdex__v1__stored_field_value__free_unpacked(fields[i], NULL);
    free(fields);
}

/* A new message for entry e. NULL when out of memory. */
static Bitdex__V1__StoredFieldValue *to_message(const schema_t *schema, const entry_t *e)
{
    Bitdex__V1__StoredFieldValue *m = malloc(sizeof(*m));
    Bitdex__V1__StoredValue *v;

    if (m == NULL)
        return NULL;
    bitdex__v1__stored_field_value__init(m);
    if ((m->field = strdup(schema->stored_fields[e->field].name)) == NULL ||
        (v = m->value = malloc(sizeof(*v))) == NULL)
        goto fail;
    bitdex__v1__stored_value__init(v);
    switch (e->tag) {
    case TAG_INT:
        v->kind_case = BITDEX__V1__STORED_VALUE__KIND_INT_VALUE;
        v->int_value = e->i;
        break;
    case TAG_FALSE:
    case TAG_TRUE:
        v->kind_case = BITDEX__V1__STORED_VALUE__KIND_BOOL_VALUE;
        v->bool_value = e->tag == TAG_TRUE;
        break;
    default:
        if ((v->string_value = malloc(e->slen + 1)) == NULL)
            goto fail;
        memcpy(v->string_value, e->s, e->slen);
        v->string_value[e->slen] = '\0';
        v->kind_case = BITDEX__V1__STORED_VALUE__KIND_STRING_VALUE;
    }
    return m;
fail:
    bitdex__v1__stored_field_value__free_unpacked(m, NULL);
    return NULL;
}

int docstore_decode(const schema_t *schema, const uint8_t *blob, size_t len, const size_t *fields,
                    size_t nfields, Bitdex__V1__StoredFieldValue ***out, size_t *n_out,
                    bdx_error_t *err)
{
    const uint8_t *p = blob, *end = len > 0 ? blob + len : blob;
    size_t next = 0, n = 0, want = fields != NULL ? nfields : schema->stored_count;
    entry_t *at = NULL, e;
    bool *has = NULL;
    Bitdex__V1__StoredFieldValue **res = NULL;
    int rc = 0;

    *out = NULL;
    *n_out = 0;
    for (size_t i = 0; fields != NULL && i < nfields; i++)
        if (fields[i] >= schema->stored_count)
            return bdx_error_set(err, BDX_EINVAL, "stored field #%zu: no such field", fields[i]);
    if (len == 0 || want == 0)
        return 0;
    at = malloc(schema->stored_count * sizeof(*at));
    has = calloc(schema->stored_count, sizeof(*has));
    res = calloc(want, sizeof(*res));
    if (at == NULL || has == NULL || res == NULL)
        goto nomem;
    while (p < end) {
        if ((rc = parse_entry(schema, &p, end, next, &e, err)) != 0)
            goto out;
        next = e.field + 1;
        at[e.field] = e;
        has[e.field] = true;
    }
    for (size_t i = 0; i < want; i++) {
        size_t f = fields != NULL ? fields[i] : i;
        if (!has[f])
            continue;
        if ((res[n] = to_message(schema, &at[f])) == NULL)
            goto nomem;
        n++;
    }
    if (n > 0) {
        *out = res;
        *n_out = n;
        res = NULL;
    }
    goto out;
nomem:
    rc = bdx_error_set(err, -ENOMEM, "stored fields: out of memory");
out:
    docstore_fields_free(res, n);
    free(at);
    free(has);
    return rc;
}

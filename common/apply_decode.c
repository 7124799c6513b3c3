/*
 * apply_decode: one function per message type of an ApplyRequest, each reading its fields in
 * descriptor order with the one-byte tags canonical packing gives them (every field number is
 * below 16). A field is read only when its tag is next, in order, so a field out of order,
 * twice, unknown, of another wire type or with a padded tag leaves bytes unread and the message
 * falls back. A repeated field's elements are together (canonical), so their count is found by
 * skipping over the run before decoding it, and the array is allocated once, as protobuf-c does.
 * The value rules are pbcanon.c's: shortest varints, uint32 and bool in range, proto3 scalars
 * and strings outside oneofs never zero, no NUL in strings.
 */
#include "common/apply_decode.h"
#include "common/protowire.h"

#include "common/pbarena.h"

#include <string.h>

#define TAG(num, wire) ((uint8_t)((num) << 3 | PROTOBUF_C_WIRE_TYPE_##wire))

typedef bool (*decode_fn)(ProtobufCAllocator *al, const uint8_t *p, const uint8_t *end, void **out);

static inline void *alloc(ProtobufCAllocator *al, size_t size)
{
    return al->alloc(al->allocator_data, size);
}

/* True when the next byte is `tag`; consumes it then. */
static inline bool next(const uint8_t **p, const uint8_t *end, uint8_t tag)
{
    if (*p < end && **p == tag) {
        (*p)++;
        return true;
    }
    return false;
}

/* A length prefix: the body ends at *body_end. */
static inline bool length(const uint8_t **p, const uint8_t *end, const uint8_t **body_end)
{
    uint64_t v;

    if (!protowire_varint_canonical(p, end, &v) || v > (uint64_t)(end - *p))
        return false;
    *body_end = *p + v;
    return true;
}

/* A non-zero uint32 (a proto3 scalar outside a oneof). */
static inline bool id32(const uint8_t **p, const uint8_t *end, uint32_t *out)
{
    uint64_t v;

    if (!protowire_varint_canonical(p, end, &v) || v == 0 || v > UINT32_MAX)
        return false;
    *out = (uint32_t)v;
    return true;
}

/* A string, copied and NUL-terminated as protobuf-c does; `zero_ok`: in a oneof. */
static bool string(ProtobufCAllocator *al, const uint8_t **p, const uint8_t *end, bool zero_ok,
                   char **out)
{
    const uint8_t *body_end;
    size_t n;
    char *s;

    if (!length(p, end, &body_end))
        return false;
    n = (size_t)(body_end - *p);
    if ((n == 0 && !zero_ok) || memchr(*p, 0, n) != NULL || (s = alloc(al, n + 1)) == NULL)
        return false;
    memcpy(s, *p, n);
    s[n] = '\0';
    *out = s;
    *p = body_end;
    return true;
}

/* A length-delimited sub-message decoded by `fn`. */
static inline bool sub(ProtobufCAllocator *al, const uint8_t **p, const uint8_t *end, decode_fn fn,
                       void **out)
{
    const uint8_t *body_end;

    if (!length(p, end, &body_end) || !fn(al, *p, body_end, out))
        return false;
    *p = body_end;
    return true;
}

/* The run of sub-messages tagged `tag` at *p (its first tag not read yet). */
static bool repeated(ProtobufCAllocator *al, const uint8_t **p, const uint8_t *end, uint8_t tag,
                     decode_fn fn, size_t *n_out, void ***out)
{
    const uint8_t *q = *p, *body_end;
    size_t n = 0;
    void **arr;

    *out = NULL;
    while (next(&q, end, tag)) {
        if (!length(&q, end, &body_end))
            return false;
        q = body_end;
        n++;
    }
    if (n == 0)
        return true;
    if ((arr = alloc(al, n * sizeof(*arr))) == NULL)
        return false;
    for (size_t i = 0; i < n; i++) {
        (*p)++; /* the tag */
        if (!sub(al, p, end, fn, &arr[i]))
            return false;
    }
    *n_out = n;
    *out = arr;
    return true;
}

static bool null_msg(ProtobufCAllocator *al, const uint8_t *p, const uint8_t *end, void **out)
{
    Bitdex__V1__Null *m;

    if (p != end || (m = alloc(al, sizeof(*m))) == NULL)
        return false; /* Null has no fields: anything inside is unknown */
    bitdex__v1__null__init(m);
    *out = m;
    return true;
}

static bool value_msg(ProtobufCAllocator *al, const uint8_t *p, const uint8_t *end, void **out)
{
    Bitdex__V1__Value *m = alloc(al, sizeof(*m));
    uint64_t v;
    void *s;
    uint8_t tag;

    if (m == NULL)
        return false;
    bitdex__v1__value__init(m);
    *out = m;
    if (p == end)
        return true;
    switch (tag = *p++) {
    case TAG(1, VARINT):
        if (!protowire_varint_canonical(&p, end, &v))
            return false;
        m->int_value = (int64_t)v;
        break;
    case TAG(2, VARINT):
        if (!protowire_varint_canonical(&p, end, &v) || v > 1)
            return false;
        m->bool_value = (protobuf_c_boolean)v;
        break;
    case TAG(3, LENGTH_PREFIXED):
        if (!string(al, &p, end, true, &m->string_value))
            return false;
        break;
    case TAG(4, LENGTH_PREFIXED):
        if (!sub(al, &p, end, null_msg, &s))
            return false;
        m->null_value = s;
        break;
    default:
        return false;
    }
    m->kind_case = (Bitdex__V1__Value__KindCase)(tag >> 3);
    return p == end; /* a second member of the oneof, or anything after it */
}

static bool stored_value_msg(ProtobufCAllocator *al, const uint8_t *p, const uint8_t *end,
                             void **out)
{
    Bitdex__V1__StoredValue *m = alloc(al, sizeof(*m));
    const uint8_t *body_end;
    uint64_t v;
    void *s;
    uint8_t tag;

    if (m == NULL)
        return false;
    bitdex__v1__stored_value__init(m);
    *out = m;
    if (p == end)
        return true;
    switch (tag = *p++) {
    case TAG(1, VARINT):
        if (!protowire_varint_canonical(&p, end, &v))
            return false;
        m->int_value = (int64_t)v;
        break;
    case TAG(2, VARINT):
        if (!protowire_varint_canonical(&p, end, &v) || v > 1)
            return false;
        m->bool_value = (protobuf_c_boolean)v;
        break;
    case TAG(3, LENGTH_PREFIXED):
        if (!string(al, &p, end, true, &m->string_value))
            return false;
        break;
    case TAG(4, LENGTH_PREFIXED):
        if (!length(&p, end, &body_end))
            return false;
        m->bytes_value.len = (size_t)(body_end - p);
        if (m->bytes_value.len > 0) { /* protobuf-c leaves data NULL for empty bytes */
            if ((m->bytes_value.data = alloc(al, m->bytes_value.len)) == NULL)
                return false;
            memcpy(m->bytes_value.data, p, m->bytes_value.len);
        }
        p = body_end;
        break;
    case TAG(5, 64BIT):
        if (end - p < 8)
            return false;
        memcpy(&m->double_value, p, 8); /* little-endian hosts, as protobuf-c assumes */
        p += 8;
        break;
    case TAG(6, LENGTH_PREFIXED):
        if (!sub(al, &p, end, null_msg, &s))
            return false;
        m->null_value = s;
        break;
    default:
        return false;
    }
    m->kind_case = (Bitdex__V1__StoredValue__KindCase)(tag >> 3);
    return p == end;
}

static bool field_value_msg(ProtobufCAllocator *al, const uint8_t *p, const uint8_t *end,
                            void **out)
{
    void **arr;
    Bitdex__V1__FieldValue *m = alloc(al, sizeof(*m));
    void *s;

    if (m == NULL)
        return false;
    bitdex__v1__field_value__init(m);
    *out = m;
    if (next(&p, end, TAG(1, LENGTH_PREFIXED)) && !string(al, &p, end, false, &m->field))
        return false;
    if (next(&p, end, TAG(2, LENGTH_PREFIXED))) {
        if (!sub(al, &p, end, value_msg, &s))
            return false;
        m->value = s;
    }
    if (!repeated(al, &p, end, TAG(3, LENGTH_PREFIXED), value_msg, &m->n_values, &arr))
        return false;
    m->values = (Bitdex__V1__Value **)arr;
    return p == end;
}

static bool sort_field_value_msg(ProtobufCAllocator *al, const uint8_t *p, const uint8_t *end,
                                 void **out)
{
    Bitdex__V1__SortFieldValue *m = alloc(al, sizeof(*m));
    void *s;

    if (m == NULL)
        return false;
    bitdex__v1__sort_field_value__init(m);
    *out = m;
    if (next(&p, end, TAG(1, LENGTH_PREFIXED)) && !string(al, &p, end, false, &m->field))
        return false;
    if (next(&p, end, TAG(2, VARINT))) {
        if (!protowire_varint_canonical(&p, end, &m->value))
            return false;
        m->kind_case = BITDEX__V1__SORT_FIELD_VALUE__KIND_VALUE;
    } else if (next(&p, end, TAG(3, LENGTH_PREFIXED))) {
        if (!sub(al, &p, end, null_msg, &s))
            return false;
        m->null_value = s;
        m->kind_case = BITDEX__V1__SORT_FIELD_VALUE__KIND_NULL_VALUE;
    }
    return p == end;
}

static bool stored_field_value_msg(ProtobufCAllocator *al, const uint8_t *p, const uint8_t *end,
                                   void **out)
{
    Bitdex__V1__StoredFieldValue *m = alloc(al, sizeof(*m));
    void *s;

    if (m == NULL)
        return false;
    bitdex__v1__stored_field_value__init(m);
    *out = m;
    if (next(&p, end, TAG(1, LENGTH_PREFIXED)) && !string(al, &p, end, false, &m->field))
        return false;
    if (next(&p, end, TAG(2, LENGTH_PREFIXED))) {
        if (!sub(al, &p, end, stored_value_msg, &s))
            return false;
        m->value = s;
    }
    return p == end;
}

static bool document_msg(ProtobufCAllocator *al, const uint8_t *p, const uint8_t *end, void **out)
{
    void **arr;
    Bitdex__V1__Document *m = alloc(al, sizeof(*m));

    if (m == NULL)
        return false;
    bitdex__v1__document__init(m);
    *out = m;
    if (next(&p, end, TAG(1, VARINT)) && !id32(&p, end, &m->id))
        return false;
    if (!repeated(al, &p, end, TAG(2, LENGTH_PREFIXED), field_value_msg, &m->n_filter_fields, &arr))
        return false;
    m->filter_fields = (Bitdex__V1__FieldValue **)arr;
    if (!repeated(al, &p, end, TAG(3, LENGTH_PREFIXED), sort_field_value_msg, &m->n_sort_fields,
                  &arr))
        return false;
    m->sort_fields = (Bitdex__V1__SortFieldValue **)arr;
    if (!repeated(al, &p, end, TAG(4, LENGTH_PREFIXED), stored_field_value_msg, &m->n_stored_fields,
                  &arr))
        return false;
    m->stored_fields = (Bitdex__V1__StoredFieldValue **)arr;
    return p == end;
}

static bool put_op_msg(ProtobufCAllocator *al, const uint8_t *p, const uint8_t *end, void **out)
{
    Bitdex__V1__PutOp *m = alloc(al, sizeof(*m));
    void *s;

    if (m == NULL)
        return false;
    bitdex__v1__put_op__init(m);
    *out = m;
    if (next(&p, end, TAG(1, LENGTH_PREFIXED))) {
        if (!sub(al, &p, end, document_msg, &s))
            return false;
        m->document = s;
    }
    return p == end;
}

static bool merge_op_msg(ProtobufCAllocator *al, const uint8_t *p, const uint8_t *end, void **out)
{
    Bitdex__V1__MergeOp *m = alloc(al, sizeof(*m));
    void *s;

    if (m == NULL)
        return false;
    bitdex__v1__merge_op__init(m);
    *out = m;
    if (next(&p, end, TAG(1, LENGTH_PREFIXED))) {
        if (!sub(al, &p, end, document_msg, &s))
            return false;
        m->document = s;
    }
    return p == end;
}

static bool delete_op_msg(ProtobufCAllocator *al, const uint8_t *p, const uint8_t *end, void **out)
{
    Bitdex__V1__DeleteOp *m = alloc(al, sizeof(*m));

    if (m == NULL)
        return false;
    bitdex__v1__delete_op__init(m);
    *out = m;
    if (next(&p, end, TAG(1, VARINT)) && !id32(&p, end, &m->id))
        return false;
    return p == end;
}

static bool set_op_msg(ProtobufCAllocator *al, const uint8_t *p, const uint8_t *end, void **out)
{
    Bitdex__V1__SetOp *m = alloc(al, sizeof(*m));
    void *s;

    if (m == NULL)
        return false;
    bitdex__v1__set_op__init(m);
    *out = m;
    if (next(&p, end, TAG(1, VARINT)) && !id32(&p, end, &m->id))
        return false;
    if (next(&p, end, TAG(2, LENGTH_PREFIXED))) {
        if (!sub(al, &p, end, field_value_msg, &s))
            return false;
        m->filter = s;
        m->field_case = BITDEX__V1__SET_OP__FIELD_FILTER;
    } else if (next(&p, end, TAG(3, LENGTH_PREFIXED))) {
        if (!sub(al, &p, end, sort_field_value_msg, &s))
            return false;
        m->sort = s;
        m->field_case = BITDEX__V1__SET_OP__FIELD_SORT;
    } else if (next(&p, end, TAG(4, LENGTH_PREFIXED))) {
        if (!sub(al, &p, end, stored_field_value_msg, &s))
            return false;
        m->stored = s;
        m->field_case = BITDEX__V1__SET_OP__FIELD_STORED;
    }
    return p == end;
}

static bool multi_value_op_msg(ProtobufCAllocator *al, const uint8_t *p, const uint8_t *end,
                               void **out)
{
    void **arr;
    Bitdex__V1__MultiValueOp *m = alloc(al, sizeof(*m));

    if (m == NULL)
        return false;
    bitdex__v1__multi_value_op__init(m);
    *out = m;
    if (next(&p, end, TAG(1, VARINT)) && !id32(&p, end, &m->id))
        return false;
    if (next(&p, end, TAG(2, LENGTH_PREFIXED)) && !string(al, &p, end, false, &m->field))
        return false;
    if (!repeated(al, &p, end, TAG(3, LENGTH_PREFIXED), value_msg, &m->n_values, &arr))
        return false;
    m->values = (Bitdex__V1__Value **)arr;
    return p == end;
}

static bool op_msg(ProtobufCAllocator *al, const uint8_t *p, const uint8_t *end, void **out)
{
    static const decode_fn kinds[] = {
        NULL,       put_op_msg,         merge_op_msg,      delete_op_msg,
        set_op_msg, multi_value_op_msg, multi_value_op_msg};
    Bitdex__V1__Op *m = alloc(al, sizeof(*m));
    void *s;
    uint8_t tag;

    if (m == NULL)
        return false;
    bitdex__v1__op__init(m);
    *out = m;
    if (p == end)
        return true;
    tag = *p++;
    if ((tag & 7) != PROTOBUF_C_WIRE_TYPE_LENGTH_PREFIXED || (tag >> 3) < 1 || (tag >> 3) > 6 ||
        !sub(al, &p, end, kinds[tag >> 3], &s))
        return false;
    m->op_case = (Bitdex__V1__Op__OpCase)(tag >> 3);
    m->put = s; /* every member of the union is a pointer to the op's message */
    return p == end;
}

bool apply_decode(ProtobufCAllocator *al, const uint8_t *data, size_t len,
                  Bitdex__V1__ApplyRequest **out)
{
    void **arr;
    const uint8_t *p = data, *end = data + len;
    Bitdex__V1__ApplyRequest *m = alloc(al, sizeof(*m));

    *out = NULL;
    if (m == NULL)
        return false;
    bitdex__v1__apply_request__init(m);
    if (next(&p, end, TAG(1, LENGTH_PREFIXED)) && !string(al, &p, end, false, &m->index))
        return false;
    if (!repeated(al, &p, end, TAG(2, LENGTH_PREFIXED), op_msg, &m->n_ops, &arr))
        return false;
    m->ops = (Bitdex__V1__Op **)arr;
    if (next(&p, end, TAG(3, LENGTH_PREFIXED)) && !string(al, &p, end, false, &m->batch_id))
        return false;
    if (p != end)
        return false;
    *out = m;
    return true;
}

Bitdex__V1__ApplyRequest *apply_decode_arena(pbarena_t *a, const uint8_t *data, size_t len)
{
    Bitdex__V1__ApplyRequest *req = NULL;

    if (apply_decode(pbarena_allocator(a, len), data, len, &req))
        return req;
    return (Bitdex__V1__ApplyRequest *)pbarena_unpack(a, &bitdex__v1__apply_request__descriptor,
                                                      len, data);
}

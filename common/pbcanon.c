/*
 * pbcanon: one pass over the wire bytes, checking each field against the descriptor. See
 * pbcanon.h for the rules; each one mirrors what protobuf_c_message_pack() (protobuf-c 1.4)
 * does: it walks desc->fields in order, packs repeated non-packed fields element by element,
 * packs the set member of a oneof, leaves out proto3 scalars that are zero (and NULL or empty
 * strings and bytes), and writes every varint in its shortest form; unknown fields go last.
 */
#include "common/pbcanon.h"
#include "common/protowire.h"

#include <string.h>

#define MAX_DEPTH 32
#define MAX_ONEOFS 8

static bool message_ok(const ProtobufCMessageDescriptor *desc, const uint8_t *p, const uint8_t *end,
                       int depth);

/* The descriptor of field `number`, or NULL. Fields numbered 1..n in order are found directly. */
static inline const ProtobufCFieldDescriptor *field_of(const ProtobufCMessageDescriptor *desc,
                                                       unsigned number)
{
    if (number - 1 < desc->n_fields && desc->fields[number - 1].id == number)
        return &desc->fields[number - 1];
    return protobuf_c_message_descriptor_get_field(desc, number);
}

/* One field's value at *p (its tag read); `zero_ok`: a zero value is packed too. */
static bool value_ok(const ProtobufCFieldDescriptor *f, unsigned wire, bool zero_ok,
                     const uint8_t **p, const uint8_t *end, int depth)
{
    uint64_t v;

    switch (f->type) {
    case PROTOBUF_C_TYPE_INT64:
    case PROTOBUF_C_TYPE_UINT64:
        return wire == PROTOBUF_C_WIRE_TYPE_VARINT && protowire_varint_canonical(p, end, &v) &&
               (zero_ok || v != 0);
    case PROTOBUF_C_TYPE_UINT32:
        return wire == PROTOBUF_C_WIRE_TYPE_VARINT && protowire_varint_canonical(p, end, &v) &&
               v <= UINT32_MAX && (zero_ok || v != 0);
    case PROTOBUF_C_TYPE_BOOL:
        return wire == PROTOBUF_C_WIRE_TYPE_VARINT && protowire_varint_canonical(p, end, &v) &&
               v <= 1 && (zero_ok || v != 0);
    case PROTOBUF_C_TYPE_DOUBLE: /* any 8 bytes are copied back; zero is dropped outside oneofs */
        if (wire != PROTOBUF_C_WIRE_TYPE_64BIT || !zero_ok || end - *p < 8)
            return false;
        *p += 8;
        return true;
    case PROTOBUF_C_TYPE_STRING:
    case PROTOBUF_C_TYPE_BYTES:
    case PROTOBUF_C_TYPE_MESSAGE:
        if (wire != PROTOBUF_C_WIRE_TYPE_LENGTH_PREFIXED ||
            !protowire_varint_canonical(p, end, &v) || v > (uint64_t)(end - *p))
            return false;
        {
            const uint8_t *body = *p;
            *p += v;
            if (f->type == PROTOBUF_C_TYPE_MESSAGE)
                return message_ok(f->descriptor, body, body + v, depth + 1);
            if (f->type == PROTOBUF_C_TYPE_STRING && memchr(body, 0, v) != NULL)
                return false;
            return zero_ok || v != 0;
        }
    default:
        return false;
    }
}

static bool message_ok(const ProtobufCMessageDescriptor *desc, const uint8_t *p, const uint8_t *end,
                       int depth)
{
    unsigned oneofs[MAX_ONEOFS];
    size_t n_oneofs = 0;
    ptrdiff_t last = -1;

    if (desc == NULL || depth > MAX_DEPTH)
        return false;
    while (p < end) {
        const ProtobufCFieldDescriptor *f;
        bool oneof, repeated;
        uint64_t tag;
        ptrdiff_t idx;

        if (!protowire_varint_canonical(&p, end, &tag) || (tag >> 3) == 0 ||
            (tag >> 3) > UINT32_MAX)
            return false;
        if ((f = field_of(desc, (unsigned)(tag >> 3))) == NULL)
            return false; /* unknown: packed after the known fields */
        idx = f - desc->fields;
        oneof = (f->flags & PROTOBUF_C_FIELD_FLAG_ONEOF) != 0;
        repeated = f->label == PROTOBUF_C_LABEL_REPEATED;
        if (idx < last || (idx == last && !repeated))
            return false; /* out of order, a repeated field split, or a field twice */
        if (repeated && ((f->flags & PROTOBUF_C_FIELD_FLAG_PACKED) ||
                         (f->type != PROTOBUF_C_TYPE_MESSAGE && f->type != PROTOBUF_C_TYPE_STRING &&
                          f->type != PROTOBUF_C_TYPE_BYTES)))
            return false;
        if (!repeated && f->label != PROTOBUF_C_LABEL_NONE &&
            !(oneof && f->label == PROTOBUF_C_LABEL_OPTIONAL))
            return false; /* proto2 labels, proto3 optional: not needed */
        if (oneof && idx != last) {
            for (size_t k = 0; k < n_oneofs; k++)
                if (oneofs[k] == f->quantifier_offset)
                    return false; /* a second member of the same oneof: the last one wins */
            if (n_oneofs == MAX_ONEOFS)
                return false;
            oneofs[n_oneofs++] = f->quantifier_offset;
        }
        if (!value_ok(f, (unsigned)(tag & 7), repeated || oneof, &p, end, depth))
            return false;
        last = idx;
    }
    return true;
}

bool pbcanon_check(const ProtobufCMessageDescriptor *desc, const uint8_t *data, size_t len)
{
    return message_ok(desc, data, data + len, 0);
}

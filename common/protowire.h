/*
 * protowire: a minimal reader of the protobuf wire format, enough to walk serialized descriptors
 * (google.protobuf.FileDescriptorSet and friends) without libprotobuf or generated descriptor
 * code. It never allocates and never copies: length-delimited values point into the input.
 *
 * Thread-safe: a protowire_t is used by one thread; the input is only read.
 */
#ifndef BITDEX_PROTOWIRE_H
#define BITDEX_PROTOWIRE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Wire types (groups, 3 and 4, are not supported and read as corrupt input). */
enum {
    PROTOWIRE_VARINT = 0,
    PROTOWIRE_I64 = 1,
    PROTOWIRE_LEN = 2,
    PROTOWIRE_I32 = 5,
};

/* A cursor over one serialized message. */
typedef struct protowire {
    const uint8_t *p, *end;
} protowire_t;

/* One field: its number, wire type and value. */
typedef struct protowire_field {
    uint32_t number;
    int type;
    uint64_t u64;        /* PROTOWIRE_VARINT, PROTOWIRE_I64, PROTOWIRE_I32 */
    const uint8_t *data; /* PROTOWIRE_LEN: borrowed from the input */
    size_t len;
} protowire_field_t;

/* Starts reading the message in data[0, len). `data` is borrowed for the cursor's lifetime. */
void protowire_init(protowire_t *w, const void *data, size_t len);

/*
 * Reads the next field into *f. Returns 1 when a field was read, 0 at the end of the message and
 * BDX_ECORRUPT when the input is malformed (the cursor is then left at the end).
 */
int protowire_next(protowire_t *w, protowire_field_t *f);

/*
 * Reads a varint at *p (before `end`) in its shortest form, as protobuf encoders write it; false
 * when it is truncated, longer than 64 bits, or padded (a zero last byte). For the canonical-form
 * checks of received messages (common/pbcanon.c, common/apply_decode.c): hot, so inline.
 */
static inline bool protowire_varint_canonical(const uint8_t **p, const uint8_t *end, uint64_t *out)
{
    const uint8_t *q = *p;
    uint64_t v = 0;

    if (q < end && *q < 0x80) { /* one byte: most tags, lengths and small values */
        *out = *q;
        *p = q + 1;
        return true;
    }
    for (unsigned i = 0; i < 10 && q < end; i++) {
        uint8_t b = *q++;
        if (i == 9 && b > 1)
            return false;
        v |= (uint64_t)(b & 0x7f) << (7 * i);
        if (!(b & 0x80)) {
            if (b == 0 && i > 0)
                return false; /* a zero last byte: not the shortest form */
            *p = q;
            *out = v;
            return true;
        }
    }
    return false;
}

#endif

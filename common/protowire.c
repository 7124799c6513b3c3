/*
 * protowire: protobuf wire-format reader. See protowire.h.
 */
#include "common/protowire.h"

#include "common/error.h"

void protowire_init(protowire_t *w, const void *data, size_t len)
{
    w->p = data;
    w->end = w->p + len;
}

/* Reads a base-128 varint of at most 10 bytes. Returns 0 or BDX_ECORRUPT. */
static int read_varint(protowire_t *w, uint64_t *out)
{
    uint64_t v = 0;
    for (int shift = 0; shift < 70; shift += 7) {
        if (w->p >= w->end)
            return BDX_ECORRUPT;
        uint8_t b = *w->p++;
        v |= (uint64_t)(b & 0x7f) << shift;
        if (!(b & 0x80)) {
            *out = v;
            return 0;
        }
    }
    return BDX_ECORRUPT;
}

static int corrupt(protowire_t *w)
{
    w->p = w->end;
    return BDX_ECORRUPT;
}

int protowire_next(protowire_t *w, protowire_field_t *f)
{
    if (w->p >= w->end)
        return 0;
    uint64_t key;
    if (read_varint(w, &key) < 0)
        return corrupt(w);
    f->number = (uint32_t)(key >> 3);
    f->type = (int)(key & 7);
    f->u64 = 0;
    f->data = NULL;
    f->len = 0;
    if (f->number == 0 || key >> 32 != 0)
        return corrupt(w);
    size_t left;
    switch (f->type) {
    case PROTOWIRE_VARINT:
        if (read_varint(w, &f->u64) < 0)
            return corrupt(w);
        return 1;
    case PROTOWIRE_I64:
    case PROTOWIRE_I32: {
        size_t n = f->type == PROTOWIRE_I64 ? 8 : 4;
        if ((size_t)(w->end - w->p) < n)
            return corrupt(w);
        for (size_t i = 0; i < n; i++)
            f->u64 |= (uint64_t)w->p[i] << (8 * i);
        w->p += n;
        return 1;
    }
    case PROTOWIRE_LEN:
        if (read_varint(w, &f->u64) < 0)
            return corrupt(w);
        left = (size_t)(w->end - w->p);
        if (f->u64 > left)
            return corrupt(w);
        f->data = w->p;
        f->len = (size_t)f->u64;
        f->u64 = 0;
        w->p += f->len;
        return 1;
    default:
        return corrupt(w);
    }
}

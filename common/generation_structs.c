/*
 * generation_structs: the sections of a generation that hold structures other than bitmaps:
 * docvalues records, dictionaries, permutations and columns. These are written through each
 * structure's public API and copied at load (the image APIs of DESIGN.md will replace the
 * column, permutation and dictionary encodings here with zero-copy images).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "common/generation_internal.h"

/* ---- varints ---- */

static size_t put_varint(uint8_t *p, uint64_t v)
{
    size_t n = 0;

    while (v >= 0x80) {
        p[n++] = (uint8_t)(v | 0x80);
        v >>= 7;
    }
    p[n++] = (uint8_t)v;
    return n;
}

static int get_varint(const uint8_t **p, const uint8_t *end, uint64_t *v)
{
    uint64_t x = 0;

    for (unsigned shift = 0; shift < 64; shift += 7) {
        uint8_t b;
        if (*p >= end)
            return BDX_ECORRUPT;
        b = *(*p)++;
        x |= (uint64_t)(b & 0x7f) << shift;
        if ((b & 0x80) == 0) {
            *v = x;
            return 0;
        }
    }
    return BDX_ECORRUPT;
}

/* ---- docvalues records ---- */

int gen_records_put(gen_writer_t *w, uint32_t slot, const docvalues_rec_t *r)
{
    uint8_t tmp[32];
    size_t entries = 0;
    int rc;

    for (size_t f = 0; f < r->nfields; f++)
        entries += r->fields[f].kind != DOCVALUES_NONE;
    if ((rc = gen_writer_put(w, tmp, put_varint(tmp, slot))) != 0 ||
        (rc = gen_writer_put(w, tmp, put_varint(tmp, entries))) != 0)
        return rc;
    for (size_t f = 0; f < r->nfields; f++) {
        const docvalues_field_t *e = &r->fields[f];
        size_t n, k;
        const int64_t *keys;
        if (e->kind == DOCVALUES_NONE)
            continue;
        keys = docvalues_rec_keys(r, f, &n);
        k = put_varint(tmp, f);
        k += put_varint(tmp + k, (uint64_t)n << 1 | (e->kind == DOCVALUES_NULL));
        if ((rc = gen_writer_put(w, tmp, k)) != 0)
            return rc;
        for (size_t i = 0; i < n; i++) {
            uint64_t v = i == 0 ? ((uint64_t)keys[0] << 1) ^ (uint64_t)(keys[0] >> 63)
                                : (uint64_t)keys[i] - (uint64_t)keys[i - 1] - 1;
            if ((rc = gen_writer_put(w, tmp, put_varint(tmp, v))) != 0)
                return rc;
        }
    }
    return 0;
}

int gen_records_get(const uint8_t **p, const uint8_t *end, uint32_t *slot, docvalues_rec_t *r)
{
    uint64_t v, entries, prev_field = 0;
    int64_t keys[64];
    int rc;

    docvalues_rec_clear(r);
    if ((rc = get_varint(p, end, &v)) != 0 || v > UINT32_MAX)
        return BDX_ECORRUPT;
    *slot = (uint32_t)v;
    if ((rc = get_varint(p, end, &entries)) != 0 || entries > r->nfields)
        return BDX_ECORRUPT;
    for (uint64_t e = 0; e < entries; e++) {
        uint64_t field, head, n;
        int64_t *k = keys, prev = 0;
        if (get_varint(p, end, &field) != 0 || field >= r->nfields ||
            (e > 0 && field <= prev_field) || get_varint(p, end, &head) != 0)
            return BDX_ECORRUPT;
        prev_field = field;
        n = head >> 1;
        if ((head & 1) != 0) {
            if (n != 0)
                return BDX_ECORRUPT;
            if ((rc = docvalues_rec_set(r, field, DOCVALUES_NULL, NULL, 0)) != 0)
                return rc;
            continue;
        }
        if (n == 0 || n > (uint64_t)(end - *p))
            return BDX_ECORRUPT;
        if (n > 64 && (k = malloc(n * sizeof(*k))) == NULL)
            return -ENOMEM;
        for (uint64_t i = 0; i < n; i++) {
            if (get_varint(p, end, &v) != 0) {
                rc = BDX_ECORRUPT;
                break;
            }
            k[i] =
                i == 0 ? (int64_t)((v >> 1) ^ (~(v & 1) + 1)) : (int64_t)((uint64_t)prev + v + 1);
            prev = k[i];
        }
        if (rc == 0)
            rc = docvalues_rec_set(r, field, DOCVALUES_VALUES, k, n);
        if (k != keys)
            free(k);
        if (rc != 0)
            return rc;
    }
    return 0;
}

/* ---- dictionaries ---- */

int gen_put_dict(gen_writer_t *w, const dictionary_t *d, int64_t from)
{
    int64_t count = dictionary_count(d);
    uint64_t total = 0;
    uint8_t head[24], len[4];
    int rc;

    for (int64_t k = from; k < count; k++)
        total += strlen(dictionary_string(d, k));
    gen_put64(head, (uint64_t)from);
    gen_put64(head + 8, (uint64_t)(count - from));
    gen_put64(head + 16, total);
    if ((rc = gen_writer_put(w, head, sizeof(head))) != 0)
        return rc;
    for (int64_t k = from; k < count; k++) {
        gen_put32(len, (uint32_t)strlen(dictionary_string(d, k)));
        if ((rc = gen_writer_put(w, len, 4)) != 0)
            return rc;
    }
    for (int64_t k = from; k < count; k++) {
        const char *s = dictionary_string(d, k);
        if ((rc = gen_writer_put(w, s, strlen(s))) != 0)
            return rc;
    }
    return 0;
}

int gen_load_dict(dictionary_t *d, const uint8_t *p, uint64_t len, const char *what, int64_t *first,
                  bdx_error_t *err)
{
    uint64_t from, count, total, off;
    const uint8_t *lens, *bytes;
    char *tmp = NULL;
    size_t tmp_cap = 0;
    int rc = 0;

    if (len < 24)
        return bdx_error_set(err, BDX_ECORRUPT, "%s: dictionary section too short", what);
    from = gen_get64(p);
    count = gen_get64(p + 8);
    total = gen_get64(p + 16);
    if (count > (len - 24) / 4 || total != len - 24 - count * 4 ||
        from != (uint64_t)dictionary_count(d))
        return bdx_error_set(err, BDX_ECORRUPT,
                             "%s: dictionary section of %llu strings from key %llu does not fit",
                             what, (unsigned long long)count, (unsigned long long)from);
    *first = (int64_t)from;
    lens = p + 24;
    bytes = lens + count * 4;
    off = 0;
    for (uint64_t i = 0; i < count; i++) {
        uint32_t n = gen_get32(lens + 4 * i);
        int64_t key;
        if (n > total - off || memchr(bytes + off, 0, n) != NULL) {
            rc = bdx_error_set(err, BDX_ECORRUPT, "%s: dictionary string %llu out of range", what,
                               (unsigned long long)(from + i));
            break;
        }
        if (n + 1 > tmp_cap) {
            char *t = realloc(tmp, n + 64);
            if (t == NULL) {
                rc = bdx_error_set(err, -ENOMEM, "%s: out of memory", what);
                break;
            }
            tmp = t;
            tmp_cap = n + 64;
        }
        memcpy(tmp, bytes + off, n);
        tmp[n] = 0;
        off += n;
        if ((rc = dictionary_intern(d, tmp, &key)) != 0) {
            bdx_error_set(err, rc, "%s: %s", what, bdx_strerror(rc));
            break;
        }
        if ((uint64_t)key != from + i) {
            rc = bdx_error_set(err, BDX_ECORRUPT, "%s: dictionary string %llu is a duplicate", what,
                               (unsigned long long)(from + i));
            break;
        }
    }
    free(tmp);
    return rc;
}

/* ---- permutations ---- */

int gen_put_perm(gen_writer_t *w, const permutation_t *p)
{
    uint32_t n = permutation_count(p);
    uint8_t b[8];
    int rc;

    gen_put64(b, n);
    if ((rc = gen_writer_put(w, b, 8)) != 0)
        return rc;
    for (uint32_t i = 0; i < n; i++) {
        gen_put32(b, permutation_slot(p, i));
        if ((rc = gen_writer_put(w, b, 4)) != 0)
            return rc;
    }
    if (n % 2 != 0 && (rc = gen_writer_put(w, "\0\0\0\0", 4)) != 0)
        return rc;
    for (uint32_t i = 0; i < n; i++) {
        gen_put64(b, permutation_value(p, i));
        if ((rc = gen_writer_put(w, b, 8)) != 0)
            return rc;
    }
    return 0;
}

/* Rebuilds the permutation through permutation_build(): a column holding each member's
 * recorded value, over the member slots, sorts to exactly the recorded order. */
int gen_load_perm(const uint8_t *p, uint64_t len, unsigned bits, permutation_t **out,
                  const char *what, bdx_error_t *err)
{
    uint64_t n;
    const uint8_t *slots, *values;
    column_t *col = NULL;
    roaring_bitmap_t *members = NULL;
    int rc;

    if (len < 8)
        return bdx_error_set(err, BDX_ECORRUPT, "%s: permutation section too short", what);
    n = gen_get64(p);
    if (n > UINT32_MAX || len != 8 + n * 4 + (n % 2) * 4 + n * 8)
        return bdx_error_set(err, BDX_ECORRUPT, "%s: permutation of %llu entries does not fit",
                             what, (unsigned long long)n);
    slots = p + 8;
    values = slots + n * 4 + (n % 2) * 4;
    if ((rc = column_new(bits, &col)) != 0 || (members = roaring_bitmap_create()) == NULL) {
        rc = rc ? rc : -ENOMEM;
        goto out;
    }
    for (uint64_t i = 0; i < n; i++) {
        uint32_t slot = gen_get32(slots + 4 * i);
        uint64_t v = gen_get64(values + 8 * i);
        if (i > 0) {
            uint64_t pv = gen_get64(values + 8 * (i - 1));
            uint32_t ps = gen_get32(slots + 4 * (i - 1));
            if (pv > v || (pv == v && ps >= slot)) {
                rc = BDX_ECORRUPT;
                goto out;
            }
        }
        if ((rc = column_set(col, slot, v)) != 0)
            goto out; /* BDX_EINVAL: too wide for the field */
        roaring_bitmap_add(members, slot);
    }
    rc = permutation_build(col, members, out);
out:
    column_free(col);
    bitmap_free_roaring(members);
    if (rc == BDX_ECORRUPT || rc == BDX_EINVAL)
        return bdx_error_set(err, BDX_ECORRUPT, "%s: permutation entries out of order or range",
                             what);
    if (rc != 0)
        return bdx_error_set(err, rc, "%s: %s", what, bdx_strerror(rc));
    return 0;
}

/*
 * docvalues: per-document value records.
 *
 * Record encoding (all integers LEB128 varints):
 *   repeated { head, [field_gap - 7], keys... }
 * head = ((n << 1 | is_null) << 3) | min(field_gap, 7), where field_gap = field - (previous
 * field + 1) (fields ascending); the extra varint is present only when field_gap >= 7. So the
 * common entry "next field, one value" costs one head byte. Keys (n of them, ascending and
 * distinct) are zigzag(first) then (key[i] - key[i-1] - 1) as unsigned 64-bit differences.
 *
 * Records are the values of a slotstore (common/slotstore.h), which keeps them in memory or
 * reads them in place from a generation's image. Decoding checks every record against its
 * length and the record's field count, so a damaged record is an error, never a wild read.
 */
#include "common/docvalues.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "common/error.h"
#include "common/slotstore.h"

struct docvalues {
    slotstore_t *slots;
    uint8_t *buf; /* encoding scratch */
    size_t cap;
};

/* ---- records ---- */

int docvalues_rec_init(docvalues_rec_t *r, size_t nfields)
{
    memset(r, 0, sizeof(*r));
    r->nfields = nfields;
    r->fields = calloc(nfields ? nfields : 1, sizeof(*r->fields));
    return r->fields != NULL ? 0 : -ENOMEM;
}

void docvalues_rec_free(docvalues_rec_t *r)
{
    free(r->fields);
    free(r->keys);
    memset(r, 0, sizeof(*r));
}

void docvalues_rec_clear(docvalues_rec_t *r)
{
    memset(r->fields, 0, r->nfields * sizeof(*r->fields));
    r->nkeys = 0;
}

static int reserve_keys(docvalues_rec_t *r, size_t more)
{
    size_t need = r->nkeys + more, cap;
    int64_t *n;

    if (need <= r->cap)
        return 0;
    cap = r->cap ? r->cap * 2 : 64;
    while (cap < need)
        cap *= 2;
    n = realloc(r->keys, cap * sizeof(*n));
    if (n == NULL)
        return -ENOMEM;
    r->keys = n;
    r->cap = cap;
    return 0;
}

int docvalues_rec_copy(docvalues_rec_t *dst, const docvalues_rec_t *src)
{
    if (reserve_keys(dst, src->nkeys > dst->nkeys ? src->nkeys - dst->nkeys : 0) != 0)
        return -ENOMEM;
    memcpy(dst->fields, src->fields, src->nfields * sizeof(*src->fields));
    if (src->nkeys > 0)
        memcpy(dst->keys, src->keys, src->nkeys * sizeof(*src->keys));
    dst->nkeys = src->nkeys;
    return 0;
}

static int key_cmp(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return (x > y) - (x < y);
}

int docvalues_rec_set(docvalues_rec_t *r, size_t field, docvalues_kind_t kind, const int64_t *keys,
                      size_t n)
{
    docvalues_field_t *f = &r->fields[field];
    int64_t *k;
    size_t m = 0;

    if (kind != DOCVALUES_VALUES || n == 0) {
        f->kind = kind == DOCVALUES_NULL ? DOCVALUES_NULL : DOCVALUES_NONE;
        f->off = f->n = 0;
        return 0;
    }
    if (n > UINT32_MAX || reserve_keys(r, n) != 0)
        return -ENOMEM;
    k = r->keys + r->nkeys;
    memcpy(k, keys, n * sizeof(*k));
    if (n > 1) {
        bool sorted = true;
        for (size_t i = 1; i < n && sorted; i++)
            sorted = k[i - 1] < k[i];
        if (!sorted && n <= 32) {
            /* documents hold a few values: insertion sort beats qsort's call overhead */
            for (size_t i = 1; i < n; i++) {
                int64_t x = k[i];
                size_t j = i;
                for (; j > 0 && k[j - 1] > x; j--)
                    k[j] = k[j - 1];
                k[j] = x;
            }
        } else if (!sorted) {
            qsort(k, n, sizeof(*k), key_cmp);
        }
    }
    for (size_t i = 0; i < n; i++)
        if (m == 0 || k[m - 1] != k[i])
            k[m++] = k[i];
    f->kind = DOCVALUES_VALUES;
    f->off = (uint32_t)r->nkeys;
    f->n = (uint32_t)m;
    r->nkeys += m;
    return 0;
}

const int64_t *docvalues_rec_keys(const docvalues_rec_t *r, size_t field, size_t *n)
{
    const docvalues_field_t *f = &r->fields[field];

    if (f->kind != DOCVALUES_VALUES || f->n == 0) {
        *n = 0;
        return NULL;
    }
    *n = f->n;
    return r->keys + f->off;
}

bool docvalues_rec_empty(const docvalues_rec_t *r)
{
    for (size_t i = 0; i < r->nfields; i++)
        if (r->fields[i].kind != DOCVALUES_NONE)
            return false;
    return true;
}

/* ---- codec ---- */

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

/* Reads a varint from *p (< end); false when it runs past end or beyond 64 bits. */
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

static uint64_t zigzag(int64_t v)
{
    return ((uint64_t)v << 1) ^ (uint64_t)(v >> 63);
}

static int64_t unzigzag(uint64_t v)
{
    return (int64_t)(v >> 1) ^ -(int64_t)(v & 1);
}

/* Upper bound of the encoded size of r. */
static size_t encoded_max(const docvalues_rec_t *r)
{
    size_t n = 0;

    for (size_t i = 0; i < r->nfields; i++)
        if (r->fields[i].kind != DOCVALUES_NONE)
            n += 2 * 10 + (size_t)r->fields[i].n * 10; /* head, long gap, keys */
    return n;
}

static size_t encode(const docvalues_rec_t *r, uint8_t *out)
{
    size_t len = 0, next = 0;

    for (size_t i = 0; i < r->nfields; i++) {
        const docvalues_field_t *f = &r->fields[i];
        if (f->kind == DOCVALUES_NONE)
            continue;
        uint64_t gap = i - next;
        uint64_t body = f->kind == DOCVALUES_NULL ? 1 : (uint64_t)f->n << 1;
        next = i + 1;
        len += put_varint(out + len, body << 3 | (gap < 7 ? gap : 7));
        if (gap >= 7)
            len += put_varint(out + len, gap - 7);
        if (f->kind == DOCVALUES_NULL)
            continue;
        for (uint32_t j = 0; j < f->n; j++) {
            const int64_t *k = r->keys + f->off + j;
            len +=
                put_varint(out + len, j == 0 ? zigzag(k[0]) : (uint64_t)k[0] - (uint64_t)k[-1] - 1);
        }
    }
    return len;
}

/* ---- store ---- */

int docvalues_new(docvalues_t **out)
{
    slotstore_t *s;
    int rc;

    *out = NULL;
    if ((rc = slotstore_new(&s)) != 0)
        return rc;
    if ((rc = docvalues_from_slots(s, out)) != 0)
        slotstore_free(s);
    return rc;
}

int docvalues_from_slots(slotstore_t *s, docvalues_t **out)
{
    *out = calloc(1, sizeof(**out));
    if (*out == NULL)
        return -ENOMEM;
    (*out)->slots = s;
    return 0;
}

const slotstore_t *docvalues_slots(const docvalues_t *dv)
{
    return dv->slots;
}

void docvalues_free(docvalues_t *dv)
{
    if (dv == NULL)
        return;
    slotstore_free(dv->slots);
    free(dv->buf);
    free(dv);
}

int docvalues_load(const docvalues_t *dv, uint32_t slot, docvalues_rec_t *r)
{
    size_t len;
    const uint8_t *p = slotstore_get(dv->slots, slot, &len);

    return docvalues_decode(p, len, r);
}

int docvalues_decode(const uint8_t *p, size_t len, docvalues_rec_t *r)
{
    size_t field = 0;
    const uint8_t *end = len > 0 ? p + len : p;

    docvalues_rec_clear(r);
    while (p < end) {
        uint64_t head, gap, n;
        docvalues_field_t *f;

        if (!get_varint(&p, end, &head))
            goto corrupt;
        gap = head & 7;
        if (gap == 7) {
            uint64_t extra;
            if (!get_varint(&p, end, &extra) || extra > UINT32_MAX)
                goto corrupt;
            gap += extra;
        }
        if (gap >= r->nfields - field)
            goto corrupt; /* also catches field == nfields */
        field += gap;
        head >>= 3;
        f = &r->fields[field++];
        if (head & 1) {
            f->kind = DOCVALUES_NULL;
            continue;
        }
        n = head >> 1;
        if (n == 0 || n > (uint64_t)(end - p)) /* every key takes at least one byte */
            goto corrupt;
        if (reserve_keys(r, n) != 0)
            return -ENOMEM;
        f->kind = DOCVALUES_VALUES;
        f->off = (uint32_t)r->nkeys;
        f->n = (uint32_t)n;
        for (uint32_t j = 0; j < n; j++) {
            uint64_t v;
            int64_t *k = r->keys + r->nkeys;
            if (!get_varint(&p, end, &v))
                goto corrupt;
            k[0] = j == 0 ? unzigzag(v) : (int64_t)((uint64_t)k[-1] + v + 1);
            r->nkeys++;
        }
    }
    return 0;
corrupt:
    docvalues_rec_clear(r);
    return BDX_ECORRUPT;
}

int docvalues_store(docvalues_t *dv, uint32_t slot, const docvalues_rec_t *r)
{
    size_t max = encoded_max(r), len;

    if (max == 0) {
        docvalues_remove(dv, slot);
        return 0;
    }
    if (max > dv->cap) {
        size_t cap = dv->cap ? dv->cap : 256;
        uint8_t *b;
        while (cap < max)
            cap *= 2;
        if ((b = realloc(dv->buf, cap)) == NULL)
            return -ENOMEM;
        dv->buf = b;
        dv->cap = cap;
    }
    len = encode(r, dv->buf);
    return slotstore_put(dv->slots, slot, dv->buf, len); /* BDX_ETOOBIG above 16 MiB */
}

void docvalues_remove(docvalues_t *dv, uint32_t slot)
{
    slotstore_remove(dv->slots, slot);
}

int docvalues_compact(docvalues_t *dv)
{
    free(dv->buf); /* the scratch grows back to the records' size */
    dv->buf = NULL;
    dv->cap = 0;
    return slotstore_compact(dv->slots);
}

size_t docvalues_memory(const docvalues_t *dv)
{
    return sizeof(*dv) + dv->cap + slotstore_memory(dv->slots);
}

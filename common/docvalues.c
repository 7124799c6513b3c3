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
 * Records live in one growable area; each slot's location is (offset << 24 | length) in a
 * dense per-slot array (0 = no record). A replaced record's old bytes become garbage, rewritten
 * in place when the new one has the same length, and reclaimed by compaction once garbage
 * exceeds half the area.
 */
#include "common/docvalues.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "common/error.h"

#define LEN_BITS 24
#define LEN_MAX ((1u << LEN_BITS) - 1)
#define COMPACT_MIN (1u << 20)

struct docvalues {
    uint64_t *loc; /* per slot: offset << LEN_BITS | length; 0 = none */
    uint64_t nloc;
    uint8_t *area;
    size_t used, cap, garbage;
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

static uint64_t get_varint(const uint8_t **p)
{
    uint64_t v = 0;
    unsigned shift = 0;

    for (;;) {
        uint8_t b = *(*p)++;
        v |= (uint64_t)(b & 0x7f) << shift;
        if (b < 0x80)
            return v;
        shift += 7;
    }
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
    *out = calloc(1, sizeof(**out));
    return *out != NULL ? 0 : -ENOMEM;
}

void docvalues_free(docvalues_t *dv)
{
    if (dv == NULL)
        return;
    free(dv->loc);
    free(dv->area);
    free(dv);
}

int docvalues_load(const docvalues_t *dv, uint32_t slot, docvalues_rec_t *r)
{
    const uint8_t *p, *end;
    uint64_t loc;
    size_t field = 0;

    docvalues_rec_clear(r);
    if (slot >= dv->nloc || (loc = dv->loc[slot]) == 0)
        return 0;
    p = dv->area + (loc >> LEN_BITS);
    end = p + (loc & LEN_MAX);
    while (p < end) {
        uint64_t head;
        uint32_t n;
        docvalues_field_t *f;

        head = get_varint(&p);
        field += head & 7;
        if ((head & 7) == 7)
            field += get_varint(&p);
        head >>= 3;
        f = &r->fields[field++];
        if (head & 1) {
            f->kind = DOCVALUES_NULL;
            continue;
        }
        n = (uint32_t)(head >> 1);
        if (reserve_keys(r, n) != 0)
            return -ENOMEM;
        f->kind = DOCVALUES_VALUES;
        f->off = (uint32_t)r->nkeys;
        f->n = n;
        for (uint32_t j = 0; j < n; j++) {
            uint64_t v = get_varint(&p);
            int64_t *k = r->keys + r->nkeys;
            k[0] = j == 0 ? unzigzag(v) : (int64_t)((uint64_t)k[-1] + v + 1);
            r->nkeys++;
        }
    }
    return 0;
}

static int reserve_loc(docvalues_t *dv, uint32_t slot)
{
    uint64_t n;
    uint64_t *l;

    if (slot < dv->nloc)
        return 0;
    n = dv->nloc + dv->nloc / 2;
    if (n < (uint64_t)slot + 1)
        n = (uint64_t)slot + 1;
    if (n < 1024)
        n = 1024;
    if (n > (uint64_t)UINT32_MAX + 1)
        n = (uint64_t)UINT32_MAX + 1;
    l = realloc(dv->loc, n * sizeof(*l));
    if (l == NULL)
        return -ENOMEM;
    memset(l + dv->nloc, 0, (n - dv->nloc) * sizeof(*l));
    dv->loc = l;
    dv->nloc = n;
    return 0;
}

static int reserve_area(docvalues_t *dv, size_t more)
{
    size_t cap;
    uint8_t *a;

    if (dv->used + more <= dv->cap)
        return 0;
    cap = dv->cap ? dv->cap + dv->cap / 2 : 64 * 1024;
    while (cap < dv->used + more)
        cap += cap / 2;
    a = realloc(dv->area, cap);
    if (a == NULL)
        return -ENOMEM;
    dv->area = a;
    dv->cap = cap;
    return 0;
}

int docvalues_store(docvalues_t *dv, uint32_t slot, const docvalues_rec_t *r)
{
    size_t max = encoded_max(r), len;
    uint64_t old;
    int rc;

    if (max == 0) {
        docvalues_remove(dv, slot);
        return 0;
    }
    if ((rc = reserve_loc(dv, slot)) != 0)
        return rc;
    /* Encode at the end of the area; keep it there, or move it over the old record when it
     * has the same length. Offset 0 is never used, so loc 0 always means "none". */
    if ((rc = reserve_area(dv, max + (dv->used == 0))) != 0)
        return rc;
    if (dv->used == 0)
        dv->used = 1;
    len = encode(r, dv->area + dv->used);
    if (len > LEN_MAX)
        return BDX_ETOOBIG;
    old = dv->loc[slot];
    if (old != 0 && (old & LEN_MAX) == len) {
        memcpy(dv->area + (old >> LEN_BITS), dv->area + dv->used, len);
        return 0;
    }
    if (old != 0)
        dv->garbage += old & LEN_MAX;
    dv->loc[slot] = ((uint64_t)dv->used << LEN_BITS) | len;
    dv->used += len;
    if (dv->garbage > COMPACT_MIN && dv->garbage > dv->used / 2)
        (void)docvalues_compact(dv); /* out of memory here only delays reclaiming space */
    return 0;
}

void docvalues_remove(docvalues_t *dv, uint32_t slot)
{
    if (slot >= dv->nloc || dv->loc[slot] == 0)
        return;
    dv->garbage += dv->loc[slot] & LEN_MAX;
    dv->loc[slot] = 0;
}

/* Shrinks the slot table to one past the highest slot with a record. */
static void trim_loc(docvalues_t *dv)
{
    uint64_t n = dv->nloc;
    uint64_t *l;

    while (n > 0 && dv->loc[n - 1] == 0)
        n--;
    if (n == dv->nloc)
        return;
    if (n == 0) {
        free(dv->loc);
        dv->loc = NULL;
        dv->nloc = 0;
        return;
    }
    if ((l = realloc(dv->loc, n * sizeof(*l))) != NULL) {
        dv->loc = l;
        dv->nloc = n;
    }
}

int docvalues_compact(docvalues_t *dv)
{
    size_t live = dv->used - dv->garbage, at = 1;
    uint8_t *a;

    trim_loc(dv);
    if (dv->garbage == 0)
        return 0;
    a = malloc(live > 0 ? live : 1);
    if (a == NULL)
        return -ENOMEM;
    for (uint64_t s = 0; s < dv->nloc; s++) {
        uint64_t loc = dv->loc[s];
        size_t len = loc & LEN_MAX;
        if (loc == 0)
            continue;
        memcpy(a + at, dv->area + (loc >> LEN_BITS), len);
        dv->loc[s] = ((uint64_t)at << LEN_BITS) | len;
        at += len;
    }
    free(dv->area);
    dv->area = a;
    dv->used = at;
    dv->cap = live > 0 ? live : 1;
    dv->garbage = 0;
    return 0;
}

size_t docvalues_memory(const docvalues_t *dv)
{
    return sizeof(*dv) + dv->nloc * sizeof(uint64_t) + dv->cap;
}

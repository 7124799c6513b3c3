/*
 * permutation: slots sorted by (value, slot), built with a stable LSD radix sort. Members are
 * collected in slot order, so sorting stably by value alone gives (value, slot) order.
 */
#include "common/permutation.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "common/radix.h"

struct permutation {
    uint32_t count;
    uint8_t width;   /* bytes per stored value: 1, 2, 4 or 8 */
    uint32_t *slots; /* count entries */
    void *values;    /* count entries of `width` bytes */
};

static uint64_t value_at(const permutation_t *p, uint32_t pos)
{
    switch (p->width) {
    case 1:
        return ((const uint8_t *)p->values)[pos];
    case 2:
        return ((const uint16_t *)p->values)[pos];
    case 4:
        return ((const uint32_t *)p->values)[pos];
    default:
        return ((const uint64_t *)p->values)[pos];
    }
}

static void value_put(permutation_t *p, uint32_t pos, uint64_t v)
{
    switch (p->width) {
    case 1:
        ((uint8_t *)p->values)[pos] = (uint8_t)v;
        break;
    case 2:
        ((uint16_t *)p->values)[pos] = (uint16_t)v;
        break;
    case 4:
        ((uint32_t *)p->values)[pos] = (uint32_t)v;
        break;
    default:
        ((uint64_t *)p->values)[pos] = v;
        break;
    }
}

int permutation_build(const column_t *col, const roaring_bitmap_t *members, permutation_t **out)
{
    permutation_t *p;
    uint64_t n64 = members != NULL ? roaring_bitmap_get_cardinality(members) : 0;
    uint64_t *key = NULL, *tmp_key = NULL;
    uint32_t *tmp_slot = NULL;
    roaring_uint32_iterator_t it;
    size_t n = (size_t)n64, i = 0;
    int rc = -ENOMEM;

    *out = NULL;
    p = calloc(1, sizeof(*p));
    if (p == NULL)
        return -ENOMEM;
    p->width = col->width;
    if (n == 0) {
        *out = p;
        return 0;
    }
    p->slots = malloc(n * sizeof(*p->slots));
    p->values = malloc(n * p->width);
    key = malloc(n * sizeof(*key));
    tmp_key = malloc(n * sizeof(*tmp_key));
    tmp_slot = malloc(n * sizeof(*tmp_slot));
    if (p->slots == NULL || p->values == NULL || key == NULL || tmp_key == NULL || tmp_slot == NULL)
        goto out;
    roaring_init_iterator(members, &it);
    while (it.has_value) {
        uint32_t got = roaring_read_uint32_iterator(&it, p->slots + i, (uint32_t)(n - i));
        if (got == 0)
            break;
        i += got;
    }
    for (i = 0; i < n; i++)
        key[i] = column_get(col, p->slots[i]);
    radix_sort_pairs(key, p->slots, tmp_key, tmp_slot, n);
    for (i = 0; i < n; i++)
        value_put(p, (uint32_t)i, key[i]);
    p->count = (uint32_t)n;
    *out = p;
    p = NULL;
    rc = 0;
out:
    free(key);
    free(tmp_key);
    free(tmp_slot);
    permutation_free(p);
    return rc;
}

void permutation_free(permutation_t *p)
{
    if (p == NULL)
        return;
    free(p->slots);
    free(p->values);
    free(p);
}

uint32_t permutation_count(const permutation_t *p)
{
    return p->count;
}

uint32_t permutation_slot(const permutation_t *p, uint32_t pos)
{
    return p->slots[pos];
}

uint64_t permutation_value(const permutation_t *p, uint32_t pos)
{
    return value_at(p, pos);
}

/* (v1, s1) < (v2, s2) */
static bool less(uint64_t v1, uint32_t s1, uint64_t v2, uint32_t s2)
{
    return v1 < v2 || (v1 == v2 && s1 < s2);
}

uint32_t permutation_lower_bound(const permutation_t *p, uint64_t value, uint32_t slot)
{
    uint32_t lo = 0, hi = p->count;

    while (lo < hi) {
        uint32_t mid = lo + (hi - lo) / 2;
        if (less(value_at(p, mid), p->slots[mid], value, slot))
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

/* First position whose (value, slot) is > (value, slot). */
static uint32_t upper_bound(const permutation_t *p, uint64_t value, uint32_t slot)
{
    uint32_t lo = 0, hi = p->count;

    while (lo < hi) {
        uint32_t mid = lo + (hi - lo) / 2;
        if (!less(value, slot, value_at(p, mid), p->slots[mid]))
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

size_t permutation_memory(const permutation_t *p)
{
    return sizeof(*p) + (size_t)p->count * (sizeof(uint32_t) + p->width);
}

void permutation_iter_init(permutation_iter_t *it, const permutation_t *p, bool desc,
                           const roaring_bitmap_t *skip)
{
    it->perm = p;
    it->skip = skip;
    it->desc = desc;
    it->next = desc ? p->count : 0;
}

void permutation_iter_seek_after(permutation_iter_t *it, uint64_t value, uint32_t slot)
{
    if (it->desc)
        it->next = permutation_lower_bound(it->perm, value, slot);
    else
        it->next = upper_bound(it->perm, value, slot);
}

bool permutation_iter_next(permutation_iter_t *it, uint64_t *value, uint32_t *slot)
{
    const permutation_t *p = it->perm;

    for (;;) {
        uint32_t pos;
        if (it->desc) {
            if (it->next == 0)
                return false;
            pos = --it->next;
        } else {
            if (it->next >= p->count)
                return false;
            pos = it->next++;
        }
        if (it->skip != NULL && roaring_bitmap_contains(it->skip, p->slots[pos]))
            continue;
        *value = value_at(p, pos);
        *slot = p->slots[pos];
        return true;
    }
}

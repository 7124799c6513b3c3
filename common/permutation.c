/*
 * permutation: slots sorted by (value, slot), built with a stable LSD radix sort. Members are
 * collected in slot order, so sorting stably by value alone gives (value, slot) order. An image
 * is the two arrays as they are in memory, so opening one points the arrays into the buffer.
 */
#include "common/permutation.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "common/radix.h"

/* Image integers are stored little-endian and read in place. */
_Static_assert(__BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__,
               "permutation images need a little-endian host");

#define IMAGE_MAGIC "BDXPRM\0\0"
#define IMAGE_VERSION 1u
#define IMAGE_HEADER 32u
#define IMAGE_ALIGN 32u
#define IMAGE_SPOT_CHECKS 64u

struct permutation {
    uint32_t count;
    uint8_t width;   /* bytes per stored value: 1, 2, 4 or 8 */
    bool borrowed;   /* slots and values point into an image (not freed) */
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
    if (!p->borrowed) {
        free(p->slots);
        free(p->values);
    }
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

unsigned permutation_width(const permutation_t *p)
{
    return p->width;
}

size_t permutation_memory(const permutation_t *p)
{
    if (p->borrowed)
        return sizeof(*p);
    return sizeof(*p) + (size_t)p->count * (sizeof(uint32_t) + p->width);
}

static size_t align_up(size_t n)
{
    return (n + IMAGE_ALIGN - 1) & ~(size_t)(IMAGE_ALIGN - 1);
}

size_t permutation_image_size(const permutation_t *p)
{
    return IMAGE_HEADER + align_up((size_t)p->count * sizeof(uint32_t)) +
           align_up((size_t)p->count * p->width);
}

void permutation_image_write(const permutation_t *p, void *buf)
{
    unsigned char *b = buf;
    uint32_t version = IMAGE_VERSION;
    size_t slots = (size_t)p->count * sizeof(uint32_t), values = (size_t)p->count * p->width;
    size_t at = IMAGE_HEADER;

    memset(b, 0, IMAGE_HEADER);
    memcpy(b, IMAGE_MAGIC, 8);
    memcpy(b + 8, &version, 4);
    b[12] = p->width;
    memcpy(b + 16, &p->count, 4);
    if (slots > 0)
        memcpy(b + at, p->slots, slots);
    memset(b + at + slots, 0, align_up(slots) - slots);
    at += align_up(slots);
    if (values > 0)
        memcpy(b + at, p->values, values);
    memset(b + at + values, 0, align_up(values) - values);
}

int permutation_image_open(const void *buf, size_t size, permutation_t **out, bdx_error_t *err)
{
    const unsigned char *b = buf;
    uint32_t version, count;
    unsigned width;
    size_t need;
    permutation_t *p;

    *out = NULL;
    if (((uintptr_t)buf & (IMAGE_ALIGN - 1)) != 0)
        return bdx_error_set(err, BDX_EINVAL, "permutation image: buffer not %u-byte aligned",
                             IMAGE_ALIGN);
    if (size < IMAGE_HEADER)
        return bdx_error_set(err, BDX_ECORRUPT, "permutation image: %zu bytes, header needs %u",
                             size, IMAGE_HEADER);
    if (memcmp(b, IMAGE_MAGIC, 8) != 0)
        return bdx_error_set(err, BDX_ECORRUPT, "permutation image: bad magic");
    memcpy(&version, b + 8, 4);
    if (version != IMAGE_VERSION)
        return bdx_error_set(err, BDX_EVERSION,
                             "permutation image: version %u, this build reads %u", version,
                             IMAGE_VERSION);
    width = b[12];
    if (width != 1 && width != 2 && width != 4 && width != 8)
        return bdx_error_set(err, BDX_ECORRUPT, "permutation image: value width %u", width);
    memcpy(&count, b + 16, 4);
    /* count < 2^32 and width <= 8: no overflow in size_t on a 64-bit host. */
    need =
        IMAGE_HEADER + align_up((size_t)count * sizeof(uint32_t)) + align_up((size_t)count * width);
    if (need > size)
        return bdx_error_set(err, BDX_ECORRUPT,
                             "permutation image: count %u needs %zu bytes, image has %zu", count,
                             need, size);
    p = calloc(1, sizeof(*p));
    if (p == NULL)
        return bdx_error_set(err, -ENOMEM, "permutation image: out of memory");
    p->count = count;
    p->width = (uint8_t)width;
    p->borrowed = true;
    /* Never written through: a permutation is immutable. */
    p->slots = (uint32_t *)(b + IMAGE_HEADER);
    p->values = (void *)(b + IMAGE_HEADER + align_up((size_t)count * sizeof(uint32_t)));
    if (count > 1) {
        /* Spot-check the order at evenly spaced positions: catches an image of the wrong kind
         * or garbage that a checksum would not (a writer bug), in O(1). */
        uint32_t step = count / IMAGE_SPOT_CHECKS > 0 ? count / IMAGE_SPOT_CHECKS : 1, prev = 0;
        for (uint64_t at = step; at < count; at += step) {
            uint32_t pos = (uint32_t)at;
            if (!less(value_at(p, prev), p->slots[prev], value_at(p, pos), p->slots[pos])) {
                permutation_free(p);
                return bdx_error_set(err, BDX_ECORRUPT,
                                     "permutation image: entries %u and %u out of order", prev,
                                     pos);
            }
            prev = pos;
        }
    }
    *out = p;
    return 0;
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

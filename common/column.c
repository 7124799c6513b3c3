/*
 * column: dense per-slot values of one sort field, at the narrowest width that holds its bits,
 * in pages that are either owned or borrowed (copy on write).
 *
 * Invariants: pages [0, npages - 1) hold COLUMN_PAGE_SLOTS slots, the last holds `tail`; every
 * slot in [length, capacity) reads 0. Only the first page grows gradually (so that a small
 * column costs a few KiB); a column longer than one page adds full pages. A write far past the
 * end fills the gap with the shared zero page (borrowed), so sparse growth costs page-table
 * entries, not memory.
 */
#include "common/column.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "common/error.h"

/* Image integers are stored little-endian and read in place. */
_Static_assert(__BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__,
               "column images need a little-endian host");

#define IMAGE_MAGIC "BDXCOL\0\0"
#define IMAGE_VERSION 1u
#define IMAGE_HEADER 32u
#define IMAGE_ALIGN 32u
#define FIRST_PAGE_MIN 1024u

/* Borrowed by every gap page; never written (a write copies the page first). */
static uint64_t zero_page[COLUMN_PAGE_SLOTS];

static uint8_t width_for(unsigned bits)
{
    if (bits <= 8)
        return 1;
    if (bits <= 16)
        return 2;
    if (bits <= 32)
        return 4;
    return 8;
}

static uint64_t capacity_of(const column_t *c)
{
    return c->npages == 0 ? 0 : (uint64_t)(c->npages - 1) * COLUMN_PAGE_SLOTS + c->tail;
}

int column_new(unsigned bits, column_t **out)
{
    column_t *c;

    *out = NULL;
    if (bits < 1 || bits > 64)
        return BDX_EINVAL;
    c = calloc(1, sizeof(*c));
    if (c == NULL)
        return -ENOMEM;
    c->bits = (uint8_t)bits;
    c->width = width_for(bits);
    *out = c;
    return 0;
}

void column_free(column_t *c)
{
    if (c == NULL)
        return;
    for (uint32_t p = 0; p < c->npages; p++)
        if (c->owned[p])
            free(c->pages[p]);
    free(c->pages);
    free(c->owned);
    free(c);
}

/* Makes room for `n` page-table entries. */
static int table_reserve(column_t *c, uint32_t n)
{
    uint32_t cap;
    void **pages;
    uint8_t *owned;

    if (n <= c->table)
        return 0;
    cap = c->table < 8 ? 8 : c->table * 2;
    if (cap < n)
        cap = n;
    pages = realloc(c->pages, (size_t)cap * sizeof(*pages));
    if (pages == NULL)
        return -ENOMEM;
    c->pages = pages;
    owned = realloc(c->owned, cap);
    if (owned == NULL)
        return -ENOMEM;
    c->owned = owned;
    c->table = cap;
    return 0;
}

/* Resizes the last page to `slots` slots (more or fewer), making it owned; new slots read 0. */
static int last_resize(column_t *c, uint32_t slots)
{
    uint32_t p = c->npages - 1;
    size_t old = (size_t)c->tail * c->width, size = (size_t)slots * c->width;
    void *n;

    if (c->owned[p]) {
        n = realloc(c->pages[p], size);
        if (n == NULL)
            return -ENOMEM;
        if (size > old)
            memset((char *)n + old, 0, size - old);
        c->owned_size = c->owned_size - old + size;
    } else {
        n = calloc(slots, c->width);
        if (n == NULL)
            return -ENOMEM;
        memcpy(n, c->pages[p], old < size ? old : size);
        c->owned[p] = 1;
        c->owned_size += size;
    }
    c->pages[p] = n;
    c->tail = slots;
    return 0;
}

/* Grows the capacity to at least `n` slots (n > capacity, n <= 2^32). */
static int grow(column_t *c, uint64_t n)
{
    uint32_t last = (uint32_t)((n - 1) >> COLUMN_PAGE_SHIFT);
    uint32_t slots;
    void *page;
    int rc;

    if (c->npages > 0 && c->tail < COLUMN_PAGE_SLOTS) {
        if (last == c->npages - 1) {
            /* Only the first page can be short by design (or an image's last page). Grow it by
             * 1.5x so that filling slot after slot is amortized O(1). */
            uint64_t want = n - (uint64_t)last * COLUMN_PAGE_SLOTS;
            slots = c->tail + c->tail / 2;
            if (slots < want)
                slots = (uint32_t)want;
            if (slots < FIRST_PAGE_MIN)
                slots = FIRST_PAGE_MIN;
            if (slots > COLUMN_PAGE_SLOTS)
                slots = COLUMN_PAGE_SLOTS;
            return last_resize(c, slots);
        }
        if ((rc = last_resize(c, COLUMN_PAGE_SLOTS)) != 0)
            return rc;
    }
    if ((rc = table_reserve(c, last + 1)) != 0)
        return rc;
    if (last == 0) {
        slots = n < FIRST_PAGE_MIN ? FIRST_PAGE_MIN : (uint32_t)n;
        if (slots > COLUMN_PAGE_SLOTS)
            slots = COLUMN_PAGE_SLOTS;
    } else {
        slots = COLUMN_PAGE_SLOTS;
    }
    page = calloc(slots, c->width);
    if (page == NULL)
        return -ENOMEM;
    for (uint32_t p = c->npages; p < last; p++) {
        c->pages[p] = zero_page;
        c->owned[p] = 0;
    }
    c->pages[last] = page;
    c->owned[last] = 1;
    c->owned_size += (size_t)slots * c->width;
    c->npages = last + 1;
    c->tail = slots;
    return 0;
}

int column_reserve(column_t *c, uint64_t slots)
{
    if (slots > (uint64_t)UINT32_MAX + 1)
        return BDX_EINVAL;
    if (slots <= capacity_of(c))
        return 0;
    return grow(c, slots);
}

/* Copy on write: gives page p a private copy. */
static int page_own(column_t *c, uint32_t p)
{
    uint32_t slots = p == c->npages - 1 ? c->tail : COLUMN_PAGE_SLOTS;
    size_t size = (size_t)slots * c->width;
    void *n;

    if (c->pages[p] == zero_page) {
        n = calloc(slots, c->width);
    } else {
        n = malloc(size);
        if (n != NULL)
            memcpy(n, c->pages[p], size);
    }
    if (n == NULL)
        return -ENOMEM;
    c->pages[p] = n;
    c->owned[p] = 1;
    c->owned_size += size;
    return 0;
}

int column_set(column_t *c, uint32_t slot, uint64_t value)
{
    uint32_t p = slot >> COLUMN_PAGE_SHIFT, i = slot & (COLUMN_PAGE_SLOTS - 1);
    void *page;
    int rc;

    if (c->bits < 64 && (value >> c->bits) != 0)
        return BDX_EINVAL;
    if (slot >= capacity_of(c) && (rc = grow(c, (uint64_t)slot + 1)) != 0)
        return rc;
    if (!c->owned[p] && (rc = page_own(c, p)) != 0)
        return rc;
    page = c->pages[p];
    switch (c->width) {
    case 1:
        ((uint8_t *)page)[i] = (uint8_t)value;
        break;
    case 2:
        ((uint16_t *)page)[i] = (uint16_t)value;
        break;
    case 4:
        ((uint32_t *)page)[i] = (uint32_t)value;
        break;
    default:
        ((uint64_t *)page)[i] = value;
        break;
    }
    if (slot >= c->length)
        c->length = (uint64_t)slot + 1;
    return 0;
}

void column_shrink(column_t *c)
{
    uint32_t keep = (uint32_t)((c->length + COLUMN_PAGE_SLOTS - 1) >> COLUMN_PAGE_SHIFT);
    uint32_t need;

    for (uint32_t p = keep; p < c->npages; p++) {
        if (c->owned[p]) {
            free(c->pages[p]);
            c->owned_size -= (size_t)(p == c->npages - 1 ? c->tail : COLUMN_PAGE_SLOTS) * c->width;
        }
    }
    if (keep < c->npages) {
        c->npages = keep;
        c->tail = COLUMN_PAGE_SLOTS; /* the new last page was a full middle page */
    }
    if (keep == 0) {
        free(c->pages);
        free(c->owned);
        c->pages = NULL;
        c->owned = NULL;
        c->table = 0;
        c->tail = 0;
        return;
    }
    need = (uint32_t)(c->length - (uint64_t)(keep - 1) * COLUMN_PAGE_SLOTS);
    if (need < c->tail) {
        if (c->owned[keep - 1]) {
            /* Failing to shrink leaves a larger, still valid page. */
            void *n = realloc(c->pages[keep - 1], (size_t)need * c->width);
            if (n == NULL)
                return;
            c->pages[keep - 1] = n;
            c->owned_size -= (size_t)(c->tail - need) * c->width;
        }
        c->tail = need;
    }
}

size_t column_memory(const column_t *c)
{
    return sizeof(*c) + (size_t)c->table * (sizeof(*c->pages) + sizeof(*c->owned)) + c->owned_size;
}

static size_t align_up(size_t n)
{
    return (n + IMAGE_ALIGN - 1) & ~(size_t)(IMAGE_ALIGN - 1);
}

size_t column_image_size(const column_t *c)
{
    return IMAGE_HEADER + align_up((size_t)c->length * c->width);
}

void column_image_write(const column_t *c, void *buf)
{
    unsigned char *b = buf;
    uint32_t version = IMAGE_VERSION;
    uint64_t length = c->length;
    size_t at = IMAGE_HEADER, data = (size_t)c->length * c->width;

    memset(b, 0, IMAGE_HEADER);
    memcpy(b, IMAGE_MAGIC, 8);
    memcpy(b + 8, &version, 4);
    b[12] = c->bits;
    b[13] = c->width;
    memcpy(b + 16, &length, 8);
    for (uint32_t p = 0; p < c->npages && at < IMAGE_HEADER + data; p++) {
        size_t n = (size_t)COLUMN_PAGE_SLOTS * c->width;
        if (n > IMAGE_HEADER + data - at)
            n = IMAGE_HEADER + data - at;
        memcpy(b + at, c->pages[p], n);
        at += n;
    }
    memset(b + at, 0, align_up(data) - data);
}

int column_image_open(const void *buf, size_t size, column_t **out, bdx_error_t *err)
{
    const unsigned char *b = buf;
    uint32_t version, npages;
    uint64_t length;
    unsigned bits;
    column_t *c;
    int rc;

    *out = NULL;
    if (((uintptr_t)buf & (IMAGE_ALIGN - 1)) != 0)
        return bdx_error_set(err, BDX_EINVAL, "column image: buffer not %u-byte aligned",
                             IMAGE_ALIGN);
    if (size < IMAGE_HEADER)
        return bdx_error_set(err, BDX_ECORRUPT, "column image: %zu bytes, header needs %u", size,
                             IMAGE_HEADER);
    if (memcmp(b, IMAGE_MAGIC, 8) != 0)
        return bdx_error_set(err, BDX_ECORRUPT, "column image: bad magic");
    memcpy(&version, b + 8, 4);
    if (version != IMAGE_VERSION)
        return bdx_error_set(err, BDX_EVERSION, "column image: version %u, this build reads %u",
                             version, IMAGE_VERSION);
    bits = b[12];
    if (bits < 1 || bits > 64 || b[13] != width_for(bits))
        return bdx_error_set(err, BDX_ECORRUPT, "column image: bits %u with width %u", bits, b[13]);
    memcpy(&length, b + 16, 8);
    if (length > (uint64_t)UINT32_MAX + 1 || length * b[13] > size - IMAGE_HEADER)
        return bdx_error_set(err, BDX_ECORRUPT,
                             "column image: length %llu x %u bytes exceeds the %zu-byte image",
                             (unsigned long long)length, b[13], size);
    if ((rc = column_new(bits, &c)) != 0)
        return bdx_error_set(err, rc, "column image: %s", bdx_strerror(rc));
    npages = (uint32_t)((length + COLUMN_PAGE_SLOTS - 1) >> COLUMN_PAGE_SHIFT);
    if ((rc = table_reserve(c, npages)) != 0) {
        column_free(c);
        return bdx_error_set(err, rc, "column image: %s", bdx_strerror(rc));
    }
    for (uint32_t p = 0; p < npages; p++) {
        /* Borrowed pages are never written: column_set() copies a page before writing it. */
        c->pages[p] = (void *)(b + IMAGE_HEADER + (size_t)p * COLUMN_PAGE_SLOTS * c->width);
        c->owned[p] = 0;
    }
    c->npages = npages;
    c->tail = npages == 0 ? 0 : (uint32_t)(length - (uint64_t)(npages - 1) * COLUMN_PAGE_SLOTS);
    c->length = length;
    *out = c;
    return 0;
}

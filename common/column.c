/*
 * column: dense per-slot values of one sort field, at the narrowest width that holds its bits,
 * in pages that are either owned or borrowed (copy on write).
 *
 * Invariants: pages [0, npages - 1) hold COLUMN_PAGE_SLOTS slots, the last holds `tail`; every
 * slot in [length, capacity) reads 0. Only the first page grows gradually (so that a small
 * column costs a few KiB); a column longer than one page adds full pages. The page table has two
 * levels: chunks[] (at most 1024 entries) of chunks of COLUMN_CHUNK_PAGES page pointers. A NULL
 * chunk is COLUMN_CHUNK_PAGES pages of zeros; in an allocated chunk every page at or past
 * npages is the shared zero page, not owned. A write far past the end therefore costs at most one
 * chunk and one page: memory follows the pages holding values, never the highest slot (ids are
 * any uint32, and one document near 2^32 must not cost a page table for 2^32 slots).
 */
#include "common/column.h"

#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "common/error.h"

/* Image integers are stored little-endian and read in place. */
_Static_assert(__BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__,
               "column images need a little-endian host");

#define IMAGE_MAGIC "BDXCOL\0\0"
#define IMAGE_VERSION 2u /* written; version 1 (dense) is still read */
#define IMAGE_VERSION_DENSE 1u
#define IMAGE_HEADER 32u
#define IMAGE_ALIGN 32u
#define FIRST_PAGE_MIN 1024u
#define MAX_PAGES ((uint64_t)1 << (32 - COLUMN_PAGE_SHIFT))
#define MAX_CHUNKS ((uint32_t)(MAX_PAGES >> COLUMN_CHUNK_SHIFT))

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

static column_chunk_t *chunk_of(const column_t *c, uint32_t p)
{
    uint32_t k = p >> COLUMN_CHUNK_SHIFT;
    return k < c->nchunks ? c->chunks[k] : NULL;
}

/* Page p's bytes (the zero page for a gap). */
static void *page_at(const column_t *c, uint32_t p)
{
    column_chunk_t *ch = chunk_of(c, p);
    return ch != NULL ? ch->pages[p & (COLUMN_CHUNK_PAGES - 1)] : (void *)zero_page;
}

static bool page_owned(const column_t *c, uint32_t p)
{
    column_chunk_t *ch = chunk_of(c, p);
    return ch != NULL && ch->owned[p & (COLUMN_CHUNK_PAGES - 1)];
}

/* The chunk of page p, allocated (all zero pages) if needed; NULL when out of memory. */
static column_chunk_t *chunk_make(column_t *c, uint32_t p)
{
    uint32_t k = p >> COLUMN_CHUNK_SHIFT;
    column_chunk_t *ch;

    if (k >= c->nchunks) {
        uint32_t n = c->nchunks < 8 ? 8 : c->nchunks * 2;
        column_chunk_t **t;
        if (n <= k)
            n = k + 1;
        if (n > MAX_CHUNKS)
            n = MAX_CHUNKS;
        if ((t = realloc(c->chunks, (size_t)n * sizeof(*t))) == NULL)
            return NULL;
        memset(t + c->nchunks, 0, (size_t)(n - c->nchunks) * sizeof(*t));
        c->chunks = t;
        c->nchunks = n;
    }
    if ((ch = c->chunks[k]) != NULL)
        return ch;
    if ((ch = malloc(sizeof(*ch))) == NULL)
        return NULL;
    for (uint32_t i = 0; i < COLUMN_CHUNK_PAGES; i++)
        ch->pages[i] = zero_page;
    memset(ch->owned, 0, sizeof(ch->owned));
    c->chunks[k] = ch;
    c->live_chunks++;
    return ch;
}

/* Sets page p (its chunk exists). */
static void page_put(column_t *c, uint32_t p, void *page, bool owned)
{
    column_chunk_t *ch = c->chunks[p >> COLUMN_CHUNK_SHIFT];
    ch->pages[p & (COLUMN_CHUNK_PAGES - 1)] = page;
    ch->owned[p & (COLUMN_CHUNK_PAGES - 1)] = owned;
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

/* Frees the owned pages and the chunks from page `from` on (whole chunks past it too). */
static void release_from(column_t *c, uint32_t from)
{
    for (uint32_t k = from >> COLUMN_CHUNK_SHIFT; k < c->nchunks; k++) {
        column_chunk_t *ch = c->chunks[k];
        uint32_t first = k == from >> COLUMN_CHUNK_SHIFT ? from & (COLUMN_CHUNK_PAGES - 1) : 0;
        if (ch == NULL)
            continue;
        for (uint32_t i = first; i < COLUMN_CHUNK_PAGES; i++) {
            uint32_t p = (k << COLUMN_CHUNK_SHIFT) + i;
            if (ch->owned[i]) {
                free(ch->pages[i]);
                c->owned_size -=
                    (size_t)(p == c->npages - 1 ? c->tail : COLUMN_PAGE_SLOTS) * c->width;
            }
            ch->pages[i] = zero_page;
            ch->owned[i] = 0;
        }
        if (first == 0) {
            free(ch);
            c->chunks[k] = NULL;
            c->live_chunks--;
        }
    }
}

void column_free(column_t *c)
{
    if (c == NULL)
        return;
    release_from(c, 0);
    free(c->chunks);
    free(c);
}

/* Resizes the last page to `slots` slots (more or fewer), making it owned; new slots read 0. */
static int last_resize(column_t *c, uint32_t slots)
{
    uint32_t p = c->npages - 1;
    size_t old = (size_t)c->tail * c->width, size = (size_t)slots * c->width;
    void *n;

    if (page_owned(c, p)) {
        n = realloc(page_at(c, p), size);
        if (n == NULL)
            return -ENOMEM;
        if (size > old)
            memset((char *)n + old, 0, size - old);
        c->owned_size = c->owned_size - old + size;
    } else {
        if (chunk_make(c, p) == NULL || (n = calloc(slots, c->width)) == NULL)
            return -ENOMEM;
        memcpy(n, page_at(c, p), old < size ? old : size);
        c->owned_size += size;
    }
    page_put(c, p, n, true);
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
    if (last == 0) {
        slots = n < FIRST_PAGE_MIN ? FIRST_PAGE_MIN : (uint32_t)n;
        if (slots > COLUMN_PAGE_SLOTS)
            slots = COLUMN_PAGE_SLOTS;
    } else {
        slots = COLUMN_PAGE_SLOTS;
    }
    if (chunk_make(c, last) == NULL)
        return -ENOMEM;
    page = calloc(slots, c->width);
    if (page == NULL)
        return -ENOMEM;
    /* pages [npages, last) are gaps: the zero page already (the chunk invariant) */
    page_put(c, last, page, true);
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
    void *src = page_at(c, p), *n;

    if (chunk_make(c, p) == NULL)
        return -ENOMEM;
    if (src == zero_page) {
        n = calloc(slots, c->width);
    } else {
        n = malloc(size);
        if (n != NULL)
            memcpy(n, src, size);
    }
    if (n == NULL)
        return -ENOMEM;
    page_put(c, p, n, true);
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
    if (!page_owned(c, p) && (rc = page_own(c, p)) != 0)
        return rc;
    page = page_at(c, p);
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

    if (keep < c->npages) {
        release_from(c, keep);
        c->npages = keep;
        c->tail = COLUMN_PAGE_SLOTS; /* the new last page was a full middle page */
    }
    if (keep == 0) {
        free(c->chunks);
        c->chunks = NULL;
        c->nchunks = 0;
        c->tail = 0;
        return;
    }
    need = (uint32_t)(c->length - (uint64_t)(keep - 1) * COLUMN_PAGE_SLOTS);
    if (need < c->tail) {
        if (page_owned(c, keep - 1)) {
            /* Failing to shrink leaves a larger, still valid page. */
            void *n = realloc(page_at(c, keep - 1), (size_t)need * c->width);
            if (n == NULL)
                return;
            page_put(c, keep - 1, n, true);
            c->owned_size -= (size_t)(c->tail - need) * c->width;
        }
        c->tail = need;
    }
}

size_t column_memory(const column_t *c)
{
    return sizeof(*c) + (size_t)c->nchunks * sizeof(*c->chunks) +
           (size_t)c->live_chunks * sizeof(column_chunk_t) + c->owned_size;
}

static size_t align_up(size_t n)
{
    return (n + IMAGE_ALIGN - 1) & ~(size_t)(IMAGE_ALIGN - 1);
}

/* Slots held by page p of a column of `length` slots (the last one may be short). */
static uint32_t page_slots(uint64_t length, uint32_t p)
{
    uint64_t left = length - (uint64_t)p * COLUMN_PAGE_SLOTS;
    return left < COLUMN_PAGE_SLOTS ? (uint32_t)left : COLUMN_PAGE_SLOTS;
}

/* True when page p holds a non-zero value among its first `slots` slots. */
static bool page_nonzero(const column_t *c, uint32_t p, uint32_t slots)
{
    const unsigned char *b = page_at(c, p);
    size_t n = (size_t)slots * c->width;

    if (b == (const unsigned char *)zero_page)
        return false;
    for (size_t i = 0; i < n; i++)
        if (b[i] != 0)
            return true;
    return false;
}

/* Pages of `length` slots and, of those, the pages an image holds, with the bytes of the last
 * one; calls fn(p, arg) for each held page when fn is set. Gap chunks are skipped whole. */
static uint32_t held_pages(const column_t *c, uint32_t *last_slots, void (*fn)(uint32_t, void *),
                           void *arg)
{
    uint32_t npages = (uint32_t)((c->length + COLUMN_PAGE_SLOTS - 1) >> COLUMN_PAGE_SHIFT);
    uint32_t held = 0;

    *last_slots = 0;
    for (uint32_t p = 0; p < npages; p++) {
        uint32_t slots = page_slots(c->length, p);
        if (chunk_of(c, p) == NULL) {
            p |= COLUMN_CHUNK_PAGES - 1; /* the rest of the chunk is zeros */
            continue;
        }
        if (!page_nonzero(c, p, slots))
            continue;
        held++;
        *last_slots = slots;
        if (fn != NULL)
            fn(p, arg);
    }
    return held;
}

/* Bytes of the pages array for `held` pages, the last holding `last_slots` slots. */
static size_t pages_bytes(uint32_t held, uint32_t last_slots, unsigned width)
{
    return held == 0 ? 0
                     : (size_t)(held - 1) * COLUMN_PAGE_SLOTS * width +
                           align_up((size_t)last_slots * width);
}

size_t column_image_size(const column_t *c)
{
    uint32_t last_slots, held = held_pages(c, &last_slots, NULL, NULL);

    return IMAGE_HEADER + align_up((size_t)held * 4) + pages_bytes(held, last_slots, c->width);
}

typedef struct image_writer {
    const column_t *c;
    unsigned char *b;
    uint32_t *numbers;
    size_t at; /* next page's offset */
    uint32_t n;
} image_writer_t;

static void write_page(uint32_t p, void *arg)
{
    image_writer_t *w = arg;
    size_t n = (size_t)page_slots(w->c->length, p) * w->c->width;

    w->numbers[w->n++] = p;
    memcpy(w->b + w->at, page_at(w->c, p), n);
    w->at += n;
}

void column_image_write(const column_t *c, void *buf)
{
    unsigned char *b = buf;
    uint32_t version = IMAGE_VERSION, last_slots;
    uint32_t held = held_pages(c, &last_slots, NULL, NULL);
    uint64_t length = c->length;
    size_t pages_off = IMAGE_HEADER + align_up((size_t)held * 4);
    size_t end = pages_off + pages_bytes(held, last_slots, c->width);
    image_writer_t w = {c, b, (uint32_t *)(b + IMAGE_HEADER), pages_off, 0};

    memset(b, 0, pages_off);
    memcpy(b, IMAGE_MAGIC, 8);
    memcpy(b + 8, &version, 4);
    b[12] = c->bits;
    b[13] = c->width;
    memcpy(b + 16, &length, 8);
    memcpy(b + 24, &held, 4);
    held_pages(c, &last_slots, write_page, &w);
    memset(b + w.at, 0, end - w.at);
}

/* Checks the header of the image in b[0, size) and reads its fields. */
static int image_header(const unsigned char *b, size_t size, uint32_t *version, unsigned *bits,
                        uint64_t *length, uint32_t *held, bdx_error_t *err)
{
    if (size < IMAGE_HEADER)
        return bdx_error_set(err, BDX_ECORRUPT, "column image: %zu bytes, header needs %u", size,
                             IMAGE_HEADER);
    if (memcmp(b, IMAGE_MAGIC, 8) != 0)
        return bdx_error_set(err, BDX_ECORRUPT, "column image: bad magic");
    memcpy(version, b + 8, 4);
    if (*version != IMAGE_VERSION && *version != IMAGE_VERSION_DENSE)
        return bdx_error_set(err, BDX_EVERSION,
                             "column image: version %u, this build reads %u and %u", *version,
                             IMAGE_VERSION_DENSE, IMAGE_VERSION);
    *bits = b[12];
    if (*bits < 1 || *bits > 64 || b[13] != width_for(*bits))
        return bdx_error_set(err, BDX_ECORRUPT, "column image: bits %u with width %u", *bits,
                             b[13]);
    memcpy(length, b + 16, 8);
    if (*length > (uint64_t)UINT32_MAX + 1)
        return bdx_error_set(err, BDX_ECORRUPT, "column image: length %llu exceeds 2^32",
                             (unsigned long long)*length);
    if (*version == IMAGE_VERSION_DENSE) {
        *held = (uint32_t)((*length + COLUMN_PAGE_SLOTS - 1) >> COLUMN_PAGE_SHIFT);
        if (*length * b[13] > size - IMAGE_HEADER)
            return bdx_error_set(err, BDX_ECORRUPT,
                                 "column image: length %llu x %u bytes exceeds the %zu-byte image",
                                 (unsigned long long)*length, b[13], size);
        return 0;
    }
    memcpy(held, b + 24, 4);
    if (*held > ((*length + COLUMN_PAGE_SLOTS - 1) >> COLUMN_PAGE_SHIFT))
        return bdx_error_set(err, BDX_ECORRUPT, "column image: %u pages for length %llu", *held,
                             (unsigned long long)*length);
    if (align_up((size_t)*held * 4) > size - IMAGE_HEADER)
        return bdx_error_set(err, BDX_ECORRUPT,
                             "column image: %u page numbers exceed the %zu-byte image", *held,
                             size);
    return 0;
}

int column_image_open(const void *buf, size_t size, column_t **out, bdx_error_t *err)
{
    const unsigned char *b = buf;
    uint32_t version = 0, held = 0, npages, prev = 0;
    uint64_t length = 0;
    unsigned bits = 0;
    size_t at;
    column_t *c;
    int rc;

    *out = NULL;
    if (((uintptr_t)buf & (IMAGE_ALIGN - 1)) != 0)
        return bdx_error_set(err, BDX_EINVAL, "column image: buffer not %u-byte aligned",
                             IMAGE_ALIGN);
    if ((rc = image_header(b, size, &version, &bits, &length, &held, err)) != 0)
        return rc;
    if ((rc = column_new(bits, &c)) != 0)
        return bdx_error_set(err, rc, "column image: %s", bdx_strerror(rc));
    npages = (uint32_t)((length + COLUMN_PAGE_SLOTS - 1) >> COLUMN_PAGE_SHIFT);
    at = version == IMAGE_VERSION_DENSE ? IMAGE_HEADER : IMAGE_HEADER + align_up((size_t)held * 4);
    for (uint32_t k = 0; k < held; k++) {
        uint32_t p = k;
        size_t n;
        if (version != IMAGE_VERSION_DENSE) {
            memcpy(&p, b + IMAGE_HEADER + (size_t)k * 4, 4);
            if (p >= npages || (k > 0 && p <= prev)) {
                rc = bdx_error_set(err, BDX_ECORRUPT,
                                   "column image: page number %u (entry %u) not ascending below "
                                   "%u pages",
                                   p, k, npages);
                goto fail;
            }
            prev = p;
        }
        n = (size_t)page_slots(length, p) * c->width;
        if (n > size - at) {
            rc = bdx_error_set(err, BDX_ECORRUPT,
                               "column image: page %u (%zu bytes at %zu) beyond the %zu-byte image",
                               p, n, at, size);
            goto fail;
        }
        if (chunk_make(c, p) == NULL) {
            rc = bdx_error_set(err, -ENOMEM, "column image: %s", bdx_strerror(-ENOMEM));
            goto fail;
        }
        /* Borrowed pages are never written: column_set() copies a page before writing it. */
        page_put(c, p, (void *)(b + at), false);
        at += (size_t)COLUMN_PAGE_SLOTS * c->width; /* only the last page can be short */
    }
    c->npages = npages;
    c->tail = npages == 0 ? 0 : page_slots(length, npages - 1);
    c->length = length;
    *out = c;
    return 0;
fail:
    column_free(c);
    return rc;
}

/*
 * slotstore: slot -> byte string, with zero-copy images and page-granular copy on write.
 *
 * Every slot's value is located by a 64-bit `loc`:
 *   bit 63      1 = the value is in the owned area, 0 = in the image's data section
 *   bits 25..62 byte offset in that area
 *   bits 0..24  length (0 = no value; at most 16 MiB, which needs 25 bits)
 * The slot table is split into pages of PAGE_SLOTS locs, found through a two-level directory
 * (chunks of CHUNK_PAGES page headers, allocated when first used, so a store whose slots are
 * spread over the whole uint32 range pays for few chunks). A page is empty, or reads through
 * (in this order) its owned full table, else its overlay (sorted (index, loc) pairs, at most
 * OVERLAY_MAX; loc 0 there hides an image value), else the image's table of the page. A page
 * starts with an overlay and is copied into an owned table when the overlay is full: few
 * scattered writes cost ~10 bytes each, a densely written page its 32 KiB table.
 *
 * New and changed values are appended to the owned area; replaced owned values become
 * garbage (rewritten in place when the length is unchanged) and are reclaimed by compaction.
 * Image values are never copied: the image is the base of every generation, so copying it
 * would only duplicate what the page cache already holds.
 */
#include "common/slotstore.h"

#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#if !defined(__BYTE_ORDER__) || __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "slotstore images are little-endian and read in place: little-endian hosts only"
#endif

#define PAGE_SHIFT 12
#define PAGE_SLOTS (1u << PAGE_SHIFT)
#define PAGE_MASK (PAGE_SLOTS - 1)
#define MAX_PAGES ((uint64_t)1 << (32 - PAGE_SHIFT))
#define CHUNK_SHIFT 10 /* the page directory is split into chunks of 1024 pages */
#define CHUNK_PAGES (1u << CHUNK_SHIFT)
#define NCHUNKS (MAX_PAGES >> CHUNK_SHIFT)
#define OVERLAY_MAX 256
#define LEN_BITS 25
#define LEN_MASK ((UINT64_C(1) << LEN_BITS) - 1)
#define OWNED_BIT (UINT64_C(1) << 63)
#define OFF_MAX ((UINT64_C(1) << (63 - LEN_BITS)) - 1)
#define COMPACT_MIN ((size_t)1 << 20)

#define IMAGE_MAGIC "BDXSLOTS"
#define HEADER_SIZE 64
#define DIR_EMPTY UINT32_MAX

_Static_assert(PAGE_SLOTS == SLOTSTORE_PAGE_SLOTS, "page size");
_Static_assert(SLOTSTORE_VALUE_MAX <= LEN_MASK, "length bits");

typedef struct page {
    const uint64_t *base; /* the image's table of the page, or NULL */
    uint64_t *own;        /* owned full table (base and overlay unused then), or NULL */
    uint64_t *ov_loc;     /* overlay: nov locs, by ascending ov_idx */
    uint16_t *ov_idx;
    uint32_t nov, ovcap;
    uint32_t live; /* slots of the page with a value */
} page_t;

struct slotstore {
    page_t *chunks[NCHUNKS]; /* each NULL or CHUNK_PAGES page headers */
    const uint8_t *image;    /* the image's data section (borrowed), or NULL */
    uint8_t *area;           /* owned values */
    size_t used, cap, garbage;
    uint64_t count;      /* slots with a value */
    uint64_t live_bytes; /* bytes of those values */
};

static size_t align32(size_t n)
{
    return (n + 31) & ~(size_t)31;
}

static size_t loc_len(uint64_t loc)
{
    return (size_t)(loc & LEN_MASK);
}

static uint64_t loc_off(uint64_t loc)
{
    return (loc & ~OWNED_BIT) >> LEN_BITS;
}

static const uint8_t *loc_ptr(const slotstore_t *s, uint64_t loc)
{
    return ((loc & OWNED_BIT) ? s->area : s->image) + loc_off(loc);
}

/* Position of idx in the overlay, or where it would be inserted (*found false). */
static uint32_t ov_find(const page_t *p, uint32_t idx, bool *found)
{
    uint32_t lo = 0, hi = p->nov;

    while (lo < hi) {
        uint32_t mid = (lo + hi) / 2;
        if (p->ov_idx[mid] < idx)
            lo = mid + 1;
        else
            hi = mid;
    }
    *found = lo < p->nov && p->ov_idx[lo] == idx;
    return lo;
}

static uint64_t page_loc(const page_t *p, uint32_t idx)
{
    bool found;
    uint32_t i;

    if (p->own != NULL)
        return p->own[idx];
    if (p->nov > 0 && (i = ov_find(p, idx, &found), found))
        return p->ov_loc[i];
    return p->base != NULL ? p->base[idx] : 0;
}

static void page_clear(page_t *p)
{
    free(p->own);
    free(p->ov_loc);
    free(p->ov_idx);
    memset(p, 0, sizeof(*p));
}

/* Copies the page into an owned full table. 0 or -ENOMEM (nothing changed). */
static int materialize(page_t *p)
{
    uint64_t *own = malloc(PAGE_SLOTS * sizeof(*own));

    if (own == NULL)
        return -ENOMEM;
    if (p->base != NULL)
        memcpy(own, p->base, PAGE_SLOTS * sizeof(*own));
    else
        memset(own, 0, PAGE_SLOTS * sizeof(*own));
    for (uint32_t i = 0; i < p->nov; i++)
        own[p->ov_idx[i]] = p->ov_loc[i];
    free(p->ov_loc);
    free(p->ov_idx);
    p->ov_loc = NULL;
    p->ov_idx = NULL;
    p->nov = p->ovcap = 0;
    p->base = NULL;
    p->own = own;
    return 0;
}

static int ov_grow(page_t *p)
{
    uint32_t cap = p->ovcap ? p->ovcap * 2 : 8;
    uint64_t *loc;
    uint16_t *idx;

    if (cap > OVERLAY_MAX)
        cap = OVERLAY_MAX;
    if ((loc = realloc(p->ov_loc, cap * sizeof(*loc))) == NULL)
        return -ENOMEM;
    p->ov_loc = loc;
    if ((idx = realloc(p->ov_idx, cap * sizeof(*idx))) == NULL)
        return -ENOMEM;
    p->ov_idx = idx;
    p->ovcap = cap;
    return 0;
}

/* Sets the loc of page slot idx (an overlay entry, or the owned table once the overlay is
 * full). 0 or -ENOMEM (nothing changed). */
static int page_set(page_t *p, uint32_t idx, uint64_t loc)
{
    uint64_t under;
    uint32_t i;
    bool found;
    int rc;

    if (p->own != NULL) {
        p->own[idx] = loc;
        return 0;
    }
    under = p->base != NULL ? p->base[idx] : 0;
    i = ov_find(p, idx, &found);
    if (found) {
        if (loc == 0 && under == 0) { /* nothing to hide: drop the entry */
            memmove(p->ov_loc + i, p->ov_loc + i + 1, (p->nov - i - 1) * sizeof(*p->ov_loc));
            memmove(p->ov_idx + i, p->ov_idx + i + 1, (p->nov - i - 1) * sizeof(*p->ov_idx));
            p->nov--;
        } else {
            p->ov_loc[i] = loc;
        }
        return 0;
    }
    if (loc == under)
        return 0;
    if (p->nov == OVERLAY_MAX) {
        if ((rc = materialize(p)) != 0)
            return rc;
        p->own[idx] = loc;
        return 0;
    }
    if (p->nov == p->ovcap && (rc = ov_grow(p)) != 0)
        return rc;
    memmove(p->ov_loc + i + 1, p->ov_loc + i, (p->nov - i) * sizeof(*p->ov_loc));
    memmove(p->ov_idx + i + 1, p->ov_idx + i, (p->nov - i) * sizeof(*p->ov_idx));
    p->ov_loc[i] = loc;
    p->ov_idx[i] = (uint16_t)idx;
    p->nov++;
    return 0;
}

static page_t *page_get(const slotstore_t *s, size_t pg)
{
    page_t *c = s->chunks[pg >> CHUNK_SHIFT];

    return c != NULL ? &c[pg & (CHUNK_PAGES - 1)] : NULL;
}

/* The page header of page pg, its chunk allocated if needed; NULL when out of memory. */
static page_t *page_make(slotstore_t *s, size_t pg)
{
    page_t **c = &s->chunks[pg >> CHUNK_SHIFT];

    if (*c == NULL && (*c = calloc(CHUNK_PAGES, sizeof(**c))) == NULL)
        return NULL;
    return &(*c)[pg & (CHUNK_PAGES - 1)];
}

/* ---- lifecycle ---- */

int slotstore_new(slotstore_t **out)
{
    *out = calloc(1, sizeof(**out));
    return *out != NULL ? 0 : -ENOMEM;
}

void slotstore_free(slotstore_t *s)
{
    if (s == NULL)
        return;
    for (size_t c = 0; c < NCHUNKS; c++) {
        for (size_t i = 0; s->chunks[c] != NULL && i < CHUNK_PAGES; i++)
            page_clear(&s->chunks[c][i]);
        free(s->chunks[c]);
    }
    free(s->area);
    free(s);
}

/* ---- reads ---- */

const uint8_t *slotstore_get(const slotstore_t *s, uint32_t slot, size_t *len)
{
    const page_t *p = page_get(s, slot >> PAGE_SHIFT);
    uint64_t loc;

    if (p == NULL || p->live == 0 || (loc = page_loc(p, slot & PAGE_MASK)) == 0) {
        *len = 0;
        return NULL;
    }
    *len = loc_len(loc);
    return loc_ptr(s, loc);
}

uint32_t slotstore_count(const slotstore_t *s)
{
    return (uint32_t)s->count;
}

size_t slotstore_memory(const slotstore_t *s)
{
    size_t n = sizeof(*s) + s->cap;

    for (size_t c = 0; c < NCHUNKS; c++) {
        if (s->chunks[c] == NULL)
            continue;
        n += CHUNK_PAGES * sizeof(page_t);
        for (size_t i = 0; i < CHUNK_PAGES; i++) {
            const page_t *p = &s->chunks[c][i];
            if (p->own != NULL)
                n += PAGE_SLOTS * sizeof(uint64_t);
            n += (size_t)p->ovcap * (sizeof(uint64_t) + sizeof(uint16_t));
        }
    }
    return n;
}

/* ---- writes ---- */

static int reserve_area(slotstore_t *s, size_t more)
{
    size_t cap;
    uint8_t *a;

    if (s->used + more <= s->cap)
        return 0;
    cap = s->cap ? s->cap + s->cap / 2 : 64 * 1024;
    while (cap < s->used + more)
        cap += cap / 2;
    if ((a = realloc(s->area, cap)) == NULL)
        return -ENOMEM;
    s->area = a;
    s->cap = cap;
    return 0;
}

/* Bookkeeping after page slot loc changed from `old` to `loc`. */
static void account(slotstore_t *s, page_t *p, uint64_t old, uint64_t loc)
{
    if (old & OWNED_BIT)
        s->garbage += loc_len(old);
    s->live_bytes += loc_len(loc);
    s->live_bytes -= loc_len(old);
    if (old == 0 && loc != 0) {
        p->live++;
        s->count++;
    } else if (old != 0 && loc == 0) {
        p->live--;
        s->count--;
        if (p->live == 0)
            page_clear(p); /* also drops the image table */
    }
}

static void maybe_compact(slotstore_t *s)
{
    if (s->garbage > COMPACT_MIN && s->garbage > s->used / 2)
        (void)slotstore_compact(s); /* out of memory here only delays reclaiming space */
}

int slotstore_put(slotstore_t *s, uint32_t slot, const void *data, size_t len)
{
    size_t pg = slot >> PAGE_SHIFT, src_off = 0;
    uint32_t idx = slot & PAGE_MASK;
    bool inside;
    uint64_t old, loc;
    page_t *p;
    int rc;

    if (len == 0) {
        if ((p = page_get(s, pg)) == NULL || p->live == 0)
            return 0;
        if ((old = page_loc(p, idx)) == 0)
            return 0;
        if ((rc = page_set(p, idx, 0)) != 0)
            return rc;
        account(s, p, old, 0);
        maybe_compact(s);
        return 0;
    }
    if (len > SLOTSTORE_VALUE_MAX)
        return BDX_ETOOBIG;
    if ((p = page_make(s, pg)) == NULL)
        return -ENOMEM;
    old = p->live > 0 ? page_loc(p, idx) : 0;
    inside = s->area != NULL && (const uint8_t *)data >= s->area &&
             (const uint8_t *)data < s->area + s->used;
    if (inside)
        src_off = (size_t)((const uint8_t *)data - s->area);
    if ((old & OWNED_BIT) && loc_len(old) == len) {
        memmove(s->area + loc_off(old), data, len); /* same length: in place */
        return 0;
    }
    if (s->used + len > OFF_MAX)
        return BDX_ETOOBIG;
    if ((rc = reserve_area(s, len)) != 0)
        return rc;
    if (inside)
        data = s->area + src_off; /* the area may have moved */
    memcpy(s->area + s->used, data, len);
    loc = OWNED_BIT | (uint64_t)s->used << LEN_BITS | len;
    if ((rc = page_set(p, idx, loc)) != 0)
        return rc;
    s->used += len;
    account(s, p, old, loc);
    maybe_compact(s);
    return 0;
}

void slotstore_remove(slotstore_t *s, uint32_t slot)
{
    (void)slotstore_put(s, slot, NULL, 0);
}

/* Copies every owned value to to[*at..] in page order and points its loc there. */
static void rewrite_owned(slotstore_t *s, uint8_t *to, size_t *at)
{
    for (size_t pg = 0; pg < MAX_PAGES; pg++) {
        page_t *p = page_get(s, pg);
        if (p == NULL) {
            pg |= CHUNK_PAGES - 1; /* skip the chunk */
            continue;
        }
        uint64_t *locs = p->own != NULL ? p->own : p->ov_loc;
        uint32_t n = p->own != NULL ? PAGE_SLOTS : p->nov;
        for (uint32_t j = 0; j < n; j++) {
            uint64_t loc = locs[j];
            size_t len = loc_len(loc);
            if (!(loc & OWNED_BIT))
                continue;
            memcpy(to + *at, s->area + loc_off(loc), len);
            locs[j] = OWNED_BIT | (uint64_t)*at << LEN_BITS | len;
            *at += len;
        }
    }
}

int slotstore_compact(slotstore_t *s)
{
    size_t live = s->used - s->garbage, at = 0;
    uint8_t *a = NULL;

    if (s->garbage > 0 && live > 0 && (a = malloc(live)) == NULL)
        return -ENOMEM;
    for (size_t c = 0; c < NCHUNKS; c++) {
        bool empty = true;
        for (size_t i = 0; s->chunks[c] != NULL && i < CHUNK_PAGES && empty; i++)
            empty = s->chunks[c][i].live == 0; /* empty pages hold no allocation */
        if (empty) {
            free(s->chunks[c]);
            s->chunks[c] = NULL;
        }
    }
    if (s->garbage == 0)
        return 0;
    rewrite_owned(s, a, &at);
    free(s->area);
    s->area = a;
    s->used = s->cap = at;
    s->garbage = 0;
    return 0;
}

/* ---- image ---- */

typedef struct header {
    char magic[8];
    uint32_t version;
    uint32_t page_slots;
    uint64_t npages;    /* one past the last page holding a value */
    uint64_t nstored;   /* page tables (= directory entries in version 2) */
    uint64_t count;     /* slots with a value */
    uint64_t data_size; /* bytes of values */
    uint64_t reserved[2];
} header_t;

_Static_assert(sizeof(header_t) == HEADER_SIZE, "header layout");

/* Directory entries the image needs (pages up to the last non-empty one) and page tables. */
static void image_shape(const slotstore_t *s, size_t *npages, size_t *nstored)
{
    *npages = *nstored = 0;
    for (size_t c = 0; c < NCHUNKS; c++)
        for (size_t i = 0; s->chunks[c] != NULL && i < CHUNK_PAGES; i++)
            if (s->chunks[c][i].live > 0) {
                *npages = (c << CHUNK_SHIFT) + i + 1;
                (*nstored)++;
            }
}

/* Version 1 has a dense directory (npages entries, highest-slot sized); version 2, written
 * since, lists the nstored page numbers, so an image follows the pages holding values. */
#define IMAGE_VERSION_DENSE 1

static size_t image_layout(uint32_t version, size_t npages, size_t nstored, uint64_t data_size,
                           size_t *pages_off, size_t *data_off)
{
    size_t dir = version == IMAGE_VERSION_DENSE ? npages : nstored;
    *pages_off = align32(HEADER_SIZE + dir * sizeof(uint32_t));
    *data_off = *pages_off + nstored * PAGE_SLOTS * sizeof(uint64_t);
    return *data_off + align32((size_t)data_size);
}

size_t slotstore_image_size(const slotstore_t *s)
{
    size_t npages, nstored, po, d;

    image_shape(s, &npages, &nstored);
    return image_layout(SLOTSTORE_IMAGE_VERSION, npages, nstored, s->live_bytes, &po, &d);
}

void slotstore_image_write(const slotstore_t *s, void *buf)
{
    uint8_t *out = buf;
    size_t npages, nstored, pages_off, data_off, total, at = 0;
    header_t h;
    uint32_t *dir;
    uint64_t *tbl;
    uint32_t next = 0;

    image_shape(s, &npages, &nstored);
    total = image_layout(SLOTSTORE_IMAGE_VERSION, npages, nstored, s->live_bytes, &pages_off,
                         &data_off);
    memset(&h, 0, sizeof(h));
    memcpy(h.magic, IMAGE_MAGIC, sizeof(h.magic));
    h.version = SLOTSTORE_IMAGE_VERSION;
    h.page_slots = PAGE_SLOTS;
    h.npages = npages;
    h.nstored = nstored;
    h.count = s->count;
    h.data_size = s->live_bytes;
    memcpy(out, &h, sizeof(h));
    dir = (uint32_t *)(out + HEADER_SIZE);
    memset(out + HEADER_SIZE + nstored * sizeof(*dir), 0,
           pages_off - HEADER_SIZE - nstored * sizeof(*dir));
    tbl = (uint64_t *)(out + pages_off);
    for (size_t i = 0; i < npages; i++) {
        const page_t *p = page_get(s, i);
        if (p == NULL || p->live == 0) {
            if ((i & (CHUNK_PAGES - 1)) == 0 && s->chunks[i >> CHUNK_SHIFT] == NULL)
                i |= CHUNK_PAGES - 1; /* a chunk with no page */
            continue;
        }
        dir[next] = (uint32_t)i;
        for (uint32_t j = 0; j < PAGE_SLOTS; j++) {
            uint64_t loc = page_loc(p, j);
            size_t len = loc_len(loc);
            if (loc == 0) {
                tbl[j] = 0;
                continue;
            }
            memcpy(out + data_off + at, loc_ptr(s, loc), len);
            tbl[j] = (uint64_t)at << LEN_BITS | len;
            at += len;
        }
        tbl += PAGE_SLOTS;
        next++;
    }
    memset(out + data_off + at, 0, total - data_off - at);
}

int slotstore_image_get(const void *buf, size_t size, uint32_t slot, const uint8_t **val,
                        size_t *len)
{
    const uint8_t *in = buf;
    size_t pages_off, data_off;
    uint64_t page = slot >> PAGE_SHIFT, loc;
    uint32_t table;
    header_t h;

    *val = NULL;
    *len = 0;
    if (size < HEADER_SIZE || ((uintptr_t)buf & 7) != 0)
        return BDX_ECORRUPT;
    memcpy(&h, in, sizeof(h));
    if (memcmp(h.magic, IMAGE_MAGIC, sizeof(h.magic)) != 0)
        return BDX_ECORRUPT;
    if (h.version != SLOTSTORE_IMAGE_VERSION && h.version != IMAGE_VERSION_DENSE)
        return BDX_EVERSION;
    if (h.page_slots != PAGE_SLOTS || h.npages > MAX_PAGES || h.nstored > h.npages ||
        h.data_size > size ||
        image_layout(h.version, h.npages, h.nstored, h.data_size, &pages_off, &data_off) != size)
        return BDX_ECORRUPT;
    if (page >= h.npages)
        return 0;
    if (h.version == IMAGE_VERSION_DENSE) { /* directory by page: the page's table or empty */
        memcpy(&table, in + HEADER_SIZE + page * sizeof(uint32_t), sizeof(table));
        if (table == DIR_EMPTY)
            return 0;
    } else { /* directory by table: ascending page numbers, binary search */
        uint64_t lo = 0, hi = h.nstored;
        while (lo < hi) {
            uint64_t mid = lo + (hi - lo) / 2;
            uint32_t pg;
            memcpy(&pg, in + HEADER_SIZE + mid * sizeof(uint32_t), sizeof(pg));
            if (pg < page)
                lo = mid + 1;
            else
                hi = mid;
        }
        if (lo == h.nstored)
            return 0;
        memcpy(&table, in + HEADER_SIZE + lo * sizeof(uint32_t), sizeof(table));
        if (table != page)
            return 0;
        table = (uint32_t)lo;
    }
    if (table >= h.nstored)
        return BDX_ECORRUPT;
    memcpy(&loc, in + pages_off + ((uint64_t)table * PAGE_SLOTS + (slot & PAGE_MASK)) * 8, 8);
    if (loc == 0)
        return 0;
    if ((loc & OWNED_BIT) || loc_len(loc) > SLOTSTORE_VALUE_MAX ||
        loc_off(loc) + loc_len(loc) > h.data_size)
        return BDX_ECORRUPT;
    *val = in + data_off + loc_off(loc);
    *len = loc_len(loc);
    return 0;
}

int slotstore_image_open(const void *buf, size_t size, slotstore_t **out, bdx_error_t *err)
{
    const uint8_t *in = buf;
    const uint32_t *dir;
    const uint64_t *tbl;
    header_t h;
    size_t pages_off, data_off, total;
    uint64_t count = 0, bytes = 0, next = 0;
    slotstore_t *s = NULL;
    int rc;

    *out = NULL;
    if (((uintptr_t)buf & 7) != 0)
        return bdx_error_set(err, BDX_EINVAL, "slotstore image: buffer not 8-byte aligned");
    if (size < HEADER_SIZE)
        return bdx_error_set(err, BDX_ECORRUPT,
                             "slotstore image: %zu bytes, shorter than its %d-byte header", size,
                             HEADER_SIZE);
    memcpy(&h, in, sizeof(h));
    if (memcmp(h.magic, IMAGE_MAGIC, sizeof(h.magic)) != 0)
        return bdx_error_set(err, BDX_ECORRUPT, "slotstore image: bad magic");
    if (h.version != SLOTSTORE_IMAGE_VERSION && h.version != IMAGE_VERSION_DENSE)
        return bdx_error_set(err, BDX_EVERSION,
                             "slotstore image: version %u (this build reads %d and %d)", h.version,
                             IMAGE_VERSION_DENSE, SLOTSTORE_IMAGE_VERSION);
    if (h.page_slots != PAGE_SLOTS)
        return bdx_error_set(err, BDX_ECORRUPT, "slotstore image: page_slots %u (expected %u)",
                             h.page_slots, PAGE_SLOTS);
    if (h.npages > MAX_PAGES || h.nstored > h.npages)
        return bdx_error_set(err, BDX_ECORRUPT,
                             "slotstore image: %llu pages, %llu page tables (at most %llu, and "
                             "no more tables than pages)",
                             (unsigned long long)h.npages, (unsigned long long)h.nstored,
                             (unsigned long long)MAX_PAGES);
    if (h.data_size > size)
        return bdx_error_set(err, BDX_ECORRUPT,
                             "slotstore image: data_size %llu beyond the %zu-byte image",
                             (unsigned long long)h.data_size, size);
    total = image_layout(h.version, h.npages, h.nstored, h.data_size, &pages_off, &data_off);
    if (total != size)
        return bdx_error_set(err, BDX_ECORRUPT,
                             "slotstore image: %zu bytes, the header describes %zu", size, total);
    dir = (const uint32_t *)(in + HEADER_SIZE);
    if (h.version == IMAGE_VERSION_DENSE) {
        for (uint64_t i = 0; i < h.npages; i++) {
            if (dir[i] == DIR_EMPTY)
                continue;
            if (dir[i] != next)
                return bdx_error_set(err, BDX_ECORRUPT,
                                     "slotstore image: page %llu names table %u (expected %llu)",
                                     (unsigned long long)i, dir[i], (unsigned long long)next);
            next++;
        }
    } else {
        for (; next < h.nstored; next++)
            if (dir[next] >= h.npages || (next > 0 && dir[next] <= dir[next - 1]))
                return bdx_error_set(err, BDX_ECORRUPT,
                                     "slotstore image: table %llu names page %u (not ascending "
                                     "below %llu pages)",
                                     (unsigned long long)next, dir[next],
                                     (unsigned long long)h.npages);
        if (h.nstored > 0 ? dir[h.nstored - 1] != h.npages - 1 : h.npages != 0)
            return bdx_error_set(err, BDX_ECORRUPT,
                                 "slotstore image: %llu pages, but the last table is of page %lld",
                                 (unsigned long long)h.npages,
                                 h.nstored > 0 ? (long long)dir[h.nstored - 1] : -1LL);
    }
    if (next != h.nstored)
        return bdx_error_set(err, BDX_ECORRUPT,
                             "slotstore image: directory names %llu tables, header says %llu",
                             (unsigned long long)next, (unsigned long long)h.nstored);
    if ((rc = slotstore_new(&s)) != 0)
        goto fail;
    tbl = (const uint64_t *)(in + pages_off);
    /* dense: i walks pages, dir[i] names the table; sparse: i walks tables, dir[i] the page */
    for (uint64_t i = 0; i < (h.version == IMAGE_VERSION_DENSE ? h.npages : h.nstored); i++) {
        bool dense = h.version == IMAGE_VERSION_DENSE;
        uint64_t pg = dense ? i : dir[i];
        page_t *p;
        if (dense && dir[i] == DIR_EMPTY)
            continue;
        if ((p = page_make(s, pg)) == NULL) {
            rc = -ENOMEM;
            goto fail;
        }
        p->base = tbl + (dense ? (uint64_t)dir[i] : i) * PAGE_SLOTS;
        for (uint32_t j = 0; j < PAGE_SLOTS; j++) {
            uint64_t loc = p->base[j];
            if (loc == 0)
                continue;
            if ((loc & OWNED_BIT) || loc_len(loc) == 0 || loc_len(loc) > SLOTSTORE_VALUE_MAX ||
                loc_off(loc) + loc_len(loc) > h.data_size) {
                rc = bdx_error_set(err, BDX_ECORRUPT,
                                   "slotstore image: slot %llu: value (offset %llu, length %zu) "
                                   "outside the %llu-byte data section",
                                   (unsigned long long)(pg * PAGE_SLOTS + j),
                                   (unsigned long long)loc_off(loc), loc_len(loc),
                                   (unsigned long long)h.data_size);
                goto fail;
            }
            p->live++;
            bytes += loc_len(loc);
        }
        if (p->live == 0) {
            rc = bdx_error_set(err, BDX_ECORRUPT, "slotstore image: page %llu has no value",
                               (unsigned long long)pg);
            goto fail;
        }
        count += p->live;
    }
    if (count != h.count) {
        rc = bdx_error_set(err, BDX_ECORRUPT, "slotstore image: %llu values, header says %llu",
                           (unsigned long long)count, (unsigned long long)h.count);
        goto fail;
    }
    s->image = in + data_off;
    s->count = count;
    s->live_bytes = bytes;
    *out = s;
    return 0;
fail:
    slotstore_free(s);
    if (rc == -ENOMEM)
        bdx_error_set(err, rc, "slotstore image: out of memory");
    return rc;
}

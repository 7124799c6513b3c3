/* Tests common/column.c: widths, growth, edges, paging, images and copy on write. */
#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "common/column.h"
#include "common/error.h"
#include "common/schema.h"
#include "image_buf.h"

static uint64_t seed, rng;

static void seed_init(void)
{
    const char *s = getenv("BITDEX_TEST_SEED");
    seed = s != NULL ? strtoull(s, NULL, 0) : (uint64_t)time(NULL) ^ ((uint64_t)getpid() << 20);
    rng = seed;
    cr_log_info("seed=%llu", (unsigned long long)seed);
}

static uint64_t rnd(void)
{
    uint64_t z = (rng += 0x9E3779B97F4A7C15ULL);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
    return z ^ (z >> 31);
}

#define SEEDFMT "seed=%llu (rerun with BITDEX_TEST_SEED=%llu)"
#define SEEDARG (unsigned long long)seed, (unsigned long long)seed

/* Bytes per value of a column of `bits` bits (the model of the element width). */
static size_t width_of(unsigned bits)
{
    return bits <= 8 ? 1 : bits <= 16 ? 2 : bits <= 32 ? 4 : 8;
}

Test(column, widths_and_edges)
{
    static const unsigned bits[] = {1, 7, 8, 9, 16, 17, 32, 33, 64};

    for (size_t i = 0; i < sizeof(bits) / sizeof(*bits); i++) {
        column_t *c;
        uint64_t max = schema_bits_max(bits[i]);

        cr_assert_eq(column_new(bits[i], &c), 0);
        cr_assert_eq(column_bits(c), bits[i]);
        cr_assert_eq(column_length(c), 0);
        cr_assert_eq(column_get(c, 0), 0);
        cr_assert_eq(column_get(c, UINT32_MAX), 0);
        cr_assert_eq(column_set(c, 5, max), 0);
        cr_assert_eq(column_get(c, 5), max, "bits=%u", bits[i]);
        cr_assert_eq(column_get(c, 4), 0);
        cr_assert_eq(column_get(c, 6), 0);
        cr_assert_eq(column_length(c), 6);
        if (bits[i] < 64)
            cr_assert_eq(column_set(c, 5, max + 1), BDX_EINVAL);
        cr_assert_eq(column_get(c, 5), max);
        cr_assert_eq(column_set(c, 100000, 1), 0);
        cr_assert_eq(column_get(c, 100000), 1);
        cr_assert_eq(column_get(c, 5), max, "growth keeps values");
        cr_assert_eq(column_get(c, 99999), 0, "growth zero-fills");
        cr_assert_eq(column_set(c, 5, 0), 0);
        cr_assert_eq(column_get(c, 5), 0);
        /* Private memory: the two pages written (the gap between them borrows zeros). */
        cr_assert_geq(column_memory(c), 2 * COLUMN_PAGE_SLOTS * width_of(bits[i]));
        cr_assert_lt(column_memory(c), 100001, "the gap costs no pages");
        column_shrink(c);
        cr_assert_eq(column_get(c, 100000), 1);
        cr_assert_eq(column_get(c, 5), 0);
        cr_assert_lt(column_memory(c), 100001 * 8 + 64);
        cr_assert_eq(column_set(c, 200000, 1), 0, "grows again after a shrink");
        cr_assert_eq(column_get(c, 200000), 1);
        column_free(c);
    }
    {
        column_t *c;
        cr_assert_eq(column_new(0, &c), BDX_EINVAL);
        cr_assert_eq(column_new(65, &c), BDX_EINVAL);
        cr_assert_eq(column_new(8, &c), 0);
        column_shrink(c); /* empty */
        cr_assert_eq(column_get(c, 3), 0);
        column_free(c);
        column_free(NULL);
    }
}

Test(column, sequential_fill_and_reserve)
{
    column_t *c;

    cr_assert_eq(column_new(32, &c), 0);
    cr_assert_eq(column_reserve(c, 1000000), 0);
    for (uint32_t s = 0; s < 1000000; s++)
        cr_assert_eq(column_set(c, s, s * 7u), 0);
    for (uint32_t s = 0; s < 1000000; s += 997)
        cr_assert_eq(column_get(c, s), (uint64_t)(uint32_t)(s * 7u));
    cr_assert_eq(column_length(c), 1000000);
    column_free(c);
}

/* The model: a plain array of `cap` values and the column's length. */
typedef struct model {
    uint64_t *v;
    uint64_t cap, length;
} model_t;

static void model_set(model_t *m, uint32_t slot, uint64_t value)
{
    if (slot >= m->cap) {
        uint64_t cap = (uint64_t)slot + 1 + m->cap;
        m->v = realloc(m->v, cap * sizeof(*m->v));
        cr_assert_not_null(m->v);
        memset(m->v + m->cap, 0, (cap - m->cap) * sizeof(*m->v));
        m->cap = cap;
    }
    m->v[slot] = value;
    if (slot >= m->length)
        m->length = (uint64_t)slot + 1;
}

static uint64_t random_value(unsigned bits)
{
    uint64_t max = schema_bits_max(bits);
    switch (rnd() % 4) {
    case 0:
        return 0;
    case 1:
        return max;
    default:
        return bits == 64 ? rnd() : rnd() % (max + 1);
    }
}

/* A slot near a page boundary, inside `span`, or anywhere below `span`. */
static uint32_t random_slot(uint64_t span)
{
    if (span == 0)
        return 0;
    if (rnd() % 3 == 0) {
        uint64_t page = rnd() % (span / COLUMN_PAGE_SLOTS + 1);
        int64_t s = (int64_t)(page * COLUMN_PAGE_SLOTS) + (int64_t)(rnd() % 5) - 2;
        if (s < 0)
            s = 0;
        return (uint32_t)((uint64_t)s % span);
    }
    return (uint32_t)(rnd() % span);
}

static void random_writes(column_t *c, model_t *m, unsigned bits, int n, uint64_t span)
{
    for (int i = 0; i < n; i++) {
        uint32_t slot = random_slot(span);
        uint64_t v = random_value(bits);
        cr_assert_eq(column_set(c, slot, v), 0, "slot %u " SEEDFMT, slot, SEEDARG);
        model_set(m, slot, v);
    }
}

static void check(const column_t *c, const model_t *m, unsigned bits, const char *what)
{
    cr_assert_eq(column_length(c), m->length, "%s: length " SEEDFMT, what, SEEDARG);
    cr_assert_eq(column_bits(c), bits);
    for (uint64_t s = 0; s < m->length; s++)
        if (column_get(c, (uint32_t)s) != m->v[s])
            cr_assert_fail("%s: bits %u slot %llu: %llu, model %llu " SEEDFMT, what, bits,
                           (unsigned long long)s, (unsigned long long)column_get(c, (uint32_t)s),
                           (unsigned long long)m->v[s], SEEDARG);
    cr_assert_eq(column_get(c, (uint32_t)m->length), 0, "%s: past the end", what);
    cr_assert_eq(column_get(c, UINT32_MAX), 0);
}

static size_t align32(size_t n)
{
    return (n + 31) / 32 * 32;
}

/* The image size of c from its values (docs/format/images.md, version 2): the header, the page
 * numbers of the pages holding a non-zero value, those pages (the column's last one short). */
static size_t expected_image_size(const column_t *c, size_t *last_bytes)
{
    uint64_t len = column_length(c);
    size_t held = 0, w = width_of(column_bits(c));

    *last_bytes = 0;
    for (uint64_t p = 0; p * COLUMN_PAGE_SLOTS < len; p++) {
        uint64_t end = (p + 1) * COLUMN_PAGE_SLOTS < len ? (p + 1) * COLUMN_PAGE_SLOTS : len;
        bool nonzero = false;
        for (uint64_t s = p * COLUMN_PAGE_SLOTS; s < end && !nonzero; s++)
            nonzero = column_get(c, (uint32_t)s) != 0;
        if (nonzero) {
            held++;
            *last_bytes = (size_t)(end - p * COLUMN_PAGE_SLOTS) * w;
        }
    }
    return 32 + align32(4 * held) +
           (held == 0 ? 0 : (held - 1) * COLUMN_PAGE_SLOTS * w + align32(*last_bytes));
}

/* Writes c's image into a sealed (read-only) buffer. */
static void image_of(const column_t *c, image_buf_t *b)
{
    size_t last, size = column_image_size(c);

    cr_assert_eq(size % 32, 0);
    cr_assert_eq(size, expected_image_size(c, &last));
    image_buf_init(b, size);
    memset(b->data, 0xAB, size); /* every byte must be written */
    column_image_write(c, b->data);
    for (size_t i = size - align32(last) + last; i < size; i++)
        cr_assert_eq(((unsigned char *)b->data)[i], 0, "padding byte %zu", i);
    for (size_t i = 28; i < 32; i++)
        cr_assert_eq(((unsigned char *)b->data)[i], 0, "reserved byte %zu", i);
    image_buf_seal(b);
}

Test(column, random_vs_model)
{
    static const unsigned bits[] = {1, 8, 13, 16, 32, 33, 64};

    seed_init();
    for (size_t i = 0; i < sizeof(bits) / sizeof(*bits); i++) {
        column_t *c;
        model_t m = {0};
        uint64_t span = 1 + rnd() % (8 * COLUMN_PAGE_SLOTS);
        cr_assert_eq(column_new(bits[i], &c), 0);
        random_writes(c, &m, bits[i], 3000, span);
        check(c, &m, bits[i], "filled");
        if (rnd() % 2)
            cr_assert_eq(column_reserve(c, span * 2), 0);
        column_shrink(c);
        check(c, &m, bits[i], "shrunk");
        random_writes(c, &m, bits[i], 3000, span * 2);
        check(c, &m, bits[i], "grown");
        column_free(c);
        free(m.v);
    }
}

Test(column, image_roundtrip_and_copy_on_write)
{
    static const unsigned bits[] = {1, 7, 8, 9, 16, 17, 32, 33, 64};

    seed_init();
    for (size_t i = 0; i < sizeof(bits) / sizeof(*bits); i++) {
        for (int shape = 0; shape < 4; shape++) {
            column_t *c, *o, *o2;
            model_t m = {0};
            image_buf_t b, b2;
            bdx_error_t err;
            uint64_t span = shape == 0   ? 0
                            : shape == 1 ? 1 + rnd() % 100
                            : shape == 2 ? COLUMN_PAGE_SLOTS * (1 + rnd() % 3)
                                         : 1 + rnd() % (6 * COLUMN_PAGE_SLOTS);
            size_t owned_before;

            cr_assert_eq(column_new(bits[i], &c), 0);
            if (span > 0) {
                random_writes(c, &m, bits[i], 2000, span);
                if (rnd() % 2)
                    column_shrink(c);
            }
            image_of(c, &b);
            cr_assert_eq(column_image_open(b.data, b.size, &o, &err), 0, "%s", err.msg);
            check(o, &m, bits[i], "opened");
            owned_before = column_memory(o);
            /* Opening owns no page: only the struct and the page table (root and chunks). */
            cr_assert_leq(
                owned_before,
                sizeof(column_t) + 8 * sizeof(void *) +
                    sizeof(column_chunk_t) *
                        (m.length / ((uint64_t)COLUMN_PAGE_SLOTS * COLUMN_CHUNK_PAGES) + 1),
                SEEDFMT, SEEDARG);
            /* Writes inside the image, in the image's last (partial) page, and past its end. */
            random_writes(o, &m, bits[i], 500, m.length + 1);
            random_writes(o, &m, bits[i], 200, m.length + 3 * COLUMN_PAGE_SLOTS + 7);
            check(o, &m, bits[i], "written after open");
            cr_assert_gt(column_memory(o), owned_before);
            /* The original (which wrote the image) is unaffected. */
            column_free(c);
            /* The image of a partly borrowed column round-trips too. */
            image_of(o, &b2);
            cr_assert_eq(column_image_open(b2.data, b2.size, &o2, &err), 0, "%s", err.msg);
            check(o2, &m, bits[i], "reopened");
            column_shrink(o2);
            check(o2, &m, bits[i], "reopened, shrunk");
            column_free(o2);
            column_free(o);
            image_buf_free(&b2);
            image_buf_free(&b);
            free(m.v);
        }
    }
}

/* Private memory follows the pages written, not the image size. */
Test(column, memory_follows_writes)
{
    enum {
        N = 1000000
    };
    column_t *c, *o;
    image_buf_t b;
    bdx_error_t err;
    size_t base, image, page = COLUMN_PAGE_SLOTS * 4;
    uint32_t start;
    uint8_t *touched;
    size_t pages = 0;

    seed_init();
    cr_assert_eq(column_new(32, &c), 0);
    for (uint32_t s = 0; s < N; s++)
        cr_assert_eq(column_set(c, s, s ^ 0x5555u), 0);
    image_of(c, &b);
    image = b.size;
    column_free(c);
    cr_assert_eq(column_image_open(b.data, b.size, &o, &err), 0, "%s", err.msg);
    base = column_memory(o);
    cr_assert_lt(base, image / 100, "opening copies nothing");

    /* 1% of the slots, contiguous: about 1% of the image (page granularity). */
    start = (uint32_t)(rnd() % (N - N / 100));
    for (uint32_t s = start; s < start + N / 100; s++)
        cr_assert_eq(column_set(o, s, 7), 0);
    cr_assert_geq(column_memory(o) - base, (size_t)N / 100 * 4);
    cr_assert_leq(column_memory(o) - base, (size_t)N / 100 * 4 + 2 * page,
                  "%zu private bytes for 1%% of a %zu-byte image " SEEDFMT, column_memory(o) - base,
                  image, SEEDARG);
    cr_assert_lt((double)(column_memory(o) - base) / (double)image, 0.02);

    /* Scattered single writes: exactly one page each, however many writes per page. */
    base = column_memory(o);
    touched = calloc(N / COLUMN_PAGE_SLOTS + 1, 1);
    for (uint32_t s = start; s < start + N / 100; s++)
        touched[s / COLUMN_PAGE_SLOTS] = 1; /* already owned */
    for (int i = 0; i < 200; i++) {
        uint32_t s = (uint32_t)(rnd() % N);
        cr_assert_eq(column_set(o, s, 9), 0);
        cr_assert_eq(column_get(o, s), 9);
        if (!touched[s / COLUMN_PAGE_SLOTS]) {
            touched[s / COLUMN_PAGE_SLOTS] = 1;
            /* the last page is partial: count what it holds */
            pages += s / COLUMN_PAGE_SLOTS == (N - 1) / COLUMN_PAGE_SLOTS
                         ? (N % COLUMN_PAGE_SLOTS) * 4
                         : page;
        }
    }
    cr_assert_eq(column_memory(o) - base, pages, SEEDFMT, SEEDARG);
    for (uint32_t s = 0; s < N; s += 4099) {
        uint64_t v = column_get(o, s);
        cr_assert(v == (s ^ 0x5555u) || v == 7 || v == 9);
    }
    free(touched);
    column_free(o);
    image_buf_free(&b);
}

/* A sparse write far past the end costs page-table entries, not pages. */
Test(column, sparse_growth_borrows_zero_pages)
{
    column_t *c;

    cr_assert_eq(column_new(64, &c), 0);
    cr_assert_eq(column_set(c, 3, 1), 0);
    cr_assert_eq(column_set(c, 4000000000u, 2), 0);
    /* two pages, two chunks and the chunk root: not a page table for 2^32 slots */
    cr_assert_lt(column_memory(c), 128 * 1024, "%zu", column_memory(c));
    cr_assert_eq(column_get(c, 3), 1);
    cr_assert_eq(column_get(c, 4000000000u), 2);
    cr_assert_eq(column_get(c, 2000000000u), 0);
    cr_assert_eq(column_set(c, 2000000000u, 5), 0, "copy on write of a zero page");
    cr_assert_eq(column_get(c, 2000000000u), 5);
    cr_assert_eq(column_get(c, 2000000001u), 0);
    cr_assert_eq(column_get(c, 1999999999u), 0);
    cr_assert_eq(column_set(c, UINT32_MAX, 6), 0);
    cr_assert_eq(column_length(c), (uint64_t)UINT32_MAX + 1);
    cr_assert_eq(column_get(c, UINT32_MAX), 6);
    cr_assert_lt(column_memory(c), 256 * 1024, "%zu", column_memory(c));

    /* its image holds the four written pages, and opens to the same values */
    image_buf_t b;
    column_t *o;
    bdx_error_t err;
    /* pages 0, 488281, 976562 and 1048575 (image_of() would scan 2^32 slots) */
    cr_assert_eq(column_image_size(c), 32 + 32 + 4 * COLUMN_PAGE_SLOTS * 8);
    image_buf_init(&b, column_image_size(c));
    column_image_write(c, b.data);
    {
        uint32_t held, pages[4];
        memcpy(&held, (char *)b.data + 24, 4);
        memcpy(pages, (char *)b.data + 32, sizeof(pages));
        cr_assert_eq(held, 4);
        cr_assert_eq(pages[0], 0);
        cr_assert_eq(pages[1], 2000000000u / COLUMN_PAGE_SLOTS);
        cr_assert_eq(pages[2], 4000000000u / COLUMN_PAGE_SLOTS);
        cr_assert_eq(pages[3], UINT32_MAX / COLUMN_PAGE_SLOTS);
    }
    image_buf_seal(&b);
    cr_assert_eq(column_image_open(b.data, b.size, &o, &err), 0, "%s", err.msg);
    cr_assert_lt(column_memory(o), 64 * 1024);
    cr_assert_eq(column_length(o), (uint64_t)UINT32_MAX + 1);
    static const uint32_t probe[] = {
        0, 3, 4, 4000000000u, 1999999999, 2000000000u, 2000000001u, UINT32_MAX - 1, UINT32_MAX};
    for (size_t i = 0; i < sizeof(probe) / sizeof(*probe); i++)
        cr_assert_eq(column_get(o, probe[i]), column_get(c, probe[i]), "slot %u", probe[i]);
    cr_assert_eq(column_set(o, 3000000000u, 8), 0);
    cr_assert_eq(column_get(o, 3000000000u), 8);
    column_shrink(o);
    cr_assert_eq(column_get(o, UINT32_MAX), 6);
    column_free(o);
    image_buf_free(&b);
    column_free(c);
}

/* A 40-slot 16-bit image for the corruption tests. */
static void small_image(image_buf_t *b)
{
    column_t *c;

    cr_assert_eq(column_new(16, &c), 0);
    for (uint32_t s = 0; s < 40; s++)
        cr_assert_eq(column_set(c, s, s * 3), 0);
    image_buf_init(b, column_image_size(c));
    column_image_write(c, b->data);
    column_free(c);
}

static int open_rc(const image_buf_t *b, size_t size)
{
    column_t *o = NULL;
    bdx_error_t err;
    int rc = column_image_open(b->data, size, &o, &err);
    if (rc != 0) {
        cr_assert_null(o);
        cr_assert_eq(err.code, rc);
        cr_assert_neq(err.msg[0], '\0');
    }
    column_free(o);
    return rc;
}

Test(column, corrupt_images)
{
    image_buf_t b;
    unsigned char *p;
    uint64_t len;
    uint32_t ver;

    seed_init();
    small_image(&b);
    p = b.data;
    cr_assert_eq(open_rc(&b, b.size), 0);
    cr_assert_eq(open_rc(&b, b.size + 64), 0, "a larger section is fine");
    cr_assert_eq(open_rc(&b, 0), BDX_ECORRUPT);
    cr_assert_eq(open_rc(&b, 31), BDX_ECORRUPT, "truncated header");
    cr_assert_eq(open_rc(&b, 32 + 32 + 79), BDX_ECORRUPT, "truncated values");
    cr_assert_eq(open_rc(&b, 32 + 32 + 80), 0, "exactly the values");
    cr_assert_eq(open_rc(&b, 32 + 31), BDX_ECORRUPT, "truncated page numbers");
    {
        column_t *o;
        cr_assert_eq(column_image_open(p + 8, b.size - 8, &o, NULL), BDX_EINVAL, "misaligned");
    }
    p[0] ^= 1;
    cr_assert_eq(open_rc(&b, b.size), BDX_ECORRUPT, "magic");
    p[0] ^= 1;
    memcpy(&ver, p + 8, 4);
    cr_assert_eq(ver, 2);
    ver = 3;
    memcpy(p + 8, &ver, 4);
    cr_assert_eq(open_rc(&b, b.size), BDX_EVERSION);
    ver = 0;
    memcpy(p + 8, &ver, 4);
    cr_assert_eq(open_rc(&b, b.size), BDX_EVERSION);
    ver = 2;
    memcpy(p + 8, &ver, 4);
    {
        uint32_t held, page;
        memcpy(&held, p + 24, 4);
        cr_assert_eq(held, 1);
        held = 2; /* more pages than the length has */
        memcpy(p + 24, &held, 4);
        cr_assert_eq(open_rc(&b, b.size), BDX_ECORRUPT, "page count");
        held = 1;
        memcpy(p + 24, &held, 4);
        page = 1; /* beyond the length's one page */
        memcpy(p + 32, &page, 4);
        cr_assert_eq(open_rc(&b, b.size), BDX_ECORRUPT, "page number");
        page = 0;
        memcpy(p + 32, &page, 4);
    }
    p[12] = 0;
    cr_assert_eq(open_rc(&b, b.size), BDX_ECORRUPT, "bits 0");
    p[12] = 65;
    cr_assert_eq(open_rc(&b, b.size), BDX_ECORRUPT, "bits 65");
    p[12] = 16;
    p[13] = 4;
    cr_assert_eq(open_rc(&b, b.size), BDX_ECORRUPT, "width does not match bits");
    p[13] = 2;
    memcpy(&len, p + 16, 8);
    cr_assert_eq(len, 40);
    /* lengths 41..48 still fit the padded page (reads stay inside); longer ones do not */
    for (uint64_t bad = 49; bad < 49 + 64; bad++) {
        uint64_t x = bad == 49 + 63 ? UINT64_MAX : bad == 49 + 62 ? (1ull << 32) + 1 : bad * 97;
        memcpy(p + 16, &x, 8);
        cr_assert_eq(open_rc(&b, b.size), BDX_ECORRUPT, "length %llu", (unsigned long long)x);
    }
    memcpy(p + 16, &len, 8);
    cr_assert_eq(open_rc(&b, b.size), 0);
    /* Random header damage: an error or a column whose reads stay inside the image. */
    for (int i = 0; i < 2000; i++) {
        unsigned char save[32];
        column_t *o = NULL;
        memcpy(save, p, 32);
        for (int k = 0; k < 3; k++)
            p[rnd() % 32] ^= (unsigned char)(1u << (rnd() % 8));
        if (column_image_open(p, b.size, &o, NULL) == 0) {
            for (uint64_t s = 0; s < column_length(o); s++)
                (void)column_get(o, (uint32_t)s);
            cr_assert_eq(column_set(o, 3, 1), 0);
            column_free(o);
        }
        memcpy(p, save, 32);
    }
    image_buf_free(&b);
}

/* A version-1 (dense) image, as generations written before sparse columns hold, still opens. */
Test(column, dense_version_1_image_opens)
{
    image_buf_t b;
    column_t *o;
    bdx_error_t err;
    unsigned char *p;
    uint32_t ver = 1;
    uint64_t len = 5000; /* two pages, the second short */

    image_buf_init(&b, 32 + align32(len * 2));
    p = b.data;
    memset(p, 0, b.size);
    memcpy(p, "BDXCOL\0\0", 8);
    memcpy(p + 8, &ver, 4);
    p[12] = 16;
    p[13] = 2;
    memcpy(p + 16, &len, 8);
    for (uint64_t s = 0; s < len; s++) {
        uint16_t v = (uint16_t)(s * 7);
        memcpy(p + 32 + s * 2, &v, 2);
    }
    image_buf_seal(&b);
    cr_assert_eq(column_image_open(b.data, b.size, &o, &err), 0, "%s", err.msg);
    cr_assert_eq(column_length(o), len);
    for (uint64_t s = 0; s < len; s++)
        cr_assert_eq(column_get(o, (uint32_t)s), (uint16_t)(s * 7), "slot %llu",
                     (unsigned long long)s);
    cr_assert_eq(column_set(o, 4999, 1), 0);
    cr_assert_eq(column_get(o, 4999), 1);
    cr_assert_eq(column_get(o, 4998), (uint16_t)(4998 * 7));
    column_free(o);
    cr_assert_eq(column_image_open(b.data, 32 + len * 2 - 1, &o, &err), BDX_ECORRUPT);
    image_buf_free(&b);
}

/* Tests common/dictionary.c: dense stable keys, lookups, growth, stable string pointers, images. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "common/dictionary.h"
#include "common/error.h"
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

Test(dictionary, intern_lookup_string)
{
    dictionary_t *d;
    int64_t k = -5;

    cr_assert_eq(dictionary_new(&d), 0);
    cr_assert_eq(dictionary_count(d), 0);
    cr_assert_eq(dictionary_lookup(d, "SDXL", &k), BDX_ENOTFOUND);
    cr_assert_eq(k, -5, "untouched on miss");
    cr_assert_eq(dictionary_intern(d, "SDXL", &k), 0);
    cr_assert_eq(k, 0);
    cr_assert_eq(dictionary_intern(d, "Pony", &k), 0);
    cr_assert_eq(k, 1);
    cr_assert_eq(dictionary_intern(d, "SDXL", &k), 0);
    cr_assert_eq(k, 0, "stable");
    cr_assert_eq(dictionary_intern(d, "", &k), 0);
    cr_assert_eq(k, 2, "the empty string is a string");
    cr_assert_eq(dictionary_lookup(d, "Pony", &k), 0);
    cr_assert_eq(k, 1);
    cr_assert_eq(dictionary_lookup(d, "pony", &k), BDX_ENOTFOUND, "case-sensitive");
    cr_assert_eq(dictionary_lookup(d, "Pon", &k), BDX_ENOTFOUND, "prefix is not a match");
    cr_assert_eq(dictionary_lookup(d, "Ponyy", &k), BDX_ENOTFOUND);
    cr_assert_str_eq(dictionary_string(d, 0), "SDXL");
    cr_assert_str_eq(dictionary_string(d, 2), "");
    cr_assert_null(dictionary_string(d, 3));
    cr_assert_null(dictionary_string(d, -1));
    cr_assert_eq(dictionary_count(d), 3);
    cr_assert_gt(dictionary_memory(d), 0);
    dictionary_free(d);
    dictionary_free(NULL);
}

Test(dictionary, many_strings_dense_and_stable)
{
    enum {
        N = 100000
    };
    dictionary_t *d;
    char buf[64];
    const char *first;
    int64_t k;

    cr_assert_eq(dictionary_new(&d), 0);
    cr_assert_eq(dictionary_intern(d, "user-0", &k), 0);
    first = dictionary_string(d, 0);
    for (int i = 1; i < N; i++) {
        snprintf(buf, sizeof(buf), "user-%d", i);
        cr_assert_eq(dictionary_intern(d, buf, &k), 0);
        cr_assert_eq(k, i);
    }
    cr_assert_eq(dictionary_string(d, 0), first, "strings never move");
    for (int i = N - 1; i >= 0; i -= 7) {
        snprintf(buf, sizeof(buf), "user-%d", i);
        cr_assert_eq(dictionary_lookup(d, buf, &k), 0);
        cr_assert_eq(k, i);
        cr_assert_str_eq(dictionary_string(d, i), buf);
    }
    /* a long string (bigger than a chunk) */
    {
        size_t len = 200000;
        char *big = malloc(len + 1);
        memset(big, 'x', len);
        big[len] = '\0';
        cr_assert_eq(dictionary_intern(d, big, &k), 0);
        cr_assert_eq(k, N);
        cr_assert_eq(dictionary_lookup(d, big, &k), 0);
        cr_assert_eq(k, N);
        cr_assert_str_eq(dictionary_string(d, N), big);
        free(big);
    }
    cr_assert_eq(dictionary_count(d), N + 1);
    dictionary_free(d);
}

/* The model: strings in key order (malloc'd), found by linear search. */
typedef struct model {
    char **s;
    size_t n, cap;
} model_t;

static int64_t model_find(const model_t *m, const char *s)
{
    for (size_t i = 0; i < m->n; i++)
        if (strcmp(m->s[i], s) == 0)
            return (int64_t)i;
    return -1;
}

/* A random string: often short and from a small alphabet (so repeats happen), sometimes any
 * non-NUL bytes, empty, or longer than a dictionary chunk. */
static char *random_string(void)
{
    size_t len;
    char *s;

    switch (rnd() % 8) {
    case 0:
        len = 0;
        break;
    case 1:
        len = rnd() % 200;
        break;
    case 2:
        len = rnd() % 50 == 0 ? 70000 + rnd() % 1000 : rnd() % 20;
        break;
    default:
        len = 1 + rnd() % 3;
    }
    s = malloc(len + 1);
    cr_assert_not_null(s);
    for (size_t i = 0; i < len; i++)
        s[i] = rnd() % 2 ? (char)('a' + rnd() % 4) : (char)(1 + rnd() % 255);
    s[len] = '\0';
    return s;
}

/* Interns n random strings into d and the model. */
static void random_interns(dictionary_t *d, model_t *m, int n)
{
    for (int i = 0; i < n; i++) {
        char *s = random_string();
        int64_t want = model_find(m, s), k = -7;
        cr_assert_eq(dictionary_intern(d, s, &k), 0);
        if (want >= 0) {
            cr_assert_eq(k, want, "existing string keeps its key " SEEDFMT, SEEDARG);
            free(s);
            continue;
        }
        cr_assert_eq(k, (int64_t)m->n, "next dense key " SEEDFMT, SEEDARG);
        if (m->n == m->cap) {
            m->cap = m->cap ? m->cap * 2 : 64;
            m->s = realloc(m->s, m->cap * sizeof(*m->s));
        }
        m->s[m->n++] = s;
    }
}

static void check(const dictionary_t *d, const model_t *m, const char *what)
{
    int64_t k;

    cr_assert_eq(dictionary_count(d), (int64_t)m->n, "%s " SEEDFMT, what, SEEDARG);
    for (size_t i = 0; i < m->n; i++) {
        const char *got = dictionary_string(d, (int64_t)i);
        cr_assert_not_null(got);
        cr_assert_str_eq(got, m->s[i], "%s: key %zu " SEEDFMT, what, i, SEEDARG);
        cr_assert_eq(dictionary_lookup(d, m->s[i], &k), 0, "%s: key %zu", what, i);
        cr_assert_eq(k, (int64_t)i, "%s " SEEDFMT, what, SEEDARG);
    }
    cr_assert_null(dictionary_string(d, (int64_t)m->n));
    cr_assert_null(dictionary_string(d, -1));
    for (int i = 0; i < 200; i++) {
        char *s = random_string();
        int rc = dictionary_lookup(d, s, &k);
        if (model_find(m, s) < 0)
            cr_assert_eq(rc, BDX_ENOTFOUND, "%s " SEEDFMT, what, SEEDARG);
        else
            cr_assert(rc == 0 && k == model_find(m, s));
        free(s);
    }
}

static void image_of(const dictionary_t *d, const model_t *m, image_buf_t *b)
{
    size_t size = dictionary_image_size(d), bytes = 0;

    for (size_t i = 0; i < m->n; i++)
        bytes += strlen(m->s[i]) + 1;
    cr_assert_eq(size, 32 + ((m->n + 1) * 8 + 31) / 32 * 32 + (bytes + 31) / 32 * 32);
    image_buf_init(b, size);
    memset(b->data, 0xAB, size);
    dictionary_image_write(d, b->data);
    image_buf_seal(b);
}

Test(dictionary, image_roundtrip_then_intern)
{
    seed_init();
    for (int round = 0; round < 6; round++) {
        dictionary_t *d, *o, *o2;
        model_t m = {0};
        image_buf_t b, b2;
        bdx_error_t err;
        const char *first;
        size_t opened;

        cr_assert_eq(dictionary_new(&d), 0);
        random_interns(d, &m, round == 0 ? 0 : (int)(rnd() % 3000));
        check(d, &m, "built");
        image_of(d, &m, &b);
        dictionary_free(d); /* the image stands alone */
        cr_assert_eq(dictionary_image_open(b.data, b.size, &o, &err), 0, "%s", err.msg);
        check(o, &m, "opened");
        opened = dictionary_memory(o);
        /* Borrowed strings: the key array points into the image. */
        if (m.n > 0) {
            first = dictionary_string(o, 0);
            cr_assert((const char *)first >= (const char *)b.data &&
                      (const char *)first < (const char *)b.data + b.size);
        }
        random_interns(o, &m, 1 + (int)(rnd() % 3000));
        check(o, &m, "interned after open");
        cr_assert_geq(dictionary_memory(o), opened);
        /* The image of a mixed (borrowed + owned) dictionary round-trips too. */
        image_of(o, &m, &b2);
        cr_assert_eq(dictionary_image_open(b2.data, b2.size, &o2, &err), 0, "%s", err.msg);
        check(o2, &m, "reopened");
        random_interns(o2, &m, 100);
        check(o2, &m, "reopened, interned");
        dictionary_free(o2);
        dictionary_free(o);
        image_buf_free(&b2);
        image_buf_free(&b);
        for (size_t i = 0; i < m.n; i++)
            free(m.s[i]);
        free(m.s);
    }
}

/* Image of "a", "bb", "" (offsets 0, 2, 5, 6; 6 bytes), writable for damaging. */
static void small_image(image_buf_t *b)
{
    dictionary_t *d;
    int64_t k;

    cr_assert_eq(dictionary_new(&d), 0);
    cr_assert_eq(dictionary_intern(d, "a", &k), 0);
    cr_assert_eq(dictionary_intern(d, "bb", &k), 0);
    cr_assert_eq(dictionary_intern(d, "", &k), 0);
    image_buf_init(b, dictionary_image_size(d));
    dictionary_image_write(d, b->data);
    dictionary_free(d);
}

static int open_rc(const void *data, size_t size)
{
    dictionary_t *o = NULL;
    bdx_error_t err;
    int rc = dictionary_image_open(data, size, &o, &err);
    if (rc != 0) {
        cr_assert_null(o);
        cr_assert_eq(err.code, rc);
        cr_assert_neq(err.msg[0], '\0');
    } else {
        int64_t k;
        for (int64_t i = 0; i < dictionary_count(o); i++)
            cr_assert_eq(dictionary_lookup(o, dictionary_string(o, i), &k), 0);
        cr_assert_eq(dictionary_intern(o, "new", &k), 0);
    }
    dictionary_free(o);
    return rc;
}

static void put64(unsigned char *p, uint64_t v)
{
    memcpy(p, &v, 8);
}

Test(dictionary, corrupt_images)
{
    image_buf_t b;
    unsigned char *p, *blob;
    uint32_t u;

    seed_init();
    small_image(&b);
    p = b.data;
    cr_assert_eq(b.size, 32 + 32 + 32);
    blob = p + 64;
    cr_assert_eq(memcmp(blob, "a\0bb\0\0", 6), 0);
    cr_assert_eq(open_rc(p, b.size), 0);
    cr_assert_eq(open_rc(p, 0), BDX_ECORRUPT);
    cr_assert_eq(open_rc(p, 31), BDX_ECORRUPT, "truncated header");
    cr_assert_eq(open_rc(p, 63), BDX_ECORRUPT, "truncated offsets");
    cr_assert_eq(open_rc(p, 64), BDX_ECORRUPT, "no strings");
    cr_assert_eq(open_rc(p, 95), BDX_ECORRUPT, "truncated strings");
    {
        dictionary_t *o;
        cr_assert_eq(dictionary_image_open(p + 8, b.size - 8, &o, NULL), BDX_EINVAL);
    }
    p[1] ^= 0x40;
    cr_assert_eq(open_rc(p, b.size), BDX_ECORRUPT, "magic");
    p[1] ^= 0x40;
    u = 2;
    memcpy(p + 8, &u, 4);
    cr_assert_eq(open_rc(p, b.size), BDX_EVERSION);
    u = 1;
    memcpy(p + 8, &u, 4);
    u = 4; /* one more string than there are offsets in range */
    memcpy(p + 12, &u, 4);
    cr_assert_eq(open_rc(p, b.size), BDX_ECORRUPT, "count 4");
    u = UINT32_MAX;
    memcpy(p + 12, &u, 4);
    cr_assert_eq(open_rc(p, b.size), BDX_ECORRUPT, "count max");
    u = 3;
    memcpy(p + 12, &u, 4);
    put64(p + 16, 33);
    cr_assert_eq(open_rc(p, b.size), BDX_ECORRUPT, "bytes beyond the image");
    put64(p + 16, UINT64_MAX);
    cr_assert_eq(open_rc(p, b.size), BDX_ECORRUPT, "bytes huge");
    put64(p + 16, 7);
    cr_assert_eq(open_rc(p, b.size), BDX_ECORRUPT, "offsets[count] != bytes");
    put64(p + 16, 6);
    cr_assert_eq(open_rc(p, b.size), 0);
    put64(p + 32, 1);
    cr_assert_eq(open_rc(p, b.size), BDX_ECORRUPT, "offsets[0] != 0");
    put64(p + 32, 0);
    put64(p + 40, 0);
    cr_assert_eq(open_rc(p, b.size), BDX_ECORRUPT, "an empty range (no NUL)");
    put64(p + 40, 6);
    cr_assert_eq(open_rc(p, b.size), BDX_ECORRUPT, "offsets decrease");
    put64(p + 40, UINT64_MAX);
    cr_assert_eq(open_rc(p, b.size), BDX_ECORRUPT, "offset far out of range");
    put64(p + 40, 2);
    cr_assert_eq(open_rc(p, b.size), 0);
    blob[1] = 'x';
    cr_assert_eq(open_rc(p, b.size), BDX_ECORRUPT, "missing NUL");
    blob[1] = '\0';
    blob[2] = '\0';
    cr_assert_eq(open_rc(p, b.size), BDX_ECORRUPT, "NUL inside a string");
    memcpy(blob, "b\0b\0\0\0", 6);
    put64(p + 48, 4); /* strings "b", "b", "" */
    cr_assert_eq(open_rc(p, b.size), BDX_ECORRUPT, "repeated string");
    memcpy(blob, "a\0bb\0\0", 6);
    put64(p + 48, 5);
    cr_assert_eq(open_rc(p, b.size), 0);
    /* Random damage anywhere: an error or a usable dictionary, never a crash. */
    for (int i = 0; i < 3000; i++) {
        unsigned char save[96];
        memcpy(save, p, b.size);
        for (int k = 0; k < 3; k++)
            p[rnd() % b.size] ^= (unsigned char)(1u << (rnd() % 8));
        (void)open_rc(p, b.size);
        memcpy(p, save, b.size);
    }
    image_buf_free(&b);
}

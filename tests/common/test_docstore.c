/* Tests common/docstore.c: the blob codec (Put encode, Merge/Set merge with Null removal,
 * decode of chosen fields) against a model of per-document field values, image round trips,
 * input errors and malformed blobs. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "common/docstore.h"

static uint64_t seed, rng;

static void seed_init(void)
{
    const char *s = getenv("BITDEX_TEST_SEED");
    seed = s != NULL ? strtoull(s, NULL, 0) : (uint64_t)time(NULL) ^ ((uint64_t)getpid() << 20);
    rng = seed;
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

enum {
    NF = 12,
    NDOCS = 300
};

static schema_t *make_schema(void)
{
    schema_t *s;
    char name[16];

    cr_assert_eq(schema_new("docs", &s), 0);
    cr_assert_eq(schema_add_filter(s, "tag", SCHEMA_INT, true, false), 0);
    for (int i = 0; i < NF; i++) {
        snprintf(name, sizeof(name), "f%d", i);
        cr_assert_eq(schema_add_stored(s, name, (schema_field_type_t)(i % 3)), 0);
    }
    cr_assert_eq(schema_validate(s, NULL), 0);
    return s;
}

/* Model: per document and field, present + value. */
typedef struct mval {
    int present;
    int64_t i; /* INT, BOOL */
    char str[40];
} mval_t;

static mval_t model[NDOCS][NF];

/* A StoredFieldValue message on the stack (strings point into `storage`). */
typedef struct sfv {
    Bitdex__V1__StoredFieldValue f;
    Bitdex__V1__StoredValue v;
    char name[16];
    char str[40];
} sfv_t;

static void random_sfv(const schema_t *s, sfv_t *m, size_t field, int null_pct)
{
    bitdex__v1__stored_field_value__init(&m->f);
    bitdex__v1__stored_value__init(&m->v);
    snprintf(m->name, sizeof(m->name), "%s", s->stored_fields[field].name);
    m->f.field = m->name;
    m->f.value = &m->v;
    if ((int)(rnd() % 100) < null_pct) {
        static Bitdex__V1__Null null = BITDEX__V1__NULL__INIT;
        m->v.kind_case = BITDEX__V1__STORED_VALUE__KIND_NULL_VALUE;
        m->v.null_value = &null;
        return;
    }
    switch (s->stored_fields[field].type) {
    case SCHEMA_INT:
        m->v.kind_case = BITDEX__V1__STORED_VALUE__KIND_INT_VALUE;
        m->v.int_value = rnd() % 3 == 0   ? (int64_t)rnd()
                         : rnd() % 2 == 0 ? (rnd() % 2 ? INT64_MIN : INT64_MAX)
                                          : (int64_t)(rnd() % 200) - 100;
        break;
    case SCHEMA_BOOL:
        m->v.kind_case = BITDEX__V1__STORED_VALUE__KIND_BOOL_VALUE;
        m->v.bool_value = rnd() % 2;
        break;
    default: {
        size_t len = rnd() % 4 == 0 ? 0 : rnd() % (sizeof(m->str) - 1);
        for (size_t k = 0; k < len; k++)
            m->str[k] = (char)('a' + rnd() % 26);
        m->str[len] = '\0';
        m->v.kind_case = BITDEX__V1__STORED_VALUE__KIND_STRING_VALUE;
        m->v.string_value = m->str;
    }
    }
}

static void model_apply(mval_t *doc, const schema_t *s, const sfv_t *m, size_t field)
{
    mval_t *v = &doc[field];

    if (m->v.kind_case == BITDEX__V1__STORED_VALUE__KIND_NULL_VALUE) {
        v->present = 0;
        return;
    }
    v->present = 1;
    if (s->stored_fields[field].type == SCHEMA_INT)
        v->i = m->v.int_value;
    else if (s->stored_fields[field].type == SCHEMA_BOOL)
        v->i = m->v.bool_value;
    else
        snprintf(v->str, sizeof(v->str), "%s", m->str);
}

/* Checks a decoded list for fields `want[0..n)` against the model document. */
static void check_decoded(const schema_t *s, const mval_t *doc, const size_t *want, size_t n,
                          Bitdex__V1__StoredFieldValue **got, size_t ngot)
{
    size_t j = 0;

    for (size_t i = 0; i < n; i++) {
        size_t f = want[i];
        const Bitdex__V1__StoredValue *v;
        if (!doc[f].present)
            continue;
        cr_assert_lt(j, ngot, "field %zu missing " SEEDFMT, f, SEEDARG);
        cr_assert_str_eq(got[j]->field, s->stored_fields[f].name, SEEDFMT, SEEDARG);
        v = got[j]->value;
        switch (s->stored_fields[f].type) {
        case SCHEMA_INT:
            cr_assert_eq(v->kind_case, BITDEX__V1__STORED_VALUE__KIND_INT_VALUE);
            cr_assert_eq(v->int_value, doc[f].i, SEEDFMT, SEEDARG);
            break;
        case SCHEMA_BOOL:
            cr_assert_eq(v->kind_case, BITDEX__V1__STORED_VALUE__KIND_BOOL_VALUE);
            cr_assert_eq(v->bool_value, doc[f].i, SEEDFMT, SEEDARG);
            break;
        default:
            cr_assert_eq(v->kind_case, BITDEX__V1__STORED_VALUE__KIND_STRING_VALUE);
            cr_assert_str_eq(v->string_value, doc[f].str, SEEDFMT, SEEDARG);
        }
        j++;
    }
    cr_assert_eq(j, ngot, "extra decoded fields " SEEDFMT, SEEDARG);
}

static void check_doc(const docstore_t *ds, const schema_t *s, uint32_t d)
{
    size_t len, n, want[NF + 3], nwant;
    const uint8_t *blob = docstore_get(ds, d, &len);
    Bitdex__V1__StoredFieldValue **got;
    int any = 0;

    for (int f = 0; f < NF; f++)
        any |= model[d][f].present;
    cr_assert_eq(len > 0, any, "doc %u: blob presence " SEEDFMT, d, SEEDARG);
    cr_assert_eq(docstore_check(s, blob, len, NULL), 0);
    /* every field, schema order */
    for (size_t f = 0; f < NF; f++)
        want[f] = f;
    cr_assert_eq(docstore_decode(s, blob, len, NULL, 0, &got, &n, NULL), 0);
    check_decoded(s, model[d], want, NF, got, n);
    docstore_fields_free(got, n);
    /* a random selection in random order (repeats allowed) */
    nwant = rnd() % (NF + 3);
    for (size_t i = 0; i < nwant; i++)
        want[i] = rnd() % NF;
    cr_assert_eq(docstore_decode(s, blob, len, want, nwant, &got, &n, NULL), 0);
    check_decoded(s, model[d], want, nwant, got, n);
    docstore_fields_free(got, n);
}

/* A random Put (old ignored, Null = left out), Merge (several fields) or Set (one field). */
static void random_write(docstore_t *ds, const schema_t *s, docstore_buf_t *buf)
{
    uint32_t d = (uint32_t)(rnd() % NDOCS);
    int kind = (int)(rnd() % 3);
    sfv_t m[NF];
    Bitdex__V1__StoredFieldValue *list[NF];
    size_t n = 0, len;
    const uint8_t *old = docstore_get(ds, d, &len);
    bdx_error_t err = {0};
    size_t perm[NF];

    for (size_t f = 0; f < NF; f++)
        perm[f] = f;
    for (size_t f = NF - 1; f > 0; f--) { /* listed in random order */
        size_t k = rnd() % (f + 1), t = perm[f];
        perm[f] = perm[k];
        perm[k] = t;
    }
    if (kind == 0) { /* Put */
        memset(model[d], 0, sizeof(model[d]));
        old = NULL;
        len = 0;
    }
    for (size_t k = 0; k < NF && (kind != 2 || n < 1); k++) {
        size_t f = perm[k];
        if (kind != 2 && rnd() % 2)
            continue;
        random_sfv(s, &m[n], f, kind == 0 ? 10 : 30);
        model_apply(model[d], s, &m[n], f);
        list[n] = &m[n].f;
        n++;
    }
    cr_assert_eq(docstore_merge(s, old, len, list, n, buf, &err), 0, "%s", err.msg);
    cr_assert_eq(docstore_put(ds, d, buf->data, buf->len), 0);
}

Test(docstore, codec_vs_model_and_image)
{
    schema_t *s = make_schema();
    docstore_t *ds, *back;
    docstore_buf_t buf = {0};
    slotstore_t *ss;
    uint8_t *img;
    size_t size;
    bdx_error_t err = {0};

    seed_init();
    memset(model, 0, sizeof(model));
    cr_assert_eq(docstore_new(&ds), 0);
    for (int round = 0; round < 10; round++) {
        for (int op = 0; op < 600; op++)
            random_write(ds, s, &buf);
        for (uint32_t d = 0; d < NDOCS; d++)
            check_doc(ds, s, d);
    }
    {
        uint32_t with = 0;
        for (int d = 0; d < NDOCS; d++) {
            int any = 0;
            for (int f = 0; f < NF; f++)
                any |= model[d][f].present;
            with += (uint32_t)any;
        }
        cr_assert_eq(docstore_count(ds), with);
    }
    cr_assert_eq(docstore_compact(ds), 0);
    cr_assert_gt(docstore_memory(ds), 0);
    /* image round trip, then further writes over the image */
    size = slotstore_image_size(docstore_slots(ds));
    img = aligned_alloc(SLOTSTORE_IMAGE_ALIGN, size);
    slotstore_image_write(docstore_slots(ds), img);
    docstore_free(ds);
    cr_assert_eq(slotstore_image_open(img, size, &ss, &err), 0, "%s", err.msg);
    cr_assert_eq(docstore_from_slots(ss, &back), 0);
    for (uint32_t d = 0; d < NDOCS; d++)
        check_doc(back, s, d);
    for (int op = 0; op < 2000; op++)
        random_write(back, s, &buf);
    for (uint32_t d = 0; d < NDOCS; d++)
        check_doc(back, s, d);
    docstore_remove(back, 0);
    memset(model[0], 0, sizeof(model[0]));
    check_doc(back, s, 0);
    docstore_free(back);
    docstore_free(NULL);
    free(img);
    docstore_buf_free(&buf);
    schema_free(s);
}

/* The encoding is compact: "next field, small value" costs 2 bytes; a bool 1. */
Test(docstore, compact_encoding)
{
    schema_t *s = make_schema();
    docstore_buf_t buf = {0};
    sfv_t m[3];
    Bitdex__V1__StoredFieldValue *list[3] = {&m[0].f, &m[1].f, &m[2].f};

    seed_init();
    random_sfv(s, &m[0], 0, 0); /* f0 INT */
    m[0].v.int_value = 5;
    random_sfv(s, &m[1], 1, 0); /* f1 BOOL */
    random_sfv(s, &m[2], 2, 0); /* f2 STRING */
    m[2].v.string_value = "abc";
    cr_assert_eq(docstore_merge(s, NULL, 0, list, 3, &buf, NULL), 0);
    m[1].v.bool_value = 1;
    cr_assert_eq(docstore_merge(s, NULL, 0, list, 3, &buf, NULL), 0);
    cr_assert_eq(buf.len, 2 + 1 + 5);
    /* the example of docs/format/docstore.md */
    cr_assert_eq(memcmp(buf.data,
                        "\x00\x0a\x02\x03\x03"
                        "abc",
                        8),
                 0);
    cr_assert_eq(docstore_merge(s, NULL, 0, list + 2, 1, &buf, NULL), 0);
    cr_assert_eq(buf.len, 5);
    cr_assert_eq(memcmp(buf.data,
                        "\x13\x03"
                        "abc",
                        5),
                 0);
    docstore_buf_free(&buf);
    schema_free(s);
}

Test(docstore, input_errors)
{
    schema_t *s = make_schema();
    docstore_buf_t buf = {0};
    sfv_t m[2];
    Bitdex__V1__StoredFieldValue *list[2] = {&m[0].f, &m[1].f};
    bdx_error_t err = {0};
    Bitdex__V1__StoredFieldValue **got;
    size_t n, bad = NF;

    seed_init();
    random_sfv(s, &m[0], 0, 0);
    random_sfv(s, &m[1], 0, 0);
    cr_assert_eq(docstore_merge(s, NULL, 0, list, 2, &buf, &err), BDX_EINVAL);
    cr_assert_str_eq(err.msg, "stored field \"f0\": listed twice");
    cr_assert_eq(buf.len, 0);
    m[1].f.field = "tag";
    cr_assert_eq(docstore_merge(s, NULL, 0, list, 2, &buf, &err), BDX_EINVAL);
    cr_assert_str_eq(err.msg, "stored field \"tag\": unknown");
    random_sfv(s, &m[1], 1, 0);
    m[1].v.kind_case = BITDEX__V1__STORED_VALUE__KIND_INT_VALUE;
    cr_assert_eq(docstore_merge(s, NULL, 0, list, 2, &buf, &err), BDX_EINVAL);
    cr_assert_str_eq(err.msg, "stored field \"f1\": want bool, got int");
    m[1].f.value = NULL;
    cr_assert_eq(docstore_merge(s, NULL, 0, list, 2, &buf, &err), BDX_EINVAL);
    cr_assert_str_eq(err.msg, "stored field \"f1\": no value");
    cr_assert_eq(docstore_decode(s, (const uint8_t *)"\0\0", 2, &bad, 1, &got, &n, &err),
                 BDX_EINVAL);
    /* no stored field at all: an empty blob, nothing decoded */
    cr_assert_eq(docstore_merge(s, NULL, 0, NULL, 0, &buf, NULL), 0);
    cr_assert_eq(buf.len, 0);
    cr_assert_eq(docstore_decode(s, NULL, 0, NULL, 0, &got, &n, NULL), 0);
    cr_assert_eq(n, 0);
    cr_assert_null(got);
    docstore_buf_free(&buf);
    schema_free(s);
}

/* Malformed blobs (only from a damaged image) are BDX_ECORRUPT for check, decode and merge;
 * random bytes never read out of bounds (ASan run), and check agrees with decode. */
Test(docstore, malformed_blobs)
{
    schema_t *s = make_schema();
    docstore_buf_t buf = {0};
    Bitdex__V1__StoredFieldValue **got;
    size_t n;
    static const uint8_t beyond[] = {(NF << 3) | 0, 0x02};         /* field NF */
    static const uint8_t bad_tag[] = {(0 << 3) | 3, 0x00};         /* f0 is INT, tag STRING */
    static const uint8_t cut_string[] = {(2 << 3) | 3, 0x05, 'a'}; /* f2: 5 bytes, 1 there */
    static const uint8_t cut_int[] = {0x00, 0x80};
    static const uint8_t reserved_tag[] = {(0 << 3) | 5};
    const uint8_t *cases[] = {beyond, bad_tag, cut_string, cut_int, reserved_tag};
    size_t lens[] = {sizeof(beyond), sizeof(bad_tag), sizeof(cut_string), sizeof(cut_int),
                     sizeof(reserved_tag)};

    seed_init();
    for (size_t c = 0; c < sizeof(cases) / sizeof(cases[0]); c++) {
        cr_assert_eq(docstore_check(s, cases[c], lens[c], NULL), BDX_ECORRUPT, "case %zu", c);
        cr_assert_eq(docstore_decode(s, cases[c], lens[c], NULL, 0, &got, &n, NULL), BDX_ECORRUPT,
                     "case %zu", c);
        cr_assert_eq(docstore_merge(s, cases[c], lens[c], NULL, 0, &buf, NULL), BDX_ECORRUPT,
                     "case %zu", c);
    }
    for (int k = 0; k < 20000; k++) {
        uint8_t b[16];
        size_t len = 1 + rnd() % sizeof(b);
        int rc;
        for (size_t i = 0; i < len; i++)
            b[i] = (uint8_t)(rnd() % 4 ? rnd() % 0x60 : rnd());
        rc = docstore_check(s, b, len, NULL);
        cr_assert(rc == 0 || rc == BDX_ECORRUPT);
        cr_assert_eq(docstore_decode(s, b, len, NULL, 0, &got, &n, NULL), rc, SEEDFMT, SEEDARG);
        if (rc == 0) {
            docstore_fields_free(got, n);
            /* a valid blob re-encodes (merge with nothing) to a valid blob, no longer (heads
             * are rewritten canonically) */
            cr_assert_eq(docstore_merge(s, b, len, NULL, 0, &buf, NULL), 0);
            cr_assert_leq(buf.len, len, SEEDFMT, SEEDARG);
            cr_assert_eq(docstore_check(s, buf.data, buf.len, NULL), 0, SEEDFMT, SEEDARG);
        }
    }
    docstore_buf_free(&buf);
    schema_free(s);
}

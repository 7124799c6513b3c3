/*
 * test_generation: generation files (common/generation*.c).
 *
 * Random indexes (random schemas: string/int/bool filters, multi-valued, nullable, sort fields
 * of 1..64 bits and a computed one; extreme values; documents deleted and rewritten; some
 * permutations rebuilt) are written as a base, opened with verification and loaded; the loaded
 * index must equal the source in every accessor and answer random queries identically. Then
 * the same random writes go to the source and to the loaded index, which writes a delta; the
 * delta generation must load to the source's state; a second (cumulative) delta likewise, also
 * after the first generation's directory is deleted. The source index is the reference: it is
 * plain in-memory state that test_index and test_oracle check against brute-force models.
 * Corruption (a flipped byte anywhere in any file, truncation, a newer version) must be
 * refused; pins must stop removal.
 *
 *   BITDEX_TEST_SEED=<n>     reproduce a run (the seed is printed)
 *   BITDEX_GEN_BENCH_DOCS=<n> documents of the timing test (default 200000)
 *   TMPDIR=<dir>             where the generations are written (default /tmp)
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <xxhash.h>

#include "common/generation.h"
#include "common/index_internal.h"
#include "common/search.h"

/* ---- random ---- */

typedef struct rng {
    uint64_t s;
} rng_t;

static uint64_t rnd(rng_t *r)
{
    uint64_t z = (r->s += UINT64_C(0x9e3779b97f4a7c15));
    z = (z ^ (z >> 30)) * UINT64_C(0xbf58476d1ce4e5b9);
    z = (z ^ (z >> 27)) * UINT64_C(0x94d049bb133111eb);
    return z ^ (z >> 31);
}

static uint64_t below(rng_t *r, uint64_t n)
{
    return n ? rnd(r) % n : 0;
}

static bool chance(rng_t *r, double p)
{
    return (double)(rnd(r) >> 11) / 9007199254740992.0 < p;
}

static uint64_t test_seed(void)
{
    const char *e = getenv("BITDEX_TEST_SEED");
    uint64_t s = e ? strtoull(e, NULL, 0) : (uint64_t)time(NULL) ^ ((uint64_t)getpid() << 20);
    fprintf(stderr, "test_generation: BITDEX_TEST_SEED=%" PRIu64 "\n", s);
    return s;
}

static const int64_t INTS[] = {-3, -1, 0, 1, 2, 7, 1000000, INT64_MIN, INT64_MAX};
#define NINTS (sizeof(INTS) / sizeof(INTS[0]))
static const unsigned BITS[] = {1, 3, 8, 16, 32, 64};

/* ---- random schemas and documents ---- */

static schema_t *rand_schema(rng_t *r)
{
    schema_t *s;
    char name[16];
    int nf = 1 + (int)below(r, 6), ns = (int)below(r, 4);

    cr_assert_eq(schema_new("gen", &s), 0);
    for (int i = 0; i < nf; i++) {
        snprintf(name, sizeof(name), "f%d", i);
        cr_assert_eq(schema_add_filter(s, name,
                                       (schema_field_type_t)(i < 3 ? (uint64_t)i : below(r, 3)),
                                       chance(r, 0.4), chance(r, 0.5)),
                     0);
    }
    for (int i = 0; i < ns; i++) {
        snprintf(name, sizeof(name), "s%d", i);
        cr_assert_eq(schema_add_sort(s, name, BITS[below(r, 6)]), 0);
    }
    if (ns >= 2 && chance(r, 0.7))
        cr_assert_eq(schema_add_computed_sort(s, "c", 64,
                                              chance(r, 0.5) ? SCHEMA_COMPUTED_GREATEST
                                                             : SCHEMA_COMPUTED_LEAST,
                                              "s0", "s1"),
                     0);
    return s;
}

typedef struct docbuf {
    index_doc_filter_t f[8];
    index_doc_sort_t s[8];
    int64_t ints[8][4];
    char strs[8][4][16];
    const char *sp[8][4];
} docbuf_t;

static void rand_values(rng_t *r, const schema_t *s, size_t f, docbuf_t *b, index_values_t *v,
                        size_t n)
{
    const schema_filter_field_t *ff = &s->filter_fields[f];

    memset(v, 0, sizeof(*v));
    v->count = n;
    for (size_t i = 0; i < n; i++) {
        if (ff->type == SCHEMA_STRING) {
            /* mostly a few strings, sometimes a new one (dictionary growth in deltas) */
            snprintf(b->strs[f][i], 16, "v%u",
                     (unsigned)(chance(r, 0.9) ? below(r, 8) : below(r, 100000)));
            b->sp[f][i] = b->strs[f][i];
        } else {
            b->ints[f][i] = ff->type == SCHEMA_BOOL ? (int64_t)below(r, 2)
                            : chance(r, 0.7)        ? (int64_t)below(r, 20)
                                                    : INTS[below(r, NINTS)];
        }
    }
    if (ff->type == SCHEMA_STRING)
        v->strings = (const char *const *)b->sp[f];
    else
        v->ints = b->ints[f];
}

static uint64_t rand_sort_value(rng_t *r, unsigned bits)
{
    uint64_t max = bits >= 64 ? UINT64_MAX : (UINT64_C(1) << bits) - 1;
    switch (below(r, 5)) {
    case 0:
        return 0;
    case 1:
        return max;
    case 2:
        return below(r, 4) & max;
    default:
        return rnd(r) & max;
    }
}

static void rand_doc(rng_t *r, const schema_t *s, docbuf_t *b, index_doc_t *d)
{
    memset(b->f, 0, sizeof(b->f));
    memset(b->s, 0, sizeof(b->s));
    for (size_t f = 0; f < s->filter_count; f++) {
        const schema_filter_field_t *ff = &s->filter_fields[f];
        if (!chance(r, 0.8))
            continue;
        b->f[f].present = true;
        if (ff->nullable && chance(r, 0.15)) {
            b->f[f].null = true;
            continue;
        }
        rand_values(r, s, f, b, &b->f[f].values, ff->multi ? below(r, 5) : below(r, 2) ? 1 : 0);
    }
    for (size_t i = 0; i < s->sort_count; i++) {
        if (s->sort_fields[i].computed != SCHEMA_COMPUTED_NONE || !chance(r, 0.8))
            continue;
        b->s[i].present = true;
        b->s[i].value = rand_sort_value(r, s->sort_fields[i].bits);
    }
    d->filters = b->f;
    d->sorts = b->s;
}

/* One random write applied to every index in ixs (all must accept it alike). */
static void rand_write(rng_t *r, index_t **ixs, int n, uint32_t nslots)
{
    const schema_t *s = index_schema(ixs[0]);
    uint32_t slot = (uint32_t)below(r, nslots);
    docbuf_t b;
    index_doc_t d;
    index_values_t v;
    bdx_error_t err;
    unsigned op = (unsigned)below(r, 8);
    uint8_t blob[64];
    size_t blen = chance(r, 0.2) ? 0 : 1 + below(r, sizeof(blob));

    for (size_t i = 0; i < blen; i++)
        blob[i] = (uint8_t)rnd(r);
    size_t f = below(r, s->filter_count);
    int rc = 0;

    rand_doc(r, s, &b, &d);
    if (op == 4 && !s->filter_fields[f].multi)
        op = 0;
    if (op == 3 && (s->sort_count == 0 || s->sort_fields[0].computed != SCHEMA_COMPUTED_NONE))
        op = 1;
    if (op == 2)
        rand_values(r, s, f, &b, &v, s->filter_fields[f].multi ? below(r, 4) : below(r, 2));
    if (op == 4)
        rand_values(r, s, f, &b, &v, 1 + below(r, 2));
    uint64_t sv = s->sort_count ? rand_sort_value(r, s->sort_fields[0].bits) : 0;
    bool null = op == 2 && s->filter_fields[f].nullable && chance(r, 0.2);
    bool add = chance(r, 0.5);
    for (int i = 0; i < n; i++) {
        switch (op) {
        case 0:
            rc = index_put(ixs[i], slot, &d, &err);
            break;
        case 1:
            rc = index_merge(ixs[i], slot, &d, &err);
            break;
        case 2:
            rc = index_set_filter(ixs[i], slot, f, null, null ? NULL : &v, &err);
            break;
        case 3:
            rc = add ? index_set_sort(ixs[i], slot, 0, sv, &err)
                     : index_clear_sort(ixs[i], slot, 0, &err);
            break;
        case 4:
            rc = add ? index_add_values(ixs[i], slot, f, &v, &err)
                     : index_remove_values(ixs[i], slot, f, &v, &err);
            break;
        case 5:
            rc = index_set_stored(ixs[i], slot, blob, blen);
            break;
        default:
            rc = index_delete(ixs[i], slot);
            break;
        }
        cr_assert_eq(rc, 0, "write op %u slot %u: %s", op, slot, bdx_error_message(&err));
    }
}

/* ---- comparing two indexes ---- */

static void same_bitmap(const roaring_bitmap_t *a, const roaring_bitmap_t *b, const char *what,
                        size_t f, int64_t key)
{
    bool ea = a == NULL || roaring_bitmap_is_empty(a), eb = b == NULL || roaring_bitmap_is_empty(b);
    if (ea || eb) {
        cr_assert(ea && eb, "%s field %zu key %" PRId64 ": one empty, one not", what, f, key);
        return;
    }
    cr_assert(roaring_bitmap_equals(a, b), "%s field %zu key %" PRId64 ": bitmaps differ", what, f,
              key);
}

typedef struct keys {
    int64_t *k;
    size_t n, cap;
} keys_t;

static bool collect(int64_t key, const roaring_bitmap_t *bm, void *arg)
{
    keys_t *ks = arg;
    cr_assert(bm != NULL && !roaring_bitmap_is_empty(bm));
    if (ks->n == ks->cap) {
        ks->cap = ks->cap ? ks->cap * 2 : 64;
        ks->k = realloc(ks->k, ks->cap * sizeof(*ks->k));
    }
    ks->k[ks->n++] = key;
    return true;
}

static void same_index(const index_t *a, const index_t *b)
{
    const schema_t *s = index_schema(a);
    docvalues_rec_t ra, rb;

    cr_assert_eq(index_doc_count(a), index_doc_count(b));
    same_bitmap(index_alive(a), index_alive(b), "alive", 0, 0);
    for (size_t f = 0; f < s->filter_count; f++) {
        keys_t ka = {0}, kb = {0};
        index_filter_range(a, f, INT64_MIN, INT64_MAX, collect, &ka);
        index_filter_range(b, f, INT64_MIN, INT64_MAX, collect, &kb);
        cr_assert_eq(ka.n, kb.n, "field %zu: %zu values vs %zu", f, ka.n, kb.n);
        cr_assert_eq(index_filter_value_count(a, f), index_filter_value_count(b, f));
        for (size_t i = 0; i < ka.n; i++) {
            cr_assert_eq(ka.k[i], kb.k[i]);
            same_bitmap(index_filter_value(a, f, ka.k[i]), index_filter_value(b, f, ka.k[i]),
                        "value", f, ka.k[i]);
        }
        free(ka.k);
        free(kb.k);
        same_bitmap(index_filter_null(a, f), index_filter_null(b, f), "null", f, 0);
        cr_assert_eq(index_filter_null(a, f) == NULL, index_filter_null(b, f) == NULL);
        same_bitmap(index_filter_exists(a, f), index_filter_exists(b, f), "exists", f, 0);
        if (index_dict(a, f) != NULL) {
            const dictionary_t *da = index_dict(a, f), *db = index_dict(b, f);
            cr_assert_eq(dictionary_count(da), dictionary_count(db), "field %zu dictionary", f);
            for (int64_t k = 0; k < dictionary_count(da); k++)
                cr_assert_str_eq(dictionary_string(da, k), dictionary_string(db, k));
        }
    }
    for (size_t i = 0; i < s->sort_count; i++) {
        const bsi_t *ba = index_sort_bsi(a, i), *bb = index_sort_bsi(b, i);
        const column_t *ca = index_sort_column(a, i), *cb = index_sort_column(b, i);
        const permutation_t *pa = index_sort_perm(a, i), *pb = index_sort_perm(b, i);
        cr_assert_eq(bsi_bits(ba), bsi_bits(bb));
        same_bitmap(bsi_exists(ba), bsi_exists(bb), "bsi exists", i, 0);
        for (unsigned bit = 0; bit < bsi_bits(ba); bit++)
            same_bitmap(bsi_slice(ba, bit), bsi_slice(bb, bit), "bsi slice", i, bit);
        cr_assert_eq(column_length(ca), column_length(cb), "sort %zu column length", i);
        for (uint64_t slot = 0; slot < column_length(ca); slot++)
            cr_assert_eq(column_get(ca, (uint32_t)slot), column_get(cb, (uint32_t)slot),
                         "sort %zu slot %" PRIu64, i, slot);
        cr_assert_eq(permutation_count(pa), permutation_count(pb), "sort %zu perm", i);
        for (uint32_t p = 0; p < permutation_count(pa); p++) {
            cr_assert_eq(permutation_slot(pa, p), permutation_slot(pb, p));
            cr_assert_eq(permutation_value(pa, p), permutation_value(pb, p));
        }
        same_bitmap(index_sort_dirty(a, i), index_sort_dirty(b, i), "dirty", i, 0);
    }
    /* docvalues records of every slot ever used */
    cr_assert_eq(docvalues_rec_init(&ra, s->filter_count), 0);
    cr_assert_eq(docvalues_rec_init(&rb, s->filter_count), 0);
    int64_t max = index_max_slot(a) + 64;
    for (int64_t slot = 0; slot <= max; slot++) {
        cr_assert_eq(docvalues_load(a->dv, (uint32_t)slot, &ra), 0);
        cr_assert_eq(docvalues_load(b->dv, (uint32_t)slot, &rb), 0);
        for (size_t f = 0; f < s->filter_count; f++) {
            size_t na, nb;
            const int64_t *ka = docvalues_rec_keys(&ra, f, &na),
                          *kb = docvalues_rec_keys(&rb, f, &nb);
            cr_assert_eq(ra.fields[f].kind, rb.fields[f].kind, "slot %" PRId64 " field %zu", slot,
                         f);
            cr_assert_eq(na, nb);
            for (size_t k = 0; k < na; k++)
                cr_assert_eq(ka[k], kb[k]);
        }
    }
    docvalues_rec_free(&ra);
    docvalues_rec_free(&rb);
    /* stored blobs */
    for (int64_t slot = 0; slot <= max; slot++) {
        size_t la, lb;
        const uint8_t *sa = index_stored(a, (uint32_t)slot, &la),
                      *sb = index_stored(b, (uint32_t)slot, &lb);
        cr_assert_eq(la, lb, "slot %" PRId64 " stored length", slot);
        cr_assert(la == 0 || memcmp(sa, sb, la) == 0, "slot %" PRId64 " stored blob", slot);
    }
}

/* Random queries: identical pages, totals and counts on both. */
static void same_queries(rng_t *r, const index_t *a, const index_t *b, int n)
{
    const schema_t *s = index_schema(a);

    for (int q_i = 0; q_i < n; q_i++) {
        query_t *q = query_new(NULL);
        query_node_t *leaf[3];
        int nl = 1 + (int)below(r, 3);
        for (int i = 0; i < nl; i++) {
            size_t f = below(r, s->filter_count);
            const schema_filter_field_t *ff = &s->filter_fields[f];
            if (s->sort_count > 0 && chance(r, 0.3)) {
                size_t sf = below(r, s->sort_count);
                leaf[i] = query_cmp(
                    chance(r, 0.5) ? QUERY_GTE : QUERY_LT, s->sort_fields[sf].name,
                    query_int((int64_t)(rand_sort_value(r, s->sort_fields[sf].bits) >> 1)));
            } else if (ff->nullable && chance(r, 0.2)) {
                leaf[i] = query_null(QUERY_IS_NULL, ff->name);
            } else if (ff->type == SCHEMA_STRING) {
                char v[8];
                snprintf(v, sizeof(v), "v%u", (unsigned)below(r, 8));
                leaf[i] = query_eq(ff->name, query_str(v));
            } else if (ff->type == SCHEMA_BOOL) {
                leaf[i] = query_eq(ff->name, query_bool(below(r, 2)));
            } else {
                leaf[i] = query_eq(ff->name, query_int((int64_t)below(r, 20)));
            }
            if (chance(r, 0.2))
                leaf[i] = query_not(leaf[i]);
        }
        query_set_filter(q, nl == 1   ? leaf[0]
                            : nl == 2 ? (chance(r, 0.5) ? query_and(2, leaf[0], leaf[1])
                                                        : query_or(2, leaf[0], leaf[1]))
                                      : query_and(2, leaf[0], query_or(2, leaf[1], leaf[2])));
        if (s->sort_count > 0 && chance(r, 0.7))
            cr_assert_eq(
                query_set_sort(q, s->sort_fields[below(r, s->sort_count)].name, chance(r, 0.5)), 0);
        q->limit = 1 + (int64_t)below(r, 100);
        q->flags = QUERY_WANT_TOTAL;
        search_result_t *ra = NULL, *rb = NULL;
        bdx_error_t err;
        uint64_t ca, cb;
        cr_assert_eq(search_run(a, q, NULL, &ra, &err), 0, "%s", bdx_error_message(&err));
        cr_assert_eq(search_run(b, q, NULL, &rb, &err), 0, "%s", bdx_error_message(&err));
        cr_assert_eq(ra->count, rb->count);
        cr_assert_eq(ra->total, rb->total);
        for (size_t i = 0; i < ra->count; i++) {
            cr_assert_eq(ra->slots[i], rb->slots[i], "query %d row %zu", q_i, i);
            cr_assert_eq(ra->values[i], rb->values[i]);
        }
        cr_assert_eq(search_count(a, q, NULL, &ca, &err), 0);
        cr_assert_eq(search_count(b, q, NULL, &cb, &err), 0);
        cr_assert_eq(ca, cb);
        search_result_free(ra);
        search_result_free(rb);
        query_free(q);
    }
}

/* ---- helpers ---- */

static char *make_dir(void)
{
    const char *t = getenv("TMPDIR");
    char *d = malloc(512);
    snprintf(d, 512, "%s/test_generation.XXXXXX", t != NULL && *t ? t : "/tmp");
    cr_assert(mkdtemp(d) != NULL);
    return d;
}

static void rm_rf(const char *dir)
{
    char cmd[512];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
    cr_assert_eq(system(cmd), 0);
}

static void gen_path(char *buf, size_t n, const char *dir, uint64_t g, const char *file)
{
    if (file != NULL)
        snprintf(buf, n, "%s/gen-%" PRIu64 "/%s", dir, g, file);
    else
        snprintf(buf, n, "%s/gen-%" PRIu64, dir, g);
}

static generation_t *open_gen(const char *dir, uint64_t g, unsigned flags)
{
    char path[512];
    generation_t *gen;
    bdx_error_t err;

    gen_path(path, sizeof(path), dir, g, NULL);
    int rc = generation_open(path, flags, &gen, &err);
    cr_assert_eq(rc, 0, "open %s: %s", path, bdx_error_message(&err));
    return gen;
}

static index_t *build(rng_t *r, const schema_t *s, uint32_t nslots)
{
    index_t *ix;
    bdx_error_t err;
    docbuf_t b;
    index_doc_t d;
    uint32_t slot = 0;

    cr_assert_eq(index_new(s, &ix, &err), 0);
    /* a bulk-loaded prefix, then random writes */
    for (uint32_t i = 0; i < nslots / 2; i++, slot += 1 + (uint32_t)below(r, 2)) {
        rand_doc(r, s, &b, &d);
        cr_assert_eq(index_bulk_put(ix, slot, &d, &err), 0, "%s", bdx_error_message(&err));
    }
    cr_assert_eq(index_bulk_flush(ix), 0);
    if (chance(r, 0.7))
        cr_assert_eq(index_rebuild_perms(ix), 0);
    for (uint32_t i = 0; i < nslots; i++)
        rand_write(r, &ix, 1, nslots + 16);
    if (chance(r, 0.5))
        cr_assert_eq(index_optimize(ix), 0);
    if (chance(r, 0.3))
        cr_assert_eq(index_freeze(ix), 0);
    return ix;
}

/* ---- tests ---- */

Test(generation, base_and_deltas_roundtrip)
{
    uint64_t seed = test_seed();
    rng_t r = {seed};

    for (int round = 0; round < 12; round++) {
        char *dir = make_dir();
        schema_t *s = rand_schema(&r);
        uint32_t nslots = 10 + (uint32_t)below(&r, round < 8 ? 600 : 6000);
        index_t *src = build(&r, s, nslots), *l1, *l2, *l3;
        generation_t *g1, *g2, *g3;
        generation_write_stats_t st;
        bdx_error_t err;
        int rc;

        /* base */
        rc = generation_write(src, 1, 100, NULL, dir, &st, &err);
        cr_assert_eq(rc, 0, "seed %" PRIu64 " round %d: %s", seed, round, bdx_error_message(&err));
        cr_assert(!st.delta && st.files == 2 && st.bytes > 0);
        g1 = open_gen(dir, 1, GENERATION_VERIFY | GENERATION_PIN);
        cr_assert_eq(generation_number(g1), 1);
        cr_assert_eq(generation_lsn(g1), 100);
        cr_assert(!generation_is_delta(g1));
        cr_assert_eq(generation_doc_count(g1), index_doc_count(src));
        cr_assert_eq(generation_check_schema(g1, s, &err), 0);
        cr_assert_eq(generation_load(g1, &l1, &err), 0, "%s", bdx_error_message(&err));
        same_index(src, l1);
        same_queries(&r, src, l1, 30);
        cr_assert(roaring_bitmap_is_empty(index_touched(l1)));

        /* delta 1: the same writes on the source and the loaded index */
        index_t *both[2] = {src, l1};
        uint32_t nw = 1 + (uint32_t)below(&r, nslots / 4 + 2);
        for (uint32_t i = 0; i < nw; i++)
            rand_write(&r, both, 2, nslots + 32);
        if (chance(&r, 0.3)) {
            cr_assert_eq(index_rebuild_perms(src), 0);
            cr_assert_eq(index_rebuild_perms(l1), 0);
        }
        same_index(src, l1);
        rc = generation_write(l1, 2, 200, g1, dir, &st, &err);
        cr_assert_eq(rc, 0, "%s", bdx_error_message(&err));
        cr_assert(st.delta);
        g2 = open_gen(dir, 2, GENERATION_VERIFY);
        cr_assert(generation_is_delta(g2));
        /* what bitdex-inspect lists */
        cr_assert_eq(generation_file_count(g2), 2);
        uint64_t mapped = 0;
        for (unsigned fi = 0; fi < 2; fi++) {
            generation_file_info_t info;
            generation_file(g2, fi, &info);
            cr_assert_str_eq(info.name, fi == 0 ? "base" : "delta");
            mapped += info.size;
            cr_assert(info.sections >= 4);
            for (unsigned j = 0; j < info.sections; j++) {
                generation_section_info_t sec;
                generation_section(g2, fi, j, &sec);
                cr_assert(sec.offset % 32 == 0 && sec.offset + sec.length <= info.size);
                cr_assert_str_neq(sec.type, "unknown");
            }
        }
        cr_assert_eq(mapped, generation_mapped_bytes(g2));
        cr_assert_eq(generation_base_number(g2), 1);
        cr_assert_eq(generation_load(g2, &l2, &err), 0, "%s", bdx_error_message(&err));
        same_index(src, l2);
        same_queries(&r, src, l2, 30);
        cr_assert(roaring_bitmap_equals(index_touched(l1), index_touched(l2)));

        /* delta 2 (cumulative against gen 1's base), written from the gen-2 load */
        index_t *both2[2] = {src, l2};
        nw = 1 + (uint32_t)below(&r, nslots / 4 + 2);
        for (uint32_t i = 0; i < nw; i++)
            rand_write(&r, both2, 2, nslots + 64);
        rc = generation_write(l2, 3, 300, g2, dir, &st, &err);
        cr_assert_eq(rc, 0, "%s", bdx_error_message(&err));
        /* the base's generations may go: gen 3 links the base file */
        index_free(l1);
        generation_close(g1);
        index_free(l2);
        generation_close(g2);
        cr_assert_eq(generation_remove(dir, 1, &err), 0, "%s", bdx_error_message(&err));
        cr_assert_eq(generation_remove(dir, 2, &err), 0, "%s", bdx_error_message(&err));
        g3 = open_gen(dir, 3, GENERATION_VERIFY);
        cr_assert_eq(generation_base_number(g3), 1);
        cr_assert_eq(generation_load(g3, &l3, &err), 0, "%s", bdx_error_message(&err));
        same_index(src, l3);
        same_queries(&r, src, l3, 30);

        /* a delta against a generation the index was not loaded from is refused */
        rc = generation_write(src, 4, 400, g3, dir, &st, &err);
        cr_assert_eq(rc, BDX_EINVAL);

        index_free(l3);
        generation_close(g3);
        index_free(src);
        schema_free(s);
        rm_rf(dir);
        free(dir);
    }
}

/* ---- loads of one generation on two threads (a reader's replica pair) ---- */

typedef struct load_arg {
    const generation_t *g;
    index_t *ix;
    int rc;
} load_arg_t;

static void *load_thread(void *arg)
{
    load_arg_t *a = arg;
    bdx_error_t err;

    a->rc = generation_load(a->g, &a->ix, &err);
    return NULL;
}

Test(generation, parallel_loads_equal_sequential_and_write_independently)
{
    uint64_t seed = test_seed();
    rng_t r = {seed};

    for (int round = 0; round < 6; round++) {
        char *dir = make_dir();
        schema_t *s = rand_schema(&r);
        uint32_t nslots = 50 + (uint32_t)below(&r, 3000);
        index_t *src = build(&r, s, nslots), *l1, *seq;
        generation_t *g1;
        generation_write_stats_t st;
        bdx_error_t err;

        cr_assert_eq(generation_write(src, 1, 100, NULL, dir, &st, &err), 0, "%s",
                     bdx_error_message(&err));
        g1 = open_gen(dir, 1, GENERATION_VERIFY);
        cr_assert_eq(generation_load(g1, &l1, &err), 0, "%s", bdx_error_message(&err));
        index_t *both[2] = {src, l1};
        for (uint32_t i = 0; i < nslots / 20 + 1; i++)
            rand_write(&r, both, 2, nslots + 32);
        cr_assert_eq(generation_write(l1, 2, 200, g1, dir, &st, &err), 0, "%s",
                     bdx_error_message(&err));
        /* base (gen 1) and base + delta (gen 2), verified (lazy bitmap checks) or not */
        for (int v = 0; v < 4; v++) {
            generation_t *g = open_gen(dir, v < 2 ? 1 : 2, v % 2 == 0 ? GENERATION_VERIFY : 0);
            const index_t *want = v < 2 ? l1 : src; /* l1 moved on after gen 1 was written */
            load_arg_t a[2] = {{g, NULL, 0}, {g, NULL, 0}};
            pthread_t t[2];
            if (v < 2) {
                cr_assert_eq(generation_load(g, &seq, &err), 0, "%s", bdx_error_message(&err));
                want = seq;
            }
            for (int i = 0; i < 2; i++)
                cr_assert_eq(pthread_create(&t[i], NULL, load_thread, &a[i]), 0);
            for (int i = 0; i < 2; i++) {
                pthread_join(t[i], NULL);
                cr_assert_eq(a[i].rc, 0, "seed %" PRIu64 " round %d", seed, round);
                same_index(want, a[i].ix);
            }
            if (v >= 2) {
                /* the delta's changed bitmaps are materialized once and borrowed by both */
                int shared = 0;
                const bitmap_t *alive[2] = {&a[0].ix->alive, &a[1].ix->alive};
                for (size_t f = 0; f < s->filter_count; f++)
                    for (int k = 0; k < 2; k++) {
                        const bitmap_t *p0 =
                            k ? &a[0].ix->filters[f].exists : &a[0].ix->filters[f].null;
                        const bitmap_t *p1 =
                            k ? &a[1].ix->filters[f].exists : &a[1].ix->filters[f].null;
                        cr_assert_eq(p0->kind, p1->kind);
                        if (p0->kind == BITMAP_BORROWED) {
                            cr_assert_eq(p0->rb, p1->rb, "a changed bitmap copied per index");
                            shared++;
                        }
                    }
                cr_assert_eq(alive[0]->kind, alive[1]->kind);
                if (alive[0]->kind == BITMAP_BORROWED) {
                    cr_assert_eq(alive[0]->rb, alive[1]->rb);
                    shared++;
                }
                cr_assert_gt(shared, 0, "seed %" PRIu64 " round %d: nothing shared", seed, round);
            }
            /* each instance copies on write: writes to one leave the other equal to `want` */
            index_t *one[1] = {a[0].ix};
            for (uint32_t i = 0; i < nslots / 10 + 1; i++)
                rand_write(&r, one, 1, nslots + 32);
            same_index(want, a[1].ix);
            same_queries(&r, want, a[1].ix, 10);
            index_free(a[0].ix);
            index_free(a[1].ix);
            if (v < 2)
                index_free(seq);
            generation_close(g);
        }
        index_free(l1);
        generation_close(g1);
        index_free(src);
        schema_free(s);
        rm_rf(dir);
        free(dir);
    }
}

/* Writes gen `number` of `ix` as a delta against `base`, loads it and checks it equals `want`;
 * returns the open generation and the loaded index. */
static void delta_round(index_t *ix, const index_t *want, uint64_t number, generation_t *base,
                        const char *dir, generation_write_stats_t *st, generation_t **g,
                        index_t **loaded)
{
    bdx_error_t err;
    int rc = generation_write(ix, number, number * 100, base, dir, st, &err);

    cr_assert_eq(rc, 0, "gen %" PRIu64 ": %s", number, bdx_error_message(&err));
    cr_assert(st->delta);
    *g = open_gen(dir, number, GENERATION_VERIFY);
    cr_assert_eq(generation_load(*g, loaded, &err), 0, "%s", bdx_error_message(&err));
    same_index(want, *loaded);
}

/* A large index where a few documents change: the delta holds exactly the few items they
 * changed (the other values of the field, thousands, are never visited), and loads equal. */
Test(generation, delta_of_few_items)
{
    char *dir = make_dir();
    schema_t *s;
    index_t *src, *l1, *l2;
    generation_t *g1, *g2;
    generation_write_stats_t st;
    bdx_error_t err;
    const uint32_t n = 20000;

    cr_assert_eq(schema_new("few", &s), 0);
    cr_assert_eq(schema_add_filter(s, "user", SCHEMA_INT, false, false), 0);
    cr_assert_eq(schema_add_filter(s, "tags", SCHEMA_INT, true, true), 0);
    cr_assert_eq(schema_add_sort(s, "score", 16), 0);
    cr_assert_eq(index_new(s, &src, &err), 0);
    for (uint32_t slot = 0; slot < n; slot++) {
        int64_t user = slot / 2, tags[2] = {slot % 50, 100 + slot % 7};
        index_doc_filter_t f[2] = {{true, false, {&user, NULL, 1}}, {true, false, {tags, NULL, 2}}};
        index_doc_sort_t so[1] = {{true, slot % 1000}};
        index_doc_t d = {f, so};
        cr_assert_eq(index_bulk_put(src, slot, &d, &err), 0);
    }
    cr_assert_eq(index_bulk_flush(src), 0);
    cr_assert_eq(index_rebuild_perms(src), 0);
    cr_assert_eq(generation_write(src, 1, 100, NULL, dir, &st, &err), 0);
    cr_assert_eq(st.materialized_bytes, 0);
    uint64_t base_bytes = st.bytes;
    g1 = open_gen(dir, 1, GENERATION_VERIFY);
    cr_assert_eq(generation_load(g1, &l1, &err), 0);

    /* 3 documents move to another user (user u holds slots 2u and 2u + 1): slot 10 from 5 to
     * a new user, 501 from 250 to 17, 8001 from 4000 to 4001: 6 value bitmaps change */
    int64_t to[3] = {1000000, 17, 4001};
    uint32_t slots[3] = {10, 501, 8001};
    index_t *both[2] = {src, l1};
    for (int i = 0; i < 3; i++)
        for (int k = 0; k < 2; k++) {
            index_values_t v = {&to[i], NULL, 1};
            cr_assert_eq(index_set_filter(both[k], slots[i], 0, false, &v, &err), 0);
        }
    delta_round(l1, src, 2, g1, dir, &st, &g2, &l2);
    cr_assert_eq(st.items, 6, "%" PRIu64 " items", st.items);
    cr_assert_eq(st.slots, 3);
    cr_assert_gt(st.materialized_bytes, 0);
    cr_assert_lt(st.materialized_bytes, base_bytes / 10);

    /* one sort value 10 -> 11: slice 0 and the dirty bitmap change. The first sort write makes
     * every slice of the field writable, slices 10-15 included, which no value sets (empty in
     * the base as now): they must not appear. */
    for (int k = 0; k < 2; k++)
        cr_assert_eq(index_set_sort(both[k], 10, 0, 11, &err), 0);
    index_free(l2);
    generation_close(g2);
    delta_round(l1, src, 4, g1, dir, &st, &g2, &l2);
    cr_assert_eq(st.items, 8, "%" PRIu64 " items", st.items);
    cr_assert_eq(st.slots, 3);

    /* a value dropped entirely (its only two documents deleted) and a null written */
    for (int k = 0; k < 2; k++) {
        cr_assert_eq(index_delete(both[k], 6000), 0);
        cr_assert_eq(index_delete(both[k], 6001), 0);
        cr_assert_eq(index_set_filter(both[k], 7, 1, true, NULL, &err), 0);
    }
    index_free(l2);
    generation_close(g2);
    delta_round(l1, src, 5, g1, dir, &st, &g2, &l2);
    index_free(l2);
    generation_close(g2);
    index_free(l1);
    generation_close(g1);
    index_free(src);
    schema_free(s);
    rm_rf(dir);
    free(dir);
}

/* Cumulative deltas along a chain of loads: each generation's load gets more writes and the
 * next delta is written against the generation it was loaded from; every load equals the
 * source. Also a delta whose only change is index_rebuild_perms() clearing the dirty bitmaps
 * (no slot touched). */
Test(generation, delta_chain)
{
    uint64_t seed = test_seed();
    rng_t r = {seed};

    for (int round = 0; round < 4; round++) {
        char *dir = make_dir();
        schema_t *s = rand_schema(&r);
        uint32_t nslots = 50 + (uint32_t)below(&r, 2000);
        index_t *src = build(&r, s, nslots), *cur;
        generation_t *g, *next;
        generation_write_stats_t st;
        bdx_error_t err;

        cr_assert_eq(generation_write(src, 1, 100, NULL, dir, &st, &err), 0);
        g = open_gen(dir, 1, GENERATION_VERIFY);
        cr_assert_eq(generation_load(g, &cur, &err), 0);
        if (s->sort_count > 0) {
            /* dirty bitmaps cleared everywhere, nothing touched */
            cr_assert_eq(index_rebuild_perms(src), 0);
            cr_assert_eq(index_rebuild_perms(cur), 0);
        }
        for (uint64_t gen = 2; gen <= 6; gen++) {
            index_t *both[2] = {src, cur}, *l;
            uint32_t nw = (uint32_t)below(&r, nslots / 8 + 2);
            for (uint32_t i = 0; i < nw; i++)
                rand_write(&r, both, 2, nslots + 32);
            delta_round(cur, src, gen, g, dir, &st, &next, &l);
            cr_assert(roaring_bitmap_equals(index_touched(cur), index_touched(l)),
                      "seed %" PRIu64 " round %d gen %" PRIu64, seed, round, gen);
            /* continue from the load (the checkpointer's restart path) */
            index_free(cur);
            generation_close(g);
            cur = l;
            g = next;
        }
        index_free(cur);
        generation_close(g);
        index_free(src);
        schema_free(s);
        rm_rf(dir);
        free(dir);
    }
}

static void flip(const char *path, uint64_t off)
{
    int fd = open(path, O_RDWR);
    uint8_t b;
    cr_assert(fd >= 0);
    cr_assert_eq(pread(fd, &b, 1, (off_t)off), 1);
    b ^= 0x20;
    cr_assert_eq(pwrite(fd, &b, 1, (off_t)off), 1);
    close(fd);
}

static uint64_t file_size(const char *path)
{
    struct stat st;
    cr_assert_eq(stat(path, &st), 0);
    return (uint64_t)st.st_size;
}

Test(generation, corruption_is_refused)
{
    uint64_t seed = test_seed();
    rng_t r = {seed};
    char *dir = make_dir();
    schema_t *s = rand_schema(&r);
    index_t *src = build(&r, s, 300), *l1;
    generation_t *g;
    bdx_error_t err;
    char path[512];
    static const char *const files[] = {"manifest", "base", "delta"};

    cr_assert_eq(generation_write(src, 1, 1, NULL, dir, NULL, &err), 0);
    g = open_gen(dir, 1, GENERATION_VERIFY);
    cr_assert_eq(generation_load(g, &l1, &err), 0);
    for (int i = 0; i < 50; i++)
        rand_write(&r, &l1, 1, 400);
    cr_assert_eq(generation_write(l1, 2, 2, g, dir, NULL, &err), 0, "%s", bdx_error_message(&err));
    index_free(l1);
    generation_close(g);

    for (int fi = 0; fi < 3; fi++) {
        gen_path(path, sizeof(path), dir, 2, files[fi]);
        uint64_t size = file_size(path);
        /* every byte of the header and TOC region, then random bytes */
        for (int t = 0; t < 200; t++) {
            uint64_t off = t < 96 ? (uint64_t)t : below(&r, size);
            flip(path, off);
            char gdir[512];
            generation_t *bad = NULL;
            gen_path(gdir, sizeof(gdir), dir, 2, NULL);
            int rc = generation_open(gdir, GENERATION_VERIFY, &bad, &err);
            cr_assert_eq(rc, BDX_ECORRUPT, "%s offset %" PRIu64 ": rc %d (seed %" PRIu64 ")",
                         files[fi], off, rc, seed);
            cr_assert(strstr(bdx_error_message(&err), files[fi]) != NULL, "%s",
                      bdx_error_message(&err));
            flip(path, off);
        }
        /* truncated (the file is restored afterwards) */
        uint8_t *keep = malloc(size);
        int fd = open(path, O_RDWR);
        cr_assert_eq(pread(fd, keep, size, 0), (ssize_t)size);
        cr_assert_eq(truncate(path, (off_t)(size - 32)), 0);
        generation_t *bad = NULL;
        char gdir[512];
        gen_path(gdir, sizeof(gdir), dir, 2, NULL);
        cr_assert_eq(generation_open(gdir, 0, &bad, &err), BDX_ECORRUPT, "%s truncated", files[fi]);
        cr_assert_eq(pwrite(fd, keep, size, 0), (ssize_t)size);
        close(fd);
        free(keep);
    }
    rm_rf(dir);
    free(dir);
    index_free(src);
    schema_free(s);
}

Test(generation, newer_version_is_refused)
{
    rng_t r = {test_seed()};
    char *dir = make_dir(), path[512], gdir[512];
    schema_t *s = rand_schema(&r);
    index_t *src = build(&r, s, 50);
    bdx_error_t err;
    generation_t *g = NULL;
    uint8_t head[64];

    cr_assert_eq(generation_write(src, 7, 1, NULL, dir, NULL, &err), 0);
    gen_path(path, sizeof(path), dir, 7, "base");
    gen_path(gdir, sizeof(gdir), dir, 7, NULL);
    int fd = open(path, O_RDWR);
    cr_assert_eq(pread(fd, head, 64, 0), 64);
    head[8] = 2; /* version 2 with a valid header checksum */
    uint64_t h = XXH3_64bits(head, 56);
    for (int i = 0; i < 8; i++)
        head[56 + i] = (uint8_t)(h >> (8 * i));
    cr_assert_eq(pwrite(fd, head, 64, 0), 64);
    close(fd);
    cr_assert_eq(generation_open(gdir, GENERATION_VERIFY, &g, &err), BDX_EVERSION, "%s",
                 bdx_error_message(&err));
    cr_assert(strstr(bdx_error_message(&err), "version 2") != NULL);
    rm_rf(dir);
    free(dir);
    index_free(src);
    schema_free(s);
}

Test(generation, pins_current_and_removal)
{
    rng_t r = {test_seed()};
    char *dir = make_dir(), gdir[512], tmp[512];
    schema_t *s = rand_schema(&r);
    index_t *src = build(&r, s, 50);
    bdx_error_t err;
    generation_t *g;
    uint64_t cur, *list;
    size_t n;
    bool pinned;

    cr_assert_eq(generation_current(dir, &cur, &err), BDX_ENOTFOUND);
    cr_assert_eq(generation_write(src, 1, 1, NULL, dir, NULL, &err), 0);
    cr_assert_eq(generation_write(src, 2, 2, NULL, dir, NULL, &err), 0);
    cr_assert_eq(generation_write(src, 2, 2, NULL, dir, NULL, &err), BDX_EEXIST);
    cr_assert_eq(generation_publish(dir, 2, &err), 0);
    cr_assert_eq(generation_current(dir, &cur, &err), 0);
    cr_assert_eq(cur, 2);
    cr_assert_eq(generation_remove(dir, 2, &err), BDX_ESTATE); /* current */

    gen_path(gdir, sizeof(gdir), dir, 1, NULL);
    g = open_gen(dir, 1, GENERATION_PIN);
    cr_assert_eq(generation_is_pinned(gdir, &pinned), 0);
    cr_assert(pinned);
    cr_assert_eq(generation_remove(dir, 1, &err), BDX_ESTATE);
    generation_close(g);
    cr_assert_eq(generation_is_pinned(gdir, &pinned), 0);
    cr_assert(!pinned);

    /* leftovers of a crashed write */
    snprintf(tmp, sizeof(tmp), "%s/gen-3.tmp", dir);
    cr_assert_eq(mkdir(tmp, 0755), 0);
    snprintf(tmp, sizeof(tmp), "%s/gen-3.tmp/base", dir);
    FILE *fp = fopen(tmp, "w");
    fputs("partial", fp);
    fclose(fp);
    cr_assert_eq(generation_list(dir, &list, &n, &err), 0);
    cr_assert_eq(n, 2);
    cr_assert_eq(list[0], 1);
    cr_assert_eq(list[1], 2);
    free(list);
    cr_assert_eq(generation_clean_tmp(dir, &err), 0);
    snprintf(tmp, sizeof(tmp), "%s/gen-3.tmp", dir);
    cr_assert_neq(access(tmp, F_OK), 0);

    cr_assert_eq(generation_remove(dir, 1, &err), 0, "%s", bdx_error_message(&err));
    cr_assert_neq(access(gdir, F_OK), 0);
    cr_assert_eq(generation_list(dir, &list, &n, &err), 0);
    cr_assert_eq(n, 1);
    free(list);
    rm_rf(dir);
    free(dir);
    index_free(src);
    schema_free(s);
}

static double secs(struct timespec a, struct timespec b)
{
    return (double)(b.tv_sec - a.tv_sec) + (double)(b.tv_nsec - a.tv_nsec) / 1e9;
}

Test(generation, timing, .timeout = 600)
{
    const char *e = getenv("BITDEX_GEN_BENCH_DOCS");
    uint32_t ndocs = e ? (uint32_t)strtoul(e, NULL, 0) : 200000;
    rng_t r = {test_seed()};
    char *dir = make_dir();
    schema_t *s;
    index_t *ix, *l1, *l2;
    generation_t *g1, *g2;
    generation_write_stats_t st;
    bdx_error_t err;
    struct timespec t0, t1;
    index_doc_filter_t f[4];
    index_doc_sort_t so[2];
    int64_t iv[4];
    const char *sv[2];
    char sbuf[2][16];

    cr_assert_eq(schema_new("bench", &s), 0);
    cr_assert_eq(schema_add_filter(s, "user", SCHEMA_INT, false, false), 0);
    cr_assert_eq(schema_add_filter(s, "tags", SCHEMA_STRING, true, false), 0);
    cr_assert_eq(schema_add_filter(s, "nsfw", SCHEMA_BOOL, false, true), 0);
    cr_assert_eq(schema_add_filter(s, "kind", SCHEMA_INT, false, false), 0);
    cr_assert_eq(schema_add_sort(s, "created", 32), 0);
    cr_assert_eq(schema_add_sort(s, "score", 16), 0);
    cr_assert_eq(index_new(s, &ix, &err), 0);
    for (uint32_t slot = 0; slot < ndocs; slot++) {
        memset(f, 0, sizeof(f));
        iv[0] = (int64_t)below(&r, ndocs / 10 + 1);
        iv[2] = (int64_t)below(&r, 2);
        iv[3] = (int64_t)below(&r, 8);
        snprintf(sbuf[0], 16, "t%u", (unsigned)below(&r, 5000));
        snprintf(sbuf[1], 16, "t%u", (unsigned)below(&r, 50));
        sv[0] = sbuf[0];
        sv[1] = sbuf[1];
        f[0] = (index_doc_filter_t){true, false, {&iv[0], NULL, 1}};
        f[1] = (index_doc_filter_t){true, false, {NULL, sv, 2}};
        f[2] = (index_doc_filter_t){true, false, {&iv[2], NULL, 1}};
        f[3] = (index_doc_filter_t){true, false, {&iv[3], NULL, 1}};
        so[0] = (index_doc_sort_t){true, 1600000000u + slot};
        so[1] = (index_doc_sort_t){true, below(&r, 65536)};
        index_doc_t d = {f, so};
        cr_assert_eq(index_bulk_put(ix, slot, &d, &err), 0);
    }
    cr_assert_eq(index_bulk_flush(ix), 0);
    cr_assert_eq(index_optimize(ix), 0);
    cr_assert_eq(index_rebuild_perms(ix), 0);

    clock_gettime(CLOCK_MONOTONIC, &t0);
    cr_assert_eq(generation_write(ix, 1, 1, NULL, dir, &st, &err), 0);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    fprintf(stderr,
            "generation timing: %u docs: base write %.3f s, %" PRIu64 " bytes, %" PRIu64
            " bitmaps\n",
            ndocs, secs(t0, t1), st.bytes, st.items);
    clock_gettime(CLOCK_MONOTONIC, &t0);
    g1 = open_gen(dir, 1, GENERATION_VERIFY);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    fprintf(stderr, "generation timing: open+verify %.3f s\n", secs(t0, t1));
    clock_gettime(CLOCK_MONOTONIC, &t0);
    cr_assert_eq(generation_load(g1, &l1, &err), 0);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    fprintf(stderr, "generation timing: load %.3f s\n", secs(t0, t1));
    cr_assert_eq(index_doc_count(l1), ndocs);

    /* 1 % of the documents changed */
    for (uint32_t i = 0; i < ndocs / 100; i++) {
        uint32_t slot = (uint32_t)below(&r, ndocs);
        int64_t v = (int64_t)below(&r, ndocs / 10 + 1);
        index_values_t vals = {&v, NULL, 1};
        cr_assert_eq(index_set_filter(l1, slot, 0, false, &vals, &err), 0);
        cr_assert_eq(index_set_sort(l1, slot, 1, below(&r, 65536), &err), 0);
    }
    clock_gettime(CLOCK_MONOTONIC, &t0);
    cr_assert_eq(generation_write(l1, 2, 2, g1, dir, &st, &err), 0);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    fprintf(stderr,
            "generation timing: delta (1%% changed) write %.3f s, %" PRIu64 " bytes, %" PRIu64
            " bitmaps changed, %" PRIu64 " slots\n",
            secs(t0, t1), st.bytes, st.items, st.slots);
    g2 = open_gen(dir, 2, GENERATION_VERIFY);
    clock_gettime(CLOCK_MONOTONIC, &t0);
    cr_assert_eq(generation_load(g2, &l2, &err), 0);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    fprintf(stderr, "generation timing: base+delta load %.3f s, mapped %" PRIu64 " bytes\n",
            secs(t0, t1), generation_mapped_bytes(g2));
    same_index(l1, l2);

    /* the checkpointer's flow: more writes on the gen-1 load, the next delta against gen 2
     * (another mapping of the same base): unchanged bitmaps must still be recognized */
    uint64_t base_items = st.items;
    for (uint32_t i = 0; i < ndocs / 1000 + 1; i++) {
        uint32_t slot = (uint32_t)below(&r, ndocs);
        cr_assert_eq(index_set_sort(l1, slot, 1, below(&r, 65536), &err), 0);
    }
    generation_t *g3;
    index_t *l3;
    cr_assert_eq(generation_write(l1, 3, 3, g2, dir, &st, &err), 0, "%s", bdx_error_message(&err));
    cr_assert(st.items <= base_items + 64, "%" PRIu64 " changed items, first delta %" PRIu64,
              st.items, base_items);
    g3 = open_gen(dir, 3, GENERATION_VERIFY);
    cr_assert_eq(generation_load(g3, &l3, &err), 0);
    same_index(l1, l3);
    index_free(l3);
    generation_close(g3);
    index_free(l2);
    index_free(l1);
    generation_close(g2);
    generation_close(g1);
    index_free(ix);
    schema_free(s);
    rm_rf(dir);
    free(dir);
}

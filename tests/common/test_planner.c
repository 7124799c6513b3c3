/*
 * test_planner: estimates, evaluation and counting of every clause kind (common/planner.c) on a
 * small hand-made index whose answers are written out below.
 */
#include <criterion/criterion.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "common/planner.h"
#include "common/search.h"

static index_t *ix;

enum {
    F_TAG,
    F_KIND,
    F_FLAG
};
enum {
    S_SCORE
};

static void put(uint32_t slot, const int64_t *tags, size_t ntags, const char *kind, bool kind_null,
                int flag, int score)
{
    index_doc_filter_t f[3] = {{0}};
    index_doc_sort_t s[1] = {{0}};
    int64_t fl = flag;
    const char *k[1] = {kind};
    bdx_error_t err;
    f[F_TAG] = (index_doc_filter_t){.present = true, .values = {.ints = tags, .count = ntags}};
    if (kind || kind_null)
        f[F_KIND] = (index_doc_filter_t){
            .present = true, .null = kind_null, .values = {.strings = k, .count = kind ? 1 : 0}};
    if (flag >= 0)
        f[F_FLAG] = (index_doc_filter_t){.present = true, .values = {.ints = &fl, .count = 1}};
    if (score >= 0)
        s[S_SCORE] = (index_doc_sort_t){.present = true, .value = (uint64_t)score};
    index_doc_t doc = {.filters = f, .sorts = s};
    cr_assert_eq(index_put(ix, slot, &doc, &err), 0, "%s", err.msg);
}

/*
 * slot  tag    kind        flag   score
 *   0   1,2    "a"         true   5
 *   1   2      "b"         false  3
 *   2   -      null        true   -
 *   3   3      "a"         false  0
 *   4   (deleted)
 *   5   1,3    -           true   255
 *   8   2,3    "b"         -      5
 */
static void setup(void)
{
    schema_t *s;
    bdx_error_t err;
    cr_assert_eq(schema_new("t", &s), 0);
    cr_assert_eq(schema_add_filter(s, "tag", SCHEMA_INT, true, false), 0);
    cr_assert_eq(schema_add_filter(s, "kind", SCHEMA_STRING, false, true), 0);
    cr_assert_eq(schema_add_filter(s, "flag", SCHEMA_BOOL, false, false), 0);
    cr_assert_eq(schema_add_sort(s, "score", 8), 0);
    cr_assert_eq(index_new(s, &ix, &err), 0, "%s", err.msg);
    schema_free(s);
    put(0, (int64_t[]){1, 2}, 2, "a", false, 1, 5);
    put(1, (int64_t[]){2}, 1, "b", false, 0, 3);
    put(2, NULL, 0, NULL, true, 1, -1);
    put(3, (int64_t[]){3}, 1, "a", false, 0, 0);
    put(4, (int64_t[]){2}, 1, "a", false, 0, 9);
    put(5, (int64_t[]){1, 3}, 2, NULL, false, 1, 255);
    put(8, (int64_t[]){2, 3}, 2, "b", false, -1, 5);
    cr_assert_eq(index_delete(ix, 4), 0);
    cr_assert_eq(index_rebuild_perms(ix), 0);
}

static void teardown(void)
{
    index_free(ix);
}

TestSuite(planner, .init = setup, .fini = teardown);

static const roaring_bitmap_t *prefilter_bm;

static int resolver(void *arg, const char *name, const roaring_bitmap_t **out, bdx_error_t *err)
{
    (void)arg;
    if (strcmp(name, "p") != 0)
        return bdx_error_set(err, BDX_ENOTFOUND, "prefilter %s not registered", name);
    *out = prefilter_bm;
    return 0;
}

/* Validates and canonicalizes `f` (taken) into *out. */
static void prepare(query_node_t *f, query_node_t **out)
{
    query_t *q = query_new("t");
    bdx_error_t err;
    query_set_filter(q, f);
    cr_assert_eq(query_validate(q, index_schema(ix), NULL, NULL, &err), 0, "%s", err.msg);
    q->filter = NULL;
    query_free(q);
    cr_assert_eq(query_canonicalize(&f), 0);
    *out = f;
}

/* Evaluates `f` (taken) and checks the result is exactly the listed slots (-1 terminated). */
static void expect_slots(query_node_t *f, ...)
{
    planner_t p = {.ix = ix, .prefilter = resolver, .trace = true};
    planner_result_t r;
    bdx_error_t err;
    query_node_t *n;
    char *text;
    prepare(f, &n);
    query_canonical_text(n, &text);
    planner_estimate(&p, n);
    cr_assert_eq(planner_eval(&p, n, &r, &err), 0, "%s: %s", text, err.msg);
    roaring_bitmap_t *want = roaring_bitmap_create();
    va_list ap;
    va_start(ap, f);
    for (int s = va_arg(ap, int); s >= 0; s = va_arg(ap, int))
        roaring_bitmap_add(want, (uint32_t)s);
    va_end(ap);
    cr_expect(roaring_bitmap_equals(want, r.bm), "%s: got %llu rows, want %llu", text,
              (unsigned long long)roaring_bitmap_get_cardinality(r.bm),
              (unsigned long long)roaring_bitmap_get_cardinality(want));
    uint64_t count;
    cr_assert_eq(planner_count(&p, n, &count, &err), 0);
    cr_expect_eq(count, roaring_bitmap_get_cardinality(want), "%s: count %llu", text,
                 (unsigned long long)count);
    roaring_bitmap_free(want);
    planner_result_release(&r);
    query_node_free(n);
    free(text);
}

#define I(x) query_int(x)

Test(planner, filter_int_multi)
{
    expect_slots(query_eq("tag", I(2)), 0, 1, 8, -1);
    expect_slots(query_cmp(QUERY_NOT_EQ, "tag", I(2)), 3, 5, -1);
    expect_slots(query_in(QUERY_IN, "tag", (query_value_t[]){I(1), I(3)}, 2), 0, 3, 5, 8, -1);
    expect_slots(query_in(QUERY_NOT_IN, "tag", (query_value_t[]){I(1), I(9)}, 2), 1, 3, 8, -1);
    expect_slots(query_in(QUERY_IN, "tag", NULL, 0), -1);
    expect_slots(query_in(QUERY_NOT_IN, "tag", NULL, 0), 0, 1, 3, 5, 8, -1);
    expect_slots(query_cmp(QUERY_GT, "tag", I(1)), 0, 1, 3, 5, 8, -1);
    expect_slots(query_cmp(QUERY_LTE, "tag", I(1)), 0, 5, -1);
    expect_slots(query_between("tag", I(3), I(3)), 3, 5, 8, -1);
    expect_slots(query_between("tag", I(3), I(1)), -1);
    expect_slots(query_cmp(QUERY_GT, "tag", I(INT64_MAX)), -1);
    expect_slots(query_cmp(QUERY_LT, "tag", I(INT64_MIN)), -1);
    expect_slots(query_null(QUERY_IS_NULL, "tag"), 2, -1);
    expect_slots(query_null(QUERY_IS_NOT_NULL, "tag"), 0, 1, 3, 5, 8, -1);
}

Test(planner, filter_string_and_bool)
{
    expect_slots(query_eq("kind", query_str("a")), 0, 3, -1);
    expect_slots(query_eq("kind", query_str("zzz")), -1);
    expect_slots(query_eq("kind", query_strn("a\0b", 3)), -1);
    expect_slots(query_cmp(QUERY_NOT_EQ, "kind", query_str("a")), 1, 8, -1);
    expect_slots(query_null(QUERY_IS_NULL, "kind"), 2, 5, -1);
    expect_slots(query_null(QUERY_IS_NOT_NULL, "kind"), 0, 1, 3, 8, -1);
    expect_slots(query_eq("flag", query_bool(true)), 0, 2, 5, -1);
    expect_slots(query_cmp(QUERY_NOT_EQ, "flag", query_bool(true)), 1, 3, -1);
    expect_slots(query_null(QUERY_IS_NULL, "flag"), 8, -1);
}

Test(planner, sort_field_bit_sliced)
{
    expect_slots(query_cmp(QUERY_GTE, "score", I(5)), 0, 5, 8, -1);
    expect_slots(query_cmp(QUERY_LT, "score", I(5)), 1, 3, -1);
    expect_slots(query_cmp(QUERY_LT, "score", I(0)), -1);
    expect_slots(query_cmp(QUERY_GT, "score", I(255)), -1);
    expect_slots(query_eq("score", I(0)), 3, -1);
    expect_slots(query_cmp(QUERY_NOT_EQ, "score", I(5)), 1, 3, 5, -1);
    expect_slots(query_in(QUERY_IN, "score", (query_value_t[]){I(0), I(3)}, 2), 1, 3, -1);
    expect_slots(query_in(QUERY_NOT_IN, "score", (query_value_t[]){I(5), I(0)}, 2), 1, 5, -1);
    expect_slots(query_between("score", I(1), I(254)), 0, 1, 8, -1);
    expect_slots(query_null(QUERY_IS_NULL, "score"), 2, -1);
    expect_slots(query_null(QUERY_IS_NOT_NULL, "score"), 0, 1, 3, 5, 8, -1);
}

Test(planner, id_pseudo_field)
{
    expect_slots(query_between("id", I(1), I(5)), 1, 2, 3, 5, -1);
    expect_slots(query_cmp(QUERY_GT, "id", I(4294967295LL)), -1);
    expect_slots(query_cmp(QUERY_GTE, "id", I(5)), 5, 8, -1);
    expect_slots(query_cmp(QUERY_NOT_EQ, "id", I(0)), 1, 2, 3, 5, 8, -1);
    expect_slots(query_in(QUERY_IN, "id", (query_value_t[]){I(4), I(8), I(100)}, 3), 8, -1);
    expect_slots(query_in(QUERY_NOT_IN, "id", (query_value_t[]){I(0), I(8)}, 2), 1, 2, 3, 5, -1);
    expect_slots(query_null(QUERY_IS_NULL, "id"), -1);
    expect_slots(query_null(QUERY_IS_NOT_NULL, "id"), 0, 1, 2, 3, 5, 8, -1);
}

Test(planner, composites)
{
    expect_slots(query_not(query_eq("tag", I(2))), 2, 3, 5, -1);
    expect_slots(query_and(2, query_eq("flag", query_bool(true)),
                           query_not(query_eq("kind", query_str("a")))),
                 2, 5, -1);
    expect_slots(query_or(2, query_eq("kind", query_str("b")), query_eq("score", I(255))), 1, 5, 8,
                 -1);
    expect_slots(query_and(2, query_not(query_eq("tag", I(1))),
                           query_not(query_null(QUERY_IS_NULL, "kind"))),
                 1, 3, 8, -1);
    /* And restricted by an Or and a Not over a small running set */
    expect_slots(query_and(3, query_eq("tag", I(3)),
                           query_or(2, query_eq("kind", query_str("a")),
                                    query_cmp(QUERY_GT, "score", I(100))),
                           query_not(query_eq("id", I(5)))),
                 3, -1);
    expect_slots(query_and(2, query_eq("tag", I(2)), query_eq("tag", I(3))), 8, -1);
    expect_slots(query_or(2, query_eq("tag", I(2)), query_eq("tag", I(3))), 0, 1, 3, 5, 8, -1);
}

Test(planner, prefilters)
{
    roaring_bitmap_t *bm = roaring_bitmap_of(3, 0, 4, 5); /* 4 is deleted: never returned */
    prefilter_bm = bm;
    expect_slots(query_prefilter("p"), 0, 5, -1);
    expect_slots(query_and(2, query_prefilter("p"), query_eq("flag", query_bool(true))), 0, 5, -1);
    expect_slots(query_not(query_prefilter("p")), 1, 2, 3, 8, -1);
    roaring_bitmap_free(bm);

    planner_t p = {.ix = ix, .prefilter = resolver};
    planner_t none = {.ix = ix};
    planner_result_t r;
    bdx_error_t err;
    query_node_t *n;
    prepare(query_prefilter("q"), &n);
    planner_estimate(&p, n);
    cr_expect_eq(planner_eval(&p, n, &r, &err), BDX_ENOTFOUND);
    cr_expect_str_eq(err.msg, "prefilter q not registered");
    cr_expect_eq(planner_eval(&none, n, &r, &err), BDX_ENOTFOUND);
    cr_expect_str_eq(err.msg, "prefilter q not registered");
    query_node_free(n);
}

Test(planner, single_bitmaps_are_borrowed)
{
    planner_t p = {.ix = ix};
    planner_result_t r;
    query_node_t *n;
    cr_assert_eq(planner_eval(&p, NULL, &r, NULL), 0);
    cr_expect_eq(r.bm, index_alive(ix), "no filter: the alive bitmap itself");
    cr_expect_null(r.owned);
    planner_result_release(&r);

    prepare(query_eq("tag", I(2)), &n);
    planner_estimate(&p, n);
    cr_assert_eq(planner_eval(&p, n, &r, NULL), 0);
    cr_expect_eq(r.bm, index_filter_value(ix, F_TAG, 2), "Eq: the value bitmap itself");
    cr_expect_null(r.owned);
    planner_result_release(&r);
    query_node_free(n);

    prepare(query_null(QUERY_IS_NOT_NULL, "score"), &n);
    planner_estimate(&p, n);
    cr_assert_eq(planner_eval(&p, n, &r, NULL), 0);
    cr_expect_null(r.owned);
    planner_result_release(&r);
    query_node_free(n);
}

Test(planner, estimates)
{
    planner_t p = {.ix = ix};
    query_node_t *n;
    prepare(query_and(3, query_eq("tag", I(2)), query_eq("kind", query_str("a")),
                      query_cmp(QUERY_GTE, "score", I(5))),
            &n);
    uint64_t est = planner_estimate(&p, n);
    /* children are sorted canonically: eq(kind,"a"), eq(tag,2), gte(score,5) */
    cr_expect_eq(n->children[0]->stats.estimate, 2);
    cr_expect_eq(n->children[1]->stats.estimate, 3);
    cr_expect_eq(n->children[2]->stats.estimate, 3, "from the permutation");
    cr_expect_eq(est, 2, "an And is at most its smallest child");
    query_node_free(n);

    prepare(query_or(2, query_between("id", I(0), I(3)), query_not(query_eq("tag", I(2)))), &n);
    est = planner_estimate(&p, n);
    cr_expect_eq(n->children[0]->stats.estimate, 4, "id ranges are exact");
    cr_expect_eq(n->children[1]->stats.estimate, 3);
    cr_expect_eq(est, 6, "an Or is at most the live documents");
    query_node_free(n);
}

Test(planner, and_stops_when_empty)
{
    planner_t p = {.ix = ix, .trace = true};
    planner_result_t r;
    query_node_t *n;
    prepare(query_and(3, query_eq("kind", query_str("zzz")), query_eq("tag", I(2)),
                      query_cmp(QUERY_GT, "score", I(1))),
            &n);
    planner_estimate(&p, n);
    cr_assert_eq(planner_eval(&p, n, &r, NULL), 0);
    cr_expect(roaring_bitmap_is_empty(r.bm));
    size_t evaluated = 0;
    for (size_t i = 0; i < n->nchildren; i++)
        evaluated += n->children[i]->stats.evaluated;
    cr_expect_eq(evaluated, 1, "the empty clause goes first and ends the And");
    planner_result_release(&r);
    query_node_free(n);
}

Test(planner, explain_trace)
{
    query_t *q = query_new("t");
    search_result_t *r;
    bdx_error_t err;
    query_set_filter(q, query_and(2, query_eq("flag", query_bool(true)),
                                  query_not(query_eq("kind", query_str("a")))));
    query_set_sort(q, "score", true);
    q->flags = QUERY_WANT_EXPLAIN | QUERY_WANT_TOTAL;
    cr_assert_eq(search_run(ix, q, NULL, &r, &err), 0, "%s", err.msg);
    cr_assert(r->explain);
    cr_expect_eq(r->total, 2);
    cr_expect_eq(r->count, 2);
    cr_expect_eq(r->slots[0], 5);
    cr_expect_eq(r->slots[1], 2);
    cr_expect_str_eq(r->explain->canonical, "and(eq(flag,true),not(eq(kind,\"a\")))");
    cr_expect_eq(r->explain->nclauses, 4);
    cr_expect_eq(r->explain->strategy, SORT_MATERIALIZE);
    char *text;
    cr_assert_eq(explain_format(r->explain, &text), 0);
    cr_expect(strstr(text, "plan: and(eq(flag,true),not(eq(kind,\"a\")))") != NULL, "%s", text);
    cr_expect(strstr(text, "strategy: materialize (filter has 2 rows") != NULL, "%s", text);
    cr_expect(strstr(text, "eq(flag,true)  est 3 actual 3") != NULL, "%s", text);
    free(text);
    search_result_free(r);
    query_free(q);
}

/* ---- sort-field ranges read from the permutation, with dirty slots ---- */

/* 4000 documents (score = a hash of the slot, 8 bits; tag = slot % 3), permutation built, then
 * writes after the build: changed scores, cleared scores (re-put without one), deletes, new
 * documents. Small ranges (at most 1/16 of the documents) are read from the permutation
 * segment; every answer and count is checked against a scan of the model. */
#define PR_SLOTS 4000

static int pr_score[PR_SLOTS + 200]; /* -1: no score; -2: not alive */
static int pr_tag[PR_SLOTS + 200];

static void pr_put(index_t *x, uint32_t slot, int tag, int score)
{
    int64_t t = tag;
    index_doc_filter_t f[3] = {{.present = true, .values = {.ints = &t, .count = 1}}};
    index_doc_sort_t s[1] = {{.present = score >= 0, .value = (uint64_t)(score >= 0 ? score : 0)}};
    index_doc_t doc = {.filters = f, .sorts = s};
    bdx_error_t err;
    cr_assert_eq(index_put(x, slot, &doc, &err), 0, "%s", err.msg);
    pr_score[slot] = score;
    pr_tag[slot] = tag;
}

static void pr_check(index_t *x, query_node_t *f, int tag, uint64_t lo, uint64_t hi)
{
    planner_t p = {.ix = x, .trace = true};
    planner_result_t r;
    bdx_error_t err;
    query_t *q = query_new("t");
    query_set_filter(q, f);
    cr_assert_eq(query_validate(q, index_schema(x), NULL, NULL, &err), 0, "%s", err.msg);
    q->filter = NULL;
    query_free(q);
    cr_assert_eq(query_canonicalize(&f), 0);
    planner_estimate(&p, f);
    cr_assert_eq(planner_eval(&p, f, &r, &err), 0);
    roaring_bitmap_t *want = roaring_bitmap_create();
    for (uint32_t s = 0; s < PR_SLOTS + 200; s++)
        if (pr_score[s] >= 0 && (uint64_t)pr_score[s] >= lo && (uint64_t)pr_score[s] <= hi &&
            (tag < 0 || pr_tag[s] == tag))
            roaring_bitmap_add(want, s);
    char *text;
    query_canonical_text(f, &text);
    cr_expect(roaring_bitmap_equals(want, r.bm), "%s: got %llu rows, want %llu", text,
              (unsigned long long)roaring_bitmap_get_cardinality(r.bm),
              (unsigned long long)roaring_bitmap_get_cardinality(want));
    uint64_t count;
    cr_assert_eq(planner_count(&p, f, &count, &err), 0);
    cr_expect_eq(count, roaring_bitmap_get_cardinality(want), "%s: count", text);
    free(text);
    roaring_bitmap_free(want);
    planner_result_release(&r);
    query_node_free(f);
}

static void pr_ranges(index_t *x)
{
    for (int tag = -1; tag < 3; tag++) {
        for (uint64_t lo = 0; lo < 256; lo += 37) {
            uint64_t hi = lo + (lo % 3 == 0 ? 0 : 9);
            query_node_t *r = lo == hi ? query_eq("score", I((int64_t)lo))
                                       : query_between("score", I((int64_t)lo), I((int64_t)hi));
            pr_check(x, tag < 0 ? r : query_and(2, r, query_eq("tag", I(tag))), tag, lo, hi);
        }
        query_node_t *gt = query_cmp(QUERY_GT, "score", I(250));
        pr_check(x, tag < 0 ? gt : query_and(2, gt, query_eq("tag", I(tag))), tag, 251, 255);
        query_node_t *lt = query_cmp(QUERY_LT, "score", I(4));
        pr_check(x, tag < 0 ? lt : query_and(2, lt, query_eq("tag", I(tag))), tag, 0, 3);
        query_node_t *wide = query_cmp(QUERY_GTE, "score", I(16)); /* too wide: the BSI */
        pr_check(x, tag < 0 ? wide : query_and(2, wide, query_eq("tag", I(tag))), tag, 16, 255);
    }
    /* a small range restricting a larger running set (inside an Or after tag = 0) */
    for (int64_t v = 3; v < 256; v += 50)
        pr_check(x,
                 query_and(2, query_eq("tag", I(0)),
                           query_or(2, query_eq("score", I(v)), query_eq("tag", I(1)))),
                 0, (uint64_t)v, (uint64_t)v);
}

Test(planner, sort_ranges_from_the_permutation)
{
    schema_t *s;
    index_t *x;
    bdx_error_t err;
    cr_assert_eq(schema_new("t", &s), 0);
    cr_assert_eq(schema_add_filter(s, "tag", SCHEMA_INT, false, false), 0);
    cr_assert_eq(schema_add_sort(s, "score", 8), 0);
    cr_assert_eq(index_new(s, &x, &err), 0, "%s", err.msg);
    schema_free(s);
    for (uint32_t i = 0; i < PR_SLOTS + 200; i++)
        pr_score[i] = -2;
    for (uint32_t i = 0; i < PR_SLOTS; i++)
        pr_put(x, i, (int)(i % 3), i % 50 == 7 ? -1 : (int)((i * 2654435761u) >> 24));
    cr_assert_eq(index_rebuild_perms(x), 0);
    cr_expect_eq(index_doc_count(x), PR_SLOTS);
    pr_ranges(x);

    /* writes after the build: every kind of dirty slot */
    for (uint32_t i = 0; i < PR_SLOTS; i += 7)
        pr_put(x, i, (int)(i % 3), (int)((i * 40503u) & 255)); /* new score */
    for (uint32_t i = 3; i < PR_SLOTS; i += 29)
        pr_put(x, i, (int)(i % 3), -1); /* score cleared */
    for (uint32_t i = 5; i < PR_SLOTS; i += 31) {
        cr_assert_eq(index_delete(x, i), 0);
        pr_score[i] = -2;
    }
    for (uint32_t i = PR_SLOTS; i < PR_SLOTS + 200; i++)
        pr_put(x, i, (int)(i % 3), (int)(i & 255)); /* new documents */
    cr_expect_eq(index_doc_count(x), roaring_bitmap_get_cardinality(index_alive(x)),
                 "the cached count follows the writes");
    cr_expect_eq(index_sort_dirty_count(x, 0),
                 roaring_bitmap_get_cardinality(index_sort_dirty(x, 0)));
    cr_expect_eq(index_sort_exists_count(x, 0),
                 roaring_bitmap_get_cardinality(bsi_exists(index_sort_bsi(x, 0))));
    cr_expect_eq(index_filter_exists_count(x, 0),
                 roaring_bitmap_get_cardinality(index_filter_exists(x, 0)));
    pr_ranges(x);
    index_free(x);
}

/*
 * Tests common/query_pb.c: Filter trees translated to the engine's query trees (compared by
 * canonical text with trees built directly, on randomized trees with a printed seed), every bad
 * input with its code and path, SearchRequest / CountRequest translation, and the responses.
 */
#include "common/query_pb.h"
#include "tests/common/filter_build.h"

#include <criterion/criterion.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static schema_t *schema;
static limits_t limits;

static void setup(void)
{
    bdx_error_t err;
    cr_assert_eq(schema_new("images", &schema), 0);
    schema_add_filter(schema, "nsfwLevel", SCHEMA_INT, false, false);
    schema_add_filter(schema, "tagIds", SCHEMA_INT, true, true);
    schema_add_filter(schema, "baseModel", SCHEMA_STRING, false, false);
    schema_add_filter(schema, "hasMeta", SCHEMA_BOOL, false, false);
    schema_add_filter(schema, "blockedFor", SCHEMA_STRING, false, true);
    schema_add_sort(schema, "createdAt", 32);
    schema_add_sort(schema, "reactionCount", 16);
    schema_add_sort(schema, "big", 64);
    schema_add_computed_sort(schema, "sortAt", 32, SCHEMA_COMPUTED_GREATEST, "createdAt",
                             "reactionCount");
    schema_add_stored(schema, "url", SCHEMA_STRING);
    schema_add_stored(schema, "width", SCHEMA_INT);
    cr_assert_eq(schema_validate(schema, &err), 0, "%s", err.msg);
    limits_defaults(&limits);
}

static void teardown(void)
{
    schema_free(schema);
}

TestSuite(query_pb, .init = setup, .fini = teardown);

static char *canon(query_node_t *n)
{
    char *s = NULL;
    cr_assert_eq(query_canonicalize(&n), 0);
    cr_assert_eq(query_canonical_text(n, &s), 0);
    query_node_free(n);
    return s;
}

/* Translates f (freed) and compares with want (freed) by canonical text. */
static void expect_same(Bitdex__V1__Filter *f, query_node_t *want)
{
    query_node_t *got = NULL;
    bdx_error_t err = {0};
    int rc = query_pb_filter(f, "filter", schema, &limits, &got, &err);
    cr_assert_eq(rc, 0, "%s", err.msg);
    cr_assert_not_null(want);
    char *a = canon(got), *b = canon(want);
    cr_expect_str_eq(a, b);
    free(a);
    free(b);
    fb_free(f);
}

/* Translates f (freed) and expects code and exactly msg. */
static void expect_error(Bitdex__V1__Filter *f, int code, const char *msg)
{
    query_node_t *got = NULL;
    bdx_error_t err = {0};
    int rc = query_pb_filter(f, "filter", schema, &limits, &got, &err);
    cr_expect_eq(rc, code, "rc %d for \"%s\" (got \"%s\")", rc, msg, err.msg);
    cr_expect_str_eq(err.msg, msg);
    cr_expect_null(got);
    query_node_free(got);
    fb_free(f);
}

#define EQ BITDEX__V1__FILTER__CLAUSE_EQ
#define NEQ BITDEX__V1__FILTER__CLAUSE_NEQ
#define GT BITDEX__V1__FILTER__CLAUSE_GT
#define GTE BITDEX__V1__FILTER__CLAUSE_GTE
#define LT BITDEX__V1__FILTER__CLAUSE_LT
#define LTE BITDEX__V1__FILTER__CLAUSE_LTE
#define IN BITDEX__V1__FILTER__CLAUSE_IS_IN
#define NIN BITDEX__V1__FILTER__CLAUSE_NOT_IN
#define ISNULL BITDEX__V1__FILTER__CLAUSE_IS_NULL
#define NOTNULL BITDEX__V1__FILTER__CLAUSE_IS_NOT_NULL
#define ALL BITDEX__V1__FILTER__CLAUSE_ALL_OF
#define ANY BITDEX__V1__FILTER__CLAUSE_ANY_OF

Test(query_pb, absent_or_empty_filter_matches_all)
{
    query_node_t *n = (query_node_t *)1;
    Bitdex__V1__Filter *e = fb_empty();
    cr_assert_eq(query_pb_filter(NULL, "filter", schema, &limits, &n, NULL), 0);
    cr_expect_null(n);
    n = (query_node_t *)1;
    cr_assert_eq(query_pb_filter(e, "filter", schema, &limits, &n, NULL), 0);
    cr_expect_null(n);
    fb_free(e);
}

Test(query_pb, every_clause)
{
    Bitdex__V1__Value *tags[] = {fb_int(7), fb_int(3), fb_int(7)};
    Bitdex__V1__Value *models[] = {fb_str("SDXL"), fb_str("Pony")};
    Bitdex__V1__Filter *kids[] = {
        fb_cmp(EQ, "nsfwLevel", fb_int(-4)),
        fb_set(IN, "tagIds", 3, tags),
        fb_set(NIN, "baseModel", 2, models),
        fb_cmp(NEQ, "hasMeta", fb_bool(true)),
        fb_cmp(GT, "createdAt", fb_int(100)),
        fb_cmp(GTE, "big", fb_int(INT64_MAX)),
        fb_cmp(LT, "id", fb_int(4294967295LL)),
        fb_cmp(LTE, "sortAt", fb_int(0)),
        fb_between("reactionCount", fb_int(9), fb_int(2)),
        fb_null_test(ISNULL, "blockedFor"),
        fb_null_test(NOTNULL, "id"),
        fb_not(fb_list(ANY, 1, (Bitdex__V1__Filter *[]){fb_cmp(EQ, "baseModel", fb_str("x\"y"))})),
    };
    query_value_t qt[] = {query_int(3), query_int(7)};
    query_value_t qm[] = {query_str("Pony"), query_str("SDXL")};
    query_node_t *want =
        query_and(12, query_eq("nsfwLevel", query_int(-4)), query_in(QUERY_IN, "tagIds", qt, 2),
                  query_in(QUERY_NOT_IN, "baseModel", qm, 2),
                  query_cmp(QUERY_NOT_EQ, "hasMeta", query_bool(1)),
                  query_cmp(QUERY_GT, "createdAt", query_int(100)),
                  query_cmp(QUERY_GTE, "big", query_int(INT64_MAX)),
                  query_cmp(QUERY_LT, "id", query_int(4294967295LL)),
                  query_cmp(QUERY_LTE, "sortAt", query_int(0)),
                  query_between("reactionCount", query_int(9), query_int(2)),
                  query_null(QUERY_IS_NULL, "blockedFor"), query_null(QUERY_IS_NOT_NULL, "id"),
                  query_not(query_eq("baseModel", query_str("x\"y"))));
    expect_same(fb_list(ALL, 12, kids), want);
}

Test(query_pb, empty_in_list_is_allowed)
{
    expect_same(fb_set(IN, "tagIds", 0, NULL), query_in(QUERY_IN, "tagIds", NULL, 0));
    expect_same(fb_set(NIN, "id", 0, NULL), query_in(QUERY_NOT_IN, "id", NULL, 0));
}

/* ---- randomized: the same tree built twice, as a Filter and with the query builders ---- */

typedef struct rng {
    uint64_t s;
} rng_t;

static uint64_t rnd(rng_t *r)
{
    r->s += UINT64_C(0x9e3779b97f4a7c15);
    uint64_t z = r->s;
    z = (z ^ (z >> 30)) * UINT64_C(0xbf58476d1ce4e5b9);
    z = (z ^ (z >> 27)) * UINT64_C(0x94d049bb133111eb);
    return z ^ (z >> 31);
}

static uint64_t below(rng_t *r, uint64_t n)
{
    return rnd(r) % n;
}

static const char *const FIELDS[] = {"nsfwLevel",  "tagIds",       "baseModel", "hasMeta",
                                     "blockedFor", "createdAt",    "big",       "id",
                                     "sortAt",     "reactionCount"};

/* A random valid value for field f, as both forms. */
static void rand_value(rng_t *r, const char *f, Bitdex__V1__Value **pb, query_value_t *q,
                       char *strbuf)
{
    if (strcmp(f, "hasMeta") == 0) {
        bool b = below(r, 2);
        *pb = fb_bool(b);
        *q = query_bool(b);
    } else if (strcmp(f, "baseModel") == 0 || strcmp(f, "blockedFor") == 0) {
        snprintf(strbuf, 16, "s%u", (unsigned)below(r, 5));
        *pb = fb_str(strbuf);
        *q = query_str((*pb)->string_value);
    } else {
        int64_t v = (int64_t)below(r, 20);
        if (strcmp(f, "nsfwLevel") == 0 || strcmp(f, "tagIds") == 0)
            v -= 10;
        if (strcmp(f, "big") == 0 && below(r, 4) == 0)
            v = INT64_MAX - v;
        *pb = fb_int(v);
        *q = query_int(v);
    }
}

static void gen(rng_t *r, int depth, Bitdex__V1__Filter **pb, query_node_t **q)
{
    uint64_t k = below(r, depth >= 4 ? 5 : 8);
    const char *f = FIELDS[below(r, 10)];
    bool ranged = strcmp(f, "hasMeta") && strcmp(f, "baseModel") && strcmp(f, "blockedFor");
    char sb[4][16];
    static const Bitdex__V1__Filter__ClauseCase cmp_pb[] = {EQ, NEQ, GT, GTE, LT, LTE};
    static const query_op_t cmp_q[] = {QUERY_EQ,  QUERY_NOT_EQ, QUERY_GT,
                                       QUERY_GTE, QUERY_LT,     QUERY_LTE};

    if (k == 0) {
        size_t c = ranged ? below(r, 6) : below(r, 2);
        Bitdex__V1__Value *v;
        query_value_t qv;
        rand_value(r, f, &v, &qv, sb[0]);
        *q = query_cmp(cmp_q[c], f, qv);
        *pb = fb_cmp(cmp_pb[c], f, v);
    } else if (k == 1) {
        size_t n = below(r, 4);
        Bitdex__V1__Value *v[4];
        query_value_t qv[4];
        bool not_in = below(r, 2);
        for (size_t i = 0; i < n; i++)
            rand_value(r, f, &v[i], &qv[i], sb[i]);
        *q = query_in(not_in ? QUERY_NOT_IN : QUERY_IN, f, qv, n);
        *pb = fb_set(not_in ? NIN : IN, f, n, v);
    } else if (k == 2 && ranged) {
        Bitdex__V1__Value *lo, *hi;
        query_value_t qlo, qhi;
        rand_value(r, f, &lo, &qlo, sb[0]);
        rand_value(r, f, &hi, &qhi, sb[1]);
        *q = query_between(f, qlo, qhi);
        *pb = fb_between(f, lo, hi);
    } else if (k <= 4) {
        bool isnull = below(r, 2);
        *q = query_null(isnull ? QUERY_IS_NULL : QUERY_IS_NOT_NULL, f);
        *pb = fb_null_test(isnull ? ISNULL : NOTNULL, f);
    } else if (k == 5) {
        Bitdex__V1__Filter *c;
        query_node_t *qc;
        gen(r, depth + 1, &c, &qc);
        *q = query_not(qc);
        *pb = fb_not(c);
    } else {
        size_t n = 1 + below(r, 4);
        Bitdex__V1__Filter *c[4];
        bool and = k == 6;
        *q = query_group(and? QUERY_AND : QUERY_OR);
        for (size_t i = 0; i < n; i++) {
            query_node_t *qc;
            gen(r, depth + 1, &c[i], &qc);
            cr_assert_eq(query_add(*q, qc), 0);
        }
        *pb = fb_list(and? ALL : ANY, n, c);
    }
}

Test(query_pb, random_trees_translate_like_the_builders)
{
    uint64_t seed = (uint64_t)time(NULL);
    const char *env = getenv("BITDEX_TEST_SEED");
    if (env && *env)
        seed = strtoull(env, NULL, 0);
    fprintf(stderr, "query_pb random trees: BITDEX_TEST_SEED=%" PRIu64 "\n", seed);
    rng_t r = {seed};
    for (int i = 0; i < 2000; i++) {
        Bitdex__V1__Filter *pb;
        query_node_t *q;
        gen(&r, 1, &pb, &q);
        expect_same(pb, q);
    }
}

/* ---- errors ---- */

Test(query_pb, errors_name_the_path)
{
    expect_error(fb_cmp(EQ, "nsfwLevel", fb_str("1")), BDX_EINVAL,
                 "filter.eq.value: field \"nsfwLevel\" is INT, got string");
    expect_error(fb_and2(fb_cmp(EQ, "nsfwLevel", fb_int(1)),
                         fb_list(ANY, 3,
                                 (Bitdex__V1__Filter *[]){
                                     fb_null_test(ISNULL, "tagIds"),
                                     fb_cmp(EQ, "hasMeta", fb_bool(true)),
                                     fb_set(IN, "tagIds", 2,
                                            (Bitdex__V1__Value *[]){fb_int(1), fb_bool(false)}),
                                 })),
                 BDX_EINVAL,
                 "filter.all_of.filters[1].any_of.filters[2].is_in.values[1]: field \"tagIds\" is "
                 "INT, got bool");
    expect_error(fb_not(fb_cmp(GT, "baseModel", fb_str("a"))), BDX_EINVAL,
                 "filter.negate.gt: field \"baseModel\" is STRING: ranges need an INT filter "
                 "field, a sort field or id");
    expect_error(fb_between("hasMeta", fb_bool(false), fb_bool(true)), BDX_EINVAL,
                 "filter.between: field \"hasMeta\" is BOOL: ranges need an INT filter field, a "
                 "sort field or id");
    expect_error(fb_cmp(EQ, "nope", fb_int(1)), BDX_EINVAL,
                 "filter.eq.field: unknown field \"nope\"");
    expect_error(fb_cmp(EQ, "", fb_int(1)), BDX_EINVAL, "filter.eq.field: required");
    expect_error(fb_cmp(NEQ, "url", fb_str("x")), BDX_EINVAL,
                 "filter.neq.field: \"url\" is a stored field: stored fields cannot be filtered");
    expect_error(fb_cmp(EQ, "nsfwLevel", NULL), BDX_EINVAL, "filter.eq.value: required");
    expect_error(fb_cmp(EQ, "nsfwLevel", fb_unset()), BDX_EINVAL,
                 "filter.eq.value: no value set (field \"nsfwLevel\")");
    expect_error(fb_cmp(EQ, "blockedFor", fb_null()), BDX_EINVAL,
                 "filter.eq.value: null is not a comparison value (field \"blockedFor\"): use "
                 "is_null / is_not_null");
    expect_error(fb_cmp(LT, "id", fb_int(4294967296LL)), BDX_EINVAL,
                 "filter.lt.value: 4294967296 does not fit field \"id\" (32 bits, max 4294967295)");
    expect_error(fb_cmp(EQ, "id", fb_int(-1)), BDX_EINVAL,
                 "filter.eq.value: -1 is negative (field \"id\" is unsigned)");
    expect_error(
        fb_cmp(GTE, "reactionCount", fb_int(65536)), BDX_EINVAL,
        "filter.gte.value: 65536 does not fit field \"reactionCount\" (16 bits, max 65535)");
    expect_error(fb_cmp(EQ, "createdAt", fb_str("1")), BDX_EINVAL,
                 "filter.eq.value: field \"createdAt\" is a sort field and takes int_value, got "
                 "string");
    expect_error(fb_between("big", fb_int(1), NULL), BDX_EINVAL, "filter.between.hi: required");
    expect_error(fb_and2(fb_cmp(EQ, "nsfwLevel", fb_int(1)), fb_empty()), BDX_EINVAL,
                 "filter.all_of.filters[1]: no clause set");
    expect_error(fb_not(NULL), BDX_EINVAL, "filter.negate: no clause set");
    expect_error(fb_list(ANY, 0, NULL), BDX_EINVAL,
                 "filter.any_of.filters: at least one sub-filter required");
    expect_error(fb_prefilter("safe"), BDX_EINVAL,
                 "filter.prefilter: prefilter \"safe\" is not registered on this reader");
    expect_error(fb_null_test(ISNULL, "width"), BDX_EINVAL,
                 "filter.is_null.field: \"width\" is a stored field: stored fields cannot be "
                 "filtered");
}

Test(query_pb, limits)
{
    char big[40];
    Bitdex__V1__Filter *f;

    limits.max_in_values = 2;
    expect_error(fb_set(NIN, "tagIds", 3, (Bitdex__V1__Value *[]){fb_int(1), fb_int(2), fb_int(3)}),
                 BDX_ELIMIT, "filter.not_in.values: 3 values exceed max_in_values 2");
    limits.max_string_bytes = 4;
    snprintf(big, sizeof(big), "12345");
    expect_error(fb_cmp(EQ, "baseModel", fb_str(big)), BDX_EINVAL,
                 "filter.eq.value: string of 5 bytes exceeds max_string_bytes 4");
    limits_defaults(&limits);

    /* depth: a chain of max_filter_depth nodes is fine, one more is not */
    limits.max_filter_depth = 5;
    f = fb_cmp(EQ, "nsfwLevel", fb_int(1));
    for (int i = 1; i < 5; i++)
        f = fb_not(f);
    query_node_t *n = NULL;
    cr_expect_eq(query_pb_filter(f, "filter", schema, &limits, &n, NULL), 0);
    query_node_free(n);
    expect_error(fb_not(f), BDX_ELIMIT,
                 "filter.negate.negate.negate.negate.negate: filter nesting exceeds "
                 "max_filter_depth 5");

    /* clauses: every Filter counts, the all_of node included */
    limits.max_filter_depth = 32;
    limits.max_filter_clauses = 3;
    f = fb_and2(fb_cmp(EQ, "nsfwLevel", fb_int(1)), fb_cmp(EQ, "nsfwLevel", fb_int(2)));
    cr_expect_eq(query_pb_filter(f, "filter", schema, &limits, &n, NULL), 0);
    query_node_free(n);
    fb_free(f);
    expect_error(fb_list(ALL, 3,
                         (Bitdex__V1__Filter *[]){fb_cmp(EQ, "nsfwLevel", fb_int(1)),
                                                  fb_cmp(EQ, "nsfwLevel", fb_int(2)),
                                                  fb_cmp(EQ, "nsfwLevel", fb_int(3))}),
                 BDX_ELIMIT,
                 "filter.all_of.filters[2]: filter has more than max_filter_clauses 3 clauses");
}

/* ---- requests ---- */

static int search_req(Bitdex__V1__SearchRequest *req, query_t **q, bdx_error_t *err)
{
    size_t *fields = NULL, n = 0;
    int rc = query_pb_search(req, schema, &limits, q, &fields, &n, err);
    free(fields);
    return rc;
}

Test(query_pb, search_request)
{
    Bitdex__V1__SearchRequest req = BITDEX__V1__SEARCH_REQUEST__INIT;
    Bitdex__V1__Sort sort = BITDEX__V1__SORT__INIT;
    char *names[] = {"width", "url"};
    uint8_t cur[3] = {1, 2, 3};
    size_t *fields = NULL, nfields = 0;
    query_t *q = NULL;
    bdx_error_t err = {0};

    req.index = "images";
    req.filter = fb_cmp(EQ, "nsfwLevel", fb_int(1));
    req.limit = 0;
    req.include_total = true;
    req.fields = names;
    req.n_fields = 2;
    req.cursor.data = cur;
    req.cursor.len = 3;
    cr_assert_eq(query_pb_search(&req, schema, &limits, &q, &fields, &nfields, &err), 0, "%s",
                 err.msg);
    cr_expect_null(q->sort_field);
    cr_expect_eq(q->limit, QUERY_LIMIT_DEFAULT);
    cr_expect_eq(q->flags, QUERY_WANT_TOTAL);
    cr_expect_eq(q->cursor_len, 3);
    cr_expect_str_eq(q->index, "images");
    cr_assert_eq(nfields, 2);
    cr_expect_eq(fields[0], 1);
    cr_expect_eq(fields[1], 0);
    cr_expect_eq(q->filter->op, QUERY_EQ);
    free(fields);
    query_free(q);

    req.sort = &sort;
    req.n_fields = 0;
    req.explain = true;
    req.include_total = false;
    req.limit = 1000;
    sort.field = "id";
    sort.direction = BITDEX__V1__SORT_DIRECTION__SORT_DIRECTION_ASC;
    cr_assert_eq(search_req(&req, &q, &err), 0, "%s", err.msg);
    cr_expect_str_eq(q->sort_field, "id");
    cr_expect_not(q->sort_desc);
    cr_expect_eq(q->limit, 1000);
    cr_expect_eq(q->flags, QUERY_WANT_EXPLAIN);
    query_free(q);
    sort.field = "sortAt";
    sort.direction = BITDEX__V1__SORT_DIRECTION__SORT_DIRECTION_UNSPECIFIED;
    cr_assert_eq(search_req(&req, &q, &err), 0, "%s", err.msg);
    cr_expect_str_eq(q->sort_field, "sortAt");
    cr_expect(q->sort_desc);
    query_free(q);

    /* the default page never exceeds max_page_size */
    query_limits_t ql;
    limits.max_page_size = 20;
    query_pb_limits(&limits, &ql);
    cr_expect_eq(ql.default_page, 20);
    cr_expect_eq(ql.max_page, 20);
    limits_defaults(&limits);
    query_pb_limits(&limits, &ql);
    cr_expect_eq(ql.default_page, 50);
    fb_free(req.filter);
}

static void expect_search_error(Bitdex__V1__SearchRequest *req, int code, const char *msg)
{
    query_t *q = NULL;
    bdx_error_t err = {0};
    cr_expect_eq(search_req(req, &q, &err), code, "for \"%s\" (got \"%s\")", msg, err.msg);
    cr_expect_str_eq(err.msg, msg);
    cr_expect_null(q);
}

Test(query_pb, search_request_errors)
{
    Bitdex__V1__SearchRequest req = BITDEX__V1__SEARCH_REQUEST__INIT;
    Bitdex__V1__Sort sort = BITDEX__V1__SORT__INIT;
    char *names[3] = {"url", "width", "url"};

    req.index = "images";
    req.limit = 1001;
    expect_search_error(&req, BDX_ELIMIT, "limit: 1001 exceeds max_page_size 1000");
    req.limit = 10;
    req.sort = &sort;
    sort.field = "nsfwLevel";
    expect_search_error(&req, BDX_EINVAL,
                        "sort.field: \"nsfwLevel\" is a filter field, not a sort field");
    sort.field = "url";
    expect_search_error(&req, BDX_EINVAL,
                        "sort.field: \"url\" is a stored field, not a sort field");
    sort.field = "nope";
    expect_search_error(&req, BDX_EINVAL, "sort.field: unknown sort field \"nope\"");
    sort.field = "";
    expect_search_error(&req, BDX_EINVAL, "sort.field: required");
    sort.field = "createdAt";
    sort.direction = 7;
    expect_search_error(&req, BDX_EINVAL, "sort.direction: unknown direction 7");
    sort.direction = BITDEX__V1__SORT_DIRECTION__SORT_DIRECTION_ASC;
    req.fields = names;
    req.n_fields = 3;
    expect_search_error(&req, BDX_EINVAL, "fields[2]: \"url\" repeats fields[0]");
    names[1] = "tagIds";
    expect_search_error(&req, BDX_EINVAL,
                        "fields[1]: \"tagIds\" is a filter field; only stored fields can be "
                        "requested");
    names[1] = "createdAt";
    expect_search_error(&req, BDX_EINVAL,
                        "fields[1]: \"createdAt\" is a sort field; only stored fields can be "
                        "requested");
    names[1] = "x";
    expect_search_error(&req, BDX_EINVAL, "fields[1]: unknown stored field \"x\"");
    req.n_fields = 0;
    req.filter = fb_cmp(EQ, "id", fb_bool(true));
    expect_search_error(&req, BDX_EINVAL,
                        "filter.eq.value: field \"id\" is the document id and takes int_value, "
                        "got bool");
    fb_free(req.filter);
}

Test(query_pb, count_request)
{
    Bitdex__V1__CountRequest req = BITDEX__V1__COUNT_REQUEST__INIT;
    query_t *q = NULL;
    bdx_error_t err = {0};

    req.index = "images";
    req.explain = true;
    req.filter = fb_null_test(NOTNULL, "tagIds");
    cr_assert_eq(query_pb_count(&req, schema, &limits, &q, &err), 0);
    cr_expect_eq(q->flags, QUERY_WANT_EXPLAIN);
    cr_expect_eq(q->filter->op, QUERY_IS_NOT_NULL);
    query_free(q);
    fb_free(req.filter);
    req.filter = fb_cmp(GT, "hasMeta", fb_bool(true));
    cr_expect_eq(query_pb_count(&req, schema, &limits, &q, &err), BDX_EINVAL);
    cr_expect_null(q);
    cr_expect_str_eq(err.msg, "filter.gt: field \"hasMeta\" is BOOL: ranges need an INT filter "
                              "field, a sort field or id");
    fb_free(req.filter);
}

Test(query_pb, cursor_errors_get_the_path)
{
    bdx_error_t err;
    bdx_error_set(&err, BDX_ECURSOR, "malformed cursor: wrong length 3");
    query_pb_engine_error(&err);
    cr_expect_str_eq(err.msg, "cursor: malformed cursor: wrong length 3");
    query_pb_engine_error(&err);
    cr_expect_str_eq(err.msg, "cursor: malformed cursor: wrong length 3");
    bdx_error_set(&err, BDX_EINVAL, "x");
    query_pb_engine_error(&err);
    cr_expect_str_eq(err.msg, "x");
}

/* ---- responses ---- */

Test(query_pb, search_response_and_explain)
{
    index_t *ix;
    bdx_error_t err = {0};
    search_result_t *r = NULL;
    Bitdex__V1__SearchResponse *resp = NULL;
    query_t *q = query_new("images");

    cr_assert_eq(index_new(schema, &ix, &err), 0);
    for (uint32_t s = 1; s <= 5; s++) {
        index_doc_sort_t sorts[4] = {{true, 100 - s}, {true, s}, {false, 0}, {false, 0}};
        index_doc_t d = {.sorts = sorts};
        cr_assert_eq(index_put(ix, s, &d, &err), 0, "%s", err.msg);
    }
    query_set_filter(q, query_cmp(QUERY_GT, "id", query_int(1)));
    query_set_sort(q, "createdAt", false);
    q->limit = 2;
    q->flags = QUERY_WANT_TOTAL | QUERY_WANT_EXPLAIN;
    cr_assert_eq(search_run(ix, q, NULL, &r, &err), 0, "%s", err.msg);
    cr_assert_eq(query_pb_search_response(ix, q, r, NULL, 0, 77, &resp, &err), 0);
    cr_expect_eq(resp->snapshot_lsn, 77);
    cr_assert_eq(resp->n_hits, 2);
    cr_expect_eq(resp->hits[0]->id, 5);
    cr_expect_eq(resp->hits[0]->sort_value, 95);
    cr_expect_eq(resp->hits[1]->id, 4);
    cr_expect_eq(resp->hits[1]->sort_value, 96);
    cr_expect_eq(resp->next_cursor.len, CURSOR_SIZE);
    cr_assert_not_null(resp->total);
    cr_expect_eq(resp->total->value, 4);
    cr_assert_not_null(resp->explain);
    cr_expect_eq(resp->explain->strategy, BITDEX__V1__SORT_STRATEGY__SORT_STRATEGY_MATERIALIZE);
    cr_expect_str_eq(resp->explain->plan, "gt(id,1)");
    cr_assert_eq(resp->explain->n_steps, 1);
    cr_expect_str_eq(resp->explain->steps[0]->clause, "gt(id,1)");
    cr_expect_eq(resp->explain->steps[0]->actual_cardinality, 4);
    cr_expect_neq(resp->explain->strategy_reason[0], '\0');
    protobuf_c_message_free_unpacked(&resp->base, NULL);
    search_result_free(r);

    /* id order: sort_value is the id; the last page has no cursor and no total unless asked */
    query_set_sort(q, "id", true);
    q->limit = 10;
    q->flags = 0;
    cr_assert_eq(search_run(ix, q, NULL, &r, &err), 0, "%s", err.msg);
    cr_assert_eq(query_pb_search_response(ix, q, r, NULL, 0, 1, &resp, &err), 0);
    cr_assert_eq(resp->n_hits, 4);
    cr_expect_eq(resp->hits[0]->id, 5);
    cr_expect_eq(resp->hits[0]->sort_value, 5);
    cr_expect_eq(resp->next_cursor.len, 0);
    cr_expect_null(resp->total);
    cr_expect_null(resp->explain);
    protobuf_c_message_free_unpacked(&resp->base, NULL);
    search_result_free(r);

    /* a count trace: nested plan, no strategy */
    Bitdex__V1__CountResponse *cresp = NULL;
    explain_t *e = NULL;
    uint64_t count = 0;
    query_set_filter(q, query_or(2, query_cmp(QUERY_LT, "id", query_int(3)),
                                 query_not(query_cmp(QUERY_GTE, "createdAt", query_int(96)))));
    q->flags = QUERY_WANT_EXPLAIN;
    cr_assert_eq(search_count_explain(ix, q, NULL, &count, &e, &err), 0, "%s", err.msg);
    cr_expect_eq(count, 3); /* 1, 2 and 5 */
    cr_assert_eq(query_pb_count_response(count, e, 9, &cresp), 0);
    cr_expect_eq(cresp->count, 3);
    cr_expect_eq(cresp->snapshot_lsn, 9);
    cr_assert_not_null(cresp->explain);
    cr_expect_eq(cresp->explain->strategy, BITDEX__V1__SORT_STRATEGY__SORT_STRATEGY_UNSPECIFIED);
    cr_expect_str_eq(cresp->explain->plan, "or\n  lt(id,3)\n  not\n    gte(createdAt,96)");
    cr_expect_eq(cresp->explain->n_steps, 4);
    protobuf_c_message_free_unpacked(&cresp->base, NULL);
    explain_free(e);
    q->flags = 0;
    cr_assert_eq(search_count_explain(ix, q, NULL, &count, &e, &err), 0, "%s", err.msg);
    cr_expect_null(e);
    cr_expect_eq(count, 3);

    query_free(q);
    index_free(ix);
}

/* Hit.fields: requested stored fields in request order, absent ones left out, a blob that fails
 * its checks reported as BDX_ECORRUPT naming the document. */
Test(query_pb, search_response_stored_fields)
{
    index_t *ix;
    bdx_error_t err = {0};
    search_result_t *r = NULL;
    Bitdex__V1__SearchResponse *resp = NULL;
    query_t *q = query_new("images");
    docstore_buf_t buf = {0};
    char *names[] = {"width", "url"};
    Bitdex__V1__SearchRequest req = BITDEX__V1__SEARCH_REQUEST__INIT;
    size_t *fields = NULL, nfields = 0;
    query_t *unused = NULL;

    cr_assert_eq(index_new(schema, &ix, &err), 0);
    for (uint32_t s = 1; s <= 3; s++) {
        Bitdex__V1__StoredValue url = BITDEX__V1__STORED_VALUE__INIT;
        Bitdex__V1__StoredValue width = BITDEX__V1__STORED_VALUE__INIT;
        Bitdex__V1__StoredFieldValue fu = BITDEX__V1__STORED_FIELD_VALUE__INIT;
        Bitdex__V1__StoredFieldValue fw = BITDEX__V1__STORED_FIELD_VALUE__INIT;
        Bitdex__V1__StoredFieldValue *list[] = {&fu, &fw};
        index_doc_t d = {0};
        cr_assert_eq(index_put(ix, s, &d, &err), 0, "%s", err.msg);
        url.kind_case = BITDEX__V1__STORED_VALUE__KIND_STRING_VALUE;
        url.string_value = s == 1 ? "u1" : "u3";
        width.kind_case = BITDEX__V1__STORED_VALUE__KIND_INT_VALUE;
        width.int_value = -(int64_t)s;
        fu.field = "url";
        fu.value = &url;
        fw.field = "width";
        fw.value = &width;
        /* 1: url and width; 2: none; 3: url only */
        if (s == 2)
            continue;
        cr_assert_eq(docstore_merge(schema, NULL, 0, list, s == 1 ? 2 : 1, &buf, &err), 0, "%s",
                     err.msg);
        cr_assert_eq(index_set_stored(ix, s, buf.data, buf.len), 0);
    }
    req.fields = names;
    req.n_fields = 2;
    cr_assert_eq(query_pb_search(&req, schema, &limits, &unused, &fields, &nfields, &err), 0);
    query_free(unused);
    query_set_sort(q, "id", false);
    cr_assert_eq(search_run(ix, q, NULL, &r, &err), 0, "%s", err.msg);
    cr_assert_eq(query_pb_search_response(ix, q, r, fields, nfields, 5, &resp, &err), 0, "%s",
                 err.msg);
    cr_assert_eq(resp->n_hits, 3);
    cr_assert_eq(resp->hits[0]->n_fields, 2);
    cr_expect_str_eq(resp->hits[0]->fields[0]->field, "width");
    cr_expect_eq(resp->hits[0]->fields[0]->value->int_value, -1);
    cr_expect_str_eq(resp->hits[0]->fields[1]->field, "url");
    cr_expect_str_eq(resp->hits[0]->fields[1]->value->string_value, "u1");
    cr_expect_eq(resp->hits[1]->n_fields, 0);
    cr_assert_eq(resp->hits[2]->n_fields, 1);
    cr_expect_str_eq(resp->hits[2]->fields[0]->field, "url");
    cr_expect_str_eq(resp->hits[2]->fields[0]->value->string_value, "u3");
    protobuf_c_message_free_unpacked(&resp->base, NULL);

    /* no fields asked: none returned even where the document has some */
    cr_assert_eq(query_pb_search_response(ix, q, r, NULL, 0, 5, &resp, &err), 0);
    cr_expect_eq(resp->hits[0]->n_fields, 0);
    protobuf_c_message_free_unpacked(&resp->base, NULL);

    /* a blob that is not one (its first head names a field far beyond the schema) */
    uint8_t junk[] = {0xff, 0xff, 0x01};
    cr_assert_eq(index_set_stored(ix, 2, junk, sizeof(junk)), 0);
    cr_assert_eq(query_pb_search_response(ix, q, r, fields, nfields, 5, &resp, &err), BDX_ECORRUPT);
    cr_expect_null(resp);
    cr_expect_not_null(strstr(err.msg, "id 2: stored blob:"), "%s", err.msg);

    search_result_free(r);
    free(fields);
    docstore_buf_free(&buf);
    query_free(q);
    index_free(ix);
}

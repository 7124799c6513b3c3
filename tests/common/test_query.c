/*
 * test_query: building, canonicalizing, fingerprinting and validating queries (common/query.c).
 * Every bad input has a test that checks the code and the message.
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "common/query.h"
#include "common/schema.h"

static schema_t *schema;

static void setup(void)
{
    cr_assert_eq(schema_new("images", &schema), 0);
    cr_assert_eq(schema_add_filter(schema, "userId", SCHEMA_INT, false, false), 0);
    cr_assert_eq(schema_add_filter(schema, "tagIds", SCHEMA_INT, true, false), 0);
    cr_assert_eq(schema_add_filter(schema, "nsfw", SCHEMA_BOOL, false, true), 0);
    cr_assert_eq(schema_add_filter(schema, "baseModel", SCHEMA_STRING, false, true), 0);
    cr_assert_eq(schema_add_sort(schema, "sortAt", 32), 0);
    cr_assert_eq(schema_add_sort(schema, "tiny", 3), 0);
    cr_assert_eq(schema_add_stored(schema, "title", SCHEMA_STRING), 0);
    cr_assert_eq(schema_validate(schema, NULL), 0);
}

static void teardown(void)
{
    schema_free(schema);
}

TestSuite(query, .init = setup, .fini = teardown);

static char *text_of(const query_node_t *n)
{
    char *t = NULL;
    cr_assert_eq(query_canonical_text(n, &t), 0);
    return t;
}

static void expect_canonical(query_node_t *n, const char *want)
{
    cr_assert(n);
    cr_assert_eq(query_canonicalize(&n), 0);
    char *t = text_of(n);
    cr_expect_str_eq(t, want);
    free(t);
    query_node_free(n);
}

/* Validates a query with `filter` (taking it) and returns the code; err receives the message. */
static int validate(query_node_t *filter, const query_limits_t *lim, bdx_error_t *err)
{
    query_t *q = query_new("images");
    cr_assert(q);
    query_set_filter(q, filter);
    bdx_error_clear(err);
    int rc = query_validate(q, schema, lim, NULL, err);
    query_free(q);
    return rc;
}

static void expect_error(query_node_t *filter, int code, const char *msg)
{
    bdx_error_t err;
    int rc = validate(filter, NULL, &err);
    cr_expect_eq(rc, code, "rc %d (%s), expected %d", rc, err.msg, code);
    cr_expect_eq(err.code, code);
    cr_expect_str_eq(err.msg, msg);
}

/* ---- builders ---- */

Test(query, builders_and_text)
{
    query_value_t tags[] = {query_int(7), query_int(3)};
    query_node_t *n =
        query_and(3, query_eq("nsfw", query_bool(false)), query_in(QUERY_IN, "tagIds", tags, 2),
                  query_not(query_eq("baseModel", query_str("SD 1.5"))));
    cr_assert(n);
    cr_expect_eq(query_node_count(n), 5);
    char *t = text_of(n);
    cr_expect_str_eq(t, "and(eq(nsfw,false),in(tagIds,[7,3]),not(eq(baseModel,\"SD 1.5\")))");
    free(t);
    query_node_t *c = query_node_clone(n);
    t = text_of(c);
    cr_expect_str_eq(t, "and(eq(nsfw,false),in(tagIds,[7,3]),not(eq(baseModel,\"SD 1.5\")))");
    free(t);
    query_node_free(c);
    query_node_free(n);
}

Test(query, null_child_frees_everything)
{
    /* a NULL child (failed allocation upstream) makes the whole builder NULL, leak-free */
    cr_expect_null(query_and(2, query_eq("userId", query_int(1)), NULL));
    cr_expect_null(query_not(NULL));
    query_node_t *g = query_group(QUERY_OR);
    cr_assert(g);
    cr_expect_eq(query_add(g, NULL), -ENOMEM);
    cr_expect_eq(query_add(g, query_eq("userId", query_int(1))), 0);
    query_node_t *leaf = query_eq("userId", query_int(1));
    cr_expect_eq(query_add(leaf, query_eq("userId", query_int(2))), BDX_EINVAL);
    query_node_free(leaf);
    query_node_free(g);
    cr_expect_null(query_group(QUERY_EQ));
}

Test(query, text_quotes_strings_and_odd_names)
{
    query_node_t *n = query_eq("weird name", query_strn("a\"b\\c\n\x01", 7));
    char *t = text_of(n);
    cr_expect_str_eq(t, "eq(\"weird name\",\"a\\\"b\\\\c\\x0a\\x01\")");
    free(t);
    query_node_free(n);
    n = query_prefilter("safe");
    t = text_of(n);
    cr_expect_str_eq(t, "prefilter(\"safe\")");
    free(t);
    query_node_free(n);
    t = text_of(NULL);
    cr_expect_str_eq(t, "all");
    free(t);
}

/* ---- canonicalization ---- */

Test(query, canonical_flatten_sort_dedupe)
{
    expect_canonical(
        query_and(2, query_eq("userId", query_int(2)),
                  query_and(2, query_eq("tagIds", query_int(1)), query_eq("userId", query_int(2)))),
        "and(eq(tagIds,1),eq(userId,2))");
    expect_canonical(query_or(2, query_or(1, query_eq("userId", query_int(1))),
                              query_eq("userId", query_int(1))),
                     "eq(userId,1)");
    /* And inside Or is not flattened */
    expect_canonical(
        query_or(2,
                 query_and(2, query_eq("userId", query_int(2)), query_eq("userId", query_int(1))),
                 query_eq("nsfw", query_bool(true))),
        "or(and(eq(userId,1),eq(userId,2)),eq(nsfw,true))");
}

Test(query, canonical_not_not)
{
    expect_canonical(query_not(query_not(query_eq("userId", query_int(5)))), "eq(userId,5)");
    expect_canonical(query_not(query_not(query_not(query_eq("userId", query_int(5))))),
                     "not(eq(userId,5))");
}

Test(query, canonical_in_lists)
{
    query_value_t v[] = {query_int(9), query_int(-1), query_int(9), query_int(3)};
    expect_canonical(query_in(QUERY_IN, "tagIds", v, 4), "in(tagIds,[-1,3,9])");
    query_value_t one[] = {query_int(4), query_int(4)};
    expect_canonical(query_in(QUERY_NOT_IN, "tagIds", one, 2), "not_eq(tagIds,4)");
    query_value_t s[] = {query_str("b"), query_str("a"), query_str("b")};
    expect_canonical(query_in(QUERY_IN, "baseModel", s, 3), "in(baseModel,[\"a\",\"b\"])");
    expect_canonical(query_in(QUERY_IN, "tagIds", NULL, 0), "in(tagIds,[])");
}

Test(query, fingerprint_binds_filter_sort_index_not_limit)
{
    query_t *a = query_new("images"), *b = query_new("images");
    cr_assert(a && b);
    query_node_t *fa =
        query_and(2, query_eq("userId", query_int(1)), query_eq("tagIds", query_int(2)));
    query_node_t *fb = query_and(2, query_eq("tagIds", query_int(2)),
                                 query_and(1, query_eq("userId", query_int(1))));
    cr_assert_eq(query_canonicalize(&fa), 0);
    cr_assert_eq(query_canonicalize(&fb), 0);
    query_set_sort(a, "sortAt", true);
    query_set_sort(b, "sortAt", true);
    a->limit = 10;
    b->limit = 500;
    uint64_t ha, hb;
    cr_assert_eq(query_fingerprint(a, fa, &ha), 0);
    cr_assert_eq(query_fingerprint(b, fb, &hb), 0);
    cr_expect_eq(ha, hb, "equivalent queries with different limits share a fingerprint");

    query_set_sort(b, "sortAt", false);
    cr_assert_eq(query_fingerprint(b, fb, &hb), 0);
    cr_expect_neq(ha, hb, "direction is part of the fingerprint");
    query_set_sort(b, "tiny", true);
    cr_assert_eq(query_fingerprint(b, fb, &hb), 0);
    cr_expect_neq(ha, hb, "sort field is part of the fingerprint");
    query_set_sort(b, NULL, true);
    cr_assert_eq(query_fingerprint(b, fb, &hb), 0);
    cr_expect_neq(ha, hb);
    query_set_sort(b, "sortAt", true);
    cr_assert_eq(query_fingerprint(b, NULL, &hb), 0);
    cr_expect_neq(ha, hb, "filter is part of the fingerprint");
    query_t *c = query_new("videos");
    query_set_sort(c, "sortAt", true);
    cr_assert_eq(query_fingerprint(c, fa, &hb), 0);
    cr_expect_neq(ha, hb, "index is part of the fingerprint");

    query_node_free(fa);
    query_node_free(fb);
    query_free(a);
    query_free(b);
    query_free(c);
}

/* ---- validation ---- */

Test(query, valid_query_binds_fields)
{
    query_t *q = query_new("images");
    query_node_t *f = query_and(
        4, query_eq("userId", query_int(-5)), query_cmp(QUERY_GTE, "sortAt", query_int(100)),
        query_cmp(QUERY_LT, "id", query_int(4000000000LL)), query_null(QUERY_IS_NULL, "baseModel"));
    query_set_filter(q, f);
    query_set_sort(q, "sortAt", true);
    uint32_t limit = 0;
    bdx_error_t err;
    cr_assert_eq(query_validate(q, schema, NULL, &limit, &err), 0, "%s", err.msg);
    cr_expect_eq(limit, 50, "default page size");
    cr_expect_eq(f->children[0]->field_kind, QUERY_FIELD_FILTER);
    cr_expect_eq(f->children[0]->field_index, 0);
    cr_expect_eq(f->children[1]->field_kind, QUERY_FIELD_SORT);
    cr_expect_eq(f->children[1]->field_index, 0);
    cr_expect_eq(f->children[2]->field_kind, QUERY_FIELD_SLOT);
    cr_expect_eq(f->children[3]->field_kind, QUERY_FIELD_FILTER);
    cr_expect_eq(f->children[3]->field_index, 3);
    q->limit = 1000;
    cr_expect_eq(query_validate(q, schema, NULL, &limit, &err), 0);
    cr_expect_eq(limit, 1000);
    query_free(q);
}

Test(query, error_unknown_field)
{
    expect_error(query_eq("nope", query_int(1)), BDX_EINVAL, "field nope: unknown field");
}

Test(query, error_stored_field)
{
    expect_error(query_eq("title", query_str("x")), BDX_EINVAL,
                 "field title: stored-only field cannot be used in a filter");
}

Test(query, error_wrong_types)
{
    expect_error(query_eq("userId", query_str("7")), BDX_EINVAL,
                 "field userId: expected int value, got string");
    expect_error(query_eq("nsfw", query_int(1)), BDX_EINVAL,
                 "field nsfw: expected bool value, got int");
    query_value_t v[] = {query_str("a"), query_int(2)};
    expect_error(query_in(QUERY_IN, "baseModel", v, 2), BDX_EINVAL,
                 "field baseModel: expected string value, got int");
    expect_error(query_eq("sortAt", query_bool(true)), BDX_EINVAL,
                 "field sortAt: sort field expects int values, got bool");
    expect_error(query_eq("id", query_str("1")), BDX_EINVAL,
                 "field id: document id expects int values, got string");
}

Test(query, error_sort_values_out_of_range)
{
    expect_error(query_cmp(QUERY_GT, "sortAt", query_int(-1)), BDX_EINVAL,
                 "field sortAt: value -1 is negative (sort field)");
    expect_error(query_cmp(QUERY_LT, "tiny", query_int(8)), BDX_EINVAL,
                 "field tiny: value 8 does not fit in 3 bits (sort field)");
    expect_error(query_between("sortAt", query_int(0), query_int(1LL << 32)), BDX_EINVAL,
                 "field sortAt: value 4294967296 does not fit in 32 bits (sort field)");
    expect_error(query_eq("id", query_int(-2)), BDX_EINVAL,
                 "field id: value -2 is negative (document id)");
    expect_error(query_eq("id", query_int(1LL << 32)), BDX_EINVAL,
                 "field id: value 4294967296 does not fit in 32 bits (document id)");
}

Test(query, error_range_on_non_int_field)
{
    expect_error(query_cmp(QUERY_GT, "baseModel", query_str("a")), BDX_EINVAL,
                 "field baseModel: gt is not supported on a string field");
    expect_error(query_between("nsfw", query_bool(false), query_bool(true)), BDX_EINVAL,
                 "field nsfw: between is not supported on a bool field");
}

Test(query, error_in_list_over_limit)
{
    query_limits_t lim;
    query_limits_default(&lim);
    lim.max_in = 3;
    query_value_t v[] = {query_int(1), query_int(2), query_int(3), query_int(4)};
    bdx_error_t err;
    cr_expect_eq(validate(query_in(QUERY_NOT_IN, "tagIds", v, 4), &lim, &err), BDX_ELIMIT);
    cr_expect_str_eq(err.msg, "field tagIds: not_in list has 4 values, limit is 3");
    cr_expect_eq(validate(query_in(QUERY_IN, "tagIds", v, 3), &lim, &err), 0);
}

Test(query, error_too_many_clauses)
{
    query_limits_t lim;
    query_limits_default(&lim);
    lim.max_clauses = 4;
    bdx_error_t err;
    query_node_t *f =
        query_or(4, query_eq("userId", query_int(1)), query_eq("userId", query_int(2)),
                 query_eq("userId", query_int(3)), query_eq("userId", query_int(4)));
    cr_expect_eq(validate(f, &lim, &err), BDX_ELIMIT);
    cr_expect_str_eq(err.msg, "filter has more than 4 clauses");
}

Test(query, error_too_deep)
{
    query_limits_t lim;
    query_limits_default(&lim);
    query_node_t *n = query_eq("userId", query_int(1));
    for (int i = 0; i < 32; i++)
        n = query_not(n);
    bdx_error_t err;
    cr_expect_eq(validate(n, &lim, &err), BDX_ELIMIT); /* 33 levels */
    cr_expect_str_eq(err.msg, "filter nesting is deeper than the limit of 32");
    n = query_eq("userId", query_int(1));
    for (int i = 0; i < 31; i++)
        n = query_not(n);
    cr_expect_eq(validate(n, &lim, &err), 0, "%s", err.msg); /* exactly 32 levels */
}

Test(query, error_empty_groups)
{
    expect_error(query_group(QUERY_AND), BDX_EINVAL, "and: has no clauses");
    expect_error(query_and(2, query_eq("userId", query_int(1)), query_group(QUERY_OR)), BDX_EINVAL,
                 "or: has no clauses");
}

Test(query, error_limits)
{
    query_t *q = query_new("images");
    bdx_error_t err;
    q->limit = 0;
    cr_expect_eq(query_validate(q, schema, NULL, NULL, &err), BDX_EINVAL);
    cr_expect_str_eq(err.msg, "limit 0: must be at least 1");
    q->limit = -7;
    cr_expect_eq(query_validate(q, schema, NULL, NULL, &err), BDX_EINVAL);
    cr_expect_str_eq(err.msg, "limit -7: must be at least 1");
    q->limit = 1001;
    cr_expect_eq(query_validate(q, schema, NULL, NULL, &err), BDX_ELIMIT);
    cr_expect_str_eq(err.msg, "limit 1001: exceeds the maximum page size 1000");
    query_free(q);
}

Test(query, error_sort_fields)
{
    query_t *q = query_new("images");
    bdx_error_t err;
    query_set_sort(q, "userId", true);
    cr_expect_eq(query_validate(q, schema, NULL, NULL, &err), BDX_EINVAL);
    cr_expect_str_eq(err.msg, "sort field userId: not a sort field");
    query_set_sort(q, "id", false); /* slot order, either direction */
    cr_expect_eq(query_validate(q, schema, NULL, NULL, &err), 0);
    query_set_sort(q, "nope", false);
    cr_expect_eq(query_validate(q, schema, NULL, NULL, &err), BDX_EINVAL);
    cr_expect_str_eq(err.msg, "sort field nope: unknown field");
    query_set_sort(q, "tiny", false);
    cr_expect_eq(query_validate(q, schema, NULL, NULL, &err), 0);
    query_free(q);
}

Test(query, error_malformed_nodes)
{
    /* hand-built nodes a translator might get wrong */
    query_node_t *n = query_eq("userId", query_int(1));
    n->nvalues = 0;
    expect_error(n, BDX_EINVAL, "field userId: eq takes 1 value, got 0");
    expect_error(query_null(QUERY_IS_NULL, ""), BDX_EINVAL, "is_null: missing field name");
    expect_error(query_prefilter(""), BDX_EINVAL, "prefilter: missing name");
}

Test(query, canonical_integers)
{
    /* the fingerprint's text prints integers as "%lld" would, extremes included */
    query_value_t v[] = {
        query_int(INT64_MIN),       query_int(-10),      query_int(0), query_int(7),
        query_int(1234567890123LL), query_int(INT64_MAX)};
    expect_canonical(query_in(QUERY_IN, "tags", v, 6),
                     "in(tags,[-9223372036854775808,-10,0,7,1234567890123,9223372036854775807])");
    expect_canonical(query_cmp(QUERY_LT, "tags", query_int(-1)), "lt(tags,-1)");
}

/* One bounds check (query_node_bounds) serves the planner and the per-slot matcher. */
static bool bounds(query_node_t *n, uint64_t max, uint64_t *lo, uint64_t *hi)
{
    bool ok;
    cr_assert_not_null(n);
    ok = query_node_bounds(n, max, lo, hi);
    query_node_free(n);
    return ok;
}

Test(query, node_bounds_edges)
{
    uint64_t lo, hi;
    cr_assert(bounds(query_cmp(QUERY_EQ, "s", query_int(7)), 100, &lo, &hi));
    cr_assert(lo == 7 && hi == 7);
    cr_assert(bounds(query_cmp(QUERY_GT, "s", query_int(7)), 100, &lo, &hi));
    cr_assert(lo == 8 && hi == 100);
    cr_assert_not(bounds(query_cmp(QUERY_GT, "s", query_int(100)), 100, &lo, &hi));
    cr_assert_not(bounds(query_cmp(QUERY_GT, "s", query_int(-1)), UINT64_MAX, &lo, &hi));
    cr_assert(bounds(query_cmp(QUERY_GTE, "s", query_int(0)), 100, &lo, &hi));
    cr_assert(lo == 0 && hi == 100);
    cr_assert_not(bounds(query_cmp(QUERY_LT, "s", query_int(0)), 100, &lo, &hi));
    cr_assert(bounds(query_cmp(QUERY_LTE, "s", query_int(500)), 100, &lo, &hi));
    cr_assert(lo == 0 && hi == 100);
    cr_assert(bounds(query_between("s", query_int(5), query_int(9)), 100, &lo, &hi));
    cr_assert(lo == 5 && hi == 9);
    cr_assert_not(bounds(query_between("s", query_int(9), query_int(5)), 100, &lo, &hi));
    cr_assert_not(bounds(query_cmp(QUERY_GTE, "s", query_int(101)), 100, &lo, &hi));
}

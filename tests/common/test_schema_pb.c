/* Tests common/schema_pb.c: IndexSchema <-> schema_t conversion, defaults, every validation
 * error (code, path and reason), the index-name rule, and schema_pb_diff(). */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/error.h"
#include "common/schema_pb.h"

/* A request-shaped IndexSchema in plain storage; each test breaks one thing. */
typedef struct fixture {
    Bitdex__V1__FilterFieldSpec filters[4];
    Bitdex__V1__FilterFieldSpec *filter_ptrs[4];
    Bitdex__V1__SortFieldSpec sorts[4];
    Bitdex__V1__SortFieldSpec *sort_ptrs[4];
    Bitdex__V1__ComputedSortSpec computed;
    char *sources[2];
    Bitdex__V1__StoredFieldSpec stored[2];
    Bitdex__V1__StoredFieldSpec *stored_ptrs[2];
    Bitdex__V1__IndexLimits limits;
    Bitdex__V1__IndexSchema schema;
} fixture_t;

static void filter(fixture_t *f, size_t i, const char *name, Bitdex__V1__FilterFieldType t,
                   bool multi, bool nullable)
{
    bitdex__v1__filter_field_spec__init(&f->filters[i]);
    f->filters[i].name = (char *)name;
    f->filters[i].type = t;
    f->filters[i].multi_valued = multi;
    f->filters[i].nullable = nullable;
    f->filter_ptrs[i] = &f->filters[i];
}

static void sort(fixture_t *f, size_t i, const char *name, uint32_t bits)
{
    bitdex__v1__sort_field_spec__init(&f->sorts[i]);
    f->sorts[i].name = (char *)name;
    f->sorts[i].bits = bits;
    f->sort_ptrs[i] = &f->sorts[i];
}

/* nsfwLevel INT, tagIds INT multi nullable, blockedFor STRING nullable; createdAt (bits 0 =
 * default), publishedAt 32, sortAt = greatest(createdAt, publishedAt); url STRING; no limits. */
static void fixture_init(fixture_t *f)
{
    memset(f, 0, sizeof(*f));
    filter(f, 0, "nsfwLevel", BITDEX__V1__FILTER_FIELD_TYPE__FILTER_FIELD_TYPE_INT, false, false);
    filter(f, 1, "tagIds", BITDEX__V1__FILTER_FIELD_TYPE__FILTER_FIELD_TYPE_INT, true, true);
    filter(f, 2, "blockedFor", BITDEX__V1__FILTER_FIELD_TYPE__FILTER_FIELD_TYPE_STRING, false,
           true);
    sort(f, 0, "createdAt", 0);
    sort(f, 1, "publishedAt", 32);
    sort(f, 2, "sortAt", 32);
    bitdex__v1__computed_sort_spec__init(&f->computed);
    f->computed.function = BITDEX__V1__COMPUTE_FUNCTION__COMPUTE_FUNCTION_GREATEST;
    f->sources[0] = "createdAt";
    f->sources[1] = "publishedAt";
    f->computed.sources = f->sources;
    f->computed.n_sources = 2;
    f->sorts[2].computed = &f->computed;
    bitdex__v1__stored_field_spec__init(&f->stored[0]);
    f->stored[0].name = "url";
    f->stored[0].type = BITDEX__V1__STORED_FIELD_TYPE__STORED_FIELD_TYPE_STRING;
    f->stored_ptrs[0] = &f->stored[0];
    bitdex__v1__index_limits__init(&f->limits);
    bitdex__v1__index_schema__init(&f->schema);
    f->schema.filter_fields = f->filter_ptrs;
    f->schema.n_filter_fields = 3;
    f->schema.sort_fields = f->sort_ptrs;
    f->schema.n_sort_fields = 3;
    f->schema.stored_fields = f->stored_ptrs;
    f->schema.n_stored_fields = 1;
}

static void expect_invalid_named(const char *index, const Bitdex__V1__IndexSchema *pb,
                                 const char *want)
{
    bdx_error_t err = {0};
    schema_t *s = (schema_t *)1;
    limits_t l;

    cr_assert_eq(schema_pb_to_schema(index, pb, &s, &l, &err), BDX_EINVAL, "want EINVAL: %s", want);
    cr_assert_null(s);
    cr_assert_eq(err.code, BDX_EINVAL);
    cr_assert_not_null(strstr(err.msg, want), "message '%s' must contain '%s'", err.msg, want);
}

static void expect_invalid(const fixture_t *f, const char *want)
{
    expect_invalid_named("images", &f->schema, want);
}

Test(schema_pb, valid_schema_with_defaults_filled_in)
{
    fixture_t f;
    schema_t *s;
    limits_t l;
    bdx_error_t err = {0};

    fixture_init(&f);
    cr_assert_eq(schema_pb_to_schema("images", &f.schema, &s, &l, &err), 0, "%s", err.msg);
    cr_assert_eq(schema_validate(s, NULL), 0);
    cr_assert_str_eq(s->name, "images");
    cr_assert_eq(s->filter_count, 3);
    cr_assert_eq(s->filter_fields[1].type, SCHEMA_INT);
    cr_assert(s->filter_fields[1].multi && s->filter_fields[1].nullable);
    cr_assert_eq(s->filter_fields[2].type, SCHEMA_STRING);
    cr_assert_eq(s->sort_count, 3);
    cr_assert_eq(s->sort_fields[0].bits, 32, "bits 0 means the default, 32");
    cr_assert_eq(s->sort_fields[2].computed, SCHEMA_COMPUTED_GREATEST);
    cr_assert_str_eq(s->sort_fields[2].sources[1], "publishedAt");
    cr_assert_eq(s->stored_count, 1);
    cr_assert_eq(s->stored_fields[0].type, SCHEMA_STRING);
    cr_assert_eq(l.max_page_size, 1000);
    cr_assert_eq(l.max_prefilters, 64);
    cr_assert_eq(l.max_stored_bytes, 65536);
    schema_free(s);
}

Test(schema_pb, round_trip_is_identical_and_stable)
{
    fixture_t f;
    schema_t *s, *s2;
    limits_t l, l2;
    Bitdex__V1__IndexSchema *pb, *pb2;
    uint8_t b1[1024], b2[1024];
    size_t n1, n2;
    char diff[256];

    fixture_init(&f);
    f.limits.max_page_size = 200;
    f.schema.limits = &f.limits;
    cr_assert_eq(schema_pb_to_schema("images", &f.schema, &s, &l, NULL), 0);
    cr_assert_eq(l.max_page_size, 200);
    cr_assert_eq(schema_pb_from_schema(s, &l, &pb), 0);
    cr_assert_eq(pb->sort_fields[0]->bits, 32, "reported with the default filled in");
    cr_assert_not_null(pb->limits);
    cr_assert_eq(pb->limits->max_filter_depth, 32);
    cr_assert_eq(pb->sort_fields[2]->computed->n_sources, 2);
    cr_assert_eq(schema_pb_to_schema("images", pb, &s2, &l2, NULL), 0);
    cr_assert_not(schema_pb_diff(s, &l, "a", s2, &l2, "b", diff, sizeof(diff)), "%s", diff);
    /* Converting the normalized form again gives the same bytes. */
    cr_assert_eq(schema_pb_from_schema(s2, &l2, &pb2), 0);
    n1 = bitdex__v1__index_schema__get_packed_size(pb);
    n2 = bitdex__v1__index_schema__get_packed_size(pb2);
    cr_assert(n1 == n2 && n1 < sizeof(b1));
    bitdex__v1__index_schema__pack(pb, b1);
    bitdex__v1__index_schema__pack(pb2, b2);
    cr_assert_eq(memcmp(b1, b2, n1), 0);
    schema_pb_free(pb);
    schema_pb_free(pb2);
    schema_free(s);
    schema_free(s2);
    schema_pb_free(NULL);
}

Test(schema_pb, index_names)
{
    fixture_t f;
    char longest[SCHEMA_PB_INDEX_NAME_MAX + 2];
    bdx_error_t err = {0};

    fixture_init(&f);
    expect_invalid_named("", &f.schema, "index: required");
    expect_invalid_named(NULL, &f.schema, "index: required");
    expect_invalid_named("-images", &f.schema, "index: invalid name \"-images\"");
    expect_invalid_named("_images", &f.schema, "index: invalid name");
    expect_invalid_named("a.b", &f.schema, "index: invalid name \"a.b\"");
    expect_invalid_named("..", &f.schema, "index: invalid name");
    expect_invalid_named("a/b", &f.schema, "index: invalid name");
    expect_invalid_named("a b", &f.schema, "(want [A-Za-z0-9][A-Za-z0-9_-]{0,63})");
    expect_invalid_named("bad\n", &f.schema, "\"bad\\x0a\"");
    memset(longest, 'a', SCHEMA_PB_INDEX_NAME_MAX + 1);
    longest[SCHEMA_PB_INDEX_NAME_MAX + 1] = '\0';
    expect_invalid_named(longest, &f.schema, "index: invalid name");
    longest[SCHEMA_PB_INDEX_NAME_MAX] = '\0';
    cr_assert_eq(schema_pb_check_index_name(longest, "index", &err), 0, "%s", err.msg);
    cr_assert_eq(schema_pb_check_index_name("img-2024_v2", "index", &err), 0);
    cr_assert_eq(schema_pb_check_index_name("2024images", "index", &err), 0);
    cr_assert_eq(schema_pb_check_index_name("x-", "path.to", &err), 0);
    cr_assert_eq(schema_pb_check_index_name("", "path.to", &err), BDX_EINVAL);
    cr_assert_str_eq(err.msg, "path.to: required");
}

/* The contract allows `-` and a leading digit in index names: a full conversion must accept
 * them (schema_validate() must agree with the contract's rule). */
Test(schema_pb, index_names_with_dash_and_leading_digit_convert)
{
    fixture_t f;
    schema_t *s;
    limits_t l;
    bdx_error_t err = {0};

    fixture_init(&f);
    cr_assert_eq(schema_pb_to_schema("img-2024", &f.schema, &s, &l, &err), 0, "%s", err.msg);
    schema_free(s);
    cr_assert_eq(schema_pb_to_schema("2024images", &f.schema, &s, &l, &err), 0, "%s", err.msg);
    schema_free(s);
}

Test(schema_pb, schema_required)
{
    expect_invalid_named("images", NULL, "schema: required");
}

Test(schema_pb, field_names)
{
    fixture_t f;
    char long_name[SCHEMA_NAME_MAX + 2];

    fixture_init(&f);
    f.filters[0].name = "";
    expect_invalid(&f, "schema.filter_fields[0].name: required");
    fixture_init(&f);
    f.filters[1].name = "1tag";
    expect_invalid(&f, "schema.filter_fields[1].name: invalid name \"1tag\" "
                       "(want [A-Za-z_][A-Za-z0-9_]{0,63})");
    fixture_init(&f);
    f.sorts[1].name = "published-at";
    expect_invalid(&f, "schema.sort_fields[1].name: invalid name");
    fixture_init(&f);
    f.stored[0].name = "id";
    expect_invalid(&f, "schema.stored_fields[0].name: \"id\" is reserved");
    fixture_init(&f);
    memset(long_name, 'x', sizeof(long_name) - 1);
    long_name[sizeof(long_name) - 1] = '\0';
    f.filters[2].name = long_name;
    expect_invalid(&f, "schema.filter_fields[2].name: invalid name");
    long_name[SCHEMA_NAME_MAX] = '\0'; /* exactly 64: fine */
    {
        schema_t *s;
        limits_t l;
        cr_assert_eq(schema_pb_to_schema("images", &f.schema, &s, &l, NULL), 0);
        schema_free(s);
    }
}

Test(schema_pb, duplicate_names_across_kinds)
{
    fixture_t f;

    fixture_init(&f);
    f.filters[2].name = "tagIds";
    expect_invalid(&f, "schema.filter_fields[2].name: \"tagIds\" is already used by "
                       "schema.filter_fields[1]");
    fixture_init(&f);
    f.stored[0].name = "publishedAt";
    expect_invalid(&f, "schema.stored_fields[0].name: \"publishedAt\" is already used by "
                       "schema.sort_fields[1]");
    fixture_init(&f);
    f.sorts[0].name = "nsfwLevel";
    expect_invalid(&f, "schema.sort_fields[0].name: \"nsfwLevel\" is already used by "
                       "schema.filter_fields[0]");
}

Test(schema_pb, types)
{
    fixture_t f;

    fixture_init(&f);
    f.filters[1].type = BITDEX__V1__FILTER_FIELD_TYPE__FILTER_FIELD_TYPE_UNSPECIFIED;
    expect_invalid(&f, "schema.filter_fields[1].type: required");
    fixture_init(&f);
    f.filters[0].type = (Bitdex__V1__FilterFieldType)42;
    expect_invalid(&f, "schema.filter_fields[0].type: unknown value 42");
    fixture_init(&f);
    f.stored[0].type = BITDEX__V1__STORED_FIELD_TYPE__STORED_FIELD_TYPE_UNSPECIFIED;
    expect_invalid(&f, "schema.stored_fields[0].type: required");
    fixture_init(&f);
    f.stored[0].type = BITDEX__V1__STORED_FIELD_TYPE__STORED_FIELD_TYPE_BYTES;
    expect_invalid(&f, "schema.stored_fields[0].type: STORED_FIELD_TYPE_BYTES is not supported");
    fixture_init(&f);
    f.stored[0].type = BITDEX__V1__STORED_FIELD_TYPE__STORED_FIELD_TYPE_DOUBLE;
    expect_invalid(&f, "schema.stored_fields[0].type: STORED_FIELD_TYPE_DOUBLE");
    fixture_init(&f);
    f.stored[0].type = (Bitdex__V1__StoredFieldType)9;
    expect_invalid(&f, "schema.stored_fields[0].type: unknown value 9");
}

Test(schema_pb, bits)
{
    fixture_t f;
    schema_t *s;
    limits_t l;

    fixture_init(&f);
    f.sorts[2].bits = 65;
    expect_invalid(&f, "schema.sort_fields[2].bits: 65 > 64");
    fixture_init(&f);
    f.sorts[1].bits = 64;
    f.sorts[2].bits = 64;
    cr_assert_eq(schema_pb_to_schema("images", &f.schema, &s, &l, NULL), 0);
    cr_assert_eq(s->sort_fields[1].bits, 64);
    schema_free(s);
    fixture_init(&f);
    f.sorts[0].bits = 1;
    f.sorts[1].bits = 1;
    f.sorts[2].bits = 1;
    cr_assert_eq(schema_pb_to_schema("images", &f.schema, &s, &l, NULL), 0);
    schema_free(s);
}

Test(schema_pb, computed_fields)
{
    fixture_t f;

    fixture_init(&f);
    f.computed.function = BITDEX__V1__COMPUTE_FUNCTION__COMPUTE_FUNCTION_UNSPECIFIED;
    expect_invalid(&f, "schema.sort_fields[2].computed.function: required");
    fixture_init(&f);
    f.computed.function = (Bitdex__V1__ComputeFunction)7;
    expect_invalid(&f, "schema.sort_fields[2].computed.function: unknown value 7");
    fixture_init(&f);
    f.computed.n_sources = 1;
    expect_invalid(&f, "schema.sort_fields[2].computed.sources: need exactly 2, got 1");
    fixture_init(&f);
    f.sources[1] = "";
    expect_invalid(&f, "schema.sort_fields[2].computed.sources[1]: required");
    fixture_init(&f);
    f.sources[0] = "nope";
    expect_invalid(&f, "schema.sort_fields[2].computed.sources[0]: \"nope\" is not a field");
    fixture_init(&f);
    f.sources[1] = "nsfwLevel";
    expect_invalid(&f, "schema.sort_fields[2].computed.sources[1]: \"nsfwLevel\" is not a sort "
                       "field");
    fixture_init(&f);
    f.sources[0] = "sortAt";
    expect_invalid(&f, "schema.sort_fields[2].computed.sources[0]: \"sortAt\" is the field itself");
    fixture_init(&f);
    f.sources[1] = "createdAt";
    expect_invalid(&f, "schema.sort_fields[2].computed.sources: the two sources must differ");
    fixture_init(&f);
    f.sorts[2].bits = 16;
    expect_invalid(&f, "schema.sort_fields[2].computed.sources[0]: \"createdAt\" has 32 bits, "
                       "wider than this field's 16");
    /* a computed source */
    fixture_init(&f);
    {
        Bitdex__V1__ComputedSortSpec other = BITDEX__V1__COMPUTED_SORT_SPEC__INIT;
        char *other_sources[2] = {"sortAt", "createdAt"};
        other.function = BITDEX__V1__COMPUTE_FUNCTION__COMPUTE_FUNCTION_LEAST;
        other.sources = other_sources;
        other.n_sources = 2;
        sort(&f, 3, "other", 32);
        f.sorts[3].computed = &other;
        f.schema.n_sort_fields = 4;
        expect_invalid(&f, "schema.sort_fields[3].computed.sources[0]: \"sortAt\" is itself "
                           "computed");
    }
}

Test(schema_pb, computed_may_name_sources_declared_after_it)
{
    fixture_t f;
    schema_t *s;
    limits_t l;
    bdx_error_t err = {0};

    fixture_init(&f);
    /* sortAt first, its sources after */
    Bitdex__V1__SortFieldSpec *p0 = f.sort_ptrs[0];
    f.sort_ptrs[0] = f.sort_ptrs[2];
    f.sort_ptrs[2] = p0;
    cr_assert_eq(schema_pb_to_schema("images", &f.schema, &s, &l, &err), 0, "%s", err.msg);
    cr_assert_str_eq(s->sort_fields[0].name, "sortAt");
    schema_free(s);
}

Test(schema_pb, field_counts)
{
    Bitdex__V1__IndexSchema pb = BITDEX__V1__INDEX_SCHEMA__INIT;
    Bitdex__V1__FilterFieldSpec *fp[SCHEMA_MAX_FILTER_FIELDS + 1];
    Bitdex__V1__FilterFieldSpec fields[SCHEMA_MAX_FILTER_FIELDS + 1];
    char names[SCHEMA_MAX_FILTER_FIELDS + 1][16];
    schema_t *s;
    limits_t l;
    bdx_error_t err = {0};

    for (size_t i = 0; i <= SCHEMA_MAX_FILTER_FIELDS; i++) {
        bitdex__v1__filter_field_spec__init(&fields[i]);
        snprintf(names[i], sizeof(names[i]), "f%zu", i);
        fields[i].name = names[i];
        fields[i].type = BITDEX__V1__FILTER_FIELD_TYPE__FILTER_FIELD_TYPE_BOOL;
        fp[i] = &fields[i];
    }
    pb.filter_fields = fp;
    pb.n_filter_fields = SCHEMA_MAX_FILTER_FIELDS;
    cr_assert_eq(schema_pb_to_schema("images", &pb, &s, &l, &err), 0, "%s", err.msg);
    schema_free(s);
    pb.n_filter_fields = SCHEMA_MAX_FILTER_FIELDS + 1;
    expect_invalid_named("images", &pb, "schema.filter_fields: 257 fields exceed the limit 256");
}

Test(schema_pb, limits)
{
    fixture_t f;
    schema_t *s;
    limits_t l;
    const limits_spec_t *specs = limits_specs();

    for (size_t i = 0; i < LIMITS_COUNT; i++) {
        char want[128];
        uint32_t *v;
        fixture_init(&f);
        f.schema.limits = &f.limits;
        /* IndexLimits' fields are the uint32s after `base`, in limits_specs() order. */
        v = (uint32_t *)((char *)&f.limits + bitdex__v1__index_limits__descriptor.fields[i].offset);
        cr_assert_str_eq(bitdex__v1__index_limits__descriptor.fields[i].name, specs[i].name);
        *v = specs[i].cap;
        cr_assert_eq(schema_pb_to_schema("images", &f.schema, &s, &l, NULL), 0);
        cr_assert_eq(limits_get(&l, &specs[i]), specs[i].cap);
        schema_free(s);
        *v = specs[i].cap + 1;
        snprintf(want, sizeof(want), "schema.limits.%s: %u exceeds the hard cap %u", specs[i].name,
                 specs[i].cap + 1, specs[i].cap);
        expect_invalid(&f, want);
    }
}

Test(schema_pb, diff_names_the_first_difference)
{
    fixture_t f;
    schema_t *a, *b;
    limits_t la, lb;
    char diff[256];

    fixture_init(&f);
    cr_assert_eq(schema_pb_to_schema("images", &f.schema, &a, &la, NULL), 0);
    f.sorts[1].bits = 16;
    f.sorts[0].bits = 16;
    cr_assert_eq(schema_pb_to_schema("images", &f.schema, &b, &lb, NULL), 0);
    cr_assert(schema_pb_diff(a, &la, "on disk", b, &lb, "in the file", diff, sizeof(diff)));
    cr_assert_str_eq(diff, "sort_fields[0] (createdAt).bits is 32 on disk, 16 in the file");
    schema_free(b);

    fixture_init(&f);
    f.filters[1].nullable = false;
    cr_assert_eq(schema_pb_to_schema("images", &f.schema, &b, &lb, NULL), 0);
    cr_assert(schema_pb_diff(a, &la, "x", b, &lb, "y", diff, sizeof(diff)));
    cr_assert_str_eq(diff, "filter_fields[1] (tagIds).nullable is true x, false y");
    schema_free(b);

    fixture_init(&f);
    f.schema.n_stored_fields = 0;
    cr_assert_eq(schema_pb_to_schema("images", &f.schema, &b, &lb, NULL), 0);
    cr_assert(schema_pb_diff(a, &la, "x", b, &lb, "y", NULL, 0));
    cr_assert(schema_pb_diff(a, &la, "x", b, &lb, "y", diff, sizeof(diff)));
    cr_assert_str_eq(diff, "stored_fields (count) is 1 x, 0 y");
    schema_free(b);

    fixture_init(&f);
    f.computed.function = BITDEX__V1__COMPUTE_FUNCTION__COMPUTE_FUNCTION_LEAST;
    cr_assert_eq(schema_pb_to_schema("images", &f.schema, &b, &lb, NULL), 0);
    cr_assert(schema_pb_diff(a, &la, "x", b, &lb, "y", diff, sizeof(diff)));
    cr_assert_str_eq(diff, "sort_fields[2] (sortAt).computed.function is greatest x, least y");
    schema_free(b);

    fixture_init(&f);
    f.limits.max_batch_ops = 5;
    f.schema.limits = &f.limits;
    cr_assert_eq(schema_pb_to_schema("images", &f.schema, &b, &lb, NULL), 0);
    cr_assert(schema_pb_diff(a, &la, "x", b, &lb, "y", diff, sizeof(diff)));
    cr_assert_str_eq(diff, "limits.max_batch_ops is 10000 x, 5 y");
    schema_free(b);

    /* Explicit defaults equal implicit ones. */
    fixture_init(&f);
    f.limits.max_batch_ops = 10000;
    f.schema.limits = &f.limits;
    f.sorts[0].bits = 32;
    cr_assert_eq(schema_pb_to_schema("images", &f.schema, &b, &lb, NULL), 0);
    cr_assert_not(schema_pb_diff(a, &la, "x", b, &lb, "y", diff, sizeof(diff)), "%s", diff);
    schema_free(b);

    fixture_init(&f);
    cr_assert_eq(schema_pb_to_schema("other", &f.schema, &b, &lb, NULL), 0);
    cr_assert(schema_pb_diff(a, &la, "x", b, &lb, "y", diff, sizeof(diff)));
    cr_assert_str_eq(diff, "name is images x, other y");
    schema_free(b);
    schema_free(a);
}

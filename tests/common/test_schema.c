/* Tests common/schema.c: builders, copy, find, and every validation error (code and field). */
#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>

#include "common/error.h"
#include "common/schema.h"

/* The benchmark's schema shape: a valid baseline that each case breaks in one way. */
static schema_t *baseline(void)
{
    schema_t *s;

    cr_assert_eq(schema_new("images", &s), 0);
    cr_assert_eq(schema_add_filter(s, "nsfwLevel", SCHEMA_INT, false, false), 0);
    cr_assert_eq(schema_add_filter(s, "tagIds", SCHEMA_INT, true, false), 0);
    cr_assert_eq(schema_add_filter(s, "baseModel", SCHEMA_STRING, false, false), 0);
    cr_assert_eq(schema_add_filter(s, "blockedFor", SCHEMA_STRING, false, true), 0);
    cr_assert_eq(schema_add_filter(s, "poi", SCHEMA_BOOL, false, false), 0);
    cr_assert_eq(schema_add_sort(s, "createdAt", 32), 0);
    cr_assert_eq(schema_add_sort(s, "publishedAt", 32), 0);
    cr_assert_eq(schema_add_computed_sort(s, "sortAt", 32, SCHEMA_COMPUTED_GREATEST, "createdAt",
                                          "publishedAt"),
                 0);
    cr_assert_eq(schema_add_sort(s, "reactionCount", 32), 0);
    cr_assert_eq(schema_add_stored(s, "url", SCHEMA_STRING), 0);
    return s;
}

static void expect_invalid(schema_t *s, const char *field, const char *reason)
{
    bdx_error_t err = {0};

    bdx_error_clear(&err);
    cr_assert_eq(schema_validate(s, &err), BDX_EINVAL, "want EINVAL for %s (%s)", field, reason);
    cr_assert_eq(err.code, BDX_EINVAL);
    cr_assert_not_null(strstr(err.msg, field), "message '%s' must name '%s'", err.msg, field);
    cr_assert_not_null(strstr(err.msg, reason), "message '%s' must say '%s'", err.msg, reason);
    schema_free(s);
}

Test(schema, baseline_is_valid_and_findable)
{
    schema_t *s = baseline(), *c;
    bdx_error_t err = {0};

    cr_assert_eq(schema_validate(s, &err), 0, "%s", err.msg);
    cr_assert_eq(schema_filter_find(s, "tagIds"), 1);
    cr_assert_eq(schema_filter_find(s, "nope"), -1);
    cr_assert_eq(schema_filter_find(s, "createdAt"), -1);
    cr_assert_eq(schema_sort_find(s, "sortAt"), 2);
    cr_assert_eq(schema_stored_find(s, "url"), 0);
    cr_assert_eq(schema_stored_find(s, NULL), -1);
    cr_assert_eq(schema_copy(s, &c), 0);
    schema_free(s);
    cr_assert_eq(schema_validate(c, NULL), 0);
    cr_assert_str_eq(c->name, "images");
    cr_assert_eq(c->filter_count, 5);
    cr_assert_eq(c->sort_count, 4);
    cr_assert_eq(c->stored_count, 1);
    cr_assert_str_eq(c->sort_fields[2].sources[1], "publishedAt");
    cr_assert_eq(c->sort_fields[2].computed, SCHEMA_COMPUTED_GREATEST);
    cr_assert(c->filter_fields[3].nullable);
    cr_assert(c->filter_fields[1].multi);
    cr_assert_eq(schema_bits_max(64), ~0ULL);
    cr_assert_eq(schema_bits_max(1), 1);
    cr_assert_eq(schema_bits_max(32), 0xffffffffULL);
    schema_free(c);
    schema_free(NULL);
}

Test(schema, name_errors)
{
    schema_t *s = baseline();
    cr_assert_eq(schema_add_filter(s, "", SCHEMA_INT, false, false), 0);
    expect_invalid(s, "#5", "empty name");

    s = baseline();
    cr_assert_eq(schema_add_filter(s, NULL, SCHEMA_INT, false, false), 0);
    expect_invalid(s, "#5", "empty name");

    s = baseline();
    cr_assert_eq(schema_add_sort(s, "9lives", 8), 0);
    expect_invalid(s, "9lives", "invalid name");

    s = baseline();
    cr_assert_eq(schema_add_stored(s, "has space", SCHEMA_STRING), 0);
    expect_invalid(s, "has space", "invalid name");

    s = baseline();
    {
        char longname[SCHEMA_NAME_MAX + 2];
        memset(longname, 'a', sizeof(longname) - 1);
        longname[sizeof(longname) - 1] = '\0';
        cr_assert_eq(schema_add_filter(s, longname, SCHEMA_INT, false, false), 0);
        expect_invalid(s, "aaaa", "longer than");
    }

    s = baseline();
    cr_assert_eq(schema_add_filter(s, "id", SCHEMA_INT, false, false), 0);
    expect_invalid(s, "field id", "reserved");

    s = baseline();
    cr_assert_eq(schema_add_sort(s, "id", 32), 0);
    expect_invalid(s, "field id", "reserved");
}

Test(schema, duplicates_across_kinds)
{
    schema_t *s = baseline();
    cr_assert_eq(schema_add_filter(s, "tagIds", SCHEMA_INT, true, false), 0);
    expect_invalid(s, "tagIds", "duplicate");

    s = baseline();
    cr_assert_eq(schema_add_sort(s, "nsfwLevel", 8), 0);
    expect_invalid(s, "nsfwLevel", "duplicate");

    s = baseline();
    cr_assert_eq(schema_add_stored(s, "reactionCount", SCHEMA_INT), 0);
    expect_invalid(s, "reactionCount", "duplicate");
}

Test(schema, bits_and_types)
{
    schema_t *s = baseline();
    cr_assert_eq(schema_add_sort(s, "zero", 0), 0);
    expect_invalid(s, "zero", "outside 1..64");

    s = baseline();
    cr_assert_eq(schema_add_sort(s, "wide", 65), 0);
    expect_invalid(s, "wide", "outside 1..64");

    s = baseline();
    cr_assert_eq(schema_add_filter(s, "weird", (schema_field_type_t)9, false, false), 0);
    expect_invalid(s, "weird", "unknown type");

    s = baseline();
    cr_assert_eq(schema_add_stored(s, "weird", (schema_field_type_t)9), 0);
    expect_invalid(s, "weird", "unknown type");
}

Test(schema, computed_errors)
{
    schema_t *s = baseline();
    cr_assert_eq(schema_add_computed_sort(s, "c", 32, SCHEMA_COMPUTED_LEAST, "createdAt", "nope"),
                 0);
    expect_invalid(s, "field c", "unknown source nope");

    s = baseline();
    cr_assert_eq(
        schema_add_computed_sort(s, "c", 32, SCHEMA_COMPUTED_LEAST, "createdAt", "nsfwLevel"), 0);
    expect_invalid(s, "field c", "not a sort field");

    s = baseline();
    cr_assert_eq(schema_add_computed_sort(s, "c", 32, SCHEMA_COMPUTED_LEAST, "sortAt", "createdAt"),
                 0);
    expect_invalid(s, "field c", "itself computed");

    s = baseline();
    cr_assert_eq(schema_add_computed_sort(s, "c", 32, SCHEMA_COMPUTED_LEAST, "c", "createdAt"), 0);
    expect_invalid(s, "field c", "computed from itself");

    s = baseline();
    cr_assert_eq(schema_add_computed_sort(s, "c", 32, SCHEMA_COMPUTED_LEAST, "createdAt", NULL), 0);
    expect_invalid(s, "field c", "two sources");

    s = baseline();
    cr_assert_eq(
        schema_add_computed_sort(s, "c", 16, SCHEMA_COMPUTED_GREATEST, "createdAt", "publishedAt"),
        0);
    expect_invalid(s, "field c", "cannot hold");

    s = baseline();
    cr_assert_eq(
        schema_add_computed_sort(s, "c", 32, (schema_computed_t)7, "createdAt", "publishedAt"), 0);
    expect_invalid(s, "field c", "unknown computed kind");

    s = baseline();
    cr_assert_eq(schema_add_computed_sort(s, "c", 32, SCHEMA_COMPUTED_NONE, "createdAt", NULL), 0);
    expect_invalid(s, "field c", "not computed");

    /* least() also needs the wider source's bits (an absent source is ignored) */
    s = baseline();
    cr_assert_eq(schema_add_sort(s, "small", 8), 0);
    cr_assert_eq(schema_add_computed_sort(s, "c", 8, SCHEMA_COMPUTED_LEAST, "createdAt", "small"),
                 0);
    expect_invalid(s, "field c", "cannot hold");
    s = baseline();
    cr_assert_eq(schema_add_sort(s, "small", 8), 0);
    cr_assert_eq(schema_add_computed_sort(s, "c", 32, SCHEMA_COMPUTED_LEAST, "createdAt", "small"),
                 0);
    cr_assert_eq(schema_validate(s, NULL), 0);
    schema_free(s);
}

Test(schema, limits_and_index_name)
{
    schema_t *s = baseline();
    char name[32];

    for (int i = 0; i < SCHEMA_MAX_SORT_FIELDS; i++) {
        snprintf(name, sizeof(name), "s%d", i);
        cr_assert_eq(schema_add_sort(s, name, 32), 0);
    }
    expect_invalid(s, "images", "sort fields (limit");

    s = baseline();
    for (int i = 0; i <= SCHEMA_MAX_FILTER_FIELDS; i++) {
        snprintf(name, sizeof(name), "f%d", i);
        cr_assert_eq(schema_add_filter(s, name, SCHEMA_INT, false, false), 0);
    }
    expect_invalid(s, "images", "filter fields (limit");

    s = baseline();
    for (int i = 0; i <= SCHEMA_MAX_STORED_FIELDS; i++) {
        snprintf(name, sizeof(name), "x%d", i);
        cr_assert_eq(schema_add_stored(s, name, SCHEMA_INT), 0);
    }
    expect_invalid(s, "images", "stored fields (limit");

    cr_assert_eq(schema_new("bad name", &s), 0);
    expect_invalid(s, "bad name", "invalid name");

    cr_assert_eq(schema_validate(NULL, NULL), BDX_EINVAL);
}

/*
 * test_cursor: page tokens (common/cursor.c) and how search binds them to their query:
 * round trips, every kind of tampering, cursors replayed against other queries, and paging
 * through a tie group of thousands.
 */
#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>

#include "common/cursor.h"
#include "common/search.h"

Test(cursor, round_trip)
{
    uint8_t buf[CURSOR_SIZE];
    cursor_t c = {.has_value = true, .value = UINT64_MAX - 3, .slot = 4000000000u}, d;
    cursor_encode(&c, 0x1122334455667788ull, buf);
    cr_assert_eq(cursor_decode(buf, sizeof(buf), 0x1122334455667788ull, true, &d, NULL), 0);
    cr_expect(d.has_value);
    cr_expect_eq(d.value, UINT64_MAX - 3);
    cr_expect_eq(d.slot, 4000000000u);

    cursor_t n = {.has_value = false, .slot = 7};
    cursor_encode(&n, 5, buf);
    cr_assert_eq(cursor_decode(buf, sizeof(buf), 5, false, &d, NULL), 0);
    cr_expect(!d.has_value);
    cr_expect_eq(d.slot, 7);
}

Test(cursor, every_flipped_bit_is_rejected)
{
    uint8_t buf[CURSOR_SIZE], bad[CURSOR_SIZE];
    cursor_t c = {.has_value = true, .value = 12345, .slot = 99}, d;
    cursor_encode(&c, 42, buf);
    for (size_t i = 0; i < CURSOR_SIZE; i++) {
        for (int bit = 0; bit < 8; bit++) {
            memcpy(bad, buf, sizeof(buf));
            bad[i] ^= (uint8_t)(1u << bit);
            bdx_error_t err = {0};
            int rc = cursor_decode(bad, sizeof(bad), 42, true, &d, &err);
            cr_expect_eq(rc, BDX_ECURSOR, "byte %zu bit %d accepted", i, bit);
            cr_expect_eq(err.code, BDX_ECURSOR);
        }
    }
}

Test(cursor, malformed_messages)
{
    uint8_t buf[CURSOR_SIZE];
    cursor_t c = {.has_value = true, .value = 1, .slot = 2}, d;
    bdx_error_t err;
    cursor_encode(&c, 42, buf);

    cr_expect_eq(cursor_decode(buf, 10, 42, true, &d, &err), BDX_ECURSOR);
    cr_expect_str_eq(err.msg, "malformed cursor: 10 bytes, expected 26");
    cr_expect_eq(cursor_decode(buf, 0, 42, true, &d, &err), BDX_ECURSOR);

    uint8_t v2[CURSOR_SIZE];
    memcpy(v2, buf, sizeof(v2));
    v2[0] = 2;
    cr_expect_eq(cursor_decode(v2, sizeof(v2), 42, true, &d, &err), BDX_ECURSOR);
    cr_expect_str_eq(err.msg, "malformed cursor: unknown version 2");

    memcpy(v2, buf, sizeof(v2));
    v2[10] ^= 0x40;
    cr_expect_eq(cursor_decode(v2, sizeof(v2), 42, true, &d, &err), BDX_ECURSOR);
    cr_expect_str_eq(err.msg, "malformed cursor: check word mismatch");

    cr_expect_eq(cursor_decode(buf, sizeof(buf), 43, true, &d, &err), BDX_ECURSOR);
    cr_expect_str_eq(err.msg, "cursor does not belong to this query");
    cr_expect_eq(cursor_decode(buf, sizeof(buf), 42, false, &d, &err), BDX_ECURSOR);
    cr_expect_str_eq(err.msg, "cursor does not belong to this query");
}

/* ---- through search ---- */

static index_t *ix;

static void setup(void)
{
    schema_t *s;
    bdx_error_t err;
    cr_assert_eq(schema_new("images", &s), 0);
    cr_assert_eq(schema_add_filter(s, "userId", SCHEMA_INT, false, false), 0);
    cr_assert_eq(schema_add_sort(s, "score", 8), 0);
    cr_assert_eq(index_new(s, &ix, &err), 0, "%s", err.msg);
    schema_free(s);
    /* 5000 documents: 4000 share score 7 (one tie group), the rest spread out */
    for (uint32_t slot = 0; slot < 5000; slot++) {
        int64_t user = slot % 3;
        index_doc_filter_t f = {.present = true, .values = {.ints = &user, .count = 1}};
        index_doc_sort_t so = {.present = true, .value = slot < 4000 ? 7 : slot % 256};
        index_doc_t doc = {.filters = &f, .sorts = &so};
        cr_assert_eq(index_put(ix, slot * 2, &doc, &err), 0, "%s", err.msg);
    }
    cr_assert_eq(index_rebuild_perms(ix), 0);
}

static void teardown(void)
{
    index_free(ix);
}

static query_t *make_query(int64_t user, bool desc)
{
    query_t *q = query_new("images");
    cr_assert(q);
    query_set_filter(q, query_eq("userId", query_int(user)));
    cr_assert_eq(query_set_sort(q, "score", desc), 0);
    q->limit = 10;
    return q;
}

static search_result_t *run(query_t *q, sort_strategy_t force, int expect_rc, bdx_error_t *err)
{
    search_options_t opt = {.force = force};
    search_result_t *r = NULL;
    bdx_error_clear(err);
    int rc = search_run(ix, q, &opt, &r, err);
    cr_assert_eq(rc, expect_rc, "rc %d (%s), expected %d", rc, err->msg, expect_rc);
    return r;
}

Test(cursor, cursor_from_another_query_is_rejected, .init = setup, .fini = teardown)
{
    bdx_error_t err;
    query_t *a = make_query(1, true);
    search_result_t *r = run(a, SORT_AUTO, 0, &err);
    cr_assert_eq(r->cursor_len, CURSOR_SIZE);

    /* other filter */
    query_t *b = make_query(2, true);
    cr_assert_eq(query_set_cursor(b, r->cursor, r->cursor_len), 0);
    cr_expect_null(run(b, SORT_AUTO, BDX_ECURSOR, &err));
    cr_expect_str_eq(err.msg, "cursor does not belong to this query");
    /* other direction */
    query_t *c = make_query(1, false);
    cr_assert_eq(query_set_cursor(c, r->cursor, r->cursor_len), 0);
    cr_expect_null(run(c, SORT_AUTO, BDX_ECURSOR, &err));
    cr_expect_str_eq(err.msg, "cursor does not belong to this query");
    /* other index name */
    query_t *d = make_query(1, true);
    free(d->index);
    d->index = strdup("videos");
    cr_assert_eq(query_set_cursor(d, r->cursor, r->cursor_len), 0);
    cr_expect_null(run(d, SORT_AUTO, BDX_ECURSOR, &err));
    /* no sort */
    query_t *e = make_query(1, true);
    query_set_sort(e, NULL, true);
    cr_assert_eq(query_set_cursor(e, r->cursor, r->cursor_len), 0);
    cr_expect_null(run(e, SORT_AUTO, BDX_ECURSOR, &err));

    /* same query, written differently and with another limit: accepted */
    query_t *f = make_query(1, true);
    query_set_filter(
        f, query_and(2, query_eq("userId", query_int(1)), query_eq("userId", query_int(1))));
    f->limit = 3;
    cr_assert_eq(query_set_cursor(f, r->cursor, r->cursor_len), 0);
    search_result_t *ok = run(f, SORT_AUTO, 0, &err);
    cr_expect_eq(ok->count, 3);
    search_result_free(ok);

    search_result_free(r);
    query_free(a);
    query_free(b);
    query_free(c);
    query_free(d);
    query_free(e);
    query_free(f);
}

Test(cursor, tampered_cursor_is_rejected, .init = setup, .fini = teardown)
{
    bdx_error_t err;
    query_t *q = make_query(0, false);
    search_result_t *r = run(q, SORT_AUTO, 0, &err);
    uint8_t bad[CURSOR_SIZE];
    memcpy(bad, r->cursor, sizeof(bad));
    bad[3] ^= 1; /* move the slot */
    cr_assert_eq(query_set_cursor(q, bad, sizeof(bad)), 0);
    cr_expect_null(run(q, SORT_AUTO, BDX_ECURSOR, &err));
    cr_expect_str_eq(err.msg, "malformed cursor: check word mismatch");
    cr_assert_eq(query_set_cursor(q, (const uint8_t *)"garbage", 7), 0);
    cr_expect_null(run(q, SORT_AUTO, BDX_ECURSOR, &err));
    cr_expect_str_eq(err.msg, "malformed cursor: 7 bytes, expected 26");
    search_result_free(r);
    query_free(q);
}

/* Paging through 4000 documents tied at one value visits each exactly once, with every
 * strategy and with page sizes that split the tie group anywhere. */
Test(cursor, paging_through_a_large_tie_group, .init = setup, .fini = teardown)
{
    static const sort_strategy_t all[] = {SORT_MATERIALIZE, SORT_BSI, SORT_WALK, SORT_AUTO};
    for (int desc = 0; desc < 2; desc++) {
        for (size_t s = 0; s < 4; s++) {
            bdx_error_t err;
            query_t *q = query_new("images");
            query_set_sort(q, "score", desc);
            roaring_bitmap_t *seen = roaring_bitmap_create();
            uint64_t last_v = desc ? UINT64_MAX : 0;
            uint32_t last_s = desc ? UINT32_MAX : 0;
            size_t total = 0;
            for (int page = 0;; page++) {
                q->limit = 1 + (page * 37) % 700;
                search_result_t *r = run(q, all[s], 0, &err);
                for (size_t i = 0; i < r->count; i++) {
                    cr_assert(roaring_bitmap_add_checked(seen, r->slots[i]),
                              "slot %u returned twice", r->slots[i]);
                    bool ordered = desc ? (r->values[i] < last_v ||
                                           (r->values[i] == last_v && r->slots[i] < last_s))
                                        : (r->values[i] > last_v ||
                                           (r->values[i] == last_v && r->slots[i] > last_s));
                    cr_assert(total == 0 || ordered, "out of order at row %zu", total);
                    last_v = r->values[i];
                    last_s = r->slots[i];
                    total++;
                }
                if (r->cursor_len == 0) {
                    search_result_free(r);
                    break;
                }
                cr_assert_eq(query_set_cursor(q, r->cursor, r->cursor_len), 0);
                search_result_free(r);
            }
            cr_expect_eq(total, 5000, "%s %s: %zu rows", sort_strategy_name(all[s]),
                         desc ? "desc" : "asc", total);
            roaring_bitmap_free(seen);
            query_free(q);
        }
    }
}

/* The last page has no cursor; a page that ends exactly at the last row has none either. */
Test(cursor, no_cursor_after_the_last_row, .init = setup, .fini = teardown)
{
    bdx_error_t err;
    query_t *q = query_new("images");
    query_set_filter(q, query_between("id", query_int(0), query_int(19)));
    q->limit = 10; /* slots 0, 2, ..., 18: exactly 10 rows */
    search_result_t *r = run(q, SORT_AUTO, 0, &err);
    cr_expect_eq(r->count, 10);
    cr_expect_eq(r->cursor_len, 0);
    cr_expect_eq(r->slots[0], 18);
    cr_expect_eq(r->slots[9], 0);
    search_result_free(r);
    q->limit = 9;
    r = run(q, SORT_AUTO, 0, &err);
    cr_expect_eq(r->count, 9);
    cr_expect_eq(r->cursor_len, CURSOR_SIZE);
    cr_assert_eq(query_set_cursor(q, r->cursor, r->cursor_len), 0);
    search_result_free(r);
    r = run(q, SORT_AUTO, 0, &err);
    cr_expect_eq(r->count, 1);
    cr_expect_eq(r->slots[0], 0);
    cr_expect_eq(r->cursor_len, 0);
    search_result_free(r);
    query_free(q);
}

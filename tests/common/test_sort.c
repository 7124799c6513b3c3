/*
 * test_sort: the sort strategies (common/sort*.c) called directly: identical pages from every
 * strategy around the hard spots (a big tie group, documents without a value sorting as 0,
 * dirty slots since the permutation was built, cursors inside tie groups), the strategy choice,
 * and the slot-order helpers.
 */
#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>

#include "common/sort.h"
#include "common/sort_internal.h"

#define N 3000

static index_t *ix;

static void set_doc(uint32_t slot, int64_t g, bool has, uint64_t v)
{
    index_doc_filter_t f = {.present = true, .values = {.ints = &g, .count = 1}};
    index_doc_sort_t s = {.present = has, .value = v};
    index_doc_t doc = {.filters = &f, .sorts = &s};
    bdx_error_t err;
    cr_assert_eq(index_put(ix, slot, &doc, &err), 0, "%s", err.msg);
}

/* slots 0..N-1: every 7th without a value; below 2000 all tied at 42; then slot % 256 (some 0s).
 * After the permutation is built: some values change, some documents go, some arrive. */
static void setup(void)
{
    schema_t *s;
    bdx_error_t err;
    cr_assert_eq(schema_new("t", &s), 0);
    cr_assert_eq(schema_add_filter(s, "g", SCHEMA_INT, false, false), 0);
    cr_assert_eq(schema_add_sort(s, "v", 8), 0);
    cr_assert_eq(index_new(s, &ix, &err), 0, "%s", err.msg);
    schema_free(s);
    for (uint32_t slot = 0; slot < N; slot++)
        set_doc(slot, slot % 3, slot % 7 != 0, slot < 2000 ? 42 : slot % 256);
    cr_assert_eq(index_rebuild_perms(ix), 0);
    for (uint32_t slot = 5; slot < N; slot += 97)
        set_doc(slot, slot % 3, true, slot % 2 ? 42 : 0); /* dirty: moved into ties */
    for (uint32_t slot = 11; slot < N; slot += 131)
        cr_assert_eq(index_delete(ix, slot), 0);
    for (uint32_t slot = N; slot < N + 50; slot++)
        set_doc(slot, slot % 3, slot % 5 != 0, 42); /* new slots, not in the permutation */
}

static void teardown(void)
{
    index_free(ix);
}

TestSuite(sort, .init = setup, .fini = teardown);

static int cmp_asc(const void *a, const void *b)
{
    return sort_row_cmp(a, b, false);
}

/* All rows of `filter` in order, by brute force. Caller frees. */
static sort_row_t *expected(const roaring_bitmap_t *filter, bool desc, size_t *n)
{
    uint64_t c = roaring_bitmap_get_cardinality(filter);
    sort_row_t *rows = malloc((c + 1) * sizeof(*rows));
    uint32_t *slots = malloc((c + 1) * sizeof(*slots));
    roaring_bitmap_to_uint32_array(filter, slots);
    for (uint64_t i = 0; i < c; i++) {
        rows[i].slot = slots[i];
        rows[i].value = index_sort_value(ix, 0, slots[i]);
    }
    qsort(rows, c, sizeof(*rows), cmp_asc);
    if (desc) {
        for (uint64_t i = 0; i < c / 2; i++) {
            sort_row_t t = rows[i];
            rows[i] = rows[c - 1 - i];
            rows[c - 1 - i] = t;
        }
    }
    free(slots);
    *n = c;
    return rows;
}

/* Pages through `filter` with strategy s and page size `limit`, comparing every row. */
static void check_paging(sort_strategy_t s, const roaring_bitmap_t *filter, bool desc,
                         uint32_t limit)
{
    size_t nwant, pos = 0;
    sort_row_t *want = expected(filter, desc, &nwant);
    uint32_t *slots = malloc(limit * sizeof(*slots));
    uint64_t *values = malloc(limit * sizeof(*values));
    cursor_t cur;
    sort_request_t rq = {.ix = ix, .field = 0, .desc = desc, .filter = filter, .limit = limit};
    for (;;) {
        size_t n = 0;
        cr_assert_eq(sort_run(s, &rq, slots, values, &n), 0);
        cr_assert_eq(n, nwant - pos < limit ? nwant - pos : limit, "%s %s limit %u at %zu",
                     sort_strategy_name(s), desc ? "desc" : "asc", limit, pos);
        for (size_t i = 0; i < n; i++) {
            cr_assert(slots[i] == want[pos + i].slot && values[i] == want[pos + i].value,
                      "%s %s limit %u row %zu: (%llu, %u) want (%llu, %u)", sort_strategy_name(s),
                      desc ? "desc" : "asc", limit, pos + i, (unsigned long long)values[i],
                      slots[i], (unsigned long long)want[pos + i].value, want[pos + i].slot);
        }
        pos += n;
        if (n < limit)
            break;
        cur = (cursor_t){.has_value = true, .value = values[n - 1], .slot = slots[n - 1]};
        rq.after = &cur;
    }
    cr_expect_eq(pos, nwant);
    free(want);
    free(slots);
    free(values);
}

Test(sort, strategies_agree_on_all_documents)
{
    static const sort_strategy_t all[] = {SORT_MATERIALIZE, SORT_BSI, SORT_WALK};
    static const uint32_t limits[] = {1, 7, 50, 333, 1001};
    for (size_t s = 0; s < 3; s++)
        for (int desc = 0; desc < 2; desc++)
            for (size_t l = 0; l < 5; l++)
                check_paging(all[s], index_alive(ix), desc, limits[l]);
}

Test(sort, strategies_agree_on_a_filter)
{
    static const sort_strategy_t all[] = {SORT_MATERIALIZE, SORT_BSI, SORT_WALK};
    const roaring_bitmap_t *g1 = index_filter_value(ix, 0, 1);
    cr_assert(g1);
    for (size_t s = 0; s < 3; s++)
        for (int desc = 0; desc < 2; desc++) {
            check_paging(all[s], g1, desc, 3);
            check_paging(all[s], g1, desc, 200);
        }
}

Test(sort, cursor_inside_ties_and_zeros)
{
    static const sort_strategy_t all[] = {SORT_MATERIALIZE, SORT_BSI, SORT_WALK};
    /* resume in the middle of the 42s and of the 0s (which include documents without value) */
    const cursor_t cursors[] = {
        {true, 42, 1000}, {true, 0, 1400}, {true, 0, 0}, {true, 255, 4000}, {true, 43, 0}};
    for (size_t c = 0; c < sizeof(cursors) / sizeof(cursors[0]); c++) {
        for (int desc = 0; desc < 2; desc++) {
            uint32_t ref_slots[64], slots[64];
            uint64_t ref_values[64], values[64];
            size_t ref_n = 0, n = 0;
            sort_request_t rq = {.ix = ix,
                                 .field = 0,
                                 .desc = desc,
                                 .filter = index_alive(ix),
                                 .after = &cursors[c],
                                 .limit = 64};
            cr_assert_eq(sort_materialize(&rq, ref_slots, ref_values, &ref_n), 0);
            for (size_t s = 1; s < 3; s++) {
                cr_assert_eq(sort_run(all[s], &rq, slots, values, &n), 0);
                cr_expect_eq(n, ref_n, "%s cursor %zu %s", sort_strategy_name(all[s]), c,
                             desc ? "desc" : "asc");
                cr_expect(n == ref_n && memcmp(slots, ref_slots, n * sizeof(*slots)) == 0 &&
                              memcmp(values, ref_values, n * sizeof(*values)) == 0,
                          "%s cursor %zu %s differs", sort_strategy_name(all[s]), c,
                          desc ? "desc" : "asc");
            }
        }
    }
}

Test(sort, no_sort_field_is_slot_desc)
{
    uint32_t slots[5];
    uint64_t values[5];
    size_t n;
    cursor_t c = {.slot = 3};
    roaring_bitmap_t *f = roaring_bitmap_of(6, 1, 2, 3, 7, 9, 100);
    sort_request_t rq = {.ix = ix, .field = -1, .desc = true, .filter = f, .limit = 5};
    cr_assert_eq(sort_run(SORT_BSI, &rq, slots, values, &n), 0); /* any: slot order */
    cr_expect_eq(n, 5);
    cr_expect_eq(slots[0], 100);
    cr_expect_eq(slots[4], 2);
    cr_expect_eq(values[0], 0);
    rq.after = &c;
    cr_assert_eq(sort_by_slot(&rq, slots, values, &n), 0);
    cr_expect_eq(n, 2);
    cr_expect_eq(slots[0], 2);
    cr_expect_eq(slots[1], 1);
    rq.desc = false; /* a sort on `id` ascending */
    cr_assert_eq(sort_by_slot(&rq, slots, values, &n), 0);
    cr_expect_eq(n, 3);
    cr_expect_eq(slots[0], 7);
    cr_expect_eq(slots[2], 100);
    rq.after = NULL;
    cr_assert_eq(sort_by_slot(&rq, slots, values, &n), 0);
    cr_expect_eq(n, 5);
    cr_expect_eq(slots[0], 1);
    cr_expect_eq(slots[4], 9);
    roaring_bitmap_free(f);
}

Test(sort, choose)
{
    char why[256];
    sort_thresholds_t th;
    sort_thresholds_default(&th);
    sort_request_t rq = {.ix = ix, .field = -1, .filter = index_alive(ix), .limit = 10};
    cr_expect_eq(sort_choose(&rq, 10, SORT_WALK, &th, why, sizeof(why)), SORT_SLOT);
    rq.field = 0;
    cr_expect_eq(sort_choose(&rq, 10, SORT_WALK, &th, why, sizeof(why)), SORT_WALK);
    cr_expect_str_eq(why, "forced by the caller");
    cr_expect_eq(sort_choose(&rq, 10, SORT_AUTO, &th, why, sizeof(why)), SORT_MATERIALIZE);
    cr_expect_str_eq(why, "filter has 10 rows <= materialize_max 16384");
    th.materialize_max = 100;
    th.walk_max_scan = 100; /* 3000 live docs, limit 10: a walk reads 10 x 3000 / count */
    cr_expect_eq(sort_choose(&rq, 2000, SORT_AUTO, &th, why, sizeof(why)), SORT_WALK, "%s", why);
    cr_expect(strstr(why, "a walk reads ~15 entries <= 100") != NULL, "%s", why);
    cr_expect_eq(sort_choose(&rq, 101, SORT_AUTO, &th, why, sizeof(why)), SORT_BSI, "%s", why);
    cr_expect(strstr(why, "a walk would read ~") != NULL, "%s", why);
    th.walk_max_dirty = 1; /* the fixture has dirty slots */
    cr_expect_eq(sort_choose(&rq, 2000, SORT_AUTO, &th, why, sizeof(why)), SORT_BSI, "%s", why);
    cr_expect_eq(sort_choose(&rq, 2000, SORT_AUTO, NULL, NULL, 0), SORT_MATERIALIZE);
}

Test(sort, names)
{
    sort_strategy_t s;
    cr_expect_eq(sort_strategy_parse("walk", &s), 0);
    cr_expect_eq(s, SORT_WALK);
    cr_expect_eq(sort_strategy_parse("bsi", &s), 0);
    cr_expect_eq(s, SORT_BSI);
    cr_expect_eq(sort_strategy_parse("materialize", &s), 0);
    cr_expect_eq(sort_strategy_parse("auto", &s), 0);
    cr_expect_eq(s, SORT_AUTO);
    cr_expect_eq(sort_strategy_parse("slot", &s), BDX_EINVAL);
    cr_expect_eq(sort_strategy_parse(NULL, &s), BDX_EINVAL);
    cr_expect_str_eq(sort_strategy_name(SORT_SLOT), "slot");
}

Test(sort, bitmap_slots_both_directions)
{
    roaring_bitmap_t *b = roaring_bitmap_of(4, 1, 5, 70000, 200000);
    roaring_bitmap_add_range(b, 300000, 300000 + 70000); /* a run and a bitset-sized span */
    uint32_t out[8];
    cr_expect_eq(sort_bitmap_slots(b, false, false, 0, out, 3), 3);
    cr_expect(out[0] == 1 && out[1] == 5 && out[2] == 70000);
    cr_expect_eq(sort_bitmap_slots(b, false, true, 5, out, 2), 2);
    cr_expect(out[0] == 70000 && out[1] == 200000);
    cr_expect_eq(sort_bitmap_slots(b, false, true, UINT32_MAX, out, 2), 0);
    cr_expect_eq(sort_bitmap_slots(b, true, false, 0, out, 2), 2);
    cr_expect(out[0] == 369999 && out[1] == 369998);
    cr_expect_eq(sort_bitmap_slots(b, true, true, 300000, out, 3), 3);
    cr_expect(out[0] == 200000 && out[1] == 70000 && out[2] == 5);
    cr_expect_eq(sort_bitmap_slots(b, true, true, 1, out, 3), 0);
    cr_expect_eq(sort_bitmap_slots(b, true, true, UINT32_MAX, out, 1), 1);
    cr_expect_eq(out[0], 369999);
    cr_expect_eq(sort_bitmap_slots(b, true, true, 300001, out, 2), 2);
    cr_expect(out[0] == 300000 && out[1] == 200000);
    roaring_bitmap_free(b);
}

Test(sort, heap_keeps_the_best)
{
    sort_row_t rows[4];
    sort_heap_t h = {.rows = rows, .cap = 4, .desc = true};
    for (uint32_t i = 0; i < 100; i++)
        sort_heap_push(&h, (sort_row_t){.value = i % 10, .slot = i});
    sort_heap_finish(&h);
    cr_expect_eq(h.n, 4);
    /* value 9 at slots 99, 89, 79, 69 */
    for (size_t i = 0; i < 4; i++) {
        cr_expect_eq(rows[i].value, 9);
        cr_expect_eq(rows[i].slot, 99 - 10 * i);
    }
}

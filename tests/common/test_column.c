/* Tests common/column.c: widths, growth, edges. */
#include <criterion/criterion.h>

#include "common/column.h"
#include "common/error.h"
#include "common/schema.h"

Test(column, widths_and_edges)
{
    static const unsigned bits[] = {1, 7, 8, 9, 16, 17, 32, 33, 64};

    for (size_t i = 0; i < sizeof(bits) / sizeof(*bits); i++) {
        column_t *c;
        uint64_t max = schema_bits_max(bits[i]);

        cr_assert_eq(column_new(bits[i], &c), 0);
        cr_assert_eq(column_bits(c), bits[i]);
        cr_assert_eq(column_length(c), 0);
        cr_assert_eq(column_get(c, 0), 0);
        cr_assert_eq(column_get(c, UINT32_MAX), 0);
        cr_assert_eq(column_set(c, 5, max), 0);
        cr_assert_eq(column_get(c, 5), max, "bits=%u", bits[i]);
        cr_assert_eq(column_get(c, 4), 0);
        cr_assert_eq(column_get(c, 6), 0);
        cr_assert_eq(column_length(c), 6);
        if (bits[i] < 64)
            cr_assert_eq(column_set(c, 5, max + 1), BDX_EINVAL);
        cr_assert_eq(column_get(c, 5), max);
        cr_assert_eq(column_set(c, 100000, 1), 0);
        cr_assert_eq(column_get(c, 100000), 1);
        cr_assert_eq(column_get(c, 5), max, "growth keeps values");
        cr_assert_eq(column_get(c, 99999), 0, "growth zero-fills");
        cr_assert_eq(column_set(c, 5, 0), 0);
        cr_assert_eq(column_get(c, 5), 0);
        cr_assert_geq(column_memory(c), 100001);
        column_shrink(c);
        cr_assert_eq(column_get(c, 100000), 1);
        cr_assert_eq(column_get(c, 5), 0);
        cr_assert_lt(column_memory(c), 100001 * 8 + 64);
        cr_assert_eq(column_set(c, 200000, 1), 0, "grows again after a shrink");
        cr_assert_eq(column_get(c, 200000), 1);
        column_free(c);
    }
    {
        column_t *c;
        cr_assert_eq(column_new(0, &c), BDX_EINVAL);
        cr_assert_eq(column_new(65, &c), BDX_EINVAL);
        cr_assert_eq(column_new(8, &c), 0);
        column_shrink(c); /* empty */
        cr_assert_eq(column_get(c, 3), 0);
        column_free(c);
        column_free(NULL);
    }
}

Test(column, sequential_fill_and_reserve)
{
    column_t *c;

    cr_assert_eq(column_new(32, &c), 0);
    cr_assert_eq(column_reserve(c, 1000000), 0);
    for (uint32_t s = 0; s < 1000000; s++)
        cr_assert_eq(column_set(c, s, s * 7u), 0);
    for (uint32_t s = 0; s < 1000000; s += 997)
        cr_assert_eq(column_get(c, s), (uint64_t)(uint32_t)(s * 7u));
    cr_assert_eq(column_length(c), 1000000);
    column_free(c);
}

/* Tests common/dictionary.c: dense stable keys, lookups, growth, stable string pointers. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/dictionary.h"
#include "common/error.h"

Test(dictionary, intern_lookup_string)
{
    dictionary_t *d;
    int64_t k = -5;

    cr_assert_eq(dictionary_new(&d), 0);
    cr_assert_eq(dictionary_count(d), 0);
    cr_assert_eq(dictionary_lookup(d, "SDXL", &k), BDX_ENOTFOUND);
    cr_assert_eq(k, -5, "untouched on miss");
    cr_assert_eq(dictionary_intern(d, "SDXL", &k), 0);
    cr_assert_eq(k, 0);
    cr_assert_eq(dictionary_intern(d, "Pony", &k), 0);
    cr_assert_eq(k, 1);
    cr_assert_eq(dictionary_intern(d, "SDXL", &k), 0);
    cr_assert_eq(k, 0, "stable");
    cr_assert_eq(dictionary_intern(d, "", &k), 0);
    cr_assert_eq(k, 2, "the empty string is a string");
    cr_assert_eq(dictionary_lookup(d, "Pony", &k), 0);
    cr_assert_eq(k, 1);
    cr_assert_eq(dictionary_lookup(d, "pony", &k), BDX_ENOTFOUND, "case-sensitive");
    cr_assert_eq(dictionary_lookup(d, "Pon", &k), BDX_ENOTFOUND, "prefix is not a match");
    cr_assert_eq(dictionary_lookup(d, "Ponyy", &k), BDX_ENOTFOUND);
    cr_assert_str_eq(dictionary_string(d, 0), "SDXL");
    cr_assert_str_eq(dictionary_string(d, 2), "");
    cr_assert_null(dictionary_string(d, 3));
    cr_assert_null(dictionary_string(d, -1));
    cr_assert_eq(dictionary_count(d), 3);
    cr_assert_gt(dictionary_memory(d), 0);
    dictionary_free(d);
    dictionary_free(NULL);
}

Test(dictionary, many_strings_dense_and_stable)
{
    enum {
        N = 100000
    };
    dictionary_t *d;
    char buf[64];
    const char *first;
    int64_t k;

    cr_assert_eq(dictionary_new(&d), 0);
    cr_assert_eq(dictionary_intern(d, "user-0", &k), 0);
    first = dictionary_string(d, 0);
    for (int i = 1; i < N; i++) {
        snprintf(buf, sizeof(buf), "user-%d", i);
        cr_assert_eq(dictionary_intern(d, buf, &k), 0);
        cr_assert_eq(k, i);
    }
    cr_assert_eq(dictionary_string(d, 0), first, "strings never move");
    for (int i = N - 1; i >= 0; i -= 7) {
        snprintf(buf, sizeof(buf), "user-%d", i);
        cr_assert_eq(dictionary_lookup(d, buf, &k), 0);
        cr_assert_eq(k, i);
        cr_assert_str_eq(dictionary_string(d, i), buf);
    }
    /* a long string (bigger than a chunk) */
    {
        size_t len = 200000;
        char *big = malloc(len + 1);
        memset(big, 'x', len);
        big[len] = '\0';
        cr_assert_eq(dictionary_intern(d, big, &k), 0);
        cr_assert_eq(k, N);
        cr_assert_eq(dictionary_lookup(d, big, &k), 0);
        cr_assert_eq(k, N);
        cr_assert_str_eq(dictionary_string(d, N), big);
        free(big);
    }
    cr_assert_eq(dictionary_count(d), N + 1);
    dictionary_free(d);
}

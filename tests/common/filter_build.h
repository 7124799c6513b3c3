/*
 * filter_build: terse builders of bitdex.v1.Filter trees for tests. Every builder returns a
 * malloc'd message whose strings and children are malloc'd too, so one
 * protobuf_c_message_free_unpacked(&root->base, NULL) frees a whole tree. Builders that take
 * children or values take ownership of them. Out of memory aborts.
 */
#ifndef BITDEX_TEST_FILTER_BUILD_H
#define BITDEX_TEST_FILTER_BUILD_H

#include "bitdex/v1/filter.pb-c.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

Bitdex__V1__Value *fb_int(int64_t v);
Bitdex__V1__Value *fb_bool(bool v);
Bitdex__V1__Value *fb_str(const char *s);
Bitdex__V1__Value *fb_null(void);
Bitdex__V1__Value *fb_unset(void); /* a Value with no case set */

/* eq, neq, gt, gte, lt, lte (clause is the Filter's case); value may be NULL (missing). */
Bitdex__V1__Filter *fb_cmp(Bitdex__V1__Filter__ClauseCase clause, const char *field,
                           Bitdex__V1__Value *value);
/* is_in / not_in with n values (an array of n pointers; the array is copied). */
Bitdex__V1__Filter *fb_set(Bitdex__V1__Filter__ClauseCase clause, const char *field, size_t n,
                           Bitdex__V1__Value **values);
Bitdex__V1__Filter *fb_between(const char *field, Bitdex__V1__Value *lo, Bitdex__V1__Value *hi);
/* is_null / is_not_null */
Bitdex__V1__Filter *fb_null_test(Bitdex__V1__Filter__ClauseCase clause, const char *field);
/* all_of / any_of with n children (array copied) */
Bitdex__V1__Filter *fb_list(Bitdex__V1__Filter__ClauseCase clause, size_t n,
                            Bitdex__V1__Filter **children);
Bitdex__V1__Filter *fb_and2(Bitdex__V1__Filter *a, Bitdex__V1__Filter *b);
Bitdex__V1__Filter *fb_not(Bitdex__V1__Filter *child); /* child may be NULL */
Bitdex__V1__Filter *fb_prefilter(const char *name);
Bitdex__V1__Filter *fb_empty(void); /* no clause set */

void fb_free(Bitdex__V1__Filter *f);

#endif

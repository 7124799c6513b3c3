/*
 * dictionary: the per-field map between a string filter field's strings and the int64 keys
 * its bitmaps are filed under.
 *
 * Keys are dense from 0 in order of first appearance and stable once assigned: a string keeps
 * its key for the life of the dictionary (strings are never removed, so a key never changes
 * meaning; a cursor or prefilter that mentions a key stays valid). Strings are byte strings
 * without NUL, compared exactly (no case folding or normalization).
 *
 * Concurrency: single writer, no internal locking. Lookups may run concurrently with each
 * other, not with dictionary_intern().
 */
#ifndef BITDEX_DICTIONARY_H
#define BITDEX_DICTIONARY_H

#include <stddef.h>
#include <stdint.h>

typedef struct dictionary dictionary_t;

/* New empty dictionary. Caller frees with dictionary_free(). 0 or -ENOMEM. */
int dictionary_new(dictionary_t **out);

/* Frees it and every string it holds. NULL is a no-op. */
void dictionary_free(dictionary_t *d);

/* Key of `s` (NUL-terminated) in *key. Returns 0, or BDX_ENOTFOUND when `s` was never
 * interned (*key untouched). */
int dictionary_lookup(const dictionary_t *d, const char *s, int64_t *key);

/* Key of `s`, assigning the next key (== dictionary_count() before the call) when new; `s` is
 * copied. Returns 0 or -ENOMEM. */
int dictionary_intern(dictionary_t *d, const char *s, int64_t *key);

/* The string of `key`, or NULL when key is not in [0, dictionary_count()). Borrowed; valid
 * while the dictionary lives (interning never moves strings). */
const char *dictionary_string(const dictionary_t *d, int64_t key);

/* Number of strings (== the next key to be assigned). */
int64_t dictionary_count(const dictionary_t *d);

/* Bytes of memory the dictionary uses. */
size_t dictionary_memory(const dictionary_t *d);

#endif

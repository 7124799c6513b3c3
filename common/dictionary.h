/*
 * dictionary: the per-field map between a string filter field's strings and the int64 keys
 * its bitmaps are filed under.
 *
 * Keys are dense from 0 in order of first appearance and stable once assigned: a string keeps
 * its key for the life of the dictionary (strings are never removed, so a key never changes
 * meaning; a cursor or prefilter that mentions a key stays valid). Strings are byte strings
 * without NUL, compared exactly (no case folding or normalization).
 *
 * Image: dictionary_image_write() stores the strings in key order (docs/format/images.md,
 * "dictionary"); dictionary_image_open() borrows them from the buffer and builds the lookup
 * table (O(strings)); strings interned after the open are owned copies.
 *
 * Concurrency: single writer, no internal locking. Lookups may run concurrently with each
 * other, not with dictionary_intern(). An opened dictionary borrows its image: the bytes must
 * stay mapped and unchanged until dictionary_free().
 */
#ifndef BITDEX_DICTIONARY_H
#define BITDEX_DICTIONARY_H

#include <stddef.h>
#include <stdint.h>

#include "common/error.h"

typedef struct dictionary dictionary_t;

/* New empty dictionary. Caller frees with dictionary_free(). 0 or -ENOMEM. */
int dictionary_new(dictionary_t **out);

/* Frees it and every string it owns (borrowed image bytes are the caller's). NULL is a no-op. */
void dictionary_free(dictionary_t *d);

/* Key of `s` (NUL-terminated) in *key. Returns 0, or BDX_ENOTFOUND when `s` was never
 * interned (*key untouched). */
int dictionary_lookup(const dictionary_t *d, const char *s, int64_t *key);

/* Key of `s`, assigning the next key (== dictionary_count() before the call) when new; `s` is
 * copied. Returns 0 or -ENOMEM. */
int dictionary_intern(dictionary_t *d, const char *s, int64_t *key);

/* The string of `key`, or NULL when key is not in [0, dictionary_count()). Borrowed; valid
 * while the dictionary lives (interning never moves strings; for an opened dictionary the
 * string may point into the image). */
const char *dictionary_string(const dictionary_t *d, int64_t key);

/* Number of strings (== the next key to be assigned). */
int64_t dictionary_count(const dictionary_t *d);

/* Bytes of private memory the dictionary uses (key array, lookup table, owned strings; not the
 * strings borrowed from an image). */
size_t dictionary_memory(const dictionary_t *d);

/* Bytes dictionary_image_write() writes: a 32-byte header, count + 1 offsets of 8 bytes and the
 * NUL-terminated strings, each array padded to 32 bytes. */
size_t dictionary_image_size(const dictionary_t *d);

/* Writes the image of `d` into `buf`: 32-byte aligned, dictionary_image_size(d) bytes, every
 * byte written (padding is zero). */
void dictionary_image_write(const dictionary_t *d, void *buf);

/*
 * Opens a dictionary over the image in buf[0, size): string i (key i) is borrowed from buf,
 * which must be 32-byte aligned and outlive *out (caller frees *out with dictionary_free()).
 * Checks magic, version, that the offsets and bytes lie inside `size`, that offsets increase,
 * that every string ends at its NUL and holds no other NUL, and that no string appears twice
 * (building the lookup table reads every string once anyway). Returns 0, BDX_ECORRUPT or
 * BDX_EVERSION (err says what is wrong), BDX_EINVAL when buf is misaligned, or -ENOMEM.
 * Nothing to free after a failure.
 */
int dictionary_image_open(const void *buf, size_t size, dictionary_t **out, bdx_error_t *err);

#endif

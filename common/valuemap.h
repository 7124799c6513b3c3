/*
 * valuemap: the bitmaps of one filter field, one per distinct int64 value, found by value in
 * O(1) (hash) and traversable in value order (for ranges on int fields).
 *
 * Only non-empty bitmaps are kept: removing a field's last slot from a value drops the value.
 * Adding slots in increasing order (a bulk load) is the fast path of CRoaring's add.
 *
 * Concurrency: single writer, no internal locking; reads may run concurrently with each other,
 * not with writes.
 */
#ifndef BITDEX_VALUEMAP_H
#define BITDEX_VALUEMAP_H

#include <roaring/roaring.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/bitmap.h"
#include "common/frozen.h"

typedef struct valuemap valuemap_t;

/* New empty map. Caller frees with valuemap_free(). 0 or -ENOMEM. */
int valuemap_new(valuemap_t **out);

/* Frees the map and its bitmaps. NULL is a no-op. */
void valuemap_free(valuemap_t *m);

/* Bitmap of `key`, or NULL when no slot holds it. Borrowed; valid until the next write. */
const roaring_bitmap_t *valuemap_get(const valuemap_t *m, int64_t key);

/* Adds `slot` to the bitmap of `key` (creating it). 0 or -ENOMEM (map unchanged). */
int valuemap_add(valuemap_t *m, int64_t key, uint32_t slot);

/* Adds slots[0..n) (ascending) to the bitmap of `key` (creating it) with one lookup and
 * CRoaring's batched add. 0 or -ENOMEM. */
int valuemap_add_many(valuemap_t *m, int64_t key, const uint32_t *slots, size_t n);

/* Removes `slot` from the bitmap of `key`, dropping the key when it becomes empty. No-op when
 * absent. 0 or -ENOMEM (only when a shared/frozen bitmap must be copied first). */
int valuemap_remove(valuemap_t *m, int64_t key, uint32_t slot);

/* Number of keys (non-empty bitmaps). */
uint64_t valuemap_count(const valuemap_t *m);

/* Visitor: return false to stop. */
typedef bool (*valuemap_fn)(int64_t key, const roaring_bitmap_t *bitmap, void *arg);

/* Calls fn for each key in [lo, hi] in ascending order. */
void valuemap_range(const valuemap_t *m, int64_t lo, int64_t hi, valuemap_fn fn, void *arg);

/* ---- generations (common/generation*.c) ---- */

/* Sets the bitmap of `key` (replacing any) to a frozen slot over buf[0..len) (bitmap.h:
 * bitmap_set_frozen(); borrowed, e.g. a mapped generation file: must outlive the map's use of
 * it). Returns 0, -ENOMEM, or BDX_ECORRUPT when CRoaring rejects the buffer or it holds an
 * empty bitmap (the map is then unchanged). */
int valuemap_set_frozen(valuemap_t *m, int64_t key, const char *buf, size_t len);

/*
 * Bulk construction from a sorted key list (a generation's bitmap directory), without hashing
 * key by key: valuemap_load_begin() on an EMPTY map reserves room for `n` keys;
 * valuemap_load_frozen() appends keys in strictly ascending order, each frozen over its buffer
 * as valuemap_set_frozen() does (`trusted`: the buffer's checksum was verified in this process,
 * so CRoaring's validation is left to the first read, see bitmap_set_frozen_trusted());
 * valuemap_load_end() builds the hash table in one pass. Between begin and end the map may only
 * be appended to or freed (no lookups). load_begin returns 0, -ENOMEM or BDX_EINVAL (map not
 * empty); load_frozen 0, -ENOMEM, BDX_EINVAL (key not above the last) or BDX_ECORRUPT (bad or
 * empty bitmap; the map is unchanged); load_end 0 or -ENOMEM (the map stays unusable: free it).
 */
int valuemap_load_begin(valuemap_t *m, size_t n);
int valuemap_load_frozen(valuemap_t *m, int64_t key, const char *buf, size_t len, bool trusted);
int valuemap_load_end(valuemap_t *m);

/* Sets the bitmap of `key` to `rb`, taking ownership (NULL or empty: the key is dropped).
 * 0 or -ENOMEM (rb is freed either way on failure; the map is unchanged). */
int valuemap_adopt(valuemap_t *m, int64_t key, roaring_bitmap_t *rb);

/* Sets the bitmap of `key` to `rb`, borrowed (bitmap_borrow(): read here, never written or
 * freed; a later write copies it). NULL or empty: the key is dropped. `rb` must outlive the
 * map's use of it. 0 or -ENOMEM (the map is unchanged). */
int valuemap_borrow(valuemap_t *m, int64_t key, const roaring_bitmap_t *rb);

/* The slot holding `key`'s bitmap, or NULL. Borrowed; valid until the next write. Lets the
 * generation writer tell a bitmap still frozen over a base mapping from a changed one. */
const bitmap_t *valuemap_slot(const valuemap_t *m, int64_t key);

/* Visitor over slots: return false to stop. */
typedef bool (*valuemap_slot_fn)(int64_t key, const bitmap_t *slot, void *arg);

/* Calls fn for every key in ascending order with its slot (never empty). */
void valuemap_visit(const valuemap_t *m, valuemap_slot_fn fn, void *arg);

/* run_optimize + shrink_to_fit on every owned bitmap, and trims the map's own arrays. */
void valuemap_optimize(valuemap_t *m);

/* Arena bytes valuemap_freeze() needs for this map's bitmaps (see bitmap_frozen_footprint()). */
size_t valuemap_frozen_footprint(const valuemap_t *m);

/*
 * Moves every bitmap into `arena` (frozen slots, see bitmap.h): reserves
 * valuemap_frozen_footprint(m) bytes from it. The arena is borrowed: it must outlive the map's
 * use of it (until the map is freed, or frozen again into another arena). A later write to a
 * frozen value copies that one bitmap (copy-on-write). Returns 0, or BDX_EINVAL when the arena
 * has too little room left (the map is then partly frozen, with unchanged content).
 */
int valuemap_freeze(valuemap_t *m, frozen_t *arena);

/* Bytes used: *bitmaps (may be NULL) receives the bitmaps' share, the return value the map's
 * own (hash table, entries, key order). */
size_t valuemap_memory(const valuemap_t *m, bitmap_usage_t *bitmaps);

#endif

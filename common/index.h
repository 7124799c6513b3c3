/*
 * index: the in-memory state of one index: every bitmap, sort structure and dictionary the
 * queries read, and the document-level operations that keep them consistent.
 *
 * Per filter field: one bitmap per distinct value (keyed by int64: the integer itself, 0/1 for
 * bools, the dictionary key for strings), one bitmap of the slots holding an explicit null, and
 * one "exists" bitmap of the slots holding at least one value. Per sort field: a BSI, a dense
 * column, a permutation built in bulk and a "dirty" bitmap of the slots changed since that
 * build. Plus the `alive` bitmap of live documents, and each document's stored fields as one
 * blob in a docstore (common/docstore.h).
 *
 * Deletes and replacements are clean: when a document loses a value, its bit is cleared from
 * that value's bitmap; a deleted document leaves no bit anywhere except in the dirty bitmaps
 * (which record that it changed). To know which bits a document set, the index keeps a compact
 * per-document record of its filter values (the "forward" records). A value bitmap that becomes
 * empty is dropped, so index_filter_value() returns NULL for a value no live document holds.
 *
 * Every write validates its whole input against the schema before touching anything: on a
 * validation error nothing has changed (only -ENOMEM part-way can leave a write half applied).
 * The index_check_* functions run the same validation without applying, so a batch can be
 * checked all-or-nothing before any of it is applied.
 *
 * Concurrency: single writer, no internal locking. Reads (every const function) may run
 * concurrently with each other but not with any write; snapshots for concurrent readers are a
 * layer above this one. Pointers returned by read accessors are borrowed: valid until the next
 * write to the index (or index_free()).
 */
#ifndef BITDEX_INDEX_H
#define BITDEX_INDEX_H

#include <roaring/roaring.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/bsi.h"
#include "common/column.h"
#include "common/dictionary.h"
#include "common/docstore.h"
#include "common/docvalues.h"
#include "common/error.h"
#include "common/permutation.h"
#include "common/schema.h"

typedef struct index index_t;

/* Values of one filter field. Exactly one of the arrays is used, per the field's type. */
typedef struct index_values {
    const int64_t *ints;        /* INT: any int64; BOOL: 0 or 1 (`count` entries) */
    const char *const *strings; /* STRING: `count` NUL-terminated strings */
    size_t count;
} index_values_t;

/* One filter field of a document. */
typedef struct index_doc_filter {
    bool present;          /* the document sets this field (else: no value, not null) */
    bool null;             /* explicit null (nullable fields only); values must be empty */
    index_values_t values; /* single-valued: at most 1; multi-valued: a set (dupes collapse).
                              0 values and not null = the field has no value */
} index_doc_filter_t;

/* One sort field of a document. Computed sort fields must not be present (they derive). */
typedef struct index_doc_sort {
    bool present;
    uint64_t value; /* must fit in the field's bits */
} index_doc_sort_t;

/* A document as the caller built it. Arrays are indexed like the schema's fields. */
typedef struct index_doc {
    const index_doc_filter_t *filters; /* schema filter_count entries, or NULL = none present */
    const index_doc_sort_t *sorts;     /* schema sort_count entries, or NULL = none present */
} index_doc_t;

typedef struct index_memory {
    uint64_t docs;         /* live documents */
    size_t filter_bitmaps; /* value, null and exists bitmaps of filter fields */
    size_t sort_bitmaps;   /* BSI slices and existence bitmaps */
    size_t other_bitmaps;  /* alive and dirty */
    size_t bitmaps;        /* the three above */
    size_t columns;        /* sort columns */
    size_t permutations;   /* sort permutations */
    size_t dictionaries;   /* string dictionaries */
    size_t maps;           /* value -> bitmap maps and key order */
    size_t forward;        /* per-document value records (clean replace / delete) */
    size_t docstore;       /* stored-field blobs (owned bytes; not an image they are read from) */
    size_t total;          /* everything above */
    /* Breakdown of the bitmap figures after index_freeze() (all 0 before). The per-kind figures
     * above count each frozen bitmap's arena bytes and its view header; arena bytes no bitmap
     * uses any more (bitmaps written since the freeze) are counted in other_bitmaps. */
    size_t frozen_arena;        /* bytes allocated for the arena */
    size_t frozen_live;         /* of which: bytes still read by some bitmap */
    size_t frozen_views;        /* view headers made so far (frozen bitmaps read since) */
    uint64_t frozen_view_count; /* number of those headers */
} index_memory_t;

/* ---- lifecycle ---- */

/* New empty index for `schema` (validated, then copied: the caller keeps its own). Caller
 * frees *out with index_free(). Returns 0, -ENOMEM or BDX_EINVAL (from schema_validate()). */
int index_new(const schema_t *schema, index_t **out, bdx_error_t *err);

/* Frees the index and everything it owns. NULL is a no-op. */
void index_free(index_t *ix);

/* The index's own schema copy. Borrowed; valid while the index lives. */
const schema_t *index_schema(const index_t *ix);

/* ---- validation without applying ---- */

/* Checks a document for index_put()/index_merge(). 0 or BDX_EINVAL naming the field. */
int index_check_doc(const index_t *ix, const index_doc_t *doc, bdx_error_t *err);

/* Checks index_set_filter() arguments. 0 or BDX_EINVAL naming the field. */
int index_check_filter(const index_t *ix, size_t field, bool null, const index_values_t *values,
                       bdx_error_t *err);

/* Checks index_set_sort() arguments (field not computed, value fits). 0 or BDX_EINVAL. */
int index_check_sort(const index_t *ix, size_t field, uint64_t value, bdx_error_t *err);

/* Checks index_add_values()/index_remove_values() arguments (multi-valued field, types).
 * 0 or BDX_EINVAL naming the field. */
int index_check_values(const index_t *ix, size_t field, const index_values_t *values,
                       bdx_error_t *err);

/* ---- writes (each validates first; on error nothing changed) ---- */

/* Replaces the whole document at `slot` (creating it if missing). Fields not present end up
 * with no value, and its stored fields are removed (set them after with index_set_stored()). Fastest when new slots arrive in increasing order (bulk load). Returns 0,
 * -ENOMEM or BDX_EINVAL. */
int index_put(index_t *ix, uint32_t slot, const index_doc_t *doc, bdx_error_t *err);

/* Sets only the fields present in `doc`, keeping the others; creates the document if missing.
 * Returns 0, -ENOMEM or BDX_EINVAL. */
int index_merge(index_t *ix, uint32_t slot, const index_doc_t *doc, bdx_error_t *err);

/* Deletes the document (clean: its bits are cleared from every bitmap; its slots are marked
 * dirty in every sort field it had a value in; its stored-field blob is removed). No-op when
 * the slot is not alive. 0 or -ENOMEM. */
int index_delete(index_t *ix, uint32_t slot);

/* Sets one filter field (null, or the given values) of the document; creates the document if
 * missing. Returns 0, -ENOMEM or BDX_EINVAL. */
int index_set_filter(index_t *ix, uint32_t slot, size_t field, bool null,
                     const index_values_t *values, bdx_error_t *err);

/* Sets one (non-computed) sort field of the document; creates the document if missing.
 * Computed fields depending on it are recomputed. Returns 0, -ENOMEM or BDX_EINVAL. */
int index_set_sort(index_t *ix, uint32_t slot, size_t field, uint64_t value, bdx_error_t *err);

/* Clears one (non-computed) sort field of the document: its BSI bits and existence, its column
 * value (to 0); the slot is marked dirty and computed fields depending on it are recomputed. A
 * no-op when the document is missing (it is not created) or has no value in the field.
 * Returns 0, -ENOMEM or BDX_EINVAL (no such field, or a computed one). */
int index_clear_sort(index_t *ix, uint32_t slot, size_t field, bdx_error_t *err);

/* Adds values to / removes values from a multi-valued filter field. Add creates the document if
 * missing and clears a null; removing values the document lacks (or from a missing document)
 * is a no-op. Returns 0, -ENOMEM or BDX_EINVAL. */
int index_add_values(index_t *ix, uint32_t slot, size_t field, const index_values_t *values,
                     bdx_error_t *err);
int index_remove_values(index_t *ix, uint32_t slot, size_t field, const index_values_t *values,
                        bdx_error_t *err);

/* Sets the document's stored-field blob (docstore codec, common/docstore.h; copied, not
 * checked) and creates the document if missing; len 0 removes the blob (the document stays).
 * index_merge() and index_set_*() keep the blob; index_put() removes it. Returns 0, -ENOMEM
 * or BDX_ETOOBIG (over 16 MiB). */
int index_set_stored(index_t *ix, uint32_t slot, const void *blob, size_t len);

/* ---- bulk load ---- */

/*
 * Appends a new document the way a bulk load does: validated like index_put(), but its bits are
 * buffered and added in batches grouped by value (one hash lookup and one CRoaring batched add
 * per value per batch instead of one random-access add per bit), several times faster than
 * index_put() on large loads (and on batches of new documents: common/apply.c). Slots must be
 * strictly increasing across the calls of one run (until index_bulk_flush() or another write)
 * and not live (else BDX_EINVAL); the result is that of index_put() on each, in order. Batches
 * are applied as the buffer fills (every ~4M values); the documents of the current batch stay
 * invisible to reads until index_bulk_flush(). Every other write (and
 * index_rebuild_perms()/index_optimize()) flushes first. Returns 0, -ENOMEM or BDX_EINVAL.
 */
int index_bulk_put(index_t *ix, uint32_t slot, const index_doc_t *doc, bdx_error_t *err);

/* Applies every buffered bulk document and frees the buffers. 0 or -ENOMEM. */
int index_bulk_flush(index_t *ix);

/* Rebuilds every sort field's permutation from the current state and clears the dirty
 * bitmaps. Returns 0 or -ENOMEM (then the old permutations and dirty bitmaps are kept). */
int index_rebuild_perms(index_t *ix);

/* Compacts memory after a bulk load: run_optimize + shrink_to_fit on every bitmap, compaction
 * of the forward records and stored-field blobs. Changes no answer. Returns 0 or -ENOMEM. */
int index_optimize(index_t *ix);

/*
 * Freezes the index's bitmaps: serializes every bitmap index_memory() counts (filter value,
 * null and exists bitmaps, BSI slices and existence, dirty and alive) into one 32-byte aligned
 * arena in CRoaring's frozen format (common/frozen.h) and makes each bitmap a frozen slot over
 * its bytes (common/bitmap.h). A frozen bitmap costs its serialized size (rounded up to 32
 * bytes) until a read first touches it, which adds a small view header (atomic, so concurrent
 * readers stay safe); this removes CRoaring's per-bitmap and per-container heap structures,
 * which dominate for the millions of tiny value bitmaps (postId, userId). Call it after a bulk
 * load, after index_optimize() (which run-optimizes the bitmaps first) and
 * index_rebuild_perms(); then again from time to time when many frozen bitmaps were written.
 *
 * Writes keep working: a write copies the one bitmap it touches out of the arena (copy-on-write)
 * and those arena bytes stay allocated, unused, until the next freeze. The arena is owned by the
 * index: the next index_freeze() moves every frozen bitmap into a new arena and frees the old
 * one; index_free() frees it last. Like every write, it invalidates pointers returned by read
 * accessors. Flushes a pending bulk load first. Changes no answer. Returns 0 or -ENOMEM (only
 * before anything changed).
 */
int index_freeze(index_t *ix);

/* ---- reads (borrowed results: valid until the next write) ---- */

/* Live documents. Never NULL. */
const roaring_bitmap_t *index_alive(const index_t *ix);

/* Number of live documents. O(1) after the first call since the last write (the counts below
 * too: cached per write generation; safe for concurrent readers). */
uint64_t index_doc_count(const index_t *ix);

/* Highest live slot, or -1 when the index is empty. */
int64_t index_max_slot(const index_t *ix);

/* True when `slot` holds a live document. */
bool index_doc_exists(const index_t *ix, uint32_t slot);

/* Slots whose filter field `field` holds value `key` (for strings: the dictionary key), or NULL
 * when no live document holds it. */
const roaring_bitmap_t *index_filter_value(const index_t *ix, size_t field, int64_t key);

/* Slots whose field is an explicit null, or NULL when none. */
const roaring_bitmap_t *index_filter_null(const index_t *ix, size_t field);

/* Slots whose field holds at least one value (null and absent excluded). Never NULL. */
const roaring_bitmap_t *index_filter_exists(const index_t *ix, size_t field);

/* Cardinality of index_filter_exists() (0 for an invalid field). Cached like index_doc_count(). */
uint64_t index_filter_exists_count(const index_t *ix, size_t field);

/* Number of distinct values held by live documents (= number of non-empty value bitmaps). */
uint64_t index_filter_value_count(const index_t *ix, size_t field);

/* Visitor for index_filter_range(): return false to stop. `bitmap` is never NULL or empty. */
typedef bool (*index_value_fn)(int64_t key, const roaring_bitmap_t *bitmap, void *arg);

/* Calls fn for every value key in [lo, hi] that some live document holds, in ascending key
 * order (for strings the order is of dictionary keys, not of strings). Cost ~ log(values) +
 * values visited. */
void index_filter_range(const index_t *ix, size_t field, int64_t lo, int64_t hi, index_value_fn fn,
                        void *arg);

/* The dictionary of a STRING field (lookup a string's key; an unknown string matches nothing),
 * or NULL for other types. */
const dictionary_t *index_dict(const index_t *ix, size_t field);

/* Sort field structures. Never NULL for a valid sort field index. */
const bsi_t *index_sort_bsi(const index_t *ix, size_t field);
const column_t *index_sort_column(const index_t *ix, size_t field);
const permutation_t *index_sort_perm(const index_t *ix, size_t field);

/* Slots changed since the field's permutation was built: value changed, set, cleared,
 * document added or deleted. Never NULL. */
const roaring_bitmap_t *index_sort_dirty(const index_t *ix, size_t field);

/* Cardinalities of bsi_exists(index_sort_bsi()) and of index_sort_dirty() (0 for an invalid
 * field). Cached like index_doc_count(). */
uint64_t index_sort_exists_count(const index_t *ix, size_t field);
uint64_t index_sort_dirty_count(const index_t *ix, size_t field);

/* The sort field's value of `slot` from the column (O(1)); 0 when it has none (see
 * bsi_exists(index_sort_bsi()) for presence). */
uint64_t index_sort_value(const index_t *ix, size_t field, uint32_t slot);

/* Slots written since the generation base this index was loaded from (generation_load(); for
 * an index built from scratch: every slot ever written). A superset: a write that changed
 * nothing may still mark its slot. The generation writer takes per-slot data of these slots
 * into a delta. Never NULL. */
const roaring_bitmap_t *index_touched(const index_t *ix);

/* The filter values of the document at `slot` (GetDocuments), decoded into `rec`, which the
 * caller prepared with docvalues_rec_init(rec, schema filter_count) and frees; keys of STRING
 * fields are dictionary keys (index_dict()). A slot without a live document gives every field
 * DOCVALUES_NONE. 0 or -ENOMEM. */
int index_doc_filters(const index_t *ix, uint32_t slot, docvalues_rec_t *rec);

/* The document's stored-field blob (decode with docstore_decode() and index_schema()), or NULL
 * and *len = 0 when it has no stored field. */
const uint8_t *index_stored(const index_t *ix, uint32_t slot, size_t *len);

/* The document store (e.g. to write its image). Never NULL. */
const docstore_t *index_docstore(const index_t *ix);

/* Memory use, by kind. */
void index_memory(const index_t *ix, index_memory_t *stats);

#endif

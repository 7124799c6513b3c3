/*
 * index_internal: the fields of index_t, private to common/ (index*.c and generation*.c only).
 *
 * index.h is the contract for everyone else; this header exists so that the generation code
 * (common/generation_*.c) can write every structure of an index into a generation file and
 * build an index whose bitmaps are frozen slots over a mapped generation, without widening
 * index.h. Nothing outside common/ may include it.
 *
 * Ownership: the index owns everything reachable from it except the bytes under frozen slots
 * set by generation_load(), which belong to the generation's mapping (the generation must
 * outlive the index). Concurrency: as index.h (single writer, no locking).
 */
#ifndef BITDEX_INDEX_INTERNAL_H
#define BITDEX_INDEX_INTERNAL_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "common/bitmap.h"
#include "common/docstore.h"
#include "common/docvalues.h"
#include "common/frozen.h"
#include "common/index.h"
#include "common/valuemap.h"

typedef struct filter_state {
    valuemap_t *values;
    bitmap_t null;
    bitmap_t exists;
    dictionary_t *dict; /* STRING fields only */
} filter_state_t;

typedef struct sort_state {
    bsi_t *bsi;
    column_t *col;
    permutation_t *perm;
    bitmap_t dirty;
    int src[2];        /* computed fields: indexes of the sources; -1 otherwise */
    bool perm_rebuilt; /* perm differs from the one in the base the index was loaded from */
} sort_state_t;

typedef struct bulk bulk_t;

/* A cardinality cached by readers for the write generation it was computed at (see
 * cached_count() in index.c). */
typedef struct count_cache {
    _Atomic uint64_t gen; /* index write generation of `count`; 0 = never computed */
    _Atomic uint64_t count;
} count_cache_t;

struct index {
    schema_t *schema;
    filter_state_t *filters;
    sort_state_t *sorts;
    bitmap_t alive;
    docvalues_t *dv;
    docstore_t *docs;
    /* Slots written since the base this index was loaded from (every slot of a new index). The
     * delta writer takes per-slot data (columns, docvalues, docstore) for these slots only. */
    bitmap_t touched;
    /* Identity of the base file this index was loaded from (generation_load()), 0 = none: a
     * delta can only be written against that base. */
    uint64_t base_id;
    /* Start of that base's bitmaps section in the mapping this index borrows: a slot frozen
     * over base_bitmaps + an item's offset is that item, unchanged. */
    const uint8_t *base_bitmaps;
    /* Per filter field: dictionary_count() of that base (strings a delta must add start
     * there); NULL when not loaded from a generation. */
    int64_t *dict_base;
    /* scratch reused by every write (the index has a single writer) */
    docvalues_rec_t old, cur;
    int64_t *keys;
    size_t keys_cap;
    bulk_t *bulk;     /* buffered index_bulk_put() documents, or NULL */
    frozen_t *frozen; /* arena of the frozen bitmaps (index_freeze()), or NULL */
    /* Write generation (>= 1), bumped before every write, and the cardinalities readers cached
     * for it: alive, each filter field's exists, each sort field's BSI existence and dirty. */
    uint64_t writes;
    count_cache_t *counts;
};

#endif

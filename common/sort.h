/*
 * sort: ordering a filter result into one page, after a cursor.
 *
 * The order is (value, slot): `desc` is value desc then slot desc, `asc` is value asc then slot
 * asc; a document without a value for the sort field counts as 0. Without a sort field
 * (field -1) the order is slot order in `desc`'s direction (the query layer passes desc = true
 * when there is no sort, and the direction of a sort on `id`). A page is the first `limit` rows strictly after the cursor.
 *
 * Three strategies give identical pages (tests/common/test_oracle.c proves it against a brute
 * force model); the choice is only about cost:
 *   SORT_MATERIALIZE  read every slot of the filter, look its value up in the column, keep the
 *                     best `limit` in a bounded heap. Cost ~ |filter|. Best for small results.
 *   SORT_BSI          restrict the filter to the rows after the cursor bit-sliced (values
 *                     strictly after the cursor value, plus the cursor value's ties with a slot
 *                     past the cursor slot), take the BSI top-K, order that small set; a huge
 *                     tie group at the boundary is read in slot order, never sorted. Cost ~
 *                     bits x bitmap ops over the filter. Best for large results when the sort
 *                     field changes often.
 *   SORT_WALK         walk the field's permutation in order from the cursor position (binary
 *                     search), keep the slots in the filter, skip dirty slots (their entries may
 *                     be stale) and merge in the dirty slots that pass the filter by their
 *                     current value, plus documents without a value (as 0). Cost ~ limit /
 *                     selectivity + dirty slots in the filter. Best for dense filters. The
 *                     filter may be a predicate tested per slot (sort_request_t.match), so a
 *                     dense filter is never built.
 *   SORT_SLOT         no sort field: iteration of the filter from the cursor slot, down for
 *                     desc, up for asc (of the live slots, tested one by one, with a
 *                     predicate filter).
 *
 * sort_choose() picks one from the size of the filter result and the thresholds: materialize
 * small results; walk when the expected scan (limit / selectivity, assuming the filter is
 * independent of the sort order) is short and few slots are dirty; BSI otherwise.
 *
 * Concurrency: reads the index only (held by the caller for the duration).
 */
#ifndef BITDEX_SORT_H
#define BITDEX_SORT_H

#include <roaring/roaring.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/cursor.h"
#include "common/index.h"

typedef enum sort_strategy {
    SORT_AUTO = 0, /* let sort_choose() decide */
    SORT_MATERIALIZE,
    SORT_BSI,
    SORT_WALK,
    SORT_SLOT, /* implied by "no sort field"; never forced */
} sort_strategy_t;

/* When to use which strategy; see sort_thresholds_default(). */
typedef struct sort_thresholds {
    uint64_t materialize_max; /* results up to this many rows are materialized */
    uint64_t walk_max_scan;   /* walk when a page is expected to read at most this many
                                 permutation entries: (limit) x |live docs| / |filter| ... */
    uint64_t walk_max_dirty;  /* ... and the field has at most this many dirty slots */
} sort_thresholds_t;

/* materialize_max 16384, walk_max_scan 100000, walk_max_dirty 65536. */
void sort_thresholds_default(sort_thresholds_t *th);

/* A filter given as a predicate: true when the live slot `slot` matches. */
typedef bool (*sort_match_fn)(void *arg, uint32_t slot);

typedef struct sort_request {
    const index_t *ix; /* borrowed */
    int field;         /* sort field index; -1 = slot order (in `desc`'s direction) */
    bool desc;
    const roaring_bitmap_t *filter; /* borrowed; the matching live slots, or NULL when the
                                       filter is the predicate `match` instead */
    sort_match_fn match;            /* used when filter is NULL (SORT_WALK and SORT_SLOT only:
                                       a dense filter is tested slot by slot, never built) */
    void *match_arg;
    /* With `match`: give up with -EAGAIN once this many slots were tested without filling the
     * page (0 = no limit); the caller then builds the filter and uses another strategy. */
    uint64_t max_scan;
    const cursor_t *after; /* NULL = from the first row */
    uint32_t limit;        /* rows wanted (>= 1) */
} sort_request_t;

/*
 * Picks the strategy for `rq` whose filter holds `filter_count` rows: SORT_SLOT without a sort
 * field, else `force` when it is not SORT_AUTO, else by the thresholds (NULL = defaults).
 * Writes a one-line explanation into reason[len] (may be NULL).
 */
sort_strategy_t sort_choose(const sort_request_t *rq, uint64_t filter_count, sort_strategy_t force,
                            const sort_thresholds_t *th, char *reason, size_t len);

/*
 * Produces the page: up to rq->limit rows into slots[] and values[] (caller-provided, at least
 * rq->limit entries each; values are 0 without a sort field), their number in *n. SORT_AUTO
 * chooses with default thresholds (with a predicate filter: walk). Returns 0, -ENOMEM,
 * -EAGAIN (a predicate walk went past rq->max_scan; *n is then meaningless), or BDX_EINVAL
 * for a strategy that cannot serve the request (a sorted strategy without a sort field;
 * materialize or bsi with a predicate filter).
 */
int sort_run(sort_strategy_t s, const sort_request_t *rq, uint32_t *slots, uint64_t *values,
             size_t *n);

/* The strategies themselves (same contract as sort_run()). */
int sort_materialize(const sort_request_t *rq, uint32_t *slots, uint64_t *values, size_t *n);
int sort_bsi(const sort_request_t *rq, uint32_t *slots, uint64_t *values, size_t *n);
int sort_walk(const sort_request_t *rq, uint32_t *slots, uint64_t *values, size_t *n);
int sort_by_slot(const sort_request_t *rq, uint32_t *slots, uint64_t *values, size_t *n);

/* "materialize", "bsi", "walk", "slot" or "auto". */
const char *sort_strategy_name(sort_strategy_t s);

/* Parses a name as printed by sort_strategy_name(); 0 or BDX_EINVAL. */
int sort_strategy_parse(const char *name, sort_strategy_t *out);

#endif

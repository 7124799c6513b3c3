/*
 * explain: the trace of one query run, for humans (the Search explain option, bitdex-inspect).
 *
 * It records the canonical plan, each clause's estimated and actual cardinality and time, the
 * size of the filter result, the sort strategy chosen and why, and the time of each phase.
 * search.c fills it when the query asks for QUERY_WANT_EXPLAIN; explain_format() prints it.
 *
 * Ownership: an explain_t owns all its strings; free with explain_free(). Not shared.
 */
#ifndef BITDEX_EXPLAIN_H
#define BITDEX_EXPLAIN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/query.h"
#include "common/sort.h"

/* One clause of the plan, in evaluation-tree preorder. */
typedef struct explain_clause {
    char *text;        /* leaves: canonical text; And/Or/Not: the op name. Owned. */
    unsigned depth;    /* 0 = root */
    uint64_t estimate; /* estimated cardinality */
    uint64_t actual;   /* cardinality after it (of its own result, or of the running set it
                          was applied to when `applied`) */
    uint64_t ns;       /* time it took, nanoseconds (includes its children) */
    bool evaluated;    /* false: skipped because an And was already empty */
    bool applied;      /* applied in place to a running And set */
} explain_clause_t;

typedef struct explain {
    char *canonical; /* canonical filter text ("all" = no filter). Owned. */
    char *sort;      /* e.g. "sortAt desc" or "id desc (no sort)". Owned. */
    uint32_t limit;
    bool has_cursor;
    explain_clause_t *clauses; /* owned */
    size_t nclauses;
    uint64_t filter_estimate; /* the planner's estimate of the filter result */
    uint64_t filter_expected; /* the estimate assuming independent clauses (planner_expected) */
    uint64_t filter_count;    /* its actual size (valid when filter_built or has_total) */
    bool filter_built;        /* false: the filter was tested slot by slot, never built */
    bool has_total;           /* filter_count was counted for the exact total */
    uint64_t walk_tested;     /* slots tested by a predicate walk that gave up, else 0 */
    sort_strategy_t strategy;
    char reason[256];    /* why that strategy */
    uint64_t prepare_ns; /* validate + canonicalize + cursor */
    uint64_t filter_ns;  /* estimate + evaluate */
    uint64_t sort_ns;
    uint64_t total_ns;
    size_t rows; /* rows returned */
} explain_t;

/* New zeroed trace; NULL when out of memory. Caller frees with explain_free(). */
explain_t *explain_new(void);

/* Frees it. NULL is a no-op. */
void explain_free(explain_t *e);

/* Sets the plan from a canonical, evaluated tree (NULL = no filter): its text and one clause
 * per node with the stats the planner recorded. 0 or -ENOMEM. */
int explain_set_plan(explain_t *e, const query_node_t *root);

/* Sets the sort description (copied). 0 or -ENOMEM. */
int explain_set_sort(explain_t *e, const char *field, bool desc);

/*
 * Prints the trace as indented text lines, e.g.
 *   plan: and(eq(nsfw,1),not(in(tagIds,[3,7])))
 *   sort: sortAt desc limit 50
 *   filter: est 1200 actual 1187 in 35.2us   (or "est 1200 expected 900 not built: tested per
 *           slot" when a walk tested a dense filter slot by slot)
 *     and                est 1200   actual 1187   35.0us
 *       eq(nsfw,1)       est 1200   actual 1200    2.1us
 *       not              est 99000  actual 1187   30.4us applied
 *   ...
 *   strategy: materialize (filter has 1187 rows <= materialize_max 16384)
 * Stores a malloc'd string in *out (caller frees with free()). 0 or -ENOMEM.
 */
int explain_format(const explain_t *e, char **out);

#endif

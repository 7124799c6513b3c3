/*
 * query: the query a client asks for, as plain C structs independent of protobuf.
 *
 * A query is an index name, a filter tree (query_node_t), an optional sort (field, asc|desc),
 * a page size, an optional cursor and a few flags. The gRPC layer translates its messages into
 * this form; search.h runs it. This file owns three things about a query:
 *
 *   - building it (query_new, query_eq, query_in, query_and, ...);
 *   - validating it against a schema with precise errors (query_validate): unknown fields, values
 *     of the wrong type or out of range, lists, clause counts and nesting over the limits, bad
 *     page sizes, sorting on a field that is not a sort field. Validation also *binds* each leaf
 *     to its field (field_kind, field_index), which the planner relies on;
 *   - canonicalizing it (query_canonicalize): flatten nested And/Or, Not(Not x) = x, sort and
 *     dedupe children and In lists, and print a stable text form (query_canonical_text) that is
 *     used by explain and hashed into the query fingerprint that binds cursors to a query.
 *
 * Semantics of the clauses (the planner implements them, the oracle test checks them):
 *   - A document "has" a value v of field f when v is one of its values of f (single-valued
 *     fields have at most one value, multi-valued fields a set; null means no value at all).
 *   - Eq v: has v. In S: has some value in S (an empty S matches nothing).
 *   - NotEq v: has at least one value of f and does not have v. NotIn S: has at least one value
 *     and none of them is in S. Neither ever matches a null. For a single-valued field this is
 *     the usual "f != v and f is not null".
 *   - Gt/Gte/Lt/Lte/Between (inclusive; lo > hi matches nothing): has some value in the range.
 *     Allowed on int filter fields, sort fields and `id`; not on bool or string fields.
 *   - IsNull: has no value (an explicit null or no value at all). IsNotNull: has at least one.
 *     A sort field a document has no value for is null the same way (IsNull matches it, no
 *     comparison does) but in the sort order it counts as 0. `id` is never null.
 *   - And/Or (at least one child), Not(x) = live documents not matching x.
 *   - Prefilter(name): a named, cached clause set resolved by the caller (search.h).
 *   - The pseudo-field `id` is the slot: comparisons against it are ranges of slots.
 *   - Values compared with a sort field or `id` are non-negative ints that fit the field's bits
 *     (anything else is rejected). Query values are int64, so a 64-bit sort field can be
 *     compared with values up to 2^63 - 1 (Gt 2^63 - 1 still matches the larger ones).
 *
 * Ownership: every node owns its field name, values and children; freeing the root frees the tree.
 * Builder functions that take child nodes take ownership of them, also when they fail, and
 * accept NULL children (then they free the others and return NULL), so nested builder calls need
 * one NULL check at the end.
 *
 * Thread-safety: a query is a plain value; it is not shared, and functions here touch only what
 * they are given.
 */
#ifndef BITDEX_QUERY_H
#define BITDEX_QUERY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/error.h"

struct schema;

/* The pseudo-field naming the document id (slot). */
#define QUERY_FIELD_ID "id"

typedef enum query_op {
    QUERY_EQ = 1,
    QUERY_NOT_EQ,
    QUERY_IN,
    QUERY_NOT_IN,
    QUERY_GT,
    QUERY_GTE,
    QUERY_LT,
    QUERY_LTE,
    QUERY_BETWEEN,
    QUERY_IS_NULL,
    QUERY_IS_NOT_NULL,
    QUERY_AND,
    QUERY_OR,
    QUERY_NOT,
    QUERY_PREFILTER,
} query_op_t;

typedef enum query_value_kind {
    QUERY_VALUE_INT = 1,
    QUERY_VALUE_BOOL,
    QUERY_VALUE_STRING,
} query_value_kind_t;

/*
 * A typed value. `i` holds an int, or 0/1 for a bool. `s`/`len` hold a string (bytes; not
 * necessarily NUL-free): borrowed in values built by query_int()/query_str() and passed to the
 * node builders (which copy it), owned (NUL-terminated copy) inside a node.
 */
typedef struct query_value {
    query_value_kind_t kind;
    int64_t i;
    const char *s;
    size_t len;
} query_value_t;

/* What a leaf's field turned out to be; set by query_validate(). */
typedef enum query_field_kind {
    QUERY_FIELD_UNBOUND = 0,
    QUERY_FIELD_FILTER, /* field_index = index of the filter field in the schema */
    QUERY_FIELD_SORT,   /* field_index = index of the sort field in the schema */
    QUERY_FIELD_SLOT,   /* the pseudo-field `id` */
} query_field_kind_t;

/* Per-node numbers the planner records for explain; scratch, not part of the query's meaning. */
typedef struct query_node_stats {
    uint64_t estimate; /* estimated cardinality */
    uint64_t actual;   /* cardinality of the evaluated result (valid when evaluated) */
    uint64_t ns;       /* time spent evaluating, nanoseconds */
    bool evaluated;    /* false when skipped (an And that became empty first) */
    bool applied;      /* applied in place to a running set: `actual` is that set after it */
} query_node_stats_t;

typedef struct query_node {
    query_op_t op;
    char *field;           /* leaves: field name; PREFILTER: prefilter name. Owned. */
    query_value_t *values; /* Eq.. Lte: 1; Between: 2 (lo, hi); In/NotIn: n. Owned. */
    size_t nvalues;
    struct query_node **children; /* And/Or: n >= 1 once valid; Not: 1. Owned. */
    size_t nchildren;
    size_t cap;                    /* allocated length of children */
    query_field_kind_t field_kind; /* set by query_validate() */
    int field_index;
    query_node_stats_t stats;
} query_node_t;

/* Builders for values; `s` is borrowed until the value is passed to a node builder. */
query_value_t query_int(int64_t v);
query_value_t query_bool(bool v);
query_value_t query_str(const char *s);
query_value_t query_strn(const char *s, size_t len);

/*
 * Leaf builders. Return a new node (caller frees with query_node_free(), or passes it to a
 * builder that takes ownership) or NULL when out of memory. Values and names are copied. No
 * checking happens here: query_validate() reports what is wrong with names and values.
 *   query_cmp:     op is QUERY_EQ, NOT_EQ, GT, GTE, LT or LTE
 *   query_in:      op is QUERY_IN or QUERY_NOT_IN; `values` has n entries (n may be 0)
 *   query_null:    op is QUERY_IS_NULL or QUERY_IS_NOT_NULL
 */
query_node_t *query_cmp(query_op_t op, const char *field, query_value_t v);
query_node_t *query_eq(const char *field, query_value_t v);
query_node_t *query_between(const char *field, query_value_t lo, query_value_t hi);
query_node_t *query_in(query_op_t op, const char *field, const query_value_t *values, size_t n);
query_node_t *query_null(query_op_t op, const char *field);
query_node_t *query_prefilter(const char *name);

/*
 * Composite builders. Take ownership of every child (also on failure); a NULL child makes the
 * result NULL. query_and/query_or take `n` child pointers as variadic arguments.
 * query_group() makes an empty And/Or (op QUERY_AND or QUERY_OR) to fill with query_add().
 */
query_node_t *query_not(query_node_t *child);
query_node_t *query_and(size_t n, ...);
query_node_t *query_or(size_t n, ...);
query_node_t *query_group(query_op_t op);

/* Appends `child` to an And/Or/Not `parent`, taking ownership of it (freed on failure). Returns 0,
 * -ENOMEM, or BDX_EINVAL when child is NULL or parent is not a composite. */
int query_add(query_node_t *parent, query_node_t *child);

/* Deep copy (stats cleared, binding kept); NULL when out of memory. Caller frees. */
query_node_t *query_node_clone(const query_node_t *n);

/* Frees a node and its whole subtree. NULL is a no-op. */
void query_node_free(query_node_t *n);

/* Total number of nodes in the tree (each And/Or/Not counts as one clause). */
size_t query_node_count(const query_node_t *n);

/* ---- the query ---- */

#define QUERY_LIMIT_DEFAULT (-1) /* query_t.limit: use query_limits_t.default_page */

enum {
    QUERY_WANT_TOTAL = 1u << 0,   /* compute the exact total count of the filter */
    QUERY_WANT_EXPLAIN = 1u << 1, /* record an explain trace */
};

typedef struct query {
    char *index;          /* index name (owned; part of the fingerprint), may be NULL */
    query_node_t *filter; /* owned; NULL = every live document */
    char *sort_field;     /* owned; NULL = no sort: slot (id) descending; QUERY_FIELD_ID =
                             slot order in sort_desc's direction */
    bool sort_desc;
    int64_t limit;   /* page size; QUERY_LIMIT_DEFAULT = limits' default_page */
    uint8_t *cursor; /* owned copy of the opaque cursor; NULL/0 = first page */
    size_t cursor_len;
    unsigned flags; /* QUERY_WANT_* */
} query_t;

/* Returns a new empty query for `index` (copied; may be NULL) with the default limit, no filter,
 * no sort, no cursor; NULL when out of memory. Caller frees with query_free(). */
query_t *query_new(const char *index);
void query_free(query_t *q);

/* Replaces the filter; takes ownership of `filter` (may be NULL = match all). */
void query_set_filter(query_t *q, query_node_t *filter);
/* Sets (field copied) or clears (field NULL) the sort. 0 or -ENOMEM. */
int query_set_sort(query_t *q, const char *field, bool desc);
/* Copies the cursor bytes (NULL/0 clears it). 0 or -ENOMEM. */
int query_set_cursor(query_t *q, const uint8_t *cursor, size_t len);

/* Limits a request must stay within; see query_limits_default(). */
typedef struct query_limits {
    uint32_t max_in;       /* values in one In/NotIn list */
    uint32_t max_clauses;  /* nodes in the filter tree */
    uint32_t max_depth;    /* nesting depth of the filter tree (a lone leaf has depth 1) */
    uint32_t max_page;     /* largest limit (keep it well below 2^31) */
    uint32_t default_page; /* limit when the query leaves it unset */
} query_limits_t;

/* Fills the defaults: max_in 10000, max_clauses 1024, max_depth 32, max_page 1000, page 50. */
void query_limits_default(query_limits_t *lim);

/*
 * Validates `q` against `schema` and `lim` (NULL = defaults), binds every leaf to its field and
 * stores the effective page size in *limit (may be NULL). Does not look at the cursor's content
 * (that needs the fingerprint; see cursor.h). Returns 0, or
 *   BDX_EINVAL  unknown field or sort field, wrong value type, value out of range for a sort
 *               field or `id`, a clause not allowed on the field (range on bool/string), empty
 *               And/Or, limit < 1, sort on a field that is neither a sort field nor `id`;
 *   BDX_ELIMIT  an In list, the clause count, the nesting depth or the limit over `lim`;
 * with a message naming the field and the reason in `err`.
 */
int query_validate(query_t *q, const struct schema *schema, const query_limits_t *lim,
                   uint32_t *limit, bdx_error_t *err);

/*
 * Rewrites the tree at *root into canonical form: children canonicalized; Not(Not x) -> x;
 * nested And in And (Or in Or) flattened; In/NotIn values sorted and deduplicated (a one-value
 * In/NotIn becomes Eq/NotEq); And/Or children sorted by their canonical text and deduplicated;
 * an And/Or left with one child replaced by it. Equivalent queries written differently (order,
 * nesting, duplicates) end up identical. Bindings are kept. Returns 0 or -ENOMEM (the tree is
 * then still valid and equivalent, possibly not fully canonical).
 */
int query_canonicalize(query_node_t **root);

/*
 * Prints `n` (NULL = "all") in the canonical text form, e.g.
 *   and(eq(nsfw,1),in(tagIds,[3,7]),not(eq(userId,9)),gte(sortAt,1700000000))
 * Strings are double-quoted with \" \\ and \xNN escapes; names that are not plain identifiers are
 * quoted too. Stores a malloc'd NUL-terminated string in *out (caller frees with free()).
 * Returns 0 or -ENOMEM.
 */
int query_canonical_text(const query_node_t *n, char **out);

/*
 * The 64-bit fingerprint binding cursors to a query: a hash of the index name, the canonical
 * filter text, the sort field and the direction (not the limit, not the flags). Call it on a
 * canonicalized filter. Returns 0 or -ENOMEM.
 */
int query_fingerprint(const query_t *q, const query_node_t *canonical_filter, uint64_t *out);

/*
 * The inclusive unsigned range [*lo, *hi] a comparison node (Eq, Gt, Gte, Lt, Lte, Between) selects
 * on a field whose values lie in [0, max] (sort fields, `id`). Values are read as uint64. Returns
 * false when the range is empty. Other ops are not allowed.
 */
bool query_node_bounds(const query_node_t *n, uint64_t max, uint64_t *lo, uint64_t *hi);

/* Name of an op as used in the canonical text ("eq", "not_in", "and", ...). */
const char *query_op_name(query_op_t op);

/* 64-bit hash of `len` bytes with `seed` (FNV-1a with a final avalanche); stable across builds. */
uint64_t query_hash64(const void *data, size_t len, uint64_t seed);

#endif

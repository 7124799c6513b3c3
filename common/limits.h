/*
 * limits: the per-index request limits (IndexLimits in proto/bitdex/v1/schema.proto) as plain
 * data, with their defaults and hard caps in one table.
 *
 * An index is created with limits where 0 means "the default"; limits_resolve() fills the
 * defaults in and rejects values above a hard cap, after which every field is in
 * [1, cap]. The writer persists and compares resolved limits; the reader enforces them on
 * requests. Plain data, no shared state: thread-safe as long as callers do not share a
 * limits_t they modify.
 */
#ifndef BITDEX_LIMITS_H
#define BITDEX_LIMITS_H

#include "common/error.h"

#include <stddef.h>
#include <stdint.h>

/* Field names are those of IndexLimits; see schema.proto for what each one bounds. */
typedef struct limits {
    uint32_t max_page_size;
    uint32_t max_filter_clauses;
    uint32_t max_filter_depth;
    uint32_t max_in_values;
    uint32_t max_get_documents;
    uint32_t max_values_per_field;
    uint32_t max_string_bytes;
    uint32_t max_stored_bytes;
    uint32_t max_batch_ops;
    uint32_t max_prefilters;
} limits_t;

/* One limit: its IndexLimits field name, where it sits in limits_t, its default and cap. */
typedef struct limits_spec {
    const char *name; /* "max_page_size" */
    size_t offset;    /* offsetof(limits_t, ...) */
    uint32_t def;     /* value used for 0 */
    uint32_t cap;     /* largest allowed value */
} limits_spec_t;

#define LIMITS_COUNT 10

/* The table of every limit, in IndexLimits field-number order. Static; never NULL. */
const limits_spec_t *limits_specs(void);

/* The spec named `name` (an IndexLimits field name), or NULL. */
const limits_spec_t *limits_find(const char *name);

/* The field of `l` that `spec` describes. Borrowed from `l`. */
uint32_t *limits_field(limits_t *l, const limits_spec_t *spec);
uint32_t limits_get(const limits_t *l, const limits_spec_t *spec);

/* Every limit at its default. */
void limits_defaults(limits_t *out);

/*
 * Replaces each 0 in `l` by its default, then checks the caps. Returns 0, or BDX_EINVAL with
 * the message "<name>: <value> exceeds the hard cap <cap>" (the caller adds the path before
 * the name); `l` is then partly resolved.
 */
int limits_resolve(limits_t *l, bdx_error_t *err);

#endif

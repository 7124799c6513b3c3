/*
 * schema: the fields of an index and the rules they must follow.
 *
 * An index has filter fields (int / bool / string, single- or multi-valued, optionally
 * nullable; one bitmap per value), sort fields (unsigned integers of 1..64 bits, stored
 * bit-sliced and as a dense column; optionally computed as greatest/least of two other sort
 * fields) and stored-only fields (returned to clients, never indexed). Field names are unique
 * across all three kinds, so a name alone says what a field is. `id` is reserved: it is the
 * document's slot.
 *
 * A schema_t is plain data built with the schema_add_* helpers (or filled by a parser) and
 * checked with schema_validate() before use; nothing else in the engine accepts an unvalidated
 * schema. Immutable once handed to an index (index_new() copies it).
 */
#ifndef BITDEX_SCHEMA_H
#define BITDEX_SCHEMA_H

#include <stdbool.h>
#include <stddef.h>

#include "common/error.h"

/* Limits checked by schema_validate(). */
#define SCHEMA_NAME_MAX 64 /* bytes in a field or index name, excluding NUL */
#define SCHEMA_MAX_FILTER_FIELDS 256
#define SCHEMA_MAX_SORT_FIELDS 32
#define SCHEMA_MAX_STORED_FIELDS 256
#define SCHEMA_RESERVED_NAME "id"

typedef enum schema_field_type {
    SCHEMA_INT = 0, /* signed 64-bit */
    SCHEMA_BOOL,    /* false = 0, true = 1 */
    SCHEMA_STRING,  /* mapped to int64 keys by a per-field dictionary */
} schema_field_type_t;

typedef enum schema_computed {
    SCHEMA_COMPUTED_NONE = 0,
    SCHEMA_COMPUTED_GREATEST, /* greatest(a, b); an absent source is ignored */
    SCHEMA_COMPUTED_LEAST,    /* least(a, b); an absent source is ignored */
} schema_computed_t;

typedef struct schema_filter_field {
    char *name;
    schema_field_type_t type;
    bool multi;    /* a document may hold several values (a set) */
    bool nullable; /* a document may hold an explicit null */
} schema_filter_field_t;

typedef struct schema_sort_field {
    char *name;
    unsigned bits;              /* 1..64: values are in [0, 2^bits - 1] */
    schema_computed_t computed; /* NONE: written by clients; else derived from sources */
    char *sources[2];           /* names of two non-computed sort fields (computed only) */
} schema_sort_field_t;

typedef struct schema_stored_field {
    char *name;
    schema_field_type_t type;
} schema_stored_field_t;

typedef struct schema {
    char *name; /* index name */
    schema_filter_field_t *filter_fields;
    size_t filter_count;
    schema_sort_field_t *sort_fields;
    size_t sort_count;
    schema_stored_field_t *stored_fields;
    size_t stored_count;
} schema_t;

/* New empty schema named `name` (copied). Caller frees with schema_free(). 0 or -ENOMEM. */
int schema_new(const char *name, schema_t **out);

/* "INT", "BOOL" or "STRING": the type as messages name it. */
const char *schema_type_name(schema_field_type_t t);

/* Builders: append a field (name copied). They do not validate (schema_validate() does);
 * they return 0 or -ENOMEM. */
int schema_add_filter(schema_t *s, const char *name, schema_field_type_t type, bool multi,
                      bool nullable);
int schema_add_sort(schema_t *s, const char *name, unsigned bits);
int schema_add_computed_sort(schema_t *s, const char *name, unsigned bits,
                             schema_computed_t computed, const char *source_a,
                             const char *source_b);
int schema_add_stored(schema_t *s, const char *name, schema_field_type_t type);

/*
 * Checks the schema. Returns 0, or BDX_EINVAL with a message naming the field and the reason:
 * empty, too long or invalid name ([A-Za-z_][A-Za-z0-9_]*), the reserved name `id`, a name used
 * twice (across all kinds), bits outside 1..64, an unknown type or computed kind, a computed
 * field whose source is unknown, not a sort field, itself computed, or the field itself, or
 * whose bits are fewer than its wider source's (for least() too: an absent source is ignored,
 * so the result may be the other source's value); too many fields of a kind.
 */
int schema_validate(const schema_t *s, bdx_error_t *err);

/* Deep copy. Caller frees *out with schema_free(). 0 or -ENOMEM. */
int schema_copy(const schema_t *s, schema_t **out);

/* Frees the schema and everything it holds. NULL is a no-op. */
void schema_free(schema_t *s);

/* Index of the field named `name` among the filter / sort / stored fields, or -1. */
int schema_filter_find(const schema_t *s, const char *name);
int schema_sort_find(const schema_t *s, const char *name);
int schema_stored_find(const schema_t *s, const char *name);

/* Largest value a sort field of `bits` bits holds: 2^bits - 1 (UINT64_MAX for 64). */
static inline unsigned long long schema_bits_max(unsigned bits)
{
    return bits >= 64 ? ~0ULL : (1ULL << bits) - 1;
}

#endif

/*
 * schema_pb: conversion between the API's IndexSchema (protobuf-c, proto/bitdex/v1/schema.proto)
 * and the engine's schema_t plus its limits_t, with the API's validation rules.
 *
 * Everything that accepts a schema from outside (CreateIndex, the writer's YAML config, the
 * schema file on disk) goes through schema_pb_to_schema(): it checks the request the way the
 * contract describes (index name `[A-Za-z0-9][A-Za-z0-9_-]{0,63}`, field names, types, bits,
 * computed fields, limits and their hard caps) and reports the first error as BDX_EINVAL with
 * a message "<path>: <reason>", the path in proto field names, e.g.
 * `schema.sort_fields[2].bits: 65 > 64`. Defaults are filled in on the way (sort bits 0 -> 32,
 * limits 0 -> default), so two schemas are identical exactly when their converted forms are,
 * which schema_pb_diff() checks.
 *
 * Pure functions on caller-owned data; thread-safe.
 */
#ifndef BITDEX_SCHEMA_PB_H
#define BITDEX_SCHEMA_PB_H

#include "common/error.h"
#include "common/limits.h"
#include "common/schema.h"

#include "bitdex/v1/schema.pb-c.h"
#include "bitdex/v1/types.pb-c.h"

#include <stdbool.h>
#include <stddef.h>

/* Longest index name, in bytes (the rule in schema.proto allows 1 + 63). */
#define SCHEMA_PB_INDEX_NAME_MAX 64

/* Sort field width used when a SortFieldSpec gives bits = 0. */
#define SCHEMA_PB_DEFAULT_BITS 32

/*
 * Checks an index name against `[A-Za-z0-9][A-Za-z0-9_-]{0,63}` (it names a directory, so no
 * dots, slashes or leading dash/underscore). `path` names the field in the message ("index").
 * Returns 0 or BDX_EINVAL "<path>: required" / "<path>: invalid name ... (want ...)".
 */
int schema_pb_check_index_name(const char *name, const char *path, bdx_error_t *err);

/*
 * Converts and validates `pb` (borrowed) as the schema of index `index`. On success *out is a
 * validated schema named `index` (caller frees with schema_free()) and *limits holds the
 * resolved limits. Returns 0, -ENOMEM, or BDX_EINVAL with "<path>: <reason>" where path starts
 * with "index" or "schema" ("schema: required" when pb is NULL). On failure *out is NULL.
 *
 * Stored field types BYTES and DOUBLE are INVALID_ARGUMENT in this build: the engine's
 * schema_t has no such types yet.
 */
int schema_pb_to_schema(const char *index, const Bitdex__V1__IndexSchema *pb, schema_t **out,
                        limits_t *limits, bdx_error_t *err);

/*
 * Builds the IndexSchema of a (validated) schema and its limits, as GetIndex reports it:
 * every field in declaration order, sort bits and limits as given. Caller frees *out with
 * schema_pb_free(). Returns 0 or -ENOMEM (*out NULL).
 */
int schema_pb_from_schema(const schema_t *s, const limits_t *limits, Bitdex__V1__IndexSchema **out);

/* Frees a message from schema_pb_from_schema(). NULL is a no-op. */
void schema_pb_free(Bitdex__V1__IndexSchema *pb);

/*
 * Compares two validated schemas with their resolved limits (names included). Returns false
 * when identical. Otherwise returns true and writes the first difference into diff (may be
 * NULL) as "<path> is <a> <label_a>, <b> <label_b>", e.g.
 * `sort_fields[1].bits is 32 on disk, 16 in images.yaml`.
 */
bool schema_pb_diff(const schema_t *a, const limits_t *la, const char *label_a, const schema_t *b,
                    const limits_t *lb, const char *label_b, char *diff, size_t difflen);

/* The case of a bitdex.v1.Value as messages name it: "int", "bool", "string", "null", or
 * "nothing" when no case is set. */
const char *schema_pb_value_kind_name(Bitdex__V1__Value__KindCase k);

#endif

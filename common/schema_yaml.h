/*
 * schema_yaml: index declarations in YAML files, the writer's `--config-dir`.
 *
 * A config directory holds `*.yaml` / `*.yml` files, each declaring one index: its name
 * (`index`) and its schema in the field names of IndexSchema (proto/bitdex/v1/schema.proto):
 * `filter_fields`, `sort_fields`, `stored_fields`, `limits`. docs/schemas.md describes the
 * format; docs/examples/images.yaml is a complete example. This is how a Kubernetes ConfigMap
 * provides schemas: names starting with '.' are skipped (the ConfigMap's `..data` links) and
 * symbolic links are followed.
 *
 * Every declaration is checked as strictly as CreateIndex checks its request (schema_pb), and
 * unknown or repeated keys are errors too, so a typo never silently drops a setting. Errors are
 * BDX_EINVAL with "<file>:<line>: <key path>: <reason>", e.g.
 * `indexes/images.yaml:14: sort_fields[2].bits: 65 > 64`.
 *
 * Reads files only; no shared state. Thread-safe.
 */
#ifndef BITDEX_SCHEMA_YAML_H
#define BITDEX_SCHEMA_YAML_H

#include "common/error.h"
#include "common/limits.h"
#include "common/schema.h"

#include <stddef.h>

#define SCHEMA_YAML_MAX_FILE_BYTES (1u << 20)

/* One declared index. */
typedef struct schema_yaml_index {
    char *file;       /* path of the declaring file (owned) */
    unsigned line;    /* line of the `index:` key (1-based) */
    schema_t *schema; /* validated, named after the index (owned) */
    limits_t limits;  /* resolved */
} schema_yaml_index_t;

/* Every index of a config directory, in file-name order. */
typedef struct schema_yaml {
    schema_yaml_index_t *indexes;
    size_t count;
} schema_yaml_t;

/*
 * Parses one declaration from `text` (`len` bytes, borrowed); `file` names it in messages and
 * is copied into out->file. On success the caller clears *out with schema_yaml_index_clear().
 * Returns 0, -ENOMEM or BDX_EINVAL (message as above); on failure *out is left empty.
 */
int schema_yaml_parse(const char *file, const char *text, size_t len, schema_yaml_index_t *out,
                      bdx_error_t *err);

/* schema_yaml_parse() of the file at `path`. Also -errno when it cannot be read and BDX_EINVAL
 * when it is larger than SCHEMA_YAML_MAX_FILE_BYTES. */
int schema_yaml_load_file(const char *path, schema_yaml_index_t *out, bdx_error_t *err);

/*
 * Loads every declaration in `dir`. Two files declaring the same index are BDX_EINVAL naming
 * both. An empty directory gives zero indexes. Caller frees *out with schema_yaml_free().
 * Returns 0, -errno (the directory cannot be read; message names it), -ENOMEM or BDX_EINVAL.
 */
int schema_yaml_load_dir(const char *dir, schema_yaml_t **out, bdx_error_t *err);

/* Frees what an index holds and empties it. */
void schema_yaml_index_clear(schema_yaml_index_t *ix);

/* Frees the set. NULL is a no-op. */
void schema_yaml_free(schema_yaml_t *set);

#endif

/*
 * schema_file: the on-disk schema of an index, <data>/indexes/<name>/schema.
 *
 * Layout (docs/format/schema.md is the full description): a 20-byte header — magic
 * "BDXSCH\r\n", format version, payload length, a reserved word — then the payload, the
 * IndexSchema message of proto/bitdex/v1/schema.proto in protobuf binary encoding with defaults
 * filled in, then a CRC-32 (zlib crc32) of everything before it. The CRC is checked before the
 * version is believed, so every flipped bit and every truncation is reported as corruption.
 *
 * Concurrency contract: only the active writer writes schema files, and only when it creates
 * an index (the schema never changes afterwards). schema_file_write() replaces the file
 * atomically (temp file, fsync, rename, fsync of the directory): after a crash the file is
 * either absent or complete, never partial; a leftover `schema.tmp` is garbage and is
 * overwritten by the next write. Readers (the writer at start-up, bitdex-reader, offline
 * tools) may read at any time without locking. Functions are thread-safe.
 */
#ifndef BITDEX_SCHEMA_FILE_H
#define BITDEX_SCHEMA_FILE_H

#include "common/error.h"
#include "common/limits.h"
#include "common/schema.h"

#include <stddef.h>
#include <stdint.h>

#define SCHEMA_FILE_NAME "schema"
#define SCHEMA_FILE_TMP_NAME "schema.tmp"
#define SCHEMA_FILE_MAGIC "BDXSCH\r\n" /* 8 bytes */
#define SCHEMA_FILE_VERSION 1u
#define SCHEMA_FILE_HEADER_SIZE 20u
#define SCHEMA_FILE_CRC_SIZE 4u
#define SCHEMA_FILE_MAX_PAYLOAD (16u << 20) /* far above any valid schema */

/*
 * The complete file image for `s` (validated) and its resolved `limits`. Caller frees *out with
 * free(). Returns 0 or -ENOMEM.
 */
int schema_file_encode(const schema_t *s, const limits_t *limits, uint8_t **out, size_t *len);

/*
 * Checks and decodes a file image (borrowed) of index `index`. `what` names the file in
 * messages (its path). On success *out is the schema (caller frees with schema_free()) and
 * *limits its limits. Returns 0, -ENOMEM, or:
 *   BDX_ECORRUPT "<what>: <reason> at offset <n>" — shorter than the header, bad magic, a
 *     length that does not match the file size or exceeds SCHEMA_FILE_MAX_PAYLOAD, a CRC
 *     mismatch, version 0, or a payload that is not a valid schema;
 *   BDX_EVERSION — a newer format version than SCHEMA_FILE_VERSION (with a valid CRC).
 */
int schema_file_decode(const char *what, const char *index, const uint8_t *buf, size_t len,
                       schema_t **out, limits_t *limits, bdx_error_t *err);

/*
 * Writes <dir>/schema atomically and durably (see the steps above the function). `dir` must
 * exist. Returns 0, -errno (the message names the file and the failing step) or -ENOMEM.
 */
int schema_file_write(const char *dir, const schema_t *s, const limits_t *limits, bdx_error_t *err);

/*
 * Reads <dir>/schema as the schema of index `index`. Returns what schema_file_decode() returns,
 * or -errno when the file cannot be read (-ENOENT when absent), with the path in the message.
 */
int schema_file_read(const char *dir, const char *index, schema_t **out, limits_t *limits,
                     bdx_error_t *err);

#endif

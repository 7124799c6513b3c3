/*
 * docstore: the stored fields of each document (schema stored fields: returned to clients,
 * never indexed), kept as one compact blob per slot in a slotstore (common/slotstore.h).
 *
 * Two halves:
 * - the store: slot -> blob, in memory or opened zero-copy from a generation's slotstore image
 *   (docstore_from_slots()), copied on write;
 * - the blob codec (docs/format/docstore.md): encode a Put's stored fields, merge a Merge's or
 *   Set's stored fields into an existing blob (listed fields set, the Null marker removes, the
 *   others kept), decode chosen fields into bitdex.v1.StoredFieldValue messages for
 *   GetDocuments and Search hits. The codec is pure: it reads the schema and the blob and
 *   writes into a caller's buffer, so writers and readers share it.
 *
 * Ownership: the store owns its slotstore (and borrows the image under it, see slotstore.h);
 * blobs returned by docstore_get() are borrowed until the next write to the store. Decoded
 * messages are fresh allocations the caller frees (docstore_fields_free(), or protobuf-c's
 * bitdex__v1__stored_field_value__free_unpacked() per message).
 *
 * Concurrency: single writer, no internal locking; const functions may run concurrently with
 * each other, not with a write. The codec functions touch only their arguments.
 */
#ifndef BITDEX_DOCSTORE_H
#define BITDEX_DOCSTORE_H

#include <stddef.h>
#include <stdint.h>

#include "common/error.h"
#include "common/schema.h"
#include "common/slotstore.h"

#include "bitdex/v1/types.pb-c.h"

/* Version of the blob encoding (docs/format/docstore.md); a container that persists blobs
 * (a generation's docstore section) records it next to the slotstore image. */
#define DOCSTORE_FORMAT_VERSION 1

typedef struct docstore docstore_t;

/* ---- the store ---- */

/* New empty store. Caller frees with docstore_free(). 0 or -ENOMEM. */
int docstore_new(docstore_t **out);

/* A store over `s` (blobs, e.g. opened with slotstore_image_open()); takes ownership of s
 * (freed by docstore_free(); on error the caller keeps it). 0 or -ENOMEM. */
int docstore_from_slots(slotstore_t *s, docstore_t **out);

/* The blobs' slotstore, e.g. to write its image. Borrowed; valid while ds lives. */
const slotstore_t *docstore_slots(const docstore_t *ds);

/* Frees the store and its slotstore. NULL is a no-op. */
void docstore_free(docstore_t *ds);

/* The slot's blob (NULL, *len = 0 when the document has no stored field). Borrowed until the
 * next write to the store. */
const uint8_t *docstore_get(const docstore_t *ds, uint32_t slot, size_t *len);

/* Sets the slot's blob to a copy of blob[0..len); len 0 removes it. 0, -ENOMEM or BDX_ETOOBIG
 * (over 16 MiB). The blob is not checked (it comes from the codec below). */
int docstore_put(docstore_t *ds, uint32_t slot, const void *blob, size_t len);

/* Removes the slot's blob (no-op when none). */
void docstore_remove(docstore_t *ds, uint32_t slot);

/* Reclaims the space of replaced blobs (slotstore_compact()). 0 or -ENOMEM. */
int docstore_compact(docstore_t *ds);

/* Bytes of memory owned (not the image the blobs may be read from). */
size_t docstore_memory(const docstore_t *ds);

/* Documents with a blob. */
uint32_t docstore_count(const docstore_t *ds);

/* ---- the blob codec ---- */

/* A growable output buffer: zero-initialize, reuse across calls, free with
 * docstore_buf_free(). */
typedef struct docstore_buf {
    uint8_t *data;
    size_t len, cap;
} docstore_buf_t;

void docstore_buf_free(docstore_buf_t *b);

/*
 * Writes into `out` (replacing its contents) the blob of `old` (old_len bytes; NULL/0 = no
 * stored field) with the n listed fields applied: a value sets the field, the Null marker
 * removes it, unlisted fields are kept. With no old blob this encodes a Put's stored fields
 * (where Null = leaving the field out). out->len 0 means "no stored field": remove the blob.
 * Returns 0, -ENOMEM, BDX_EINVAL naming the field (unknown name, no value, a value of another
 * type than the schema's, a field listed twice), or BDX_ECORRUPT for a malformed old blob.
 */
int docstore_merge(const schema_t *schema, const uint8_t *old, size_t old_len,
                   Bitdex__V1__StoredFieldValue *const *fields, size_t n, docstore_buf_t *out,
                   bdx_error_t *err);

/* Checks a blob's structure against the schema (what decoding relies on). 0 or BDX_ECORRUPT. */
int docstore_check(const schema_t *schema, const uint8_t *blob, size_t len, bdx_error_t *err);

/*
 * Decodes the stored fields `fields[0..nfields)` (schema stored-field indexes, in the caller's
 * order; fields NULL = every stored field in schema order) of a blob into freshly allocated
 * messages: *out receives an array of *n_out messages, one per requested field the document
 * holds (absent fields are not listed), in the requested order. Caller frees with
 * docstore_fields_free(*out, *n_out) (or each message with
 * bitdex__v1__stored_field_value__free_unpacked(m, NULL), then free(*out)). *out is NULL when
 * *n_out is 0. Returns 0, -ENOMEM, BDX_EINVAL (a field index out of range) or BDX_ECORRUPT
 * (malformed blob); nothing to free on error.
 */
int docstore_decode(const schema_t *schema, const uint8_t *blob, size_t len, const size_t *fields,
                    size_t nfields, Bitdex__V1__StoredFieldValue ***out, size_t *n_out,
                    bdx_error_t *err);

/* Frees n decoded messages and the array. NULL is a no-op. */
void docstore_fields_free(Bitdex__V1__StoredFieldValue **fields, size_t n);

#endif

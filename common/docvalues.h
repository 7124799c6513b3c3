/*
 * docvalues: a compact per-document record of the filter values each document holds.
 *
 * Bitmaps answer "which documents hold value v"; replacing or deleting a document needs the
 * converse, "which values does document d hold", to clear exactly its bits (clean deletes)
 * without scanning every value of every field. The index keeps one record per live document:
 * for each field with an entry, either "null" or a sorted set of int64 keys, varint and delta
 * encoded (a document with 12 tags and a dozen scalar fields takes ~50 bytes).
 *
 * Records are decoded into a docvalues_rec_t, edited there, and stored back whole. The records
 * are the values of a slotstore (common/slotstore.h): in memory, or read in place from a
 * generation's image (docvalues_from_slots()), copied on write.
 *
 * Concurrency: single writer, no internal locking; loads may run concurrently with each other,
 * not with stores.
 */
#ifndef BITDEX_DOCVALUES_H
#define BITDEX_DOCVALUES_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/slotstore.h"

typedef enum docvalues_kind {
    DOCVALUES_NONE = 0, /* no entry for the field: no value, not null */
    DOCVALUES_VALUES,   /* one or more keys */
    DOCVALUES_NULL,     /* explicit null */
} docvalues_kind_t;

typedef struct docvalues_field {
    docvalues_kind_t kind;
    uint32_t off; /* keys are rec->keys[off .. off + n) */
    uint32_t n;
} docvalues_field_t;

/* A decoded record: plain data owned by its user (init/free), reused across operations. */
typedef struct docvalues_rec {
    size_t nfields;
    docvalues_field_t *fields; /* nfields entries */
    int64_t *keys;             /* key pool; entries no field points at are garbage */
    size_t nkeys, cap;
} docvalues_rec_t;

/* Prepares an empty record for `nfields` fields. Free with docvalues_rec_free(). 0 or -ENOMEM. */
int docvalues_rec_init(docvalues_rec_t *r, size_t nfields);

/* Frees the record's arrays (the struct itself is the caller's). */
void docvalues_rec_free(docvalues_rec_t *r);

/* Makes every field NONE. */
void docvalues_rec_clear(docvalues_rec_t *r);

/* dst = src (same nfields). 0 or -ENOMEM. */
int docvalues_rec_copy(docvalues_rec_t *dst, const docvalues_rec_t *src);

/* Sets field's entry. For DOCVALUES_VALUES the n keys are copied, sorted and deduplicated (n == 0
 * makes the entry NONE); keys is ignored otherwise. 0 or -ENOMEM. */
int docvalues_rec_set(docvalues_rec_t *r, size_t field, docvalues_kind_t kind, const int64_t *keys,
                      size_t n);

/* The field's sorted keys (*n = 0 and NULL unless the kind is VALUES). Borrowed; valid until
 * the record is next modified. */
const int64_t *docvalues_rec_keys(const docvalues_rec_t *r, size_t field, size_t *n);

/* True when every field is NONE. */
bool docvalues_rec_empty(const docvalues_rec_t *r);

typedef struct docvalues docvalues_t;

/* New empty store. Caller frees with docvalues_free(). 0 or -ENOMEM. */
int docvalues_new(docvalues_t **out);

/* A store over `s` (its records, e.g. opened from an image with slotstore_image_open()); takes
 * ownership of s (freed by docvalues_free(); on error the caller keeps it). 0 or -ENOMEM. */
int docvalues_from_slots(slotstore_t *s, docvalues_t **out);

/* The records' slotstore, e.g. to write its image. Borrowed; valid while dv lives. */
const slotstore_t *docvalues_slots(const docvalues_t *dv);

/* Frees it (and its slotstore). NULL is a no-op. */
void docvalues_free(docvalues_t *dv);

/* Decodes slot's record into r; a slot without a record gives every field NONE. Returns 0,
 * -ENOMEM, or BDX_ECORRUPT (r then all NONE) when the record is malformed or names a field
 * beyond r->nfields. */
int docvalues_load(const docvalues_t *dv, uint32_t slot, docvalues_rec_t *r);

/* Decodes one encoded record p[0..len) (a value of a docvalues slotstore, e.g. read from an
 * image with slotstore_image_get(); len 0: every field NONE) into r. Same returns as
 * docvalues_load(). */
int docvalues_decode(const uint8_t *p, size_t len, docvalues_rec_t *r);

/* Stores r as slot's record (an empty r removes it). Returns 0, -ENOMEM, or BDX_ETOOBIG when
 * the encoded record exceeds 16 MiB. */
int docvalues_store(docvalues_t *dv, uint32_t slot, const docvalues_rec_t *r);

/* Removes slot's record (no-op when none). */
void docvalues_remove(docvalues_t *dv, uint32_t slot);

/* Reclaims the space of replaced records (slotstore_compact()). 0 or -ENOMEM. */
int docvalues_compact(docvalues_t *dv);

/* Bytes of memory owned (the slotstore's owned bytes and the encoding scratch; not an image the
 * records are read from). */
size_t docvalues_memory(const docvalues_t *dv);

#endif

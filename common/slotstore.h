/*
 * slotstore: a map slot (uint32) -> byte string, the storage engine under docvalues (the
 * per-document filter value records) and docstore (the per-document stored-field blobs).
 *
 * A store is built in memory by puts, or opened zero-copy over an image (a read-only buffer,
 * typically a section of an mmapped generation file; layout in docs/format/slotstore.md).
 * Writes after an image open copy on write: the slot table is split into pages of
 * SLOTSTORE_PAGE_SLOTS slots, each page borrowed from the image or owned; a page written in a
 * few slots keeps its changes in a small sorted per-page overlay, a page written in many is
 * copied whole; new values are appended to an owned area. So a store opened from a large image
 * and then written in a small share of its slots holds private memory proportional to the
 * writes, and image values are never copied.
 *
 * get() is O(1): a page lookup, then either the page's own table or a binary search of an
 * overlay bounded by a small constant, then the image table.
 *
 * Ownership: the store owns everything except the image it was opened over, which it borrows:
 * the image must stay mapped and unchanged until slotstore_free(). Pointers returned by
 * slotstore_get() are borrowed: valid until the next write (put, remove, compact) or free.
 *
 * Concurrency: single writer, no internal locking; const functions may run concurrently with
 * each other, not with a write. The image itself is only read, so any number of stores may be
 * opened over the same image.
 */
#ifndef BITDEX_SLOTSTORE_H
#define BITDEX_SLOTSTORE_H

#include <stddef.h>
#include <stdint.h>

#include "common/error.h"

#define SLOTSTORE_PAGE_SLOTS 4096u             /* slots per page of the slot table */
#define SLOTSTORE_VALUE_MAX ((size_t)16 << 20) /* largest value: 16 MiB */
#define SLOTSTORE_IMAGE_ALIGN 32               /* image buffers are aligned to this */
#define SLOTSTORE_IMAGE_VERSION 2              /* written; 1 (dense directory) is still read */

typedef struct slotstore slotstore_t;

/* New empty store. Caller frees with slotstore_free(). 0 or -ENOMEM. */
int slotstore_new(slotstore_t **out);

/* Frees the store (never the image it borrows). NULL is a no-op. */
void slotstore_free(slotstore_t *s);

/* The value of `slot`, *len its length; NULL and *len = 0 when the slot has none. Borrowed:
 * valid until the next write to the store. */
const uint8_t *slotstore_get(const slotstore_t *s, uint32_t slot, size_t *len);

/* Sets slot's value to a copy of data[0..len). len 0 removes the value. `data` may point into
 * this store (a value returned by slotstore_get()). Returns 0, -ENOMEM, or BDX_ETOOBIG when
 * len exceeds SLOTSTORE_VALUE_MAX (nothing changed on error). */
int slotstore_put(slotstore_t *s, uint32_t slot, const void *data, size_t len);

/* Removes slot's value (no-op when none). Removing a value of an image page records the
 * removal in the page's overlay or copy, which allocates; should that allocation fail (the
 * only failure), the value stays and the store stays consistent. Callers that must know use
 * slotstore_put(s, slot, NULL, 0), which reports -ENOMEM. */
void slotstore_remove(slotstore_t *s, uint32_t slot);

/* Reclaims the owned area's garbage (values replaced or removed), frees empty pages and trims
 * the slot table. Image values are never copied. Runs by itself when garbage exceeds half the
 * owned area (and 1 MiB). 0 or -ENOMEM (then nothing changed). */
int slotstore_compact(slotstore_t *s);

/* Bytes of memory the store owns (slot table pages, overlays, owned value area; not the
 * image it borrows). */
size_t slotstore_memory(const slotstore_t *s);

/* Number of slots with a value. */
uint32_t slotstore_count(const slotstore_t *s);

/* Bytes slotstore_image_write() writes (a multiple of SLOTSTORE_IMAGE_ALIGN). */
size_t slotstore_image_size(const slotstore_t *s);

/* Writes the store's image (every value, compacted, in slot order) to buf, which must be
 * SLOTSTORE_IMAGE_ALIGN-aligned and slotstore_image_size() bytes long. */
void slotstore_image_write(const slotstore_t *s, void *buf);

/*
 * Opens a store over the image in buf[0..size) without copying it: buf is borrowed and must
 * outlive *out (and stay unchanged). The structure is validated (header, sizes, every page
 * reference and every value's offset and length within the image): BDX_ECORRUPT with a message
 * naming what is wrong, BDX_EVERSION for an image version this build cannot read, BDX_EINVAL
 * when buf is not 8-byte aligned, -ENOMEM. Checksums are not checked here (the containing
 * generation file's job). Caller frees *out with slotstore_free(); *out is NULL on error.
 */
int slotstore_image_open(const void *buf, size_t size, slotstore_t **out, bdx_error_t *err);

/*
 * The value of `slot` in the image buf[0..size) without opening it: O(1), for reading a few
 * slots of a large image (slotstore_image_open() checks every slot). Checks what it reads: the
 * header, the slot's directory and table entries, and that the value lies inside the image.
 * Returns 0 with *val borrowed from buf and *len its length (NULL and 0 when the slot has no
 * value), BDX_ECORRUPT or BDX_EVERSION (*val NULL, *len 0).
 */
int slotstore_image_get(const void *buf, size_t size, uint32_t slot, const uint8_t **val,
                        size_t *len);

#endif

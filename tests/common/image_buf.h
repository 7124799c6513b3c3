/*
 * image_buf: page-aligned buffers for the image tests (column, permutation, dictionary).
 *
 * An image is written into a read-write mapping, then image_buf_seal() makes it read-only, as a
 * generation file's mapping is: a structure that writes into the image it borrows instead of
 * copying on write crashes the test (SIGSEGV) instead of passing. Not thread-safe; one buffer per
 * use. Free with image_buf_free().
 */
#ifndef BITDEX_TEST_IMAGE_BUF_H
#define BITDEX_TEST_IMAGE_BUF_H

#include <stddef.h>

typedef struct image_buf {
    void *data;  /* page aligned (so 32-byte aligned), `size` usable bytes */
    size_t size; /* bytes asked for */
    size_t map;  /* bytes mapped (size rounded up to pages, at least one page) */
} image_buf_t;

/* Maps `size` zeroed read-write bytes; aborts the test on failure. */
void image_buf_init(image_buf_t *b, size_t size);

/* Makes the buffer read-only. */
void image_buf_seal(image_buf_t *b);

/* Makes it writable again (to corrupt a copy in place). */
void image_buf_unseal(image_buf_t *b);

/* Unmaps it. */
void image_buf_free(image_buf_t *b);

#endif

/*
 * generation_write_internal: what generation_write.c and generation_delta.c share. Private to
 * common/generation*.c.
 */
#ifndef BITDEX_GENERATION_WRITE_INTERNAL_H
#define BITDEX_GENERATION_WRITE_INTERNAL_H

#include "common/generation_internal.h"

/* What a file writer reports for the manifest and the stats. */
typedef struct gen_file_out {
    uint64_t size, header_hash;
    uint64_t items, slots;
    uint64_t materialized; /* delta: bytes a loader materializes privately to apply it */
} gen_file_out_t;

typedef struct gen_manifest {
    uint64_t number, lsn, base_number, base_id, doc_count;
    unsigned nfiles;
    struct {
        const char *name;
        uint64_t size, header_hash;
    } files[2];
} gen_manifest_t;

uint64_t gen_now_ns(void);
int gen_fsync_path(const char *path);

/* Pads the current section to the next 32-byte boundary (before a bitmap). */
int gen_writer_begin_item(gen_writer_t *w);

/* Appends an encoded directory entry to a growable array. 0 or -ENOMEM. */
int gen_dir_push(uint8_t **dir, size_t *n, size_t *cap, const gen_item_t *it);

/* Writes the delta file of `ix` against the base of `base` (generation_delta.c). */
int gen_write_delta(const index_t *ix, const generation_t *base, const char *path, uint64_t number,
                    gen_file_out_t *out, bdx_error_t *err);

#endif

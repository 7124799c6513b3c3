/*
 * generation: immutable on-disk images of an index (docs/format/generation.md).
 *
 * `<index_dir>/gen-<N>/` holds `manifest`, `base` (a full image of the index at checkpoint LSN
 * L) and optionally `delta` (every change since that base: cumulative, so a generation is
 * always base + at most one delta). A delta generation hard-links the base file of the
 * generation it was written against, so each gen dir is self-contained and can be deleted
 * alone. `<index_dir>/CURRENT` names the published generation.
 *
 * Writing (the writer's checkpointer): generation_write() builds `gen-<N>.tmp/`, fsyncs every
 * file and the directory, renames it to `gen-<N>` and fsyncs index_dir; generation_publish()
 * then replaces CURRENT (temp -> fsync -> rename -> fsync dir). A crash before the rename
 * leaves only a `.tmp` dir (deleted by generation_clean_tmp() at writer start); a crash after
 * it but before CURRENT leaves an unpublished complete gen dir that is never read.
 *
 * Reading: generation_open() maps the files read-only and checks them (always: the manifest,
 * every file's header and table of contents; with GENERATION_VERIFY also every section's
 * checksum). generation_load() builds an index_t over the mapping: bitmaps are frozen slots
 * over the mapped bytes, columns, permutations, dictionaries, docvalues and the docstore are
 * opened from their images in place (all zero copy; a write copies the one bitmap or page it
 * touches), and the delta is applied on top. A delta's changed bitmaps and the sort columns it
 * patches are materialized once per generation, by the first load, and borrowed by every index
 * loaded from it (a reader's pair of instances holds one copy; a write copies what it touches
 * into that index only). The generation must outlive every index loaded from it.
 *
 * Pins: a reader holds flock(LOCK_SH) on gen-N/manifest (GENERATION_PIN) for as long as it maps
 * the generation; generation_remove() deletes a gen dir only when flock(LOCK_EX|LOCK_NB)
 * succeeds and CURRENT does not name it.
 *
 * Concurrency: one writer process writes and removes generations (it holds the data dir LOCK);
 * any number of processes open them. A generation_t is immutable after open except for that
 * shared materialization, built once under an internal mutex: any number of threads may read it
 * and load from it concurrently. Errors name the file, the section or
 * offset and the reason (BDX_ECORRUPT, BDX_EVERSION for a format version this build cannot
 * read).
 */
#ifndef BITDEX_GENERATION_H
#define BITDEX_GENERATION_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/error.h"
#include "common/index.h"
#include "common/schema.h"

typedef struct generation generation_t;

/* generation_open() flags */
#define GENERATION_VERIFY 1u /* check every section checksum (readers, bitdex-check) */
#define GENERATION_PIN 2u    /* hold flock(LOCK_SH) on the manifest until generation_close() */

typedef struct generation_write_stats {
    uint64_t bytes; /* bytes written (a hard-linked base is not counted) */
    uint64_t files; /* files written (manifest included; a linked base not counted) */
    uint64_t elapsed_ns;
    bool delta;     /* a delta against the base of `base` (else a full base) */
    uint64_t items; /* bitmaps written (base) or changed (delta) */
    uint64_t slots; /* delta: touched slots whose per-slot data was written */
    /* delta: estimated bytes a loader of base + delta must materialize privately (beyond the
     * shared read-only mapping): the new images of the changed bitmaps, the column pages
     * holding touched slots (copied on write), the touched slots' docvalues / docstore entries
     * and the added dictionary strings. A measure of what the delta costs every reader; 0 for
     * a base. */
    uint64_t materialized_bytes;
} generation_write_stats_t;

/*
 * Writes generation `gen_number` of `ix` (state at `checkpoint_lsn`) into
 * `<index_dir>/gen-<gen_number>/` (through `gen-<N>.tmp/`, see above). Does NOT publish.
 * base == NULL: a full base. Otherwise a cumulative delta against the base file of `base`
 * (an open generation; its base is hard-linked): `ix` must have been loaded from `base`
 * (generation_load()), else BDX_EINVAL. `st` may be NULL. Returns 0, -errno (naming the path),
 * -ENOMEM, BDX_EEXIST when gen-<N> exists, or BDX_EINVAL. On failure the .tmp dir is removed.
 * `ix` is only read (a pending bulk load must have been flushed: BDX_EINVAL otherwise).
 */
int generation_write(const index_t *ix, uint64_t gen_number, uint64_t checkpoint_lsn,
                     const generation_t *base, const char *index_dir, generation_write_stats_t *st,
                     bdx_error_t *err);

/* Points CURRENT at gen-<gen_number>: writes CURRENT.tmp "gen-<N>\n", fsync, rename, fsync
 * index_dir. Returns 0 or -errno. */
int generation_publish(const char *index_dir, uint64_t gen_number, bdx_error_t *err);

/* The generation CURRENT names. Returns 0, BDX_ENOTFOUND (no CURRENT), BDX_ECORRUPT (not
 * "gen-<N>\n") or -errno. */
int generation_current(const char *index_dir, uint64_t *gen_number, bdx_error_t *err);

/* Opens `gen_dir` (a gen-<N> directory). Caller closes *out with generation_close() (nothing
 * to close after a failure). Returns 0, -errno, -ENOMEM, BDX_ECORRUPT, BDX_EVERSION. */
int generation_open(const char *gen_dir, unsigned flags, generation_t **out, bdx_error_t *err);

/* Unmaps, unpins and frees. Every index loaded from it must be freed first. NULL is a no-op. */
void generation_close(generation_t *g);

/*
 * Builds an index equal to the one written: the base (bitmaps frozen over the mapping) with
 * the delta applied (its changed bitmaps and patched columns borrowed from the generation's
 * shared materialization, see above); index_touched() = the delta's touched slots. With
 * GENERATION_VERIFY, CRoaring's check of each base bitmap waits for its first read
 * (bitmap_set_frozen_trusted()); without it every bitmap is checked here. Caller frees *out with
 * index_free() before closing `g`. Returns 0, -ENOMEM or BDX_ECORRUPT.
 */
int generation_load(const generation_t *g, index_t **out, bdx_error_t *err);

/* The schema stored in the base. Borrowed; valid until generation_close(). */
const schema_t *generation_schema(const generation_t *g);

/* 0 when `schema` encodes exactly like the stored schema, else BDX_EINVAL naming the gen. */
int generation_check_schema(const generation_t *g, const schema_t *schema, bdx_error_t *err);

uint64_t generation_number(const generation_t *g);
uint64_t generation_lsn(const generation_t *g);         /* checkpoint LSN */
uint64_t generation_base_number(const generation_t *g); /* gen that wrote the base file */
bool generation_is_delta(const generation_t *g);
uint64_t generation_mapped_bytes(const generation_t *g);
uint64_t generation_doc_count(const generation_t *g);

/* One file of the manifest, and one section of a file, for bitdex-inspect. */
typedef struct generation_file_info {
    const char *name; /* "base", "delta" */
    uint64_t size;
    uint64_t checksum; /* XXH3-64 of the file's header, as listed in the manifest */
    unsigned sections;
} generation_file_info_t;

typedef struct generation_section_info {
    const char *type; /* "bitmap-dir", "column", ... */
    uint32_t arg;     /* field number for per-field sections */
    uint64_t offset, length, checksum;
} generation_section_info_t;

/* Number of files (1 or 2) and their descriptions (i < generation_file_count()). */
unsigned generation_file_count(const generation_t *g);
void generation_file(const generation_t *g, unsigned i, generation_file_info_t *out);
/* Section j (< info.sections) of file i. */
void generation_section(const generation_t *g, unsigned i, unsigned j,
                        generation_section_info_t *out);

/* *pinned = some process holds a pin (flock probe on gen_dir/manifest). 0 or -errno. */
int generation_is_pinned(const char *gen_dir, bool *pinned);

/* Deletes gen-<N> (files, then the dir, then fsync index_dir) when it is neither pinned nor
 * named by CURRENT. Returns 0, BDX_ESTATE (pinned or current; nothing deleted) or -errno. */
int generation_remove(const char *index_dir, uint64_t gen_number, bdx_error_t *err);

/* The generation numbers of every `gen-<N>` dir, ascending. Caller frees *out with free().
 * Returns 0, -errno or -ENOMEM. */
int generation_list(const char *index_dir, uint64_t **out, size_t *count, bdx_error_t *err);

/* Deletes every `gen-<N>.tmp` dir (leftovers of a crashed write). Writer start only. 0/-errno. */
int generation_clean_tmp(const char *index_dir, bdx_error_t *err);

#endif

/*
 * catalog: the active writer's set of indexes — one in-memory index_t per directory
 * <data>/indexes/<name>/ holding a schema file — and the admin operations on it: create, drop,
 * list, get, and applying the declarations of the YAML config directory at start.
 *
 * Concurrency contract
 * --------------------
 * - Processes. Only the active writer (services/writer/election.h) opens a catalog; it alone
 *   creates and removes directories under <data>/indexes. Readers and tools only read there.
 *   A directory whose name starts with '.' is never an index: `.create-<name>` is an index
 *   being created, `.drop-<name>-<time>-<n>` one being deleted. Everything else under
 *   <data>/indexes that is a directory with a valid name and a `schema` file is an index.
 * - What readers may assume. An index directory appears complete: it is built under its
 *   `.create-` name and renamed into place, so `schema` is there as soon as the name is. It
 *   disappears at once when dropped (renamed to its tombstone, which is then deleted).
 * - Crashes. Create is atomic: after a crash the index either exists with its schema or not
 *   at all. Drop is durable once its rename is synced; a crash before that keeps the index.
 *   catalog_open() deletes leftover `.create-*` and `.drop-*` directories.
 * - Threads. Every function is thread-safe. The set is guarded by a mutex held only for
 *   in-memory work (lookups, copies, document counts), never across file I/O. Operations that
 *   touch files (catalog_create, catalog_drop, catalog_apply_config, and catalog_open/close)
 *   are serialized by a second mutex held across their I/O: they may block on fsync, so RPC
 *   handlers call them through rpc_call_defer(), never on a completion-queue thread.
 *   catalog_get/catalog_list never wait for file I/O.
 * - The index_t objects stay inside the catalog: no pointer to one is handed out. Writes reach
 *   an index only through its commit pipeline (commit.h), one per index, with catalog_apply();
 *   a drop waits for writes in flight on the index before freeing it.
 * - Watch. With commit options naming a watch hub (commit_options_t.watch), the catalog reports
 *   every create (after the index is visible) and drop (after its commit is closed) to it, and
 *   every generation its checkpointers publish.
 * - Recovery. Opening the catalog loads each index's current generation (CURRENT, verified)
 *   and replays its WAL (<data>/indexes/<name>/wal/) after the generation's LSN; a generation
 *   or WAL refused by recovery (corruption, unknown version) fails the open. Each index has a
 *   background checkpointer (checkpoint.h) started with it and stopped before it is freed.
 */
#ifndef BITDEX_CATALOG_H
#define BITDEX_CATALOG_H

#include "common/error.h"
#include "common/limits.h"
#include "common/schema.h"
#include "common/schema_yaml.h"
#include "services/writer/checkpoint.h"
#include "services/writer/commit.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define CATALOG_DIR "indexes"            /* under the data directory */
#define CATALOG_CREATE_PREFIX ".create-" /* + name: an index being created */
#define CATALOG_DROP_PREFIX ".drop-"     /* + name-<time>-<n>: an index being deleted */

typedef struct catalog catalog_t;

/* The generation CURRENT names for an index (docs: DESIGN "Storage design"). */
typedef struct catalog_generation {
    uint64_t generation;       /* 0: no generation published yet */
    uint64_t checkpoint_lsn;   /* the LSN it covers */
    int64_t published_unix_ms; /* when it was published; 0 if never */
} catalog_generation_t;

/* Directory of generation `gen` of `index`, relative to the data directory. */
#define CATALOG_GEN_PATH_FMT CATALOG_DIR "/%s/gen-%llu"

/* What GetIndex / ListIndexes report about one index. */
typedef struct catalog_info {
    schema_t *schema; /* owned copy; schema->name is the index name */
    limits_t limits;  /* resolved */
    uint64_t document_count;
    uint64_t applied_lsn;   /* last batch applied to the in-memory index */
    uint64_t committed_lsn; /* last batch that may be acknowledged (commit_committed_lsn) */
    catalog_generation_t generation; /* current generation; all 0 before the first one */
    checkpoint_info_t checkpoint;    /* the generation CURRENT names and the last checkpoint */
    uint64_t wal_bytes;              /* WAL segment bytes on disk */
    uint32_t wal_segments;           /* WAL segment files on disk */
    uint64_t mapped_bytes;           /* generation files the live index maps */
} catalog_info_t;

/* Everything catalog_open_with() configures for each index. */
typedef struct catalog_options {
    commit_options_t commit;         /* zero = defaults (COMMIT_SYNC_BATCH) */
    checkpoint_options_t checkpoint; /* zero = defaults */
} catalog_options_t;

/*
 * Opens the catalog of `data_dir` (borrowed; copied): deletes leftover `.create-*` and
 * `.drop-*` directories under <data>/indexes, then loads every index directory's schema
 * (directories with an invalid name or without a schema file are logged and skipped).
 * A missing <data>/indexes is an empty catalog. Caller frees *out with catalog_close().
 * Returns 0, -ENOMEM, -errno (the directory cannot be read), or the schema file's error:
 * BDX_ECORRUPT / BDX_EVERSION naming the file and offset — the writer must not start then.
 * Nothing to free on failure.
 */
int catalog_open(const char *data_dir, catalog_t **out, bdx_error_t *err);

/*
 * catalog_open() with the commit options of every index (`commit` borrowed; NULL = defaults:
 * COMMIT_SYNC_BATCH). Each index's WAL is opened and replayed (commit_open); its errors
 * (BDX_ECORRUPT / BDX_EVERSION with file and offset, or the LSN of a bad frame) fail the open.
 */
int catalog_open_sync(const char *data_dir, const commit_options_t *commit, catalog_t **out,
                      bdx_error_t *err);

/* catalog_open() with every option (`opts` borrowed, copied; NULL = defaults). */
int catalog_open_with(const char *data_dir, const catalog_options_t *opts, catalog_t **out,
                      bdx_error_t *err);

/* Frees the catalog and its indexes (files stay). NULL is a no-op. */
void catalog_close(catalog_t *cat);

/*
 * Makes the declared indexes of a config directory exist. First every declaration that names
 * an existing index is compared with it: any difference fails the whole call with BDX_EEXIST,
 * naming the file, the index and the first difference (schema changes are not supported);
 * nothing is created then. Then the indexes that do not exist are created (catalog_create).
 * `config` is borrowed. Returns 0, BDX_EEXIST, or catalog_create()'s error.
 */
int catalog_apply_config(catalog_t *cat, const schema_yaml_t *config, bdx_error_t *err);

/*
 * Creates index schema->name from a validated `schema` and resolved `limits` (both borrowed;
 * copied): persists it (see the steps above the function), then makes it visible. If the
 * index exists with an identical schema and limits nothing changes and *created is false;
 * with a different one: BDX_EEXIST naming the first difference. `created` may be NULL.
 * Returns 0, BDX_EINVAL (invalid schema or name), BDX_EEXIST, BDX_ESTATE (a directory of that
 * name exists but is not a loaded index), -ENOMEM or -errno (file I/O; message names the file).
 */
int catalog_create(catalog_t *cat, const schema_t *schema, const limits_t *limits, bool *created,
                   bdx_error_t *err);

/*
 * Drops index `name` and deletes its files (see the steps above the function). Returns 0,
 * BDX_EINVAL (empty name), BDX_ENOTFOUND, or -errno when the directory cannot be renamed (the
 * index is then unchanged). Failing to delete the renamed files is only logged: the next
 * catalog_open() finishes the job.
 */
int catalog_drop(catalog_t *cat, const char *name, bdx_error_t *err);

/* Copies what is known of index `name` into *out (caller clears it with catalog_info_clear()).
 * Returns 0, BDX_EINVAL (empty name), BDX_ENOTFOUND or -ENOMEM. */
int catalog_get(catalog_t *cat, const char *name, catalog_info_t *out, bdx_error_t *err);

/* Every index, sorted by name, as an array of *count entries (caller frees with
 * catalog_info_free(); *out may be NULL when *count is 0). Returns 0 or -ENOMEM. */
int catalog_list(catalog_t *cat, catalog_info_t **out, size_t *count);

/*
 * Commits the batch `req` (borrowed; decoded from the `wire_len` bytes at `wire`, or wire NULL
 * when unknown; `wire_canonical` when they are known canonical: see commit_append()) to index req->index: commit_append() and, when `wait`,
 * commit_wait() too (blocks up to a WAL sync: call it from a thread pool). Without `wait` the
 * caller must catalog_wait() before acknowledging. Returns 0, BDX_EINVAL ("index: required"),
 * BDX_ENOTFOUND, or commit_append()/commit_wait()'s errors.
 */
int catalog_apply(catalog_t *cat, const Bitdex__V1__ApplyRequest *req, const void *wire,
                  size_t wire_len, bool wire_canonical, bool wait, commit_result_t *res,
                  bdx_error_t *err);

/* checkpoint_run() on index `name`: blocks until a generation covering every LSN committed
 * before the call is published (call it from a thread pool). Returns 0, BDX_EINVAL,
 * BDX_ENOTFOUND or the checkpoint's error. */
int catalog_checkpoint(catalog_t *cat, const char *name, checkpoint_info_t *info, bdx_error_t *err);

/* commit_wait(lsn) on index `name`. Returns 0, BDX_ENOTFOUND (dropped meanwhile) or its error. */
int catalog_wait(catalog_t *cat, const char *name, uint64_t lsn, bdx_error_t *err);

/*
 * Records that generation gen->generation of index `name` is published (CURRENT names it) and
 * tells Watch (watch_generation_published with its path). For the checkpointer, after the
 * publication is durable. Generations only grow: an older or equal one is ignored. Returns 0,
 * BDX_EINVAL (empty name) or BDX_ENOTFOUND.
 */
int catalog_set_generation(catalog_t *cat, const char *name, const catalog_generation_t *gen,
                           bdx_error_t *err);

/* The current generation of `name` into *out (all 0 when none yet). Returns 0, BDX_EINVAL or
 * BDX_ENOTFOUND. Never waits for I/O. */
int catalog_generation(catalog_t *cat, const char *name, catalog_generation_t *out,
                       bdx_error_t *err);

/* index_memory() of index `name` (commit_memory: waits for the batch being applied). Returns 0,
 * BDX_EINVAL or BDX_ENOTFOUND. */
int catalog_memory(catalog_t *cat, const char *name, index_memory_t *out, bdx_error_t *err);

/* Number of indexes. */
size_t catalog_count(catalog_t *cat);

/* The data directory given to catalog_open(). Borrowed; valid until catalog_close(). */
const char *catalog_data_dir(const catalog_t *cat);

void catalog_info_clear(catalog_info_t *info);
void catalog_info_free(catalog_info_t *infos, size_t count);

#endif

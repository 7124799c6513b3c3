/*
 * checkpoint: the background checkpointer of one index on the active writer.
 *
 * It owns a second in-memory instance of the index (the "checkpoint instance"), loaded from the
 * generation CURRENT names (or empty), which lags behind the live index the commit writes. A
 * checkpoint catches it up by reading the WAL up to the committed LSN (wal_reader + apply_run:
 * the same code the commit and the readers run), writes generation N+1 from it
 * (common/generation.h: a delta of everything changed since its base, or a new base when the
 * last delta's bytes passed `full_ratio` of the base, or the private memory it costs every
 * reader that loads it passed `full_materialized_ratio` of the base), saves the batch ids of that LSN next to it,
 * publishes CURRENT, tells the Watch subscribers, and then deletes what nobody needs: old
 * generation directories no reader pins, and WAL segments below the oldest generation kept.
 *
 * Writes never wait for it (the commit only appends and applies; the checkpointer reads the
 * WAL on its own thread) and readers are not involved until CURRENT changes. A crash at any
 * step leaves either the old CURRENT (and the WAL it needs: segments are deleted only after the
 * new CURRENT is durable) or the new one; half-written `gen-N.tmp` directories are removed at
 * the next start.
 *
 * Triggers: WAL bytes on disk, LSNs since the last checkpoint, time since the last checkpoint
 * (when something changed), and checkpoint_run() (the Checkpoint RPC).
 *
 * Concurrency: one thread per index does every checkpoint. checkpoint_run() may be called from
 * any thread (it blocks until a checkpoint covering the committed LSN at the call is published:
 * call it from a thread pool); checkpoint_last() from any thread. checkpoint_stop() joins the
 * thread (a checkpoint in progress completes first); checkpoint_free() releases the memory.
 */
#ifndef BITDEX_CHECKPOINT_H
#define BITDEX_CHECKPOINT_H

#include "common/error.h"
#include "common/limits.h"
#include "common/schema.h"
#include "services/writer/commit.h"

#include <stdbool.h>
#include <stdint.h>

#define CHECKPOINT_DEFAULT_WAL_BYTES (256ull << 20)     /* --checkpoint-wal-bytes */
#define CHECKPOINT_DEFAULT_LSNS 100000ull               /* --checkpoint-lsns (batches) */
#define CHECKPOINT_DEFAULT_INTERVAL_MS 300000u          /* --checkpoint-interval-ms */
#define CHECKPOINT_DEFAULT_FULL_RATIO 0.25              /* delta bytes / base bytes */
#define CHECKPOINT_DEFAULT_FULL_MATERIALIZED_RATIO 0.25 /* delta's materialized / base bytes */

typedef struct checkpoint_options {
    uint64_t wal_bytes;   /* WAL bytes on disk that start a checkpoint; 0 = default */
    uint64_t lsns;        /* LSNs committed since the last checkpoint; 0 = default */
    unsigned interval_ms; /* time since the last checkpoint (if anything changed); 0 = default */
    double full_ratio;    /* write a new base when the last delta passed this share of the
                             base; <= 0 = default */
    /* write a new base when what a load of the last delta materializes privately (its
     * changed bitmaps, touched column pages, ...: generation_write_stats_t
     * .materialized_bytes, per loaded instance) passed this share of the base; <= 0 =
     * default. A delta of 1 % random changes is ~1 % of the base in bytes but costs a reader
     * a third of it in memory: every BSI slice and column page holds a changed slot. */
    double full_materialized_ratio;
    bool disabled; /* no background checkpoints (checkpoint_run() still works) */
} checkpoint_options_t;

/* What the last checkpoint did (or the state at start, when none ran yet). */
typedef struct checkpoint_info {
    uint64_t generation;         /* generation CURRENT names; 0 = none yet */
    uint64_t lsn;                /* its checkpoint LSN */
    int64_t unix_ms;             /* when it was published; 0 = not by this process */
    uint64_t bytes_written;      /* bytes the last checkpoint wrote */
    uint64_t duration_ms;        /* its wall time */
    bool new_generation;         /* checkpoint_run(): false when nothing had changed */
    bool full;                   /* the last generation written is a new base */
    uint64_t materialized_bytes; /* last delta: what a load materializes (0 for a base) */
    uint64_t count;              /* checkpoints published by this process */
} checkpoint_info_t;

/* Called on the checkpointer's thread after each publish (e.g. Watch). `path` is relative to
 * the data directory (`indexes/<name>/gen-<N>`). Must not block for long. */
typedef void (*checkpoint_published_fn)(void *arg, const char *index, uint64_t generation,
                                        uint64_t lsn, const char *path);

typedef struct checkpoint checkpoint_t;

/*
 * Starts the checkpointer of index `name` whose directory is `index_dir` (holding CURRENT,
 * gen-N/ and wal/), committing through `commit` (borrowed; must outlive it). `start_gen` /
 * `start_lsn` describe the generation the live index was loaded from (0/0 for none).
 * `published` (may be NULL) is called after each publish. Removes `gen-*.tmp` leftovers.
 * Caller stops it with checkpoint_stop() and frees it with checkpoint_free(). Returns 0,
 * -ENOMEM or -errno.
 */
int checkpoint_start(const char *index_dir, const char *name, const limits_t *limits,
                     commit_t *commit, uint64_t start_gen, uint64_t start_lsn,
                     const checkpoint_options_t *opts, checkpoint_published_fn published, void *arg,
                     checkpoint_t **out, bdx_error_t *err);

/* Stops the thread (after a checkpoint in progress completes); checkpoint_run() callers waiting
 * return BDX_ESTATE. The commit must stay open until this returns. Idempotent; NULL is a
 * no-op. */
void checkpoint_stop(checkpoint_t *ck);

/* Stops it if needed and frees everything. No checkpoint_run() may be in flight (the catalog
 * guarantees it with the commit's references). NULL is a no-op. */
void checkpoint_free(checkpoint_t *ck);

/*
 * Makes sure a generation covering every LSN committed before the call is published (writing
 * one unless nothing changed since the last) and fills *info. Blocks. Returns 0, BDX_ESTATE
 * when stopping, or the error of the failed checkpoint (the previous generation stays).
 */
int checkpoint_run(checkpoint_t *ck, checkpoint_info_t *info, bdx_error_t *err);

/* The last published checkpoint. Any thread. */
void checkpoint_last(checkpoint_t *ck, checkpoint_info_t *info);

#endif

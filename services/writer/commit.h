/*
 * commit: the write pipeline of one index on the active writer — validate a batch, log it in the
 * index's WAL (common/wal.h), apply it to the in-memory index (common/apply.h), make it durable
 * according to the sync policy, acknowledge it with its LSN. Also the recovery of the index at
 * start: the WAL after the loaded generation's checkpoint LSN is replayed into the index
 * (services/writer/checkpoint.h writes the generations and trims the WAL through
 * commit_truncate_wal()).
 *
 * Sync policies (--sync):
 *   COMMIT_SYNC_ALWAYS  every caller fdatasyncs before it returns (callers that overlap share
 *                       a sync when one covers them).
 *   COMMIT_SYNC_BATCH   group commit: one sync thread per index fdatasyncs at most once per
 *                       interval_ms, as long as somebody waits, and wakes every waiter whose LSN
 *                       that sync covered.
 *   COMMIT_SYNC_NONE    acknowledged after the write() to the page cache: survives a process
 *                       crash, not a machine crash. Tests and bulk loads only.
 *
 * Concurrency contract
 * --------------------
 * - Any thread may call commit_append/commit_wait/commit_apply concurrently: appends (and the
 *   index writes that follow them) are serialized by the commit's mutex, so the WAL has one
 *   append thread at a time and the index one writer. Validation and packing run outside it.
 *   commit_wait() blocks (up to a sync): call it from a thread pool, never a completion-queue
 *   thread.
 * - The index given to commit_open() is written only through the commit from then on. Nobody
 *   else may read it while commits run (index.h: single writer, no locking); the counters below
 *   (documents, LSNs) are atomics readable from any thread.
 * - commit_close() waits for calls in flight (commit_ref()/commit_unref() bracket them).
 * - After a crash, the WAL holds every acknowledged batch (wal.h); commit_open() replays it, so
 *   the index comes back with every acknowledged batch and possibly some later, unacknowledged
 *   ones (a prefix of what was written), never part of a batch: one batch is one CRC'd frame.
 * - If the index cannot apply a logged batch (-ENOMEM) or a sync fails, the commit is failed:
 *   every later write returns BDX_ESTATE; the process must restart to recover from the WAL.
 */
#ifndef BITDEX_COMMIT_H
#define BITDEX_COMMIT_H

#include "common/apply.h"
#include "common/error.h"
#include "common/index.h"
#include "common/limits.h"
#include "services/writer/batch_ids.h"

#include "bitdex/v1/writer.pb-c.h"

#include <stdbool.h>
#include <stdint.h>

#define COMMIT_WAL_DIR "wal"              /* under <data>/indexes/<name>/ */
#define COMMIT_DEFAULT_SYNC_INTERVAL_MS 2 /* --sync-interval-ms */

typedef enum commit_sync {
    COMMIT_SYNC_BATCH = 0,
    COMMIT_SYNC_ALWAYS,
    COMMIT_SYNC_NONE,
} commit_sync_t;

typedef struct commit_options {
    commit_sync_t sync;     /* default COMMIT_SYNC_BATCH */
    unsigned interval_ms;   /* COMMIT_SYNC_BATCH: least time between syncs; 0 = the default */
    uint64_t segment_bytes; /* WAL segment size (wal_options_t.segment_size); 0 = its default */
    /* Told every newly committed LSN (watch_lsn_advance, after the sync that made it durable);
     * borrowed, must outlive the commit; NULL = nobody. The catalog also reports index
     * creation and drops to it. */
    struct watch *watch;
} commit_options_t;

/* Parses "always" | "batch" | "none". Returns 0 or BDX_EINVAL. */
int commit_sync_parse(const char *s, commit_sync_t *out);
const char *commit_sync_name(commit_sync_t s);

typedef struct commit_result {
    uint64_t lsn;     /* the batch's LSN (its WAL frame) */
    uint32_t ops;     /* ops in the batch */
    uint32_t skipped; /* ops that were no-ops on documents not live */
    bool duplicate;   /* batch_id matched a remembered batch: nothing applied now */
} commit_result_t;

typedef struct commit commit_t;

/*
 * Opens (creating if needed) the WAL in `wal_dir`, recovering it (a torn tail is cut and logged),
 * and replays every frame after `start_lsn` into `ix` (borrowed; holds the state at start_lsn —
 * the loaded generation, or an empty index with start_lsn 0 — and must outlive the commit),
 * then starts the sync thread of COMMIT_SYNC_BATCH. `ids` (taken over, even on failure; NULL =
 * none) are the batch ids remembered at start_lsn; the replay adds the later ones. `name` (the
 * index name, for the log id and logs), `limits` and `opts` are copied; opts may be NULL
 * (defaults). Caller frees with commit_close().
 * Returns 0; BDX_ECORRUPT or BDX_EVERSION (file and offset in err; the writer must not start),
 * also when the WAL lacks frames after start_lsn; BDX_ECORRUPT for a frame that does not decode
 * or validate (LSN in err); -ENOMEM; -errno. On failure nothing needs closing (the index may
 * hold part of the log: free it).
 */
int commit_open(const char *wal_dir, const char *name, index_t *ix, uint64_t start_lsn,
                batch_ids_t *ids, const limits_t *limits, const commit_options_t *opts,
                commit_t **out, bdx_error_t *err);

/*
 * Waits for calls in flight (commit_ref), stops the sync thread, syncs the WAL once more (so a
 * clean shutdown loses nothing under any policy) and closes it. The index is not freed.
 * NULL is a no-op.
 */
void commit_close(commit_t *c);

/* Bracket a use of `c` by a caller that found it under another lock (catalog); commit_close()
 * waits until every reference is dropped. */
void commit_ref(commit_t *c);
void commit_unref(commit_t *c);

/*
 * Durability steps 1-4 (see commit.c): validates `req` (borrowed), logs it and applies it, and
 * fills *res. `wire` (borrowed; may be NULL) holds the `wire_len` bytes `req` was decoded from:
 * when they are exactly what packing `req` gives they are logged as they are, else `req` is
 * packed; the WAL frame is the same either way. `wire_canonical` says the decoder already
 * proved that (common/apply_decode.h); when false, pbcanon_check() decides. Does not wait for durability: the batch must not be acknowledged before
 * commit_wait(res->lsn) returns 0. A duplicate batch_id fills *res from the remembered batch.
 * Returns 0; BDX_EINVAL / BDX_EUNIMPLEMENTED (apply_check, nothing written); BDX_ELIMIT (the
 * packed batch exceeds the WAL frame limit); BDX_ESTATE (the commit failed earlier); -errno
 * from the WAL write (nothing applied); -ENOMEM.
 */
int commit_append(commit_t *c, const Bitdex__V1__ApplyRequest *req, const void *wire,
                  size_t wire_len, bool wire_canonical, commit_result_t *res, bdx_error_t *err);

/*
 * Durability step 5: blocks until LSN `lsn` is durable under the sync policy (returns at once
 * for COMMIT_SYNC_NONE). Returns 0, BDX_ESTATE or -errno of a failed sync (the commit is then
 * failed).
 */
int commit_wait(commit_t *c, uint64_t lsn, bdx_error_t *err);

/* commit_append() then commit_wait(): when it returns 0 the batch may be acknowledged. */
int commit_apply(commit_t *c, const Bitdex__V1__ApplyRequest *req, const void *wire,
                 size_t wire_len, bool wire_canonical, commit_result_t *res, bdx_error_t *err);

/* Live documents in the index after the last applied batch. Any thread. */
uint64_t commit_doc_count(const commit_t *c);

/* LSN of the last batch applied to the index (logged, maybe not durable yet). Any thread. */
uint64_t commit_applied_lsn(const commit_t *c);

/* Last LSN that may be acknowledged: durable under ALWAYS/BATCH, written under NONE. */
uint64_t commit_committed_lsn(const commit_t *c);

/* Deletes WAL segments whose frames are all below `lsn` (wal_truncate_before()); *removed
 * (may be NULL) receives the number of segments deleted. Any thread. 0 or -errno. */
int commit_truncate_wal(commit_t *c, uint64_t lsn, size_t *removed, bdx_error_t *err);

/* Bytes and number of WAL segment files on disk now. Any thread. */
void commit_wal_usage(const commit_t *c, uint64_t *bytes, uint32_t *segments);
/* index_memory() of the index, taken between two batches (holds the commit's mutex for the
 * walk, so writes wait meanwhile: for stats, not for hot paths). */
void commit_memory(commit_t *c, index_memory_t *out);

#endif

/*
 * follow: the WAL follower of one replica. A thread tails the index's WAL directory with
 * wal_reader (common/wal.h) and applies every new frame to the replica (replica_apply) in LSN
 * order, up to a *committed bound*.
 *
 * The bound. The writer acknowledges a batch only once it is durable, and tells readers the
 * committed LSN over Watch; the lead's Watch client calls follow_set_committed(). Frames past the
 * bound are written but maybe not durable, and are not applied. Until a bound arrives (or after
 * follow_set_committed(f, FOLLOW_UNBOUNDED), e.g. when the Watch stream is lost) the follower
 * *polls*: every poll_ms it applies every complete frame in the log ("the last complete frame"
 * is the bound). Trade-off of polling: a reader may then serve a batch before the writer
 * acknowledged it (never a torn one: wal_reader returns only complete, CRC-checked frames), and
 * after a *machine* crash of the writer a frame that was written but not yet fsynced can vanish
 * and its LSN be reused for another batch, so this reader would have diverged: it must reload a
 * generation (the writer's recovery reports the cut). A process crash loses nothing that was
 * written. With a bound, only acknowledged batches are served, one Watch round-trip later.
 *
 * Readiness: the follower marks the replica ready (replica_set_ready) the first time it has
 * applied up to the bound (or, polling, reached the end of the log).
 *
 * Errors: a frame the replica cannot apply, a corrupt segment, or a position deleted under the
 * reader (BDX_ENOTFOUND: the replica fell behind a checkpoint and needs a newer generation) stop
 * progress; the follower keeps the error (follow_error()), logs it once, and retries every poll_ms
 * (a replica_switch() to a newer pair resumes it: the reader re-opens at replica_lsn() + 1).
 *
 * Concurrency: follow_set_committed(), follow_wait_lsn(), follow_error(), follow_catchup() and
 * follow_switch() from any thread while the follower runs; follow_stop() joins the thread and
 * needs every other call to have returned. The replica must outlive the follower.
 */
#ifndef BITDEX_FOLLOW_H
#define BITDEX_FOLLOW_H

#include <stdint.h>

#include "common/error.h"
#include "services/reader/replica.h"

/* follow_set_committed(): no bound, poll for the last complete frame. */
#define FOLLOW_UNBOUNDED UINT64_MAX

typedef struct follow follow_t;

typedef struct follow_options {
    uint32_t poll_ms; /* re-read the WAL this often without news; 0 = 100 */
    uint64_t log_id;  /* wal_log_id() of the index; 0 = accept any */
} follow_options_t;

/* Starts the follower of `rep` over the WAL in `wal_dir` (copied); `opts` may be NULL. It starts
 * unbounded. Caller stops it with follow_stop(). Returns 0, -ENOMEM or -errno (thread). */
int follow_start(replica_t *rep, const char *wal_dir, const follow_options_t *opts, follow_t **out,
                 bdx_error_t *err);

/* Stops and joins the thread, frees `f`. NULL is a no-op. */
void follow_stop(follow_t *f);

/* Raises the committed bound to `lsn` (never lowers it, except FOLLOW_UNBOUNDED which switches
 * to polling) and wakes the follower. */
void follow_set_committed(follow_t *f, uint64_t lsn);

/* Waits until replica_lsn() >= lsn. Returns 0, or BDX_EDEADLINE after timeout_ms. */
int follow_wait_lsn(follow_t *f, uint64_t lsn, uint32_t timeout_ms);

/* The follower's last error (0 when the last attempt made progress), message in `err`. */
int follow_error(follow_t *f, bdx_error_t *err);

/* replica_catchup_fn over this follower's WAL: `arg` is the follow_t. Reads with a reader of its
 * own, so it may run on any thread. BDX_ESTATE when a frame up to to_lsn is not in the WAL. */
int follow_catchup(void *arg, replica_pair_t *pair, uint64_t to_lsn, bdx_error_t *err);

/* replica_switch() of the followed replica, caught up from the WAL with follow_catchup(). */
int follow_switch(follow_t *f, replica_load_fn load, void *load_arg, bdx_error_t *err);

#endif

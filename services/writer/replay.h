/*
 * replay: applies a range of an index's WAL to an in-memory index, recording the batch ids it
 * meets — the one loop behind recovery at start (commit.c) and the checkpointer's catch-up
 * (checkpoint.c). Frames are decoded into an arena (apply_decode_arena), validated with
 * apply_check() against the index's schema and `limits` (as the writer did when it logged
 * them) and applied with apply_run().
 *
 * Concurrency: the caller owns `ix` and `ids` for the call (single writer, index.h). The WAL may
 * be appended to meanwhile: frames past `to_lsn` are not read.
 */
#ifndef BITDEX_REPLAY_H
#define BITDEX_REPLAY_H

#include "common/error.h"
#include "common/index.h"
#include "common/limits.h"
#include "services/writer/batch_ids.h"

#include <stdint.h>

/*
 * Applies every frame with an LSN in (from_lsn, to_lsn] of the WAL in `wal_dir` (log id
 * `log_id`) to `ix`, in order, and adds the id of every id-carrying batch to `ids` with the
 * result it gets. *applied_lsn (may be NULL) is the last LSN applied, also on failure;
 * *frames (may be NULL) the number of frames applied. Returns 0; BDX_ECORRUPT naming the WAL
 * and the LSN (a frame missing before to_lsn, one that does not decode, one the index rejects);
 * -ENOMEM (the index may then hold part of a batch: drop it); or wal_reader_open()'s error.
 */
int replay_wal(const char *wal_dir, uint64_t log_id, uint64_t from_lsn, uint64_t to_lsn,
               index_t *ix, const limits_t *limits, batch_ids_t *ids, uint64_t *applied_lsn,
               uint64_t *frames, bdx_error_t *err);

#endif

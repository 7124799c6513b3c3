/*
 * batch_ids: the idempotency memory of one index — the last BATCH_IDS_MAX id-carrying batches
 * (ApplyRequest.batch_id) with the result each got, so a retried batch is answered with the
 * original result instead of being applied twice.
 *
 * It must survive restarts and failover. Until a checkpoint it is rebuilt from the WAL (every
 * frame holds its batch's id); a checkpoint deletes WAL segments, so the checkpointer saves
 * the ring as of the checkpoint LSN into the generation directory (`gen-<N>/batch-ids`,
 * docs/format/batch-ids.md) and recovery loads it before replaying the WAL after that LSN.
 *
 * A ring of records with a chained hash over it: O(1) find and add; adding to a full ring
 * forgets the oldest id.
 *
 * Concurrency: none of its own; the owner serializes every call (the commit's mutex, or the
 * checkpointer's thread, which owns its own copy).
 */
#ifndef BITDEX_BATCH_IDS_H
#define BITDEX_BATCH_IDS_H

#include "common/error.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define BATCH_IDS_MAX 65536        /* ids remembered per index (writer.proto) */
#define BATCH_IDS_ID_MAX 128       /* longest id in bytes (ApplyRequest.batch_id) */
#define BATCH_IDS_FILE "batch-ids" /* name inside a generation directory */

/* What a committed batch was answered with. */
typedef struct batch_result {
    uint64_t lsn;     /* the batch's LSN */
    uint32_t ops;     /* ops in the batch */
    uint32_t skipped; /* ops that were no-ops on documents not live */
} batch_result_t;

typedef struct batch_ids batch_ids_t;

/* New empty memory (the ring is allocated on the first add). Caller frees with
 * batch_ids_free(). 0 or -ENOMEM. */
int batch_ids_new(batch_ids_t **out);

/* Frees it. NULL is a no-op. */
void batch_ids_free(batch_ids_t *b);

/* The remembered result of `id`, or NULL. Borrowed until the next add. */
const batch_result_t *batch_ids_find(const batch_ids_t *b, const char *id);

/* Remembers `id` (1..BATCH_IDS_ID_MAX bytes, no NUL) with `res`, forgetting the oldest id when
 * full. Returns 0, BDX_EINVAL for a bad id, or -ENOMEM (then it is not remembered). */
int batch_ids_add(batch_ids_t *b, const char *id, const batch_result_t *res);

/* Ids remembered. */
size_t batch_ids_count(const batch_ids_t *b);

/* Writes the ids, oldest first, to `path` durably: `path`.tmp, fsync, rename, fsync of the
 * directory. Returns 0 or -errno (err names the path). */
int batch_ids_save(const batch_ids_t *b, const char *path, bdx_error_t *err);

/* Reads a file written by batch_ids_save() into a new memory. Returns 0; BDX_ENOTFOUND when
 * the file does not exist; BDX_ECORRUPT (bad magic, length or CRC) or BDX_EVERSION with the
 * path in err; -ENOMEM; -errno. */
int batch_ids_load(const char *path, batch_ids_t **out, bdx_error_t *err);

#endif

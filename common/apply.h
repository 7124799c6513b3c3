/*
 * apply: turns one write batch (a bitdex.v1.ApplyRequest, proto/bitdex/v1/writer.proto) into
 * operations on an in-memory index (common/index.h).
 *
 * The writer runs it on every batch it commits and, at start, on every frame of the WAL; readers
 * run it on the frames they follow. So the effect of a batch is a function of the index state
 * and the batch alone: no clock, no configuration, nothing of the service.
 *
 * Two phases, so a batch is all or nothing:
 *   apply_check() validates every op against the schema and the limits and changes nothing; the
 *                 first bad op names its path, e.g.
 *                 `ops[17].merge.document.filter_fields[0].value: field "nsfwLevel" is INT, got
 *                 string`;
 *   apply_run()   applies a checked batch op by op, in order (later ops see earlier ones).
 * A batch that passed apply_check() against an index with the same schema cannot fail in
 * apply_run() except with -ENOMEM (after which the index may hold part of the batch).
 *
 * Semantics (writer.proto): Put replaces the whole document; fields it leaves out get no value,
 * except non-nullable single-valued filter fields, which get their type's zero value (0, false,
 * ""). Merge sets the listed fields and keeps the others, and creates a missing document with
 * Put's defaults. Delete, Set, Add and Remove change only live documents; on any other id they
 * are no-ops counted in apply_stats_t.skipped. Stored fields are kept in the index's docstore
 * (common/docstore.h): Put replaces them all (the Null marker = left out), Merge and Set of a
 * stored field set the listed ones (the Null marker removes one) and keep the others, Delete
 * removes them.
 *
 * The Null marker on a sort field leaves it out in a Put and clears its value in Merge and Set
 * (index_clear_sort()).
 *
 * Not done yet, by design of this build (docs/writes.md):
 * - The per-document bound after an Add (IndexLimits.max_values_per_field on the resulting set)
 *   is not enforced; each list in a request is.
 *
 * Concurrency: none of its own. apply_check() reads the index (no concurrent write may run);
 * apply_run() writes it (single writer, as index.h says). The request is borrowed for the call.
 */
#ifndef BITDEX_APPLY_H
#define BITDEX_APPLY_H

#include "common/error.h"
#include "common/index.h"
#include "common/limits.h"

#include "bitdex/v1/writer.pb-c.h"

#include <stdint.h>

/* Largest ApplyRequest.batch_id in bytes (writer.proto). */
#define APPLY_BATCH_ID_MAX 128

typedef struct apply_stats {
    uint32_t ops;     /* ops applied or skipped */
    uint32_t skipped; /* Delete/Set/Add/Remove on a document that was not live */
} apply_stats_t;

/*
 * Validates every op of `req` against the schema of `ix` and `limits` (NULL: the defaults):
 * op count (1..max_batch_ops), batch_id length, oneofs set, field names and kinds, value types,
 * null only on nullable single-valued filter fields, value vs values by multiplicity, list
 * lengths and string sizes, sort values within their bits, computed sort fields not written,
 * each field at most once per document, stored field types and sizes. It does not look at
 * req->index (the caller found `ix` by it). Changes nothing.
 * Returns 0 or BDX_EINVAL with the op's path and the reason in `err`.
 */
int apply_check(const index_t *ix, const limits_t *limits, const Bitdex__V1__ApplyRequest *req,
                bdx_error_t *err);

/*
 * Applies the ops of `req` (which passed apply_check() for this index's schema) to `ix`, in
 * order, and fills *stats (may be NULL). Returns 0, -ENOMEM (the batch may be half applied:
 * the caller must stop using the index), or the index's error for a batch that was not checked
 * (BDX_EINVAL, also possibly half applied), with `ops[<i>]: ` before the message.
 */
int apply_run(index_t *ix, const Bitdex__V1__ApplyRequest *req, apply_stats_t *stats,
              bdx_error_t *err);

#endif

/*
 * query_service: the bitdex.v1.Query gRPC service (proto/bitdex/v1/query.proto) over a source
 * of index snapshots.
 *
 * The service owns no index. Each call acquires one snapshot of the index it names from a
 * query_source_t, answers from it, and releases it before the call ends; so every answer
 * comes from one immutable state, named by its LSN (snapshot_lsn). The reader's replicas
 * (left-right pairs, services/reader/replica.h) implement the source; tests use a fixed index.
 *
 * Methods: Search, Count, GetDocuments, ListIndexes, GetIndex. ListPrefilters answers
 * UNIMPLEMENTED (readers do not follow prefilters yet). Requests are translated and checked by
 * common/query_pb.h and common/document_pb.h (INVALID_ARGUMENT with the field path); an unknown
 * index is NOT_FOUND, a source that is not ready or a snapshot older than min_lsn UNAVAILABLE.
 *
 * Threads: Search, Count and GetDocuments run on the rpc layer's blocking pool (see
 * query_service.c for why); ListIndexes and GetIndex on the completion-queue thread. So the
 * source's functions are called from several threads at once and must be thread-safe and
 * never block for long (acquire is wait-free for a left-right replica).
 */
#ifndef BITDEX_QUERY_SERVICE_H
#define BITDEX_QUERY_SERVICE_H

#include "common/error.h"
#include "common/index.h"
#include "common/limits.h"
#include "common/rpc.h"

#include <stddef.h>
#include <stdint.h>

/* One acquired snapshot. Everything in it is borrowed from the source and stays valid and
 * unchanged until release(). */
typedef struct query_snapshot {
    const index_t *ix;       /* the index state; never written while acquired */
    uint64_t lsn;            /* the last LSN applied to it (snapshot_lsn, applied_lsn) */
    const limits_t *limits;  /* the index's resolved limits */
    uint64_t generation;     /* generation the snapshot was loaded from (0: none yet) */
    uint64_t checkpoint_lsn; /* that generation's checkpoint LSN */
    uint64_t committed_lsn;  /* the writer's committed LSN as last announced (Watch), or lsn */
    void *token;             /* the source's own (which replica instance to release) */
} query_snapshot_t;

typedef struct query_source {
    /*
     * Acquires the current snapshot of `index` into *out. Returns 0, BDX_ENOTFOUND (unknown
     * index), BDX_EUNAVAILABLE (known, not loaded yet) or another code, with a message in err.
     */
    int (*acquire)(void *ctx, const char *index, query_snapshot_t *out, bdx_error_t *err);
    /* Releases a snapshot acquire() filled. */
    void (*release)(void *ctx, query_snapshot_t *snap);
    /*
     * The names of the indexes served, sorted: *names is a malloc'd array of *count malloc'd
     * strings (caller frees each and the array). Returns 0, BDX_EUNAVAILABLE (still loading)
     * or -ENOMEM.
     */
    int (*list)(void *ctx, char ***names, size_t *count);
    void *ctx;
} query_source_t;

/*
 * Adds every Query method to `server` (before rpc_server_start()), answering from `source`
 * (borrowed: it and its ctx must outlive the server). Returns 0 or rpc_service_add()'s error.
 */
int query_service_register(rpc_server_t *server, const query_source_t *source, bdx_error_t *err);

/* A source that serves no index: acquire is BDX_ENOTFOUND, list is empty. Static. */
const query_source_t *query_service_empty_source(void);

#endif

/*
 * replica: one index as a reader serves it. Two equal index_t instances under Left-Right
 * (common/leftright.h) form a *pair*; the replica applies each WAL frame (a packed
 * bitdex.v1.ApplyRequest) to both instances of its pair in LSN order, and queries read one
 * instance through a snapshot that never changes while held. replica_switch() replaces the whole
 * pair (a newer generation, loaded and caught up off to the side) atomically for new queries and
 * frees the old pair once no query holds it.
 *
 *   replica_snap_t s;
 *   replica_acquire(rep, &s);      // s.ix: borrowed, unchanged until release; s.lsn: its LSN
 *   search_run(s.ix, q, NULL, &r, &err);
 *   replica_release(rep, &s);
 *
 * Ownership: the replica owns its pairs and their indexes (made by the caller's load function,
 * freed with index_free()); snapshot pointers are borrowed until replica_release().
 *
 * Concurrency contract
 * --------------------
 * - replica_acquire()/replica_release(), replica_lsn(), replica_ready(): any thread, any number,
 *   wait-free (a fixed number of atomic operations: two Left-Right read sections). A query never
 *   blocks and never fails.
 * - replica_apply(), replica_switch(), replica_set_ready(): any thread; apply and switch are
 *   serialized by one mutex (in practice the follower thread applies and a loader thread
 *   switches). replica_apply() returns after both instances hold the frame; it waits for the
 *   queries that started on the old state of the instance it writes second (Left-Right), so a
 *   frame's apply latency includes the longest query in flight. A query must therefore never
 *   wait for an apply of the same replica while holding a snapshot.
 * - Memory ordering: each instance carries its own LSN, written by the apply that changed it
 *   before Left-Right publishes that instance, so a snapshot's (ix, lsn) always agree; the rest
 *   is leftright.h's argument. The current pair is itself published through an lr over two
 *   pair pointers: after replica_switch() has swapped it, no acquire in flight can still reach
 *   the old pair, whose own read indicators then only drain (lr_wait_idle()) before it is freed.
 * - replica_close() needs every snapshot released and no other call in flight.
 *
 * Failure: when applying a frame fails part-way (-ENOMEM, or a frame the schema rejects at
 * apply_run) the pair is *failed*: queries keep reading a consistent instance (LSN before or
 * including the frame, see leftright.h), replica_apply() refuses with BDX_ESTATE, and the caller
 * rebuilds with replica_switch(). A frame that apply_check() rejects changes nothing and is
 * reported as BDX_ECORRUPT (the writer accepted it: schema or limits differ).
 */
#ifndef BITDEX_REPLICA_H
#define BITDEX_REPLICA_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/error.h"
#include "common/index.h"
#include "common/leftright.h"
#include "common/limits.h"

typedef struct replica replica_t;
typedef struct replica_pair replica_pair_t;

/*
 * Builds one instance: sets *ix to a new index (ownership passes to the replica) and *lsn to the
 * last LSN it contains. Called twice per pair, *concurrently from two threads* (the caller's and
 * one the replica starts; one after the other only when no thread can be started), with the
 * same `arg`: it must be safe to run twice at once (generation_load() over one generation is).
 * Both calls must give equal indexes at one LSN (e.g. generation_load() twice over one mapped
 * generation). On failure it leaves *ix NULL or a complete index (the replica frees it).
 * Returns 0 or an error with `err`.
 */
typedef int (*replica_load_fn)(void *arg, index_t **ix, uint64_t *lsn, bdx_error_t *err);

/*
 * Brings an unpublished pair up to `to_lsn` (inclusive) with replica_pair_apply(), e.g. from the
 * WAL (follow_catchup() in services/reader/follow.h). Returns 0 or an error.
 */
typedef int (*replica_catchup_fn)(void *arg, replica_pair_t *pair, uint64_t to_lsn,
                                  bdx_error_t *err);

/* A query's view: borrowed until replica_release(). */
typedef struct replica_snap {
    const index_t *ix; /* never NULL; read only */
    uint64_t lsn;      /* last LSN applied to ix */
    /* private */
    replica_pair_t *pair_;
    lr_token_t token_;
} replica_snap_t;

/*
 * Opens the replica of index `name` (copied): builds its first pair with two concurrent calls of
 * `load` (see replica_load_fn).
 * `limits` (NULL: defaults; copied) validate frames as the writer did. The replica starts not
 * ready (replica_set_ready()). Caller closes *out with replica_close().
 * Returns 0, load's error, BDX_EINVAL (the two loads disagree on the LSN) or -ENOMEM.
 */
int replica_open(const char *name, const limits_t *limits, replica_load_fn load, void *load_arg,
                 replica_t **out, bdx_error_t *err);

/* Frees the replica, its pair and indexes. No snapshot may be held. NULL is a no-op. */
void replica_close(replica_t *rep);

/* The index name. Borrowed; valid while the replica lives. */
const char *replica_name(const replica_t *rep);

/*
 * Applies the WAL frame `lsn` (payload: a packed ApplyRequest, borrowed for the call) to both
 * instances. Frames must come in LSN order: lsn <= replica_lsn() is skipped (0, *applied =
 * false); lsn > replica_lsn() + 1 is a gap (BDX_ESTATE, nothing changes). `applied` may be NULL.
 * Returns 0, BDX_ECORRUPT (not an ApplyRequest, or apply_check() rejects it: nothing changed),
 * BDX_ESTATE (gap, or the pair failed earlier), or the apply error (the pair is now failed).
 */
int replica_apply(replica_t *rep, uint64_t lsn, const void *payload, size_t len, bool *applied,
                  bdx_error_t *err);

/* Last LSN applied to the current pair. Any thread. */
uint64_t replica_lsn(const replica_t *rep);

/* True once the current pair failed (replica_switch() to recover). Any thread; takes the apply
 * mutex (may wait for an apply in progress). */
bool replica_failed(const replica_t *rep);

/* Readiness: set by the owner (the follower sets it once caught up to the committed LSN); the
 * query service answers UNAVAILABLE until then. Any thread. */
void replica_set_ready(replica_t *rep, bool ready);
bool replica_ready(const replica_t *rep);

/* Starts a query: fills *snap (see replica_snap_t). Wait-free; never fails. */
void replica_acquire(replica_t *rep, replica_snap_t *snap);

/* Ends the query `snap` came from; snap->ix must not be used after. Wait-free. */
void replica_release(replica_t *rep, replica_snap_t *snap);

/*
 * Replaces the pair: builds a new one with two concurrent calls of `load` (off the apply lock;
 * see replica_load_fn), catches it
 * up to replica_lsn() with `catchup` (may be NULL: the new pair must then already be at or past
 * it), once without the lock and then, under the apply lock, the last few frames; then publishes
 * it (new queries read it) and, after the queries on the old pair have released it, frees the
 * old pair. A replica whose pair failed recovers this way. Returns 0, or an error (load,
 * catchup, BDX_ESTATE: the new pair is behind and cannot be caught up) with the old pair kept.
 * Blocks the calling thread until the old pair is freed; never blocks queries.
 */
int replica_switch(replica_t *rep, replica_load_fn load, void *load_arg, replica_catchup_fn catchup,
                   void *catchup_arg, bdx_error_t *err);

typedef struct replica_stats {
    uint64_t frames;      /* frames applied to the current and earlier pairs (skips excluded) */
    uint64_t switches;    /* pairs published by replica_switch() */
    uint64_t pairs_freed; /* old pairs freed after their last query (= switches once idle) */
} replica_stats_t;

/* Counters since replica_open(). Any thread. */
void replica_stats(const replica_t *rep, replica_stats_t *st);

/* For catch-up functions: the last LSN applied to an unpublished pair. */
uint64_t replica_pair_lsn(const replica_pair_t *pair);

/* For catch-up functions: applies frame `lsn` to an unpublished pair, with replica_apply()'s
 * rules and return codes. */
int replica_pair_apply(replica_pair_t *pair, uint64_t lsn, const void *payload, size_t len,
                       bool *applied, bdx_error_t *err);

#endif

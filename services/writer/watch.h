/*
 * watch: the hub of the Writer.Watch streams of the active writer. Readers subscribe with a
 * WatchRequest; the hub tells them what changes: LSN advances (coalesced), published
 * generations, created and dropped indexes, and heartbeats when nothing else was sent.
 *
 * Flow. The writer reports events with watch_lsn_advance() (the commit, after an LSN became
 * committed), watch_generation_published() (the checkpointer, via catalog_set_generation) and
 * watch_index_changed() (the catalog). Each subscriber keeps per followed index only the newest
 * committed LSN and the newest generation not sent yet, plus a FIFO of index changes, and has at
 * most one message on the wire: the next one is picked when the previous one is written
 * (rpc_sent_fn). So a slow reader costs O(indexes) memory, never blocks the others or the
 * commit, and always ends up with the newest LSN (coalescing drops only intermediate ones).
 *
 * Order per subscriber, as writer.proto states it: at start, for each watched index in request
 * order, the current GenerationPublished (if a generation exists) then an LsnAdvance with the
 * committed LSN; then, per index, events in LSN order, an LsnAdvance to at least L before a
 * GenerationPublished whose checkpoint LSN is L. IndexChanged events go out before any later
 * event of their index.
 *
 * Concurrency contract
 * --------------------
 * - watch_lsn_advance() may be called from any thread, with any lock held: it takes a small
 *   mutex for O(indexes) in-memory work and signals the hub thread, which does the sending.
 *   It never waits for a subscriber. The other event functions take the hub's mutex (held for
 *   in-memory work and non-blocking rpc_call_send() only) and may be called from any thread.
 * - watch_subscribe() is called by the Watch handler (any rpc thread); the hub keeps the call
 *   until the rpc layer releases it (rpc_call_set_data) and only touches it under its mutex.
 * - watch_new() starts one thread (heartbeats and LSN fan-out); watch_free() joins it.
 *   watch_free() only after the rpc server serving the streams was shut down (its release
 *   functions refer to the hub). watch_stop() belongs in the server's on_shutdown hook.
 * - Nothing is persisted: after a restart readers reconnect and get the initial events again.
 */
#ifndef BITDEX_WATCH_H
#define BITDEX_WATCH_H

#include "common/error.h"
#include "common/rpc.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define WATCH_READER_ID_MAX 128         /* WatchRequest.reader_id, bytes */
#define WATCH_HEARTBEAT_DEFAULT_MS 5000 /* heartbeat_interval_ms = 0 */
#define WATCH_HEARTBEAT_MIN_MS 100
#define WATCH_HEARTBEAT_MAX_MS 60000

typedef struct watch watch_t;

/* What happened to an index (the values of bitdex.v1.IndexChangeKind). */
typedef enum watch_change {
    WATCH_INDEX_CREATED = 1,
    WATCH_INDEX_DROPPED = 2,
} watch_change_t;

/* New hub with its thread running. Caller frees with watch_free(). Returns 0, -ENOMEM or a
 * negative errno from pthread_create. */
int watch_new(watch_t **out);

/* Joins the hub thread and frees the hub and any subscriber state left. The rpc server must be
 * shut down first. NULL is a no-op. */
void watch_free(watch_t *hub);

/*
 * LSN `lsn` of index `index` is committed (durable under the sync policy). Cheap and never
 * blocking (see the contract); LSNs not above the last one reported are ignored. NULL hub: no-op.
 */
void watch_lsn_advance(watch_t *hub, const char *index, uint64_t lsn);

/*
 * Generation `gen` of `index`, covering LSNs up to `checkpoint_lsn`, is published in `path`
 * (relative to the data directory, e.g. "indexes/images/gen-42"; copied). NULL hub: no-op.
 */
void watch_generation_published(watch_t *hub, const char *index, uint64_t gen,
                                uint64_t checkpoint_lsn, const char *path);

/*
 * Index `index` was created (announced to streams following every index, which then follow it)
 * or dropped (announced to every stream following it, which then stop following it). Call it
 * after the change is visible (created) or after the index's commit was closed (dropped).
 * NULL hub: no-op.
 */
void watch_index_changed(watch_t *hub, const char *index, watch_change_t kind);

/*
 * Ends every stream with UNAVAILABLE "writer stopping" (after the message on the wire) and
 * refuses new subscriptions (BDX_EUNAVAILABLE). Idempotent. Call it in shutdown before the grace
 * period (rpc_server_on_shutdown(server, watch_stop_hook, hub)).
 */
void watch_stop(watch_t *hub);
void watch_stop_hook(void *hub); /* watch_stop() with the on_shutdown signature */

/* One watched index at the start of a stream: what the writer has now. */
typedef struct watch_start {
    const char *index;       /* borrowed for the call */
    uint64_t committed_lsn;  /* sent as the initial LsnAdvance (even when 0) */
    uint64_t generation;     /* 0: none yet, no initial GenerationPublished */
    uint64_t checkpoint_lsn; /* of that generation */
    const char *gen_path;    /* its directory relative to the data directory; borrowed */
} watch_start_t;

/* A stream's parameters (validated by the caller). Strings are borrowed for the call. */
typedef struct watch_subscriber {
    const char *reader_id;
    uint32_t heartbeat_ms; /* already resolved: 100..60000 */
    bool follow_all;       /* the request named no index: follow created ones too */
} watch_subscriber_t;

/*
 * Makes `call` (a Writer.Watch call, server streaming) a subscriber following the `n` indexes of
 * `start` in that order, sends the initial events, then events as they happen until the call
 * dies or watch_stop(). The hub attaches its state to the call (rpc_call_set_data); the caller
 * must not end the call after success. Returns 0, BDX_EUNAVAILABLE (stopped) or -ENOMEM; on
 * failure the caller still owns (and must end) the call.
 */
int watch_subscribe(watch_t *hub, rpc_call_t *call, const watch_subscriber_t *sub,
                    const watch_start_t *start, size_t n, bdx_error_t *err);

/* One stream following an index, for GetStats. */
typedef struct watch_watcher {
    char *reader_id;
    char *peer;        /* "ipv4:10.0.3.7:51234" */
    uint64_t sent_lsn; /* last LsnAdvance sent for the index */
    int64_t connected_unix_ms;
} watch_watcher_t;

/* The streams following `index`, oldest first, as *n entries in *out (caller frees with
 * watch_watchers_free(); *out is NULL when *n is 0). Returns 0 or -ENOMEM. */
int watch_watchers(watch_t *hub, const char *index, watch_watcher_t **out, size_t *n);
void watch_watchers_free(watch_watcher_t *w, size_t n);

/* Number of live streams. */
size_t watch_stream_count(watch_t *hub);

#endif

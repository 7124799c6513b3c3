/*
 * watch_client: a reader's Writer.Watch stream (gRPC C core client), kept open for as long as
 * the client runs. It tells the reader, through callbacks, when an index's committed LSN
 * advances, a generation is published, or an index is created or dropped.
 *
 * The client runs one thread with its own completion queue. It opens the stream, delivers every
 * event to the callbacks, and reconnects when the stream ends (the writer stopped: UNAVAILABLE;
 * a standby answered; the connection broke) or when nothing, not even a heartbeat, arrived for
 * three heartbeat periods. Reconnects back off exponentially from backoff_min_ms to
 * backoff_max_ms (100 ms .. 5 s by default) with jitter (each wait is drawn from [d/2, d]); a
 * stream that delivered an event resets the backoff. On reconnect each watched index is sent
 * with from_lsn = the last LSN delivered for it, and the writer sends the initial events again.
 *
 * Concurrency contract
 * --------------------
 * - Callbacks run on the client's thread, one at a time, in stream order; they must not block
 *   for long (they delay the next event) and must not call watch_client_stop().
 * - watch_client_set_target() may be called from any thread; watch_client_start/stop from the
 *   owner thread. After watch_client_stop() returns no callback runs and the thread is joined.
 * - watch_client_start() calls grpc_init() and watch_client_stop() grpc_shutdown(), so the
 *   client may be used in a process that runs no other gRPC code. fork() rules of rpc.h apply.
 */
#ifndef BITDEX_WATCH_CLIENT_H
#define BITDEX_WATCH_CLIENT_H

#include "common/error.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct watch_client watch_client_t;

/* IndexChangeKind values. */
typedef enum watch_client_change {
    WATCH_CLIENT_INDEX_CREATED = 1,
    WATCH_CLIENT_INDEX_DROPPED = 2,
} watch_client_change_t;

/* Every callback may be NULL. Strings are borrowed for the duration of the callback. */
typedef struct watch_client_callbacks {
    /* The stream is open: its first event arrived. */
    void (*on_connected)(void *arg);
    /* The stream ended (after on_connected) or could not be opened; `status` is the gRPC
     * status code (14 UNAVAILABLE when the writer stops, 4 DEADLINE_EXCEEDED when it went silent
     * for three heartbeats), `details` its message. A reconnect follows unless stopping. */
    void (*on_disconnected)(void *arg, int status, const char *details);
    void (*on_lsn)(void *arg, const char *index, uint64_t lsn);
    void (*on_generation)(void *arg, const char *index, uint64_t generation,
                          uint64_t checkpoint_lsn, const char *path);
    void (*on_index_changed)(void *arg, const char *index, watch_client_change_t kind);
    void *arg;
} watch_client_callbacks_t;

typedef struct watch_client_config {
    const char *target;         /* "host:port" of the writer; copied */
    const char *reader_id;      /* WatchRequest.reader_id (<= 128 bytes); copied */
    const char *const *indexes; /* the indexes to follow; n_indexes 0 = every index; copied */
    size_t n_indexes;
    uint32_t heartbeat_ms;   /* 0 = 5000 */
    uint32_t backoff_min_ms; /* 0 = 100 */
    uint32_t backoff_max_ms; /* 0 = 5000 */
} watch_client_config_t;

/*
 * Starts the client thread, which connects at once. `cfg` and `cb` are copied. Caller stops and
 * frees it with watch_client_stop(). Returns 0, BDX_EINVAL (no target, reader_id too long),
 * -ENOMEM or a negative errno from pthread_create.
 */
int watch_client_start(const watch_client_config_t *cfg, const watch_client_callbacks_t *cb,
                       watch_client_t **out, bdx_error_t *err);

/*
 * Points the client at another writer address (copied): the current stream is cancelled and the
 * next attempt goes to `target` (the writer moved, e.g. after a failover to a new address).
 * Returns 0 or -ENOMEM.
 */
int watch_client_set_target(watch_client_t *wc, const char *target);

/* Number of streams opened so far (each reconnect that got its first event counts one). */
uint64_t watch_client_connections(watch_client_t *wc);

/* Cancels the stream, joins the thread and frees everything. NULL is a no-op. */
void watch_client_stop(watch_client_t *wc);

#endif

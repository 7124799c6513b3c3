/*
 * grpc_client: a small synchronous gRPC C-core client for the benchmark tools (bitdex-load,
 * bitdex-bench-grpc). Not for the services: they have their own asynchronous rpc layer.
 *
 * Names carry the prefix `gclient_` because `grpc_` is gRPC's own namespace.
 *
 * Three objects:
 *   - a channel (gclient_channel_t): one HTTP/2 connection to "host:port", plaintext, lazily
 *     connected; thread-safe (gRPC channels are), so threads may share one. With
 *     `private_connection` each channel gets its own subchannel pool and thus its own TCP
 *     connection even to a target another channel already uses (one per benchmark thread).
 *   - a queue (gclient_queue_t): a pluck completion queue. Every call runs its batches on a
 *     queue and blocks in grpc_completion_queue_pluck() until they complete. A queue belongs to
 *     one thread at a time (one call in flight per queue).
 *   - a client-streaming call (gclient_stream_t): start, send messages, finish.
 *
 * Messages are opaque bytes here (callers pack/unpack with protobuf-c). Status codes are gRPC's
 * numeric codes (0 OK, 4 DEADLINE_EXCEEDED, 14 UNAVAILABLE, ...).
 *
 * Errors: functions return 0 when the call reached a gRPC status (which may be non-OK: see
 * *status), -ENOMEM, or BDX_EINTERNAL when gRPC refused a batch (a bug in this file or misuse,
 * e.g. two calls in flight on one queue).
 *
 * Lifecycle: gclient_init() once per process before anything else (it calls grpc_init()), and
 * gclient_shutdown() after every channel and queue is closed. No fork after gclient_init()
 * (toolchain notes, pitfall 3).
 */
#ifndef BITDEX_BENCH_GRPC_CLIENT_H
#define BITDEX_BENCH_GRPC_CLIENT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/error.h"

#define GCLIENT_STATUS_OK 0
#define GCLIENT_STATUS_DEADLINE_EXCEEDED 4
#define GCLIENT_STATUS_UNIMPLEMENTED 12
#define GCLIENT_STATUS_UNAVAILABLE 14
#define GCLIENT_DETAILS_MAX 512

typedef struct gclient_channel gclient_channel_t;
typedef struct gclient_queue gclient_queue_t;
typedef struct gclient_stream gclient_stream_t;

/* A request header (initial metadata), e.g. {"authorization", "Bearer secret"}. Both strings
 * are borrowed for the duration of the call that takes them. Keys must be lowercase. */
typedef struct gclient_header {
    const char *key;
    const char *value;
} gclient_header_t;

/* The outcome of a call: gRPC status code and its message (truncated to fit). */
typedef struct gclient_status {
    int code;
    char details[GCLIENT_DETAILS_MAX];
} gclient_status_t;

/* A growable byte buffer for response messages; reuse it across calls to avoid allocations.
 * Zero-initialize; release with gclient_buf_free(). */
typedef struct gclient_buf {
    uint8_t *data;
    size_t len;
    size_t cap;
} gclient_buf_t;

void gclient_buf_free(gclient_buf_t *b);

/* Process-wide setup / teardown (grpc_init / grpc_shutdown). */
void gclient_init(void);
void gclient_shutdown(void);

/* Opens a channel to `target` ("host:port"). Caller closes with gclient_channel_close(). Returns
 * 0, -ENOMEM or BDX_EINVAL (empty target). */
int gclient_channel_open(const char *target, bool private_connection, gclient_channel_t **out,
                         bdx_error_t *err);
/* The target the channel was opened with (borrowed; valid until close). */
const char *gclient_channel_target(const gclient_channel_t *ch);
void gclient_channel_close(gclient_channel_t *ch);

/* A pluck completion queue for one thread. 0 or -ENOMEM. Close with gclient_queue_close() after
 * its last call finished. */
int gclient_queue_open(gclient_queue_t **out);
void gclient_queue_close(gclient_queue_t *q);

/*
 * One unary call of `method` ("/bitdex.v1.Query/Search") with the request bytes req[0..len)
 * and a deadline `deadline_ms` from now, in one batch. On return 0 the status is in *status and,
 * when it is OK, the response message is in *resp (replacing its contents; len 0 for an empty
 * message). `headers` may be NULL when n_headers is 0.
 */
int gclient_unary(gclient_channel_t *ch, gclient_queue_t *q, const char *method,
                  const gclient_header_t *headers, size_t n_headers, const void *req, size_t len,
                  int64_t deadline_ms, gclient_buf_t *resp, gclient_status_t *status);

/*
 * Starts a client-streaming call (the request side stays open). Sends the headers at once.
 * On success *out is the call: send with gclient_stream_send(), end with gclient_stream_finish()
 * (always, also after a failed send: it releases the call). Returns 0, -ENOMEM or
 * BDX_EINTERNAL (*out NULL then).
 */
int gclient_stream_start(gclient_channel_t *ch, gclient_queue_t *q, const char *method,
                         const gclient_header_t *headers, size_t n_headers, int64_t deadline_ms,
                         gclient_stream_t **out);

/*
 * Sends one message and waits until gRPC has taken it (flow control may make this wait for the
 * server). Returns 0, -ENOMEM, or BDX_ESTATE when the call is already over (the server ended it,
 * or the deadline passed): call gclient_stream_finish() for the status.
 */
int gclient_stream_send(gclient_stream_t *s, const void *msg, size_t len);

/*
 * Half-closes the request side, waits for the response and the status, and frees the call
 * (s is invalid afterwards, whatever the result). Response and status as in gclient_unary().
 */
int gclient_stream_finish(gclient_stream_t *s, gclient_buf_t *resp, gclient_status_t *status);

/* Name of a gRPC status code ("OK", "UNAVAILABLE", ...); static. */
const char *gclient_status_name(int code);

#endif

/*
 * rpc: the asynchronous gRPC server both bitdex services run on (gRPC C core + protobuf-c).
 *
 * A service fills an rpc_server_config_t, creates the server, adds its method tables, starts it,
 * and later shuts it down:
 *
 *     static const rpc_method_t query_methods[] = {
 *         {"/bitdex.v1.Query/Search", RPC_UNARY, &bitdex__v1__search_request__descriptor,
 *          search_handler, NULL, NULL, &reader},
 *     };
 *     rpc_server_config_t cfg = {.listen_addr = "0.0.0.0:50051"};
 *     rpc_server_t *srv;
 *     rpc_server_new(&cfg, &srv, &err);
 *     rpc_server_add_methods(srv, query_methods, 1, &err);
 *     health_register(health, srv, &err);          (common/health.h)
 *     reflection_register(reflection, srv, &err);  (common/reflection.h)
 *     rpc_server_start(srv, &err);
 *     ... sigwait() ...
 *     rpc_server_shutdown(srv, 5000);
 *     rpc_server_free(srv);
 *
 * Concurrency contract
 * --------------------
 * - Threads. The server owns one completion queue polled by `workers` threads (the "CQ threads")
 *   and one libuv loop thread that feeds libuv's thread pool (rpc_call_defer). Handlers and all
 *   other callbacks (on_recv, on_end, on_sent, after_fn) run on those threads. They must not block:
 *   anything that may wait for I/O, a lock held for long, or CPU work longer than ~100 us goes
 *   through rpc_call_defer(). The thread pool size is libuv's (UV_THREADPOOL_SIZE, default 4).
 * - Ordering per call. handler -> on_recv (per message) -> on_end never overlap for one call, and
 *   a deferred job started from one of them (work_fn, then after_fn) is part of that chain: no
 *   further message is delivered until after_fn has returned. on_sent callbacks may run at the
 *   same time as the chain, on another CQ thread.
 * - rpc_call_* functions are thread-safe. A call pointer may be used from inside its callbacks
 *   and deferred job. Code that keeps a call pointer beyond that (a list of watch streams, say)
 *   must attach a release function with rpc_call_set_data(), drop the pointer there under its
 *   own lock, and hold that same lock while it uses the pointer: the call is freed right after the
 *   release function returns.
 * - Set-up (rpc_server_new, rpc_server_add_methods, rpc_server_on_shutdown, rpc_server_start) and
 *   tear-down (rpc_server_shutdown, rpc_server_free) are single-threaded and must not run on a CQ
 *   or loop thread.
 * - Signals are the service's business: block SIGINT and SIGTERM in the main thread *before* the
 *   first gRPC call (rpc_server_new calls grpc_init), so every gRPC and rpc thread inherits the
 *   mask, then sigwait() in the main thread and call rpc_server_shutdown().
 * - fork() after rpc_server_new breaks the child's gRPC; fork (or fork+exec) before it.
 *
 * Errors: functions return 0 or a negative code (common/error.h). rpc_status_from_error() is the
 * one place that turns those codes into gRPC status codes.
 */
#ifndef BITDEX_RPC_H
#define BITDEX_RPC_H

#include "common/error.h"

#include <grpc/status.h>
#include <protobuf-c/protobuf-c.h>

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct rpc_server rpc_server_t;
typedef struct rpc_call rpc_call_t;

/* Streaming shape of a method: bit 0 = the client streams, bit 1 = the server streams. */
typedef enum rpc_kind {
    RPC_UNARY = 0,
    RPC_CLIENT_STREAMING = 1,
    RPC_SERVER_STREAMING = 2,
    RPC_BIDI = 3,
} rpc_kind_t;

/*
 * Called once when a call starts, on a CQ thread.
 * RPC_UNARY / RPC_SERVER_STREAMING: `req` is the decoded request (borrowed; valid until the call
 * is done, unless taken with rpc_call_take_message()). A request that does not decode never
 * reaches the handler: the client gets INVALID_ARGUMENT "cannot decode <type>".
 * RPC_CLIENT_STREAMING / RPC_BIDI: `req` is NULL; messages arrive through on_recv afterwards.
 * The handler (or code it hands the call to) must end every call exactly once with
 * rpc_call_reply(), rpc_call_fail() or rpc_call_finish(), unless the call is cancelled first.
 */
typedef void (*rpc_handler_fn)(rpc_call_t *call, const ProtobufCMessage *req, void *ctx);

/*
 * Client-streaming / bidi: called for each request message, on a CQ thread. `msg` is borrowed:
 * valid until on_recv returns or, when on_recv deferred work, until that job's after_fn returns
 * (or take it with rpc_call_take_message()). The next message is read only after that.
 */
typedef void (*rpc_recv_fn)(rpc_call_t *call, const ProtobufCMessage *msg, void *ctx);

/* Client-streaming / bidi: the client half-closed (sent its last message). */
typedef void (*rpc_end_fn)(rpc_call_t *call, void *ctx);

/*
 * Completion of one rpc_call_send(): ok = true when the message went to the transport, false
 * when the call died (cancelled, deadline, shutdown) before that. Runs on a CQ thread, without
 * any rpc lock held; it may call rpc_call_send() again (a producer sending one message at a time
 * gets flow control this way).
 */
typedef void (*rpc_sent_fn)(rpc_call_t *call, bool ok, void *arg);

/* Deferred work (rpc_call_defer): work_fn on a libuv pool thread, after_fn on the loop thread. */
typedef void (*rpc_work_fn)(rpc_call_t *call, void *arg);

/* One method of a service. Tables are copied by rpc_server_add_methods(). */
typedef struct rpc_method {
    const char *path; /* "/bitdex.v1.Query/Search" */
    rpc_kind_t kind;
    const ProtobufCMessageDescriptor *request; /* request message type (not NULL) */
    rpc_handler_fn handler;                    /* may be NULL for client-streaming / bidi */
    rpc_recv_fn on_recv;                       /* client-streaming / bidi: required */
    rpc_end_fn on_end;                         /* client-streaming / bidi: required */
    void *ctx;                                 /* passed to handler, on_recv and on_end */
} rpc_method_t;

typedef struct rpc_server_config {
    const char *listen_addr; /* "host:port"; port 0 picks a free one. Copied. */
    size_t max_recv_bytes;   /* larger requests fail RESOURCE_EXHAUSTED; 0 = 4 MiB */
    size_t max_send_bytes;   /* largest response message; 0 = 4 MiB */
    int workers;             /* CQ threads; 0 = number of cores */
    int grace_ms;            /* grace used by rpc_server_free() if still running; 0 = 5000 */
} rpc_server_config_t;

/* ---- server ---------------------------------------------------------------------------------- */

/*
 * Creates a server (not yet listening) from `cfg` (borrowed during the call). Calls grpc_init().
 * On success *out owns the server: free it with rpc_server_free(). On failure *out is NULL.
 * Returns 0, BDX_EINVAL (bad config, in err) or -ENOMEM.
 */
int rpc_server_new(const rpc_server_config_t *cfg, rpc_server_t **out, bdx_error_t *err);

/*
 * Adds `n` methods (copied, including the path strings) before rpc_server_start(). Returns 0,
 * BDX_EINVAL (bad entry), BDX_EEXIST (path already added) or BDX_ESTATE (server started).
 */
int rpc_server_add_methods(rpc_server_t *server, const rpc_method_t *methods, size_t n,
                           bdx_error_t *err);

/*
 * Registers `fn(arg)` to run at the start of rpc_server_shutdown(), after the server stopped
 * accepting calls and before the grace period: the place to end long-lived streams (watches).
 * Runs on the thread calling rpc_server_shutdown(). Before rpc_server_start() only.
 */
int rpc_server_on_shutdown(rpc_server_t *server, void (*fn)(void *arg), void *arg);

/*
 * Binds the listen address exclusively (no SO_REUSEPORT: a second server on the same port fails),
 * starts the threads and begins accepting calls; logs `listening addr=... port=...`. Calls to
 * paths not added answer UNIMPLEMENTED. Returns 0, -EADDRINUSE (cannot bind; the address is in
 * err), another negative errno (threads could not start) or BDX_ESTATE (already started). After
 * a failure only rpc_server_free() is allowed.
 */
int rpc_server_start(rpc_server_t *server, bdx_error_t *err);

/* The bound TCP port after a successful rpc_server_start(), else 0. */
int rpc_server_port(const rpc_server_t *server);

/*
 * Service names ("bitdex.v1.Query", ...) of the methods added, in order of first appearance, each
 * once. Borrowed; valid until rpc_server_free(). Thread-safe once the server is started.
 */
size_t rpc_server_service_count(const rpc_server_t *server);
const char *rpc_server_service_name(const rpc_server_t *server, size_t i);

/*
 * Graceful shutdown: stops accepting calls, runs the on_shutdown hooks, lets calls in flight
 * finish for up to `grace_ms`, then cancels the remaining ones, waits for their handlers' deferred
 * jobs to return, drains the queue and joins all threads. Idempotent; a no-op before start.
 * The server's memory stays valid (rpc_server_port still works) until rpc_server_free().
 */
void rpc_server_shutdown(rpc_server_t *server, int grace_ms);

/* Shuts down (with cfg.grace_ms) if needed and frees the server. NULL is allowed. */
void rpc_server_free(rpc_server_t *server);

/* ---- calls: replies ---------------------------------------------------------------------------
 * rpc_call_reply/fail/finish end the call; afterwards the handler must not touch `call` again
 * (outside a callback that is still running). On a call that already died they do nothing and
 * return BDX_ECANCELLED; a second end returns BDX_ESTATE. Messages are packed before these
 * functions return: `msg` stays the caller's.
 */

/*
 * Unary / client-streaming: sends `resp` and status OK. A response larger than max_send_bytes is
 * not sent: the call ends with RESOURCE_EXHAUSTED (naming the size) and BDX_ETOOBIG is returned.
 */
int rpc_call_reply(rpc_call_t *call, const ProtobufCMessage *resp);

/*
 * Ends the call with the status rpc_status_from_error(code) and the printf-formatted message
 * (fmt NULL: bdx_strerror(code)). `code` 0 gives OK.
 */
int rpc_call_fail(rpc_call_t *call, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* rpc_call_fail() with err->code and bdx_error_message(err). */
int rpc_call_fail_error(rpc_call_t *call, const bdx_error_t *err);

/*
 * Streaming: queues `msg` (packed now) behind earlier sends; one send is on the wire at a time.
 * on_sent (may be NULL) is called exactly once per accepted message. Returns 0, BDX_ECANCELLED
 * (call dead), BDX_ESTATE (already ended), BDX_ETOOBIG (msg exceeds max_send_bytes; the call
 * goes on) or -ENOMEM; on_sent is not called for a refused message.
 */
int rpc_call_send(rpc_call_t *call, const ProtobufCMessage *msg, rpc_sent_fn on_sent, void *arg);

/* Number of messages queued by rpc_call_send() and not yet written. */
size_t rpc_call_send_queued(rpc_call_t *call);

/*
 * Streaming: ends the call after the queued messages with status rpc_status_from_error(code)
 * and `msg` (copied; NULL: bdx_strerror(code), or empty for 0).
 */
int rpc_call_finish(rpc_call_t *call, int code, const char *msg);

/* ---- calls: deferred work --------------------------------------------------------------------- */

/*
 * Runs work_fn(call, arg) on the libuv thread pool, then after_fn(call, arg) on the server's loop
 * thread (after_fn must not block; either may be NULL). The call stays valid until after_fn
 * returns, even if it is cancelled meanwhile (poll rpc_call_cancelled() in long work). Replies are
 * normally sent from after_fn; all rpc_call_* functions are allowed in both. `arg` is the caller's.
 * One deferred job per call at a time; a cancelled call may still defer (the job sees
 * rpc_call_cancelled()). Returns 0 or BDX_ESTATE (a job is pending or the call was ended); on
 * error nothing runs.
 */
int rpc_call_defer(rpc_call_t *call, rpc_work_fn work_fn, rpc_work_fn after_fn, void *arg);

/* ---- calls: state ---------------------------------------------------------------------------- */

/* True once the client's deadline has passed (false when it set none). */
bool rpc_call_deadline_passed(const rpc_call_t *call);

/* Milliseconds until the deadline (0 when passed; INT64_MAX when none). */
int64_t rpc_call_deadline_remaining_ms(const rpc_call_t *call);

/* True when the call died before its status was sent: cancelled, deadline, connection lost. */
bool rpc_call_cancelled(const rpc_call_t *call);

/*
 * The first value of the text request header `key` (lower case, e.g. "authorization"), or NULL.
 * Borrowed; valid until the call is done.
 */
const char *rpc_call_metadata(rpc_call_t *call, const char *key);

/* The method's path ("/bitdex.v1.Query/Search") or, for an unknown method, the requested path. */
const char *rpc_call_method(const rpc_call_t *call);

/*
 * The client's address as gRPC reports it, e.g. "ipv4:127.0.0.1:51234" ("" if unknown). Caller
 * frees the copy with free(); NULL when out of memory.
 */
char *rpc_call_peer(rpc_call_t *call);

/*
 * Takes the current request message (the unary request, or the message on_recv is handling) out
 * of the call: returns a copy the caller owns and frees with
 * protobuf_c_message_free_unpacked(msg, NULL) (the rpc layer decodes into an arena of the call,
 * common/pbarena.h, so the borrowed message itself is never the caller's). NULL if none, already
 * taken, or out of memory.
 */
ProtobufCMessage *rpc_call_take_message(rpc_call_t *call);

/*
 * The encoded bytes the current request message (the unary request, or the message on_recv is
 * handling) was decoded from, and their length in *len; NULL (and 0) when there is none or it
 * was taken. *canonical is true when the bytes are known to be exactly what
 * protobuf_c_message_pack() gives for the message (write batches, common/apply_decode.h); false
 * means unknown. Borrowed; valid as long as the message (the call, or until on_recv / its
 * deferred job returns).
 */
const uint8_t *rpc_call_message_bytes(rpc_call_t *call, size_t *len, bool *canonical);

/*
 * Attaches handler state to the call. `release(data)` (may be NULL) runs exactly once when the
 * call is done (ended or died, and every callback and deferred job returned), on whichever rpc
 * thread drops the last reference, with no rpc lock held; the call is freed right after. Setting
 * again replaces the data without releasing the old one.
 */
void rpc_call_set_data(rpc_call_t *call, void *data, void (*release)(void *data));
void *rpc_call_data(const rpc_call_t *call);

/* ---- status mapping -------------------------------------------------------------------------- */

/*
 * The gRPC status for a bitdex return code: 0 OK; BDX_EINVAL, BDX_ELIMIT, BDX_ECURSOR
 * INVALID_ARGUMENT; BDX_ENOTFOUND NOT_FOUND; BDX_EEXIST ALREADY_EXISTS; BDX_EUNAVAILABLE
 * UNAVAILABLE; BDX_ECANCELLED CANCELLED; BDX_EDEADLINE DEADLINE_EXCEEDED; BDX_EUNIMPLEMENTED
 * UNIMPLEMENTED; BDX_EPERM PERMISSION_DENIED; BDX_EUNAUTH UNAUTHENTICATED; BDX_ESTATE
 * FAILED_PRECONDITION; BDX_ETOOBIG, -ENOMEM, -ENOSPC, -EDQUOT RESOURCE_EXHAUSTED; BDX_ECORRUPT,
 * BDX_EVERSION, BDX_EINTERNAL and every other negative code INTERNAL; positive codes UNKNOWN.
 */
grpc_status_code rpc_status_from_error(int code);

#endif

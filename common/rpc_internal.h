/*
 * rpc_internal: private to common/rpc*.c. The structures shared by the server (rpc.c), the call
 * state machine (rpc_call.c) and the deferred-work loop (rpc_pool.c). Nothing outside common/rpc*
 * includes this.
 */
#ifndef BITDEX_RPC_INTERNAL_H
#define BITDEX_RPC_INTERNAL_H

#include "common/rpc.h"

#include <grpc/grpc.h>
#include <pthread.h>
#include <stdatomic.h>
#include <uv.h>

#define RPC_CONTAINER_OF(ptr, type, member) ((type *)((char *)(ptr)-offsetof(type, member)))

/*
 * Every completion-queue tag is one of these, embedded in the object it belongs to. The worker
 * that pops it calls done(tag, success).
 */
typedef struct rpc_tag {
    void (*done)(struct rpc_tag *tag, bool ok);
} rpc_tag_t;

/* ---- deferred-work loop (rpc_pool.c) ---- */

typedef struct rpc_job {
    uv_work_t req;
    struct rpc_job *next;
    void (*work)(struct rpc_job *job);  /* on a libuv pool thread */
    void (*after)(struct rpc_job *job); /* on the loop thread */
} rpc_job_t;

typedef struct rpc_pool {
    uv_loop_t loop;
    uv_async_t wake;
    uv_thread_t thread;
    pthread_mutex_t mu;
    rpc_job_t *head, *tail; /* submitted, not yet handed to uv_queue_work */
    bool stop;
    bool running;
} rpc_pool_t;

/* Starts the loop thread. Returns 0 or a negative errno. */
int rpc_pool_start(rpc_pool_t *pool);
/* Queues `job` (owned by the caller until its after() returns). Thread-safe. */
void rpc_pool_submit(rpc_pool_t *pool, rpc_job_t *job);
/* Lets the loop finish the jobs already submitted, then joins it. No-op if not running. */
void rpc_pool_stop(rpc_pool_t *pool);

/* ---- server (rpc.c) ---- */

typedef struct rpc_method_entry {
    rpc_method_t m; /* m.path is a heap copy */
    void *handle;   /* from grpc_server_register_method */
} rpc_method_entry_t;

/* One posted grpc_server_request_(registered_)call. Re-posted after each call it matches. */
typedef struct rpc_request {
    rpc_tag_t tag;
    rpc_server_t *server;
    const rpc_method_entry_t *method; /* NULL: the catch-all for unregistered methods */
    grpc_call *call;
    gpr_timespec deadline;
    grpc_metadata_array md;
    grpc_byte_buffer *payload;
    grpc_call_details details; /* unregistered only */
} rpc_request_t;

typedef struct rpc_hook {
    void (*fn)(void *arg);
    void *arg;
} rpc_hook_t;

struct rpc_server {
    rpc_server_config_t cfg; /* cfg.listen_addr is a heap copy */
    grpc_server *grpc;
    grpc_completion_queue *cq;
    rpc_method_entry_t *methods;
    size_t n_methods, cap_methods;
    char **services;
    size_t n_services;
    rpc_hook_t *hooks;
    size_t n_hooks;
    pthread_t *workers;
    int n_workers;
    rpc_pool_t pool;
    int port;
    bool started, start_failed, stopped, cq_drained;
    atomic_bool shutting_down;
    rpc_tag_t shutdown_tag;
    pthread_mutex_t mu;
    pthread_cond_t cond; /* CLOCK_MONOTONIC; signalled when the shutdown tag arrives */
    bool shutdown_done;
};

/* ---- calls (rpc_call.c: lifecycle, close watch, receive chain, deferred work, state;
 *      rpc_send.c: the send queue and the end of the call) ---- */

typedef enum rpc_send_kind {
    RPC_SEND_MESSAGE,
    RPC_SEND_STATUS,
} rpc_send_kind_t;

typedef struct rpc_send_entry {
    struct rpc_send_entry *next;
    rpc_send_kind_t kind;
    grpc_byte_buffer *buf; /* RPC_SEND_MESSAGE */
    rpc_sent_fn on_sent;
    void *arg;
    grpc_status_code status; /* RPC_SEND_STATUS */
    grpc_slice details;
} rpc_send_entry_t;

typedef struct rpc_md_cache {
    struct rpc_md_cache *next;
    char *key;
    char *value;
} rpc_md_cache_t;

struct rpc_call {
    rpc_server_t *server;
    const rpc_method_entry_t *method; /* NULL: unknown method */
    char *unknown_path;
    grpc_call *call;
    gpr_timespec deadline;
    gpr_timespec started;
    grpc_metadata_array md;

    pthread_mutex_t mu;
    int refs;
    bool app_ref; /* the handler still owes the end of the call */
    bool ended;   /* reply/fail/finish accepted */
    bool dead;    /* cancelled, or a batch failed */
    atomic_bool cancelled;
    grpc_status_code final_status;

    rpc_tag_t close_tag;
    int close_cancelled;

    rpc_tag_t send_tag;
    bool md_sent, send_pending;
    rpc_send_entry_t *q_head, *q_tail;
    size_t queued; /* RPC_SEND_MESSAGE entries queued, not yet in flight */
    rpc_send_entry_t *inflight;

    rpc_tag_t recv_tag;
    bool recv_pending, half_closed;
    grpc_byte_buffer *recv_buf;

    grpc_byte_buffer *payload; /* until rpc_call_run */
    ProtobufCMessage *request; /* unary / server-streaming request */
    ProtobufCMessage *cur_msg; /* message being handled by on_recv */
    struct pbarena *arena;     /* request / cur_msg are decoded into it (common/pbarena.h) */
    grpc_slice msg_bytes;      /* encoded bytes of request / cur_msg, when has_msg_bytes */
    bool has_msg_bytes;
    bool msg_canonical; /* msg_bytes are protobuf-c's packing (apply_decode proved it) */

    rpc_job_t job;
    bool defer_pending;
    rpc_work_fn work_fn, after_fn;
    void *work_arg;

    rpc_md_cache_t *md_cache;
    void *data;
    void (*release)(void *data);
};

/* Drops one reference; the last one frees the call (running its release function first). */
void rpc_call_unref(rpc_call_t *c);

/* Drops the app reference if still held. Callers hold another reference. c->mu held. */
void rpc_call_drop_app_ref_locked(rpc_call_t *c);

/*
 * Marks the call dead (cancelled, deadline, failed batch): nothing more is sent or read, and the
 * app reference goes. Returns the unsent queue, for rpc_send_flush() once c->mu is released.
 */
rpc_send_entry_t *rpc_call_die_locked(rpc_call_t *c);

/* Completion of the send batch (c->send_tag). */
void rpc_send_done(rpc_tag_t *tag, bool ok);

/* Completes a list of send entries: on_sent(ok) for messages, then frees them. No lock held. */
void rpc_send_flush(rpc_call_t *c, rpc_send_entry_t *list, bool ok);

/*
 * Creates a call from a matched request, taking over its grpc_call, metadata, payload and (for
 * the unregistered catch-all) method name; `rq` is left ready to be posted again. Returns NULL
 * when out of memory (the gRPC call is then released, which cancels it).
 */
rpc_call_t *rpc_call_accept(rpc_server_t *server, rpc_request_t *rq);

/*
 * Starts an accepted call on a CQ thread: the close watch, request decoding and the handler (or
 * the UNIMPLEMENTED reply for an unknown method).
 */
void rpc_call_run(rpc_call_t *call);

#endif

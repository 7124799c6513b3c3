/*
 * rpc_call: the life of one call of the rpc server; its outgoing side is in rpc_send.c.
 *
 * gRPC C core allows one outstanding send batch and one outstanding receive batch per call, plus
 * the RECV_CLOSE_ON_SERVER batch that is the only way to learn about cancellation. A call
 * therefore runs up to three independent chains, each holding a reference while its batch is in
 * flight:
 *   - close: started when the call starts, completes when the call is over (cancelled=1 when it
 *     died before its status went out);
 *   - send:  the queue of rpc_send.c;
 *   - recv:  client-streaming and bidi only; the next message is read when the handler chain is
 *     idle (handler/on_recv returned and no deferred job is pending), which is the flow control.
 * Other references: the "app" reference (dropped when the handler ends the call or the call dies),
 * rpc_call_run() while it runs the handler, and a pending deferred job. The last reference frees
 * the call.
 *
 * Locking: one mutex per call guards all of this state. User callbacks are never called with it
 * held; grpc_call_start_batch is (it only queues work).
 */
#include "common/rpc_internal.h"

#include "common/apply_decode.h"
#include "common/log.h"
#include "common/pbarena.h"

#include <errno.h>
#include <grpc/byte_buffer_reader.h>
#include <grpc/support/alloc.h>
#include <grpc/support/time.h>
#include <stdlib.h>
#include <string.h>

/* ---- references and teardown ---- */

/* Drops the encoded bytes of the previous message. */
static void release_bytes(rpc_call_t *c)
{
    if (c->has_msg_bytes) {
        grpc_slice_unref(c->msg_bytes);
        c->has_msg_bytes = false;
        c->msg_canonical = false;
    }
}

static void destroy(rpc_call_t *c)
{
    if (c->release)
        c->release(c->data);
    if (log_get_level() <= LOG_DEBUG) {
        gpr_timespec d = gpr_time_sub(gpr_now(GPR_CLOCK_MONOTONIC), c->started);
        log_debug("rpc", "call", "method=%s status=%d cancelled=%d ms=%.3f", rpc_call_method(c),
                  (int)c->final_status, (int)atomic_load(&c->cancelled),
                  (double)d.tv_sec * 1e3 + d.tv_nsec / 1e6);
    }
    pbarena_free(c->arena); /* the request / current message, if any */
    release_bytes(c);
    while (c->md_cache) {
        rpc_md_cache_t *n = c->md_cache->next;
        free(c->md_cache->key);
        free(c->md_cache->value);
        free(c->md_cache);
        c->md_cache = n;
    }
    grpc_metadata_array_destroy(&c->md);
    grpc_call_unref(c->call);
    pthread_mutex_destroy(&c->mu);
    free(c->unknown_path);
    free(c);
}

void rpc_call_unref(rpc_call_t *c)
{
    pthread_mutex_lock(&c->mu);
    int left = --c->refs;
    pthread_mutex_unlock(&c->mu);
    if (left == 0)
        destroy(c);
}

void rpc_call_drop_app_ref_locked(rpc_call_t *c)
{
    if (c->app_ref) {
        c->app_ref = false;
        c->refs--;
    }
}

rpc_send_entry_t *rpc_call_die_locked(rpc_call_t *c)
{
    if (!c->ended)
        atomic_store(&c->cancelled, true);
    c->dead = true;
    rpc_call_drop_app_ref_locked(c);
    rpc_send_entry_t *q = c->q_head;
    c->q_head = c->q_tail = NULL;
    c->queued = 0;
    return q;
}

/* ---- recv chain ---- */

/*
 * Decodes a whole byte buffer as `desc` into the call's arena (common/pbarena.h: no malloc per
 * field, freed at once); NULL when it does not decode. One message of a call is decoded at a
 * time (the next only after resume() released the current one), so one arena serves them all.
 * Write batches, most of what the writer receives, go through their own one-pass decoder,
 * which also proves them canonical so the WAL can log them as received (common/apply_decode.h);
 * on anything unusual it falls back to protobuf-c, like every other message.
 */
static ProtobufCMessage *decode(rpc_call_t *c, grpc_byte_buffer *bb,
                                const ProtobufCMessageDescriptor *desc)
{
    grpc_byte_buffer_reader r;
    if (c->arena == NULL && (c->arena = pbarena_new()) == NULL)
        return NULL;
    if (!grpc_byte_buffer_reader_init(&r, bb))
        return NULL;
    grpc_slice s = grpc_byte_buffer_reader_readall(&r);
    const uint8_t *data = GRPC_SLICE_START_PTR(s);
    size_t len = GRPC_SLICE_LENGTH(s);
    Bitdex__V1__ApplyRequest *req = NULL;
    ProtobufCMessage *msg;
    bool canonical = desc == &bitdex__v1__apply_request__descriptor &&
                     apply_decode(pbarena_allocator(c->arena, len), data, len, &req);

    msg = canonical ? &req->base : pbarena_unpack(c->arena, desc, len, data);
    grpc_byte_buffer_reader_destroy(&r);
    release_bytes(c);
    if (msg != NULL) { /* kept for rpc_call_message_bytes(), as long as the message */
        c->msg_bytes = s;
        c->has_msg_bytes = true;
        c->msg_canonical = canonical;
    } else {
        grpc_slice_unref(s);
    }
    return msg;
}

static void on_recv_done(rpc_tag_t *tag, bool ok);

/* Reads the next message if the method streams requests and the handler chain is idle. */
static void start_recv_locked(rpc_call_t *c)
{
    if (!c->method || !(c->method->m.kind & RPC_CLIENT_STREAMING) || c->recv_pending ||
        c->half_closed || c->defer_pending || c->ended || c->dead)
        return;
    grpc_op op;
    memset(&op, 0, sizeof(op));
    op.op = GRPC_OP_RECV_MESSAGE;
    op.data.recv_message.recv_message = &c->recv_buf;
    c->recv_pending = true;
    c->refs++;
    grpc_call_error rc = grpc_call_start_batch(c->call, &op, 1, &c->recv_tag, NULL);
    if (rc != GRPC_CALL_OK) {
        log_error("rpc", "start_batch failed", "method=%s error=%d", rpc_call_method(c), (int)rc);
        abort();
    }
}

/*
 * The handler chain returned control (handler, on_recv, on_end or after_fn). Unless it deferred
 * work, the current message is released and the next one is read.
 */
static void resume(rpc_call_t *c)
{
    pthread_mutex_lock(&c->mu);
    if (!c->defer_pending) {
        c->cur_msg = NULL;
        if (c->arena != NULL && c->method && (c->method->m.kind & RPC_CLIENT_STREAMING)) {
            pbarena_reset(c->arena); /* before the next message is decoded into it */
            release_bytes(c);
        }
        start_recv_locked(c);
    }
    pthread_mutex_unlock(&c->mu);
}

static void on_recv_done(rpc_tag_t *tag, bool ok)
{
    rpc_call_t *c = RPC_CONTAINER_OF(tag, rpc_call_t, recv_tag);
    const rpc_method_t *m = &c->method->m;

    pthread_mutex_lock(&c->mu);
    c->recv_pending = false;
    grpc_byte_buffer *bb = c->recv_buf;
    c->recv_buf = NULL;
    rpc_send_entry_t *failed = NULL;
    if (!ok)
        failed = rpc_call_die_locked(c);
    else if (!bb)
        c->half_closed = true;
    pthread_mutex_unlock(&c->mu);

    if (!ok) {
        if (bb)
            grpc_byte_buffer_destroy(bb);
        rpc_send_flush(c, failed, false);
    } else if (!bb) {
        m->on_end(c, m->ctx);
        resume(c);
    } else {
        ProtobufCMessage *msg = decode(c, bb, m->request);
        grpc_byte_buffer_destroy(bb);
        if (!msg) {
            rpc_call_fail(c, BDX_EINVAL, "cannot decode %s", m->request->name);
        } else {
            pthread_mutex_lock(&c->mu);
            c->cur_msg = msg;
            pthread_mutex_unlock(&c->mu);
            m->on_recv(c, msg, m->ctx);
            resume(c);
        }
    }
    rpc_call_unref(c);
}

/* ---- close watch ---- */

static void on_close_done(rpc_tag_t *tag, bool ok)
{
    rpc_call_t *c = RPC_CONTAINER_OF(tag, rpc_call_t, close_tag);
    rpc_send_entry_t *failed = NULL;
    pthread_mutex_lock(&c->mu);
    if (!ok || c->close_cancelled)
        failed = rpc_call_die_locked(c);
    pthread_mutex_unlock(&c->mu);
    rpc_send_flush(c, failed, false);
    rpc_call_unref(c);
}

/* ---- deferred work ---- */

static void job_work(rpc_job_t *job)
{
    rpc_call_t *c = RPC_CONTAINER_OF(job, rpc_call_t, job);
    if (c->work_fn)
        c->work_fn(c, c->work_arg);
}

static void job_after(rpc_job_t *job)
{
    rpc_call_t *c = RPC_CONTAINER_OF(job, rpc_call_t, job);
    pthread_mutex_lock(&c->mu);
    rpc_work_fn after = c->after_fn;
    void *arg = c->work_arg;
    c->defer_pending = false;
    pthread_mutex_unlock(&c->mu);
    if (after)
        after(c, arg);
    resume(c);
    rpc_call_unref(c);
}

int rpc_call_defer(rpc_call_t *call, rpc_work_fn work_fn, rpc_work_fn after_fn, void *arg)
{
    rpc_call_t *c = call;
    pthread_mutex_lock(&c->mu);
    if (c->defer_pending || c->ended) {
        pthread_mutex_unlock(&c->mu);
        return BDX_ESTATE;
    }
    c->defer_pending = true;
    c->work_fn = work_fn;
    c->after_fn = after_fn;
    c->work_arg = arg;
    c->refs++;
    pthread_mutex_unlock(&c->mu);
    c->job.work = job_work;
    c->job.after = job_after;
    rpc_pool_submit(&c->server->pool, &c->job);
    return 0;
}

/* ---- state ---- */

static bool deadline_infinite(gpr_timespec d)
{
    return d.tv_sec == INT64_MAX || gpr_time_cmp(d, gpr_inf_future(d.clock_type)) == 0;
}

bool rpc_call_deadline_passed(const rpc_call_t *call)
{
    if (deadline_infinite(call->deadline))
        return false;
    return gpr_time_cmp(gpr_now(call->deadline.clock_type), call->deadline) >= 0;
}

int64_t rpc_call_deadline_remaining_ms(const rpc_call_t *call)
{
    if (deadline_infinite(call->deadline))
        return INT64_MAX;
    gpr_timespec d = gpr_convert_clock_type(call->deadline, GPR_CLOCK_MONOTONIC);
    gpr_timespec left = gpr_time_sub(d, gpr_now(GPR_CLOCK_MONOTONIC));
    int64_t ms = gpr_time_to_millis(left);
    return ms > 0 ? ms : 0;
}

bool rpc_call_cancelled(const rpc_call_t *call)
{
    return atomic_load(&call->cancelled);
}

const char *rpc_call_metadata(rpc_call_t *call, const char *key)
{
    const char *found = NULL;
    pthread_mutex_lock(&call->mu);
    for (rpc_md_cache_t *e = call->md_cache; e && !found; e = e->next) {
        if (strcmp(e->key, key) == 0)
            found = e->value;
    }
    for (size_t i = 0; i < call->md.count && !found; i++) {
        const grpc_metadata *md = &call->md.metadata[i];
        if (grpc_slice_str_cmp(md->key, key) != 0)
            continue;
        rpc_md_cache_t *e = calloc(1, sizeof(*e));
        size_t len = GRPC_SLICE_LENGTH(md->value);
        if (e) {
            e->key = strdup(key);
            e->value = malloc(len + 1);
        }
        if (!e || !e->key || !e->value) {
            if (e) {
                free(e->key);
                free(e->value);
            }
            free(e);
            break;
        }
        memcpy(e->value, GRPC_SLICE_START_PTR(md->value), len);
        e->value[len] = '\0';
        e->next = call->md_cache;
        call->md_cache = e;
        found = e->value;
    }
    pthread_mutex_unlock(&call->mu);
    return found;
}

const char *rpc_call_method(const rpc_call_t *call)
{
    return call->method ? call->method->m.path : call->unknown_path;
}

char *rpc_call_peer(rpc_call_t *call)
{
    char *p = grpc_call_get_peer(call->call);
    char *copy = strdup(p != NULL ? p : "");

    gpr_free(p);
    return copy;
}

ProtobufCMessage *rpc_call_take_message(rpc_call_t *call)
{
    pthread_mutex_lock(&call->mu);
    ProtobufCMessage *m = call->cur_msg ? call->cur_msg : call->request;
    if (call->cur_msg)
        call->cur_msg = NULL;
    else
        call->request = NULL;
    pthread_mutex_unlock(&call->mu);
    /* the message lives in the call's arena: hand out a copy the caller owns */
    return m != NULL ? pbarena_copy(m) : NULL;
}

const uint8_t *rpc_call_message_bytes(rpc_call_t *call, size_t *len, bool *canonical)
{
    const uint8_t *p = NULL;

    *len = 0;
    *canonical = false;
    pthread_mutex_lock(&call->mu);
    if (call->has_msg_bytes && (call->cur_msg != NULL || call->request != NULL)) {
        p = GRPC_SLICE_START_PTR(call->msg_bytes);
        *len = GRPC_SLICE_LENGTH(call->msg_bytes);
        *canonical = call->msg_canonical;
    }
    pthread_mutex_unlock(&call->mu);
    return p;
}

void rpc_call_set_data(rpc_call_t *call, void *data, void (*release)(void *data))
{
    pthread_mutex_lock(&call->mu);
    call->data = data;
    call->release = release;
    pthread_mutex_unlock(&call->mu);
}

void *rpc_call_data(const rpc_call_t *call)
{
    return call->data;
}

/* ---- start ---- */

static char *slice_strdup(grpc_slice s)
{
    size_t len = GRPC_SLICE_LENGTH(s);
    char *p = malloc(len + 1);
    if (p) {
        memcpy(p, GRPC_SLICE_START_PTR(s), len);
        p[len] = '\0';
    }
    return p;
}

rpc_call_t *rpc_call_accept(rpc_server_t *server, rpc_request_t *rq)
{
    rpc_call_t *c = calloc(1, sizeof(*c));
    grpc_byte_buffer *payload = rq->payload;
    rq->payload = NULL;
    if (c && !rq->method) {
        c->unknown_path = slice_strdup(rq->details.method);
        c->deadline = rq->details.deadline;
        grpc_call_details_destroy(&rq->details);
        grpc_call_details_init(&rq->details);
    } else if (c) {
        c->deadline = rq->deadline;
    }
    if (!c || (!rq->method && !c->unknown_path) || pthread_mutex_init(&c->mu, NULL) != 0) {
        /* Out of memory: refuse the call (unref cancels a call that has not finished). */
        if (c)
            free(c->unknown_path);
        free(c);
        if (payload)
            grpc_byte_buffer_destroy(payload);
        grpc_metadata_array_destroy(&rq->md);
        grpc_metadata_array_init(&rq->md);
        grpc_call_unref(rq->call);
        rq->call = NULL;
        return NULL;
    }
    c->server = server;
    c->method = rq->method;
    c->call = rq->call;
    rq->call = NULL;
    c->md = rq->md; /* moved: the array's storage now belongs to the call */
    grpc_metadata_array_init(&rq->md);
    c->payload = payload;
    c->started = gpr_now(GPR_CLOCK_MONOTONIC);
    c->final_status = GRPC_STATUS_UNKNOWN;
    atomic_init(&c->cancelled, false);
    c->close_tag.done = on_close_done;
    c->send_tag.done = rpc_send_done;
    c->recv_tag.done = on_recv_done;
    /* References: app, close batch, and rpc_call_run() until it returns. */
    c->refs = 3;
    c->app_ref = true;
    return c;
}

void rpc_call_run(rpc_call_t *c)
{
    grpc_byte_buffer *payload = c->payload;
    c->payload = NULL;
    grpc_op op;
    memset(&op, 0, sizeof(op));
    op.op = GRPC_OP_RECV_CLOSE_ON_SERVER;
    op.data.recv_close_on_server.cancelled = &c->close_cancelled;
    grpc_call_error rc = grpc_call_start_batch(c->call, &op, 1, &c->close_tag, NULL);
    if (rc != GRPC_CALL_OK) {
        log_error("rpc", "start_batch failed", "method=%s error=%d", rpc_call_method(c), (int)rc);
        abort();
    }

    if (!c->method) {
        rpc_call_fail(c, BDX_EUNIMPLEMENTED, "unknown method %s", c->unknown_path);
    } else if (c->method->m.kind & RPC_CLIENT_STREAMING) {
        if (c->method->m.handler)
            c->method->m.handler(c, NULL, c->method->m.ctx);
        resume(c);
    } else {
        const ProtobufCMessageDescriptor *d = c->method->m.request;
        c->request = payload ? decode(c, payload, d) : NULL;
        if (!payload)
            rpc_call_fail(c, BDX_EINVAL, "missing request message %s", d->name);
        else if (!c->request)
            rpc_call_fail(c, BDX_EINVAL, "cannot decode %s", d->name);
        else
            c->method->m.handler(c, c->request, c->method->m.ctx);
    }
    if (payload)
        grpc_byte_buffer_destroy(payload);
    rpc_call_unref(c);
}

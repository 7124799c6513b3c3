/*
 * rpc_send: the outgoing side of a call: a queue of packed messages and, last, the status.
 *
 * One send batch is in flight at a time (a gRPC C-core rule). Initial metadata rides on the first
 * batch, and a message directly followed by the status goes in the same batch, so a unary reply
 * is a single batch. Ending the call (reply, fail, finish) queues the status and drops the app
 * reference; the close batch, pending until the status is out, keeps the call alive meanwhile.
 */
#include "common/rpc_internal.h"

#include "common/log.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void free_entry(rpc_send_entry_t *e)
{
    if (e->buf)
        grpc_byte_buffer_destroy(e->buf);
    if (e->kind == RPC_SEND_STATUS)
        grpc_slice_unref(e->details);
    free(e);
}

void rpc_send_flush(rpc_call_t *c, rpc_send_entry_t *e, bool ok)
{
    while (e) {
        rpc_send_entry_t *next = e->next;
        if (e->kind == RPC_SEND_MESSAGE && e->on_sent)
            e->on_sent(c, ok, e->arg);
        free_entry(e);
        e = next;
    }
}

static void start_send_locked(rpc_call_t *c);

void rpc_send_done(rpc_tag_t *tag, bool ok)
{
    rpc_call_t *c = RPC_CONTAINER_OF(tag, rpc_call_t, send_tag);
    rpc_send_entry_t *failed = NULL;

    pthread_mutex_lock(&c->mu);
    rpc_send_entry_t *done = c->inflight;
    c->inflight = NULL;
    c->send_pending = false;
    if (!ok)
        failed = rpc_call_die_locked(c);
    else
        start_send_locked(c);
    pthread_mutex_unlock(&c->mu);

    rpc_send_flush(c, done, ok);
    rpc_send_flush(c, failed, false);
    rpc_call_unref(c);
}

/* Starts the next send batch if none is in flight. */
static void start_send_locked(rpc_call_t *c)
{
    if (c->send_pending || !c->q_head || c->dead)
        return;
    grpc_op ops[3];
    size_t n = 0;
    memset(ops, 0, sizeof(ops));
    if (!c->md_sent) {
        ops[n++].op = GRPC_OP_SEND_INITIAL_METADATA;
        c->md_sent = true;
    }
    rpc_send_entry_t *e = c->q_head;
    c->q_head = e->next;
    e->next = NULL;
    c->inflight = e;
    if (e->kind == RPC_SEND_MESSAGE) {
        c->queued--;
        ops[n].op = GRPC_OP_SEND_MESSAGE;
        ops[n++].data.send_message.send_message = e->buf;
        if (c->q_head && c->q_head->kind == RPC_SEND_STATUS) {
            e->next = c->q_head;
            c->q_head = c->q_head->next;
            e = e->next;
            e->next = NULL;
        }
    }
    if (e->kind == RPC_SEND_STATUS) {
        ops[n].op = GRPC_OP_SEND_STATUS_FROM_SERVER;
        ops[n].data.send_status_from_server.status = e->status;
        ops[n++].data.send_status_from_server.status_details = &e->details;
        c->final_status = e->status;
    }
    if (!c->q_head)
        c->q_tail = NULL;
    c->send_pending = true;
    c->refs++;
    grpc_call_error rc = grpc_call_start_batch(c->call, ops, n, &c->send_tag, NULL);
    if (rc != GRPC_CALL_OK) {
        /* A bug in this state machine; fail loudly rather than hang the call. */
        log_error("rpc", "start_batch failed", "method=%s error=%d", rpc_call_method(c), (int)rc);
        abort();
    }
}

static void enqueue_locked(rpc_call_t *c, rpc_send_entry_t *e)
{
    e->next = NULL;
    if (c->q_tail)
        c->q_tail->next = e;
    else
        c->q_head = e;
    c->q_tail = e;
    if (e->kind == RPC_SEND_MESSAGE)
        c->queued++;
}

/* Packs `msg` into a new byte buffer; NULL on allocation failure. */
static grpc_byte_buffer *pack(const ProtobufCMessage *msg)
{
    size_t len = protobuf_c_message_get_packed_size(msg);
    grpc_slice s = grpc_slice_malloc(len);
    protobuf_c_message_pack(msg, GRPC_SLICE_START_PTR(s));
    grpc_byte_buffer *bb = grpc_raw_byte_buffer_create(&s, 1);
    grpc_slice_unref(s);
    return bb;
}

static rpc_send_entry_t *status_entry(int code, const char *msg)
{
    rpc_send_entry_t *e = calloc(1, sizeof(*e));
    if (!e)
        return NULL;
    e->kind = RPC_SEND_STATUS;
    e->status = rpc_status_from_error(code);
    if (!msg)
        msg = code == 0 ? "" : bdx_strerror(code);
    e->details = grpc_slice_from_copied_string(msg);
    return e;
}

/* Ends the call with optional `resp` and status (code, msg). The common tail of reply/fail/finish. */
static int end_call(rpc_call_t *c, const ProtobufCMessage *resp, int code, const char *msg)
{
    rpc_send_entry_t *m = NULL, *s = NULL;
    char toobig[128];
    if (resp) {
        size_t len = protobuf_c_message_get_packed_size(resp);
        if (len > c->server->cfg.max_send_bytes) {
            snprintf(toobig, sizeof(toobig), "response of %zu bytes exceeds the limit of %zu", len,
                     c->server->cfg.max_send_bytes);
            resp = NULL;
            code = BDX_ETOOBIG;
            msg = toobig;
        }
    }
    if (resp) {
        m = calloc(1, sizeof(*m));
        if (!m)
            return -ENOMEM;
        m->kind = RPC_SEND_MESSAGE;
        m->buf = pack(resp);
    }
    s = status_entry(code, msg);
    if (!s) {
        if (m)
            free_entry(m);
        return -ENOMEM;
    }

    pthread_mutex_lock(&c->mu);
    int rc = 0;
    if (c->ended)
        rc = BDX_ESTATE;
    else if (c->dead)
        rc = BDX_ECANCELLED;
    if (rc == 0) {
        c->ended = true;
        if (m)
            enqueue_locked(c, m);
        enqueue_locked(c, s);
        m = s = NULL;
        rpc_call_drop_app_ref_locked(c);
        start_send_locked(c);
    }
    pthread_mutex_unlock(&c->mu);
    if (m)
        free_entry(m);
    if (s)
        free_entry(s);
    if (rc == 0 && code == BDX_ETOOBIG && msg == toobig)
        return BDX_ETOOBIG;
    return rc;
}

int rpc_call_reply(rpc_call_t *call, const ProtobufCMessage *resp)
{
    return end_call(call, resp, 0, NULL);
}

int rpc_call_fail(rpc_call_t *call, int code, const char *fmt, ...)
{
    char msg[512];
    if (!fmt)
        return end_call(call, NULL, code, NULL);
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    return end_call(call, NULL, code, msg);
}

int rpc_call_fail_error(rpc_call_t *call, const bdx_error_t *err)
{
    return end_call(call, NULL, err->code, bdx_error_message(err));
}

int rpc_call_finish(rpc_call_t *call, int code, const char *msg)
{
    return end_call(call, NULL, code, msg);
}

int rpc_call_send(rpc_call_t *call, const ProtobufCMessage *msg, rpc_sent_fn on_sent, void *arg)
{
    rpc_call_t *c = call;
    if (protobuf_c_message_get_packed_size(msg) > c->server->cfg.max_send_bytes)
        return BDX_ETOOBIG;
    rpc_send_entry_t *e = calloc(1, sizeof(*e));
    if (!e)
        return -ENOMEM;
    e->kind = RPC_SEND_MESSAGE;
    e->on_sent = on_sent;
    e->arg = arg;
    e->buf = pack(msg);

    pthread_mutex_lock(&c->mu);
    int rc = c->ended ? BDX_ESTATE : c->dead ? BDX_ECANCELLED : 0;
    if (rc == 0) {
        enqueue_locked(c, e);
        e = NULL;
        start_send_locked(c);
    }
    pthread_mutex_unlock(&c->mu);
    if (e)
        free_entry(e);
    return rc;
}

size_t rpc_call_send_queued(rpc_call_t *call)
{
    pthread_mutex_lock(&call->mu);
    size_t n = call->queued;
    pthread_mutex_unlock(&call->mu);
    return n;
}

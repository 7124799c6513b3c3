/*
 * grpc_client: blocking calls over the gRPC C core (see grpc_client.h).
 *
 * Every operation is one grpc_call_start_batch() followed by a pluck of that batch's tag on the
 * caller's queue, so at most one batch is outstanding per call and per queue. Ownership rules of
 * the C core that this file follows:
 *   - slices we create (method, header values, message bytes) are unreffed by us once gRPC has
 *     taken its own reference (create_call, grpc_raw_byte_buffer_create) or the batch is done;
 *   - byte buffers we send are destroyed after their batch completes; byte buffers gRPC gives
 *     us (recv_message) are ours to destroy, and NULL means "no message";
 *   - metadata arrays filled by recv ops are destroyed after the batch that filled them;
 *   - the status details slice is ours to unref.
 */
#include "bench/grpc_client.h"

#include <errno.h>
#include <grpc/byte_buffer_reader.h>
#include <grpc/grpc.h>
#include <grpc/grpc_security.h>
#include <grpc/support/time.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_HEADERS 8

struct gclient_channel {
    grpc_channel *channel;
    char *target;
};

struct gclient_queue {
    grpc_completion_queue *cq;
};

struct gclient_stream {
    grpc_call *call;
    gclient_queue_t *q;
    bool over; /* a send failed: the call has ended, don't half-close */
};

void gclient_buf_free(gclient_buf_t *b)
{
    free(b->data);
    b->data = NULL;
    b->len = b->cap = 0;
}

void gclient_init(void)
{
    grpc_init();
}

void gclient_shutdown(void)
{
    grpc_shutdown();
}

int gclient_channel_open(const char *target, bool private_connection, gclient_channel_t **out,
                         bdx_error_t *err)
{
    *out = NULL;
    if (target == NULL || target[0] == '\0')
        return bdx_error_set(err, BDX_EINVAL, "target: required (host:port)");
    gclient_channel_t *ch = calloc(1, sizeof(*ch));
    if (ch == NULL || (ch->target = strdup(target)) == NULL) {
        free(ch);
        return bdx_error_set(err, -ENOMEM, "out of memory");
    }
    /* No HTTP proxy from the environment: benchmarks talk to loopback. */
    grpc_arg args[2];
    size_t n = 0;
    args[n++] = (grpc_arg){
        .type = GRPC_ARG_INTEGER, .key = (char *)"grpc.enable_http_proxy", .value.integer = 0};
    if (private_connection)
        args[n++] = (grpc_arg){.type = GRPC_ARG_INTEGER,
                               .key = (char *)GRPC_ARG_USE_LOCAL_SUBCHANNEL_POOL,
                               .value.integer = 1};
    grpc_channel_args cargs = {.num_args = n, .args = args};
    grpc_channel_credentials *creds = grpc_insecure_credentials_create();
    ch->channel = grpc_channel_create(target, creds, &cargs);
    grpc_channel_credentials_release(creds);
    if (ch->channel == NULL) {
        free(ch->target);
        free(ch);
        return bdx_error_set(err, -ENOMEM, "cannot create a channel to %s", target);
    }
    *out = ch;
    return 0;
}

const char *gclient_channel_target(const gclient_channel_t *ch)
{
    return ch->target;
}

void gclient_channel_close(gclient_channel_t *ch)
{
    if (ch == NULL)
        return;
    grpc_channel_destroy(ch->channel);
    free(ch->target);
    free(ch);
}

int gclient_queue_open(gclient_queue_t **out)
{
    gclient_queue_t *q = calloc(1, sizeof(*q));
    if (q == NULL)
        return -ENOMEM;
    q->cq = grpc_completion_queue_create_for_pluck(NULL);
    *out = q;
    return 0;
}

void gclient_queue_close(gclient_queue_t *q)
{
    if (q == NULL)
        return;
    grpc_completion_queue_shutdown(q->cq);
    while (
        grpc_completion_queue_pluck(q->cq, NULL, gpr_inf_future(GPR_CLOCK_REALTIME), NULL).type !=
        GRPC_QUEUE_SHUTDOWN)
        ;
    grpc_completion_queue_destroy(q->cq);
    free(q);
}

/* Starts one batch on `call` and waits for it. Returns BDX_EINTERNAL when gRPC refuses the
 * batch; otherwise 0 and *success = the batch's success flag. */
static int run_batch(grpc_call *call, gclient_queue_t *q, const grpc_op *ops, size_t n,
                     bool *success)
{
    void *tag = (void *)ops; /* unique while the batch is outstanding */
    grpc_call_error ce = grpc_call_start_batch(call, ops, n, tag, NULL);
    if (ce != GRPC_CALL_OK) {
        fprintf(stderr, "gclient: grpc_call_start_batch: error %d\n", (int)ce);
        return BDX_EINTERNAL;
    }
    grpc_event ev =
        grpc_completion_queue_pluck(q->cq, tag, gpr_inf_future(GPR_CLOCK_REALTIME), NULL);
    *success = ev.type == GRPC_OP_COMPLETE && ev.success;
    return 0;
}

static grpc_call *create_call(gclient_channel_t *ch, gclient_queue_t *q, const char *method,
                              int64_t deadline_ms)
{
    gpr_timespec deadline =
        gpr_time_add(gpr_now(GPR_CLOCK_MONOTONIC), gpr_time_from_millis(deadline_ms, GPR_TIMESPAN));
    /* create_call takes its own reference on the method slice. */
    grpc_slice m = grpc_slice_from_copied_string(method);
    grpc_call *call = grpc_channel_create_call(ch->channel, NULL, GRPC_PROPAGATE_DEFAULTS, q->cq, m,
                                               NULL, deadline, NULL);
    grpc_slice_unref(m);
    return call;
}

/* Fills md[0..n) from headers; the caller unrefs with unref_headers() after the batch. */
static size_t make_headers(grpc_metadata *md, const gclient_header_t *headers, size_t n)
{
    if (n > MAX_HEADERS)
        n = MAX_HEADERS;
    for (size_t i = 0; i < n; i++) {
        memset(&md[i], 0, sizeof(md[i]));
        md[i].key = grpc_slice_from_copied_string(headers[i].key);
        md[i].value = grpc_slice_from_copied_string(headers[i].value);
    }
    return n;
}

static void unref_headers(grpc_metadata *md, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        grpc_slice_unref(md[i].key);
        grpc_slice_unref(md[i].value);
    }
}

static grpc_byte_buffer *make_message(const void *data, size_t len)
{
    grpc_slice slice = grpc_slice_from_copied_buffer(data, len);
    grpc_byte_buffer *bb = grpc_raw_byte_buffer_create(&slice, 1); /* refs the slice */
    grpc_slice_unref(slice);
    return bb;
}

/* Copies a received message into resp and destroys it. */
static int take_message(grpc_byte_buffer *bb, gclient_buf_t *resp)
{
    resp->len = 0;
    if (bb == NULL)
        return 0;
    grpc_byte_buffer_reader r;
    int rc = 0;
    if (!grpc_byte_buffer_reader_init(&r, bb)) {
        grpc_byte_buffer_destroy(bb);
        return BDX_EINTERNAL;
    }
    grpc_slice all = grpc_byte_buffer_reader_readall(&r);
    size_t n = GRPC_SLICE_LENGTH(all);
    if (n > resp->cap) {
        uint8_t *p = realloc(resp->data, n);
        if (p == NULL) {
            rc = -ENOMEM;
        } else {
            resp->data = p;
            resp->cap = n;
        }
    }
    if (rc == 0) {
        if (n > 0)
            memcpy(resp->data, GRPC_SLICE_START_PTR(all), n);
        resp->len = n;
    }
    grpc_slice_unref(all);
    grpc_byte_buffer_reader_destroy(&r);
    grpc_byte_buffer_destroy(bb);
    return rc;
}

static void take_status(grpc_status_code code, grpc_slice details, gclient_status_t *st)
{
    st->code = (int)code;
    size_t n = GRPC_SLICE_LENGTH(details);
    if (n > sizeof(st->details) - 1)
        n = sizeof(st->details) - 1;
    if (n > 0)
        memcpy(st->details, GRPC_SLICE_START_PTR(details), n);
    st->details[n] = '\0';
    grpc_slice_unref(details);
}

/*
 * The receiving half shared by unary and stream finish: initial metadata, the response message
 * and the status, in one batch, optionally preceded by `pre` ops in the same batch.
 */
static int recv_all(grpc_call *call, gclient_queue_t *q, grpc_op *pre, size_t n_pre,
                    gclient_buf_t *resp, gclient_status_t *st)
{
    grpc_op ops[8];
    grpc_metadata_array initial, trailing;
    grpc_byte_buffer *bb = NULL;
    grpc_status_code code = GRPC_STATUS_UNKNOWN;
    grpc_slice details = grpc_empty_slice();
    grpc_metadata_array_init(&initial);
    grpc_metadata_array_init(&trailing);
    memset(ops, 0, sizeof(ops));
    size_t n = 0;
    for (size_t i = 0; i < n_pre; i++)
        ops[n++] = pre[i];
    ops[n].op = GRPC_OP_RECV_INITIAL_METADATA;
    ops[n++].data.recv_initial_metadata.recv_initial_metadata = &initial;
    ops[n].op = GRPC_OP_RECV_MESSAGE;
    ops[n++].data.recv_message.recv_message = &bb;
    ops[n].op = GRPC_OP_RECV_STATUS_ON_CLIENT;
    ops[n].data.recv_status_on_client.trailing_metadata = &trailing;
    ops[n].data.recv_status_on_client.status = &code;
    ops[n++].data.recv_status_on_client.status_details = &details;
    bool ok = false;
    int rc = run_batch(call, q, ops, n, &ok);
    /* A batch that "failed" (e.g. the send half of a cancelled call) still fills the status. */
    if (rc == 0) {
        take_status(code, details, st);
        rc = take_message(bb, resp);
    } else {
        grpc_slice_unref(details);
        if (bb != NULL)
            grpc_byte_buffer_destroy(bb);
    }
    grpc_metadata_array_destroy(&initial);
    grpc_metadata_array_destroy(&trailing);
    return rc;
}

int gclient_unary(gclient_channel_t *ch, gclient_queue_t *q, const char *method,
                  const gclient_header_t *headers, size_t n_headers, const void *req, size_t len,
                  int64_t deadline_ms, gclient_buf_t *resp, gclient_status_t *status)
{
    grpc_call *call = create_call(ch, q, method, deadline_ms);
    if (call == NULL)
        return -ENOMEM;
    grpc_metadata md[MAX_HEADERS];
    size_t nmd = make_headers(md, headers, n_headers);
    grpc_byte_buffer *bb = make_message(req, len);
    grpc_op pre[3];
    memset(pre, 0, sizeof(pre));
    pre[0].op = GRPC_OP_SEND_INITIAL_METADATA;
    pre[0].data.send_initial_metadata.count = nmd;
    pre[0].data.send_initial_metadata.metadata = nmd ? md : NULL;
    pre[1].op = GRPC_OP_SEND_MESSAGE;
    pre[1].data.send_message.send_message = bb;
    pre[2].op = GRPC_OP_SEND_CLOSE_FROM_CLIENT;
    int rc = recv_all(call, q, pre, 3, resp, status);
    grpc_byte_buffer_destroy(bb);
    unref_headers(md, nmd);
    grpc_call_unref(call);
    return rc;
}

int gclient_stream_start(gclient_channel_t *ch, gclient_queue_t *q, const char *method,
                         const gclient_header_t *headers, size_t n_headers, int64_t deadline_ms,
                         gclient_stream_t **out)
{
    *out = NULL;
    gclient_stream_t *s = calloc(1, sizeof(*s));
    if (s == NULL)
        return -ENOMEM;
    s->q = q;
    s->call = create_call(ch, q, method, deadline_ms);
    if (s->call == NULL) {
        free(s);
        return -ENOMEM;
    }
    grpc_metadata md[MAX_HEADERS];
    size_t nmd = make_headers(md, headers, n_headers);
    grpc_op op;
    memset(&op, 0, sizeof(op));
    op.op = GRPC_OP_SEND_INITIAL_METADATA;
    op.data.send_initial_metadata.count = nmd;
    op.data.send_initial_metadata.metadata = nmd ? md : NULL;
    bool ok = false;
    int rc = run_batch(s->call, q, &op, 1, &ok);
    unref_headers(md, nmd);
    if (rc != 0) {
        grpc_call_unref(s->call);
        free(s);
        return rc;
    }
    s->over = !ok; /* finish() reports why */
    *out = s;
    return 0;
}

int gclient_stream_send(gclient_stream_t *s, const void *msg, size_t len)
{
    if (s->over)
        return BDX_ESTATE;
    grpc_byte_buffer *bb = make_message(msg, len);
    grpc_op op;
    memset(&op, 0, sizeof(op));
    op.op = GRPC_OP_SEND_MESSAGE;
    op.data.send_message.send_message = bb;
    bool ok = false;
    int rc = run_batch(s->call, s->q, &op, 1, &ok);
    grpc_byte_buffer_destroy(bb);
    if (rc != 0)
        return rc;
    if (!ok) {
        s->over = true;
        return BDX_ESTATE;
    }
    return 0;
}

int gclient_stream_finish(gclient_stream_t *s, gclient_buf_t *resp, gclient_status_t *status)
{
    grpc_op pre;
    memset(&pre, 0, sizeof(pre));
    pre.op = GRPC_OP_SEND_CLOSE_FROM_CLIENT;
    int rc = recv_all(s->call, s->q, &pre, s->over ? 0 : 1, resp, status);
    grpc_call_unref(s->call);
    free(s);
    return rc;
}

const char *gclient_status_name(int code)
{
    static const char *const names[] = {"OK",
                                        "CANCELLED",
                                        "UNKNOWN",
                                        "INVALID_ARGUMENT",
                                        "DEADLINE_EXCEEDED",
                                        "NOT_FOUND",
                                        "ALREADY_EXISTS",
                                        "PERMISSION_DENIED",
                                        "RESOURCE_EXHAUSTED",
                                        "FAILED_PRECONDITION",
                                        "ABORTED",
                                        "OUT_OF_RANGE",
                                        "UNIMPLEMENTED",
                                        "INTERNAL",
                                        "UNAVAILABLE",
                                        "DATA_LOSS",
                                        "UNAUTHENTICATED"};
    if (code >= 0 && (size_t)code < sizeof(names) / sizeof(names[0]))
        return names[code];
    return "UNKNOWN";
}

/*
 * rpc_client: blocking test client over the gRPC C core. See rpc_client.h.
 */
#include "rpc_client.h"

#include <grpc/byte_buffer_reader.h>
#include <grpc/grpc_security.h>
#include <grpc/support/time.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void rpc_client_open(rpc_client_t *c, int port)
{
    char target[64];
    grpc_init();
    snprintf(target, sizeof(target), "127.0.0.1:%d", port);
    grpc_channel_credentials *creds = grpc_insecure_credentials_create();
    c->channel = grpc_channel_create(target, creds, NULL);
    grpc_channel_credentials_release(creds);
    c->cq = grpc_completion_queue_create_for_pluck(NULL);
}

void rpc_client_close(rpc_client_t *c)
{
    grpc_channel_destroy(c->channel);
    grpc_completion_queue_shutdown(c->cq);
    while (
        grpc_completion_queue_pluck(c->cq, NULL, gpr_inf_future(GPR_CLOCK_REALTIME), NULL).type !=
        GRPC_QUEUE_SHUTDOWN)
        ;
    grpc_completion_queue_destroy(c->cq);
    grpc_shutdown();
}

/* Runs one batch and waits for it. */
static bool run(rpc_client_stream_t *s, grpc_op *ops, size_t n)
{
    void *tag = ops; /* unique while the batch is outstanding */
    if (grpc_call_start_batch(s->call, ops, n, tag, NULL) != GRPC_CALL_OK)
        return false;
    grpc_event ev =
        grpc_completion_queue_pluck(s->client->cq, tag, gpr_inf_future(GPR_CLOCK_REALTIME), NULL);
    return ev.type == GRPC_OP_COMPLETE && ev.success;
}

bool rpc_client_stream_open(rpc_client_t *c, rpc_client_stream_t *s, const char *method,
                            int deadline_ms, const char *md_key, const char *md_value)
{
    memset(s, 0, sizeof(*s));
    s->client = c;
    grpc_metadata_array_init(&s->initial_md);
    gpr_timespec deadline =
        gpr_time_add(gpr_now(GPR_CLOCK_MONOTONIC), gpr_time_from_millis(deadline_ms, GPR_TIMESPAN));
    grpc_slice m = grpc_slice_from_static_string(method);
    s->call = grpc_channel_create_call(c->channel, NULL, GRPC_PROPAGATE_DEFAULTS, c->cq, m, NULL,
                                       deadline, NULL);
    grpc_metadata md;
    memset(&md, 0, sizeof(md));
    grpc_op op;
    memset(&op, 0, sizeof(op));
    op.op = GRPC_OP_SEND_INITIAL_METADATA;
    if (md_key) {
        md.key = grpc_slice_from_static_string(md_key);
        md.value = grpc_slice_from_copied_string(md_value);
        op.data.send_initial_metadata.count = 1;
        op.data.send_initial_metadata.metadata = &md;
    }
    bool ok = run(s, &op, 1);
    if (md_key)
        grpc_slice_unref(md.value);
    return ok;
}

bool rpc_client_stream_send_raw(rpc_client_stream_t *s, const void *data, size_t len)
{
    grpc_slice slice = grpc_slice_from_copied_buffer(data, len);
    grpc_byte_buffer *bb = grpc_raw_byte_buffer_create(&slice, 1);
    grpc_slice_unref(slice);
    grpc_op op;
    memset(&op, 0, sizeof(op));
    op.op = GRPC_OP_SEND_MESSAGE;
    op.data.send_message.send_message = bb;
    bool ok = run(s, &op, 1);
    grpc_byte_buffer_destroy(bb);
    return ok;
}

bool rpc_client_stream_send(rpc_client_stream_t *s, const ProtobufCMessage *msg)
{
    size_t len = protobuf_c_message_get_packed_size(msg);
    uint8_t *buf = malloc(len ? len : 1);
    protobuf_c_message_pack(msg, buf);
    bool ok = rpc_client_stream_send_raw(s, buf, len);
    free(buf);
    return ok;
}

bool rpc_client_stream_close_send(rpc_client_stream_t *s)
{
    grpc_op op;
    memset(&op, 0, sizeof(op));
    op.op = GRPC_OP_SEND_CLOSE_FROM_CLIENT;
    return run(s, &op, 1);
}

ProtobufCMessage *rpc_client_stream_recv(rpc_client_stream_t *s,
                                         const ProtobufCMessageDescriptor *desc)
{
    grpc_byte_buffer *bb = NULL;
    grpc_op ops[2];
    size_t n = 0;
    memset(ops, 0, sizeof(ops));
    if (!s->got_initial_md) {
        ops[n].op = GRPC_OP_RECV_INITIAL_METADATA;
        ops[n++].data.recv_initial_metadata.recv_initial_metadata = &s->initial_md;
        s->got_initial_md = true;
    }
    ops[n].op = GRPC_OP_RECV_MESSAGE;
    ops[n++].data.recv_message.recv_message = &bb;
    if (!run(s, ops, n) || !bb) {
        if (bb)
            grpc_byte_buffer_destroy(bb);
        return NULL;
    }
    grpc_byte_buffer_reader r;
    grpc_byte_buffer_reader_init(&r, bb);
    grpc_slice slice = grpc_byte_buffer_reader_readall(&r);
    ProtobufCMessage *msg = protobuf_c_message_unpack(desc, NULL, GRPC_SLICE_LENGTH(slice),
                                                      GRPC_SLICE_START_PTR(slice));
    grpc_slice_unref(slice);
    grpc_byte_buffer_reader_destroy(&r);
    grpc_byte_buffer_destroy(bb);
    return msg;
}

void rpc_client_stream_cancel(rpc_client_stream_t *s)
{
    grpc_call_cancel(s->call, NULL);
}

grpc_status_code rpc_client_stream_finish(rpc_client_stream_t *s, char *details, size_t len)
{
    grpc_metadata_array trailing;
    grpc_metadata_array_init(&trailing);
    grpc_status_code status = GRPC_STATUS_UNKNOWN;
    grpc_slice d = grpc_empty_slice();
    grpc_op op;
    memset(&op, 0, sizeof(op));
    op.op = GRPC_OP_RECV_STATUS_ON_CLIENT;
    op.data.recv_status_on_client.trailing_metadata = &trailing;
    op.data.recv_status_on_client.status = &status;
    op.data.recv_status_on_client.status_details = &d;
    if (!run(s, &op, 1))
        status = GRPC_STATUS_UNKNOWN;
    if (details && len) {
        size_t n = GRPC_SLICE_LENGTH(d) < len - 1 ? GRPC_SLICE_LENGTH(d) : len - 1;
        memcpy(details, GRPC_SLICE_START_PTR(d), n);
        details[n] = '\0';
    }
    grpc_slice_unref(d);
    grpc_metadata_array_destroy(&trailing);
    grpc_metadata_array_destroy(&s->initial_md);
    grpc_call_unref(s->call);
    s->call = NULL;
    return status;
}

void rpc_client_call(rpc_client_t *c, const char *method, const ProtobufCMessage *const *reqs,
                     size_t n_reqs, const void *raw, size_t raw_len,
                     const ProtobufCMessageDescriptor *resp_desc, int deadline_ms,
                     rpc_client_result_t *out)
{
    rpc_client_stream_t s;
    memset(out, 0, sizeof(*out));
    rpc_client_stream_open(c, &s, method, deadline_ms, NULL, NULL);
    /* Send failures just mean the server already ended the call; the status tells why. */
    if (raw)
        rpc_client_stream_send_raw(&s, raw, raw_len);
    for (size_t i = 0; i < n_reqs; i++)
        rpc_client_stream_send(&s, reqs[i]);
    rpc_client_stream_close_send(&s);
    ProtobufCMessage *m;
    while ((m = rpc_client_stream_recv(&s, resp_desc)) != NULL) {
        if (out->n_msgs < RPC_CLIENT_MAX_MSGS)
            out->msgs[out->n_msgs++] = m;
        else
            protobuf_c_message_free_unpacked(m, NULL);
    }
    out->status = rpc_client_stream_finish(&s, out->details, sizeof(out->details));
}

void rpc_client_result_free(rpc_client_result_t *r)
{
    for (size_t i = 0; i < r->n_msgs; i++)
        protobuf_c_message_free_unpacked(r->msgs[i], NULL);
    r->n_msgs = 0;
}

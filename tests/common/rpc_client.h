/*
 * rpc_client: a small blocking gRPC C-core client for the rpc, health and reflection tests.
 * Every operation is one batch plucked from the client's own queue, so tests read top to bottom.
 * Not thread-safe: one thread per rpc_client_t.
 */
#ifndef BITDEX_TEST_RPC_CLIENT_H
#define BITDEX_TEST_RPC_CLIENT_H

#include <grpc/grpc.h>
#include <protobuf-c/protobuf-c.h>

#include <stdbool.h>
#include <stddef.h>

typedef struct rpc_client {
    grpc_channel *channel;
    grpc_completion_queue *cq;
} rpc_client_t;

/* Connects (lazily) to 127.0.0.1:port. Calls grpc_init(); close with rpc_client_close(). */
void rpc_client_open(rpc_client_t *c, int port);
void rpc_client_close(rpc_client_t *c);

typedef struct rpc_client_stream {
    rpc_client_t *client;
    grpc_call *call;
    bool got_initial_md;
    grpc_metadata_array initial_md;
} rpc_client_stream_t;

/*
 * Starts a call of `method` with a deadline `deadline_ms` from now and, when md_key is not NULL,
 * one request header. Returns false if the initial metadata could not be sent.
 */
bool rpc_client_stream_open(rpc_client_t *c, rpc_client_stream_t *s, const char *method,
                            int deadline_ms, const char *md_key, const char *md_value);
/* Sends one message; false when the call is already over. */
bool rpc_client_stream_send(rpc_client_stream_t *s, const ProtobufCMessage *msg);
bool rpc_client_stream_send_raw(rpc_client_stream_t *s, const void *data, size_t len);
/* Half-closes the request side. */
bool rpc_client_stream_close_send(rpc_client_stream_t *s);
/* Receives one message decoded as `desc` (caller frees with protobuf_c_message_free_unpacked);
 * NULL at the end of the stream (or if it does not decode). */
ProtobufCMessage *rpc_client_stream_recv(rpc_client_stream_t *s,
                                         const ProtobufCMessageDescriptor *desc);
/* Cancels the call from the client side. */
void rpc_client_stream_cancel(rpc_client_stream_t *s);
/* Receives the status (details copied into `details`, may be NULL) and releases the call. */
grpc_status_code rpc_client_stream_finish(rpc_client_stream_t *s, char *details, size_t len);

#define RPC_CLIENT_MAX_MSGS 64

/* The outcome of rpc_client_call(). */
typedef struct rpc_client_result {
    grpc_status_code status;
    char details[512];
    size_t n_msgs;
    ProtobufCMessage *msgs[RPC_CLIENT_MAX_MSGS];
} rpc_client_result_t;

/*
 * One whole call: sends `n_reqs` messages (or, when raw is not NULL, the raw_len bytes of `raw`
 * as the single message), half-closes, collects every response message (decoded as resp_desc)
 * and the status. Works for all four kinds as long as the server does not wait for the client.
 */
void rpc_client_call(rpc_client_t *c, const char *method, const ProtobufCMessage *const *reqs,
                     size_t n_reqs, const void *raw, size_t raw_len,
                     const ProtobufCMessageDescriptor *resp_desc, int deadline_ms,
                     rpc_client_result_t *out);
void rpc_client_result_free(rpc_client_result_t *r);

#endif

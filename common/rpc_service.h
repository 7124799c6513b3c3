/*
 * rpc_service: registers a whole protobuf-c service (every method of its descriptor) on an rpc
 * server from a short table of implementations.
 *
 * The API contract in proto/ is the only place message shapes are defined; this module reads the
 * method names and request types from the generated ProtobufCServiceDescriptor, so a service
 * lists only what it implements. Every method of the descriptor is registered, so reflection
 * lists the whole service; a method without an implementation answers UNIMPLEMENTED naming the
 * method. Set-up only: call before rpc_server_start(), from one thread.
 */
#ifndef BITDEX_RPC_SERVICE_H
#define BITDEX_RPC_SERVICE_H

#include "common/error.h"
#include "common/rpc.h"

#include <protobuf-c/protobuf-c.h>

/* The implementation of one method, matched to the descriptor by its short name ("Search"). */
typedef struct rpc_service_impl {
    const char *method;     /* short method name as in the .proto */
    rpc_kind_t kind;        /* must match the .proto's streaming shape */
    rpc_handler_fn handler; /* NULL: answer UNIMPLEMENTED */
    rpc_recv_fn on_recv;    /* client-streaming / bidi */
    rpc_end_fn on_end;      /* client-streaming / bidi */
} rpc_service_impl_t;

/*
 * Adds every method of `service` to `server`. Each method takes its kind and callbacks from the
 * entry of `impls` with the same name (and `ctx`); methods with no entry are unary and answer
 * UNIMPLEMENTED; an entry with a NULL handler (and no on_recv) keeps its kind and answers
 * UNIMPLEMENTED. `impls` and `ctx` are borrowed (ctx must outlive the server).
 * Returns 0, BDX_EINVAL (an entry names no method of the service) or rpc_server_add_methods()'s
 * error.
 */
int rpc_service_add(rpc_server_t *server, const ProtobufCServiceDescriptor *service,
                    const rpc_service_impl_t *impls, size_t nimpls, void *ctx, bdx_error_t *err);

#endif

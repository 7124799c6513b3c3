/*
 * writer_service: the bitdex.v1.Writer gRPC service (proto/bitdex/v1/writer.proto).
 *
 * This build registers the whole service so that clients and reflection see the contract;
 * methods are implemented by later changes and until then answer UNIMPLEMENTED.
 */
#ifndef BITDEX_WRITER_SERVICE_H
#define BITDEX_WRITER_SERVICE_H

#include "common/error.h"
#include "common/rpc.h"

/* Fully-qualified service name, as used by health checks and reflection. */
#define WRITER_SERVICE_NAME "bitdex.v1.Writer"

/* Adds every Writer method to `server` (before it starts). Returns 0 or an rpc error. */
int writer_service_register(rpc_server_t *server, bdx_error_t *err);

#endif

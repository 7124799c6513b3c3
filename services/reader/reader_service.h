/*
 * reader_service: what bitdex-reader serves over gRPC: the bitdex.v1.Query service
 * (services/reader/query_service.h) answering from a source of index snapshots.
 */
#ifndef BITDEX_READER_SERVICE_H
#define BITDEX_READER_SERVICE_H

#include "common/error.h"
#include "common/rpc.h"
#include "services/reader/query_service.h"

/* Fully-qualified service name, as used by health checks and reflection. */
#define READER_SERVICE_NAME "bitdex.v1.Query"

/* Adds every Query method to `server` (before it starts), answering from `source` (borrowed;
 * must outlive the server). Returns 0 or an rpc error. */
int reader_service_register(rpc_server_t *server, const query_source_t *source, bdx_error_t *err);

#endif

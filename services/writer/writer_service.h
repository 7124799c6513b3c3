/*
 * writer_service: the bitdex.v1.Writer gRPC service (proto/bitdex/v1/writer.proto).
 *
 * Every Writer method is registered so that clients and reflection see the whole contract.
 * Implemented: CreateIndex, DropIndex, ListIndexes, GetIndex (on the catalog, catalog.h), Apply,
 * ApplyStream, GetStats (stats.h) and Watch (watch.h); the others answer UNIMPLEMENTED until
 * later changes implement them.
 *
 * States. A service starts as a standby: every Writer method answers UNAVAILABLE "standby
 * writer: not the active writer for <dir>". When this process wins the election, main marks it
 * recovering (UNAVAILABLE "... recovering ...") while the catalog loads, then hands the catalog
 * over with writer_service_activate(), after which methods are served.
 *
 * Admin token. With a token configured, mutating methods require the request metadata
 * `authorization: Bearer <token>`: missing or malformed is UNAUTHENTICATED, a wrong token
 * PERMISSION_DENIED. writer_service_authorize() is the one place that checks it; every
 * mutating method calls it (after the state check) before doing anything.
 *
 * Threads: writer_service_new/register/free from the main thread (set-up and tear-down, as for
 * the rpc server); writer_service_set_recovering/activate from any thread (the election
 * thread on take-over); handlers run on rpc threads. Admin work that touches files runs on the
 * rpc thread pool (rpc_call_defer), never on a completion-queue thread.
 */
#ifndef BITDEX_WRITER_SERVICE_H
#define BITDEX_WRITER_SERVICE_H

#include "common/error.h"
#include "common/rpc.h"
#include "services/writer/catalog.h"
#include "services/writer/watch.h"

/* Fully-qualified service name, as used by health checks and reflection. */
#define WRITER_SERVICE_NAME "bitdex.v1.Writer"

typedef struct writer_service writer_service_t;

typedef struct writer_service_config {
    const char *data_dir;    /* named in UNAVAILABLE messages; copied */
    const char *admin_token; /* NULL or "" = no check (development only); copied */
    watch_t *watch; /* the Watch hub (borrowed; outlives the service); NULL: Watch UNIMPLEMENTED */
} writer_service_config_t;

/* New service in the standby state. Caller frees with writer_service_free() after the rpc
 * server is freed. Returns 0 or -ENOMEM. */
int writer_service_new(const writer_service_config_t *cfg, writer_service_t **out);

/* Frees the service and the catalog it was given. The rpc server must be shut down first
 * (no handler may still run). NULL is a no-op. */
void writer_service_free(writer_service_t *ws);

/* Adds every Writer method to `server` (before it starts); `ws` must outlive the server.
 * Returns 0 or an rpc error. */
int writer_service_register(writer_service_t *ws, rpc_server_t *server, bdx_error_t *err);

/* This process won the election and is loading its state: methods answer UNAVAILABLE
 * "recovering" instead of "standby". */
void writer_service_set_recovering(writer_service_t *ws);

/* Starts serving with `catalog` (takes ownership; freed by writer_service_free()). Once only. */
void writer_service_activate(writer_service_t *ws, catalog_t *catalog);

/*
 * The admin-token check of mutating methods: 0 when no token is configured or the call carries
 * `authorization: Bearer <token>` with the right token (compared in constant time);
 * BDX_EUNAUTH when the header is missing or not a Bearer credential; BDX_EPERM when the token
 * is wrong. The message says which; it never echoes the token.
 */
int writer_service_authorize(const writer_service_t *ws, rpc_call_t *call, bdx_error_t *err);

#endif

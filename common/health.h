/*
 * health: the standard gRPC health service (grpc.health.v1.Health, Check and Watch), as used by
 * Kubernetes gRPC probes and load balancers.
 *
 * A health_t holds one serving status per service name. The empty name "" stands for the server
 * as a whole and starts as HEALTH_SERVING; other names are unknown until health_set() names them.
 *   Check(name): the status, or the gRPC status NOT_FOUND for an unknown name.
 *   Watch(name): the current status at once (HEALTH_SERVICE_UNKNOWN for an unknown name, and the
 *                stream stays open), then each change. Watch streams end with UNAVAILABLE when the
 *                rpc server shuts down.
 *
 * Concurrency: health_set() and health_get() may be called from any thread at any time between
 * health_new() and health_free(); the handlers run on rpc threads. health_free() only after the
 * rpc server it was registered with has been shut down.
 */
#ifndef BITDEX_HEALTH_H
#define BITDEX_HEALTH_H

#include "common/error.h"
#include "common/rpc.h"

/* Values equal grpc.health.v1.HealthCheckResponse.ServingStatus. */
typedef enum health_status {
    HEALTH_UNKNOWN = 0,
    HEALTH_SERVING = 1,
    HEALTH_NOT_SERVING = 2,
    HEALTH_SERVICE_UNKNOWN = 3, /* only sent on Watch streams */
} health_status_t;

typedef struct health health_t;

/* Creates a status table holding "" = HEALTH_SERVING. Caller frees with health_free().
 * Returns 0 or -ENOMEM. */
int health_new(health_t **out);

/* Frees `h` (NULL allowed). The rpc server it was registered with must be shut down first. */
void health_free(health_t *h);

/*
 * Sets the status of service `name` ("" for the whole server; copied), adding the name if new,
 * and sends the new status to every Watch stream on that name whose last sent status differs.
 * `status` must be HEALTH_SERVING or HEALTH_NOT_SERVING. Returns 0, BDX_EINVAL or -ENOMEM.
 */
int health_set(health_t *h, const char *name, health_status_t status);

/* The status of `name`, or HEALTH_SERVICE_UNKNOWN when it was never set. */
health_status_t health_get(health_t *h, const char *name);

/*
 * Adds Check and Watch to `server` (before rpc_server_start()) and an on_shutdown hook that ends
 * the Watch streams. `h` is borrowed and must outlive the server's shutdown.
 * Returns 0 or the error of rpc_server_add_methods().
 */
int health_register(health_t *h, rpc_server_t *server, bdx_error_t *err);

#endif

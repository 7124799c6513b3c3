/*
 * host: the process around a bitdex service — the options every service shares, logging set-up,
 * the rpc server with health and reflection, and a graceful stop on SIGTERM/SIGINT.
 *
 * A service's main():
 *   process_block_signals();                      (before anything starts a thread)
 *   host_options(&hcfg, "127.0.0.1:50051", opts, ...) + its own options -> config_parse()
 *   host_new("writer", &hcfg, &host, &err);
 *   rpc_service_add(host_server(host), ...);      (its methods)
 *   host_start(host, &err);                       (health + reflection, bind, log the port)
 *   host_run(host);                               (until a signal; then drains and stops)
 *   host_free(host);
 * Main thread only. The health table may be updated from any thread (health_set).
 */
#ifndef BITDEX_HOST_H
#define BITDEX_HOST_H

#include "common/config.h"
#include "common/error.h"
#include "common/health.h"
#include "common/rpc.h"

#include <stdint.h>

/* Options shared by every bitdex service; filled by config_parse() through host_options(). */
typedef struct host_config {
    char *listen;              /* host:port; port 0 picks a free port */
    char *log_level;           /* debug | info | warn | error */
    int64_t threads;           /* completion-queue threads; 0 = cores */
    int64_t grace_ms;          /* how long in-flight calls may finish after SIGTERM */
    int64_t max_message_bytes; /* largest request and response message */
} host_config_t;

#define HOST_NOPTIONS 5

/* Writes the HOST_NOPTIONS option entries for `cfg` into out[0..HOST_NOPTIONS). */
void host_options(host_config_t *cfg, const char *default_listen,
                  config_option_t out[HOST_NOPTIONS]);

typedef struct host host_t;

/*
 * Applies the log level and creates the rpc server and the health table (service "" SERVING).
 * `component` names the service in logs ("writer", "reader"); borrowed, must be static.
 * `cfg` is borrowed for the call. Caller frees with host_free(). Returns 0, BDX_EINVAL (bad
 * option value, in err) or an rpc_server_new() error.
 */
int host_new(const char *component, const host_config_t *cfg, host_t **out, bdx_error_t *err);

/* Borrowed; valid until host_free(). */
rpc_server_t *host_server(host_t *host);
health_t *host_health(host_t *host);

/* Adds health and reflection (listing every service added so far) and starts serving. */
int host_start(host_t *host, bdx_error_t *err);

/*
 * Waits for SIGINT/SIGTERM/SIGHUP, then marks every service NOT_SERVING, stops accepting calls,
 * lets in-flight calls finish within grace_ms and stops. Returns the signal number.
 */
int host_run(host_t *host);

/* Stops the server if still running and frees everything. NULL allowed. */
void host_free(host_t *host);

#endif

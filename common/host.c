/*
 * host: options, rpc server, health, reflection and the signal-driven stop of a service process.
 * See host.h.
 */
#include "common/host.h"

#include "common/log.h"
#include "common/process.h"
#include "common/reflection.h"

#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

extern const unsigned char bitdex_descriptor_set[];
extern const size_t bitdex_descriptor_set_len;

struct host {
    const char *component;
    int grace_ms;
    rpc_server_t *server;
    health_t *health;
    reflection_t *reflection;
};

void host_options(host_config_t *cfg, const char *default_listen,
                  config_option_t out[HOST_NOPTIONS])
{
    const config_option_t opts[HOST_NOPTIONS] = {
        {"listen", "BITDEX_LISTEN", CONFIG_STRING, &cfg->listen, default_listen, 0, 0, true,
         "gRPC address host:port (port 0 picks a free port; the bound port is logged)"},
        {"log-level", "BITDEX_LOG_LEVEL", CONFIG_STRING, &cfg->log_level, "info", 0, 0, false,
         "debug | info | warn | error"},
        {"threads", "BITDEX_THREADS", CONFIG_INT, &cfg->threads, "0", 0, 256, false,
         "gRPC completion-queue threads (0 = one per core)"},
        {"grace-ms", "BITDEX_GRACE_MS", CONFIG_INT, &cfg->grace_ms, "5000", 0, 600000, false,
         "after SIGTERM, how long in-flight calls may finish"},
        {"max-message-bytes", "BITDEX_MAX_MESSAGE_BYTES", CONFIG_INT, &cfg->max_message_bytes,
         "16MiB", 1024, 1073741824, false, "largest request or response message"},
    };
    memcpy(out, opts, sizeof(opts));
}

int host_new(const char *component, const host_config_t *cfg, host_t **out, bdx_error_t *err)
{
    rpc_server_config_t rcfg = {0};
    log_level_t level;
    host_t *h;
    int rc;

    *out = NULL;
    if (log_level_parse(cfg->log_level, &level) != 0)
        return bdx_error_set(err, BDX_EINVAL,
                             "--log-level: '%s' is not one of debug, info, warn, error",
                             cfg->log_level ? cfg->log_level : "");
    log_set_level(level);
    h = calloc(1, sizeof(*h));
    if (!h)
        return bdx_error_set(err, -ENOMEM, "out of memory");
    h->component = component;
    h->grace_ms = (int)cfg->grace_ms;
    rcfg.listen_addr = cfg->listen;
    rcfg.max_recv_bytes = (size_t)cfg->max_message_bytes;
    rcfg.max_send_bytes = (size_t)cfg->max_message_bytes;
    rcfg.workers = (int)cfg->threads;
    rcfg.grace_ms = h->grace_ms;
    rc = rpc_server_new(&rcfg, &h->server, err);
    if (rc == 0)
        rc = health_new(&h->health);
    if (rc == 0)
        rc = reflection_new(bitdex_descriptor_set, bitdex_descriptor_set_len, &h->reflection, err);
    if (rc != 0) {
        if (err && err->code != rc)
            bdx_error_set(err, rc, "%s", bdx_strerror(rc));
        host_free(h);
        return rc;
    }
    *out = h;
    return 0;
}

rpc_server_t *host_server(host_t *host)
{
    return host->server;
}

health_t *host_health(host_t *host)
{
    return host->health;
}

int host_start(host_t *host, bdx_error_t *err)
{
    int rc = health_register(host->health, host->server, err);
    if (rc == 0)
        rc = reflection_register(host->reflection, host->server, err);
    if (rc == 0)
        rc = rpc_server_start(host->server, err);
    if (rc == 0)
        log_info(host->component, "started", "port=%d pid=%ld", rpc_server_port(host->server),
                 (long)getpid());
    return rc;
}

int host_run(host_t *host)
{
    int sig = process_wait_signal();
    size_t n = rpc_server_service_count(host->server);

    log_info(host->component, "stopping", "signal=%s grace_ms=%d", strsignal(sig), host->grace_ms);
    /* Tell load balancers first, so new calls go elsewhere while these drain. */
    for (size_t i = 0; i < n; i++) {
        const char *name = rpc_server_service_name(host->server, i);
        if (health_get(host->health, name) != HEALTH_SERVICE_UNKNOWN)
            health_set(host->health, name, HEALTH_NOT_SERVING);
    }
    health_set(host->health, "", HEALTH_NOT_SERVING);
    rpc_server_shutdown(host->server, host->grace_ms);
    log_info(host->component, "stopped", NULL);
    return sig;
}

void host_free(host_t *host)
{
    if (!host)
        return;
    /* The server goes first: health and reflection must outlive its shutdown. */
    rpc_server_free(host->server);
    reflection_free(host->reflection);
    health_free(host->health);
    free(host);
}

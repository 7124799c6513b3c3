/*
 * rpc: the server side of bitdex's gRPC layer: method registration, the listening port, the
 * worker threads draining the completion queue, graceful shutdown, and the one mapping from
 * bitdex error codes to gRPC status codes. The per-call state machine is in rpc_call.c and the
 * deferred-work loop in rpc_pool.c.
 *
 * Every registered method keeps RPC_REQUESTS_PER_METHOD grpc_server_request_registered_call()s
 * posted; each one that matches a call is re-posted at once. A few grpc_server_request_call()s
 * catch calls to methods that were not registered, which are answered UNIMPLEMENTED (without
 * them such calls hang until the client's deadline).
 */
#include "common/rpc_internal.h"

#include "common/log.h"

#include <errno.h>
#include <grpc/grpc_security.h>
#include <grpc/support/time.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define RPC_REQUESTS_PER_METHOD 8
#define RPC_REQUESTS_UNREGISTERED 2
#define RPC_DEFAULT_MAX_MESSAGE (4u << 20)
#define RPC_DEFAULT_GRACE_MS 5000

grpc_status_code rpc_status_from_error(int code)
{
    switch (code) {
    case 0:
        return GRPC_STATUS_OK;
    case BDX_EINVAL:
    case BDX_ELIMIT:
    case BDX_ECURSOR:
        return GRPC_STATUS_INVALID_ARGUMENT;
    case BDX_ENOTFOUND:
        return GRPC_STATUS_NOT_FOUND;
    case BDX_EEXIST:
        return GRPC_STATUS_ALREADY_EXISTS;
    case BDX_EUNAVAILABLE:
        return GRPC_STATUS_UNAVAILABLE;
    case BDX_ECANCELLED:
        return GRPC_STATUS_CANCELLED;
    case BDX_EDEADLINE:
        return GRPC_STATUS_DEADLINE_EXCEEDED;
    case BDX_EUNIMPLEMENTED:
        return GRPC_STATUS_UNIMPLEMENTED;
    case BDX_EPERM:
        return GRPC_STATUS_PERMISSION_DENIED;
    case BDX_EUNAUTH:
        return GRPC_STATUS_UNAUTHENTICATED;
    case BDX_ESTATE:
        return GRPC_STATUS_FAILED_PRECONDITION;
    case BDX_ETOOBIG:
    case -ENOMEM:
    case -ENOSPC:
    case -EDQUOT:
        return GRPC_STATUS_RESOURCE_EXHAUSTED;
    case BDX_ECORRUPT:
    case BDX_EVERSION:
    case BDX_EINTERNAL:
        return GRPC_STATUS_INTERNAL;
    default:
        return code < 0 ? GRPC_STATUS_INTERNAL : GRPC_STATUS_UNKNOWN;
    }
}

/* ---- requests ---- */

static void on_request(rpc_tag_t *tag, bool ok);

static void request_free(rpc_request_t *rq)
{
    grpc_metadata_array_destroy(&rq->md);
    grpc_call_details_destroy(&rq->details);
    if (rq->payload)
        grpc_byte_buffer_destroy(rq->payload);
    free(rq);
}

/* Posts `rq`; frees it if gRPC refuses. */
static void request_post(rpc_request_t *rq)
{
    rpc_server_t *s = rq->server;
    grpc_call_error rc;
    if (rq->method) {
        /* Methods registered with GRPC_SRM_PAYLOAD_NONE must not ask for a payload. */
        grpc_byte_buffer **payload =
            (rq->method->m.kind & RPC_CLIENT_STREAMING) ? NULL : &rq->payload;
        rc = grpc_server_request_registered_call(s->grpc, rq->method->handle, &rq->call,
                                                 &rq->deadline, &rq->md, payload, s->cq, s->cq,
                                                 &rq->tag);
    } else {
        rc = grpc_server_request_call(s->grpc, &rq->call, &rq->details, &rq->md, s->cq, s->cq,
                                      &rq->tag);
    }
    if (rc != GRPC_CALL_OK) {
        log_error("rpc", "request_call failed", "error=%d", (int)rc);
        request_free(rq);
    }
}

static int request_new(rpc_server_t *s, const rpc_method_entry_t *method)
{
    rpc_request_t *rq = calloc(1, sizeof(*rq));
    if (!rq)
        return -ENOMEM;
    rq->tag.done = on_request;
    rq->server = s;
    rq->method = method;
    grpc_metadata_array_init(&rq->md);
    grpc_call_details_init(&rq->details);
    request_post(rq);
    return 0;
}

static void on_request(rpc_tag_t *tag, bool ok)
{
    rpc_request_t *rq = RPC_CONTAINER_OF(tag, rpc_request_t, tag);
    rpc_server_t *s = rq->server;
    if (!ok) {
        /* The server is shutting down and failed the pending request. */
        request_free(rq);
        return;
    }
    /* Take the call out of rq and re-post rq before running the handler, so that a busy
     * handler never leaves its method without a posted request. */
    rpc_call_t *call = rpc_call_accept(s, rq);
    if (atomic_load(&s->shutting_down))
        request_free(rq);
    else
        request_post(rq);
    if (call)
        rpc_call_run(call);
}

/* ---- workers ---- */

static void *worker_main(void *arg)
{
    rpc_server_t *s = arg;
    for (;;) {
        grpc_event ev = grpc_completion_queue_next(s->cq, gpr_inf_future(GPR_CLOCK_REALTIME), NULL);
        if (ev.type == GRPC_QUEUE_SHUTDOWN)
            break;
        if (ev.type == GRPC_OP_COMPLETE) {
            rpc_tag_t *tag = ev.tag;
            tag->done(tag, ev.success != 0);
        }
    }
    return NULL;
}

static void on_shutdown_done(rpc_tag_t *tag, bool ok)
{
    rpc_server_t *s = RPC_CONTAINER_OF(tag, rpc_server_t, shutdown_tag);
    (void)ok;
    pthread_mutex_lock(&s->mu);
    s->shutdown_done = true;
    pthread_cond_broadcast(&s->cond);
    pthread_mutex_unlock(&s->mu);
}

/* ---- lifecycle ---- */

int rpc_server_new(const rpc_server_config_t *cfg, rpc_server_t **out, bdx_error_t *err)
{
    *out = NULL;
    if (!cfg->listen_addr || !*cfg->listen_addr)
        return bdx_error_set(err, BDX_EINVAL, "rpc: listen address is empty");
    if (cfg->workers < 0 || cfg->grace_ms < 0)
        return bdx_error_set(err, BDX_EINVAL, "rpc: workers and grace_ms must be >= 0");
    if (cfg->max_recv_bytes > INT32_MAX || cfg->max_send_bytes > INT32_MAX)
        return bdx_error_set(err, BDX_EINVAL, "rpc: message limits must be below 2 GiB");

    rpc_server_t *s = calloc(1, sizeof(*s));
    if (!s)
        return bdx_error_set(err, -ENOMEM, "rpc: out of memory");
    s->cfg = *cfg;
    s->cfg.listen_addr = strdup(cfg->listen_addr);
    if (!s->cfg.listen_addr) {
        free(s);
        return bdx_error_set(err, -ENOMEM, "rpc: out of memory");
    }
    if (!s->cfg.max_recv_bytes)
        s->cfg.max_recv_bytes = RPC_DEFAULT_MAX_MESSAGE;
    if (!s->cfg.max_send_bytes)
        s->cfg.max_send_bytes = RPC_DEFAULT_MAX_MESSAGE;
    if (!s->cfg.workers)
        s->cfg.workers = (int)uv_available_parallelism();
    if (!s->cfg.grace_ms)
        s->cfg.grace_ms = RPC_DEFAULT_GRACE_MS;
    atomic_init(&s->shutting_down, false);
    s->shutdown_tag.done = on_shutdown_done;

    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&s->cond, &ca);
    pthread_condattr_destroy(&ca);
    pthread_mutex_init(&s->mu, NULL);

    grpc_init();
    grpc_arg args[3];
    args[0].type = GRPC_ARG_INTEGER;
    args[0].key = GRPC_ARG_ALLOW_REUSEPORT;
    args[0].value.integer = 0;
    args[1].type = GRPC_ARG_INTEGER;
    args[1].key = GRPC_ARG_MAX_RECEIVE_MESSAGE_LENGTH;
    args[1].value.integer = (int)s->cfg.max_recv_bytes;
    args[2].type = GRPC_ARG_INTEGER;
    args[2].key = GRPC_ARG_MAX_SEND_MESSAGE_LENGTH;
    args[2].value.integer = (int)s->cfg.max_send_bytes;
    grpc_channel_args ch_args = {.num_args = 3, .args = args};
    s->grpc = grpc_server_create(&ch_args, NULL);
    s->cq = grpc_completion_queue_create_for_next(NULL);
    grpc_server_register_completion_queue(s->grpc, s->cq, NULL);
    *out = s;
    return 0;
}

static int add_service(rpc_server_t *s, const char *path)
{
    const char *slash = strrchr(path, '/');
    size_t len = (size_t)(slash - path - 1);
    for (size_t i = 0; i < s->n_services; i++) {
        if (strlen(s->services[i]) == len && memcmp(s->services[i], path + 1, len) == 0)
            return 0;
    }
    char **v = realloc(s->services, (s->n_services + 1) * sizeof(*v));
    if (!v)
        return -ENOMEM;
    s->services = v;
    char *name = strndup(path + 1, len);
    if (!name)
        return -ENOMEM;
    s->services[s->n_services++] = name;
    return 0;
}

static int check_method(const rpc_method_t *m, bdx_error_t *err)
{
    const char *p = m->path;
    const char *slash = p ? strrchr(p, '/') : NULL;
    if (!p || p[0] != '/' || slash == p || slash[1] == '\0')
        return bdx_error_set(err, BDX_EINVAL, "rpc: method path %s is not /service/method",
                             p ? p : "(null)");
    if ((unsigned)m->kind > RPC_BIDI || !m->request)
        return bdx_error_set(err, BDX_EINVAL, "rpc: method %s: bad kind or no request type", p);
    if ((m->kind & RPC_CLIENT_STREAMING) ? (!m->on_recv || !m->on_end) : !m->handler)
        return bdx_error_set(err, BDX_EINVAL, "rpc: method %s: missing callback", p);
    return 0;
}

int rpc_server_add_methods(rpc_server_t *server, const rpc_method_t *methods, size_t n,
                           bdx_error_t *err)
{
    rpc_server_t *s = server;
    if (s->started)
        return bdx_error_set(err, BDX_ESTATE, "rpc: methods must be added before start");
    for (size_t i = 0; i < n; i++) {
        int rc = check_method(&methods[i], err);
        if (rc < 0)
            return rc;
        for (size_t j = 0; j < s->n_methods; j++) {
            if (strcmp(s->methods[j].m.path, methods[i].path) == 0)
                return bdx_error_set(err, BDX_EEXIST, "rpc: method %s added twice",
                                     methods[i].path);
        }
        if (s->n_methods == s->cap_methods) {
            size_t cap = s->cap_methods ? s->cap_methods * 2 : 16;
            rpc_method_entry_t *v = realloc(s->methods, cap * sizeof(*v));
            if (!v)
                return bdx_error_set(err, -ENOMEM, "rpc: out of memory");
            s->methods = v;
            s->cap_methods = cap;
        }
        rpc_method_entry_t *e = &s->methods[s->n_methods];
        e->m = methods[i];
        e->m.path = strdup(methods[i].path);
        if (!e->m.path || add_service(s, e->m.path) < 0) {
            free((char *)e->m.path);
            return bdx_error_set(err, -ENOMEM, "rpc: out of memory");
        }
        grpc_server_register_method_payload_handling payload =
            (e->m.kind & RPC_CLIENT_STREAMING) ? GRPC_SRM_PAYLOAD_NONE
                                               : GRPC_SRM_PAYLOAD_READ_INITIAL_BYTE_BUFFER;
        e->handle = grpc_server_register_method(s->grpc, e->m.path, NULL, payload, 0);
        if (!e->handle) {
            free((char *)e->m.path);
            return bdx_error_set(err, BDX_EINVAL, "rpc: gRPC refused method %s", methods[i].path);
        }
        s->n_methods++;
    }
    return 0;
}

int rpc_server_on_shutdown(rpc_server_t *server, void (*fn)(void *arg), void *arg)
{
    if (server->started)
        return BDX_ESTATE;
    rpc_hook_t *v = realloc(server->hooks, (server->n_hooks + 1) * sizeof(*v));
    if (!v)
        return -ENOMEM;
    server->hooks = v;
    server->hooks[server->n_hooks++] = (rpc_hook_t){fn, arg};
    return 0;
}

/* Shuts the completion queue down and joins the workers (which drain it), then the work loop. */
static void stop_threads(rpc_server_t *s)
{
    grpc_completion_queue_shutdown(s->cq);
    for (int i = 0; i < s->n_workers; i++)
        pthread_join(s->workers[i], NULL);
    s->n_workers = 0;
    s->cq_drained = true;
    rpc_pool_stop(&s->pool);
}

int rpc_server_start(rpc_server_t *server, bdx_error_t *err)
{
    rpc_server_t *s = server;
    if (s->started || s->start_failed)
        return bdx_error_set(err, BDX_ESTATE, "rpc: server already started");
    s->start_failed = true; /* until the end */

    int rc = rpc_pool_start(&s->pool);
    if (rc < 0)
        return bdx_error_set(err, rc, "rpc: cannot start the work loop: %s", bdx_strerror(rc));
    s->workers = calloc((size_t)s->cfg.workers, sizeof(*s->workers));
    for (int i = 0; s->workers && i < s->cfg.workers; i++) {
        if (pthread_create(&s->workers[i], NULL, worker_main, s) != 0)
            break;
        s->n_workers++;
    }
    if (s->n_workers == 0) {
        stop_threads(s);
        return bdx_error_set(err, -EAGAIN, "rpc: cannot start worker threads");
    }

    grpc_server_credentials *creds = grpc_insecure_server_credentials_create();
    s->port = grpc_server_add_http2_port(s->grpc, s->cfg.listen_addr, creds);
    grpc_server_credentials_release(creds);
    if (s->port <= 0) {
        s->port = 0;
        stop_threads(s);
        return bdx_error_set(err, -EADDRINUSE, "rpc: cannot listen on %s", s->cfg.listen_addr);
    }
    grpc_server_start(s->grpc);
    s->started = true;
    s->start_failed = false;
    for (size_t i = 0; i < s->n_methods; i++) {
        for (int k = 0; k < RPC_REQUESTS_PER_METHOD; k++)
            request_new(s, &s->methods[i]);
    }
    for (int k = 0; k < RPC_REQUESTS_UNREGISTERED; k++)
        request_new(s, NULL);

    char addr[256];
    log_info("rpc", "listening", "addr=%s port=%d workers=%d",
             log_quote(addr, sizeof(addr), s->cfg.listen_addr), s->port, s->n_workers);
    return 0;
}

int rpc_server_port(const rpc_server_t *server)
{
    return server->port;
}

size_t rpc_server_service_count(const rpc_server_t *server)
{
    return server->n_services;
}

const char *rpc_server_service_name(const rpc_server_t *server, size_t i)
{
    return i < server->n_services ? server->services[i] : NULL;
}

/* Waits for the shutdown tag until `deadline` (NULL: forever). Returns whether it arrived. */
static bool wait_shutdown(rpc_server_t *s, const struct timespec *deadline)
{
    pthread_mutex_lock(&s->mu);
    while (!s->shutdown_done) {
        if (!deadline)
            pthread_cond_wait(&s->cond, &s->mu);
        else if (pthread_cond_timedwait(&s->cond, &s->mu, deadline) == ETIMEDOUT)
            break;
    }
    bool done = s->shutdown_done;
    pthread_mutex_unlock(&s->mu);
    return done;
}

/*
 * Shutdown order (each step relies on the one before):
 *  1. stop re-posting requests, then grpc_server_shutdown_and_notify: no new calls are accepted,
 *     pending requests fail, and the notify tag arrives once every call is released;
 *  2. the on_shutdown hooks end long-lived streams;
 *  3. wait up to grace_ms for the tag; if it does not come, cancel all calls and wait for it
 *     (handlers' deferred jobs still run to their after_fn, which keeps the loop needed here);
 *  4. shut the completion queue down and join the workers, which drain what is left;
 *  5. stop the work loop: no call is alive, so no job is pending.
 */
void rpc_server_shutdown(rpc_server_t *server, int grace_ms)
{
    rpc_server_t *s = server;
    if (!s->started || s->stopped)
        return;
    atomic_store(&s->shutting_down, true);
    grpc_server_shutdown_and_notify(s->grpc, s->cq, &s->shutdown_tag);
    for (size_t i = 0; i < s->n_hooks; i++)
        s->hooks[i].fn(s->hooks[i].arg);

    struct timespec deadline;
    clock_gettime(CLOCK_MONOTONIC, &deadline);
    deadline.tv_sec += grace_ms / 1000;
    deadline.tv_nsec += (long)(grace_ms % 1000) * 1000000L;
    if (deadline.tv_nsec >= 1000000000L) {
        deadline.tv_sec++;
        deadline.tv_nsec -= 1000000000L;
    }
    if (!wait_shutdown(s, &deadline)) {
        log_warn("rpc", "grace period over", "grace_ms=%d action=cancel_all_calls", grace_ms);
        grpc_server_cancel_all_calls(s->grpc);
        wait_shutdown(s, NULL);
    }
    stop_threads(s);
    s->stopped = true;
    log_info("rpc", "stopped", "port=%d", s->port);
}

void rpc_server_free(rpc_server_t *server)
{
    rpc_server_t *s = server;
    if (!s)
        return;
    if (s->started) {
        rpc_server_shutdown(s, s->cfg.grace_ms);
    } else if (!s->cq_drained) {
        /* Never started: no listener and no request posted, so the queue is empty. */
        grpc_completion_queue_shutdown(s->cq);
        while (grpc_completion_queue_next(s->cq, gpr_inf_future(GPR_CLOCK_REALTIME), NULL).type !=
               GRPC_QUEUE_SHUTDOWN)
            ;
    }
    grpc_server_destroy(s->grpc);
    grpc_completion_queue_destroy(s->cq);
    grpc_shutdown();
    for (size_t i = 0; i < s->n_methods; i++)
        free((char *)s->methods[i].m.path);
    free(s->methods);
    for (size_t i = 0; i < s->n_services; i++)
        free(s->services[i]);
    free(s->services);
    free(s->hooks);
    free(s->workers);
    pthread_cond_destroy(&s->cond);
    pthread_mutex_destroy(&s->mu);
    free((char *)s->cfg.listen_addr);
    free(s);
}

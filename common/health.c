/*
 * health: grpc.health.v1.Health served from a status table. See health.h.
 *
 * Open Watch streams are kept in a list under the table's mutex. A stream leaves the list in the
 * release function of its call (rpc_call_set_data), which takes the same mutex, so health_set()
 * never sends on a call that is being freed (rpc.h, concurrency contract).
 */
#include "common/health.h"

#include "thirdparty/grpc/health/v1/health.pb-c.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

typedef struct health_entry {
    struct health_entry *next;
    char *name;
    health_status_t status;
} health_entry_t;

typedef struct watcher {
    struct watcher *next, *prev;
    health_t *h;
    rpc_call_t *call;
    char *name;
    health_status_t last_sent;
} watcher_t;

struct health {
    pthread_mutex_t mu;
    health_entry_t *entries;
    watcher_t *watchers;
    bool shutting_down;
};

static health_entry_t *find_locked(health_t *h, const char *name)
{
    for (health_entry_t *e = h->entries; e; e = e->next) {
        if (strcmp(e->name, name) == 0)
            return e;
    }
    return NULL;
}

static health_status_t status_locked(health_t *h, const char *name)
{
    health_entry_t *e = find_locked(h, name);
    return e ? e->status : HEALTH_SERVICE_UNKNOWN;
}

/* Sends `status` on a Watch stream (failures mean the stream is dying; its release cleans up). */
static void send_status(rpc_call_t *call, health_status_t status)
{
    Grpc__Health__V1__HealthCheckResponse resp = GRPC__HEALTH__V1__HEALTH_CHECK_RESPONSE__INIT;
    resp.status = (Grpc__Health__V1__HealthCheckResponse__ServingStatus)status;
    rpc_call_send(call, &resp.base, NULL, NULL);
}

int health_new(health_t **out)
{
    *out = NULL;
    health_t *h = calloc(1, sizeof(*h));
    if (!h)
        return -ENOMEM;
    pthread_mutex_init(&h->mu, NULL);
    *out = h;
    int rc = health_set(h, "", HEALTH_SERVING);
    if (rc < 0) {
        health_free(h);
        *out = NULL;
    }
    return rc;
}

void health_free(health_t *h)
{
    if (!h)
        return;
    while (h->entries) {
        health_entry_t *n = h->entries->next;
        free(h->entries->name);
        free(h->entries);
        h->entries = n;
    }
    pthread_mutex_destroy(&h->mu);
    free(h);
}

int health_set(health_t *h, const char *name, health_status_t status)
{
    if (!name || (status != HEALTH_SERVING && status != HEALTH_NOT_SERVING))
        return BDX_EINVAL;
    pthread_mutex_lock(&h->mu);
    health_entry_t *e = find_locked(h, name);
    if (!e) {
        e = calloc(1, sizeof(*e));
        if (e)
            e->name = strdup(name);
        if (!e || !e->name) {
            free(e);
            pthread_mutex_unlock(&h->mu);
            return -ENOMEM;
        }
        e->next = h->entries;
        h->entries = e;
    }
    e->status = status;
    for (watcher_t *w = h->watchers; w; w = w->next) {
        if (w->last_sent != status && strcmp(w->name, name) == 0) {
            w->last_sent = status;
            send_status(w->call, status);
        }
    }
    pthread_mutex_unlock(&h->mu);
    return 0;
}

health_status_t health_get(health_t *h, const char *name)
{
    pthread_mutex_lock(&h->mu);
    health_status_t s = status_locked(h, name);
    pthread_mutex_unlock(&h->mu);
    return s;
}

static void check(rpc_call_t *call, const ProtobufCMessage *req, void *ctx)
{
    health_t *h = ctx;
    const Grpc__Health__V1__HealthCheckRequest *r = (const void *)req;
    health_status_t s = health_get(h, r->service);
    if (s == HEALTH_SERVICE_UNKNOWN) {
        rpc_call_fail(call, BDX_ENOTFOUND, "unknown service \"%s\"", r->service);
        return;
    }
    Grpc__Health__V1__HealthCheckResponse resp = GRPC__HEALTH__V1__HEALTH_CHECK_RESPONSE__INIT;
    resp.status = (Grpc__Health__V1__HealthCheckResponse__ServingStatus)s;
    rpc_call_reply(call, &resp.base);
}

/* Runs when the Watch call is done (ended, cancelled or shut down). */
static void watcher_release(void *data)
{
    watcher_t *w = data;
    health_t *h = w->h;
    pthread_mutex_lock(&h->mu);
    if (w->prev)
        w->prev->next = w->next;
    else
        h->watchers = w->next;
    if (w->next)
        w->next->prev = w->prev;
    pthread_mutex_unlock(&h->mu);
    free(w->name);
    free(w);
}

static void watch(rpc_call_t *call, const ProtobufCMessage *req, void *ctx)
{
    health_t *h = ctx;
    const Grpc__Health__V1__HealthCheckRequest *r = (const void *)req;
    watcher_t *w = calloc(1, sizeof(*w));
    if (w)
        w->name = strdup(r->service);
    if (!w || !w->name) {
        free(w);
        rpc_call_fail(call, -ENOMEM, "out of memory");
        return;
    }
    w->h = h;
    w->call = call;

    pthread_mutex_lock(&h->mu);
    if (h->shutting_down) {
        pthread_mutex_unlock(&h->mu);
        free(w->name);
        free(w);
        rpc_call_fail(call, BDX_EUNAVAILABLE, "server shutting down");
        return;
    }
    w->next = h->watchers;
    if (w->next)
        w->next->prev = w;
    h->watchers = w;
    rpc_call_set_data(call, w, watcher_release);
    w->last_sent = status_locked(h, w->name);
    send_status(call, w->last_sent);
    pthread_mutex_unlock(&h->mu);
}

static void on_shutdown(void *arg)
{
    health_t *h = arg;
    pthread_mutex_lock(&h->mu);
    h->shutting_down = true;
    for (watcher_t *w = h->watchers; w; w = w->next)
        rpc_call_finish(w->call, BDX_EUNAVAILABLE, "server shutting down");
    pthread_mutex_unlock(&h->mu);
}

int health_register(health_t *h, rpc_server_t *server, bdx_error_t *err)
{
    const rpc_method_t methods[] = {
        {"/grpc.health.v1.Health/Check", RPC_UNARY,
         &grpc__health__v1__health_check_request__descriptor, check, NULL, NULL, h},
        {"/grpc.health.v1.Health/Watch", RPC_SERVER_STREAMING,
         &grpc__health__v1__health_check_request__descriptor, watch, NULL, NULL, h},
    };
    int rc = rpc_server_add_methods(server, methods, 2, err);
    if (rc < 0)
        return rc;
    rc = rpc_server_on_shutdown(server, on_shutdown, h);
    if (rc < 0)
        return bdx_error_set(err, rc, "health: cannot add the shutdown hook");
    return 0;
}

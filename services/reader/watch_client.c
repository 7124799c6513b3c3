/*
 * watch_client: the reader side of Writer.Watch. See watch_client.h for the contract.
 *
 * One thread drives everything on its own completion queue: per stream three operations are
 * outstanding at most (the start batch, the status, one RECV_MESSAGE re-posted after each event)
 * and the stream is over when all three have completed. Other threads only ever cancel the
 * current call (under `mu`, which guards the call pointer) and wake the backoff wait.
 */
#include "services/reader/watch_client.h"

#include "common/log.h"

#include "bitdex/v1/writer.pb-c.h"

#include <errno.h>
#include <grpc/byte_buffer_reader.h>
#include <grpc/grpc.h>
#include <grpc/grpc_security.h>
#include <grpc/support/time.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define WATCH_METHOD "/bitdex.v1.Writer/Watch"

typedef struct followed {
    char *name;
    uint64_t lsn; /* last LSN delivered: from_lsn of the next stream */
} followed_t;

struct watch_client {
    watch_client_callbacks_t cb;
    char *reader_id;
    followed_t *ix;
    size_t n;
    uint32_t heartbeat_ms, backoff_min_ms, backoff_max_ms;
    unsigned seed;

    pthread_mutex_t mu;  /* target, target_changed, stop, call */
    pthread_cond_t cond; /* CLOCK_MONOTONIC: backoff wait */
    char *target;
    bool target_changed, stop;
    grpc_call *call; /* the current stream, owned by the thread */

    grpc_completion_queue *cq;
    pthread_t thread;
    _Atomic uint64_t connections;
};

enum {
    TAG_START = 1,
    TAG_STATUS,
    TAG_MSG
};

static void *tag_of(int t)
{
    return (void *)(intptr_t)t;
}

/* ---- events ---- */

static void deliver(watch_client_t *wc, const Bitdex__V1__WatchEvent *ev)
{
    const watch_client_callbacks_t *cb = &wc->cb;

    switch (ev->event_case) {
    case BITDEX__V1__WATCH_EVENT__EVENT_LSN_ADVANCE:
        for (size_t i = 0; i < wc->n; i++)
            if (strcmp(wc->ix[i].name, ev->lsn_advance->index) == 0 &&
                ev->lsn_advance->lsn > wc->ix[i].lsn)
                wc->ix[i].lsn = ev->lsn_advance->lsn;
        if (cb->on_lsn)
            cb->on_lsn(cb->arg, ev->lsn_advance->index, ev->lsn_advance->lsn);
        break;
    case BITDEX__V1__WATCH_EVENT__EVENT_GENERATION_PUBLISHED:
        if (cb->on_generation)
            cb->on_generation(
                cb->arg, ev->generation_published->index, ev->generation_published->generation,
                ev->generation_published->checkpoint_lsn, ev->generation_published->path);
        break;
    case BITDEX__V1__WATCH_EVENT__EVENT_INDEX_CHANGED:
        if (cb->on_index_changed)
            cb->on_index_changed(cb->arg, ev->index_changed->index,
                                 (watch_client_change_t)ev->index_changed->kind);
        break;
    default: /* heartbeats, and events this client does not use (prefilters) */
        break;
    }
}

static Bitdex__V1__WatchEvent *decode(grpc_byte_buffer *bb)
{
    grpc_byte_buffer_reader r;
    grpc_slice s;
    Bitdex__V1__WatchEvent *ev = NULL;

    if (grpc_byte_buffer_reader_init(&r, bb)) {
        s = grpc_byte_buffer_reader_readall(&r);
        ev = bitdex__v1__watch_event__unpack(NULL, GRPC_SLICE_LENGTH(s), GRPC_SLICE_START_PTR(s));
        grpc_slice_unref(s);
        grpc_byte_buffer_reader_destroy(&r);
    }
    return ev;
}

/* The WatchRequest of the next stream, packed into a byte buffer. */
static grpc_byte_buffer *request(const watch_client_t *wc)
{
    Bitdex__V1__WatchRequest req = BITDEX__V1__WATCH_REQUEST__INIT;
    Bitdex__V1__WatchedIndex *w = calloc(wc->n ? wc->n : 1, sizeof(*w));
    Bitdex__V1__WatchedIndex **pw = calloc(wc->n ? wc->n : 1, sizeof(*pw));
    grpc_byte_buffer *bb = NULL;

    if (w != NULL && pw != NULL) {
        for (size_t i = 0; i < wc->n; i++) {
            bitdex__v1__watched_index__init(&w[i]);
            w[i].index = wc->ix[i].name;
            w[i].from_lsn = wc->ix[i].lsn;
            pw[i] = &w[i];
        }
        req.indexes = pw;
        req.n_indexes = wc->n;
        req.reader_id = wc->reader_id;
        req.heartbeat_interval_ms = wc->heartbeat_ms;
        grpc_slice s = grpc_slice_malloc(protobuf_c_message_get_packed_size(&req.base));
        protobuf_c_message_pack(&req.base, GRPC_SLICE_START_PTR(s));
        bb = grpc_raw_byte_buffer_create(&s, 1);
        grpc_slice_unref(s);
    }
    free(w);
    free(pw);
    return bb;
}

/* ---- one stream ---- */

static bool post_recv(grpc_call *call, grpc_byte_buffer **buf)
{
    grpc_op op;

    memset(&op, 0, sizeof(op));
    op.op = GRPC_OP_RECV_MESSAGE;
    op.data.recv_message.recv_message = buf;
    return grpc_call_start_batch(call, &op, 1, tag_of(TAG_MSG), NULL) == GRPC_CALL_OK;
}

/* Runs one stream to its end; true when it delivered at least one event. */
static bool run_stream(watch_client_t *wc, grpc_channel *channel)
{
    grpc_metadata_array initial_md, trailing_md;
    grpc_status_code status = GRPC_STATUS_UNKNOWN;
    grpc_slice details = grpc_empty_slice();
    grpc_byte_buffer *req = request(wc), *msg = NULL;
    grpc_op ops[4];
    grpc_call *call;
    int outstanding = 0;
    bool connected = false, status_done = false, silenced = false;
    gpr_timespec silence = gpr_time_from_millis(3 * (int64_t)wc->heartbeat_ms, GPR_TIMESPAN);
    gpr_timespec last_rx = gpr_now(GPR_CLOCK_MONOTONIC);
    char text[512];

    if (req == NULL)
        return false;
    grpc_metadata_array_init(&initial_md);
    grpc_metadata_array_init(&trailing_md);
    call = grpc_channel_create_call(channel, NULL, GRPC_PROPAGATE_DEFAULTS, wc->cq,
                                    grpc_slice_from_static_string(WATCH_METHOD), NULL,
                                    gpr_inf_future(GPR_CLOCK_REALTIME), NULL);
    pthread_mutex_lock(&wc->mu);
    wc->call = call;
    if (wc->stop || wc->target_changed) /* stop/set_target came first: end this one at once */
        grpc_call_cancel(call, NULL);
    pthread_mutex_unlock(&wc->mu);

    memset(ops, 0, sizeof(ops));
    ops[0].op = GRPC_OP_SEND_INITIAL_METADATA;
    ops[1].op = GRPC_OP_SEND_MESSAGE;
    ops[1].data.send_message.send_message = req;
    ops[2].op = GRPC_OP_SEND_CLOSE_FROM_CLIENT;
    ops[3].op = GRPC_OP_RECV_INITIAL_METADATA;
    ops[3].data.recv_initial_metadata.recv_initial_metadata = &initial_md;
    if (grpc_call_start_batch(call, ops, 4, tag_of(TAG_START), NULL) == GRPC_CALL_OK)
        outstanding++;
    memset(ops, 0, sizeof(ops));
    ops[0].op = GRPC_OP_RECV_STATUS_ON_CLIENT;
    ops[0].data.recv_status_on_client.trailing_metadata = &trailing_md;
    ops[0].data.recv_status_on_client.status = &status;
    ops[0].data.recv_status_on_client.status_details = &details;
    if (grpc_call_start_batch(call, ops, 1, tag_of(TAG_STATUS), NULL) == GRPC_CALL_OK)
        outstanding++;
    if (post_recv(call, &msg))
        outstanding++;

    while (outstanding > 0) {
        gpr_timespec deadline = status_done || silenced ? gpr_inf_future(GPR_CLOCK_MONOTONIC)
                                                        : gpr_time_add(last_rx, silence);
        grpc_event ev = grpc_completion_queue_next(wc->cq, deadline, NULL);
        if (ev.type == GRPC_QUEUE_TIMEOUT) {
            log_warn("watch_client", "writer silent for 3 heartbeats: reconnecting",
                     "heartbeat_ms=%u", wc->heartbeat_ms);
            grpc_call_cancel_with_status(call, GRPC_STATUS_DEADLINE_EXCEEDED,
                                         "no event for 3 heartbeat periods", NULL);
            silenced = true;
            continue;
        }
        if (ev.type != GRPC_OP_COMPLETE)
            break; /* the queue shut down: cannot happen while the thread runs */
        outstanding--;
        if (ev.tag == tag_of(TAG_STATUS)) {
            status_done = true;
        } else if (ev.tag == tag_of(TAG_MSG)) {
            if (!ev.success || msg == NULL)
                continue; /* end of stream: the status follows */
            Bitdex__V1__WatchEvent *e = decode(msg);
            grpc_byte_buffer_destroy(msg);
            msg = NULL;
            last_rx = gpr_now(GPR_CLOCK_MONOTONIC);
            if (e == NULL) {
                grpc_call_cancel_with_status(call, GRPC_STATUS_INTERNAL,
                                             "cannot decode a WatchEvent", NULL);
                continue;
            }
            if (!connected) {
                connected = true;
                atomic_fetch_add(&wc->connections, 1);
                if (wc->cb.on_connected)
                    wc->cb.on_connected(wc->cb.arg);
            }
            deliver(wc, e);
            bitdex__v1__watch_event__free_unpacked(e, NULL);
            if (post_recv(call, &msg))
                outstanding++;
        }
    }
    pthread_mutex_lock(&wc->mu);
    wc->call = NULL;
    pthread_mutex_unlock(&wc->mu);
    size_t len = GRPC_SLICE_LENGTH(details) < sizeof(text) - 1 ? GRPC_SLICE_LENGTH(details)
                                                               : sizeof(text) - 1;
    memcpy(text, GRPC_SLICE_START_PTR(details), len);
    text[len] = '\0';
    if (wc->cb.on_disconnected)
        wc->cb.on_disconnected(wc->cb.arg, (int)status, text);
    grpc_slice_unref(details);
    grpc_metadata_array_destroy(&initial_md);
    grpc_metadata_array_destroy(&trailing_md);
    grpc_byte_buffer_destroy(req);
    if (msg != NULL)
        grpc_byte_buffer_destroy(msg);
    grpc_call_unref(call);
    return connected;
}

/* ---- the thread ---- */

static grpc_channel *channel_new(const watch_client_t *wc, const char *target)
{
    grpc_arg args[4];
    grpc_channel_args ca = {4, args};
    grpc_channel_credentials *creds = grpc_insecure_credentials_create();
    grpc_channel *ch;

    /* The channel's own reconnect backoff must not outlast ours (its default grows to 120 s). */
    args[0] = (grpc_arg){GRPC_ARG_INTEGER,
                         GRPC_ARG_INITIAL_RECONNECT_BACKOFF_MS,
                         {.integer = (int)wc->backoff_min_ms}};
    args[1] = (grpc_arg){
        GRPC_ARG_INTEGER, GRPC_ARG_MIN_RECONNECT_BACKOFF_MS, {.integer = (int)wc->backoff_min_ms}};
    args[2] = (grpc_arg){
        GRPC_ARG_INTEGER, GRPC_ARG_MAX_RECONNECT_BACKOFF_MS, {.integer = (int)wc->backoff_max_ms}};
    args[3] = (grpc_arg){GRPC_ARG_INTEGER, GRPC_ARG_ENABLE_RETRIES, {.integer = 0}};
    ch = grpc_channel_create(target, creds, &ca);
    grpc_channel_credentials_release(creds);
    return ch;
}

static void *client_thread(void *arg)
{
    watch_client_t *wc = arg;
    grpc_channel *channel = NULL;
    uint32_t backoff = wc->backoff_min_ms;

    pthread_mutex_lock(&wc->mu);
    while (!wc->stop) {
        if (channel == NULL || wc->target_changed) {
            if (channel != NULL)
                grpc_channel_destroy(channel);
            channel = channel_new(wc, wc->target);
            wc->target_changed = false;
            backoff = wc->backoff_min_ms;
        }
        pthread_mutex_unlock(&wc->mu);
        bool delivered = run_stream(wc, channel);
        pthread_mutex_lock(&wc->mu);
        if (delivered)
            backoff = wc->backoff_min_ms;
        if (wc->stop || wc->target_changed)
            continue;
        uint32_t wait = backoff / 2 + (uint32_t)rand_r(&wc->seed) % (backoff / 2 + 1);
        struct timespec until;
        clock_gettime(CLOCK_MONOTONIC, &until);
        until.tv_nsec += (long)(wait % 1000) * 1000000L;
        until.tv_sec += wait / 1000 + until.tv_nsec / 1000000000L;
        until.tv_nsec %= 1000000000L;
        while (!wc->stop && !wc->target_changed &&
               pthread_cond_timedwait(&wc->cond, &wc->mu, &until) != ETIMEDOUT)
            ;
        if (!delivered)
            backoff = backoff > wc->backoff_max_ms / 2 ? wc->backoff_max_ms : backoff * 2;
    }
    pthread_mutex_unlock(&wc->mu);
    if (channel != NULL)
        grpc_channel_destroy(channel);
    return NULL;
}

/* ---- public ---- */

static void client_free(watch_client_t *wc)
{
    for (size_t i = 0; i < wc->n; i++)
        free(wc->ix[i].name);
    free(wc->ix);
    free(wc->reader_id);
    free(wc->target);
    pthread_cond_destroy(&wc->cond);
    pthread_mutex_destroy(&wc->mu);
    free(wc);
}

int watch_client_start(const watch_client_config_t *cfg, const watch_client_callbacks_t *cb,
                       watch_client_t **out, bdx_error_t *err)
{
    watch_client_t *wc;
    pthread_condattr_t ca;
    int rc;

    *out = NULL;
    if (cfg->target == NULL || cfg->target[0] == '\0')
        return bdx_error_set(err, BDX_EINVAL, "target: required");
    if (cfg->reader_id != NULL && strlen(cfg->reader_id) > 128)
        return bdx_error_set(err, BDX_EINVAL, "reader_id: longer than 128 bytes");
    if ((wc = calloc(1, sizeof(*wc))) == NULL)
        return bdx_error_set(err, -ENOMEM, "out of memory");
    pthread_mutex_init(&wc->mu, NULL);
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&wc->cond, &ca);
    pthread_condattr_destroy(&ca);
    if (cb != NULL)
        wc->cb = *cb;
    wc->heartbeat_ms = cfg->heartbeat_ms ? cfg->heartbeat_ms : 5000;
    wc->backoff_min_ms = cfg->backoff_min_ms ? cfg->backoff_min_ms : 100;
    wc->backoff_max_ms = cfg->backoff_max_ms ? cfg->backoff_max_ms : 5000;
    if (wc->backoff_max_ms < wc->backoff_min_ms)
        wc->backoff_max_ms = wc->backoff_min_ms;
    wc->seed = (unsigned)time(NULL) ^ (unsigned)(uintptr_t)wc;
    wc->target = strdup(cfg->target);
    wc->reader_id = strdup(cfg->reader_id ? cfg->reader_id : "");
    wc->ix = calloc(cfg->n_indexes ? cfg->n_indexes : 1, sizeof(*wc->ix));
    if (wc->target == NULL || wc->reader_id == NULL || wc->ix == NULL)
        goto nomem;
    for (; wc->n < cfg->n_indexes; wc->n++)
        if ((wc->ix[wc->n].name = strdup(cfg->indexes[wc->n])) == NULL)
            goto nomem;
    grpc_init();
    wc->cq = grpc_completion_queue_create_for_next(NULL);
    if ((rc = -pthread_create(&wc->thread, NULL, client_thread, wc)) != 0) {
        grpc_completion_queue_shutdown(wc->cq);
        grpc_completion_queue_destroy(wc->cq);
        grpc_shutdown();
        client_free(wc);
        return bdx_error_set(err, rc, "cannot start the watch thread: %s", bdx_strerror(rc));
    }
    *out = wc;
    return 0;
nomem:
    client_free(wc);
    return bdx_error_set(err, -ENOMEM, "out of memory");
}

int watch_client_set_target(watch_client_t *wc, const char *target)
{
    char *t = strdup(target);

    if (t == NULL)
        return -ENOMEM;
    pthread_mutex_lock(&wc->mu);
    free(wc->target);
    wc->target = t;
    wc->target_changed = true;
    if (wc->call != NULL)
        grpc_call_cancel(wc->call, NULL);
    pthread_cond_broadcast(&wc->cond);
    pthread_mutex_unlock(&wc->mu);
    return 0;
}

uint64_t watch_client_connections(watch_client_t *wc)
{
    return atomic_load(&wc->connections);
}

void watch_client_stop(watch_client_t *wc)
{
    if (wc == NULL)
        return;
    pthread_mutex_lock(&wc->mu);
    wc->stop = true;
    if (wc->call != NULL)
        grpc_call_cancel(wc->call, NULL);
    pthread_cond_broadcast(&wc->cond);
    pthread_mutex_unlock(&wc->mu);
    pthread_join(wc->thread, NULL);
    grpc_completion_queue_shutdown(wc->cq);
    while (grpc_completion_queue_next(wc->cq, gpr_inf_future(GPR_CLOCK_REALTIME), NULL).type !=
           GRPC_QUEUE_SHUTDOWN)
        ;
    grpc_completion_queue_destroy(wc->cq);
    grpc_shutdown();
    client_free(wc);
}

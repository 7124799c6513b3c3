/*
 * writer_service: method table and handlers of bitdex.v1.Writer. Streaming shapes must match
 * writer.proto. See writer_service.h for states and the admin token.
 */
#include "services/writer/writer_service.h"

#include "common/rpc_service.h"
#include "common/schema_pb.h"
#include "services/writer/stats.h"

#include "bitdex/v1/writer.pb-c.h"

#include <errno.h>
#include <limits.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

typedef enum state {
    STATE_STANDBY = 0,
    STATE_RECOVERING,
    STATE_ACTIVE,
} state_t;

struct writer_service {
    char *data_dir;
    char *token; /* NULL: no check */
    size_t token_len;
    _Atomic(state_t) state;
    _Atomic(catalog_t *) catalog;    /* set once with STATE_ACTIVE; owned */
    watch_t *watch;                  /* borrowed; may be NULL */
    _Atomic int64_t active_since_ms; /* CLOCK_MONOTONIC, set by writer_service_activate() */
};

static int64_t mono_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int writer_service_new(const writer_service_config_t *cfg, writer_service_t **out)
{
    writer_service_t *ws = calloc(1, sizeof(*ws));

    *out = NULL;
    if (ws == NULL)
        return -ENOMEM;
    ws->data_dir = strdup(cfg->data_dir ? cfg->data_dir : "");
    if (cfg->admin_token != NULL && cfg->admin_token[0] != '\0') {
        ws->token = strdup(cfg->admin_token);
        ws->token_len = strlen(cfg->admin_token);
    }
    if (ws->data_dir == NULL || (cfg->admin_token && cfg->admin_token[0] && ws->token == NULL)) {
        writer_service_free(ws);
        return -ENOMEM;
    }
    atomic_init(&ws->state, STATE_STANDBY);
    atomic_init(&ws->catalog, NULL);
    atomic_init(&ws->active_since_ms, 0);
    ws->watch = cfg->watch;
    *out = ws;
    return 0;
}

void writer_service_free(writer_service_t *ws)
{
    if (ws == NULL)
        return;
    catalog_close(atomic_load(&ws->catalog));
    if (ws->token != NULL)
        memset(ws->token, 0, ws->token_len);
    free(ws->token);
    free(ws->data_dir);
    free(ws);
}

void writer_service_set_recovering(writer_service_t *ws)
{
    state_t standby = STATE_STANDBY;

    atomic_compare_exchange_strong(&ws->state, &standby, STATE_RECOVERING);
}

void writer_service_activate(writer_service_t *ws, catalog_t *catalog)
{
    atomic_store(&ws->catalog, catalog);
    atomic_store(&ws->active_since_ms, mono_ms());
    atomic_store(&ws->state, STATE_ACTIVE);
}

/* ---- gates: state, then token ---- */

/* Equal in time that depends only on the length of `given`, never on where they differ. */
static bool token_equal(const char *given, size_t glen, const char *want, size_t wlen)
{
    volatile unsigned char diff = glen != wlen;

    for (size_t i = 0; i < glen; i++)
        diff |= (unsigned char)given[i] ^ (unsigned char)want[i % wlen];
    return diff == 0;
}

int writer_service_authorize(const writer_service_t *ws, rpc_call_t *call, bdx_error_t *err)
{
    const char *h, *tok;

    if (ws->token == NULL)
        return 0;
    h = rpc_call_metadata(call, "authorization");
    if (h == NULL)
        return bdx_error_set(err, BDX_EUNAUTH,
                             "admin token required: send metadata \"authorization: Bearer "
                             "<token>\"");
    if (strncasecmp(h, "Bearer ", 7) != 0)
        return bdx_error_set(err, BDX_EUNAUTH,
                             "malformed authorization metadata: want \"Bearer <token>\"");
    for (tok = h + 7; *tok == ' '; tok++)
        ;
    if (*tok == '\0')
        return bdx_error_set(err, BDX_EUNAUTH,
                             "malformed authorization metadata: empty Bearer token");
    if (!token_equal(tok, strlen(tok), ws->token, ws->token_len))
        return bdx_error_set(err, BDX_EPERM, "wrong admin token");
    return 0;
}

/* Ends the call unless this writer serves; returns the catalog when it does. */
static catalog_t *gate_state(writer_service_t *ws, rpc_call_t *call)
{
    switch (atomic_load(&ws->state)) {
    case STATE_ACTIVE:
        return atomic_load(&ws->catalog);
    case STATE_RECOVERING:
        rpc_call_fail(call, BDX_EUNAVAILABLE,
                      "writer is recovering %s: not serving yet, retry shortly", ws->data_dir);
        return NULL;
    case STATE_STANDBY:
    default:
        rpc_call_fail(call, BDX_EUNAVAILABLE, "standby writer: not the active writer for %s",
                      ws->data_dir);
        return NULL;
    }
}

/* The state check and, for a mutating method, the token check; ends the call on failure. */
static catalog_t *gate(writer_service_t *ws, rpc_call_t *call, bool mutating)
{
    catalog_t *cat = gate_state(ws, call);
    bdx_error_t err = {0};

    if (cat != NULL && mutating && writer_service_authorize(ws, call, &err) != 0) {
        rpc_call_fail_error(call, &err);
        return NULL;
    }
    return cat;
}

/* ---- admin work, off the completion-queue threads ---- */

typedef void (*admin_fn)(catalog_t *cat, rpc_call_t *call, const ProtobufCMessage *req);

typedef struct admin_job {
    catalog_t *cat;
    const ProtobufCMessage *req; /* borrowed from the call: valid until it is done */
    admin_fn fn;
} admin_job_t;

static void admin_work(rpc_call_t *call, void *arg)
{
    admin_job_t *job = arg;

    if (rpc_call_cancelled(call))
        rpc_call_fail(call, BDX_ECANCELLED, NULL);
    else
        job->fn(job->cat, call, job->req);
    free(job);
}

static void defer_admin(catalog_t *cat, rpc_call_t *call, const ProtobufCMessage *req, admin_fn fn)
{
    admin_job_t *job = malloc(sizeof(*job));

    if (job == NULL) {
        rpc_call_fail(call, -ENOMEM, "out of memory");
        return;
    }
    *job = (admin_job_t){cat, req, fn};
    if (rpc_call_defer(call, admin_work, NULL, job) != 0) {
        free(job);
        rpc_call_fail(call, BDX_EINTERNAL, "cannot schedule the request");
    }
}

/* Fills `out` (schema allocated into *schema_out; free with schema_pb_free()). */
static int info_to_pb(const catalog_info_t *info, Bitdex__V1__IndexInfo *out)
{
    Bitdex__V1__IndexSchema *schema;
    int rc = schema_pb_from_schema(info->schema, &info->limits, &schema);

    bitdex__v1__index_info__init(out);
    if (rc != 0)
        return rc;
    out->index = info->schema->name; /* borrowed from info */
    out->schema = schema;
    out->document_count = info->document_count;
    out->applied_lsn = info->applied_lsn;
    out->committed_lsn = info->committed_lsn;
    /* generation, checkpoint LSN and prefilters stay 0 until checkpoints and prefilters land */
    return 0;
}

static void reply_info(rpc_call_t *call, const catalog_info_t *info, bool get)
{
    Bitdex__V1__IndexInfo pb;
    int rc = info_to_pb(info, &pb);

    if (rc != 0) {
        rpc_call_fail(call, rc, "out of memory");
        return;
    }
    if (get) {
        Bitdex__V1__GetIndexResponse resp = BITDEX__V1__GET_INDEX_RESPONSE__INIT;
        resp.index = &pb;
        rpc_call_reply(call, &resp.base);
    } else {
        Bitdex__V1__CreateIndexResponse resp = BITDEX__V1__CREATE_INDEX_RESPONSE__INIT;
        resp.index = &pb;
        rpc_call_reply(call, &resp.base);
    }
    schema_pb_free(pb.schema);
}

static void do_create(catalog_t *cat, rpc_call_t *call, const ProtobufCMessage *msg)
{
    const Bitdex__V1__CreateIndexRequest *req = (const Bitdex__V1__CreateIndexRequest *)msg;
    catalog_info_t info = {0};
    bdx_error_t err = {0};
    schema_t *schema = NULL;
    limits_t limits;

    if (schema_pb_to_schema(req->index, req->schema, &schema, &limits, &err) == 0 &&
        catalog_create(cat, schema, &limits, NULL, &err) == 0 &&
        catalog_get(cat, schema->name, &info, &err) == 0)
        reply_info(call, &info, false);
    else
        rpc_call_fail_error(call, &err);
    catalog_info_clear(&info);
    schema_free(schema);
}

static void do_drop(catalog_t *cat, rpc_call_t *call, const ProtobufCMessage *msg)
{
    const Bitdex__V1__DropIndexRequest *req = (const Bitdex__V1__DropIndexRequest *)msg;
    Bitdex__V1__DropIndexResponse resp = BITDEX__V1__DROP_INDEX_RESPONSE__INIT;
    bdx_error_t err = {0};

    if (catalog_drop(cat, req->index, &err) == 0)
        rpc_call_reply(call, &resp.base);
    else
        rpc_call_fail_error(call, &err);
}

static void do_checkpoint(catalog_t *cat, rpc_call_t *call, const ProtobufCMessage *msg)
{
    const Bitdex__V1__CheckpointRequest *req = (const Bitdex__V1__CheckpointRequest *)msg;
    Bitdex__V1__CheckpointResponse resp = BITDEX__V1__CHECKPOINT_RESPONSE__INIT;
    checkpoint_info_t info;
    bdx_error_t err = {0};

    if (catalog_checkpoint(cat, req->index, &info, &err) != 0) {
        rpc_call_fail_error(call, &err);
        return;
    }
    resp.generation = info.generation;
    resp.checkpoint_lsn = info.lsn;
    resp.new_generation = info.new_generation;
    resp.bytes_written = info.new_generation ? info.bytes_written : 0;
    resp.duration_ms = info.new_generation ? info.duration_ms : 0;
    rpc_call_reply(call, &resp.base);
}

static void do_get(catalog_t *cat, rpc_call_t *call, const ProtobufCMessage *msg)
{
    const Bitdex__V1__GetIndexRequest *req = (const Bitdex__V1__GetIndexRequest *)msg;
    catalog_info_t info = {0};
    bdx_error_t err = {0};

    if (catalog_get(cat, req->index, &info, &err) == 0)
        reply_info(call, &info, true);
    else
        rpc_call_fail_error(call, &err);
    catalog_info_clear(&info);
}

static void do_list(catalog_t *cat, rpc_call_t *call, const ProtobufCMessage *msg)
{
    Bitdex__V1__ListIndexesResponse resp = BITDEX__V1__LIST_INDEXES_RESPONSE__INIT;
    Bitdex__V1__IndexInfo *pbs = NULL, **ptrs = NULL;
    catalog_info_t *infos = NULL;
    size_t n = 0, done = 0;
    int rc = catalog_list(cat, &infos, &n);

    if (rc == 0 && n > 0) {
        pbs = calloc(n, sizeof(*pbs));
        ptrs = calloc(n, sizeof(*ptrs));
        if (pbs == NULL || ptrs == NULL)
            rc = -ENOMEM;
    }
    for (; rc == 0 && done < n; done++) {
        if ((rc = info_to_pb(&infos[done], &pbs[done])) != 0)
            break;
        ptrs[done] = &pbs[done];
    }
    if (rc == 0) {
        resp.n_indexes = n;
        resp.indexes = ptrs;
        rpc_call_reply(call, &resp.base);
    } else {
        rpc_call_fail(call, rc, "out of memory");
    }
    for (size_t i = 0; i < done; i++)
        schema_pb_free(pbs[i].schema);
    free(ptrs);
    free(pbs);
    catalog_info_free(infos, n);
}

/* ---- writes ---- */

/* Apply: the commit (which may wait for an fsync) runs on the pool, the reply from there. */
static void do_apply(catalog_t *cat, rpc_call_t *call, const ProtobufCMessage *msg)
{
    const Bitdex__V1__ApplyRequest *req = (const Bitdex__V1__ApplyRequest *)msg;
    Bitdex__V1__ApplyResponse resp = BITDEX__V1__APPLY_RESPONSE__INIT;
    commit_result_t res;
    bdx_error_t err = {0};
    size_t len;
    bool canonical;
    const uint8_t *wire = rpc_call_message_bytes(call, &len, &canonical);

    if (catalog_apply(cat, req, wire, len, canonical, true, &res, &err) != 0) {
        rpc_call_fail_error(call, &err);
        return;
    }
    resp.committed_lsn = res.lsn;
    resp.op_count = res.ops;
    resp.skipped_ops = res.skipped;
    resp.duplicate = res.duplicate;
    rpc_call_reply(call, &resp.base);
}

/*
 * ApplyStream: each message is one batch, committed (appended and applied) by a pool job as it
 * arrives, without waiting for durability; the stream waits once, at the end or at the first
 * failure, for the last batch it committed, before answering. So a stream of N batches costs
 * about one sync, and what the reply or the error reports as committed is durable.
 */
typedef struct stream {
    catalog_t *cat;
    char *index; /* of the first batch; every batch must name it */
    uint32_t batches, duplicates;
    uint64_t ops, skipped, lsn;
    bool failed; /* the call was ended with an error */
} stream_t;

static void stream_free(void *data)
{
    stream_t *st = data;

    free(st->index);
    free(st);
}

/* Ends the stream with batch k's error, after making the earlier batches durable. */
static void stream_fail(stream_t *st, rpc_call_t *call, const bdx_error_t *err)
{
    bdx_error_t werr = {0};

    st->failed = true;
    if (st->lsn > 0 && catalog_wait(st->cat, st->index, st->lsn, &werr) != 0) {
        rpc_call_fail(call, werr.code, "batch %u: %s; committing the earlier batches failed: %s",
                      st->batches, bdx_error_message(err), bdx_error_message(&werr));
        return;
    }
    /* The rpc layer sends no custom trailers: the committed batches and LSN are in the
     * message instead of the bitdex-committed-* trailers of writer.proto. */
    rpc_call_fail(call, err->code,
                  "batch %u: %s (bitdex-committed-batches: %u, bitdex-committed-lsn: %llu)",
                  st->batches, bdx_error_message(err), st->batches, (unsigned long long)st->lsn);
}

static void stream_batch_work(rpc_call_t *call, void *arg)
{
    const Bitdex__V1__ApplyRequest *req = arg;
    stream_t *st = rpc_call_data(call);
    commit_result_t res;
    bdx_error_t err = {0};
    const uint8_t *wire;
    bool canonical;
    size_t len;

    if (st->failed)
        return;
    if (rpc_call_cancelled(call)) {
        st->failed = true;
        return;
    }
    if (st->index == NULL && req->index != NULL && req->index[0] != '\0' &&
        (st->index = strdup(req->index)) == NULL) {
        bdx_error_set(&err, -ENOMEM, "out of memory");
        stream_fail(st, call, &err);
        return;
    }
    if (st->index != NULL && req->index != NULL && req->index[0] != '\0' &&
        strcmp(st->index, req->index) != 0) {
        bdx_error_set(&err, BDX_EINVAL, "index: %s differs from the stream's index %s", req->index,
                      st->index);
        stream_fail(st, call, &err);
        return;
    }
    wire = rpc_call_message_bytes(call, &len, &canonical);
    if (catalog_apply(st->cat, req, wire, len, canonical, false, &res, &err) != 0) {
        stream_fail(st, call, &err);
        return;
    }
    st->batches++;
    st->ops += res.ops;
    st->skipped += res.skipped;
    st->duplicates += res.duplicate;
    if (res.lsn > st->lsn)
        st->lsn = res.lsn;
}

static void stream_end_work(rpc_call_t *call, void *arg)
{
    Bitdex__V1__ApplyStreamResponse resp = BITDEX__V1__APPLY_STREAM_RESPONSE__INIT;
    stream_t *st = rpc_call_data(call);
    bdx_error_t err = {0};

    if (st->failed)
        return;
    if (st->lsn > 0 && catalog_wait(st->cat, st->index, st->lsn, &err) != 0) {
        rpc_call_fail_error(call, &err);
        return;
    }
    resp.committed_lsn = st->lsn;
    resp.batch_count = st->batches;
    resp.op_count = st->ops;
    resp.skipped_ops = st->skipped;
    resp.duplicate_batches = st->duplicates;
    rpc_call_reply(call, &resp.base);
}

static void apply_stream(rpc_call_t *call, const ProtobufCMessage *req, void *ctx)
{
    catalog_t *cat = gate(ctx, call, true);
    stream_t *st;

    if (cat == NULL)
        return;
    if ((st = calloc(1, sizeof(*st))) == NULL) {
        rpc_call_fail(call, -ENOMEM, "out of memory");
        return;
    }
    st->cat = cat;
    rpc_call_set_data(call, st, stream_free);
}

static void apply_stream_recv(rpc_call_t *call, const ProtobufCMessage *msg, void *ctx)
{
    stream_t *st = rpc_call_data(call);

    /* msg stays valid until this job's after_fn returns (rpc.h) */
    if (st != NULL && !st->failed &&
        rpc_call_defer(call, stream_batch_work, NULL, (void *)msg) != 0) {
        st->failed = true;
        rpc_call_fail(call, BDX_EINTERNAL, "cannot schedule the batch");
    }
}

static void apply_stream_end(rpc_call_t *call, void *ctx)
{
    stream_t *st = rpc_call_data(call);

    if (st != NULL && !st->failed && rpc_call_defer(call, stream_end_work, NULL, NULL) != 0) {
        st->failed = true;
        rpc_call_fail(call, BDX_EINTERNAL, "cannot schedule the end of the stream");
    }
}

/* ---- GetStats ---- */

typedef struct stats_job {
    writer_service_t *ws;
    catalog_t *cat;
    const Bitdex__V1__GetStatsRequest *req; /* borrowed from the call */
} stats_job_t;

static void stats_work(rpc_call_t *call, void *arg)
{
    stats_job_t *job = arg;
    Bitdex__V1__GetStatsResponse *resp = NULL;
    int64_t active = mono_ms() - atomic_load(&job->ws->active_since_ms);
    bdx_error_t err = {0};

    if (stats_build(job->cat, job->ws->watch, job->req->index, active > 0 ? (uint64_t)active : 0,
                    &resp, &err) == 0)
        rpc_call_reply(call, &resp->base);
    else
        rpc_call_fail_error(call, &err);
    stats_free(resp);
    free(job);
}

static void get_stats(rpc_call_t *call, const ProtobufCMessage *req, void *ctx)
{
    catalog_t *cat = gate(ctx, call, false);
    stats_job_t *job;

    if (cat == NULL)
        return;
    if ((job = malloc(sizeof(*job))) == NULL) {
        rpc_call_fail(call, -ENOMEM, "out of memory");
        return;
    }
    *job = (stats_job_t){ctx, cat, (const Bitdex__V1__GetStatsRequest *)req};
    if (rpc_call_defer(call, stats_work, NULL, job) != 0) {
        free(job);
        rpc_call_fail(call, BDX_EINTERNAL, "cannot schedule the request");
    }
}

/* ---- Watch ---- */

/* Checks the request and resolves the heartbeat period; fills *heartbeat_ms. */
static int watch_check(const Bitdex__V1__WatchRequest *req, uint32_t *heartbeat_ms,
                       bdx_error_t *err)
{
    size_t idlen = req->reader_id != NULL ? strlen(req->reader_id) : 0;

    if (idlen > WATCH_READER_ID_MAX)
        return bdx_error_set(err, BDX_EINVAL, "reader_id: %zu bytes, at most %d", idlen,
                             WATCH_READER_ID_MAX);
    *heartbeat_ms = req->heartbeat_interval_ms;
    if (*heartbeat_ms == 0)
        *heartbeat_ms = WATCH_HEARTBEAT_DEFAULT_MS;
    if (*heartbeat_ms < WATCH_HEARTBEAT_MIN_MS || *heartbeat_ms > WATCH_HEARTBEAT_MAX_MS)
        return bdx_error_set(err, BDX_EINVAL, "heartbeat_interval_ms: %u not in %d..%d (0 = %d)",
                             req->heartbeat_interval_ms, WATCH_HEARTBEAT_MIN_MS,
                             WATCH_HEARTBEAT_MAX_MS, WATCH_HEARTBEAT_DEFAULT_MS);
    for (size_t i = 0; i < req->n_indexes; i++) {
        const char *name = req->indexes[i]->index;
        if (name == NULL || name[0] == '\0')
            return bdx_error_set(err, BDX_EINVAL, "indexes[%zu].index: required", i);
        for (size_t j = 0; j < i; j++)
            if (strcmp(req->indexes[j]->index, name) == 0)
                return bdx_error_set(err, BDX_EINVAL, "indexes[%zu].index: %s repeats indexes[%zu]",
                                     i, name, j);
    }
    return 0;
}

typedef struct watch_job {
    writer_service_t *ws;
    catalog_t *cat;
    const Bitdex__V1__WatchRequest *req; /* borrowed from the call */
} watch_job_t;

/* Validates, reads what each index has now, and hands the call to the hub. */
static void watch_work(rpc_call_t *call, void *arg)
{
    watch_job_t *job = arg;
    const Bitdex__V1__WatchRequest *req = job->req;
    watch_subscriber_t sub = {req->reader_id, 0, req->n_indexes == 0};
    catalog_info_t *infos = NULL;
    watch_start_t *start = NULL;
    char(*paths)[PATH_MAX] = NULL;
    bdx_error_t err = {0};
    size_t n = 0;
    int rc;

    if ((rc = watch_check(req, &sub.heartbeat_ms, &err)) != 0)
        goto out;
    if (req->n_indexes == 0) {
        if ((rc = catalog_list(job->cat, &infos, &n)) != 0) {
            bdx_error_set(&err, rc, "out of memory");
            goto out;
        }
    } else {
        if ((infos = calloc(req->n_indexes, sizeof(*infos))) == NULL) {
            rc = bdx_error_set(&err, -ENOMEM, "out of memory");
            goto out;
        }
        for (; n < req->n_indexes; n++) {
            if ((rc = catalog_get(job->cat, req->indexes[n]->index, &infos[n], &err)) != 0) {
                if (rc == BDX_ENOTFOUND)
                    bdx_error_set(&err, rc, "indexes[%zu].index: index %s not found", n,
                                  req->indexes[n]->index);
                goto out;
            }
        }
    }
    start = calloc(n ? n : 1, sizeof(*start));
    paths = calloc(n ? n : 1, sizeof(*paths));
    if (start == NULL || paths == NULL) {
        rc = bdx_error_set(&err, -ENOMEM, "out of memory");
        goto out;
    }
    for (size_t i = 0; i < n; i++) {
        const catalog_info_t *in = &infos[i];
        snprintf(paths[i], PATH_MAX, CATALOG_GEN_PATH_FMT, in->schema->name,
                 (unsigned long long)in->generation.generation);
        start[i] = (watch_start_t){in->schema->name, in->committed_lsn, in->generation.generation,
                                   in->generation.checkpoint_lsn, paths[i]};
    }
    if (rpc_call_cancelled(call))
        rc = bdx_error_set(&err, BDX_ECANCELLED, "cancelled");
    else
        rc = watch_subscribe(job->ws->watch, call, &sub, start, n, &err);
out:
    if (rc != 0)
        rpc_call_fail_error(call, &err);
    catalog_info_free(infos, n);
    free(start);
    free(paths);
    free(job);
}

static void watch(rpc_call_t *call, const ProtobufCMessage *req, void *ctx)
{
    writer_service_t *ws = ctx;
    catalog_t *cat = gate(ws, call, false);
    watch_job_t *job;

    if (cat == NULL)
        return;
    if (ws->watch == NULL) {
        rpc_call_fail(call, BDX_EUNIMPLEMENTED, "Watch is not enabled in this writer");
        return;
    }
    if ((job = malloc(sizeof(*job))) == NULL) {
        rpc_call_fail(call, -ENOMEM, "out of memory");
        return;
    }
    *job = (watch_job_t){ws, cat, (const Bitdex__V1__WatchRequest *)req};
    if (rpc_call_defer(call, watch_work, NULL, job) != 0) {
        free(job);
        rpc_call_fail(call, BDX_EINTERNAL, "cannot schedule the request");
    }
}

/* ---- handlers ---- */

static void create_index(rpc_call_t *call, const ProtobufCMessage *req, void *ctx)
{
    catalog_t *cat = gate(ctx, call, true);

    if (cat != NULL)
        defer_admin(cat, call, req, do_create);
}

static void drop_index(rpc_call_t *call, const ProtobufCMessage *req, void *ctx)
{
    catalog_t *cat = gate(ctx, call, true);

    if (cat != NULL)
        defer_admin(cat, call, req, do_drop);
}

static void checkpoint(rpc_call_t *call, const ProtobufCMessage *req, void *ctx)
{
    catalog_t *cat = gate(ctx, call, true);

    if (cat != NULL)
        defer_admin(cat, call, req, do_checkpoint);
}

static void list_indexes(rpc_call_t *call, const ProtobufCMessage *req, void *ctx)
{
    catalog_t *cat = gate(ctx, call, false);

    if (cat != NULL)
        defer_admin(cat, call, req, do_list);
}

static void get_index(rpc_call_t *call, const ProtobufCMessage *req, void *ctx)
{
    catalog_t *cat = gate(ctx, call, false);

    if (cat != NULL)
        defer_admin(cat, call, req, do_get);
}

static void apply(rpc_call_t *call, const ProtobufCMessage *req, void *ctx)
{
    catalog_t *cat = gate(ctx, call, true);

    if (cat != NULL)
        defer_admin(cat, call, req, do_apply);
}

/* Methods of later changes: UNAVAILABLE on a standby like every Writer method, else
 * UNIMPLEMENTED. */
static void not_yet(rpc_call_t *call, const ProtobufCMessage *req, void *ctx)
{
    if (gate_state(ctx, call) != NULL)
        rpc_call_fail(call, BDX_EUNIMPLEMENTED, "%s is not implemented by this build",
                      rpc_call_method(call));
}

static const rpc_service_impl_t writer_methods[] = {
    {"CreateIndex", RPC_UNARY, create_index, NULL, NULL},
    {"DropIndex", RPC_UNARY, drop_index, NULL, NULL},
    {"ListIndexes", RPC_UNARY, list_indexes, NULL, NULL},
    {"GetIndex", RPC_UNARY, get_index, NULL, NULL},
    {"Apply", RPC_UNARY, apply, NULL, NULL},
    {"ApplyStream", RPC_CLIENT_STREAMING, apply_stream, apply_stream_recv, apply_stream_end},
    {"Dump", RPC_SERVER_STREAMING, not_yet, NULL, NULL},
    {"RegisterPrefilter", RPC_UNARY, not_yet, NULL, NULL},
    {"UnregisterPrefilter", RPC_UNARY, not_yet, NULL, NULL},
    {"RefreshPrefilter", RPC_UNARY, not_yet, NULL, NULL},
    {"ListPrefilters", RPC_UNARY, not_yet, NULL, NULL},
    {"Checkpoint", RPC_UNARY, checkpoint, NULL, NULL},
    {"GetStats", RPC_UNARY, get_stats, NULL, NULL},
    {"Watch", RPC_SERVER_STREAMING, watch, NULL, NULL},
};

int writer_service_register(writer_service_t *ws, rpc_server_t *server, bdx_error_t *err)
{
    return rpc_service_add(server, &bitdex__v1__writer__descriptor, writer_methods,
                           sizeof(writer_methods) / sizeof(writer_methods[0]), ws, err);
}

/*
 * query_service: handlers of bitdex.v1.Query. See query_service.h.
 *
 * Where the work runs. A Search usually takes well under a millisecond, but its cost grows
 * with the data and the filter: a count over a dense multi-clause filter, a large In list or a
 * BSI top-K on 10M documents takes milliseconds to tens of milliseconds, and GetDocuments may
 * decode up to max_get_documents records. That is far above the ~100 us the rpc layer allows
 * on a completion-queue thread (rpc.h), where it would delay every other call, health checks
 * included. So Search, Count and GetDocuments go through rpc_call_defer() to the blocking pool
 * (the hop costs a few microseconds); ListIndexes and GetIndex only read schemas and cached
 * counts and answer inline.
 *
 * Deadlines. The engine has no work budget and cannot be interrupted, so a deadline is checked
 * where it can change something: before the engine starts (a job that waited in the pool past
 * the caller's deadline is dropped with DEADLINE_EXCEEDED, and one whose call died is not run)
 * and after it returns (no response is built for a call that can no longer receive it).
 */
#include "services/reader/query_service.h"

#include "common/document_pb.h"
#include "common/query_pb.h"
#include "common/rpc_service.h"
#include "common/schema_pb.h"
#include "common/search.h"

#include "bitdex/v1/query.pb-c.h"

#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

/* Ends the call with rc and the message in err when err carries rc. */
static void fail(rpc_call_t *call, int rc, const bdx_error_t *err)
{
    if (err->code == rc && err->msg[0] != '\0')
        rpc_call_fail_error(call, err);
    else
        rpc_call_fail(call, rc, NULL);
}

/* Acquires `index`'s snapshot, checking the name and min_lsn. On error nothing is held. */
static int acquire(const query_source_t *src, const char *index, uint64_t min_lsn,
                   query_snapshot_t *snap, bdx_error_t *err)
{
    int rc;

    if (index == NULL || index[0] == '\0')
        return bdx_error_set(err, BDX_EINVAL, "index: required");
    memset(snap, 0, sizeof(*snap));
    if ((rc = src->acquire(src->ctx, index, snap, err)) != 0)
        return err->code == rc
                   ? rc
                   : bdx_error_set(err, rc, "index \"%s\": %s", index, bdx_strerror(rc));
    if (snap->lsn < min_lsn) {
        rc = bdx_error_set(err, BDX_EUNAVAILABLE,
                           "min_lsn: index \"%s\" on this reader is at LSN %llu, behind min_lsn "
                           "%llu; retry, or ask another reader",
                           index, (unsigned long long)snap->lsn, (unsigned long long)min_lsn);
        src->release(src->ctx, snap);
        return rc;
    }
    return 0;
}

/* After the engine: the reply is pointless once the caller gave up. */
static int check_deadline(rpc_call_t *call, bdx_error_t *err)
{
    if (rpc_call_deadline_passed(call))
        return bdx_error_set(err, BDX_EDEADLINE, "deadline exceeded while the query ran");
    return 0;
}

/* ---- pool work ---- */

static void do_search(const query_source_t *src, rpc_call_t *call, const ProtobufCMessage *msg)
{
    const Bitdex__V1__SearchRequest *req = (const Bitdex__V1__SearchRequest *)msg;
    Bitdex__V1__SearchResponse *resp = NULL;
    search_result_t *res = NULL;
    query_snapshot_t snap;
    query_limits_t ql;
    bdx_error_t err = {0};
    query_t *q = NULL;
    size_t *fields = NULL, nfields = 0;
    int rc;

    if ((rc = acquire(src, req->index, req->min_lsn, &snap, &err)) != 0) {
        fail(call, rc, &err);
        return;
    }
    query_pb_limits(snap.limits, &ql);
    search_options_t opt = {.limits = &ql};
    rc = query_pb_search(req, index_schema(snap.ix), snap.limits, &q, &fields, &nfields, &err);
    if (rc == 0 && (rc = search_run(snap.ix, q, &opt, &res, &err)) != 0)
        query_pb_engine_error(&err);
    if (rc == 0)
        rc = check_deadline(call, &err);
    if (rc == 0)
        rc = query_pb_search_response(snap.ix, q, res, fields, nfields, snap.lsn, &resp, &err);
    src->release(src->ctx, &snap);
    if (rc == 0)
        rpc_call_reply(call, &resp->base);
    else
        fail(call, rc, &err);
    if (resp != NULL)
        protobuf_c_message_free_unpacked(&resp->base, NULL);
    search_result_free(res);
    query_free(q);
    free(fields);
}

static void do_count(const query_source_t *src, rpc_call_t *call, const ProtobufCMessage *msg)
{
    const Bitdex__V1__CountRequest *req = (const Bitdex__V1__CountRequest *)msg;
    Bitdex__V1__CountResponse *resp = NULL;
    explain_t *explain = NULL;
    query_snapshot_t snap;
    query_limits_t ql;
    bdx_error_t err = {0};
    query_t *q = NULL;
    uint64_t count = 0;
    int rc;

    if ((rc = acquire(src, req->index, req->min_lsn, &snap, &err)) != 0) {
        fail(call, rc, &err);
        return;
    }
    query_pb_limits(snap.limits, &ql);
    search_options_t opt = {.limits = &ql};
    rc = query_pb_count(req, index_schema(snap.ix), snap.limits, &q, &err);
    if (rc == 0 && (rc = search_count_explain(snap.ix, q, &opt, &count, &explain, &err)) != 0)
        query_pb_engine_error(&err);
    if (rc == 0)
        rc = check_deadline(call, &err);
    if (rc == 0)
        rc = query_pb_count_response(count, explain, snap.lsn, &resp);
    src->release(src->ctx, &snap);
    if (rc == 0)
        rpc_call_reply(call, &resp->base);
    else
        fail(call, rc, &err);
    if (resp != NULL)
        protobuf_c_message_free_unpacked(&resp->base, NULL);
    explain_free(explain);
    query_free(q);
}

static void do_get_documents(const query_source_t *src, rpc_call_t *call,
                             const ProtobufCMessage *msg)
{
    const Bitdex__V1__GetDocumentsRequest *req = (const Bitdex__V1__GetDocumentsRequest *)msg;
    Bitdex__V1__GetDocumentsResponse *resp = NULL;
    query_snapshot_t snap;
    bdx_error_t err = {0};
    int rc;

    if ((rc = acquire(src, req->index, req->min_lsn, &snap, &err)) != 0) {
        fail(call, rc, &err);
        return;
    }
    rc = document_pb_get(snap.ix, snap.limits, req, snap.lsn, &resp, &err);
    src->release(src->ctx, &snap);
    if (rc == 0)
        rc = check_deadline(call, &err);
    if (rc == 0)
        rpc_call_reply(call, &resp->base);
    else
        fail(call, rc, &err);
    if (resp != NULL)
        protobuf_c_message_free_unpacked(&resp->base, NULL);
}

typedef void (*query_fn)(const query_source_t *src, rpc_call_t *call, const ProtobufCMessage *req);

typedef struct job {
    const query_source_t *src;
    const ProtobufCMessage *req; /* borrowed from the call: valid until it is done */
    query_fn fn;
} job_t;

static void job_work(rpc_call_t *call, void *arg)
{
    job_t *job = arg;

    if (rpc_call_deadline_passed(call))
        rpc_call_fail(call, BDX_EDEADLINE, "deadline exceeded before the query started");
    else if (rpc_call_cancelled(call))
        rpc_call_fail(call, BDX_ECANCELLED, NULL);
    else
        job->fn(job->src, call, job->req);
    free(job);
}

static void defer(rpc_call_t *call, const ProtobufCMessage *req, void *ctx, query_fn fn)
{
    job_t *job = malloc(sizeof(*job));

    if (job == NULL) {
        rpc_call_fail(call, -ENOMEM, "out of memory");
        return;
    }
    *job = (job_t){ctx, req, fn};
    if (rpc_call_defer(call, job_work, NULL, job) != 0) {
        free(job);
        rpc_call_fail(call, BDX_EINTERNAL, "cannot schedule the request");
    }
}

static void search(rpc_call_t *call, const ProtobufCMessage *req, void *ctx)
{
    defer(call, req, ctx, do_search);
}

static void count(rpc_call_t *call, const ProtobufCMessage *req, void *ctx)
{
    defer(call, req, ctx, do_count);
}

static void get_documents(rpc_call_t *call, const ProtobufCMessage *req, void *ctx)
{
    defer(call, req, ctx, do_get_documents);
}

/* ---- index descriptions, inline ---- */

/* Fills `out` from an acquired snapshot; its schema is freed with schema_pb_free() and its
 * name is borrowed from `name`. 0 or -ENOMEM. */
static int info_from(const char *name, const query_snapshot_t *snap, Bitdex__V1__IndexInfo *out)
{
    Bitdex__V1__IndexSchema *schema;
    int rc = schema_pb_from_schema(index_schema(snap->ix), snap->limits, &schema);

    bitdex__v1__index_info__init(out);
    if (rc != 0)
        return rc;
    out->index = (char *)name;
    out->schema = schema;
    out->document_count = index_doc_count(snap->ix);
    out->applied_lsn = snap->lsn;
    out->generation = snap->generation;
    out->checkpoint_lsn = snap->checkpoint_lsn;
    out->committed_lsn = snap->committed_lsn > snap->lsn ? snap->committed_lsn : snap->lsn;
    return 0;
}

static void get_index(rpc_call_t *call, const ProtobufCMessage *msg, void *ctx)
{
    const Bitdex__V1__GetIndexRequest *req = (const Bitdex__V1__GetIndexRequest *)msg;
    const query_source_t *src = ctx;
    Bitdex__V1__GetIndexResponse resp = BITDEX__V1__GET_INDEX_RESPONSE__INIT;
    Bitdex__V1__IndexInfo info;
    query_snapshot_t snap;
    bdx_error_t err = {0};
    int rc;

    if ((rc = acquire(src, req->index, 0, &snap, &err)) != 0) {
        fail(call, rc, &err);
        return;
    }
    rc = info_from(req->index, &snap, &info);
    src->release(src->ctx, &snap);
    if (rc == 0) {
        resp.index = &info;
        rpc_call_reply(call, &resp.base);
    } else {
        rpc_call_fail(call, rc, "out of memory");
    }
    schema_pb_free(info.schema);
}

static void list_indexes(rpc_call_t *call, const ProtobufCMessage *msg, void *ctx)
{
    const query_source_t *src = ctx;
    Bitdex__V1__ListIndexesResponse resp = BITDEX__V1__LIST_INDEXES_RESPONSE__INIT;
    Bitdex__V1__IndexInfo *infos = NULL, **ptrs = NULL;
    bdx_error_t err = {0};
    char **names = NULL;
    size_t n = 0, done = 0;
    int rc = src->list(src->ctx, &names, &n);

    if (rc == 0 && n > 0) {
        infos = calloc(n, sizeof(*infos));
        ptrs = calloc(n, sizeof(*ptrs));
        if (infos == NULL || ptrs == NULL)
            rc = -ENOMEM;
    }
    for (size_t i = 0; rc == 0 && i < n; i++) {
        query_snapshot_t snap;
        rc = acquire(src, names[i], 0, &snap, &err);
        if (rc == BDX_ENOTFOUND) { /* dropped since the listing */
            rc = 0;
            continue;
        }
        if (rc != 0)
            break;
        rc = info_from(names[i], &snap, &infos[done]);
        src->release(src->ctx, &snap);
        if (rc == 0) {
            ptrs[done] = &infos[done];
            done++;
        }
    }
    if (rc == 0) {
        resp.n_indexes = done;
        resp.indexes = ptrs;
        rpc_call_reply(call, &resp.base);
    } else {
        fail(call, rc, &err);
    }
    for (size_t i = 0; i < done; i++)
        schema_pb_free(infos[i].schema);
    for (size_t i = 0; i < n; i++)
        free(names[i]);
    free(names);
    free(ptrs);
    free(infos);
}

static const rpc_service_impl_t query_methods[] = {
    {"Search", RPC_UNARY, search, NULL, NULL},
    {"Count", RPC_UNARY, count, NULL, NULL},
    {"GetDocuments", RPC_UNARY, get_documents, NULL, NULL},
    {"ListIndexes", RPC_UNARY, list_indexes, NULL, NULL},
    {"GetIndex", RPC_UNARY, get_index, NULL, NULL},
    /* ListPrefilters: UNIMPLEMENTED until readers follow prefilters */
};

int query_service_register(rpc_server_t *server, const query_source_t *source, bdx_error_t *err)
{
    return rpc_service_add(server, &bitdex__v1__query__descriptor, query_methods,
                           sizeof(query_methods) / sizeof(query_methods[0]), (void *)source, err);
}

/* ---- the empty source ---- */

static int empty_acquire(void *ctx, const char *index, query_snapshot_t *out, bdx_error_t *err)
{
    return bdx_error_set(err, BDX_ENOTFOUND, "index \"%s\" not found: this reader serves no index",
                         index);
}

static void empty_release(void *ctx, query_snapshot_t *snap)
{
}

static int empty_list(void *ctx, char ***names, size_t *count)
{
    *names = NULL;
    *count = 0;
    return 0;
}

static const query_source_t empty_source = {empty_acquire, empty_release, empty_list, NULL};

const query_source_t *query_service_empty_source(void)
{
    return &empty_source;
}

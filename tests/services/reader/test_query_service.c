/*
 * Tests services/reader/query_service.c end to end over gRPC: a server on port 0 with the Query
 * service over a test source holding one random index, called through the test client. Search
 * (every sort and direction, full pagination through cursors, include_total), Count and
 * GetDocuments are compared with a brute-force model of the documents inserted (heavy ties on
 * the sort values, extreme values and ids up to 2^32 - 1, nulls, deleted documents, empty
 * results, stored fields of every type some documents lack, set by a put and then merged, the
 * Null marker removing some); the model evaluates the Filter messages themselves, independently
 * of the translation, and checks every hit's stored fields (SearchRequest.fields in request
 * order) and every document's. Also the status codes: INVALID_ARGUMENT, NOT_FOUND, UNAVAILABLE,
 * UNIMPLEMENTED. The seed is printed (BITDEX_TEST_SEED to replay).
 */
#include "common/index.h"
#include "common/limits.h"
#include "common/rpc.h"
#include "services/reader/query_service.h"
#include "tests/common/filter_build.h"
#include "tests/common/rpc_client.h"

#include "bitdex/v1/query.pb-c.h"

#include <criterion/criterion.h>
#include <inttypes.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* ---- the model ---- */

enum {
    F_NSFW,
    F_TAGS,
    F_MODEL,
    F_FLAG,
    F_BLOCKED,
    NF
};
enum {
    S_A,
    S_B,
    S_C,
    NS
};
static const char *const FNAMES[NF] = {"nsfw", "tags", "model", "flag", "blocked"};
static const char *const SNAMES[NS] = {"a", "b", "c"};
static const char *const STRS[] = {"", "alpha", "beta", "gamma \"q\""};
#define NSTRS 4
#define MAXV 8

/* Stored fields, one per type the schema has (bytes and double are not schema types yet). */
enum {
    T_URL,
    T_WIDTH,
    T_SAFE,
    T_CAPTION,
    NT
};
static const char *const TNAMES[NT] = {"url", "width", "safe", "caption"};
static const schema_field_type_t TTYPES[NT] = {SCHEMA_STRING, SCHEMA_INT, SCHEMA_BOOL,
                                               SCHEMA_STRING};
static const char *const TSTRS[] = {"", "https://x/1.png", "\xc3\xa9t\xc3\xa9 \"q\"\n",
                                    "a longer caption, long enough to need a two-byte length: "
                                    "0123456789012345678901234567890123456789012345678901234567890"
                                    "123456789012345678901234567890123456789"};
#define NTSTRS 4

typedef struct mdoc {
    uint32_t id;
    bool alive;
    int64_t v[NF][MAXV]; /* ints, bools (0/1), string indexes into STRS */
    size_t n[NF];        /* 0 = no value (null) */
    bool has[NS];
    uint64_t s[NS];
    bool st_has[NT]; /* stored fields */
    int64_t st[NT];  /* ints, bools (0/1), string indexes into TSTRS */
} mdoc_t;

typedef struct rng {
    uint64_t s;
} rng_t;

static uint64_t rnd(rng_t *r)
{
    r->s += UINT64_C(0x9e3779b97f4a7c15);
    uint64_t z = r->s;
    z = (z ^ (z >> 30)) * UINT64_C(0xbf58476d1ce4e5b9);
    z = (z ^ (z >> 27)) * UINT64_C(0x94d049bb133111eb);
    return z ^ (z >> 31);
}

static uint64_t below(rng_t *r, uint64_t n)
{
    return rnd(r) % n;
}

static bool chance(rng_t *r, unsigned pct)
{
    return below(r, 100) < pct;
}

static mdoc_t *docs;
static size_t ndocs;
static index_t *ix;
static limits_t limits;
static rng_t rng;
static uint64_t seed;
static rpc_server_t *server;
static rpc_client_t client;
static atomic_long held; /* snapshots acquired and not released */

#define LSN 42
#define TOP_ID 4294967295u

static const uint64_t BIG[] = {
    0, 1, UINT64_MAX, UINT64_MAX - 1, (uint64_t)INT64_MAX, (uint64_t)INT64_MAX + 1};

/* A random value of stored field k into the model. */
static void rand_stored(mdoc_t *d, int k)
{
    d->st_has[k] = true;
    switch (TTYPES[k]) {
    case SCHEMA_INT:
        d->st[k] = chance(&rng, 20) ? (int64_t[]){0, -1, INT64_MIN, INT64_MAX}[below(&rng, 4)]
                                    : (int64_t)below(&rng, 5000) - 100;
        break;
    case SCHEMA_BOOL:
        d->st[k] = (int64_t)below(&rng, 2);
        break;
    default:
        d->st[k] = (int64_t)below(&rng, NTSTRS);
        break;
    }
}

static void build_model(void)
{
    size_t cap = 1500;
    docs = calloc(cap, sizeof(*docs));
    cr_assert(docs);
    /* a dense run, a sparse tail and the extreme ids (ascending: find_doc() bisects) */
    for (uint32_t id = 0; ndocs < cap - 4;
         id += 1 + (uint32_t)(ndocs > 1000 ? below(&rng, 5000) : 0))
        docs[ndocs++].id = id;
    docs[ndocs++].id = UINT32_C(1) << 31;
    docs[ndocs++].id = TOP_ID - 1;
    docs[ndocs++].id = TOP_ID;
    for (size_t i = 0; i < ndocs; i++) {
        mdoc_t *d = &docs[i];
        d->alive = true;
        d->n[F_NSFW] = 1;
        d->v[F_NSFW][0] = (int64_t[]){-1, 0, 1, 2, 4, INT64_MIN, INT64_MAX}[below(&rng, 7)];
        d->n[F_TAGS] = below(&rng, 4); /* 0: null */
        for (size_t k = 0; k < d->n[F_TAGS]; k++) {
            int64_t t = (int64_t)below(&rng, 10);
            bool dup = false;
            for (size_t j = 0; j < k; j++)
                dup = dup || d->v[F_TAGS][j] == t;
            if (dup)
                d->n[F_TAGS]--, k--;
            else
                d->v[F_TAGS][k] = t;
        }
        d->n[F_MODEL] = 1;
        d->v[F_MODEL][0] = (int64_t)below(&rng, NSTRS);
        d->n[F_FLAG] = 1;
        d->v[F_FLAG][0] = (int64_t)below(&rng, 2);
        d->n[F_BLOCKED] = chance(&rng, 60) ? 0 : 1;
        d->v[F_BLOCKED][0] = 1 + (int64_t)below(&rng, 2);
        d->has[S_A] = chance(&rng, 85);
        d->s[S_A] = d->has[S_A] ? below(&rng, 6) : 0; /* heavy ties */
        d->has[S_B] = chance(&rng, 70);
        d->s[S_B] = !d->has[S_B] ? 0 : chance(&rng, 50) ? BIG[below(&rng, 6)] : rnd(&rng);
        d->has[S_C] = d->has[S_A] || d->has[S_B];
        d->s[S_C] = d->s[S_A] > d->s[S_B] ? d->s[S_A] : d->s[S_B];
        for (int k = 0; k < NT; k++)
            if (chance(&rng, 70))
                rand_stored(d, k);
    }
}

static void put(const mdoc_t *d)
{
    index_doc_filter_t f[NF] = {0};
    index_doc_sort_t s[NS] = {0};
    const char *strs[NF][MAXV];
    bdx_error_t err = {0};

    for (int k = 0; k < NF; k++) {
        f[k].present = true;
        f[k].values.count = d->n[k];
        if (k == F_MODEL || k == F_BLOCKED) {
            for (size_t j = 0; j < d->n[k]; j++)
                strs[k][j] = STRS[d->v[k][j]];
            f[k].values.strings = strs[k];
        } else {
            f[k].values.ints = d->v[k];
        }
    }
    f[F_BLOCKED].null = d->n[F_BLOCKED] == 0 && chance(&rng, 50); /* explicit or left out */
    f[F_BLOCKED].present = d->n[F_BLOCKED] > 0 || f[F_BLOCKED].null || chance(&rng, 50);
    for (int k = 0; k < S_C; k++)
        s[k] = (index_doc_sort_t){d->has[k], d->s[k]};
    index_doc_t doc = {f, s};
    cr_assert_eq(index_put(ix, d->id, &doc, &err), 0, "%s", err.msg);
}

/* Writes stored fields of d: with `merge`, a random subset of fields set or removed (Null) over
 * the current blob, else (after a put) every field the model holds. Both go through
 * docstore_merge() and index_set_stored(), the way apply writes them. */
static void store(mdoc_t *d, bool merge)
{
    Bitdex__V1__StoredFieldValue fv[NT], *list[NT];
    Bitdex__V1__StoredValue val[NT];
    docstore_buf_t buf = {0};
    bdx_error_t err = {0};
    const uint8_t *old = NULL;
    size_t n = 0, old_len = 0;
    int order[NT];

    for (int k = 0; k < NT; k++)
        order[k] = k;
    for (int k = NT - 1; k > 0; k--) { /* listed in any order */
        int j = (int)below(&rng, (uint64_t)k + 1), t = order[k];
        order[k] = order[j];
        order[j] = t;
    }
    if (merge)
        old = index_stored(ix, d->id, &old_len);
    for (int o = 0; o < NT; o++) {
        int k = order[o];
        bool null = false;
        if (merge) {
            if (chance(&rng, 50))
                continue;
            if (chance(&rng, 40)) {
                null = true; /* removes the field, or nothing when it has none */
                d->st_has[k] = false;
            } else {
                rand_stored(d, k);
            }
        } else if (!d->st_has[k]) {
            continue;
        }
        bitdex__v1__stored_field_value__init(&fv[n]);
        bitdex__v1__stored_value__init(&val[n]);
        fv[n].field = (char *)TNAMES[k];
        fv[n].value = &val[n];
        if (null) {
            val[n].kind_case = BITDEX__V1__STORED_VALUE__KIND_NULL_VALUE;
        } else if (TTYPES[k] == SCHEMA_INT) {
            val[n].kind_case = BITDEX__V1__STORED_VALUE__KIND_INT_VALUE;
            val[n].int_value = d->st[k];
        } else if (TTYPES[k] == SCHEMA_BOOL) {
            val[n].kind_case = BITDEX__V1__STORED_VALUE__KIND_BOOL_VALUE;
            val[n].bool_value = d->st[k] != 0;
        } else {
            val[n].kind_case = BITDEX__V1__STORED_VALUE__KIND_STRING_VALUE;
            val[n].string_value = (char *)TSTRS[d->st[k]];
        }
        list[n] = &fv[n];
        n++;
    }
    cr_assert_eq(docstore_merge(index_schema(ix), old, old_len, list, n, &buf, &err), 0, "%s",
                 err.msg);
    cr_assert_eq(index_set_stored(ix, d->id, buf.data, buf.len), 0);
    docstore_buf_free(&buf);
}

static schema_t *make_schema(void)
{
    schema_t *s;
    cr_assert_eq(schema_new("images", &s), 0);
    schema_add_filter(s, "nsfw", SCHEMA_INT, false, false);
    schema_add_filter(s, "tags", SCHEMA_INT, true, true);
    schema_add_filter(s, "model", SCHEMA_STRING, false, false);
    schema_add_filter(s, "flag", SCHEMA_BOOL, false, false);
    schema_add_filter(s, "blocked", SCHEMA_STRING, false, true);
    schema_add_sort(s, "a", 3);
    schema_add_sort(s, "b", 64);
    schema_add_computed_sort(s, "c", 64, SCHEMA_COMPUTED_GREATEST, "a", "b");
    for (int k = 0; k < NT; k++)
        schema_add_stored(s, TNAMES[k], TTYPES[k]);
    return s;
}

/* ---- the source ---- */

static int src_acquire(void *ctx, const char *index, query_snapshot_t *out, bdx_error_t *err)
{
    if (strcmp(index, "loading") == 0)
        return bdx_error_set(err, BDX_EUNAVAILABLE, "index \"loading\" is still loading");
    if (strcmp(index, "images") != 0)
        return bdx_error_set(err, BDX_ENOTFOUND, "index \"%s\" not found", index);
    atomic_fetch_add(&held, 1);
    *out = (query_snapshot_t){.ix = ix,
                              .lsn = LSN,
                              .limits = &limits,
                              .generation = 7,
                              .checkpoint_lsn = LSN - 2,
                              .committed_lsn = LSN + 5,
                              .token = ctx};
    return 0;
}

static void src_release(void *ctx, query_snapshot_t *snap)
{
    cr_assert_eq(snap->token, ctx);
    atomic_fetch_sub(&held, 1);
}

static int src_list(void *ctx, char ***names, size_t *count)
{
    /* "gone" is listed but dropped before it is acquired: left out of ListIndexes */
    *names = malloc(2 * sizeof(char *));
    (*names)[0] = strdup("gone");
    (*names)[1] = strdup("images");
    *count = 2;
    return 0;
}

static query_source_t source = {src_acquire, src_release, src_list, &source};

static void setup(void)
{
    bdx_error_t err = {0};
    const char *env = getenv("BITDEX_TEST_SEED");
    seed = env && *env ? strtoull(env, NULL, 0) : (uint64_t)time(NULL);
    fprintf(stderr, "test_query_service: BITDEX_TEST_SEED=%" PRIu64 "\n", seed);
    rng.s = seed;
    limits_defaults(&limits);
    build_model();
    schema_t *s = make_schema();
    cr_assert_eq(index_new(s, &ix, &err), 0, "%s", err.msg);
    schema_free(s);
    for (size_t i = 0; i < ndocs; i++) {
        put(&docs[i]);
        store(&docs[i], false);
    }
    for (size_t i = 0; i < ndocs; i++) { /* deletes, a few replacements, stored-field merges */
        if (chance(&rng, 10)) {
            docs[i].alive = false;
            cr_assert_eq(index_delete(ix, docs[i].id), 0);
            continue;
        }
        if (chance(&rng, 5)) {
            docs[i].s[S_A] = docs[i].has[S_A] ? 7 : 0;
            docs[i].s[S_C] = docs[i].s[S_A] > docs[i].s[S_B] ? docs[i].s[S_A] : docs[i].s[S_B];
            put(&docs[i]); /* removes the stored fields */
            memset(docs[i].st_has, 0, sizeof(docs[i].st_has));
            if (chance(&rng, 50))
                continue;
        }
        if (chance(&rng, 40))
            store(&docs[i], true);
    }
    rpc_server_config_t cfg = {.listen_addr = "127.0.0.1:0", .workers = 2, .grace_ms = 500};
    cr_assert_eq(rpc_server_new(&cfg, &server, &err), 0, "%s", err.msg);
    cr_assert_eq(query_service_register(server, &source, &err), 0, "%s", err.msg);
    cr_assert_eq(rpc_server_start(server, &err), 0, "%s", err.msg);
    rpc_client_open(&client, rpc_server_port(server));
}

static void teardown(void)
{
    rpc_client_close(&client);
    rpc_server_free(server);
    cr_expect_eq(atomic_load(&held), 0, "snapshots still held");
    index_free(ix);
    free(docs);
}

TestSuite(query_service, .init = setup, .fini = teardown, .timeout = 300);

/* ---- calls ---- */

/* One unary call; returns the response (caller frees) or NULL with the status in *st. */
static ProtobufCMessage *call(const char *method, const ProtobufCMessage *req,
                              const ProtobufCMessageDescriptor *desc, grpc_status_code *st,
                              char *details)
{
    rpc_client_result_t res;
    const ProtobufCMessage *reqs[] = {req};
    char path[96];
    ProtobufCMessage *m = NULL;

    snprintf(path, sizeof(path), "/bitdex.v1.Query/%s", method);
    rpc_client_call(&client, path, reqs, 1, NULL, 0, desc, 10000, &res);
    *st = res.status;
    if (details)
        snprintf(details, 512, "%s", res.details);
    if (res.status == GRPC_STATUS_OK && res.n_msgs == 1) {
        m = res.msgs[0];
        res.msgs[0] = NULL;
        res.n_msgs = 0;
    }
    rpc_client_result_free(&res);
    return m;
}

static void expect_status(const char *method, const ProtobufCMessage *req,
                          const ProtobufCMessageDescriptor *desc, grpc_status_code want,
                          const char *substr)
{
    grpc_status_code st;
    char details[512];
    ProtobufCMessage *m = call(method, req, desc, &st, details);
    cr_expect_eq(st, want, "%s: status %d, want %d (%s)", method, st, want, details);
    cr_expect_not_null(strstr(details, substr), "%s: '%s' lacks '%s'", method, details, substr);
    if (m)
        protobuf_c_message_free_unpacked(m, NULL);
}

/* ---- the model's answer to a Filter ---- */

static int field_of(const char *name, bool *is_sort)
{
    for (int k = 0; k < NF; k++)
        if (strcmp(FNAMES[k], name) == 0) {
            *is_sort = false;
            return k;
        }
    for (int k = 0; k < NS; k++)
        if (strcmp(SNAMES[k], name) == 0) {
            *is_sort = true;
            return k;
        }
    return -1; /* id */
}

/* A doc's values of a field, as comparable unsigned keys (ints shifted to keep their order;
 * sort fields and id as they are) or string indexes. */
static size_t doc_values(const mdoc_t *d, const char *name, uint64_t *out, bool *unsig)
{
    bool is_sort;
    int k = field_of(name, &is_sort);
    *unsig = k < 0 || is_sort;
    if (k < 0) {
        out[0] = d->id;
        return 1;
    }
    if (is_sort) {
        out[0] = d->s[k];
        return d->has[k] ? 1 : 0;
    }
    for (size_t j = 0; j < d->n[k]; j++)
        out[j] = (uint64_t)d->v[k][j] ^ (UINT64_C(1) << 63);
    return d->n[k];
}

/* The key of a Value for comparison with doc_values(); strings map to their STRS index or to
 * a key no document has. */
static uint64_t key_of(const Bitdex__V1__Value *v, bool unsig)
{
    switch (v->kind_case) {
    case BITDEX__V1__VALUE__KIND_INT_VALUE:
        return unsig ? (uint64_t)v->int_value : (uint64_t)v->int_value ^ (UINT64_C(1) << 63);
    case BITDEX__V1__VALUE__KIND_BOOL_VALUE:
        return (uint64_t)v->bool_value ^ (UINT64_C(1) << 63);
    default:
        for (int i = 0; i < NSTRS; i++)
            if (strcmp(STRS[i], v->string_value) == 0)
                return (uint64_t)i ^ (UINT64_C(1) << 63);
        return 999;
    }
}

static bool match(const mdoc_t *d, const Bitdex__V1__Filter *f)
{
    uint64_t vals[MAXV], lo = 0, hi = 0;
    size_t n = 0;
    bool unsig, any = false;
    const char *field = NULL;

    switch (f->clause_case) {
    case BITDEX__V1__FILTER__CLAUSE_ALL_OF:
        for (size_t i = 0; i < f->all_of->n_filters; i++)
            if (!match(d, f->all_of->filters[i]))
                return false;
        return true;
    case BITDEX__V1__FILTER__CLAUSE_ANY_OF:
        for (size_t i = 0; i < f->any_of->n_filters; i++)
            if (match(d, f->any_of->filters[i]))
                return true;
        return false;
    case BITDEX__V1__FILTER__CLAUSE_NEGATE:
        return !match(d, f->negate);
    case BITDEX__V1__FILTER__CLAUSE_IS_NULL:
    case BITDEX__V1__FILTER__CLAUSE_IS_NOT_NULL:
        n = doc_values(d, f->is_null->field, vals, &unsig);
        return (n == 0) == (f->clause_case == BITDEX__V1__FILTER__CLAUSE_IS_NULL);
    case BITDEX__V1__FILTER__CLAUSE_IS_IN:
    case BITDEX__V1__FILTER__CLAUSE_NOT_IN:
        n = doc_values(d, f->is_in->field, vals, &unsig);
        for (size_t i = 0; i < n; i++)
            for (size_t j = 0; j < f->is_in->n_values; j++)
                any = any || vals[i] == key_of(f->is_in->values[j], unsig);
        return f->clause_case == BITDEX__V1__FILTER__CLAUSE_IS_IN ? any : n > 0 && !any;
    case BITDEX__V1__FILTER__CLAUSE_BETWEEN:
        n = doc_values(d, f->between->field, vals, &unsig);
        lo = key_of(f->between->lo, unsig);
        hi = key_of(f->between->hi, unsig);
        break;
    default: /* comparisons */
        field = f->eq->field;
        n = doc_values(d, field, vals, &unsig);
        lo = key_of(f->eq->value, unsig);
        if (f->clause_case == BITDEX__V1__FILTER__CLAUSE_EQ ||
            f->clause_case == BITDEX__V1__FILTER__CLAUSE_NEQ) {
            for (size_t i = 0; i < n; i++)
                any = any || vals[i] == lo;
            return f->clause_case == BITDEX__V1__FILTER__CLAUSE_EQ ? any : n > 0 && !any;
        }
        hi = UINT64_MAX;
        if (f->clause_case == BITDEX__V1__FILTER__CLAUSE_GT) {
            if (lo == UINT64_MAX)
                return false;
            lo++;
        } else if (f->clause_case == BITDEX__V1__FILTER__CLAUSE_LT) {
            if (lo == 0)
                return false;
            hi = lo - 1;
            lo = 0;
        } else if (f->clause_case == BITDEX__V1__FILTER__CLAUSE_LTE) {
            hi = lo;
            lo = 0;
        }
        break;
    }
    for (size_t i = 0; i < n; i++)
        any = any || (vals[i] >= lo && vals[i] <= hi);
    return any;
}

/* ---- random filters ---- */

static Bitdex__V1__Value *rand_value(const char *field)
{
    bool is_sort;
    int k = field_of(field, &is_sort);
    if (k < 0)
        return fb_int(chance(&rng, 5)    ? (int64_t)UINT32_MAX
                      : chance(&rng, 10) ? (int64_t)TOP_ID - (int64_t)below(&rng, 2)
                                         : (int64_t)below(&rng, 1600));
    if (is_sort) {
        if (k == S_A)
            return fb_int((int64_t)below(&rng, 8));
        if (chance(&rng, 30))
            return fb_int(INT64_MAX - (int64_t)below(&rng, 2));
        return fb_int((int64_t)(BIG[below(&rng, 6)] & (uint64_t)INT64_MAX));
    }
    switch (k) {
    case F_NSFW:
        return fb_int((int64_t[]){-1, 0, 1, 2, 3, INT64_MIN, INT64_MAX}[below(&rng, 7)]);
    case F_TAGS:
        return fb_int((int64_t)below(&rng, 12));
    case F_FLAG:
        return fb_bool(below(&rng, 2));
    default:
        return fb_str(chance(&rng, 15) ? "nobody has this" : STRS[below(&rng, NSTRS)]);
    }
}

static const char *const ALLF[] = {"nsfw", "tags", "model", "flag", "blocked", "a", "b", "c", "id"};

static Bitdex__V1__Filter *rand_filter(int depth)
{
    const char *field = ALLF[below(&rng, 9)];
    bool ranged = strcmp(field, "model") && strcmp(field, "flag") && strcmp(field, "blocked");
    uint64_t k = below(&rng, depth >= 3 ? 4 : 7);

    if (k == 0) {
        static const Bitdex__V1__Filter__ClauseCase ops[] = {
            BITDEX__V1__FILTER__CLAUSE_EQ, BITDEX__V1__FILTER__CLAUSE_NEQ,
            BITDEX__V1__FILTER__CLAUSE_GT, BITDEX__V1__FILTER__CLAUSE_GTE,
            BITDEX__V1__FILTER__CLAUSE_LT, BITDEX__V1__FILTER__CLAUSE_LTE};
        return fb_cmp(ops[below(&rng, ranged ? 6 : 2)], field, rand_value(field));
    }
    if (k == 1) {
        Bitdex__V1__Value *v[5];
        size_t n = below(&rng, 5);
        for (size_t i = 0; i < n; i++)
            v[i] = rand_value(field);
        return fb_set(chance(&rng, 50) ? BITDEX__V1__FILTER__CLAUSE_IS_IN
                                       : BITDEX__V1__FILTER__CLAUSE_NOT_IN,
                      field, n, v);
    }
    if (k == 2 && ranged)
        return fb_between(field, rand_value(field), rand_value(field));
    if (k <= 3)
        return fb_null_test(chance(&rng, 50) ? BITDEX__V1__FILTER__CLAUSE_IS_NULL
                                             : BITDEX__V1__FILTER__CLAUSE_IS_NOT_NULL,
                            field);
    if (k == 4)
        return fb_not(rand_filter(depth + 1));
    Bitdex__V1__Filter *c[3];
    size_t n = 1 + below(&rng, 3);
    for (size_t i = 0; i < n; i++)
        c[i] = rand_filter(depth + 1);
    return fb_list(k == 5 ? BITDEX__V1__FILTER__CLAUSE_ALL_OF : BITDEX__V1__FILTER__CLAUSE_ANY_OF,
                   n, c);
}

/* ---- Search and Count against the model ---- */

typedef struct row {
    uint32_t id;
    uint64_t value;
} row_t;

static int row_asc(const void *a, const void *b)
{
    const row_t *x = a, *y = b;
    if (x->value != y->value)
        return x->value < y->value ? -1 : 1;
    return x->id < y->id ? -1 : x->id > y->id;
}

static int row_desc(const void *a, const void *b)
{
    return row_asc(b, a);
}

/* The model document of `id`, or NULL (docs are in ascending id order). */
static const mdoc_t *find_doc(uint32_t id)
{
    size_t lo = 0, hi = ndocs;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (docs[mid].id < id)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo < ndocs && docs[lo].id == id ? &docs[lo] : NULL;
}

/* A random choice of stored fields, in random order, into names (the request) and want (the
 * model's indexes, in the same order); returns how many. */
static size_t rand_stored_names(char **names, int *want)
{
    size_t n = 0;
    for (int k = 0; k < NT; k++)
        if (chance(&rng, 50))
            want[n++] = k;
    for (size_t i = n; i > 1; i--) {
        size_t j = below(&rng, i);
        int t = want[i - 1];
        want[i - 1] = want[j];
        want[j] = t;
    }
    for (size_t i = 0; i < n; i++)
        names[i] = (char *)TNAMES[want[i]];
    return n;
}

/* The stored fields `got` of document d must be exactly the fields want[0..nwant) it holds, in
 * that order, with the model's values. */
static void check_stored(const mdoc_t *d, Bitdex__V1__StoredFieldValue *const *got, size_t n_got,
                         const int *want, size_t nwant, const char *what)
{
    size_t g = 0;
    for (size_t i = 0; i < nwant; i++) {
        int k = want[i];
        if (!d->st_has[k])
            continue;
        cr_assert_lt(g, n_got, "seed %" PRIu64 ": %s of id %u lacks stored field %s", seed, what,
                     d->id, TNAMES[k]);
        const Bitdex__V1__StoredFieldValue *f = got[g++];
        cr_assert_str_eq(f->field, TNAMES[k], "seed %" PRIu64 ": %s of id %u: field %zu", seed,
                         what, d->id, g - 1);
        cr_assert_not_null(f->value);
        switch (TTYPES[k]) {
        case SCHEMA_INT:
            cr_assert_eq(f->value->kind_case, BITDEX__V1__STORED_VALUE__KIND_INT_VALUE);
            cr_assert_eq(f->value->int_value, d->st[k], "seed %" PRIu64 ": %s of id %u: %s", seed,
                         what, d->id, TNAMES[k]);
            break;
        case SCHEMA_BOOL:
            cr_assert_eq(f->value->kind_case, BITDEX__V1__STORED_VALUE__KIND_BOOL_VALUE);
            cr_assert_eq(f->value->bool_value, d->st[k] != 0, "seed %" PRIu64 ": %s of id %u: %s",
                         seed, what, d->id, TNAMES[k]);
            break;
        default:
            cr_assert_eq(f->value->kind_case, BITDEX__V1__STORED_VALUE__KIND_STRING_VALUE);
            cr_assert_str_eq(f->value->string_value, TSTRS[d->st[k]],
                             "seed %" PRIu64 ": %s of id %u: %s", seed, what, d->id, TNAMES[k]);
            break;
        }
    }
    cr_assert_eq(g, n_got, "seed %" PRIu64 ": %s of id %u: %zu stored fields, want %zu", seed, what,
                 d->id, n_got, g);
}

/* sort: -1 none, -2 id, else a sort field */
static row_t *expected(const Bitdex__V1__Filter *f, int sort, bool desc, size_t *n)
{
    row_t *rows = malloc((ndocs + 1) * sizeof(*rows));
    *n = 0;
    for (size_t i = 0; i < ndocs; i++) {
        if (!docs[i].alive || (f && !match(&docs[i], f)))
            continue;
        rows[*n].id = docs[i].id;
        rows[*n].value = sort >= 0 ? docs[i].s[sort] : docs[i].id;
        (*n)++;
    }
    qsort(rows, *n, sizeof(*rows), sort == -1 || desc ? row_desc : row_asc);
    return rows;
}

static void check_search(Bitdex__V1__Filter *f, int sort, bool desc)
{
    Bitdex__V1__SearchRequest req = BITDEX__V1__SEARCH_REQUEST__INIT;
    Bitdex__V1__Sort s = BITDEX__V1__SORT__INIT;
    size_t nwant, pos = 0;
    row_t *want = expected(f, sort, desc, &nwant);
    uint8_t *cursor = NULL;
    size_t cursor_len = 0;

    req.index = "images";
    req.filter = f;
    if (sort != -1) {
        req.sort = &s;
        s.field = (char *)(sort == -2 ? "id" : SNAMES[sort]);
        s.direction =
            desc ? (chance(&rng, 50) ? BITDEX__V1__SORT_DIRECTION__SORT_DIRECTION_DESC
                                     : BITDEX__V1__SORT_DIRECTION__SORT_DIRECTION_UNSPECIFIED)
                 : BITDEX__V1__SORT_DIRECTION__SORT_DIRECTION_ASC;
    }
    uint64_t maxlim = nwant > 200 ? nwant / 3 : 30;
    for (int page = 0;; page++) {
        grpc_status_code st;
        char details[512], *names[NT];
        int want_st[NT];
        req.n_fields = rand_stored_names(names, want_st); /* may differ from page to page */
        req.fields = names;
        req.limit = chance(&rng, 10) ? 0 : 1 + (uint32_t)below(&rng, maxlim);
        size_t lim = req.limit ? req.limit : 50;
        req.include_total = page == 0 || chance(&rng, 10);
        req.explain = chance(&rng, 5);
        req.cursor.data = cursor;
        req.cursor.len = cursor_len;
        Bitdex__V1__SearchResponse *r = (Bitdex__V1__SearchResponse *)call(
            "Search", &req.base, &bitdex__v1__search_response__descriptor, &st, details);
        cr_assert_eq(st, GRPC_STATUS_OK, "seed %" PRIu64 ": %s", seed, details);
        cr_assert_eq(r->snapshot_lsn, LSN);
        if (req.include_total) {
            cr_assert_not_null(r->total);
            cr_assert_eq(r->total->value, nwant, "seed %" PRIu64 ": total %" PRIu64 " want %zu",
                         seed, r->total->value, nwant);
        } else {
            cr_assert_null(r->total);
        }
        cr_assert_eq(r->explain != NULL, req.explain);
        size_t expect_n = nwant - pos < lim ? nwant - pos : lim;
        cr_assert_eq(r->n_hits, expect_n,
                     "seed %" PRIu64 ": page %d of sort %d desc %d: %zu hits, want %zu", seed, page,
                     sort, desc, r->n_hits, expect_n);
        for (size_t i = 0; i < r->n_hits; i++) {
            cr_assert_eq(r->hits[i]->id, want[pos + i].id,
                         "seed %" PRIu64 ": sort %d desc %d row %zu: id %u want %u", seed, sort,
                         desc, pos + i, r->hits[i]->id, want[pos + i].id);
            cr_assert_eq(r->hits[i]->sort_value, want[pos + i].value,
                         "seed %" PRIu64 ": row %zu value", seed, pos + i);
            check_stored(find_doc(r->hits[i]->id), r->hits[i]->fields, r->hits[i]->n_fields,
                         want_st, req.n_fields, "hit");
        }
        pos += r->n_hits;
        cr_assert_eq(r->next_cursor.len > 0, pos < nwant, "seed %" PRIu64 ": cursor at %zu of %zu",
                     seed, pos, nwant);
        free(cursor);
        cursor = NULL;
        cursor_len = r->next_cursor.len;
        if (cursor_len) {
            cursor = malloc(cursor_len);
            memcpy(cursor, r->next_cursor.data, cursor_len);
        }
        protobuf_c_message_free_unpacked(&r->base, NULL);
        if (cursor_len == 0)
            break;
    }
    free(want);
}

static void check_count(Bitdex__V1__Filter *f)
{
    Bitdex__V1__CountRequest req = BITDEX__V1__COUNT_REQUEST__INIT;
    grpc_status_code st;
    char details[512];
    size_t nwant;
    row_t *want = expected(f, -1, true, &nwant);

    req.index = "images";
    req.filter = f;
    req.explain = chance(&rng, 30);
    req.min_lsn = chance(&rng, 50) ? LSN : 0;
    Bitdex__V1__CountResponse *r = (Bitdex__V1__CountResponse *)call(
        "Count", &req.base, &bitdex__v1__count_response__descriptor, &st, details);
    cr_assert_eq(st, GRPC_STATUS_OK, "%s", details);
    cr_assert_eq(r->count, nwant, "seed %" PRIu64 ": count %" PRIu64 " want %zu", seed, r->count,
                 nwant);
    cr_assert_eq(r->explain != NULL, req.explain);
    if (r->explain)
        cr_expect_eq(r->explain->strategy, BITDEX__V1__SORT_STRATEGY__SORT_STRATEGY_UNSPECIFIED);
    cr_assert_eq(r->snapshot_lsn, LSN);
    protobuf_c_message_free_unpacked(&r->base, NULL);
    free(want);
}

Test(query_service, search_and_count_match_the_model)
{
    size_t nonempty = 0;
    for (int i = 0; i < 40; i++) {
        Bitdex__V1__Filter *f = i == 0 ? NULL : rand_filter(1);
        size_t n;
        free(expected(f, -1, true, &n));
        nonempty += n > 0;
        check_count(f);
        check_search(f, -1, true);
        check_search(f, -2, chance(&rng, 50));
        for (int s = 0; s < NS; s++)
            check_search(f, s, chance(&rng, 50));
        fb_free(f);
    }
    cr_expect_gt(nonempty, 5, "too few non-empty results to mean anything");
}

/* ---- GetDocuments against the model ---- */

static void check_document(const mdoc_t *d, const Bitdex__V1__Document *doc, bool want_f[NF],
                           bool want_s[NS], const int *want_t, size_t nwant_t)
{
    size_t nf = 0, ns = 0;
    for (int k = 0; k < NF; k++) {
        if (!want_f[k] || d->n[k] == 0)
            continue;
        cr_assert_lt(nf, doc->n_filter_fields, "doc %u lacks %s", d->id, FNAMES[k]);
        const Bitdex__V1__FieldValue *fv = doc->filter_fields[nf++];
        cr_assert_str_eq(fv->field, FNAMES[k]);
        size_t n = k == F_TAGS ? fv->n_values : 1;
        cr_assert_eq(n, d->n[k], "doc %u field %s", d->id, FNAMES[k]);
        cr_assert_eq(k == F_TAGS, fv->value == NULL);
        for (size_t j = 0; j < n; j++) {
            const Bitdex__V1__Value *v = k == F_TAGS ? fv->values[j] : fv->value;
            bool found = false;
            for (size_t m = 0; m < d->n[k]; m++) {
                if (k == F_MODEL || k == F_BLOCKED)
                    found = found || strcmp(v->string_value, STRS[d->v[k][m]]) == 0;
                else if (k == F_FLAG)
                    found = found || v->bool_value == (d->v[k][m] != 0);
                else
                    found = found || v->int_value == d->v[k][m];
            }
            cr_assert(found, "doc %u field %s: unexpected value", d->id, FNAMES[k]);
        }
    }
    cr_assert_eq(nf, doc->n_filter_fields, "doc %u: extra filter fields", d->id);
    for (int k = 0; k < NS; k++) {
        if (!want_s[k] || !d->has[k])
            continue;
        cr_assert_lt(ns, doc->n_sort_fields, "doc %u lacks %s", d->id, SNAMES[k]);
        cr_assert_str_eq(doc->sort_fields[ns]->field, SNAMES[k]);
        cr_assert_eq(doc->sort_fields[ns]->value, d->s[k], "doc %u sort %s", d->id, SNAMES[k]);
        ns++;
    }
    cr_assert_eq(ns, doc->n_sort_fields, "doc %u: extra sort fields", d->id);
    check_stored(d, doc->stored_fields, doc->n_stored_fields, want_t, nwant_t, "document");
}

Test(query_service, get_documents_match_the_model)
{
    for (int round = 0; round < 50; round++) {
        Bitdex__V1__GetDocumentsRequest req = BITDEX__V1__GET_DOCUMENTS_REQUEST__INIT;
        uint32_t ids[60];
        char *fields[NF + NS + 2 * NT + 1];
        bool want_f[NF], want_s[NS];
        int want_t[NT];
        size_t nwant_t = NT;
        grpc_status_code st;
        char details[512];

        req.index = "images";
        req.n_ids = 1 + below(&rng, 60);
        for (size_t i = 0; i < req.n_ids; i++)
            ids[i] = i > 0 && chance(&rng, 15) ? ids[below(&rng, i)] /* repeated */
                     : chance(&rng, 10)        ? (uint32_t)below(&rng, 5000000)
                     : chance(&rng, 5)         ? TOP_ID - (uint32_t)below(&rng, 3)
                                               : docs[below(&rng, ndocs)].id;
        req.ids = ids;
        bool all = chance(&rng, 40);
        for (int k = 0; k < NF; k++)
            want_f[k] = all || chance(&rng, 40);
        for (int k = 0; k < NS; k++)
            want_s[k] = all || chance(&rng, 40);
        for (int k = 0; k < NT; k++)
            want_t[k] = k; /* all: schema order */
        if (!all) {        /* sort fields first: each kind keeps its request order */
            for (int k = 0; k < NS; k++)
                if (want_s[k])
                    fields[req.n_fields++] = (char *)SNAMES[k];
            for (int k = 0; k < NF; k++)
                if (want_f[k])
                    fields[req.n_fields++] = (char *)FNAMES[k];
            /* stored fields in random order, interleaved with nothing else; a repeat counts once */
            nwant_t = rand_stored_names(fields + req.n_fields, want_t);
            req.n_fields += nwant_t;
            if (nwant_t > 0 && chance(&rng, 30))
                fields[req.n_fields++] = (char *)TNAMES[want_t[below(&rng, nwant_t)]];
            if (req.n_fields == 0 || chance(&rng, 50))
                fields[req.n_fields++] = "id"; /* alone: no field at all (empty is all) */
            req.fields = fields;
        }
        Bitdex__V1__GetDocumentsResponse *r = (Bitdex__V1__GetDocumentsResponse *)call(
            "GetDocuments", &req.base, &bitdex__v1__get_documents_response__descriptor, &st,
            details);
        cr_assert_eq(st, GRPC_STATUS_OK, "%s", details);
        cr_assert_eq(r->snapshot_lsn, LSN);
        size_t nd = 0, nm = 0;
        for (size_t i = 0; i < req.n_ids; i++) {
            bool first = true;
            for (size_t j = 0; j < i; j++)
                first = first && ids[j] != ids[i];
            if (!first)
                continue;
            const mdoc_t *d = find_doc(ids[i]);
            if (d == NULL || !d->alive) {
                cr_assert_lt(nm, r->n_missing_ids);
                cr_assert_eq(r->missing_ids[nm++], ids[i]);
                continue;
            }
            cr_assert_lt(nd, r->n_documents, "seed %" PRIu64, seed);
            cr_assert_eq(r->documents[nd]->id, ids[i]);
            check_document(d, r->documents[nd++], want_f, want_s, want_t, nwant_t);
        }
        cr_assert_eq(nd, r->n_documents);
        cr_assert_eq(nm, r->n_missing_ids);
        protobuf_c_message_free_unpacked(&r->base, NULL);
    }
}

/* ---- status codes ---- */

Test(query_service, status_codes)
{
    Bitdex__V1__SearchRequest s = BITDEX__V1__SEARCH_REQUEST__INIT;
    Bitdex__V1__CountRequest c = BITDEX__V1__COUNT_REQUEST__INIT;
    Bitdex__V1__GetDocumentsRequest g = BITDEX__V1__GET_DOCUMENTS_REQUEST__INIT;
    Bitdex__V1__GetIndexRequest gi = BITDEX__V1__GET_INDEX_REQUEST__INIT;
    Bitdex__V1__ListPrefiltersRequest lp = BITDEX__V1__LIST_PREFILTERS_REQUEST__INIT;
    Bitdex__V1__Sort sort = BITDEX__V1__SORT__INIT;
    const ProtobufCMessageDescriptor *sd = &bitdex__v1__search_response__descriptor;
    uint32_t ids[1001] = {0};

    expect_status("Search", &s.base, sd, GRPC_STATUS_INVALID_ARGUMENT, "index: required");
    s.index = "nope";
    expect_status("Search", &s.base, sd, GRPC_STATUS_NOT_FOUND, "nope");
    s.index = "loading";
    expect_status("Search", &s.base, sd, GRPC_STATUS_UNAVAILABLE, "still loading");
    s.index = "images";
    s.min_lsn = LSN + 1;
    expect_status("Search", &s.base, sd, GRPC_STATUS_UNAVAILABLE, "behind min_lsn 43");
    s.min_lsn = LSN;
    s.limit = 1001;
    expect_status("Search", &s.base, sd, GRPC_STATUS_INVALID_ARGUMENT,
                  "limit: 1001 exceeds max_page_size 1000");
    s.limit = 0;
    s.filter = fb_cmp(BITDEX__V1__FILTER__CLAUSE_EQ, "nsfw", fb_str("1"));
    expect_status("Search", &s.base, sd, GRPC_STATUS_INVALID_ARGUMENT,
                  "filter.eq.value: field \"nsfw\" is INT, got string");
    fb_free(s.filter);
    s.filter = NULL;
    s.sort = &sort;
    sort.field = "nsfw";
    expect_status("Search", &s.base, sd, GRPC_STATUS_INVALID_ARGUMENT, "sort.field:");
    s.sort = NULL;
    s.fields = (char *[]){"tags"};
    s.n_fields = 1;
    expect_status("Search", &s.base, sd, GRPC_STATUS_INVALID_ARGUMENT, "fields[0]:");
    s.fields = (char *[]){"width", "url", "width"};
    s.n_fields = 3;
    expect_status("Search", &s.base, sd, GRPC_STATUS_INVALID_ARGUMENT,
                  "fields[2]: \"width\" repeats fields[0]");
    s.fields = (char *[]){"url", "nope"};
    s.n_fields = 2;
    expect_status("Search", &s.base, sd, GRPC_STATUS_INVALID_ARGUMENT,
                  "fields[1]: unknown stored field \"nope\"");
    s.n_fields = 0;
    uint8_t junk[5] = {1, 2, 3, 4, 5};
    s.cursor.data = junk;
    s.cursor.len = 5;
    expect_status("Search", &s.base, sd, GRPC_STATUS_INVALID_ARGUMENT, "cursor: ");

    /* a cursor of another query (another sort direction) */
    grpc_status_code st;
    s.cursor.len = 0;
    s.limit = 1;
    s.sort = &sort;
    sort.field = "a";
    sort.direction = BITDEX__V1__SORT_DIRECTION__SORT_DIRECTION_ASC;
    Bitdex__V1__SearchResponse *r =
        (Bitdex__V1__SearchResponse *)call("Search", &s.base, sd, &st, NULL);
    cr_assert_eq(st, GRPC_STATUS_OK);
    cr_assert_gt(r->next_cursor.len, 0);
    s.cursor = r->next_cursor;
    sort.direction = BITDEX__V1__SORT_DIRECTION__SORT_DIRECTION_DESC;
    expect_status("Search", &s.base, sd, GRPC_STATUS_INVALID_ARGUMENT,
                  "cursor: cursor does not belong to this query");
    sort.direction = BITDEX__V1__SORT_DIRECTION__SORT_DIRECTION_ASC;
    expect_status("Search", &s.base, sd, GRPC_STATUS_OK, "");
    protobuf_c_message_free_unpacked(&r->base, NULL);

    c.index = "images";
    c.filter = fb_prefilter("safe");
    expect_status("Count", &c.base, &bitdex__v1__count_response__descriptor,
                  GRPC_STATUS_INVALID_ARGUMENT, "filter.prefilter: prefilter \"safe\"");
    fb_free(c.filter);
    c.filter = NULL;
    c.min_lsn = 1000;
    expect_status("Count", &c.base, &bitdex__v1__count_response__descriptor,
                  GRPC_STATUS_UNAVAILABLE, "min_lsn");

    const ProtobufCMessageDescriptor *gd = &bitdex__v1__get_documents_response__descriptor;
    g.index = "images";
    expect_status("GetDocuments", &g.base, gd, GRPC_STATUS_INVALID_ARGUMENT, "ids: required");
    g.ids = ids;
    g.n_ids = 1001;
    expect_status("GetDocuments", &g.base, gd, GRPC_STATUS_INVALID_ARGUMENT,
                  "ids: 1001 ids exceed max_get_documents 1000");
    g.n_ids = 1000; /* all the same id: answered once */
    g.fields = (char *[]){"a", "what"};
    g.n_fields = 2;
    expect_status("GetDocuments", &g.base, gd, GRPC_STATUS_INVALID_ARGUMENT,
                  "fields[1]: unknown field \"what\"");
    g.n_fields = 1;
    Bitdex__V1__GetDocumentsResponse *gr =
        (Bitdex__V1__GetDocumentsResponse *)call("GetDocuments", &g.base, gd, &st, NULL);
    cr_assert_eq(st, GRPC_STATUS_OK);
    cr_expect_eq(gr->n_documents + gr->n_missing_ids, 1);
    protobuf_c_message_free_unpacked(&gr->base, NULL);
    g.index = "nope";
    expect_status("GetDocuments", &g.base, gd, GRPC_STATUS_NOT_FOUND, "nope");

    expect_status("GetIndex", &gi.base, &bitdex__v1__get_index_response__descriptor,
                  GRPC_STATUS_INVALID_ARGUMENT, "index: required");
    gi.index = "nope";
    expect_status("GetIndex", &gi.base, &bitdex__v1__get_index_response__descriptor,
                  GRPC_STATUS_NOT_FOUND, "nope");
    lp.index = "images";
    expect_status("ListPrefilters", &lp.base, &bitdex__v1__list_prefilters_response__descriptor,
                  GRPC_STATUS_UNIMPLEMENTED, "not implemented");
}

Test(query_service, list_and_get_index)
{
    Bitdex__V1__ListIndexesRequest lr = BITDEX__V1__LIST_INDEXES_REQUEST__INIT;
    Bitdex__V1__GetIndexRequest gr = BITDEX__V1__GET_INDEX_REQUEST__INIT;
    grpc_status_code st;
    char details[512];
    size_t live = 0;

    for (size_t i = 0; i < ndocs; i++)
        live += docs[i].alive;
    Bitdex__V1__ListIndexesResponse *l = (Bitdex__V1__ListIndexesResponse *)call(
        "ListIndexes", &lr.base, &bitdex__v1__list_indexes_response__descriptor, &st, details);
    cr_assert_eq(st, GRPC_STATUS_OK, "%s", details);
    cr_assert_eq(l->n_indexes, 1); /* "gone" left out */
    cr_expect_str_eq(l->indexes[0]->index, "images");
    cr_expect_eq(l->indexes[0]->document_count, live);
    cr_expect_eq(l->indexes[0]->applied_lsn, LSN);
    protobuf_c_message_free_unpacked(&l->base, NULL);

    gr.index = "images";
    Bitdex__V1__GetIndexResponse *g = (Bitdex__V1__GetIndexResponse *)call(
        "GetIndex", &gr.base, &bitdex__v1__get_index_response__descriptor, &st, details);
    cr_assert_eq(st, GRPC_STATUS_OK, "%s", details);
    cr_expect_str_eq(g->index->index, "images");
    cr_expect_eq(g->index->document_count, live);
    cr_expect_eq(g->index->applied_lsn, LSN);
    cr_expect_eq(g->index->generation, 7);
    cr_expect_eq(g->index->checkpoint_lsn, LSN - 2);
    cr_expect_eq(g->index->committed_lsn, LSN + 5);
    cr_assert_not_null(g->index->schema);
    cr_expect_eq(g->index->schema->n_filter_fields, NF);
    cr_expect_eq(g->index->schema->n_sort_fields, NS);
    cr_expect_str_eq(g->index->schema->sort_fields[2]->name, "c");
    cr_assert_not_null(g->index->schema->limits);
    cr_expect_eq(g->index->schema->limits->max_page_size, 1000);
    protobuf_c_message_free_unpacked(&g->base, NULL);
}

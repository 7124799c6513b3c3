/*
 * Tests services/reader/replica.c and follow.c: a writer thread appends seeded random batches
 * (Put/Merge/Delete/Set/Add/Remove over a small schema, heavy ties) to a WAL, a follower applies
 * them into a replica, and query threads continuously acquire snapshots and check each against a
 * model *at the snapshot's LSN* (the model of every LSN is computed before the run): doc count,
 * one filter's exact slot set, one sorted page's values, the snapshot unchanged while held, LSNs
 * never going backwards and never past the committed bound. Then the same under repeated
 * replica_switch() (old pairs freed: ASan's leak check), the unit rules of replica_apply(), and
 * figures: replica_apply() throughput and acquire/release cost. BITDEX_TEST_SEED reproduces a
 * run. Every thread is joined before a test returns.
 */
#include <criterion/criterion.h>
#include <dirent.h>
#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "common/apply.h"
#include "common/error.h"
#include "common/log.h"
#include "common/search.h"
#include "common/wal.h"
#include "services/reader/follow.h"
#include "services/reader/replica.h"

/* ---- ApplyRequest builders (malloc'ed; freed with free_unpacked) ---- */

static void *dup_init(const void *init, size_t size)
{
    void *p = malloc(size);
    cr_assert_not_null(p);
    memcpy(p, init, size);
    return p;
}
#define NEW(T, INIT) ((T *)dup_init(&(T)INIT, sizeof(T)))
#define PUSH(arr, n, x)                                     \
    do {                                                    \
        (arr) = realloc((arr), ((n) + 1) * sizeof(*(arr))); \
        (arr)[(n)++] = (x);                                 \
    } while (0)

static Bitdex__V1__Value *v_int(int64_t x)
{
    Bitdex__V1__Value *v = NEW(Bitdex__V1__Value, BITDEX__V1__VALUE__INIT);
    v->kind_case = BITDEX__V1__VALUE__KIND_INT_VALUE;
    v->int_value = x;
    return v;
}

static Bitdex__V1__FieldValue *fv_level(int64_t level)
{
    Bitdex__V1__FieldValue *f = NEW(Bitdex__V1__FieldValue, BITDEX__V1__FIELD_VALUE__INIT);
    f->field = strdup("nsfwLevel");
    f->value = v_int(level);
    return f;
}

static Bitdex__V1__FieldValue *fv_tags(unsigned set, int ntags)
{
    Bitdex__V1__FieldValue *f = NEW(Bitdex__V1__FieldValue, BITDEX__V1__FIELD_VALUE__INIT);
    f->field = strdup("tagIds");
    for (int t = 0; t < ntags; t++)
        if (set & (1u << t))
            PUSH(f->values, f->n_values, v_int(t));
    return f;
}

static Bitdex__V1__SortFieldValue *sv_react(uint64_t x)
{
    Bitdex__V1__SortFieldValue *s =
        NEW(Bitdex__V1__SortFieldValue, BITDEX__V1__SORT_FIELD_VALUE__INIT);
    s->field = strdup("reactionCount");
    s->kind_case = BITDEX__V1__SORT_FIELD_VALUE__KIND_VALUE;
    s->value = x;
    return s;
}

static Bitdex__V1__Document *doc(uint32_t id)
{
    Bitdex__V1__Document *d = NEW(Bitdex__V1__Document, BITDEX__V1__DOCUMENT__INIT);
    d->id = id;
    return d;
}

static Bitdex__V1__Op *op_doc(bool merge, Bitdex__V1__Document *d)
{
    Bitdex__V1__Op *op = NEW(Bitdex__V1__Op, BITDEX__V1__OP__INIT);
    if (merge) {
        op->op_case = BITDEX__V1__OP__OP_MERGE;
        op->merge = NEW(Bitdex__V1__MergeOp, BITDEX__V1__MERGE_OP__INIT);
        op->merge->document = d;
    } else {
        op->op_case = BITDEX__V1__OP__OP_PUT;
        op->put = NEW(Bitdex__V1__PutOp, BITDEX__V1__PUT_OP__INIT);
        op->put->document = d;
    }
    return op;
}

static Bitdex__V1__Op *op_delete(uint32_t id)
{
    Bitdex__V1__Op *op = NEW(Bitdex__V1__Op, BITDEX__V1__OP__INIT);
    op->op_case = BITDEX__V1__OP__OP_DELETE;
    op->delete_ = NEW(Bitdex__V1__DeleteOp, BITDEX__V1__DELETE_OP__INIT);
    op->delete_->id = id;
    return op;
}

static Bitdex__V1__Op *op_set_sort(uint32_t id, uint64_t x)
{
    Bitdex__V1__Op *op = NEW(Bitdex__V1__Op, BITDEX__V1__OP__INIT);
    op->op_case = BITDEX__V1__OP__OP_SET;
    op->set = NEW(Bitdex__V1__SetOp, BITDEX__V1__SET_OP__INIT);
    op->set->id = id;
    op->set->field_case = BITDEX__V1__SET_OP__FIELD_SORT;
    op->set->sort = sv_react(x);
    return op;
}

static Bitdex__V1__Op *op_set_level(uint32_t id, int64_t level)
{
    Bitdex__V1__Op *op = op_set_sort(id, 0);
    protobuf_c_message_free_unpacked(&op->set->sort->base, NULL);
    op->set->field_case = BITDEX__V1__SET_OP__FIELD_FILTER;
    op->set->filter = fv_level(level);
    return op;
}

static Bitdex__V1__Op *op_multi(bool remove, uint32_t id, int64_t tag)
{
    Bitdex__V1__Op *op = NEW(Bitdex__V1__Op, BITDEX__V1__OP__INIT);
    Bitdex__V1__MultiValueOp *m = NEW(Bitdex__V1__MultiValueOp, BITDEX__V1__MULTI_VALUE_OP__INIT);
    m->id = id;
    m->field = strdup("tagIds");
    PUSH(m->values, m->n_values, v_int(tag));
    op->op_case = remove ? BITDEX__V1__OP__OP_REMOVE : BITDEX__V1__OP__OP_ADD;
    if (remove)
        op->remove = m;
    else
        op->add = m;
    return op;
}

/* ---- schema, model, batches ---- */

#define NIDS 48
#define NTAGS 6
#define NLEVELS 4
#define NREACT 8

static schema_t *make_schema(void)
{
    schema_t *s;
    cr_assert_eq(schema_new("images", &s), 0);
    cr_assert_eq(schema_add_filter(s, "nsfwLevel", SCHEMA_INT, false, false), 0);
    cr_assert_eq(schema_add_filter(s, "tagIds", SCHEMA_INT, true, false), 0);
    cr_assert_eq(schema_add_sort(s, "reactionCount", 8), 0);
    return s;
}

typedef struct mdoc {
    bool alive;
    int64_t level;
    unsigned tags;
    uint64_t react; /* 0 when none: sorts as 0 */
} mdoc_t;

typedef struct model {
    mdoc_t d[NIDS];
} model_t;

static uint64_t rng;
static uint64_t rnd(void)
{
    uint64_t z = (rng += 0x9E3779B97F4A7C15ULL);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
    return z ^ (z >> 31);
}

static uint64_t seed_from_env(void)
{
    const char *s = getenv("BITDEX_TEST_SEED");
    return s != NULL ? strtoull(s, NULL, 0) : (uint64_t)time(NULL) ^ (uint64_t)getpid();
}

/* One random batch of 1..8 ops over ids [0, nids), applied to *m as apply.c does. */
static Bitdex__V1__ApplyRequest *random_batch(mdoc_t *m, uint32_t nids, uint32_t maxops)
{
    Bitdex__V1__ApplyRequest *r = NEW(Bitdex__V1__ApplyRequest, BITDEX__V1__APPLY_REQUEST__INIT);
    uint32_t nops = 1 + (uint32_t)(rnd() % maxops);

    r->index = strdup("images");
    for (uint32_t k = 0; k < nops; k++) {
        uint32_t id = (uint32_t)(rnd() % nids);
        mdoc_t *d = &m[id];
        unsigned tags = (unsigned)(rnd() % (1u << NTAGS));
        int64_t level = (int64_t)(rnd() % NLEVELS), tag = (int64_t)(rnd() % NTAGS);
        uint64_t react = rnd() % NREACT;
        Bitdex__V1__Op *op;
        switch (rnd() % 7) {
        case 0:
            op = op_doc(false, doc(id));
            PUSH(op->put->document->filter_fields, op->put->document->n_filter_fields,
                 fv_level(level));
            PUSH(op->put->document->filter_fields, op->put->document->n_filter_fields,
                 fv_tags(tags, NTAGS));
            PUSH(op->put->document->sort_fields, op->put->document->n_sort_fields, sv_react(react));
            *d = (mdoc_t){true, level, tags, react};
            break;
        case 1:
            op = op_doc(true, doc(id));
            PUSH(op->merge->document->filter_fields, op->merge->document->n_filter_fields,
                 fv_tags(tags, NTAGS));
            if (!d->alive)
                *d = (mdoc_t){true, 0, 0, 0};
            d->tags = tags;
            break;
        case 2:
            op = op_delete(id);
            *d = (mdoc_t){0};
            break;
        case 3:
            op = op_set_sort(id, react);
            if (d->alive)
                d->react = react;
            break;
        case 4:
            op = op_set_level(id, level);
            if (d->alive)
                d->level = level;
            break;
        case 5:
            op = op_multi(false, id, tag);
            if (d->alive)
                d->tags |= 1u << tag;
            break;
        default:
            op = op_multi(true, id, tag);
            if (d->alive)
                d->tags &= ~(1u << tag);
            break;
        }
        PUSH(r->ops, r->n_ops, op);
    }
    return r;
}

/* A run's batches, packed, and the model after each: models[lsn] (models[0] = empty). */
typedef struct script {
    size_t n;
    uint8_t **payload;
    size_t *len;
    model_t *models;
} script_t;

static void script_make(script_t *s, size_t n)
{
    s->n = n;
    s->payload = calloc(n + 1, sizeof(*s->payload));
    s->len = calloc(n + 1, sizeof(*s->len));
    s->models = calloc(n + 1, sizeof(*s->models));
    for (size_t lsn = 1; lsn <= n; lsn++) {
        s->models[lsn] = s->models[lsn - 1];
        Bitdex__V1__ApplyRequest *r = random_batch(s->models[lsn].d, NIDS, 8);
        s->len[lsn] = bitdex__v1__apply_request__get_packed_size(r);
        s->payload[lsn] = malloc(s->len[lsn]);
        bitdex__v1__apply_request__pack(r, s->payload[lsn]);
        protobuf_c_message_free_unpacked(&r->base, NULL);
    }
}

static void script_free(script_t *s)
{
    for (size_t i = 0; i <= s->n; i++)
        free(s->payload[i]);
    free(s->payload);
    free(s->len);
    free(s->models);
}

/* ---- replica load functions ---- */

/* An empty index at LSN 0 for the schema in arg. */
static int load_empty(void *arg, index_t **ix, uint64_t *lsn, bdx_error_t *err)
{
    *lsn = 0;
    return index_new(arg, ix, err);
}

/* ---- files ---- */

static void tmpdir(char *buf, size_t n)
{
    snprintf(buf, n, "/tmp/bitdex-replica-XXXXXX");
    cr_assert_not_null(mkdtemp(buf));
}

static void rm_rf(const char *dir)
{
    DIR *d = opendir(dir);
    struct dirent *e;
    char p[4096];
    if (d == NULL)
        return;
    while ((e = readdir(d)) != NULL) {
        struct stat st;
        if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
            continue;
        snprintf(p, sizeof(p), "%s/%s", dir, e->d_name);
        if (lstat(p, &st) == 0 && S_ISDIR(st.st_mode))
            rm_rf(p);
        else
            unlink(p);
    }
    closedir(d);
    rmdir(dir);
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void sleep_us(long us)
{
    nanosleep(&(struct timespec){us / 1000000, (us % 1000000) * 1000}, NULL);
}

/* ---- checking a snapshot against the model ---- */

typedef struct run {
    script_t script;
    replica_t *rep;
    follow_t *follow;
    schema_t *schema;
    wal_t *wal;
    char dir[256];
    bool bounded;
    atomic_ullong committed; /* bound given to the follower (bounded mode) */
    atomic_bool writer_done, stop;
    atomic_ulong checks, failures, switches, distinct_lsns;
    pthread_mutex_t msg_lock;
    char msg[512];
    uint64_t seed;
} run_t;

static void fail(run_t *r, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void fail(run_t *r, const char *fmt, ...)
{
    va_list ap;
    if (atomic_fetch_add(&r->failures, 1) != 0)
        return;
    pthread_mutex_lock(&r->msg_lock);
    va_start(ap, fmt);
    vsnprintf(r->msg, sizeof(r->msg), fmt, ap);
    va_end(ap);
    pthread_mutex_unlock(&r->msg_lock);
}

static int cmp_u32(const void *a, const void *b)
{
    uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
    return x < y ? -1 : x > y;
}

/* Checks one snapshot; returns false (after fail()) on the first mismatch. */
static bool check_snapshot(run_t *r, const replica_snap_t *s, uint64_t pick)
{
    const model_t *m = &r->script.models[s->lsn];
    uint64_t live = 0, want_n = 0;
    uint32_t want[NIDS];
    uint64_t want_vals[NIDS];
    int64_t tag = (int64_t)(pick % NTAGS), level = (int64_t)((pick / NTAGS) % NLEVELS);
    search_result_t *res = NULL;
    bdx_error_t err = {0};
    bool ok = false;

    for (int i = 0; i < NIDS; i++)
        live += m->d[i].alive;
    if (index_doc_count(s->ix) != live) {
        fail(r, "lsn %llu: doc count %llu, model %llu", (unsigned long long)s->lsn,
             (unsigned long long)index_doc_count(s->ix), (unsigned long long)live);
        return false;
    }

    /* tagIds == tag, no sort: the exact slot set */
    query_t *q = query_new("images");
    query_set_filter(q, query_eq("tagIds", query_int(tag)));
    q->limit = 100;
    if (search_run(s->ix, q, NULL, &res, &err) != 0) {
        fail(r, "lsn %llu: search: %s", (unsigned long long)s->lsn, err.msg);
        goto out;
    }
    for (uint32_t i = 0; i < NIDS; i++)
        if (m->d[i].alive && (m->d[i].tags >> tag & 1))
            want[want_n++] = i;
    qsort(res->slots, res->count, sizeof(uint32_t), cmp_u32);
    if (res->count != want_n || memcmp(res->slots, want, want_n * sizeof(uint32_t)) != 0) {
        fail(r, "lsn %llu: tagIds=%lld gives %zu slots, model %llu", (unsigned long long)s->lsn,
             (long long)tag, res->count, (unsigned long long)want_n);
        goto out;
    }
    search_result_free(res);
    res = NULL;
    query_free(q);

    /* nsfwLevel == level sorted by reactionCount desc: the values in order (ties in any order) */
    q = query_new("images");
    query_set_filter(q, query_eq("nsfwLevel", query_int(level)));
    cr_assert_eq(query_set_sort(q, "reactionCount", true), 0);
    q->limit = 100;
    if (search_run(s->ix, q, NULL, &res, &err) != 0) {
        fail(r, "lsn %llu: sorted search: %s", (unsigned long long)s->lsn, err.msg);
        goto out;
    }
    want_n = 0;
    for (uint32_t i = 0; i < NIDS; i++)
        if (m->d[i].alive && m->d[i].level == level) {
            uint64_t v = m->d[i].react;
            size_t k = want_n++;
            while (k > 0 && want_vals[k - 1] < v) { /* insertion sort, descending */
                want_vals[k] = want_vals[k - 1];
                k--;
            }
            want_vals[k] = v;
        }
    if (res->count != want_n) {
        fail(r, "lsn %llu: nsfwLevel=%lld sorted gives %zu rows, model %llu",
             (unsigned long long)s->lsn, (long long)level, res->count, (unsigned long long)want_n);
        goto out;
    }
    for (size_t i = 0; i < res->count; i++) {
        uint32_t slot = res->slots[i];
        if (res->values[i] != want_vals[i] || slot >= NIDS || !m->d[slot].alive ||
            m->d[slot].level != level || m->d[slot].react != res->values[i]) {
            fail(r, "lsn %llu: sorted row %zu: slot %u value %llu, model value %llu",
                 (unsigned long long)s->lsn, i, slot, (unsigned long long)res->values[i],
                 (unsigned long long)want_vals[i]);
            goto out;
        }
    }
    ok = true;
out:
    search_result_free(res);
    query_free(q);
    return ok;
}

static void *query_thread(void *arg)
{
    run_t *r = arg;
    uint64_t last = 0, pick = (uint64_t)pthread_self();
    while (!atomic_load(&r->stop) && atomic_load(&r->failures) == 0) {
        replica_snap_t s;
        replica_acquire(r->rep, &s);
        uint64_t bound = atomic_load(&r->committed);
        if (s.lsn < last)
            fail(r, "snapshot LSN went back from %llu to %llu", (unsigned long long)last,
                 (unsigned long long)s.lsn);
        else if (s.lsn > r->script.n)
            fail(r, "snapshot LSN %llu past the script", (unsigned long long)s.lsn);
        else if (r->bounded && s.lsn > bound)
            fail(r, "snapshot LSN %llu past the committed bound %llu", (unsigned long long)s.lsn,
                 (unsigned long long)bound);
        else if (check_snapshot(r, &s, pick++)) {
            if ((pick & 7) == 0)
                sched_yield();                 /* let the applier run while we hold the snapshot */
            if (check_snapshot(r, &s, pick++)) /* still the same state */
                atomic_fetch_add(&r->checks, 1);
        }
        if (s.lsn != last)
            atomic_fetch_add(&r->distinct_lsns, 1);
        last = s.lsn;
        replica_release(r->rep, &s);
        /* Leave the CPU now and then: on a loaded 2-core host, 3 spinning query threads would
         * preempt snapshot holders, and the applier waits for them (Left-Right). */
        sleep_us(100);
    }
    return NULL;
}

static void *writer_thread(void *arg)
{
    run_t *r = arg;
    bdx_error_t err = {0};
    for (size_t lsn = 1; lsn <= r->script.n; lsn++) {
        uint64_t got;
        if (wal_append(r->wal, r->script.payload[lsn], r->script.len[lsn], &got, &err) != 0 ||
            got != lsn) {
            fail(r, "wal_append %zu: %s", lsn, err.msg);
            break;
        }
        if (r->bounded && (rnd() % 4 == 0 || lsn == r->script.n)) {
            /* the committed bound lags behind the appends, like the writer's group commit */
            atomic_store(&r->committed, lsn);
            follow_set_committed(r->follow, lsn);
        }
        if (rnd() % 8 == 0)
            sleep_us((long)(rnd() % 2000));
    }
    atomic_store(&r->writer_done, true);
    return NULL;
}

static void *switch_thread(void *arg)
{
    run_t *r = arg;
    while (!atomic_load(&r->writer_done) && atomic_load(&r->failures) == 0) {
        bdx_error_t err = {0};
        int rc = follow_switch(r->follow, load_empty, r->schema, &err);
        if (rc != 0)
            fail(r, "follow_switch: %s", err.msg);
        else
            atomic_fetch_add(&r->switches, 1);
        sleep_us(5000);
    }
    return NULL;
}

static void quiet(void)
{
    log_set_level(LOG_ERROR);
}

TestSuite(replica, .init = quiet);

static void run_follow(bool bounded, bool switching, size_t nbatches, int nqueries)
{
    run_t r = {0};
    pthread_t q[8], w, sw;
    bdx_error_t err = {0};
    wal_options_t wo;

    r.seed = seed_from_env();
    rng = r.seed;
    r.bounded = bounded;
    pthread_mutex_init(&r.msg_lock, NULL);
    script_make(&r.script, nbatches);
    r.schema = make_schema();
    tmpdir(r.dir, sizeof(r.dir));
    wal_options_init(&wo);
    wo.create = true;
    wo.segment_size = 16 << 10; /* many segments: the follower crosses segment ends */
    cr_assert_eq(wal_open(r.dir, &wo, &r.wal, NULL, &err), 0, "%s", err.msg);
    cr_assert_eq(replica_open("images", NULL, load_empty, r.schema, &r.rep, &err), 0, "%s",
                 err.msg);
    follow_options_t fo = {.poll_ms = 5};
    cr_assert_eq(follow_start(r.rep, r.dir, &fo, &r.follow, &err), 0, "%s", err.msg);
    if (bounded)
        follow_set_committed(r.follow, 0);

    double t0 = now_s();
    for (int i = 0; i < nqueries; i++)
        cr_assert_eq(pthread_create(&q[i], NULL, query_thread, &r), 0);
    cr_assert_eq(pthread_create(&w, NULL, writer_thread, &r), 0);
    if (switching)
        cr_assert_eq(pthread_create(&sw, NULL, switch_thread, &r), 0);
    pthread_join(w, NULL);
    if (switching)
        pthread_join(sw, NULL);
    int wrc = follow_wait_lsn(r.follow, nbatches, 30000);
    atomic_store(&r.stop, true);
    for (int i = 0; i < nqueries; i++)
        pthread_join(q[i], NULL);
    double dt = now_s() - t0;

    replica_snap_t s;
    replica_acquire(r.rep, &s);
    uint64_t final_lsn = s.lsn;
    bool final_ok = wrc == 0 && check_snapshot(&r, &s, 0);
    replica_release(r.rep, &s);
    int ferr = follow_error(r.follow, &err);
    follow_stop(r.follow);
    replica_stats_t st;
    replica_stats(r.rep, &st);
    bool ready = replica_ready(r.rep);
    replica_close(r.rep);
    wal_close(r.wal);
    rm_rf(r.dir);
    schema_free(r.schema);
    script_free(&r.script);
    pthread_mutex_destroy(&r.msg_lock);

    printf("replica %s%s: %zu batches, %d query threads, %.2fs: %lu snapshot checks over %lu "
           "LSN changes, %lu switches (seed %llu)\n",
           bounded ? "bounded" : "polling", switching ? " + switch" : "", nbatches, nqueries, dt,
           atomic_load(&r.checks), atomic_load(&r.distinct_lsns), atomic_load(&r.switches),
           (unsigned long long)r.seed);
    cr_assert_eq(atomic_load(&r.failures), 0, "seed %llu: %s", (unsigned long long)r.seed, r.msg);
    cr_assert_eq(wrc, 0, "follower stuck at LSN %llu: %s", (unsigned long long)final_lsn, err.msg);
    cr_assert_eq(ferr, 0, "%s", err.msg);
    cr_assert_eq(final_lsn, nbatches);
    cr_assert(final_ok, "seed %llu: final state: %s", (unsigned long long)r.seed, r.msg);
    cr_assert(ready);
    cr_assert_gt(atomic_load(&r.checks), 0);
    cr_assert_gt(atomic_load(&r.distinct_lsns), 1, "the queries never saw the replica advance");
    cr_assert_eq(st.switches, atomic_load(&r.switches));
    cr_assert_eq(st.pairs_freed, st.switches, "old pairs not freed");
    if (switching)
        cr_assert_gt(atomic_load(&r.switches), 0);
    else
        cr_assert_eq(st.frames, nbatches);
}

Test(replica, follows_polling_and_snapshots_match_model)
{
    run_follow(false, false, 4000, 3);
}

Test(replica, follows_committed_bound_only)
{
    run_follow(true, false, 4000, 3);
}

Test(replica, switch_under_load)
{
    run_follow(true, true, 4000, 3);
}

/* ---- replica_apply() rules ---- */

/* An index at LSN 5 (for switch tests). */
static int load_at5(void *arg, index_t **ix, uint64_t *lsn, bdx_error_t *err)
{
    *lsn = 5;
    return index_new(arg, ix, err);
}

static int load_fail(void *arg, index_t **ix, uint64_t *lsn, bdx_error_t *err)
{
    (void)arg, (void)ix, (void)lsn;
    return bdx_error_set(err, BDX_ECORRUPT, "no generation");
}

typedef struct applier {
    replica_t *rep;
    script_t *sc;
    int rc;
} applier_t;

static void *apply_2_to_4(void *arg)
{
    applier_t *a = arg;
    for (uint64_t lsn = 2; lsn <= 4 && a->rc == 0; lsn++)
        a->rc = replica_apply(a->rep, lsn, a->sc->payload[lsn], a->sc->len[lsn], NULL, NULL);
    return NULL;
}

Test(replica, apply_order_skip_gap_and_garbage)
{
    schema_t *schema = make_schema();
    script_t sc;
    replica_t *rep;
    bdx_error_t err = {0};
    bool applied;
    replica_snap_t s;

    rng = seed_from_env();
    script_make(&sc, 4);
    cr_assert_eq(replica_open("images", NULL, load_empty, schema, &rep, &err), 0);
    cr_assert_eq(replica_lsn(rep), 0);
    cr_assert(!replica_ready(rep));
    cr_assert_eq(replica_apply(rep, 2, sc.payload[2], sc.len[2], &applied, &err), BDX_ESTATE);
    cr_assert(strstr(err.msg, "gap") != NULL, "%s", err.msg);
    cr_assert_eq(replica_apply(rep, 1, sc.payload[1], sc.len[1], &applied, &err), 0);
    cr_assert(applied);
    cr_assert_eq(replica_apply(rep, 1, sc.payload[1], sc.len[1], &applied, &err), 0);
    cr_assert(!applied, "an applied LSN is skipped");
    cr_assert_eq(replica_apply(rep, 2, "\xff\xff\xff", 3, &applied, &err), BDX_ECORRUPT);
    cr_assert(!replica_failed(rep), "garbage changes nothing");

    /* a frame apply_check() rejects: a string for an INT field */
    Bitdex__V1__ApplyRequest *bad = random_batch(sc.models[0].d, NIDS, 1);
    Bitdex__V1__Value *v = NEW(Bitdex__V1__Value, BITDEX__V1__VALUE__INIT);
    v->kind_case = BITDEX__V1__VALUE__KIND_STRING_VALUE;
    v->string_value = strdup("x");
    Bitdex__V1__Op *op = op_set_level(0, 0);
    protobuf_c_message_free_unpacked(&op->set->filter->value->base, NULL);
    op->set->filter->value = v;
    PUSH(bad->ops, bad->n_ops, op);
    uint8_t buf[4096];
    size_t n = bitdex__v1__apply_request__pack(bad, buf);
    protobuf_c_message_free_unpacked(&bad->base, NULL);
    cr_assert_eq(replica_apply(rep, 2, buf, n, &applied, &err), BDX_ECORRUPT);
    cr_assert(strstr(err.msg, "nsfwLevel") != NULL, "%s", err.msg);
    cr_assert_eq(replica_lsn(rep), 1);

    /* a snapshot holds its state while another thread applies (which waits for it) */
    replica_acquire(rep, &s);
    cr_assert_eq(s.lsn, 1);
    uint64_t count1 = index_doc_count(s.ix);
    applier_t ap = {rep, &sc, 0};
    pthread_t th;
    cr_assert_eq(pthread_create(&th, NULL, apply_2_to_4, &ap), 0);
    sleep_us(50000);
    cr_assert_eq(s.lsn, 1);
    cr_assert_eq(index_doc_count(s.ix), count1);
    replica_snap_t s2; /* a new query meanwhile sees frame 2, applied to the other instance */
    replica_acquire(rep, &s2);
    cr_assert_eq(s2.lsn, 2);
    uint64_t live2 = 0;
    for (int i = 0; i < NIDS; i++)
        live2 += sc.models[2].d[i].alive;
    cr_assert_eq(index_doc_count(s2.ix), live2);
    replica_release(rep, &s2);
    replica_release(rep, &s);
    pthread_join(th, NULL);
    cr_assert_eq(ap.rc, 0);
    replica_acquire(rep, &s);
    cr_assert_eq(s.lsn, 4);
    replica_release(rep, &s);

    /* switch: a failing load keeps the old pair; a pair behind without catch-up is refused;
     * a pair ahead is taken and the follower would skip up to it */
    cr_assert_eq(replica_switch(rep, load_fail, schema, NULL, NULL, &err), BDX_ECORRUPT);
    cr_assert_eq(replica_switch(rep, load_empty, schema, NULL, NULL, &err), BDX_ESTATE);
    cr_assert_eq(replica_lsn(rep), 4);
    cr_assert_eq(replica_switch(rep, load_at5, schema, NULL, NULL, &err), 0, "%s", err.msg);
    cr_assert_eq(replica_lsn(rep), 5);
    replica_acquire(rep, &s);
    cr_assert_eq(s.lsn, 5);
    cr_assert_eq(index_doc_count(s.ix), 0);
    replica_release(rep, &s);
    replica_stats_t st;
    replica_stats(rep, &st);
    cr_assert_eq(st.frames, 4);
    cr_assert_eq(st.switches, 1);
    cr_assert_eq(st.pairs_freed, 1);
    replica_close(rep);
    schema_free(schema);
    script_free(&sc);
}

/* ---- figures ---- */

#define BENCH_IDS 100000

typedef struct bench_reader {
    replica_t *rep;
    atomic_bool stop;
    atomic_ulong n;
} bench_reader_t;

static void *bench_read(void *arg)
{
    bench_reader_t *b = arg;
    unsigned long n = 0;
    while (!atomic_load(&b->stop)) {
        replica_snap_t s;
        replica_acquire(b->rep, &s);
        (void)index_doc_count(s.ix);
        replica_release(b->rep, &s);
        if ((++n & 1023) == 0)
            sleep_us(50);
    }
    atomic_fetch_add(&b->n, n);
    return NULL;
}

Test(replica, figures)
{
    const size_t nframes = 3000;
    schema_t *schema = make_schema();
    bdx_error_t err = {0};
    replica_t *rep;
    mdoc_t *m = calloc(BENCH_IDS, sizeof(*m));
    uint8_t **payload = calloc(nframes + 1, sizeof(*payload));
    size_t *len = calloc(nframes + 1, sizeof(*len)), ops = 0;

    rng = seed_from_env();
    for (size_t i = 1; i <= nframes; i++) {
        Bitdex__V1__ApplyRequest *r = random_batch(m, BENCH_IDS, 64);
        ops += r->n_ops;
        len[i] = bitdex__v1__apply_request__get_packed_size(r);
        payload[i] = malloc(len[i]);
        bitdex__v1__apply_request__pack(r, payload[i]);
        protobuf_c_message_free_unpacked(&r->base, NULL);
    }
    for (int readers = 0; readers <= 2; readers += 2) {
        bench_reader_t b = {0};
        pthread_t th[2];
        cr_assert_eq(replica_open("images", NULL, load_empty, schema, &rep, &err), 0);
        b.rep = rep;
        for (int i = 0; i < readers; i++)
            pthread_create(&th[i], NULL, bench_read, &b);
        double t0 = now_s();
        for (size_t i = 1; i <= nframes; i++)
            cr_assert_eq(replica_apply(rep, i, payload[i], len[i], NULL, &err), 0, "%s", err.msg);
        double dt = now_s() - t0;
        atomic_store(&b.stop, true);
        for (int i = 0; i < readers; i++)
            pthread_join(th[i], NULL);
        printf("replica_apply: %zu frames, %zu ops (both instances), %d concurrent readers: "
               "%.0f ops/s, %.0f frames/s, %.1f us/frame\n",
               nframes, ops, readers, (double)ops / dt, (double)nframes / dt,
               dt * 1e6 / (double)nframes);

        if (readers == 0) {
            const int iters = 2000000;
            replica_snap_t s;
            t0 = now_s();
            for (int i = 0; i < iters; i++) {
                replica_acquire(rep, &s);
                replica_release(rep, &s);
            }
            dt = now_s() - t0;
            printf("replica_acquire + replica_release: %.1f ns (one thread)\n", dt * 1e9 / iters);
        }
        replica_close(rep);
    }
    for (size_t i = 0; i <= nframes; i++)
        free(payload[i]);
    free(payload);
    free(len);
    free(m);
    schema_free(schema);
}

/* ---- the two loads of a pair run at once ---- */

typedef struct overlap {
    schema_t *schema;
    atomic_int in_flight, calls, overlapped, fail_second;
} overlap_t;

/* Waits (up to 5 s) for the other load of the pair to be in flight too. */
static int load_overlapping(void *arg, index_t **ix, uint64_t *lsn, bdx_error_t *err)
{
    overlap_t *o = arg;
    int call = atomic_fetch_add(&o->calls, 1);

    atomic_fetch_add(&o->in_flight, 1);
    for (int i = 0; i < 5000 && atomic_load(&o->in_flight) < 2; i++)
        usleep(1000);
    if (atomic_load(&o->in_flight) >= 2)
        atomic_fetch_add(&o->overlapped, 1);
    *lsn = 7;
    if (atomic_load(&o->fail_second) && call == 1)
        return bdx_error_set(err, BDX_ECORRUPT, "load %d failed", call);
    return index_new(o->schema, ix, err);
}

Test(replica, pair_loads_run_concurrently)
{
    overlap_t o = {.schema = make_schema()};
    replica_t *rep;
    bdx_error_t err = {0};
    replica_snap_t s;

    cr_assert_eq(replica_open("images", NULL, load_overlapping, &o, &rep, &err), 0, "%s",
                 bdx_error_message(&err));
    cr_assert_eq(atomic_load(&o.calls), 2);
    cr_assert_eq(atomic_load(&o.overlapped), 2, "the two loads of a pair ran one after the other");
    replica_acquire(rep, &s);
    cr_assert_eq(s.lsn, 7);
    replica_release(rep, &s);
    /* a switch loads its pair the same way; one failed load fails the switch, nothing leaks */
    atomic_store(&o.calls, 0);
    atomic_store(&o.in_flight, 0);
    atomic_store(&o.fail_second, 1);
    cr_assert_eq(replica_switch(rep, load_overlapping, &o, NULL, NULL, &err), BDX_ECORRUPT);
    cr_assert(strstr(err.msg, "load 1 failed") != NULL, "%s", err.msg);
    atomic_store(&o.calls, 0);
    atomic_store(&o.in_flight, 0);
    atomic_store(&o.overlapped, 0);
    atomic_store(&o.fail_second, 0);
    cr_assert_eq(replica_switch(rep, load_overlapping, &o, NULL, NULL, &err), 0, "%s",
                 bdx_error_message(&err));
    cr_assert_eq(atomic_load(&o.overlapped), 2);
    replica_close(rep);
    schema_free(o.schema);
}

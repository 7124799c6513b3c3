/*
 * reader: the replicas of one reader process and the thread that keeps the set and their
 * generations current. See reader.h for the contract.
 */
#include "services/reader/reader.h"

#include "common/generation.h"
#include "common/index.h"
#include "common/log.h"
#include "common/schema_file.h"
#include "common/schema_pb.h"
#include "common/wal.h"
#include "services/reader/follow.h"
#include "services/reader/replica.h"
#include "services/reader/watch_client.h"

#include <dirent.h>
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define INDEXES_DIR "indexes"
#define RETRY_MS 5000 /* an index that failed to open is retried this often */

/* One served index. */
typedef struct rindex {
    char *name;
    char *dir; /* <data>/indexes/<name> */
    limits_t limits;
    replica_t *rep;
    follow_t *follow;
    generation_t *gen;   /* generation of the current pair (mapped, pinned), or NULL */
    uint64_t gen_number; /* its number; 0 = none (empty index) */
    /* the same two, for queries (GetIndex): written after a switch, read by any thread */
    _Atomic uint64_t shown_gen, shown_lsn;
    atomic_uint refs; /* queries holding a snapshot */
} rindex_t;

/* An index that could not be opened, retried after RETRY_MS. */
typedef struct broken {
    char name[NAME_MAX + 1];
    struct timespec since;
} broken_t;

/* The committed LSN Watch announced for an index (kept for indexes not open yet). */
typedef struct committed {
    char name[NAME_MAX + 1];
    uint64_t lsn;
} committed_t;

struct reader {
    char *data_dir, *indexes_dir, *writer, *reader_id;
    uint32_t poll_ms;
    bool verify;
    void (*on_ready)(void *);
    void *on_ready_arg;
    query_source_t source;

    pthread_rwlock_t lock; /* guards `ix`/`n` (written by the maintenance thread only) */
    rindex_t **ix;
    size_t n, cap;

    pthread_mutex_t mlock; /* maintenance wake-ups */
    pthread_cond_t wake;
    bool stop, kick, thread_started;
    pthread_t thread;
    atomic_bool ready;

    broken_t *broken; /* maintenance thread only */
    size_t nbroken;

    pthread_mutex_t clock; /* guards `committed` and `watching` */
    committed_t *committed;
    size_t ncommitted;
    bool watching; /* a Watch stream is open: followers are bounded */
    watch_client_t *wc;
};

static int64_t ms_since(const struct timespec *t)
{
    struct timespec now;

    clock_gettime(CLOCK_MONOTONIC, &now);
    return (int64_t)(now.tv_sec - t->tv_sec) * 1000 + (now.tv_nsec - t->tv_nsec) / 1000000;
}

static void kick(reader_t *r)
{
    pthread_mutex_lock(&r->mlock);
    r->kick = true;
    pthread_cond_signal(&r->wake);
    pthread_mutex_unlock(&r->mlock);
}

/* Position of `name` in r->ix, or -1. Under r->lock (or on the maintenance thread). */
static ssize_t find(const reader_t *r, const char *name)
{
    for (size_t i = 0; i < r->n; i++)
        if (strcmp(r->ix[i]->name, name) == 0)
            return (ssize_t)i;
    return -1;
}

/* ---- committed LSNs from Watch ---- */

/* The committed LSN Watch announced for `name`, or FOLLOW_UNBOUNDED (no stream: poll). */
static uint64_t committed_of(reader_t *r, const char *name)
{
    uint64_t lsn = FOLLOW_UNBOUNDED;

    pthread_mutex_lock(&r->clock);
    for (size_t i = 0; r->watching && i < r->ncommitted; i++)
        if (strcmp(r->committed[i].name, name) == 0)
            lsn = r->committed[i].lsn;
    pthread_mutex_unlock(&r->clock);
    return lsn;
}

static void on_connected(void *arg)
{
    reader_t *r = arg;

    pthread_mutex_lock(&r->clock);
    r->watching = true;
    pthread_mutex_unlock(&r->clock);
    log_info("reader", "watching the writer", "writer=%s", r->writer);
}

static void on_disconnected(void *arg, int status, const char *details)
{
    reader_t *r = arg;
    bool was;

    pthread_mutex_lock(&r->clock);
    was = r->watching;
    r->watching = false;
    r->ncommitted = 0;
    pthread_mutex_unlock(&r->clock);
    /* No bound any more: the followers poll the WAL (see follow.h). */
    pthread_rwlock_rdlock(&r->lock);
    for (size_t i = 0; i < r->n; i++)
        follow_set_committed(r->ix[i]->follow, FOLLOW_UNBOUNDED);
    pthread_rwlock_unlock(&r->lock);
    if (was)
        log_warn("reader", "Watch stream lost; polling the files",
                 "writer=%s status=%d error=\"%s\"", r->writer, status,
                 details != NULL ? details : "");
}

static void on_lsn(void *arg, const char *index, uint64_t lsn)
{
    reader_t *r = arg;
    ssize_t pos;
    size_t i;

    pthread_mutex_lock(&r->clock);
    for (i = 0; i < r->ncommitted && strcmp(r->committed[i].name, index) != 0; i++)
        ;
    if (i == r->ncommitted && strlen(index) <= NAME_MAX) {
        committed_t *c = realloc(r->committed, (r->ncommitted + 1) * sizeof(*c));
        if (c != NULL) {
            r->committed = c;
            snprintf(c[i].name, sizeof(c[i].name), "%s", index);
            c[i].lsn = 0;
            r->ncommitted++;
        }
    }
    if (i < r->ncommitted && lsn > r->committed[i].lsn)
        r->committed[i].lsn = lsn;
    pthread_mutex_unlock(&r->clock);

    pthread_rwlock_rdlock(&r->lock);
    if ((pos = find(r, index)) >= 0)
        follow_set_committed(r->ix[pos]->follow, lsn);
    pthread_rwlock_unlock(&r->lock);
    if (pos < 0)
        kick(r); /* an index we do not serve yet: look for it now */
}

static void on_generation(void *arg, const char *index, uint64_t generation, uint64_t lsn,
                          const char *path)
{
    (void)index, (void)generation, (void)lsn, (void)path;
    kick(arg);
}

static void on_index_changed(void *arg, const char *index, watch_client_change_t kind)
{
    (void)index, (void)kind;
    kick(arg);
}

/* ---- loading a pair ---- */

typedef struct load_ctx {
    const rindex_t *ri;
    generation_t *gen; /* NULL: an empty index of the schema file */
} load_ctx_t;

/* replica_load_fn: one instance from the generation (zero copy over its mapping), or empty. */
static int load_instance(void *arg, index_t **ix, uint64_t *lsn, bdx_error_t *err)
{
    const load_ctx_t *c = arg;
    schema_t *schema = NULL;
    limits_t limits;
    int rc;

    if (c->gen != NULL) {
        *lsn = generation_lsn(c->gen);
        return generation_load(c->gen, ix, err);
    }
    *lsn = 0;
    if ((rc = schema_file_read(c->ri->dir, c->ri->name, &schema, &limits, err)) != 0)
        return rc;
    rc = index_new(schema, ix, err);
    schema_free(schema);
    return rc;
}

/* Opens (verified, pinned) the generation CURRENT names, retrying when the writer replaced and
 * deleted it in between. *g = NULL and *number = 0 when there is no CURRENT yet. */
static int open_current(reader_t *r, const rindex_t *ri, generation_t **g, uint64_t *number,
                        bdx_error_t *err)
{
    unsigned flags = GENERATION_PIN | (r->verify ? GENERATION_VERIFY : 0);
    int rc = 0;

    *g = NULL;
    *number = 0;
    for (int attempt = 0; attempt < 10; attempt++) {
        char dir[PATH_MAX];
        if ((rc = generation_current(ri->dir, number, err)) == BDX_ENOTFOUND) {
            *number = 0;
            return 0;
        }
        if (rc != 0)
            return rc;
        snprintf(dir, sizeof(dir), "%s/gen-%" PRIu64, ri->dir, *number);
        rc = generation_open(dir, flags, g, err);
        if (rc != -ENOENT && rc != BDX_ENOTFOUND && rc != BDX_ECORRUPT)
            break;
        /* gone (or half deleted) under us: CURRENT names a newer one by now */
        usleep(1000u << (attempt < 6 ? attempt : 6));
    }
    if (rc == 0 && *g != NULL) {
        schema_t *schema = NULL;
        limits_t limits;
        if ((rc = schema_file_read(ri->dir, ri->name, &schema, &limits, err)) == 0)
            rc = generation_check_schema(*g, schema, err);
        schema_free(schema);
        if (rc != 0) {
            generation_close(*g);
            *g = NULL;
        }
    }
    return rc;
}

/* ---- the set of indexes ---- */

static void rindex_free(rindex_t *ri)
{
    if (ri == NULL)
        return;
    follow_stop(ri->follow);
    replica_close(ri->rep);
    generation_close(ri->gen); /* after every index mapped over it */
    free(ri->name);
    free(ri->dir);
    free(ri);
}

static bool is_broken(reader_t *r, const char *name)
{
    for (size_t i = 0; i < r->nbroken; i++)
        if (strcmp(r->broken[i].name, name) == 0)
            return ms_since(&r->broken[i].since) < RETRY_MS;
    return false;
}

static void set_broken(reader_t *r, const char *name, bool broken)
{
    size_t i;

    for (i = 0; i < r->nbroken && strcmp(r->broken[i].name, name) != 0; i++)
        ;
    if (!broken) {
        if (i < r->nbroken)
            r->broken[i] = r->broken[--r->nbroken];
        return;
    }
    if (i == r->nbroken) {
        broken_t *b = realloc(r->broken, (r->nbroken + 1) * sizeof(*b));
        if (b == NULL)
            return;
        r->broken = b;
        snprintf(b[i].name, sizeof(b[i].name), "%s", name);
        r->nbroken++;
    }
    clock_gettime(CLOCK_MONOTONIC, &r->broken[i].since);
}

/* Opens index `name` and adds it to the set. Maintenance thread. */
static int open_index(reader_t *r, const char *name, bdx_error_t *err)
{
    rindex_t *ri = calloc(1, sizeof(*ri));
    char wal[PATH_MAX];
    schema_t *schema = NULL;
    load_ctx_t ctx;
    struct timespec t0;
    int64_t open_ms;
    int rc;

    clock_gettime(CLOCK_MONOTONIC, &t0);
    if (ri == NULL || (ri->name = strdup(name)) == NULL ||
        (ri->dir = malloc(strlen(r->indexes_dir) + strlen(name) + 2)) == NULL) {
        rindex_free(ri);
        return bdx_error_set(err, -ENOMEM, "out of memory");
    }
    sprintf(ri->dir, "%s/%s", r->indexes_dir, name);
    atomic_init(&ri->refs, 0);
    if ((rc = schema_file_read(ri->dir, name, &schema, &ri->limits, err)) != 0)
        goto fail;
    schema_free(schema);
    if ((rc = open_current(r, ri, &ri->gen, &ri->gen_number, err)) != 0)
        goto fail;
    open_ms = ms_since(&t0);
    ctx = (load_ctx_t){ri, ri->gen};
    if ((rc = replica_open(name, &ri->limits, load_instance, &ctx, &ri->rep, err)) != 0)
        goto fail;
    snprintf(wal, sizeof(wal), "%s/wal", ri->dir);
    rc = follow_start(ri->rep, wal,
                      &(follow_options_t){.poll_ms = r->poll_ms, .log_id = wal_log_id(name)},
                      &ri->follow, err);
    if (rc != 0)
        goto fail;
    follow_set_committed(ri->follow, committed_of(r, name));
    atomic_store(&ri->shown_gen, ri->gen_number);
    atomic_store(&ri->shown_lsn, ri->gen != NULL ? generation_lsn(ri->gen) : 0);
    pthread_rwlock_wrlock(&r->lock);
    if (r->n == r->cap) {
        size_t cap = r->cap ? r->cap * 2 : 8;
        rindex_t **v = realloc(r->ix, cap * sizeof(*v));
        if (v == NULL) {
            pthread_rwlock_unlock(&r->lock);
            rc = bdx_error_set(err, -ENOMEM, "out of memory");
            goto fail;
        }
        r->ix = v;
        r->cap = cap;
    }
    r->ix[r->n++] = ri;
    pthread_rwlock_unlock(&r->lock);
    log_info("reader", "index opened",
             "index=%s generation=%" PRIu64 " lsn=%" PRIu64 " docs=%llu mapped_bytes=%" PRIu64
             " open_ms=%lld ms=%lld",
             name, ri->gen_number, replica_lsn(ri->rep),
             (unsigned long long)(ri->gen != NULL ? generation_doc_count(ri->gen) : 0),
             ri->gen != NULL ? generation_mapped_bytes(ri->gen) : 0, (long long)open_ms,
             (long long)ms_since(&t0));
    return 0;
fail:
    rindex_free(ri);
    return rc;
}

/* Removes index `pos` from the set and closes it once no query holds it. Maintenance thread. */
static void drop_index(reader_t *r, size_t pos)
{
    rindex_t *ri;

    pthread_rwlock_wrlock(&r->lock);
    ri = r->ix[pos];
    r->ix[pos] = r->ix[--r->n];
    pthread_rwlock_unlock(&r->lock);
    while (atomic_load(&ri->refs) > 0) /* queries that found it before the removal */
        usleep(1000);
    log_info("reader", "index dropped", "index=%s", ri->name);
    rindex_free(ri);
}

/* Switches `ri` to generation `number` when CURRENT names a newer one than its pair's. */
static void check_generation(reader_t *r, rindex_t *ri)
{
    generation_t *g = NULL;
    uint64_t number = 0;
    bdx_error_t err = {0};
    load_ctx_t ctx;
    struct timespec t0;
    int rc;

    if (generation_current(ri->dir, &number, NULL) != 0 || number <= ri->gen_number)
        return;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    if ((rc = open_current(r, ri, &g, &number, &err)) != 0 || g == NULL) {
        log_warn("reader", "new generation not loaded; keeping the current one",
                 "index=%s error=\"%s\"", ri->name, bdx_error_message(&err));
        return;
    }
    ctx = (load_ctx_t){ri, g};
    if ((rc = follow_switch(ri->follow, load_instance, &ctx, &err)) != 0) {
        log_warn("reader", "generation switch failed; keeping the current one",
                 "index=%s generation=%" PRIu64 " error=\"%s\"", ri->name, number,
                 bdx_error_message(&err));
        generation_close(g);
        return;
    }
    generation_close(ri->gen); /* the old pair is freed: unpin and unmap */
    ri->gen = g;
    ri->gen_number = number;
    atomic_store(&ri->shown_gen, number);
    atomic_store(&ri->shown_lsn, generation_lsn(g));
    log_info("reader", "generation switched",
             "index=%s generation=%" PRIu64 " checkpoint_lsn=%" PRIu64 " lsn=%" PRIu64 " ms=%lld",
             ri->name, number, generation_lsn(g), replica_lsn(ri->rep), (long long)ms_since(&t0));
}

static bool has_schema(const char *dir)
{
    char path[PATH_MAX + 16];
    struct stat st;

    snprintf(path, sizeof(path), "%s/%s", dir, SCHEMA_FILE_NAME);
    return stat(path, &st) == 0 && S_ISREG(st.st_mode);
}

/* One pass: new and dropped indexes, newer generations, readiness. Maintenance thread. */
static void maintain(reader_t *r)
{
    DIR *d = opendir(r->indexes_dir);
    struct dirent *e;
    bool all_ready = true;

    /* dropped: the directory is gone (renamed to its .drop- tombstone) */
    for (size_t i = 0; i < r->n;) {
        if (!has_schema(r->ix[i]->dir))
            drop_index(r, i);
        else
            i++;
    }
    while (d != NULL && (e = readdir(d)) != NULL) {
        char dir[PATH_MAX];
        bdx_error_t err = {0};
        if (e->d_name[0] == '.' || find(r, e->d_name) >= 0 ||
            schema_pb_check_index_name(e->d_name, "index", NULL) != 0 || is_broken(r, e->d_name))
            continue;
        snprintf(dir, sizeof(dir), "%s/%s", r->indexes_dir, e->d_name);
        if (!has_schema(dir))
            continue;
        if (open_index(r, e->d_name, &err) != 0) {
            log_error("reader", "cannot open index; retrying later",
                      "index=%s error=\"%s\" retry_ms=%d", e->d_name, bdx_error_message(&err),
                      RETRY_MS);
            set_broken(r, e->d_name, true);
        } else {
            set_broken(r, e->d_name, false);
        }
    }
    if (d != NULL)
        closedir(d);
    for (size_t i = 0; i < r->n; i++) {
        bdx_error_t err = {0};
        check_generation(r, r->ix[i]);
        /* A follower stuck behind a checkpoint (its WAL segments are gone) waits for the switch
         * above; other errors are logged by the follower itself. */
        (void)follow_error(r->ix[i]->follow, &err);
        all_ready = all_ready && replica_ready(r->ix[i]->rep);
    }
    if (all_ready && !atomic_load(&r->ready)) {
        atomic_store(&r->ready, true);
        log_info("reader", "caught up", "indexes=%zu", r->n);
        if (r->on_ready != NULL)
            r->on_ready(r->on_ready_arg);
    }
}

static void *maintenance_thread(void *arg)
{
    reader_t *r = arg;

    pthread_mutex_lock(&r->mlock);
    while (!r->stop) {
        struct timespec until;
        pthread_mutex_unlock(&r->mlock);
        maintain(r);
        pthread_mutex_lock(&r->mlock);
        if (r->stop)
            break;
        if (!r->kick) {
            /* not ready yet: look again soon (the followers are catching up) */
            uint32_t ms = atomic_load(&r->ready) ? r->poll_ms : 10;
            clock_gettime(CLOCK_REALTIME, &until);
            until.tv_nsec += (long)ms * 1000000L;
            until.tv_sec += until.tv_nsec / 1000000000L;
            until.tv_nsec %= 1000000000L;
            pthread_cond_timedwait(&r->wake, &r->mlock, &until);
        }
        r->kick = false;
    }
    pthread_mutex_unlock(&r->mlock);
    return NULL;
}

/* ---- query source ---- */

typedef struct held {
    rindex_t *ri;
    replica_snap_t snap;
} held_t;

static int source_acquire(void *ctx, const char *index, query_snapshot_t *out, bdx_error_t *err)
{
    reader_t *r = ctx;
    rindex_t *ri = NULL;
    held_t *h;
    ssize_t pos;

    memset(out, 0, sizeof(*out));
    pthread_rwlock_rdlock(&r->lock);
    if ((pos = find(r, index)) >= 0) {
        ri = r->ix[pos];
        atomic_fetch_add(&ri->refs, 1);
    }
    pthread_rwlock_unlock(&r->lock);
    if (ri == NULL)
        return bdx_error_set(err, BDX_ENOTFOUND, "index %s: not found", index);
    if (!replica_ready(ri->rep)) {
        atomic_fetch_sub(&ri->refs, 1);
        return bdx_error_set(err, BDX_EUNAVAILABLE,
                             "index %s: still catching up with the writer's files", index);
    }
    if ((h = malloc(sizeof(*h))) == NULL) {
        atomic_fetch_sub(&ri->refs, 1);
        return bdx_error_set(err, -ENOMEM, "out of memory");
    }
    h->ri = ri;
    replica_acquire(ri->rep, &h->snap);
    out->ix = h->snap.ix;
    out->lsn = h->snap.lsn;
    out->limits = &ri->limits;
    out->generation = atomic_load(&ri->shown_gen);
    out->checkpoint_lsn = atomic_load(&ri->shown_lsn);
    out->committed_lsn = committed_of(r, index);
    if (out->committed_lsn == FOLLOW_UNBOUNDED)
        out->committed_lsn = out->lsn;
    out->token = h;
    return 0;
}

static void source_release(void *ctx, query_snapshot_t *snap)
{
    held_t *h = snap->token;

    (void)ctx;
    if (h == NULL)
        return;
    replica_release(h->ri->rep, &h->snap);
    atomic_fetch_sub(&h->ri->refs, 1);
    free(h);
    snap->token = NULL;
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static int source_list(void *ctx, char ***names, size_t *count)
{
    reader_t *r = ctx;
    char **v = NULL;
    size_t n = 0;
    int rc = 0;

    *names = NULL;
    *count = 0;
    pthread_rwlock_rdlock(&r->lock);
    if (r->n > 0 && (v = calloc(r->n, sizeof(*v))) == NULL)
        rc = -ENOMEM;
    for (; rc == 0 && n < r->n; n++)
        if ((v[n] = strdup(r->ix[n]->name)) == NULL)
            rc = -ENOMEM;
    pthread_rwlock_unlock(&r->lock);
    if (rc != 0) {
        for (size_t i = 0; i < n; i++)
            free(v[i]);
        free(v);
        return rc;
    }
    if (n > 1)
        qsort(v, n, sizeof(*v), cmp_str);
    *names = v;
    *count = n;
    return 0;
}

/* ---- lifecycle ---- */

int reader_open(const reader_options_t *opts, reader_t **out, bdx_error_t *err)
{
    reader_t *r = calloc(1, sizeof(*r));
    char host[64], id[128];
    int rc;

    *out = NULL;
    if (r == NULL)
        return bdx_error_set(err, -ENOMEM, "out of memory");
    pthread_rwlock_init(&r->lock, NULL);
    pthread_mutex_init(&r->mlock, NULL);
    pthread_mutex_init(&r->clock, NULL);
    pthread_cond_init(&r->wake, NULL);
    atomic_init(&r->ready, false);
    if (gethostname(host, sizeof(host)) != 0)
        snprintf(host, sizeof(host), "reader");
    host[sizeof(host) - 1] = '\0';
    snprintf(id, sizeof(id), "%s-%ld", host, (long)getpid());
    r->data_dir = strdup(opts->data_dir);
    r->indexes_dir = malloc(strlen(opts->data_dir) + sizeof(INDEXES_DIR) + 1);
    r->writer = strdup(opts->writer != NULL ? opts->writer : "");
    r->reader_id = strdup(opts->reader_id != NULL && opts->reader_id[0] ? opts->reader_id : id);
    if (r->data_dir == NULL || r->indexes_dir == NULL || r->writer == NULL ||
        r->reader_id == NULL) {
        reader_close(r);
        return bdx_error_set(err, -ENOMEM, "out of memory");
    }
    sprintf(r->indexes_dir, "%s/%s", opts->data_dir, INDEXES_DIR);
    r->poll_ms = opts->poll_ms ? opts->poll_ms : 100;
    r->verify = !opts->no_verify;
    r->on_ready = opts->on_ready;
    r->on_ready_arg = opts->on_ready_arg;
    r->source = (query_source_t){source_acquire, source_release, source_list, r};
    if ((rc = -pthread_create(&r->thread, NULL, maintenance_thread, r)) != 0) {
        reader_close(r);
        return bdx_error_set(err, rc, "cannot start the reader thread: %s", bdx_strerror(rc));
    }
    r->thread_started = true;
    if (r->writer[0] != '\0') {
        watch_client_config_t wcfg = {.target = r->writer, .reader_id = r->reader_id};
        watch_client_callbacks_t cb = {on_connected,  on_disconnected,  on_lsn,
                                       on_generation, on_index_changed, r};
        if ((rc = watch_client_start(&wcfg, &cb, &r->wc, err)) != 0) {
            reader_close(r);
            return rc;
        }
    }
    *out = r;
    return 0;
}

void reader_close(reader_t *r)
{
    if (r == NULL)
        return;
    watch_client_stop(r->wc); /* no more callbacks */
    if (r->thread_started) {
        pthread_mutex_lock(&r->mlock);
        r->stop = true;
        pthread_cond_signal(&r->wake);
        pthread_mutex_unlock(&r->mlock);
        pthread_join(r->thread, NULL);
    }
    for (size_t i = 0; i < r->n; i++)
        rindex_free(r->ix[i]);
    free(r->ix);
    free(r->broken);
    free(r->committed);
    pthread_cond_destroy(&r->wake);
    pthread_mutex_destroy(&r->clock);
    pthread_mutex_destroy(&r->mlock);
    pthread_rwlock_destroy(&r->lock);
    free(r->data_dir);
    free(r->indexes_dir);
    free(r->writer);
    free(r->reader_id);
    free(r);
}

const query_source_t *reader_source(reader_t *r)
{
    return &r->source;
}

bool reader_ready(reader_t *r)
{
    return atomic_load(&r->ready);
}

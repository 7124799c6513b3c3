/*
 * commit: the write pipeline of one index. See commit.h for the contract.
 *
 * A batch goes through commit_append() under the commit's mutex (WAL append, then index apply,
 * so the index never holds a write the WAL lacks) and then commit_wait() outside it, where the
 * policy decides who runs fdatasync. Under COMMIT_SYNC_BATCH a per-index sync thread does it
 * for every waiter at once; this is what makes small concurrent batches cheap: N batches that
 * arrive within one interval share one fdatasync.
 *
 * Batch ids (ApplyRequest.batch_id) are remembered in services/writer/batch_ids.h: the ring
 * comes from the generation (saved by the checkpointer) and the replay at open adds the ids of
 * the frames after it, since every batch's id is inside its WAL frame.
 */
#include "services/writer/commit.h"

#include "common/apply_decode.h"
#include "common/log.h"
#include "common/pbarena.h"
#include "common/pbcanon.h"
#include "common/wal.h"
#include "services/writer/batch_ids.h"
#include "services/writer/replay.h"
#include "services/writer/watch.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

struct commit {
    char *name;
    char *wal_dir;
    index_t *ix; /* borrowed */
    limits_t limits;
    commit_options_t opts;
    wal_t *wal;

    pthread_mutex_t lock; /* serializes append + apply; guards the batch ids */
    batch_ids_t *ids;     /* owned */
    uint64_t start_lsn;   /* the generation's checkpoint LSN: replay starts after it */

    _Atomic uint64_t docs;
    _Atomic uint64_t applied_lsn;
    atomic_int failed; /* 0, or the code that failed the commit */

    /* group commit (COMMIT_SYNC_BATCH) */
    pthread_mutex_t sync_lock;
    pthread_cond_t need_sync; /* a waiter arrived, or stop */
    pthread_cond_t synced;    /* a sync finished */
    size_t waiters;
    bool stop, thread_started;
    int sync_rc;
    struct timespec last_sync;
    pthread_t thread;

    /* references from callers (commit_ref) */
    pthread_mutex_t ref_lock;
    pthread_cond_t ref_zero;
    size_t refs;
};

int commit_sync_parse(const char *s, commit_sync_t *out)
{
    if (s != NULL && strcmp(s, "batch") == 0)
        *out = COMMIT_SYNC_BATCH;
    else if (s != NULL && strcmp(s, "always") == 0)
        *out = COMMIT_SYNC_ALWAYS;
    else if (s != NULL && strcmp(s, "none") == 0)
        *out = COMMIT_SYNC_NONE;
    else
        return BDX_EINVAL;
    return 0;
}

const char *commit_sync_name(commit_sync_t s)
{
    switch (s) {
    case COMMIT_SYNC_ALWAYS:
        return "always";
    case COMMIT_SYNC_NONE:
        return "none";
    default:
        return "batch";
    }
}

/* ---- group commit ---- */

static void fail_commit(commit_t *c, int code)
{
    int zero = 0;

    if (atomic_compare_exchange_strong(&c->failed, &zero, code))
        log_error("commit", "writes stopped: restart the writer to recover from the WAL",
                  "index=%s error=\"%s\"", c->name, bdx_strerror(code));
}

/* Tells Watch the committed LSN. Cheap and non-blocking (watch.h); repeated LSNs are ignored. */
static void announce(commit_t *c)
{
    watch_lsn_advance(c->opts.watch, c->name, commit_committed_lsn(c));
}

static int64_t ms_between(const struct timespec *a, const struct timespec *b)
{
    return (int64_t)(b->tv_sec - a->tv_sec) * 1000 + (b->tv_nsec - a->tv_nsec) / 1000000;
}

/* COMMIT_SYNC_BATCH: syncs whenever somebody waits, at most once per interval. */
static void *sync_thread(void *arg)
{
    commit_t *c = arg;
    bdx_error_t err = {0};

    pthread_mutex_lock(&c->sync_lock);
    while (!c->stop) {
        struct timespec now, until;
        if (c->waiters == 0 || c->sync_rc != 0) {
            pthread_cond_wait(&c->need_sync, &c->sync_lock);
            continue;
        }
        clock_gettime(CLOCK_MONOTONIC, &now);
        if (ms_between(&c->last_sync, &now) < (int64_t)c->opts.interval_ms) {
            until = c->last_sync;
            until.tv_nsec += (long)c->opts.interval_ms * 1000000L;
            until.tv_sec += until.tv_nsec / 1000000000L;
            until.tv_nsec %= 1000000000L;
            pthread_cond_timedwait(&c->need_sync, &c->sync_lock, &until);
            continue;
        }
        c->last_sync = now;
        pthread_mutex_unlock(&c->sync_lock);
        int rc = wal_sync(c->wal, NULL, &err); /* covers every frame appended before it */
        pthread_mutex_lock(&c->sync_lock);
        if (rc != 0) {
            c->sync_rc = rc;
            fail_commit(c, rc);
        } else {
            announce(c);
        }
        pthread_cond_broadcast(&c->synced);
    }
    pthread_mutex_unlock(&c->sync_lock);
    return NULL;
}

/*
 * Watch hears of a committed LSN twice over: from the sync thread right after each sync, and
 * here, from every waiter whose LSN is committed, before it is acknowledged. The second covers
 * the ALWAYS and NONE policies and a sync that covered a frame before it was applied (the
 * committed LSN is min(durable, applied)), so every acknowledged LSN is always announced.
 */
int commit_wait(commit_t *c, uint64_t lsn, bdx_error_t *err)
{
    int rc = 0;

    if (c->opts.sync == COMMIT_SYNC_NONE || wal_durable_lsn(c->wal) >= lsn) {
        announce(c);
        return 0;
    }
    if (c->opts.sync == COMMIT_SYNC_ALWAYS) {
        if ((rc = wal_sync(c->wal, NULL, err)) != 0)
            fail_commit(c, rc);
        else
            announce(c);
        return rc;
    }
    pthread_mutex_lock(&c->sync_lock);
    c->waiters++;
    pthread_cond_signal(&c->need_sync);
    while (wal_durable_lsn(c->wal) < lsn && c->sync_rc == 0)
        pthread_cond_wait(&c->synced, &c->sync_lock);
    c->waiters--;
    if (wal_durable_lsn(c->wal) < lsn)
        rc = c->sync_rc;
    pthread_mutex_unlock(&c->sync_lock);
    if (rc != 0)
        return bdx_error_set(err, rc, "index %s: WAL sync failed: %s", c->name, bdx_strerror(rc));
    announce(c);
    return 0;
}

/* ---- append ---- */

/*
 * Durability order of one batch (commit_append + commit_wait; a crash after step k leaves what
 * the comment of step k says):
 *   1. Validate the whole batch (apply_check) outside the lock: a bad op rejects it with
 *      nothing written anywhere.
 *   2. Under the commit mutex: append the packed batch to the WAL as ONE frame
 *      (wal_append). Its LSN is the frame's. It is in the page cache, not durable: a process
 *      crash keeps it, a machine crash may drop it; nobody has been told about it. A failed
 *      append cuts the partial frame; nothing is applied.
 *   3. Still under the mutex: apply the batch to the in-memory index (apply_run). The index
 *      therefore never holds a write the WAL does not: a crash here replays the frame at start.
 *   4. Release the mutex (the next batch may append while this one waits).
 *   5. Wait for durability (commit_wait): ALWAYS fdatasyncs now; BATCH waits for the sync
 *      thread's next fdatasync that started after step 2; NONE does not wait.
 *   6. Only then does the caller acknowledge the LSN. Every acknowledged batch is in a durable
 *      frame; a crash between 2 and 6 leaves a batch that may survive (whole) or vanish (whole),
 *      and the client, not acknowledged, retries it with its batch_id.
 */
int commit_append(commit_t *c, const Bitdex__V1__ApplyRequest *req, const void *wire,
                  size_t wire_len, bool wire_canonical, commit_result_t *res, bdx_error_t *err)
{
    const char *id = req->batch_id != NULL && req->batch_id[0] != '\0' ? req->batch_id : NULL;
    apply_stats_t stats;
    const uint8_t *frame;
    uint8_t *buf = NULL;
    size_t len;
    uint64_t lsn;
    int rc;

    memset(res, 0, sizeof(*res));
    if ((rc = atomic_load(&c->failed)) != 0)
        return bdx_error_set(err, BDX_ESTATE,
                             "index %s: an earlier write failed (%s); restart the writer", c->name,
                             bdx_strerror(rc));
    if ((rc = apply_check(c->ix, &c->limits, req, err)) != 0) /* 1 */
        return rc;
    if (wire != NULL &&
        (wire_canonical || pbcanon_check(&bitdex__v1__apply_request__descriptor, wire, wire_len))) {
        frame = wire; /* the received bytes are what packing would give: no need to */
        len = wire_len;
    } else {
        len = protobuf_c_message_get_packed_size(&req->base);
        if ((buf = malloc(len ? len : 1)) == NULL)
            return bdx_error_set(err, -ENOMEM, "out of memory");
        protobuf_c_message_pack(&req->base, buf);
        frame = buf;
    }

    pthread_mutex_lock(&c->lock);
    const batch_result_t *dup = id != NULL ? batch_ids_find(c->ids, id) : NULL;
    if (dup != NULL) {
        res->lsn = dup->lsn;
        res->ops = dup->ops;
        res->skipped = dup->skipped;
        res->duplicate = true;
        goto unlock;
    }
    if ((rc = atomic_load(&c->failed)) != 0) {
        rc = bdx_error_set(err, BDX_ESTATE, "index %s: an earlier write failed; restart the writer",
                           c->name);
        goto unlock;
    }
    if ((rc = wal_append(c->wal, frame, len, &lsn, err)) != 0) /* 2 */
        goto unlock;
    if ((rc = apply_run(c->ix, req, &stats, err)) != 0) { /* 3 */
        fail_commit(c, rc);
        rc = bdx_error_set(err, BDX_EINTERNAL,
                           "index %s: batch logged at LSN %llu but not applied (%s); restart the "
                           "writer: it will be applied from the WAL",
                           c->name, (unsigned long long)lsn, bdx_strerror(rc));
        goto unlock;
    }
    res->lsn = lsn;
    res->ops = stats.ops;
    res->skipped = stats.skipped;
    atomic_store(&c->docs, index_doc_count(c->ix));
    atomic_store(&c->applied_lsn, lsn);
    if (id != NULL &&
        batch_ids_add(c->ids, id, &(batch_result_t){lsn, stats.ops, stats.skipped}) != 0)
        log_warn("commit", "batch id not remembered: out of memory", "index=%s lsn=%llu", c->name,
                 (unsigned long long)lsn);
unlock:
    pthread_mutex_unlock(&c->lock); /* 4 */
    free(buf);
    return rc;
}

int commit_apply(commit_t *c, const Bitdex__V1__ApplyRequest *req, const void *wire,
                 size_t wire_len, bool wire_canonical, commit_result_t *res, bdx_error_t *err)
{
    int rc = commit_append(c, req, wire, wire_len, wire_canonical, res, err);

    return rc != 0 ? rc : commit_wait(c, res->lsn, err); /* 5 */
}

uint64_t commit_doc_count(const commit_t *c)
{
    return atomic_load(&c->docs);
}

uint64_t commit_applied_lsn(const commit_t *c)
{
    return atomic_load(&c->applied_lsn);
}

uint64_t commit_committed_lsn(const commit_t *c)
{
    uint64_t applied = atomic_load(&c->applied_lsn), durable;

    if (c->opts.sync == COMMIT_SYNC_NONE)
        return applied;
    durable = wal_durable_lsn(c->wal);
    return durable < applied ? durable : applied;
}

void commit_memory(commit_t *c, index_memory_t *out)
{
    pthread_mutex_lock(&c->lock); /* the index has one writer: wait for the batch in flight */
    index_memory(c->ix, out);
    pthread_mutex_unlock(&c->lock);
}

void commit_ref(commit_t *c)
{
    pthread_mutex_lock(&c->ref_lock);
    c->refs++;
    pthread_mutex_unlock(&c->ref_lock);
}

void commit_unref(commit_t *c)
{
    pthread_mutex_lock(&c->ref_lock);
    if (--c->refs == 0)
        pthread_cond_broadcast(&c->ref_zero);
    pthread_mutex_unlock(&c->ref_lock);
}

/* ---- open / replay / close ---- */

/* Applies every frame after c->start_lsn to the index (which holds the state at start_lsn). */
static int replay(commit_t *c, const char *dir, uint64_t log_id, bdx_error_t *err)
{
    uint64_t first = wal_first_lsn(c->wal), last = wal_last_lsn(c->wal), n = 0;
    struct timespec t0, t1;
    int rc;

    if (last < c->start_lsn || (last > c->start_lsn && first > c->start_lsn + 1))
        return bdx_error_set(err, BDX_ECORRUPT,
                             "wal %s: holds LSNs %llu..%llu but the generation needs every frame "
                             "after %llu; run bitdex-check",
                             dir, (unsigned long long)first, (unsigned long long)last,
                             (unsigned long long)c->start_lsn);
    if (last <= c->start_lsn)
        return 0;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    if ((rc = replay_wal(dir, log_id, c->start_lsn, last, c->ix, &c->limits, c->ids, NULL, &n,
                         err)) != 0)
        return rc;
    clock_gettime(CLOCK_MONOTONIC, &t1);
    log_info("commit", "wal replayed", "index=%s frames=%llu last_lsn=%llu docs=%llu ms=%lld",
             c->name, (unsigned long long)n, (unsigned long long)last,
             (unsigned long long)index_doc_count(c->ix), (long long)ms_between(&t0, &t1));
    return 0;
}

int commit_open(const char *wal_dir, const char *name, index_t *ix, uint64_t start_lsn,
                batch_ids_t *ids, const limits_t *limits, const commit_options_t *opts,
                commit_t **out, bdx_error_t *err)
{
    commit_t *c = calloc(1, sizeof(*c));
    pthread_condattr_t ca;
    wal_options_t wo;
    wal_recovery_t rep;
    int rc;

    *out = NULL;
    if (c == NULL || (c->name = strdup(name)) == NULL || (c->wal_dir = strdup(wal_dir)) == NULL ||
        (ids == NULL && batch_ids_new(&ids) != 0)) {
        if (c != NULL) {
            free(c->name);
            free(c->wal_dir);
        }
        free(c);
        batch_ids_free(ids);
        return bdx_error_set(err, -ENOMEM, "out of memory");
    }
    c->ids = ids;
    c->start_lsn = start_lsn;
    c->ix = ix;
    c->limits = *limits;
    if (opts != NULL)
        c->opts = *opts;
    if (c->opts.interval_ms == 0)
        c->opts.interval_ms = COMMIT_DEFAULT_SYNC_INTERVAL_MS;
    pthread_mutex_init(&c->lock, NULL);
    pthread_mutex_init(&c->sync_lock, NULL);
    pthread_mutex_init(&c->ref_lock, NULL);
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&c->need_sync, &ca);
    pthread_condattr_destroy(&ca);
    pthread_cond_init(&c->synced, NULL);
    pthread_cond_init(&c->ref_zero, NULL);
    atomic_init(&c->docs, 0);
    atomic_init(&c->applied_lsn, 0);
    atomic_init(&c->failed, 0);

    wal_options_init(&wo);
    wo.create = true;
    wo.log_id = wal_log_id(name);
    if (c->opts.segment_bytes > 0)
        wo.segment_size = c->opts.segment_bytes;
    memset(&rep, 0, sizeof(rep));
    rc = wal_open(wal_dir, &wo, &c->wal, &rep, err);
    if (rc != 0) {
        log_error("commit", "WAL refused", "index=%s outcome=%s file=%s offset=%llu", name,
                  wal_outcome_name(rep.outcome), rep.file, (unsigned long long)rep.offset);
        goto fail;
    }
    if (rep.outcome != WAL_CLEAN)
        log_warn("commit", "WAL recovered", "index=%s outcome=%s file=%s offset=%llu dropped=%llu",
                 name, wal_outcome_name(rep.outcome), rep.file, (unsigned long long)rep.offset,
                 (unsigned long long)rep.dropped_bytes);
    if ((rc = replay(c, wal_dir, wo.log_id, err)) != 0)
        goto fail;
    atomic_store(&c->docs, index_doc_count(ix));
    atomic_store(&c->applied_lsn, wal_last_lsn(c->wal));
    if (c->opts.sync == COMMIT_SYNC_BATCH) {
        if ((rc = -pthread_create(&c->thread, NULL, sync_thread, c)) != 0) {
            bdx_error_set(err, rc, "cannot start the sync thread: %s", bdx_strerror(rc));
            goto fail;
        }
        c->thread_started = true;
    }
    *out = c;
    return 0;
fail:
    commit_close(c);
    return rc;
}

void commit_close(commit_t *c)
{
    bdx_error_t err = {0};

    if (c == NULL)
        return;
    pthread_mutex_lock(&c->ref_lock);
    while (c->refs > 0)
        pthread_cond_wait(&c->ref_zero, &c->ref_lock);
    pthread_mutex_unlock(&c->ref_lock);
    if (c->thread_started) {
        pthread_mutex_lock(&c->sync_lock);
        c->stop = true;
        pthread_cond_broadcast(&c->need_sync);
        pthread_mutex_unlock(&c->sync_lock);
        pthread_join(c->thread, NULL);
    }
    if (c->wal != NULL && atomic_load(&c->failed) == 0 && wal_sync(c->wal, NULL, &err) != 0)
        log_warn("commit", "final WAL sync failed", "index=%s error=\"%s\"", c->name,
                 bdx_error_message(&err));
    wal_close(c->wal);
    batch_ids_free(c->ids);
    pthread_cond_destroy(&c->ref_zero);
    pthread_cond_destroy(&c->synced);
    pthread_cond_destroy(&c->need_sync);
    pthread_mutex_destroy(&c->ref_lock);
    pthread_mutex_destroy(&c->sync_lock);
    pthread_mutex_destroy(&c->lock);
    free(c->wal_dir);
    free(c->name);
    free(c);
}

int commit_truncate_wal(commit_t *c, uint64_t lsn, size_t *removed, bdx_error_t *err)
{
    return wal_truncate_before(c->wal, lsn, removed, err);
}

void commit_wal_usage(const commit_t *c, uint64_t *bytes, uint32_t *segments)
{
    DIR *d = opendir(c->wal_dir);
    struct dirent *e;

    *bytes = 0;
    *segments = 0;
    if (d == NULL)
        return;
    while ((e = readdir(d)) != NULL) {
        struct stat st;
        size_t n = strlen(e->d_name);
        if (n < 5 || strcmp(e->d_name + n - 4, ".log") != 0)
            continue;
        if (fstatat(dirfd(d), e->d_name, &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISREG(st.st_mode)) {
            *bytes += (uint64_t)st.st_size;
            (*segments)++;
        }
    }
    closedir(d);
}

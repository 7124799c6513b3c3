/*
 * checkpoint: the background checkpointer of one index. See checkpoint.h for the contract and
 * docs/format/generation.md for the files.
 *
 * Order of one checkpoint (a crash after step k leaves what step k says):
 *   1. Catch the checkpoint instance up from the WAL to the committed LSN L (memory only).
 *   2. generation_write(): gen-N.tmp/ written and fsynced, renamed to gen-N/, index dir
 *      fsynced. CURRENT still names the old generation: recovery ignores gen-N (and the next
 *      start removes it, since its number is above CURRENT's).
 *   3. batch-ids saved into gen-N/ (temp, fsync, rename, fsync dir). Same as 2.
 *   4. generation_publish(): CURRENT names gen-N durably. Recovery loads gen-N and replays the
 *      WAL after L, which is all still there.
 *   5. Watch subscribers told.
 *   6. Old generation directories no reader pins are deleted, then WAL segments below the
 *      oldest generation kept. Each deletion is independent; a crash leaves some undeleted
 *      files that the next checkpoint deletes.
 */
#include "services/writer/checkpoint.h"
#include "services/writer/replay.h"

#include "common/apply.h"
#include "common/generation.h"
#include "common/index.h"
#include "common/log.h"
#include "common/schema_file.h"
#include "common/wal.h"

#include "bitdex/v1/writer.pb-c.h"

#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

struct checkpoint {
    char *index_dir, *wal_dir, *name;
    limits_t limits;
    commit_t *commit; /* borrowed */
    checkpoint_options_t opts;
    checkpoint_published_fn published;
    void *published_arg;

    pthread_t thread;
    bool inited, started, joined;
    pthread_mutex_t lock;
    pthread_cond_t wake; /* a request or stop */
    pthread_cond_t done; /* a checkpoint attempt finished */
    bool stop;
    uint64_t requested; /* checkpoint_run(): publish a generation covering this LSN */
    bool force;         /* checkpoint_run() on an index with no generation yet */
    uint64_t failures;  /* attempts that failed so far */
    int last_rc;
    bdx_error_t last_err;
    checkpoint_info_t info; /* the last publish */

    /* the checkpointer thread's own state */
    generation_t *g;             /* the generation `ix` was loaded from, or NULL */
    uint64_t g_number;           /* its number (0 = none); never deleted by our cleanup */
    index_t *ix;                 /* checkpoint instance, or NULL until the first checkpoint */
    uint64_t ix_lsn;             /* LSN ix covers */
    batch_ids_t *ids;            /* batch ids as of ix_lsn */
    uint64_t base_bytes;         /* size of the base ix is loaded over (0 = unknown) */
    uint64_t delta_bytes;        /* size of the last delta written over it */
    uint64_t delta_materialized; /* what a load of that delta materializes (0 = unknown) */
    struct timespec last;        /* when the last checkpoint finished (or the start) */
    const char *crash_point;     /* BITDEX_TEST_CRASH_POINT (tests), or NULL */
};

static int64_t now_unix_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int64_t ms_since(const struct timespec *t)
{
    struct timespec now;

    clock_gettime(CLOCK_MONOTONIC, &now);
    return (int64_t)(now.tv_sec - t->tv_sec) * 1000 + (now.tv_nsec - t->tv_nsec) / 1000000;
}

/* ---- crash points (tests) ---- */

/*
 * Test hook: when the environment names this step in BITDEX_TEST_CRASH_POINT, the process kills
 * itself with SIGKILL right there, so tests/integration/test_checkpoint_crash.py can prove what a
 * crash between two durability steps leaves (see the order above). Points: "written" (after 2),
 * "ids-saved" (after 3), "published" (after 4), "gen-removed" (in 6, after the first old
 * generation is deleted, before the WAL is truncated). Unset in production: one getenv at start.
 */
static void crash_at(const checkpoint_t *ck, const char *point)
{
    if (ck->crash_point != NULL && strcmp(ck->crash_point, point) == 0) {
        log_warn("checkpoint", "test crash point reached: SIGKILL", "point=%s", point);
        raise(SIGKILL);
    }
}

/* ---- generation directories ---- */

/* At start: removes gen-*.tmp directories and generations above CURRENT (written, never
 * published: a crash between steps 2 and 4). */
static void remove_leftovers(checkpoint_t *ck, uint64_t current)
{
    uint64_t *gens = NULL;
    size_t count = 0;
    bdx_error_t e = {0};

    if (generation_clean_tmp(ck->index_dir, &e) != 0)
        log_warn("checkpoint", "cannot remove gen-*.tmp", "index=%s error=\"%s\"", ck->name,
                 bdx_error_message(&e));
    if (generation_list(ck->index_dir, &gens, &count, &e) != 0)
        return;
    for (size_t i = 0; i < count; i++)
        if (gens[i] > current) {
            int rc = generation_remove(ck->index_dir, gens[i], &e);
            log_info("checkpoint", "unpublished generation removed",
                     "index=%s gen=%" PRIu64 " rc=%d", ck->name, gens[i], rc);
        }
    free(gens);
}

/* Step 6: deletes every generation but the current one, the checkpoint instance's own and the
 * ones readers pin; then WAL segments below the oldest generation kept (ours excluded: the
 * checkpoint instance is ahead of it). */
static void clean_up(checkpoint_t *ck, uint64_t current, uint64_t current_lsn)
{
    uint64_t *gens = NULL, keep_lsn = current_lsn;
    size_t count = 0, removed = 0, segs = 0;
    bdx_error_t e = {0};

    if (generation_list(ck->index_dir, &gens, &count, &e) != 0)
        return;
    for (size_t i = 0; i < count; i++) {
        char dir[PATH_MAX];
        bool pinned = false;
        if (gens[i] == current)
            continue;
        snprintf(dir, sizeof(dir), "%s/gen-%" PRIu64, ck->index_dir, gens[i]);
        int prc = generation_is_pinned(dir, &pinned);
        if (prc == -ENOENT) /* no manifest: a removal a crash interrupted; finish it */
            pinned = false;
        else if (prc != 0)
            pinned = true; /* cannot tell: keep it */
        if (pinned) {
            generation_t *g = NULL;
            if (generation_open(dir, 0, &g, &e) == 0) {
                if (generation_lsn(g) < keep_lsn)
                    keep_lsn = generation_lsn(g);
                generation_close(g);
            } else {
                keep_lsn = 0; /* unreadable: keep the whole WAL */
            }
            continue;
        }
        if (gens[i] == ck->g_number)
            continue;
        if (generation_remove(ck->index_dir, gens[i], &e) == 0) {
            removed++;
            crash_at(ck, "gen-removed");
        } else
            log_warn("checkpoint", "generation not removed",
                     "index=%s gen=%" PRIu64 " error=\"%s\"", ck->name, gens[i],
                     bdx_error_message(&e));
    }
    free(gens);
    if (keep_lsn > 0 && commit_truncate_wal(ck->commit, keep_lsn + 1, &segs, &e) != 0)
        log_warn("checkpoint", "WAL not truncated", "index=%s error=\"%s\"", ck->name,
                 bdx_error_message(&e));
    if (removed > 0 || segs > 0)
        log_info("checkpoint", "cleaned up",
                 "index=%s generations_removed=%zu wal_segments_removed=%zu wal_kept_from=%" PRIu64,
                 ck->name, removed, segs, keep_lsn + 1);
}

/* ---- the checkpoint instance ---- */

/* Loads generation `number` (0: an empty index of the schema on disk) as the checkpoint
 * instance, with its batch ids. */
static int load_instance(checkpoint_t *ck, uint64_t number, bool verify, bdx_error_t *err)
{
    char dir[PATH_MAX], path[PATH_MAX + 16];
    generation_t *g = NULL;
    index_t *ix = NULL;
    batch_ids_t *ids = NULL;
    int rc;

    if (number == 0) {
        schema_t *schema = NULL;
        limits_t limits;
        if ((rc = schema_file_read(ck->index_dir, ck->name, &schema, &limits, err)) != 0)
            return rc;
        rc = index_new(schema, &ix, err);
        schema_free(schema);
        if (rc == 0 && (rc = batch_ids_new(&ids)) != 0)
            bdx_error_set(err, rc, "out of memory");
    } else {
        snprintf(dir, sizeof(dir), "%s/gen-%" PRIu64, ck->index_dir, number);
        rc = generation_open(dir, verify ? GENERATION_VERIFY : 0, &g, err);
        if (rc == 0)
            rc = generation_load(g, &ix, err);
        snprintf(path, sizeof(path), "%s/%s", dir, BATCH_IDS_FILE);
        if (rc == 0 && (rc = batch_ids_load(path, &ids, err)) == BDX_ENOTFOUND)
            rc = batch_ids_new(&ids);
    }
    if (rc != 0) {
        batch_ids_free(ids);
        index_free(ix);
        generation_close(g);
        return rc;
    }
    index_free(ck->ix);
    generation_close(ck->g);
    batch_ids_free(ck->ids);
    ck->ix = ix;
    ck->g = g;
    ck->g_number = number;
    ck->ix_lsn = g != NULL ? generation_lsn(g) : 0;
    ck->ids = ids;
    ck->base_bytes = ck->delta_bytes = ck->delta_materialized = 0;
    if (g != NULL) {
        generation_file_info_t fi;
        generation_file(g, 0, &fi);
        ck->base_bytes = fi.size;
        if (generation_file_count(g) > 1) { /* the delta we continue: the next one includes it */
            generation_file(g, 1, &fi);
            ck->delta_bytes = fi.size;
        }
    }
    return 0;
}

/* Step 1: applies the WAL frames (ck->ix_lsn, target] to the checkpoint instance. */
static int catch_up(checkpoint_t *ck, uint64_t target, bdx_error_t *err)
{
    return replay_wal(ck->wal_dir, wal_log_id(ck->name), ck->ix_lsn, target, ck->ix, &ck->limits,
                      ck->ids, &ck->ix_lsn, NULL, err);
}

/*
 * Base or delta: a new base when there is none to write a delta against, or when the last
 * delta (which the next one includes: deltas are cumulative) passed full_ratio of the base in
 * bytes, or full_materialized_ratio of it in what every load of it materializes privately. The
 * second rule is the one random updates hit first: they touch every BSI slice and every column
 * page while writing few bytes, and each reader replica pays that memory per instance. *why
 * gets the reason for the log.
 */
static bool need_base(const checkpoint_t *ck, const char **why)
{
    double base = (double)ck->base_bytes;

    *why = "";
    if (ck->g == NULL) {
        *why = " reason=no_base";
        return true;
    }
    if ((double)ck->delta_bytes > ck->opts.full_ratio * base) {
        *why = " reason=delta_bytes";
        return true;
    }
    if ((double)ck->delta_materialized > ck->opts.full_materialized_ratio * base) {
        *why = " reason=delta_materialized";
        return true;
    }
    return false;
}

/* One checkpoint (steps 1-6) up to the committed LSN. *info gets the result. */
static int checkpoint_once(checkpoint_t *ck, checkpoint_info_t *info, bdx_error_t *err)
{
    uint64_t target = commit_committed_lsn(ck->commit), number;
    generation_write_stats_t st;
    char dir[PATH_MAX], path[PATH_MAX + 16], rel[PATH_MAX];
    struct timespec t0;
    const char *why = "";
    bool full;
    int rc;

    pthread_mutex_lock(&ck->lock);
    *info = ck->info;
    pthread_mutex_unlock(&ck->lock);
    info->new_generation = false;
    if (target <= info->lsn && info->generation > 0)
        return 0;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    if (ck->ix == NULL && (rc = load_instance(ck, ck->g_number, true, err)) != 0)
        return rc;
    if ((rc = catch_up(ck, target, err)) != 0) { /* 1 */
        /* the instance may hold part of the log: drop it, reload next time */
        index_free(ck->ix);
        ck->ix = NULL;
        return rc;
    }
    full = need_base(ck, &why);
    if (full && (rc = index_rebuild_perms(ck->ix)) != 0)
        return bdx_error_set(err, rc, "out of memory");
    number = info->generation + 1;
    {
        /* an earlier attempt may have left gen-<number> behind (written, then saving its ids or
         * publishing failed): it was never published, so it goes */
        char stale[PATH_MAX];
        struct stat sb;
        bdx_error_t e = {0};
        snprintf(stale, sizeof(stale), "%s/gen-%" PRIu64, ck->index_dir, number);
        if (stat(stale, &sb) == 0 && generation_remove(ck->index_dir, number, &e) != 0)
            return bdx_error_set(err, BDX_ESTATE, "unpublished %s cannot be removed: %s", stale,
                                 bdx_error_message(&e));
    }
    memset(&st, 0, sizeof(st));
    rc = generation_write(ck->ix, number, ck->ix_lsn, full ? NULL : ck->g, ck->index_dir, &st,
                          err); /* 2 */
    if (rc != 0)
        return rc;
    crash_at(ck, "written");
    snprintf(dir, sizeof(dir), "%s/gen-%" PRIu64, ck->index_dir, number);
    snprintf(path, sizeof(path), "%s/%s", dir, BATCH_IDS_FILE);
    if ((rc = batch_ids_save(ck->ids, path, err)) != 0) /* 3 */
        return rc;
    crash_at(ck, "ids-saved");
    if ((rc = generation_publish(ck->index_dir, number, err)) != 0) /* 4 */
        return rc;
    crash_at(ck, "published");

    info->generation = number;
    info->lsn = ck->ix_lsn;
    info->unix_ms = now_unix_ms();
    info->bytes_written = st.bytes;
    info->duration_ms = (uint64_t)ms_since(&t0);
    info->new_generation = true;
    info->full = full;
    info->materialized_bytes = st.materialized_bytes;
    info->count++;
    pthread_mutex_lock(&ck->lock);
    ck->info = *info;
    pthread_mutex_unlock(&ck->lock);
    log_info("checkpoint", "generation published",
             "index=%s gen=%" PRIu64 " lsn=%" PRIu64 " kind=%s%s bytes=%" PRIu64
             " materialized=%" PRIu64 " ms=%" PRIu64,
             ck->name, number, info->lsn, full ? "base" : "delta", why, st.bytes,
             st.materialized_bytes, info->duration_ms);
    snprintf(rel, sizeof(rel), "indexes/%s/gen-%" PRIu64, ck->name, number);
    if (ck->published != NULL) /* 5 */
        ck->published(ck->published_arg, ck->name, number, info->lsn, rel);

    if (full) {
        /* Reload over the new base so that the next delta is relative to it (and the instance
         * is back to frozen views over the mapping). */
        bdx_error_t e = {0};
        if (load_instance(ck, number, false, &e) != 0) {
            log_warn("checkpoint", "reload after a new base failed; will retry",
                     "index=%s error=\"%s\"", ck->name, bdx_error_message(&e));
            index_free(ck->ix);
            ck->ix = NULL;
            generation_close(ck->g);
            ck->g = NULL;
            ck->g_number = number;
        }
        ck->base_bytes = st.bytes;
        ck->delta_bytes = ck->delta_materialized = 0;
    } else {
        ck->delta_bytes = st.bytes;
        ck->delta_materialized = st.materialized_bytes;
    }
    clean_up(ck, number, info->lsn); /* 6 */
    return 0;
}

/* ---- thread ---- */

/* True when a background trigger fires. Under ck->lock. */
static bool triggered(checkpoint_t *ck)
{
    uint64_t committed = commit_committed_lsn(ck->commit), bytes;
    uint32_t segments;

    if (ck->opts.disabled || committed <= ck->info.lsn)
        return false;
    if (committed - ck->info.lsn >= ck->opts.lsns)
        return true;
    if (ms_since(&ck->last) >= (int64_t)ck->opts.interval_ms)
        return true;
    commit_wal_usage(ck->commit, &bytes, &segments);
    return bytes >= ck->opts.wal_bytes;
}

static void *checkpoint_thread(void *arg)
{
    checkpoint_t *ck = arg;

    pthread_mutex_lock(&ck->lock);
    while (!ck->stop) {
        struct timespec until;
        if (!ck->force && ck->requested <= ck->info.lsn && !triggered(ck)) {
            clock_gettime(CLOCK_REALTIME, &until);
            until.tv_nsec += 200 * 1000000L;
            until.tv_sec += until.tv_nsec / 1000000000L;
            until.tv_nsec %= 1000000000L;
            pthread_cond_timedwait(&ck->wake, &ck->lock, &until);
            continue;
        }
        pthread_mutex_unlock(&ck->lock);
        checkpoint_info_t info;
        bdx_error_t e = {0};
        int rc = checkpoint_once(ck, &info, &e);
        pthread_mutex_lock(&ck->lock);
        clock_gettime(CLOCK_MONOTONIC, &ck->last);
        if (rc != 0) {
            ck->failures++;
            ck->last_rc = rc;
            ck->last_err = e;
            log_error("checkpoint", "checkpoint failed", "index=%s error=\"%s\"", ck->name,
                      bdx_error_message(&e));
            pthread_cond_broadcast(&ck->done);
            /* back off before the next background attempt */
            clock_gettime(CLOCK_REALTIME, &until);
            until.tv_sec += 1;
            if (!ck->stop)
                pthread_cond_timedwait(&ck->wake, &ck->lock, &until);
            ck->requested = 0;
            ck->force = false;
            continue;
        }
        ck->force = false;
        pthread_cond_broadcast(&ck->done);
    }
    pthread_cond_broadcast(&ck->done);
    pthread_mutex_unlock(&ck->lock);
    return NULL;
}

/* ---- API ---- */

int checkpoint_start(const char *index_dir, const char *name, const limits_t *limits,
                     commit_t *commit, uint64_t start_gen, uint64_t start_lsn,
                     const checkpoint_options_t *opts, checkpoint_published_fn published, void *arg,
                     checkpoint_t **out, bdx_error_t *err)
{
    checkpoint_t *ck = calloc(1, sizeof(*ck));
    char wal[PATH_MAX];
    int rc;

    *out = NULL;
    snprintf(wal, sizeof(wal), "%s/%s", index_dir, COMMIT_WAL_DIR);
    if (ck == NULL || (ck->index_dir = strdup(index_dir)) == NULL ||
        (ck->wal_dir = strdup(wal)) == NULL || (ck->name = strdup(name)) == NULL) {
        checkpoint_free(ck);
        return bdx_error_set(err, -ENOMEM, "out of memory");
    }
    ck->limits = *limits;
    ck->commit = commit;
    if (opts != NULL)
        ck->opts = *opts;
    if (ck->opts.wal_bytes == 0)
        ck->opts.wal_bytes = CHECKPOINT_DEFAULT_WAL_BYTES;
    if (ck->opts.lsns == 0)
        ck->opts.lsns = CHECKPOINT_DEFAULT_LSNS;
    if (ck->opts.interval_ms == 0)
        ck->opts.interval_ms = CHECKPOINT_DEFAULT_INTERVAL_MS;
    if (ck->opts.full_ratio <= 0)
        ck->opts.full_ratio = CHECKPOINT_DEFAULT_FULL_RATIO;
    if (ck->opts.full_materialized_ratio <= 0)
        ck->opts.full_materialized_ratio = CHECKPOINT_DEFAULT_FULL_MATERIALIZED_RATIO;
    ck->published = published;
    ck->published_arg = arg;
    ck->crash_point = getenv("BITDEX_TEST_CRASH_POINT");
    ck->g_number = start_gen;
    ck->info.generation = start_gen;
    ck->info.lsn = start_lsn;
    clock_gettime(CLOCK_MONOTONIC, &ck->last);
    pthread_mutex_init(&ck->lock, NULL);
    pthread_cond_init(&ck->wake, NULL);
    pthread_cond_init(&ck->done, NULL);
    ck->inited = true;
    remove_leftovers(ck, start_gen);
    if ((rc = -pthread_create(&ck->thread, NULL, checkpoint_thread, ck)) != 0) {
        checkpoint_free(ck);
        return bdx_error_set(err, rc, "cannot start the checkpoint thread: %s", bdx_strerror(rc));
    }
    ck->started = true;
    *out = ck;
    return 0;
}

void checkpoint_stop(checkpoint_t *ck)
{
    if (ck == NULL || !ck->started || ck->joined)
        return;
    pthread_mutex_lock(&ck->lock);
    ck->stop = true;
    pthread_cond_broadcast(&ck->wake);
    pthread_cond_broadcast(&ck->done);
    pthread_mutex_unlock(&ck->lock);
    pthread_join(ck->thread, NULL);
    ck->joined = true;
}

void checkpoint_free(checkpoint_t *ck)
{
    if (ck == NULL)
        return;
    checkpoint_stop(ck);
    if (ck->inited) {
        pthread_mutex_destroy(&ck->lock);
        pthread_cond_destroy(&ck->wake);
        pthread_cond_destroy(&ck->done);
    }
    index_free(ck->ix);
    generation_close(ck->g);
    batch_ids_free(ck->ids);
    free(ck->index_dir);
    free(ck->wal_dir);
    free(ck->name);
    free(ck);
}

int checkpoint_run(checkpoint_t *ck, checkpoint_info_t *info, bdx_error_t *err)
{
    uint64_t target = commit_committed_lsn(ck->commit), failures;
    int rc = 0;

    pthread_mutex_lock(&ck->lock);
    if (target <= ck->info.lsn && ck->info.generation > 0) {
        *info = ck->info;
        info->new_generation = false;
        pthread_mutex_unlock(&ck->lock);
        return 0;
    }
    if (ck->requested < target)
        ck->requested = target;
    if (ck->info.generation == 0) /* no generation yet: publish one even if nothing changed */
        ck->force = true;
    failures = ck->failures;
    pthread_cond_signal(&ck->wake);
    while (!ck->stop && ck->failures == failures &&
           !(ck->info.generation > 0 && ck->info.lsn >= target))
        pthread_cond_wait(&ck->done, &ck->lock);
    if (ck->failures != failures) {
        rc = ck->last_rc;
        if (err != NULL)
            *err = ck->last_err;
    } else if (ck->stop && !(ck->info.generation > 0 && ck->info.lsn >= target)) {
        rc = bdx_error_set(err, BDX_ESTATE, "index %s: the writer is stopping", ck->name);
    }
    *info = ck->info;
    info->new_generation = rc == 0;
    pthread_mutex_unlock(&ck->lock);
    return rc;
}

void checkpoint_last(checkpoint_t *ck, checkpoint_info_t *info)
{
    pthread_mutex_lock(&ck->lock);
    *info = ck->info;
    pthread_mutex_unlock(&ck->lock);
}

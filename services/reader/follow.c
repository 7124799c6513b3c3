/*
 * follow: one thread per replica tailing the WAL (see follow.h). The thread's loop: apply what
 * the bound allows, publish progress (condition variable for follow_wait_lsn), sleep until
 * follow_set_committed() or poll_ms.
 */
#include "services/reader/follow.h"

#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/log.h"
#include "common/wal.h"

struct follow {
    replica_t *rep;
    char *dir;
    follow_options_t opts;
    pthread_t thread;
    wal_reader_t *r; /* follower thread only */

    pthread_mutex_t lock;    /* guards the fields below */
    pthread_cond_t wake;     /* to the thread: bound raised, stop */
    pthread_cond_t progress; /* from the thread: replica_lsn() advanced or an attempt ended */
    uint64_t committed;
    bool stop;
    bool bumped; /* committed changed since the thread last looked */
    bdx_error_t error;
};

static void deadline_after(struct timespec *ts, uint32_t ms)
{
    clock_gettime(CLOCK_MONOTONIC, ts);
    ts->tv_sec += ms / 1000;
    ts->tv_nsec += (long)(ms % 1000) * 1000000L;
    if (ts->tv_nsec >= 1000000000L) {
        ts->tv_sec++;
        ts->tv_nsec -= 1000000000L;
    }
}

/* Applies frames up to `bound`. Returns 0 (made progress or nothing to do) or an error in e.
 * *at_end: the log had no further complete frame. */
static int step(follow_t *f, uint64_t bound, bool *at_end, bdx_error_t *e)
{
    uint64_t want = replica_lsn(f->rep) + 1;
    int rc = 0;

    *at_end = false;
    if (f->r != NULL && wal_reader_next_lsn(f->r) != want) { /* a switch moved the replica */
        wal_reader_close(f->r);
        f->r = NULL;
    }
    if (f->r == NULL && (rc = wal_reader_open(f->dir, want, f->opts.log_id, &f->r, e)) != 0)
        return rc;
    while (replica_lsn(f->rep) < bound) {
        const void *payload;
        uint64_t lsn;
        size_t len;
        rc = wal_reader_next(f->r, &lsn, &payload, &len, e);
        if (rc == WAL_AGAIN) {
            *at_end = true;
            return 0;
        }
        if (rc == 0)
            rc = replica_apply(f->rep, lsn, payload, len, NULL, e);
        if (rc != 0) {
            wal_reader_close(f->r); /* a failed reader stays failed; re-open next time */
            f->r = NULL;
            return rc;
        }
    }
    return 0;
}

static void *run(void *arg)
{
    follow_t *f = arg;
    uint32_t poll_ms = f->opts.poll_ms ? f->opts.poll_ms : 100;
    int last_logged = 0;

    pthread_mutex_lock(&f->lock);
    while (!f->stop) {
        uint64_t bound = f->committed;
        bdx_error_t e = {0};
        bool at_end;
        f->bumped = false;
        pthread_mutex_unlock(&f->lock);

        int rc = step(f, bound, &at_end, &e);
        if (rc == 0)
            bdx_error_clear(&e);
        uint64_t lsn = replica_lsn(f->rep);
        if (rc == 0 && !replica_ready(f->rep) &&
            (bound == FOLLOW_UNBOUNDED ? at_end : lsn >= bound))
            replica_set_ready(f->rep, true);
        if (rc != 0 && rc != last_logged)
            log_warn("follow", "cannot follow the wal", "index=%s dir=%s lsn=%llu error=\"%s\"",
                     replica_name(f->rep), f->dir, (unsigned long long)lsn, bdx_error_message(&e));
        last_logged = rc;

        pthread_mutex_lock(&f->lock);
        f->error = e;
        pthread_cond_broadcast(&f->progress);
        /* Go again at once when the bound moved meanwhile; else sleep until told or poll_ms. */
        if (!f->stop && !f->bumped) {
            struct timespec ts;
            deadline_after(&ts, poll_ms);
            pthread_cond_timedwait(&f->wake, &f->lock, &ts);
        }
    }
    pthread_mutex_unlock(&f->lock);
    wal_reader_close(f->r);
    f->r = NULL;
    return NULL;
}

int follow_start(replica_t *rep, const char *wal_dir, const follow_options_t *opts, follow_t **out,
                 bdx_error_t *err)
{
    follow_t *f = calloc(1, sizeof(*f));
    pthread_condattr_t ca;
    int rc;

    *out = NULL;
    if (f == NULL || (f->dir = strdup(wal_dir)) == NULL) {
        free(f);
        return bdx_error_set(err, -ENOMEM, "follow: out of memory");
    }
    f->rep = rep;
    if (opts != NULL)
        f->opts = *opts;
    f->committed = FOLLOW_UNBOUNDED;
    pthread_mutex_init(&f->lock, NULL);
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&f->wake, &ca);
    pthread_cond_init(&f->progress, &ca);
    pthread_condattr_destroy(&ca);
    if ((rc = pthread_create(&f->thread, NULL, run, f)) != 0) {
        pthread_cond_destroy(&f->wake);
        pthread_cond_destroy(&f->progress);
        pthread_mutex_destroy(&f->lock);
        free(f->dir);
        free(f);
        return bdx_error_set(err, -rc, "follow: cannot start the thread");
    }
    *out = f;
    return 0;
}

void follow_stop(follow_t *f)
{
    if (f == NULL)
        return;
    pthread_mutex_lock(&f->lock);
    f->stop = true;
    pthread_cond_broadcast(&f->wake);
    pthread_mutex_unlock(&f->lock);
    pthread_join(f->thread, NULL);
    pthread_cond_destroy(&f->wake);
    pthread_cond_destroy(&f->progress);
    pthread_mutex_destroy(&f->lock);
    free(f->dir);
    free(f);
}

void follow_set_committed(follow_t *f, uint64_t lsn)
{
    pthread_mutex_lock(&f->lock);
    if (lsn == FOLLOW_UNBOUNDED || f->committed == FOLLOW_UNBOUNDED || lsn > f->committed) {
        f->committed = lsn;
        f->bumped = true;
        pthread_cond_signal(&f->wake);
    }
    pthread_mutex_unlock(&f->lock);
}

int follow_wait_lsn(follow_t *f, uint64_t lsn, uint32_t timeout_ms)
{
    struct timespec ts;
    int rc = 0;

    deadline_after(&ts, timeout_ms);
    pthread_mutex_lock(&f->lock);
    while (replica_lsn(f->rep) < lsn && rc == 0)
        if (pthread_cond_timedwait(&f->progress, &f->lock, &ts) == ETIMEDOUT)
            rc = replica_lsn(f->rep) >= lsn ? 0 : BDX_EDEADLINE;
    pthread_mutex_unlock(&f->lock);
    return rc;
}

int follow_error(follow_t *f, bdx_error_t *err)
{
    int rc;

    pthread_mutex_lock(&f->lock);
    rc = f->error.code;
    if (err != NULL)
        *err = f->error;
    pthread_mutex_unlock(&f->lock);
    return rc;
}

int follow_catchup(void *arg, replica_pair_t *pair, uint64_t to_lsn, bdx_error_t *err)
{
    follow_t *f = arg;
    wal_reader_t *r;
    int rc;

    if (replica_pair_lsn(pair) >= to_lsn)
        return 0;
    if ((rc = wal_reader_open(f->dir, replica_pair_lsn(pair) + 1, f->opts.log_id, &r, err)) != 0)
        return rc;
    while (rc == 0 && replica_pair_lsn(pair) < to_lsn) {
        const void *payload;
        uint64_t lsn;
        size_t len;
        rc = wal_reader_next(r, &lsn, &payload, &len, err);
        if (rc == WAL_AGAIN)
            rc = bdx_error_set(err, BDX_ESTATE, "follow: frame LSN %llu not in %s for catch-up",
                               (unsigned long long)replica_pair_lsn(pair) + 1, f->dir);
        else if (rc == 0)
            rc = replica_pair_apply(pair, lsn, payload, len, NULL, err);
    }
    wal_reader_close(r);
    return rc;
}

int follow_switch(follow_t *f, replica_load_fn load, void *load_arg, bdx_error_t *err)
{
    int rc = replica_switch(f->rep, load, load_arg, follow_catchup, f, err);

    pthread_mutex_lock(&f->lock); /* the follower re-opens at the new replica_lsn() */
    f->bumped = true;
    pthread_cond_signal(&f->wake);
    pthread_mutex_unlock(&f->lock);
    return rc;
}

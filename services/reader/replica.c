/*
 * replica: a pair of index instances under Left-Right, fed WAL frames, swapped whole for a newer
 * generation (see replica.h). Two levels of Left-Right: each pair's lr over its two instances
 * (frames), and the replica's lr over two pointers to the current pair (switches). Both are
 * written under the replica's one mutex.
 */
#include "services/reader/replica.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "common/apply.h"

typedef struct replica_inst {
    index_t *ix;
    uint64_t lsn; /* last frame applied to ix; written with ix, before lr publishes it */
} replica_inst_t;

struct replica_pair {
    lr_t *lr; /* over inst[0], inst[1] */
    replica_inst_t inst[2];
    uint64_t lsn;    /* last frame applied to both (writer side) */
    limits_t limits; /* the replica's, for apply_check() */
};

struct replica {
    char *name;
    limits_t limits;
    lr_t *cur;               /* over slot[0], slot[1]: the current pair, for queries */
    replica_pair_t *slot[2]; /* written only through lr_write(cur) */
    pthread_mutex_t lock;    /* serializes apply and switch */
    replica_pair_t *pair;    /* the current pair, writer side (under lock) */
    _Atomic uint64_t lsn;    /* pair->lsn, for any thread */
    atomic_bool ready;
    atomic_ullong frames, switches, pairs_freed;
};

/* ---- pairs ---- */

static void pair_free(replica_pair_t *p)
{
    if (p == NULL)
        return;
    lr_free(p->lr);
    index_free(p->inst[0].ix);
    index_free(p->inst[1].ix);
    free(p);
}

/* One instance's load, run on its own thread for instance 0. */
typedef struct load_job {
    replica_load_fn load;
    void *arg;
    replica_inst_t *inst;
    int rc;
    bdx_error_t err;
} load_job_t;

static void *load_thread(void *arg)
{
    load_job_t *j = arg;

    j->rc = j->load(j->arg, &j->inst->ix, &j->inst->lsn, &j->err);
    return NULL;
}

/* Builds both instances at once: instance 0 on a new thread, instance 1 on this one (the two
 * loads of a 10M-document generation are each ~0.8 s of building hash tables). When no thread
 * can be started, one after the other. */
static int pair_load(const limits_t *limits, replica_load_fn load, void *arg, replica_pair_t **out,
                     bdx_error_t *err)
{
    replica_pair_t *p = calloc(1, sizeof(*p));
    load_job_t job = {0};
    pthread_t t;
    bool threaded;
    int rc;

    *out = NULL;
    if (p == NULL)
        return bdx_error_set(err, -ENOMEM, "replica: out of memory");
    p->limits = *limits;
    job = (load_job_t){load, arg, &p->inst[0], 0, {0}};
    threaded = pthread_create(&t, NULL, load_thread, &job) == 0;
    if (!threaded)
        load_thread(&job);
    rc = load(arg, &p->inst[1].ix, &p->inst[1].lsn, err);
    if (threaded)
        pthread_join(t, NULL);
    if (rc == 0 && job.rc != 0) {
        *err = job.err;
        rc = job.rc;
    }
    if (rc != 0)
        goto fail;
    if (p->inst[0].ix == NULL || p->inst[1].ix == NULL) {
        rc = bdx_error_set(err, BDX_EINTERNAL, "replica: load gave no index");
        goto fail;
    }
    if (p->inst[0].lsn != p->inst[1].lsn) {
        rc = bdx_error_set(err, BDX_EINVAL, "replica: the two loads are at LSN %llu and %llu",
                           (unsigned long long)p->inst[0].lsn, (unsigned long long)p->inst[1].lsn);
        goto fail;
    }
    p->lsn = p->inst[0].lsn;
    if ((rc = lr_new(&p->inst[0], &p->inst[1], &p->lr)) != 0) {
        rc = bdx_error_set(err, rc, "replica: out of memory");
        goto fail;
    }
    *out = p;
    return 0;
fail:
    pair_free(p);
    return rc;
}

uint64_t replica_pair_lsn(const replica_pair_t *pair)
{
    return pair->lsn;
}

typedef struct apply_ctx {
    const Bitdex__V1__ApplyRequest *req;
    uint64_t lsn;
    bdx_error_t err;
} apply_ctx_t;

/* lr_write_fn: the same batch on one instance, then its LSN. */
static int apply_one(void *instance, void *arg)
{
    replica_inst_t *in = instance;
    apply_ctx_t *c = arg;
    int rc;

    if ((rc = apply_run(in->ix, c->req, NULL, &c->err)) != 0)
        return rc;
    in->lsn = c->lsn;
    return 0;
}

int replica_pair_apply(replica_pair_t *pair, uint64_t lsn, const void *payload, size_t len,
                       bool *applied, bdx_error_t *err)
{
    Bitdex__V1__ApplyRequest *req;
    apply_ctx_t ctx = {0};
    lr_outcome_t outcome;
    int rc;

    if (applied != NULL)
        *applied = false;
    if (lr_failed(pair->lr))
        return bdx_error_set(err, BDX_ESTATE,
                             "replica: failed at an earlier frame (LSN %llu); reload needed",
                             (unsigned long long)pair->lsn + 1);
    if (lsn <= pair->lsn)
        return 0;
    if (lsn != pair->lsn + 1)
        return bdx_error_set(err, BDX_ESTATE, "replica: frame LSN %llu after LSN %llu (gap)",
                             (unsigned long long)lsn, (unsigned long long)pair->lsn);
    req = bitdex__v1__apply_request__unpack(NULL, len, payload);
    if (req == NULL)
        return bdx_error_set(err, BDX_ECORRUPT, "replica: frame LSN %llu is not an ApplyRequest",
                             (unsigned long long)lsn);
    /* apply_check() only reads, like the queries on the same instance: allowed concurrently. */
    if ((rc = apply_check(pair->inst[0].ix, &pair->limits, req, &ctx.err)) != 0) {
        rc = bdx_error_set(err, BDX_ECORRUPT, "replica: frame LSN %llu rejected: %s",
                           (unsigned long long)lsn, bdx_error_message(&ctx.err));
        goto out;
    }
    ctx.req = req;
    ctx.lsn = lsn;
    rc = lr_write(pair->lr, apply_one, &ctx, &outcome);
    if (rc == 0 || outcome == LR_DIVERGED)
        pair->lsn = lsn; /* queries see the frame */
    if (rc != 0)
        rc = bdx_error_set(err, rc, "replica: frame LSN %llu failed on the %s instance: %s",
                           (unsigned long long)lsn, outcome == LR_DIVERGED ? "second" : "first",
                           bdx_error_message(&ctx.err));
    else if (applied != NULL)
        *applied = true;
out:
    bitdex__v1__apply_request__free_unpacked(req, NULL);
    return rc;
}

/* ---- the replica ---- */

int replica_open(const char *name, const limits_t *limits, replica_load_fn load, void *load_arg,
                 replica_t **out, bdx_error_t *err)
{
    replica_t *rep = calloc(1, sizeof(*rep));
    int rc;

    *out = NULL;
    if (rep == NULL || (rep->name = strdup(name)) == NULL) {
        free(rep);
        return bdx_error_set(err, -ENOMEM, "replica: out of memory");
    }
    if (limits != NULL)
        rep->limits = *limits;
    else
        limits_defaults(&rep->limits);
    if ((rc = pair_load(&rep->limits, load, load_arg, &rep->pair, err)) != 0)
        goto fail;
    rep->slot[0] = rep->slot[1] = rep->pair;
    if ((rc = lr_new(&rep->slot[0], &rep->slot[1], &rep->cur)) != 0) {
        rc = bdx_error_set(err, rc, "replica: out of memory");
        goto fail;
    }
    pthread_mutex_init(&rep->lock, NULL);
    atomic_init(&rep->lsn, rep->pair->lsn);
    atomic_init(&rep->ready, false);
    *out = rep;
    return 0;
fail:
    pair_free(rep->pair);
    free(rep->name);
    free(rep);
    return rc;
}

void replica_close(replica_t *rep)
{
    if (rep == NULL)
        return;
    pair_free(rep->pair);
    lr_free(rep->cur);
    pthread_mutex_destroy(&rep->lock);
    free(rep->name);
    free(rep);
}

const char *replica_name(const replica_t *rep)
{
    return rep->name;
}

int replica_apply(replica_t *rep, uint64_t lsn, const void *payload, size_t len, bool *applied,
                  bdx_error_t *err)
{
    int rc;
    bool done = false;

    pthread_mutex_lock(&rep->lock);
    rc = replica_pair_apply(rep->pair, lsn, payload, len, &done, err);
    atomic_store(&rep->lsn, rep->pair->lsn);
    if (done)
        atomic_fetch_add(&rep->frames, 1);
    if (applied != NULL)
        *applied = done;
    pthread_mutex_unlock(&rep->lock);
    return rc;
}

uint64_t replica_lsn(const replica_t *rep)
{
    return atomic_load(&rep->lsn);
}

bool replica_failed(const replica_t *rep)
{
    replica_t *r = (replica_t *)rep;
    bool failed;

    pthread_mutex_lock(&r->lock);
    failed = lr_failed(r->pair->lr);
    pthread_mutex_unlock(&r->lock);
    return failed;
}

void replica_set_ready(replica_t *rep, bool ready)
{
    atomic_store(&rep->ready, ready);
}

bool replica_ready(const replica_t *rep)
{
    return atomic_load(&((replica_t *)rep)->ready);
}

void replica_acquire(replica_t *rep, replica_snap_t *snap)
{
    lr_token_t outer;
    replica_pair_t *p = *(replica_pair_t **)lr_read_begin(rep->cur, &outer);
    /* Arrive on the pair before leaving the outer section: a switch that has seen us leave
     * the outer section therefore sees us on the pair (replica.h). */
    const replica_inst_t *in = lr_read_begin(p->lr, &snap->token_);

    lr_read_end(rep->cur, outer);
    snap->ix = in->ix;
    snap->lsn = in->lsn;
    snap->pair_ = p;
}

void replica_release(replica_t *rep, replica_snap_t *snap)
{
    (void)rep;
    lr_read_end(snap->pair_->lr, snap->token_);
    snap->ix = NULL;
    snap->pair_ = NULL;
}

void replica_stats(const replica_t *rep, replica_stats_t *st)
{
    replica_t *r = (replica_t *)rep;
    st->frames = atomic_load(&r->frames);
    st->switches = atomic_load(&r->switches);
    st->pairs_freed = atomic_load(&r->pairs_freed);
}

static int set_slot(void *instance, void *arg)
{
    *(replica_pair_t **)instance = arg;
    return 0;
}

int replica_switch(replica_t *rep, replica_load_fn load, void *load_arg, replica_catchup_fn catchup,
                   void *catchup_arg, bdx_error_t *err)
{
    replica_pair_t *np = NULL, *old;
    uint64_t target;
    int rc;

    if ((rc = pair_load(&rep->limits, load, load_arg, &np, err)) != 0)
        return rc;
    /* Bulk of the catch-up without the lock: the follower keeps applying meanwhile. */
    target = replica_lsn(rep);
    if (catchup != NULL && np->lsn < target && (rc = catchup(catchup_arg, np, target, err)) != 0)
        goto fail;
    pthread_mutex_lock(&rep->lock);
    target = rep->pair->lsn;
    if (catchup != NULL && np->lsn < target && (rc = catchup(catchup_arg, np, target, err)) != 0) {
        pthread_mutex_unlock(&rep->lock);
        goto fail;
    }
    if (np->lsn < target) {
        pthread_mutex_unlock(&rep->lock);
        rc = bdx_error_set(err, BDX_ESTATE, "replica %s: new pair at LSN %llu is behind LSN %llu",
                           rep->name, (unsigned long long)np->lsn, (unsigned long long)target);
        goto fail;
    }
    lr_write(rep->cur, set_slot, np, NULL); /* cannot fail: set_slot does not */
    old = rep->pair;
    rep->pair = np;
    atomic_store(&rep->lsn, np->lsn);
    pthread_mutex_unlock(&rep->lock);
    /* No acquire can reach `old` any more; the queries holding it only drain. */
    atomic_fetch_add(&rep->switches, 1);
    lr_wait_idle(old->lr);
    pair_free(old);
    atomic_fetch_add(&rep->pairs_freed, 1);
    return 0;
fail:
    pair_free(np);
    return rc;
}

/*
 * leftright: the Left-Right algorithm (see leftright.h for the contract and the memory-ordering
 * argument). The read indicator of each version is LR_STRIPES counters on their own cache lines;
 * a thread always uses the same stripe (assigned round robin at its first read), so readers on
 * different cores rarely share a line, and the writer's scan costs 2 * LR_STRIPES loads.
 */
#include "common/leftright.h"

#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <stdalign.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define LINE 64

typedef struct stripe {
    alignas(LINE) atomic_long readers;
} stripe_t;

struct lr {
    stripe_t ri[2][LR_STRIPES];           /* read indicators, by version then stripe */
    alignas(LINE) atomic_uint left_right; /* instance readers start on: 0 or 1 */
    atomic_uint version;                  /* read indicator new readers arrive on: 0 or 1 */
    atomic_bool failed;
    void *inst[2];
    pthread_mutex_t write_lock;
};

static atomic_uint next_stripe;
static _Thread_local unsigned my_stripe_plus1; /* 0 = not assigned yet */

static unsigned my_stripe(void)
{
    if (my_stripe_plus1 == 0)
        my_stripe_plus1 =
            1 + atomic_fetch_add_explicit(&next_stripe, 1, memory_order_relaxed) % LR_STRIPES;
    return my_stripe_plus1 - 1;
}

int lr_new(void *inst0, void *inst1, lr_t **out)
{
    lr_t *lr = aligned_alloc(LINE, sizeof(*lr));

    *out = NULL;
    if (lr == NULL)
        return -ENOMEM;
    memset(lr, 0, sizeof(*lr));
    for (int v = 0; v < 2; v++)
        for (int s = 0; s < LR_STRIPES; s++)
            atomic_init(&lr->ri[v][s].readers, 0);
    atomic_init(&lr->left_right, 0);
    atomic_init(&lr->version, 0);
    atomic_init(&lr->failed, false);
    lr->inst[0] = inst0;
    lr->inst[1] = inst1;
    pthread_mutex_init(&lr->write_lock, NULL);
    *out = lr;
    return 0;
}

void lr_free(lr_t *lr)
{
    if (lr == NULL)
        return;
    pthread_mutex_destroy(&lr->write_lock);
    free(lr);
}

void *lr_read_begin(lr_t *lr, lr_token_t *token)
{
    unsigned s = my_stripe();
    unsigned vi = atomic_load(&lr->version);

    atomic_fetch_add(&lr->ri[vi][s].readers, 1); /* arrive: seq_cst, before the load below */
    *token = (lr_token_t)(s << 1 | vi);
    return lr->inst[atomic_load(&lr->left_right)];
}

void lr_read_end(lr_t *lr, lr_token_t token)
{
    /* release: the section's reads happen before the writer's next change of this instance */
    atomic_fetch_sub_explicit(&lr->ri[token & 1][token >> 1].readers, 1, memory_order_release);
}

/* Spins briefly, then yields, then sleeps: writers wait for readers, which never wait. */
static void backoff(unsigned *n)
{
    if (++*n < 64)
        return;
    if (*n < 128) {
        sched_yield();
        return;
    }
    struct timespec ts = {0, 50000};
    nanosleep(&ts, NULL);
}

/* Waits until every stripe of version `vi` has read 0 once (seq_cst loads, see the header). */
static void wait_empty(lr_t *lr, unsigned vi)
{
    for (int s = 0; s < LR_STRIPES; s++) {
        unsigned n = 0;
        while (atomic_load(&lr->ri[vi][s].readers) != 0)
            backoff(&n);
    }
}

int lr_write(lr_t *lr, lr_write_fn fn, void *arg, lr_outcome_t *outcome)
{
    lr_outcome_t out = LR_APPLIED;
    unsigned other, vi;
    int rc = 0;

    pthread_mutex_lock(&lr->write_lock);
    if (atomic_load(&lr->failed)) {
        out = LR_REFUSED;
        rc = BDX_ESTATE;
        goto out;
    }
    /* Only writers store left_right and version, and they hold the lock: relaxed reads. */
    other = 1 - atomic_load_explicit(&lr->left_right, memory_order_relaxed);
    if ((rc = fn(lr->inst[other], arg)) != 0) {
        out = LR_NOT_VISIBLE;
        atomic_store(&lr->failed, true);
        goto out;
    }
    atomic_store(&lr->left_right, other); /* new readers read the modified instance */
    vi = atomic_load_explicit(&lr->version, memory_order_relaxed);
    wait_empty(lr, 1 - vi);
    atomic_store(&lr->version, 1 - vi);
    wait_empty(lr, vi); /* every reader of the old instance has left */
    if ((rc = fn(lr->inst[1 - other], arg)) != 0) {
        out = LR_DIVERGED;
        atomic_store(&lr->failed, true);
    }
out:
    pthread_mutex_unlock(&lr->write_lock);
    if (outcome != NULL)
        *outcome = out;
    return rc;
}

bool lr_failed(lr_t *lr)
{
    return atomic_load(&lr->failed);
}

void lr_wait_idle(lr_t *lr)
{
    wait_empty(lr, 0);
    wait_empty(lr, 1);
}

void *lr_current(lr_t *lr)
{
    return lr->inst[atomic_load(&lr->left_right)];
}

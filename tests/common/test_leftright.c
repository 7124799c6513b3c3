/*
 * Tests common/leftright.c: reader threads continuously read a structure (an array, its version
 * and its checksum) while writers rewrite it; no reader ever sees a torn state, a read section's
 * instance stays unchanged while held, versions never go backwards for a reader, the writer
 * waits for readers of the old instance (and only for them), and the failure outcomes.
 * Every thread is joined before a test returns.
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "common/error.h"
#include "common/leftright.h"

#define NVALS 64

typedef struct obj {
    uint64_t version;
    uint64_t vals[NVALS];
    uint64_t sum;
} obj_t;

static uint64_t mix(uint64_t v, uint64_t i)
{
    uint64_t z = v * 0x9E3779B97F4A7C15ULL + i;
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
    return z ^ (z >> 27);
}

/* The write: next version, every value rewritten (a torn read would mix versions). */
static int bump(void *instance, void *arg)
{
    obj_t *o = instance;
    uint64_t sum = 0;
    (void)arg;
    o->version++;
    for (int i = 0; i < NVALS; i++) {
        o->vals[i] = mix(o->version, (uint64_t)i);
        sum += o->vals[i];
    }
    o->sum = sum;
    return 0;
}

static bool consistent(const obj_t *o)
{
    uint64_t sum = 0;
    for (int i = 0; i < NVALS; i++) {
        if (o->vals[i] != mix(o->version, (uint64_t)i))
            return false;
        sum += o->vals[i];
    }
    return sum == o->sum;
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

typedef struct shared {
    lr_t *lr;
    atomic_bool stop;
    atomic_ulong reads, torn, backwards, changed;
    atomic_ulong writes, errors;
} shared_t;

static void *reader(void *arg)
{
    shared_t *sh = arg;
    uint64_t last = 0, n = 0;
    while (!atomic_load(&sh->stop)) {
        lr_token_t t;
        const obj_t *o = lr_read_begin(sh->lr, &t);
        uint64_t v = o->version, s = o->sum;
        if (!consistent(o))
            atomic_fetch_add(&sh->torn, 1);
        if (v < last)
            atomic_fetch_add(&sh->backwards, 1);
        last = v;
        if ((n & 255) == 0)
            sched_yield(); /* hold the section across a reschedule now and then */
        if (o->version != v || o->sum != s || !consistent(o))
            atomic_fetch_add(&sh->changed, 1);
        lr_read_end(sh->lr, t);
        n++;
    }
    atomic_fetch_add(&sh->reads, n);
    return NULL;
}

static void *writer(void *arg)
{
    shared_t *sh = arg;
    while (!atomic_load(&sh->stop)) {
        if (lr_write(sh->lr, bump, NULL, NULL) != 0)
            atomic_fetch_add(&sh->errors, 1);
        else
            atomic_fetch_add(&sh->writes, 1);
    }
    return NULL;
}

static void run_stress(int nreaders, int nwriters, double seconds)
{
    obj_t a = {0}, b = {0};
    shared_t sh = {0};
    pthread_t th[32];
    int n = 0;

    bump(&a, NULL);
    bump(&b, NULL);
    cr_assert_eq(lr_new(&a, &b, &sh.lr), 0);
    for (int i = 0; i < nreaders; i++)
        cr_assert_eq(pthread_create(&th[n++], NULL, reader, &sh), 0);
    for (int i = 0; i < nwriters; i++)
        cr_assert_eq(pthread_create(&th[n++], NULL, writer, &sh), 0);
    double t0 = now_s();
    while (now_s() - t0 < seconds)
        nanosleep(&(struct timespec){0, 10 * 1000 * 1000}, NULL);
    atomic_store(&sh.stop, true);
    for (int i = 0; i < n; i++)
        pthread_join(th[i], NULL);
    double dt = now_s() - t0;

    unsigned long writes = atomic_load(&sh.writes), reads = atomic_load(&sh.reads);
    printf("leftright: %d readers %d writers %.2fs: %lu reads (%.0f/s), %lu writes (%.0f/s)\n",
           nreaders, nwriters, dt, reads, (double)reads / dt, writes, (double)writes / dt);
    cr_assert_eq(atomic_load(&sh.errors), 0, "failed writes");
    cr_assert_eq(atomic_load(&sh.torn), 0, "torn reads");
    cr_assert_eq(atomic_load(&sh.changed), 0, "instance changed inside a read section");
    cr_assert_eq(atomic_load(&sh.backwards), 0, "a reader saw an older version");
    cr_assert_gt(reads, 0);
    cr_assert_gt(writes, 0);
    /* both instances received every write, in order */
    cr_assert_eq(a.version, 1 + writes);
    cr_assert_eq(b.version, 1 + writes);
    cr_assert(consistent(&a) && consistent(&b));
    cr_assert(!lr_failed(sh.lr));
    lr_free(sh.lr);
}

Test(leftright, readers_never_see_torn_state)
{
    run_stress(6, 1, 1.0);
}

Test(leftright, concurrent_writers_serialize)
{
    run_stress(4, 3, 0.5);
}

/* ---- the writer waits for readers of the old instance, and only for them ---- */

typedef struct wctx {
    lr_t *lr;
    atomic_bool done;
} wctx_t;

static void *write_once(void *arg)
{
    wctx_t *w = arg;
    if (lr_write(w->lr, bump, NULL, NULL) == 0)
        atomic_store(&w->done, true);
    return NULL;
}

Test(leftright, writer_waits_for_old_readers)
{
    obj_t a = {0}, b = {0};
    wctx_t w = {0};
    lr_token_t t, t2;
    pthread_t th;

    cr_assert_eq(lr_new(&a, &b, &w.lr), 0);
    const obj_t *held = lr_read_begin(w.lr, &t);
    cr_assert_eq(held, &a);
    cr_assert_eq(pthread_create(&th, NULL, write_once, &w), 0);
    /* the first application (to b) becomes visible without waiting for us */
    double t0 = now_s();
    while (lr_current(w.lr) != &b && now_s() - t0 < 5)
        sched_yield();
    cr_assert_eq(lr_current(w.lr), &b);
    const obj_t *fresh = lr_read_begin(w.lr, &t2); /* a new reader is not blocked */
    cr_assert_eq(fresh, &b);
    cr_assert_eq(fresh->version, 1);
    lr_read_end(w.lr, t2);
    nanosleep(&(struct timespec){0, 50 * 1000 * 1000}, NULL);
    cr_assert(!atomic_load(&w.done), "the writer did not wait for the reader of a");
    cr_assert_eq(held->version, 0, "the held instance changed");
    lr_read_end(w.lr, t);
    pthread_join(th, NULL);
    cr_assert(atomic_load(&w.done));
    cr_assert_eq(a.version, 1);
    cr_assert_eq(b.version, 1);
    lr_free(w.lr);
}

/* ---- failures ---- */

typedef struct fail_ctx {
    int calls;
    int fail_on; /* 1-based call that fails */
} fail_ctx_t;

static int bump_or_fail(void *instance, void *arg)
{
    fail_ctx_t *f = arg;
    if (++f->calls == f->fail_on) {
        ((obj_t *)instance)->version = 999; /* half-applied garbage */
        return -ENOMEM;
    }
    return bump(instance, NULL);
}

Test(leftright, failure_on_first_instance_is_not_visible)
{
    obj_t a = {0}, b = {0};
    fail_ctx_t f = {0, 1};
    lr_outcome_t out;
    lr_token_t t;
    lr_t *lr;

    cr_assert_eq(lr_new(&a, &b, &lr), 0);
    cr_assert_eq(lr_write(lr, bump_or_fail, &f, &out), -ENOMEM);
    cr_assert_eq(out, LR_NOT_VISIBLE);
    cr_assert(lr_failed(lr));
    const obj_t *o = lr_read_begin(lr, &t);
    cr_assert_eq(o->version, 0); /* readers still see the untouched instance */
    lr_read_end(lr, t);
    cr_assert_eq(lr_write(lr, bump, NULL, &out), BDX_ESTATE);
    cr_assert_eq(out, LR_REFUSED);
    lr_free(lr);
}

Test(leftright, failure_on_second_instance_diverges)
{
    obj_t a = {0}, b = {0};
    fail_ctx_t f = {0, 4};
    lr_outcome_t out;
    lr_token_t t;
    lr_t *lr;

    cr_assert_eq(lr_new(&a, &b, &lr), 0);
    cr_assert_eq(lr_write(lr, bump_or_fail, &f, &out), 0);
    cr_assert_eq(out, LR_APPLIED);
    cr_assert_eq(lr_write(lr, bump_or_fail, &f, &out), -ENOMEM);
    cr_assert_eq(out, LR_DIVERGED);
    cr_assert(lr_failed(lr));
    const obj_t *o = lr_read_begin(lr, &t);
    cr_assert_eq(o->version, 2); /* the write is visible, consistent */
    cr_assert(consistent(o));
    lr_read_end(lr, t);
    cr_assert_eq(lr_write(lr, bump, NULL, NULL), BDX_ESTATE);
    lr_free(lr);
}

Test(leftright, nested_sections_and_wait_idle)
{
    obj_t a = {0}, b = {0};
    lr_token_t t1, t2;
    lr_t *lr;

    cr_assert_eq(lr_new(&a, &b, &lr), 0);
    const obj_t *o1 = lr_read_begin(lr, &t1);
    const obj_t *o2 = lr_read_begin(lr, &t2);
    cr_assert_eq(o1, o2);
    lr_read_end(lr, t2);
    lr_read_end(lr, t1);
    cr_assert_eq(lr_write(lr, bump, NULL, NULL), 0);
    lr_wait_idle(lr); /* returns: nothing open */
    cr_assert_eq(((const obj_t *)lr_current(lr))->version, 1);
    lr_free(lr);
}

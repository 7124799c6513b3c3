/*
 * A plain C (no Criterion) stress test of common/leftright.c, so it can run under
 * ThreadSanitizer (Criterion's runner crashes under TSan on this host). Reader threads read an
 * array + version + checksum while writer threads rewrite it, and a switcher keeps replacing a
 * whole lr the way services/reader/replica.c does (an lr over two pointers to the current lr,
 * old one freed after lr_wait_idle()). Exit 0 when no reader saw a torn or changing state.
 * Usage: stress_leftright [seconds] (default 1).
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "common/leftright.h"

#define NVALS 32
#define NREADERS 4
#define NWRITERS 2

typedef struct obj {
    uint64_t version;
    uint64_t vals[NVALS];
    uint64_t sum;
} obj_t;

/* One "pair": an lr over two obj_t; the outer lr's instances point at the current pair. */
typedef struct pair {
    obj_t a, b;
    lr_t *lr;
} pair_t;

static lr_t *outer;
static pair_t *slots[2];
static pthread_mutex_t switch_lock = PTHREAD_MUTEX_INITIALIZER;
static pair_t *current; /* under switch_lock */
static atomic_bool stop;
static atomic_ulong reads, writes, switches, bad;

static uint64_t mix(uint64_t v, uint64_t i)
{
    uint64_t z = v * 0x9E3779B97F4A7C15ULL + i;
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
    return z ^ (z >> 27);
}

static int bump(void *instance, void *arg)
{
    obj_t *o = instance;
    uint64_t sum = 0;
    (void)arg;
    o->version++;
    for (int i = 0; i < NVALS; i++)
        sum += o->vals[i] = mix(o->version, (uint64_t)i);
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

static pair_t *pair_new(uint64_t version)
{
    pair_t *p = calloc(1, sizeof(*p));
    if (p == NULL)
        abort();
    p->a.version = p->b.version = version - 1;
    bump(&p->a, NULL);
    bump(&p->b, NULL);
    if (lr_new(&p->a, &p->b, &p->lr) != 0)
        abort();
    return p;
}

static void pair_free(pair_t *p)
{
    lr_free(p->lr);
    free(p);
}

static int set_slot(void *instance, void *arg)
{
    *(pair_t **)instance = arg;
    return 0;
}

static void *reader(void *arg)
{
    unsigned long n = 0;
    (void)arg;
    while (!atomic_load(&stop)) {
        lr_token_t to, ti;
        pair_t *p = *(pair_t **)lr_read_begin(outer, &to);
        const obj_t *o = lr_read_begin(p->lr, &ti);
        lr_read_end(outer, to);
        uint64_t v = o->version;
        if (!consistent(o))
            atomic_fetch_add(&bad, 1);
        if ((n & 63) == 0)
            sched_yield();
        if (o->version != v || !consistent(o))
            atomic_fetch_add(&bad, 1);
        lr_read_end(p->lr, ti);
        n++;
    }
    atomic_fetch_add(&reads, n);
    return NULL;
}

static void *writer(void *arg)
{
    (void)arg;
    while (!atomic_load(&stop)) {
        pthread_mutex_lock(&switch_lock);
        int rc = lr_write(current->lr, bump, NULL, NULL);
        pthread_mutex_unlock(&switch_lock);
        if (rc != 0)
            atomic_fetch_add(&bad, 1);
        atomic_fetch_add(&writes, 1);
    }
    return NULL;
}

static void *switcher(void *arg)
{
    (void)arg;
    while (!atomic_load(&stop)) {
        pthread_mutex_lock(&switch_lock);
        pair_t *old = current, *p = pair_new(old->a.version + 1000);
        if (lr_write(outer, set_slot, p, NULL) != 0)
            atomic_fetch_add(&bad, 1);
        current = p;
        pthread_mutex_unlock(&switch_lock);
        lr_wait_idle(old->lr); /* nobody can reach old any more: it only drains */
        pair_free(old);
        atomic_fetch_add(&switches, 1);
        nanosleep(&(struct timespec){0, 1000 * 1000}, NULL);
    }
    return NULL;
}

int main(int argc, char **argv)
{
    double seconds = argc > 1 ? atof(argv[1]) : 1.0;
    pthread_t th[NREADERS + NWRITERS + 1];
    int n = 0;

    current = pair_new(1);
    slots[0] = slots[1] = current;
    if (lr_new(&slots[0], &slots[1], &outer) != 0)
        return 2;
    for (int i = 0; i < NREADERS; i++)
        pthread_create(&th[n++], NULL, reader, NULL);
    for (int i = 0; i < NWRITERS; i++)
        pthread_create(&th[n++], NULL, writer, NULL);
    pthread_create(&th[n++], NULL, switcher, NULL);
    nanosleep(
        &(struct timespec){(time_t)seconds, (long)((seconds - (double)(time_t)seconds) * 1e9)},
        NULL);
    atomic_store(&stop, true);
    for (int i = 0; i < n; i++)
        pthread_join(th[i], NULL);
    printf("stress_leftright: %lu reads, %lu writes, %lu switches, %lu bad\n", atomic_load(&reads),
           atomic_load(&writes), atomic_load(&switches), atomic_load(&bad));
    pair_free(current);
    lr_free(outer);
    return atomic_load(&bad) == 0 && atomic_load(&reads) > 0 && atomic_load(&writes) > 0 &&
                   atomic_load(&switches) > 0
               ? 0
               : 1;
}

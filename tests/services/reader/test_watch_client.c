/* Tests services/reader/watch_client.c against a real in-process writer (port 0): events reach
 * the callbacks in order, the client reconnects when the writer stops and another one starts
 * (new address via watch_client_set_target), a writer that goes silent for three heartbeats is
 * dropped and retried, the backoff grows while nobody listens, and stop joins promptly. */
#include <criterion/criterion.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "common/log.h"
#include "common/rpc.h"
#include "services/reader/watch_client.h"
#include "tests/services/writer/writer_fixture.h"

#include "bitdex/v1/writer.pb-c.h"

static void quiet(void)
{
    log_set_level(LOG_ERROR);
}

TestSuite(watch_client, .init = quiet, .timeout = 60);

static int64_t now_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* What the callbacks saw. */
typedef struct rec {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    uint64_t lsn, lsn_events, gen, gen_lsn;
    bool order_ok;
    int connected, disconnected, created, dropped;
    int last_status;
    char last_details[256], gen_path[128];
} rec_t;

static void rec_init(rec_t *r)
{
    memset(r, 0, sizeof(*r));
    pthread_mutex_init(&r->mu, NULL);
    pthread_cond_init(&r->cv, NULL);
    r->order_ok = true;
}

static void on_connected(void *arg)
{
    rec_t *r = arg;

    pthread_mutex_lock(&r->mu);
    r->connected++;
    pthread_cond_broadcast(&r->cv);
    pthread_mutex_unlock(&r->mu);
}

static void on_disconnected(void *arg, int status, const char *details)
{
    rec_t *r = arg;

    pthread_mutex_lock(&r->mu);
    r->disconnected++;
    r->last_status = status;
    snprintf(r->last_details, sizeof(r->last_details), "%s", details);
    pthread_cond_broadcast(&r->cv);
    pthread_mutex_unlock(&r->mu);
}

static void on_lsn(void *arg, const char *index, uint64_t lsn)
{
    rec_t *r = arg;

    pthread_mutex_lock(&r->mu);
    if (strcmp(index, "images") == 0) {
        /* per stream, LSNs never go back (a new stream may repeat the last one) */
        if (lsn < r->lsn)
            r->order_ok = false;
        r->lsn = lsn;
        r->lsn_events++;
    }
    pthread_cond_broadcast(&r->cv);
    pthread_mutex_unlock(&r->mu);
}

static void on_generation(void *arg, const char *index, uint64_t gen, uint64_t lsn,
                          const char *path)
{
    rec_t *r = arg;

    (void)index;
    pthread_mutex_lock(&r->mu);
    r->gen = gen;
    r->gen_lsn = lsn;
    snprintf(r->gen_path, sizeof(r->gen_path), "%s", path);
    pthread_cond_broadcast(&r->cv);
    pthread_mutex_unlock(&r->mu);
}

static void on_index_changed(void *arg, const char *index, watch_client_change_t kind)
{
    rec_t *r = arg;

    (void)index;
    pthread_mutex_lock(&r->mu);
    if (kind == WATCH_CLIENT_INDEX_CREATED)
        r->created++;
    else
        r->dropped++;
    pthread_cond_broadcast(&r->cv);
    pthread_mutex_unlock(&r->mu);
}

/* Waits up to `ms` for `cond` (an expression over r, evaluated under r->mu). */
#define WAIT_FOR(r, ms, cond)                                                     \
    do {                                                                          \
        int64_t until_ = now_ms() + (ms);                                         \
        pthread_mutex_lock(&(r)->mu);                                             \
        while (!(cond) && now_ms() < until_) {                                    \
            struct timespec ts_;                                                  \
            clock_gettime(CLOCK_REALTIME, &ts_);                                  \
            ts_.tv_nsec += 10 * 1000000L;                                         \
            ts_.tv_sec += ts_.tv_nsec / 1000000000L;                              \
            ts_.tv_nsec %= 1000000000L;                                           \
            pthread_cond_timedwait(&(r)->cv, &(r)->mu, &ts_);                     \
        }                                                                         \
        bool ok_ = (cond);                                                        \
        pthread_mutex_unlock(&(r)->mu);                                           \
        cr_assert(ok_, "timed out after %d ms waiting for %s", (int)(ms), #cond); \
    } while (0)

static const watch_client_callbacks_t CB = {on_connected,  on_disconnected,  on_lsn,
                                            on_generation, on_index_changed, NULL};

static watch_client_t *start_client(rec_t *r, const char *target, const char *index, uint32_t hb_ms)
{
    const char *idx[1] = {index};
    watch_client_config_t cfg = {target, "test-reader", idx, index ? 1 : 0, hb_ms, 0, 0};
    watch_client_callbacks_t cb = CB;
    watch_client_t *wc;
    bdx_error_t err = {0};

    cb.arg = r;
    cr_assert_eq(watch_client_start(&cfg, &cb, &wc, &err), 0, "%s", bdx_error_message(&err));
    return wc;
}

static void target_of(int port, char *buf, size_t n)
{
    snprintf(buf, n, "127.0.0.1:%d", port);
}

Test(watch_client, follows_lsns_generations_and_index_changes)
{
    writer_fixture_t f;
    rec_t r;
    char target[64];
    uint64_t lsn = 0;
    bdx_error_t err = {0};

    rec_init(&r);
    writer_fixture_start(&f, NULL, true);
    target_of(f.port, target, sizeof(target));
    watch_client_t *wc = start_client(&r, target, NULL, 100);
    WAIT_FOR(&r, 10000, r.connected == 1);
    for (uint32_t i = 0; i < 50; i++)
        lsn = writer_fixture_put(&f, "images", i);
    WAIT_FOR(&r, 10000, r.lsn == lsn);
    catalog_generation_t gen = {4, lsn, 1};
    cr_assert_eq(catalog_set_generation(f.cat, "images", &gen, NULL), 0);
    WAIT_FOR(&r, 10000, r.gen == 4);
    cr_assert_eq(r.gen_lsn, lsn);
    cr_assert_str_eq(r.gen_path, "indexes/images/gen-4");
    writer_fixture_create(&f, "posts");
    WAIT_FOR(&r, 10000, r.created == 1);
    cr_assert_eq(catalog_drop(f.cat, "posts", &err), 0);
    WAIT_FOR(&r, 10000, r.dropped == 1);
    /* idle with heartbeats of 100 ms: the stream stays up */
    struct timespec pause = {0, 500 * 1000000L};
    nanosleep(&pause, NULL);
    cr_assert_eq(watch_client_connections(wc), 1);
    cr_assert(r.order_ok);
    cr_assert_leq(r.lsn_events, 51, "coalesced: at most one per commit plus the initial one");
    int64_t t0 = now_ms();
    watch_client_stop(wc);
    cr_assert_lt(now_ms() - t0, 1000, "stop joins promptly");
    writer_fixture_stop(&f, false);
}

Test(watch_client, reconnects_to_the_next_writer)
{
    writer_fixture_t f;
    rec_t r;
    char target[64], dir[64];
    uint64_t lsn = 0;

    rec_init(&r);
    writer_fixture_start(&f, NULL, true);
    snprintf(dir, sizeof(dir), "%s", f.dir);
    target_of(f.port, target, sizeof(target));
    watch_client_t *wc = start_client(&r, target, "images", 0);
    for (uint32_t i = 0; i < 3; i++)
        lsn = writer_fixture_put(&f, "images", i);
    WAIT_FOR(&r, 10000, r.connected == 1 && r.lsn == lsn);
    writer_fixture_stop(&f, true); /* streams end UNAVAILABLE "writer stopping" */
    WAIT_FOR(&r, 10000, r.disconnected >= 1);
    cr_assert_eq(r.last_status, GRPC_STATUS_UNAVAILABLE, "%d %s", r.last_status, r.last_details);
    /* the next writer on the same data, at a new address */
    writer_fixture_start(&f, dir, true);
    target_of(f.port, target, sizeof(target));
    cr_assert_eq(watch_client_set_target(wc, target), 0);
    WAIT_FOR(&r, 10000, r.connected == 2);
    WAIT_FOR(&r, 10000, r.lsn == lsn); /* the initial LsnAdvance of the new stream */
    lsn = writer_fixture_put(&f, "images", 9);
    WAIT_FOR(&r, 10000, r.lsn == lsn);
    cr_assert(r.order_ok);
    watch_client_stop(wc);
    writer_fixture_stop(&f, false);
}

/* A Watch that never sends anything. */
static atomic_int silent_calls;

static void silent_watch(rpc_call_t *call, const ProtobufCMessage *req, void *ctx)
{
    (void)call;
    (void)req;
    (void)ctx;
    atomic_fetch_add(&silent_calls, 1); /* never ends the call: the client must give up */
}

Test(watch_client, silent_writer_is_dropped_after_three_heartbeats)
{
    rpc_server_config_t cfg = {.listen_addr = "127.0.0.1:0", .workers = 1, .grace_ms = 100};
    rpc_method_t m = {"/bitdex.v1.Writer/Watch",
                      RPC_SERVER_STREAMING,
                      &bitdex__v1__watch_request__descriptor,
                      silent_watch,
                      NULL,
                      NULL,
                      NULL};
    rpc_server_t *srv;
    bdx_error_t err = {0};
    char target[64];
    rec_t r;

    rec_init(&r);
    cr_assert_eq(rpc_server_new(&cfg, &srv, &err), 0);
    cr_assert_eq(rpc_server_add_methods(srv, &m, 1, &err), 0);
    cr_assert_eq(rpc_server_start(srv, &err), 0);
    target_of(rpc_server_port(srv), target, sizeof(target));
    int64_t t0 = now_ms();
    watch_client_t *wc = start_client(&r, target, "images", 100);
    WAIT_FOR(&r, 5000, r.disconnected >= 1);
    int64_t took = now_ms() - t0;
    cr_assert_eq(r.last_status, GRPC_STATUS_DEADLINE_EXCEEDED, "%d %s", r.last_status,
                 r.last_details);
    cr_assert(took >= 250 && took < 3000, "dropped after %lld ms (3 x 100 ms)", (long long)took);
    WAIT_FOR(&r, 5000, r.disconnected >= 2); /* and it tried again */
    cr_assert_geq(atomic_load(&silent_calls), 2);
    cr_assert_eq(r.connected, 0);
    watch_client_stop(wc);
    rpc_server_free(srv);
}

Test(watch_client, backoff_grows_while_nobody_listens)
{
    rec_t r;
    char target[64];
    rpc_server_config_t cfg = {.listen_addr = "127.0.0.1:0", .workers = 1};
    rpc_server_t *srv;
    bdx_error_t err = {0};
    int port;

    /* a port that was free a moment ago: bind one, note it, close it */
    rec_init(&r);
    cr_assert_eq(rpc_server_new(&cfg, &srv, &err), 0);
    cr_assert_eq(rpc_server_start(srv, &err), 0);
    port = rpc_server_port(srv);
    rpc_server_free(srv);
    target_of(port, target, sizeof(target));
    watch_client_t *wc = start_client(&r, target, "images", 0);
    struct timespec pause = {1, 500 * 1000000L};
    nanosleep(&pause, NULL);
    pthread_mutex_lock(&r.mu);
    int attempts = r.disconnected;
    pthread_mutex_unlock(&r.mu);
    /* waits of [50,100] + [100,200] + [200,400] + [400,800] ms: 3 to 6 attempts in 1.5 s, far
     * from the ~30 of a fixed 50 ms */
    cr_assert(attempts >= 2 && attempts <= 7, "%d attempts in 1.5 s", attempts);
    cr_assert_eq(r.last_status, GRPC_STATUS_UNAVAILABLE, "%d %s", r.last_status, r.last_details);
    int64_t t0 = now_ms();
    watch_client_stop(wc);
    cr_assert_lt(now_ms() - t0, 1000, "stop interrupts the backoff");
}

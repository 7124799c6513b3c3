/* Tests services/writer/watch.c and the Writer.Watch / GetStats handlers on a real server
 * (port 0) with a real catalog: initial events, LSNs in order and coalesced with the final one
 * always delivered, heartbeats, validation, many and slow subscribers, created/dropped indexes,
 * generations, writer stop (UNAVAILABLE), standby, GetStats fields. */
#include <criterion/criterion.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/log.h"
#include "tests/common/rpc_client.h"
#include "writer_fixture.h"

#include "bitdex/v1/writer.pb-c.h"

#define WATCH "/bitdex.v1.Writer/Watch"
#define STATS "/bitdex.v1.Writer/GetStats"

static void quiet(void)
{
    log_set_level(LOG_ERROR);
}

TestSuite(watch, .init = quiet, .timeout = 60);

static int64_t now_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Opens a Watch stream on `index` (NULL: every index). */
static void open_watch(rpc_client_t *c, rpc_client_stream_t *s, const char *index,
                       const char *reader, uint32_t hb_ms)
{
    Bitdex__V1__WatchRequest req = BITDEX__V1__WATCH_REQUEST__INIT;
    Bitdex__V1__WatchedIndex wi = BITDEX__V1__WATCHED_INDEX__INIT, *pwi = &wi;

    wi.index = (char *)index;
    if (index != NULL) {
        req.n_indexes = 1;
        req.indexes = &pwi;
    }
    req.reader_id = (char *)reader;
    req.heartbeat_interval_ms = hb_ms;
    cr_assert(rpc_client_stream_open(c, s, WATCH, 30000, NULL, NULL));
    cr_assert(rpc_client_stream_send(s, &req.base));
    cr_assert(rpc_client_stream_close_send(s));
}

static Bitdex__V1__WatchEvent *next_event(rpc_client_stream_t *s)
{
    return (Bitdex__V1__WatchEvent *)rpc_client_stream_recv(s,
                                                            &bitdex__v1__watch_event__descriptor);
}

/* Next event that is not a heartbeat (NULL at the end of the stream). */
static Bitdex__V1__WatchEvent *next_non_hb(rpc_client_stream_t *s)
{
    Bitdex__V1__WatchEvent *e;

    while ((e = next_event(s)) != NULL && e->event_case == BITDEX__V1__WATCH_EVENT__EVENT_HEARTBEAT)
        bitdex__v1__watch_event__free_unpacked(e, NULL);
    return e;
}

static void expect_lsn(rpc_client_stream_t *s, const char *index, uint64_t lsn)
{
    Bitdex__V1__WatchEvent *e = next_non_hb(s);

    cr_assert_not_null(e);
    cr_assert_eq(e->event_case, BITDEX__V1__WATCH_EVENT__EVENT_LSN_ADVANCE, "case %d",
                 e->event_case);
    cr_assert_str_eq(e->lsn_advance->index, index);
    cr_assert_eq(e->lsn_advance->lsn, lsn, "lsn %llu want %llu",
                 (unsigned long long)e->lsn_advance->lsn, (unsigned long long)lsn);
    bitdex__v1__watch_event__free_unpacked(e, NULL);
}

/* Reads LsnAdvance events of `index` until `final`: strictly increasing; returns their count. */
static size_t read_until(rpc_client_stream_t *s, const char *index, uint64_t final)
{
    uint64_t last = 0;
    size_t n = 0;

    while (n == 0 || last < final) {
        Bitdex__V1__WatchEvent *e = next_non_hb(s);
        cr_assert_not_null(e, "stream ended at lsn %llu < %llu", (unsigned long long)last,
                           (unsigned long long) final);
        cr_assert_eq(e->event_case, BITDEX__V1__WATCH_EVENT__EVENT_LSN_ADVANCE);
        cr_assert_str_eq(e->lsn_advance->index, index);
        if (n > 0)
            cr_assert_gt(e->lsn_advance->lsn, last, "LSN order");
        cr_assert_leq(e->lsn_advance->lsn, final);
        last = e->lsn_advance->lsn;
        n++;
        bitdex__v1__watch_event__free_unpacked(e, NULL);
    }
    return n;
}

static grpc_status_code finish(rpc_client_stream_t *s, char *details, size_t len)
{
    rpc_client_stream_cancel(s);
    return rpc_client_stream_finish(s, details, len);
}

Test(watch, initial_events_then_live_lsns_and_heartbeats)
{
    writer_fixture_t f;
    rpc_client_t c;
    rpc_client_stream_t s;
    catalog_generation_t gen = {2, 2, 1700000000000};
    Bitdex__V1__WatchEvent *e;
    uint64_t lsn = 0;

    writer_fixture_start(&f, NULL, true);
    for (uint32_t i = 0; i < 3; i++)
        lsn = writer_fixture_put(&f, "images", i);
    cr_assert_eq(catalog_set_generation(f.cat, "images", &gen, NULL), 0);
    rpc_client_open(&c, f.port);
    open_watch(&c, &s, "images", "reader-1", 100);
    e = next_non_hb(&s);
    cr_assert_not_null(e);
    cr_assert_eq(e->event_case, BITDEX__V1__WATCH_EVENT__EVENT_GENERATION_PUBLISHED);
    cr_assert_str_eq(e->generation_published->index, "images");
    cr_assert_eq(e->generation_published->generation, 2);
    cr_assert_eq(e->generation_published->checkpoint_lsn, 2);
    cr_assert_str_eq(e->generation_published->path, "indexes/images/gen-2");
    bitdex__v1__watch_event__free_unpacked(e, NULL);
    expect_lsn(&s, "images", lsn);
    /* idle: heartbeats every ~100 ms */
    int64_t t0 = now_ms();
    for (int i = 0; i < 3; i++) {
        e = next_event(&s);
        cr_assert_not_null(e);
        cr_assert_eq(e->event_case, BITDEX__V1__WATCH_EVENT__EVENT_HEARTBEAT);
        cr_assert_gt(e->heartbeat->writer_time_unix_ms, 1600000000000LL);
        bitdex__v1__watch_event__free_unpacked(e, NULL);
    }
    int64_t took = now_ms() - t0;
    cr_assert(took >= 200 && took < 2000, "3 heartbeats of 100 ms took %lld ms", (long long)took);
    /* live */
    lsn = writer_fixture_put(&f, "images", 10);
    expect_lsn(&s, "images", lsn);
    /* a newer generation: after an LsnAdvance covering it */
    gen = (catalog_generation_t){3, lsn, 1700000000001};
    cr_assert_eq(catalog_set_generation(f.cat, "images", &gen, NULL), 0);
    e = next_non_hb(&s);
    cr_assert_eq(e->event_case, BITDEX__V1__WATCH_EVENT__EVENT_GENERATION_PUBLISHED);
    cr_assert_eq(e->generation_published->generation, 3);
    cr_assert_eq(e->generation_published->checkpoint_lsn, lsn);
    bitdex__v1__watch_event__free_unpacked(e, NULL);
    cr_assert_eq(finish(&s, NULL, 0), GRPC_STATUS_CANCELLED);
    rpc_client_close(&c);
    writer_fixture_stop(&f, false);
}

Test(watch, empty_index_gets_lsn_zero)
{
    writer_fixture_t f;
    rpc_client_t c;
    rpc_client_stream_t s;

    writer_fixture_start(&f, NULL, true);
    rpc_client_open(&c, f.port);
    open_watch(&c, &s, "images", "r", 0);
    expect_lsn(&s, "images", 0);
    finish(&s, NULL, 0);
    rpc_client_close(&c);
    writer_fixture_stop(&f, false);
}

Test(watch, invalid_requests)
{
    writer_fixture_t f;
    rpc_client_t c;
    rpc_client_stream_t s;
    char details[256], longid[200];
    struct {
        const char *index, *reader;
        uint32_t hb;
        grpc_status_code want;
        const char *contains;
    } cases[] = {
        {"images", "r", 50, GRPC_STATUS_INVALID_ARGUMENT, "heartbeat_interval_ms: 50"},
        {"images", "r", 60001, GRPC_STATUS_INVALID_ARGUMENT, "heartbeat_interval_ms"},
        {"nope", "r", 0, GRPC_STATUS_NOT_FOUND, "indexes[0].index: index nope not found"},
        {"", "r", 0, GRPC_STATUS_INVALID_ARGUMENT, "indexes[0].index: required"},
        {"images", longid, 0, GRPC_STATUS_INVALID_ARGUMENT, "reader_id: 129 bytes"},
    };

    memset(longid, 'x', 129);
    longid[129] = '\0';
    writer_fixture_start(&f, NULL, true);
    rpc_client_open(&c, f.port);
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        open_watch(&c, &s, cases[i].index, cases[i].reader, cases[i].hb);
        cr_assert_null(next_event(&s));
        cr_assert_eq(rpc_client_stream_finish(&s, details, sizeof(details)), cases[i].want,
                     "case %zu: %s", i, details);
        cr_assert_not_null(strstr(details, cases[i].contains), "case %zu: %s", i, details);
    }
    rpc_client_close(&c);
    writer_fixture_stop(&f, false);
}

typedef struct writer_args {
    writer_fixture_t *f;
    int n;
    uint64_t last;
} writer_args_t;

static void *put_many(void *arg)
{
    writer_args_t *a = arg;

    for (int i = 0; i < a->n; i++)
        a->last = writer_fixture_put(a->f, "images", (uint32_t)i);
    return NULL;
}

typedef struct reader_args {
    int port;
    uint64_t final;
    size_t events;
} reader_args_t;

Test(watch, many_subscribers_in_order_coalesced_slow_one_does_not_block)
{
    enum {
        READERS = 6,
        PUTS = 400
    };
    writer_fixture_t f;
    rpc_client_t c[READERS], slow_c;
    rpc_client_stream_t s[READERS], slow;
    writer_args_t w;
    pthread_t t;

    writer_fixture_start(&f, NULL, true);
    for (int i = 0; i < READERS; i++) {
        rpc_client_open(&c[i], f.port);
        open_watch(&c[i], &s[i], "images", "reader", 1000);
        expect_lsn(&s[i], "images", 0);
    }
    rpc_client_open(&slow_c, f.port);
    open_watch(&slow_c, &slow, "images", "slow", 1000); /* never read until the end */
    w = (writer_args_t){&f, PUTS, 0};
    int64_t t0 = now_ms();
    cr_assert_eq(pthread_create(&t, NULL, put_many, &w), 0);
    pthread_join(t, NULL);
    int64_t took = now_ms() - t0;
    for (int i = 0; i < READERS; i++) {
        size_t n = read_until(&s[i], "images", w.last);
        cr_assert_geq(n, 1);
        cr_assert_leq(n, PUTS);
        finish(&s[i], NULL, 0);
        rpc_client_close(&c[i]);
    }
    /* the slow one gets the initial event (at whatever LSN it subscribed), then the final one */
    read_until(&slow, "images", w.last);
    cr_log_info("%d puts in %lld ms with %d readers and a slow one", PUTS, (long long)took,
                READERS);
    finish(&slow, NULL, 0);
    rpc_client_close(&slow_c);
    writer_fixture_stop(&f, false);
}

Test(watch, follow_all_created_and_dropped)
{
    writer_fixture_t f;
    rpc_client_t c;
    rpc_client_stream_t s;
    Bitdex__V1__WatchEvent *e;
    bdx_error_t err = {0};

    writer_fixture_start(&f, NULL, true);
    rpc_client_open(&c, f.port);
    open_watch(&c, &s, NULL, "all", 0);
    expect_lsn(&s, "images", 0);
    writer_fixture_create(&f, "posts");
    e = next_non_hb(&s);
    cr_assert_eq(e->event_case, BITDEX__V1__WATCH_EVENT__EVENT_INDEX_CHANGED);
    cr_assert_str_eq(e->index_changed->index, "posts");
    cr_assert_eq(e->index_changed->kind, BITDEX__V1__INDEX_CHANGE_KIND__INDEX_CHANGE_KIND_CREATED);
    bitdex__v1__watch_event__free_unpacked(e, NULL);
    uint64_t lsn = writer_fixture_put(&f, "posts", 1);
    expect_lsn(&s, "posts", lsn);
    cr_assert_eq(catalog_drop(f.cat, "posts", &err), 0);
    e = next_non_hb(&s);
    cr_assert_eq(e->event_case, BITDEX__V1__WATCH_EVENT__EVENT_INDEX_CHANGED);
    cr_assert_eq(e->index_changed->kind, BITDEX__V1__INDEX_CHANGE_KIND__INDEX_CHANGE_KIND_DROPPED);
    bitdex__v1__watch_event__free_unpacked(e, NULL);
    /* re-created: its LSNs start again and are announced */
    writer_fixture_create(&f, "posts");
    e = next_non_hb(&s);
    cr_assert_eq(e->event_case, BITDEX__V1__WATCH_EVENT__EVENT_INDEX_CHANGED);
    bitdex__v1__watch_event__free_unpacked(e, NULL);
    lsn = writer_fixture_put(&f, "posts", 1);
    expect_lsn(&s, "posts", lsn);
    finish(&s, NULL, 0);
    rpc_client_close(&c);
    writer_fixture_stop(&f, false);
}

Test(watch, stop_ends_streams_unavailable_and_refuses_new_ones)
{
    writer_fixture_t f;
    rpc_client_t c;
    rpc_client_stream_t s;
    char details[256];

    writer_fixture_start(&f, NULL, true);
    rpc_client_open(&c, f.port);
    open_watch(&c, &s, "images", "r", 0);
    expect_lsn(&s, "images", 0);
    cr_assert_eq(watch_stream_count(f.watch), 1);
    watch_stop(f.watch);
    cr_assert_null(next_non_hb(&s));
    cr_assert_eq(rpc_client_stream_finish(&s, details, sizeof(details)), GRPC_STATUS_UNAVAILABLE);
    cr_assert_str_eq(details, "writer stopping");
    open_watch(&c, &s, "images", "r", 0);
    cr_assert_null(next_event(&s));
    cr_assert_eq(rpc_client_stream_finish(&s, details, sizeof(details)), GRPC_STATUS_UNAVAILABLE);
    rpc_client_close(&c);
    writer_fixture_stop(&f, false);
}

Test(watch, standby_is_unavailable)
{
    writer_fixture_t f;
    rpc_client_t c;
    rpc_client_stream_t s;
    char details[256];

    writer_fixture_start(&f, NULL, false);
    rpc_client_open(&c, f.port);
    open_watch(&c, &s, "images", "r", 0);
    cr_assert_null(next_event(&s));
    cr_assert_eq(rpc_client_stream_finish(&s, details, sizeof(details)), GRPC_STATUS_UNAVAILABLE);
    cr_assert_not_null(strstr(details, "standby"), "%s", details);
    rpc_client_close(&c);
    writer_fixture_stop(&f, false);
}

Test(watch, get_stats)
{
    writer_fixture_t f;
    rpc_client_t c;
    rpc_client_stream_t s;
    rpc_client_result_t r;
    Bitdex__V1__GetStatsRequest req = BITDEX__V1__GET_STATS_REQUEST__INIT;
    const ProtobufCMessage *reqs[1] = {&req.base};
    uint64_t lsn = 0;

    writer_fixture_start(&f, NULL, true);
    writer_fixture_create(&f, "alpha");
    for (uint32_t i = 0; i < 5; i++)
        lsn = writer_fixture_put(&f, "images", i);
    rpc_client_open(&c, f.port);
    open_watch(&c, &s, "images", "pod-7", 0);
    expect_lsn(&s, "images", lsn);

    req.index = "images";
    rpc_client_call(&c, STATS, reqs, 1, NULL, 0, &bitdex__v1__get_stats_response__descriptor, 10000,
                    &r);
    cr_assert_eq(r.status, GRPC_STATUS_OK, "%s", r.details);
    cr_assert_eq(r.n_msgs, 1);
    Bitdex__V1__GetStatsResponse *resp = (Bitdex__V1__GetStatsResponse *)r.msgs[0];
    cr_assert_eq(resp->n_indexes, 1);
    Bitdex__V1__IndexStats *st = resp->indexes[0];
    cr_assert_str_eq(st->index, "images");
    cr_assert_eq(st->document_count, 5);
    cr_assert_eq(st->committed_lsn, lsn);
    cr_assert_gt(st->memory_bytes, 0);
    cr_assert_gt(st->wal_bytes, 40);
    cr_assert_geq(st->wal_segments, 1);
    cr_assert_eq(st->generation, 0);
    cr_assert_eq(st->n_watchers, 1);
    cr_assert_str_eq(st->watchers[0]->reader_id, "pod-7");
    cr_assert_not_null(strstr(st->watchers[0]->peer, "127.0.0.1"), "%s", st->watchers[0]->peer);
    cr_assert_eq(st->watchers[0]->sent_lsn, lsn);
    cr_assert_gt(st->watchers[0]->connected_unix_ms, 1600000000000LL);
    cr_assert_gt(resp->rss_bytes, 1 << 20);
    rpc_client_result_free(&r);

    req.index = "";
    rpc_client_call(&c, STATS, reqs, 1, NULL, 0, &bitdex__v1__get_stats_response__descriptor, 10000,
                    &r);
    cr_assert_eq(r.status, GRPC_STATUS_OK, "%s", r.details);
    resp = (Bitdex__V1__GetStatsResponse *)r.msgs[0];
    cr_assert_eq(resp->n_indexes, 2);
    cr_assert_str_eq(resp->indexes[0]->index, "alpha");
    cr_assert_eq(resp->indexes[0]->n_watchers, 0);
    cr_assert_str_eq(resp->indexes[1]->index, "images");
    rpc_client_result_free(&r);

    req.index = "nope";
    rpc_client_call(&c, STATS, reqs, 1, NULL, 0, &bitdex__v1__get_stats_response__descriptor, 10000,
                    &r);
    cr_assert_eq(r.status, GRPC_STATUS_NOT_FOUND, "%s", r.details);
    rpc_client_result_free(&r);
    finish(&s, NULL, 0);
    rpc_client_close(&c);
    writer_fixture_stop(&f, false);
}

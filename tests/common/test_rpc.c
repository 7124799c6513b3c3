/*
 * test_rpc: common/rpc*.c against a real in-process server on 127.0.0.1:0 and the C-core test
 * client. Test methods reuse the health protocol's request (a single string) as their request
 * and reflection's ErrorResponse (an int and a string) as their response.
 */
#include "common/rpc.h"

#include "common/error.h"
#include "rpc_client.h"
#include "thirdparty/grpc/health/v1/health.pb-c.h"
#include "thirdparty/grpc/reflection/v1/reflection.pb-c.h"

#include <criterion/criterion.h>
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

typedef Grpc__Health__V1__HealthCheckRequest req_t;
typedef Grpc__Reflection__V1__ErrorResponse resp_t;
#define REQ_DESC (&grpc__health__v1__health_check_request__descriptor)
#define RESP_DESC (&grpc__reflection__v1__error_response__descriptor)

/* ---- server side ----
 * Handlers run on server threads, where Criterion's asserts must not be used: they count
 * failures in g_server_errors instead, and the suite's teardown asserts it stayed 0. */

static atomic_int g_server_errors;
#define SCHECK_EQ(a, b) scheck((a) == (b), #a " == " #b, __LINE__)
#define SCHECK_LEQ(a, b) scheck((a) <= (b), #a " <= " #b, __LINE__)

static void scheck(bool ok, const char *what, int line)
{
    if (!ok) {
        fprintf(stderr, "test_rpc.c:%d: server-side check failed: %s\n", line, what);
        atomic_fetch_add(&g_server_errors, 1);
    }
}

static atomic_bool g_work_started, g_work_done, g_saw_deadline, g_saw_cancel;
static atomic_int g_sent_ok;

static void reply(rpc_call_t *call, int code, const char *text)
{
    resp_t r = GRPC__REFLECTION__V1__ERROR_RESPONSE__INIT;
    r.error_code = code;
    r.error_message = (char *)text;
    int rc = rpc_call_reply(call, &r.base);
    SCHECK_EQ(rc == 0 || (rc == BDX_ETOOBIG && strlen(text) > 1000), true);
}

/* "fail:<code>:<message>" fails with that code; "meta" echoes the authorization header;
 * anything else is echoed. */
static void unary(rpc_call_t *call, const ProtobufCMessage *msg, void *ctx)
{
    const req_t *req = (const void *)msg;
    int code;
    int off = 0;
    if (sscanf(req->service, "fail:%d:%n", &code, &off) == 1 && off > 0) {
        rpc_call_fail(call, code, "%s", req->service + off);
    } else if (strcmp(req->service, "meta") == 0) {
        const char *v = rpc_call_metadata(call, "authorization");
        reply(call, 0, v ? v : "(none)");
    } else {
        reply(call, 0, req->service);
    }
}

/* "<n>" sends n messages at once; "flow:<n>" sends one per on_sent. */
static void on_sent_next(rpc_call_t *call, bool ok, void *arg)
{
    int left = (int)(intptr_t)arg;
    if (!ok)
        return;
    atomic_fetch_add(&g_sent_ok, 1);
    if (left == 0) {
        rpc_call_finish(call, 0, NULL);
        return;
    }
    resp_t r = GRPC__REFLECTION__V1__ERROR_RESPONSE__INIT;
    r.error_code = left;
    SCHECK_EQ(rpc_call_send(call, &r.base, on_sent_next, (void *)(intptr_t)(left - 1)), 0);
}

static void count(rpc_call_t *call, const ProtobufCMessage *msg, void *ctx)
{
    const req_t *req = (const void *)msg;
    int n;
    if (sscanf(req->service, "flow:%d", &n) == 1) {
        resp_t r = GRPC__REFLECTION__V1__ERROR_RESPONSE__INIT;
        r.error_code = n;
        SCHECK_EQ(rpc_call_send(call, &r.base, on_sent_next, (void *)(intptr_t)(n - 1)), 0);
        return;
    }
    n = atoi(req->service);
    for (int i = 0; i < n; i++) {
        resp_t r = GRPC__REFLECTION__V1__ERROR_RESPONSE__INIT;
        r.error_code = i;
        SCHECK_EQ(rpc_call_send(call, &r.base, NULL, NULL), 0);
    }
    SCHECK_LEQ(rpc_call_send_queued(call), (size_t)n);
    SCHECK_EQ(rpc_call_finish(call, 0, NULL), 0);
    SCHECK_EQ(rpc_call_finish(call, 0, NULL), BDX_ESTATE);
}

/* Client streaming: each message is appended on the thread pool (so reading must wait). */
typedef struct sum {
    char text[256];
    int n;
} sum_t;

static void sum_start(rpc_call_t *call, const ProtobufCMessage *msg, void *ctx)
{
    SCHECK_EQ(msg, NULL);
    rpc_call_set_data(call, calloc(1, sizeof(sum_t)), free);
}

static void sum_work(rpc_call_t *call, void *arg)
{
    sum_t *s = rpc_call_data(call);
    const req_t *req = arg;
    usleep(20000); /* a message arriving meanwhile must not be delivered yet */
    strncat(s->text, req->service, sizeof(s->text) - strlen(s->text) - 1);
    s->n++;
}

static void sum_recv(rpc_call_t *call, const ProtobufCMessage *msg, void *ctx)
{
    SCHECK_EQ(rpc_call_defer(call, sum_work, NULL, (void *)msg), 0);
    SCHECK_EQ(rpc_call_defer(call, sum_work, NULL, (void *)msg), BDX_ESTATE);
}

static void sum_end(rpc_call_t *call, void *ctx)
{
    sum_t *s = rpc_call_data(call);
    reply(call, s->n, s->text);
}

/* Bidi: echoes each message, ends OK when the client half-closes. */
static void chat_recv(rpc_call_t *call, const ProtobufCMessage *msg, void *ctx)
{
    const req_t *req = (const void *)msg;
    resp_t r = GRPC__REFLECTION__V1__ERROR_RESPONSE__INIT;
    r.error_message = req->service;
    SCHECK_EQ(rpc_call_send(call, &r.base, NULL, NULL), 0);
}

static void chat_end(rpc_call_t *call, void *ctx)
{
    rpc_call_finish(call, 0, NULL);
}

/* "<ms>": works up to ms milliseconds on the pool, stopping early on cancel or deadline;
 * "deadline:<ms>" stops on the deadline only. */
static atomic_llong g_remaining_at_start;

static void slow_work(rpc_call_t *call, void *arg)
{
    const req_t *req = arg;
    int ms = 0;
    bool deadline_only = sscanf(req->service, "deadline:%d", &ms) == 1;
    if (!deadline_only)
        ms = atoi(req->service);
    atomic_store(&g_remaining_at_start, (long long)rpc_call_deadline_remaining_ms(call));
    atomic_store(&g_work_started, true);
    for (int t = 0; t < ms; t += 10) {
        if (rpc_call_deadline_passed(call) || (!deadline_only && rpc_call_cancelled(call)))
            break;
        usleep(10000);
    }
    atomic_store(&g_saw_deadline, rpc_call_deadline_passed(call));
    atomic_store(&g_saw_cancel, rpc_call_cancelled(call));
}

static void slow_after(rpc_call_t *call, void *arg)
{
    /* A call that died (deadline, cancel) refuses the reply; one still alive must accept it. */
    resp_t r = GRPC__REFLECTION__V1__ERROR_RESPONSE__INIT;
    r.error_message = "done";
    int rc = rpc_call_reply(call, &r.base);
    SCHECK_EQ(rc == 0 || (rc == BDX_ECANCELLED && rpc_call_cancelled(call)), true);
    atomic_store(&g_work_done, true);
}

static void slow(rpc_call_t *call, const ProtobufCMessage *msg, void *ctx)
{
    SCHECK_EQ(rpc_call_defer(call, slow_work, slow_after, (void *)msg), 0);
}

static const rpc_method_t test_methods[] = {
    {"/test.Echo/Unary", RPC_UNARY, REQ_DESC, unary, NULL, NULL, NULL},
    {"/test.Echo/Count", RPC_SERVER_STREAMING, REQ_DESC, count, NULL, NULL, NULL},
    {"/test.Echo/Sum", RPC_CLIENT_STREAMING, REQ_DESC, sum_start, sum_recv, sum_end, NULL},
    {"/test.Echo/Chat", RPC_BIDI, REQ_DESC, NULL, chat_recv, chat_end, NULL},
    {"/test.Slow/Work", RPC_UNARY, REQ_DESC, slow, NULL, NULL, NULL},
};

static rpc_server_t *server;
static rpc_client_t client;

static rpc_server_t *start_server(const char *addr)
{
    rpc_server_config_t cfg = {.listen_addr = addr, .workers = 2};
    rpc_server_t *s;
    bdx_error_t err;
    cr_assert_eq(rpc_server_new(&cfg, &s, &err), 0);
    cr_assert_eq(rpc_server_add_methods(s, test_methods, 5, &err), 0, "%s", err.msg);
    cr_assert_eq(rpc_server_start(s, &err), 0, "%s", err.msg);
    return s;
}

static void setup(void)
{
    server = start_server("127.0.0.1:0");
    rpc_client_open(&client, rpc_server_port(server));
}

static void teardown(void)
{
    rpc_client_close(&client);
    rpc_server_free(server);
    server = NULL;
    cr_assert_eq(atomic_load(&g_server_errors), 0, "server-side checks failed");
}

static void call1(const char *method, const char *text, int deadline_ms, rpc_client_result_t *out)
{
    req_t req = GRPC__HEALTH__V1__HEALTH_CHECK_REQUEST__INIT;
    req.service = (char *)text;
    const ProtobufCMessage *reqs[] = {&req.base};
    rpc_client_call(&client, method, reqs, 1, NULL, 0, RESP_DESC, deadline_ms, out);
}

static double now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

static void wait_flag(atomic_bool *flag)
{
    for (int i = 0; i < 500 && !atomic_load(flag); i++)
        usleep(10000);
    cr_assert(atomic_load(flag), "timed out waiting for the handler (work started: %d)",
              (int)atomic_load(&g_work_started));
}

TestSuite(rpc, .init = setup, .fini = teardown, .timeout = 60);

Test(rpc, unary_round_trip)
{
    rpc_client_result_t r;
    call1("/test.Echo/Unary", "hello", 5000, &r);
    cr_assert_eq(r.status, GRPC_STATUS_OK, "%d %s", r.status, r.details);
    cr_assert_eq(r.n_msgs, 1);
    cr_assert_str_eq(((resp_t *)r.msgs[0])->error_message, "hello");
    rpc_client_result_free(&r);
}

Test(rpc, handler_error_maps_status_and_message)
{
    rpc_client_result_t r;
    call1("/test.Echo/Unary", "fail:-20002:index \"x\" not found", 5000, &r);
    cr_assert_eq(r.status, GRPC_STATUS_NOT_FOUND);
    cr_assert_str_eq(r.details, "index \"x\" not found");
    cr_assert_eq(r.n_msgs, 0);
    call1("/test.Echo/Unary", "fail:-20014:writer is standby", 5000, &r);
    cr_assert_eq(r.status, GRPC_STATUS_FAILED_PRECONDITION);
    cr_assert_str_eq(r.details, "writer is standby");
}

Test(rpc, undecodable_request_is_invalid_argument)
{
    static const unsigned char bad[] = {0x0a, 0x05, 'a'}; /* string of 5 bytes, 1 present */
    rpc_client_result_t r;
    rpc_client_call(&client, "/test.Echo/Unary", NULL, 0, bad, sizeof(bad), RESP_DESC, 5000, &r);
    cr_assert_eq(r.status, GRPC_STATUS_INVALID_ARGUMENT);
    cr_assert_str_eq(r.details, "cannot decode grpc.health.v1.HealthCheckRequest");
    /* the same through a streaming request */
    rpc_client_call(&client, "/test.Echo/Sum", NULL, 0, bad, sizeof(bad), RESP_DESC, 5000, &r);
    cr_assert_eq(r.status, GRPC_STATUS_INVALID_ARGUMENT);
    cr_assert_str_eq(r.details, "cannot decode grpc.health.v1.HealthCheckRequest");
}

Test(rpc, unknown_method_is_unimplemented_quickly)
{
    rpc_client_result_t r;
    call1("/test.Echo/Unary", "warm-up", 5000, &r); /* time the call, not the connection */
    rpc_client_result_free(&r);
    double t0 = now_ms();
    call1("/test.Echo/Nope", "x", 10000, &r);
    cr_assert_lt(now_ms() - t0, 2000);
    cr_assert_eq(r.status, GRPC_STATUS_UNIMPLEMENTED);
    cr_assert(strstr(r.details, "/test.Echo/Nope"), "%s", r.details);
    call1("/other.Service/Method", "x", 10000, &r);
    cr_assert_eq(r.status, GRPC_STATUS_UNIMPLEMENTED);
}

Test(rpc, server_streaming)
{
    const int ns[] = {0, 1, 5};
    for (size_t k = 0; k < 3; k++) {
        char text[16];
        rpc_client_result_t r;
        snprintf(text, sizeof(text), "%d", ns[k]);
        call1("/test.Echo/Count", text, 5000, &r);
        cr_assert_eq(r.status, GRPC_STATUS_OK, "n=%d: %d %s", ns[k], r.status, r.details);
        cr_assert_eq(r.n_msgs, (size_t)ns[k]);
        for (size_t i = 0; i < r.n_msgs; i++)
            cr_assert_eq(((resp_t *)r.msgs[i])->error_code, (int)i);
        rpc_client_result_free(&r);
    }
}

Test(rpc, server_streaming_flow_control)
{
    rpc_client_result_t r;
    call1("/test.Echo/Count", "flow:5", 5000, &r);
    cr_assert_eq(r.status, GRPC_STATUS_OK, "%d %s", r.status, r.details);
    cr_assert_eq(r.n_msgs, 5);
    for (size_t i = 0; i < 5; i++)
        cr_assert_eq(((resp_t *)r.msgs[i])->error_code, 5 - (int)i);
    cr_assert_eq(atomic_load(&g_sent_ok), 5);
    rpc_client_result_free(&r);
}

Test(rpc, client_streaming)
{
    req_t a = GRPC__HEALTH__V1__HEALTH_CHECK_REQUEST__INIT, b = a, c = a;
    a.service = "a";
    b.service = "bb";
    c.service = "ccc";
    const ProtobufCMessage *reqs[] = {&a.base, &b.base, &c.base};
    rpc_client_result_t r;
    rpc_client_call(&client, "/test.Echo/Sum", reqs, 3, NULL, 0, RESP_DESC, 5000, &r);
    cr_assert_eq(r.status, GRPC_STATUS_OK, "%d %s", r.status, r.details);
    cr_assert_eq(r.n_msgs, 1);
    cr_assert_eq(((resp_t *)r.msgs[0])->error_code, 3);
    cr_assert_str_eq(((resp_t *)r.msgs[0])->error_message, "abbccc");
    rpc_client_result_free(&r);

    rpc_client_call(&client, "/test.Echo/Sum", NULL, 0, NULL, 0, RESP_DESC, 5000, &r);
    cr_assert_eq(r.status, GRPC_STATUS_OK);
    cr_assert_eq(((resp_t *)r.msgs[0])->error_code, 0);
    rpc_client_result_free(&r);
}

Test(rpc, bidi)
{
    rpc_client_stream_t s;
    cr_assert(rpc_client_stream_open(&client, &s, "/test.Echo/Chat", 5000, NULL, NULL));
    const char *words[] = {"x", "yy"};
    for (int i = 0; i < 2; i++) {
        req_t q = GRPC__HEALTH__V1__HEALTH_CHECK_REQUEST__INIT;
        q.service = (char *)words[i];
        cr_assert(rpc_client_stream_send(&s, &q.base));
        resp_t *m = (resp_t *)rpc_client_stream_recv(&s, RESP_DESC);
        cr_assert_not_null(m);
        cr_assert_str_eq(m->error_message, words[i]);
        protobuf_c_message_free_unpacked(&m->base, NULL);
    }
    cr_assert(rpc_client_stream_close_send(&s));
    cr_assert_null(rpc_client_stream_recv(&s, RESP_DESC));
    cr_assert_eq(rpc_client_stream_finish(&s, NULL, 0), GRPC_STATUS_OK);
}

Test(rpc, metadata_visible_to_handler)
{
    rpc_client_stream_t s;
    cr_assert(rpc_client_stream_open(&client, &s, "/test.Echo/Unary", 5000, "authorization",
                                     "Bearer s3cret"));
    req_t q = GRPC__HEALTH__V1__HEALTH_CHECK_REQUEST__INIT;
    q.service = "meta";
    cr_assert(rpc_client_stream_send(&s, &q.base));
    cr_assert(rpc_client_stream_close_send(&s));
    resp_t *m = (resp_t *)rpc_client_stream_recv(&s, RESP_DESC);
    cr_assert_not_null(m);
    cr_assert_str_eq(m->error_message, "Bearer s3cret");
    protobuf_c_message_free_unpacked(&m->base, NULL);
    cr_assert_eq(rpc_client_stream_finish(&s, NULL, 0), GRPC_STATUS_OK);

    rpc_client_result_t r;
    call1("/test.Echo/Unary", "meta", 5000, &r);
    cr_assert_str_eq(((resp_t *)r.msgs[0])->error_message, "(none)");
    rpc_client_result_free(&r);
}

Test(rpc, deadline_seen_by_deferred_handler)
{
    rpc_client_result_t r;
    /* connect first, so that the short deadline is spent in the handler even on a slow run */
    call1("/test.Echo/Unary", "warm-up", 5000, &r);
    cr_assert_eq(r.status, GRPC_STATUS_OK);
    rpc_client_result_free(&r);
    double t0 = now_ms();
    call1("/test.Slow/Work", "deadline:20000", 1000, &r);
    cr_assert_eq(r.status, GRPC_STATUS_DEADLINE_EXCEEDED, "%d %s", r.status, r.details);
    cr_assert_lt(now_ms() - t0, 5000);
    wait_flag(&g_work_done);
    cr_assert(atomic_load(&g_saw_deadline));
    long long left = atomic_load(&g_remaining_at_start);
    /* the server counts from when the call arrived, so a little over 1000 is fine */
    cr_assert(left > 0 && left <= 1500, "remaining at start: %lld ms", left);
}

Test(rpc, cancellation_seen_by_deferred_handler)
{
    rpc_client_stream_t s;
    cr_assert(rpc_client_stream_open(&client, &s, "/test.Slow/Work", 20000, NULL, NULL));
    req_t q = GRPC__HEALTH__V1__HEALTH_CHECK_REQUEST__INIT;
    q.service = "10000";
    cr_assert(rpc_client_stream_send(&s, &q.base));
    cr_assert(rpc_client_stream_close_send(&s));
    wait_flag(&g_work_started);
    rpc_client_stream_cancel(&s);
    cr_assert_eq(rpc_client_stream_finish(&s, NULL, 0), GRPC_STATUS_CANCELLED);
    wait_flag(&g_work_done);
    cr_assert(atomic_load(&g_saw_cancel));
    cr_assert_not(atomic_load(&g_saw_deadline));
}

typedef struct bg_call {
    int port;
    const char *text;
    rpc_client_result_t r;
} bg_call_t;

static void *bg_main(void *arg)
{
    bg_call_t *bg = arg;
    rpc_client_t c;
    rpc_client_open(&c, bg->port);
    req_t q = GRPC__HEALTH__V1__HEALTH_CHECK_REQUEST__INIT;
    q.service = (char *)bg->text;
    const ProtobufCMessage *reqs[] = {&q.base};
    rpc_client_call(&c, "/test.Slow/Work", reqs, 1, NULL, 0, RESP_DESC, 30000, &bg->r);
    rpc_client_close(&c);
    return NULL;
}

Test(rpc, shutdown_completes_in_flight_deferred_call)
{
    bg_call_t bg = {.port = rpc_server_port(server), .text = "300"};
    pthread_t t;
    pthread_create(&t, NULL, bg_main, &bg);
    wait_flag(&g_work_started);
    double t0 = now_ms();
    rpc_server_shutdown(server, 5000);
    cr_assert_lt(now_ms() - t0, 4000);
    pthread_join(t, NULL);
    cr_assert(atomic_load(&g_work_done));
    cr_assert_eq(bg.r.status, GRPC_STATUS_OK, "%d %s", bg.r.status, bg.r.details);
    cr_assert_eq(bg.r.n_msgs, 1);
    cr_assert_str_eq(((resp_t *)bg.r.msgs[0])->error_message, "done");
    rpc_client_result_free(&bg.r);
    rpc_server_shutdown(server, 5000); /* idempotent */
}

Test(rpc, shutdown_cancels_calls_after_grace)
{
    bg_call_t bg = {.port = rpc_server_port(server), .text = "20000"};
    pthread_t t;
    pthread_create(&t, NULL, bg_main, &bg);
    wait_flag(&g_work_started);
    double t0 = now_ms();
    rpc_server_shutdown(server, 200);
    cr_assert_lt(now_ms() - t0, 3000);
    pthread_join(t, NULL);
    cr_assert(atomic_load(&g_saw_cancel));
    cr_assert_neq(bg.r.status, GRPC_STATUS_OK);
    rpc_client_result_free(&bg.r);
}

Test(rpc, port_zero_gives_a_port)
{
    cr_assert_gt(rpc_server_port(server), 0);
    cr_assert_eq(rpc_server_service_count(server), 2);
    cr_assert_str_eq(rpc_server_service_name(server, 0), "test.Echo");
    cr_assert_str_eq(rpc_server_service_name(server, 1), "test.Slow");
}

Test(rpc, second_server_on_same_port_fails)
{
    char addr[64];
    snprintf(addr, sizeof(addr), "127.0.0.1:%d", rpc_server_port(server));
    rpc_server_config_t cfg = {.listen_addr = addr, .workers = 1};
    rpc_server_t *s2;
    bdx_error_t err;
    cr_assert_eq(rpc_server_new(&cfg, &s2, &err), 0);
    cr_assert_eq(rpc_server_add_methods(s2, test_methods, 1, &err), 0);
    cr_assert_eq(rpc_server_start(s2, &err), -EADDRINUSE);
    cr_assert(strstr(err.msg, addr), "%s", err.msg);
    cr_assert_eq(rpc_server_port(s2), 0);
    rpc_server_free(s2);
    /* the first server still answers */
    rpc_client_result_t r;
    call1("/test.Echo/Unary", "still", 5000, &r);
    cr_assert_eq(r.status, GRPC_STATUS_OK);
    rpc_client_result_free(&r);
}

Test(rpc_setup, message_size_limits)
{
    rpc_server_config_t cfg = {
        .listen_addr = "127.0.0.1:0", .max_recv_bytes = 4096, .max_send_bytes = 1024};
    bdx_error_t err;
    server = NULL;
    cr_assert_eq(rpc_server_new(&cfg, &server, &err), 0);
    cr_assert_eq(rpc_server_add_methods(server, test_methods, 1, &err), 0);
    cr_assert_eq(rpc_server_start(server, &err), 0);
    rpc_client_open(&client, rpc_server_port(server));

    char text[5000];
    rpc_client_result_t r;
    memset(text, 'x', sizeof(text) - 1);
    text[sizeof(text) - 1] = '\0';
    call1("/test.Echo/Unary", text, 5000, &r); /* request over max_recv_bytes */
    cr_assert_eq(r.status, GRPC_STATUS_RESOURCE_EXHAUSTED, "%d %s", r.status, r.details);
    text[2000] = '\0';
    call1("/test.Echo/Unary", text, 5000, &r); /* response over max_send_bytes */
    cr_assert_eq(r.status, GRPC_STATUS_RESOURCE_EXHAUSTED, "%d %s", r.status, r.details);
    cr_assert(strstr(r.details, "exceeds the limit of 1024"), "%s", r.details);
    cr_assert_eq(r.n_msgs, 0);
    text[900] = '\0';
    call1("/test.Echo/Unary", text, 5000, &r);
    cr_assert_eq(r.status, GRPC_STATUS_OK);
    rpc_client_result_free(&r);
    teardown();
}

Test(rpc_setup, bad_method_tables_are_refused)
{
    rpc_server_config_t cfg = {.listen_addr = "127.0.0.1:0", .workers = 1};
    rpc_server_t *s;
    bdx_error_t err;
    cr_assert_eq(rpc_server_new(&cfg, &s, &err), 0);
    cr_assert_eq(rpc_server_add_methods(s, test_methods, 1, &err), 0);
    cr_assert_eq(rpc_server_add_methods(s, test_methods, 1, &err), BDX_EEXIST);
    rpc_method_t bad = test_methods[0];
    bad.path = "test.Echo/Unary";
    cr_assert_eq(rpc_server_add_methods(s, &bad, 1, &err), BDX_EINVAL);
    bad.path = "/test.Echo/";
    cr_assert_eq(rpc_server_add_methods(s, &bad, 1, &err), BDX_EINVAL);
    bad = test_methods[2];
    bad.on_end = NULL;
    cr_assert_eq(rpc_server_add_methods(s, &bad, 1, &err), BDX_EINVAL);
    rpc_server_free(s); /* never started */

    rpc_server_config_t empty = {.listen_addr = ""};
    cr_assert_eq(rpc_server_new(&empty, &s, &err), BDX_EINVAL);
    cr_assert_null(s);
}

Test(rpc_status, mapping_table)
{
    static const struct {
        int code;
        grpc_status_code status;
    } table[] = {
        {0, GRPC_STATUS_OK},
        {BDX_EINVAL, GRPC_STATUS_INVALID_ARGUMENT},
        {BDX_ELIMIT, GRPC_STATUS_INVALID_ARGUMENT},
        {BDX_ECURSOR, GRPC_STATUS_INVALID_ARGUMENT},
        {BDX_ENOTFOUND, GRPC_STATUS_NOT_FOUND},
        {BDX_EEXIST, GRPC_STATUS_ALREADY_EXISTS},
        {BDX_EUNAVAILABLE, GRPC_STATUS_UNAVAILABLE},
        {BDX_ECANCELLED, GRPC_STATUS_CANCELLED},
        {BDX_EDEADLINE, GRPC_STATUS_DEADLINE_EXCEEDED},
        {BDX_EUNIMPLEMENTED, GRPC_STATUS_UNIMPLEMENTED},
        {BDX_EPERM, GRPC_STATUS_PERMISSION_DENIED},
        {BDX_EUNAUTH, GRPC_STATUS_UNAUTHENTICATED},
        {BDX_ESTATE, GRPC_STATUS_FAILED_PRECONDITION},
        {BDX_ETOOBIG, GRPC_STATUS_RESOURCE_EXHAUSTED},
        {-ENOMEM, GRPC_STATUS_RESOURCE_EXHAUSTED},
        {-ENOSPC, GRPC_STATUS_RESOURCE_EXHAUSTED},
        {BDX_ECORRUPT, GRPC_STATUS_INTERNAL},
        {BDX_EVERSION, GRPC_STATUS_INTERNAL},
        {BDX_EINTERNAL, GRPC_STATUS_INTERNAL},
        {-EIO, GRPC_STATUS_INTERNAL},
        {-EACCES, GRPC_STATUS_INTERNAL},
        {7, GRPC_STATUS_UNKNOWN},
    };
    for (size_t i = 0; i < sizeof(table) / sizeof(table[0]); i++)
        cr_assert_eq(rpc_status_from_error(table[i].code), table[i].status, "code %d",
                     table[i].code);
    /* every bitdex code maps to something other than OK */
    for (int c = BDX_EFIRST - 1; c > BDX_ELAST; c--)
        cr_assert_neq(rpc_status_from_error(c), GRPC_STATUS_OK, "code %d", c);
}

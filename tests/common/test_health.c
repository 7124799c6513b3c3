/*
 * test_health: common/health.c served by a real rpc server on 127.0.0.1:0.
 */
#include "common/health.h"

#include "rpc_client.h"
#include "thirdparty/grpc/health/v1/health.pb-c.h"

#include <criterion/criterion.h>
#include <string.h>
#include <time.h>

typedef Grpc__Health__V1__HealthCheckRequest req_t;
typedef Grpc__Health__V1__HealthCheckResponse resp_t;
#define RESP_DESC (&grpc__health__v1__health_check_response__descriptor)

static health_t *health;
static rpc_server_t *server;
static rpc_client_t client;

static void setup(void)
{
    rpc_server_config_t cfg = {.listen_addr = "127.0.0.1:0", .workers = 2};
    bdx_error_t err;
    cr_assert_eq(health_new(&health), 0);
    cr_assert_eq(health_set(health, "bitdex.v1.Query", HEALTH_SERVING), 0);
    cr_assert_eq(rpc_server_new(&cfg, &server, &err), 0);
    cr_assert_eq(health_register(health, server, &err), 0, "%s", err.msg);
    cr_assert_eq(rpc_server_start(server, &err), 0, "%s", err.msg);
    rpc_client_open(&client, rpc_server_port(server));
}

static void teardown(void)
{
    rpc_client_close(&client);
    rpc_server_free(server);
    health_free(health);
}

TestSuite(health, .init = setup, .fini = teardown, .timeout = 60);

static void check(const char *name, rpc_client_result_t *r)
{
    req_t req = GRPC__HEALTH__V1__HEALTH_CHECK_REQUEST__INIT;
    req.service = (char *)name;
    const ProtobufCMessage *reqs[] = {&req.base};
    rpc_client_call(&client, "/grpc.health.v1.Health/Check", reqs, 1, NULL, 0, RESP_DESC, 5000, r);
}

/* Receives one Watch message and returns its status (-1 at the end of the stream). */
static int watch_next(rpc_client_stream_t *s)
{
    resp_t *m = (resp_t *)rpc_client_stream_recv(s, RESP_DESC);
    if (!m)
        return -1;
    int status = (int)m->status;
    protobuf_c_message_free_unpacked(&m->base, NULL);
    return status;
}

static void watch_open(rpc_client_stream_t *s, const char *name)
{
    cr_assert(
        rpc_client_stream_open(&client, s, "/grpc.health.v1.Health/Watch", 20000, NULL, NULL));
    req_t req = GRPC__HEALTH__V1__HEALTH_CHECK_REQUEST__INIT;
    req.service = (char *)name;
    cr_assert(rpc_client_stream_send(s, &req.base));
    cr_assert(rpc_client_stream_close_send(s));
}

Test(health, check_server_and_named_service_serving)
{
    rpc_client_result_t r;
    check("", &r);
    cr_assert_eq(r.status, GRPC_STATUS_OK, "%d %s", r.status, r.details);
    cr_assert_eq(r.n_msgs, 1);
    cr_assert_eq(((resp_t *)r.msgs[0])->status, HEALTH_SERVING);
    rpc_client_result_free(&r);

    check("bitdex.v1.Query", &r);
    cr_assert_eq(r.status, GRPC_STATUS_OK);
    cr_assert_eq(((resp_t *)r.msgs[0])->status, HEALTH_SERVING);
    rpc_client_result_free(&r);

    cr_assert_eq(health_set(health, "bitdex.v1.Query", HEALTH_NOT_SERVING), 0);
    check("bitdex.v1.Query", &r);
    cr_assert_eq(((resp_t *)r.msgs[0])->status, HEALTH_NOT_SERVING);
    rpc_client_result_free(&r);
}

Test(health, check_unknown_is_not_found)
{
    rpc_client_result_t r;
    check("bitdex.v1.Nope", &r);
    cr_assert_eq(r.status, GRPC_STATUS_NOT_FOUND);
    cr_assert(strstr(r.details, "bitdex.v1.Nope"), "%s", r.details);
    cr_assert_eq(r.n_msgs, 0);
}

Test(health, watch_follows_health_set)
{
    rpc_client_stream_t s;
    watch_open(&s, "bitdex.v1.Query");
    cr_assert_eq(watch_next(&s), HEALTH_SERVING);
    cr_assert_eq(health_set(health, "bitdex.v1.Query", HEALTH_NOT_SERVING), 0);
    cr_assert_eq(watch_next(&s), HEALTH_NOT_SERVING);
    /* an unchanged status and other names send nothing; the next change arrives next */
    cr_assert_eq(health_set(health, "bitdex.v1.Query", HEALTH_NOT_SERVING), 0);
    cr_assert_eq(health_set(health, "", HEALTH_NOT_SERVING), 0);
    cr_assert_eq(health_set(health, "bitdex.v1.Query", HEALTH_SERVING), 0);
    cr_assert_eq(watch_next(&s), HEALTH_SERVING);
    rpc_client_stream_cancel(&s);
    cr_assert_eq(rpc_client_stream_finish(&s, NULL, 0), GRPC_STATUS_CANCELLED);
}

Test(health, watch_unknown_waits_for_the_service)
{
    rpc_client_stream_t s;
    watch_open(&s, "later");
    cr_assert_eq(watch_next(&s), HEALTH_SERVICE_UNKNOWN);
    cr_assert_eq(health_get(health, "later"), HEALTH_SERVICE_UNKNOWN);
    cr_assert_eq(health_set(health, "later", HEALTH_SERVING), 0);
    cr_assert_eq(watch_next(&s), HEALTH_SERVING);
    rpc_client_stream_cancel(&s);
    cr_assert_eq(rpc_client_stream_finish(&s, NULL, 0), GRPC_STATUS_CANCELLED);
}

Test(health, watch_ends_on_shutdown)
{
    rpc_client_stream_t s1, s2;
    watch_open(&s1, "");
    watch_open(&s2, "bitdex.v1.Query");
    cr_assert_eq(watch_next(&s1), HEALTH_SERVING);
    cr_assert_eq(watch_next(&s2), HEALTH_SERVING);

    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    rpc_server_shutdown(server, 10000);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    cr_assert_lt(t1.tv_sec - t0.tv_sec, 5, "shutdown waited for the watch streams");

    char details[128];
    cr_assert_eq(watch_next(&s1), -1);
    cr_assert_eq(rpc_client_stream_finish(&s1, details, sizeof(details)), GRPC_STATUS_UNAVAILABLE);
    cr_assert_str_eq(details, "server shutting down");
    cr_assert_eq(watch_next(&s2), -1);
    cr_assert_eq(rpc_client_stream_finish(&s2, NULL, 0), GRPC_STATUS_UNAVAILABLE);
}

Test(health_table, set_validates_and_get_reads)
{
    health_t *h;
    cr_assert_eq(health_new(&h), 0);
    cr_assert_eq(health_get(h, ""), HEALTH_SERVING);
    cr_assert_eq(health_get(h, "x"), HEALTH_SERVICE_UNKNOWN);
    cr_assert_eq(health_set(h, "x", HEALTH_SERVICE_UNKNOWN), BDX_EINVAL);
    cr_assert_eq(health_set(h, "x", HEALTH_UNKNOWN), BDX_EINVAL);
    cr_assert_eq(health_set(h, NULL, HEALTH_SERVING), BDX_EINVAL);
    cr_assert_eq(health_set(h, "x", HEALTH_NOT_SERVING), 0);
    cr_assert_eq(health_get(h, "x"), HEALTH_NOT_SERVING);
    health_free(h);
    health_free(NULL);
}

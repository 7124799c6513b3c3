/* Tests common/host.c: shared options, health + reflection wiring, graceful stop on SIGTERM. */
#include "common/host.h"
#include "common/process.h"
#include "tests/common/rpc_client.h"

#include "thirdparty/grpc/health/v1/health.pb-c.h"

#include <criterion/criterion.h>
#include <pthread.h>
#include <signal.h>
#include <string.h>
#include <unistd.h>

static host_config_t hcfg;
static config_option_t opts[HOST_NOPTIONS];

static int parse(int argc, char **argv, bdx_error_t *err)
{
    host_options(&hcfg, "127.0.0.1:0", opts);
    return config_parse(opts, HOST_NOPTIONS, "t", argc, argv, stdout, err);
}

Test(host, options_have_defaults_and_limits)
{
    char *argv[] = {"t", NULL};
    char *bad[] = {"t", "--grace-ms", "-1", NULL};
    bdx_error_t err;

    cr_assert_eq(parse(1, argv, &err), 0, "%s", err.msg);
    cr_assert_str_eq(hcfg.listen, "127.0.0.1:0");
    cr_assert_str_eq(hcfg.log_level, "info");
    cr_assert_eq(hcfg.grace_ms, 5000);
    cr_assert_eq(hcfg.max_message_bytes, 16 << 20);
    config_free(opts, HOST_NOPTIONS);
    cr_assert_eq(parse(3, bad, &err), BDX_EINVAL);
    cr_assert_str_eq(err.msg, "flag --grace-ms: -1 is out of range [0, 600000]");
    config_free(opts, HOST_NOPTIONS);
}

Test(host, bad_log_level_is_rejected)
{
    char *argv[] = {"t", "--log-level", "loud", NULL};
    host_t *h = (host_t *)1;
    bdx_error_t err;

    cr_assert_eq(parse(3, argv, &err), 0);
    cr_assert_eq(host_new("t", &hcfg, &h, &err), BDX_EINVAL);
    cr_assert_null(h);
    cr_assert_str_eq(err.msg, "--log-level: 'loud' is not one of debug, info, warn, error");
    config_free(opts, HOST_NOPTIONS);
}

static grpc_status_code check(rpc_client_t *c, const char *service, int *serving)
{
    Grpc__Health__V1__HealthCheckRequest req = GRPC__HEALTH__V1__HEALTH_CHECK_REQUEST__INIT;
    const ProtobufCMessage *reqs[] = {&req.base};
    rpc_client_result_t res;
    grpc_status_code st;

    req.service = (char *)service;
    rpc_client_call(c, "/grpc.health.v1.Health/Check", reqs, 1, NULL, 0,
                    &grpc__health__v1__health_check_response__descriptor, 5000, &res);
    st = res.status;
    if (st == GRPC_STATUS_OK)
        *serving = ((Grpc__Health__V1__HealthCheckResponse *)res.msgs[0])->status;
    rpc_client_result_free(&res);
    return st;
}

/* Directed at the main thread: other threads of the test runner may not block SIGTERM. */
static void *send_sigterm(void *arg)
{
    usleep(200000);
    pthread_kill(*(pthread_t *)arg, SIGTERM);
    return NULL;
}

Test(host, serves_health_then_stops_on_sigterm)
{
    char *argv[] = {"t", "--grace-ms", "500", "--threads", "1", NULL};
    host_t *h;
    bdx_error_t err;
    rpc_client_t c;
    pthread_t t, self = pthread_self();
    int serving = -1;

    cr_assert_eq(process_block_signals(), 0);
    cr_assert_eq(parse(5, argv, &err), 0);
    cr_assert_eq(host_new("t", &hcfg, &h, &err), 0, "%s", err.msg);
    cr_assert_eq(host_start(h, &err), 0, "%s", err.msg);
    rpc_client_open(&c, rpc_server_port(host_server(h)));
    cr_assert_eq(check(&c, "", &serving), GRPC_STATUS_OK);
    cr_assert_eq(serving, HEALTH_SERVING);
    cr_assert_eq(check(&c, "bitdex.v1.Nope", &serving), GRPC_STATUS_NOT_FOUND);

    pthread_create(&t, NULL, send_sigterm, &self);
    cr_assert_eq(host_run(h), SIGTERM);
    pthread_join(t, NULL);
    cr_assert_eq(health_get(host_health(h), ""), HEALTH_NOT_SERVING);
    rpc_client_close(&c);
    host_free(h);
    config_free(opts, HOST_NOPTIONS);
}

/* Tests common/rpc_service.c: a whole protobuf-c service registered from a partial table. */
#include "common/rpc.h"
#include "common/rpc_service.h"
#include "tests/common/rpc_client.h"

#include "bitdex/v1/query.pb-c.h"
#include "bitdex/v1/writer.pb-c.h"

#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>

static rpc_server_t *server;
static rpc_client_t client;

static void count_handler(rpc_call_t *call, const ProtobufCMessage *req, void *ctx)
{
    const Bitdex__V1__CountRequest *r = (const Bitdex__V1__CountRequest *)req;
    Bitdex__V1__CountResponse resp = BITDEX__V1__COUNT_RESPONSE__INIT;
    resp.count = strlen(r->index) + (uint64_t)(uintptr_t)ctx;
    rpc_call_reply(call, &resp.base);
}

static const rpc_service_impl_t query_impls[] = {
    {"Count", RPC_UNARY, count_handler, NULL, NULL},
};

static void start(const ProtobufCServiceDescriptor *svc, const rpc_service_impl_t *impls, size_t n)
{
    rpc_server_config_t cfg = {.listen_addr = "127.0.0.1:0", .workers = 1, .grace_ms = 500};
    bdx_error_t err;
    cr_assert_eq(rpc_server_new(&cfg, &server, &err), 0);
    cr_assert_eq(rpc_service_add(server, svc, impls, n, (void *)(uintptr_t)100, &err), 0, "%s",
                 err.msg);
    cr_assert_eq(rpc_server_start(server, &err), 0, "%s", err.msg);
    rpc_client_open(&client, rpc_server_port(server));
}

static void stop(void)
{
    rpc_client_close(&client);
    rpc_server_free(server);
}

Test(rpc_service, implemented_method_gets_request_and_ctx, .fini = stop)
{
    Bitdex__V1__CountRequest req = BITDEX__V1__COUNT_REQUEST__INIT;
    const ProtobufCMessage *reqs[] = {&req.base};
    rpc_client_result_t res;

    start(&bitdex__v1__query__descriptor, query_impls, 1);
    req.index = "images";
    rpc_client_call(&client, "/bitdex.v1.Query/Count", reqs, 1, NULL, 0,
                    &bitdex__v1__count_response__descriptor, 5000, &res);
    cr_assert_eq(res.status, GRPC_STATUS_OK, "%s", res.details);
    cr_assert_eq(res.n_msgs, 1);
    cr_assert_eq(((Bitdex__V1__CountResponse *)res.msgs[0])->count, 106);
    rpc_client_result_free(&res);
}

Test(rpc_service, every_other_method_is_registered_and_unimplemented, .fini = stop)
{
    const ProtobufCServiceDescriptor *svc = &bitdex__v1__query__descriptor;

    start(svc, query_impls, 1);
    cr_assert_eq(rpc_server_service_count(server), 1);
    cr_assert_str_eq(rpc_server_service_name(server, 0), "bitdex.v1.Query");
    for (unsigned m = 0; m < svc->n_methods; m++) {
        char path[128];
        rpc_client_result_t res;
        if (strcmp(svc->methods[m].name, "Count") == 0)
            continue;
        snprintf(path, sizeof(path), "/bitdex.v1.Query/%s", svc->methods[m].name);
        rpc_client_call(&client, path, NULL, 0, "", 0, svc->methods[m].output, 5000, &res);
        cr_assert_eq(res.status, GRPC_STATUS_UNIMPLEMENTED, "%s: %d", path, res.status);
        cr_assert_not_null(strstr(res.details, path), "%s: '%s'", path, res.details);
        cr_assert_not_null(strstr(res.details, "not implemented"), "'%s'", res.details);
        rpc_client_result_free(&res);
    }
}

static const rpc_service_impl_t writer_kinds[] = {
    {"ApplyStream", RPC_CLIENT_STREAMING, NULL, NULL, NULL},
    {"Watch", RPC_SERVER_STREAMING, NULL, NULL, NULL},
};

Test(rpc_service, unimplemented_streaming_methods_end_properly, .fini = stop)
{
    Bitdex__V1__ApplyRequest a = BITDEX__V1__APPLY_REQUEST__INIT;
    const ProtobufCMessage *reqs[] = {&a.base, &a.base};
    rpc_client_result_t res;

    start(&bitdex__v1__writer__descriptor, writer_kinds, 2);
    a.index = "images";
    rpc_client_call(&client, "/bitdex.v1.Writer/ApplyStream", reqs, 2, NULL, 0,
                    &bitdex__v1__apply_stream_response__descriptor, 5000, &res);
    cr_assert_eq(res.status, GRPC_STATUS_UNIMPLEMENTED, "%d %s", res.status, res.details);
    rpc_client_result_free(&res);
    rpc_client_call(&client, "/bitdex.v1.Writer/Watch", NULL, 0, "", 0,
                    &bitdex__v1__watch_event__descriptor, 5000, &res);
    cr_assert_eq(res.status, GRPC_STATUS_UNIMPLEMENTED, "%d %s", res.status, res.details);
    cr_assert_eq(res.n_msgs, 0);
    rpc_client_result_free(&res);
}

Test(rpc_service, table_entry_for_an_unknown_method_is_rejected)
{
    rpc_server_config_t cfg = {.listen_addr = "127.0.0.1:0", .workers = 1};
    const rpc_service_impl_t bad[] = {{"Serch", RPC_UNARY, count_handler, NULL, NULL}};
    rpc_server_t *s;
    bdx_error_t err;

    cr_assert_eq(rpc_server_new(&cfg, &s, &err), 0);
    cr_assert_eq(rpc_service_add(s, &bitdex__v1__query__descriptor, bad, 1, NULL, &err),
                 BDX_EINVAL);
    cr_assert_str_eq(err.msg, "service bitdex.v1.Query has no method Serch");
    rpc_server_free(s);
}

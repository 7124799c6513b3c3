/*
 * test_reflection: common/reflection.c over the embedded descriptor set of all bitdex protos,
 * served by a real rpc server, through both the v1 and the v1alpha method.
 */
#include "common/reflection.h"

#include "common/health.h"
#include "common/protowire.h"
#include "rpc_client.h"
#include "thirdparty/grpc/reflection/v1/reflection.pb-c.h"
#include "thirdparty/grpc/reflection/v1alpha/reflection.pb-c.h"

#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

extern const unsigned char bitdex_descriptor_set[];
extern const size_t bitdex_descriptor_set_len;

typedef Grpc__Reflection__V1__ServerReflectionRequest req_t;
typedef Grpc__Reflection__V1__ServerReflectionResponse resp_t;
#define RESP_DESC (&grpc__reflection__v1__server_reflection_response__descriptor)
#define REQ_INIT GRPC__REFLECTION__V1__SERVER_REFLECTION_REQUEST__INIT

static const char *const methods[] = {
    "/grpc.reflection.v1.ServerReflection/ServerReflectionInfo",
    "/grpc.reflection.v1alpha.ServerReflection/ServerReflectionInfo",
};

static reflection_t *refl;
static health_t *health;
static rpc_server_t *server;
static rpc_client_t client;

static void setup(void)
{
    rpc_server_config_t cfg = {.listen_addr = "127.0.0.1:0", .workers = 2};
    bdx_error_t err;
    cr_assert_eq(reflection_new(bitdex_descriptor_set, bitdex_descriptor_set_len, &refl, &err), 0,
                 "%s", err.msg);
    cr_assert_eq(health_new(&health), 0);
    cr_assert_eq(rpc_server_new(&cfg, &server, &err), 0);
    cr_assert_eq(health_register(health, server, &err), 0);
    cr_assert_eq(reflection_register(refl, server, &err), 0);
    cr_assert_eq(rpc_server_start(server, &err), 0, "%s", err.msg);
    rpc_client_open(&client, rpc_server_port(server));
}

static void teardown(void)
{
    rpc_client_close(&client);
    rpc_server_free(server);
    health_free(health);
    reflection_free(refl);
}

TestSuite(reflection, .init = setup, .fini = teardown, .timeout = 60);

/* Sends one request on the stream and returns the decoded response (caller frees). */
static resp_t *ask(rpc_client_stream_t *s, req_t *req)
{
    cr_assert(rpc_client_stream_send(s, &req->base));
    resp_t *r = (resp_t *)rpc_client_stream_recv(s, RESP_DESC);
    cr_assert_not_null(r, "no response");
    return r;
}

static void open_stream(rpc_client_stream_t *s, int m)
{
    cr_assert(rpc_client_stream_open(&client, s, methods[m], 10000, NULL, NULL));
}

static void close_stream(rpc_client_stream_t *s)
{
    cr_assert(rpc_client_stream_close_send(s));
    cr_assert_null(rpc_client_stream_recv(s, RESP_DESC));
    cr_assert_eq(rpc_client_stream_finish(s, NULL, 0), GRPC_STATUS_OK);
}

/* The name (field 1) of a serialized FileDescriptorProto, into buf. */
static const char *file_name(ProtobufCBinaryData fd, char *buf, size_t len)
{
    protowire_t w;
    protowire_field_t f;
    protowire_init(&w, fd.data, fd.len);
    buf[0] = '\0';
    while (protowire_next(&w, &f) > 0) {
        if (f.number == 1 && f.type == PROTOWIRE_LEN) {
            snprintf(buf, len, "%.*s", (int)f.len, (const char *)f.data);
            break;
        }
    }
    return buf;
}

/*
 * Checks that `r` is a file_descriptor_response whose first file is `first` and whose files are
 * exactly `expected` (any order after the first), each once.
 */
static void expect_files(const resp_t *r, const char *first, const char *const *expected, size_t n)
{
    char name[256];
    cr_assert_eq(
        r->message_response_case,
        GRPC__REFLECTION__V1__SERVER_REFLECTION_RESPONSE__MESSAGE_RESPONSE_FILE_DESCRIPTOR_RESPONSE,
        "response case %d", r->message_response_case);
    const Grpc__Reflection__V1__FileDescriptorResponse *fr = r->file_descriptor_response;
    cr_assert_eq(fr->n_file_descriptor_proto, n);
    cr_assert_str_eq(file_name(fr->file_descriptor_proto[0], name, sizeof(name)), first);
    for (size_t i = 0; i < n; i++) {
        size_t hits = 0;
        for (size_t j = 0; j < n; j++) {
            if (strcmp(file_name(fr->file_descriptor_proto[j], name, sizeof(name)), expected[i]) ==
                0)
                hits++;
        }
        cr_assert_eq(hits, 1, "%s appears %zu times", expected[i], hits);
    }
}

static void expect_not_found(const resp_t *r, const char *needle)
{
    cr_assert_eq(r->message_response_case,
                 GRPC__REFLECTION__V1__SERVER_REFLECTION_RESPONSE__MESSAGE_RESPONSE_ERROR_RESPONSE);
    cr_assert_eq(r->error_response->error_code, 5);
    cr_assert(strstr(r->error_response->error_message, needle), "%s",
              r->error_response->error_message);
}

Test(reflection, list_services)
{
    for (int m = 0; m < 2; m++) {
        rpc_client_stream_t s;
        open_stream(&s, m);
        req_t req = REQ_INIT;
        req.host = "localhost";
        req.message_request_case =
            GRPC__REFLECTION__V1__SERVER_REFLECTION_REQUEST__MESSAGE_REQUEST_LIST_SERVICES;
        req.list_services = "*";
        resp_t *r = ask(&s, &req);
        cr_assert_str_eq(r->valid_host, "localhost");
        cr_assert_not_null(r->original_request);
        cr_assert_str_eq(r->original_request->list_services, "*");
        cr_assert_eq(
            r->message_response_case,
            GRPC__REFLECTION__V1__SERVER_REFLECTION_RESPONSE__MESSAGE_RESPONSE_LIST_SERVICES_RESPONSE);
        const Grpc__Reflection__V1__ListServiceResponse *l = r->list_services_response;
        static const char *const want[] = {"grpc.health.v1.Health",
                                           "grpc.reflection.v1.ServerReflection",
                                           "grpc.reflection.v1alpha.ServerReflection"};
        cr_assert_eq(l->n_service, 3);
        for (size_t i = 0; i < 3; i++)
            cr_assert_str_eq(l->service[i]->name, want[i]);
        protobuf_c_message_free_unpacked(&r->base, NULL);
        close_stream(&s);
    }
}

Test(reflection, file_by_filename)
{
    for (int m = 0; m < 2; m++) {
        rpc_client_stream_t s;
        open_stream(&s, m);
        req_t req = REQ_INIT;
        req.message_request_case =
            GRPC__REFLECTION__V1__SERVER_REFLECTION_REQUEST__MESSAGE_REQUEST_FILE_BY_FILENAME;
        req.file_by_filename = "grpc/health/v1/health.proto";
        resp_t *r = ask(&s, &req);
        const char *health_only[] = {"grpc/health/v1/health.proto"};
        expect_files(r, "grpc/health/v1/health.proto", health_only, 1);
        cr_assert_str_eq(r->original_request->file_by_filename, "grpc/health/v1/health.proto");
        protobuf_c_message_free_unpacked(&r->base, NULL);

        req.file_by_filename = "bitdex/v1/filter.proto";
        r = ask(&s, &req);
        const char *filter[] = {"bitdex/v1/filter.proto", "bitdex/v1/types.proto"};
        expect_files(r, "bitdex/v1/filter.proto", filter, 2);
        protobuf_c_message_free_unpacked(&r->base, NULL);

        req.file_by_filename = "no/such.proto";
        r = ask(&s, &req);
        expect_not_found(r, "no/such.proto");
        protobuf_c_message_free_unpacked(&r->base, NULL);
        close_stream(&s);
    }
}

Test(reflection, file_containing_symbol_with_transitive_deps)
{
    /* query.proto imports types, schema, filter and prefilter; filter and prefilter import
     * types and filter again: every file must come once. */
    static const char *const query_files[] = {"bitdex/v1/query.proto", "bitdex/v1/types.proto",
                                              "bitdex/v1/schema.proto", "bitdex/v1/filter.proto",
                                              "bitdex/v1/prefilter.proto"};
    static const char *const symbols[] = {"bitdex.v1.SearchRequest", "bitdex.v1.Query",
                                          "bitdex.v1.Query.Search"};
    for (int m = 0; m < 2; m++) {
        rpc_client_stream_t s;
        open_stream(&s, m);
        for (size_t i = 0; i < 3; i++) {
            req_t req = REQ_INIT;
            req.message_request_case =
                GRPC__REFLECTION__V1__SERVER_REFLECTION_REQUEST__MESSAGE_REQUEST_FILE_CONTAINING_SYMBOL;
            req.file_containing_symbol = (char *)symbols[i];
            resp_t *r = ask(&s, &req);
            expect_files(r, "bitdex/v1/query.proto", query_files, 5);
            protobuf_c_message_free_unpacked(&r->base, NULL);
        }
        close_stream(&s);
    }
}

Test(reflection, nested_symbols_and_errors)
{
    static const char *const nested[] = {
        "grpc.health.v1.HealthCheckResponse",               /* message */
        "grpc.health.v1.HealthCheckResponse.ServingStatus", /* nested enum */
        "grpc.health.v1.HealthCheckResponse.SERVING",       /* its value (enclosing scope) */
        "grpc.health.v1.HealthCheckRequest.service",        /* field */
        "grpc.health.v1.Health.Watch",                      /* method */
    };
    for (int m = 0; m < 2; m++) {
        rpc_client_stream_t s;
        open_stream(&s, m);
        for (size_t i = 0; i < sizeof(nested) / sizeof(nested[0]); i++) {
            req_t req = REQ_INIT;
            req.message_request_case =
                GRPC__REFLECTION__V1__SERVER_REFLECTION_REQUEST__MESSAGE_REQUEST_FILE_CONTAINING_SYMBOL;
            req.file_containing_symbol = (char *)nested[i];
            resp_t *r = ask(&s, &req);
            const char *health_only[] = {"grpc/health/v1/health.proto"};
            expect_files(r, "grpc/health/v1/health.proto", health_only, 1);
            protobuf_c_message_free_unpacked(&r->base, NULL);
        }

        req_t req = REQ_INIT;
        req.message_request_case =
            GRPC__REFLECTION__V1__SERVER_REFLECTION_REQUEST__MESSAGE_REQUEST_FILE_CONTAINING_SYMBOL;
        req.file_containing_symbol = "bitdex.v1.NoSuchThing";
        resp_t *r = ask(&s, &req);
        expect_not_found(r, "bitdex.v1.NoSuchThing");
        cr_assert_str_eq(r->original_request->file_containing_symbol, "bitdex.v1.NoSuchThing");
        protobuf_c_message_free_unpacked(&r->base, NULL);

        /* a prefix of a real name is not a symbol */
        req.file_containing_symbol = "bitdex.v1.Quer";
        r = ask(&s, &req);
        expect_not_found(r, "bitdex.v1.Quer");
        protobuf_c_message_free_unpacked(&r->base, NULL);

        req.message_request_case =
            GRPC__REFLECTION__V1__SERVER_REFLECTION_REQUEST__MESSAGE_REQUEST_ALL_EXTENSION_NUMBERS_OF_TYPE;
        req.all_extension_numbers_of_type = "bitdex.v1.SearchRequest";
        r = ask(&s, &req);
        expect_not_found(r, "extension");
        protobuf_c_message_free_unpacked(&r->base, NULL);

        Grpc__Reflection__V1__ExtensionRequest ext = GRPC__REFLECTION__V1__EXTENSION_REQUEST__INIT;
        ext.containing_type = "bitdex.v1.SearchRequest";
        ext.extension_number = 100;
        req.message_request_case =
            GRPC__REFLECTION__V1__SERVER_REFLECTION_REQUEST__MESSAGE_REQUEST_FILE_CONTAINING_EXTENSION;
        req.file_containing_extension = &ext;
        r = ask(&s, &req);
        expect_not_found(r, "extension");
        protobuf_c_message_free_unpacked(&r->base, NULL);
        close_stream(&s);
    }
}

/* A client built from the v1alpha protos (as older grpcurl versions are). */
Test(reflection, v1alpha_types_on_the_wire)
{
    rpc_client_stream_t s;
    open_stream(&s, 1);
    Grpc__Reflection__V1alpha__ServerReflectionRequest req =
        GRPC__REFLECTION__V1ALPHA__SERVER_REFLECTION_REQUEST__INIT;
    req.host = "h";
    req.message_request_case =
        GRPC__REFLECTION__V1ALPHA__SERVER_REFLECTION_REQUEST__MESSAGE_REQUEST_FILE_CONTAINING_SYMBOL;
    req.file_containing_symbol = "bitdex.v1.Writer";
    cr_assert(rpc_client_stream_send(&s, &req.base));
    Grpc__Reflection__V1alpha__ServerReflectionResponse *r = (void *)rpc_client_stream_recv(
        &s, &grpc__reflection__v1alpha__server_reflection_response__descriptor);
    cr_assert_not_null(r);
    cr_assert_str_eq(r->valid_host, "h");
    cr_assert_eq(
        r->message_response_case,
        GRPC__REFLECTION__V1ALPHA__SERVER_REFLECTION_RESPONSE__MESSAGE_RESPONSE_FILE_DESCRIPTOR_RESPONSE);
    char name[256];
    cr_assert_str_eq(
        file_name(r->file_descriptor_response->file_descriptor_proto[0], name, sizeof(name)),
        "bitdex/v1/writer.proto");
    protobuf_c_message_free_unpacked(&r->base, NULL);
    close_stream(&s);
}

Test(reflection_index, lookups_and_corrupt_input)
{
    reflection_t *r;
    bdx_error_t err;
    cr_assert_eq(reflection_new(bitdex_descriptor_set, bitdex_descriptor_set_len, &r, &err), 0);
    cr_assert_eq(reflection_file_count(r), 9); /* 6 bitdex + health + reflection v1, v1alpha */
    cr_assert(reflection_has_file(r, "bitdex/v1/writer.proto"));
    cr_assert_not(reflection_has_file(r, "bitdex/v1/writer"));
    cr_assert_str_eq(reflection_symbol_file(r, "bitdex.v1.Writer"), "bitdex/v1/writer.proto");
    cr_assert_str_eq(reflection_symbol_file(r, "grpc.reflection.v1alpha.ServerReflection"),
                     "grpc/reflection/v1alpha/reflection.proto");
    cr_assert_null(reflection_symbol_file(r, "bitdex"));
    reflection_free(r);

    /* truncated: the last file's length runs past the end */
    cr_assert_eq(reflection_new(bitdex_descriptor_set, bitdex_descriptor_set_len - 1, &r, &err),
                 BDX_ECORRUPT);
    cr_assert_null(r);
    static const unsigned char junk[] = {0x0a, 0x03, 0x0a, 0x05, 'x'};
    cr_assert_eq(reflection_new(junk, sizeof(junk), &r, &err), BDX_ECORRUPT);
    cr_assert_eq(reflection_new(junk, 0, &r, &err), 0); /* an empty set is valid */
    cr_assert_eq(reflection_file_count(r), 0);
    reflection_free(r);
}

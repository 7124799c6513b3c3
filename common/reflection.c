/*
 * reflection: the descriptor index and the ServerReflectionInfo stream. See reflection.h.
 *
 * v1alpha and v1 messages are wire-identical, so both methods decode and encode with the v1
 * protobuf-c types. Each request is answered from the CQ thread (lookups are a binary search),
 * so the bidi stream needs no deferred work.
 *
 * Field numbers walked (google/protobuf/descriptor.proto):
 *   FileDescriptorSet     1 file
 *   FileDescriptorProto   1 name, 2 package, 3 dependency, 4 message_type, 5 enum_type, 6 service
 *   DescriptorProto       1 name, 2 field, 3 nested_type, 4 enum_type
 *   FieldDescriptorProto  1 name
 *   EnumDescriptorProto   1 name, 2 value (EnumValueDescriptorProto 1 name)
 *   ServiceDescriptorProto 1 name, 2 method (MethodDescriptorProto 1 name)
 */
#include "common/reflection.h"

#include "common/protowire.h"
#include "thirdparty/grpc/reflection/v1/reflection.pb-c.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>

typedef struct refl_file {
    char *name;
    const uint8_t *data; /* the serialized FileDescriptorProto, inside the set */
    size_t len;
    size_t *deps; /* indices into files */
    size_t n_deps;
} refl_file_t;

typedef struct refl_symbol {
    char *name;
    size_t file;
} refl_symbol_t;

struct reflection {
    refl_file_t *files;
    size_t n_files;
    refl_symbol_t *symbols; /* sorted by name */
    size_t n_symbols, cap_symbols;
    rpc_server_t *server;
};

/* ---- index ---- */

/* The first LEN field `number` of a message as a heap string ("" when absent); NULL on error. */
static char *string_field(const uint8_t *data, size_t len, uint32_t number)
{
    protowire_t w;
    protowire_field_t f;
    int rc;
    protowire_init(&w, data, len);
    while ((rc = protowire_next(&w, &f)) > 0) {
        if (f.number == number && f.type == PROTOWIRE_LEN)
            return strndup((const char *)f.data, f.len);
    }
    return rc < 0 ? NULL : strdup("");
}

/* Adds `scope.name` (or `name` when scope is empty) for file `file`. */
static int add_symbol(reflection_t *r, const char *scope, const char *name, size_t file,
                      char **full_out)
{
    if (r->n_symbols == r->cap_symbols) {
        size_t cap = r->cap_symbols ? r->cap_symbols * 2 : 256;
        refl_symbol_t *v = realloc(r->symbols, cap * sizeof(*v));
        if (!v)
            return -ENOMEM;
        r->symbols = v;
        r->cap_symbols = cap;
    }
    size_t n = strlen(scope) + strlen(name) + 2;
    char *full = malloc(n);
    if (!full)
        return -ENOMEM;
    snprintf(full, n, "%s%s%s", scope, *scope ? "." : "", name);
    r->symbols[r->n_symbols++] = (refl_symbol_t){full, file};
    if (full_out)
        *full_out = full;
    return 0;
}

/*
 * Indexes a descriptor whose name is field 1. `children` maps a field number to the kind of
 * nested descriptor it holds. Recursion depth is bounded by the nesting of the protos themselves.
 */
typedef enum kind {
    K_NONE,
    K_MESSAGE,
    K_FIELD,
    K_ENUM,
    K_ENUM_VALUE,
    K_SERVICE,
    K_METHOD,
} kind_t;

static kind_t child_kind(kind_t parent, uint32_t number)
{
    switch (parent) {
    case K_MESSAGE:
        return number == 2 ? K_FIELD : number == 3 ? K_MESSAGE : number == 4 ? K_ENUM : K_NONE;
    case K_ENUM:
        return number == 2 ? K_ENUM_VALUE : K_NONE;
    case K_SERVICE:
        return number == 2 ? K_METHOD : K_NONE;
    default:
        return K_NONE;
    }
}

static int index_descriptor(reflection_t *r, kind_t kind, const uint8_t *data, size_t len,
                            const char *scope, size_t file, int depth)
{
    if (depth > 64)
        return BDX_ECORRUPT;
    char *name = string_field(data, len, 1);
    if (!name)
        return BDX_ECORRUPT;
    char *full = NULL;
    int rc = add_symbol(r, scope, name, file, &full);
    free(name);
    if (rc < 0)
        return rc;
    /* Enum values live in the enum's enclosing scope (protobuf's C++ scoping rule). */
    const char *child_scope = full;
    if (kind == K_ENUM)
        child_scope = scope;

    protowire_t w;
    protowire_field_t f;
    protowire_init(&w, data, len);
    while ((rc = protowire_next(&w, &f)) > 0) {
        kind_t k = child_kind(kind, f.number);
        if (k == K_NONE || f.type != PROTOWIRE_LEN)
            continue;
        rc = index_descriptor(r, k, f.data, f.len, child_scope, file, depth + 1);
        if (rc < 0)
            return rc;
    }
    return rc;
}

static int index_file(reflection_t *r, size_t file, bdx_error_t *err)
{
    refl_file_t *fl = &r->files[file];
    char *package = string_field(fl->data, fl->len, 2);
    fl->name = string_field(fl->data, fl->len, 1);
    if (!package || !fl->name || !*fl->name) {
        free(package);
        return bdx_error_set(err, BDX_ECORRUPT, "reflection: file #%zu has no name", file);
    }
    protowire_t w;
    protowire_field_t f;
    int rc;
    protowire_init(&w, fl->data, fl->len);
    while ((rc = protowire_next(&w, &f)) > 0) {
        kind_t k = f.number == 4   ? K_MESSAGE
                   : f.number == 5 ? K_ENUM
                   : f.number == 6 ? K_SERVICE
                                   : K_NONE;
        if (k == K_NONE || f.type != PROTOWIRE_LEN)
            continue;
        rc = index_descriptor(r, k, f.data, f.len, package, file, 0);
        if (rc < 0)
            break;
    }
    free(package);
    if (rc < 0)
        return bdx_error_set(err, rc, "reflection: %s: %s", fl->name,
                             rc == -ENOMEM ? "out of memory" : "malformed descriptor");
    return 0;
}

static ssize_t find_file(const reflection_t *r, const char *name, size_t len)
{
    for (size_t i = 0; i < r->n_files; i++) {
        if (strlen(r->files[i].name) == len && memcmp(r->files[i].name, name, len) == 0)
            return (ssize_t)i;
    }
    return -1;
}

/* Resolves the dependency names of file `file` to indices (names not in the set are skipped). */
static int index_deps(reflection_t *r, size_t file)
{
    refl_file_t *fl = &r->files[file];
    protowire_t w;
    protowire_field_t f;
    int rc;
    protowire_init(&w, fl->data, fl->len);
    while ((rc = protowire_next(&w, &f)) > 0) {
        if (f.number != 3 || f.type != PROTOWIRE_LEN)
            continue;
        ssize_t d = find_file(r, (const char *)f.data, f.len);
        if (d < 0)
            continue;
        size_t *v = realloc(fl->deps, (fl->n_deps + 1) * sizeof(*v));
        if (!v)
            return -ENOMEM;
        fl->deps = v;
        fl->deps[fl->n_deps++] = (size_t)d;
    }
    return rc;
}

static int symbol_cmp(const void *a, const void *b)
{
    return strcmp(((const refl_symbol_t *)a)->name, ((const refl_symbol_t *)b)->name);
}

int reflection_new(const void *set, size_t len, reflection_t **out, bdx_error_t *err)
{
    *out = NULL;
    reflection_t *r = calloc(1, sizeof(*r));
    if (!r)
        return bdx_error_set(err, -ENOMEM, "reflection: out of memory");
    protowire_t w;
    protowire_field_t f;
    int rc;
    protowire_init(&w, set, len);
    while ((rc = protowire_next(&w, &f)) > 0) {
        if (f.number != 1 || f.type != PROTOWIRE_LEN)
            continue;
        refl_file_t *v = realloc(r->files, (r->n_files + 1) * sizeof(*v));
        if (!v) {
            rc = bdx_error_set(err, -ENOMEM, "reflection: out of memory");
            goto fail;
        }
        r->files = v;
        r->files[r->n_files++] = (refl_file_t){.data = f.data, .len = f.len};
    }
    if (rc < 0) {
        bdx_error_set(err, rc, "reflection: malformed FileDescriptorSet");
        goto fail;
    }
    for (size_t i = 0; i < r->n_files; i++) {
        rc = index_file(r, i, err);
        if (rc < 0)
            goto fail;
    }
    for (size_t i = 0; i < r->n_files; i++) {
        rc = index_deps(r, i);
        if (rc < 0) {
            bdx_error_set(err, rc, "reflection: %s: bad dependency list", r->files[i].name);
            goto fail;
        }
    }
    if (r->n_symbols)
        qsort(r->symbols, r->n_symbols, sizeof(*r->symbols), symbol_cmp);
    *out = r;
    return 0;

fail:
    reflection_free(r);
    return rc;
}

void reflection_free(reflection_t *r)
{
    if (!r)
        return;
    for (size_t i = 0; i < r->n_files; i++) {
        free(r->files[i].name);
        free(r->files[i].deps);
    }
    free(r->files);
    for (size_t i = 0; i < r->n_symbols; i++)
        free(r->symbols[i].name);
    free(r->symbols);
    free(r);
}

static ssize_t find_symbol(const reflection_t *r, const char *symbol)
{
    refl_symbol_t key = {(char *)symbol, 0};
    if (!r->n_symbols)
        return -1;
    const refl_symbol_t *s = bsearch(&key, r->symbols, r->n_symbols, sizeof(key), symbol_cmp);
    return s ? (ssize_t)s->file : -1;
}

const char *reflection_symbol_file(const reflection_t *r, const char *symbol)
{
    ssize_t i = find_symbol(r, symbol);
    return i < 0 ? NULL : r->files[i].name;
}

size_t reflection_file_count(const reflection_t *r)
{
    return r->n_files;
}

bool reflection_has_file(const reflection_t *r, const char *name)
{
    return find_file(r, name, strlen(name)) >= 0;
}

/* ---- the stream ---- */

/* Appends file `i` then, depth first, its dependencies, each file once. */
static void collect(const reflection_t *r, size_t i, bool *seen, ProtobufCBinaryData *out,
                    size_t *n)
{
    if (seen[i])
        return;
    seen[i] = true;
    out[(*n)++] = (ProtobufCBinaryData){r->files[i].len, (uint8_t *)r->files[i].data};
    for (size_t d = 0; d < r->files[i].n_deps; d++)
        collect(r, r->files[i].deps[d], seen, out, n);
}

static void send_error(rpc_call_t *call, Grpc__Reflection__V1__ServerReflectionResponse *resp,
                       grpc_status_code code, const char *fmt, const char *arg)
{
    char msg[512];
    snprintf(msg, sizeof(msg), fmt, arg);
    Grpc__Reflection__V1__ErrorResponse e = GRPC__REFLECTION__V1__ERROR_RESPONSE__INIT;
    e.error_code = (int32_t)code;
    e.error_message = msg;
    resp->message_response_case =
        GRPC__REFLECTION__V1__SERVER_REFLECTION_RESPONSE__MESSAGE_RESPONSE_ERROR_RESPONSE;
    resp->error_response = &e;
    rpc_call_send(call, &resp->base, NULL, NULL);
}

static void send_files(rpc_call_t *call, const reflection_t *r,
                       Grpc__Reflection__V1__ServerReflectionResponse *resp, size_t file)
{
    bool *seen = calloc(r->n_files, sizeof(*seen));
    ProtobufCBinaryData *files = calloc(r->n_files, sizeof(*files));
    if (!seen || !files) {
        free(seen);
        free(files);
        rpc_call_fail(call, -ENOMEM, "out of memory");
        return;
    }
    size_t n = 0;
    collect(r, file, seen, files, &n);
    Grpc__Reflection__V1__FileDescriptorResponse fr =
        GRPC__REFLECTION__V1__FILE_DESCRIPTOR_RESPONSE__INIT;
    fr.n_file_descriptor_proto = n;
    fr.file_descriptor_proto = files;
    resp->message_response_case =
        GRPC__REFLECTION__V1__SERVER_REFLECTION_RESPONSE__MESSAGE_RESPONSE_FILE_DESCRIPTOR_RESPONSE;
    resp->file_descriptor_response = &fr;
    rpc_call_send(call, &resp->base, NULL, NULL);
    free(seen);
    free(files);
}

static void send_services(rpc_call_t *call, const reflection_t *r,
                          Grpc__Reflection__V1__ServerReflectionResponse *resp)
{
    size_t n = rpc_server_service_count(r->server);
    Grpc__Reflection__V1__ServiceResponse *svc = calloc(n ? n : 1, sizeof(*svc));
    Grpc__Reflection__V1__ServiceResponse **ptrs = calloc(n ? n : 1, sizeof(*ptrs));
    if (!svc || !ptrs) {
        free(svc);
        free(ptrs);
        rpc_call_fail(call, -ENOMEM, "out of memory");
        return;
    }
    for (size_t i = 0; i < n; i++) {
        grpc__reflection__v1__service_response__init(&svc[i]);
        svc[i].name = (char *)rpc_server_service_name(r->server, i);
        ptrs[i] = &svc[i];
    }
    Grpc__Reflection__V1__ListServiceResponse list =
        GRPC__REFLECTION__V1__LIST_SERVICE_RESPONSE__INIT;
    list.n_service = n;
    list.service = ptrs;
    resp->message_response_case =
        GRPC__REFLECTION__V1__SERVER_REFLECTION_RESPONSE__MESSAGE_RESPONSE_LIST_SERVICES_RESPONSE;
    resp->list_services_response = &list;
    rpc_call_send(call, &resp->base, NULL, NULL);
    free(svc);
    free(ptrs);
}

static void on_request(rpc_call_t *call, const ProtobufCMessage *msg, void *ctx)
{
    const reflection_t *r = ctx;
    const Grpc__Reflection__V1__ServerReflectionRequest *req = (const void *)msg;
    Grpc__Reflection__V1__ServerReflectionResponse resp =
        GRPC__REFLECTION__V1__SERVER_REFLECTION_RESPONSE__INIT;
    resp.valid_host = req->host;
    resp.original_request = (Grpc__Reflection__V1__ServerReflectionRequest *)req;
    ssize_t file;

    switch (req->message_request_case) {
    case GRPC__REFLECTION__V1__SERVER_REFLECTION_REQUEST__MESSAGE_REQUEST_LIST_SERVICES:
        send_services(call, r, &resp);
        break;
    case GRPC__REFLECTION__V1__SERVER_REFLECTION_REQUEST__MESSAGE_REQUEST_FILE_BY_FILENAME:
        file = find_file(r, req->file_by_filename, strlen(req->file_by_filename));
        if (file < 0)
            send_error(call, &resp, GRPC_STATUS_NOT_FOUND, "file not found: %s",
                       req->file_by_filename);
        else
            send_files(call, r, &resp, (size_t)file);
        break;
    case GRPC__REFLECTION__V1__SERVER_REFLECTION_REQUEST__MESSAGE_REQUEST_FILE_CONTAINING_SYMBOL:
        file = find_symbol(r, req->file_containing_symbol);
        if (file < 0)
            send_error(call, &resp, GRPC_STATUS_NOT_FOUND, "symbol not found: %s",
                       req->file_containing_symbol);
        else
            send_files(call, r, &resp, (size_t)file);
        break;
    case GRPC__REFLECTION__V1__SERVER_REFLECTION_REQUEST__MESSAGE_REQUEST_FILE_CONTAINING_EXTENSION:
    case GRPC__REFLECTION__V1__SERVER_REFLECTION_REQUEST__MESSAGE_REQUEST_ALL_EXTENSION_NUMBERS_OF_TYPE:
        send_error(call, &resp, GRPC_STATUS_NOT_FOUND, "%s", "extensions are not supported");
        break;
    default:
        send_error(call, &resp, GRPC_STATUS_INVALID_ARGUMENT, "%s", "empty reflection request");
        break;
    }
}

static void on_end(rpc_call_t *call, void *ctx)
{
    rpc_call_finish(call, 0, NULL);
}

int reflection_register(reflection_t *r, rpc_server_t *server, bdx_error_t *err)
{
    r->server = server;
    const rpc_method_t methods[] = {
        {"/grpc.reflection.v1.ServerReflection/ServerReflectionInfo", RPC_BIDI,
         &grpc__reflection__v1__server_reflection_request__descriptor, NULL, on_request, on_end, r},
        {"/grpc.reflection.v1alpha.ServerReflection/ServerReflectionInfo", RPC_BIDI,
         &grpc__reflection__v1__server_reflection_request__descriptor, NULL, on_request, on_end, r},
    };
    return rpc_server_add_methods(server, methods, 2, err);
}

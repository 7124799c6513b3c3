/*
 * rpc_service: from a protobuf-c service descriptor plus an implementation table to rpc methods.
 */
#include "common/rpc_service.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void unimplemented(rpc_call_t *call, const ProtobufCMessage *req, void *ctx)
{
    rpc_call_fail(call, BDX_EUNIMPLEMENTED, "%s is not implemented by this build",
                  rpc_call_method(call));
}

/* Client-streaming / bidi messages of an unimplemented method are never read: the handler
 * already ended the call. These exist because the rpc layer requires both callbacks. */
static void ignore_message(rpc_call_t *call, const ProtobufCMessage *msg, void *ctx)
{
}

static void ignore_end(rpc_call_t *call, void *ctx)
{
}

static const rpc_service_impl_t *find_impl(const rpc_service_impl_t *impls, size_t n,
                                           const char *name)
{
    for (size_t i = 0; i < n; i++)
        if (strcmp(impls[i].method, name) == 0)
            return &impls[i];
    return NULL;
}

int rpc_service_add(rpc_server_t *server, const ProtobufCServiceDescriptor *service,
                    const rpc_service_impl_t *impls, size_t nimpls, void *ctx, bdx_error_t *err)
{
    rpc_method_t *methods;
    char(*paths)[256];
    int rc = 0;

    for (size_t i = 0; i < nimpls; i++) {
        bool known = false;
        for (unsigned m = 0; m < service->n_methods; m++)
            known = known || strcmp(service->methods[m].name, impls[i].method) == 0;
        if (!known)
            return bdx_error_set(err, BDX_EINVAL, "service %s has no method %s", service->name,
                                 impls[i].method);
    }
    methods = calloc(service->n_methods, sizeof(*methods));
    paths = calloc(service->n_methods, sizeof(*paths));
    if (!methods || !paths) {
        rc = bdx_error_set(err, -ENOMEM, "out of memory");
        goto out;
    }
    for (unsigned m = 0; m < service->n_methods; m++) {
        const ProtobufCMethodDescriptor *md = &service->methods[m];
        const rpc_service_impl_t *impl = find_impl(impls, nimpls, md->name);
        rpc_method_t *r = &methods[m];

        snprintf(paths[m], sizeof(paths[m]), "/%s/%s", service->name, md->name);
        r->path = paths[m];
        r->request = md->input;
        r->ctx = ctx;
        r->kind = impl ? impl->kind : RPC_UNARY;
        r->handler = impl ? impl->handler : NULL;
        r->on_recv = impl ? impl->on_recv : NULL;
        r->on_end = impl ? impl->on_end : NULL;
        if (!r->handler && !r->on_recv) {
            r->handler = unimplemented;
            if (r->kind & RPC_CLIENT_STREAMING) {
                r->on_recv = ignore_message;
                r->on_end = ignore_end;
            }
        }
    }
    rc = rpc_server_add_methods(server, methods, service->n_methods, err);
out:
    free(methods);
    free(paths);
    return rc;
}

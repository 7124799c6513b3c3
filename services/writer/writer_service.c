/*
 * writer_service: method table of bitdex.v1.Writer. Streaming shapes must match writer.proto.
 */
#include "services/writer/writer_service.h"

#include "common/rpc_service.h"

#include "bitdex/v1/writer.pb-c.h"

static const rpc_service_impl_t writer_methods[] = {
    {"ApplyStream", RPC_CLIENT_STREAMING, NULL, NULL, NULL},
    {"Dump", RPC_SERVER_STREAMING, NULL, NULL, NULL},
    {"Watch", RPC_SERVER_STREAMING, NULL, NULL, NULL},
};

int writer_service_register(rpc_server_t *server, bdx_error_t *err)
{
    return rpc_service_add(server, &bitdex__v1__writer__descriptor, writer_methods,
                           sizeof(writer_methods) / sizeof(writer_methods[0]), NULL, err);
}

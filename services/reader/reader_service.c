/*
 * reader_service: method table of bitdex.v1.Query. All methods are unary.
 */
#include "services/reader/reader_service.h"

#include "common/rpc_service.h"

#include "bitdex/v1/query.pb-c.h"

int reader_service_register(rpc_server_t *server, bdx_error_t *err)
{
    return rpc_service_add(server, &bitdex__v1__query__descriptor, NULL, 0, NULL, err);
}

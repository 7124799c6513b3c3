/*
 * reader_service: registers the Query service of bitdex-reader.
 */
#include "services/reader/reader_service.h"

int reader_service_register(rpc_server_t *server, const query_source_t *source, bdx_error_t *err)
{
    return query_service_register(server, source, err);
}

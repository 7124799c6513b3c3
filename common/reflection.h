/*
 * reflection: gRPC server reflection (grpc.reflection.v1 and v1alpha ServerReflectionInfo), so
 * tools such as grpcurl can list the services and fetch their schemas.
 *
 * The schemas come from a serialized google.protobuf.FileDescriptorSet built with
 * `protoc --include_imports` (bitdex embeds one as bitdex_descriptor_set, see proto/). It is
 * indexed once by a small wire walker (common/protowire.h): file names, their dependencies, and
 * the package-qualified symbols: messages (nested too), their fields, enums and their values,
 * services and Service.Method.
 *
 * Answers: list_services (the services added to the rpc server, including health and reflection
 * themselves), file_by_filename and file_containing_symbol (the file and its transitive
 * dependencies, each once, the requested file first). Extension queries and unknown names get an
 * error_response with code 5 (NOT_FOUND); every response echoes valid_host and original_request.
 *
 * Concurrency: the index is immutable after reflection_new(); lookups are thread-safe.
 */
#ifndef BITDEX_REFLECTION_H
#define BITDEX_REFLECTION_H

#include "common/error.h"
#include "common/rpc.h"

#include <stdbool.h>
#include <stddef.h>

typedef struct reflection reflection_t;

/*
 * Indexes the FileDescriptorSet in set[0, len). `set` is borrowed and must outlive the index (the
 * responses point into it). Caller frees *out with reflection_free().
 * Returns 0, BDX_ECORRUPT (malformed set, detail in err) or -ENOMEM.
 */
int reflection_new(const void *set, size_t len, reflection_t **out, bdx_error_t *err);

/* Frees the index (NULL allowed); after the rpc server it was registered with is shut down. */
void reflection_free(reflection_t *r);

/*
 * Adds ServerReflectionInfo of v1 and v1alpha to `server` (before rpc_server_start()).
 * `r` and `server` are borrowed; list_services reports the server's services at request time.
 */
int reflection_register(reflection_t *r, rpc_server_t *server, bdx_error_t *err);

/* Name of the file defining the fully-qualified `symbol` ("bitdex.v1.Query.Search"), or NULL.
 * Borrowed; valid until reflection_free(). */
const char *reflection_symbol_file(const reflection_t *r, const char *symbol);

/* Number of files in the set, and whether `name` is one of them. */
size_t reflection_file_count(const reflection_t *r);
bool reflection_has_file(const reflection_t *r, const char *name);

#endif

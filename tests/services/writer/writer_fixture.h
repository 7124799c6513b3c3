/*
 * writer_fixture: an active writer in-process for tests — a catalog in a temporary data
 * directory with one index "images", the Watch hub, and the Writer service on a real gRPC server
 * bound to 127.0.0.1:0. Used by the watch tests of the writer and of the reader's client.
 * Not thread-safe; tear down with writer_fixture_stop() (every thread and file goes).
 */
#ifndef BITDEX_TEST_WRITER_FIXTURE_H
#define BITDEX_TEST_WRITER_FIXTURE_H

#include "common/rpc.h"
#include "services/writer/catalog.h"
#include "services/writer/watch.h"
#include "services/writer/writer_service.h"

#include <stdbool.h>
#include <stdint.h>

typedef struct writer_fixture {
    char dir[64]; /* the data directory (removed by stop unless keep_dir) */
    watch_t *watch;
    catalog_t *cat; /* owned by the service once active */
    writer_service_t *ws;
    rpc_server_t *srv;
    int port;
} writer_fixture_t;

/* Starts a writer on a new data directory (dir NULL) or on `dir` (a restart); `active` false
 * leaves the service a standby. The index "images" is created if missing. */
void writer_fixture_start(writer_fixture_t *f, const char *dir, bool active);

/* Shuts the server down (Watch streams end UNAVAILABLE), frees everything; removes the data
 * directory unless keep_dir. */
void writer_fixture_stop(writer_fixture_t *f, bool keep_dir);

/* Commits one Put of document `id` to `index` and returns its acknowledged LSN. */
uint64_t writer_fixture_put(writer_fixture_t *f, const char *index, uint32_t id);

/* Creates index `name` with the fixture's schema. */
void writer_fixture_create(writer_fixture_t *f, const char *name);

#endif

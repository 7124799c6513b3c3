/*
 * reader: what one bitdex-reader process serves — a replica (replica.h) of every index in the
 * data directory, each loaded from the generation CURRENT names and kept up to date by its WAL
 * follower (follow.h), plus the writer's Watch stream (watch_client.h) that tells the followers
 * the committed LSN and announces new generations and indexes.
 *
 * A maintenance thread does everything that touches files besides the WAL tail: every poll_ms
 * (and at once when Watch announces something) it scans <data>/indexes for indexes created or
 * dropped, reads each index's CURRENT, and when it names a newer generation, maps it (verified,
 * pinned with a shared flock so the writer keeps it), builds a new replica pair from it off to
 * the side, catches it up from the WAL and swaps it in (follow_switch()), then unpins the old
 * generation. So Watch only makes things faster: without it (writer down or unreachable) the
 * reader still finds everything by polling, and the followers apply every complete WAL frame
 * (follow.h explains the trade-off).
 *
 * Readiness: the reader is ready once every index it found at the first scan has caught up with
 * its WAL (replica_ready()); `on_ready` is called then (and never again). Indexes found later
 * answer UNAVAILABLE until they catch up.
 *
 * Concurrency: reader_source()'s functions run on any thread, any number at once: a lookup under
 * a read lock held for a few instructions (writers of that lock: the maintenance thread, only
 * when an index appears or disappears), then the replica's wait-free snapshot. A dropped index
 * is closed once the queries holding it have released it. reader_close() stops everything and
 * needs the query server stopped first.
 */
#ifndef BITDEX_READER_H
#define BITDEX_READER_H

#include "common/error.h"
#include "services/reader/query_service.h"

#include <stdbool.h>
#include <stdint.h>

typedef struct reader_options {
    const char *data_dir;        /* the writer's data directory; copied */
    const char *writer;          /* "host:port" for Watch; NULL or "" = no Watch (polling only) */
    const char *reader_id;       /* WatchRequest.reader_id; NULL = "<hostname>-<pid>" */
    uint32_t poll_ms;            /* directory/CURRENT scans and WAL polling without news; 0 = 100 */
    bool no_verify;              /* skip checksum verification of generations at load (tests) */
    void (*on_ready)(void *arg); /* called once, from the maintenance thread; may be NULL */
    void *on_ready_arg;
} reader_options_t;

typedef struct reader reader_t;

/* Starts the reader: the maintenance thread (first scan at once) and the Watch client. Caller
 * frees with reader_close(). Returns 0, -ENOMEM or -errno (threads). */
int reader_open(const reader_options_t *opts, reader_t **out, bdx_error_t *err);

/* Stops Watch and the maintenance thread, closes every replica. No query may be in flight
 * (stop the server first). NULL is a no-op. */
void reader_close(reader_t *r);

/* The query source over the replicas (for query_service_register()). Borrowed; valid until
 * reader_close(). */
const query_source_t *reader_source(reader_t *r);

/* True once the first scan's indexes have all caught up. Any thread. */
bool reader_ready(reader_t *r);

#endif

/*
 * stats: what Writer.GetStats reports — per index sizes, LSNs, generation and watchers, and the
 * process's active time and RSS — gathered from the catalog, the WAL directories, the watch hub
 * and /proc.
 *
 * Concurrency: stats_build() reads directories and walks each index's memory under its commit
 * mutex (catalog_memory): call it from a thread pool, never a completion-queue thread. Any
 * number of calls may run at once; the result belongs to the caller.
 */
#ifndef BITDEX_STATS_H
#define BITDEX_STATS_H

#include "common/error.h"
#include "services/writer/catalog.h"
#include "services/writer/watch.h"

#include "bitdex/v1/writer.pb-c.h"

#include <stdint.h>

/*
 * Builds the GetStats response for `index` (NULL or "" = every index, sorted by name), with
 * `active_ms` as the response's active_ms. `watch` may be NULL (no watchers). Every part of
 * *out is malloc'd: free it with stats_free(). Returns 0, BDX_ENOTFOUND (unknown index, named in
 * err) or -ENOMEM.
 *
 * Not filled yet: bitmap_count, mapped_bytes, prefilter_count, dump_running (0/false until
 * their features land); generation, checkpoint_lsn and last_checkpoint_unix_ms come from
 * catalog_set_generation() and stay 0 until the checkpointer calls it.
 */
int stats_build(catalog_t *cat, watch_t *watch, const char *index, uint64_t active_ms,
                Bitdex__V1__GetStatsResponse **out, bdx_error_t *err);

/* Frees a stats_build() result. NULL is a no-op. */
void stats_free(Bitdex__V1__GetStatsResponse *resp);

/* Resident set size of this process in bytes (/proc/self/statm), 0 if unknown. */
uint64_t stats_rss_bytes(void);

#endif

/*
 * stats: Writer.GetStats. See stats.h for the contract.
 *
 * The response is built entirely from malloc'd parts so that protobuf-c's own
 * protobuf_c_message_free_unpacked() (default allocator = malloc/free) frees it.
 */
#include "services/writer/stats.h"

#include "common/index.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

uint64_t stats_rss_bytes(void)
{
    unsigned long long size = 0, resident = 0;
    FILE *f = fopen("/proc/self/statm", "r");
    long page = sysconf(_SC_PAGESIZE);

    if (f == NULL)
        return 0;
    if (fscanf(f, "%llu %llu", &size, &resident) != 2)
        resident = 0;
    fclose(f);
    return (uint64_t)resident * (uint64_t)(page > 0 ? page : 4096);
}

/* Fills the watchers of `st` (malloc'd). Returns 0 or -ENOMEM. */
static int fill_watchers(watch_t *watch, Bitdex__V1__IndexStats *st)
{
    watch_watcher_t *w = NULL;
    size_t n = 0;
    int rc;

    if (watch == NULL)
        return 0;
    if ((rc = watch_watchers(watch, st->index, &w, &n)) != 0 || n == 0)
        return rc;
    if ((st->watchers = calloc(n, sizeof(*st->watchers))) == NULL) {
        watch_watchers_free(w, n);
        return -ENOMEM;
    }
    for (size_t i = 0; i < n; i++) {
        Bitdex__V1__WatcherStats *ws = malloc(sizeof(*ws));
        if (ws == NULL) {
            rc = -ENOMEM;
            break;
        }
        bitdex__v1__watcher_stats__init(ws);
        st->watchers[st->n_watchers++] = ws;
        ws->reader_id = w[i].reader_id; /* moved */
        ws->peer = w[i].peer;
        w[i].reader_id = w[i].peer = NULL;
        ws->sent_lsn = w[i].sent_lsn;
        ws->connected_unix_ms = w[i].connected_unix_ms;
    }
    watch_watchers_free(w, n);
    return rc;
}

/* One index's stats (malloc'd) into *out. */
static int index_stats(catalog_t *cat, watch_t *watch, const catalog_info_t *info,
                       Bitdex__V1__IndexStats **out, bdx_error_t *err)
{
    Bitdex__V1__IndexStats *st = malloc(sizeof(*st));
    index_memory_t mem;
    int rc;

    *out = st;
    if (st == NULL)
        return bdx_error_set(err, -ENOMEM, "out of memory");
    bitdex__v1__index_stats__init(st);
    if ((st->index = strdup(info->schema->name)) == NULL)
        return bdx_error_set(err, -ENOMEM, "out of memory");
    st->document_count = info->document_count;
    st->committed_lsn = info->committed_lsn;
    st->generation = info->generation.generation;
    st->checkpoint_lsn = info->generation.checkpoint_lsn;
    st->last_checkpoint_unix_ms = info->generation.published_unix_ms;
    if ((rc = catalog_memory(cat, st->index, &mem, err)) != 0)
        return rc;
    st->bitmap_bytes = mem.bitmaps;
    st->memory_bytes = mem.total;
    st->wal_bytes = info->wal_bytes;
    st->wal_segments = info->wal_segments;
    st->mapped_bytes = info->mapped_bytes;
    if ((rc = fill_watchers(watch, st)) != 0)
        return bdx_error_set(err, rc, "out of memory");
    return 0;
}

int stats_build(catalog_t *cat, watch_t *watch, const char *index, uint64_t active_ms,
                Bitdex__V1__GetStatsResponse **out, bdx_error_t *err)
{
    Bitdex__V1__GetStatsResponse *resp = malloc(sizeof(*resp));
    catalog_info_t *infos = NULL;
    size_t n = 0;
    int rc = 0;

    *out = NULL;
    if (resp == NULL)
        return bdx_error_set(err, -ENOMEM, "out of memory");
    bitdex__v1__get_stats_response__init(resp);
    resp->active_ms = active_ms;
    resp->rss_bytes = stats_rss_bytes();
    if (index != NULL && index[0] != '\0') {
        if ((infos = calloc(1, sizeof(*infos))) == NULL) {
            rc = bdx_error_set(err, -ENOMEM, "out of memory");
            goto out;
        }
        if ((rc = catalog_get(cat, index, infos, err)) != 0)
            goto out;
        n = 1;
    } else if ((rc = catalog_list(cat, &infos, &n)) != 0) {
        bdx_error_set(err, rc, "out of memory");
        goto out;
    }
    if (n > 0 && (resp->indexes = calloc(n, sizeof(*resp->indexes))) == NULL) {
        rc = bdx_error_set(err, -ENOMEM, "out of memory");
        goto out;
    }
    for (size_t i = 0; i < n; i++) {
        Bitdex__V1__IndexStats *st;
        rc = index_stats(cat, watch, &infos[i], &st, err);
        if (st != NULL)
            resp->indexes[resp->n_indexes++] = st;
        /* An index dropped since the list was taken is left out (it is gone now). */
        if (rc == BDX_ENOTFOUND && (index == NULL || index[0] == '\0')) {
            protobuf_c_message_free_unpacked(&st->base, NULL);
            resp->indexes[--resp->n_indexes] = NULL;
            rc = 0;
        }
        if (rc != 0)
            goto out;
    }
out:
    catalog_info_free(infos, n);
    if (rc != 0) {
        stats_free(resp);
        return rc;
    }
    *out = resp;
    return 0;
}

void stats_free(Bitdex__V1__GetStatsResponse *resp)
{
    if (resp != NULL)
        protobuf_c_message_free_unpacked(&resp->base, NULL);
}

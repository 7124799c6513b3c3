/*
 * bitdex-writer: the process that owns a data directory's files.
 *
 * Start-up order: block signals (before gRPC starts threads), parse options, create the data
 * directory, set up logging and the server, read the index declarations of --config-dir (a bad
 * file stops here, before anything is served), start serving health/reflection with the Writer
 * service NOT_SERVING (its methods answer UNAVAILABLE), then run the flock election. The winner
 * loads its indexes (<data>/indexes, then the declarations: creating missing indexes, refusing
 * to start when one differs from its files) and only then reports SERVING; a standby does the
 * same when it takes over, and exits with status 1 if that fails. On SIGTERM the server drains
 * first and the lock is released last, so a standby never writes while this process still
 * answers.
 */
#include "common/config.h"
#include "common/health.h"
#include "common/host.h"
#include "common/log.h"
#include "common/process.h"
#include "common/rpc_service.h"
#include "common/schema_yaml.h"
#include "services/writer/catalog.h"
#include "services/writer/election.h"
#include "services/writer/watch.h"
#include "services/writer/writer_service.h"

#include <limits.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#define PROG "bitdex-writer"
#define NOPTIONS (HOST_NOPTIONS + 10)

/* What becoming the active writer needs; shared by main and the election thread. */
typedef struct writer_main {
    const char *data_dir;
    const schema_yaml_t *config; /* NULL without --config-dir */
    catalog_options_t catalog;   /* --sync*, --checkpoint-* */
    health_t *health;
    writer_service_t *service;
    atomic_bool started; /* recover() ran: main and the election thread may both try */
    atomic_bool failed;  /* recovery on take-over failed: exit 1 */
} writer_main_t;

/* Loads the indexes and applies the declarations, then serves. Returns 0 or the error. */
static int recover(writer_main_t *m)
{
    catalog_t *cat = NULL;
    bdx_error_t err = {0};
    char q[BDX_ERROR_MSG_MAX * 2];
    int rc;

    /* A standby that wins right after election_open() returned is seen as active by main
     * too, while its thread calls on_active: only the first caller recovers. */
    if (atomic_exchange(&m->started, true))
        return 0;
    writer_service_set_recovering(m->service);
    rc = catalog_open_with(m->data_dir, &m->catalog, &cat, &err);
    if (rc == 0 && m->config != NULL)
        rc = catalog_apply_config(cat, m->config, &err);
    if (rc != 0) {
        log_error("writer", "cannot load the indexes", "error=%s",
                  log_quote(q, sizeof(q), bdx_error_message(&err)));
        catalog_close(cat);
        return rc;
    }
    log_info("writer", "serving", "data_dir=%s indexes=%zu", m->data_dir, catalog_count(cat));
    writer_service_activate(m->service, cat);
    health_set(m->health, WRITER_SERVICE_NAME, HEALTH_SERVING);
    return 0;
}

/* Election thread, on take-over. A failure stops the process like a signal would. */
static void became_active(void *arg)
{
    writer_main_t *m = arg;

    if (recover(m) != 0) {
        atomic_store(&m->failed, true);
        kill(getpid(), SIGTERM);
    }
}

static config_option_t string_option(const char *name, const char *env, char **target,
                                     const char *def, bool required, const char *help)
{
    return (config_option_t){.name = name,
                             .env = env,
                             .type = CONFIG_STRING,
                             .target = target,
                             .def = def,
                             .required = required,
                             .help = help};
}

int main(int argc, char **argv)
{
    host_config_t hcfg = {0};
    char *data_dir = NULL, *admin_token = NULL, *config_dir = NULL, *sync = NULL;
    int64_t sync_interval_ms = 0, ck_interval_ms = 0, ck_lsns = 0, ck_wal_mb = 0, seg_mb = 0;
    int64_t ck_full_pct = 0;
    config_option_t opts[NOPTIONS];
    host_t *host = NULL;
    election_t *election = NULL;
    schema_yaml_t *config = NULL;
    watch_t *watch = NULL;
    writer_main_t m = {0};
    bdx_error_t err = {0};
    char q[BDX_ERROR_MSG_MAX * 2];
    int rc, status = 1;

    if (process_block_signals() != 0) {
        fprintf(stderr, PROG ": cannot block signals\n");
        return 1;
    }
    host_options(&hcfg, "127.0.0.1:50051", opts);
    opts[HOST_NOPTIONS] =
        string_option("data-dir", "BITDEX_DATA_DIR", &data_dir, NULL, true,
                      "data directory (created if missing; shared with the readers)");
    opts[HOST_NOPTIONS + 1] = string_option(
        "admin-token", "BITDEX_ADMIN_TOKEN", &admin_token, "", false,
        "token mutating RPCs must send as \"authorization: Bearer <token>\" (empty: no check)");
    opts[HOST_NOPTIONS + 2] = string_option(
        "config-dir", "BITDEX_CONFIG_DIR", &config_dir, "", false,
        "directory of *.yaml index declarations; missing indexes are created at start");
    opts[HOST_NOPTIONS + 3] = string_option(
        "sync", "BITDEX_SYNC", &sync, "batch", false,
        "when a write is acknowledged: always (fsync each batch), batch (group commit: one "
        "fsync per interval for every waiting batch), none (after the OS write; tests/bulk)");
    opts[HOST_NOPTIONS + 4] = (config_option_t){
        .name = "sync-interval-ms",
        .env = "BITDEX_SYNC_INTERVAL_MS",
        .type = CONFIG_INT,
        .target = &sync_interval_ms,
        .def = "2",
        .min = 1,
        .max = 1000,
        .help = "--sync batch: least time between two WAL fsyncs of an index, in milliseconds"};
    opts[HOST_NOPTIONS + 5] = (config_option_t){
        .name = "checkpoint-interval-ms",
        .env = "BITDEX_CHECKPOINT_INTERVAL_MS",
        .type = CONFIG_INT,
        .target = &ck_interval_ms,
        .def = "300000",
        .min = 0,
        .max = 86400000,
        .help = "checkpoint an index when this long passed since its last checkpoint and it "
                "changed (0: never on time; --checkpoint-lsns/--checkpoint-wal-mb still apply)"};
    opts[HOST_NOPTIONS + 6] = (config_option_t){
        .name = "checkpoint-lsns",
        .env = "BITDEX_CHECKPOINT_LSNS",
        .type = CONFIG_INT,
        .target = &ck_lsns,
        .def = "100000",
        .min = 1,
        .max = INT64_MAX,
        .help = "checkpoint an index after this many batches since its last checkpoint"};
    opts[HOST_NOPTIONS + 7] =
        (config_option_t){.name = "checkpoint-wal-mb",
                          .env = "BITDEX_CHECKPOINT_WAL_MB",
                          .type = CONFIG_INT,
                          .target = &ck_wal_mb,
                          .def = "256",
                          .min = 1,
                          .max = 1048576,
                          .help = "checkpoint an index when its WAL on disk reaches this many MiB"};
    opts[HOST_NOPTIONS + 8] = (config_option_t){
        .name = "wal-segment-mb",
        .env = "BITDEX_WAL_SEGMENT_MB",
        .type = CONFIG_INT,
        .target = &seg_mb,
        .def = "64",
        .min = 1,
        .max = 4096,
        .help = "size of a WAL segment file in MiB (checkpoints delete whole segments)"};
    opts[HOST_NOPTIONS + 9] = (config_option_t){
        .name = "checkpoint-full-percent",
        .env = "BITDEX_CHECKPOINT_FULL_PERCENT",
        .type = CONFIG_INT,
        .target = &ck_full_pct,
        .def = "25",
        .min = 1,
        .max = 100,
        .help = "write a new base instead of a delta when the last delta passed this percent of "
                "the base, in bytes or in the memory every reader's load of it materializes"};
    rc = config_parse(opts, NOPTIONS, PROG, argc, argv, stdout, &err);
    if (rc == CONFIG_HELP) {
        status = 0;
        goto out;
    }
    if (rc != 0) {
        fprintf(stderr, PROG ": %s (see --help)\n", bdx_error_message(&err));
        status = 2;
        goto out;
    }
    if (commit_sync_parse(sync, &m.catalog.commit.sync) != 0) {
        fprintf(stderr, PROG ": --sync: \"%s\" is not always, batch or none (see --help)\n", sync);
        status = 2;
        goto out;
    }
    m.catalog.commit.interval_ms = (unsigned)sync_interval_ms;
    m.catalog.commit.segment_bytes = (uint64_t)seg_mb << 20;
    m.catalog.checkpoint.interval_ms = ck_interval_ms > 0 ? (unsigned)ck_interval_ms : UINT_MAX;
    m.catalog.checkpoint.lsns = (uint64_t)ck_lsns;
    m.catalog.checkpoint.wal_bytes = (uint64_t)ck_wal_mb << 20;
    m.catalog.checkpoint.full_ratio = (double)ck_full_pct / 100.0;
    m.catalog.checkpoint.full_materialized_ratio = (double)ck_full_pct / 100.0;
    if ((rc = process_mkdirs(data_dir)) != 0) {
        log_error("writer", "cannot create data directory", "path=%s error=\"%s\"", data_dir,
                  bdx_strerror(rc));
        goto out;
    }
    /* host_new() applies --log-level, so everything below logs at the chosen level. */
    if ((rc = host_new("writer", &hcfg, &host, &err)) != 0) {
        if (rc == BDX_EINVAL) { /* a bad option value (--log-level) is a usage error */
            fprintf(stderr, PROG ": %s (see --help)\n", bdx_error_message(&err));
            status = 2;
        } else {
            log_error("writer", "cannot start", "error=\"%s\"", bdx_error_message(&err));
        }
        goto out;
    }
    if (config_dir != NULL && config_dir[0] != '\0') {
        if (schema_yaml_load_dir(config_dir, &config, &err) != 0) {
            log_error("writer", "invalid index config", "dir=%s error=%s", config_dir,
                      log_quote(q, sizeof(q), bdx_error_message(&err)));
            goto out;
        }
        log_info("writer", "index config read", "dir=%s indexes=%zu", config_dir, config->count);
    }
    if (admin_token == NULL || admin_token[0] == '\0')
        log_warn("writer", "no admin token: mutating RPCs are not authenticated", NULL);
    log_info("writer", "write durability", "sync=%s sync_interval_ms=%u",
             commit_sync_name(m.catalog.commit.sync), m.catalog.commit.interval_ms);
    if (m.catalog.commit.sync == COMMIT_SYNC_NONE)
        log_warn("writer", "--sync none: acknowledged writes can be lost in a machine crash", NULL);
    if ((rc = watch_new(&watch)) != 0) {
        log_error("writer", "cannot start", "error=\"%s\"", bdx_strerror(rc));
        goto out;
    }
    m.catalog.commit.watch = watch; /* commits announce LSNs, the catalog creates and drops */
    if (writer_service_new(&(writer_service_config_t){data_dir, admin_token, watch}, &m.service) !=
        0) {
        log_error("writer", "cannot start", "error=\"out of memory\"");
        goto out;
    }
    /* Watch streams never end by themselves: end them (UNAVAILABLE) before the grace period. */
    if (rpc_server_on_shutdown(host_server(host), watch_stop_hook, watch) != 0 ||
        writer_service_register(m.service, host_server(host), &err) != 0 ||
        health_set(host_health(host), WRITER_SERVICE_NAME, HEALTH_NOT_SERVING) != 0 ||
        host_start(host, &err) != 0) {
        log_error("writer", "cannot start", "error=\"%s\"", bdx_error_message(&err));
        goto out;
    }
    m.data_dir = data_dir;
    m.config = config;
    m.health = host_health(host);
    atomic_init(&m.started, false);
    atomic_init(&m.failed, false);
    rc = election_open(data_dir, became_active, &m, &election);
    if (rc != 0) {
        log_error("writer", "cannot open the writer lock", "path=%s/LOCK error=\"%s\"", data_dir,
                  bdx_strerror(rc));
        goto out;
    }
    if (election_is_active(election) && recover(&m) != 0)
        goto out;
    host_run(host);
    status = atomic_load(&m.failed) ? 1 : 0;
out:
    /* host_run() has already stopped the server, so the lock is released only after this
     * process stopped answering; the election thread (which touches health and the service)
     * ends before host_free(), and the service (with its catalog) outlives the server. */
    election_close(election);
    host_free(host);
    writer_service_free(m.service);
    watch_free(watch); /* after the server (stream release functions) and the catalog (commits) */
    schema_yaml_free(config);
    config_free(opts, NOPTIONS);
    return status;
}

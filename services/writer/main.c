/*
 * bitdex-writer: the process that owns a data directory's files.
 *
 * Start-up order: block signals (before gRPC starts threads), parse options, create the data
 * directory, build the server, start serving health/reflection with the Writer service
 * NOT_SERVING, then run the flock election: the winner reports SERVING at once, a standby when
 * it takes over. On SIGTERM the server drains first and the lock is released last, so a standby
 * never writes while this process still answers.
 */
#include "common/config.h"
#include "common/health.h"
#include "common/host.h"
#include "common/log.h"
#include "common/process.h"
#include "common/rpc_service.h"
#include "services/writer/election.h"
#include "services/writer/writer_service.h"

#include <stdio.h>
#include <stdlib.h>

#define PROG "bitdex-writer"

static void became_active(void *arg)
{
    health_set(arg, WRITER_SERVICE_NAME, HEALTH_SERVING);
}

int main(int argc, char **argv)
{
    host_config_t hcfg = {0};
    char *data_dir = NULL;
    config_option_t opts[HOST_NOPTIONS + 1];
    host_t *host = NULL;
    election_t *election = NULL;
    bdx_error_t err = {0};
    int rc, status = 1;

    if (process_block_signals() != 0) {
        fprintf(stderr, PROG ": cannot block signals\n");
        return 1;
    }
    host_options(&hcfg, "127.0.0.1:50051", opts);
    opts[HOST_NOPTIONS] = (config_option_t){
        "data-dir", "BITDEX_DATA_DIR", CONFIG_STRING, &data_dir, NULL, 0, 0, true,
        "data directory (created if missing; shared with the readers)"};
    rc = config_parse(opts, HOST_NOPTIONS + 1, PROG, argc, argv, stdout, &err);
    if (rc == CONFIG_HELP) {
        status = 0;
        goto out;
    }
    if (rc != 0) {
        fprintf(stderr, PROG ": %s (see --help)\n", bdx_error_message(&err));
        status = 2;
        goto out;
    }
    if ((rc = process_mkdirs(data_dir)) != 0) {
        log_error("writer", "cannot create data directory", "path=%s error=\"%s\"", data_dir,
                  bdx_strerror(rc));
        goto out;
    }
    if (host_new("writer", &hcfg, &host, &err) != 0 ||
        writer_service_register(host_server(host), &err) != 0 ||
        health_set(host_health(host), WRITER_SERVICE_NAME, HEALTH_NOT_SERVING) != 0 ||
        host_start(host, &err) != 0) {
        log_error("writer", "cannot start", "error=\"%s\"", bdx_error_message(&err));
        goto out;
    }
    rc = election_open(data_dir, became_active, host_health(host), &election);
    if (rc != 0) {
        log_error("writer", "cannot open the writer lock", "path=%s/LOCK error=\"%s\"", data_dir,
                  bdx_strerror(rc));
        goto out;
    }
    if (election_is_active(election))
        became_active(host_health(host));
    host_run(host);
    status = 0;
out:
    /* host_run() has already stopped the server, so the lock is released only after this
     * process stopped answering; the election thread (which touches health) ends before
     * host_free(). */
    election_close(election);
    host_free(host);
    config_free(opts, HOST_NOPTIONS + 1);
    return status;
}

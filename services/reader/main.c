/*
 * bitdex-reader: serves queries from the writer's files (read-only); any number may run.
 *
 * Start-up order: block signals (before gRPC starts threads), parse options, build the server
 * with the Query service, start serving, report SERVING once caught up with the data directory.
 */
#include "common/config.h"
#include "common/health.h"
#include "common/host.h"
#include "common/log.h"
#include "common/process.h"
#include "services/reader/reader_service.h"

#include <stdio.h>
#include <stdlib.h>

#define PROG "bitdex-reader"

int main(int argc, char **argv)
{
    host_config_t hcfg = {0};
    char *data_dir = NULL, *writer = NULL;
    config_option_t opts[HOST_NOPTIONS + 2];
    host_t *host = NULL;
    bdx_error_t err = {0};
    int rc, status = 1;

    if (process_block_signals() != 0) {
        fprintf(stderr, PROG ": cannot block signals\n");
        return 1;
    }
    host_options(&hcfg, "127.0.0.1:50052", opts);
    opts[HOST_NOPTIONS] = (config_option_t){"data-dir",
                                            "BITDEX_DATA_DIR",
                                            CONFIG_STRING,
                                            &data_dir,
                                            NULL,
                                            0,
                                            0,
                                            true,
                                            "the writer's data directory (read-only)"};
    opts[HOST_NOPTIONS + 1] = (config_option_t){"writer",
                                                "BITDEX_WRITER",
                                                CONFIG_STRING,
                                                &writer,
                                                "127.0.0.1:50051",
                                                0,
                                                0,
                                                false,
                                                "address of bitdex-writer, for its Watch stream"};
    rc = config_parse(opts, HOST_NOPTIONS + 2, PROG, argc, argv, stdout, &err);
    if (rc == CONFIG_HELP) {
        status = 0;
        goto out;
    }
    if (rc != 0) {
        fprintf(stderr, PROG ": %s (see --help)\n", bdx_error_message(&err));
        status = 2;
        goto out;
    }
    rc = host_new("reader", &hcfg, &host, &err);
    if (rc == BDX_EINVAL) {
        fprintf(stderr, PROG ": %s (see --help)\n", bdx_error_message(&err));
        status = 2;
        goto out;
    }
    /* Nothing is loaded yet: the source serves no index (NOT_FOUND) until the replicas that
     * follow the data directory replace it. */
    if (rc != 0 ||
        reader_service_register(host_server(host), query_service_empty_source(), &err) != 0 ||
        health_set(host_health(host), READER_SERVICE_NAME, HEALTH_NOT_SERVING) != 0 ||
        host_start(host, &err) != 0) {
        log_error("reader", "cannot start", "error=\"%s\"", bdx_error_message(&err));
        goto out;
    }
    /* Nothing to load yet: the data directory is followed by a later change. */
    health_set(host_health(host), READER_SERVICE_NAME, HEALTH_SERVING);
    log_info("reader", "serving", "data_dir=%s writer=%s", data_dir, writer);
    host_run(host);
    status = 0;
out:
    host_free(host);
    config_free(opts, HOST_NOPTIONS + 2);
    return status;
}

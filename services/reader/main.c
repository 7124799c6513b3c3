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
#include "services/reader/reader.h"
#include "services/reader/reader_service.h"

#include <stdio.h>
#include <stdlib.h>

#define PROG "bitdex-reader"

/* Maintenance thread, once every index found at start has caught up. */
static void on_ready(void *arg)
{
    health_set(host_health(arg), READER_SERVICE_NAME, HEALTH_SERVING);
    log_info("reader", "serving", NULL);
}

int main(int argc, char **argv)
{
    host_config_t hcfg = {0};
    char *data_dir = NULL, *writer = NULL, *reader_id = NULL;
    int64_t poll_ms = 0;
    config_option_t opts[HOST_NOPTIONS + 4];
    host_t *host = NULL;
    reader_t *reader = NULL;
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
                                                "address of bitdex-writer, for its Watch stream "
                                                "(empty: follow the files by polling only)"};
    opts[HOST_NOPTIONS + 2] = (config_option_t){"reader-id",
                                                "BITDEX_READER_ID",
                                                CONFIG_STRING,
                                                &reader_id,
                                                "",
                                                0,
                                                0,
                                                false,
                                                "name in the writer's GetStats (default "
                                                "<hostname>-<pid>; e.g. the pod name)"};
    opts[HOST_NOPTIONS + 3] = (config_option_t){"poll-ms",
                                                "BITDEX_POLL_MS",
                                                CONFIG_INT,
                                                &poll_ms,
                                                "100",
                                                1,
                                                60000,
                                                false,
                                                "how often to look for new indexes, generations "
                                                "and (without Watch) WAL frames, in ms"};
    rc = config_parse(opts, HOST_NOPTIONS + 4, PROG, argc, argv, stdout, &err);
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
    /* NOT_SERVING until every index found at start has caught up with its WAL (on_ready). */
    if (rc != 0 ||
        reader_open(&(reader_options_t){.data_dir = data_dir,
                                        .writer = writer,
                                        .reader_id = reader_id,
                                        .poll_ms = (uint32_t)poll_ms,
                                        .on_ready = on_ready,
                                        .on_ready_arg = host},
                    &reader, &err) != 0 ||
        reader_service_register(host_server(host), reader_source(reader), &err) != 0 ||
        health_set(host_health(host), READER_SERVICE_NAME,
                   reader_ready(reader) ? HEALTH_SERVING : HEALTH_NOT_SERVING) != 0 ||
        host_start(host, &err) != 0) {
        log_error("reader", "cannot start", "error=\"%s\"", bdx_error_message(&err));
        goto out;
    }
    if (reader_ready(reader)) /* on_ready may have run before health was set above */
        health_set(host_health(host), READER_SERVICE_NAME, HEALTH_SERVING);
    log_info("reader", "started", "data_dir=%s writer=%s", data_dir, writer);
    host_run(host);
    status = 0;
out:
    host_free(host); /* the server is stopped: no query holds a snapshot any more */
    reader_close(reader);
    config_free(opts, HOST_NOPTIONS + 4);
    return status;
}

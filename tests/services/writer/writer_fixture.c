/*
 * writer_fixture: in-process active writer for the watch tests. See writer_fixture.h.
 */
#include "writer_fixture.h"

#include "common/log.h"
#include "common/schema.h"

#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

void writer_fixture_create(writer_fixture_t *f, const char *name)
{
    schema_t *s;
    limits_t limits;
    bdx_error_t err = {0};

    cr_assert_eq(schema_new(name, &s), 0);
    cr_assert_eq(schema_add_filter(s, "nsfwLevel", SCHEMA_INT, false, false), 0);
    cr_assert_eq(schema_add_sort(s, "reactionCount", 32), 0);
    limits_defaults(&limits);
    cr_assert_eq(catalog_create(f->cat, s, &limits, NULL, &err), 0, "%s", bdx_error_message(&err));
    schema_free(s);
}

void writer_fixture_start(writer_fixture_t *f, const char *dir, bool active)
{
    commit_options_t opts = {.sync = COMMIT_SYNC_BATCH};
    rpc_server_config_t cfg = {.listen_addr = "127.0.0.1:0", .workers = 2, .grace_ms = 2000};
    bdx_error_t err = {0};

    memset(f, 0, sizeof(*f));
    if (dir != NULL) {
        snprintf(f->dir, sizeof(f->dir), "%s", dir);
    } else {
        snprintf(f->dir, sizeof(f->dir), "/tmp/bitdex-test-watch-XXXXXX");
        cr_assert_not_null(mkdtemp(f->dir));
    }
    cr_assert_eq(watch_new(&f->watch), 0);
    opts.watch = f->watch;
    cr_assert_eq(writer_service_new(&(writer_service_config_t){f->dir, NULL, f->watch}, &f->ws), 0);
    if (active) {
        cr_assert_eq(catalog_open_sync(f->dir, &opts, &f->cat, &err), 0, "%s",
                     bdx_error_message(&err));
        writer_service_activate(f->ws, f->cat);
        catalog_info_t info;
        if (catalog_get(f->cat, "images", &info, NULL) == 0)
            catalog_info_clear(&info);
        else
            writer_fixture_create(f, "images");
    }
    cr_assert_eq(rpc_server_new(&cfg, &f->srv, &err), 0);
    cr_assert_eq(rpc_server_on_shutdown(f->srv, watch_stop_hook, f->watch), 0);
    cr_assert_eq(writer_service_register(f->ws, f->srv, &err), 0, "%s", bdx_error_message(&err));
    cr_assert_eq(rpc_server_start(f->srv, &err), 0, "%s", bdx_error_message(&err));
    f->port = rpc_server_port(f->srv);
}

void writer_fixture_stop(writer_fixture_t *f, bool keep_dir)
{
    char cmd[128];

    rpc_server_shutdown(f->srv, 2000);
    rpc_server_free(f->srv);
    writer_service_free(f->ws); /* and the catalog */
    watch_free(f->watch);
    if (!keep_dir) {
        snprintf(cmd, sizeof(cmd), "rm -rf '%s'", f->dir);
        cr_assert_eq(system(cmd), 0);
    }
    f->srv = NULL;
}

uint64_t writer_fixture_put(writer_fixture_t *f, const char *index, uint32_t id)
{
    Bitdex__V1__Document doc = BITDEX__V1__DOCUMENT__INIT;
    Bitdex__V1__PutOp put = BITDEX__V1__PUT_OP__INIT;
    Bitdex__V1__Op op = BITDEX__V1__OP__INIT, *ops[1] = {&op};
    Bitdex__V1__ApplyRequest req = BITDEX__V1__APPLY_REQUEST__INIT;
    commit_result_t res;
    bdx_error_t err = {0};

    doc.id = id;
    put.document = &doc;
    op.op_case = BITDEX__V1__OP__OP_PUT;
    op.put = &put;
    req.index = (char *)index;
    req.n_ops = 1;
    req.ops = ops;
    cr_assert_eq(catalog_apply(f->cat, &req, NULL, 0, false, true, &res, &err), 0, "%s",
                 bdx_error_message(&err));
    return res.lsn;
}

/*
 * Tests services/tools on a real index directory: a generation written by generation_write()
 * (published in CURRENT) plus a WAL that continues it. Runs the bitdex-check / bitdex-inspect
 * binaries and checks exit codes and key lines; then damages the generation and the WAL.
 * (The WAL subcommands are tested on the fixtures by tests/integration/test_tools.py.)
 */
#include <criterion/criterion.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "bitdex/v1/writer.pb-c.h"
#include "common/error.h"
#include "common/generation.h"
#include "common/index.h"
#include "common/schema.h"
#include "common/wal.h"

#define TOOLS BITDEX_BINARY_DIR "/services/tools/"

/* Runs `cmd`, returns its exit status; its stdout goes to out[0, n). */
static int run(const char *cmd, char *out, size_t n)
{
    FILE *p = popen(cmd, "r");
    size_t got;
    int st;

    cr_assert_not_null(p, "%s", cmd);
    got = fread(out, 1, n - 1, p);
    out[got] = '\0';
    st = pclose(p);
    cr_assert(WIFEXITED(st), "%s", cmd);
    return WEXITSTATUS(st);
}

/* <dir>/gen-1 (checkpoint LSN 5, published) over an empty 2-field index; WAL LSN first..last. */
static void make_index(const char *dir, uint64_t first, uint64_t last)
{
    schema_t *s;
    index_t *ix;
    bdx_error_t err;
    wal_options_t o;
    wal_t *w;
    char wal[512];
    Bitdex__V1__ApplyRequest req = BITDEX__V1__APPLY_REQUEST__INIT;
    uint8_t buf[64];
    size_t len;

    cr_assert_eq(schema_new("t", &s), 0);
    cr_assert_eq(schema_add_filter(s, "f", SCHEMA_INT, false, false), 0);
    cr_assert_eq(schema_add_sort(s, "s", 32), 0);
    cr_assert_eq(index_new(s, &ix, &err), 0, "%s", bdx_error_message(&err));
    cr_assert_eq(generation_write(ix, 1, 5, NULL, dir, NULL, &err), 0, "%s",
                 bdx_error_message(&err));
    cr_assert_eq(generation_publish(dir, 1, &err), 0);
    index_free(ix);
    schema_free(s);

    snprintf(wal, sizeof(wal), "%s/wal", dir);
    wal_options_init(&o);
    o.create = true;
    o.start_lsn = first;
    cr_assert_eq(wal_open(wal, &o, &w, NULL, &err), 0, "%s", bdx_error_message(&err));
    req.index = "t";
    len = protobuf_c_message_pack(&req.base, buf);
    for (uint64_t l = first; l <= last; l++)
        cr_assert_eq(wal_append(w, buf, len, NULL, &err), 0);
    cr_assert_eq(wal_sync(w, NULL, &err), 0);
    wal_close(w);
}

static char *tmp_dir(void)
{
    char *d = strdup("/tmp/bitdex-test-tools-XXXXXX");
    cr_assert_not_null(mkdtemp(d));
    return d;
}

static void rm_rf(const char *d)
{
    char cmd[600];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", d);
    cr_assert_eq(system(cmd), 0);
}

Test(tools, check_and_inspect_generation_and_index)
{
    char *dir = tmp_dir(), cmd[1024], out[16384], path[600];
    int fd;
    struct stat st;
    unsigned char b;

    make_index(dir, 6, 9);
    snprintf(cmd, sizeof(cmd), TOOLS "bitdex-check index %s", dir);
    cr_assert_eq(run(cmd, out, sizeof(out)), 0, "%s", out);
    cr_assert(strstr(out, "CURRENT -> gen-1") && strstr(out, "ok number=1 lsn=5") &&
                  strstr(out, "frames_after_checkpoint=4 last_lsn=9 undecodable=0"),
              "%s", out);
    snprintf(cmd, sizeof(cmd), TOOLS "bitdex-check generation %s/gen-1", dir);
    cr_assert_eq(run(cmd, out, sizeof(out)), 0, "%s", out);
    snprintf(cmd, sizeof(cmd), TOOLS "bitdex-inspect generation %s/gen-1", dir);
    cr_assert_eq(run(cmd, out, sizeof(out)), 0, "%s", out);
    cr_assert(strstr(out, "number=1 lsn=5") && strstr(out, "kind=base") &&
                  strstr(out, "file base size=") && strstr(out, "  section 0 type="),
              "%s", out);
    cr_assert_eq(run(TOOLS "bitdex-check generation 2>/dev/null", out, sizeof(out)), 2);

    /* One flipped byte in the last section of the base: checksum mismatch. */
    snprintf(path, sizeof(path), "%s/gen-1/base", dir);
    cr_assert_eq(stat(path, &st), 0);
    fd = open(path, O_RDWR);
    cr_assert_geq(fd, 0);
    cr_assert_eq(pread(fd, &b, 1, st.st_size - 1), 1);
    b ^= 0x01;
    cr_assert_eq(pwrite(fd, &b, 1, st.st_size - 1), 1);
    snprintf(cmd, sizeof(cmd), TOOLS "bitdex-check generation %s/gen-1", dir);
    cr_assert_eq(run(cmd, out, sizeof(out)), 1, "%s", out);
    cr_assert(strstr(out, "corrupt") != NULL, "%s", out);
    snprintf(cmd, sizeof(cmd), TOOLS "bitdex-check index %s", dir);
    cr_assert_eq(run(cmd, out, sizeof(out)), 1, "%s", out);
    snprintf(cmd, sizeof(cmd), TOOLS "bitdex-inspect generation %s/gen-1", dir);
    cr_assert_eq(run(cmd, out, sizeof(out)), 0, "inspect does not verify checksums: %s", out);
    b ^= 0x01;
    cr_assert_eq(pwrite(fd, &b, 1, st.st_size - 1), 1);
    close(fd);
    snprintf(cmd, sizeof(cmd), TOOLS "bitdex-check index %s", dir);
    cr_assert_eq(run(cmd, out, sizeof(out)), 0, "restored: %s", out);
    rm_rf(dir);
    free(dir);
}

Test(tools, check_index_wal_gap)
{
    char *dir = tmp_dir(), cmd[1024], out[16384];

    make_index(dir, 8, 9); /* LSN 6 and 7 missing after checkpoint 5 */
    snprintf(cmd, sizeof(cmd), TOOLS "bitdex-check index %s", dir);
    cr_assert_eq(run(cmd, out, sizeof(out)), 1, "%s", out);
    cr_assert(strstr(out, "needs every LSN after 5") != NULL, "%s", out);
    rm_rf(dir);
    free(dir);
}

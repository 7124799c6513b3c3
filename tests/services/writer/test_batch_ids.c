/* Tests services/writer/batch_ids.c: find/add against a model (including wrap-around of the
 * ring, re-used ids), the file round trip (order and results kept, so a reloaded ring forgets
 * the same ids next), and damaged files (truncated, flipped bits, wrong version, missing). */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <zlib.h>

#include "services/writer/batch_ids.h"

static void tmpfile_path(char *path, size_t n)
{
    char dir[] = "/tmp/bitdex-test-ids-XXXXXX";

    cr_assert_not_null(mkdtemp(dir));
    snprintf(path, n, "%s/%s", dir, BATCH_IDS_FILE);
}

static void cleanup(const char *path)
{
    char dir[700];

    unlink(path);
    snprintf(dir, sizeof(dir), "%s", path);
    *strrchr(dir, '/') = '\0';
    rmdir(dir);
}

Test(batch_ids, ring_forgets_oldest_like_a_model)
{
    batch_ids_t *b;
    unsigned seed = (unsigned)time(NULL);
    const size_t total = BATCH_IDS_MAX + 5000;

    printf("seed %u\n", seed);
    srand(seed);
    cr_assert_eq(batch_ids_new(&b), 0);
    cr_assert_null(batch_ids_find(b, "x"));
    for (size_t i = 0; i < total; i++) {
        char id[32];
        batch_result_t r = {i + 1, (uint32_t)(i % 7), (uint32_t)(i % 3)};
        snprintf(id, sizeof(id), "b-%zu", i);
        cr_assert_eq(batch_ids_add(b, id, &r), 0);
    }
    cr_assert_eq(batch_ids_count(b), BATCH_IDS_MAX);
    for (int k = 0; k < 2000; k++) { /* the model: ids >= total - MAX are remembered */
        size_t i = (size_t)rand() % total;
        char id[32];
        snprintf(id, sizeof(id), "b-%zu", i);
        const batch_result_t *r = batch_ids_find(b, id);
        if (i < total - BATCH_IDS_MAX) {
            cr_assert_null(r, "%s should be forgotten", id);
        } else {
            cr_assert_not_null(r, "%s should be remembered", id);
            cr_assert_eq(r->lsn, i + 1);
            cr_assert_eq(r->ops, i % 7);
            cr_assert_eq(r->skipped, i % 3);
        }
    }
    cr_assert_eq(batch_ids_add(b, "", &(batch_result_t){0}), BDX_EINVAL);
    char longid[BATCH_IDS_ID_MAX + 2];
    memset(longid, 'a', sizeof(longid) - 1);
    longid[sizeof(longid) - 1] = '\0';
    cr_assert_eq(batch_ids_add(b, longid, &(batch_result_t){0}), BDX_EINVAL);
    batch_ids_free(b);
}

Test(batch_ids, file_round_trip_keeps_order)
{
    char path[600];
    batch_ids_t *b, *c;
    bdx_error_t err = {0};

    tmpfile_path(path, sizeof(path));
    cr_assert_eq(batch_ids_new(&b), 0);
    for (size_t i = 0; i < BATCH_IDS_MAX + 10; i++) {
        char id[32];
        snprintf(id, sizeof(id), "id-%zu", i);
        cr_assert_eq(batch_ids_add(b, id, &(batch_result_t){i + 100, 1, 0}), 0);
    }
    cr_assert_eq(batch_ids_save(b, path, &err), 0, "%s", err.msg);
    cr_assert_eq(batch_ids_load(path, &c, &err), 0, "%s", err.msg);
    cr_assert_eq(batch_ids_count(c), BATCH_IDS_MAX);
    cr_assert_null(batch_ids_find(c, "id-9"));
    cr_assert_eq(batch_ids_find(c, "id-10")->lsn, 110);
    cr_assert_eq(batch_ids_find(c, "id-65545")->lsn, 65645);
    /* the next add forgets the same (oldest) id in both */
    cr_assert_eq(batch_ids_add(b, "new", &(batch_result_t){1, 1, 1}), 0);
    cr_assert_eq(batch_ids_add(c, "new", &(batch_result_t){1, 1, 1}), 0);
    cr_assert_null(batch_ids_find(b, "id-10"));
    cr_assert_null(batch_ids_find(c, "id-10"));
    cr_assert_not_null(batch_ids_find(c, "id-11"));
    batch_ids_free(b);
    batch_ids_free(c);
    cleanup(path);
}

static void rewrite(const char *path, long off, unsigned char x, long truncate_to)
{
    FILE *f = fopen(path, "r+b");

    cr_assert_not_null(f);
    if (off >= 0) {
        int c;
        fseek(f, off, SEEK_SET);
        c = fgetc(f);
        fseek(f, off, SEEK_SET);
        fputc(c ^ x, f);
    }
    fclose(f);
    if (truncate_to >= 0)
        cr_assert_eq(truncate(path, truncate_to), 0);
}

Test(batch_ids, damaged_files_are_refused)
{
    char path[600];
    batch_ids_t *b, *c = NULL;
    bdx_error_t err = {0};

    tmpfile_path(path, sizeof(path));
    cr_assert_eq(batch_ids_load(path, &c, &err), BDX_ENOTFOUND);
    cr_assert_eq(batch_ids_new(&b), 0);
    cr_assert_eq(batch_ids_add(b, "one", &(batch_result_t){5, 2, 1}), 0);
    cr_assert_eq(batch_ids_add(b, "two", &(batch_result_t){6, 2, 1}), 0);
    for (long off = 0; off < 16 + 2 * 18 + 6 + 4; off++) { /* every byte, one at a time */
        cr_assert_eq(batch_ids_save(b, path, &err), 0);
        rewrite(path, off, 0x10, -1);
        cr_assert_eq(batch_ids_load(path, &c, &err), BDX_ECORRUPT, "byte %ld: %s", off, err.msg);
        cr_assert_null(c);
    }
    cr_assert_eq(batch_ids_save(b, path, &err), 0);
    rewrite(path, -1, 0, 30);
    cr_assert_eq(batch_ids_load(path, &c, &err), BDX_ECORRUPT);
    /* a valid CRC over another version: BDX_EVERSION */
    {
        unsigned char buf[256];
        FILE *f;
        size_t n;
        cr_assert_eq(batch_ids_save(b, path, &err), 0);
        f = fopen(path, "rb");
        n = fread(buf, 1, sizeof(buf), f);
        fclose(f);
        buf[8] = 9;
        uint32_t crc = (uint32_t)crc32(crc32(0L, Z_NULL, 0), buf, (uInt)(n - 4));
        for (int i = 0; i < 4; i++)
            buf[n - 4 + i] = (unsigned char)(crc >> (8 * i));
        f = fopen(path, "wb");
        fwrite(buf, 1, n, f);
        fclose(f);
        cr_assert_eq(batch_ids_load(path, &c, &err), BDX_EVERSION, "%s", err.msg);
    }
    batch_ids_free(b);
    cleanup(path);
}

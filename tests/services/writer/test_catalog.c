/* Tests services/writer/catalog.c: create (idempotent, conflict), drop, list/get, reload from
 * disk, leftovers of interrupted creates and drops, damaged schema files, the YAML config
 * (create, no-op, conflict refused before anything is created) and concurrent admin calls. */
#include <criterion/criterion.h>
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include "common/error.h"
#include "common/log.h"
#include "common/schema_file.h"
#include "common/schema_pb.h"
#include "common/schema_yaml.h"
#include "services/writer/catalog.h"

static void quiet(void)
{
    log_set_level(LOG_ERROR);
}

TestSuite(catalog, .init = quiet);

static schema_t *make_schema(const char *name, unsigned bits)
{
    schema_t *s;

    cr_assert_eq(schema_new(name, &s), 0);
    cr_assert_eq(schema_add_filter(s, "nsfwLevel", SCHEMA_INT, false, false), 0);
    cr_assert_eq(schema_add_filter(s, "tagIds", SCHEMA_INT, true, true), 0);
    cr_assert_eq(schema_add_sort(s, "reactionCount", bits), 0);
    cr_assert_eq(schema_add_stored(s, "url", SCHEMA_STRING), 0);
    return s;
}

static void tmpdir(char *dir, size_t n)
{
    snprintf(dir, n, "/tmp/bitdex-test-catalog-XXXXXX");
    cr_assert_not_null(mkdtemp(dir));
}

static void rm_rf(const char *dir)
{
    char cmd[600];

    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
    cr_assert_eq(system(cmd), 0);
}

static bool exists(const char *dir, const char *rel)
{
    char p[512];
    struct stat st;

    snprintf(p, sizeof(p), "%s/%s", dir, rel);
    return lstat(p, &st) == 0;
}

static size_t count_entries(const char *dir)
{
    char cmd[600];
    FILE *f;
    size_t n = 0;
    int c;

    snprintf(cmd, sizeof(cmd), "ls -A '%s/indexes'", dir);
    f = popen(cmd, "r");
    while ((c = fgetc(f)) != EOF)
        n += c == '\n';
    pclose(f);
    return n;
}

static void create_ok(catalog_t *cat, const char *name, unsigned bits, bool want_created)
{
    schema_t *s = make_schema(name, bits);
    limits_t l;
    bdx_error_t err = {0};
    bool created = !want_created;

    limits_defaults(&l);
    cr_assert_eq(catalog_create(cat, s, &l, &created, &err), 0, "%s: %s", name, err.msg);
    cr_assert_eq(created, want_created, "%s", name);
    schema_free(s);
}

Test(catalog, create_get_list_drop)
{
    char dir[64];
    catalog_t *cat;
    catalog_info_t info, *infos;
    size_t n;
    bdx_error_t err = {0};
    schema_t *s;
    limits_t l;

    tmpdir(dir, sizeof(dir));
    cr_assert_eq(catalog_open(dir, &cat, &err), 0, "%s", err.msg);
    cr_assert_eq(catalog_count(cat), 0);
    cr_assert_str_eq(catalog_data_dir(cat), dir);
    cr_assert_eq(catalog_list(cat, &infos, &n), 0);
    cr_assert_eq(n, 0);
    catalog_info_free(infos, n);

    create_ok(cat, "images", 32, true);
    cr_assert(exists(dir, "indexes/images/schema"));
    cr_assert_not(exists(dir, "indexes/.create-images"));
    cr_assert_not(exists(dir, "indexes/images/schema.tmp"));
    create_ok(cat, "images", 32, false); /* identical: no-op */

    /* different: ALREADY_EXISTS naming the difference */
    s = make_schema("images", 16);
    limits_defaults(&l);
    cr_assert_eq(catalog_create(cat, s, &l, NULL, &err), BDX_EEXIST);
    cr_assert_not_null(strstr(err.msg, "index images already exists with a different schema: "
                                       "sort_fields[0] (reactionCount).bits is 32 in the existing "
                                       "index, 16 in the request"),
                       "%s", err.msg);
    schema_free(s);
    s = make_schema("images", 32);
    l.max_page_size = 10;
    cr_assert_eq(catalog_create(cat, s, &l, NULL, &err), BDX_EEXIST);
    cr_assert_not_null(strstr(err.msg, "limits.max_page_size is 1000"), "%s", err.msg);
    schema_free(s);

    /* invalid name never reaches the file system */
    s = make_schema("images", 32);
    free(s->name);
    s->name = strdup("../escape");
    cr_assert_eq(catalog_create(cat, s, &l, NULL, &err), BDX_EINVAL);
    cr_assert_not_null(strstr(err.msg, "index: invalid name"), "%s", err.msg);
    schema_free(s);
    cr_assert_eq(catalog_create(cat, NULL, &l, NULL, &err), BDX_EINVAL);

    create_ok(cat, "feed2", 32, true);
    create_ok(cat, "alpha", 8, true);
    cr_assert_eq(catalog_list(cat, &infos, &n), 0);
    cr_assert_eq(n, 3);
    cr_assert_str_eq(infos[0].schema->name, "alpha");
    cr_assert_str_eq(infos[1].schema->name, "feed2");
    cr_assert_str_eq(infos[2].schema->name, "images");
    cr_assert_eq(infos[0].schema->sort_fields[0].bits, 8);
    cr_assert_eq(infos[2].limits.max_page_size, 1000);
    cr_assert_eq(infos[2].document_count, 0);
    catalog_info_free(infos, n);

    cr_assert_eq(catalog_get(cat, "images", &info, &err), 0, "%s", err.msg);
    cr_assert_str_eq(info.schema->name, "images");
    cr_assert_eq(info.schema->filter_count, 2);
    catalog_info_clear(&info);
    cr_assert_eq(catalog_get(cat, "nope", &info, &err), BDX_ENOTFOUND);
    cr_assert_str_eq(err.msg, "index nope: not found");
    cr_assert_eq(catalog_get(cat, "", &info, &err), BDX_EINVAL);
    cr_assert_str_eq(err.msg, "index: required");

    cr_assert_eq(catalog_drop(cat, "feed2", &err), 0, "%s", err.msg);
    cr_assert_not(exists(dir, "indexes/feed2"));
    cr_assert_eq(count_entries(dir), 2, "no tombstone left behind");
    cr_assert_eq(catalog_count(cat), 2);
    cr_assert_eq(catalog_drop(cat, "feed2", &err), BDX_ENOTFOUND);
    cr_assert_eq(catalog_drop(cat, "", &err), BDX_EINVAL);
    cr_assert_eq(catalog_drop(cat, NULL, &err), BDX_EINVAL);
    /* and it can be created again, with another schema */
    create_ok(cat, "feed2", 16, true);
    catalog_close(cat);
    catalog_close(NULL);
    rm_rf(dir);
}

Test(catalog, reload_from_disk)
{
    char dir[64];
    catalog_t *cat;
    catalog_info_t info;
    bdx_error_t err = {0};

    tmpdir(dir, sizeof(dir));
    cr_assert_eq(catalog_open(dir, &cat, &err), 0, "%s", err.msg);
    create_ok(cat, "one", 32, true);
    create_ok(cat, "two", 20, true);
    create_ok(cat, "three", 32, true);
    cr_assert_eq(catalog_drop(cat, "three", &err), 0);
    catalog_close(cat);

    cr_assert_eq(catalog_open(dir, &cat, &err), 0, "%s", err.msg);
    cr_assert_eq(catalog_count(cat), 2);
    cr_assert_eq(catalog_get(cat, "two", &info, &err), 0, "%s", err.msg);
    cr_assert_eq(info.schema->sort_fields[0].bits, 20);
    catalog_info_clear(&info);
    cr_assert_eq(catalog_get(cat, "three", &info, &err), BDX_ENOTFOUND);
    create_ok(cat, "two", 20, false); /* still identical after the round trip through the file */
    catalog_close(cat);
    rm_rf(dir);
}

static void mkdir_rel(const char *dir, const char *rel)
{
    char p[512];

    snprintf(p, sizeof(p), "%s/%s", dir, rel);
    cr_assert_eq(mkdir(p, 0755), 0, "%s", p);
}

static void write_rel(const char *dir, const char *rel, const char *text)
{
    char p[512];
    FILE *f;

    snprintf(p, sizeof(p), "%s/%s", dir, rel);
    f = fopen(p, "w");
    cr_assert_not_null(f, "%s", p);
    fputs(text, f);
    fclose(f);
}

Test(catalog, leftovers_and_strays)
{
    char dir[64];
    catalog_t *cat;
    bdx_error_t err = {0};
    schema_t *s;
    limits_t l;

    tmpdir(dir, sizeof(dir));
    cr_assert_eq(catalog_open(dir, &cat, &err), 0);
    create_ok(cat, "kept", 32, true);
    catalog_close(cat);
    /* an interrupted create, an interrupted drop (with content), and things that are not
     * indexes */
    mkdir_rel(dir, "indexes/.create-half");
    write_rel(dir, "indexes/.create-half/schema.tmp", "partial");
    mkdir_rel(dir, "indexes/.drop-old-1-0");
    mkdir_rel(dir, "indexes/.drop-old-1-0/wal");
    write_rel(dir, "indexes/.drop-old-1-0/wal/0000000000000001.log", "x");
    write_rel(dir, "indexes/.drop-old-1-0/schema", "x");
    mkdir_rel(dir, "indexes/noschema");
    mkdir_rel(dir, "indexes/bad.name");
    write_rel(dir, "indexes/strayfile", "x");
    mkdir_rel(dir, "indexes/.other");

    cr_assert_eq(catalog_open(dir, &cat, &err), 0, "%s", err.msg);
    cr_assert_eq(catalog_count(cat), 1);
    cr_assert_not(exists(dir, "indexes/.create-half"));
    cr_assert_not(exists(dir, "indexes/.drop-old-1-0"));
    cr_assert(exists(dir, "indexes/noschema"), "skipped, not deleted");
    cr_assert(exists(dir, "indexes/.other"));
    /* a directory that is not a loaded index blocks creating that name */
    s = make_schema("noschema", 32);
    limits_defaults(&l);
    cr_assert_eq(catalog_create(cat, s, &l, NULL, &err), BDX_ESTATE);
    cr_assert_not_null(strstr(err.msg, "indexes/noschema exists but is not a loaded index"), "%s",
                       err.msg);
    cr_assert_not(exists(dir, "indexes/.create-noschema"));
    schema_free(s);
    catalog_close(cat);
    rm_rf(dir);
}

Test(catalog, damaged_schema_refuses_to_open)
{
    char dir[64], p[512];
    catalog_t *cat;
    bdx_error_t err = {0};
    FILE *f;

    tmpdir(dir, sizeof(dir));
    cr_assert_eq(catalog_open(dir, &cat, &err), 0);
    create_ok(cat, "images", 32, true);
    catalog_close(cat);
    snprintf(p, sizeof(p), "%s/indexes/images/schema", dir);
    f = fopen(p, "r+b");
    fseek(f, 30, SEEK_SET);
    fputc('X', f);
    fclose(f);
    cat = (catalog_t *)1;
    cr_assert_eq(catalog_open(dir, &cat, &err), BDX_ECORRUPT);
    cr_assert_null(cat);
    cr_assert_not_null(strstr(err.msg, p), "names the file: %s", err.msg);
    cr_assert_not_null(strstr(err.msg, "CRC mismatch at offset"), "%s", err.msg);
    cr_assert_not_null(strstr(err.msg, "run bitdex-check"), "%s", err.msg);

    /* a newer format version is reported as such */
    {
        schema_t *s = make_schema("images", 32);
        limits_t l;
        uint8_t *buf;
        size_t len;
        limits_defaults(&l);
        cr_assert_eq(schema_file_encode(s, &l, &buf, &len), 0);
        buf[8] = 9;
        uint32_t crc = (uint32_t)crc32(0, buf, (unsigned)(len - 4));
        for (int i = 0; i < 4; i++)
            buf[len - 4 + i] = (uint8_t)(crc >> (8 * i));
        f = fopen(p, "wb");
        fwrite(buf, 1, len, f);
        fclose(f);
        free(buf);
        schema_free(s);
    }
    cr_assert_eq(catalog_open(dir, &cat, &err), BDX_EVERSION);
    cr_assert_not_null(strstr(err.msg, "format version 9"), "%s", err.msg);
    rm_rf(dir);
}

static schema_yaml_t *load_config(const char *cfg)
{
    schema_yaml_t *set;
    bdx_error_t err = {0};

    cr_assert_eq(schema_yaml_load_dir(cfg, &set, &err), 0, "%s", err.msg);
    return set;
}

Test(catalog, yaml_config)
{
    char dir[64], cfg[128];
    catalog_t *cat;
    schema_yaml_t *set;
    catalog_info_t info;
    bdx_error_t err = {0};

    tmpdir(dir, sizeof(dir));
    snprintf(cfg, sizeof(cfg), "%s/config", dir);
    cr_assert_eq(mkdir(cfg, 0755), 0);
    write_rel(cfg, "a.yaml",
              "index: posts\nfilter_fields: [{name: userId, type: int}]\n"
              "sort_fields: [{name: score, bits: 16}]\nlimits: {max_page_size: 100}\n");

    cr_assert_eq(catalog_open(dir, &cat, &err), 0);
    create_ok(cat, "images", 32, true);
    set = load_config(cfg);
    cr_assert_eq(catalog_apply_config(cat, set, &err), 0, "%s", err.msg);
    schema_yaml_free(set);
    cr_assert_eq(catalog_count(cat), 2);
    cr_assert_eq(catalog_get(cat, "posts", &info, &err), 0);
    cr_assert_eq(info.limits.max_page_size, 100);
    cr_assert_eq(info.schema->sort_fields[0].bits, 16);
    catalog_info_clear(&info);
    catalog_close(cat);

    /* again, after a restart: nothing to do */
    cr_assert_eq(catalog_open(dir, &cat, &err), 0);
    set = load_config(cfg);
    cr_assert_eq(catalog_apply_config(cat, set, &err), 0, "%s", err.msg);
    schema_yaml_free(set);
    cr_assert_eq(catalog_count(cat), 2);

    /* a changed declaration (and a new one): refused, naming file, index and difference;
     * the new one is not created either */
    write_rel(cfg, "a.yaml",
              "index: posts\nfilter_fields: [{name: userId, type: int}]\n"
              "sort_fields: [{name: score, bits: 24}]\nlimits: {max_page_size: 100}\n");
    write_rel(cfg, "b.yaml", "index: newone\n");
    set = load_config(cfg);
    cr_assert_eq(catalog_apply_config(cat, set, &err), BDX_EEXIST);
    schema_yaml_free(set);
    cr_assert_not_null(strstr(err.msg, "/config/a.yaml:1: index posts differs from "
                                       "<data>/indexes/posts/schema: sort_fields[0] (score).bits "
                                       "is 16 in the existing index, 24 in the file"),
                       "%s", err.msg);
    cr_assert_eq(catalog_get(cat, "newone", &info, &err), BDX_ENOTFOUND);
    cr_assert_not(exists(dir, "indexes/newone"));
    catalog_close(cat);
    rm_rf(dir);
}

/* ---- concurrency: admin calls from several threads, readers listing meanwhile ---- */

typedef struct worker {
    catalog_t *cat;
    int id;
    int failures;
} worker_t;

static void *admin_worker(void *p)
{
    worker_t *w = p;
    char name[32];
    limits_t l;

    limits_defaults(&l);
    snprintf(name, sizeof(name), "w%d", w->id);
    for (int i = 0; i < 15; i++) {
        schema_t *s = make_schema(name, 32);
        bool created;
        if (catalog_create(w->cat, s, &l, &created, NULL) != 0 || !created)
            w->failures++;
        if (catalog_create(w->cat, s, &l, &created, NULL) != 0 || created)
            w->failures++;
        if (catalog_drop(w->cat, name, NULL) != 0)
            w->failures++;
        schema_free(s);
    }
    return NULL;
}

static void *list_worker(void *p)
{
    worker_t *w = p;

    for (int i = 0; i < 300; i++) {
        catalog_info_t *infos, info;
        size_t n;
        if (catalog_list(w->cat, &infos, &n) != 0)
            w->failures++;
        for (size_t k = 1; k < n; k++)
            if (strcmp(infos[k - 1].schema->name, infos[k].schema->name) >= 0)
                w->failures++;
        catalog_info_free(infos, n);
        if (catalog_get(w->cat, "stable", &info, NULL) != 0)
            w->failures++;
        catalog_info_clear(&info);
    }
    return NULL;
}

Test(catalog, concurrent_admin)
{
    char dir[64];
    catalog_t *cat;
    pthread_t t[4];
    worker_t w[4];

    tmpdir(dir, sizeof(dir));
    cr_assert_eq(catalog_open(dir, &cat, NULL), 0);
    create_ok(cat, "stable", 32, true);
    for (int i = 0; i < 4; i++) {
        w[i] = (worker_t){cat, i, 0};
        pthread_create(&t[i], NULL, i == 3 ? list_worker : admin_worker, &w[i]);
    }
    for (int i = 0; i < 4; i++) {
        pthread_join(t[i], NULL);
        cr_assert_eq(w[i].failures, 0, "worker %d", i);
    }
    cr_assert_eq(catalog_count(cat), 1);
    cr_assert_eq(count_entries(dir), 1);
    catalog_close(cat);
    rm_rf(dir);
}

/* Puts documents first, first + step, ... (n of them) in one batch, with reactionCount = value +
 * id (UINT64_MAX: no sort value). */
static void put_docs(catalog_t *cat, uint32_t first, uint32_t n, uint32_t step, uint64_t value)
{
    Bitdex__V1__Document *docs = calloc(n, sizeof(*docs));
    Bitdex__V1__SortFieldValue *sv = calloc(n, sizeof(*sv));
    Bitdex__V1__SortFieldValue **svp = calloc(n, sizeof(*svp));
    Bitdex__V1__PutOp *puts = calloc(n, sizeof(*puts));
    Bitdex__V1__Op *ops = calloc(n, sizeof(*ops)), **opp = calloc(n, sizeof(*opp));
    Bitdex__V1__ApplyRequest req = BITDEX__V1__APPLY_REQUEST__INIT;
    commit_result_t res;
    bdx_error_t err = {0};

    for (uint32_t i = 0; i < n; i++) {
        bitdex__v1__sort_field_value__init(&sv[i]);
        sv[i].field = "reactionCount";
        sv[i].kind_case = BITDEX__V1__SORT_FIELD_VALUE__KIND_VALUE;
        sv[i].value = (value + first + i * step) & 0xFFFF;
        svp[i] = &sv[i];
        bitdex__v1__document__init(&docs[i]);
        docs[i].id = first + i * step;
        docs[i].n_sort_fields = value != UINT64_MAX;
        docs[i].sort_fields = &svp[i];
        bitdex__v1__put_op__init(&puts[i]);
        puts[i].document = &docs[i];
        bitdex__v1__op__init(&ops[i]);
        ops[i].op_case = BITDEX__V1__OP__OP_PUT;
        ops[i].put = &puts[i];
        opp[i] = &ops[i];
    }
    req.index = "images";
    req.n_ops = n;
    req.ops = opp;
    cr_assert_eq(catalog_apply(cat, &req, NULL, 0, false, true, &res, &err), 0, "%s",
                 bdx_error_message(&err));
    free(docs);
    free(sv);
    free(svp);
    free(puts);
    free(ops);
    free(opp);
}

/*
 * The full-rewrite rule: with the byte ratio out of the way, a delta whose load materializes
 * more than full_materialized_ratio of the base makes the next checkpoint a new base; with the
 * defaults the same small delta (a few new documents without sort values: the alive bitmap and
 * their records) does not. Scattered sort value updates materialize every BSI slice and column
 * page they touch: far more than they write.
 */
Test(catalog, checkpoint_base_when_delta_costs_readers)
{
    for (int strict = 1; strict >= 0; strict--) {
        char dir[64];
        catalog_t *cat;
        catalog_options_t o = {0};
        checkpoint_info_t ck;
        bdx_error_t err = {0};

        tmpdir(dir, sizeof(dir));
        o.commit.sync = COMMIT_SYNC_NONE;
        o.checkpoint.disabled = true;
        if (strict) {
            o.checkpoint.full_ratio = 1000; /* never by bytes */
            o.checkpoint.full_materialized_ratio = 1e-6;
        }
        cr_assert_eq(catalog_open_with(dir, &o, &cat, &err), 0, "%s", err.msg);
        create_ok(cat, "images", 16, true);
        put_docs(cat, 0, 10000, 1, 0);
        put_docs(cat, 10000, 10000, 1, 0);
        cr_assert_eq(catalog_checkpoint(cat, "images", &ck, &err), 0, "%s", err.msg);
        cr_assert(ck.full && ck.generation == 1);
        put_docs(cat, 20000, 10, 1, UINT64_MAX);
        cr_assert_eq(catalog_checkpoint(cat, "images", &ck, &err), 0, "%s", err.msg);
        cr_assert(!ck.full && ck.generation == 2);
        cr_assert_gt(ck.materialized_bytes, 0);
        put_docs(cat, 20010, 10, 1, UINT64_MAX);
        cr_assert_eq(catalog_checkpoint(cat, "images", &ck, &err), 0, "%s", err.msg);
        cr_assert_eq(ck.generation, 3);
        cr_assert_eq(ck.full, strict == 1, "strict %d: gen 3 full %d", strict, ck.full);
        cr_assert_eq(ck.materialized_bytes == 0, strict == 1);
        catalog_close(cat);
        rm_rf(dir);
    }
}

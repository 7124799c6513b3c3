/* Tests common/schema_yaml.c: the documented example (docs/examples/images.yaml), config
 * directories (ordering, hidden entries, links, duplicates) and every error, each with the
 * file, the line and the key in its message. */
#include <criterion/criterion.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/error.h"
#include "common/schema_yaml.h"

static void expect_error(const char *text, const char *want)
{
    schema_yaml_index_t ix;
    bdx_error_t err = {0};

    cr_assert_eq(schema_yaml_parse("t.yaml", text, strlen(text), &ix, &err), BDX_EINVAL,
                 "want an error containing '%s' for:\n%s", want, text);
    cr_assert_null(ix.schema);
    cr_assert_null(ix.file);
    cr_assert_not_null(strstr(err.msg, want), "message '%s' must contain '%s'", err.msg, want);
    cr_assert_eq(strncmp(err.msg, "t.yaml:", 7), 0, "message names the file: %s", err.msg);
}

Test(schema_yaml, documented_example)
{
    char path[512];
    schema_yaml_index_t ix;
    bdx_error_t err = {0};
    const schema_t *s;

    snprintf(path, sizeof(path), "%s/docs/examples/images.yaml", BITDEX_SOURCE_DIR);
    cr_assert_eq(schema_yaml_load_file(path, &ix, &err), 0, "%s", err.msg);
    s = ix.schema;
    cr_assert_str_eq(s->name, "images");
    cr_assert_str_eq(ix.file, path);
    cr_assert_eq(schema_validate(s, NULL), 0);
    cr_assert_eq(s->filter_count, 12);
    cr_assert_str_eq(s->filter_fields[1].name, "tagIds");
    cr_assert(s->filter_fields[1].multi && s->filter_fields[1].nullable);
    cr_assert_eq(s->filter_fields[4].type, SCHEMA_STRING);
    cr_assert_eq(s->filter_fields[7].type, SCHEMA_BOOL);
    cr_assert(s->filter_fields[11].nullable);
    cr_assert_eq(s->sort_count, 6);
    cr_assert_eq(s->sort_fields[2].computed, SCHEMA_COMPUTED_GREATEST);
    cr_assert_str_eq(s->sort_fields[2].sources[0], "createdAt");
    cr_assert_eq(s->stored_count, 3);
    cr_assert_eq(ix.limits.max_page_size, 200);
    cr_assert_eq(ix.limits.max_filter_depth, 32, "unlisted limits take their default");
    schema_yaml_index_clear(&ix);
}

Test(schema_yaml, minimal_and_spellings)
{
    const char *text = "index: tiny1\n"
                       "filter_fields:\n"
                       "  - {name: a, type: FILTER_FIELD_TYPE_BOOL, multi_valued: TRUE}\n"
                       "sort_fields:\n"
                       "  - name: s\n"
                       "  - name: t\n"
                       "    bits: 64\n"
                       "  - name: m\n"
                       "    bits: 64\n"
                       "    computed: {function: COMPUTE_FUNCTION_LEAST, sources: [s, t]}\n"
                       "stored_fields:\n"
                       "  - {name: u, type: int}\n";
    schema_yaml_index_t ix;
    bdx_error_t err = {0};

    cr_assert_eq(schema_yaml_parse("mem.yaml", text, strlen(text), &ix, &err), 0, "%s", err.msg);
    cr_assert_str_eq(ix.schema->name, "tiny1");
    cr_assert_eq(ix.line, 1);
    cr_assert_eq(ix.schema->filter_fields[0].type, SCHEMA_BOOL);
    cr_assert(ix.schema->filter_fields[0].multi);
    cr_assert_eq(ix.schema->sort_fields[0].bits, 32);
    cr_assert_eq(ix.schema->sort_fields[2].computed, SCHEMA_COMPUTED_LEAST);
    cr_assert_eq(ix.limits.max_page_size, 1000);
    schema_yaml_index_clear(&ix);
}

Test(schema_yaml, syntax_and_structure_errors)
{
    expect_error("index: a\nfilter_fields: [\n", "YAML syntax");
    expect_error("index: a\n  bad: indent\n", "t.yaml:2: YAML syntax");
    expect_error("", "t.yaml:1: empty file");
    expect_error("# only a comment\n", "empty file");
    expect_error("index: a\n---\nindex: b\n", "t.yaml:3: a second YAML document");
    expect_error("- index: a\n", "t.yaml:1: (top level): must be a mapping, not a list");
    expect_error("index: a\nfilters: []\n", "t.yaml:2: filters: unknown key (want one of index, "
                                            "filter_fields, sort_fields, stored_fields, limits)");
    expect_error("index: a\nindex: b\n", "t.yaml:2: index: repeated key (first on line 1)");
    expect_error("filter_fields: []\n", "t.yaml:1: index: required");
    expect_error("index: [a]\n", "t.yaml:1: index: must be a value, not a list");
    expect_error("index: a\nfilter_fields:\n  x: 1\n", "t.yaml:3: filter_fields: must be a list, "
                                                       "not a mapping");
    expect_error("index: a\nfilter_fields:\n  - x\n", "t.yaml:3: filter_fields[0]: must be a "
                                                      "mapping, not a scalar");
    expect_error("index: a\n? [k]\n: v\n", "keys must be plain names");
}

Test(schema_yaml, field_errors_name_line_and_key)
{
    expect_error("index: a\n"
                 "filter_fields:\n"
                 "  - name: n\n"
                 "    type: integer\n",
                 "t.yaml:4: filter_fields[0].type: unknown value \"integer\" (want one of int, "
                 "bool, string)");
    expect_error("index: a\n"
                 "filter_fields:\n"
                 "  - name: n\n"
                 "    type: int\n"
                 "    multi: true\n",
                 "t.yaml:5: filter_fields[0].multi: unknown key (want one of name, type, "
                 "multi_valued, nullable)");
    expect_error("index: a\n"
                 "filter_fields:\n"
                 "  - name: n\n"
                 "    type: int\n"
                 "    nullable: yes\n",
                 "t.yaml:5: filter_fields[0].nullable: \"yes\" is not a boolean");
    expect_error("index: a\n"
                 "sort_fields:\n"
                 "  - name: s\n"
                 "    bits: abc\n",
                 "t.yaml:4: sort_fields[0].bits: \"abc\" is not a non-negative integer");
    expect_error("index: a\n"
                 "sort_fields:\n"
                 "  - name: s\n"
                 "    bits: -1\n",
                 "t.yaml:4: sort_fields[0].bits: \"-1\" is not a non-negative integer");
    expect_error("index: a\n"
                 "sort_fields:\n"
                 "  - name: s\n"
                 "    bits: 99999999999\n",
                 "t.yaml:4: sort_fields[0].bits: 99999999999 is out of range");
    expect_error("index: a\n"
                 "sort_fields:\n"
                 "  - name: s\n"
                 "    computed: {function: max, sources: [a, b]}\n",
                 "t.yaml:4: sort_fields[0].computed.function: unknown value \"max\"");
    expect_error("index: a\n"
                 "sort_fields:\n"
                 "  - name: s\n"
                 "    computed: {function: least, sources: x}\n",
                 "t.yaml:4: sort_fields[0].computed.sources: must be a list, not a scalar");
    expect_error("index: a\n"
                 "stored_fields:\n"
                 "  - {name: u, type: float}\n",
                 "t.yaml:3: stored_fields[0].type: unknown value \"float\" (want one of int, "
                 "bool, string, bytes, double)");
}

/* Errors found by the schema validator still get the line of the element they are about. */
Test(schema_yaml, validator_errors_get_their_line)
{
    expect_error("index: a\n"
                 "sort_fields:\n"
                 "  - name: s\n"
                 "    bits: 32\n"
                 "  - name: t\n"
                 "    bits: 65\n",
                 "t.yaml:6: sort_fields[1].bits: 65 > 64");
    expect_error("index: bad.name\n", "t.yaml:1: index: invalid name \"bad.name\"");
    expect_error("\n\nindex: -x\n", "t.yaml:3: index: invalid name");
    expect_error("index: a\n"
                 "filter_fields:\n"
                 "  - name: dup\n"
                 "    type: int\n"
                 "stored_fields:\n"
                 "  - type: int\n"
                 "    name: dup\n",
                 "t.yaml:7: stored_fields[0].name: \"dup\" is already used by "
                 "schema.filter_fields[0]");
    expect_error("index: a\n"
                 "filter_fields:\n"
                 "  - name: f\n",
                 "t.yaml:3: filter_fields[0].type: required");
    expect_error("index: a\n"
                 "sort_fields:\n"
                 "  - name: s\n"
                 "  - name: c\n"
                 "    computed:\n"
                 "      function: greatest\n"
                 "      sources:\n"
                 "        - s\n"
                 "        - nope\n",
                 "t.yaml:9: sort_fields[1].computed.sources[1]: \"nope\" is not a field");
    expect_error("index: a\n"
                 "sort_fields:\n"
                 "  - name: c\n"
                 "    computed:\n"
                 "      function: greatest\n"
                 "      sources: [c]\n",
                 "t.yaml:6: sort_fields[0].computed.sources: need exactly 2, got 1");
    expect_error("index: a\n"
                 "stored_fields:\n"
                 "  - {name: b, type: bytes}\n",
                 "t.yaml:3: stored_fields[0].type: STORED_FIELD_TYPE_BYTES is not supported");
    expect_error("index: a\n"
                 "limits:\n"
                 "  max_batch_ops: 5\n"
                 "  max_page_size: 20000\n",
                 "t.yaml:4: limits.max_page_size: 20000 exceeds the hard cap 10000");
    expect_error("index: a\n"
                 "limits:\n"
                 "  max_pages: 5\n",
                 "t.yaml:3: limits.max_pages: unknown key (want one of max_page_size,");
}

/* ---- directories ---- */

static void write_file(const char *dir, const char *name, const char *text)
{
    char p[512];
    FILE *f;

    snprintf(p, sizeof(p), "%s/%s", dir, name);
    f = fopen(p, "w");
    cr_assert_not_null(f, "%s", p);
    fputs(text, f);
    fclose(f);
}

static void rm_rf(const char *dir)
{
    char cmd[600];

    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
    cr_assert_eq(system(cmd), 0);
}

Test(schema_yaml, directory_like_a_configmap)
{
    char dir[] = "/tmp/bitdex-test-yaml-XXXXXX", p[512], t[512];
    schema_yaml_t *set;
    bdx_error_t err = {0};

    cr_assert_not_null(mkdtemp(dir));
    /* A ConfigMap volume: the files live in a timestamped dir reached through ..data. */
    snprintf(p, sizeof(p), "%s/..2026_11_21_00_00_00.1", dir);
    cr_assert_eq(mkdir(p, 0755), 0);
    write_file(p, "b.yaml", "index: beta\nsort_fields: [{name: s}]\n");
    write_file(p, "a.yml", "index: alpha\n");
    write_file(p, "notes.txt", "index: [not, yaml, config]\n");
    snprintf(t, sizeof(t), "%s/..data", dir);
    cr_assert_eq(symlink("..2026_11_21_00_00_00.1", t), 0);
    snprintf(t, sizeof(t), "%s/b.yaml", dir);
    cr_assert_eq(symlink("..data/b.yaml", t), 0);
    snprintf(t, sizeof(t), "%s/a.yml", dir);
    cr_assert_eq(symlink("..data/a.yml", t), 0);
    snprintf(t, sizeof(t), "%s/notes.txt", dir);
    cr_assert_eq(symlink("..data/notes.txt", t), 0);
    write_file(dir, ".hidden.yaml", "this: is not read\n");
    snprintf(t, sizeof(t), "%s/dangling.yaml", dir);
    cr_assert_eq(symlink("nowhere.yaml", t), 0);

    cr_assert_eq(schema_yaml_load_dir(dir, &set, &err), 0, "%s", err.msg);
    cr_assert_eq(set->count, 2);
    cr_assert_str_eq(set->indexes[0].schema->name, "alpha");
    cr_assert_str_eq(set->indexes[1].schema->name, "beta");
    snprintf(t, sizeof(t), "%s/b.yaml", dir);
    cr_assert_str_eq(set->indexes[1].file, t);
    schema_yaml_free(set);

    /* The same index declared twice: both files named. */
    write_file(dir, "c.yaml", "# again\nindex: beta\n");
    cr_assert_eq(schema_yaml_load_dir(dir, &set, &err), BDX_EINVAL);
    cr_assert_null(set);
    cr_assert_not_null(strstr(err.msg, "c.yaml:2: index: \"beta\" is already declared in "), "%s",
                       err.msg);
    cr_assert_not_null(strstr(err.msg, "b.yaml:1"), "%s", err.msg);

    /* A bad file fails the whole directory, naming the file. */
    write_file(dir, "c.yaml", "index: gamma\nsort_fields: [{name: s, bits: 0x10}]\n");
    cr_assert_eq(schema_yaml_load_dir(dir, &set, &err), BDX_EINVAL);
    cr_assert_not_null(strstr(err.msg, "c.yaml:2: sort_fields[0].bits"), "%s", err.msg);
    rm_rf(dir);

    /* A missing directory. */
    cr_assert_eq(schema_yaml_load_dir(dir, &set, &err), -ENOENT);
    cr_assert_not_null(strstr(err.msg, dir), "%s", err.msg);
}

Test(schema_yaml, empty_directory_and_large_file)
{
    char dir[] = "/tmp/bitdex-test-yaml-XXXXXX", p[512];
    schema_yaml_t *set;
    schema_yaml_index_t ix;
    bdx_error_t err = {0};
    FILE *f;

    cr_assert_not_null(mkdtemp(dir));
    cr_assert_eq(schema_yaml_load_dir(dir, &set, &err), 0, "%s", err.msg);
    cr_assert_eq(set->count, 0);
    schema_yaml_free(set);
    schema_yaml_free(NULL);

    snprintf(p, sizeof(p), "%s/big.yaml", dir);
    f = fopen(p, "w");
    fputs("index: big\n", f);
    for (unsigned i = 0; i < SCHEMA_YAML_MAX_FILE_BYTES / 16; i++)
        fputs("# padding......\n", f);
    fclose(f);
    cr_assert_eq(schema_yaml_load_file(p, &ix, &err), BDX_EINVAL);
    cr_assert_not_null(strstr(err.msg, "big.yaml"), "%s", err.msg);
    cr_assert_eq(schema_yaml_load_file("/nonexistent/x.yaml", &ix, &err), -ENOENT);
    rm_rf(dir);
}

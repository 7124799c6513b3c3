/*
 * peer_postgres: bitdex-bench-postgres, the PostgreSQL 15 peer of the benchmark.
 *
 *   bitdex-bench-postgres --conninfo "host=127.0.0.1 port=P dbname=postgres user=postgres"
 *                         --data DIR [--runs 3] [--check 10] [--out FILE.json] [--md FILE.md]
 *                         [--shapes Q1,...] [--load-seconds S] [--lines N]
 *
 * Runs every parameter line of DIR/params through one libpq connection, one prepared statement
 * per parameter file (so hot and rare tags do not share a plan cache entry), measuring each
 * PQexecPrepared() call: the client round trip over loopback, the server's execution and the
 * transfer of the 50 rows. Same protocol as bitdex-bench-engine: a correctness gate against the
 * brute-force reference (bench/naive.h) on --check lines per shape, one untimed warm-up pass,
 * then --runs timed passes, medians of each pass's p50 / p99 / max. The SQL of every shape is in
 * bench/README.md and below; the server's non-default settings are copied into the JSON.
 *
 * Exit status: 0 ok, 1 correctness failure or SQL error, 2 usage or data error.
 */
#include <errno.h>
#include <getopt.h>
#include <libpq-fe.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "bench/dataset.h"
#include "bench/naive.h"
#include "bench/report.h"
#include "bench/shape.h"
#include "bench/stats.h"

#define FEED_WHERE "\"nsfwLevel\" <> ALL($1::int[]) AND NOT (\"tagIds\" && $2::int[])"
#define OR3_WHERE "\"tagIds\" && $1::int[] AND \"nsfwLevel\" <> ALL($2::int[])"
#define BY_SORTAT " ORDER BY \"sortAt\" DESC, id DESC LIMIT 50"
#define BY_REACTIONS " ORDER BY \"reactionCount\" DESC, id DESC LIMIT 50"

/* SQL per shape; Qc has one per counted filter. */
static const char *shape_sql(const shape_args_t *a)
{
    switch (a->kind) {
    case SHAPE_Q1:
        return "SELECT id, \"sortAt\" FROM images WHERE " FEED_WHERE BY_SORTAT;
    case SHAPE_Q2:
        return "SELECT id, \"reactionCount\" FROM images WHERE \"tagIds\" @> ARRAY[$1::int] "
               "AND \"nsfwLevel\" = ANY($2::int[])" BY_REACTIONS;
    case SHAPE_Q3:
        return "SELECT id FROM images WHERE \"userId\" = $1::int ORDER BY id DESC LIMIT 50";
    case SHAPE_Q4:
        return "SELECT id, \"sortAt\" FROM images WHERE " FEED_WHERE
               " AND (\"sortAt\", id) < ($3::int, $4::int)" BY_SORTAT;
    case SHAPE_Q5:
        return "SELECT id, \"reactionCount\" FROM images WHERE " OR3_WHERE BY_REACTIONS;
    case SHAPE_Q6:
        return "SELECT id, \"reactionCount\" FROM images WHERE \"baseModel\" = $1::text "
               "AND type = $2::text" BY_REACTIONS;
    case SHAPE_Q7:
        return "SELECT id, \"reactionCount\" FROM images WHERE \"sortAt\" >= $1::int "
               "AND \"nsfwLevel\" = $2::int" BY_REACTIONS;
    case SHAPE_Q8:
        return "SELECT id FROM images WHERE \"nsfwLevel\" = $1::int ORDER BY id LIMIT 50";
    case SHAPE_Q9:
        return "SELECT id, \"sortAt\" FROM images WHERE availability <> 'Private' "
               "AND availability <> 'Unsearchable' AND \"blockedFor\" IS NULL AND NOT poi "
               "AND NOT minor AND \"nsfwLevel\" <> 0 AND NOT (\"nsfwLevel\" = ANY($2::int[]) "
               "AND \"baseModel\" = ANY($3::text[])) AND \"tagIds\" @> ARRAY[$1::int]" BY_SORTAT;
    case SHAPE_QC:
        return a->count_of == SHAPE_Q1 ? "SELECT count(*) FROM images WHERE " FEED_WHERE
                                       : "SELECT count(*) FROM images WHERE " OR3_WHERE;
    }
    return NULL;
}

#define MAX_PARAMS 4
#define PARAM_LEN 2048

typedef struct sql_params {
    char buf[MAX_PARAMS][PARAM_LEN];
    const char *v[MAX_PARAMS];
    int n;
} sql_params_t;

static void int_array(char *out, const shape_list_t *l)
{
    size_t off = 0;
    off += (size_t)snprintf(out + off, PARAM_LEN - off, "{");
    for (size_t i = 0; i < l->n && off < PARAM_LEN; i++)
        off += (size_t)snprintf(out + off, PARAM_LEN - off, "%s%lld", i ? "," : "",
                                (long long)l->v[i]);
    if (off < PARAM_LEN)
        snprintf(out + off, PARAM_LEN - off, "}");
}

static void text_array(char *out, const shape_strings_t *l)
{
    size_t off = 0;
    out[off++] = '{';
    for (size_t i = 0; i < l->n; i++) {
        if (i && off < PARAM_LEN - 1)
            out[off++] = ',';
        if (off < PARAM_LEN - 1)
            out[off++] = '"';
        for (const char *s = l->v[i]; *s && off < PARAM_LEN - 3; s++) {
            if (*s == '"' || *s == '\\')
                out[off++] = '\\';
            out[off++] = *s;
        }
        if (off < PARAM_LEN - 1)
            out[off++] = '"';
    }
    if (off < PARAM_LEN - 1)
        out[off++] = '}';
    out[off] = '\0';
}

static void set_params(const shape_args_t *a, sql_params_t *p)
{
    shape_kind_t kind = a->kind == SHAPE_QC ? a->count_of : a->kind;
    p->n = 0;
    switch (kind) {
    case SHAPE_Q1:
    case SHAPE_Q4:
        int_array(p->buf[0], &a->nsfw_not_in);
        int_array(p->buf[1], &a->hidden);
        p->n = 2;
        if (kind == SHAPE_Q4) {
            snprintf(p->buf[2], PARAM_LEN, "%u", a->after_sort_at);
            snprintf(p->buf[3], PARAM_LEN, "%u", a->after_id);
            p->n = 4;
        }
        break;
    case SHAPE_Q2:
        snprintf(p->buf[0], PARAM_LEN, "%lld", (long long)a->tag);
        int_array(p->buf[1], &a->nsfw_in);
        p->n = 2;
        break;
    case SHAPE_Q3:
        snprintf(p->buf[0], PARAM_LEN, "%lld", (long long)a->user);
        p->n = 1;
        break;
    case SHAPE_Q5:
        int_array(p->buf[0], &a->tags);
        int_array(p->buf[1], &a->nsfw_not_in);
        p->n = 2;
        break;
    case SHAPE_Q6:
        snprintf(p->buf[0], PARAM_LEN, "%s", a->base_model);
        snprintf(p->buf[1], PARAM_LEN, "%s", a->type);
        p->n = 2;
        break;
    case SHAPE_Q7:
        snprintf(p->buf[0], PARAM_LEN, "%u", a->sort_at_gte);
        snprintf(p->buf[1], PARAM_LEN, "%lld", (long long)a->nsfw);
        p->n = 2;
        break;
    case SHAPE_Q8:
        snprintf(p->buf[0], PARAM_LEN, "%lld", (long long)a->nsfw);
        p->n = 1;
        break;
    case SHAPE_Q9:
        snprintf(p->buf[0], PARAM_LEN, "%lld", (long long)a->tag);
        int_array(p->buf[1], &a->nsfw_restricted);
        text_array(p->buf[2], &a->models_restricted);
        p->n = 3;
        break;
    case SHAPE_QC:
        break;
    }
    for (int i = 0; i < p->n; i++)
        p->v[i] = p->buf[i];
}

typedef struct pg_answer {
    size_t n;
    uint32_t ids[SHAPE_LIMIT];
    uint64_t values[SHAPE_LIMIT];
    uint64_t count;
} pg_answer_t;

typedef struct shape_bench {
    const shape_file_t *file;
    shape_args_t *args;
    size_t n;
    char stmt[2][32]; /* prepared statement names (Qc: [0] Q1 filter, [1] Q5 filter) */
    uint64_t *lat;
    double *p50, *p99, *max;
    double med_p50, med_p99, med_max;
    size_t checked, mismatches;
} shape_bench_t;

static const char *stmt_of(const shape_bench_t *sb, const shape_args_t *a)
{
    return a->kind == SHAPE_QC && a->count_of == SHAPE_Q5 ? sb->stmt[1] : sb->stmt[0];
}

/* Executes one line; timed region = PQexecPrepared. Returns 0 or 1 on SQL error. */
static int exec_line(PGconn *c, const shape_bench_t *sb, const shape_args_t *a, uint64_t *ns,
                     pg_answer_t *ans)
{
    sql_params_t p;
    set_params(a, &p);
    uint64_t t0 = stats_now_ns();
    PGresult *r = PQexecPrepared(c, stmt_of(sb, a), p.n, p.v, NULL, NULL, 0);
    uint64_t t1 = stats_now_ns();
    if (PQresultStatus(r) != PGRES_TUPLES_OK) {
        fprintf(stderr, "bitdex-bench-postgres: %s: %s", sb->file->name, PQerrorMessage(c));
        PQclear(r);
        return 1;
    }
    *ns = t1 - t0;
    if (ans) {
        memset(ans, 0, sizeof(*ans));
        int rows = PQntuples(r), cols = PQnfields(r);
        if (a->kind == SHAPE_QC) {
            ans->count = rows ? strtoull(PQgetvalue(r, 0, 0), NULL, 10) : 0;
        } else {
            for (int i = 0; i < rows && i < SHAPE_LIMIT; i++) {
                ans->ids[i] = (uint32_t)strtoul(PQgetvalue(r, i, 0), NULL, 10);
                ans->values[i] = cols > 1 ? strtoull(PQgetvalue(r, i, 1), NULL, 10) : 0;
            }
            ans->n = (size_t)(rows < SHAPE_LIMIT ? rows : SHAPE_LIMIT);
        }
    }
    PQclear(r);
    return 0;
}

static bool same_answer(const shape_args_t *a, const pg_answer_t *p, const naive_result_t *r)
{
    if (a->kind == SHAPE_QC)
        return p->count == r->count;
    if (p->n != r->n)
        return false;
    for (size_t i = 0; i < p->n; i++)
        if (p->ids[i] != r->ids[i] || p->values[i] != r->values[i])
            return false;
    return true;
}

static int prepare(PGconn *c, shape_bench_t *sb)
{
    for (int k = 0; k < (sb->file->kind == SHAPE_QC ? 2 : 1); k++) {
        shape_args_t probe = sb->args[0];
        if (sb->file->kind == SHAPE_QC)
            probe.count_of = k == 0 ? SHAPE_Q1 : SHAPE_Q5;
        snprintf(sb->stmt[k], sizeof(sb->stmt[k]), "%s_%d", sb->file->name, k);
        PGresult *r = PQprepare(c, sb->stmt[k], shape_sql(&probe), 0, NULL);
        if (PQresultStatus(r) != PGRES_COMMAND_OK) {
            fprintf(stderr, "bitdex-bench-postgres: prepare %s: %s", sb->file->name,
                    PQerrorMessage(c));
            PQclear(r);
            return 1;
        }
        PQclear(r);
    }
    return 0;
}

static void write_settings(FILE *f, PGconn *c)
{
    PGresult *r = PQexec(c, "SELECT name, current_setting(name) FROM pg_settings "
                            "WHERE source NOT IN ('default', 'override', 'client') ORDER BY name");
    fprintf(f, "{");
    if (PQresultStatus(r) == PGRES_TUPLES_OK) {
        for (int i = 0; i < PQntuples(r); i++) {
            fprintf(f, "%s", i ? ", " : "");
            report_json_string(f, PQgetvalue(r, i, 0));
            fprintf(f, ": ");
            report_json_string(f, PQgetvalue(r, i, 1));
        }
    }
    fprintf(f, "}");
    PQclear(r);
}

static void usage(FILE *f)
{
    fprintf(f, "usage: bitdex-bench-postgres --conninfo STR --data DIR [--runs 3] [--check 10]\n"
               "                             [--out FILE.json] [--md FILE.md] [--shapes Q1,...]\n"
               "                             [--load-seconds S] [--lines N]\n");
}

static bool shape_selected(const char *list, const char *name)
{
    if (!list)
        return true;
    size_t len = strlen(name);
    for (const char *p = list; *p;) {
        const char *c = strchr(p, ',');
        size_t l = c ? (size_t)(c - p) : strlen(p);
        if (l == len && memcmp(p, name, len) == 0)
            return true;
        p = c ? c + 1 : p + l;
    }
    return false;
}

int main(int argc, char **argv)
{
    const char *conninfo = NULL, *data = NULL, *out_json = NULL, *md = NULL, *shapes_arg = NULL;
    unsigned runs = 3, check = 10, lines = 0;
    char load_before[64], load_after[64];
    double load_seconds = -1;
    static const struct option longopts[] = {{"conninfo", required_argument, 0, 'c'},
                                             {"data", required_argument, 0, 'd'},
                                             {"runs", required_argument, 0, 'r'},
                                             {"check", required_argument, 0, 'k'},
                                             {"out", required_argument, 0, 'o'},
                                             {"md", required_argument, 0, 'm'},
                                             {"shapes", required_argument, 0, 's'},
                                             {"load-seconds", required_argument, 0, 'l'},
                                             {"lines", required_argument, 0, 'n'},
                                             {"help", no_argument, 0, 'h'},
                                             {0, 0, 0, 0}};
    int ch;
    while ((ch = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
        switch (ch) {
        case 'c':
            conninfo = optarg;
            break;
        case 'd':
            data = optarg;
            break;
        case 'r':
            runs = (unsigned)strtoul(optarg, NULL, 10);
            break;
        case 'k':
            check = (unsigned)strtoul(optarg, NULL, 10);
            break;
        case 'o':
            out_json = optarg;
            break;
        case 'm':
            md = optarg;
            break;
        case 's':
            shapes_arg = optarg;
            break;
        case 'l':
            load_seconds = strtod(optarg, NULL);
            break;
        case 'n':
            lines = (unsigned)strtoul(optarg, NULL, 10);
            break;
        case 'h':
            usage(stdout);
            return 0;
        default:
            usage(stderr);
            return 2;
        }
    }
    if (!conninfo || !data || runs < 1 || runs > 1000) {
        usage(stderr);
        return 2;
    }

    int status = 0;
    bdx_error_t err = {0};
    dataset_t ds;
    memset(&ds, 0, sizeof(ds));
    size_t nfiles, nshapes = 0;
    const shape_file_t *files = shape_files(&nfiles);
    shape_bench_t *shapes = calloc(nfiles, sizeof(*shapes));
    bool correct = true;
    PGconn *c = PQconnectdb(conninfo);
    if (PQstatus(c) != CONNECTION_OK) {
        fprintf(stderr, "bitdex-bench-postgres: connect: %s", PQerrorMessage(c));
        status = 2;
        goto out;
    }
    if (!shapes) {
        status = 1;
        goto out;
    }
    if (check > 0 && dataset_load(data, &ds, &err) != 0) {
        fprintf(stderr, "bitdex-bench-postgres: %s\n", bdx_error_message(&err));
        status = 2;
        goto out;
    }
    for (size_t i = 0; i < nfiles; i++) {
        if (!shape_selected(shapes_arg, files[i].name))
            continue;
        shape_bench_t *sb = &shapes[nshapes++];
        char path[4096];
        sb->file = &files[i];
        snprintf(path, sizeof(path), "%s/params/%s.txt", data, files[i].name);
        if (shape_load(path, files[i].kind, &sb->args, &sb->n, &err) != 0 || sb->n == 0) {
            fprintf(stderr, "bitdex-bench-postgres: %s: %s\n", path,
                    sb->n == 0 ? "no lines" : bdx_error_message(&err));
            status = 2;
            goto out;
        }
        if (lines && sb->n > lines)
            sb->n = lines;
        sb->lat = calloc(sb->n, sizeof(uint64_t));
        sb->p50 = calloc(runs, sizeof(double));
        sb->p99 = calloc(runs, sizeof(double));
        sb->max = calloc(runs, sizeof(double));
        if (!sb->lat || !sb->p50 || !sb->p99 || !sb->max || prepare(c, sb) != 0) {
            status = 1;
            goto out;
        }
    }

    /* correctness gate */
    for (size_t s = 0; s < nshapes && check > 0; s++) {
        shape_bench_t *sb = &shapes[s];
        size_t k = check < sb->n ? check : sb->n;
        for (size_t j = 0; j < k; j++) {
            size_t i = j * sb->n / k;
            naive_result_t ref;
            pg_answer_t ans;
            uint64_t ns;
            if (naive_run(&ds, &sb->args[i], &ref) != 0 ||
                exec_line(c, sb, &sb->args[i], &ns, &ans) != 0) {
                status = 1;
                goto out;
            }
            sb->checked++;
            if (!same_answer(&sb->args[i], &ans, &ref)) {
                sb->mismatches++;
                correct = false;
                fprintf(stderr,
                        "MISMATCH %s line %zu: postgres %zu rows (first %u), "
                        "reference %zu rows (first %u), counts %llu / %llu\n",
                        sb->file->name, i + 1, ans.n, ans.n ? ans.ids[0] : 0, ref.n,
                        ref.n ? ref.ids[0] : 0, (unsigned long long)ans.count,
                        (unsigned long long)ref.count);
            }
        }
        fprintf(stderr, "check %-8s %zu/%zu lines agree\n", sb->file->name,
                sb->checked - sb->mismatches, sb->checked);
    }
    dataset_free(&ds);

    /* warm-up + timed passes */
    report_loadavg(load_before, sizeof(load_before));
    for (int p = -1; p < (int)runs; p++) {
        for (size_t s = 0; s < nshapes; s++) {
            shape_bench_t *sb = &shapes[s];
            for (size_t i = 0; i < sb->n; i++) {
                uint64_t ns;
                if (exec_line(c, sb, &sb->args[i], &ns, NULL) != 0) {
                    status = 1;
                    goto out;
                }
                sb->lat[i] = ns;
            }
            if (p >= 0) {
                stats_summary_t st;
                stats_summarize(sb->lat, sb->n, &st);
                sb->p50[p] = (double)st.p50 / 1e3;
                sb->p99[p] = (double)st.p99 / 1e3;
                sb->max[p] = (double)st.max / 1e3;
            }
        }
    }
    for (size_t s = 0; s < nshapes; s++) {
        shape_bench_t *sb = &shapes[s];
        double *tmp = malloc(3 * runs * sizeof(double));
        if (!tmp) {
            status = 1;
            goto out;
        }
        memcpy(tmp, sb->p50, runs * sizeof(double));
        memcpy(tmp + runs, sb->p99, runs * sizeof(double));
        memcpy(tmp + 2 * runs, sb->max, runs * sizeof(double));
        sb->med_p50 = stats_median(tmp, runs);
        sb->med_p99 = stats_median(tmp + runs, runs);
        sb->med_max = stats_median(tmp + 2 * runs, runs);
        free(tmp);
        fprintf(stderr, "%-8s p50 %9.1f us  p99 %9.1f us  max %9.1f us\n", sb->file->name,
                sb->med_p50, sb->med_p99, sb->med_max);
    }

    report_loadavg(load_after, sizeof(load_after));
    if (out_json) {
        FILE *f = fopen(out_json, "w");
        if (!f) {
            fprintf(stderr, "bitdex-bench-postgres: %s: %s\n", out_json, strerror(errno));
            status = 2;
            goto out;
        }
        time_t t = time(NULL);
        struct tm tm;
        char when[64];
        gmtime_r(&t, &tm);
        strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%SZ", &tm);
        fprintf(f, "{\n  \"benchmark\": \"bitdex-bench-postgres\",\n  \"format\": 1,\n"
                   "  \"peer\": \"PostgreSQL\",\n  \"server_version\": ");
        report_json_string(f, PQparameterStatus(c, "server_version")
                                  ? PQparameterStatus(c, "server_version")
                                  : "unknown");
        fprintf(f,
                ",\n  \"mode\": \"libpq over loopback TCP, one connection, prepared "
                "statements, concurrency 1\",\n  \"date\": \"%s\",\n  \"data\": ",
                when);
        report_json_string(f, data);
        fprintf(f, ",\n  \"loadavg_before\": ");
        report_json_string(f, load_before);
        fprintf(f, ",\n  \"loadavg_after\": ");
        report_json_string(f, load_after);
        fprintf(f,
                ",\n  \"load_s\": %.3f,\n  \"runs\": %u,\n  \"check_per_shape\": %u,\n"
                "  \"correct\": %s,\n  \"settings\": ",
                load_seconds, runs, check, correct ? "true" : "false");
        write_settings(f, c);
        fprintf(f, ",\n  \"shapes\": [\n");
        for (size_t s = 0; s < nshapes; s++) {
            shape_bench_t *sb = &shapes[s];
            fprintf(f,
                    "    {\"name\": \"%s\", \"lines\": %zu, \"p50_us\": %.2f, \"p99_us\": "
                    "%.2f, \"max_us\": %.2f, \"checked\": %zu, \"mismatches\": %zu, "
                    "\"sql\": ",
                    sb->file->name, sb->n, sb->med_p50, sb->med_p99, sb->med_max, sb->checked,
                    sb->mismatches);
            report_json_string(f, shape_sql(&sb->args[0]));
            fprintf(f, ",\n     \"per_run\": [");
            for (unsigned p = 0; p < runs; p++)
                fprintf(f, "%s{\"p50_us\": %.2f, \"p99_us\": %.2f, \"max_us\": %.2f}",
                        p ? ", " : "", sb->p50[p], sb->p99[p], sb->max[p]);
            fprintf(f, "]}%s\n", s + 1 < nshapes ? "," : "");
        }
        fprintf(f, "  ]\n}\n");
        if (fclose(f) != 0)
            status = 2;
    }
    if (md) {
        FILE *f = fopen(md, "w");
        if (f) {
            fprintf(f, "| shape | lines | PostgreSQL p50 µs | p99 µs | max µs |\n"
                       "|---|---:|---:|---:|---:|\n");
            for (size_t s = 0; s < nshapes; s++)
                fprintf(f, "| %s | %zu | %.1f | %.1f | %.1f |\n", shapes[s].file->name, shapes[s].n,
                        shapes[s].med_p50, shapes[s].med_p99, shapes[s].med_max);
            fclose(f);
        }
    }
    if (!correct) {
        fprintf(stderr, "bitdex-bench-postgres: correctness gate FAILED\n");
        status = 1;
    }
out:
    for (size_t s = 0; shapes && s < nshapes; s++) {
        free(shapes[s].args);
        free(shapes[s].lat);
        free(shapes[s].p50);
        free(shapes[s].p99);
        free(shapes[s].max);
    }
    free(shapes);
    dataset_free(&ds);
    PQfinish(c);
    return status;
}

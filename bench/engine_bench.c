/*
 * engine_bench: bitdex-bench-engine, the in-process engine benchmark.
 *
 *   bitdex-bench-engine --data DIR [--runs 5] [--check 10] [--out results.json] [--md results.md]
 *                       [--force auto|materialize|bsi|walk] [--shapes Q1,Q2hot,...] [--explain]
 *
 * 1. Load: parse DIR/images.csv and DIR/tags.csv (bench/dataset.h), fill an index through
 *    index_put, rebuild permutations, optimize (bench/loader.h); time and rate of each phase,
 *    and the index's memory per document.
 * 2. Correctness gate (same run): for --check parameter lines per shape (evenly spaced), answer
 *    with the engine and with the brute-force scan (bench/naive.h) and compare ids, sort values
 *    and totals. Any difference is printed and makes the program exit 1 (results are still
 *    written, with "correct": false). The scan's latency is the baseline column.
 * 3. Latency: one untimed warm-up pass over every line of every shape, then --runs timed passes;
 *    each pass yields p50 / p99 / max per shape (nearest rank over its lines); the report gives
 *    the median of each over the passes. Concurrency 1, one thread, no I/O in the timed region.
 *
 * --lines N uses only the first N parameter lines of each shape (quick runs).
 * --explain prints the engine's trace (plan, cardinalities, strategy, phase times) of the first
 * line of every shape after the timed passes.
 *
 * Exit status: 0 ok, 1 correctness failure or engine error, 2 usage or data error.
 */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/utsname.h>
#include <time.h>
#include <unistd.h>

#include "bench/dataset.h"
#include "bench/loader.h"
#include "bench/naive.h"
#include "bench/report.h"
#include "bench/shape.h"
#include "bench/shape_query.h"
#include "bench/stats.h"
#include "common/index.h"
#include "common/search.h"
#include "common/sort.h"

#define N_STRATEGIES 5 /* SORT_AUTO .. SORT_SLOT */

typedef struct options {
    const char *data;
    const char *out_json;
    const char *md;
    const char *shapes; /* comma-separated names, NULL = all */
    unsigned runs;
    unsigned check;
    unsigned lines; /* use at most this many lines per shape; 0 = all */
    bool explain;
    sort_strategy_t force;
} options_t;

/* Everything measured for one parameter file. */
typedef struct shape_bench {
    const shape_file_t *file;
    shape_args_t *args;
    size_t n;
    shape_query_t *queries;
    uint64_t *lat;             /* n: latencies of the current pass (wall clock) */
    uint64_t *cpu;             /* n: thread CPU time of the current pass */
    double *p50, *p99, *max;   /* per pass, microseconds, wall clock */
    double *cpu_p50, *cpu_p99; /* per pass, microseconds, thread CPU time */
    double med_p50, med_p99, med_max, med_cpu_p50, med_cpu_p99;
    uint64_t strategies[N_STRATEGIES];
    size_t checked, mismatches;
    stats_summary_t naive;          /* brute-force scan over the checked lines */
    stats_summary_t engine_checked; /* engine over the same lines (cold-ish, with totals) */
    uint64_t result_rows;           /* rows returned over the first timed pass */
    uint64_t total_sum;             /* sum of exact totals over the checked lines (sanity) */
} shape_bench_t;

static double now_seconds(void)
{
    return (double)stats_now_ns() * 1e-9;
}

static bool shape_selected(const options_t *opt, const char *name)
{
    if (!opt->shapes)
        return true;
    size_t len = strlen(name);
    const char *p = opt->shapes;
    while (*p) {
        const char *c = strchr(p, ',');
        size_t l = c ? (size_t)(c - p) : strlen(p);
        if (l == len && memcmp(p, name, len) == 0)
            return true;
        p = c ? c + 1 : p + l;
    }
    return false;
}

static void print_answers(const char *shape, size_t line, const shape_answer_t *e,
                          const naive_result_t *r)
{
    fprintf(stderr, "MISMATCH %s line %zu: engine %zu rows", shape, line + 1, e->n);
    if (e->has_count)
        fprintf(stderr, " (total %llu)", (unsigned long long)e->count);
    fprintf(stderr, ", reference %zu rows (total %llu)\n", r->n, (unsigned long long)r->count);
    size_t m = e->n > r->n ? e->n : r->n, shown = 0;
    for (size_t i = 0; i < m && shown < 5; i++) {
        bool same = i < e->n && i < r->n && e->ids[i] == r->ids[i] && e->values[i] == r->values[i];
        if (same)
            continue;
        fprintf(stderr, "  row %zu: engine ", i);
        if (i < e->n)
            fprintf(stderr, "(%llu, %u)", (unsigned long long)e->values[i], e->ids[i]);
        else
            fprintf(stderr, "-");
        fprintf(stderr, " reference ");
        if (i < r->n)
            fprintf(stderr, "(%llu, %u)\n", (unsigned long long)r->values[i], r->ids[i]);
        else
            fprintf(stderr, "-\n");
        shown++;
    }
}

/* Compares one answer; returns true when equal. */
static bool same_answer(const shape_args_t *a, const shape_answer_t *e, const naive_result_t *r)
{
    if (shape_is_count(a))
        return e->has_count && e->count == r->count;
    if (e->n != r->n)
        return false;
    for (size_t i = 0; i < e->n; i++)
        if (e->ids[i] != r->ids[i] || e->values[i] != r->values[i])
            return false;
    /* Q4's engine total counts the whole filter, the reference counts rows after the cursor. */
    if (e->has_count && a->kind != SHAPE_Q4 && e->count != r->count)
        return false;
    return true;
}

static int check_shape(const dataset_t *ds, const index_t *ix, const search_options_t *so,
                       shape_bench_t *sb, unsigned check)
{
    size_t k = check < sb->n ? check : sb->n;
    uint64_t *naive_ns = calloc(k ? k : 1, sizeof(uint64_t));
    uint64_t *engine_ns = calloc(k ? k : 1, sizeof(uint64_t));
    if (!naive_ns || !engine_ns) {
        free(naive_ns);
        free(engine_ns);
        return -ENOMEM;
    }
    int rc = 0;
    for (size_t j = 0; j < k; j++) {
        size_t i = j * sb->n / k;
        naive_result_t ref;
        shape_answer_t ans;
        bdx_error_t err = {0};
        uint64_t t0 = stats_now_ns();
        if ((rc = naive_run(ds, &sb->args[i], &ref)) != 0)
            break;
        uint64_t t1 = stats_now_ns();
        rc = shape_query_run(ix, &sb->queries[i], so, true, &ans, &err);
        uint64_t t2 = stats_now_ns();
        if (rc != 0) {
            fprintf(stderr, "bitdex-bench-engine: %s line %zu: engine error: %s\n", sb->file->name,
                    i + 1, bdx_error_message(&err));
            break;
        }
        naive_ns[j] = t1 - t0;
        engine_ns[j] = t2 - t1;
        sb->checked++;
        sb->total_sum += ref.count;
        if (!same_answer(&sb->args[i], &ans, &ref)) {
            sb->mismatches++;
            print_answers(sb->file->name, i, &ans, &ref);
        }
    }
    stats_summarize(naive_ns, sb->checked, &sb->naive);
    stats_summarize(engine_ns, sb->checked, &sb->engine_checked);
    free(naive_ns);
    free(engine_ns);
    return rc;
}

/* One pass over every line of a shape; timed when `pass` >= 0. */
static int run_pass(const index_t *ix, const search_options_t *so, shape_bench_t *sb, int pass)
{
    for (size_t i = 0; i < sb->n; i++) {
        shape_answer_t ans;
        bdx_error_t err = {0};
        uint64_t c0 = stats_cpu_ns();
        uint64_t t0 = stats_now_ns();
        int rc = shape_query_run(ix, &sb->queries[i], so, false, &ans, &err);
        uint64_t t1 = stats_now_ns();
        uint64_t c1 = stats_cpu_ns();
        if (rc != 0) {
            fprintf(stderr, "bitdex-bench-engine: %s line %zu: engine error: %s\n", sb->file->name,
                    i + 1, bdx_error_message(&err));
            return rc;
        }
        if (pass >= 0) {
            sb->lat[i] = t1 - t0;
            sb->cpu[i] = c1 - c0;
            if ((unsigned)ans.strategy < N_STRATEGIES)
                sb->strategies[ans.strategy]++;
            if (pass == 0)
                sb->result_rows += ans.n;
        }
    }
    if (pass >= 0) {
        stats_summary_t s;
        stats_summarize(sb->lat, sb->n, &s);
        sb->p50[pass] = (double)s.p50 / 1e3;
        sb->p99[pass] = (double)s.p99 / 1e3;
        sb->max[pass] = (double)s.max / 1e3;
        stats_summarize(sb->cpu, sb->n, &s);
        sb->cpu_p50[pass] = (double)s.p50 / 1e3;
        sb->cpu_p99[pass] = (double)s.p99 / 1e3;
    }
    return 0;
}

/* Prints the engine's trace of the first line of a page shape. */
static void explain_first(const index_t *ix, const search_options_t *so, shape_bench_t *sb)
{
    if (sb->n == 0 || sb->queries[0].count_only || sb->queries[0].id_asc)
        return;
    query_t *q = sb->queries[0].q;
    unsigned flags = q->flags;
    q->flags |= QUERY_WANT_EXPLAIN;
    search_result_t *r = NULL;
    bdx_error_t err = {0};
    char *text = NULL;
    if (search_run(ix, q, so, &r, &err) == 0 && r->explain &&
        explain_format(r->explain, &text) == 0)
        fprintf(stderr, "--- explain %s line 1\n%s", sb->file->name, text);
    free(text);
    search_result_free(r);
    q->flags = flags;
}

static const char *strategy_summary(const shape_bench_t *sb, char *buf, size_t len)
{
    buf[0] = '\0';
    size_t off = 0;
    if (sb->queries && sb->n > 0 && sb->queries[0].count_only)
        return "count";
    if (sb->queries && sb->n > 0 && sb->queries[0].id_asc)
        return "id-asc (planner)";
    for (int s = 0; s < N_STRATEGIES; s++) {
        if (!sb->strategies[s])
            continue;
        int w = snprintf(buf + off, len - off, "%s%s", off ? "+" : "",
                         sort_strategy_name((sort_strategy_t)s));
        if (w < 0 || (size_t)w >= len - off)
            break;
        off += (size_t)w;
    }
    return buf;
}

typedef struct report {
    const options_t *opt;
    const dataset_t *ds;
    const loader_stats_t *ls;
    const index_memory_t *mem;
    shape_bench_t *shapes;
    size_t nshapes;
    bool correct;
    double load_total;
    char cpu[256];
    char kernel[256];
    long nproc;
    char datagen[2048]; /* the raw datagen.json object, or "null" */
    char when[64];
    char loadavg[2][64]; /* /proc/loadavg before loading and after the timed passes */
} report_t;

static void write_json(const report_t *r, FILE *f)
{
    const dataset_t *ds = r->ds;
    const loader_stats_t *ls = r->ls;
    const index_memory_t *m = r->mem;
    double docs = (double)(m->docs ? m->docs : 1);
    fprintf(f, "{\n  \"benchmark\": \"bitdex-bench-engine\",\n  \"format\": 1,\n");
    fprintf(f, "  \"mode\": \"in-process, one thread, concurrency 1\",\n  \"date\": ");
    report_json_string(f, r->when);
    fprintf(f, ",\n  \"machine\": {\"cpu\": ");
    report_json_string(f, r->cpu);
    fprintf(f, ", \"nproc\": %ld, \"kernel\": ", r->nproc);
    report_json_string(f, r->kernel);
    fprintf(f, ", \"loadavg_before\": ");
    report_json_string(f, r->loadavg[0]);
    fprintf(f, ", \"loadavg_after\": ");
    report_json_string(f, r->loadavg[1]);
    fprintf(f, "},\n  \"data\": {\"dir\": ");
    report_json_string(f, r->opt->data);
    fprintf(f, ", \"docs\": %llu, \"max_id\": %u, \"tag_rows\": %llu, \"datagen\": %s},\n",
            (unsigned long long)ds->n, ds->max_id, (unsigned long long)ds->tag_rows, r->datagen);
    fprintf(f,
            "  \"load\": {\"images_csv_s\": %.3f, \"images_rows_per_s\": %.0f, "
            "\"images_mb_per_s\": %.1f,\n            \"tags_csv_s\": %.3f, "
            "\"tags_rows_per_s\": %.0f, \"tags_mb_per_s\": %.1f,\n"
            "            \"index_put_s\": %.3f, \"index_put_docs_per_s\": %.0f, "
            "\"rebuild_perms_s\": %.3f, \"optimize_s\": %.3f, \"total_s\": %.3f},\n",
            ds->images_seconds, (double)ds->n / ds->images_seconds,
            (double)ds->images_bytes / 1e6 / ds->images_seconds, ds->tags_seconds,
            (double)ds->tag_rows / ds->tags_seconds,
            (double)ds->tags_bytes / 1e6 / ds->tags_seconds, ls->put_seconds,
            (double)ds->n / ls->put_seconds, ls->perms_seconds, ls->optimize_seconds,
            r->load_total);
    fprintf(f,
            "  \"memory\": {\"docs\": %llu, \"bitmap_bytes\": %zu, \"bitmap_bytes_per_doc\": %.1f, "
            "\"filter_bitmap_bytes\": %zu, \"sort_bitmap_bytes\": %zu, \"other_bitmap_bytes\": "
            "%zu,\n             \"column_bytes\": %zu, \"permutation_bytes\": %zu, "
            "\"dictionary_bytes\": %zu, \"map_bytes\": %zu, \"forward_bytes\": %zu, "
            "\"total_bytes\": %zu, \"total_bytes_per_doc\": %.1f},\n",
            (unsigned long long)m->docs, m->bitmaps, (double)m->bitmaps / docs, m->filter_bitmaps,
            m->sort_bitmaps, m->other_bitmaps, m->columns, m->permutations, m->dictionaries,
            m->maps, m->forward, m->total, (double)m->total / docs);
    fprintf(f, "  \"runs\": %u,\n  \"check_per_shape\": %u,\n  \"force\": \"%s\",\n", r->opt->runs,
            r->opt->check, sort_strategy_name(r->opt->force));
    fprintf(f, "  \"correct\": %s,\n  \"shapes\": [\n", r->correct ? "true" : "false");
    for (size_t s = 0; s < r->nshapes; s++) {
        const shape_bench_t *sb = &r->shapes[s];
        char strat[128];
        fprintf(f,
                "    {\"name\": \"%s\", \"lines\": %zu, \"p50_us\": %.2f, \"p99_us\": %.2f, "
                "\"max_us\": %.2f, \"cpu_p50_us\": %.2f, \"cpu_p99_us\": %.2f, "
                "\"strategy\": \"%s\",\n",
                sb->file->name, sb->n, sb->med_p50, sb->med_p99, sb->med_max, sb->med_cpu_p50,
                sb->med_cpu_p99, strategy_summary(sb, strat, sizeof(strat)));
        fprintf(f, "     \"per_run\": [");
        for (unsigned p = 0; p < r->opt->runs; p++)
            fprintf(f,
                    "%s{\"p50_us\": %.2f, \"p99_us\": %.2f, \"max_us\": %.2f, "
                    "\"cpu_p50_us\": %.2f, \"cpu_p99_us\": %.2f}",
                    p ? ", " : "", sb->p50[p], sb->p99[p], sb->max[p], sb->cpu_p50[p],
                    sb->cpu_p99[p]);
        fprintf(f,
                "],\n     \"rows_per_query\": %.1f, \"checked\": %zu, \"mismatches\": %zu, "
                "\"reference_p50_us\": %.2f, \"reference_p99_us\": %.2f, "
                "\"speedup_p50_vs_reference\": %.1f}%s\n",
                sb->n ? (double)sb->result_rows / (double)sb->n : 0.0, sb->checked, sb->mismatches,
                (double)sb->naive.p50 / 1e3, (double)sb->naive.p99 / 1e3,
                sb->med_p50 > 0 ? (double)sb->naive.p50 / 1e3 / sb->med_p50 : 0.0,
                s + 1 < r->nshapes ? "," : "");
    }
    fprintf(f, "  ]\n}\n");
}

static void write_md(const report_t *r, FILE *f)
{
    const dataset_t *ds = r->ds;
    const loader_stats_t *ls = r->ls;
    const index_memory_t *m = r->mem;
    double docs = (double)(m->docs ? m->docs : 1);
    fprintf(f, "# bitdex in-process engine benchmark: %llu documents\n\n",
            (unsigned long long)ds->n);
    fprintf(f,
            "%s · %s · %ld cores · kernel %s · load average before/after: %.14s / %.14s · "
            "one thread, concurrency 1 · medians of %u timed passes after one warm-up pass · "
            "limit %d\n\n",
            r->when, r->cpu, r->nproc, r->kernel, r->loadavg[0], r->loadavg[1], r->opt->runs,
            SHAPE_LIMIT);
    fprintf(f, "Correctness gate (same-run brute-force reference, %u lines per shape): **%s**\n\n",
            r->opt->check, r->correct ? "pass" : "FAIL");
    fprintf(f, "| shape | lines | p50 µs | p99 µs | max µs | cpu p50 µs | cpu p99 µs | strategy | "
               "reference p50 µs | reference / p50 |\n"
               "|---|---:|---:|---:|---:|---:|---:|---|---:|---:|\n");
    for (size_t s = 0; s < r->nshapes; s++) {
        const shape_bench_t *sb = &r->shapes[s];
        char strat[128];
        fprintf(f, "| %s | %zu | %.1f | %.1f | %.1f | %.1f | %.1f | %s | %.0f | %.0f× |\n",
                sb->file->name, sb->n, sb->med_p50, sb->med_p99, sb->med_max, sb->med_cpu_p50,
                sb->med_cpu_p99, strategy_summary(sb, strat, sizeof(strat)),
                (double)sb->naive.p50 / 1e3,
                sb->med_p50 > 0 ? (double)sb->naive.p50 / 1e3 / sb->med_p50 : 0.0);
    }
    fprintf(f, "\nReference = a single-threaded scan over plain in-memory columns in the same "
               "process (bench/naive.c), measured on the checked lines: the baseline, not a "
               "peer. Q8 (id asc) runs through the planner plus an ascending bitmap read: "
               "search.h has no id-ascending order. p50/p99/max are wall clock; cpu p50/p99 are "
               "the thread's CPU time per query, which leaves out time spent waiting for a core "
               "(compare the two when the load average is high).\n\n");
    fprintf(f, "| load phase | seconds | rate |\n|---|---:|---:|\n");
    fprintf(f, "| parse images.csv | %.2f | %.0f rows/s (%.0f MB/s) |\n", ds->images_seconds,
            (double)ds->n / ds->images_seconds,
            (double)ds->images_bytes / 1e6 / ds->images_seconds);
    fprintf(f, "| parse tags.csv | %.2f | %.0f rows/s (%.0f MB/s) |\n", ds->tags_seconds,
            (double)ds->tag_rows / ds->tags_seconds,
            (double)ds->tags_bytes / 1e6 / ds->tags_seconds);
    fprintf(f, "| index_bulk_put (all fields) | %.2f | %.0f docs/s |\n", ls->put_seconds,
            (double)ds->n / ls->put_seconds);
    fprintf(f, "| rebuild permutations | %.2f | |\n| optimize | %.2f | |\n| freeze | %.2f | |\n",
            ls->perms_seconds, ls->optimize_seconds, ls->freeze_seconds);
    fprintf(f, "| total CSV → queryable | %.2f | %.0f docs/s |\n\n", r->load_total,
            (double)ds->n / r->load_total);
    fprintf(f,
            "Memory: bitmaps %.1f B/doc (filter %.1f, sort BSI %.1f, alive/dirty %.1f); "
            "everything the index holds %.1f B/doc (columns %.1f, permutations %.1f, "
            "per-doc forward records %.1f).\n",
            (double)m->bitmaps / docs, (double)m->filter_bitmaps / docs,
            (double)m->sort_bitmaps / docs, (double)m->other_bitmaps / docs,
            (double)m->total / docs, (double)m->columns / docs, (double)m->permutations / docs,
            (double)m->forward / docs);
}

static void usage(FILE *f)
{
    fprintf(f, "usage: bitdex-bench-engine --data DIR [--runs 5] [--check 10] [--out FILE.json]\n"
               "                           [--md FILE.md] [--force auto|materialize|bsi|walk]\n"
               "                           [--shapes Q1,Q2hot,...] [--lines N] [--explain]\n");
}

static void fill_machine(report_t *r)
{
    struct utsname u;
    snprintf(r->kernel, sizeof(r->kernel), "%s", uname(&u) == 0 ? u.release : "unknown");
    report_cpu_model(r->cpu, sizeof(r->cpu));
    if (!r->cpu[0])
        snprintf(r->cpu, sizeof(r->cpu), "unknown");
    r->nproc = sysconf(_SC_NPROCESSORS_ONLN);
    time_t t = time(NULL);
    struct tm tm;
    gmtime_r(&t, &tm);
    strftime(r->when, sizeof(r->when), "%Y-%m-%dT%H:%M:%SZ", &tm);
}

static void read_datagen(const char *dir, char *out, size_t len)
{
    char path[4096];
    snprintf(path, sizeof(path), "%s/datagen.json", dir);
    snprintf(out, len, "null");
    FILE *f = fopen(path, "r");
    if (!f)
        return;
    size_t n = fread(out, 1, len - 1, f);
    fclose(f);
    out[n] = '\0';
    while (n > 0 && (out[n - 1] == '\n' || out[n - 1] == ' '))
        out[--n] = '\0';
    for (size_t i = 0; i < n; i++)
        if (out[i] == '\n')
            out[i] = ' ';
    if (n == 0 || out[0] != '{' || out[n - 1] != '}')
        snprintf(out, len, "null");
}

int main(int argc, char **argv)
{
    options_t opt = {.runs = 5, .check = 10, .force = SORT_AUTO};
    static const struct option longopts[] = {{"data", required_argument, 0, 'd'},
                                             {"runs", required_argument, 0, 'r'},
                                             {"check", required_argument, 0, 'c'},
                                             {"out", required_argument, 0, 'o'},
                                             {"md", required_argument, 0, 'm'},
                                             {"force", required_argument, 0, 'f'},
                                             {"shapes", required_argument, 0, 's'},
                                             {"explain", no_argument, 0, 'x'},
                                             {"lines", required_argument, 0, 'l'},
                                             {"help", no_argument, 0, 'h'},
                                             {0, 0, 0, 0}};
    int ch;
    while ((ch = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
        switch (ch) {
        case 'd':
            opt.data = optarg;
            break;
        case 'r':
            opt.runs = (unsigned)strtoul(optarg, NULL, 10);
            break;
        case 'c':
            opt.check = (unsigned)strtoul(optarg, NULL, 10);
            break;
        case 'o':
            opt.out_json = optarg;
            break;
        case 'm':
            opt.md = optarg;
            break;
        case 's':
            opt.shapes = optarg;
            break;
        case 'f':
            if (sort_strategy_parse(optarg, &opt.force) != 0 || opt.force == SORT_SLOT) {
                fprintf(stderr, "bitdex-bench-engine: bad --force %s\n", optarg);
                return 2;
            }
            break;
        case 'x':
            opt.explain = true;
            break;
        case 'l':
            opt.lines = (unsigned)strtoul(optarg, NULL, 10);
            break;
        case 'h':
            usage(stdout);
            return 0;
        default:
            usage(stderr);
            return 2;
        }
    }
    if (!opt.data || opt.runs < 1 || opt.runs > 1000) {
        usage(stderr);
        return 2;
    }

    int status = 0, rc;
    bdx_error_t err = {0};
    dataset_t ds;
    index_t *ix = NULL;
    loader_stats_t ls;
    index_memory_t mem;
    shape_bench_t *shapes = NULL;
    size_t nfiles, nshapes = 0;
    const shape_file_t *files = shape_files(&nfiles);
    report_t rep = {.opt = &opt, .ds = &ds, .ls = &ls, .mem = &mem, .correct = true};
    search_options_t so = {.force = opt.force};

    fill_machine(&rep);
    report_loadavg(rep.loadavg[0], sizeof(rep.loadavg[0]));
    read_datagen(opt.data, rep.datagen, sizeof(rep.datagen));

    /* 1. load */
    double t0 = now_seconds();
    if ((rc = dataset_load(opt.data, &ds, &err)) != 0) {
        fprintf(stderr, "bitdex-bench-engine: %s\n", bdx_error_message(&err));
        status = 2;
        goto out;
    }
    fprintf(stderr, "loaded CSV: %llu images in %.2f s, %llu tag rows in %.2f s\n",
            (unsigned long long)ds.n, ds.images_seconds, (unsigned long long)ds.tag_rows,
            ds.tags_seconds);
    if ((rc = loader_build(&ds, &ix, &ls, &err)) != 0) {
        fprintf(stderr, "bitdex-bench-engine: index: %s\n", bdx_error_message(&err));
        status = 1;
        goto out;
    }
    rep.load_total = now_seconds() - t0;
    index_memory(ix, &mem);
    fprintf(stderr,
            "index: put %.2f s (%.0f docs/s), perms %.2f s, optimize %.2f s; "
            "bitmaps %.1f B/doc, total %.1f B/doc\n",
            ls.put_seconds, (double)ds.n / ls.put_seconds, ls.perms_seconds, ls.optimize_seconds,
            (double)mem.bitmaps / (double)(mem.docs ? mem.docs : 1),
            (double)mem.total / (double)(mem.docs ? mem.docs : 1));

    /* parameters and queries */
    shapes = calloc(nfiles, sizeof(*shapes));
    if (!shapes) {
        status = 1;
        goto out;
    }
    for (size_t i = 0; i < nfiles; i++) {
        if (!shape_selected(&opt, files[i].name))
            continue;
        shape_bench_t *sb = &shapes[nshapes++];
        char path[4096];
        sb->file = &files[i];
        snprintf(path, sizeof(path), "%s/params/%s.txt", opt.data, files[i].name);
        if ((rc = shape_load(path, files[i].kind, &sb->args, &sb->n, &err)) != 0) {
            fprintf(stderr, "bitdex-bench-engine: %s\n", bdx_error_message(&err));
            status = 2;
            goto out;
        }
        if (opt.lines && sb->n > opt.lines)
            sb->n = opt.lines;
        sb->queries = calloc(sb->n ? sb->n : 1, sizeof(shape_query_t));
        sb->lat = calloc(sb->n ? sb->n : 1, sizeof(uint64_t));
        sb->cpu = calloc(sb->n ? sb->n : 1, sizeof(uint64_t));
        sb->cpu_p50 = calloc(opt.runs, sizeof(double));
        sb->cpu_p99 = calloc(opt.runs, sizeof(double));
        sb->p50 = calloc(opt.runs, sizeof(double));
        sb->p99 = calloc(opt.runs, sizeof(double));
        sb->max = calloc(opt.runs, sizeof(double));
        if (!sb->queries || !sb->lat || !sb->p50 || !sb->p99 || !sb->max || !sb->cpu ||
            !sb->cpu_p50 || !sb->cpu_p99) {
            status = 1;
            goto out;
        }
        for (size_t j = 0; j < sb->n; j++) {
            if ((rc = shape_query_build(ix, &sb->args[j], &sb->queries[j], &err)) != 0) {
                fprintf(stderr, "bitdex-bench-engine: %s line %zu: query: %s\n", files[i].name,
                        j + 1, bdx_error_message(&err));
                status = 1;
                goto out;
            }
        }
    }
    rep.shapes = shapes;
    rep.nshapes = nshapes;

    /* 2. correctness gate + reference latency */
    for (size_t s = 0; s < nshapes; s++) {
        if ((rc = check_shape(&ds, ix, &so, &shapes[s], opt.check)) != 0) {
            status = 1;
            goto out;
        }
        if (shapes[s].mismatches)
            rep.correct = false;
        fprintf(stderr, "check %-8s %zu/%zu lines agree; reference p50 %.0f us\n",
                shapes[s].file->name, shapes[s].checked - shapes[s].mismatches, shapes[s].checked,
                (double)shapes[s].naive.p50 / 1e3);
    }

    /* 3. warm-up, then timed passes */
    for (size_t s = 0; s < nshapes; s++)
        if ((rc = run_pass(ix, &so, &shapes[s], -1)) != 0) {
            status = 1;
            goto out;
        }
    for (unsigned p = 0; p < opt.runs; p++)
        for (size_t s = 0; s < nshapes; s++)
            if ((rc = run_pass(ix, &so, &shapes[s], (int)p)) != 0) {
                status = 1;
                goto out;
            }
    for (size_t s = 0; s < nshapes; s++) {
        shape_bench_t *sb = &shapes[s];
        double tmp[5][1000];
        memcpy(tmp[0], sb->p50, opt.runs * sizeof(double));
        memcpy(tmp[1], sb->p99, opt.runs * sizeof(double));
        memcpy(tmp[2], sb->max, opt.runs * sizeof(double));
        memcpy(tmp[3], sb->cpu_p50, opt.runs * sizeof(double));
        memcpy(tmp[4], sb->cpu_p99, opt.runs * sizeof(double));
        sb->med_p50 = stats_median(tmp[0], opt.runs);
        sb->med_p99 = stats_median(tmp[1], opt.runs);
        sb->med_max = stats_median(tmp[2], opt.runs);
        sb->med_cpu_p50 = stats_median(tmp[3], opt.runs);
        sb->med_cpu_p99 = stats_median(tmp[4], opt.runs);
        char strat[128];
        fprintf(stderr,
                "%-8s p50 %8.1f us  p99 %8.1f us  max %8.1f us  cpu p50 %8.1f p99 %8.1f  %s\n",
                sb->file->name, sb->med_p50, sb->med_p99, sb->med_max, sb->med_cpu_p50,
                sb->med_cpu_p99, strategy_summary(sb, strat, sizeof(strat)));
    }

    report_loadavg(rep.loadavg[1], sizeof(rep.loadavg[1]));
    for (size_t s = 0; opt.explain && s < nshapes; s++)
        explain_first(ix, &so, &shapes[s]);
    if (opt.out_json) {
        FILE *f = fopen(opt.out_json, "w");
        if (!f) {
            fprintf(stderr, "bitdex-bench-engine: %s: %s\n", opt.out_json, strerror(errno));
            status = 2;
            goto out;
        }
        write_json(&rep, f);
        if (fclose(f) != 0)
            status = 2;
    }
    if (opt.md) {
        FILE *f = fopen(opt.md, "w");
        if (!f) {
            fprintf(stderr, "bitdex-bench-engine: %s: %s\n", opt.md, strerror(errno));
            status = 2;
            goto out;
        }
        write_md(&rep, f);
        if (fclose(f) != 0)
            status = 2;
    }
    if (!opt.out_json && !opt.md)
        write_md(&rep, stdout);
    if (!rep.correct) {
        fprintf(stderr, "bitdex-bench-engine: correctness gate FAILED\n");
        status = 1;
    }
out:
    for (size_t s = 0; shapes && s < nshapes; s++) {
        shape_bench_t *sb = &shapes[s];
        for (size_t j = 0; sb->queries && j < sb->n; j++)
            shape_query_free(&sb->queries[j]);
        free(sb->queries);
        free(sb->args);
        free(sb->lat);
        free(sb->cpu);
        free(sb->cpu_p50);
        free(sb->cpu_p99);
        free(sb->p50);
        free(sb->p99);
        free(sb->max);
    }
    free(shapes);
    index_free(ix);
    dataset_free(&ds);
    return status;
}

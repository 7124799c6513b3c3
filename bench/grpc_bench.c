/*
 * grpc_bench: bitdex-bench-grpc, Search / Count latency per query shape through gRPC.
 *
 *   bitdex-bench-grpc --data DIR --target HOST:PORT [--target HOST:PORT ...] [--index images]
 *                     [--runs 1000] [--concurrency 1] [--shapes Q1,Q2hot,...] [--lines N]
 *                     [--check 0] [--deadline-ms 5000]
 *
 * For every parameter file DIR/params/<shape>.txt (bench/shape.h) the requests are built once
 * (bench/shape_pb.h: the same filter trees as the in-process benchmark, as filter.proto; Q4's
 * cursor is the engine's token for the line's (sortAt, id), made by shape_query_build() over an
 * empty index of the benchmark schema, so --index must be the schema's name "images" for Q4).
 * Then per shape: an untimed warm-up of max(lines, runs / 10) queries, and --runs timed
 * queries cycling through the lines, sent by --concurrency threads (closed loop: each thread
 * sends its next query when the previous one returns), query k to target k mod (number of
 * targets). Each thread has its own connection to each target. Reports per shape: p50 / p99 /
 * max latency (nearest rank) of one unary call — request bytes packed beforehand, response bytes
 * copied out but not decoded — and queries per second (runs / wall time of the timed phase).
 *
 * --check N first compares, for the first N lines of each shape, the ids in the response (and
 * the count for Qc) with the brute-force answer over DIR's CSVs (bench/naive.h), sequentially on
 * the first target. The readers must then hold exactly that data set (e.g. loaded with
 * bitdex-load and followed by the readers).
 *
 * Exit status: 0 ok, 1 a call failed or a check differed, 2 usage or data error.
 */
#include <errno.h>
#include <getopt.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench/dataset.h"
#include "bench/grpc_client.h"
#include "bench/loader.h"
#include "bench/naive.h"
#include "bench/shape.h"
#include "bench/shape_pb.h"
#include "bench/shape_query.h"
#include "bench/stats.h"

#include "bitdex/v1/query.pb-c.h"

#define MAX_TARGETS 16

typedef struct options {
    const char *data;
    const char *targets[MAX_TARGETS];
    size_t n_targets;
    const char *index;
    const char *shapes;
    unsigned runs;
    unsigned concurrency;
    unsigned lines;
    unsigned check;
    unsigned deadline_ms;
} options_t;

/* One parameter line, ready to send. */
typedef struct request {
    uint8_t *wire;
    size_t len;
    shape_pb_rpc_t rpc;
} request_t;

typedef struct shape_run {
    const shape_file_t *file;
    shape_args_t *args;
    size_t n_args;
    request_t *reqs;
} shape_run_t;

/* One timed phase of one shape, shared by the threads. */
typedef struct phase {
    const options_t *opt;
    const shape_run_t *shape;
    size_t total;       /* queries in this phase */
    uint64_t *lat_ns;   /* [total], NULL for warm-up */
    atomic_size_t next; /* next query index */
    atomic_size_t errors;
    atomic_bool error_printed;
} phase_t;

/* A client thread: its connections and queue live for the whole run. */
typedef struct worker {
    pthread_t thread;
    gclient_channel_t *ch[MAX_TARGETS];
    gclient_queue_t *q;
    gclient_buf_t resp;
    /* hand-off with the main thread */
    pthread_mutex_t mu;
    pthread_cond_t cv;
    phase_t *phase; /* set by main; cleared by the worker when done */
    bool quit;
} worker_t;

static void usage(FILE *f)
{
    fprintf(f, "usage: bitdex-bench-grpc --data DIR --target HOST:PORT [--target ...]\n"
               "                         [--index images] [--runs 1000] [--concurrency 1]\n"
               "                         [--shapes Q1,...] [--lines N] [--check 0]\n"
               "                         [--deadline-ms 5000]\n");
}

static int parse_uint(const char *s, unsigned min, unsigned max, unsigned *out)
{
    char *end;
    errno = 0;
    unsigned long v = strtoul(s, &end, 10);
    if (errno || end == s || *end || v < min || v > max)
        return -1;
    *out = (unsigned)v;
    return 0;
}

static int parse_options(int argc, char **argv, options_t *o)
{
    static const struct option longopts[] = {{"data", required_argument, 0, 'd'},
                                             {"target", required_argument, 0, 't'},
                                             {"index", required_argument, 0, 'i'},
                                             {"runs", required_argument, 0, 'r'},
                                             {"concurrency", required_argument, 0, 'c'},
                                             {"shapes", required_argument, 0, 's'},
                                             {"lines", required_argument, 0, 'l'},
                                             {"check", required_argument, 0, 'k'},
                                             {"deadline-ms", required_argument, 0, 'D'},
                                             {"help", no_argument, 0, 'h'},
                                             {0, 0, 0, 0}};
    *o = (options_t){.index = "images", .runs = 1000, .concurrency = 1, .deadline_ms = 5000};
    int c, bad = 0;
    while ((c = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
        switch (c) {
        case 'd':
            o->data = optarg;
            break;
        case 'i':
            o->index = optarg;
            break;
        case 's':
            o->shapes = optarg;
            break;
        case 't':
            if (o->n_targets == MAX_TARGETS)
                bad = 1;
            else
                o->targets[o->n_targets++] = optarg;
            break;
        case 'r':
            bad |= parse_uint(optarg, 1, 100000000, &o->runs);
            break;
        case 'c':
            bad |= parse_uint(optarg, 1, 256, &o->concurrency);
            break;
        case 'l':
            bad |= parse_uint(optarg, 1, 1000000, &o->lines);
            break;
        case 'k':
            bad |= parse_uint(optarg, 0, 1000000, &o->check);
            break;
        case 'D':
            bad |= parse_uint(optarg, 1, 3600000, &o->deadline_ms);
            break;
        case 'h':
            usage(stdout);
            exit(0);
        default:
            bad = 1;
        }
        if (bad) {
            fprintf(stderr, "bitdex-bench-grpc: bad option or value%s%s\n", optarg ? ": " : "",
                    optarg ? optarg : "");
            usage(stderr);
            return -1;
        }
    }
    if (!o->data || o->n_targets == 0 || optind != argc) {
        usage(stderr);
        return -1;
    }
    return 0;
}

static bool shape_selected(const char *list, const char *name)
{
    if (list == NULL)
        return true;
    size_t n = strlen(name);
    for (const char *p = list; *p;) {
        const char *e = strchr(p, ',');
        size_t len = e ? (size_t)(e - p) : strlen(p);
        if (len == n && strncmp(p, name, n) == 0)
            return true;
        p += len + (e ? 1 : 0);
    }
    return false;
}

/* ---- building the requests --------------------------------------------------------------- */

/* Reads the shape's parameter file and packs one request per line. */
static int build_shape(const options_t *o, const index_t *empty, const shape_file_t *f,
                       shape_run_t *sr)
{
    char path[4096];
    bdx_error_t err = {0};
    sr->file = f;
    snprintf(path, sizeof(path), "%s/params/%s.txt", o->data, f->name);
    int rc = shape_load(path, f->kind, &sr->args, &sr->n_args, &err);
    if (rc != 0) {
        fprintf(stderr, "bitdex-bench-grpc: %s\n", bdx_error_message(&err));
        return rc;
    }
    if (o->lines && sr->n_args > o->lines)
        sr->n_args = o->lines;
    if (sr->n_args == 0) {
        fprintf(stderr, "bitdex-bench-grpc: %s: no parameter lines\n", path);
        return BDX_EINVAL;
    }
    if (f->kind == SHAPE_Q4 && strcmp(o->index, "images") != 0) {
        fprintf(stderr,
                "bitdex-bench-grpc: %s: cursors are bound to the index name; Q4 needs "
                "--index images\n",
                f->name);
        return BDX_EINVAL;
    }
    sr->reqs = calloc(sr->n_args, sizeof(*sr->reqs));
    if (!sr->reqs)
        return -ENOMEM;
    for (size_t i = 0; i < sr->n_args; i++) {
        shape_query_t sq = {0};
        const uint8_t *cursor = NULL;
        size_t cursor_len = 0;
        if (f->kind == SHAPE_Q4) {
            if ((rc = shape_query_build(empty, &sr->args[i], &sq, &err)) != 0) {
                fprintf(stderr, "bitdex-bench-grpc: %s line %zu: %s\n", f->name, i + 1,
                        bdx_error_message(&err));
                shape_query_free(&sq);
                return rc;
            }
            cursor = sq.q->cursor;
            cursor_len = sq.q->cursor_len;
        }
        rc = shape_pb_encode(&sr->args[i], o->index, cursor, cursor_len, &sr->reqs[i].wire,
                             &sr->reqs[i].len, &sr->reqs[i].rpc);
        shape_query_free(&sq);
        if (rc != 0)
            return rc;
    }
    return 0;
}

static void free_shape(shape_run_t *sr)
{
    for (size_t i = 0; sr->reqs && i < sr->n_args; i++)
        free(sr->reqs[i].wire);
    free(sr->reqs);
    free(sr->args);
}

/* ---- the correctness check --------------------------------------------------------------- */

/* Compares line i's response with the scan; prints the first difference. 0 equal, 1 differs. */
static int check_line(const shape_run_t *sr, size_t i, const dataset_t *ds, const uint8_t *resp,
                      size_t len)
{
    naive_result_t want;
    if (naive_run(ds, &sr->args[i], &want) != 0) {
        fprintf(stderr, "bitdex-bench-grpc: out of memory in the scan\n");
        return 1;
    }
    const char *name = sr->file->name;
    if (sr->reqs[i].rpc == SHAPE_PB_COUNT) {
        Bitdex__V1__CountResponse *r = bitdex__v1__count_response__unpack(NULL, len, resp);
        int bad = r == NULL || r->count != want.count;
        if (bad)
            printf("CHECK %s line %zu: count %llu, want %llu\n", name, i + 1,
                   r ? (unsigned long long)r->count : 0ull, (unsigned long long)want.count);
        if (r)
            bitdex__v1__count_response__free_unpacked(r, NULL);
        return bad;
    }
    Bitdex__V1__SearchResponse *r = bitdex__v1__search_response__unpack(NULL, len, resp);
    if (r == NULL) {
        printf("CHECK %s line %zu: undecodable SearchResponse\n", name, i + 1);
        return 1;
    }
    bool by_value = shape_sort(&sr->args[i]) == SHAPE_SORT_SORTAT_DESC ||
                    shape_sort(&sr->args[i]) == SHAPE_SORT_REACTIONS_DESC;
    int bad = 0;
    if (r->n_hits != want.n) {
        printf("CHECK %s line %zu: %zu hits, want %zu\n", name, i + 1, r->n_hits, want.n);
        bad = 1;
    }
    for (size_t k = 0; !bad && k < want.n; k++) {
        if (r->hits[k]->id != want.ids[k] ||
            (by_value && r->hits[k]->sort_value != want.values[k])) {
            printf("CHECK %s line %zu: hit %zu is (id %u, value %llu), want (id %u, value %llu)\n",
                   name, i + 1, k, r->hits[k]->id, (unsigned long long)r->hits[k]->sort_value,
                   want.ids[k], (unsigned long long)want.values[k]);
            bad = 1;
        }
    }
    bitdex__v1__search_response__free_unpacked(r, NULL);
    return bad;
}

static int run_checks(const options_t *o, shape_run_t *shapes, size_t n_shapes)
{
    dataset_t ds;
    bdx_error_t err = {0};
    if (dataset_load(o->data, &ds, &err) != 0) {
        fprintf(stderr, "bitdex-bench-grpc: %s\n", bdx_error_message(&err));
        dataset_free(&ds);
        return 2;
    }
    gclient_channel_t *ch = NULL;
    gclient_queue_t *q = NULL;
    gclient_buf_t resp = {0};
    int bad = 0;
    size_t checked = 0;
    if (gclient_channel_open(o->targets[0], false, &ch, &err) != 0 || gclient_queue_open(&q)) {
        fprintf(stderr, "bitdex-bench-grpc: %s\n", bdx_error_message(&err));
        bad = 2;
        goto out;
    }
    for (size_t s = 0; s < n_shapes; s++) {
        shape_run_t *sr = &shapes[s];
        size_t n = o->check < sr->n_args ? o->check : sr->n_args;
        for (size_t i = 0; i < n; i++) {
            gclient_status_t st;
            const request_t *rq = &sr->reqs[i];
            if (gclient_unary(ch, q, shape_pb_method(rq->rpc), NULL, 0, rq->wire, rq->len,
                              o->deadline_ms, &resp, &st) != 0 ||
                st.code != GCLIENT_STATUS_OK) {
                printf("CHECK %s line %zu: %s: %s\n", sr->file->name, i + 1,
                       gclient_status_name(st.code), st.details);
                bad = 1;
                break; /* one status per shape is enough */
            }
            bad |= check_line(sr, i, &ds, resp.data, resp.len);
            checked++;
        }
    }
    printf("check: %zu responses compared with the scan: %s\n", checked,
           bad ? "DIFFERENCES (see above)" : "all equal");
out:
    gclient_buf_free(&resp);
    gclient_queue_close(q);
    gclient_channel_close(ch);
    dataset_free(&ds);
    return bad;
}

/* ---- the timed phases --------------------------------------------------------------------- */

static void run_phase(worker_t *w, phase_t *p)
{
    const shape_run_t *sr = p->shape;
    size_t nt = p->opt->n_targets;
    for (;;) {
        size_t k = atomic_fetch_add(&p->next, 1);
        if (k >= p->total)
            break;
        const request_t *rq = &sr->reqs[k % sr->n_args];
        gclient_status_t st;
        uint64_t t0 = stats_now_ns();
        int rc = gclient_unary(w->ch[k % nt], w->q, shape_pb_method(rq->rpc), NULL, 0, rq->wire,
                               rq->len, p->opt->deadline_ms, &w->resp, &st);
        uint64_t t1 = stats_now_ns();
        if (p->lat_ns)
            p->lat_ns[k] = t1 - t0;
        if (rc != 0 || st.code != GCLIENT_STATUS_OK) {
            atomic_fetch_add(&p->errors, 1);
            if (!atomic_exchange(&p->error_printed, true))
                fprintf(stderr, "bitdex-bench-grpc: %s on %s: %s: %s\n", sr->file->name,
                        gclient_channel_target(w->ch[k % nt]),
                        rc ? bdx_strerror(rc) : gclient_status_name(st.code), rc ? "" : st.details);
        }
    }
}

static void *worker_main(void *arg)
{
    worker_t *w = arg;
    pthread_mutex_lock(&w->mu);
    for (;;) {
        while (w->phase == NULL && !w->quit)
            pthread_cond_wait(&w->cv, &w->mu);
        if (w->quit)
            break;
        phase_t *p = w->phase;
        pthread_mutex_unlock(&w->mu);
        run_phase(w, p);
        pthread_mutex_lock(&w->mu);
        w->phase = NULL;
        pthread_cond_broadcast(&w->cv);
    }
    pthread_mutex_unlock(&w->mu);
    return NULL;
}

/* Runs one phase on every worker and waits for all of them; returns its wall time in ns. */
static uint64_t run_on_workers(worker_t *ws, unsigned n, phase_t *p)
{
    uint64_t t0 = stats_now_ns();
    for (unsigned i = 0; i < n; i++) {
        pthread_mutex_lock(&ws[i].mu);
        ws[i].phase = p;
        pthread_cond_broadcast(&ws[i].cv);
        pthread_mutex_unlock(&ws[i].mu);
    }
    for (unsigned i = 0; i < n; i++) {
        pthread_mutex_lock(&ws[i].mu);
        while (ws[i].phase != NULL)
            pthread_cond_wait(&ws[i].cv, &ws[i].mu);
        pthread_mutex_unlock(&ws[i].mu);
    }
    return stats_now_ns() - t0;
}

static int open_worker(const options_t *o, worker_t *w)
{
    bdx_error_t err = {0};
    pthread_mutex_init(&w->mu, NULL);
    pthread_cond_init(&w->cv, NULL);
    if (gclient_queue_open(&w->q) != 0)
        return -ENOMEM;
    for (size_t t = 0; t < o->n_targets; t++)
        if (gclient_channel_open(o->targets[t], true, &w->ch[t], &err) != 0) {
            fprintf(stderr, "bitdex-bench-grpc: %s\n", bdx_error_message(&err));
            return err.code;
        }
    return 0;
}

static void close_worker(const options_t *o, worker_t *w)
{
    for (size_t t = 0; t < o->n_targets; t++)
        gclient_channel_close(w->ch[t]);
    gclient_queue_close(w->q);
    gclient_buf_free(&w->resp);
    pthread_mutex_destroy(&w->mu);
    pthread_cond_destroy(&w->cv);
}

int main(int argc, char **argv)
{
    options_t o;
    if (parse_options(argc, argv, &o) != 0)
        return 2;
    int status = 2;
    size_t n_files, n_shapes = 0;
    const shape_file_t *files = shape_files(&n_files);
    shape_run_t *shapes = calloc(n_files, sizeof(*shapes));
    worker_t *ws = calloc(o.concurrency, sizeof(*ws));
    schema_t *schema = NULL;
    index_t *empty = NULL;
    bdx_error_t err = {0};
    unsigned started = 0;
    if (!shapes || !ws)
        goto out;
    if (loader_schema(&schema, &err) != 0 || index_new(schema, &empty, &err) != 0) {
        fprintf(stderr, "bitdex-bench-grpc: schema: %s\n", bdx_error_message(&err));
        goto out;
    }
    for (size_t i = 0; i < n_files; i++) {
        if (!shape_selected(o.shapes, files[i].name))
            continue;
        if (build_shape(&o, empty, &files[i], &shapes[n_shapes++]) != 0)
            goto out;
    }
    if (n_shapes == 0) {
        fprintf(stderr, "bitdex-bench-grpc: --shapes selects no parameter file\n");
        goto out;
    }

    gclient_init();
    status = 0;
    if (o.check > 0)
        status = run_checks(&o, shapes, n_shapes);
    for (; status != 2 && started < o.concurrency; started++) {
        if (open_worker(&o, &ws[started]) != 0 ||
            pthread_create(&ws[started].thread, NULL, worker_main, &ws[started]) != 0) {
            close_worker(&o, &ws[started]);
            status = 2;
            break;
        }
    }
    if (status != 2) {
        printf("bitdex-bench-grpc: %u run(s) per shape, concurrency %u, %zu target(s):", o.runs,
               o.concurrency, o.n_targets);
        for (size_t t = 0; t < o.n_targets; t++)
            printf(" %s", o.targets[t]);
        printf("\n\n| shape | lines | runs | errors | p50 µs | p99 µs | max µs | qps |\n"
               "|---|---:|---:|---:|---:|---:|---:|---:|\n");
        fflush(stdout);
    }
    for (size_t s = 0; status != 2 && s < n_shapes; s++) {
        shape_run_t *sr = &shapes[s];
        size_t warm = o.runs / 10 > sr->n_args ? o.runs / 10 : sr->n_args;
        phase_t wp = {.opt = &o, .shape = sr, .total = warm};
        run_on_workers(ws, started, &wp);
        phase_t tp = {.opt = &o, .shape = sr, .total = o.runs};
        tp.lat_ns = malloc(o.runs * sizeof(uint64_t));
        if (!tp.lat_ns) {
            status = 2;
            break;
        }
        uint64_t wall = run_on_workers(ws, started, &tp);
        stats_summary_t sum;
        stats_summarize(tp.lat_ns, o.runs, &sum);
        free(tp.lat_ns);
        size_t errors = atomic_load(&tp.errors) + atomic_load(&wp.errors);
        printf("| %s | %zu | %u | %zu | %.0f | %.0f | %.0f | %.0f |\n", sr->file->name, sr->n_args,
               o.runs, errors, (double)sum.p50 / 1e3, (double)sum.p99 / 1e3, (double)sum.max / 1e3,
               (double)o.runs / ((double)wall * 1e-9));
        fflush(stdout);
        if (errors)
            status = 1;
    }
    for (unsigned i = 0; i < started; i++) {
        pthread_mutex_lock(&ws[i].mu);
        ws[i].quit = true;
        pthread_cond_broadcast(&ws[i].cv);
        pthread_mutex_unlock(&ws[i].mu);
        pthread_join(ws[i].thread, NULL);
        close_worker(&o, &ws[i]);
    }
    gclient_shutdown();
out:
    for (size_t i = 0; i < n_shapes; i++)
        free_shape(&shapes[i]);
    free(shapes);
    free(ws);
    index_free(empty);
    schema_free(schema);
    return status;
}

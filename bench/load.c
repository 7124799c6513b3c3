/*
 * load: bitdex-load, loads a bitdex-datagen data set into a running writer over gRPC and
 * measures acknowledged write throughput.
 *
 *   bitdex-load --data DIR --target HOST:PORT [--index images] [--batch 1000] [--streams 1]
 *               [--docs N] [--mode stream|apply] [--stream-batches 10] [--token T]
 *               [--if-empty] [--wait-s 30] [--quiet]
 *
 * 1. Reads DIR/images.csv and DIR/tags.csv (bench/dataset.h; --docs N keeps the first N rows).
 * 2. CreateIndex with the in-process benchmark's schema (loader_schema(), converted by
 *    schema_pb_from_schema() with default limits); an identical existing index is fine. The
 *    writer may still be starting: UNAVAILABLE is retried for --wait-s seconds. With
 *    --if-empty, an index that already holds documents is left alone (exit 0).
 * 3. Sends every row as a Put (bench/load_batch.h) in batches of --batch rows over --streams
 *    threads, each with its own connection. Batches are handed out in id order from a shared
 *    counter. --mode stream (default): each thread sends --stream-batches batches per
 *    ApplyStream call and counts them acknowledged when the call returns OK (the writer makes
 *    the whole stream durable before it replies). --mode apply: one Apply call per batch.
 * 4. Prints progress once a second and, at the end, acknowledged ops/s: overall (acknowledged
 *    ops / time from the first send to the last acknowledgement) and the median over the
 *    complete one-second windows, plus the latency of the calls and the client's CPU time
 *    (the client shares the machine with the writer: say so when quoting figures).
 *
 * The admin token comes from --token or $BITDEX_ADMIN_TOKEN (sent as "authorization: Bearer").
 * Exit status: 0 ok, 1 a call failed (status and message printed), 2 usage or data error.
 */
#include <errno.h>
#include <getopt.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

#include "bench/dataset.h"
#include "bench/grpc_client.h"
#include "bench/load_batch.h"
#include "bench/loader.h"
#include "bench/stats.h"
#include "common/limits.h"
#include "common/schema_pb.h"

#include "bitdex/v1/writer.pb-c.h"

#define CALL_DEADLINE_MS (10 * 60 * 1000)

typedef struct options {
    const char *data;
    const char *target;
    const char *index;
    const char *token;
    unsigned batch;
    unsigned streams;
    unsigned stream_batches;
    uint64_t docs; /* 0 = all */
    bool apply_mode;
    bool if_empty;
    bool quiet;
    unsigned wait_s;
} options_t;

/* State shared by the sender threads. */
typedef struct shared {
    const options_t *opt;
    const dataset_t *ds;
    uint64_t rows;
    uint64_t n_batches;
    gclient_header_t headers[1];
    size_t n_headers;
    atomic_uint_fast64_t next_batch;
    atomic_uint_fast64_t acked_ops;
    atomic_bool stop;
    atomic_uint_fast64_t last_ack_ns;
} shared_t;

typedef struct sender {
    pthread_t thread;
    shared_t *sh;
    unsigned no;
    int rc;           /* 0, or 1 when a call failed */
    uint64_t *lat_ns; /* per call */
    size_t n_lat, cap_lat;
    uint64_t encode_ns;
    uint64_t bytes; /* request bytes sent */
    gclient_status_t status;
} sender_t;

static void usage(FILE *f)
{
    fprintf(f, "usage: bitdex-load --data DIR --target HOST:PORT [--index images] [--batch 1000]\n"
               "                   [--streams 1] [--docs N] [--mode stream|apply]\n"
               "                   [--stream-batches 10] [--token T] [--if-empty] [--wait-s 30]\n"
               "                   [--quiet]\n");
}

static int parse_uint(const char *s, uint64_t min, uint64_t max, uint64_t *out)
{
    char *end;
    errno = 0;
    unsigned long long v = strtoull(s, &end, 10);
    if (errno || end == s || *end || v < min || v > max)
        return -1;
    *out = v;
    return 0;
}

static int parse_options(int argc, char **argv, options_t *o)
{
    static const struct option longopts[] = {
        {"data", required_argument, 0, 'd'},    {"target", required_argument, 0, 't'},
        {"index", required_argument, 0, 'i'},   {"batch", required_argument, 0, 'b'},
        {"streams", required_argument, 0, 's'}, {"docs", required_argument, 0, 'n'},
        {"mode", required_argument, 0, 'm'},    {"stream-batches", required_argument, 0, 'k'},
        {"token", required_argument, 0, 'T'},   {"if-empty", no_argument, 0, 'e'},
        {"wait-s", required_argument, 0, 'w'},  {"quiet", no_argument, 0, 'q'},
        {"help", no_argument, 0, 'h'},          {0, 0, 0, 0}};
    *o = (options_t){.index = "images",
                     .batch = 1000,
                     .streams = 1,
                     .stream_batches = 10,
                     .wait_s = 30,
                     .token = getenv("BITDEX_ADMIN_TOKEN")};
    int c;
    uint64_t v;
    while ((c = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
        switch (c) {
        case 'd':
            o->data = optarg;
            break;
        case 't':
            o->target = optarg;
            break;
        case 'i':
            o->index = optarg;
            break;
        case 'T':
            o->token = optarg;
            break;
        case 'e':
            o->if_empty = true;
            break;
        case 'q':
            o->quiet = true;
            break;
        case 'b':
            if (parse_uint(optarg, 1, 10000, &v))
                goto bad;
            o->batch = (unsigned)v;
            break;
        case 's':
            if (parse_uint(optarg, 1, 256, &v))
                goto bad;
            o->streams = (unsigned)v;
            break;
        case 'k':
            if (parse_uint(optarg, 1, 1000000, &v))
                goto bad;
            o->stream_batches = (unsigned)v;
            break;
        case 'n':
            if (parse_uint(optarg, 1, UINT32_MAX, &v))
                goto bad;
            o->docs = v;
            break;
        case 'w':
            if (parse_uint(optarg, 0, 3600, &v))
                goto bad;
            o->wait_s = (unsigned)v;
            break;
        case 'm':
            if (strcmp(optarg, "stream") == 0)
                o->apply_mode = false;
            else if (strcmp(optarg, "apply") == 0)
                o->apply_mode = true;
            else
                goto bad;
            break;
        case 'h':
            usage(stdout);
            exit(0);
        default:
            usage(stderr);
            return -1;
        }
    }
    if (!o->data || !o->target || optind != argc) {
        usage(stderr);
        return -1;
    }
    return 0;
bad:
    fprintf(stderr, "bitdex-load: bad option value '%s'\n", optarg);
    usage(stderr);
    return -1;
}

/* ---- admin calls -------------------------------------------------------------------------- */

/* Packs msg into a malloc'd buffer (caller frees). */
static uint8_t *pack(const ProtobufCMessage *msg, size_t *len)
{
    *len = protobuf_c_message_get_packed_size(msg);
    uint8_t *buf = malloc(*len ? *len : 1);
    if (buf)
        protobuf_c_message_pack(msg, buf);
    return buf;
}

/* A unary call retried while the writer answers UNAVAILABLE (starting, standby), up to wait_s. */
static int call_retry(gclient_channel_t *ch, gclient_queue_t *q, const shared_t *sh,
                      const char *method, const ProtobufCMessage *req, gclient_buf_t *resp,
                      gclient_status_t *st)
{
    size_t len;
    uint8_t *buf = pack(req, &len);
    if (!buf)
        return -ENOMEM;
    uint64_t give_up = stats_now_ns() + (uint64_t)sh->opt->wait_s * 1000000000ull;
    int rc;
    for (;;) {
        rc = gclient_unary(ch, q, method, sh->headers, sh->n_headers, buf, len, 10000, resp, st);
        if (rc != 0 || st->code != GCLIENT_STATUS_UNAVAILABLE || stats_now_ns() >= give_up)
            break;
        nanosleep(&(struct timespec){0, 200 * 1000 * 1000}, NULL);
    }
    free(buf);
    return rc;
}

/* CreateIndex with the benchmark schema; then *docs = the index's document count. */
static int create_index(gclient_channel_t *ch, gclient_queue_t *q, const shared_t *sh,
                        uint64_t *docs)
{
    schema_t *schema = NULL;
    Bitdex__V1__IndexSchema *pb = NULL;
    bdx_error_t err = {0};
    gclient_buf_t resp = {0};
    gclient_status_t st;
    limits_t limits;
    int rc = loader_schema(&schema, &err);
    if (rc != 0) {
        fprintf(stderr, "bitdex-load: schema: %s\n", bdx_error_message(&err));
        return rc;
    }
    limits_defaults(&limits);
    if ((rc = schema_pb_from_schema(schema, &limits, &pb)) != 0)
        goto out;
    Bitdex__V1__CreateIndexRequest req = BITDEX__V1__CREATE_INDEX_REQUEST__INIT;
    req.index = (char *)sh->opt->index;
    req.schema = pb;
    rc = call_retry(ch, q, sh, "/bitdex.v1.Writer/CreateIndex", &req.base, &resp, &st);
    if (rc != 0)
        goto out;
    if (st.code != GCLIENT_STATUS_OK) {
        fprintf(stderr, "bitdex-load: CreateIndex %s on %s: %s: %s\n", sh->opt->index,
                sh->opt->target, gclient_status_name(st.code), st.details);
        rc = 1;
        goto out;
    }
    Bitdex__V1__GetIndexRequest greq = BITDEX__V1__GET_INDEX_REQUEST__INIT;
    greq.index = (char *)sh->opt->index;
    rc = call_retry(ch, q, sh, "/bitdex.v1.Writer/GetIndex", &greq.base, &resp, &st);
    if (rc != 0)
        goto out;
    if (st.code != GCLIENT_STATUS_OK) {
        fprintf(stderr, "bitdex-load: GetIndex %s: %s: %s\n", sh->opt->index,
                gclient_status_name(st.code), st.details);
        rc = 1;
        goto out;
    }
    Bitdex__V1__GetIndexResponse *g =
        bitdex__v1__get_index_response__unpack(NULL, resp.len, resp.data);
    if (g == NULL) {
        fprintf(stderr, "bitdex-load: GetIndex: undecodable response\n");
        rc = 1;
        goto out;
    }
    *docs = g->index ? g->index->document_count : 0;
    bitdex__v1__get_index_response__free_unpacked(g, NULL);
out:
    gclient_buf_free(&resp);
    schema_pb_free(pb);
    schema_free(schema);
    return rc;
}

/* ---- senders ------------------------------------------------------------------------------ */

static void record_latency(sender_t *s, uint64_t ns)
{
    if (s->n_lat == s->cap_lat) {
        size_t cap = s->cap_lat ? s->cap_lat * 2 : 1024;
        uint64_t *p = realloc(s->lat_ns, cap * sizeof(*p));
        if (!p)
            return; /* a missing sample only thins the latency summary */
        s->lat_ns = p;
        s->cap_lat = cap;
    }
    s->lat_ns[s->n_lat++] = ns;
}

static void acknowledge(shared_t *sh, uint64_t ops)
{
    atomic_fetch_add(&sh->acked_ops, ops);
    atomic_store(&sh->last_ack_ns, stats_now_ns());
}

/* Claims the next batch: rows [*first, *first + *n). False when none is left. */
static bool claim(shared_t *sh, uint64_t *first, size_t *n)
{
    if (atomic_load(&sh->stop))
        return false;
    uint64_t b = atomic_fetch_add(&sh->next_batch, 1);
    if (b >= sh->n_batches)
        return false;
    *first = b * sh->opt->batch;
    uint64_t end = *first + sh->opt->batch;
    *n = (size_t)((end > sh->rows ? sh->rows : end) - *first);
    return true;
}

static int fail(sender_t *s, const char *what, const gclient_status_t *st, int rc)
{
    if (rc != 0)
        fprintf(stderr, "bitdex-load: stream %u: %s: %s\n", s->no, what, bdx_strerror(rc));
    else
        fprintf(stderr, "bitdex-load: stream %u: %s: %s: %s\n", s->no, what,
                gclient_status_name(st->code), st->details);
    atomic_store(&s->sh->stop, true);
    s->rc = 1;
    return 1;
}

static int send_loop(sender_t *s, gclient_channel_t *ch, gclient_queue_t *q, load_batch_t *lb)
{
    shared_t *sh = s->sh;
    const options_t *o = sh->opt;
    gclient_buf_t resp = {0};
    uint64_t first;
    size_t n;
    int rc = 0;
    bool more = claim(sh, &first, &n);
    while (more && rc == 0) {
        const uint8_t *wire;
        size_t len;
        uint64_t t0 = stats_now_ns();
        if (o->apply_mode) {
            if ((rc = load_batch_encode(lb, sh->ds, o->index, first, n, &wire, &len)) != 0) {
                rc = fail(s, "encode", NULL, rc);
                break;
            }
            uint64_t t1 = stats_now_ns();
            s->encode_ns += t1 - t0;
            s->bytes += len;
            rc = gclient_unary(ch, q, "/bitdex.v1.Writer/Apply", sh->headers, sh->n_headers, wire,
                               len, CALL_DEADLINE_MS, &resp, &s->status);
            if (rc != 0 || s->status.code != GCLIENT_STATUS_OK) {
                rc = fail(s, "Apply", &s->status, rc);
                break;
            }
            record_latency(s, stats_now_ns() - t1);
            acknowledge(sh, n);
            more = claim(sh, &first, &n);
            continue;
        }
        gclient_stream_t *st = NULL;
        if ((rc = gclient_stream_start(ch, q, "/bitdex.v1.Writer/ApplyStream", sh->headers,
                                       sh->n_headers, CALL_DEADLINE_MS, &st)) != 0) {
            rc = fail(s, "ApplyStream start", NULL, rc);
            break;
        }
        uint64_t ops = 0;
        for (unsigned k = 0; more && k < o->stream_batches; k++) {
            uint64_t te = stats_now_ns();
            int erc = load_batch_encode(lb, sh->ds, o->index, first, n, &wire, &len);
            s->encode_ns += stats_now_ns() - te;
            if (erc != 0) {
                atomic_store(&sh->stop, true);
                break;
            }
            if (gclient_stream_send(st, wire, len) != 0)
                break; /* the call is over; finish() says why */
            s->bytes += len;
            ops += n;
            more = claim(sh, &first, &n);
        }
        rc = gclient_stream_finish(st, &resp, &s->status);
        if (rc != 0 || s->status.code != GCLIENT_STATUS_OK) {
            rc = fail(s, "ApplyStream", &s->status, rc);
            break;
        }
        Bitdex__V1__ApplyStreamResponse *r =
            bitdex__v1__apply_stream_response__unpack(NULL, resp.len, resp.data);
        if (r == NULL || r->op_count != ops) {
            fprintf(stderr,
                    "bitdex-load: stream %u: ApplyStream acknowledged %llu ops, sent %llu\n", s->no,
                    r ? (unsigned long long)r->op_count : 0ull, (unsigned long long)ops);
            if (r)
                bitdex__v1__apply_stream_response__free_unpacked(r, NULL);
            atomic_store(&sh->stop, true);
            rc = s->rc = 1;
            break;
        }
        bitdex__v1__apply_stream_response__free_unpacked(r, NULL);
        record_latency(s, stats_now_ns() - t0);
        acknowledge(sh, ops);
    }
    gclient_buf_free(&resp);
    return rc;
}

static void *sender_main(void *arg)
{
    sender_t *s = arg;
    gclient_channel_t *ch = NULL;
    gclient_queue_t *q = NULL;
    load_batch_t *lb = NULL;
    bdx_error_t err = {0};
    if (gclient_channel_open(s->sh->opt->target, true, &ch, &err) != 0 ||
        gclient_queue_open(&q) != 0 || load_batch_new(s->sh->opt->batch, &lb) != 0) {
        fprintf(stderr, "bitdex-load: stream %u: out of memory\n", s->no);
        atomic_store(&s->sh->stop, true);
        s->rc = 1;
    } else {
        send_loop(s, ch, q, lb);
    }
    load_batch_free(lb);
    gclient_queue_close(q);
    gclient_channel_close(ch);
    return NULL;
}

/* ---- main --------------------------------------------------------------------------------- */

static double cpu_seconds(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec * 1e-6 +
           (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec * 1e-6;
}

/* Samples the acknowledged counter once a second until the senders are done; fills windows
 * (ops acknowledged in each complete second) and prints progress. */
static void watch_progress(shared_t *sh, uint64_t t0, double **windows, size_t *n_windows)
{
    uint64_t prev = 0, next = t0 + 1000000000ull;
    size_t cap = 0;
    for (;;) {
        bool done = atomic_load(&sh->acked_ops) >= sh->rows || atomic_load(&sh->stop);
        if (done)
            break;
        uint64_t now = stats_now_ns();
        if (now < next) {
            uint64_t d = next - now;
            if (d > 50000000ull)
                d = 50000000ull; /* wake up often enough to notice the end */
            nanosleep(&(struct timespec){0, (long)d}, NULL);
            continue;
        }
        uint64_t acked = atomic_load(&sh->acked_ops);
        if (*n_windows == cap) {
            cap = cap ? cap * 2 : 64;
            double *w = realloc(*windows, cap * sizeof(*w));
            if (!w)
                break;
            *windows = w;
        }
        (*windows)[(*n_windows)++] = (double)(acked - prev);
        if (!sh->opt->quiet)
            fprintf(stderr, "  %3zus  acked %10llu / %llu ops  (%.0f ops/s in the last second)\n",
                    *n_windows, (unsigned long long)acked, (unsigned long long)sh->rows,
                    (double)(acked - prev));
        prev = acked;
        next += 1000000000ull;
    }
}

int main(int argc, char **argv)
{
    options_t o;
    if (parse_options(argc, argv, &o) != 0)
        return 2;
    dataset_t ds;
    bdx_error_t err = {0};
    int status = 1;
    fprintf(stderr, "bitdex-load: reading %s\n", o.data);
    if (dataset_load(o.data, &ds, &err) != 0) {
        fprintf(stderr, "bitdex-load: %s\n", bdx_error_message(&err));
        dataset_free(&ds);
        return 2;
    }
    uint64_t rows = o.docs && o.docs < ds.n ? o.docs : ds.n;
    fprintf(stderr, "bitdex-load: %llu documents, %llu tag rows (read in %.2f s)\n",
            (unsigned long long)rows, (unsigned long long)(ds.tag_off[rows]),
            ds.images_seconds + ds.tags_seconds);

    char auth[600];
    shared_t sh = {.opt = &o, .ds = &ds, .rows = rows};
    sh.n_batches = (rows + o.batch - 1) / o.batch;
    if (o.token && o.token[0]) {
        snprintf(auth, sizeof(auth), "Bearer %s", o.token);
        sh.headers[0] = (gclient_header_t){"authorization", auth};
        sh.n_headers = 1;
    }
    atomic_init(&sh.next_batch, 0);
    atomic_init(&sh.acked_ops, 0);
    atomic_init(&sh.stop, false);
    atomic_init(&sh.last_ack_ns, 0);

    gclient_init();
    gclient_channel_t *ch = NULL;
    gclient_queue_t *q = NULL;
    sender_t *senders = NULL;
    double *windows = NULL;
    size_t n_windows = 0;
    uint64_t existing = 0;
    if (gclient_channel_open(o.target, false, &ch, &err) != 0 || gclient_queue_open(&q) != 0) {
        fprintf(stderr, "bitdex-load: %s\n", bdx_error_message(&err));
        goto out;
    }
    if (create_index(ch, q, &sh, &existing) != 0)
        goto out;
    fprintf(stderr, "bitdex-load: index %s on %s holds %llu documents\n", o.index, o.target,
            (unsigned long long)existing);
    if (o.if_empty && existing > 0) {
        fprintf(stderr, "bitdex-load: --if-empty: not loading\n");
        status = 0;
        goto out;
    }

    senders = calloc(o.streams, sizeof(*senders));
    if (!senders)
        goto out;
    fprintf(stderr, "bitdex-load: %s, %u stream(s), batches of %u ops%s\n",
            o.apply_mode ? "Apply" : "ApplyStream", o.streams, o.batch,
            o.apply_mode ? "" : " (acknowledged per stream call)");
    double cpu0 = cpu_seconds();
    uint64_t t0 = stats_now_ns();
    unsigned started = 0;
    for (; started < o.streams; started++) {
        senders[started] = (sender_t){.sh = &sh, .no = started};
        if (pthread_create(&senders[started].thread, NULL, sender_main, &senders[started]) != 0) {
            atomic_store(&sh.stop, true);
            break;
        }
    }
    watch_progress(&sh, t0, &windows, &n_windows);
    int failed = started < o.streams;
    uint64_t encode_ns = 0, bytes = 0;
    size_t n_lat = 0;
    for (unsigned i = 0; i < started; i++) {
        pthread_join(senders[i].thread, NULL);
        failed |= senders[i].rc;
        encode_ns += senders[i].encode_ns;
        bytes += senders[i].bytes;
        n_lat += senders[i].n_lat;
    }
    uint64_t acked = atomic_load(&sh.acked_ops);
    uint64_t t1 = atomic_load(&sh.last_ack_ns);
    double secs = t1 > t0 ? (double)(t1 - t0) * 1e-9 : 0;
    double cpu = cpu_seconds() - cpu0;

    uint64_t *lat = malloc((n_lat ? n_lat : 1) * sizeof(*lat));
    stats_summary_t ls = {0};
    if (lat) {
        size_t k = 0;
        for (unsigned i = 0; i < started; i++) {
            memcpy(lat + k, senders[i].lat_ns, senders[i].n_lat * sizeof(*lat));
            k += senders[i].n_lat;
        }
        stats_summarize(lat, k, &ls);
        free(lat);
    }
    double median = n_windows ? stats_median(windows, n_windows) : 0;
    printf("bitdex-load: %s\n", failed ? "FAILED" : "done");
    printf("  acknowledged ops   %llu of %llu in %.2f s\n", (unsigned long long)acked,
           (unsigned long long)rows, secs);
    printf("  ops/s overall      %.0f\n", secs > 0 ? (double)acked / secs : 0.0);
    printf("  ops/s median       %.0f  (over %zu complete one-second windows)\n", median,
           n_windows);
    printf("  %s latency   p50 %.1f ms  p99 %.1f ms  max %.1f ms  (%zu calls)\n",
           o.apply_mode ? "Apply call" : "stream call", (double)ls.p50 * 1e-6,
           (double)ls.p99 * 1e-6, (double)ls.max * 1e-6, ls.n);
    printf("  sent               %.1f MB of requests (%.0f B per op)\n", (double)bytes / 1e6,
           acked ? (double)bytes / (double)acked : 0.0);
    printf("  client CPU         %.2f s (%.0f%% of one core; encoding %.2f s)\n", cpu,
           secs > 0 ? 100.0 * cpu / secs : 0.0, (double)encode_ns * 1e-9);
    printf("  settings           mode=%s streams=%u batch=%u stream-batches=%u docs=%llu "
           "target=%s\n",
           o.apply_mode ? "apply" : "stream", o.streams, o.batch, o.stream_batches,
           (unsigned long long)rows, o.target);
    status = failed ? 1 : 0;
    for (unsigned i = 0; i < started; i++)
        free(senders[i].lat_ns);
out:
    free(windows);
    free(senders);
    gclient_queue_close(q);
    gclient_channel_close(ch);
    gclient_shutdown();
    dataset_free(&ds);
    return status;
}

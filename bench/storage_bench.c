/*
 * storage_bench: bitdex-bench-storage, the durability benchmark (generations on disk).
 *
 *   bitdex-bench-storage --data DIR --out OUT [--writes 3] [--loads 3] [--change 0.01]
 *                        [--seed 1] [--json FILE] [--md FILE]
 *
 * 1. Build: parse DIR's CSVs and fill an index (bench/loader.h, as bitdex-bench-engine does),
 *    then do what the writer's checkpointer does for a full checkpoint: index_rebuild_perms()
 *    and generation_write(full). The first write goes into a real data directory that
 *    bitdex-reader serves, OUT/base:
 *        OUT/base/indexes/images/{schema, wal/ (empty WAL, log id wal_log_id("images"),
 *                                 first LSN 2), gen-1/ (checkpoint LSN 1), CURRENT -> gen-1}
 *    the other --writes - 1 into scratch index dirs (OUT/scratch/, removed afterwards); the
 *    report gives the median time and the bytes.
 * 2. Load: generation_open() of gen-1 without and with GENERATION_VERIFY, generation_load()
 *    (--loads times each, medians): the writer's checkpoint instance and each reader replica
 *    instance load this way (readers verify).
 * 3. Memory per document: index_memory() of the freshly built index, and of the index loaded
 *    from the generation (heap) next to generation_mapped_bytes() (the mapping).
 * 4. Checkpoint after changes: OUT/delta/indexes/images gets the same schema, gen-1 hard-linked
 *    from OUT/base, an empty WAL starting at LSN 3. Load gen-1, update --change of the
 *    documents (random existing ids: new reaction/comment/collected counts, 20 % a new sortAt,
 *    10 % a new nsfwLevel, 30 % one tag replaced, 10 % hasMeta flipped; index_merge), write a
 *    delta against gen-1 (median of --writes into scratch dirs, one of them the data dir's
 *    gen-2, published), update another --change (cumulative delta gen-3, scratch). Ratios to
 *    the full write. Also the load of base + delta, and heap after the changes.
 *
 * Times are wall clock on a shared machine: compare ratios from the same run. Every write
 * fsyncs (generation_write's protocol), so write times include the disk's flushes.
 * Exit status: 0 ok, 1 engine or I/O error, 2 usage or data error.
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/utsname.h>
#include <time.h>
#include <unistd.h>

#include "bench/dataset.h"
#include "bench/loader.h"
#include "bench/report.h"
#include "bench/rng.h"
#include "bench/stats.h"
#include "common/generation.h"
#include "common/index.h"
#include "common/limits.h"
#include "common/schema_file.h"
#include "common/wal.h"

#define INDEX_NAME "images"
#define MAX_REPS 20

/* Filter and sort field numbers of loader_schema(). */
enum {
    F_NSFW = 0,
    F_TAGS = 3,
    F_HAS_META = 7,
    F_COUNT = 12
};
enum {
    S_SORT_AT = 0,
    S_REACTION,
    S_COMMENT,
    S_COLLECTED,
    S_COUNT
};

typedef struct options {
    const char *data, *out, *json, *md;
    unsigned writes, loads;
    double change;
    uint64_t seed;
} options_t;

typedef struct write_fig {
    double ms[MAX_REPS];
    unsigned n;
    double med_ms;
    uint64_t bytes, files, items, slots;
} write_fig_t;

typedef struct load_fig {
    double open_ms, open_verify_ms, load_ms; /* medians */
    uint64_t mapped;
    index_memory_t mem; /* heap of one loaded instance */
} load_fig_t;

typedef struct report {
    const options_t *opt;
    char when[64], cpu[256], kernel[256], loadavg[2][64];
    long nproc;
    uint64_t docs;
    double csv_s, build_s, perms_s;
    loader_stats_t ls;
    index_memory_t fresh;
    write_fig_t full;
    load_fig_t base;  /* gen-1 */
    load_fig_t delta; /* gen-2 = gen-1 base + delta */
    uint64_t changed1, changed2;
    double change1_ms, change2_ms;
    index_memory_t after_change; /* heap of the loaded instance after both rounds of changes */
    write_fig_t d1, d2;
} report_t;

static double ms_since(uint64_t t0)
{
    return (double)(stats_now_ns() - t0) / 1e6;
}

static double median_of(const double *v, unsigned n)
{
    double tmp[MAX_REPS];
    memcpy(tmp, v, n * sizeof(double));
    return stats_median(tmp, n);
}

static int mkdirs(const char *path)
{
    char buf[4096];
    snprintf(buf, sizeof(buf), "%s", path);
    for (char *p = buf + 1; *p; p++) {
        if (*p != '/')
            continue;
        *p = '\0';
        if (mkdir(buf, 0755) != 0 && errno != EEXIST)
            return -errno;
        *p = '/';
    }
    if (mkdir(buf, 0755) != 0 && errno != EEXIST)
        return -errno;
    return 0;
}

/* rm -r of a directory tree of plain files and dirs (scratch only). */
static void remove_tree(const char *path)
{
    DIR *d = opendir(path);
    if (d) {
        struct dirent *e;
        while ((e = readdir(d)) != NULL) {
            if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
                continue;
            char sub[4096];
            snprintf(sub, sizeof(sub), "%s/%s", path, e->d_name);
            struct stat st;
            if (lstat(sub, &st) == 0 && S_ISDIR(st.st_mode))
                remove_tree(sub);
            else
                unlink(sub);
        }
        closedir(d);
    }
    rmdir(path);
}

static int fail(const char *what, const bdx_error_t *err)
{
    fprintf(stderr, "bitdex-bench-storage: %s: %s\n", what, bdx_error_message(err));
    return 1;
}

/* schema file + empty WAL (first LSN `start_lsn`) in index_dir, as the writer creates them. */
static int make_index_dir(const char *index_dir, uint64_t start_lsn, bdx_error_t *err)
{
    schema_t *schema = NULL;
    limits_t limits;
    wal_t *wal = NULL;
    wal_options_t wo;
    char path[4096];
    int rc;

    if ((rc = mkdirs(index_dir)) != 0)
        return bdx_error_set(err, rc, "%s: mkdir: %s", index_dir, strerror(-rc));
    if ((rc = loader_schema(&schema, err)) != 0)
        return rc;
    limits_defaults(&limits);
    rc = schema_file_write(index_dir, schema, &limits, err);
    schema_free(schema);
    if (rc != 0)
        return rc;
    wal_options_init(&wo);
    wo.create = true;
    wo.log_id = wal_log_id(INDEX_NAME);
    wo.start_lsn = start_lsn;
    snprintf(path, sizeof(path), "%s/wal", index_dir);
    if ((rc = wal_open(path, &wo, &wal, NULL, err)) != 0)
        return rc;
    wal_close(wal);
    return 0;
}

static int write_gen(const index_t *ix, uint64_t number, uint64_t lsn, const generation_t *base,
                     const char *index_dir, write_fig_t *f, bdx_error_t *err)
{
    generation_write_stats_t st;
    memset(&st, 0, sizeof(st));
    uint64_t t0 = stats_now_ns();
    int rc = generation_write(ix, number, lsn, base, index_dir, &st, err);
    double ms = ms_since(t0);
    if (rc != 0)
        return rc;
    if (f->n < MAX_REPS)
        f->ms[f->n++] = ms;
    f->bytes = st.bytes;
    f->files = st.files;
    f->items = st.items;
    f->slots = st.slots;
    return 0;
}

/* Medians of open (plain, verified) and load times of gen_dir; fills `lf`. */
static int measure_load(const char *gen_dir, unsigned reps, load_fig_t *lf, bdx_error_t *err)
{
    double open_ms[MAX_REPS], ver_ms[MAX_REPS], load_ms[MAX_REPS];
    int rc;
    for (unsigned i = 0; i < reps; i++) {
        generation_t *g = NULL;
        index_t *ix = NULL;
        uint64_t t0 = stats_now_ns();
        if ((rc = generation_open(gen_dir, 0, &g, err)) != 0)
            return rc;
        open_ms[i] = ms_since(t0);
        generation_close(g);
        t0 = stats_now_ns();
        if ((rc = generation_open(gen_dir, GENERATION_VERIFY, &g, err)) != 0)
            return rc;
        ver_ms[i] = ms_since(t0);
        t0 = stats_now_ns();
        if ((rc = generation_load(g, &ix, err)) != 0) {
            generation_close(g);
            return rc;
        }
        load_ms[i] = ms_since(t0);
        lf->mapped = generation_mapped_bytes(g);
        index_memory(ix, &lf->mem);
        index_free(ix);
        generation_close(g);
    }
    lf->open_ms = median_of(open_ms, reps);
    lf->open_verify_ms = median_of(ver_ms, reps);
    lf->load_ms = median_of(load_ms, reps);
    return 0;
}

/*
 * One round of realistic updates: `count` random existing documents (ids drawn from the data
 * set; repeats possible) get new counts (reactions mostly grow), some a new sortAt (republish),
 * nsfwLevel, one tag replaced, hasMeta flipped. Values come from other documents of the data
 * set, so distributions stay those of the data. Returns 0 or the first error.
 */
static int apply_changes(index_t *ix, const dataset_t *ds, rng_t *rng, uint64_t count,
                         bdx_error_t *err)
{
    index_doc_filter_t f[F_COUNT];
    index_doc_sort_t s[S_COUNT];
    int64_t tags[256], nsfw, meta;
    index_doc_t doc = {.filters = f, .sorts = s};
    for (uint64_t k = 0; k < count; k++) {
        uint64_t r = rng_below(rng, ds->n), o = rng_below(rng, ds->n);
        memset(f, 0, sizeof(f));
        memset(s, 0, sizeof(s));
        s[S_REACTION] = (index_doc_sort_t){true, ds->reaction_count[r] + 1 + rng_below(rng, 20)};
        s[S_COMMENT] = (index_doc_sort_t){true, ds->comment_count[r] + rng_below(rng, 2)};
        s[S_COLLECTED] = (index_doc_sort_t){true, ds->collected_count[r] + rng_below(rng, 3)};
        if (rng_below(rng, 100) < 20)
            s[S_SORT_AT] = (index_doc_sort_t){true, ds->sort_at[o]};
        if (rng_below(rng, 100) < 10) {
            nsfw = ds->nsfw_level[o];
            f[F_NSFW] =
                (index_doc_filter_t){.present = true, .values = {.ints = &nsfw, .count = 1}};
        }
        uint64_t nt = ds->tag_off[r + 1] - ds->tag_off[r];
        if (nt > 0 && nt < 256 && rng_below(rng, 100) < 30) {
            memcpy(tags, ds->tag_ids + ds->tag_off[r], nt * sizeof(int64_t));
            uint64_t ot = ds->tag_off[o + 1] - ds->tag_off[o];
            if (ot > 0)
                tags[rng_below(rng, nt)] = ds->tag_ids[ds->tag_off[o] + rng_below(rng, ot)];
            f[F_TAGS] =
                (index_doc_filter_t){.present = true, .values = {.ints = tags, .count = nt}};
        }
        if (rng_below(rng, 100) < 10) {
            meta = (ds->flags[r] & DATASET_HAS_META) == 0;
            f[F_HAS_META] =
                (index_doc_filter_t){.present = true, .values = {.ints = &meta, .count = 1}};
        }
        int rc = index_merge(ix, ds->id[r], &doc, err);
        if (rc != 0)
            return rc;
    }
    return 0;
}

/* Bytes the index owns: index_memory() counts frozen bitmaps at their serialized size, which
 * for an index loaded from a generation lies in the mapping (no arena of its own). */
static size_t owned(const index_memory_t *m)
{
    return m->total - (m->frozen_arena ? 0 : m->frozen_live);
}

static void json_mem(FILE *f, const char *name, const index_memory_t *m, uint64_t docs,
                     const char *tail)
{
    double d = (double)(docs ? docs : 1);
    fprintf(f,
            "    \"%s\": {\"total\": %zu, \"per_doc\": %.1f, \"bitmaps\": %zu, \"columns\": %zu, "
            "\"permutations\": %zu, \"dictionaries\": %zu, \"maps\": %zu, \"forward\": %zu, "
            "\"docstore\": %zu, \"frozen_arena\": %zu, \"frozen_live\": %zu, "
            "\"owned\": %zu, \"owned_per_doc\": %.1f}%s\n",
            name, m->total, (double)m->total / d, m->bitmaps, m->columns, m->permutations,
            m->dictionaries, m->maps, m->forward, m->docstore, m->frozen_arena, m->frozen_live,
            owned(m), (double)owned(m) / d, tail);
}

static void json_write(FILE *f, const char *name, const write_fig_t *w, const char *tail)
{
    fprintf(f, "    \"%s\": {\"reps\": %u, \"median_ms\": %.1f, \"ms\": [", name, w->n, w->med_ms);
    for (unsigned i = 0; i < w->n; i++)
        fprintf(f, "%s%.1f", i ? ", " : "", w->ms[i]);
    fprintf(f, "], \"bytes\": %llu, \"files\": %llu, \"items\": %llu, \"slots\": %llu}%s\n",
            (unsigned long long)w->bytes, (unsigned long long)w->files,
            (unsigned long long)w->items, (unsigned long long)w->slots, tail);
}

static void json_load(FILE *f, const char *name, const load_fig_t *l, uint64_t docs,
                      const char *tail)
{
    double d = (double)(docs ? docs : 1);
    fprintf(f,
            "    \"%s\": {\"open_ms\": %.1f, \"open_verify_ms\": %.1f, \"load_ms\": %.1f, "
            "\"mapped_bytes\": %llu, \"mapped_per_doc\": %.1f, \"owned_heap_bytes\": %zu, "
            "\"owned_heap_per_doc\": %.1f}%s\n",
            name, l->open_ms, l->open_verify_ms, l->load_ms, (unsigned long long)l->mapped,
            (double)l->mapped / d, owned(&l->mem), (double)owned(&l->mem) / d, tail);
}

static void write_json(const report_t *r, FILE *f)
{
    fprintf(
        f, "{\n  \"benchmark\": \"bitdex-bench-storage\",\n  \"format\": 1,\n  \"date\": \"%s\",\n",
        r->when);
    fprintf(f,
            "  \"machine\": {\"cpu\": \"%s\", \"nproc\": %ld, \"kernel\": \"%s\", "
            "\"loadavg_before\": \"%s\", \"loadavg_after\": \"%s\"},\n",
            r->cpu, r->nproc, r->kernel, r->loadavg[0], r->loadavg[1]);
    fprintf(f, "  \"data\": {\"dir\": \"%s\", \"docs\": %llu, \"out\": \"%s\"},\n", r->opt->data,
            (unsigned long long)r->docs, r->opt->out);
    fprintf(f,
            "  \"build\": {\"csv_s\": %.2f, \"put_s\": %.2f, \"perms_s\": %.2f, \"optimize_s\": "
            "%.2f, \"freeze_s\": %.2f, \"total_s\": %.2f, \"checkpoint_rebuild_perms_s\": %.2f},\n",
            r->csv_s, r->ls.put_seconds, r->ls.perms_seconds, r->ls.optimize_seconds,
            r->ls.freeze_seconds, r->build_s, r->perms_s);
    fprintf(f, "  \"writes\": {\n");
    json_write(f, "full", &r->full, ",");
    json_write(f, "delta1", &r->d1, ",");
    json_write(f, "delta2", &r->d2, ",");
    fprintf(f,
            "    \"change\": %.4f, \"changed1\": %llu, \"changed2\": %llu, \"apply1_ms\": %.1f, "
            "\"apply2_ms\": %.1f,\n",
            r->opt->change, (unsigned long long)r->changed1, (unsigned long long)r->changed2,
            r->change1_ms, r->change2_ms);
    fprintf(f,
            "    \"delta1_time_ratio\": %.4f, \"delta1_bytes_ratio\": %.4f, "
            "\"delta2_time_ratio\": %.4f, \"delta2_bytes_ratio\": %.4f\n  },\n",
            r->d1.med_ms / r->full.med_ms, (double)r->d1.bytes / (double)r->full.bytes,
            r->d2.med_ms / r->full.med_ms, (double)r->d2.bytes / (double)r->full.bytes);
    fprintf(f, "  \"load\": {\n");
    json_load(f, "gen1_base", &r->base, r->docs, ",");
    json_load(f, "gen2_base_delta", &r->delta, r->docs, "");
    fprintf(f, "  },\n  \"memory\": {\n");
    json_mem(f, "fresh", &r->fresh, r->docs, ",");
    json_mem(f, "loaded_gen1_heap", &r->base.mem, r->docs, ",");
    json_mem(f, "loaded_gen2_heap", &r->delta.mem, r->docs, ",");
    json_mem(f, "loaded_after_2x_change_heap", &r->after_change, r->docs, "");
    fprintf(f, "  }\n}\n");
}

static void write_md(const report_t *r, FILE *f)
{
    double d = (double)(r->docs ? r->docs : 1), mb = 1e6;
    fprintf(f, "# bitdex storage benchmark: %llu documents\n\n", (unsigned long long)r->docs);
    fprintf(f, "%s · %s · %ld cores · kernel %s · load average before/after: %.14s / %.14s\n\n",
            r->when, r->cpu, r->nproc, r->kernel, r->loadavg[0], r->loadavg[1]);
    fprintf(f,
            "| checkpoint | median ms (of %u) | MB written | vs full (time / bytes) |\n"
            "|---|---:|---:|---:|\n",
            r->full.n);
    fprintf(f, "| full base (gen-1) | %.0f | %.1f | 1 / 1 |\n", r->full.med_ms,
            (double)r->full.bytes / mb);
    fprintf(f, "| delta after %.0f %% changed (gen-2) | %.0f | %.2f | %.3f / %.3f |\n",
            r->opt->change * 100, r->d1.med_ms, (double)r->d1.bytes / mb,
            r->d1.med_ms / r->full.med_ms, (double)r->d1.bytes / (double)r->full.bytes);
    fprintf(f, "| cumulative delta after another %.0f %% (gen-3) | %.0f | %.2f | %.3f / %.3f |\n\n",
            r->opt->change * 100, r->d2.med_ms, (double)r->d2.bytes / mb,
            r->d2.med_ms / r->full.med_ms, (double)r->d2.bytes / (double)r->full.bytes);
    fprintf(f,
            "Full checkpoint also runs index_rebuild_perms (%.2f s here, not in the write time). "
            "Updates: %llu + %llu index_merge calls in %.0f + %.0f ms.\n\n",
            r->perms_s, (unsigned long long)r->changed1, (unsigned long long)r->changed2,
            r->change1_ms, r->change2_ms);
    fprintf(f,
            "| load (medians of %u) | open ms | open + verify ms | generation_load ms | "
            "mapped MB | owned heap B/doc |\n|---|---:|---:|---:|---:|---:|\n",
            r->opt->loads);
    fprintf(f, "| gen-1 (base) | %.1f | %.1f | %.1f | %.1f | %.1f |\n", r->base.open_ms,
            r->base.open_verify_ms, r->base.load_ms, (double)r->base.mapped / mb,
            (double)owned(&r->base.mem) / d);
    fprintf(f, "| gen-2 (base + delta) | %.1f | %.1f | %.1f | %.1f | %.1f |\n\n", r->delta.open_ms,
            r->delta.open_verify_ms, r->delta.load_ms, (double)r->delta.mapped / mb,
            (double)owned(&r->delta.mem) / d);
    fprintf(f, "| writer memory, B/doc | owned heap | index_memory total | frozen bitmaps "
               "(of total) | columns | permutations | maps | dictionaries | forward | mapped |\n"
               "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n");
    const struct {
        const char *name;
        const index_memory_t *m;
        uint64_t mapped;
    } rows[] = {{"freshly built (frozen)", &r->fresh, 0},
                {"loaded from gen-1", &r->base.mem, r->base.mapped},
                {"loaded from gen-2", &r->delta.mem, r->delta.mapped},
                {"gen-1 load + 2 × changes", &r->after_change, r->base.mapped}};
    for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
        const index_memory_t *m = rows[i].m;
        fprintf(f, "| %s | %.1f | %.1f | %.1f | %.1f | %.1f | %.1f | %.1f | %.1f | %.1f |\n",
                rows[i].name, (double)owned(m) / d, (double)m->total / d,
                (double)m->frozen_live / d, (double)m->columns / d, (double)m->permutations / d,
                (double)m->maps / d, (double)m->dictionaries / d, (double)m->forward / d,
                (double)rows[i].mapped / d);
    }
}

static void usage(FILE *f)
{
    fprintf(f,
            "usage: bitdex-bench-storage --data DIR --out OUT [--writes 3] [--loads 3]\n"
            "                            [--change 0.01] [--seed 1] [--json FILE] [--md FILE]\n");
}

int main(int argc, char **argv)
{
    options_t opt = {.writes = 3, .loads = 3, .change = 0.01, .seed = 1};
    static const struct option longopts[] = {
        {"data", required_argument, 0, 'd'},   {"out", required_argument, 0, 'o'},
        {"writes", required_argument, 0, 'w'}, {"loads", required_argument, 0, 'l'},
        {"change", required_argument, 0, 'c'}, {"seed", required_argument, 0, 's'},
        {"json", required_argument, 0, 'j'},   {"md", required_argument, 0, 'm'},
        {"help", no_argument, 0, 'h'},         {0, 0, 0, 0}};
    int ch;
    while ((ch = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
        switch (ch) {
        case 'd':
            opt.data = optarg;
            break;
        case 'o':
            opt.out = optarg;
            break;
        case 'w':
            opt.writes = (unsigned)strtoul(optarg, NULL, 10);
            break;
        case 'l':
            opt.loads = (unsigned)strtoul(optarg, NULL, 10);
            break;
        case 'c':
            opt.change = strtod(optarg, NULL);
            break;
        case 's':
            opt.seed = strtoull(optarg, NULL, 10);
            break;
        case 'j':
            opt.json = optarg;
            break;
        case 'm':
            opt.md = optarg;
            break;
        case 'h':
            usage(stdout);
            return 0;
        default:
            usage(stderr);
            return 2;
        }
    }
    if (!opt.data || !opt.out || opt.writes < 1 || opt.writes > MAX_REPS || opt.loads < 1 ||
        opt.loads > MAX_REPS || opt.change <= 0 || opt.change > 1) {
        usage(stderr);
        return 2;
    }

    report_t rep = {.opt = &opt};
    struct utsname u;
    snprintf(rep.kernel, sizeof(rep.kernel), "%s", uname(&u) == 0 ? u.release : "unknown");
    report_cpu_model(rep.cpu, sizeof(rep.cpu));
    rep.nproc = sysconf(_SC_NPROCESSORS_ONLN);
    time_t now = time(NULL);
    struct tm tm;
    gmtime_r(&now, &tm);
    strftime(rep.when, sizeof(rep.when), "%Y-%m-%dT%H:%M:%SZ", &tm);
    report_loadavg(rep.loadavg[0], sizeof(rep.loadavg[0]));

    bdx_error_t err = {0};
    dataset_t ds;
    index_t *ix = NULL;
    generation_t *g1 = NULL;
    int rc;
    char base_ix[2048], delta_ix[2048], scratch[2048], path[4096], path2[4096];
    if (strlen(opt.out) > 1900) {
        fprintf(stderr, "bitdex-bench-storage: --out path too long\n");
        return 2;
    }
    snprintf(base_ix, sizeof(base_ix), "%s/base/indexes/%s", opt.out, INDEX_NAME);
    snprintf(delta_ix, sizeof(delta_ix), "%s/delta/indexes/%s", opt.out, INDEX_NAME);
    snprintf(scratch, sizeof(scratch), "%s/scratch", opt.out);
    snprintf(path, sizeof(path), "%s/base", opt.out);
    remove_tree(path);
    snprintf(path, sizeof(path), "%s/delta", opt.out);
    remove_tree(path);
    remove_tree(scratch);

    /* 1. build, full checkpoint */
    uint64_t t0 = stats_now_ns();
    if ((rc = dataset_load(opt.data, &ds, &err)) != 0) {
        fail("data", &err);
        return 2;
    }
    rep.csv_s = ms_since(t0) / 1e3;
    rep.docs = ds.n;
    t0 = stats_now_ns();
    if ((rc = loader_build(&ds, &ix, &rep.ls, &err)) != 0)
        return fail("index", &err);
    rep.build_s = ms_since(t0) / 1e3;
    t0 = stats_now_ns();
    if ((rc = index_rebuild_perms(ix)) != 0) /* what the checkpointer does before a full write */
        return fail("rebuild perms", &(bdx_error_t){0});
    rep.perms_s = ms_since(t0) / 1e3;
    index_memory(ix, &rep.fresh);
    fprintf(stderr, "built %llu docs: csv %.1f s, index %.1f s; heap %.1f B/doc\n",
            (unsigned long long)ds.n, rep.csv_s, rep.build_s,
            (double)rep.fresh.total / (double)ds.n);

    if ((rc = make_index_dir(base_ix, 2, &err)) != 0)
        return fail(base_ix, &err);
    if ((rc = write_gen(ix, 1, 1, NULL, base_ix, &rep.full, &err)) != 0)
        return fail("full write", &err);
    if ((rc = generation_publish(base_ix, 1, &err)) != 0)
        return fail("publish", &err);
    for (unsigned i = 1; i < opt.writes; i++) {
        snprintf(path, sizeof(path), "%s/full-%u", scratch, i);
        if ((rc = mkdirs(path)) != 0)
            return fail(path, &(bdx_error_t){0});
        if ((rc = write_gen(ix, 1, 1, NULL, path, &rep.full, &err)) != 0)
            return fail("full write", &err);
        remove_tree(path);
    }
    rep.full.med_ms = median_of(rep.full.ms, rep.full.n);
    fprintf(stderr, "full write: %.0f ms median, %.1f MB\n", rep.full.med_ms,
            (double)rep.full.bytes / 1e6);
    index_free(ix); /* the writer keeps only the loaded instance from here on */
    ix = NULL;

    /* 2. load figures of gen-1 */
    snprintf(path, sizeof(path), "%s/gen-1", base_ix);
    if ((rc = measure_load(path, opt.loads, &rep.base, &err)) != 0)
        return fail("load gen-1", &err);
    fprintf(stderr, "gen-1: open %.1f ms, verified open %.1f ms, load %.1f ms, mapped %.1f MB\n",
            rep.base.open_ms, rep.base.open_verify_ms, rep.base.load_ms,
            (double)rep.base.mapped / 1e6);

    /* 3. delta data dir: gen-1 hard-linked, then changes and deltas */
    if ((rc = make_index_dir(delta_ix, 3, &err)) != 0)
        return fail(delta_ix, &err);
    snprintf(path, sizeof(path), "%s/gen-1", delta_ix);
    if ((rc = mkdirs(path)) != 0)
        return fail(path, &(bdx_error_t){0});
    static const char *const gen_files[] = {"manifest", "base"};
    for (int i = 0; i < 2; i++) {
        snprintf(path, sizeof(path), "%s/gen-1/%s", base_ix, gen_files[i]);
        snprintf(path2, sizeof(path2), "%s/gen-1/%s", delta_ix, gen_files[i]);
        if (link(path, path2) != 0) {
            fprintf(stderr, "bitdex-bench-storage: link %s: %s\n", path2, strerror(errno));
            return 1;
        }
    }
    snprintf(path, sizeof(path), "%s/gen-1", delta_ix);
    if ((rc = generation_open(path, 0, &g1, &err)) != 0 || (rc = generation_load(g1, &ix, &err)))
        return fail("open gen-1", &err);

    rng_t rng;
    rng_seed(&rng, opt.seed, 7);
    uint64_t count = (uint64_t)(opt.change * (double)ds.n + 0.5);
    t0 = stats_now_ns();
    if ((rc = apply_changes(ix, &ds, &rng, count, &err)) != 0)
        return fail("changes", &err);
    rep.change1_ms = ms_since(t0);
    rep.changed1 = count;
    if ((rc = write_gen(ix, 2, 2, g1, delta_ix, &rep.d1, &err)) != 0)
        return fail("delta write", &err);
    if ((rc = generation_publish(delta_ix, 2, &err)) != 0)
        return fail("publish", &err);
    for (unsigned i = 1; i < opt.writes; i++) {
        snprintf(path, sizeof(path), "%s/delta1-%u", scratch, i);
        if ((rc = mkdirs(path)) != 0)
            return fail(path, &(bdx_error_t){0});
        if ((rc = write_gen(ix, 2, 2, g1, path, &rep.d1, &err)) != 0)
            return fail("delta write", &err);
        remove_tree(path);
    }
    rep.d1.med_ms = median_of(rep.d1.ms, rep.d1.n);
    fprintf(stderr, "delta 1: %.0f ms median, %.2f MB (changes applied in %.0f ms)\n",
            rep.d1.med_ms, (double)rep.d1.bytes / 1e6, rep.change1_ms);

    t0 = stats_now_ns();
    if ((rc = apply_changes(ix, &ds, &rng, count, &err)) != 0)
        return fail("changes", &err);
    rep.change2_ms = ms_since(t0);
    rep.changed2 = count;
    for (unsigned i = 0; i < opt.writes; i++) {
        snprintf(path, sizeof(path), "%s/delta2-%u", scratch, i);
        if ((rc = mkdirs(path)) != 0)
            return fail(path, &(bdx_error_t){0});
        if ((rc = write_gen(ix, 3, 3, g1, path, &rep.d2, &err)) != 0)
            return fail("delta write", &err);
        remove_tree(path);
    }
    rep.d2.med_ms = median_of(rep.d2.ms, rep.d2.n);
    fprintf(stderr, "delta 2 (cumulative): %.0f ms median, %.2f MB\n", rep.d2.med_ms,
            (double)rep.d2.bytes / 1e6);
    index_memory(ix, &rep.after_change);
    index_free(ix);
    ix = NULL;
    generation_close(g1);
    remove_tree(scratch);

    snprintf(path, sizeof(path), "%s/gen-2", delta_ix);
    if ((rc = measure_load(path, opt.loads, &rep.delta, &err)) != 0)
        return fail("load gen-2", &err);
    fprintf(stderr, "gen-2: open %.1f ms, verified open %.1f ms, load %.1f ms, mapped %.1f MB\n",
            rep.delta.open_ms, rep.delta.open_verify_ms, rep.delta.load_ms,
            (double)rep.delta.mapped / 1e6);
    dataset_free(&ds);
    report_loadavg(rep.loadavg[1], sizeof(rep.loadavg[1]));

    if (opt.json) {
        FILE *f = fopen(opt.json, "w");
        if (!f)
            return 1;
        write_json(&rep, f);
        fclose(f);
    }
    write_md(&rep, stdout);
    if (opt.md) {
        FILE *f = fopen(opt.md, "w");
        if (!f)
            return 1;
        write_md(&rep, f);
        fclose(f);
    }
    return 0;
}

/*
 * datagen: bitdex-datagen, the deterministic Civitai-like data generator of the benchmark.
 *
 *   bitdex-datagen --docs N --seed S --out DIR [--tags-per-doc 12] [--now UNIX_SECONDS]
 *                  [--queries 100]
 *
 * Writes DIR/images.csv, DIR/tags.csv, DIR/postgres.sql, DIR/params/<shape>.txt and
 * DIR/datagen.json. The same arguments give byte-identical files: every random number comes from
 * bench/rng.h in a fixed order, on three independent streams (documents, tags, parameters), and
 * nothing depends on the clock, the locale or the output path except the absolute paths written
 * into postgres.sql. The distributions follow /docs BENCHMARK (bench/README.md lists every
 * constant and every file format).
 *
 * The generator keeps a few columns in memory (sortAt, nsfwLevel, and per document a bit per Q1
 * hidden-tag set) because the deep-cursor shape Q4 needs the (sortAt, id) of the row at depth D
 * of a Q1 result, which only a full evaluation of Q1 can give.
 */
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "bench/alias.h"
#include "bench/outbuf.h"
#include "bench/rng.h"
#include "common/error.h"

#define DEFAULT_NOW 1767225600ULL /* 2026-01-01T00:00:00Z: fixed so output never depends on clock */
#define SPAN_SECONDS (3ULL * 365 * 86400) /* the feed's history before --now */
#define FULL_TAGS 31284u                  /* distinct tags, measured at 105M docs */
#define FULL_USERS_PER_DOC (550000.0 / 105e6)
#define MAX_TAGS_PER_DOC 256
#define REACTION_CAP (1u << 20)
#define HIDDEN_PER_SET 20
#define SHAPE_HALF_PAGE 25 /* half of the page size 50 */
#define Q4_DEPTHS 3

enum {
    STREAM_SETUP = 0,
    STREAM_DOCS = 1,
    STREAM_TAGS = 2,
    STREAM_PARAMS = 3,
    STREAM_HIDDEN = 4
};

/* ~30 base models, most popular first (Zipf s = 1.2 over this order). No commas or tabs. */
static const char *const base_models[] = {
    "SDXL 1.0",       "Pony",      "SD 1.5",        "Illustrious", "Flux.1 D",      "NoobAI",
    "SDXL Lightning", "Flux.1 S",  "SD 3.5 Large",  "SDXL Turbo",  "Other",         "SD 1.5 LCM",
    "SDXL Hyper",     "SD 2.1",    "Hunyuan Video", "Wan Video",   "SD 3",          "Kolors",
    "Stable Cascade", "PixArt a",  "AuraFlow",      "Lumina",      "HiDream",       "LTXV",
    "SD 1.4",         "CogVideoX", "Mochi",         "SVD",         "Playground v2", "SD 3.5 Medium",
};
#define N_MODELS (sizeof(base_models) / sizeof(base_models[0]))
#define MODEL_ZIPF_S 1.2

/* Base models whose mature images the Q9 safety filter hides (indices into base_models). */
static const unsigned q9_restricted_models[] = {1, 3, 5};

static const unsigned nsfw_values[] = {0, 1, 2, 4, 8, 16, 32};
static const double nsfw_weights[] = {1.0, 86.0, 5.0, 4.0, 2.5, 1.0, 0.5};
#define N_NSFW 7

static const char *const blocked_reasons[] = {"tos", "moderated", "ai_not_verified", "user_report"};
static const unsigned dims[][2] = {{512, 768},   {768, 512},   {832, 1216}, {1216, 832},
                                   {1024, 1024}, {896, 1152},  {1152, 896}, {768, 1152},
                                   {1024, 1536}, {1536, 1024}, {720, 1280}, {1080, 1920}};
#define N_DIMS (sizeof(dims) / sizeof(dims[0]))

typedef struct options {
    uint64_t docs;
    uint64_t seed;
    unsigned tags_per_doc;
    uint64_t now;
    unsigned queries;
    const char *out;
} options_t;

/* Everything the generator knows after writing the CSVs, for parameters and the summary. */
typedef struct corpus {
    uint64_t n; /* documents */
    uint32_t max_id;
    uint64_t posts;
    uint64_t tag_rows;
    uint32_t n_tags;       /* distinct tag ranks T */
    uint32_t n_users;      /* distinct user ranks U */
    uint32_t *tag_id;      /* tag rank -> tagId */
    uint32_t *user_id;     /* user rank -> userId */
    uint32_t *tag_docs;    /* tag rank -> documents carrying it */
    uint32_t *user_docs;   /* user rank -> documents */
    uint32_t *id;          /* doc index -> id (increasing) */
    uint32_t *sort_at;     /* doc index -> sortAt */
    uint8_t *nsfw;         /* doc index -> nsfwLevel */
    unsigned mask_words;   /* 64-bit words per document in hidden */
    uint64_t *hidden;      /* doc index -> bit j set when the doc has a tag of hidden set j */
    uint64_t *tag_hidden;  /* tag rank -> bit j set when the tag is in hidden set j */
    uint32_t *hidden_sets; /* queries x HIDDEN_PER_SET tag ranks */
    unsigned n_sets;
} corpus_t;

static void corpus_free(corpus_t *c)
{
    free(c->tag_id);
    free(c->user_id);
    free(c->tag_docs);
    free(c->user_docs);
    free(c->id);
    free(c->sort_at);
    free(c->nsfw);
    free(c->hidden);
    free(c->tag_hidden);
    free(c->hidden_sets);
}

static double now_seconds(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* Fills out[0..n) with a random permutation of distinct ids drawn from [1, 3n]. */
static int sparse_ids(rng_t *r, uint32_t *out, uint32_t n)
{
    uint64_t space = 3ULL * n;
    uint32_t *all = malloc(space * sizeof(uint32_t));
    if (!all)
        return -ENOMEM;
    for (uint64_t i = 0; i < space; i++)
        all[i] = (uint32_t)(i + 1);
    for (uint32_t i = 0; i < n; i++) { /* partial Fisher-Yates */
        uint64_t j = i + rng_below(r, space - i);
        uint32_t t = all[i];
        all[i] = all[j];
        all[j] = t;
        out[i] = all[i];
    }
    free(all);
    return 0;
}

/* A rank (0-based) drawn log-uniformly from [lo, hi] (1-based, clamped to [1, n]). */
static uint32_t log_uniform_rank(rng_t *r, uint32_t lo, uint32_t hi, uint32_t n)
{
    if (lo < 1)
        lo = 1;
    if (hi > n)
        hi = n;
    if (lo > hi)
        lo = hi;
    double a = log((double)lo), b = log((double)hi + 1.0);
    uint32_t v = (uint32_t)exp(a + rng_unit(r) * (b - a));
    if (v < lo)
        v = lo;
    if (v > hi)
        v = hi;
    return v - 1;
}

/* Heavy tail: floor(Y) - 1 with P(Y > y) = y^-alpha, Y >= 1, capped. P(x) ~ (x+1)^-(alpha+1). */
static uint32_t heavy_tail(rng_t *r, double alpha, uint32_t cap)
{
    double y = pow(1.0 - rng_unit(r), -1.0 / alpha);
    if (y >= (double)cap + 1.0)
        return cap;
    return (uint32_t)y - 1;
}

static void put_uuid(outbuf_t *o, rng_t *r)
{
    static const char hex[] = "0123456789abcdef";
    uint64_t a = rng_next(r), b = rng_next(r);
    char s[36];
    int k = 0;
    for (int i = 0; i < 32; i++) {
        if (i == 8 || i == 12 || i == 16 || i == 20)
            s[k++] = '-';
        uint64_t w = i < 16 ? a : b;
        s[k++] = hex[(w >> ((i & 15) * 4)) & 15];
    }
    outbuf_mem(o, s, sizeof(s));
}

static int cmp_u32(const void *a, const void *b)
{
    uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
    return (x > y) - (x < y);
}

/* Draws the Q1 hidden-tag sets before the documents, so tagging can mark each doc's sets. */
static int make_hidden_sets(corpus_t *c, rng_t *pr, unsigned n_sets, unsigned tags_per_doc)
{
    uint32_t T = c->n_tags;
    c->n_sets = n_sets;
    c->mask_words = (n_sets + 63) / 64;
    c->hidden_sets = malloc((size_t)n_sets * HIDDEN_PER_SET * sizeof(uint32_t));
    c->tag_hidden = calloc((size_t)T * c->mask_words, sizeof(uint64_t));
    if (!c->hidden_sets || !c->tag_hidden)
        return -ENOMEM;
    /* Hidden tags are popular but not dominant: the most frequent may be on ~4 % of documents
     * (a rank-r tag is on about tags_per_doc / (r * H_T) of them), the range spans 20x or more,
     * so Q1 keeps most documents at every size and tag density. */
    double h = 0;
    for (uint32_t r = 1; r <= T; r++)
        h += 1.0 / r;
    uint32_t lo = (uint32_t)ceil((double)tags_per_doc / (0.04 * h));
    if (lo < 30)
        lo = 30;
    uint32_t hi = T / 15 + 40;
    if (hi < 20 * lo)
        hi = 20 * lo < T ? 20 * lo : T;
    for (unsigned j = 0; j < n_sets; j++) {
        uint32_t *set = c->hidden_sets + (size_t)j * HIDDEN_PER_SET;
        for (unsigned k = 0; k < HIDDEN_PER_SET; k++) {
            uint32_t rank;
            int dup;
            do {
                rank = log_uniform_rank(pr, lo, hi, T);
                dup = 0;
                for (unsigned m = 0; m < k; m++)
                    dup |= set[m] == rank;
            } while (dup);
            set[k] = rank;
            c->tag_hidden[(size_t)rank * c->mask_words + j / 64] |= 1ULL << (j % 64);
        }
    }
    return 0;
}

static void put_bool(outbuf_t *o, int v)
{
    if (v)
        outbuf_mem(o, "true,", 5);
    else
        outbuf_mem(o, "false,", 6);
}

/*
 * Generates every document in id order, writing images.csv and tags.csv as it goes and keeping
 * the columns the parameters need. Posts hold 3-8 consecutive images of one user and model.
 */
static int generate_docs(const options_t *opt, corpus_t *c, const char *dir)
{
    int rc = 0;
    char path[PATH_MAX];
    outbuf_t img = {.fd = -1}, tags = {.fd = -1};
    alias_t a_tags = {0}, a_users = {0}, a_models = {0}, a_nsfw = {0};
    rng_t rd, rt;
    rng_seed(&rd, opt->seed, STREAM_DOCS);
    rng_seed(&rt, opt->seed, STREAM_TAGS);

    uint64_t n = opt->docs;
    if ((rc = alias_init_zipf(&a_tags, c->n_tags, 1.0)) != 0 ||
        (rc = alias_init_zipf(&a_users, c->n_users, 1.1)) != 0 ||
        (rc = alias_init_zipf(&a_models, N_MODELS, MODEL_ZIPF_S)) != 0 ||
        (rc = alias_init(&a_nsfw, nsfw_weights, N_NSFW)) != 0)
        goto out;

    c->n = n;
    c->id = malloc(n * sizeof(uint32_t));
    c->sort_at = malloc(n * sizeof(uint32_t));
    c->nsfw = malloc(n);
    c->hidden = calloc(n * c->mask_words, sizeof(uint64_t));
    c->tag_docs = calloc(c->n_tags, sizeof(uint32_t));
    c->user_docs = calloc(c->n_users, sizeof(uint32_t));
    if (!c->id || !c->sort_at || !c->nsfw || !c->hidden || !c->tag_docs || !c->user_docs) {
        rc = -ENOMEM;
        goto out;
    }

    snprintf(path, sizeof(path), "%s/images.csv", dir);
    if ((rc = outbuf_open(&img, path)) != 0)
        goto out;
    snprintf(path, sizeof(path), "%s/tags.csv", dir);
    if ((rc = outbuf_open(&tags, path)) != 0)
        goto out;
    outbuf_str(&img, "id,sortAt,reactionCount,commentCount,collectedCount,nsfwLevel,userId,"
                     "postId,baseModel,type,availability,hasMeta,onSite,poi,minor,blockedFor,url,"
                     "width,height\n");
    outbuf_str(&tags, "imageId,tagId\n");

    const double id_scale = 1.0 / (1.031 * (double)n);
    const uint64_t start = opt->now - SPAN_SECONDS;
    unsigned k_lo = opt->tags_per_doc / 2, k_hi = 2 * opt->tags_per_doc - k_lo;
    if (k_hi > c->n_tags / 2)
        k_hi = c->n_tags / 2;
    if (k_lo > k_hi)
        k_lo = k_hi;

    uint32_t next_id = 1;
    uint64_t i = 0;
    uint32_t post_id = 0;
    while (i < n) {
        post_id++;
        unsigned post_len = 3 + (unsigned)rng_below(&rd, 6);
        uint32_t user_rank = alias_sample(&a_users, &rd);
        uint32_t user = c->user_id[user_rank];
        unsigned model = alias_sample(&a_models, &rd);
        int64_t post_jitter = (int64_t)rng_below(&rd, 3601) - 1800;
        int post_meta = rng_chance(&rd, 0.7);
        for (unsigned p = 0; p < post_len && i < n; p++, i++) {
            while (rng_chance(&rd, 0.03)) /* ~3 % of ids never made it (deleted, failed) */
                next_id++;
            uint32_t id = next_id++;
            double f = (double)id * id_scale;
            if (f > 1.0)
                f = 1.0;
            /* Uploads accelerate: documents up to time t grow like t^2. */
            int64_t created = (int64_t)start + (int64_t)(sqrt(f) * (double)SPAN_SECONDS) +
                              post_jitter + (int64_t)(p * rng_below(&rd, 31));
            if (created > (int64_t)opt->now) /* no pile-up of ties at exactly --now */
                created = (int64_t)opt->now - (int64_t)rng_below(&rd, 3600);
            if (created < (int64_t)start)
                created = (int64_t)start + (int64_t)rng_below(&rd, 3600);
            int64_t sort_at = created;
            if (rng_chance(&rd, 0.05)) { /* republished later: sortAt = greatest(created, pub) */
                sort_at = created + (int64_t)(-log(1.0 - rng_unit(&rd)) * 20.0 * 86400.0);
                if (sort_at > (int64_t)opt->now)
                    sort_at = created + (int64_t)rng_below(&rd, opt->now - (uint64_t)created + 1);
            }
            uint32_t reactions = heavy_tail(&rd, 1.2, REACTION_CAP);
            uint32_t comments = rng_chance(&rd, 0.12) ? 1 + heavy_tail(&rd, 1.5, 65534) : 0;
            uint32_t collected = rng_chance(&rd, 0.25) ? 1 + heavy_tail(&rd, 1.3, 262143) : 0;
            unsigned nsfw = nsfw_values[alias_sample(&a_nsfw, &rd)];
            double u = rng_unit(&rd);
            const char *type = u < 0.001 ? "audio" : u < 0.030 ? "video" : "image";
            u = rng_unit(&rd);
            const char *avail = u < 0.97    ? "Public"
                                : u < 0.985 ? "Unsearchable"
                                : u < 0.995 ? "Private"
                                            : "EarlyAccess";
            int has_meta = rng_chance(&rd, 0.9) ? post_meta : !post_meta;
            int on_site = rng_chance(&rd, 0.12);
            int poi = rng_chance(&rd, 0.015);
            int minor = rng_chance(&rd, 0.008);
            const char *blocked = rng_chance(&rd, 0.005) ? blocked_reasons[rng_below(&rd, 4)] : "";
            const unsigned *wh = dims[rng_below(&rd, N_DIMS)];

            c->id[i] = id;
            c->sort_at[i] = (uint32_t)sort_at;
            c->nsfw[i] = (uint8_t)nsfw;
            c->user_docs[user_rank]++;

            outbuf_reserve(&img, 512);
            outbuf_u64(&img, id);
            outbuf_char(&img, ',');
            outbuf_u64(&img, (uint64_t)sort_at);
            outbuf_char(&img, ',');
            outbuf_u64(&img, reactions);
            outbuf_char(&img, ',');
            outbuf_u64(&img, comments);
            outbuf_char(&img, ',');
            outbuf_u64(&img, collected);
            outbuf_char(&img, ',');
            outbuf_u64(&img, nsfw);
            outbuf_char(&img, ',');
            outbuf_u64(&img, user);
            outbuf_char(&img, ',');
            outbuf_u64(&img, post_id);
            outbuf_char(&img, ',');
            outbuf_str(&img, base_models[model]);
            outbuf_char(&img, ',');
            outbuf_str(&img, type);
            outbuf_char(&img, ',');
            outbuf_str(&img, avail);
            outbuf_char(&img, ',');
            put_bool(&img, has_meta);
            put_bool(&img, on_site);
            put_bool(&img, poi);
            put_bool(&img, minor);
            outbuf_str(&img, blocked);
            outbuf_char(&img, ',');
            put_uuid(&img, &rd);
            outbuf_char(&img, ',');
            outbuf_u64(&img, wh[0]);
            outbuf_char(&img, ',');
            outbuf_u64(&img, wh[1]);
            outbuf_char(&img, '\n');

            /* Tags: k distinct ranks, Zipf s = 1 over rank, written sorted by tagId. */
            uint32_t ranks[MAX_TAGS_PER_DOC], ids[MAX_TAGS_PER_DOC];
            unsigned k = k_lo + (unsigned)rng_below(&rt, k_hi - k_lo + 1);
            if (k > MAX_TAGS_PER_DOC)
                k = MAX_TAGS_PER_DOC;
            uint64_t *mask = c->hidden + i * c->mask_words;
            for (unsigned t = 0; t < k; t++) {
                uint32_t rank;
                int dup;
                do {
                    rank = alias_sample(&a_tags, &rt);
                    dup = 0;
                    for (unsigned m = 0; m < t; m++)
                        dup |= ranks[m] == rank;
                } while (dup);
                ranks[t] = rank;
                c->tag_docs[rank]++;
                for (unsigned w = 0; w < c->mask_words; w++)
                    mask[w] |= c->tag_hidden[(size_t)rank * c->mask_words + w];
                /* insertion sort by tagId */
                uint32_t tid = c->tag_id[rank];
                unsigned m = t;
                while (m > 0 && ids[m - 1] > tid) {
                    ids[m] = ids[m - 1];
                    m--;
                }
                ids[m] = tid;
            }
            outbuf_reserve(&tags, (size_t)k * 24);
            for (unsigned t = 0; t < k; t++) {
                outbuf_u64(&tags, id);
                outbuf_char(&tags, ',');
                outbuf_u64(&tags, ids[t]);
                outbuf_char(&tags, '\n');
            }
            c->tag_rows += k;
        }
    }
    c->posts = post_id;
    c->max_id = next_id - 1;
out : {
    int rc1 = img.fd >= 0 ? outbuf_close(&img) : 0;
    int rc2 = tags.fd >= 0 ? outbuf_close(&tags) : 0;
    if (rc == 0)
        rc = rc1 ? rc1 : rc2;
}
    alias_free(&a_tags);
    alias_free(&a_users);
    alias_free(&a_models);
    alias_free(&a_nsfw);
    return rc;
}

/* LSD radix sort of 64-bit keys, 16 bits per pass; passes whose digit never varies are skipped. */
static int radix_sort_u64(uint64_t *keys, size_t n)
{
    uint64_t *tmp = malloc(n * sizeof(uint64_t));
    size_t *count = malloc(65536 * sizeof(size_t));
    if (!tmp || !count) {
        free(tmp);
        free(count);
        return -ENOMEM;
    }
    uint64_t *src = keys, *dst = tmp;
    for (int shift = 0; shift < 64; shift += 16) {
        memset(count, 0, 65536 * sizeof(size_t));
        for (size_t i = 0; i < n; i++)
            count[(src[i] >> shift) & 0xffff]++;
        if (n > 0 && count[(src[0] >> shift) & 0xffff] == n)
            continue;
        size_t sum = 0;
        for (size_t d = 0; d < 65536; d++) {
            size_t c = count[d];
            count[d] = sum;
            sum += c;
        }
        for (size_t i = 0; i < n; i++)
            dst[count[(src[i] >> shift) & 0xffff]++] = src[i];
        uint64_t *t = src;
        src = dst;
        dst = t;
    }
    if (src != keys)
        memcpy(keys, src, n * sizeof(uint64_t));
    free(tmp);
    free(count);
    return 0;
}

static void put_rank_list(outbuf_t *o, const corpus_t *c, const uint32_t *ranks, unsigned k)
{
    uint32_t ids[64];
    for (unsigned i = 0; i < k; i++)
        ids[i] = c->tag_id[ranks[i]];
    qsort(ids, k, sizeof(uint32_t), cmp_u32);
    for (unsigned i = 0; i < k; i++) {
        if (i)
            outbuf_char(o, ',');
        outbuf_u64(o, ids[i]);
    }
}

/* Draws k distinct ranks log-uniformly from [lo, hi] that each carry at least one document. */
static void draw_ranks(const corpus_t *c, rng_t *pr, uint32_t lo, uint32_t hi, uint32_t *out,
                       unsigned k)
{
    for (unsigned t = 0; t < k; t++) {
        uint32_t rank;
        int bad, tries = 0;
        do {
            rank = log_uniform_rank(pr, lo, hi, c->n_tags);
            bad = c->tag_docs[rank] == 0 && ++tries < 1000;
            for (unsigned m = 0; m < t; m++)
                bad |= out[m] == rank;
        } while (bad);
        out[t] = rank;
    }
}

static int open_param(outbuf_t *o, const char *dir, const char *shape, const char *about)
{
    char path[PATH_MAX];
    snprintf(path, sizeof(path), "%s/params/%s.txt", dir, shape);
    int rc = outbuf_open(o, path);
    if (rc == 0)
        outbuf_printf(o, "# %s\n", about);
    return rc;
}

static void put_models(outbuf_t *o, const unsigned *idx, size_t k)
{
    for (size_t i = 0; i < k; i++) {
        if (i)
            outbuf_char(o, ',');
        outbuf_str(o, base_models[idx[i]]);
    }
}

/*
 * Q4: for hidden set j, walks the Q1 order (sortAt desc, id desc) and records the row at each
 * depth. keys[] holds (sortAt << 32 | doc index) ascending (index order is id order); fail[]
 * holds, per position of the *descending* order, the mask of the sets the row fails (all ones
 * when its nsfwLevel is excluded), so each walk is one sequential scan.
 */
static void q4_cursor(const corpus_t *c, const uint64_t *keys, const uint64_t *fail, unsigned j,
                      const uint64_t *depth, unsigned n_depth, uint64_t *got_depth,
                      uint32_t *cur_sort, uint32_t *cur_id)
{
    const unsigned w = c->mask_words, word = j / 64;
    const uint64_t bit = 1ULL << (j % 64);
    uint64_t want[Q4_DEPTHS];
    bool found[Q4_DEPTHS] = {false};
    unsigned left = n_depth;
    for (unsigned k = 0; k < n_depth; k++)
        want[k] = depth[k];
    /* A second pass only when Q1 has fewer rows than a depth: that depth becomes total - 25
     * (at least 1), so the page after the cursor is never empty. */
    for (int pass = 0; pass < 2 && left > 0; pass++) {
        uint64_t count = 0;
        for (size_t q = 0; q < c->n && left > 0; q++) {
            if (fail[q * w + word] & bit)
                continue;
            count++;
            for (unsigned k = 0; k < n_depth; k++) {
                if (found[k] || count != want[k])
                    continue;
                uint64_t key = keys[c->n - 1 - q];
                got_depth[k] = count;
                cur_sort[k] = (uint32_t)(key >> 32);
                cur_id[k] = c->id[(uint32_t)key];
                found[k] = true;
                left--;
            }
        }
        for (unsigned k = 0; k < n_depth; k++) {
            if (found[k])
                continue;
            want[k] = count > SHAPE_HALF_PAGE ? count - SHAPE_HALF_PAGE : 1;
            if (count == 0) { /* nothing matches Q1 at all: a cursor before everything */
                got_depth[k] = 0;
                cur_sort[k] = UINT32_MAX;
                cur_id[k] = UINT32_MAX;
                found[k] = true;
                left--;
            }
        }
    }
}

static int write_params(const options_t *opt, corpus_t *c, const char *dir)
{
    int rc = 0;
    char path[PATH_MAX];
    rng_t pr;
    rng_seed(&pr, opt->seed, STREAM_PARAMS);

    snprintf(path, sizeof(path), "%s/params", dir);
    if (mkdir(path, 0755) != 0 && errno != EEXIST)
        return -errno;

    const unsigned Q = opt->queries;
    const uint32_t T = c->n_tags;
    outbuf_t o = {.fd = -1};
    uint32_t ranks[HIDDEN_PER_SET];
    uint64_t *keys = NULL, *fail = NULL;

    /* Q1 */
    if ((rc = open_param(&o, dir, "Q1",
                         "Q1 feed: nsfwLevel NotIn nsfw_not_in AND NOT tagIds In hidden; "
                         "sortAt desc, id desc; limit 50")) != 0)
        goto out;
    for (unsigned j = 0; j < Q; j++) {
        outbuf_str(&o, "nsfw_not_in=16,32\thidden=");
        put_rank_list(&o, c, c->hidden_sets + (size_t)j * HIDDEN_PER_SET, HIDDEN_PER_SET);
        outbuf_char(&o, '\n');
    }
    if ((rc = outbuf_close(&o)) != 0)
        goto out;

    /* Q2 hot / mid / rare */
    static const char *const q2_names[] = {"Q2hot", "Q2mid", "Q2rare"};
    uint32_t q2_lo[3] = {1, T / 300, T / 6}, q2_hi[3] = {10, T / 30, T};
    for (int b = 0; b < 3; b++) {
        if ((rc = open_param(&o, dir, q2_names[b],
                             "Q2 tag page: tagIds Eq tag AND nsfwLevel In nsfw_in; "
                             "reactionCount desc, id desc; limit 50")) != 0)
            goto out;
        for (unsigned j = 0; j < Q; j++) {
            draw_ranks(c, &pr, q2_lo[b], q2_hi[b], ranks, 1);
            outbuf_printf(&o, "tag=%u\tnsfw_in=1,2\n", c->tag_id[ranks[0]]);
        }
        if ((rc = outbuf_close(&o)) != 0)
            goto out;
    }

    /* Q3: users drawn like page views (Zipf), only users that have documents */
    {
        alias_t au = {0};
        if ((rc = alias_init_zipf(&au, c->n_users, 1.1)) != 0)
            goto out;
        if ((rc = open_param(&o, dir, "Q3", "Q3 user page: userId Eq user; id desc; limit 50")) !=
            0) {
            alias_free(&au);
            goto out;
        }
        for (unsigned j = 0; j < Q; j++) {
            uint32_t r;
            int tries = 0;
            do
                r = alias_sample(&au, &pr);
            while (c->user_docs[r] == 0 && ++tries < 1000);
            outbuf_printf(&o, "user=%u\n", c->user_id[r]);
        }
        alias_free(&au);
        if ((rc = outbuf_close(&o)) != 0)
            goto out;
    }

    /* Q4: Q1 continued after the row at depth 1K / 100K / N/2 */
    {
        keys = malloc(c->n * sizeof(uint64_t));
        if (!keys) {
            rc = -ENOMEM;
            goto out;
        }
        for (size_t i = 0; i < c->n; i++)
            keys[i] = (uint64_t)c->sort_at[i] << 32 | i;
        if ((rc = radix_sort_u64(keys, c->n)) != 0)
            goto out;
        const unsigned w = c->mask_words;
        fail = malloc(c->n * w * sizeof(uint64_t));
        if (!fail) {
            rc = -ENOMEM;
            goto out;
        }
        for (size_t q = 0; q < c->n; q++) {
            uint32_t idx = (uint32_t)keys[c->n - 1 - q];
            int excluded = c->nsfw[idx] == 16 || c->nsfw[idx] == 32;
            for (unsigned k = 0; k < w; k++)
                fail[q * w + k] = excluded ? ~0ULL : c->hidden[(size_t)idx * w + k];
        }
        static const char *const q4_names[] = {"Q4d1k", "Q4d100k", "Q4dhalf"};
        uint64_t depth[Q4_DEPTHS] = {1000, 100000, c->n / 2};
        outbuf_t q4[3] = {{.fd = -1}, {.fd = -1}, {.fd = -1}};
        for (int d = 0; d < 3 && rc == 0; d++)
            rc = open_param(&q4[d], dir, q4_names[d],
                            "Q4 deep cursor: Q1 filter, sortAt desc, id desc, limit 50, after the "
                            "row (after_sortAt, after_id) found at depth (1-based) of Q1");
        for (unsigned j = 0; j < Q && rc == 0; j++) {
            uint64_t got[3];
            uint32_t cs[3], ci[3];
            q4_cursor(c, keys, fail, j, depth, Q4_DEPTHS, got, cs, ci);
            for (int d = 0; d < 3; d++) {
                outbuf_str(&q4[d], "nsfw_not_in=16,32\thidden=");
                put_rank_list(&q4[d], c, c->hidden_sets + (size_t)j * HIDDEN_PER_SET,
                              HIDDEN_PER_SET);
                outbuf_printf(&q4[d], "\tdepth=%llu\tafter_sortAt=%u\tafter_id=%u\n",
                              (unsigned long long)got[d], cs[d], ci[d]);
            }
        }
        for (int d = 0; d < 3; d++) {
            int rc2 = q4[d].fd >= 0 ? outbuf_close(&q4[d]) : 0;
            if (rc == 0)
                rc = rc2;
        }
        if (rc != 0)
            goto out;
    }

    /* Q5: three mid-popular tags OR-ed */
    uint32_t *q5 = malloc((size_t)Q * 3 * sizeof(uint32_t));
    if (!q5) {
        rc = -ENOMEM;
        goto out;
    }
    if ((rc = open_param(&o, dir, "Q5",
                         "Q5 3-tag OR: tagIds In tags AND nsfwLevel NotIn nsfw_not_in; "
                         "reactionCount desc, id desc; limit 50")) != 0) {
        free(q5);
        goto out;
    }
    for (unsigned j = 0; j < Q; j++) {
        draw_ranks(c, &pr, 10, T / 15, q5 + 3 * j, 3);
        outbuf_str(&o, "tags=");
        put_rank_list(&o, c, q5 + 3 * j, 3);
        outbuf_str(&o, "\tnsfw_not_in=16,32\n");
    }
    if ((rc = outbuf_close(&o)) != 0) {
        free(q5);
        goto out;
    }

    /* Q6: a rare base model, videos only */
    if ((rc = open_param(&o, dir, "Q6",
                         "Q6 selective: baseModel Eq baseModel AND type Eq type; "
                         "reactionCount desc, id desc; limit 50")) != 0) {
        free(q5);
        goto out;
    }
    for (unsigned j = 0; j < Q; j++) {
        unsigned m = 15 + (unsigned)rng_below(&pr, N_MODELS - 15);
        outbuf_printf(&o, "baseModel=%s\ttype=video\n", base_models[m]);
    }
    if ((rc = outbuf_close(&o)) != 0) {
        free(q5);
        goto out;
    }

    /* Q7: this week's top */
    if ((rc = open_param(&o, dir, "Q7",
                         "Q7 top this week: sortAt Gte sortAt_gte AND nsfwLevel Eq nsfw; "
                         "reactionCount desc, id desc; limit 50")) != 0) {
        free(q5);
        goto out;
    }
    for (unsigned j = 0; j < Q; j++)
        outbuf_printf(&o, "sortAt_gte=%llu\tnsfw=1\n",
                      (unsigned long long)(opt->now - 7 * 86400 - rng_below(&pr, 24) * 3600));
    if ((rc = outbuf_close(&o)) != 0) {
        free(q5);
        goto out;
    }

    /* Q8 */
    if ((rc = open_param(&o, dir, "Q8", "Q8 worst order: nsfwLevel Eq nsfw; id asc; limit 50")) !=
        0) {
        free(q5);
        goto out;
    }
    for (unsigned j = 0; j < Q; j++)
        outbuf_str(&o, "nsfw=1\n");
    if ((rc = outbuf_close(&o)) != 0) {
        free(q5);
        goto out;
    }

    /* Q9 */
    if ((rc = open_param(&o, dir, "Q9",
                         "Q9 safety prefix: availability NotEq Private, availability NotEq "
                         "Unsearchable, blockedFor IsNull, poi Eq false, minor Eq false, nsfwLevel "
                         "NotEq 0, NOT (nsfwLevel In nsfw_restricted AND baseModel In "
                         "models_restricted), AND tagIds Eq tag; sortAt desc, id desc; "
                         "limit 50")) != 0) {
        free(q5);
        goto out;
    }
    for (unsigned j = 0; j < Q; j++) {
        draw_ranks(c, &pr, 1, T / 30, ranks, 1);
        outbuf_printf(&o,
                      "tag=%u\tnsfw_restricted=4,8,16,32\tmodels_restricted=", c->tag_id[ranks[0]]);
        put_models(&o, q9_restricted_models,
                   sizeof(q9_restricted_models) / sizeof(q9_restricted_models[0]));
        outbuf_char(&o, '\n');
    }
    if ((rc = outbuf_close(&o)) != 0) {
        free(q5);
        goto out;
    }

    /* Qc: exact totals of the Q1 and Q5 filters, alternating */
    if ((rc = open_param(&o, dir, "Qc",
                         "Qc count: exact total of the Q1 (filter=Q1) or Q5 (filter=Q5) filter, "
                         "no rows")) != 0) {
        free(q5);
        goto out;
    }
    for (unsigned j = 0; j < Q; j++) {
        if (j % 2 == 0) {
            outbuf_str(&o, "filter=Q1\tnsfw_not_in=16,32\thidden=");
            put_rank_list(&o, c, c->hidden_sets + (size_t)j * HIDDEN_PER_SET, HIDDEN_PER_SET);
        } else {
            outbuf_str(&o, "filter=Q5\ttags=");
            put_rank_list(&o, c, q5 + 3 * j, 3);
            outbuf_str(&o, "\tnsfw_not_in=16,32");
        }
        outbuf_char(&o, '\n');
    }
    free(q5);
    rc = outbuf_close(&o);
out:
    if (o.fd >= 0)
        outbuf_close(&o);
    free(keys);
    free(fail);
    return rc;
}

static int write_sql(const corpus_t *c, const char *dir)
{
    char path[PATH_MAX], abs[PATH_MAX];
    if (!realpath(dir, abs))
        return -errno;
    snprintf(path, sizeof(path), "%s/postgres.sql", dir);
    outbuf_t o;
    int rc = outbuf_open(&o, path);
    if (rc != 0)
        return rc;
    outbuf_printf(
        &o,
        "-- bitdex benchmark data for PostgreSQL 15, written by bitdex-datagen (%llu docs).\n"
        "-- Run as a superuser (COPY reads server-side files):\n"
        "--   psql -v ON_ERROR_STOP=1 -f postgres.sql\n"
        "SET client_min_messages = warning;\n"
        "SET maintenance_work_mem = '1GB';\n"
        "SET work_mem = '512MB';\n"
        "DROP TABLE IF EXISTS images, images_load, image_tags_load;\n"
        "CREATE UNLOGGED TABLE images_load (\n"
        "    id integer NOT NULL,\n"
        "    \"sortAt\" integer NOT NULL,\n"
        "    \"reactionCount\" integer NOT NULL,\n"
        "    \"commentCount\" integer NOT NULL,\n"
        "    \"collectedCount\" integer NOT NULL,\n"
        "    \"nsfwLevel\" integer NOT NULL,\n"
        "    \"userId\" integer NOT NULL,\n"
        "    \"postId\" integer NOT NULL,\n"
        "    \"baseModel\" text NOT NULL,\n"
        "    type text NOT NULL,\n"
        "    availability text NOT NULL,\n"
        "    \"hasMeta\" boolean NOT NULL,\n"
        "    \"onSite\" boolean NOT NULL,\n"
        "    poi boolean NOT NULL,\n"
        "    minor boolean NOT NULL,\n"
        "    \"blockedFor\" text,\n"
        "    url text NOT NULL,\n"
        "    width integer NOT NULL,\n"
        "    height integer NOT NULL\n"
        ");\n"
        "COPY images_load FROM '%s/images.csv' WITH (FORMAT csv, HEADER true);\n"
        "CREATE UNLOGGED TABLE image_tags_load (\"imageId\" integer NOT NULL, "
        "\"tagId\" integer NOT NULL);\n"
        "COPY image_tags_load FROM '%s/tags.csv' WITH (FORMAT csv, HEADER true);\n"
        "CREATE TABLE images AS\n"
        "SELECT i.id, i.\"sortAt\", i.\"reactionCount\", i.\"commentCount\", "
        "i.\"collectedCount\",\n"
        "       i.\"nsfwLevel\", i.\"userId\", i.\"postId\", i.\"baseModel\", i.type, "
        "i.availability,\n"
        "       i.\"hasMeta\", i.\"onSite\", i.poi, i.minor, i.\"blockedFor\",\n"
        "       coalesce(t.\"tagIds\", '{}'::integer[]) AS \"tagIds\",\n"
        "       i.url, i.width, i.height\n"
        "FROM images_load i\n"
        "LEFT JOIN (SELECT \"imageId\", array_agg(\"tagId\" ORDER BY \"tagId\") AS \"tagIds\"\n"
        "           FROM image_tags_load GROUP BY \"imageId\") t ON t.\"imageId\" = i.id\n"
        "ORDER BY i.id;\n"
        "DROP TABLE images_load, image_tags_load;\n"
        "ALTER TABLE images ADD PRIMARY KEY (id);\n"
        "CREATE INDEX images_tagids_gin ON images USING gin (\"tagIds\");\n"
        "CREATE INDEX images_sortat ON images (\"sortAt\" DESC, id DESC);\n"
        "CREATE INDEX images_reactions ON images (\"reactionCount\" DESC, id DESC);\n"
        "CREATE INDEX images_user ON images (\"userId\", id DESC);\n"
        "-- Track every tag in the most-common-elements statistics, so rare tags get real\n"
        "-- selectivity estimates (with the default target they fall back to a guess).\n"
        "ALTER TABLE images ALTER COLUMN \"tagIds\" SET STATISTICS 10000;\n"
        "VACUUM ANALYZE images;\n",
        (unsigned long long)c->n, abs, abs);
    return outbuf_close(&o);
}

static int write_summary(const options_t *opt, const corpus_t *c, const char *dir)
{
    char path[PATH_MAX];
    snprintf(path, sizeof(path), "%s/datagen.json", dir);
    outbuf_t o;
    int rc = outbuf_open(&o, path);
    if (rc != 0)
        return rc;
    uint32_t used_tags = 0, used_users = 0;
    for (uint32_t t = 0; t < c->n_tags; t++)
        used_tags += c->tag_docs[t] > 0;
    for (uint32_t u = 0; u < c->n_users; u++)
        used_users += c->user_docs[u] > 0;
    outbuf_printf(&o,
                  "{\"generator\": \"bitdex-datagen\", \"format\": 1, \"docs\": %llu, "
                  "\"seed\": %llu, \"tags_per_doc\": %u, \"now\": %llu, \"queries\": %u,\n"
                  " \"max_id\": %u, \"posts\": %llu, \"tag_rows\": %llu, \"tag_ranks\": %u, "
                  "\"distinct_tags\": %u, \"user_ranks\": %u, \"distinct_users\": %u}\n",
                  (unsigned long long)opt->docs, (unsigned long long)opt->seed, opt->tags_per_doc,
                  (unsigned long long)opt->now, opt->queries, c->max_id,
                  (unsigned long long)c->posts, (unsigned long long)c->tag_rows, c->n_tags,
                  used_tags, c->n_users, used_users);
    return outbuf_close(&o);
}

static void usage(FILE *f)
{
    fprintf(f, "usage: bitdex-datagen --docs N --seed S --out DIR [--tags-per-doc 12]\n"
               "                      [--now UNIX_SECONDS] [--queries 100]\n"
               "Writes DIR/images.csv, tags.csv, postgres.sql, params/<shape>.txt, "
               "datagen.json (see bench/README.md).\n");
}

static int parse_u64(const char *s, uint64_t *out)
{
    char *end;
    errno = 0;
    unsigned long long v = strtoull(s, &end, 10);
    if (errno || end == s || *end || s[0] == '-')
        return BDX_EINVAL;
    *out = v;
    return 0;
}

int main(int argc, char **argv)
{
    options_t opt = {
        .docs = 0, .seed = 0, .tags_per_doc = 12, .now = DEFAULT_NOW, .queries = 100, .out = NULL};
    int have_seed = 0;
    static const struct option longopts[] = {
        {"docs", required_argument, 0, 'n'}, {"seed", required_argument, 0, 's'},
        {"out", required_argument, 0, 'o'},  {"tags-per-doc", required_argument, 0, 't'},
        {"now", required_argument, 0, 'w'},  {"queries", required_argument, 0, 'q'},
        {"help", no_argument, 0, 'h'},       {0, 0, 0, 0}};
    int ch;
    uint64_t v;
    while ((ch = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
        if (ch == 'h') {
            usage(stdout);
            return 0;
        }
        if (ch == 'o') {
            opt.out = optarg;
            continue;
        }
        if (ch == '?' || parse_u64(optarg, &v) != 0) {
            if (ch != '?')
                fprintf(stderr, "bitdex-datagen: bad number '%s'\n", optarg);
            usage(stderr);
            return 2;
        }
        switch (ch) {
        case 'n':
            opt.docs = v;
            break;
        case 's':
            opt.seed = v;
            have_seed = 1;
            break;
        case 't':
            opt.tags_per_doc = (unsigned)v;
            break;
        case 'w':
            opt.now = v;
            break;
        case 'q':
            opt.queries = (unsigned)v;
            break;
        }
    }
    if (!opt.out || !have_seed || opt.docs < 100 || opt.docs > 2000000000ULL ||
        opt.tags_per_doc > MAX_TAGS_PER_DOC / 2 || opt.queries < 1 || opt.queries > 100000 ||
        opt.now <= SPAN_SECONDS || opt.now >= UINT32_MAX) {
        fprintf(stderr,
                "bitdex-datagen: need --docs (>= 100), --seed and --out; "
                "--tags-per-doc <= %d, --queries 1..100000, --now within u32\n",
                MAX_TAGS_PER_DOC / 2);
        usage(stderr);
        return 2;
    }

    double t0 = now_seconds();
    corpus_t c = {0};
    rng_t setup, pr;
    int rc = 0;
    const char *stage = "setup";
    if (mkdir(opt.out, 0755) != 0 && errno != EEXIST) {
        rc = -errno;
        goto out;
    }
    c.n_tags = opt.docs >= 1000000 ? FULL_TAGS : (uint32_t)(FULL_TAGS * (double)opt.docs / 1e6);
    if (c.n_tags < 500)
        c.n_tags = 500;
    c.n_users = (uint32_t)llround(FULL_USERS_PER_DOC * (double)opt.docs);
    if (c.n_users < 300)
        c.n_users = 300;
    c.tag_id = malloc(c.n_tags * sizeof(uint32_t));
    c.user_id = malloc(c.n_users * sizeof(uint32_t));
    if (!c.tag_id || !c.user_id) {
        rc = -ENOMEM;
        goto out;
    }
    /* Id maps and hidden sets have streams of their own so they never shift the others. */
    rng_seed(&setup, opt.seed, STREAM_SETUP);
    if ((rc = sparse_ids(&setup, c.tag_id, c.n_tags)) != 0 ||
        (rc = sparse_ids(&setup, c.user_id, c.n_users)) != 0)
        goto out;
    rng_seed(&pr, opt.seed, STREAM_HIDDEN);
    if ((rc = make_hidden_sets(&c, &pr, opt.queries, opt.tags_per_doc)) != 0)
        goto out;

    stage = "documents";
    if ((rc = generate_docs(&opt, &c, opt.out)) != 0)
        goto out;
    double t_docs = now_seconds();
    stage = "params";
    if ((rc = write_params(&opt, &c, opt.out)) != 0)
        goto out;
    stage = "postgres.sql";
    if ((rc = write_sql(&c, opt.out)) != 0)
        goto out;
    double t1 = now_seconds();
    stage = "datagen.json";
    if ((rc = write_summary(&opt, &c, opt.out)) != 0)
        goto out;
    fprintf(stderr,
            "bitdex-datagen: %llu docs (max id %u, %llu posts, %llu tag rows, %u tag ranks, %u "
            "user ranks) in %.2f s (documents %.2f s, params %.2f s) -> %s\n",
            (unsigned long long)c.n, c.max_id, (unsigned long long)c.posts,
            (unsigned long long)c.tag_rows, c.n_tags, c.n_users, t1 - t0, t_docs - t0, t1 - t_docs,
            opt.out);
out:
    if (rc != 0)
        fprintf(stderr, "bitdex-datagen: %s: %s\n", stage, bdx_strerror(rc));
    corpus_free(&c);
    return rc == 0 ? 0 : 1;
}

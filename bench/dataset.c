/*
 * dataset: mmap-based CSV reader for the generator's files.
 *
 * The reader is a hand-written scanner rather than a general CSV library because it is on the
 * timed path (10M rows, ~3 GB) and needs nothing general: one pass per row, fields dispatched
 * by a role table built from the header, numbers parsed in place, strings interned into u8
 * codes. Quoted fields ("...", with "" for a quote) are accepted so a hand-edited file still
 * loads. Row capacity comes from a newline count up front, so nothing is reallocated per row.
 */
#include "bench/dataset.h"

#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

typedef enum role {
    R_IGNORE = 0,
    R_ID,
    R_SORT_AT,
    R_REACTION,
    R_COMMENT,
    R_COLLECTED,
    R_NSFW,
    R_USER,
    R_POST,
    R_BASE_MODEL,
    R_TYPE,
    R_AVAILABILITY,
    R_HAS_META,
    R_ON_SITE,
    R_POI,
    R_MINOR,
    R_BLOCKED_FOR,
    R_COUNT
} role_t;

static const char *const role_names[R_COUNT] = {
    [R_ID] = "id",
    [R_SORT_AT] = "sortAt",
    [R_REACTION] = "reactionCount",
    [R_COMMENT] = "commentCount",
    [R_COLLECTED] = "collectedCount",
    [R_NSFW] = "nsfwLevel",
    [R_USER] = "userId",
    [R_POST] = "postId",
    [R_BASE_MODEL] = "baseModel",
    [R_TYPE] = "type",
    [R_AVAILABILITY] = "availability",
    [R_HAS_META] = "hasMeta",
    [R_ON_SITE] = "onSite",
    [R_POI] = "poi",
    [R_MINOR] = "minor",
    [R_BLOCKED_FOR] = "blockedFor",
};

#define MAX_COLUMNS 64
#define FIELD_MAX 4096

typedef struct mapped {
    const char *data;
    size_t size;
} mapped_t;

static double now_seconds(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static int map_file(const char *path, mapped_t *m, bdx_error_t *err)
{
    m->data = NULL;
    m->size = 0;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return bdx_error_set(err, -errno, "%s: %s", path, strerror(errno));
    struct stat st;
    if (fstat(fd, &st) != 0) {
        int rc = -errno;
        close(fd);
        return bdx_error_set(err, rc, "%s: %s", path, strerror(-rc));
    }
    m->size = (size_t)st.st_size;
    if (m->size > 0) {
        void *p = mmap(NULL, m->size, PROT_READ, MAP_PRIVATE | MAP_POPULATE, fd, 0);
        if (p == MAP_FAILED) {
            int rc = -errno;
            close(fd);
            return bdx_error_set(err, rc, "%s: mmap: %s", path, strerror(-rc));
        }
        madvise(p, m->size, MADV_SEQUENTIAL);
        m->data = p;
    }
    close(fd);
    return 0;
}

static void unmap_file(mapped_t *m)
{
    if (m->data)
        munmap((void *)m->data, m->size);
    m->data = NULL;
}

/* One field: [p, p+len) raw, or a copy in `buf` when it was quoted. */
typedef struct field {
    const char *p;
    size_t len;
} field_t;

/*
 * Reads one field starting at *pos; leaves *pos on the delimiter (',' '\n' or end). `buf`
 * (FIELD_MAX bytes) receives the unescaped text of a quoted field. Returns false on a malformed
 * quoted field.
 */
static bool next_field(const char **pos, const char *end, char *buf, field_t *f)
{
    const char *p = *pos;
    if (p < end && *p == '"') {
        size_t n = 0;
        p++;
        for (;;) {
            if (p >= end)
                return false;
            if (*p == '"') {
                if (p + 1 < end && p[1] == '"') {
                    if (n < FIELD_MAX - 1)
                        buf[n++] = '"';
                    p += 2;
                    continue;
                }
                p++;
                break;
            }
            if (n < FIELD_MAX - 1)
                buf[n++] = *p;
            p++;
        }
        buf[n] = '\0';
        f->p = buf;
        f->len = n;
    } else {
        const char *s = p;
        while (p < end && *p != ',' && *p != '\n')
            p++;
        f->p = s;
        f->len = (size_t)(p - s);
        if (f->len > 0 && s[f->len - 1] == '\r' && (p >= end || *p == '\n'))
            f->len--;
    }
    *pos = p;
    return true;
}

static bool parse_i64(const field_t *f, int64_t *out)
{
    const char *p = f->p, *e = f->p + f->len;
    bool neg = false;
    if (p < e && (*p == '-' || *p == '+'))
        neg = *p++ == '-';
    if (p == e || e - p > 19)
        return false;
    uint64_t v = 0;
    for (; p < e; p++) {
        unsigned d = (unsigned)(*p - '0');
        if (d > 9)
            return false;
        v = v * 10 + d;
    }
    if (v > (uint64_t)INT64_MAX)
        return false;
    *out = neg ? -(int64_t)v : (int64_t)v;
    return true;
}

static bool parse_u32(const field_t *f, uint32_t *out)
{
    int64_t v;
    if (!parse_i64(f, &v) || v < 0 || v > UINT32_MAX)
        return false;
    *out = (uint32_t)v;
    return true;
}

static bool parse_bool(const field_t *f, bool *out)
{
    if ((f->len == 4 && memcmp(f->p, "true", 4) == 0) ||
        (f->len == 1 && (*f->p == 't' || *f->p == '1'))) {
        *out = true;
        return true;
    }
    if ((f->len == 5 && memcmp(f->p, "false", 5) == 0) ||
        (f->len == 1 && (*f->p == 'f' || *f->p == '0'))) {
        *out = false;
        return true;
    }
    return false;
}

/* Interns f into d; returns the code or -1 when the dictionary is full (-2 out of memory). */
static int dict_code(dataset_dict_t *d, const field_t *f)
{
    for (unsigned i = 0; i < d->count; i++)
        if (strlen(d->names[i]) == f->len && memcmp(d->names[i], f->p, f->len) == 0)
            return (int)i;
    if (d->count >= DATASET_MAX_STRINGS)
        return -1;
    char *s = malloc(f->len + 1);
    if (!s)
        return -2;
    memcpy(s, f->p, f->len);
    s[f->len] = '\0';
    d->names[d->count] = s;
    return (int)d->count++;
}

int dataset_dict_find(const dataset_dict_t *d, const char *s)
{
    for (unsigned i = 0; i < d->count; i++)
        if (strcmp(d->names[i], s) == 0)
            return (int)i;
    return -1;
}

static uint64_t count_lines(const mapped_t *m)
{
    uint64_t n = 0;
    const char *p = m->data, *end = m->data + m->size;
    while (p < end) {
        const char *q = memchr(p, '\n', (size_t)(end - p));
        n++;
        if (!q)
            break;
        p = q + 1;
    }
    return n;
}

static int alloc_columns(dataset_t *ds, uint64_t cap)
{
    size_t c = cap ? cap : 1;
    ds->id = malloc(c * sizeof(uint32_t));
    ds->sort_at = malloc(c * sizeof(uint32_t));
    ds->reaction_count = malloc(c * sizeof(uint32_t));
    ds->comment_count = malloc(c * sizeof(uint32_t));
    ds->collected_count = malloc(c * sizeof(uint32_t));
    ds->nsfw_level = malloc(c * sizeof(int64_t));
    ds->user_id = malloc(c * sizeof(int64_t));
    ds->post_id = malloc(c * sizeof(int64_t));
    ds->base_model = malloc(c);
    ds->type = malloc(c);
    ds->availability = malloc(c);
    ds->blocked_for = malloc(c);
    ds->flags = malloc(c);
    if (!ds->id || !ds->sort_at || !ds->reaction_count || !ds->comment_count ||
        !ds->collected_count || !ds->nsfw_level || !ds->user_id || !ds->post_id ||
        !ds->base_model || !ds->type || !ds->availability || !ds->blocked_for || !ds->flags)
        return -ENOMEM;
    return 0;
}

static int load_images(const char *path, dataset_t *ds, bdx_error_t *err)
{
    mapped_t m;
    int rc = map_file(path, &m, err);
    if (rc != 0)
        return rc;
    char *buf = malloc(FIELD_MAX);
    if (!buf) {
        rc = -ENOMEM;
        goto out;
    }
    ds->images_bytes = m.size;
    const char *p = m.data, *end = m.data + m.size;

    /* header */
    role_t roles[MAX_COLUMNS];
    unsigned ncols = 0;
    bool seen[R_COUNT] = {false};
    for (;;) {
        field_t f;
        if (!next_field(&p, end, buf, &f) || ncols == MAX_COLUMNS) {
            rc = bdx_error_set(err, BDX_EINVAL, "%s: line 1: bad header", path);
            goto out;
        }
        role_t r = R_IGNORE;
        for (int k = 1; k < R_COUNT; k++)
            if (strlen(role_names[k]) == f.len && memcmp(role_names[k], f.p, f.len) == 0)
                r = (role_t)k;
        if (r != R_IGNORE && seen[r]) {
            rc = bdx_error_set(err, BDX_EINVAL, "%s: line 1: column %s twice", path, role_names[r]);
            goto out;
        }
        seen[r] = true;
        roles[ncols++] = r;
        if (p >= end || *p == '\n') {
            if (p < end)
                p++;
            break;
        }
        p++; /* ',' */
    }
    for (int k = 1; k < R_COUNT; k++) {
        if (!seen[k]) {
            rc = bdx_error_set(err, BDX_EINVAL, "%s: missing column %s", path, role_names[k]);
            goto out;
        }
    }

    uint64_t cap = count_lines(&m);
    if ((rc = alloc_columns(ds, cap)) != 0)
        goto out;

    uint64_t line = 1, n = 0;
    uint32_t max_id = 0;
    while (p < end) {
        line++;
        if (*p == '\n' || (*p == '\r' && p + 1 < end && p[1] == '\n')) { /* blank line */
            p += *p == '\r' ? 2 : 1;
            continue;
        }
        if (n >= cap) {
            rc = bdx_error_set(err, BDX_EINVAL, "%s: line %llu: more rows than lines", path,
                               (unsigned long long)line);
            goto out;
        }
        uint8_t flags = 0;
        for (unsigned k = 0; k < ncols; k++) {
            field_t f;
            if (!next_field(&p, end, buf, &f))
                goto bad_line;
            bool ok = true, b = false;
            int code;
            switch (roles[k]) {
            case R_IGNORE:
                break;
            case R_ID:
                ok = parse_u32(&f, &ds->id[n]) && ds->id[n] < INT32_MAX;
                if (ok && ds->id[n] > max_id)
                    max_id = ds->id[n];
                break;
            case R_SORT_AT:
                ok = parse_u32(&f, &ds->sort_at[n]);
                break;
            case R_REACTION:
                ok = parse_u32(&f, &ds->reaction_count[n]);
                break;
            case R_COMMENT:
                ok = parse_u32(&f, &ds->comment_count[n]);
                break;
            case R_COLLECTED:
                ok = parse_u32(&f, &ds->collected_count[n]);
                break;
            case R_NSFW:
                ok = parse_i64(&f, &ds->nsfw_level[n]);
                break;
            case R_USER:
                ok = parse_i64(&f, &ds->user_id[n]);
                break;
            case R_POST:
                ok = parse_i64(&f, &ds->post_id[n]);
                break;
            case R_BASE_MODEL:
            case R_TYPE:
            case R_AVAILABILITY:
            case R_BLOCKED_FOR: {
                dataset_dict_t *d = roles[k] == R_BASE_MODEL     ? &ds->dict_base_model
                                    : roles[k] == R_TYPE         ? &ds->dict_type
                                    : roles[k] == R_AVAILABILITY ? &ds->dict_availability
                                                                 : &ds->dict_blocked_for;
                if (roles[k] == R_BLOCKED_FOR && f.len == 0) {
                    ds->blocked_for[n] = DATASET_NULL_CODE;
                    break;
                }
                code = dict_code(d, &f);
                if (code == -2) {
                    rc = -ENOMEM;
                    goto out;
                }
                if (code < 0) {
                    rc = bdx_error_set(err, BDX_EINVAL, "%s: line %llu: too many distinct %s", path,
                                       (unsigned long long)line, role_names[roles[k]]);
                    goto out;
                }
                uint8_t *col = roles[k] == R_BASE_MODEL     ? ds->base_model
                               : roles[k] == R_TYPE         ? ds->type
                               : roles[k] == R_AVAILABILITY ? ds->availability
                                                            : ds->blocked_for;
                col[n] = (uint8_t)code;
                break;
            }
            case R_HAS_META:
            case R_ON_SITE:
            case R_POI:
            case R_MINOR:
                ok = parse_bool(&f, &b);
                if (b)
                    flags |= roles[k] == R_HAS_META  ? DATASET_HAS_META
                             : roles[k] == R_ON_SITE ? DATASET_ON_SITE
                             : roles[k] == R_POI     ? DATASET_POI
                                                     : DATASET_MINOR;
                break;
            case R_COUNT:
                break;
            }
            if (!ok) {
                rc = bdx_error_set(err, BDX_EINVAL, "%s: line %llu: bad %s '%.*s'", path,
                                   (unsigned long long)line, role_names[roles[k]],
                                   (int)(f.len < 40 ? f.len : 40), f.p);
                goto out;
            }
            if (k + 1 < ncols) {
                if (p >= end || *p != ',')
                    goto bad_line;
                p++;
            } else {
                if (p < end && *p != '\n')
                    goto bad_line;
                if (p < end)
                    p++;
            }
        }
        ds->flags[n] = flags;
        n++;
    }
    ds->n = n;
    ds->max_id = max_id;
    ds->row_of_id = malloc(((size_t)max_id + 1) * sizeof(int32_t));
    if (!ds->row_of_id) {
        rc = -ENOMEM;
        goto out;
    }
    memset(ds->row_of_id, 0xff, ((size_t)max_id + 1) * sizeof(int32_t));
    for (uint64_t r = 0; r < n; r++) {
        if (ds->row_of_id[ds->id[r]] >= 0) {
            rc = bdx_error_set(err, BDX_EINVAL, "%s: duplicate id %u", path, ds->id[r]);
            goto out;
        }
        ds->row_of_id[ds->id[r]] = (int32_t)r;
    }
    rc = 0;
    goto out;
bad_line:
    rc = bdx_error_set(err, BDX_EINVAL, "%s: line %llu: wrong number of fields or bad quoting",
                       path, (unsigned long long)line);
out:
    free(buf);
    unmap_file(&m);
    return rc;
}

/* Parses "imageId,tagId" lines; calls back per row. pass 0 counts, pass 1 fills. */
static int scan_tags(const char *path, const mapped_t *m, dataset_t *ds, int pass, uint64_t *fill,
                     bdx_error_t *err)
{
    const char *p = m->data, *end = m->data + m->size;
    const char *nl = memchr(p, '\n', m->size);
    if (!nl || !(nl - p >= 13 && memcmp(p, "imageId,tagId", 13) == 0))
        return bdx_error_set(err, BDX_EINVAL, "%s: line 1: expected header imageId,tagId", path);
    p = nl + 1;
    uint64_t line = 1;
    while (p < end) {
        line++;
        uint64_t img = 0, tag = 0;
        const char *s = p;
        while (p < end && (unsigned)(*p - '0') <= 9)
            img = img * 10 + (uint64_t)(*p++ - '0');
        if (p == s || p >= end || *p != ',' || p - s > 10) {
            if (s < end && (*s == '\n' || *s == '\r')) { /* blank line */
                p = s + 1;
                continue;
            }
            goto bad;
        }
        s = ++p;
        while (p < end && (unsigned)(*p - '0') <= 9)
            tag = tag * 10 + (uint64_t)(*p++ - '0');
        if (p == s || p - s > 18)
            goto bad;
        if (p < end && *p == '\r')
            p++;
        if (p < end && *p != '\n')
            goto bad;
        p++;
        if (img > ds->max_id || ds->row_of_id[img] < 0)
            return bdx_error_set(err, BDX_EINVAL, "%s: line %llu: unknown image %llu", path,
                                 (unsigned long long)line, (unsigned long long)img);
        uint32_t row = (uint32_t)ds->row_of_id[img];
        if (pass == 0)
            ds->tag_off[row + 1]++;
        else
            ds->tag_ids[fill[row]++] = (int64_t)tag;
    }
    if (pass == 0)
        ds->tag_rows = line - 1;
    return 0;
bad:
    return bdx_error_set(err, BDX_EINVAL, "%s: line %llu: expected imageId,tagId", path,
                         (unsigned long long)line);
}

static int load_tags(const char *path, dataset_t *ds, bdx_error_t *err)
{
    mapped_t m;
    uint64_t *fill = NULL;
    int rc = map_file(path, &m, err);
    if (rc != 0)
        return rc;
    ds->tags_bytes = m.size;
    ds->tag_off = calloc(ds->n + 1, sizeof(uint64_t));
    if (!ds->tag_off) {
        rc = -ENOMEM;
        goto out;
    }
    if ((rc = scan_tags(path, &m, ds, 0, NULL, err)) != 0)
        goto out;
    for (uint64_t r = 0; r < ds->n; r++)
        ds->tag_off[r + 1] += ds->tag_off[r];
    ds->tag_ids = malloc((ds->tag_off[ds->n] ? ds->tag_off[ds->n] : 1) * sizeof(int64_t));
    fill = malloc((ds->n ? ds->n : 1) * sizeof(uint64_t));
    if (!ds->tag_ids || !fill) {
        rc = -ENOMEM;
        goto out;
    }
    memcpy(fill, ds->tag_off, ds->n * sizeof(uint64_t));
    if ((rc = scan_tags(path, &m, ds, 1, fill, err)) != 0)
        goto out;
    /* Sort each document's tags and drop duplicates, compacting in place. */
    uint64_t w = 0;
    for (uint64_t r = 0; r < ds->n; r++) {
        uint64_t a = ds->tag_off[r], b = ds->tag_off[r + 1];
        ds->tag_off[r] = w;
        for (uint64_t i = a + 1; i < b; i++) { /* insertion sort: rows hold ~12-50 tags */
            int64_t v = ds->tag_ids[i];
            uint64_t j = i;
            while (j > a && ds->tag_ids[j - 1] > v) {
                ds->tag_ids[j] = ds->tag_ids[j - 1];
                j--;
            }
            ds->tag_ids[j] = v;
        }
        for (uint64_t i = a; i < b; i++)
            if (i == a || ds->tag_ids[i] != ds->tag_ids[i - 1])
                ds->tag_ids[w++] = ds->tag_ids[i];
    }
    ds->tag_off[ds->n] = w;
out:
    free(fill);
    unmap_file(&m);
    return rc;
}

int dataset_load(const char *dir, dataset_t *ds, bdx_error_t *err)
{
    char path[4096];
    memset(ds, 0, sizeof(*ds));
    double t0 = now_seconds();
    snprintf(path, sizeof(path), "%s/images.csv", dir);
    int rc = load_images(path, ds, err);
    if (rc == -ENOMEM)
        bdx_error_set(err, rc, "%s: out of memory", path);
    if (rc != 0)
        return rc;
    double t1 = now_seconds();
    ds->images_seconds = t1 - t0;
    snprintf(path, sizeof(path), "%s/tags.csv", dir);
    rc = load_tags(path, ds, err);
    if (rc == -ENOMEM)
        bdx_error_set(err, rc, "%s: out of memory", path);
    ds->tags_seconds = now_seconds() - t1;
    return rc;
}

static void dict_free(dataset_dict_t *d)
{
    for (unsigned i = 0; i < d->count; i++)
        free(d->names[i]);
    d->count = 0;
}

void dataset_free(dataset_t *ds)
{
    free(ds->id);
    free(ds->row_of_id);
    free(ds->sort_at);
    free(ds->reaction_count);
    free(ds->comment_count);
    free(ds->collected_count);
    free(ds->nsfw_level);
    free(ds->user_id);
    free(ds->post_id);
    free(ds->base_model);
    free(ds->type);
    free(ds->availability);
    free(ds->blocked_for);
    free(ds->flags);
    free(ds->tag_off);
    free(ds->tag_ids);
    dict_free(&ds->dict_base_model);
    dict_free(&ds->dict_type);
    dict_free(&ds->dict_availability);
    dict_free(&ds->dict_blocked_for);
    memset(ds, 0, sizeof(*ds));
}

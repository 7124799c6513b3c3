/*
 * generation: opening a generation directory (manifest, then the files it lists, mapped
 * read-only and checked), pins, CURRENT, and removing old generations.
 */
#include "common/generation.h"

#include "common/schema_pb.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/generation_internal.h"
#include "common/generation_write_internal.h"
#include "common/limits.h"
#include "common/schema_file.h"

#define PATH_MAX_LEN 4096

/* ---- open ---- */

static int read_manifest(generation_t *g, const gen_file_t *mf, uint64_t *sizes, uint64_t *hashes,
                         bdx_error_t *err)
{
    const gen_section_t *s = gen_file_find(mf, GEN_SEC_MANIFEST, 0);
    const uint8_t *p;
    uint32_t nfiles;

    if (s == NULL || s->len < GEN_MANIFEST_FIXED)
        return bdx_error_set(err, BDX_ECORRUPT, "generation %s: no manifest section", mf->path);
    p = mf->map + s->off;
    g->number = gen_get64(p);
    g->lsn = gen_get64(p + 8);
    g->base_number = gen_get64(p + 16);
    g->base_id = gen_get64(p + 24);
    g->doc_count = gen_get64(p + 32);
    nfiles = gen_get32(p + 40);
    if (nfiles < 1 || nfiles > 2 || s->len != GEN_MANIFEST_FIXED + nfiles * GEN_MANIFEST_FILE ||
        g->number != mf->number || g->base_id != mf->base_id)
        return bdx_error_set(err, BDX_ECORRUPT,
                             "generation %s offset %llu: inconsistent manifest (%u files)",
                             mf->path, (unsigned long long)s->off, nfiles);
    for (uint32_t i = 0; i < nfiles; i++) {
        const uint8_t *f = p + GEN_MANIFEST_FIXED + i * GEN_MANIFEST_FILE;
        const char *want = i == 0 ? "base" : "delta";
        if (memcmp(f, want, strlen(want) + 1) != 0)
            return bdx_error_set(err, BDX_ECORRUPT, "generation %s: manifest file %u is not \"%s\"",
                                 mf->path, i, want);
        sizes[i] = gen_get64(f + 16);
        hashes[i] = gen_get64(f + 24);
    }
    g->has_delta = nfiles == 2;
    return 0;
}

/* The index name the schema is filed under: the name of the directory holding gen-<N>
 * (<data>/indexes/<name>/gen-<N>), or "generation" when that is not a valid index name. */
static const char *index_name(const char *gen_dir, char *buf, size_t n)
{
    const char *end = gen_dir + strlen(gen_dir), *start;

    while (end > gen_dir && end[-1] == '/')
        end--;
    while (end > gen_dir && end[-1] != '/') /* skip gen-<N> */
        end--;
    while (end > gen_dir && end[-1] == '/')
        end--;
    for (start = end; start > gen_dir && start[-1] != '/'; start--)
        ;
    if (end > start && (size_t)(end - start) < n) {
        memcpy(buf, start, (size_t)(end - start));
        buf[end - start] = '\0';
        if (schema_pb_check_index_name(buf, "index", NULL) == 0)
            return buf;
    }
    return "generation";
}

static int open_parts(generation_t *g, bool verify, bdx_error_t *err)
{
    char name[256];
    char path[PATH_MAX_LEN];
    gen_file_t mf;
    uint64_t sizes[2] = {0}, hashes[2] = {0};
    const gen_section_t *s;
    gen_file_t *base = &g->files[0];
    limits_t limits;
    int rc;

    snprintf(path, sizeof(path), "%s/manifest", g->dir);
    if ((rc = gen_file_open(&mf, path, GEN_KIND_MANIFEST, 0, 0, true, err)) != 0)
        return rc;
    rc = read_manifest(g, &mf, sizes, hashes, err);
    gen_file_close(&mf);
    if (rc != 0)
        return rc;
    snprintf(path, sizeof(path), "%s/base", g->dir);
    if ((rc = gen_file_open(base, path, GEN_KIND_BASE, sizes[0], hashes[0], verify, err)) != 0)
        return rc;
    if (base->base_id != g->base_id || base->number != g->base_number)
        return bdx_error_set(err, BDX_ECORRUPT,
                             "generation %s: base file of generation %llu, the manifest names %llu",
                             path, (unsigned long long)base->number,
                             (unsigned long long)g->base_number);
    if (g->has_delta) {
        snprintf(path, sizeof(path), "%s/delta", g->dir);
        if ((rc = gen_file_open(&g->files[1], path, GEN_KIND_DELTA, sizes[1], hashes[1], verify,
                                err)) != 0)
            return rc;
        if (g->files[1].base_id != g->base_id || g->files[1].number != g->number)
            return bdx_error_set(err, BDX_ECORRUPT,
                                 "generation %s: delta of another base or generation", path);
    }
    s = gen_file_find(base, GEN_SEC_SCHEMA, 0);
    if (s == NULL)
        return bdx_error_set(err, BDX_ECORRUPT, "generation %s: no schema section", base->path);
    g->schema_img = base->map + s->off;
    g->schema_len = (size_t)s->len;
    if ((rc = schema_file_decode(base->path, index_name(g->dir, name, sizeof(name)), g->schema_img,
                                 g->schema_len, &g->schema, &limits, err)) != 0)
        return rc;
    s = gen_file_find(base, GEN_SEC_BITMAP_DIR, 0);
    if (s == NULL || s->len % GEN_DIR_ENTRY_SIZE != 0)
        return bdx_error_set(err, BDX_ECORRUPT, "generation %s: bad bitmap directory section",
                             base->path);
    g->base_dir = base->map + s->off;
    g->base_items = s->len / GEN_DIR_ENTRY_SIZE;
    s = gen_file_find(base, GEN_SEC_BITMAPS, 0);
    if (s == NULL)
        return bdx_error_set(err, BDX_ECORRUPT, "generation %s: no bitmaps section", base->path);
    g->base_bitmaps = base->map + s->off;
    g->base_bitmaps_len = s->len;
    return 0;
}

int generation_open(const char *gen_dir, unsigned flags, generation_t **out, bdx_error_t *err)
{
    generation_t *g = calloc(1, sizeof(*g));
    int rc;

    *out = NULL;
    if (g == NULL || (g->dir = strdup(gen_dir)) == NULL) {
        free(g);
        return bdx_error_set(err, -ENOMEM, "generation %s: out of memory", gen_dir);
    }
    g->pin_fd = -1;
    pthread_mutex_init(&g->shared_lock, NULL);
    if (flags & GENERATION_PIN) {
        /* pin before reading, so the writer cannot delete what is being opened */
        char path[PATH_MAX_LEN];
        snprintf(path, sizeof(path), "%s/manifest", gen_dir);
        g->pin_fd = open(path, O_RDONLY | O_CLOEXEC);
        if (g->pin_fd < 0 || flock(g->pin_fd, LOCK_SH) != 0) {
            rc = -errno;
            bdx_error_set(err, rc, "generation %s: pin: %s", path, bdx_strerror(rc));
            generation_close(g);
            return rc;
        }
    }
    if ((rc = open_parts(g, (flags & GENERATION_VERIFY) != 0, err)) != 0) {
        generation_close(g);
        return rc;
    }
    g->verified = (flags & GENERATION_VERIFY) != 0;
    *out = g;
    return 0;
}

void generation_close(generation_t *g)
{
    if (g == NULL)
        return;
    gen_shared_free(g->shared); /* every index borrowing it is gone (contract) */
    pthread_mutex_destroy(&g->shared_lock);
    gen_file_close(&g->files[0]);
    gen_file_close(&g->files[1]);
    schema_free(g->schema);
    if (g->pin_fd >= 0)
        close(g->pin_fd); /* releases the flock */
    free(g->dir);
    free(g);
}

/* ---- accessors ---- */

const schema_t *generation_schema(const generation_t *g)
{
    return g->schema;
}

int generation_check_schema(const generation_t *g, const schema_t *schema, bdx_error_t *err)
{
    limits_t limits;
    uint8_t *img = NULL;
    size_t len;
    int rc;

    limits_defaults(&limits);
    if ((rc = schema_file_encode(schema, &limits, &img, &len)) != 0)
        return bdx_error_set(err, rc, "generation %s: schema: %s", g->dir, bdx_strerror(rc));
    rc = len == g->schema_len && memcmp(img, g->schema_img, len) == 0 ? 0 : BDX_EINVAL;
    free(img);
    if (rc != 0)
        return bdx_error_set(err, rc, "generation %s: the index schema differs from the stored one",
                             g->dir);
    return 0;
}

uint64_t generation_number(const generation_t *g)
{
    return g->number;
}

uint64_t generation_lsn(const generation_t *g)
{
    return g->lsn;
}

uint64_t generation_base_number(const generation_t *g)
{
    return g->base_number;
}

bool generation_is_delta(const generation_t *g)
{
    return g->has_delta;
}

uint64_t generation_mapped_bytes(const generation_t *g)
{
    return g->files[0].size + (g->has_delta ? g->files[1].size : 0);
}

uint64_t generation_doc_count(const generation_t *g)
{
    return g->doc_count;
}

unsigned generation_file_count(const generation_t *g)
{
    return g->has_delta ? 2 : 1;
}

void generation_file(const generation_t *g, unsigned i, generation_file_info_t *out)
{
    const gen_file_t *f = &g->files[i];

    out->name = i == 0 ? "base" : "delta";
    out->size = f->size;
    out->checksum = f->header_hash;
    out->sections = f->nsec;
}

void generation_section(const generation_t *g, unsigned i, unsigned j,
                        generation_section_info_t *out)
{
    const gen_section_t *s = &g->files[i].sec[j];

    out->type = gen_section_name(s->type);
    out->arg = s->arg;
    out->offset = s->off;
    out->length = s->len;
    out->checksum = s->hash;
}

/* ---- CURRENT ---- */

/*
 * Durability order: 1. write CURRENT.tmp; 2. fsync it; 3. rename over CURRENT; 4. fsync the
 * index dir. A crash leaves the old CURRENT (steps 1-3) or the new one (after 3); a leftover
 * CURRENT.tmp is overwritten by the next publish.
 */
int generation_publish(const char *index_dir, uint64_t gen_number, bdx_error_t *err)
{
    char tmp[PATH_MAX_LEN], cur[PATH_MAX_LEN], text[32];
    int fd, rc = 0, n;

    snprintf(tmp, sizeof(tmp), "%s/CURRENT.tmp", index_dir);
    snprintf(cur, sizeof(cur), "%s/CURRENT", index_dir);
    n = snprintf(text, sizeof(text), "gen-%" PRIu64 "\n", gen_number);
    fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0) {
        rc = -errno;
        return bdx_error_set(err, rc, "generation %s: create: %s", tmp, bdx_strerror(rc));
    }
    if (write(fd, text, (size_t)n) != n)
        rc = errno ? -errno : -EIO;
    else if (fsync(fd) != 0)
        rc = -errno;
    close(fd);
    if (rc == 0 && rename(tmp, cur) != 0)
        rc = -errno;
    if (rc == 0)
        rc = gen_fsync_path(index_dir);
    if (rc != 0)
        return bdx_error_set(err, rc, "generation %s: publish: %s", cur, bdx_strerror(rc));
    return 0;
}

int generation_current(const char *index_dir, uint64_t *gen_number, bdx_error_t *err)
{
    char path[PATH_MAX_LEN], text[64];
    unsigned long long n;
    int fd, len, end = 0;

    snprintf(path, sizeof(path), "%s/CURRENT", index_dir);
    fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        int rc = -errno;
        if (rc == -ENOENT)
            return bdx_error_set(err, BDX_ENOTFOUND, "generation %s: no CURRENT", path);
        return bdx_error_set(err, rc, "generation %s: open: %s", path, bdx_strerror(rc));
    }
    len = (int)read(fd, text, sizeof(text) - 1);
    close(fd);
    if (len < 0)
        return bdx_error_set(err, -EIO, "generation %s: read failed", path);
    text[len] = 0;
    if (len < 6 || sscanf(text, "gen-%llu\n%n", &n, &end) != 1 || end != len ||
        text[len - 1] != '\n' || text[4] < '0' || text[4] > '9')
        return bdx_error_set(err, BDX_ECORRUPT, "generation %s: not \"gen-<N>\\n\"", path);
    *gen_number = n;
    return 0;
}

/* ---- pins and removal ---- */

int generation_is_pinned(const char *gen_dir, bool *pinned)
{
    char path[PATH_MAX_LEN];
    int fd, rc = 0;

    snprintf(path, sizeof(path), "%s/manifest", gen_dir);
    fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return -errno;
    *pinned = false;
    if (flock(fd, LOCK_EX | LOCK_NB) != 0) {
        if (errno == EWOULDBLOCK)
            *pinned = true;
        else
            rc = -errno;
    }
    close(fd);
    return rc;
}

int generation_remove(const char *index_dir, uint64_t gen_number, bdx_error_t *err)
{
    /* batch-ids(.tmp): the writer's companion file (docs/format/batch-ids.md) */
    static const char *const names[] = {"base", "delta", "batch-ids", "batch-ids.tmp", "manifest"};
    char dir[PATH_MAX_LEN], path[PATH_MAX_LEN + 16];
    uint64_t cur;
    int fd, rc;

    snprintf(dir, sizeof(dir), "%s/gen-%" PRIu64, index_dir, gen_number);
    if (generation_current(index_dir, &cur, NULL) == 0 && cur == gen_number)
        return bdx_error_set(err, BDX_ESTATE, "generation %s: CURRENT names it", dir);
    snprintf(path, sizeof(path), "%s/manifest", dir);
    fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd >= 0 && flock(fd, LOCK_EX | LOCK_NB) != 0) {
        rc = errno == EWOULDBLOCK ? BDX_ESTATE : -errno;
        close(fd);
        return bdx_error_set(err, rc, "generation %s: %s", dir,
                             rc == BDX_ESTATE ? "pinned by a reader" : bdx_strerror(rc));
    }
    /* holding LOCK_EX: a reader opening now blocks in flock until the files are gone, then
     * fails to read them (it retries with CURRENT) */
    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
        snprintf(path, sizeof(path), "%s/%s", dir, names[i]);
        if (unlink(path) != 0 && errno != ENOENT) {
            rc = -errno;
            if (fd >= 0)
                close(fd);
            return bdx_error_set(err, rc, "generation %s: unlink: %s", path, bdx_strerror(rc));
        }
    }
    if (fd >= 0)
        close(fd);
    if (rmdir(dir) != 0) {
        rc = -errno;
        return bdx_error_set(err, rc, "generation %s: rmdir: %s", dir, bdx_strerror(rc));
    }
    if ((rc = gen_fsync_path(index_dir)) != 0)
        return bdx_error_set(err, rc, "generation %s: fsync: %s", index_dir, bdx_strerror(rc));
    return 0;
}

/* Parses "gen-<N>" (exactly; suffix ".tmp" when tmp) into *n. */
static bool parse_gen_name(const char *name, bool tmp, uint64_t *n)
{
    const char *p = name + 4;
    char *end;

    if (strncmp(name, "gen-", 4) != 0 || *p < '0' || *p > '9')
        return false;
    errno = 0;
    *n = strtoull(p, &end, 10);
    if (errno != 0)
        return false;
    return tmp ? strcmp(end, ".tmp") == 0 : *end == 0;
}

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

    return x < y ? -1 : x > y;
}

int generation_list(const char *index_dir, uint64_t **out, size_t *count, bdx_error_t *err)
{
    DIR *d = opendir(index_dir);
    struct dirent *e;
    uint64_t *v = NULL, n;
    size_t cnt = 0, cap = 0;
    int rc;

    *out = NULL;
    *count = 0;
    if (d == NULL) {
        rc = -errno;
        return bdx_error_set(err, rc, "generation %s: opendir: %s", index_dir, bdx_strerror(rc));
    }
    while ((e = readdir(d)) != NULL) {
        if (!parse_gen_name(e->d_name, false, &n))
            continue;
        if (cnt == cap) {
            uint64_t *nv = realloc(v, (cap = cap ? cap * 2 : 16) * sizeof(*v));
            if (nv == NULL) {
                free(v);
                closedir(d);
                return bdx_error_set(err, -ENOMEM, "generation: out of memory");
            }
            v = nv;
        }
        v[cnt++] = n;
    }
    closedir(d);
    if (cnt > 0)
        qsort(v, cnt, sizeof(*v), cmp_u64);
    *out = v;
    *count = cnt;
    return 0;
}

int generation_clean_tmp(const char *index_dir, bdx_error_t *err)
{
    /* batch-ids(.tmp): the writer's companion file (docs/format/batch-ids.md) */
    static const char *const names[] = {"base", "delta", "batch-ids", "batch-ids.tmp", "manifest"};
    DIR *d = opendir(index_dir);
    struct dirent *e;
    char dir[PATH_MAX_LEN], path[PATH_MAX_LEN + 16];
    uint64_t n;
    int rc = 0;

    if (d == NULL) {
        rc = -errno;
        return bdx_error_set(err, rc, "generation %s: opendir: %s", index_dir, bdx_strerror(rc));
    }
    while ((e = readdir(d)) != NULL) {
        if (!parse_gen_name(e->d_name, true, &n))
            continue;
        snprintf(dir, sizeof(dir), "%s/%s", index_dir, e->d_name);
        for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
            snprintf(path, sizeof(path), "%s/%s", dir, names[i]);
            unlink(path);
        }
        if (rmdir(dir) != 0 && rc == 0) {
            rc = -errno;
            bdx_error_set(err, rc, "generation %s: rmdir: %s", dir, bdx_strerror(rc));
        }
    }
    closedir(d);
    return rc;
}

/*
 * generation_write: writes a generation directory: the base file (a full image of an index),
 * or a hard link to the previous base plus a delta file (generation_delta.c), then the
 * manifest, through a `.tmp` directory renamed into place.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "common/generation_internal.h"
#include "common/generation_write_internal.h"
#include "common/limits.h"
#include "common/schema_file.h"

uint64_t gen_now_ns(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

int gen_fsync_path(const char *path)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC), rc = 0;

    if (fd < 0)
        return -errno;
    if (fsync(fd) != 0)
        rc = -errno;
    close(fd);
    return rc;
}

/* ---- base ---- */

typedef struct items_out {
    gen_writer_t *w;
    uint64_t arena_start;
    uint8_t *dir;
    size_t n, cap;
} items_out_t;

int gen_dir_push(uint8_t **dir, size_t *n, size_t *cap, const gen_item_t *it)
{
    if (*n == *cap) {
        size_t c = *cap ? *cap * 2 : 1024;
        uint8_t *d = realloc(*dir, c * GEN_DIR_ENTRY_SIZE);
        if (d == NULL)
            return -ENOMEM;
        *dir = d;
        *cap = c;
    }
    gen_item_encode(*dir + *n * GEN_DIR_ENTRY_SIZE, it);
    (*n)++;
    return 0;
}

static int put_item(unsigned kind, unsigned field, int64_t key, const bitmap_t *slot, void *arg)
{
    items_out_t *o = arg;
    gen_item_t it = {(uint16_t)kind, (uint16_t)field, key, 0, 0, 0};
    int rc;

    if (slot->kind == BITMAP_EMPTY)
        return 0; /* left as the new index makes it */
    if ((rc = gen_writer_begin_item(o->w)) != 0)
        return rc;
    it.off = o->w->pos - o->arena_start;
    if ((rc = gen_put_bitmap(o->w, slot, NULL, &it.len_a)) != 0)
        return rc;
    return gen_dir_push(&o->dir, &o->n, &o->cap, &it);
}

int gen_writer_begin_item(gen_writer_t *w)
{
    static const uint8_t zeros[GEN_ALIGN];
    uint64_t to = gen_align(w->pos);

    return gen_writer_put(w, zeros, (size_t)(to - w->pos));
}

static uint32_t string_fields(const schema_t *s)
{
    uint32_t n = 0;

    for (size_t f = 0; f < s->filter_count; f++)
        n += s->filter_fields[f].type == SCHEMA_STRING;
    return n;
}

static int write_base(const index_t *ix, const char *path, uint64_t number, uint64_t base_id,
                      gen_file_out_t *out, bdx_error_t *err)
{
    const schema_t *s = ix->schema;
    gen_writer_t w;
    items_out_t o = {&w, 0, NULL, 0, 0};
    uint8_t *schema_img = NULL;
    size_t schema_len;
    limits_t limits;
    uint32_t nsec = 5 + 2 * (uint32_t)s->sort_count + string_fields(s);
    int rc;

    limits_defaults(&limits);
    if ((rc = schema_file_encode(s, &limits, &schema_img, &schema_len)) != 0)
        return bdx_error_set(err, rc, "generation %s: schema: %s", path, bdx_strerror(rc));
    if ((rc = gen_writer_open(&w, path, GEN_KIND_BASE, number, base_id, nsec, err)) != 0) {
        free(schema_img);
        return rc;
    }
    if ((rc = gen_writer_begin(&w, GEN_SEC_SCHEMA, 0)) != 0 ||
        (rc = gen_writer_put(&w, schema_img, schema_len)) != 0 || (rc = gen_writer_end(&w)) != 0)
        goto fail;
    /* bitmaps first (collecting the directory), then the directory */
    if ((rc = gen_writer_begin(&w, GEN_SEC_BITMAPS, 0)) != 0)
        goto fail;
    o.arena_start = w.pos;
    if ((rc = gen_walk_items(ix, put_item, &o)) != 0 || (rc = gen_writer_end(&w)) != 0)
        goto fail;
    if ((rc = gen_writer_begin(&w, GEN_SEC_BITMAP_DIR, 0)) != 0 ||
        (rc = gen_writer_put(&w, o.dir, o.n * GEN_DIR_ENTRY_SIZE)) != 0 ||
        (rc = gen_writer_end(&w)) != 0)
        goto fail;
    out->items = o.n;
    for (size_t f = 0; f < s->sort_count; f++) {
        if ((rc = gen_writer_begin(&w, GEN_SEC_COLUMN, (uint32_t)f)) != 0 ||
            (rc = gen_put_column(&w, ix->sorts[f].col)) != 0 || (rc = gen_writer_end(&w)) != 0 ||
            (rc = gen_writer_begin(&w, GEN_SEC_PERM, (uint32_t)f)) != 0 ||
            (rc = gen_put_perm(&w, ix->sorts[f].perm)) != 0 || (rc = gen_writer_end(&w)) != 0)
            goto fail;
    }
    for (size_t f = 0; f < s->filter_count; f++) {
        if (ix->filters[f].dict == NULL)
            continue;
        if ((rc = gen_writer_begin(&w, GEN_SEC_DICT, (uint32_t)f)) != 0 ||
            (rc = gen_put_dict_image(&w, ix->filters[f].dict)) != 0 ||
            (rc = gen_writer_end(&w)) != 0)
            goto fail;
    }
    if ((rc = gen_writer_begin(&w, GEN_SEC_DOCVALUES, 0)) != 0 ||
        (rc = gen_put_slots(&w, docvalues_slots(ix->dv))) != 0 || (rc = gen_writer_end(&w)) != 0 ||
        (rc = gen_writer_begin(&w, GEN_SEC_DOCSTORE, 0)) != 0 ||
        (rc = gen_put_slots(&w, docstore_slots(ix->docs))) != 0 || (rc = gen_writer_end(&w)) != 0)
        goto fail;
    free(o.dir);
    free(schema_img);
    return gen_writer_finish(&w, &out->header_hash, &out->size, err);
fail:
    free(o.dir);
    free(schema_img);
    gen_writer_abort(&w);
    return bdx_error_set(err, rc, "generation %s: write: %s", path, bdx_strerror(rc));
}

/* ---- manifest ---- */

static int write_manifest(const char *path, const gen_manifest_t *m, bdx_error_t *err)
{
    gen_writer_t w;
    uint8_t fixed[GEN_MANIFEST_FIXED] = {0}, file[GEN_MANIFEST_FILE];
    uint64_t hash, size;
    int rc;

    if ((rc = gen_writer_open(&w, path, GEN_KIND_MANIFEST, m->number, m->base_id, 1, err)) != 0)
        return rc;
    gen_put64(fixed, m->number);
    gen_put64(fixed + 8, m->lsn);
    gen_put64(fixed + 16, m->base_number);
    gen_put64(fixed + 24, m->base_id);
    gen_put64(fixed + 32, m->doc_count);
    gen_put32(fixed + 40, m->nfiles);
    if ((rc = gen_writer_begin(&w, GEN_SEC_MANIFEST, 0)) != 0 ||
        (rc = gen_writer_put(&w, fixed, sizeof(fixed))) != 0)
        goto fail;
    for (unsigned i = 0; i < m->nfiles; i++) {
        memset(file, 0, sizeof(file));
        strncpy((char *)file, m->files[i].name, 15);
        gen_put64(file + 16, m->files[i].size);
        gen_put64(file + 24, m->files[i].header_hash);
        if ((rc = gen_writer_put(&w, file, sizeof(file))) != 0)
            goto fail;
    }
    if ((rc = gen_writer_end(&w)) != 0)
        goto fail;
    return gen_writer_finish(&w, &hash, &size, err);
fail:
    gen_writer_abort(&w);
    return bdx_error_set(err, rc, "generation %s: write: %s", path, bdx_strerror(rc));
}

/* ---- the directory ---- */

static void remove_tree(const char *dir)
{
    static const char *const names[] = {"manifest", "base", "delta"};
    char path[4096 + 32];

    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
        snprintf(path, sizeof(path), "%s/%s", dir, names[i]);
        unlink(path);
    }
    rmdir(dir);
}

/*
 * Durability order (a crash between any two steps leaves either no gen-<N> or a complete one):
 *   1. mkdir gen-<N>.tmp (a leftover from a crash is removed first);
 *   2. write base (or link() the previous base) and delta, each fsynced by its writer;
 *   3. write manifest (fsynced): it lists the other files' sizes and header checksums;
 *   4. fsync gen-<N>.tmp (the directory entries);
 *   5. rename gen-<N>.tmp -> gen-<N>;
 *   6. fsync index_dir (the rename).
 * Publishing (CURRENT) is a separate, later step: generation_publish().
 */
int generation_write(const index_t *ix, uint64_t gen_number, uint64_t checkpoint_lsn,
                     const generation_t *base, const char *index_dir, generation_write_stats_t *st,
                     bdx_error_t *err)
{
    char tmp[4096], final[4096], path[4096 + 32], src[4096 + 32];
    gen_manifest_t m = {0};
    gen_file_out_t fo = {0};
    generation_write_stats_t local = {0};
    uint64_t t0 = gen_now_ns();
    struct stat sb;
    int rc;

    if (st == NULL)
        st = &local;
    memset(st, 0, sizeof(*st));
    if (ix->bulk != NULL)
        return bdx_error_set(err, BDX_EINVAL, "generation: index has a pending bulk load");
    if (strlen(index_dir) > 4000)
        return bdx_error_set(err, BDX_EINVAL, "generation: index dir path too long");
    if (base != NULL && (ix->base_id == 0 || ix->base_id != base->base_id))
        return bdx_error_set(err, BDX_EINVAL,
                             "generation %s: the index was not loaded from this generation's "
                             "base; a delta needs it",
                             base->dir);
    snprintf(tmp, sizeof(tmp), "%s/gen-%" PRIu64 ".tmp", index_dir, gen_number);
    snprintf(final, sizeof(final), "%s/gen-%" PRIu64, index_dir, gen_number);
    if (stat(final, &sb) == 0)
        return bdx_error_set(err, BDX_EEXIST, "generation %s: already exists", final);
    remove_tree(tmp);
    if (mkdir(tmp, 0755) != 0) {
        rc = -errno;
        return bdx_error_set(err, rc, "generation %s: mkdir: %s", tmp, bdx_strerror(rc));
    }
    m.number = gen_number;
    m.lsn = checkpoint_lsn;
    m.doc_count = index_doc_count(ix);
    snprintf(path, sizeof(path), "%s/base", tmp);
    if (base == NULL) {
        XXH64_hash_t seed[4] = {gen_number, checkpoint_lsn, t0, (uint64_t)getpid()};
        m.base_id = XXH3_64bits(seed, sizeof(seed)) | 1;
        m.base_number = gen_number;
        if ((rc = write_base(ix, path, gen_number, m.base_id, &fo, err)) != 0)
            goto fail;
        st->bytes += fo.size;
        st->files++;
        st->items = fo.items;
    } else {
        m.base_id = base->base_id;
        m.base_number = base->base_number;
        fo.size = base->files[0].size;
        fo.header_hash = base->files[0].header_hash;
        snprintf(src, sizeof(src), "%s/base", base->dir);
        if (link(src, path) != 0) {
            rc = -errno;
            bdx_error_set(err, rc, "generation %s: link %s: %s", path, src, bdx_strerror(rc));
            goto fail;
        }
    }
    m.files[m.nfiles].name = "base";
    m.files[m.nfiles].size = fo.size;
    m.files[m.nfiles++].header_hash = fo.header_hash;
    if (base != NULL) {
        snprintf(path, sizeof(path), "%s/delta", tmp);
        memset(&fo, 0, sizeof(fo));
        if ((rc = gen_write_delta(ix, base, path, gen_number, &fo, err)) != 0)
            goto fail;
        st->delta = true;
        st->bytes += fo.size;
        st->files++;
        st->items = fo.items;
        st->slots = fo.slots;
        st->materialized_bytes = fo.materialized;
        m.files[m.nfiles].name = "delta";
        m.files[m.nfiles].size = fo.size;
        m.files[m.nfiles++].header_hash = fo.header_hash;
    }
    snprintf(path, sizeof(path), "%s/manifest", tmp);
    if ((rc = write_manifest(path, &m, err)) != 0)
        goto fail;
    if (stat(path, &sb) == 0)
        st->bytes += (uint64_t)sb.st_size;
    st->files++;
    if ((rc = gen_fsync_path(tmp)) != 0) {
        bdx_error_set(err, rc, "generation %s: fsync: %s", tmp, bdx_strerror(rc));
        goto fail;
    }
    if (rename(tmp, final) != 0) {
        rc = -errno;
        bdx_error_set(err, rc, "generation %s: rename: %s", final, bdx_strerror(rc));
        goto fail;
    }
    if ((rc = gen_fsync_path(index_dir)) != 0)
        return bdx_error_set(err, rc, "generation %s: fsync: %s", index_dir, bdx_strerror(rc));
    st->elapsed_ns = gen_now_ns() - t0;
    return 0;
fail:
    remove_tree(tmp);
    return rc;
}

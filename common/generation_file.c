/*
 * generation_file: the container every generation file uses (header, table of contents,
 * 32-byte aligned checksummed sections): a streaming writer that hashes each section as it is
 * written, and a reader that maps a file read-only and checks it. See
 * docs/format/generation.md for the bytes.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/generation_internal.h"

#define WRITE_BUF (1u << 20)

static const uint8_t ZEROS[GEN_ALIGN];

/* ---- directory entries ---- */

void gen_item_decode(const uint8_t *p, gen_item_t *it)
{
    it->kind = gen_get16(p);
    it->field = gen_get16(p + 2);
    it->len_a = gen_get32(p + 4);
    it->key = (int64_t)gen_get64(p + 8);
    it->off = gen_get64(p + 16);
    it->len_r = gen_get32(p + 24);
}

void gen_item_encode(uint8_t *p, const gen_item_t *it)
{
    memset(p, 0, GEN_DIR_ENTRY_SIZE);
    gen_put16(p, it->kind);
    gen_put16(p + 2, it->field);
    gen_put32(p + 4, it->len_a);
    gen_put64(p + 8, (uint64_t)it->key);
    gen_put64(p + 16, it->off);
    gen_put32(p + 24, it->len_r);
}

int gen_item_cmp(unsigned k1, unsigned f1, int64_t key1, unsigned k2, unsigned f2, int64_t key2)
{
    if (k1 != k2)
        return k1 < k2 ? -1 : 1;
    if (f1 != f2)
        return f1 < f2 ? -1 : 1;
    if (key1 != key2)
        return key1 < key2 ? -1 : 1;
    return 0;
}

const char *gen_section_name(uint32_t type)
{
    switch (type) {
    case GEN_SEC_MANIFEST:
        return "manifest";
    case GEN_SEC_SCHEMA:
        return "schema";
    case GEN_SEC_BITMAP_DIR:
        return "bitmap-dir";
    case GEN_SEC_BITMAPS:
        return "bitmaps";
    case GEN_SEC_COLUMN:
        return "column";
    case GEN_SEC_PERM:
        return "permutation";
    case GEN_SEC_DICT:
        return "dictionary";
    case GEN_SEC_DOCVALUES:
        return "docvalues";
    case GEN_SEC_TOUCHED:
        return "touched";
    case GEN_SEC_SORT_VALUES:
        return "sort-values";
    case GEN_SEC_DOCSTORE:
        return "docstore";
    default:
        return "unknown";
    }
}

/* ---- writer ---- */

static int flush_buf(gen_writer_t *w)
{
    size_t done = 0;

    while (done < w->buf_len) {
        ssize_t n = pwrite(w->fd, w->buf + done, w->buf_len - done, (off_t)(w->buf_off + done));
        if (n < 0) {
            if (errno == EINTR)
                continue;
            return -errno;
        }
        done += (size_t)n;
    }
    w->buf_off += w->buf_len;
    w->buf_len = 0;
    return 0;
}

static int raw_put(gen_writer_t *w, const void *data, size_t len)
{
    const uint8_t *p = data;
    int rc;

    while (len > 0) {
        size_t n = WRITE_BUF - w->buf_len;
        if (n > len)
            n = len;
        memcpy(w->buf + w->buf_len, p, n);
        w->buf_len += n;
        w->pos += n;
        p += n;
        len -= n;
        if (w->buf_len == WRITE_BUF && (rc = flush_buf(w)) != 0)
            return rc;
    }
    return 0;
}

static int pad(gen_writer_t *w)
{
    uint64_t to = gen_align(w->pos);

    return raw_put(w, ZEROS, (size_t)(to - w->pos));
}

int gen_writer_open(gen_writer_t *w, const char *path, uint32_t kind, uint64_t number,
                    uint64_t base_id, uint32_t nsec, bdx_error_t *err)
{
    memset(w, 0, sizeof(*w));
    w->fd = -1;
    w->path = path;
    w->kind = kind;
    w->number = number;
    w->base_id = base_id;
    w->cap = nsec;
    w->sec = calloc(nsec + 1, sizeof(*w->sec));
    w->buf = malloc(WRITE_BUF);
    w->xxh = XXH3_createState();
    if (w->sec == NULL || w->buf == NULL || w->xxh == NULL) {
        gen_writer_abort(w);
        return bdx_error_set(err, -ENOMEM, "generation %s: out of memory", path);
    }
    w->fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (w->fd < 0) {
        int rc = -errno;
        gen_writer_abort(w);
        return bdx_error_set(err, rc, "generation %s: create: %s", path, bdx_strerror(rc));
    }
    /* the header and TOC are written last, at offset 0 */
    w->pos = w->buf_off = gen_align(GEN_HEADER_SIZE + (uint64_t)nsec * GEN_TOC_ENTRY_SIZE);
    return 0;
}

int gen_writer_begin(gen_writer_t *w, uint32_t type, uint32_t arg)
{
    int rc;

    if (w->in_section || w->nsec >= w->cap)
        return BDX_EINTERNAL;
    if ((rc = pad(w)) != 0)
        return rc;
    w->sec[w->nsec].type = type;
    w->sec[w->nsec].arg = arg;
    w->sec[w->nsec].off = w->pos;
    w->in_section = true;
    XXH3_64bits_reset(w->xxh);
    return 0;
}

int gen_writer_put(gen_writer_t *w, const void *data, size_t len)
{
    if (len == 0)
        return 0;
    XXH3_64bits_update(w->xxh, data, len);
    return raw_put(w, data, len);
}

int gen_writer_end(gen_writer_t *w)
{
    gen_section_t *s = &w->sec[w->nsec];

    if (!w->in_section)
        return BDX_EINTERNAL;
    s->len = w->pos - s->off;
    s->hash = XXH3_64bits_digest(w->xxh);
    w->nsec++;
    w->in_section = false;
    return 0;
}

int gen_writer_finish(gen_writer_t *w, uint64_t *header_hash, uint64_t *size, bdx_error_t *err)
{
    size_t toc_len = (size_t)w->nsec * GEN_TOC_ENTRY_SIZE;
    uint8_t *head = NULL;
    int rc;

    if (w->in_section || w->nsec != w->cap) {
        rc = BDX_EINTERNAL;
        goto out;
    }
    if ((rc = pad(w)) != 0 || (rc = flush_buf(w)) != 0)
        goto out;
    rc = -ENOMEM;
    head = calloc(1, GEN_HEADER_SIZE + toc_len);
    if (head == NULL)
        goto out;
    for (uint32_t i = 0; i < w->nsec; i++) {
        uint8_t *e = head + GEN_HEADER_SIZE + (size_t)i * GEN_TOC_ENTRY_SIZE;
        gen_put32(e, w->sec[i].type);
        gen_put32(e + 4, w->sec[i].arg);
        gen_put64(e + 8, w->sec[i].off);
        gen_put64(e + 16, w->sec[i].len);
        gen_put64(e + 24, w->sec[i].hash);
    }
    memcpy(head, GEN_MAGIC, 8);
    gen_put32(head + 8, GEN_VERSION);
    gen_put32(head + 12, w->kind);
    gen_put64(head + 16, w->number);
    gen_put64(head + 24, w->base_id);
    gen_put64(head + 32, w->pos);
    gen_put32(head + 40, w->nsec);
    gen_put64(head + 48, XXH3_64bits(head + GEN_HEADER_SIZE, toc_len));
    *header_hash = XXH3_64bits(head, 56);
    gen_put64(head + 56, *header_hash);
    *size = w->pos;
    w->buf_off = 0;
    w->buf_len = 0;
    if (GEN_HEADER_SIZE + toc_len > WRITE_BUF) {
        free(w->buf);
        w->buf = head;
        head = NULL;
        w->buf_len = GEN_HEADER_SIZE + toc_len;
    } else {
        memcpy(w->buf, head, GEN_HEADER_SIZE + toc_len);
        w->buf_len = GEN_HEADER_SIZE + toc_len;
    }
    if ((rc = flush_buf(w)) != 0)
        goto out;
    if (fsync(w->fd) != 0) {
        rc = -errno;
        goto out;
    }
    rc = close(w->fd) == 0 ? 0 : -errno;
    w->fd = -1;
out:
    free(head);
    if (rc != 0)
        bdx_error_set(err, rc, "generation %s: write: %s", w->path, bdx_strerror(rc));
    gen_writer_abort(w);
    return rc;
}

void gen_writer_abort(gen_writer_t *w)
{
    if (w->fd >= 0)
        close(w->fd);
    w->fd = -1;
    free(w->sec);
    free(w->buf);
    free(w->scratch);
    w->scratch = NULL;
    if (w->xxh != NULL)
        XXH3_freeState(w->xxh);
    w->sec = NULL;
    w->buf = NULL;
    w->xxh = NULL;
}

/* ---- reader ---- */

void gen_file_close(gen_file_t *f)
{
    if (f->map != NULL && f->size > 0)
        munmap((void *)f->map, f->size);
    free(f->sec);
    free(f->path);
    memset(f, 0, sizeof(*f));
}

static bool all_zero(const uint8_t *p, uint64_t n)
{
    for (uint64_t i = 0; i < n; i++)
        if (p[i] != 0)
            return false;
    return true;
}

int gen_file_open(gen_file_t *f, const char *path, uint32_t kind, uint64_t expect_size,
                  uint64_t expect_hash, bool verify, bdx_error_t *err)
{
    const uint8_t *m;
    struct stat st;
    uint64_t toc_end, prev_end;
    uint32_t version;
    int fd, rc;

    memset(f, 0, sizeof(*f));
    f->path = strdup(path);
    if (f->path == NULL)
        return bdx_error_set(err, -ENOMEM, "generation %s: out of memory", path);
    fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        rc = -errno;
        gen_file_close(f);
        return bdx_error_set(err, rc, "generation %s: open: %s", path, bdx_strerror(rc));
    }
    if (fstat(fd, &st) != 0) {
        rc = -errno;
        close(fd);
        gen_file_close(f);
        return bdx_error_set(err, rc, "generation %s: stat: %s", path, bdx_strerror(rc));
    }
    f->size = (uint64_t)st.st_size;
    if (expect_size != 0 && f->size != expect_size) {
        close(fd);
        rc = bdx_error_set(err, BDX_ECORRUPT,
                           "generation %s: size %llu, the manifest says %llu; run bitdex-check",
                           path, (unsigned long long)f->size, (unsigned long long)expect_size);
        gen_file_close(f);
        return rc;
    }
    if (f->size < GEN_HEADER_SIZE) {
        close(fd);
        rc = bdx_error_set(err, BDX_ECORRUPT,
                           "generation %s offset 0: file of %llu bytes is shorter than the "
                           "header; run bitdex-check",
                           path, (unsigned long long)f->size);
        gen_file_close(f);
        return rc;
    }
    m = mmap(NULL, f->size, PROT_READ, MAP_SHARED, fd, 0);
    close(fd);
    if (m == MAP_FAILED) {
        rc = -errno;
        gen_file_close(f);
        return bdx_error_set(err, rc, "generation %s: mmap: %s", path, bdx_strerror(rc));
    }
    f->map = m;
#define BAD(...)                                            \
    do {                                                    \
        rc = bdx_error_set(err, BDX_ECORRUPT, __VA_ARGS__); \
        goto fail;                                          \
    } while (0)
    if (memcmp(m, GEN_MAGIC, 8) != 0)
        BAD("generation %s offset 0: bad magic; run bitdex-check", path);
    version = gen_get32(m + 8);
    if (XXH3_64bits(m, 56) != gen_get64(m + 56))
        BAD("generation %s offset 56: header checksum mismatch; run bitdex-check", path);
    if (version != GEN_VERSION) {
        rc = bdx_error_set(err, BDX_EVERSION,
                           "generation %s: format version %u, this build reads version %u", path,
                           version, GEN_VERSION);
        goto fail;
    }
    f->header_hash = gen_get64(m + 56);
    if (expect_hash != 0 && f->header_hash != expect_hash)
        BAD("generation %s offset 56: header checksum differs from the manifest's; run "
            "bitdex-check",
            path);
    f->kind = gen_get32(m + 12);
    f->number = gen_get64(m + 16);
    f->base_id = gen_get64(m + 24);
    f->nsec = gen_get32(m + 40);
    if (f->kind != kind)
        BAD("generation %s offset 12: file kind %u, expected %u", path, f->kind, kind);
    if (gen_get64(m + 32) != f->size)
        BAD("generation %s offset 32: header says %llu bytes, the file has %llu (truncated?); "
            "run bitdex-check",
            path, (unsigned long long)gen_get64(m + 32), (unsigned long long)f->size);
    if (f->nsec > GEN_MAX_SECTIONS)
        BAD("generation %s offset 40: %u sections", path, f->nsec);
    toc_end = GEN_HEADER_SIZE + (uint64_t)f->nsec * GEN_TOC_ENTRY_SIZE;
    if (toc_end > f->size || f->size % GEN_ALIGN != 0)
        BAD("generation %s offset 64: table of contents past the end", path);
    if (XXH3_64bits(m + GEN_HEADER_SIZE, toc_end - GEN_HEADER_SIZE) != gen_get64(m + 48))
        BAD("generation %s offset 64: table of contents checksum mismatch; run bitdex-check", path);
    f->sec = calloc(f->nsec + 1, sizeof(*f->sec));
    if (f->sec == NULL) {
        rc = bdx_error_set(err, -ENOMEM, "generation %s: out of memory", path);
        goto fail;
    }
    prev_end = toc_end;
    for (uint32_t i = 0; i < f->nsec; i++) {
        const uint8_t *e = m + GEN_HEADER_SIZE + (size_t)i * GEN_TOC_ENTRY_SIZE;
        gen_section_t *s = &f->sec[i];
        s->type = gen_get32(e);
        s->arg = gen_get32(e + 4);
        s->off = gen_get64(e + 8);
        s->len = gen_get64(e + 16);
        s->hash = gen_get64(e + 24);
        if (s->off % GEN_ALIGN != 0 || s->off < prev_end || s->off > f->size ||
            s->len > f->size - s->off)
            BAD("generation %s offset %llu: section %u (%s) at %llu+%llu out of place", path,
                (unsigned long long)(e - m), i, gen_section_name(s->type),
                (unsigned long long)s->off, (unsigned long long)s->len);
        if (verify) {
            if (!all_zero(m + prev_end, s->off - prev_end))
                BAD("generation %s offset %llu: nonzero padding; run bitdex-check", path,
                    (unsigned long long)prev_end);
            if (XXH3_64bits(m + s->off, s->len) != s->hash)
                BAD("generation %s offset %llu: section %u (%s, field %u) checksum mismatch; run "
                    "bitdex-check",
                    path, (unsigned long long)s->off, i, gen_section_name(s->type), s->arg);
        }
        prev_end = s->off + s->len;
    }
    if (verify && !all_zero(m + prev_end, f->size - prev_end))
        BAD("generation %s offset %llu: nonzero padding; run bitdex-check", path,
            (unsigned long long)prev_end);
#undef BAD
    return 0;
fail:
    gen_file_close(f);
    return rc;
}

const gen_section_t *gen_file_find(const gen_file_t *f, uint32_t type, uint32_t arg)
{
    for (uint32_t i = 0; i < f->nsec; i++)
        if (f->sec[i].type == type && f->sec[i].arg == arg)
            return &f->sec[i];
    return NULL;
}

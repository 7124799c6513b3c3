/*
 * batch_ids: the ring of remembered batch ids and its file. See batch_ids.h and
 * docs/format/batch-ids.md.
 */
#include "services/writer/batch_ids.h"

#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#define MAGIC "BDXIDS\r\n"
#define VERSION 1u
#define HEADER 16u /* magic 8, version 4, count 4 */
#define RECORD 18u /* lsn 8, ops 4, skipped 4, id length 2 (then the id) */
#define NBUCKETS (2 * BATCH_IDS_MAX)

typedef struct idrec {
    char *id; /* NULL: free slot */
    uint64_t hash;
    int32_t next; /* next record in the same bucket, or -1 */
    batch_result_t res;
} idrec_t;

struct batch_ids {
    idrec_t *ring;    /* BATCH_IDS_MAX records, allocated on the first add */
    int32_t *buckets; /* NBUCKETS heads */
    size_t pos;       /* next record to (re)use: the oldest when full */
    size_t count;
};

static uint64_t id_hash(const char *s)
{
    uint64_t h = 14695981039346656037ULL; /* FNV-1a */

    for (; *s; s++)
        h = (h ^ (unsigned char)*s) * 1099511628211ULL;
    return h;
}

int batch_ids_new(batch_ids_t **out)
{
    return (*out = calloc(1, sizeof(**out))) != NULL ? 0 : -ENOMEM;
}

void batch_ids_free(batch_ids_t *b)
{
    if (b == NULL)
        return;
    for (size_t i = 0; b->ring != NULL && i < BATCH_IDS_MAX; i++)
        free(b->ring[i].id);
    free(b->ring);
    free(b->buckets);
    free(b);
}

const batch_result_t *batch_ids_find(const batch_ids_t *b, const char *id)
{
    uint64_t h = id_hash(id);

    if (b->ring == NULL)
        return NULL;
    for (int32_t k = b->buckets[h % NBUCKETS]; k >= 0; k = b->ring[k].next)
        if (b->ring[k].hash == h && strcmp(b->ring[k].id, id) == 0)
            return &b->ring[k].res;
    return NULL;
}

int batch_ids_add(batch_ids_t *b, const char *id, const batch_result_t *res)
{
    size_t len = strlen(id);
    uint64_t h = id_hash(id);
    idrec_t *r;
    int32_t *p;

    if (len == 0 || len > BATCH_IDS_ID_MAX)
        return BDX_EINVAL;
    if (b->ring == NULL) {
        b->ring = calloc(BATCH_IDS_MAX, sizeof(*b->ring));
        b->buckets = malloc(NBUCKETS * sizeof(*b->buckets));
        if (b->ring == NULL || b->buckets == NULL) {
            free(b->ring);
            free(b->buckets);
            b->ring = NULL;
            b->buckets = NULL;
            return -ENOMEM;
        }
        for (size_t i = 0; i < NBUCKETS; i++)
            b->buckets[i] = -1;
    }
    r = &b->ring[b->pos];
    if (r->id != NULL) { /* unlink the oldest record from its chain */
        for (p = &b->buckets[r->hash % NBUCKETS]; *p != (int32_t)b->pos; p = &b->ring[*p].next)
            ;
        *p = r->next;
        free(r->id);
        r->id = NULL;
        b->count--;
    }
    if ((r->id = strdup(id)) == NULL)
        return -ENOMEM;
    r->hash = h;
    r->res = *res;
    r->next = b->buckets[h % NBUCKETS];
    b->buckets[h % NBUCKETS] = (int32_t)b->pos;
    b->pos = (b->pos + 1) % BATCH_IDS_MAX;
    b->count++;
    return 0;
}

size_t batch_ids_count(const batch_ids_t *b)
{
    return b->count;
}

/* ---- file ---- */

static void put16(uint8_t *p, uint16_t v)
{
    p[0] = (uint8_t)v;
    p[1] = (uint8_t)(v >> 8);
}

static void put32(uint8_t *p, uint32_t v)
{
    for (int i = 0; i < 4; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

static void put64(uint8_t *p, uint64_t v)
{
    for (int i = 0; i < 8; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

static uint32_t get32(const uint8_t *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static uint64_t get64(const uint8_t *p)
{
    return (uint64_t)get32(p) | (uint64_t)get32(p + 4) << 32;
}

static uint32_t crc_of(const uint8_t *p, size_t len)
{
    return (uint32_t)crc32(crc32(0L, Z_NULL, 0), p, (uInt)len);
}

/* The records oldest first: the ring from pos onwards, then from 0. */
static const idrec_t *nth_oldest(const batch_ids_t *b, size_t i)
{
    size_t start = b->count < BATCH_IDS_MAX ? 0 : b->pos;

    return &b->ring[(start + i) % BATCH_IDS_MAX];
}

static int write_all(int fd, const uint8_t *p, size_t n)
{
    while (n > 0) {
        ssize_t w = write(fd, p, n);
        if (w < 0 && errno == EINTR)
            continue;
        if (w < 0)
            return -errno;
        p += w;
        n -= (size_t)w;
    }
    return 0;
}

static int fsync_parent(const char *path)
{
    char copy[PATH_MAX];
    int fd, rc = 0;

    snprintf(copy, sizeof(copy), "%s", path);
    if ((fd = open(dirname(copy), O_RDONLY | O_DIRECTORY | O_CLOEXEC)) < 0)
        return -errno;
    if (fsync(fd) != 0)
        rc = -errno;
    close(fd);
    return rc;
}

int batch_ids_save(const batch_ids_t *b, const char *path, bdx_error_t *err)
{
    char tmp[PATH_MAX];
    size_t size = HEADER + 4, off = HEADER;
    uint8_t *buf;
    int fd, rc;

    for (size_t i = 0; i < b->count; i++)
        size += RECORD + strlen(nth_oldest(b, i)->id);
    if ((buf = malloc(size)) == NULL)
        return bdx_error_set(err, -ENOMEM, "out of memory");
    memcpy(buf, MAGIC, 8);
    put32(buf + 8, VERSION);
    put32(buf + 12, (uint32_t)b->count);
    for (size_t i = 0; i < b->count; i++) {
        const idrec_t *r = nth_oldest(b, i);
        size_t n = strlen(r->id);
        put64(buf + off, r->res.lsn);
        put32(buf + off + 8, r->res.ops);
        put32(buf + off + 12, r->res.skipped);
        put16(buf + off + 16, (uint16_t)n);
        memcpy(buf + off + RECORD, r->id, n);
        off += RECORD + n;
    }
    put32(buf + off, crc_of(buf, off));

    snprintf(tmp, sizeof(tmp), "%s.tmp", path);
    if ((fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644)) < 0) {
        rc = -errno;
        free(buf);
        return bdx_error_set(err, rc, "%s: %s", tmp, bdx_strerror(rc));
    }
    rc = write_all(fd, buf, size);
    if (rc == 0 && fsync(fd) != 0)
        rc = -errno;
    close(fd);
    free(buf);
    if (rc == 0 && rename(tmp, path) != 0)
        rc = -errno;
    if (rc == 0)
        rc = fsync_parent(path);
    if (rc != 0) {
        unlink(tmp);
        return bdx_error_set(err, rc, "%s: %s", path, bdx_strerror(rc));
    }
    return 0;
}

static int read_file(const char *path, uint8_t **out, size_t *len, bdx_error_t *err)
{
    struct stat st;
    uint8_t *buf;
    size_t got = 0;
    int fd, rc = 0;

    if ((fd = open(path, O_RDONLY | O_CLOEXEC)) < 0) {
        rc = -errno;
        return rc == -ENOENT ? bdx_error_set(err, BDX_ENOTFOUND, "%s: no such file", path)
                             : bdx_error_set(err, rc, "%s: %s", path, bdx_strerror(rc));
    }
    if (fstat(fd, &st) != 0 || st.st_size < 0) {
        rc = -errno;
        close(fd);
        return bdx_error_set(err, rc, "%s: %s", path, bdx_strerror(rc));
    }
    if ((buf = malloc((size_t)st.st_size + 1)) == NULL) {
        close(fd);
        return bdx_error_set(err, -ENOMEM, "out of memory");
    }
    while (got < (size_t)st.st_size) {
        ssize_t r = read(fd, buf + got, (size_t)st.st_size - got);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0) {
            rc = r < 0 ? -errno : BDX_ECORRUPT;
            break;
        }
        got += (size_t)r;
    }
    close(fd);
    if (rc != 0) {
        free(buf);
        return bdx_error_set(err, rc, "%s: read failed: %s", path, bdx_strerror(rc));
    }
    *out = buf;
    *len = got;
    return 0;
}

int batch_ids_load(const char *path, batch_ids_t **out, bdx_error_t *err)
{
    batch_ids_t *b = NULL;
    uint8_t *buf = NULL;
    size_t len = 0, off = HEADER;
    uint32_t count;
    int rc;

    *out = NULL;
    if ((rc = read_file(path, &buf, &len, err)) != 0)
        return rc;
    /* CRC before version: a flipped bit in the version is corruption, not a future format. */
    if (len < HEADER + 4 || memcmp(buf, MAGIC, 8) != 0 ||
        get32(buf + len - 4) != crc_of(buf, len - 4)) {
        rc = bdx_error_set(err, BDX_ECORRUPT, "%s: bad magic, length or CRC; run bitdex-check",
                           path);
        goto out;
    }
    if (get32(buf + 8) != VERSION) {
        rc = bdx_error_set(err, BDX_EVERSION, "%s: format version %u, this build reads %u", path,
                           get32(buf + 8), VERSION);
        goto out;
    }
    count = get32(buf + 12);
    if (count > BATCH_IDS_MAX) {
        rc = bdx_error_set(err, BDX_ECORRUPT, "%s: %u ids, at most %u", path, count, BATCH_IDS_MAX);
        goto out;
    }
    if ((rc = batch_ids_new(&b)) != 0) {
        rc = bdx_error_set(err, rc, "out of memory");
        goto out;
    }
    for (uint32_t i = 0; i < count; i++) {
        char id[BATCH_IDS_ID_MAX + 1];
        batch_result_t res;
        size_t n;
        if (off + RECORD > len - 4 ||
            (n = (size_t)buf[off + 16] | (size_t)buf[off + 17] << 8) == 0 || n > BATCH_IDS_ID_MAX ||
            off + RECORD + n > len - 4 || memchr(buf + off + RECORD, 0, n) != NULL) {
            rc = bdx_error_set(err, BDX_ECORRUPT, "%s: record %u out of bounds", path, i);
            goto out;
        }
        res.lsn = get64(buf + off);
        res.ops = get32(buf + off + 8);
        res.skipped = get32(buf + off + 12);
        memcpy(id, buf + off + RECORD, n);
        id[n] = '\0';
        if ((rc = batch_ids_add(b, id, &res)) != 0) {
            rc = bdx_error_set(err, rc, "%s: %s", path, bdx_strerror(rc));
            goto out;
        }
        off += RECORD + n;
    }
    if (off != len - 4) {
        rc = bdx_error_set(err, BDX_ECORRUPT, "%s: %zu trailing bytes", path, len - 4 - off);
        goto out;
    }
    *out = b;
    b = NULL;
out:
    batch_ids_free(b);
    free(buf);
    return rc;
}

/*
 * wal_segment: the bytes of a WAL segment — names, the header, frames and their CRC — the cached
 * pread() access to them, and the recovery scan that classifies a whole directory. The writer
 * (wal.c) and the tailing reader (wal_reader.c) both read through this file, so the two classify
 * every byte the same way. Format: docs/format/wal.md.
 */
#include "common/wal_internal.h"

#include "common/log.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

/* Bytes read ahead on a cache miss: many small frames per pread(). */
#define RBUF_CHUNK (1u << 20)

/* Header field offsets (docs/format/wal.md). */
#define HDR_MAGIC 0
#define HDR_VERSION 8
#define HDR_RESERVED 12
#define HDR_LOG_ID 16
#define HDR_FIRST_LSN 24
#define HDR_RESERVED2 32
#define HDR_CRC 36

/* Frame field offsets. */
#define FRAME_LEN 0
#define FRAME_LSN 4
#define FRAME_PAYLOAD 12

void wal_segment_name(char buf[WAL_NAME_MAX], uint64_t lsn, bool tmp)
{
    snprintf(buf, WAL_NAME_MAX, "%016" PRIx64 ".log%s", lsn, tmp ? ".tmp" : "");
}

const char *wal_segment_path(char *buf, size_t n, const char *dir, uint64_t lsn)
{
    char name[WAL_NAME_MAX];

    wal_segment_name(name, lsn, false);
    snprintf(buf, n, "%s/%s", dir, name);
    return buf;
}

void wal_put32(unsigned char *p, uint32_t v)
{
    for (int i = 0; i < 4; i++)
        p[i] = (unsigned char)(v >> (8 * i));
}

void wal_put64(unsigned char *p, uint64_t v)
{
    for (int i = 0; i < 8; i++)
        p[i] = (unsigned char)(v >> (8 * i));
}

uint32_t wal_get32(const unsigned char *p)
{
    uint32_t v = 0;
    for (int i = 3; i >= 0; i--)
        v = (v << 8) | p[i];
    return v;
}

uint64_t wal_get64(const unsigned char *p)
{
    uint64_t v = 0;
    for (int i = 7; i >= 0; i--)
        v = (v << 8) | p[i];
    return v;
}

uint32_t wal_crc(uint32_t crc, const void *p, size_t n)
{
    const unsigned char *b = p;

    /* zlib's crc32() with a NULL buffer returns the initial value, not `crc`: skip empty input. */
    if (n == 0)
        return crc;
    /* zlib takes a uInt length; frames are <= 1 GiB but stay general. */
    while (n > 0) {
        uInt chunk = n > (1u << 30) ? (1u << 30) : (uInt)n;
        crc = (uint32_t)crc32(crc, b, chunk);
        b += chunk;
        n -= chunk;
    }
    return crc;
}

void wal_header_encode(unsigned char out[WAL_HEADER_SIZE], uint64_t log_id, uint64_t first_lsn)
{
    memset(out, 0, WAL_HEADER_SIZE);
    memcpy(out + HDR_MAGIC, WAL_MAGIC, WAL_MAGIC_LEN);
    wal_put32(out + HDR_VERSION, WAL_VERSION);
    wal_put64(out + HDR_LOG_ID, log_id);
    wal_put64(out + HDR_FIRST_LSN, first_lsn);
    wal_put32(out + HDR_CRC, wal_crc(0, out, HDR_CRC));
}

int wal_error_at(bdx_error_t *err, int code, const char *path, uint64_t off, const char *fmt, ...)
{
    char what[BDX_ERROR_MSG_MAX];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(what, sizeof(what), fmt, ap);
    va_end(ap);
    return bdx_error_set(err, code, "wal %s offset %" PRIu64 ": %s%s", path, off, what,
                         code == BDX_ECORRUPT ? "; run bitdex-check" : "");
}

int wal_header_check(const unsigned char *b, size_t n, const char *path, uint64_t name_lsn,
                     uint64_t log_id, wal_header_t *h, bdx_error_t *err)
{
    /* Magic first (is this our file at all?), then version (can we read the rest?), then the
     * header CRC, whose coverage only version 1 defines. */
    if (n < WAL_MAGIC_LEN || memcmp(b + HDR_MAGIC, WAL_MAGIC, WAL_MAGIC_LEN) != 0)
        return wal_error_at(err, BDX_ECORRUPT, path, 0, "not a bitdex WAL segment (bad magic)");
    if (n < HDR_VERSION + 4)
        return wal_error_at(err, BDX_ECORRUPT, path, n, "header cut short (%zu bytes)", n);
    h->version = wal_get32(b + HDR_VERSION);
    if (h->version != WAL_VERSION)
        return wal_error_at(err, BDX_EVERSION, path, HDR_VERSION,
                            "WAL format version %" PRIu32 ", this build reads version %u",
                            h->version, WAL_VERSION);
    if (n < WAL_HEADER_SIZE)
        return wal_error_at(err, BDX_ECORRUPT, path, n, "header cut short (%zu bytes)", n);
    if (wal_get32(b + HDR_CRC) != wal_crc(0, b, HDR_CRC))
        return wal_error_at(err, BDX_ECORRUPT, path, HDR_CRC, "header CRC mismatch");
    h->log_id = wal_get64(b + HDR_LOG_ID);
    h->first_lsn = wal_get64(b + HDR_FIRST_LSN);
    if (h->first_lsn != name_lsn || h->first_lsn == 0)
        return wal_error_at(err, BDX_ECORRUPT, path, HDR_FIRST_LSN,
                            "header says first LSN %" PRIu64 " but the file is named for %" PRIu64,
                            h->first_lsn, name_lsn);
    if (log_id != 0 && h->log_id != log_id)
        return wal_error_at(err, BDX_ECORRUPT, path, HDR_LOG_ID,
                            "segment of another log (id %016" PRIx64 ", expected %016" PRIx64 ")",
                            h->log_id, log_id);
    return 0;
}

int wal_seglist_reserve(wal_seglist_t *l, size_t extra)
{
    if (l->n + extra <= l->cap)
        return 0;
    size_t cap = l->cap ? l->cap : 16;
    while (cap < l->n + extra)
        cap *= 2;
    uint64_t *p = realloc(l->lsn, cap * sizeof(*p));
    if (!p)
        return -ENOMEM;
    l->lsn = p;
    l->cap = cap;
    return 0;
}

void wal_seglist_free(wal_seglist_t *l)
{
    free(l->lsn);
    l->lsn = NULL;
    l->n = l->cap = 0;
}

/* Parses "<16 lowercase hex>.log" (kind 1) or "<16 lowercase hex>.log.tmp" (kind 2); 0 else. */
static int parse_name(const char *name, uint64_t *lsn)
{
    uint64_t v = 0;

    for (int i = 0; i < 16; i++) {
        char c = name[i];
        int d;
        if (c >= '0' && c <= '9')
            d = c - '0';
        else if (c >= 'a' && c <= 'f')
            d = c - 'a' + 10;
        else
            return 0;
        v = (v << 4) | (uint64_t)d;
    }
    *lsn = v;
    if (strcmp(name + 16, ".log") == 0)
        return 1;
    if (strcmp(name + 16, ".log.tmp") == 0)
        return 2;
    return 0;
}

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return (x > y) - (x < y);
}

int wal_seglist_load(int dirfd, wal_seglist_t *segs, wal_seglist_t *tmps)
{
    DIR *d = NULL;
    struct dirent *e;
    int fd, rc = 0;

    /* fdopendir() takes ownership of its descriptor; give it a copy. */
    fd = dup(dirfd);
    if (fd < 0)
        return -errno;
    d = fdopendir(fd);
    if (!d) {
        rc = -errno;
        close(fd);
        return rc;
    }
    rewinddir(d);
    for (;;) {
        uint64_t lsn;
        wal_seglist_t *l;
        errno = 0;
        e = readdir(d);
        if (!e) {
            rc = -errno; /* 0 at the end of the directory */
            break;
        }
        switch (parse_name(e->d_name, &lsn)) {
        case 1:
            l = segs;
            break;
        case 2:
            l = tmps;
            break;
        default:
            l = NULL;
        }
        if (!l)
            continue;
        rc = wal_seglist_reserve(l, 1);
        if (rc < 0)
            break;
        l->lsn[l->n++] = lsn;
    }
    closedir(d);
    if (rc == 0 && segs->n > 1)
        qsort(segs->lsn, segs->n, sizeof(uint64_t), cmp_u64);
    if (rc == 0 && tmps && tmps->n > 1)
        qsort(tmps->lsn, tmps->n, sizeof(uint64_t), cmp_u64);
    return rc;
}

void wal_rbuf_init(wal_rbuf_t *rb, int fd)
{
    memset(rb, 0, sizeof(*rb));
    rb->fd = fd;
}

void wal_rbuf_drop(wal_rbuf_t *rb)
{
    rb->len = 0;
    rb->base = 0;
}

void wal_rbuf_free(wal_rbuf_t *rb)
{
    free(rb->buf);
    memset(rb, 0, sizeof(*rb));
    rb->fd = -1;
}

static int rbuf_grow(wal_rbuf_t *rb, size_t cap)
{
    unsigned char *b;

    if (cap <= rb->cap)
        return 0;
    b = realloc(rb->buf, cap);
    if (!b)
        return -ENOMEM;
    rb->buf = b;
    rb->cap = cap;
    return 0;
}

int wal_rbuf_get(wal_rbuf_t *rb, uint64_t off, size_t n, const unsigned char **p, size_t *avail)
{
    size_t want, got = 0;
    int rc;

    if (off >= rb->base && off - rb->base <= rb->len && rb->len - (off - rb->base) >= n) {
        *p = rb->buf + (off - rb->base);
        *avail = n;
        return 0;
    }
    /* Miss: read from `off`, at least n bytes and up to a chunk ahead. */
    rc = rbuf_grow(rb, RBUF_CHUNK);
    if (rc == 0 && n > rb->cap) {
        /* Grow only for bytes that exist: a damaged length must not allocate a gigabyte. When
         * they do not, the read below comes up short, which is the answer. */
        struct stat st;
        if (fstat(rb->fd, &st) < 0)
            return -errno;
        if ((uint64_t)st.st_size >= off + n)
            rc = rbuf_grow(rb, n);
    }
    if (rc < 0)
        return rc;
    want = rb->cap;
    rb->base = off;
    rb->len = 0;
    while (got < want) {
        size_t ask = want - got;
        ssize_t r = pread(rb->fd, rb->buf + got, ask, (off_t)(off + got));
        if (r < 0) {
            if (errno == EINTR)
                continue;
            return -errno;
        }
        got += (size_t)r;
        if ((size_t)r < ask)
            break; /* the file ends here (for now) */
    }
    rb->len = got;
    *p = rb->buf;
    *avail = got < n ? got : n;
    return got < n ? 1 : 0;
}

int wal_frame_read(wal_rbuf_t *rb, uint64_t off, wal_frame_t *f)
{
    const unsigned char *p;
    size_t avail;
    uint32_t len;
    int rc;

    rc = wal_rbuf_get(rb, off, FRAME_PAYLOAD, &p, &avail);
    if (rc < 0)
        return rc;
    if (rc == 1)
        return avail == 0 ? WAL_FRAME_END : WAL_FRAME_INCOMPLETE;
    len = wal_get32(p + FRAME_LEN);
    if (len > WAL_FRAME_LIMIT)
        return WAL_FRAME_BAD_LENGTH;
    rc = wal_rbuf_get(rb, off, (size_t)len + WAL_FRAME_OVERHEAD, &p, &avail);
    if (rc < 0)
        return rc;
    if (rc == 1)
        return WAL_FRAME_INCOMPLETE;
    if (wal_get32(p + FRAME_PAYLOAD + len) != wal_crc(0, p, FRAME_PAYLOAD + (size_t)len))
        return WAL_FRAME_BAD_CRC;
    f->len = len;
    f->lsn = wal_get64(p + FRAME_LSN);
    f->payload = p + FRAME_PAYLOAD;
    f->size = (uint64_t)len + WAL_FRAME_OVERHEAD;
    return WAL_FRAME_OK;
}

const char *wal_frame_status_name(int status)
{
    switch (status) {
    case WAL_FRAME_OK:
        return "valid frame";
    case WAL_FRAME_END:
        return "end of file";
    case WAL_FRAME_INCOMPLETE:
        return "incomplete frame";
    case WAL_FRAME_BAD_LENGTH:
        return "frame length over the 1 GiB limit";
    case WAL_FRAME_BAD_CRC:
        return "frame CRC mismatch";
    default:
        return "read error";
    }
}

int wal_frame_search(wal_rbuf_t *rb, uint64_t off, uint64_t expected, uint64_t *found_off,
                     uint64_t *found_lsn)
{
    /* Every offset is a candidate (a damaged length hides where the next frame starts). The LSN
     * test is cheap and rejects almost all of them before any CRC is computed. */
    for (uint64_t o = off + 1;; o++) {
        const unsigned char *p;
        size_t avail;
        wal_frame_t f;
        int rc = wal_rbuf_get(rb, o, FRAME_PAYLOAD, &p, &avail);
        if (rc < 0)
            return rc;
        if (rc == 1)
            return 0;
        uint64_t lsn = wal_get64(p + FRAME_LSN);
        if (lsn < expected || lsn - expected > (o - off) / WAL_FRAME_OVERHEAD)
            continue;
        if (wal_get32(p + FRAME_LEN) > WAL_FRAME_LIMIT)
            continue;
        rc = wal_frame_read(rb, o, &f);
        if (rc < 0)
            return rc;
        if (rc == WAL_FRAME_OK) {
            *found_off = o;
            *found_lsn = f.lsn;
            return 1;
        }
    }
}

int wal_fsync_dir(int dirfd)
{
    if (fsync(dirfd) < 0)
        return -errno;
    return 0;
}

const char *wal_outcome_name(wal_outcome_t o)
{
    switch (o) {
    case WAL_CLEAN:
        return "clean";
    case WAL_TORN_TAIL:
        return "torn_tail";
    case WAL_REPAIRED:
        return "repaired";
    case WAL_CORRUPT:
        return "corrupt";
    case WAL_VERSION_MISMATCH:
        return "version_mismatch";
    }
    return "unknown";
}

static void report_at(wal_recovery_t *rep, wal_outcome_t o, const char *path, uint64_t off)
{
    rep->outcome = o;
    snprintf(rep->file, sizeof(rep->file), "%s", path);
    rep->offset = off;
}

/* Recovery: damage is only ever cut in the newest segment, because rotation syncs a segment
 * before its successor exists; any other damage hit data that was durable. */
int wal_scan(int dirfd, const char *dir, const wal_options_t *o, bool modify, wal_scan_t *s,
             wal_recovery_t *rep, bdx_error_t *err)
{
    wal_seglist_t tmps = {0};
    wal_rbuf_t rb;
    char path[WAL_PATH_MAX], name[WAL_NAME_MAX];
    uint64_t expected = 0;
    int fd = -1, rc;

    wal_rbuf_init(&rb, -1);
    rc = wal_seglist_load(dirfd, &s->segs, &tmps);
    if (rc < 0) {
        bdx_error_set(err, rc, "wal %s: list: %s", dir, bdx_strerror(rc));
        goto out;
    }
    /* A .tmp file is a rotation interrupted before its rename: it never held a frame. */
    for (size_t i = 0; i < tmps.n; i++) {
        wal_segment_name(name, tmps.lsn[i], true);
        if (modify && unlinkat(dirfd, name, 0) < 0 && errno != ENOENT) {
            rc = -errno;
            bdx_error_set(err, rc, "wal %s/%s: unlink: %s", dir, name, bdx_strerror(rc));
            goto out;
        }
        rep->temp_removed++;
    }
    if (modify && tmps.n > 0 && (rc = wal_fsync_dir(dirfd)) < 0) {
        bdx_error_set(err, rc, "wal %s: fsync: %s", dir, bdx_strerror(rc));
        goto out;
    }
    s->log_id = o->log_id;
    if (s->segs.n == 0) {
        s->next_lsn = o->start_lsn;
        rep->first_lsn = s->next_lsn;
        rep->last_lsn = s->next_lsn - 1;
        goto out;
    }
    expected = s->segs.lsn[0];
    rep->first_lsn = expected;
    for (size_t i = 0; i < s->segs.n; i++) {
        bool last = i + 1 == s->segs.n;
        const unsigned char *p;
        size_t avail;
        wal_header_t h;
        uint64_t off = WAL_HEADER_SIZE;

        wal_segment_path(path, sizeof(path), dir, s->segs.lsn[i]);
        wal_segment_name(name, s->segs.lsn[i], false);
        fd = openat(dirfd, name, (modify && last ? O_RDWR : O_RDONLY) | O_CLOEXEC);
        if (fd < 0) {
            rc = -errno;
            bdx_error_set(err, rc, "wal %s: open: %s", path, bdx_strerror(rc));
            goto out;
        }
        wal_rbuf_drop(&rb);
        rb.fd = fd;
        rc = wal_rbuf_get(&rb, 0, WAL_HEADER_SIZE, &p, &avail);
        if (rc < 0) {
            bdx_error_set(err, rc, "wal %s: read: %s", path, bdx_strerror(rc));
            goto out;
        }
        rc = wal_header_check(p, avail, path, s->segs.lsn[i], s->log_id, &h, err);
        if (rc < 0) {
            report_at(rep, rc == BDX_EVERSION ? WAL_VERSION_MISMATCH : WAL_CORRUPT, path, 0);
            goto out;
        }
        if (s->log_id == 0)
            s->log_id = h.log_id; /* adopt the id of the first segment; the rest must match */
        if (h.first_lsn != expected) {
            report_at(rep, WAL_CORRUPT, path, 0);
            rc = wal_error_at(
                err, BDX_ECORRUPT, path, 0,
                "segment starts at LSN %" PRIu64 " but the log continues at %" PRIu64 " (%s)",
                h.first_lsn, expected, h.first_lsn > expected ? "a segment is missing" : "overlap");
            goto out;
        }
        for (;;) {
            wal_frame_t f;
            uint64_t found_off, found_lsn;
            struct stat st;
            int status = wal_frame_read(&rb, off, &f);

            if (status < 0) {
                rc = status;
                bdx_error_set(err, rc, "wal %s: read: %s", path, bdx_strerror(rc));
                goto out;
            }
            if (status == WAL_FRAME_END)
                break;
            if (status == WAL_FRAME_OK) {
                if (f.lsn != expected) {
                    report_at(rep, WAL_CORRUPT, path, off);
                    rc = wal_error_at(err, BDX_ECORRUPT, path, off,
                                      "frame has LSN %" PRIu64 ", expected %" PRIu64, f.lsn,
                                      expected);
                    goto out;
                }
                off += f.size;
                expected++;
                rep->frames++;
                continue;
            }
            if (!last) {
                report_at(rep, WAL_CORRUPT, path, off);
                rc = wal_error_at(err, BDX_ECORRUPT, path, off,
                                  "%s (LSN %" PRIu64 ") in a segment that is not the last",
                                  wal_frame_status_name(status), expected);
                goto out;
            }
            rc = wal_frame_search(&rb, off, expected, &found_off, &found_lsn);
            if (rc < 0) {
                bdx_error_set(err, rc, "wal %s: read: %s", path, bdx_strerror(rc));
                goto out;
            }
            if (rc == 1 && !o->repair_last_segment) {
                report_at(rep, WAL_CORRUPT, path, off);
                rc = wal_error_at(err, BDX_ECORRUPT, path, off,
                                  "%s (LSN %" PRIu64 ") followed by a valid frame (LSN %" PRIu64
                                  " at offset %" PRIu64 ")",
                                  wal_frame_status_name(status), expected, found_lsn, found_off);
                goto out;
            }
            /* A torn tail: the last frame(s) of the log were being written when the process or
             * machine stopped. Nothing after `off` was ever acknowledged: cut it. */
            if (fstat(fd, &st) < 0) {
                rc = -errno;
                bdx_error_set(err, rc, "wal %s: stat: %s", path, bdx_strerror(rc));
                goto out;
            }
            report_at(rep, rc == 1 ? WAL_REPAIRED : WAL_TORN_TAIL, path, off);
            rep->dropped_bytes = (uint64_t)st.st_size - off;
            rc = 0;
            if (modify) {
                if (ftruncate(fd, (off_t)off) < 0 || fdatasync(fd) < 0) {
                    rc = -errno;
                    bdx_error_set(err, rc, "wal %s: cutting the torn tail: %s", path,
                                  bdx_strerror(rc));
                    goto out;
                }
                log_warn("wal", rep->outcome == WAL_REPAIRED ? "damaged tail cut" : "torn tail cut",
                         "file=%s offset=%" PRIu64 " dropped_bytes=%" PRIu64 " reason=\"%s\""
                         " last_lsn=%" PRIu64,
                         path, off, rep->dropped_bytes, wal_frame_status_name(status),
                         expected - 1);
            }
            break;
        }
        if (last) {
            s->last_size = off;
            if (modify) {
                s->last_fd = fd;
                fd = -1;
            }
        }
        if (fd >= 0)
            close(fd);
        fd = -1;
    }
    s->next_lsn = expected;
    rep->last_lsn = expected - 1;
    rep->segments = s->segs.n;
out:
    if (fd >= 0)
        close(fd);
    wal_rbuf_free(&rb);
    wal_seglist_free(&tmps);
    return rc;
}

/*
 * wal_reader: replays and tails a WAL from another process while the writer appends, rotates
 * and deletes segments. It classifies bytes with the writer's code (wal_segment.c) but draws a
 * different conclusion at the end of the log: what recovery would cut as a torn tail is, for a
 * tailing reader, a frame still being written, so it waits (WAL_AGAIN) rather than failing.
 */
#include "common/wal.h"

#include "common/wal_internal.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* How often open/locate retries when segments are deleted between listing and opening. */
#define LOCATE_RETRIES 8

struct wal_reader {
    char *dir;
    int dirfd;
    uint64_t log_id;   /* 0 until the first segment is seen, when opened with 0 */
    uint64_t from_lsn; /* frames below it are read (and checked) but not returned */
    int fd;            /* current segment, -1 before the first one exists */
    uint64_t seg_lsn;  /* its first LSN */
    wal_rbuf_t rb;
    uint64_t off;      /* where the next frame starts in the current segment */
    uint64_t last_off; /* where the frame last returned starts (in the current segment) */
    uint64_t next_lsn; /* the LSN that frame must have */
    int failed;        /* sticky error */
    bdx_error_t failed_err;
};

static const char *cur_path(const wal_reader_t *r, char *buf, size_t n)
{
    return wal_segment_path(buf, n, r->dir, r->seg_lsn);
}

static int gone(wal_reader_t *r, uint64_t lsn, uint64_t oldest, bdx_error_t *err)
{
    return bdx_error_set(err, BDX_ENOTFOUND,
                         "wal %s: LSN %" PRIu64 " is no longer in the log (oldest segment starts "
                         "at %" PRIu64 "): reload a newer generation",
                         r->dir, lsn, oldest);
}

/*
 * Opens the segment named for `lsn` and checks its header. Returns 0, -ENOENT (no such
 * segment, or deleted meanwhile), BDX_ECORRUPT, BDX_EVERSION or -errno. On success *fd is open.
 */
static int open_segment(wal_reader_t *r, uint64_t lsn, int *fd, bdx_error_t *err)
{
    char name[WAL_NAME_MAX], path[WAL_PATH_MAX];
    unsigned char hdr[WAL_HEADER_SIZE];
    wal_header_t h;
    size_t got = 0;
    int rc;

    wal_segment_name(name, lsn, false);
    wal_segment_path(path, sizeof(path), r->dir, lsn);
    *fd = openat(r->dirfd, name, O_RDONLY | O_CLOEXEC);
    if (*fd < 0)
        return errno == ENOENT
                   ? -ENOENT
                   : bdx_error_set(err, -errno, "wal %s: open: %s", path, strerror(errno));
    while (got < sizeof(hdr)) {
        ssize_t n = pread(*fd, hdr + got, sizeof(hdr) - got, (off_t)got);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            rc = bdx_error_set(err, -errno, "wal %s: read: %s", path, strerror(errno));
            goto fail;
        }
        if (n == 0)
            break;
        got += (size_t)n;
    }
    rc = wal_header_check(hdr, got, path, lsn, r->log_id, &h, err);
    if (rc < 0)
        goto fail;
    if (r->log_id == 0)
        r->log_id = h.log_id;
    return 0;
fail:
    close(*fd);
    *fd = -1;
    return rc;
}

static void use_segment(wal_reader_t *r, int fd, uint64_t lsn)
{
    if (r->fd >= 0)
        close(r->fd);
    r->fd = fd;
    r->seg_lsn = lsn;
    wal_rbuf_drop(&r->rb);
    r->rb.fd = fd;
    r->off = WAL_HEADER_SIZE;
    r->next_lsn = lsn;
}

/*
 * Finds and opens the segment holding from_lsn: the newest one whose first LSN is <= from_lsn.
 * Returns 0 (r->fd may still be -1 when the directory holds no segment yet), BDX_ENOTFOUND when
 * from_lsn is older than every segment, or an error.
 */
static int locate(wal_reader_t *r, bdx_error_t *err)
{
    for (int attempt = 0; attempt < LOCATE_RETRIES; attempt++) {
        wal_seglist_t segs = {0};
        uint64_t lsn;
        size_t i;
        int fd, rc;

        rc = wal_seglist_load(r->dirfd, &segs, NULL);
        if (rc < 0) {
            wal_seglist_free(&segs);
            return bdx_error_set(err, rc, "wal %s: list: %s", r->dir, bdx_strerror(rc));
        }
        if (segs.n == 0) {
            wal_seglist_free(&segs);
            return 0;
        }
        if (r->from_lsn < segs.lsn[0]) {
            lsn = segs.lsn[0];
            wal_seglist_free(&segs);
            return gone(r, r->from_lsn, lsn, err);
        }
        for (i = segs.n; i > 0 && segs.lsn[i - 1] > r->from_lsn; i--)
            ;
        lsn = segs.lsn[i - 1];
        wal_seglist_free(&segs);
        rc = open_segment(r, lsn, &fd, err);
        if (rc == -ENOENT)
            continue; /* deleted since the listing: look again */
        if (rc < 0)
            return rc;
        use_segment(r, fd, lsn);
        return 0;
    }
    return bdx_error_set(err, BDX_EUNAVAILABLE, "wal %s: segments keep disappearing", r->dir);
}

int wal_reader_open(const char *dir, uint64_t from_lsn, uint64_t log_id, wal_reader_t **out,
                    bdx_error_t *err)
{
    wal_reader_t *r;
    int rc;

    *out = NULL;
    if (from_lsn == 0)
        return bdx_error_set(err, BDX_EINVAL, "wal_reader_open: LSN 0 does not exist");
    r = calloc(1, sizeof(*r));
    if (!r || !(r->dir = strdup(dir))) {
        free(r);
        return bdx_error_set(err, -ENOMEM, "wal %s: out of memory", dir);
    }
    r->fd = -1;
    r->log_id = log_id;
    r->from_lsn = from_lsn;
    r->next_lsn = from_lsn;
    wal_rbuf_init(&r->rb, -1);
    r->dirfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (r->dirfd < 0) {
        rc = bdx_error_set(err, -errno, "wal %s: open: %s", dir, strerror(errno));
        goto fail;
    }
    rc = locate(r, err);
    if (rc < 0)
        goto fail;
    *out = r;
    return 0;
fail:
    wal_reader_close(r);
    return rc;
}

/*
 * The current segment has no complete frame at r->off. If its successor exists, the writer has
 * finished with it (rotation happens after the last write to the old segment): re-read once and
 * move on. Returns 1 when the caller should read again, 0 for "not yet", or an error.
 */
static int advance(wal_reader_t *r, bdx_error_t *err)
{
    char path[WAL_PATH_MAX];
    struct stat st;
    wal_frame_t f;
    int fd, rc, status;

    /* An empty segment has no successor: rotation never leaves a segment without a frame. */
    rc = r->next_lsn == r->seg_lsn ? -ENOENT : open_segment(r, r->next_lsn, &fd, err);
    if (rc == -ENOENT) {
        wal_seglist_t segs = {0};
        uint64_t oldest;

        /* No successor yet. If ours is still linked, the writer simply has not written more. */
        if (fstat(r->fd, &st) < 0)
            return bdx_error_set(err, -errno, "wal %s: stat: %s", cur_path(r, path, sizeof(path)),
                                 strerror(errno));
        if (st.st_nlink > 0)
            return 0;
        /* Ours was deleted by a checkpoint; so, oldest first, was any successor. */
        rc = wal_seglist_load(r->dirfd, &segs, NULL);
        oldest = segs.n ? segs.lsn[0] : 0;
        wal_seglist_free(&segs);
        if (rc < 0)
            return bdx_error_set(err, rc, "wal %s: list: %s", r->dir, bdx_strerror(rc));
        if (oldest > r->next_lsn || oldest == 0)
            return gone(r, r->next_lsn, oldest, err);
        if (oldest == r->next_lsn)
            return 1; /* it appeared between the open and the listing */
        return wal_error_at(err, BDX_ECORRUPT, cur_path(r, path, sizeof(path)), r->off,
                            "segment deleted but no segment starts at LSN %" PRIu64, r->next_lsn);
    }
    if (rc < 0)
        return rc;

    wal_rbuf_drop(&r->rb);
    status = wal_frame_read(&r->rb, r->off, &f);
    if (status == WAL_FRAME_OK) {
        close(fd);
        return 1;
    }
    if (status == WAL_FRAME_END) {
        use_segment(r, fd, r->next_lsn);
        return 1;
    }
    close(fd);
    if (status < 0)
        return bdx_error_set(err, status, "wal %s: read: %s", cur_path(r, path, sizeof(path)),
                             bdx_strerror(status));
    return wal_error_at(err, BDX_ECORRUPT, cur_path(r, path, sizeof(path)), r->off,
                        "%s (LSN %" PRIu64 ") at the end of a segment that has a successor",
                        wal_frame_status_name(status), r->next_lsn);
}

static int fail(wal_reader_t *r, int rc, bdx_error_t *err)
{
    r->failed = rc;
    if (err)
        r->failed_err = *err;
    else
        bdx_error_set(&r->failed_err, rc, "%s", bdx_strerror(rc));
    return rc;
}

int wal_reader_next(wal_reader_t *r, uint64_t *lsn, const void **payload, size_t *len,
                    bdx_error_t *err)
{
    char path[WAL_PATH_MAX];
    int rc;

    if (r->failed) {
        if (err)
            *err = r->failed_err;
        return r->failed;
    }
    if (r->fd < 0) {
        rc = locate(r, err);
        if (rc < 0)
            return fail(r, rc, err);
        if (r->fd < 0)
            return WAL_AGAIN;
    }
    for (;;) {
        wal_frame_t f;
        uint64_t found_off, found_lsn;
        int status = wal_frame_read(&r->rb, r->off, &f);

        if (status < 0)
            return fail(r,
                        bdx_error_set(err, status, "wal %s: read: %s",
                                      cur_path(r, path, sizeof(path)), bdx_strerror(status)),
                        err);
        if (status == WAL_FRAME_OK) {
            if (f.lsn != r->next_lsn)
                return fail(r,
                            wal_error_at(err, BDX_ECORRUPT, cur_path(r, path, sizeof(path)), r->off,
                                         "frame has LSN %" PRIu64 ", expected %" PRIu64, f.lsn,
                                         r->next_lsn),
                            err);
            r->last_off = r->off;
            r->off += f.size;
            r->next_lsn++;
            if (f.lsn < r->from_lsn)
                continue;
            *lsn = f.lsn;
            *payload = f.payload;
            *len = f.len;
            return 0;
        }
        if (status == WAL_FRAME_BAD_CRC || status == WAL_FRAME_BAD_LENGTH) {
            /* Damage at the end of the log is a torn tail the writer's recovery will cut;
             * damage with a valid frame after it is corruption. */
            rc = wal_frame_search(&r->rb, r->off, r->next_lsn, &found_off, &found_lsn);
            if (rc < 0)
                return fail(r,
                            bdx_error_set(err, rc, "wal %s: read: %s",
                                          cur_path(r, path, sizeof(path)), bdx_strerror(rc)),
                            err);
            if (rc == 1)
                return fail(
                    r,
                    wal_error_at(err, BDX_ECORRUPT, cur_path(r, path, sizeof(path)), r->off,
                                 "%s (LSN %" PRIu64 ") followed by a valid frame (LSN %" PRIu64
                                 " at offset %" PRIu64 ")",
                                 wal_frame_status_name(status), r->next_lsn, found_lsn, found_off),
                    err);
        }
        rc = advance(r, err);
        if (rc < 0)
            return fail(r, rc, err);
        if (rc == 0) {
            /* Bytes past the last complete frame may yet be cut by recovery: forget them. */
            wal_rbuf_drop(&r->rb);
            return WAL_AGAIN;
        }
    }
}

uint64_t wal_reader_next_lsn(const wal_reader_t *r)
{
    return r->next_lsn < r->from_lsn ? r->from_lsn : r->next_lsn;
}

void wal_reader_position(const wal_reader_t *r, char *path, size_t n, uint64_t *offset)
{
    wal_segment_path(path, n, r->dir, r->seg_lsn);
    *offset = r->last_off;
}

void wal_reader_close(wal_reader_t *r)
{
    if (!r)
        return;
    if (r->fd >= 0)
        close(r->fd);
    if (r->dirfd >= 0)
        close(r->dirfd);
    wal_rbuf_free(&r->rb);
    free(r->dir);
    free(r);
}

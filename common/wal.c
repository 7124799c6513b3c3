/*
 * wal: the writer's side of the write-ahead log — recovery at open, appends, group-commit syncs,
 * segment rotation, and deletion of segments a checkpoint made obsolete. The contract (threads,
 * readers, crashes) is in wal.h; the bytes are docs/format/wal.md; the code that reads and
 * classifies them is shared with the reader in wal_segment.c.
 */
#include "common/wal.h"

#include "common/log.h"
#include "common/process.h"
#include "common/wal_internal.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/uio.h>
#include <unistd.h>

/* An open segment; wal_sync() pins it so rotation cannot close it under an fdatasync(). */
typedef struct seg_file {
    int fd;
    int refs; /* guarded by wal.mu */
    uint64_t first_lsn;
} seg_file_t;

struct wal {
    char *dir;
    int dirfd;
    wal_options_t opts;
    uint64_t log_id;

    /* Written by the append thread only (cur also under mu, for wal_sync to pin it). */
    seg_file_t *cur;
    uint64_t cur_size; /* bytes in the current segment: where the next frame goes */
    uint64_t next_lsn;

    pthread_mutex_t mu; /* guards what follows */
    wal_seglist_t segs; /* first LSN of every segment, oldest first; the last is cur */
    uint64_t last_lsn;
    uint64_t durable_lsn;
    int broken; /* 0, or the error that made the wal_t unusable */

    pthread_mutex_t trunc_mu; /* serializes wal_truncate_before() */
};

void wal_options_init(wal_options_t *o)
{
    memset(o, 0, sizeof(*o));
    o->segment_size = WAL_DEFAULT_SEGMENT_SIZE;
    o->max_frame = WAL_DEFAULT_MAX_FRAME;
    o->start_lsn = 1;
}

uint64_t wal_log_id(const char *index_name)
{
    uint64_t h = 0xcbf29ce484222325ull; /* FNV-1a 64 */

    for (const unsigned char *p = (const unsigned char *)index_name; *p; p++) {
        h ^= *p;
        h *= 0x100000001b3ull;
    }
    return h ? h : 1; /* 0 means "any" in wal_options_t */
}

static int resolve_options(const wal_options_t *in, wal_options_t *o, bdx_error_t *err)
{
    wal_options_init(o);
    if (in) {
        *o = *in;
        if (!o->segment_size)
            o->segment_size = WAL_DEFAULT_SEGMENT_SIZE;
        if (!o->max_frame)
            o->max_frame = WAL_DEFAULT_MAX_FRAME;
        if (!o->start_lsn)
            o->start_lsn = 1;
    }
    if (o->segment_size < WAL_HEADER_SIZE + WAL_FRAME_OVERHEAD)
        return bdx_error_set(err, BDX_EINVAL, "wal segment_size %" PRIu64 " is below %u bytes",
                             o->segment_size, WAL_HEADER_SIZE + WAL_FRAME_OVERHEAD);
    if (o->max_frame > WAL_FRAME_LIMIT)
        return bdx_error_set(err, BDX_EINVAL, "wal max_frame %" PRIu32 " is over the %u limit",
                             o->max_frame, WAL_FRAME_LIMIT);
    return 0;
}

/* Opens `dir` as a directory, creating it (and making its entry durable) if asked. */
static int open_dir(const char *dir, bool create, int *out, bdx_error_t *err)
{
    int fd, rc;

    fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0 && errno == ENOENT && create) {
        char parent[WAL_PATH_MAX];
        char *slash;
        int pfd;

        rc = process_mkdirs(dir);
        if (rc < 0)
            return bdx_error_set(err, rc, "wal %s: create: %s", dir, bdx_strerror(rc));
        snprintf(parent, sizeof(parent), "%s", dir);
        slash = strrchr(parent, '/');
        if (slash == parent)
            slash[1] = '\0';
        else if (slash)
            *slash = '\0';
        else
            snprintf(parent, sizeof(parent), ".");
        pfd = open(parent, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (pfd >= 0) {
            rc = wal_fsync_dir(pfd);
            close(pfd);
            if (rc < 0)
                return bdx_error_set(err, rc, "wal %s: fsync: %s", parent, bdx_strerror(rc));
        }
        fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    }
    if (fd < 0) {
        rc = -errno;
        return bdx_error_set(err, rc, "wal %s: open: %s", dir, bdx_strerror(rc));
    }
    *out = fd;
    return 0;
}

static int pwrite_all(int fd, struct iovec *iov, int cnt, uint64_t off)
{
    while (cnt > 0) {
        ssize_t w = pwritev(fd, iov, cnt, (off_t)off);
        if (w < 0) {
            if (errno == EINTR)
                continue;
            return -errno;
        }
        off += (uint64_t)w;
        while (cnt > 0 && (size_t)w >= iov->iov_len) {
            w -= (ssize_t)iov->iov_len;
            iov++;
            cnt--;
        }
        if (cnt > 0) {
            iov->iov_base = (char *)iov->iov_base + w;
            iov->iov_len -= (size_t)w;
        }
    }
    return 0;
}

/* Marks the wal_t unusable (first error wins) and returns BDX_ESTATE with the reason. */
static int set_broken(wal_t *w, int code, const char *what, bdx_error_t *err)
{
    pthread_mutex_lock(&w->mu);
    if (!w->broken)
        w->broken = code;
    pthread_mutex_unlock(&w->mu);
    log_error("wal", "unusable after an I/O error", "dir=%s step=\"%s\" error=\"%s\"", w->dir, what,
              bdx_strerror(code));
    return bdx_error_set(err, BDX_ESTATE, "wal %s: %s: %s; the log is unusable until reopened",
                         w->dir, what, bdx_strerror(code));
}

static int check_usable(wal_t *w, bdx_error_t *err)
{
    int broken;

    pthread_mutex_lock(&w->mu);
    broken = w->broken;
    pthread_mutex_unlock(&w->mu);
    if (broken)
        return bdx_error_set(err, BDX_ESTATE,
                             "wal %s is unusable after an I/O error (%s); reopen it to recover",
                             w->dir, bdx_strerror(broken));
    return 0;
}

static seg_file_t *seg_file_new(int fd, uint64_t first_lsn)
{
    seg_file_t *f = malloc(sizeof(*f));
    if (f) {
        f->fd = fd;
        f->refs = 1;
        f->first_lsn = first_lsn;
    }
    return f;
}

/* Drops one reference; the caller holds w->mu. Returns the file to close, or NULL. */
static seg_file_t *seg_file_unref(seg_file_t *f)
{
    return --f->refs == 0 ? f : NULL;
}

static void seg_file_close(seg_file_t *f)
{
    if (f) {
        close(f->fd);
        free(f);
    }
}

/*
 * Creates the segment whose first LSN is `lsn` (at first open and at rotation), in this order:
 *   1. open <lsn>.log.tmp (O_CREAT | O_TRUNC), write the 40-byte header, fsync it;
 *   2. rename it to <lsn>.log;
 *   3. fsync the directory.
 * A file under a segment name therefore always has a complete, durable header. A crash before
 * step 2 leaves a .tmp file, which wal_open() deletes (it never held a frame); a crash between
 * 2 and 3 leaves the new segment under either name; after 3, an empty last segment: a clean log.
 * The caller puts no frame in it before this returns. A failure before the rename removes the
 * temp file and returns the error; a failure of step 3 makes the wal_t unusable (the name may or
 * may not survive a crash, so nothing may be acknowledged from it).
 */
static int create_segment(wal_t *w, uint64_t lsn, seg_file_t **out, bdx_error_t *err)
{
    unsigned char hdr[WAL_HEADER_SIZE];
    char tmp[WAL_NAME_MAX], name[WAL_NAME_MAX];
    struct iovec iov = {hdr, sizeof(hdr)};
    int fd, rc;

    wal_segment_name(tmp, lsn, true);
    wal_segment_name(name, lsn, false);
    wal_header_encode(hdr, w->log_id, lsn);
    fd = openat(w->dirfd, tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0) {
        rc = -errno;
        return bdx_error_set(err, rc, "wal %s/%s: create: %s", w->dir, tmp, bdx_strerror(rc));
    }
    rc = pwrite_all(fd, &iov, 1, 0);
    if (rc == 0 && fsync(fd) < 0)
        rc = -errno;
    if (rc == 0 && renameat(w->dirfd, tmp, w->dirfd, name) < 0)
        rc = -errno;
    if (rc < 0) {
        close(fd);
        unlinkat(w->dirfd, tmp, 0);
        return bdx_error_set(err, rc, "wal %s/%s: create: %s", w->dir, tmp, bdx_strerror(rc));
    }
    rc = wal_fsync_dir(w->dirfd);
    if (rc < 0) {
        close(fd);
        return set_broken(w, rc, "fsync of the directory after creating a segment", err);
    }
    *out = seg_file_new(fd, lsn);
    if (!*out) {
        close(fd);
        return set_broken(w, -ENOMEM, "creating a segment", err);
    }
    return 0;
}

/*
 * Rotation (the current segment is full), in this order:
 *   1. fdatasync the current segment and count everything in it durable. A segment that has a
 *      successor is therefore complete on disk, so only the last segment can have a torn tail;
 *      recovery relies on that and calls damage anywhere else corruption;
 *   2. create the next segment (create_segment: temp, fsync, rename, fsync directory);
 *   3. under the lock, make it current. The old descriptor is closed once no wal_sync() pins it.
 * A crash after 1 leaves a complete old segment (and maybe a .tmp); after 2, an empty last one.
 */
static int rotate(wal_t *w, bdx_error_t *err)
{
    seg_file_t *next = NULL, *old;
    int rc;

    pthread_mutex_lock(&w->mu);
    rc = wal_seglist_reserve(&w->segs, 1); /* so that step 3 cannot fail */
    pthread_mutex_unlock(&w->mu);
    if (rc < 0)
        return bdx_error_set(err, rc, "wal %s: rotate: %s", w->dir, bdx_strerror(rc));
    if (fdatasync(w->cur->fd) < 0)
        return set_broken(w, -errno, "fdatasync before rotation", err);
    pthread_mutex_lock(&w->mu);
    w->durable_lsn = w->last_lsn;
    pthread_mutex_unlock(&w->mu);

    rc = create_segment(w, w->next_lsn, &next, err);
    if (rc < 0)
        return rc;

    pthread_mutex_lock(&w->mu);
    w->segs.lsn[w->segs.n++] = w->next_lsn;
    old = w->cur;
    w->cur = next;
    old = seg_file_unref(old);
    pthread_mutex_unlock(&w->mu);
    seg_file_close(old);
    w->cur_size = WAL_HEADER_SIZE;
    return 0;
}

int wal_open(const char *dir, const wal_options_t *opts, wal_t **out, wal_recovery_t *report,
             bdx_error_t *err)
{
    wal_recovery_t local;
    wal_options_t o;
    wal_scan_t s = {.last_fd = -1};
    wal_t *w = NULL;
    int dirfd = -1, rc;

    *out = NULL;
    if (!report)
        report = &local;
    memset(report, 0, sizeof(*report));
    rc = resolve_options(opts, &o, err);
    if (rc < 0)
        goto out;
    rc = open_dir(dir, o.create, &dirfd, err);
    if (rc < 0)
        goto out;
    rc = wal_scan(dirfd, dir, &o, true, &s, report, err);
    if (rc < 0)
        goto out;

    w = calloc(1, sizeof(*w));
    if (!w || !(w->dir = strdup(dir))) {
        free(w);
        w = NULL;
        rc = bdx_error_set(err, -ENOMEM, "wal %s: out of memory", dir);
        goto out;
    }
    pthread_mutex_init(&w->mu, NULL);
    pthread_mutex_init(&w->trunc_mu, NULL);
    w->dirfd = dirfd;
    dirfd = -1;
    w->opts = o;
    w->log_id = s.log_id;
    w->segs = s.segs;
    memset(&s.segs, 0, sizeof(s.segs));
    w->next_lsn = s.next_lsn;

    if (w->segs.n == 0) {
        rc = wal_seglist_reserve(&w->segs, 1);
        if (rc < 0) {
            bdx_error_set(err, rc, "wal %s: out of memory", dir);
            goto out;
        }
        rc = create_segment(w, w->next_lsn, &w->cur, err);
        if (rc < 0)
            goto out;
        w->segs.lsn[w->segs.n++] = w->next_lsn;
        w->cur_size = WAL_HEADER_SIZE;
        report->segments = 1;
    } else {
        w->cur = seg_file_new(s.last_fd, w->segs.lsn[w->segs.n - 1]);
        if (!w->cur) {
            rc = bdx_error_set(err, -ENOMEM, "wal %s: out of memory", dir);
            goto out;
        }
        s.last_fd = -1;
        w->cur_size = s.last_size;
        /* After a process crash the frames found may still be only in the page cache: make them
         * durable before anything counts them as such. Older segments were synced at rotation. */
        if (fdatasync(w->cur->fd) < 0) {
            rc = -errno;
            bdx_error_set(err, rc, "wal %s: fdatasync: %s", dir, bdx_strerror(rc));
            goto out;
        }
    }
    w->last_lsn = w->durable_lsn = w->next_lsn - 1;
    log_info("wal", "opened",
             "dir=%s outcome=%s segments=%zu first_lsn=%" PRIu64 " last_lsn=%" PRIu64
             " temp_removed=%u",
             dir, wal_outcome_name(report->outcome), w->segs.n, w->segs.lsn[0], w->last_lsn,
             report->temp_removed);
    *out = w;
    w = NULL;
out:
    wal_close(w);
    if (dirfd >= 0)
        close(dirfd);
    if (s.last_fd >= 0)
        close(s.last_fd);
    wal_seglist_free(&s.segs);
    return rc;
}

int wal_check(const char *dir, const wal_options_t *opts, wal_recovery_t *report, bdx_error_t *err)
{
    wal_recovery_t local;
    wal_options_t o;
    wal_scan_t s = {.last_fd = -1};
    int dirfd = -1, rc;

    if (!report)
        report = &local;
    memset(report, 0, sizeof(*report));
    rc = resolve_options(opts, &o, err);
    if (rc < 0)
        return rc;
    rc = open_dir(dir, false, &dirfd, err);
    if (rc < 0)
        return rc;
    rc = wal_scan(dirfd, dir, &o, false, &s, report, err);
    close(dirfd);
    wal_seglist_free(&s.segs);
    return rc;
}

int wal_append(wal_t *w, const void *payload, size_t len, uint64_t *lsn_out, bdx_error_t *err)
{
    unsigned char head[12], tail[4];
    struct iovec iov[3];
    uint64_t lsn, size = (uint64_t)len + WAL_FRAME_OVERHEAD;
    int rc;

    rc = check_usable(w, err);
    if (rc < 0)
        return rc;
    if (len > w->opts.max_frame)
        return bdx_error_set(err, BDX_ELIMIT,
                             "wal frame of %zu bytes is over the %" PRIu32 "-byte limit", len,
                             w->opts.max_frame);
    if (len > 0 && !payload)
        return bdx_error_set(err, BDX_EINVAL, "wal_append: NULL payload of %zu bytes", len);
    if (w->cur_size > WAL_HEADER_SIZE && w->cur_size + size > w->opts.segment_size) {
        rc = rotate(w, err);
        if (rc < 0)
            return rc;
    }
    lsn = w->next_lsn;
    wal_put32(head, (uint32_t)len);
    wal_put64(head + 4, lsn);
    wal_put32(tail, wal_crc(wal_crc(0, head, sizeof(head)), payload, len));
    iov[0] = (struct iovec){head, sizeof(head)};
    iov[1] = (struct iovec){(void *)payload, len};
    iov[2] = (struct iovec){tail, sizeof(tail)};
    rc = pwrite_all(w->cur->fd, iov, 3, w->cur_size);
    if (rc < 0) {
        char path[WAL_PATH_MAX];
        /* Cut the partial frame so that the next append starts on a frame boundary. */
        if (ftruncate(w->cur->fd, (off_t)w->cur_size) < 0)
            return set_broken(w, -errno, "cutting a partly written frame", err);
        return bdx_error_set(err, rc, "wal %s: write: %s",
                             wal_segment_path(path, sizeof(path), w->dir, w->cur->first_lsn),
                             bdx_strerror(rc));
    }
    w->cur_size += size;
    w->next_lsn++;
    pthread_mutex_lock(&w->mu);
    w->last_lsn = lsn;
    pthread_mutex_unlock(&w->mu);
    if (lsn_out)
        *lsn_out = lsn;
    return 0;
}

int wal_sync(wal_t *w, uint64_t *durable_lsn, bdx_error_t *err)
{
    seg_file_t *f, *done;
    uint64_t target;
    int rc = 0;

    pthread_mutex_lock(&w->mu);
    if (w->broken) {
        pthread_mutex_unlock(&w->mu);
        return check_usable(w, err);
    }
    target = w->last_lsn;
    if (target <= w->durable_lsn) {
        if (durable_lsn)
            *durable_lsn = w->durable_lsn;
        pthread_mutex_unlock(&w->mu);
        return 0;
    }
    f = w->cur;
    f->refs++;
    pthread_mutex_unlock(&w->mu);

    if (fdatasync(f->fd) < 0)
        rc = -errno;

    pthread_mutex_lock(&w->mu);
    done = seg_file_unref(f);
    if (rc == 0 && target > w->durable_lsn)
        w->durable_lsn = target;
    if (durable_lsn)
        *durable_lsn = w->durable_lsn;
    pthread_mutex_unlock(&w->mu);
    seg_file_close(done);
    if (rc < 0)
        return set_broken(w, rc, "fdatasync", err);
    return 0;
}

uint64_t wal_last_lsn(wal_t *w)
{
    uint64_t v;

    pthread_mutex_lock(&w->mu);
    v = w->last_lsn;
    pthread_mutex_unlock(&w->mu);
    return v;
}

uint64_t wal_durable_lsn(wal_t *w)
{
    uint64_t v;

    pthread_mutex_lock(&w->mu);
    v = w->durable_lsn;
    pthread_mutex_unlock(&w->mu);
    return v;
}

uint64_t wal_first_lsn(wal_t *w)
{
    uint64_t v;

    pthread_mutex_lock(&w->mu);
    v = w->segs.lsn[0];
    pthread_mutex_unlock(&w->mu);
    return v;
}

int wal_truncate_before(wal_t *w, uint64_t lsn, size_t *removed, bdx_error_t *err)
{
    size_t n = 0;
    int rc = 0;

    pthread_mutex_lock(&w->trunc_mu);
    rc = check_usable(w, err);
    /* Oldest first, one directory fsync per segment: a crash leaves a suffix, never a hole. */
    while (rc == 0) {
        char name[WAL_NAME_MAX];
        uint64_t first;
        bool go;

        pthread_mutex_lock(&w->mu);
        /* Segment 0 holds LSNs [segs[0], segs[1]); the last segment is never deleted. */
        go = w->segs.n >= 2 && w->segs.lsn[1] <= lsn;
        first = w->segs.lsn[0];
        pthread_mutex_unlock(&w->mu);
        if (!go)
            break;
        wal_segment_name(name, first, false);
        if (unlinkat(w->dirfd, name, 0) < 0 && errno != ENOENT) {
            rc = -errno;
            bdx_error_set(err, rc, "wal %s/%s: unlink: %s", w->dir, name, bdx_strerror(rc));
            break;
        }
        pthread_mutex_lock(&w->mu);
        memmove(w->segs.lsn, w->segs.lsn + 1, (w->segs.n - 1) * sizeof(uint64_t));
        w->segs.n--;
        pthread_mutex_unlock(&w->mu);
        n++;
        rc = wal_fsync_dir(w->dirfd);
        if (rc < 0)
            bdx_error_set(err, rc, "wal %s: fsync: %s", w->dir, bdx_strerror(rc));
    }
    pthread_mutex_unlock(&w->trunc_mu);
    if (n > 0)
        log_info("wal", "segments deleted", "dir=%s count=%zu before_lsn=%" PRIu64, w->dir, n, lsn);
    if (removed)
        *removed = n;
    return rc;
}

void wal_close(wal_t *w)
{
    if (!w)
        return;
    seg_file_close(w->cur);
    if (w->dirfd >= 0)
        close(w->dirfd);
    wal_seglist_free(&w->segs);
    pthread_mutex_destroy(&w->mu);
    pthread_mutex_destroy(&w->trunc_mu);
    free(w->dir);
    free(w);
}

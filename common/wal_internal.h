/*
 * wal_internal: private to common/wal*.c. The segment format (names, header, frames, CRC) and
 * the recovery scan, shared by the writer (wal.c) and the reader (wal_reader.c); implemented in
 * wal_segment.c.
 * Not thread-safe: each object belongs to one thread at a time.
 */
#ifndef BITDEX_WAL_INTERNAL_H
#define BITDEX_WAL_INTERNAL_H

#include "common/error.h"
#include "common/wal.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* "0000000000000001.log" / "0000000000000001.log.tmp" plus NUL. */
#define WAL_NAME_MAX 32

/* Writes the file name of the segment whose first LSN is `lsn` into `buf`. */
void wal_segment_name(char buf[WAL_NAME_MAX], uint64_t lsn, bool tmp);

/* Writes "<dir>/<segment name>" into `buf` (truncated to `n`); returns buf. */
const char *wal_segment_path(char *buf, size_t n, const char *dir, uint64_t lsn);

/* Little-endian fixed-width codecs. */
void wal_put32(unsigned char *p, uint32_t v);
void wal_put64(unsigned char *p, uint64_t v);
uint32_t wal_get32(const unsigned char *p);
uint64_t wal_get64(const unsigned char *p);

/* CRC-32 (ISO-HDLC, zlib's crc32()) of `n` bytes, continuing from `crc` (start with 0). */
uint32_t wal_crc(uint32_t crc, const void *p, size_t n);

/* Encodes a version-WAL_VERSION segment header. */
void wal_header_encode(unsigned char out[WAL_HEADER_SIZE], uint64_t log_id, uint64_t first_lsn);

typedef struct wal_header {
    uint32_t version;
    uint64_t log_id;
    uint64_t first_lsn;
} wal_header_t;

/*
 * Checks the first `n` bytes of the segment at `path` (named for LSN `name_lsn`) as a header:
 * magic, version, header CRC, first LSN equal to the name, and log id (when `log_id` != 0).
 * Fills *h. Returns 0, BDX_EVERSION or BDX_ECORRUPT (message names path and offset).
 */
int wal_header_check(const unsigned char *b, size_t n, const char *path, uint64_t name_lsn,
                     uint64_t log_id, wal_header_t *h, bdx_error_t *err);

/*
 * Sets err to "wal <path> offset <off>: <what>" and, for BDX_ECORRUPT, "; run bitdex-check".
 * Returns code.
 */
int wal_error_at(bdx_error_t *err, int code, const char *path, uint64_t off, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));

/* Sorted list of first LSNs. */
typedef struct wal_seglist {
    uint64_t *lsn;
    size_t n, cap;
} wal_seglist_t;

/* Makes room for `extra` more entries without a later allocation. Returns 0 or -ENOMEM. */
int wal_seglist_reserve(wal_seglist_t *l, size_t extra);
void wal_seglist_free(wal_seglist_t *l);

/*
 * Lists the segments (<16 hex>.log) of the directory `dirfd` into `segs`, oldest first, and
 * when `tmps` is not NULL the leftover <16 hex>.log.tmp files into it. Other names are ignored.
 * Both lists must be empty on entry; free them with wal_seglist_free() either way.
 * Returns 0 or -errno.
 */
int wal_seglist_load(int dirfd, wal_seglist_t *segs, wal_seglist_t *tmps);

/*
 * A read cache over one segment file, read with pread() only (never mmap: the writer's recovery
 * may shorten a file a reader has open). Bytes once read are reused until wal_rbuf_drop(); the
 * caller drops them whenever they may have been cut (after WAL_AGAIN).
 */
typedef struct wal_rbuf {
    int fd;             /* borrowed */
    unsigned char *buf; /* owned */
    size_t cap;
    uint64_t base; /* file offset of buf[0] */
    size_t len;    /* valid bytes in buf */
} wal_rbuf_t;

void wal_rbuf_init(wal_rbuf_t *rb, int fd);
void wal_rbuf_drop(wal_rbuf_t *rb);
void wal_rbuf_free(wal_rbuf_t *rb);

/*
 * Makes the bytes [off, off + n) available at *p (borrowed; valid until the next call on rb).
 * Returns 0, 1 when the file ends first (then *avail bytes are at *p), or -errno.
 */
int wal_rbuf_get(wal_rbuf_t *rb, uint64_t off, size_t n, const unsigned char **p, size_t *avail);

/* What is at an offset of a segment. */
enum {
    WAL_FRAME_OK = 0,         /* a complete frame whose CRC matches */
    WAL_FRAME_END = 1,        /* the file ends exactly here */
    WAL_FRAME_INCOMPLETE = 2, /* the file ends inside the frame (length or payload cut off) */
    WAL_FRAME_BAD_LENGTH = 3, /* length > WAL_FRAME_LIMIT */
    WAL_FRAME_BAD_CRC = 4,    /* complete, but the CRC does not match */
};

typedef struct wal_frame {
    uint64_t lsn;
    uint32_t len;
    const unsigned char *payload; /* borrowed from the rbuf; valid until its next call */
    uint64_t size;                /* bytes the frame occupies: WAL_FRAME_OVERHEAD + len */
} wal_frame_t;

/* Reads the frame at `off`. Returns a WAL_FRAME_* status (fills *f on OK) or -errno. */
int wal_frame_read(wal_rbuf_t *rb, uint64_t off, wal_frame_t *f);

/* Name of a WAL_FRAME_* status for messages ("incomplete frame", ...). */
const char *wal_frame_status_name(int status);

/*
 * Looks for a valid frame starting after `off` whose LSN could follow a damaged frame at `off`
 * that should have had LSN `expected` (expected <= LSN <= expected + distance / 16).
 * Returns 1 with *found_off and *found_lsn set, 0 if there is none up to the end of the file,
 * or -errno.
 */
int wal_frame_search(wal_rbuf_t *rb, uint64_t off, uint64_t expected, uint64_t *found_off,
                     uint64_t *found_lsn);

/* What recovery learned about a directory. */
typedef struct wal_scan {
    wal_seglist_t segs; /* every segment kept, oldest first; free with wal_seglist_free() */
    uint64_t log_id;    /* the id the segments carry (or the one asked for) */
    uint64_t next_lsn;  /* LSN of the next frame to append */
    int last_fd;        /* with `modify`: the newest segment, O_RDWR, owned; else -1 */
    uint64_t last_size; /* bytes of the newest segment that are kept */
} wal_scan_t;

/*
 * The recovery of wal_open() and wal_check(): reads every segment of the directory `dirfd`
 * (called `dir` in messages), checks every header and frame, and classifies the log into a
 * wal_outcome_t in *rep (file and offset included). With `modify`, deletes leftover temp files,
 * cuts a torn tail (ftruncate, then fdatasync) and leaves the newest segment open in s->last_fd;
 * without it, changes nothing. `s` must be zeroed with last_fd = -1 on entry; the caller frees
 * s->segs and closes s->last_fd either way. Returns 0, BDX_ECORRUPT, BDX_EVERSION or -errno.
 */
int wal_scan(int dirfd, const char *dir, const wal_options_t *o, bool modify, wal_scan_t *s,
             wal_recovery_t *rep, bdx_error_t *err);

/* fsync() of a directory descriptor. Returns 0 or -errno. */
int wal_fsync_dir(int dirfd);

#endif

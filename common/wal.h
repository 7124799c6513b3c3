/*
 * wal: the write-ahead log of one index — CRC-framed, LSN-numbered batches in append-only
 * segment files under <data>/indexes/<name>/wal/. The byte format is docs/format/wal.md.
 *
 * The writer (bitdex-writer) appends each validated batch as one frame, makes it durable with
 * wal_sync(), and only then acknowledges it. Readers (bitdex-reader, bitdex-check) replay and
 * tail the same files from other processes with wal_reader_*. Payloads are opaque bytes here.
 *
 * Concurrency contract
 * --------------------
 * - One writer per directory. wal_open() does not lock: the caller must hold the writer
 *   election lock (<data>/LOCK) for as long as the wal_t is open. Two wal_t on one directory
 *   corrupt it.
 * - A wal_t has one *append thread*: wal_append() is never called concurrently with itself
 *   or with wal_close(). wal_sync(), wal_last_lsn(), wal_durable_lsn(), wal_first_lsn() and
 *   wal_truncate_before() may be called from any thread, concurrently with wal_append() and with
 *   each other (group commit: appends keep going while another thread syncs). wal_close() needs
 *   every other call to have returned.
 * - Readers in other processes (or threads) may open the directory at any time. They may assume:
 *   a file named <16 hex>.log always has a complete, fsynced header; bytes of a frame never change
 *   once the frame is complete, except that recovery may cut a torn tail that no reader could
 *   have returned; segments are deleted oldest first, never the last one. A reader may see frames
 *   that are written but not yet durable: to apply only acknowledged writes, bound the LSNs it
 *   applies by the committed LSN the writer publishes (Watch).
 * - fork(): all descriptors are O_CLOEXEC. A child must not call any wal_ function on a wal_t or
 *   wal_reader_t it inherited (not even close); it opens its own.
 * - The files are assumed to be on a local filesystem or one with close-to-open consistency for
 *   readers that re-open (a tailing reader re-reads with pread; it never mmaps, so a truncation
 *   by recovery cannot SIGBUS it).
 *
 * After a crash (process or machine) at any step, wal_open() recovers to one of the outcomes in
 * wal_outcome_t. Every LSN that wal_sync() reported durable survives; frames appended but not
 * synced may survive in part, as a prefix (never with a hole). The steps and what a crash between
 * them leaves are written above wal_append(), wal_sync() and in wal.c above the segment
 * creation. One caveat, by design: after a *machine* crash the disk may have kept unsynced pages
 * out of order, leaving a damaged frame followed by valid unsynced ones. wal_open() cannot tell
 * that from corruption of synced data, so it refuses (BDX_ECORRUPT); bitdex-check shows it and
 * can cut the last segment there (wal_options_t.repair_last_segment).
 *
 * An fdatasync() failure makes the wal_t unusable (every later call fails with BDX_ESTATE): the
 * kernel may already have dropped the dirty pages, so only re-reading the files (close and
 * wal_open() again) tells what is on disk.
 */
#ifndef BITDEX_WAL_H
#define BITDEX_WAL_H

#include "common/error.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* On-disk constants (docs/format/wal.md). */
#define WAL_MAGIC "BDXWAL\r\n" /* 8 bytes, no terminator on disk */
#define WAL_MAGIC_LEN 8
#define WAL_VERSION 1u             /* bump on any change a version-1 reader would misread */
#define WAL_HEADER_SIZE 40u        /* segment header; the first frame starts here */
#define WAL_FRAME_OVERHEAD 16u     /* length (4) + LSN (8) + CRC (4) around each payload */
#define WAL_FRAME_LIMIT (1u << 30) /* a length above this is corruption, for any reader */

#define WAL_DEFAULT_SEGMENT_SIZE (64u << 20)
#define WAL_DEFAULT_MAX_FRAME (64u << 20)

/* wal_reader_next(): no complete frame yet (positive, not an error). Retry later. */
#define WAL_AGAIN 1

#define WAL_PATH_MAX 4096

typedef struct wal wal_t;
typedef struct wal_reader wal_reader_t;

/* Options; a field left 0 takes its default, so a zeroed struct is valid. */
typedef struct wal_options {
    /* Start a new segment when the next frame would make the current one larger than this
     * (a frame larger than a whole segment gets a segment of its own). Default 64 MiB. */
    uint64_t segment_size;
    /* Largest payload wal_append() accepts; larger ones fail with BDX_ELIMIT.
     * Default 64 MiB; at most WAL_FRAME_LIMIT. */
    uint32_t max_frame;
    /* Identity of the log, written in every segment header (wal_log_id() of the index name).
     * 0 = accept whatever id the existing segments carry (they must agree with each other). */
    uint64_t log_id;
    /* LSN of the first frame when the directory holds no segment (e.g. the checkpoint LSN + 1 of
     * the generation the log continues). Default 1; LSN 0 is never used. */
    uint64_t start_lsn;
    /* wal_open(): create the directory (and parents) if it is missing. Default false. */
    bool create;
    /* For bitdex-check only: treat a damaged frame in the last segment as a torn tail even when
     * valid frames follow it, and cut there (outcome WAL_REPAIRED). Drops those frames. */
    bool repair_last_segment;
} wal_options_t;

/* Fills `o` with the defaults above. */
void wal_options_init(wal_options_t *o);

/* What recovery found, in the style of Redis AOF_TRUNCATED / LMDB MDB_VERSION_MISMATCH. */
typedef enum wal_outcome {
    WAL_CLEAN = 0,            /* every segment ends on a frame boundary */
    WAL_TORN_TAIL = 1,        /* the last frame of the last segment was incomplete or failed its
                                 CRC with nothing valid after it: cut to the last good frame */
    WAL_REPAIRED = 2,         /* repair_last_segment cut a damaged last segment */
    WAL_CORRUPT = 3,          /* refused, BDX_ECORRUPT: damage before the tail, bad magic, bad
                                 header CRC, LSN gap, foreign segment */
    WAL_VERSION_MISMATCH = 4, /* refused, BDX_EVERSION: a segment of an unknown format version */
} wal_outcome_t;

/* Returns a static name for `o` ("clean", "torn_tail", ...). */
const char *wal_outcome_name(wal_outcome_t o);

typedef struct wal_recovery {
    wal_outcome_t outcome;
    size_t segments;         /* segment files kept */
    uint64_t first_lsn;      /* first LSN in the log, or next_lsn when it holds no frame */
    uint64_t last_lsn;       /* last LSN kept; first_lsn - 1 when the log holds no frame */
    uint64_t frames;         /* frames kept */
    char file[WAL_PATH_MAX]; /* torn / damaged segment, "" when clean */
    uint64_t offset;         /* byte offset in `file` where the torn tail or damage starts */
    uint64_t dropped_bytes;  /* bytes cut from `file` (torn tail, repair) */
    unsigned temp_removed;   /* leftover <lsn>.log.tmp files of an interrupted rotation */
} wal_recovery_t;

/* A stable 64-bit id for an index name (FNV-1a), for wal_options_t.log_id. */
uint64_t wal_log_id(const char *index_name);

/*
 * Opens the log in `dir` for appending, recovering it first. `opts` may be NULL (defaults);
 * borrowed for the call. On success *out is the log (caller closes with wal_close()); the next
 * append gets wal_last_lsn() + 1. If the directory holds no segment, the first one is created
 * with first LSN opts->start_lsn.
 * `report` (may be NULL) receives the outcome, also on failure (file and offset of the damage).
 * A torn tail is cut, fsynced and logged (log_warn), and the open succeeds.
 * Returns 0, BDX_ECORRUPT (message names the file and offset and says to run bitdex-check),
 * BDX_EVERSION, BDX_EINVAL (bad options), or -errno (-ENOENT: no directory and !opts->create).
 * On failure *out is NULL and nothing needs closing. A refusal (BDX_ECORRUPT, BDX_EVERSION)
 * changes nothing on disk.
 */
int wal_open(const char *dir, const wal_options_t *opts, wal_t **out, wal_recovery_t *report,
             bdx_error_t *err);

/*
 * Like wal_open()'s recovery, but changes nothing: reports what wal_open() would do (for
 * bitdex-check and bitdex-inspect). Same return codes; 0 for WAL_CLEAN and WAL_TORN_TAIL (and
 * WAL_REPAIRED with repair_last_segment).
 */
int wal_check(const char *dir, const wal_options_t *opts, wal_recovery_t *report, bdx_error_t *err);

/*
 * Appends one frame holding `len` bytes at `payload` (borrowed for the call; may be NULL when
 * len is 0) and sets *lsn_out (may be NULL) to its LSN, wal_last_lsn() + 1.
 *
 * Durability order (a crash after step k leaves what step k wrote, possibly torn):
 *   1. If the frame does not fit in the current segment, rotate (wal.c, above rotate()): the
 *      current segment is fdatasync'ed, then the new one is created complete and renamed in.
 *   2. One writev() of length, LSN, payload and CRC to the end of the current segment, retried
 *      until complete. The frame is now in the page cache: it survives a process crash but not a
 *      machine crash. It is NOT durable and must not be acknowledged yet.
 *   3. wal_last_lsn() advances (under the lock wal_sync() reads it with).
 * A crash during step 2 leaves a torn tail, which the next wal_open() cuts (WAL_TORN_TAIL).
 * If the write fails, the partial frame is cut off again and the error returned (the LSN is not
 * used); if that cut fails too, the wal_t becomes unusable (BDX_ESTATE).
 * Returns 0, BDX_ELIMIT (len > max_frame), BDX_ESTATE (unusable after an earlier I/O error),
 * or -errno from the write (-ENOSPC, -EIO, ...).
 */
int wal_append(wal_t *wal, const void *payload, size_t len, uint64_t *lsn_out, bdx_error_t *err);

/*
 * Makes every frame appended before the call durable and sets *durable_lsn (may be NULL) to
 * wal_durable_lsn(). Safe to call from another thread while appends continue (group commit:
 * one sync covers every frame appended before it started).
 *
 * Durability order:
 *   1. Under the lock: note target = wal_last_lsn() and pin the current segment.
 *   2. Without the lock: fdatasync() the pinned segment. Frames of older segments are already
 *      durable: rotation synced them before their successor became current.
 *   3. Under the lock: durable LSN = max(durable LSN, target). Only now may the caller
 *      acknowledge LSNs <= *durable_lsn.
 * A crash before step 3 returns nothing; the frames may or may not survive (as a prefix).
 * Returns 0, BDX_ESTATE (unusable), or -errno from fdatasync (the wal_t is then unusable).
 */
int wal_sync(wal_t *wal, uint64_t *durable_lsn, bdx_error_t *err);

/* Last LSN appended (0 before the first frame of a log that starts at LSN 1). Any thread. */
uint64_t wal_last_lsn(wal_t *wal);

/* Last LSN known durable (wal_sync, rotation, or present at open). Any thread. */
uint64_t wal_durable_lsn(wal_t *wal);

/* First LSN still in the log (after wal_truncate_before). Any thread. */
uint64_t wal_first_lsn(wal_t *wal);

/*
 * Deletes whole segments whose frames all have LSN < `lsn` (after a checkpoint at lsn - 1 is
 * published and no live generation needs them). The last segment is never deleted. Segments go
 * oldest first, each unlink followed by an fsync of the directory, so a crash leaves a suffix
 * of the log, never a hole. Readers holding a deleted segment open keep reading it.
 * Sets *removed (may be NULL) to the number of segments deleted. Any thread.
 * Returns 0, BDX_ESTATE, or -errno.
 */
int wal_truncate_before(wal_t *wal, uint64_t lsn, size_t *removed, bdx_error_t *err);

/*
 * Closes the files and frees `wal` (NULL is a no-op). Does not sync: call wal_sync() first for
 * frames that must be durable. No other call on `wal` may be in flight.
 */
void wal_close(wal_t *wal);

/*
 * Opens a reader of the log in `dir` positioned at `from_lsn` (>= 1): the first
 * wal_reader_next() returns the frame with that LSN (or waits for it). `log_id` 0 accepts any
 * id; otherwise segments must carry it. Never writes. Caller closes with wal_reader_close().
 * Returns 0, BDX_ENOTFOUND when from_lsn is older than every segment (deleted by a checkpoint:
 * reload a newer generation), BDX_ECORRUPT, BDX_EVERSION or -errno. A directory with no
 * segment yet is not an error: next() returns WAL_AGAIN until one appears.
 * On failure *out is NULL.
 */
int wal_reader_open(const char *dir, uint64_t from_lsn, uint64_t log_id, wal_reader_t **out,
                    bdx_error_t *err);

/*
 * Returns the next frame: 0 with *lsn, *payload, *len set (payload borrowed; valid until the next
 * wal_reader_next() or wal_reader_close() on `r`); WAL_AGAIN when no complete frame follows yet
 * (a frame being written, or a torn tail the writer's recovery will cut — never returned in
 * part); BDX_ENOTFOUND when the next LSN was deleted under the reader (it fell behind a
 * checkpoint: reload a newer generation); BDX_ECORRUPT (file and offset in err); BDX_EVERSION;
 * or -errno. Follows into the next segment when the current one ends. After an error other than
 * WAL_AGAIN the reader stays failed: close it.
 */
int wal_reader_next(wal_reader_t *r, uint64_t *lsn, const void **payload, size_t *len,
                    bdx_error_t *err);

/* The LSN the next successful wal_reader_next() returns. */
uint64_t wal_reader_next_lsn(const wal_reader_t *r);

/* Where the frame the last successful wal_reader_next() returned lies: the path of its segment
 * (copied into path[0, n)) and its byte offset in that file. For bitdex-inspect. */
void wal_reader_position(const wal_reader_t *r, char *path, size_t n, uint64_t *offset);

/* Closes and frees `r` (NULL is a no-op). */
void wal_reader_close(wal_reader_t *r);

#endif

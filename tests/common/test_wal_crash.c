/*
 * Tests that the WAL survives its writer being killed at any moment: a forked child opens the
 * log (recovering what the previous child left), appends frames whose payloads are derived from
 * their LSN, syncs every few frames and reports "synced N" on a pipe after each wal_sync()
 * returns. The parent SIGKILLs it after a random delay, then checks:
 *   - a reader, before any recovery, returns only whole frames with the right bytes and then
 *     waits (WAL_AGAIN) — never an error, never a partial frame;
 *   - wal_open() succeeds with WAL_CLEAN or WAL_TORN_TAIL and keeps exactly what the reader saw;
 *   - every LSN the child reported synced is there, LSNs are contiguous from 1, and every payload
 *     is exact.
 * Small segments and occasional wal_truncate_before() calls (announced on the pipe first, so the
 * parent knows how much may be gone) make kills land in rotations and deletions too. BITDEX_CRASH_ITERATIONS (default 50) sets
 * the number of kills; BITDEX_TEST_SEED reproduces the random delays and batch sizes (not the
 * moment the kernel delivers the kill).
 */
#include "common/log.h"
#include "common/wal.h"

#include <criterion/criterion.h>
#include <dirent.h>
#include <errno.h>
#include <inttypes.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

/* Largest payload the child writes. */
#define FRAME_MAX (4 << 20)

static uint64_t splitmix(uint64_t *s)
{
    uint64_t z = (*s += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

/*
 * The payload of `lsn` with `len` bytes: word i (8 bytes, little-endian host order) is
 * lsn * K + i, so the bytes name their LSN and position whatever the length (children in
 * different modes pick different lengths). Cheap on purpose: the child's time goes to the WAL.
 */
static void payload_fill(unsigned char *out, size_t len, uint64_t lsn)
{
    for (size_t i = 0; i < len; i += 8) {
        uint64_t v = lsn * 0x9e3779b97f4a7c15ull + i;
        memcpy(out + i, &v, len - i < 8 ? len - i : 8);
    }
}

/* How a child writes; each iteration picks one, so kills land in different steps. */
typedef struct mode {
    const char *name;
    size_t small_max; /* most payloads: [0, small_max) bytes */
    size_t big_min, big_max;
    unsigned big_one_in;         /* one payload in this many is big */
    unsigned sync_min, sync_max; /* frames per wal_sync() */
    uint64_t keep;               /* wal_truncate_before(durable - keep) now and then */
    bool announce_appends; /* "appending N" before each wal_append: the parent kills just after */
    uint64_t segment_size;
} mode_t_;

static const mode_t_ modes[] = {
    /* kills mostly land in fdatasync() and rotation */
    {"steady", 3000, 64 << 10, 512 << 10, 16, 1, 8, 300, false, 1 << 20},
    /* kills land inside write() of many frames: torn tails */
    {"bursty", 3000, 64 << 10, 512 << 10, 16, 16, 64, 300, false, 1 << 20},
    /* multi-MiB frames take milliseconds to write, and the parent kills right after the child
     * says it starts one: torn tails inside a frame */
    {"huge", 3000, 1 << 20, FRAME_MAX, 1, 1, 3, 8, true, 16 << 20},
};

static wal_options_t crash_opts(uint64_t segment_size)
{
    wal_options_t o;
    wal_options_init(&o);
    o.segment_size = segment_size;
    o.create = true;
    o.log_id = wal_log_id("crash");
    return o;
}

static void child_say(int out, const char *what, const char *msg)
{
    char line[512];
    int n = snprintf(line, sizeof(line), "error %s: %s\n", what, msg);
    (void)!write(out, line, (size_t)n);
    _exit(2);
}

/* The child: appends and syncs until it is killed; never returns. */
static void child_run(const char *dir, int out, const mode_t_ *m, uint64_t seed)
{
    wal_options_t o = crash_opts(m->segment_size);
    static unsigned char b[FRAME_MAX];
    bdx_error_t err = {0};
    wal_t *w = NULL;

    log_set_level(LOG_ERROR);
    if (wal_open(dir, &o, &w, NULL, &err) != 0)
        child_say(out, "open", err.msg);
    for (;;) {
        unsigned k = m->sync_min + (unsigned)(splitmix(&seed) % (m->sync_max - m->sync_min + 1));
        uint64_t durable;
        char line[64];
        int n;
        for (unsigned i = 0; i < k; i++) {
            uint64_t lsn = wal_last_lsn(w) + 1, got = 0, r = splitmix(&seed);
            size_t len = r % m->big_one_in == 0
                             ? m->big_min + (size_t)((r >> 8) % (m->big_max - m->big_min))
                             : (size_t)((r >> 8) % m->small_max);
            payload_fill(b, len, lsn);
            if (m->announce_appends) {
                n = snprintf(line, sizeof(line), "appending %" PRIu64 "\n", lsn);
                (void)!write(out, line, (size_t)n);
            }
            if (wal_append(w, b, len, &got, &err) != 0 || got != lsn)
                child_say(out, "append", err.msg);
        }
        if (wal_sync(w, &durable, &err) != 0)
            child_say(out, "sync", err.msg);
        n = snprintf(line, sizeof(line), "synced %" PRIu64 "\n", durable);
        (void)!write(out, line, (size_t)n);
        /* now and then, what a checkpoint does: drop old segments (announced first) */
        if (splitmix(&seed) % 4 == 0 && durable > m->keep) {
            n = snprintf(line, sizeof(line), "truncating %" PRIu64 "\n", durable - m->keep);
            (void)!write(out, line, (size_t)n);
            if (wal_truncate_before(w, durable - m->keep, NULL, &err) != 0)
                child_say(out, "truncate", err.msg);
        }
    }
}

/* Removes `dir` and everything below it (no symlinks are followed: lstat). Unlinking while
 * reading a directory may skip entries, so it makes passes until the directory is gone. */
static void rm_rf(const char *dir)
{
    for (int pass = 0; pass < 8; pass++) {
        DIR *d = opendir(dir);
        struct dirent *e;
        if (!d)
            return;
        while ((e = readdir(d))) {
            char p[1024];
            struct stat st;
            if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
                continue;
            snprintf(p, sizeof(p), "%s/%s", dir, e->d_name);
            if (lstat(p, &st) == 0 && S_ISDIR(st.st_mode))
                rm_rf(p);
            else
                unlink(p);
        }
        closedir(d);
        if (rmdir(dir) == 0 || errno != ENOTEMPTY)
            return;
    }
}

/* First LSN of the oldest segment in `dir` (segments are named by it); 1 if there is none. */
static uint64_t oldest_segment(const char *dir)
{
    uint64_t min = UINT64_MAX;
    DIR *d = opendir(dir);
    struct dirent *e;
    cr_assert_not_null(d);
    while ((e = readdir(d))) {
        uint64_t v;
        if (strlen(e->d_name) == 20 && !strcmp(e->d_name + 16, ".log") &&
            sscanf(e->d_name, "%16" SCNx64, &v) == 1 && v < min)
            min = v;
    }
    closedir(d);
    return min == UINT64_MAX ? 1 : min;
}

/* Reads every frame from the oldest segment on, checking contiguity and payloads; sets *first
 * to the first LSN present and returns the last. */
static uint64_t verify_all(const char *dir, uint64_t seed, int it, uint64_t *first)
{
    static unsigned char want[FRAME_MAX];
    wal_reader_t *r = NULL;
    bdx_error_t err = {0};
    uint64_t expect = oldest_segment(dir);
    int rc;

    *first = expect;
    rc = wal_reader_open(dir, expect, wal_log_id("crash"), &r, &err);
    cr_assert_eq(rc, 0, "iteration %d: reader_open: %s seed=%" PRIu64, it, err.msg, seed);
    for (;;) {
        const void *p;
        size_t len;
        uint64_t lsn;
        rc = wal_reader_next(r, &lsn, &p, &len, &err);
        if (rc == WAL_AGAIN)
            break;
        cr_assert_eq(rc, 0, "iteration %d at LSN %" PRIu64 ": %d %s seed=%" PRIu64, it, expect, rc,
                     err.msg, seed);
        cr_assert_eq(lsn, expect, "iteration %d seed=%" PRIu64, it, seed);
        cr_assert_leq(len, FRAME_MAX, "iteration %d LSN %" PRIu64, it, lsn);
        payload_fill(want, len, lsn);
        cr_assert_eq(memcmp(p, want, len), 0, "iteration %d LSN %" PRIu64 " seed=%" PRIu64, it, lsn,
                     seed);
        expect++;
    }
    wal_reader_close(r);
    return expect - 1;
}

/* What the child said on the pipe. */
typedef struct reports {
    char buf[4096];
    size_t used;
    uint64_t max_synced; /* highest "synced N" */
    uint64_t max_trunc;  /* highest "truncating N" */
    unsigned appending;  /* "appending N" lines seen in this iteration */
} reports_t;

/* Reads lines until EOF, or until `appending` "appending" lines have been seen (0: EOF only). */
static void reports_read(reports_t *r, int fd, unsigned appending, int it)
{
    while (appending == 0 || r->appending < appending) {
        char *start = r->buf, *nl;
        ssize_t n = read(fd, r->buf + r->used, sizeof(r->buf) - 1 - r->used);
        if (n <= 0)
            break;
        r->used += (size_t)n;
        r->buf[r->used] = '\0';
        cr_assert_null(strstr(r->buf, "error"), "iteration %d: child: %s", it, r->buf);
        while ((nl = memchr(start, '\n', r->used - (size_t)(start - r->buf)))) {
            uint64_t v;
            *nl = '\0';
            if (sscanf(start, "synced %" SCNu64, &v) == 1 && v > r->max_synced)
                r->max_synced = v;
            if (sscanf(start, "truncating %" SCNu64, &v) == 1 && v > r->max_trunc)
                r->max_trunc = v;
            if (sscanf(start, "appending %" SCNu64, &v) == 1)
                r->appending++;
            start = nl + 1;
        }
        /* keep an incomplete last line for the next read */
        r->used -= (size_t)(start - r->buf);
        memmove(r->buf, start, r->used);
    }
}

Test(wal_crash, sigkill_while_appending_and_syncing, .timeout = 600)
{
    const char *s = getenv("BITDEX_TEST_SEED");
    const char *its = getenv("BITDEX_CRASH_ITERATIONS");
    uint64_t seed = s ? strtoull(s, NULL, 0) : ((uint64_t)time(NULL) << 20) ^ (uint64_t)getpid();
    uint64_t rng = seed;
    int iterations = its ? atoi(its) : 50, torn[3] = {0}, runs[3] = {0};
    reports_t reps = {.max_trunc = 1};
    char dir[] = "/tmp/bdx-walcrash-XXXXXX";

    fprintf(stderr,
            "test_wal_crash seed=%" PRIu64 " (rerun with BITDEX_TEST_SEED=%" PRIu64
            ") iterations=%d\n",
            seed, seed, iterations);
    cr_assert_not_null(mkdtemp(dir));
    log_set_level(LOG_ERROR);
    for (int it = 0; it < iterations; it++) {
        wal_options_t o;
        wal_recovery_t rep;
        bdx_error_t err = {0};
        wal_t *w = NULL;
        int fds[2], status, rc;
        uint64_t child_seed = splitmix(&rng), seen, kept, first, first2;
        int mi = (int)(splitmix(&rng) % 3);
        const mode_t_ *m = &modes[mi];
        pid_t pid;

        o = crash_opts(m->segment_size);
        cr_assert_eq(pipe(fds), 0);
        pid = fork();
        cr_assert_geq(pid, 0);
        if (pid == 0) {
            close(fds[0]);
            child_run(dir, fds[1], m, child_seed);
        }
        close(fds[1]);
        reps.appending = 0;
        if (m->announce_appends) {
            /* kill 0-2 ms after the child starts writing its 1st-4th frame */
            reports_read(&reps, fds[0], 1 + (unsigned)(splitmix(&rng) % 4), it);
            usleep((useconds_t)(splitmix(&rng) % 2000));
        } else {
            usleep((useconds_t)(5000 + splitmix(&rng) % 55000));
        }
        kill(pid, SIGKILL);
        cr_assert_eq(waitpid(pid, &status, 0), pid);
        /* Everything the child wrote before dying is in the pipe. */
        reports_read(&reps, fds[0], 0, it);
        close(fds[0]);
        cr_assert(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL,
                  "iteration %d: child exited on its own (status %d) seed=%" PRIu64, it, status,
                  seed);

        /* A reader before recovery: whole frames only, then "not yet". */
        seen = verify_all(dir, seed, it, &first);
        cr_assert_leq(first, reps.max_trunc,
                      "iteration %d: LSNs from %" PRIu64 " deleted, only %" PRIu64
                      " announced seed=%" PRIu64,
                      it, first, reps.max_trunc, seed);
        cr_assert_geq(seen, reps.max_synced,
                      "iteration %d: synced %" PRIu64 " but %" PRIu64 " readable seed=%" PRIu64, it,
                      reps.max_synced, seen, seed);

        rc = wal_open(dir, &o, &w, &rep, &err);
        cr_assert_eq(rc, 0, "iteration %d: %s seed=%" PRIu64, it, err.msg, seed);
        cr_assert(rep.outcome == WAL_CLEAN || rep.outcome == WAL_TORN_TAIL, "iteration %d: %s", it,
                  wal_outcome_name(rep.outcome));
        torn[mi] += rep.outcome == WAL_TORN_TAIL;
        runs[mi]++;
        kept = wal_last_lsn(w);
        cr_assert_geq(kept, reps.max_synced,
                      "iteration %d: synced LSN %" PRIu64 " lost (last %" PRIu64 ") seed=%" PRIu64,
                      it, reps.max_synced, kept, seed);
        cr_assert_eq(kept, seen,
                     "iteration %d: recovery kept %" PRIu64 " frames, the reader saw %" PRIu64, it,
                     kept, seen);
        wal_close(w);
        cr_assert_eq(verify_all(dir, seed, it, &first2), kept);
        cr_assert_eq(first2, first);
    }
    for (int i = 0; i < 3; i++)
        fprintf(stderr, "test_wal_crash: mode %-6s %3d kills, %3d torn tails cut\n", modes[i].name,
                runs[i], torn[i]);
    fprintf(stderr, "test_wal_crash: last synced LSN %" PRIu64 ", deleted below %" PRIu64 "\n",
            reps.max_synced, reps.max_trunc);
    cr_assert_gt(reps.max_synced, 0);
    rm_rf(dir);
}

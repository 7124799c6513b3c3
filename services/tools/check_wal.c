/*
 * check_wal: `bitdex-check wal`. Runs the writer's recovery scan without changing anything
 * (wal_check) and prints its outcome. With --repair-last-segment it also accepts damage in the
 * last segment that has valid frames after it, and then really cuts the segment there with
 * wal_open(): that drops those frames, so it refuses while a writer holds the data dir's LOCK.
 */
#include "services/tools/check.h"

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <sys/file.h>
#include <unistd.h>

#include "common/error.h"
#include "common/wal.h"
#include "services/tools/tool.h"

/* The outcome, and the counts when the scan went through (a refused scan stops early). */
static void summary(const char *dir, const wal_recovery_t *rep, bool complete)
{
    printf("wal %s: %s\n", dir, wal_outcome_name(rep->outcome));
    if (complete)
        printf("segments=%zu frames=%" PRIu64 " first_lsn=%" PRIu64 " last_lsn=%" PRIu64 "\n",
               rep->segments, rep->frames, rep->first_lsn, rep->last_lsn);
}

/*
 * Takes <dir>/../../../LOCK (the data dir's writer election lock, for a WAL at
 * <data>/indexes/<name>/wal) so that no writer runs while we cut. *fd = -1 when that file
 * does not exist (a WAL outside a data dir). Returns 0 or TOOL_FAIL (printed).
 */
static int writer_lock(const char *dir, int *fd)
{
    char path[WAL_PATH_MAX];

    *fd = -1;
    if ((size_t)snprintf(path, sizeof(path), "%s/../../../LOCK", dir) >= sizeof(path)) {
        fprintf(stderr, "bitdex-check: %s: path too long\n", dir);
        return TOOL_FAIL;
    }
    *fd = open(path, O_RDWR | O_CLOEXEC);
    if (*fd < 0) {
        if (errno == ENOENT)
            return 0;
        fprintf(stderr, "bitdex-check: %s: %s\n", path, strerror(errno));
        return TOOL_FAIL;
    }
    if (flock(*fd, LOCK_EX | LOCK_NB) != 0) {
        fprintf(stderr, "bitdex-check: %s is held: stop the writer before repairing\n", path);
        close(*fd);
        *fd = -1;
        return TOOL_FAIL;
    }
    return 0;
}

/* Cuts what wal_check() said it would (torn tail or repaired last segment). */
static int repair(const char *dir, const wal_options_t *o)
{
    wal_recovery_t rep;
    bdx_error_t err = {0};
    wal_t *w;
    int fd, rc;

    if (writer_lock(dir, &fd) != 0)
        return TOOL_FAIL;
    rc = wal_open(dir, o, &w, &rep, &err);
    if (fd >= 0)
        close(fd); /* after wal_open() has cut and synced */
    if (rc != 0) {
        printf("repair failed: %s\n", bdx_error_message(&err));
        return TOOL_FAIL;
    }
    wal_close(w);
    printf("repaired: cut segment %s at offset %" PRIu64 " (%" PRIu64
           " bytes dropped); last_lsn=%" PRIu64 "\n",
           rep.file, rep.offset, rep.dropped_bytes, rep.last_lsn);
    return TOOL_OK;
}

int check_wal(int argc, char **argv)
{
    static const struct option longopts[] = {{"repair-last-segment", no_argument, NULL, 'r'},
                                             {"help", no_argument, NULL, 'h'},
                                             {NULL, 0, NULL, 0}};
    bool do_repair = false;
    const char *dir;
    wal_options_t o;
    wal_recovery_t rep;
    bdx_error_t err = {0};
    int opt, rc;

    while ((opt = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
        if (opt != 'r')
            return tool_usage();
        do_repair = true;
    }
    if (optind != argc - 1)
        return tool_usage();
    dir = argv[optind];
    wal_options_init(&o);
    o.repair_last_segment = do_repair;

    rc = wal_check(dir, &o, &rep, &err);
    if (rc != 0 && rc != BDX_ECORRUPT && rc != BDX_EVERSION) {
        fprintf(stderr, "bitdex-check: wal %s: %s\n", dir, bdx_error_message(&err));
        return TOOL_FAIL;
    }
    summary(dir, &rep, rc == 0);
    if (rc == BDX_EVERSION) {
        printf("version mismatch: %s\n", bdx_error_message(&err));
        return TOOL_FAIL;
    }
    if (rc == BDX_ECORRUPT) {
        wal_recovery_t dry;
        printf("corrupt: %s\n", bdx_error_message(&err));
        if (rep.file[0] != '\0')
            printf("damage: file=%s offset=%" PRIu64 "\n", rep.file, rep.offset);
        /* Would cutting the last segment get past it? Say so, without doing it. */
        o.repair_last_segment = true;
        if (wal_check(dir, &o, &dry, NULL) == 0 && dry.outcome == WAL_REPAIRED)
            printf("hint: `bitdex-check wal %s --repair-last-segment` (writer stopped) cuts %s at "
                   "offset %" PRIu64 ", dropping %" PRIu64 " bytes; the log then ends at LSN "
                   "%" PRIu64 "\n",
                   dir, dry.file, dry.offset, dry.dropped_bytes, dry.last_lsn);
        return TOOL_FAIL;
    }
    if (rep.outcome == WAL_TORN_TAIL)
        printf("torn tail: file=%s offset=%" PRIu64 " bytes=%" PRIu64
               " (an incomplete last frame; the writer cuts it at open)\n",
               rep.file, rep.offset, rep.dropped_bytes);
    if (rep.outcome == WAL_REPAIRED)
        printf("damaged last segment: file=%s offset=%" PRIu64 " bytes=%" PRIu64 "\n", rep.file,
               rep.offset, rep.dropped_bytes);
    if (do_repair && (rep.outcome == WAL_TORN_TAIL || rep.outcome == WAL_REPAIRED))
        return repair(dir, &o);
    return TOOL_OK;
}

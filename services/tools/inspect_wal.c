/*
 * inspect_wal: `bitdex-inspect wal`. Lists frames with wal_reader (the readers' own code, so
 * what it prints is what a reader would replay) after a wal_check() summary (what the writer's
 * recovery would conclude). On damage it prints the frames before it, then the error.
 */
#include "services/tools/inspect.h"

#include <dirent.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bitdex/v1/writer.pb-c.h"
#include "common/error.h"
#include "common/wal.h"
#include "services/tools/apply_print.h"
#include "services/tools/tool.h"

/* LSN of the oldest segment in dir (named <16 hex>.log), 0 when there is none. */
static uint64_t oldest_segment(const char *dir)
{
    DIR *d = opendir(dir);
    struct dirent *e;
    uint64_t oldest = 0;

    if (d == NULL)
        return 0;
    while ((e = readdir(d)) != NULL) {
        char *end;
        uint64_t lsn;
        if (strlen(e->d_name) != 20 || strcmp(e->d_name + 16, ".log") != 0)
            continue;
        lsn = strtoull(e->d_name, &end, 16);
        if (end != e->d_name + 16 || lsn == 0)
            continue;
        if (oldest == 0 || lsn < oldest)
            oldest = lsn;
    }
    closedir(d);
    return oldest;
}

static const char *base_name(const char *path)
{
    const char *s = strrchr(path, '/');
    return s != NULL ? s + 1 : path;
}

int inspect_wal(int argc, char **argv)
{
    static const struct option longopts[] = {{"from", required_argument, NULL, 'f'},
                                             {"limit", required_argument, NULL, 'l'},
                                             {"decode", no_argument, NULL, 'd'},
                                             {"help", no_argument, NULL, 'h'},
                                             {NULL, 0, NULL, 0}};
    uint64_t from = 0, limit = UINT64_MAX, shown = 0;
    bool decode = false;
    const char *dir;
    wal_recovery_t rep;
    wal_reader_t *r = NULL;
    bdx_error_t err = {0};
    int opt, rc, status = TOOL_OK;

    while ((opt = getopt_long(argc, argv, "f:l:dh", longopts, NULL)) != -1) {
        switch (opt) {
        case 'f':
            if (!tool_parse_u64("--from", optarg, &from) || from == 0)
                return tool_usage();
            break;
        case 'l':
            if (!tool_parse_u64("--limit", optarg, &limit))
                return tool_usage();
            break;
        case 'd':
            decode = true;
            break;
        default:
            return tool_usage();
        }
    }
    if (optind != argc - 1)
        return tool_usage();
    dir = argv[optind];

    rc = wal_check(dir, NULL, &rep, &err);
    if (rc == 0)
        printf("wal %s: %s, %zu segment(s), %" PRIu64 " frame(s), LSN %" PRIu64 "..%" PRIu64 "\n",
               dir, wal_outcome_name(rep.outcome), rep.segments, rep.frames, rep.first_lsn,
               rep.last_lsn);
    else if (rc == BDX_ECORRUPT || rc == BDX_EVERSION)
        printf("wal %s: %s: %s\n", dir, wal_outcome_name(rep.outcome), bdx_error_message(&err));
    else {
        fprintf(stderr, "bitdex-inspect: wal %s: %s\n", dir, bdx_error_message(&err));
        return TOOL_FAIL;
    }
    if (rc != 0)
        status = TOOL_FAIL;

    if (from == 0)
        from = oldest_segment(dir);
    if (from == 0) {
        printf("no segment\n");
        return status;
    }
    if ((rc = wal_reader_open(dir, from, 0, &r, &err)) != 0) {
        printf("error: %s\n", bdx_error_message(&err));
        return TOOL_FAIL;
    }
    while (shown < limit) {
        char path[WAL_PATH_MAX];
        const void *payload;
        uint64_t lsn, offset;
        size_t len;

        rc = wal_reader_next(r, &lsn, &payload, &len, &err);
        if (rc == WAL_AGAIN)
            break; /* the end (a torn tail is never returned) */
        if (rc != 0) {
            printf("error: %s\n", bdx_error_message(&err));
            status = TOOL_FAIL;
            break;
        }
        wal_reader_position(r, path, sizeof(path), &offset);
        printf("lsn=%" PRIu64 " segment=%s offset=%" PRIu64 " length=%zu crc=ok\n", lsn,
               base_name(path), offset, len);
        shown++;
        if (decode) {
            Bitdex__V1__ApplyRequest *req =
                bitdex__v1__apply_request__unpack(NULL, len, (const uint8_t *)payload);
            if (req == NULL) {
                printf("  payload: not a bitdex.v1.ApplyRequest (%zu bytes)\n", len);
            } else {
                apply_print(stdout, "  ", req);
                bitdex__v1__apply_request__free_unpacked(req, NULL);
            }
        }
    }
    wal_reader_close(r);
    if (rep.outcome == WAL_TORN_TAIL)
        printf("torn tail: segment=%s offset=%" PRIu64 " bytes=%" PRIu64
               " (an incomplete last frame; the writer cuts it at open)\n",
               base_name(rep.file), rep.offset, rep.dropped_bytes);
    return status;
}

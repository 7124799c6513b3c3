/*
 * check_generation: `bitdex-check generation` and `bitdex-check index`.
 *
 * A generation is sound when generation_open(GENERATION_VERIFY) accepts it (manifest, every
 * file header, table of contents and section checksum) and generation_load() builds an index
 * from it (every image opens: structure, offsets and counts in range). An index directory is
 * sound when CURRENT names a sound generation and its WAL is sound and continues that
 * generation: it holds every LSN after the checkpoint LSN, and each of those frames decodes as
 * a bitdex.v1.ApplyRequest (what the writer replays at start).
 */
#include "services/tools/check.h"

#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>

#include "bitdex/v1/writer.pb-c.h"
#include "common/error.h"
#include "common/generation.h"
#include "common/index.h"
#include "common/wal.h"
#include "services/tools/tool.h"

/* Verifies gen_dir; prints one line; *lsn = its checkpoint LSN. TOOL_OK or TOOL_FAIL. */
static int verify_generation(const char *gen_dir, uint64_t *lsn)
{
    generation_t *g;
    index_t *ix;
    bdx_error_t err = {0};
    unsigned sections = 0;

    if (generation_open(gen_dir, GENERATION_VERIFY, &g, &err) != 0) {
        printf("generation %s: corrupt: %s\n", gen_dir, bdx_error_message(&err));
        return TOOL_FAIL;
    }
    if (generation_load(g, &ix, &err) != 0) {
        printf("generation %s: corrupt: %s\n", gen_dir, bdx_error_message(&err));
        generation_close(g);
        return TOOL_FAIL;
    }
    for (unsigned i = 0; i < generation_file_count(g); i++) {
        generation_file_info_t f;
        generation_file(g, i, &f);
        sections += f.sections;
    }
    *lsn = generation_lsn(g);
    printf("generation %s: ok number=%" PRIu64 " lsn=%" PRIu64 " kind=%s files=%u sections=%u "
           "docs=%" PRIu64 "\n",
           gen_dir, generation_number(g), generation_lsn(g),
           generation_is_delta(g) ? "delta" : "base", generation_file_count(g), sections,
           generation_doc_count(g));
    index_free(ix);
    generation_close(g);
    return TOOL_OK;
}

int check_generation(int argc, char **argv)
{
    static const struct option longopts[] = {{"help", no_argument, NULL, 'h'}, {NULL, 0, NULL, 0}};
    uint64_t lsn;
    int opt;

    while ((opt = getopt_long(argc, argv, "h", longopts, NULL)) != -1)
        return tool_usage();
    if (optind != argc - 1)
        return tool_usage();
    return verify_generation(argv[optind], &lsn);
}

/* Checks that the WAL in dir holds every LSN after `after` and that each decodes. */
static int verify_wal_after(const char *dir, uint64_t after)
{
    wal_recovery_t rep;
    wal_reader_t *r;
    bdx_error_t err = {0};
    uint64_t frames = 0, bad = 0;
    int rc;

    if ((rc = wal_check(dir, NULL, &rep, &err)) != 0) {
        printf("wal %s: %s: %s\n", dir, wal_outcome_name(rep.outcome), bdx_error_message(&err));
        return TOOL_FAIL;
    }
    if (rep.first_lsn > after + 1 || rep.last_lsn < after) {
        printf("wal %s: corrupt: holds LSN %" PRIu64 "..%" PRIu64
               ", the generation needs every LSN after %" PRIu64 "\n",
               dir, rep.first_lsn, rep.last_lsn, after);
        return TOOL_FAIL;
    }
    if (rep.last_lsn > after) {
        if ((rc = wal_reader_open(dir, after + 1, 0, &r, &err)) != 0) {
            printf("wal %s: %s\n", dir, bdx_error_message(&err));
            return TOOL_FAIL;
        }
        while (frames < rep.last_lsn - after) {
            const void *payload;
            uint64_t lsn;
            size_t len;
            Bitdex__V1__ApplyRequest *req;
            if ((rc = wal_reader_next(r, &lsn, &payload, &len, &err)) != 0) {
                printf("wal %s: %s\n", dir,
                       rc == WAL_AGAIN ? "ended early" : bdx_error_message(&err));
                wal_reader_close(r);
                return TOOL_FAIL;
            }
            frames++;
            req = bitdex__v1__apply_request__unpack(NULL, len, (const uint8_t *)payload);
            if (req == NULL) {
                char path[WAL_PATH_MAX];
                uint64_t off;
                wal_reader_position(r, path, sizeof(path), &off);
                if (bad++ == 0)
                    printf("wal %s: frame LSN %" PRIu64 " (%s offset %" PRIu64
                           ") is not an ApplyRequest\n",
                           dir, lsn, path, off);
                continue;
            }
            bitdex__v1__apply_request__free_unpacked(req, NULL);
        }
        wal_reader_close(r);
    }
    printf("wal %s: %s segments=%zu frames_after_checkpoint=%" PRIu64 " last_lsn=%" PRIu64
           " undecodable=%" PRIu64 "\n",
           dir, bad ? "corrupt" : wal_outcome_name(rep.outcome), rep.segments, frames, rep.last_lsn,
           bad);
    if (rep.outcome == WAL_TORN_TAIL)
        printf("torn tail: file=%s offset=%" PRIu64 " bytes=%" PRIu64
               " (the writer cuts it at open)\n",
               rep.file, rep.offset, rep.dropped_bytes);
    return bad ? TOOL_FAIL : TOOL_OK;
}

int check_index(int argc, char **argv)
{
    static const struct option longopts[] = {{"help", no_argument, NULL, 'h'}, {NULL, 0, NULL, 0}};
    char gen_dir[WAL_PATH_MAX], wal_dir[WAL_PATH_MAX];
    bdx_error_t err = {0};
    const char *dir;
    uint64_t gen, lsn = 0;
    int opt, rc, status = TOOL_OK;

    while ((opt = getopt_long(argc, argv, "h", longopts, NULL)) != -1)
        return tool_usage();
    if (optind != argc - 1)
        return tool_usage();
    dir = argv[optind];
    snprintf(wal_dir, sizeof(wal_dir), "%s/wal", dir);
    rc = generation_current(dir, &gen, &err);
    if (rc == BDX_ENOTFOUND) {
        printf("index %s: no CURRENT (no generation published yet): the WAL holds everything\n",
               dir);
    } else if (rc != 0) {
        printf("index %s: CURRENT: %s\n", dir, bdx_error_message(&err));
        return TOOL_FAIL;
    } else {
        snprintf(gen_dir, sizeof(gen_dir), "%s/gen-%" PRIu64, dir, gen);
        printf("index %s: CURRENT -> gen-%" PRIu64 "\n", dir, gen);
        if (verify_generation(gen_dir, &lsn) != TOOL_OK)
            status = TOOL_FAIL;
    }
    if (status == TOOL_OK && verify_wal_after(wal_dir, lsn) != TOOL_OK)
        status = TOOL_FAIL;
    printf("index %s: %s\n", dir, status == TOOL_OK ? "ok" : "corrupt");
    return status;
}

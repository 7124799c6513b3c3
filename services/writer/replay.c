/*
 * replay: one loop over a WAL range into an index. See replay.h.
 */
#include "services/writer/replay.h"

#include "common/apply.h"
#include "common/apply_decode.h"
#include "common/pbarena.h"
#include "common/wal.h"

#include <errno.h>
#include <inttypes.h>

int replay_wal(const char *wal_dir, uint64_t log_id, uint64_t from_lsn, uint64_t to_lsn,
               index_t *ix, const limits_t *limits, batch_ids_t *ids, uint64_t *applied_lsn,
               uint64_t *frames, bdx_error_t *err)
{
    wal_reader_t *r = NULL;
    pbarena_t *arena; /* each frame is decoded into it, then released at once */
    uint64_t lsn = from_lsn, n = 0;
    int rc = 0;

    if (applied_lsn != NULL)
        *applied_lsn = from_lsn;
    if (frames != NULL)
        *frames = 0;
    if (to_lsn <= from_lsn)
        return 0;
    if ((arena = pbarena_new()) == NULL)
        return bdx_error_set(err, -ENOMEM, "out of memory");
    if ((rc = wal_reader_open(wal_dir, from_lsn + 1, log_id, &r, err)) != 0) {
        pbarena_free(arena);
        return rc;
    }
    while (lsn < to_lsn) {
        Bitdex__V1__ApplyRequest *req;
        apply_stats_t stats;
        const void *payload;
        bdx_error_t e = {0};
        size_t len;
        if ((rc = wal_reader_next(r, &lsn, &payload, &len, err)) != 0) {
            if (rc == WAL_AGAIN)
                rc = bdx_error_set(err, BDX_ECORRUPT,
                                   "wal %s: frame LSN %" PRIu64 " missing (need up to %" PRIu64
                                   "); run bitdex-check",
                                   wal_dir, wal_reader_next_lsn(r), to_lsn);
            break;
        }
        pbarena_reset(arena);
        if ((req = apply_decode_arena(arena, payload, len)) == NULL) {
            rc = bdx_error_set(err, BDX_ECORRUPT,
                               "wal %s: frame LSN %" PRIu64
                               " is not an ApplyRequest; run bitdex-check",
                               wal_dir, lsn);
            break;
        }
        if ((rc = apply_check(ix, limits, req, &e)) != 0 ||
            (rc = apply_run(ix, req, &stats, &e)) != 0) {
            rc = bdx_error_set(err, rc == -ENOMEM ? rc : BDX_ECORRUPT,
                               "wal %s: frame LSN %" PRIu64 " cannot be applied: %s", wal_dir, lsn,
                               bdx_error_message(&e));
            break;
        }
        if (req->batch_id != NULL && req->batch_id[0] != '\0') {
            batch_result_t res = {lsn, stats.ops, stats.skipped};
            if (batch_ids_add(ids, req->batch_id, &res) == -ENOMEM) {
                rc = bdx_error_set(err, -ENOMEM, "out of memory");
                break;
            }
        }
        n++;
        if (applied_lsn != NULL)
            *applied_lsn = lsn;
    }
    if (frames != NULL)
        *frames = n;
    wal_reader_close(r);
    pbarena_free(arena);
    return rc;
}

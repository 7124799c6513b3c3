/*
 * document_pb: documents read back out of an index as the API's Document messages
 * (proto/bitdex/v1/types.proto), for Query.GetDocuments.
 *
 * A document is rebuilt from what the index keeps per document: filter fields from its
 * per-document value record (strings back through the field's dictionary), sort fields from the
 * dense column where the BSI existence bitmap has the slot (computed fields included), stored
 * fields from its docstore blob (index_stored(), decoded with docstore_decode()). Fields
 * without a value (null, empty set, never set, a stored field the document lacks) are left
 * out. Within each kind, fields come in request order (schema order when all are asked).
 *
 * Messages returned are allocated piece by piece with malloc: the caller frees them with
 * protobuf_c_message_free_unpacked(&msg->base, NULL).
 *
 * Concurrency: reads the index only; the caller holds it (a snapshot) for the call.
 */
#ifndef BITDEX_DOCUMENT_PB_H
#define BITDEX_DOCUMENT_PB_H

#include "common/error.h"
#include "common/index.h"
#include "common/limits.h"

#include "bitdex/v1/query.pb-c.h"

#include <stdint.h>

/*
 * Answers `req` (borrowed; req->index is not looked at) from `ix` at snapshot `lsn`: ids checked
 * (1 to limits->max_get_documents), repeated ids answered once, live documents in order of
 * first request, the others in missing_ids; `fields` names fields of any kind (empty: all; `id`
 * is accepted and changes nothing since every Document carries its id; repeated names count
 * once). On success *out is the response (see ownership above). Returns 0, -ENOMEM,
 * BDX_EINVAL / BDX_ELIMIT naming `ids` or `fields[i]`, or BDX_ECORRUPT when a document's stored
 * blob fails its checks ("id <n>: stored blob: ..."); *out is NULL on error.
 */
int document_pb_get(const index_t *ix, const limits_t *limits,
                    const Bitdex__V1__GetDocumentsRequest *req, uint64_t lsn,
                    Bitdex__V1__GetDocumentsResponse **out, bdx_error_t *err);

#endif

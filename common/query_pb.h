/*
 * query_pb: translation between the Query API's messages (protobuf-c, proto/bitdex/v1/
 * query.proto and filter.proto) and the engine's query_t / search_result_t (query.h, search.h).
 *
 * Requests: query_pb_filter() turns a Filter tree into a query_node_t tree, checking it against
 * the index's schema and limits the way filter.proto describes, and reports the first problem
 * as BDX_EINVAL / BDX_ELIMIT (both INVALID_ARGUMENT) with "<path>: <reason>", the path in proto
 * field names from the request's root, e.g.
 *   `filter.all_of.filters[2].eq.value: field "nsfwLevel" is INT, got string`
 *   `filter.any_of.filters[0].is_in.values: 10001 values exceed max_in_values 10000`
 * A translated tree always passes query_validate() with query_pb_limits() of the same limits,
 * so every request error carries a path. Strings are passed as strings: the planner looks
 * them up in the field's dictionary, and one that no document holds matches nothing.
 * query_pb_search() / query_pb_count() translate whole requests (filter, sort, limit, cursor,
 * flags, requested stored fields).
 *
 * Responses: query_pb_search_response(), query_pb_count_response() and query_pb_explain()
 * build the reply messages from engine results. Every message they return is allocated piece
 * by piece with malloc, so the caller frees it with
 * protobuf_c_message_free_unpacked(&msg->base, NULL).
 *
 * Prefilters: readers do not know any prefilter yet, so a `prefilter` clause is always
 * INVALID_ARGUMENT ("not registered on this reader"); that changes when Watch delivers them.
 *
 * Pure functions on caller-owned data (the index is only read); thread-safe.
 */
#ifndef BITDEX_QUERY_PB_H
#define BITDEX_QUERY_PB_H

#include "common/error.h"
#include "common/index.h"
#include "common/limits.h"
#include "common/query.h"
#include "common/schema.h"
#include "common/search.h"

#include "bitdex/v1/query.pb-c.h"

#include <stddef.h>
#include <stdint.h>

/* SearchRequest.limit 0 means this many (or max_page_size when that is smaller). */
#define QUERY_PB_DEFAULT_PAGE 50

/* The engine's request limits for an index's limits (`l` resolved, limits.h). */
void query_pb_limits(const limits_t *l, query_limits_t *out);

/*
 * Translates `f` (borrowed; may be NULL) into *out. An absent filter, or a top-level Filter with
 * no clause set, gives *out = NULL (every live document). `path` names f in messages ("filter").
 * On success the caller frees *out with query_node_free(). Returns 0, -ENOMEM, or BDX_EINVAL /
 * BDX_ELIMIT with "<path>: <reason>" (then *out is NULL).
 */
int query_pb_filter(const Bitdex__V1__Filter *f, const char *path, const schema_t *schema,
                    const limits_t *limits, query_node_t **out, bdx_error_t *err);

/*
 * Translates a SearchRequest against `schema` and `limits` (req->index is not looked at: the
 * caller found the index by it). On success *out is a query (caller frees with query_free())
 * whose filter, sort (field, or QUERY_FIELD_ID for a sort on `id`), limit, cursor bytes (checked
 * later, by search_run()) and flags (include_total, explain) are set, and *fields / *nfields are
 * the schema stored-field indexes of SearchRequest.fields in request order, as
 * query_pb_search_response() and docstore_decode() take them (caller frees *fields with free();
 * NULL when none); empty, unknown and repeated names and names of filter or sort fields are
 * rejected. Returns 0, -ENOMEM or BDX_EINVAL / BDX_ELIMIT naming `filter...`, `sort.field`,
 * `sort.direction`, `limit` or `fields[i]`.
 */
int query_pb_search(const Bitdex__V1__SearchRequest *req, const schema_t *schema,
                    const limits_t *limits, query_t **out, size_t **fields, size_t *nfields,
                    bdx_error_t *err);

/* Translates a CountRequest (filter and explain) like query_pb_search(). */
int query_pb_count(const Bitdex__V1__CountRequest *req, const schema_t *schema,
                   const limits_t *limits, query_t **out, bdx_error_t *err);

/*
 * Rewrites an error search_run() / search_count() returned for a translated query into the API's
 * form: a cursor error (BDX_ECURSOR) gets the path "cursor: ". Other errors are left as they are.
 */
void query_pb_engine_error(bdx_error_t *err);

/*
 * Builds the SearchResponse of result `r` of query `q` on `ix` at snapshot `lsn`: hits (id,
 * sort_value: the sort field's value as the engine ordered by it, or the id itself without a
 * sort or with a sort on `id`; Hit.fields: the stored fields `fields[0..nfields)` (schema
 * stored-field indexes, from query_pb_search()) the document holds, in that order, decoded from
 * its docstore blob), next_cursor, total when the query asked for it, explain when the result
 * has a trace. Caller frees *out with protobuf_c_message_free_unpacked(). Returns 0, -ENOMEM,
 * or BDX_ECORRUPT (a stored blob failed its checks: "id <slot>: stored blob: ..."); *out is
 * NULL on error.
 */
int query_pb_search_response(const index_t *ix, const query_t *q, const search_result_t *r,
                             const size_t *fields, size_t nfields, uint64_t lsn,
                             Bitdex__V1__SearchResponse **out, bdx_error_t *err);

/* Builds a CountResponse (explain: may be NULL). Same ownership. 0 or -ENOMEM. */
int query_pb_count_response(uint64_t count, const explain_t *explain, uint64_t lsn,
                            Bitdex__V1__CountResponse **out);

/*
 * Builds an Explain message from a trace: plan (the canonical clauses, one per line, indented
 * two spaces per nesting level), one step per clause in plan order (canonical text, estimate,
 * actual, time, detail "skipped: result already empty" / "applied to the running set"),
 * estimated_matches, strategy and reason, sort and total time. Same ownership. 0 or -ENOMEM.
 */
int query_pb_explain(const explain_t *e, Bitdex__V1__Explain **out);

/* The API enum of an engine strategy (SORT_AUTO: none ran, UNSPECIFIED). */
Bitdex__V1__SortStrategy query_pb_strategy(sort_strategy_t s);

#endif

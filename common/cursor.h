/*
 * cursor: the opaque page token of a query.
 *
 * A cursor names the last (value, slot) pair a page returned; the next page starts strictly
 * after it in the query's order. It is bound to the query it came from by the query's
 * fingerprint (query_fingerprint(): index, canonical filter, sort field and direction — not the
 * limit), so a cursor replayed against another query fails with BDX_ECURSOR instead of silently
 * paging through something else. A check word over the whole token turns truncation and
 * bit flips into "malformed cursor". It is not a signature: clients can read it, and a client
 * able to compute the check could forge a position, which only moves its own page.
 *
 * Wire layout (CURSOR_SIZE bytes, little-endian):
 *   0   u8   version (CURSOR_VERSION; bump when the layout changes)
 *   1   u8   flags: bit 0 = has a sort value; other bits 0
 *   2   u32  slot
 *   6   u64  sort value (0 when there is no sort)
 *   14  u64  query fingerprint
 *   22  u32  check: low 32 bits of query_hash64() over bytes 0..21
 *
 * Pure functions, thread-safe.
 */
#ifndef BITDEX_CURSOR_H
#define BITDEX_CURSOR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/error.h"

#define CURSOR_VERSION 1
#define CURSOR_SIZE 26

/* A position in a query's order: the last row returned. */
typedef struct cursor {
    bool has_value; /* true for sorted queries */
    uint64_t value; /* sort value of the last row (0 when !has_value) */
    uint32_t slot;  /* slot (id) of the last row */
} cursor_t;

/* Writes the token for `c` and `fingerprint` into buf[CURSOR_SIZE]. */
void cursor_encode(const cursor_t *c, uint64_t fingerprint, uint8_t buf[CURSOR_SIZE]);

/*
 * Parses a token. Returns 0 and fills *out, or BDX_ECURSOR with a message: "malformed cursor:
 * ..." (wrong length, version, flags or check) or "cursor does not belong to this query"
 * (fingerprint differs, or it has a sort value and the query has no sort, or the reverse).
 * `want_value` says whether the query is sorted.
 */
int cursor_decode(const uint8_t *buf, size_t len, uint64_t fingerprint, bool want_value,
                  cursor_t *out, bdx_error_t *err);

#endif

/*
 * cursor: encoding and checking page tokens. See cursor.h for the layout.
 */
#include "common/cursor.h"

#include <string.h>

#include "common/query.h"

#define CURSOR_CHECK_SEED UINT64_C(0x637572736f72) /* "cursor" */
#define CURSOR_CHECK_AT 22

static void put_le(uint8_t *p, uint64_t v, int n)
{
    for (int i = 0; i < n; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

static uint64_t get_le(const uint8_t *p, int n)
{
    uint64_t v = 0;
    for (int i = 0; i < n; i++)
        v |= (uint64_t)p[i] << (8 * i);
    return v;
}

void cursor_encode(const cursor_t *c, uint64_t fingerprint, uint8_t buf[CURSOR_SIZE])
{
    buf[0] = CURSOR_VERSION;
    buf[1] = c->has_value ? 1 : 0;
    put_le(buf + 2, c->slot, 4);
    put_le(buf + 6, c->has_value ? c->value : 0, 8);
    put_le(buf + 14, fingerprint, 8);
    put_le(buf + CURSOR_CHECK_AT, query_hash64(buf, CURSOR_CHECK_AT, CURSOR_CHECK_SEED), 4);
}

int cursor_decode(const uint8_t *buf, size_t len, uint64_t fingerprint, bool want_value,
                  cursor_t *out, bdx_error_t *err)
{
    if (len != CURSOR_SIZE)
        return bdx_error_set(err, BDX_ECURSOR, "malformed cursor: %zu bytes, expected %d", len,
                             CURSOR_SIZE);
    if (buf[0] != CURSOR_VERSION)
        return bdx_error_set(err, BDX_ECURSOR, "malformed cursor: unknown version %u",
                             (unsigned)buf[0]);
    uint32_t check = (uint32_t)get_le(buf + CURSOR_CHECK_AT, 4);
    if (check != (uint32_t)query_hash64(buf, CURSOR_CHECK_AT, CURSOR_CHECK_SEED))
        return bdx_error_set(err, BDX_ECURSOR, "malformed cursor: check word mismatch");
    if (buf[1] & ~1u)
        return bdx_error_set(err, BDX_ECURSOR, "malformed cursor: unknown flags 0x%02x",
                             (unsigned)buf[1]);
    cursor_t c = {
        .has_value = buf[1] & 1,
        .slot = (uint32_t)get_le(buf + 2, 4),
        .value = get_le(buf + 6, 8),
    };
    if (!c.has_value && c.value != 0)
        return bdx_error_set(err, BDX_ECURSOR, "malformed cursor: value without a sort");
    if (get_le(buf + 14, 8) != fingerprint || c.has_value != want_value)
        return bdx_error_set(err, BDX_ECURSOR, "cursor does not belong to this query");
    *out = c;
    return 0;
}

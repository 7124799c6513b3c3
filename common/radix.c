/*
 * radix: 8 bits per pass, least significant first; a pass is skipped when every key has the
 * same byte there (found up front from the OR and AND of all keys).
 */
#include "common/radix.h"

#include <string.h>

void radix_sort_pairs(uint64_t *key, uint32_t *val, uint64_t *tmp_key, uint32_t *tmp_val, size_t n)
{
    uint64_t *k = key, *tk = tmp_key, all_or = 0, all_and = ~0ULL;
    uint32_t *v = val, *tv = tmp_val;
    size_t count[256];

    for (size_t i = 0; i < n; i++) {
        all_or |= key[i];
        all_and &= key[i];
    }
    for (unsigned shift = 0; shift < 64; shift += 8) {
        uint64_t *xk;
        uint32_t *xv;
        size_t sum = 0;

        if ((((all_or ^ all_and) >> shift) & 0xff) == 0)
            continue; /* this byte is the same in every key */
        memset(count, 0, sizeof(count));
        for (size_t i = 0; i < n; i++)
            count[(k[i] >> shift) & 0xff]++;
        for (unsigned d = 0; d < 256; d++) {
            size_t c = count[d];
            count[d] = sum;
            sum += c;
        }
        for (size_t i = 0; i < n; i++) {
            size_t at = count[(k[i] >> shift) & 0xff]++;
            tk[at] = k[i];
            tv[at] = v[i];
        }
        xk = k;
        k = tk;
        tk = xk;
        xv = v;
        v = tv;
        tv = xv;
    }
    if (k != key) {
        memcpy(key, k, n * sizeof(*key));
        memcpy(val, v, n * sizeof(*val));
    }
}

/*
 * generation_structs: the sections of a generation that hold structures other than bitmaps:
 * slotstore images (docvalues records), dictionaries and permutations. These are written through each
 * structure's public API and copied at load (the image APIs of DESIGN.md will replace the
 * column, permutation and dictionary encodings here with zero-copy images).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "common/generation_internal.h"

/* ---- slotstores (docvalues records, stored documents) ---- */

int gen_put_slots(gen_writer_t *w, const slotstore_t *ss)
{
    size_t n = slotstore_image_size(ss);
    void *buf = aligned_alloc(SLOTSTORE_IMAGE_ALIGN, n ? n : SLOTSTORE_IMAGE_ALIGN);
    int rc;

    if (buf == NULL)
        return -ENOMEM;
    slotstore_image_write(ss, buf);
    rc = gen_writer_put(w, buf, n);
    free(buf);
    return rc;
}

/* ---- dictionaries ---- */

int gen_put_dict(gen_writer_t *w, const dictionary_t *d, int64_t from)
{
    int64_t count = dictionary_count(d);
    uint64_t total = 0;
    uint8_t head[24], len[4];
    int rc;

    for (int64_t k = from; k < count; k++)
        total += strlen(dictionary_string(d, k));
    gen_put64(head, (uint64_t)from);
    gen_put64(head + 8, (uint64_t)(count - from));
    gen_put64(head + 16, total);
    if ((rc = gen_writer_put(w, head, sizeof(head))) != 0)
        return rc;
    for (int64_t k = from; k < count; k++) {
        gen_put32(len, (uint32_t)strlen(dictionary_string(d, k)));
        if ((rc = gen_writer_put(w, len, 4)) != 0)
            return rc;
    }
    for (int64_t k = from; k < count; k++) {
        const char *s = dictionary_string(d, k);
        if ((rc = gen_writer_put(w, s, strlen(s))) != 0)
            return rc;
    }
    return 0;
}

int gen_load_dict(dictionary_t *d, const uint8_t *p, uint64_t len, const char *what, int64_t *first,
                  bdx_error_t *err)
{
    uint64_t from, count, total, off;
    const uint8_t *lens, *bytes;
    char *tmp = NULL;
    size_t tmp_cap = 0;
    int rc = 0;

    if (len < 24)
        return bdx_error_set(err, BDX_ECORRUPT, "%s: dictionary section too short", what);
    from = gen_get64(p);
    count = gen_get64(p + 8);
    total = gen_get64(p + 16);
    if (count > (len - 24) / 4 || total != len - 24 - count * 4 ||
        from != (uint64_t)dictionary_count(d))
        return bdx_error_set(err, BDX_ECORRUPT,
                             "%s: dictionary section of %llu strings from key %llu does not fit",
                             what, (unsigned long long)count, (unsigned long long)from);
    *first = (int64_t)from;
    lens = p + 24;
    bytes = lens + count * 4;
    off = 0;
    for (uint64_t i = 0; i < count; i++) {
        uint32_t n = gen_get32(lens + 4 * i);
        int64_t key;
        if (n > total - off || memchr(bytes + off, 0, n) != NULL) {
            rc = bdx_error_set(err, BDX_ECORRUPT, "%s: dictionary string %llu out of range", what,
                               (unsigned long long)(from + i));
            break;
        }
        if (n + 1 > tmp_cap) {
            char *t = realloc(tmp, n + 64);
            if (t == NULL) {
                rc = bdx_error_set(err, -ENOMEM, "%s: out of memory", what);
                break;
            }
            tmp = t;
            tmp_cap = n + 64;
        }
        memcpy(tmp, bytes + off, n);
        tmp[n] = 0;
        off += n;
        if ((rc = dictionary_intern(d, tmp, &key)) != 0) {
            bdx_error_set(err, rc, "%s: %s", what, bdx_strerror(rc));
            break;
        }
        if ((uint64_t)key != from + i) {
            rc = bdx_error_set(err, BDX_ECORRUPT, "%s: dictionary string %llu is a duplicate", what,
                               (unsigned long long)(from + i));
            break;
        }
    }
    free(tmp);
    return rc;
}

/* ---- permutations ---- */

int gen_put_perm(gen_writer_t *w, const permutation_t *p)
{
    uint32_t n = permutation_count(p);
    uint8_t b[8];
    int rc;

    gen_put64(b, n);
    if ((rc = gen_writer_put(w, b, 8)) != 0)
        return rc;
    for (uint32_t i = 0; i < n; i++) {
        gen_put32(b, permutation_slot(p, i));
        if ((rc = gen_writer_put(w, b, 4)) != 0)
            return rc;
    }
    if (n % 2 != 0 && (rc = gen_writer_put(w, "\0\0\0\0", 4)) != 0)
        return rc;
    for (uint32_t i = 0; i < n; i++) {
        gen_put64(b, permutation_value(p, i));
        if ((rc = gen_writer_put(w, b, 8)) != 0)
            return rc;
    }
    return 0;
}

/* Rebuilds the permutation through permutation_build(): a column holding each member's
 * recorded value, over the member slots, sorts to exactly the recorded order. */
int gen_load_perm(const uint8_t *p, uint64_t len, unsigned bits, permutation_t **out,
                  const char *what, bdx_error_t *err)
{
    uint64_t n;
    const uint8_t *slots, *values;
    column_t *col = NULL;
    roaring_bitmap_t *members = NULL;
    int rc;

    if (len < 8)
        return bdx_error_set(err, BDX_ECORRUPT, "%s: permutation section too short", what);
    n = gen_get64(p);
    if (n > UINT32_MAX || len != 8 + n * 4 + (n % 2) * 4 + n * 8)
        return bdx_error_set(err, BDX_ECORRUPT, "%s: permutation of %llu entries does not fit",
                             what, (unsigned long long)n);
    slots = p + 8;
    values = slots + n * 4 + (n % 2) * 4;
    if ((rc = column_new(bits, &col)) != 0 || (members = roaring_bitmap_create()) == NULL) {
        rc = rc ? rc : -ENOMEM;
        goto out;
    }
    for (uint64_t i = 0; i < n; i++) {
        uint32_t slot = gen_get32(slots + 4 * i);
        uint64_t v = gen_get64(values + 8 * i);
        if (i > 0) {
            uint64_t pv = gen_get64(values + 8 * (i - 1));
            uint32_t ps = gen_get32(slots + 4 * (i - 1));
            if (pv > v || (pv == v && ps >= slot)) {
                rc = BDX_ECORRUPT;
                goto out;
            }
        }
        if ((rc = column_set(col, slot, v)) != 0)
            goto out; /* BDX_EINVAL: too wide for the field */
        roaring_bitmap_add(members, slot);
    }
    rc = permutation_build(col, members, out);
out:
    column_free(col);
    bitmap_free_roaring(members);
    if (rc == BDX_ECORRUPT || rc == BDX_EINVAL)
        return bdx_error_set(err, BDX_ECORRUPT, "%s: permutation entries out of order or range",
                             what);
    if (rc != 0)
        return bdx_error_set(err, rc, "%s: %s", what, bdx_strerror(rc));
    return 0;
}

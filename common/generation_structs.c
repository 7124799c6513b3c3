/*
 * generation_structs: the sections of a generation that hold structures other than bitmaps:
 * slotstore images (docvalues records), column / permutation / dictionary images, and the
 * strings a delta adds to a dictionary (interned at load).
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

/* ---- images (column, permutation, dictionary: docs/format/images.md) ---- */

/* Writes size bytes made by write(obj, buf) into a 32-byte aligned scratch buffer. */
static int put_image(gen_writer_t *w, size_t size, void (*write)(const void *, void *),
                     const void *obj)
{
    void *buf = aligned_alloc(GEN_ALIGN, gen_align(size ? size : 1));
    int rc;

    if (buf == NULL)
        return -ENOMEM;
    write(obj, buf);
    rc = gen_writer_put(w, buf, size);
    free(buf);
    return rc;
}

static void write_column(const void *obj, void *buf)
{
    column_image_write(obj, buf);
}

static void write_perm(const void *obj, void *buf)
{
    permutation_image_write(obj, buf);
}

static void write_dict(const void *obj, void *buf)
{
    dictionary_image_write(obj, buf);
}

int gen_put_column(gen_writer_t *w, const column_t *c)
{
    return put_image(w, column_image_size(c), write_column, c);
}

int gen_put_perm(gen_writer_t *w, const permutation_t *p)
{
    return put_image(w, permutation_image_size(p), write_perm, p);
}

int gen_put_dict_image(gen_writer_t *w, const dictionary_t *d)
{
    return put_image(w, dictionary_image_size(d), write_dict, d);
}

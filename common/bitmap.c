/*
 * bitmap: slots that own, view or borrow CRoaring bitmaps, plus the multi-bitmap operations
 * CRoaring 0.2.66 lacks. See bitmap.h for the contract.
 */
#include "common/bitmap.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/error.h"
#include "common/frozen.h"

void bitmap_init(bitmap_t *b)
{
    b->rb = NULL;
    b->frozen = NULL;
    b->frozen_len = 0;
    b->kind = BITMAP_EMPTY;
}

void bitmap_release(bitmap_t *b)
{
    roaring_bitmap_t *rb = b->rb;

    /* A view's header was allocated by roaring_bitmap_frozen_view(); roaring_bitmap_free()
     * frees only that header for frozen bitmaps, never the buffer. */
    if ((b->kind == BITMAP_OWNED || b->kind == BITMAP_VIEW || b->kind == BITMAP_FROZEN) &&
        rb != NULL)
        roaring_bitmap_free(rb);
    bitmap_init(b);
}

const roaring_bitmap_t *bitmap_frozen_get(const bitmap_t *b)
{
    /* A logically const cache fill: the slot lives in writable memory (malloc'd by its owner),
     * so writing the header pointer through the cast is defined. */
    roaring_bitmap_t *_Atomic *slot = (roaring_bitmap_t * _Atomic *)&b->rb;
    roaring_bitmap_t *expected = NULL;
    const roaring_bitmap_t *view;

    if (bitmap_view(b->frozen, b->frozen_len, &view) != 0) {
        /* only out of memory: the bytes were validated by bitmap_set_frozen(), written by
         * bitmap_freeze_into(), or vouched for by a verified checksum
         * (bitmap_set_frozen_trusted()) */
        fprintf(stderr, "bitdex: cannot make a frozen bitmap view (out of memory)\n");
        abort();
    }
    if (!atomic_compare_exchange_strong_explicit(slot, &expected, (roaring_bitmap_t *)view,
                                                 memory_order_acq_rel, memory_order_acquire)) {
        bitmap_view_free(view); /* another reader made it first */
        return expected;
    }
    return view;
}

roaring_bitmap_t *bitmap_mut(bitmap_t *b)
{
    roaring_bitmap_t *rb;
    const roaring_bitmap_t *view;

    switch (b->kind) {
    case BITMAP_OWNED:
        return b->rb;
    case BITMAP_EMPTY:
        rb = roaring_bitmap_create();
        break;
    case BITMAP_FROZEN:
        if ((view = b->rb) != NULL) {
            rb = roaring_bitmap_copy(view);
            break;
        }
        /* copy through a temporary view: no header is kept for a slot about to be owned */
        if (bitmap_view(b->frozen, b->frozen_len, &view) != 0)
            return NULL;
        rb = roaring_bitmap_copy(view);
        bitmap_view_free(view);
        break;
    default:
        rb = roaring_bitmap_copy(b->rb);
        break;
    }
    if (rb == NULL)
        return NULL;
    bitmap_adopt(b, rb);
    return rb;
}

void bitmap_adopt(bitmap_t *b, roaring_bitmap_t *rb)
{
    bitmap_release(b);
    b->rb = rb;
    b->kind = rb != NULL ? BITMAP_OWNED : BITMAP_EMPTY;
}

int bitmap_set_frozen(bitmap_t *b, const char *buf, size_t len)
{
    const roaring_bitmap_t *view;
    int rc;

    bitmap_release(b);
    if (len > UINT32_MAX)
        return BDX_ECORRUPT;
    /* validate now (alignment, length, cookie), so the lazy view of a read cannot fail but
     * for memory */
    if ((rc = bitmap_view(buf, len, &view)) != 0)
        return rc;
    bitmap_view_free(view);
    b->frozen = buf;
    b->frozen_len = (uint32_t)len;
    b->kind = BITMAP_FROZEN;
    return 0;
}

/* CRoaring's frozen format ends with a 32-bit little-endian header: the low 15 bits are this
 * cookie, the rest the number of containers; each container takes at least 5 bytes of key,
 * cardinality and type code before it (roaring_bitmap_frozen_view(), CRoaring 0.2.66). */
#define FROZEN_COOKIE 13766u

int bitmap_frozen_containers(const char *buf, size_t len, uint32_t *containers)
{
    const unsigned char *p = (const unsigned char *)buf + len - 4;
    uint32_t header, n;

    *containers = 0;
    if (buf == NULL || ((uintptr_t)buf % BITMAP_FROZEN_ALIGN) != 0 || len < 4 || len > UINT32_MAX)
        return BDX_ECORRUPT;
    header = (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
    n = header >> 15;
    if ((header & 0x7FFFu) != FROZEN_COOKIE || n > 65536 || (uint64_t)n * 5 + 4 > len)
        return BDX_ECORRUPT;
    *containers = n;
    return 0;
}

int bitmap_set_frozen_trusted(bitmap_t *b, const char *buf, size_t len)
{
    uint32_t n;
    int rc;

    bitmap_release(b);
    if ((rc = bitmap_frozen_containers(buf, len, &n)) != 0)
        return rc;
    b->frozen = buf;
    b->frozen_len = (uint32_t)len;
    b->kind = BITMAP_FROZEN;
    return 0;
}

size_t bitmap_frozen_footprint(const bitmap_t *b)
{
    switch (b->kind) {
    case BITMAP_OWNED:
        return frozen_align(roaring_bitmap_frozen_size_in_bytes(b->rb));
    case BITMAP_FROZEN:
        return frozen_align(b->frozen_len);
    default:
        return 0;
    }
}

int bitmap_freeze_into(bitmap_t *b, frozen_t *arena)
{
    size_t n = bitmap_frozen_footprint(b), len;
    char *buf;

    if (n == 0)
        return 0;
    if ((buf = frozen_alloc(arena, n)) == NULL)
        return BDX_EINVAL;
    switch (b->kind) {
    case BITMAP_OWNED:
        len = roaring_bitmap_frozen_size_in_bytes(b->rb);
        roaring_bitmap_frozen_serialize(b->rb, buf);
        break;
    case BITMAP_FROZEN:
        len = b->frozen_len;
        memcpy(buf, b->frozen, len);
        break;
    default:
        return 0; /* unreachable: the footprint was 0 */
    }
    bitmap_release(b);
    b->frozen = buf;
    b->frozen_len = (uint32_t)len;
    b->kind = BITMAP_FROZEN;
    return 0;
}

void bitmap_borrow(bitmap_t *b, const roaring_bitmap_t *rb)
{
    bitmap_release(b);
    b->rb = (roaring_bitmap_t *)rb; /* never written through: kind says read-only */
    b->kind = rb != NULL ? BITMAP_BORROWED : BITMAP_EMPTY;
}

void bitmap_adopt_view(bitmap_t *b, const roaring_bitmap_t *view)
{
    bitmap_release(b);
    b->rb = (roaring_bitmap_t *)view; /* read-only: kind says so */
    b->kind = view != NULL ? BITMAP_VIEW : BITMAP_EMPTY;
}

int bitmap_set_view(bitmap_t *b, const char *buf, size_t len)
{
    const roaring_bitmap_t *view;
    int rc;

    bitmap_release(b);
    rc = bitmap_view(buf, len, &view);
    if (rc != 0)
        return rc;
    bitmap_adopt_view(b, view);
    return 0;
}

void bitmap_free_roaring(roaring_bitmap_t *rb)
{
    if (rb != NULL)
        roaring_bitmap_free(rb);
}

uint64_t bitmap_count(const roaring_bitmap_t *rb)
{
    return rb != NULL ? roaring_bitmap_get_cardinality(rb) : 0;
}

/* Estimated bytes of a view header over a bitmap of n containers: roaring_bitmap_frozen_view()
 * makes one allocation (the bitmap struct, keys, typecodes, container pointers and structs). */
static size_t view_header_bytes(const roaring_bitmap_t *view)
{
    roaring_statistics_t st;

    roaring_bitmap_statistics(view, &st);
    return (size_t)st.n_containers * 24 + 56;
}

void bitmap_usage_add(const bitmap_t *b, bitmap_usage_t *u)
{
    const roaring_bitmap_t *rb = b->rb;
    size_t views = 0;

    if (b->kind == BITMAP_FROZEN) {
        u->frozen += frozen_align(b->frozen_len);
        u->bytes += frozen_align(b->frozen_len);
    }
    if ((b->kind == BITMAP_FROZEN || b->kind == BITMAP_VIEW) && rb != NULL) {
        views = view_header_bytes(rb);
        u->views += views;
        u->view_count++;
        u->bytes += views;
    }
    if (b->kind == BITMAP_OWNED)
        u->bytes += bitmap_memory(b);
}

size_t bitmap_memory(const bitmap_t *b)
{
    roaring_statistics_t st;
    bitmap_usage_t u = {0};

    switch (b->kind) {
    case BITMAP_OWNED:
        /* Container payloads plus the per-container bookkeeping CRoaring allocates
         * (container struct, key, typecode, pointer, allocator slack) and the header;
         * calibrated with mallinfo2() against CRoaring 0.2.66 (a 5-slot bitmap costs ~144 B,
         * a one-slot container ~77 B). */
        roaring_bitmap_statistics(b->rb, &st);
        return st.n_bytes_array_containers + st.n_bytes_run_containers +
               st.n_bytes_bitset_containers + (size_t)st.n_containers * 72 + 72;
    case BITMAP_VIEW:
    case BITMAP_FROZEN:
        bitmap_usage_add(b, &u);
        return u.bytes;
    default:
        return 0;
    }
}

size_t bitmap_freeze_size(const roaring_bitmap_t *rb)
{
    roaring_bitmap_t *empty;
    size_t n;

    if (rb != NULL)
        return roaring_bitmap_frozen_size_in_bytes(rb);
    empty = roaring_bitmap_create();
    if (empty == NULL)
        return 0;
    n = roaring_bitmap_frozen_size_in_bytes(empty);
    bitmap_free_roaring(empty);
    return n;
}

void bitmap_freeze_to(const roaring_bitmap_t *rb, char *buf)
{
    roaring_bitmap_t *empty;

    if (rb != NULL) {
        roaring_bitmap_frozen_serialize(rb, buf);
        return;
    }
    empty = roaring_bitmap_create();
    if (empty == NULL)
        return;
    roaring_bitmap_frozen_serialize(empty, buf);
    bitmap_free_roaring(empty);
}

int bitmap_view(const char *buf, size_t len, const roaring_bitmap_t **out)
{
    const roaring_bitmap_t *view;

    *out = NULL;
    if (buf == NULL || ((uintptr_t)buf % BITMAP_FROZEN_ALIGN) != 0)
        return BDX_ECORRUPT;
    view = roaring_bitmap_frozen_view(buf, len);
    if (view == NULL)
        return BDX_ECORRUPT;
    *out = view;
    return 0;
}

void bitmap_view_free(const roaring_bitmap_t *view)
{
    if (view != NULL)
        roaring_bitmap_free((roaring_bitmap_t *)view);
}

/* ---- multi-bitmap operations ---- */

typedef struct sized {
    const roaring_bitmap_t *rb;
    uint64_t count;
} sized_t;

static int sized_cmp(const void *a, const void *b)
{
    const sized_t *x = a, *y = b;
    return (x->count > y->count) - (x->count < y->count);
}

/* Copies in[] into a new array sorted by cardinality; NULL when out of memory. *empty is set
 * when some input is empty (the AND is then empty). */
static sized_t *sort_by_count(const roaring_bitmap_t *const *in, size_t n, bool *empty)
{
    sized_t *s = malloc((n ? n : 1) * sizeof(*s));

    *empty = false;
    if (s == NULL)
        return NULL;
    for (size_t i = 0; i < n; i++) {
        s[i].rb = in[i];
        s[i].count = bitmap_count(in[i]);
        if (s[i].count == 0)
            *empty = true;
    }
    qsort(s, n, sizeof(*s), sized_cmp);
    return s;
}

int bitmap_and_many(const roaring_bitmap_t *const *in, size_t n, roaring_bitmap_t *out)
{
    sized_t *s;
    bool empty;
    int rc = 0;

    if (n == 0)
        return BDX_EINVAL;
    roaring_bitmap_clear(out);
    s = sort_by_count(in, n, &empty);
    if (s == NULL)
        return -ENOMEM;
    if (empty)
        goto out;
    if (n == 1) {
        roaring_bitmap_or_inplace(out, s[0].rb);
        goto out;
    }
    {
        /* Start from the AND of the two smallest: never copies a large bitmap. */
        roaring_bitmap_t *acc = roaring_bitmap_and(s[0].rb, s[1].rb);
        if (acc == NULL) {
            rc = -ENOMEM;
            goto out;
        }
        for (size_t i = 2; i < n && !roaring_bitmap_is_empty(acc); i++)
            roaring_bitmap_and_inplace(acc, s[i].rb);
        roaring_bitmap_overwrite(out, acc);
        bitmap_free_roaring(acc);
    }
out:
    free(s);
    return rc;
}

void bitmap_and_many_inplace(roaring_bitmap_t *acc, const roaring_bitmap_t *const *in, size_t n)
{
    sized_t *s;
    bool empty;

    if (n == 0)
        return;
    s = sort_by_count(in, n, &empty);
    if (s == NULL || empty) {
        /* Out of memory for the ordering: fall back to the given order (same result). */
        for (size_t i = 0; i < n && !roaring_bitmap_is_empty(acc); i++) {
            if (in[i] == NULL)
                roaring_bitmap_clear(acc);
            else
                roaring_bitmap_and_inplace(acc, in[i]);
        }
        free(s);
        return;
    }
    for (size_t i = 0; i < n && !roaring_bitmap_is_empty(acc); i++)
        roaring_bitmap_and_inplace(acc, s[i].rb);
    free(s);
}

int bitmap_or_many(const roaring_bitmap_t *const *in, size_t n, roaring_bitmap_t *out)
{
    const roaring_bitmap_t **nn;
    size_t k = 0;
    roaring_bitmap_t *u;

    roaring_bitmap_clear(out);
    nn = malloc((n ? n : 1) * sizeof(*nn));
    if (nn == NULL)
        return -ENOMEM;
    for (size_t i = 0; i < n; i++)
        if (in[i] != NULL && !roaring_bitmap_is_empty(in[i]))
            nn[k++] = in[i];
    if (k == 1) {
        roaring_bitmap_or_inplace(out, nn[0]);
    } else if (k > 1) {
        u = roaring_bitmap_or_many(k, nn);
        if (u == NULL) {
            free(nn);
            return -ENOMEM;
        }
        roaring_bitmap_overwrite(out, u);
        bitmap_free_roaring(u);
    }
    free(nn);
    return 0;
}

uint64_t bitmap_and_many_count(const roaring_bitmap_t *const *in, size_t n)
{
    sized_t *s;
    bool empty;
    uint64_t count = 0;
    roaring_bitmap_t *acc;

    if (n == 0)
        return 0;
    if (n == 1)
        return bitmap_count(in[0]);
    s = sort_by_count(in, n, &empty);
    if (s == NULL) {
        /* out of memory for the ordering: intersect in the given order instead */
        if ((acc = roaring_bitmap_create()) == NULL)
            return 0;
        if (bitmap_and_many(in, n, acc) == 0)
            count = roaring_bitmap_get_cardinality(acc);
        roaring_bitmap_free(acc);
        return count;
    }
    if (empty)
        goto out;
    if (n == 2) {
        count = roaring_bitmap_and_cardinality(s[0].rb, s[1].rb);
        goto out;
    }
    acc = roaring_bitmap_and(s[0].rb, s[1].rb);
    if (acc == NULL)
        goto out;
    for (size_t i = 2; i + 1 < n && !roaring_bitmap_is_empty(acc); i++)
        roaring_bitmap_and_inplace(acc, s[i].rb);
    count = roaring_bitmap_and_cardinality(acc, s[n - 1].rb);
    bitmap_free_roaring(acc);
out:
    free(s);
    return count;
}

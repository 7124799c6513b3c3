/*
 * frozen: one 32-byte aligned block, handed out front to back. See frozen.h for the layout and
 * the lifetime rules.
 */
#include "common/frozen.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "common/bitmap.h"
#include "common/error.h"

struct frozen {
    char *base;
    size_t capacity, used;
};

size_t frozen_align(size_t n)
{
    return (n + BITMAP_FROZEN_ALIGN - 1) / BITMAP_FROZEN_ALIGN * BITMAP_FROZEN_ALIGN;
}

int frozen_new(size_t capacity, frozen_t **out)
{
    frozen_t *f;

    *out = NULL;
    if (capacity % BITMAP_FROZEN_ALIGN != 0)
        return BDX_EINVAL;
    f = calloc(1, sizeof(*f));
    if (f == NULL)
        return -ENOMEM;
    if (capacity > 0) {
        /* aligned_alloc: the size is a multiple of the alignment, as C11 requires */
        f->base = aligned_alloc(BITMAP_FROZEN_ALIGN, capacity);
        if (f->base == NULL) {
            free(f);
            return -ENOMEM;
        }
    }
    f->capacity = capacity;
    *out = f;
    return 0;
}

void frozen_free(frozen_t *f)
{
    if (f == NULL)
        return;
    free(f->base);
    free(f);
}

char *frozen_alloc(frozen_t *f, size_t n)
{
    char *p;

    if (n % BITMAP_FROZEN_ALIGN != 0 || n > f->capacity - f->used)
        return NULL;
    p = f->base + f->used;
    memset(p, 0, n); /* padding is zero: the bytes are deterministic (files, checksums) */
    f->used += n;
    return p;
}

size_t frozen_capacity(const frozen_t *f)
{
    return f != NULL ? f->capacity : 0;
}

size_t frozen_used(const frozen_t *f)
{
    return f != NULL ? f->used : 0;
}

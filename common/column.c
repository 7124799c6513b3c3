/*
 * column: dense per-slot values of one sort field, at the narrowest width that holds its bits.
 */
#include "common/column.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "common/error.h"

static uint8_t width_for(unsigned bits)
{
    if (bits <= 8)
        return 1;
    if (bits <= 16)
        return 2;
    if (bits <= 32)
        return 4;
    return 8;
}

int column_new(unsigned bits, column_t **out)
{
    column_t *c;

    *out = NULL;
    if (bits < 1 || bits > 64)
        return BDX_EINVAL;
    c = calloc(1, sizeof(*c));
    if (c == NULL)
        return -ENOMEM;
    c->bits = (uint8_t)bits;
    c->width = width_for(bits);
    *out = c;
    return 0;
}

void column_free(column_t *c)
{
    if (c == NULL)
        return;
    free(c->data);
    free(c);
}

int column_reserve(column_t *c, uint64_t slots)
{
    uint64_t cap;
    void *n;

    if (slots <= c->capacity)
        return 0;
    if (slots > (uint64_t)UINT32_MAX + 1)
        return BDX_EINVAL;
    /* Grow by 1.5x so that appending slot after slot is amortized O(1). */
    cap = c->capacity + c->capacity / 2;
    if (cap < slots)
        cap = slots;
    if (cap < 1024)
        cap = 1024;
    if (cap > (uint64_t)UINT32_MAX + 1)
        cap = (uint64_t)UINT32_MAX + 1;
    n = realloc(c->data, cap * c->width);
    if (n == NULL)
        return -ENOMEM;
    memset((char *)n + (size_t)c->capacity * c->width, 0, (size_t)(cap - c->capacity) * c->width);
    c->data = n;
    c->capacity = cap;
    return 0;
}

int column_set(column_t *c, uint32_t slot, uint64_t value)
{
    int rc;

    if (c->bits < 64 && (value >> c->bits) != 0)
        return BDX_EINVAL;
    if (slot >= c->capacity && (rc = column_reserve(c, (uint64_t)slot + 1)) != 0)
        return rc;
    switch (c->width) {
    case 1:
        ((uint8_t *)c->data)[slot] = (uint8_t)value;
        break;
    case 2:
        ((uint16_t *)c->data)[slot] = (uint16_t)value;
        break;
    case 4:
        ((uint32_t *)c->data)[slot] = (uint32_t)value;
        break;
    default:
        ((uint64_t *)c->data)[slot] = value;
        break;
    }
    if (slot >= c->length)
        c->length = (uint64_t)slot + 1;
    return 0;
}

void column_shrink(column_t *c)
{
    void *n;

    if (c->length == c->capacity)
        return;
    if (c->length == 0) {
        free(c->data);
        c->data = NULL;
        c->capacity = 0;
        return;
    }
    n = realloc(c->data, (size_t)c->length * c->width);
    if (n != NULL) {
        c->data = n;
        c->capacity = c->length;
    }
}

size_t column_memory(const column_t *c)
{
    return sizeof(*c) + (size_t)c->capacity * c->width;
}

/*
 * pbarena: chunks of memory handed out by bumping a pointer. See pbarena.h for the contract.
 *
 * The first chunk of an unpack is sized from the encoded length (decoded messages take a few
 * times their wire size), later chunks double, so a batch needs one or two mallocs; reset keeps
 * the largest chunk, so a stream of similar batches needs none after the first.
 */
#include "common/pbarena.h"

#include <stdalign.h>
#include <stdlib.h>
#include <string.h>

#define ALIGN alignof(max_align_t)
#define MIN_CHUNK ((size_t)16 << 10)
#define WIRE_FACTOR 4 /* first chunk: this many times the encoded size */

typedef struct chunk {
    struct chunk *next;
    size_t size; /* usable bytes after the header */
} chunk_t;

#define HEADER (((sizeof(chunk_t) + ALIGN - 1) / ALIGN) * ALIGN)

struct pbarena {
    chunk_t *chunks; /* newest first: allocation happens in the first */
    size_t used;     /* bytes used in chunks */
    size_t hint;     /* size of the next chunk */
    ProtobufCAllocator allocator;
};

static int add_chunk(pbarena_t *a, size_t need)
{
    size_t size = a->hint > need ? a->hint : need;
    chunk_t *c;

    if (size < MIN_CHUNK)
        size = MIN_CHUNK;
    if ((c = malloc(HEADER + size)) == NULL)
        return -1;
    c->next = a->chunks;
    c->size = size;
    a->chunks = c;
    a->used = 0;
    a->hint = size * 2;
    return 0;
}

static void *arena_alloc(void *data, size_t size)
{
    pbarena_t *a = data;
    void *p;

    size = (size + ALIGN - 1) / ALIGN * ALIGN;
    if (size == 0)
        size = ALIGN;
    if ((a->chunks == NULL || a->chunks->size - a->used < size) && add_chunk(a, size) != 0)
        return NULL;
    p = (char *)a->chunks + HEADER + a->used;
    a->used += size;
    return p;
}

static void arena_free(void *data, void *p)
{
    (void)data;
    (void)p; /* everything goes at once, in pbarena_reset() / pbarena_free() */
}

pbarena_t *pbarena_new(void)
{
    pbarena_t *a = calloc(1, sizeof(*a));

    if (a == NULL)
        return NULL;
    a->allocator.alloc = arena_alloc;
    a->allocator.free = arena_free;
    a->allocator.allocator_data = a;
    return a;
}

void pbarena_free(pbarena_t *a)
{
    if (a == NULL)
        return;
    while (a->chunks != NULL) {
        chunk_t *n = a->chunks->next;
        free(a->chunks);
        a->chunks = n;
    }
    free(a);
}

void pbarena_reset(pbarena_t *a)
{
    chunk_t *keep = NULL;

    while (a->chunks != NULL) {
        chunk_t *c = a->chunks;
        a->chunks = c->next;
        if (keep == NULL || c->size > keep->size) {
            free(keep);
            keep = c;
        } else {
            free(c);
        }
    }
    if (keep != NULL)
        keep->next = NULL;
    a->chunks = keep;
    a->used = 0;
    a->hint = 0;
}

ProtobufCAllocator *pbarena_allocator(pbarena_t *a, size_t len)
{
    size_t want = len * WIRE_FACTOR;

    /* size the next chunk for this message when the current one is too small for it */
    if (a->chunks == NULL || a->chunks->size - a->used < want)
        a->hint = a->hint > want ? a->hint : want;
    return &a->allocator;
}

ProtobufCMessage *pbarena_unpack(pbarena_t *a, const ProtobufCMessageDescriptor *desc, size_t len,
                                 const uint8_t *data)
{
    return protobuf_c_message_unpack(desc, pbarena_allocator(a, len), len, data);
}

ProtobufCMessage *pbarena_copy(const ProtobufCMessage *msg)
{
    size_t len = protobuf_c_message_get_packed_size(msg);
    uint8_t *buf = malloc(len ? len : 1);
    ProtobufCMessage *copy;

    if (buf == NULL)
        return NULL;
    protobuf_c_message_pack(msg, buf);
    copy = protobuf_c_message_unpack(msg->descriptor, NULL, len, buf);
    free(buf);
    return copy;
}

/*
 * pbarena: an arena allocator for decoding protobuf-c messages.
 *
 * protobuf-c's default allocator makes one malloc per decoded message, string and repeated
 * array, and free_unpacked() walks the whole tree to free them again: for a write batch of
 * 1,000 documents that is tens of thousands of malloc/free pairs. Decoding into an arena
 * instead takes memory from a few large chunks and releases everything at once
 * (pbarena_reset() or pbarena_free()), with no walk.
 *
 * A message decoded by pbarena_unpack() lives in the arena: never pass it to
 * protobuf_c_message_free_unpacked(); it is valid until the next pbarena_reset() or
 * pbarena_free() of its arena. pbarena_copy() makes a malloc'ed copy for code that needs the
 * default ownership.
 *
 * Concurrency: none; an arena is used by one thread at a time.
 */
#ifndef BITDEX_PBARENA_H
#define BITDEX_PBARENA_H

#include <protobuf-c/protobuf-c.h>

#include <stddef.h>
#include <stdint.h>

typedef struct pbarena pbarena_t;

/* New empty arena (no chunk yet). Caller frees with pbarena_free(). NULL when out of memory. */
pbarena_t *pbarena_new(void);

/* Frees the arena and everything decoded into it. NULL is a no-op. */
void pbarena_free(pbarena_t *a);

/* Releases everything decoded into the arena, keeping its largest chunk for the next use. */
void pbarena_reset(pbarena_t *a);

/* Decodes `len` bytes of `data` as `desc` into the arena. The message is borrowed from the arena
 * (see above). NULL when the bytes do not decode or memory ran out. */
ProtobufCMessage *pbarena_unpack(pbarena_t *a, const ProtobufCMessageDescriptor *desc, size_t len,
                                 const uint8_t *data);

/* The arena's allocator, for a decoder of its own that decodes `len` encoded bytes (the arena
 * sizes its next chunk for them, as pbarena_unpack() does). What it allocates is borrowed from
 * the arena like a message of pbarena_unpack(); its free() does nothing. */
ProtobufCAllocator *pbarena_allocator(pbarena_t *a, size_t len);

/* A copy of `msg` with the default allocator: caller frees it with
 * protobuf_c_message_free_unpacked(copy, NULL). NULL when out of memory. */
ProtobufCMessage *pbarena_copy(const ProtobufCMessage *msg);

#endif

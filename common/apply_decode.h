/*
 * apply_decode: a decoder for bitdex.v1.ApplyRequest written out by hand for the writer's hot
 * path.
 *
 * Every write batch used to be decoded by protobuf_c_message_unpack() (which scans each message
 * twice, driven by the descriptors) and then checked by pbcanon_check() (a third pass) so the WAL
 * could log the received bytes as they are. apply_decode() does both in one pass over the bytes:
 * it accepts only bytes that are canonical (exactly what protobuf_c_message_pack() produces, the
 * rules of common/pbcanon.h) and builds from them the very structs protobuf_c_message_unpack()
 * would build: same allocator, same init values, n_* counts, oneof cases, NUL-terminated
 * strings, bytes, sub-messages. Anything else (unknown or repeated-out-of-place fields, other
 * wire types, padded varints, zero proto3 scalars, a NUL inside a string, any doubt) makes it
 * answer "fall back", and the caller decodes with protobuf-c and checks with pbcanon as before;
 * so the result can differ only where this decoder is wrong, which
 * tests/common/test_apply_decode.c checks against protobuf-c.
 *
 * Stateless and thread-safe; the bytes are only read.
 */
#ifndef BITDEX_APPLY_DECODE_H
#define BITDEX_APPLY_DECODE_H

#include "bitdex/v1/writer.pb-c.h"
#include "common/pbarena.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/*
 * Decodes data[0, len) as an ApplyRequest with allocator `al` (not NULL; every allocation,
 * like protobuf-c's, goes through al->alloc) into *out. True when the bytes were canonical and
 * *out holds what protobuf_c_message_unpack(&bitdex__v1__apply_request__descriptor, al, len,
 * data) would return; pbcanon_check() of these bytes is then true too. False ("fall back") when
 * the bytes are not canonical, do not decode, or memory ran out: *out is NULL, and what was
 * allocated is not given back (al->free is never called), so pass an arena's allocator
 * (common/pbarena.h), where it goes at the next reset. The message is owned like one unpacked
 * with `al`.
 */
bool apply_decode(ProtobufCAllocator *al, const uint8_t *data, size_t len,
                  Bitdex__V1__ApplyRequest **out);

/* apply_decode() into arena `a` (common/pbarena.h), falling back to pbarena_unpack() for bytes it
 * does not take: the request borrowed from the arena, or NULL when the bytes do not decode as an
 * ApplyRequest at all (or memory ran out). For WAL frames (replay, checkpoints). */
Bitdex__V1__ApplyRequest *apply_decode_arena(pbarena_t *a, const uint8_t *data, size_t len);

#endif

/*
 * pbcanon: tells whether serialized protobuf bytes are exactly what protobuf_c_message_pack()
 * produces for the message they decode to.
 *
 * The writer logs every batch as protobuf-c packs it. Re-packing a request that was just
 * received costs as much as decoding it; when the received bytes are already in protobuf-c's
 * canonical form they can be logged as they are, byte for byte the same. This module decides
 * that from the bytes and the message descriptor alone, without decoding: every field known
 * and in the descriptor's order, a repeated field's elements together, at most one member per
 * oneof, every varint (tags and lengths too) in its shortest form and in range for its type,
 * bools 0 or 1, no proto3 scalar at its zero value (protobuf-c leaves those out), no NUL inside
 * a string (protobuf-c packs strings with strlen), the same rules in every sub-message. Field
 * types it does not need (32-bit fixed, zigzag, enums, packed repeated scalars, proto2 labels)
 * make it answer false, which is always safe: the caller then packs.
 *
 * Stateless and thread-safe; the bytes are only read.
 */
#ifndef BITDEX_PBCANON_H
#define BITDEX_PBCANON_H

#include <protobuf-c/protobuf-c.h>

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* True when data[0, len) decodes as `desc` and protobuf_c_message_pack() of the decoded
 * message gives back exactly these bytes. False when unsure. */
bool pbcanon_check(const ProtobufCMessageDescriptor *desc, const uint8_t *data, size_t len);

#endif

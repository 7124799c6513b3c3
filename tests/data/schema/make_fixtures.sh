#!/bin/sh
# Regenerates the schema-file fixtures in this folder from docs/format/schema.md, independently
# of common/schema_file.c and protobuf-c (the payload is encoded by hand below), so a test that
# reads them checks the code against the document, not against itself.
# Run from anywhere: tests/data/schema/make_fixtures.sh. Needs python3 (zlib's crc32).
#
# Every case is a directory holding one file, `schema`, read as the schema of index "images".
# The schema: filter nsfwLevel INT, tagIds INT multi-valued nullable; sort createdAt,
# publishedAt, sortAt = greatest(createdAt, publishedAt), 32 bits each; stored url STRING;
# limits at their defaults except max_page_size 200. The payload is 143 bytes, the file 167.
#   clean/            the file as bitdex writes it (byte for byte)        -> ok
#   bad_magic/        magic "BDXSCX\r\n"                                  -> BDX_ECORRUPT at offset 0
#   truncated/        clean without its last 10 bytes                     -> BDX_ECORRUPT at offset 12
#   flipped_crc/      clean with bit 0 of the CRC flipped                 -> BDX_ECORRUPT at offset 163
#   flipped_payload/  clean with bit 3 of payload byte 40 flipped         -> BDX_ECORRUPT at offset 163
#   future_version/   version 2, CRC recomputed                           -> BDX_EVERSION
#   bad_payload/      payload "\xff\xff\xff" (not protobuf), CRC valid    -> BDX_ECORRUPT at offset 20
#   invalid_schema/   sort field createdAt with bits 65, CRC valid        -> BDX_ECORRUPT at offset 20
set -eu
cd "$(dirname "$0")"
python3 - <<'PY'
import os, struct, zlib

def varint(n):
    out = b""
    while True:
        b = n & 0x7F
        n >>= 7
        if n:
            out += bytes([b | 0x80])
        else:
            return out + bytes([b])

def key(field, wire):
    return varint(field << 3 | wire)

def uint(field, n):          # proto3: a zero scalar is not written
    return key(field, 0) + varint(n) if n else b""

def string(field, s):
    b = s.encode()
    return key(field, 2) + varint(len(b)) + b

def message(field, body):
    return key(field, 2) + varint(len(body)) + body

def filter_field(name, ftype, multi=False, nullable=False):
    return message(1, string(1, name) + uint(2, ftype) + uint(3, int(multi)) + uint(4, int(nullable)))

def sort_field(name, bits, computed=None):
    body = string(1, name) + uint(2, bits)
    if computed:
        fn, sources = computed
        body += message(3, uint(1, fn) + b"".join(string(2, s) for s in sources))
    return message(2, body)

def stored_field(name, stype):
    return message(3, string(1, name) + uint(2, stype))

# IndexLimits, field numbers 1..10, defaults from schema.proto; max_page_size 200.
LIMITS = [200, 1024, 32, 10000, 1000, 1024, 1024, 65536, 10000, 64]

def schema(created_bits=32):
    INT, STRING, GREATEST = 1, 3, 1
    return (filter_field("nsfwLevel", INT)
            + filter_field("tagIds", INT, multi=True, nullable=True)
            + sort_field("createdAt", created_bits)
            + sort_field("publishedAt", 32)
            + sort_field("sortAt", 32, (GREATEST, ["createdAt", "publishedAt"]))
            + stored_field("url", STRING)
            + message(4, b"".join(uint(i + 1, v) for i, v in enumerate(LIMITS))))

def file(payload, magic=b"BDXSCH\r\n", version=1):
    head = magic + struct.pack("<III", version, len(payload), 0) + payload
    return head + struct.pack("<I", zlib.crc32(head) & 0xFFFFFFFF)

def write(case, data):
    os.makedirs(case, exist_ok=True)
    with open(os.path.join(case, "schema"), "wb") as f:
        f.write(data)

payload = schema()
assert len(payload) == 143, len(payload)
clean = file(payload)
assert len(clean) == 167
write("clean", clean)
write("bad_magic", file(payload, magic=b"BDXSCX\r\n"))
write("truncated", clean[:-10])
write("flipped_crc", clean[:-4] + bytes([clean[-4] ^ 1]) + clean[-3:])
flipped = bytearray(clean)
flipped[20 + 40] ^= 1 << 3
write("flipped_payload", bytes(flipped))
write("future_version", file(payload, version=2))
write("bad_payload", file(b"\xff\xff\xff"))
write("invalid_schema", file(schema(created_bits=65)))
PY

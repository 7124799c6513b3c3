#!/bin/sh
# Regenerates the WAL fixtures in this folder from docs/format/wal.md, independently of
# common/wal*.c (so a test that reads them checks the code against the document, not itself).
# Run from anywhere: tests/data/wal/make_fixtures.sh. Needs python3 (zlib's crc32 is CRC-32/ISO-HDLC).
#
# Every case is a directory holding one segment, 0000000000000001.log, log id 0x0123456789abcdef,
# frames LSN 1.. with payloads "bitdex frame 1", "" (LSN 2), "bitdex frame 3", ...:
#   clean/            3 frames, ends on a frame boundary           -> WAL_CLEAN, last LSN 3
#   torn_tail/        clean + the first 20 bytes of frame 4        -> WAL_TORN_TAIL at 116, 20 dropped
#   flipped_crc/      clean with bit 0 of frame 2's CRC flipped     -> BDX_ECORRUPT at offset 70
#   bad_magic/        clean with magic "BDXWAX\r\n"                 -> BDX_ECORRUPT at offset 0
#   future_version/   clean with version 2 (header CRC recomputed)  -> BDX_EVERSION
# Frame sizes are 16 + payload: frame 1 (14-byte payload) is at offset 40, frame 2 (empty) at 70,
# frame 3 (14) at 86, and the clean file is 116 bytes. tests/common/test_wal.c asserts these.
set -eu
cd "$(dirname "$0")"
python3 - <<'PY'
import os, struct, zlib

LOG_ID = 0x0123456789ABCDEF

def header(first_lsn, magic=b"BDXWAL\r\n", version=1):
    h = magic + struct.pack("<IIQQI", version, 0, LOG_ID, first_lsn, 0)
    return h + struct.pack("<I", zlib.crc32(h) & 0xFFFFFFFF)

def payload(lsn):
    return b"" if lsn == 2 else b"bitdex frame %d" % lsn

def frame(lsn, data):
    head = struct.pack("<IQ", len(data), lsn) + data
    return head + struct.pack("<I", zlib.crc32(head) & 0xFFFFFFFF)

def write(case, data):
    os.makedirs(case, exist_ok=True)
    with open(os.path.join(case, "0000000000000001.log"), "wb") as f:
        f.write(data)

frames = b"".join(frame(l, payload(l)) for l in (1, 2, 3))
clean = header(1) + frames
write("clean", clean)
write("torn_tail", clean + frame(4, payload(4))[:20])
f2 = 40 + len(frame(1, payload(1)))            # offset of frame 2
crc2 = f2 + 12 + len(payload(2))               # its CRC field
b = bytearray(clean); b[crc2] ^= 0x01
write("flipped_crc", bytes(b))
write("bad_magic", header(1, magic=b"BDXWAX\r\n") + frames)
write("future_version", header(1, version=2) + frames)
print("clean size", len(clean), "frame 2 at", f2)
PY

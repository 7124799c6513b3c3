"""Runs bitdex-inspect and bitdex-check on the WAL fixtures (tests/data/wal/) and on WALs built
here from docs/format/wal.md, independently of the C code: exit codes and the key output lines.

  test_tools.py --inspect BIN --check BIN --fixtures tests/data/wal

Standard library only: the ApplyRequest payloads are encoded by hand (protobuf wire format).
"""

import argparse
import fcntl
import os
import shutil
import struct
import subprocess
import sys
import tempfile
import zlib

LOG_ID = 0x0123456789ABCDEF
FAILURES = []


def run(*args):
    p = subprocess.run(list(args), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                       timeout=60)
    return p.returncode, p.stdout, p.stderr


def expect(cond, what, out=""):
    if cond:
        print("ok   " + what)
    else:
        print("FAIL " + what + ("\n----\n" + out + "----" if out else ""))
        FAILURES.append(what)


# --- WAL bytes (docs/format/wal.md) ----------------------------------------------------------

def header(first_lsn):
    h = b"BDXWAL\r\n" + struct.pack("<IIQQI", 1, 0, LOG_ID, first_lsn, 0)
    return h + struct.pack("<I", zlib.crc32(h) & 0xFFFFFFFF)


def frame(lsn, data):
    head = struct.pack("<IQ", len(data), lsn) + data
    return head + struct.pack("<I", zlib.crc32(head) & 0xFFFFFFFF)


# --- protobuf wire format, just enough for ApplyRequest (proto/bitdex/v1/writer.proto) ----------

def varint(n):
    out = b""
    while True:
        b = n & 0x7F
        n >>= 7
        if n:
            out += bytes([b | 0x80])
        else:
            return out + bytes([b])


def f_varint(num, v):
    return varint(num << 3) + varint(v)


def f_bytes(num, b):
    if isinstance(b, str):
        b = b.encode()
    return varint((num << 3) | 2) + varint(len(b)) + b


def batch():
    """ApplyRequest{index: "images", batch_id: "b1", ops: [put 7 ..., delete 9, add 7 tagIds]}."""
    value_int = lambda v: f_varint(1, v)  # Value.int_value
    document = (f_varint(1, 7)  # id
                + f_bytes(2, f_bytes(1, "nsfwLevel") + f_bytes(2, value_int(1)))  # filter
                + f_bytes(2, f_bytes(1, "tagIds") + f_bytes(3, value_int(3))
                          + f_bytes(3, value_int(9)))
                + f_bytes(3, f_bytes(1, "reactionCount") + f_varint(2, 12))  # sort
                + f_bytes(4, f_bytes(1, "url") + f_bytes(2, f_bytes(3, 'a"b'))))  # stored
    put = f_bytes(1, f_bytes(1, document))  # Op.put = PutOp{document}
    delete = f_bytes(3, f_varint(1, 9))  # Op.delete = DeleteOp{id}
    add = f_bytes(5, f_varint(1, 7) + f_bytes(2, "tagIds") + f_bytes(3, value_int(4)))
    return (f_bytes(1, "images") + f_bytes(2, put) + f_bytes(2, delete) + f_bytes(2, add)
            + f_bytes(3, "b1"))


def write_segment(d, first_lsn, frames):
    with open(os.path.join(d, "%016x.log" % first_lsn), "wb") as f:
        f.write(header(first_lsn) + b"".join(frame(l, p) for l, p in frames))


# --- cases ------------------------------------------------------------------------------------

def fixtures(a):
    d = lambda name: os.path.join(a.fixtures, name)

    rc, out, _ = run(a.check, "wal", d("clean"))
    expect(rc == 0, "check clean: exit 0", out)
    expect(": clean\n" in out and "segments=1 frames=3 first_lsn=1 last_lsn=3" in out,
           "check clean: summary", out)
    rc, out, _ = run(a.inspect, "wal", d("clean"))
    expect(rc == 0, "inspect clean: exit 0", out)
    for line in ("lsn=1 segment=0000000000000001.log offset=40 length=14 crc=ok",
                 "lsn=2 segment=0000000000000001.log offset=70 length=0 crc=ok",
                 "lsn=3 segment=0000000000000001.log offset=86 length=14 crc=ok"):
        expect(line in out.splitlines(), "inspect clean: " + line, out)
    rc, out, _ = run(a.inspect, "wal", d("clean"), "--from", "2", "--limit", "1")
    lsns = [l for l in out.splitlines() if l.startswith("lsn=")]
    expect(rc == 0 and len(lsns) == 1 and lsns[0].startswith("lsn=2 "),
           "inspect --from 2 --limit 1: only LSN 2", out)
    rc, out, _ = run(a.inspect, "wal", d("clean"), "--decode")
    expect(rc == 0 and "  payload: not a bitdex.v1.ApplyRequest (14 bytes)" in out
           and '  batch index="" ops=0 batch_id=""' in out,
           "inspect --decode: fixture payloads are not batches; the empty one is", out)

    rc, out, _ = run(a.check, "wal", d("torn_tail"))
    expect(rc == 0, "check torn_tail: exit 0 (recoverable)", out)
    expect(": torn_tail\n" in out and "last_lsn=3" in out and "offset=116 bytes=20" in out,
           "check torn_tail: outcome, offset 116, 20 bytes", out)
    rc, out, _ = run(a.inspect, "wal", d("torn_tail"))
    expect(rc == 0 and "torn tail: segment=0000000000000001.log offset=116 bytes=20" in out
           and len([l for l in out.splitlines() if l.startswith("lsn=")]) == 3,
           "inspect torn_tail: 3 frames then the torn tail", out)

    rc, out, _ = run(a.check, "wal", d("flipped_crc"))
    expect(rc == 1, "check flipped_crc: exit 1", out)
    expect("corrupt: " in out and "0000000000000001.log offset=70" in out,
           "check flipped_crc: names file and offset 70", out)
    expect("hint: " in out and "--repair-last-segment" in out and "ends at LSN 1" in out,
           "check flipped_crc: repair hint", out)
    rc, out, _ = run(a.inspect, "wal", d("flipped_crc"))
    expect(rc == 1 and "lsn=1 " in out and "lsn=2 " not in out and "offset 70" in out,
           "inspect flipped_crc: frame 1, then the error at offset 70", out)

    rc, out, _ = run(a.check, "wal", d("bad_magic"))
    expect(rc == 1 and "offset=0" in out and "bad magic" in out, "check bad_magic: exit 1", out)
    rc, out, _ = run(a.check, "wal", d("future_version"))
    expect(rc == 1 and "version mismatch: " in out, "check future_version: exit 1", out)
    rc, out, _ = run(a.inspect, "wal", d("future_version"))
    expect(rc == 1 and "version_mismatch" in out, "inspect future_version: exit 1", out)


def usage(a):
    for argv, want in (([a.check], 2), ([a.check, "nope"], 2), ([a.check, "wal"], 2),
                       ([a.check, "wal", "x", "y"], 2), ([a.check, "wal", "x", "--bogus"], 2),
                       ([a.inspect, "wal", "x", "--from", "abc"], 2),
                       ([a.inspect, "wal", "x", "--from", "0"], 2),
                       ([a.inspect, "wal", "x", "--limit", "-1"], 2),
                       ([a.check, "--help"], 0), ([a.inspect, "help"], 0),
                       ([a.check, "wal", "/nonexistent/wal"], 1),
                       ([a.inspect, "wal", "/nonexistent/wal"], 1)):
        rc, out, err = run(*argv)
        expect(rc == want, "%s: exit %d" % (" ".join(os.path.basename(x) for x in argv), want),
               out + err)


def decode(a, tmp):
    d = os.path.join(tmp, "decode")
    os.makedirs(d)
    write_segment(d, 5, [(5, batch()), (6, b"")])
    write_segment(d, 7, [(7, batch())])
    rc, out, _ = run(a.check, "wal", d)
    expect(rc == 0 and "segments=2 frames=3 first_lsn=5 last_lsn=7" in out,
           "check two segments from LSN 5", out)
    rc, out, _ = run(a.inspect, "wal", d, "--decode")
    lines = out.splitlines()
    expect(rc == 0, "inspect --decode: exit 0", out)
    expect("lsn=7 segment=0000000000000007.log offset=40 length=%d crc=ok" % len(batch()) in lines,
           "inspect: frame 7 in the second segment at offset 40", out)
    for line in ('  batch index="images" ops=3 batch_id="b1"',
                 '  op 0: put id=7 filter{nsfwLevel=1 tagIds=[3,9]} sort{reactionCount=12} '
                 'stored{url="a\\"b"}',
                 "  op 1: delete id=9",
                 "  op 2: add id=7 tagIds=[4]"):
        expect(lines.count(line) == 2, "inspect --decode: " + line.strip(), out)


def repair(a, tmp):
    data = os.path.join(tmp, "data")
    wal = os.path.join(data, "indexes", "x", "wal")
    shutil.copytree(os.path.join(a.fixtures, "flipped_crc"), wal)
    seg = os.path.join(wal, "0000000000000001.log")
    lock = open(os.path.join(data, "LOCK"), "w")
    fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
    rc, out, err = run(a.check, "wal", wal, "--repair-last-segment")
    expect(rc == 1 and "stop the writer" in err and os.path.getsize(seg) == 116,
           "repair refused while the writer LOCK is held; nothing changed", out + err)
    fcntl.flock(lock, fcntl.LOCK_UN)
    lock.close()
    rc, out, err = run(a.check, "wal", wal, "--repair-last-segment")
    expect(rc == 0 and "repaired: " in out and "offset 70" in out and "last_lsn=1" in out,
           "repair flipped_crc: cut at 70", out + err)
    expect(os.path.getsize(seg) == 70, "repair: segment is 70 bytes")
    rc, out, _ = run(a.check, "wal", wal)
    expect(rc == 0 and ": clean\n" in out and "last_lsn=1" in out, "after repair: clean", out)

    torn = os.path.join(tmp, "torn")
    shutil.copytree(os.path.join(a.fixtures, "torn_tail"), torn)
    rc, out, _ = run(a.check, "wal", torn, "--repair-last-segment")
    expect(rc == 0 and "repaired: " in out
           and os.path.getsize(os.path.join(torn, "0000000000000001.log")) == 116,
           "repair torn_tail: cut to 116 bytes", out)
    rc, out, _ = run(a.check, "wal", os.path.join(a.fixtures, "clean"), "--repair-last-segment")
    expect(rc == 0 and "repaired" not in out, "repair of a clean WAL changes nothing", out)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--inspect", required=True)
    ap.add_argument("--check", required=True)
    ap.add_argument("--fixtures", required=True)
    a = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="bitdex-tools-") as tmp:
        fixtures(a)
        usage(a)
        decode(a, tmp)
        repair(a, tmp)
    if FAILURES:
        print("%d failure(s)" % len(FAILURES))
        return 1
    print("all passed")
    return 0


if __name__ == "__main__":
    sys.exit(main())

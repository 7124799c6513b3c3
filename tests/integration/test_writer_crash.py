#!/usr/bin/python3
"""Crash test of the write path: kill -9 the real bitdex-writer (--sync batch, checkpointing
every few batches) while clients apply batches, restart it, and check that nothing acknowledged
was lost and nothing is half applied.

Each iteration:
  1. start bitdex-writer on 127.0.0.1:0 (port from its `msg=listening ... port=N` log line) on
     the same data directory, with --checkpoint-lsns small, so that background checkpoints
     (new generations, WAL truncation, old generations deleted) run all the time and the kill
     lands in every step of them;
  2. two client threads send Apply batches of random Put / Merge / Delete / Add ops on ids
     0..NIDS-1, each with a unique batch_id, and record every acknowledged (LSN, batch);
  3. after a random delay the writer gets SIGKILL;
  4. the writer is restarted (it loads CURRENT's generation and replays the WAL after it); every
     batch sent but not acknowledged is sent again with its batch_id: the writer answers
     `duplicate` with the original LSN if it had committed it (the batch ids survive
     checkpoints in the generation), or applies it now. So every LSN's batch is known, and:
     - the known LSNs are exactly 1..committed_lsn (no frame the test cannot explain);
     - the WAL files still on disk (parsed here from docs/format/wal.md, CRCs checked with zlib)
       hold, at each LSN, exactly the known batch;
     - GetIndex's document_count equals a model that replays every known batch in LSN order
       with the semantics of writer.proto;
     - liveness of every id equals the model's. It is read back through the contract itself:
       an Apply of one Remove op of a value no batch uses changes nothing, and is counted in
       skipped_ops exactly when the document is not live. (These probe batches are frames too;
       the model replays them like any other.)
A half-applied batch would show as a wrong count or liveness, a lost one as an LSN gap or a
batch applied twice (a retry not recognised as a duplicate).
Before the loop, the statuses of Apply / ApplyStream, batch_id duplicates and the GetIndex
counters are checked once on another index.

  /usr/bin/python3 tests/integration/test_writer_crash.py \\
      --writer build/services/writer/bitdex-writer --proto-dir proto

BITDEX_CRASH_ITERATIONS (default 50) sets the number of kills; BITDEX_TEST_SEED the seed.
"""

import argparse
import glob
import os
import random
import shutil
import struct
import sys
import tempfile
import threading
import time
import zlib

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import bitdex_proc  # noqa: E402 (next to this script)

try:
    import grpc
except ImportError as e:  # pragma: no cover
    sys.stderr.write("test_writer_crash: %s\nrun with /usr/bin/python3 (python3-grpcio)\n" % e)
    sys.exit(1)

SLOW = bitdex_proc.SLOW
ITERATIONS = int(os.environ.get("BITDEX_CRASH_ITERATIONS", "50"))
CHECKPOINT_LSNS = 6  # a background checkpoint every few batches
NIDS = 64
PROBE_TAG = -1  # never written: removing it changes nothing
INDEX = "crash"
CHANNEL_OPTIONS = [("grpc.enable_http_proxy", 0), ("grpc.enable_retries", 0)]

PB = None


class Writer(bitdex_proc.BitdexProcess):
    """bitdex-writer --sync batch on `data` (bitdex_proc: log, port, cleanup at exit), without the
    caller's BITDEX_* environment."""

    def __init__(self, binary, data):
        super().__init__([binary, "--data-dir", data, "--listen", "127.0.0.1:0",
                          "--sync", "batch", "--log-level", "info",
                          "--checkpoint-lsns", str(CHECKPOINT_LSNS),
                          "--checkpoint-interval-ms", "100"], name="writer")

    def wait_serving(self):
        self.wait_listening(30 * SLOW)
        ch = channel(self.port)
        deadline = time.monotonic() + 30 * SLOW
        try:
            while time.monotonic() < deadline:
                try:
                    unary(ch, "ListIndexes", PB.schema.ListIndexesRequest(),
                          PB.schema.ListIndexesResponse)
                    return
                except grpc.RpcError:
                    time.sleep(0.05)
        finally:
            ch.close()
        raise AssertionError("writer never served:\n" + self.log())

    def kill9(self):
        self.kill(30)


def channel(port):
    return grpc.insecure_channel("127.0.0.1:%d" % port, options=CHANNEL_OPTIONS)


def unary(ch, method, req, resp_cls, timeout=10):
    call = ch.unary_unary("/bitdex.v1.Writer/" + method,
                          request_serializer=lambda m: m.SerializeToString(),
                          response_deserializer=resp_cls.FromString)
    return call(req, timeout=timeout * SLOW)


def schema():
    S = PB.schema
    s = S.IndexSchema()
    s.filter_fields.add(name="grp", type=S.FILTER_FIELD_TYPE_INT)
    s.filter_fields.add(name="tags", type=S.FILTER_FIELD_TYPE_INT, multi_valued=True)
    s.sort_fields.add(name="score", bits=32)
    return s


# --- the batches and the model ----------------------------------------------------------------

def random_batch(rng, batch_id):
    W, T = PB.writer, PB.types
    req = W.ApplyRequest(index=INDEX, batch_id=batch_id)
    for _ in range(rng.randint(1, 40)):
        i, kind = rng.randrange(NIDS), rng.random()
        op = req.ops.add()
        if kind < 0.4:
            d = op.put.document
            d.id = i
            d.filter_fields.add(field="grp", value=T.Value(int_value=rng.randrange(5)))
            d.sort_fields.add(field="score", value=rng.randrange(1 << 20))
        elif kind < 0.6:
            d = op.merge.document
            d.id = i
            f = d.filter_fields.add(field="tags")
            f.values.extend([T.Value(int_value=rng.randrange(8))])
        elif kind < 0.85:
            op.delete.id = i
        else:
            op.add.id = i
            op.add.field = "tags"
            op.add.values.extend([T.Value(int_value=rng.randrange(8))])
    return req


def model_apply(live, req):
    """Liveness effect of one batch (writer.proto): Put/Merge create, Delete removes,
    Set/Add/Remove never create."""
    for op in req.ops:
        kind = op.WhichOneof("op")
        if kind == "put":
            live.add(op.put.document.id)
        elif kind == "merge":
            live.add(op.merge.document.id)
        elif kind == "delete":
            live.discard(op.delete.id)


def read_wal(wal_dir):
    """Every frame of the WAL as (lsn, payload), checking headers and CRCs."""
    frames = []
    for path in sorted(glob.glob(os.path.join(wal_dir, "*.log"))):
        with open(path, "rb") as f:
            data = f.read()
        assert data[:8] == b"BDXWAL\r\n", path
        assert zlib.crc32(data[:36]) == struct.unpack_from("<I", data, 36)[0], path
        first = struct.unpack_from("<Q", data, 24)[0]
        off, expect = 40, first
        while off < len(data):
            assert off + 12 <= len(data), "%s: torn frame header at %d after recovery" % (path, off)
            n, lsn = struct.unpack_from("<IQ", data, off)
            end = off + 12 + n
            assert end + 4 <= len(data), "%s: torn frame at %d after recovery" % (path, off)
            crc = struct.unpack_from("<I", data, end)[0]
            assert zlib.crc32(data[off:end]) == crc, "%s: CRC mismatch at %d" % (path, off)
            assert lsn == expect, "%s: LSN %d, want %d" % (path, lsn, expect)
            frames.append((lsn, data[off + 12:end]))
            off, expect = end + 4, expect + 1
    return frames


# --- contract checks before the crash loop -----------------------------------------------------

def stream(ch, reqs):
    call = ch.stream_unary("/bitdex.v1.Writer/ApplyStream",
                           request_serializer=lambda m: m.SerializeToString(),
                           response_deserializer=PB.writer.ApplyStreamResponse.FromString)
    return call(iter(reqs), timeout=10 * SLOW)


def check_contract(port):
    """Apply/ApplyStream statuses, batch_id duplicates, GetIndex counters (index "contract")."""
    W, T, C = PB.writer, PB.types, grpc.StatusCode
    ch = channel(port)
    unary(ch, "CreateIndex", W.CreateIndexRequest(index="contract", schema=schema()),
          W.CreateIndexResponse)

    def put(i, grp=1, index="contract", batch_id=""):
        r = W.ApplyRequest(index=index, batch_id=batch_id)
        d = r.ops.add().put.document
        d.id = i
        d.filter_fields.add(field="grp", value=T.Value(int_value=grp))
        return r

    def code(fn):
        try:
            fn()
            return C.OK, ""
        except grpc.RpcError as e:
            return e.code(), e.details()

    r1 = unary(ch, "Apply", put(1, batch_id="once"), W.ApplyResponse)
    assert (r1.committed_lsn, r1.op_count, r1.skipped_ops, r1.duplicate) == (1, 1, 0, False), r1
    r2 = unary(ch, "Apply", put(1, batch_id="once"), W.ApplyResponse)
    assert (r2.committed_lsn, r2.duplicate) == (1, True), r2
    bad = put(2, grp=0)
    bad.ops[0].put.document.filter_fields[0].value.CopyFrom(T.Value(string_value="x"))
    got = code(lambda: unary(ch, "Apply", bad, W.ApplyResponse))
    assert got == (C.INVALID_ARGUMENT, 'ops[0].put.document.filter_fields[0].value: field "grp" '
                   'is INT, got string'), got
    got = code(lambda: unary(ch, "Apply", put(1, index="nope"), W.ApplyResponse))
    assert got == (C.NOT_FOUND, "index nope: not found"), got
    got = code(lambda: unary(ch, "Apply", put(1, index=""), W.ApplyResponse))
    assert got == (C.INVALID_ARGUMENT, "index: required"), got
    # a stream: three batches, one reply
    delete = W.ApplyRequest(index="contract")
    delete.ops.add().delete.id = 99
    resp = stream(ch, [put(2), put(3), delete])
    assert (resp.committed_lsn, resp.batch_count, resp.op_count, resp.skipped_ops) == (4, 3, 3, 1), resp
    # a failing stream: batch 1 fails, batch 0 stays committed
    got = code(lambda: stream(ch, [put(4), bad, put(5)]))
    assert got[0] == C.INVALID_ARGUMENT and got[1].startswith("batch 1: ops[0].put.document") and \
        got[1].endswith("(bitdex-committed-batches: 1, bitdex-committed-lsn: 5)"), got
    got = code(lambda: stream(ch, [put(6), put(7, index="crash")]))
    assert got[0] == C.INVALID_ARGUMENT and "differs from the stream's index contract" in got[1], got
    info = unary(ch, "GetIndex", PB.schema.GetIndexRequest(index="contract"),
                 PB.schema.GetIndexResponse).index
    assert (info.document_count, info.committed_lsn, info.applied_lsn) == (5, 6, 6), info
    unary(ch, "DropIndex", W.DropIndexRequest(index="contract"), W.DropIndexResponse)
    ch.close()


# --- one iteration ----------------------------------------------------------------------------

def load(rng, port, sent, acked, stop, prefix, lock):
    ch = channel(port)
    n = 0
    try:
        while not stop.is_set():
            bid = "%s-%d" % (prefix, n)
            n += 1
            req = random_batch(rng, bid)
            with lock:
                sent[bid] = req
            try:
                resp = unary(ch, "Apply", req, PB.writer.ApplyResponse)
            except grpc.RpcError:
                return  # the writer died: the outcome of this batch is unknown
            with lock:
                acked.append((resp.committed_lsn, bid))
    finally:
        ch.close()


def probe_live(port, lsn_floor):
    """The set of live ids, read through Apply's skipped_ops (see the module docstring)."""
    W, T = PB.writer, PB.types
    live = set()
    probes, lsns = [], []
    ch = channel(port)
    try:
        for i in range(NIDS):
            req = W.ApplyRequest(index=INDEX)
            op = req.ops.add()
            op.remove.id = i
            op.remove.field = "tags"
            op.remove.values.extend([T.Value(int_value=PROBE_TAG)])
            resp = unary(ch, "Apply", req, W.ApplyResponse)
            assert resp.committed_lsn > lsn_floor
            if resp.skipped_ops == 0:
                live.add(i)
            probes.append(req)
            lsns.append(resp.committed_lsn)
    finally:
        ch.close()
    return live, probes, lsns


def main():
    global PB
    ap = argparse.ArgumentParser()
    ap.add_argument("--writer", required=True)
    ap.add_argument("--proto-dir", required=True)
    opts = ap.parse_args()
    seed = int(os.environ.get("BITDEX_TEST_SEED", str(int(time.time() * 1000) % (1 << 31))))
    rng = random.Random(seed)
    tmp = tempfile.mkdtemp(prefix="bitdex-it-crash-")
    writer = None
    try:
        PB = bitdex_proc.generate_messages(opts.proto_dir, os.path.join(tmp, "py"))
        data = os.path.join(tmp, "data")
        os.mkdir(data)
        wal_dir = os.path.join(data, "indexes", INDEX, "wal")
        writer = Writer(opts.writer, data)
        writer.wait_serving()
        check_contract(writer.port)
        ch = channel(writer.port)
        unary(ch, "CreateIndex", PB.writer.CreateIndexRequest(index=INDEX, schema=schema()),
              PB.writer.CreateIndexResponse)
        ch.close()
        sent, known, probes = {}, {}, []  # batch_id -> req; lsn -> req; probe reqs
        lsn_of = {}  # batch_id -> LSN, once known
        total_acked, generations, truncated = 0, 0, False
        for it in range(ITERATIONS):
            acked, stop, lock = [], threading.Event(), threading.Lock()
            threads = [threading.Thread(target=load, args=(random.Random(rng.random()), writer.port,
                                                           sent, acked, stop, "i%d-t%d" % (it, t), lock))
                       for t in range(2)]
            for t in threads:
                t.start()
            time.sleep(rng.uniform(0.02, 0.4) * SLOW)
            generations += writer.log().count("generation published")
            writer.kill9()
            stop.set()
            for t in threads:
                t.join(30)
            for lsn, bid in acked:
                assert lsn not in known, "LSN %d acknowledged twice" % lsn
                known[lsn], lsn_of[bid] = sent[bid], lsn
            total_acked += len(acked)

            writer = Writer(opts.writer, data)
            writer.wait_serving()
            ch = channel(writer.port)
            for bid in sorted(b for b in sent if b not in lsn_of):  # outcome unknown: retry
                resp = unary(ch, "Apply", sent[bid], PB.writer.ApplyResponse)
                assert resp.committed_lsn not in known or resp.duplicate, \
                    "retry of %s got LSN %d, which holds another batch" % (bid, resp.committed_lsn)
                if resp.committed_lsn in known:
                    assert known[resp.committed_lsn] == sent[bid], "LSN %d holds another batch" % resp.committed_lsn
                known[resp.committed_lsn], lsn_of[bid] = sent[bid], resp.committed_lsn
            info = unary(ch, "GetIndex", PB.schema.GetIndexRequest(index=INDEX),
                         PB.schema.GetIndexResponse).index
            ch.close()
            last = info.committed_lsn
            assert sorted(known) == list(range(1, last + 1)), \
                "known LSNs are not 1..%d: missing %s, beyond %s (seed %d)" % (
                    last, sorted(set(range(1, last + 1)) - set(known))[:10],
                    sorted(l for l in known if l > last)[:10], seed)
            frames = read_wal(wal_dir)
            for lsn, payload in frames:
                assert lsn in known, "frame %d is no batch the test knows" % lsn
                assert PB.writer.ApplyRequest.FromString(payload) == known[lsn], \
                    "frame %d differs from the batch acknowledged at that LSN" % lsn
            truncated = truncated or (frames and frames[0][0] > 1)
            live = set()
            for lsn in range(1, last + 1):
                model_apply(live, known[lsn])
            assert info.document_count == len(live), \
                "document_count %d, model %d (iteration %d, seed %d)\n%s" % (
                    info.document_count, len(live), it, seed, writer.log())
            got, new_probes, probe_lsns = probe_live(writer.port, last)
            for req, lsn in zip(new_probes, probe_lsns):
                known[lsn] = req
            probes.extend(new_probes)
            assert got == live, "live ids differ: only in writer %s, only in model %s (seed %d)" % (
                sorted(got - live), sorted(live - got), seed)
            print("iteration %d: acked %d batches, LSN %d, WAL frames %d..%d, %d live documents"
                  % (it, len(acked), last, frames[0][0] if frames else 0,
                     frames[-1][0] if frames else 0, len(live)), flush=True)
        generations += writer.log().count("generation published")
        assert generations > ITERATIONS, "only %d generations were published" % generations
        assert truncated, "the WAL was never truncated after a checkpoint"
        assert total_acked > 0, "no batch was ever acknowledged"
        print("ok: %d iterations, %d acknowledged batches, %d generations published, seed %d"
              % (ITERATIONS, total_acked, generations, seed))
        return 0
    except AssertionError as e:
        sys.stderr.write("FAIL (seed %d): %s\n" % (seed, e))
        if writer is not None:
            sys.stderr.write(writer.log() + "\n")
        return 1
    finally:
        if writer is not None and writer.proc.poll() is None:
            writer.kill9()
        shutil.rmtree(tmp, True)


if __name__ == "__main__":
    sys.exit(main())

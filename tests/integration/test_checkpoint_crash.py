#!/usr/bin/python3
"""Kills the real bitdex-writer between the durability steps of a checkpoint, deterministically,
and checks what each crash leaves (services/writer/checkpoint.c, the numbered order).

For each crash point of BITDEX_TEST_CRASH_POINT (the writer raises SIGKILL there):
  written      after gen-N is written and renamed into place, before its batch ids and CURRENT
  ids-saved    after gen-N/batch-ids, before CURRENT
  published    after CURRENT names gen-N, before Watch and the clean-up
  gen-removed  in the clean-up, after one old generation is deleted, before the WAL is truncated
the test:
  1. starts a writer with the crash point set and background checkpoints off, creates an index
     and applies batches with batch ids, recording every acknowledged batch; except for
     "written" (which crashes the index's very first checkpoint), a writer without the crash
     point first publishes two generations, so the crash lands between an existing CURRENT and
     the next;
  2. calls Checkpoint: the writer dies at the point (the call fails);
  3. restarts the writer without the crash point and checks: CURRENT names the old generation
     (written, ids-saved) or the new one (published, gen-removed); no gen-*.tmp; no generation
     above CURRENT survives; the document count and the liveness of every id equal the model of
     the acknowledged batches; every acknowledged batch retried with its batch_id answers
     `duplicate` with its original LSN (ids survived); a new write and a new Checkpoint work;
  4. a reader started on the data directory answers Count equal to the model at the writer's LSN.

  /usr/bin/python3 tests/integration/test_checkpoint_crash.py --writer W --reader R --proto-dir P
"""

import argparse
import os
import random
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import bitdex_proc  # noqa: E402 (next to this script)

try:
    import grpc
except ImportError as e:  # pragma: no cover
    sys.stderr.write("test_checkpoint_crash: %s\nrun with /usr/bin/python3 (python3-grpcio)\n" % e)
    sys.exit(1)

SLOW = bitdex_proc.SLOW
INDEX = "ck"
NIDS = 300
POINTS = ["written", "ids-saved", "published", "gen-removed"]
OPTS = [("grpc.enable_http_proxy", 0), ("grpc.enable_retries", 0)]
PB = None


def call(port, service, method, req, resp_cls, timeout=20):
    ch = grpc.insecure_channel("127.0.0.1:%d" % port, options=OPTS)
    try:
        fn = ch.unary_unary("/bitdex.v1.%s/%s" % (service, method),
                            request_serializer=lambda m: m.SerializeToString(),
                            response_deserializer=resp_cls.FromString)
        return fn(req, timeout=timeout * SLOW)
    finally:
        ch.close()


def writer(binary, data, crash=None):
    env = {"BITDEX_TEST_CRASH_POINT": crash} if crash else None
    w = bitdex_proc.BitdexProcess([binary, "--data-dir", data, "--listen", "127.0.0.1:0",
                                   "--sync", "batch", "--checkpoint-interval-ms", "0",
                                   "--checkpoint-lsns", "1000000000"], name="writer", env=env)
    w.wait_listening(30 * SLOW)
    deadline = time.monotonic() + 30 * SLOW
    while time.monotonic() < deadline:
        try:
            call(w.port, "Writer", "ListIndexes", PB.schema.ListIndexesRequest(),
                 PB.schema.ListIndexesResponse, timeout=2)
            return w
        except grpc.RpcError:
            time.sleep(0.05)
    raise AssertionError("writer never served:\n" + w.log())


def batch(rng, bid):
    W, T = PB.writer, PB.types
    req = W.ApplyRequest(index=INDEX, batch_id=bid)
    for _ in range(rng.randint(1, 30)):
        i = rng.randrange(NIDS)
        op = req.ops.add()
        if rng.random() < 0.75:
            d = op.put.document
            d.id = i
            d.filter_fields.add(field="grp", value=T.Value(int_value=rng.randrange(4)))
            d.sort_fields.add(field="score", value=rng.randrange(1 << 16))
        else:
            op.delete.id = i
    return req


def model(batches):
    live = set()
    for req in batches:
        for op in req.ops:
            if op.WhichOneof("op") == "put":
                live.add(op.put.document.id)
            else:
                live.discard(op.delete.id)
    return live


def apply_some(port, rng, acked, prefix, n):
    for k in range(n):
        bid = "%s-%d" % (prefix, k)
        req = batch(rng, bid)
        resp = call(port, "Writer", "Apply", req, PB.writer.ApplyResponse)
        acked.append((resp.committed_lsn, bid, req))


def current_gen(index_dir):
    """The generation CURRENT names; 0 when there is none yet."""
    try:
        with open(os.path.join(index_dir, "CURRENT")) as f:
            return int(f.read().strip().split("-")[1])
    except FileNotFoundError:
        return 0


def gen_dirs(index_dir):
    return sorted(int(n[4:]) for n in os.listdir(index_dir)
                  if n.startswith("gen-") and n[4:].isdigit())


def one_point(opts, tmp, point, seed):
    rng = random.Random(seed)
    data = os.path.join(tmp, point)
    os.mkdir(data)
    index_dir = os.path.join(data, "indexes", INDEX)
    S, W = PB.schema, PB.writer
    w = writer(opts.writer, data, crash=point)
    s = S.IndexSchema()
    s.filter_fields.add(name="grp", type=S.FILTER_FIELD_TYPE_INT)
    s.sort_fields.add(name="score", bits=32)
    call(w.port, "Writer", "CreateIndex", W.CreateIndexRequest(index=INDEX, schema=s),
         W.CreateIndexResponse)
    acked = []
    apply_some(w.port, rng, acked, point + "-a", 20)
    if point != "written":
        # published generations first (gen-removed needs an old one to delete; the others then
        # crash between an existing CURRENT and the next); "written" also covers the very first
        # checkpoint of an index, with no CURRENT yet
        w.kill(30)
        w = writer(opts.writer, data)
        for _ in range(2):
            call(w.port, "Writer", "Checkpoint", W.CheckpointRequest(index=INDEX),
                 W.CheckpointResponse)
            apply_some(w.port, rng, acked, point + "-b%d" % len(acked), 10)
        w.kill(30)
        w = writer(opts.writer, data, crash=point)
    before = current_gen(index_dir)
    try:
        call(w.port, "Writer", "Checkpoint", W.CheckpointRequest(index=INDEX),
             W.CheckpointResponse)
        raise AssertionError("%s: Checkpoint returned; the writer should have died" % point)
    except grpc.RpcError:
        pass
    assert w.wait_exit(30 * SLOW) is not None, "%s: writer still running" % point
    assert "test crash point reached" in w.text(), "%s: died elsewhere:\n%s" % (point, w.log())

    w = writer(opts.writer, data)
    after = current_gen(index_dir)
    if point in ("written", "ids-saved"):
        assert after == before, "%s: CURRENT gen-%d, want the old gen-%d" % (point, after, before)
    else:
        assert after == before + 1, "%s: CURRENT gen-%d, want gen-%d" % (point, after, before + 1)
    names = os.listdir(index_dir)
    assert not [n for n in names if n.endswith(".tmp")], "%s: leftovers %s" % (point, names)
    assert all(g <= after for g in gen_dirs(index_dir)), \
        "%s: generations %s above CURRENT gen-%d" % (point, gen_dirs(index_dir), after)
    info = call(w.port, "Writer", "GetIndex", S.GetIndexRequest(index=INDEX),
                S.GetIndexResponse).index
    last = max(l for l, _, _ in acked)
    want = model(req for _, _, req in sorted(acked, key=lambda x: x[0]))
    assert info.committed_lsn == last, "%s: committed LSN %d, want %d" % (point, info.committed_lsn,
                                                                          last)
    assert info.document_count == len(want), "%s: %d documents, model %d" % (
        point, info.document_count, len(want))
    for lsn, bid, req in acked:  # the ids survived: every retry is a duplicate at its LSN
        r = call(w.port, "Writer", "Apply", req, W.ApplyResponse)
        assert r.duplicate and r.committed_lsn == lsn, "%s: retry of %s: %s" % (point, bid, r)
    apply_some(w.port, rng, acked, point + "-c", 5)
    ck = call(w.port, "Writer", "Checkpoint", W.CheckpointRequest(index=INDEX),
              W.CheckpointResponse)
    assert ck.new_generation and ck.generation == after + 1, "%s: %s" % (point, ck)
    last = max(l for l, _, _ in acked)
    want = model(req for _, _, req in sorted(acked, key=lambda x: x[0]))

    r = bitdex_proc.BitdexProcess([opts.reader, "--data-dir", data, "--listen", "127.0.0.1:0",
                                   "--writer", "127.0.0.1:%d" % w.port], name="reader")
    r.wait_listening(30 * SLOW)
    deadline = time.monotonic() + 30 * SLOW
    while True:
        try:
            c = call(r.port, "Query", "Count", PB.query.CountRequest(index=INDEX, min_lsn=last),
                     PB.query.CountResponse, timeout=5)
            break
        except grpc.RpcError as e:
            if time.monotonic() > deadline:
                raise AssertionError("%s: reader never caught up: %s\n%s" % (point, e, r.log()))
            time.sleep(0.05)
    assert c.count == len(want), "%s: reader counts %d, model %d" % (point, c.count, len(want))
    r.terminate(10 * SLOW)
    w.terminate(10 * SLOW)
    print("%s: CURRENT gen-%d -> gen-%d after the restart, %d batches, %d live documents" %
          (point, before, after, len(acked), len(want)), flush=True)


def main():
    global PB
    ap = argparse.ArgumentParser()
    ap.add_argument("--writer", required=True)
    ap.add_argument("--reader", required=True)
    ap.add_argument("--proto-dir", required=True)
    opts = ap.parse_args()
    seed = int(os.environ.get("BITDEX_TEST_SEED", str(int(time.time() * 1000) % (1 << 31))))
    tmp = tempfile.mkdtemp(prefix="bitdex-it-ckcrash-")
    try:
        PB = bitdex_proc.generate_messages(opts.proto_dir, os.path.join(tmp, "py"))
        for k, point in enumerate(POINTS):
            one_point(opts, tmp, point, seed + k)
        print("ok: %d crash points, seed %d" % (len(POINTS), seed))
        return 0
    except AssertionError as e:
        sys.stderr.write("FAIL (seed %d): %s\n" % (seed, e))
        return 1
    finally:
        bitdex_proc.kill_all()
        import shutil
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())

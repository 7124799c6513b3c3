#!/usr/bin/python3
"""Writer.Watch and Writer.GetStats on the real bitdex-writer, through grpcio.

Starts bitdex-writer on 127.0.0.1:0 (helpers of test_writer_admin.py) and checks:

  - a Watch stream gets the initial LsnAdvance, then an LsnAdvance reaching every acknowledged
    Apply LSN, in increasing order (coalesced: never more events than commits);
  - heartbeats when idle; bad requests (heartbeat, unknown index, long reader_id) fail with
    INVALID_ARGUMENT / NOT_FOUND; a standby answers UNAVAILABLE;
  - SIGTERM ends the stream with UNAVAILABLE "writer stopping" and the writer exits 0 promptly;
  - GetStats reports documents, committed LSN, WAL size, the watcher (reader_id, peer, sent_lsn),
    active time and RSS; an unknown index is NOT_FOUND.

It also measures the latency from an Apply acknowledgement to the LsnAdvance carrying that LSN
(p50/p99 over BITDEX_WATCH_APPLIES applies, default 1000) and prints it.

  /usr/bin/python3 tests/integration/test_writer_watch.py \\
      --writer build/services/writer/bitdex-writer --proto-dir proto
"""

import os
import queue
import signal
import sys
import threading
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import bitdex_proc  # noqa: E402
import test_writer_admin as admin  # noqa: E402 (Writer, Client, WriterTestCase, images_schema)

import grpc  # noqa: E402

C = grpc.StatusCode
SLOW = bitdex_proc.SLOW
APPLIES = int(os.environ.get("BITDEX_WATCH_APPLIES", "1000"))


class Watcher:
    """A Watch stream read by a thread into a queue of (receive time, event)."""

    def __init__(self, client, indexes=("images",), reader_id="it-reader", heartbeat_ms=0):
        W = admin.PB.writer
        req = W.WatchRequest(reader_id=reader_id, heartbeat_interval_ms=heartbeat_ms)
        for name in indexes:
            req.indexes.add(index=name)
        stub = client.ch.unary_stream("/bitdex.v1.Writer/Watch",
                                      request_serializer=lambda m: m.SerializeToString(),
                                      response_deserializer=W.WatchEvent.FromString)
        self.call = stub(req, timeout=120 * SLOW)
        self.q = queue.Queue()
        self.error = None
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self):
        try:
            for ev in self.call:
                self.q.put((time.monotonic(), ev))
        except grpc.RpcError as e:
            self.error = e
        self.q.put((time.monotonic(), None))

    def next(self, timeout=10 * SLOW, skip_heartbeats=True):
        while True:
            t, ev = self.q.get(timeout=timeout)
            if ev is None or not skip_heartbeats or ev.WhichOneof("event") != "heartbeat":
                return t, ev

    def close(self):
        self.call.cancel()
        self.thread.join(10)


def put_batch(doc_id):
    W, T = admin.PB.writer, admin.PB.types
    req = W.ApplyRequest(index="images")
    op = req.ops.add()
    op.put.document.CopyFrom(T.Document(id=doc_id))
    return req


class Watch(admin.WriterTestCase):
    def setUp(self):
        super().setUp()
        self.w = self.start("--sync", "batch")
        self.c = self.client(self.w)
        self.c.create("images", admin.images_schema())

    def test_lsn_advances_reach_every_ack_and_latency(self):
        wt = Watcher(self.c, heartbeat_ms=60000)
        self.addCleanup(wt.close)
        _, ev = wt.next()
        self.assertEqual(ev.WhichOneof("event"), "lsn_advance")
        self.assertEqual((ev.lsn_advance.index, ev.lsn_advance.lsn), ("images", 0))
        last_seen, events, lat, rtt = 0, 0, [], []
        t = 0.0
        for i in range(APPLIES):
            t_send = time.monotonic()
            resp = self.c.call("Apply", put_batch(i))
            t_ack = time.monotonic()
            rtt.append(t_ack - t_send)
            while last_seen < resp.committed_lsn:
                t, ev = wt.next()
                self.assertIsNotNone(ev, "stream ended: %s" % wt.error)
                self.assertEqual(ev.WhichOneof("event"), "lsn_advance")
                self.assertGreater(ev.lsn_advance.lsn, last_seen, "LSN order")
                last_seen = ev.lsn_advance.lsn
                events += 1
            # signed: the event often arrives before the Apply reply (the sync thread announces
            # the LSN before it wakes the Apply), then the time is negative
            lat.append(t - t_ack)
        self.assertLessEqual(events, APPLIES)
        lat.sort()
        rtt.sort()

        def pct(xs, q):
            return xs[min(len(xs) - 1, int(len(xs) * q))] * 1e3
        sys.stderr.write(
            "\nwatch latency over %d applies (--sync batch), LsnAdvance receipt minus Apply ack:"
            " p50 %.3f ms, p99 %.3f ms, max %.3f ms (%.0f%% before the ack); Apply round trip"
            " p50 %.3f ms, p99 %.3f ms; %d events\n"
            % (APPLIES, pct(lat, 0.5), pct(lat, 0.99), lat[-1] * 1e3,
               100.0 * sum(1 for x in lat if x <= 0) / len(lat), pct(rtt, 0.5), pct(rtt, 0.99),
               events))

    def test_heartbeats_validation_stats_and_stop(self):
        W, S = admin.PB.writer, admin.PB.schema
        wt = Watcher(self.c, reader_id="pod-3", heartbeat_ms=100)
        self.addCleanup(wt.close)
        _, ev = wt.next()
        self.assertEqual(ev.lsn_advance.lsn, 0)
        t0 = time.monotonic()
        for _ in range(3):
            _, ev = wt.next(skip_heartbeats=False)
            self.assertEqual(ev.WhichOneof("event"), "heartbeat")
        self.assertLess(time.monotonic() - t0, 3 * SLOW)
        lsn = 0
        for i in range(5):
            lsn = self.c.call("Apply", put_batch(i)).committed_lsn
        while True:
            _, ev = wt.next()
            if ev.lsn_advance.lsn == lsn:
                break
        # validation
        for req, code, text in (
                (W.WatchRequest(heartbeat_interval_ms=99), C.INVALID_ARGUMENT,
                 "heartbeat_interval_ms: 99"),
                (W.WatchRequest(indexes=[W.WatchedIndex(index="nope")]), C.NOT_FOUND,
                 "index nope not found"),
                (W.WatchRequest(reader_id="x" * 129), C.INVALID_ARGUMENT, "reader_id")):
            stub = self.c.ch.unary_stream("/bitdex.v1.Writer/Watch",
                                          request_serializer=lambda m: m.SerializeToString(),
                                          response_deserializer=W.WatchEvent.FromString)
            with self.assertRaises(grpc.RpcError) as cm:
                list(stub(req, timeout=10 * SLOW))
            self.assertEqual(cm.exception.code(), code)
            self.assertIn(text, cm.exception.details())
        # stats
        stub = self.c.ch.unary_unary("/bitdex.v1.Writer/GetStats",
                                     request_serializer=lambda m: m.SerializeToString(),
                                     response_deserializer=W.GetStatsResponse.FromString)
        st = stub(W.GetStatsRequest(index="images"), timeout=10 * SLOW)
        self.assertEqual(len(st.indexes), 1)
        ix = st.indexes[0]
        self.assertEqual((ix.index, ix.document_count, ix.committed_lsn), ("images", 5, lsn))
        self.assertGreater(ix.wal_bytes, 0)
        self.assertGreaterEqual(ix.wal_segments, 1)
        self.assertGreater(ix.memory_bytes, 0)
        self.assertEqual(len(ix.watchers), 1)
        self.assertEqual(ix.watchers[0].reader_id, "pod-3")
        self.assertEqual(ix.watchers[0].sent_lsn, lsn)
        self.assertTrue(ix.watchers[0].peer.startswith("ipv4:127.0.0.1:"), ix.watchers[0].peer)
        self.assertGreater(st.rss_bytes, 1 << 20)
        self.assertGreater(st.active_ms, 0)
        with self.assertRaises(grpc.RpcError) as cm:
            stub(W.GetStatsRequest(index="nope"), timeout=10 * SLOW)
        self.assertEqual(cm.exception.code(), C.NOT_FOUND)
        # SIGTERM: the stream ends UNAVAILABLE "writer stopping", the writer exits 0 quickly
        t0 = time.monotonic()
        self.w.proc.send_signal(signal.SIGTERM)
        _, ev = wt.next()
        self.assertIsNone(ev)
        self.assertEqual(wt.error.code(), C.UNAVAILABLE)
        self.assertEqual(wt.error.details(), "writer stopping")
        self.assertEqual(self.w.terminate(), 0)
        self.assertLess(time.monotonic() - t0, admin.GRACE_MS / 1000 + 5 * SLOW)

    def test_standby_unavailable(self):
        b = self.start(name="writer-b", wait_serving=False)
        cb = self.client(b)
        wt = Watcher(cb)
        self.addCleanup(wt.close)
        _, ev = wt.next()
        self.assertIsNone(ev)
        self.assertEqual(wt.error.code(), C.UNAVAILABLE)
        self.assertIn("standby", wt.error.details())


def main():
    import argparse
    import shutil
    import tempfile
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--writer", required=True)
    ap.add_argument("--proto-dir", required=True)
    opts, rest = ap.parse_known_args()
    opts.proto_dir = os.path.abspath(opts.proto_dir)
    admin.OPTS = opts
    gen = tempfile.mkdtemp(prefix="bitdex-it-pb-")
    try:
        admin.PB = bitdex_proc.generate_messages(opts.proto_dir, gen)
        prog = unittest.main(argv=[sys.argv[0]] + rest, verbosity=2, exit=False)
    finally:
        shutil.rmtree(gen, True)
        bitdex_proc.kill_all()
    r = prog.result
    ok = r.wasSuccessful() and r.testsRun > 0
    print("integration: %d run, %d failures, %d errors" % (r.testsRun, len(r.failures),
                                                           len(r.errors)))
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()

#!/usr/bin/python3
"""Readers through crashes: kill -9 a reader, kill -9 the writer, restart them, while a seeded
random workload runs and every answer of both readers is checked against the brute-force model
of test_readers.py (same workload, same checks: each Search page, Count and GetDocuments answer
equals the model at exactly its snapshot_lsn; snapshot_lsn >= min_lsn and never goes back on
one reader process; no call fails except UNAVAILABLE "min_lsn" while a reader lags).

What it proves, per round (BITDEX_READERS_CRASH_ROUNDS, default 3; the kills land at random
moments of a workload with background checkpoints every few batches plus Checkpoint RPCs, so
also in checkpoints and generation switches):
  - kill -9 of one reader: the other keeps answering, correctly, all the time (counted); the
    killed one restarts on the same data directory, turns SERVING only once caught up (its first
    answer is at or past the LSN acknowledged when it was spawned), and then follows new writes;
  - kill -9 of the writer (often with a batch in flight): both readers keep answering with the
    data they have, stay SERVING, and read-your-writes for every acknowledged LSN still works;
    after the writer restarts, the client resends a batch whose Apply failed with the same
    batch_id (the writer answers duplicate or applies it, at the next LSN either way; counted),
    both readers reconnect to Watch (GetStats watchers) and a new write becomes visible on both
    (polled with min_lsn);
  - in odd rounds a reader is also killed and restarted *while the writer is down*: it must load
    the generation and the WAL from the files alone and serve the acknowledged state;
  - at the end both readers converge on the writer's last LSN, document by document.
A reader that served a torn or half-applied batch, lost a generation it had pinned, or resumed
the WAL at the wrong place after a restart or a writer crash would answer something the model
cannot explain at that snapshot_lsn.

The readers reach the writer through a small TCP proxy owned by the test (it listens on a port
of its own), so that the restarted writer can take a new port (the tests use no fixed ports)
while the readers keep their --writer address.

Printed: time to SERVING of each restarted reader, time until a write after the writer's
restart is visible on each reader (the writer's own start included) and until both follow its
Watch again, and the calls each reader answered while the other reader or the writer was down.

  /usr/bin/python3 tests/integration/test_readers_crash.py \\
      --writer build/services/writer/bitdex-writer \\
      --reader build/services/reader/bitdex-reader --proto-dir proto
"""

import argparse
import os
import random
import shutil
import socket
import sys
import tempfile
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import bitdex_proc  # noqa: E402 (next to this script)
import test_readers as tr  # noqa: E402 (model, workload, checks)

import grpc  # noqa: E402

SLOW = bitdex_proc.SLOW
check = tr.check
Failure = tr.Failure
ROUNDS = int(os.environ.get("BITDEX_READERS_CRASH_ROUNDS", "3"))


class Proxy:
    """TCP forwarder 127.0.0.1:port -> 127.0.0.1:backend. With no backend (writer down) it
    closes new connections at once; cut() closes the open ones."""

    def __init__(self):
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(64)
        self.port = self.sock.getsockname()[1]
        self.backend = None
        self.lock = threading.Lock()
        self.conns = set()
        threading.Thread(target=self._accept, daemon=True).start()

    @property
    def address(self):
        return "127.0.0.1:%d" % self.port

    def _accept(self):
        while True:
            try:
                c, _ = self.sock.accept()
            except OSError:
                return
            port = self.backend
            try:
                if port is None:
                    raise OSError("no backend")
                b = socket.create_connection(("127.0.0.1", port), timeout=2)
                b.settimeout(None)
            except OSError:
                c.close()
                continue
            for s in (b, c):
                s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            with self.lock:
                self.conns.update((b, c))
            for src, dst in ((c, b), (b, c)):
                threading.Thread(target=self._pump, args=(src, dst), daemon=True).start()

    def _pump(self, src, dst):
        try:
            while True:
                data = src.recv(65536)
                if not data:
                    break
                dst.sendall(data)
        except OSError:
            pass
        for s in (src, dst):
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            with self.lock:
                if s in self.conns:
                    self.conns.discard(s)
                    s.close()

    def cut(self):
        with self.lock:
            conns, self.conns = list(self.conns), set()
        for s in conns:
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            s.close()

    def close(self):
        self.backend = None
        self.sock.close()
        self.cut()


class Slot:
    """One reader position: the current process, an epoch bumped before every kill, and the
    calls it answered (ok, counted by tr.Client.call)."""

    def __init__(self, run, name):
        self.run, self.name = run, name
        self.proc = None
        self.epoch = 0
        self.up = threading.Event()
        self.ok = 0

    def start(self):
        self.proc = self.run.spawn(tr.Reader(self.run.opts.reader, self.run.data,
                                             self.run.proxy.address, self.name))
        return self.proc

    def kill(self):
        self.up.clear()
        self.epoch += 1  # before the signal: calls that fail from now on are expected to
        self.proc.kill()

    def client(self):
        while not self.up.wait(0.5):
            if self.run.stop.is_set():
                return None
        return tr.Client(self.run.model, self.run.stats, self.name, self.proc.address, slot=self)


class CrashRun(tr.Run):
    def __init__(self, opts, seed, tmp):
        super().__init__(opts, seed, tmp)
        self.proxy = Proxy()
        self.writer = None
        self.wepoch = 0
        self.writer_up = threading.Event()
        self.slots = [Slot(self, "reader-a"), Slot(self, "reader-b")]
        self.retried = 0
        self.duplicates = 0

    def close(self):
        super().close()
        self.proxy.close()

    def start_writer(self):
        self.writer = self.spawn(tr.Writer(self.opts.writer, self.data, checkpoint_lsns=10,
                                           checkpoint_interval_ms=150))
        self.writer.wait_serving()
        self.proxy.backend = self.writer.port
        self.writer_up.set()

    def kill_writer(self):
        self.writer_up.clear()
        self.wepoch += 1
        self.proxy.backend = None
        self.writer.kill()
        self.proxy.cut()

    def wait_writer(self):
        while not self.writer_up.wait(0.5):
            if self.stop.is_set():
                raise Failure("stopped")
        return self.wepoch, self.writer.address

    def apply(self, ch_unused, req):
        """Applies one batch whatever happens to the writer: on an error caused by a kill, waits
        for the restart and resends the batch with its batch_id (the outcome was unknown). The
        answer must be at the next LSN, duplicate or not."""
        with self.wlock:
            self.model.begin(req)
            failed = False
            while True:
                epoch, addr = self.wait_writer()
                ch = tr.channel(addr)
                try:
                    resp = tr.wcall(ch, "Apply", req, tr.PB.writer.ApplyResponse, timeout=15)
                    break
                except grpc.RpcError as e:
                    check(epoch != self.wepoch or self.stop.is_set(),
                          "Apply %s failed with the writer up: %s %s", req.batch_id, e.code(),
                          e.details())
                    failed = True
                    self.retried += 1
                finally:
                    ch.close()
            check(failed or not resp.duplicate, "batch %s: duplicate on the first try",
                  req.batch_id)
            self.duplicates += resp.duplicate
            skipped = self.model.commit(resp.committed_lsn, req)
            check(resp.op_count == len(req.ops) and resp.skipped_ops == skipped,
                  "batch %s at LSN %d: op_count %d skipped_ops %d, model %d / %d", req.batch_id,
                  resp.committed_lsn, resp.op_count, resp.skipped_ops, len(req.ops), skipped)
            return resp.committed_lsn

    # -- workers tolerant to kills --

    def writer_loop(self, seed, until):
        rng = random.Random(seed)
        while not self.stop.is_set() and time.monotonic() < until:
            self.apply(None, self.next_batch(rng))
            time.sleep(rng.uniform(0, 0.006))

    def checkpoint_loop(self, seed, until):
        rng = random.Random(seed)
        while not self.stop.is_set() and time.monotonic() < until:
            self.stop.wait(rng.uniform(0.05, 0.8))
            epoch, addr = self.wait_writer()
            before = self.model.last
            ch = tr.channel(addr)
            try:
                resp = tr.wcall(ch, "Checkpoint", tr.PB.writer.CheckpointRequest(index=tr.INDEX),
                                tr.PB.writer.CheckpointResponse, timeout=60)
                check(resp.checkpoint_lsn >= before, "Checkpoint covers LSN %d < acknowledged %d",
                      resp.checkpoint_lsn, before)
                self.generations.append(resp.generation)
            except grpc.RpcError as e:
                check(epoch != self.wepoch, "Checkpoint failed with the writer up: %s %s",
                      e.code(), e.details())
            finally:
                ch.close()

    def slot_query_loop(self, slot, seed, until):
        rng = random.Random(seed)
        while not self.stop.is_set() and time.monotonic() < until:
            client = slot.client()
            if client is None:
                return
            try:
                while not self.stop.is_set() and time.monotonic() < until and \
                        slot.epoch == client.epoch:
                    tr.random_query_call(rng, client, self.model.last)
            except tr.ReaderGone:
                pass
            finally:
                client.close()


def health_of(proc):
    ch = tr.channel(proc.address)
    try:
        return tr.health_check(ch, tr.QUERY_SERVICE)
    finally:
        ch.close()


def watchers(run):
    """reader ids in the writer's GetStats (empty when it does not answer)."""
    ch = tr.channel(run.writer.address)
    try:
        st = tr.wcall(ch, "GetStats", tr.PB.writer.GetStatsRequest(index=tr.INDEX),
                      tr.PB.writer.GetStatsResponse, timeout=5)
        return [w.reader_id for w in st.indexes[0].watchers]
    except grpc.RpcError:
        return []
    finally:
        ch.close()


def restart_reader(run, slot, report):
    """Starts the slot's reader again and checks it comes up caught up."""
    floor = run.model.last
    proc = slot.start()
    t = proc.wait_serving()
    c = tr.Client(run.model, run.stats, slot.name, proc.address)
    try:
        s = c.count(tr.Query(None), 0)
        check(s.snapshot_lsn >= floor, "%s SERVING at LSN %d, but LSN %d was acknowledged "
              "before it started", slot.name, s.snapshot_lsn, floor)
        slot.up.set()
        dt = tr.wait_lsn(c, run.model.last)
    finally:
        c.close()
    report.append("%s restarted: SERVING in %.0f ms at LSN %d (>= %d acknowledged at spawn), "
                  "then at the newest acknowledged LSN after %.0f ms"
                  % (slot.name, t * 1e3, s.snapshot_lsn, floor, dt * 1e3))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--writer", required=True)
    ap.add_argument("--reader", required=True)
    ap.add_argument("--proto-dir", required=True)
    opts = ap.parse_args()
    seed = int(os.environ.get("BITDEX_TEST_SEED", str(int(time.time() * 1000) % (1 << 31))))
    tmp = tempfile.mkdtemp(prefix="bitdex-it-readers-crash-")
    run = None
    t_start = time.monotonic()
    try:
        tr.PB = bitdex_proc.generate_messages(opts.proto_dir, os.path.join(tmp, "py"))
        run = CrashRun(opts, seed, tmp)
        rng = run.rng
        print("seed %d" % seed, flush=True)
        run.start_writer()
        wch = tr.channel(run.writer.address)
        tr.create_index(wch)
        for req in tr.base_batches(rng):
            run.apply(None, req)
        wch.close()
        for slot in run.slots:
            slot.start().wait_serving()
            slot.up.set()
        print("base: %d documents, LSN %d; readers SERVING" % (len(run.model.head), run.model.last),
              flush=True)

        until = time.monotonic() + 3600  # the workers run until stop
        workers = [run.guard(run.writer_loop, rng.random(), until),
                   run.guard(run.checkpoint_loop, rng.random(), until)]
        workers += [run.guard(run.slot_query_loop, s, rng.random(), until) for s in run.slots]
        report = []

        def pause(lo, hi):
            run.stop.wait(rng.uniform(lo, hi))
            if run.failures:
                raise run.failures[0]

        for rnd in range(ROUNDS):
            pause(1.5, 3)
            if rnd % 2 == 0:
                # -- kill -9 one reader while the writer runs --
                victim, other = (run.slots[0], run.slots[1]) if rng.random() < 0.5 else \
                    (run.slots[1], run.slots[0])
                ok0, lsn0 = other.ok, run.model.last
                victim.kill()
                pause(0.3, 1.5)
                restart_reader(run, victim, report)
                check(other.ok > ok0, "%s answered nothing while %s was down", other.name,
                      victim.name)
                report.append("round %d: %s answered %d calls while %s was down (LSN %d -> %d)"
                              % (rnd, other.name, other.ok - ok0, victim.name, lsn0,
                                 run.model.last))
                pause(1, 2)
            # -- kill -9 the writer --
            oks = [s.ok for s in run.slots]
            lsn_kill = run.model.last
            run.kill_writer()
            pause(0.5, 1)
            for s in run.slots:
                check(health_of(s.proc) == tr.SERVING, "%s not SERVING with the writer down",
                      s.name)
            if rnd % 2 == 1:
                victim = run.slots[rng.randrange(2)]
                victim.kill()
                pause(0.2, 0.6)
                restart_reader(run, victim, report)
                report.append("round %d: %s restarted while the writer was down"
                              % (rnd, victim.name))
            pause(1, 2)
            for s, ok0 in zip(run.slots, oks):
                check(s.ok > ok0, "%s answered nothing while the writer was down", s.name)
            answered = ", ".join("%s %d" % (s.name, s.ok - o) for s, o in zip(run.slots, oks))
            report.append("round %d: writer down at LSN %d; calls answered meanwhile: %s"
                          % (rnd, lsn_kill, answered))
            t_restart = time.monotonic()
            run.start_writer()
            # a write after the restart becomes visible on both readers
            while run.model.last <= lsn_kill + 1:
                pause(0.01, 0.02)
                check(time.monotonic() - t_restart < 30 * SLOW, "no write after the writer restart")
            target = run.model.last
            seen = []
            for s in run.slots:
                c = tr.Client(run.model, run.stats, s.name + "-probe", s.proc.address)
                try:
                    tr.wait_lsn(c, target)
                finally:
                    c.close()
                seen.append("%s %.0f ms" % (s.name, (time.monotonic() - t_restart) * 1e3))
            t_w = None
            while time.monotonic() - t_restart < 30 * SLOW:
                if len(watchers(run)) >= 2:
                    t_w = time.monotonic() - t_restart
                    break
                pause(0.05, 0.05)
            check(t_w is not None, "the readers did not reconnect to Watch within %.0f s: %s",
                  30 * SLOW, watchers(run))
            report.append("round %d: writer restarted (Apply retries after a kill: %d, "
                          "duplicates: %d, so far); LSN %d visible on %s after the restart; both "
                          "watching again after %.0f ms"
                          % (rnd, run.retried, run.duplicates, target, ", ".join(seen), t_w * 1e3))
            for line in report:
                print(line, flush=True)
            report.clear()
        pause(1, 2)
        run.stop.set()
        for t in workers:
            t.join(60 * SLOW)
            check(not t.is_alive(), "a worker thread hangs")
        if run.failures:
            raise run.failures[0]
        last = run.model.last
        for s in run.slots:
            c = tr.Client(run.model, run.stats, s.name, s.proc.address)
            try:
                tr.check_converged(c, last)
            finally:
                c.close()
        print("converged: both readers at LSN %d, %d documents; %s"
              % (last, len(run.model.state(last)), tr.stored_note(run.stats)))
        print("queries: %s; %d distinct snapshots" % (
            ", ".join("%s %d" % kv for kv in sorted(run.stats.c.items())),
            len(run.stats.snapshots)))
        print(tr.log_summary(run.procs))
        print("ok: seed %d, %d rounds, %.1f s" % (seed, ROUNDS, time.monotonic() - t_start))
        return 0
    except Failure as e:
        sys.stderr.write("FAIL (seed %d): %s\n" % (seed, e))
        if run is not None:
            for p in run.procs:
                sys.stderr.write(p.log(40) + "\n")
        return 1
    finally:
        if run is not None:
            run.close()
        bitdex_proc.kill_all()
        shutil.rmtree(tmp, True)


if __name__ == "__main__":
    sys.exit(main())

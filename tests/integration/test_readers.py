#!/usr/bin/python3
"""Readers against a brute-force model: one bitdex-writer and two bitdex-readers on one data
directory, a seeded random workload, checkpoints all the time, every answer checked exactly.

What it proves (each reader, each answer):
  - every Search page, Count and GetDocuments answer equals a brute-force model of the index at
    exactly the answer's snapshot_lsn: the same hits in the same order (ties on the sort value
    broken by the slot, in the sort's direction), the same sort values (0 for a null sort field),
    the same next_cursor emptiness, the same total, the same documents with the same fields in
    the same order and the same missing ids. A snapshot that held part of a batch (half
    applied), a stale or wrong generation after a switch, a lost or doubled WAL frame, or a
    replica that applied a frame differently from the writer would each show as a difference;
  - snapshot_lsn >= the request's min_lsn, and it never goes backwards on one reader;
  - no call fails, except UNAVAILABLE "min_lsn: ... behind" while the reader lags, which the
    test retries (counted and printed);
  - pagination: every page is checked on its own snapshot: it must be the model's result after
    the previous page's last (value, slot), `limit` long, and next_cursor is empty exactly when
    nothing follows in that snapshot (pages of one chain may come from different snapshots);
  - a reader started before the first write follows the index from empty; one started later
    (and a third one at the end) loads a generation and replays the WAL tail; health
    bitdex.v1.Query turns SERVING only once caught up (a Count right after SERVING is at the
    writer's committed LSN);
  - at the end both readers converge on the writer's last LSN: every document of the model,
    field by field, and a full cursor walk over all documents.
It also checks the writer side as it goes: LSNs are consecutive per batch, skipped_ops matches
the model, Checkpoint covers every write acknowledged before the call.

The workload (seeded; BITDEX_TEST_SEED): ~18k documents loaded first (so results above the
materialize threshold, 16384, take the sorted-walk path), then Put / Merge / Delete / Set / Add /
Remove batches of 1..20 ops with batch ids over a small schema: `grp` (INT, negative and 2^40
values), `label` (STRING, nullable, "" included), `tags` (multi-valued INT), two 32-bit sort fields
`score` and `rank` whose values are mostly 0, 2^32-1 and a few small numbers (heavy ties, both
extremes), and a stored STRING `note`; ids include 2^16, 2^20, 2^31 and 2^32-1.
Checkpoints run in the
background (--checkpoint-lsns, --checkpoint-interval-ms, 1 MiB WAL segments) and through the
Checkpoint RPC at random moments. The model keeps every batch by LSN plus a full copy of the
state every SNAP_EVERY LSNs, so it rebuilds the state at any LSN.

Figures printed: write -> visible latency on each reader (Apply acknowledged -> the first Count
without min_lsn whose snapshot_lsn reaches the LSN, polled back to back; p50/p99/max over
BITDEX_READERS_LATENCY_WRITES writes, default 500; the issue's target is p99 <= 10 ms), the
Count round trip for reference, and the start -> SERVING time of a reader on the final data set.

Stored fields are returned by Search (SearchRequest.fields) and GetDocuments and must equal the
model's.

  /usr/bin/python3 tests/integration/test_readers.py --writer build/services/writer/bitdex-writer \\
      --reader build/services/reader/bitdex-reader --proto-dir proto

test_readers_crash.py reuses this module (model, workload, checks) for the kill -9 tests.
"""

import argparse
import bisect
import collections
import os
import random
import shutil
import sys
import tempfile
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import bitdex_proc  # noqa: E402 (next to this script)

try:
    import grpc
except ImportError as e:  # pragma: no cover
    sys.stderr.write("test_readers: %s\nrun with /usr/bin/python3 (python3-grpcio)\n" % e)
    sys.exit(1)

SLOW = bitdex_proc.SLOW
C = grpc.StatusCode
INDEX = "feed"
MAX32 = (1 << 32) - 1
CHANNEL_OPTIONS = [("grpc.enable_http_proxy", 0), ("grpc.enable_retries", 0),
                   ("grpc.max_receive_message_length", 64 << 20)]
QUERY_SERVICE = "bitdex.v1.Query"
SERVING = 1

NBASE = 18000                      # documents loaded before the workload
# Large ids, up to the last uint32 (columns and stores are sparse in memory and in generations).
EXTREME_IDS = [1 << 16, (1 << 20) - 1, 1 << 31, (1 << 32) - 1]
HOT = 200                          # most ops hit ids 0..HOT-1
SNAP_EVERY = 64                    # the model keeps a full state every SNAP_EVERY LSNs
GRP_VALUES = [-7, 0, 1, 2, 3, 1 << 40]
LABELS = ["a", "b", "c", "", "\u00fcber"]
NTAGS = 12
FILTER_FIELDS = ("grp", "label", "tags")
SORT_FIELDS = ("score", "rank")
STORED_FIELDS = ("note",)
FIELD_POS = {"grp": 0, "label": 1, "tags": 2, "score": 3, "rank": 4, "note": 5}

PB = None  # generated messages (bitdex_proc.generate_messages)


class Failure(AssertionError):
    pass


def check(cond, msg, *args):
    if not cond:
        raise Failure(msg % args if args else msg)


# --- processes and calls ----------------------------------------------------------------------

class Writer(bitdex_proc.BitdexProcess):
    """bitdex-writer --sync batch with frequent background checkpoints."""

    def __init__(self, binary, data, checkpoint_lsns=25, checkpoint_interval_ms=300):
        super().__init__([binary, "--data-dir", data, "--listen", "127.0.0.1:0",
                          "--sync", "batch", "--log-level", "info",
                          "--checkpoint-lsns", str(checkpoint_lsns),
                          "--checkpoint-interval-ms", str(checkpoint_interval_ms),
                          "--wal-segment-mb", "1"], name="writer")

    def wait_serving(self):
        self.wait_listening(bitdex_proc.START_TIMEOUT)
        ch = channel(self.address)
        deadline = time.monotonic() + 30 * SLOW
        try:
            while time.monotonic() < deadline:
                try:
                    wcall(ch, "ListIndexes", PB.schema.ListIndexesRequest(),
                          PB.schema.ListIndexesResponse, timeout=2)
                    return
                except grpc.RpcError:
                    time.sleep(0.02)
        finally:
            ch.close()
        raise Failure("writer never served:\n" + self.log())


class Reader(bitdex_proc.BitdexProcess):
    """bitdex-reader on `data`, following the writer at `writer_addr`; t0 = spawn time."""

    def __init__(self, binary, data, writer_addr, name):
        self.t0 = time.monotonic()
        super().__init__([binary, "--data-dir", data, "--writer", writer_addr,
                          "--listen", "127.0.0.1:0", "--log-level", "info"], name=name)

    def wait_serving(self, timeout=60):
        """Waits for health bitdex.v1.Query SERVING; returns seconds since spawn."""
        self.wait_listening(bitdex_proc.START_TIMEOUT)
        ch = channel(self.address)
        deadline = time.monotonic() + timeout * SLOW
        last = None
        try:
            while time.monotonic() < deadline:
                try:
                    last = health_check(ch, QUERY_SERVICE)
                    if last == SERVING:
                        return time.monotonic() - self.t0
                except grpc.RpcError as e:
                    last = e.code()
                if not self.alive():
                    break
                time.sleep(0.003)
        finally:
            ch.close()
        raise Failure("%s not SERVING after %.0f s (last health answer %s):\n%s"
                      % (self.name, timeout * SLOW, last, self.log()))


def channel(addr):
    return grpc.insecure_channel(addr, options=CHANNEL_OPTIONS)


def _unary(ch, path, req, resp_cls, timeout):
    call = ch.unary_unary(path, request_serializer=lambda m: m.SerializeToString(),
                          response_deserializer=resp_cls.FromString)
    return call(req, timeout=timeout * SLOW)


def wcall(ch, method, req, resp_cls, timeout=20):
    return _unary(ch, "/bitdex.v1.Writer/" + method, req, resp_cls, timeout)


def qcall(ch, method, req, resp_cls, timeout=20):
    return _unary(ch, "/bitdex.v1.Query/" + method, req, resp_cls, timeout)


def health_check(ch, service, timeout=2):
    """grpc.health.v1.Health/Check, messages encoded by hand (field 1 in both)."""
    s = service.encode()
    call = ch.unary_unary("/grpc.health.v1.Health/Check",
                          request_serializer=lambda b: b, response_deserializer=lambda b: b)
    resp = call(b"\x0a" + bytes([len(s)]) + s, timeout=timeout * SLOW)
    return resp[1] if len(resp) >= 2 and resp[0] == 0x08 else 0


def schema():
    S = PB.schema
    s = S.IndexSchema()
    s.filter_fields.add(name="grp", type=S.FILTER_FIELD_TYPE_INT)
    s.filter_fields.add(name="label", type=S.FILTER_FIELD_TYPE_STRING, nullable=True)
    s.filter_fields.add(name="tags", type=S.FILTER_FIELD_TYPE_INT, multi_valued=True,
                        nullable=True)
    s.sort_fields.add(name="score", bits=32)
    s.sort_fields.add(name="rank", bits=32)
    s.stored_fields.add(name="note", type=S.STORED_FIELD_TYPE_STRING)
    return s


def create_index(ch):
    wcall(ch, "CreateIndex", PB.writer.CreateIndexRequest(index=INDEX, schema=schema()),
          PB.writer.CreateIndexResponse)


# --- the workload -----------------------------------------------------------------------------
#
# A document in the model is a tuple (grp, label, tags, score, rank, note): label / score / rank
# / note are None when null (absent), tags a frozenset (empty = null).

def rand_sort_value(rng):
    r = rng.random()
    if r < 0.25:
        return 0
    if r < 0.42:
        return MAX32
    if r < 0.72:
        return rng.choice((1, 2, 3, 7))
    if r < 0.82:
        return rng.choice((1 << 31, MAX32 - 1))
    return rng.randrange(MAX32 + 1)


def rand_id(rng):
    r = rng.random()
    if r < 0.6:
        return rng.randrange(HOT)
    if r < 0.85:
        return rng.randrange(NBASE + 500)
    if r < 0.95:
        return rng.choice(EXTREME_IDS)
    return NBASE + rng.randrange(600)


def rand_tags(rng, lo=0):
    return sorted(rng.sample(range(NTAGS), rng.randint(lo, 4)))


def fill_document(rng, d, doc_id, full):
    """A random document (full: a Put with most fields, else a Merge with a few, nulls
    included). Each field at most once."""
    T = PB.types
    d.id = doc_id
    p = 0.85 if full else 0.35
    if rng.random() < p:
        d.filter_fields.add(field="grp", value=T.Value(int_value=rng.choice(GRP_VALUES)))
    if rng.random() < p:
        if rng.random() < 0.2:
            d.filter_fields.add(field="label", value=T.Value(null_value=T.Null()))
        else:
            d.filter_fields.add(field="label", value=T.Value(string_value=rng.choice(LABELS)))
    if rng.random() < p:
        f = d.filter_fields.add(field="tags")
        f.values.extend([T.Value(int_value=t) for t in rand_tags(rng)])
    for name in SORT_FIELDS:
        if rng.random() < p:
            if rng.random() < 0.08:
                d.sort_fields.add(field=name, null_value=T.Null())
            else:
                d.sort_fields.add(field=name, value=rand_sort_value(rng))
    if rng.random() < p * 0.7:
        if rng.random() < 0.15:
            d.stored_fields.add(field="note", value=T.StoredValue(null_value=T.Null()))
        else:
            note = rng.choice(("", "n", "note %d" % rng.randrange(1000), "\u00e9t\u00e9"))
            d.stored_fields.add(field="note", value=T.StoredValue(string_value=note))


def random_op(rng, op):
    T = PB.types
    i, r = rand_id(rng), rng.random()
    if r < 0.25:
        fill_document(rng, op.put.document, i, True)
    elif r < 0.45:
        fill_document(rng, op.merge.document, i, False)
    elif r < 0.55:
        op.delete.id = i
    elif r < 0.8:
        s = op.set
        s.id = i
        k = rng.randrange(7)
        if k == 0:
            v = T.Value(int_value=rng.choice(GRP_VALUES))
            s.filter.CopyFrom(T.FieldValue(field="grp", value=v))
        elif k == 1:
            v = T.Value(null_value=T.Null()) if rng.random() < 0.25 else \
                T.Value(string_value=rng.choice(LABELS))
            s.filter.CopyFrom(T.FieldValue(field="label", value=v))
        elif k == 2:
            s.filter.CopyFrom(T.FieldValue(field="tags", values=[T.Value(int_value=t)
                                                               for t in rand_tags(rng)]))
        elif k in (3, 4):
            name = SORT_FIELDS[k - 3]
            if rng.random() < 0.1:
                s.sort.CopyFrom(T.SortFieldValue(field=name, null_value=T.Null()))
            else:
                s.sort.CopyFrom(T.SortFieldValue(field=name, value=rand_sort_value(rng)))
        elif k == 5:
            s.stored.CopyFrom(T.StoredFieldValue(field="note", value=T.StoredValue(
                string_value="set %d" % rng.randrange(100))))
        else:
            v = T.StoredValue(null_value=T.Null())
            s.stored.CopyFrom(T.StoredFieldValue(field="note", value=v))
    else:
        m = op.add if r < 0.9 else op.remove
        m.id = i
        m.field = "tags"
        m.values.extend([T.Value(int_value=t) for t in rand_tags(rng, 1)])


def random_batch(rng, batch_id, nops=None):
    req = PB.writer.ApplyRequest(index=INDEX, batch_id=batch_id)
    for _ in range(nops or rng.randint(1, 20)):
        random_op(rng, req.ops.add())
    return req


def base_batches(rng):
    """Puts of ids 0..NBASE-1 and EXTREME_IDS, 1000 per batch."""
    ids = list(range(NBASE)) + EXTREME_IDS
    out = []
    for k in range(0, len(ids), 1000):
        req = PB.writer.ApplyRequest(index=INDEX, batch_id="base-%d" % k)
        for i in ids[k:k + 1000]:
            fill_document(rng, req.ops.add().put.document, i, True)
        out.append(req)
    return out


# --- the model --------------------------------------------------------------------------------

def _null(v):
    return v.WhichOneof("kind") == "null_value"


def apply_op(st, op):
    """Applies one op to the state dict (writer.proto semantics); True when skipped."""
    kind = op.WhichOneof("op")
    if kind in ("put", "merge"):
        d = getattr(op, kind).document
        old = st.get(d.id)
        if kind == "put" or old is None:
            doc = [0, None, frozenset(), None, None, None]
        else:
            doc = list(old)
        for f in d.filter_fields:
            if f.field == "tags":
                doc[2] = frozenset(v.int_value for v in f.values)
            elif f.field == "grp":
                doc[0] = f.value.int_value
            else:
                doc[1] = None if _null(f.value) else f.value.string_value
        for s in d.sort_fields:
            doc[FIELD_POS[s.field]] = None if _null(s) else s.value
        for s in d.stored_fields:
            doc[5] = None if _null(s.value) else s.value.string_value
        st[d.id] = tuple(doc)
        return False
    if kind == "delete":
        return st.pop(op.delete.id, None) is None
    if kind == "set":
        s = op.set
        old = st.get(s.id)
        if old is None:
            return True
        doc = list(old)
        which = s.WhichOneof("field")
        if which == "filter":
            f = s.filter
            if f.field == "tags":
                doc[2] = frozenset(v.int_value for v in f.values)
            elif f.field == "grp":
                doc[0] = f.value.int_value
            else:
                doc[1] = None if _null(f.value) else f.value.string_value
        elif which == "sort":
            doc[FIELD_POS[s.sort.field]] = None if _null(s.sort) else s.sort.value
        else:
            doc[5] = None if _null(s.stored.value) else s.stored.value.string_value
        st[s.id] = tuple(doc)
        return False
    m = getattr(op, kind)  # add / remove
    old = st.get(m.id)
    if old is None:
        return True
    vals = frozenset(v.int_value for v in m.values)
    tags = old[2] | vals if kind == "add" else old[2] - vals
    st[m.id] = old[:2] + (tags,) + old[3:]
    return False


class Model:
    """The index at every LSN: batches[L] is the batch committed at LSN L (LSNs are per batch),
    snaps[L] a full copy of the state every SNAP_EVERY LSNs. One client writes, in order, so a
    batch sent but not yet acknowledged (`inflight`) can only be at LSN last + 1: a reader may
    serve it before the Apply reply arrives (its LsnAdvance leaves first), and after a writer
    crash its outcome is unknown until the retry with its batch_id answers."""

    def __init__(self):
        self.cond = threading.Condition()
        self.batches = [None]
        self.skipped = [0]
        self.snaps = {0: {}}
        self.head = {}
        self.inflight = None
        self._states = collections.OrderedDict()  # LRU of rebuilt states
        self._results = collections.OrderedDict()  # query key -> {LSN: (keys, {id: key})}, LRU
        self._cache_lock = threading.Lock()

    @property
    def last(self):
        return len(self.batches) - 1

    def begin(self, req):
        with self.cond:
            self.inflight = req

    def commit(self, lsn, req):
        """Records `req` at `lsn` (must be last + 1); returns the model's skipped op count."""
        with self.cond:
            check(lsn == self.last + 1, "Apply answered LSN %d, expected %d (one client writes)",
                  lsn, self.last + 1)
            check(self.inflight is None or self.inflight is req, "commit of another batch")
            skipped = sum(apply_op(self.head, op) for op in req.ops)
            self.batches.append(req)
            self.skipped.append(skipped)
            if lsn % SNAP_EVERY == 0:
                self.snaps[lsn] = dict(self.head)
            self.inflight = None
            self.cond.notify_all()
            return skipped

    def state(self, lsn, timeout=60):
        """The state at `lsn` (a dict the caller must not change)."""
        with self.cond:
            deadline = time.monotonic() + timeout * SLOW
            while lsn > self.last and not (lsn == self.last + 1 and self.inflight is not None):
                left = deadline - time.monotonic()
                check(left > 0, "snapshot_lsn %d: no batch was ever sent at that LSN (last %d)",
                      lsn, self.last)
                self.cond.wait(left)
            tentative = self.inflight if lsn == self.last + 1 else None
            base_lsn = min(lsn, self.last) // SNAP_EVERY * SNAP_EVERY
            base = self.snaps[base_lsn]
            batches = self.batches[base_lsn + 1:min(lsn, self.last) + 1]
        if tentative is None:
            with self._cache_lock:
                st = self._states.get(lsn)
                if st is not None:
                    self._states.move_to_end(lsn)
                    return st
        st = dict(base)
        for req in batches:
            for op in req.ops:
                apply_op(st, op)
        if tentative is not None:
            for op in tentative.ops:
                apply_op(st, op)
            return st
        with self._cache_lock:
            self._states[lsn] = st
            while len(self._states) > 12:
                self._states.popitem(last=False)
        return st

    def ordered(self, lsn, q):
        """The result of query `q` at `lsn` as a sorted list of keys (key_of): ascending keys
        are the result order. Reuses a cached result of the same query at a nearby LSN and
        re-evaluates only the documents the batches in between touched (so the pages of a cursor
        chain, each on a newer snapshot, cost little). The caller must not change the list."""
        with self.cond:
            committed = lsn <= self.last
        base = near = None
        with self._cache_lock:
            per_q = self._results.get(q.key)
            if per_q is not None:
                self._results.move_to_end(q.key)
                if committed and lsn in per_q:
                    return per_q[lsn][0]
                near = min(per_q, key=lambda x: abs(x - lsn))
                base = per_q[near]
        st = self.state(lsn)
        touched = self.touched(min(near, lsn), max(near, lsn)) if base is not None else None
        if touched is not None and len(touched) < 2000:
            keys, members = list(base[0]), dict(base[1])
            for i in touched:
                old = members.pop(i, None)
                if old is not None:
                    del keys[bisect.bisect_left(keys, old)]
                d = st.get(i)
                if d is not None and q.pred(i, d):
                    k = key_of(q, i, d)
                    members[i] = k
                    bisect.insort(keys, k)
        else:
            pred = q.pred
            members = {i: key_of(q, i, d) for i, d in st.items() if pred(i, d)}
            keys = sorted(members.values())
        if committed:
            with self._cache_lock:
                per_q = self._results.setdefault(q.key, {})
                per_q[lsn] = (keys, members)
                while len(per_q) > 2:
                    del per_q[min(per_q)]
                while len(self._results) > 16:
                    self._results.popitem(last=False)
        return keys

    def touched(self, lo, hi):
        """Ids the batches at LSNs lo+1..hi touch (hi may be the in-flight batch's LSN)."""
        with self.cond:
            reqs = self.batches[lo + 1:min(hi, self.last) + 1]
            if hi == self.last + 1 and self.inflight is not None:
                reqs.append(self.inflight)
        ids = set()
        for req in reqs:
            for op in req.ops:
                kind = op.WhichOneof("op")
                if kind in ("put", "merge"):
                    ids.add(getattr(op, kind).document.id)
                else:
                    ids.add(getattr(op, kind).id)
        return ids


def key_of(q, i, d):
    """Sort key of document (i, d) under query q: (value, id) ascending, (-value, -id) for a
    descending order; value = the sort field (0 when null), or the id without a sort field."""
    v = i if q.sort_pos is None else (d[q.sort_pos] or 0)
    return (-v, -i) if q.desc else (v, i)


def hit_of(q, k):
    """(sort_value, id) of a key (what a Hit carries)."""
    return (-k[0], -k[1]) if q.desc else k


# --- queries ----------------------------------------------------------------------------------
#
# A filter is a tuple tree: ("all", [..]), ("any", [..]), ("not", f), ("is_null", field),
# ("is_not_null", field), (op, field, value) for eq / neq / gt / gte / lt / lte,
# (op, field, [values]) for is_in / not_in, ("between", field, lo, hi). Both the proto and the
# model's predicate are built from it.

def rand_leaf(rng):
    r = rng.randrange(16)
    if r == 0:
        return (rng.choice(("eq", "neq", "gt", "gte", "lt", "lte")), "grp",
                rng.choice(GRP_VALUES) + rng.choice((-1, 0, 0, 1)))
    if r == 1:
        return (rng.choice(("is_in", "not_in")), "grp", rng.sample(GRP_VALUES, rng.randint(0, 3)))
    if r == 2:
        lo = rng.choice(GRP_VALUES)
        return ("between", "grp", lo, lo + rng.choice((0, 1, 5, 1 << 41)))
    if r == 3:
        return (rng.choice(("eq", "neq")), "label", rng.choice(LABELS + ["zz"]))
    if r == 4:
        return (rng.choice(("is_in", "not_in")), "label", rng.sample(LABELS, rng.randint(0, 3)))
    if r == 5:
        return (rng.choice(("is_null", "is_not_null")), rng.choice(("label", "tags", "score",
                                                                    "rank", "grp", "id")))
    if r in (6, 7):
        return (rng.choice(("eq", "neq")), "tags", rng.randrange(NTAGS + 1))
    if r == 8:
        return (rng.choice(("is_in", "not_in")), "tags", rng.sample(range(NTAGS + 1),
                                                                    rng.randint(0, 4)))
    if r in (9, 10, 11):
        f = rng.choice(SORT_FIELDS)
        v = rng.choice((0, 1, 2, 3, 7, 1 << 31, MAX32 - 1, MAX32, rng.randrange(MAX32 + 1)))
        op = rng.choice(("eq", "neq", "gt", "gte", "lt", "lte", "between"))
        if op == "between":
            return ("between", f, v, rng.choice((v, MAX32, v + 1 if v < MAX32 else v, 3)))
        return (op, f, v)
    if r == 12:
        return (rng.choice(("is_in", "not_in")), rng.choice(SORT_FIELDS),
                rng.sample((0, 1, 2, 3, 7, MAX32), rng.randint(1, 3)))
    if r == 13:
        op = rng.choice(("gte", "lt", "between"))
        if op == "between":
            lo = rng.randrange(NBASE)
            return ("between", "id", lo, lo + rng.randrange(4000))
        return (op, "id", rng.choice((HOT, NBASE // 2, NBASE, 1 << 31, MAX32)))
    if r == 14:
        return ("is_in", "id", [rand_id(rng) for _ in range(rng.randint(1, 8))])
    return ("neq", "grp", 99)  # (nearly) everything


def rand_filter(rng, depth=0):
    r = rng.random()
    if depth < 2 and r < 0.3:
        return (rng.choice(("all", "any")), [rand_filter(rng, depth + 1)
                                             for _ in range(rng.randint(1, 3))])
    if depth < 2 and r < 0.4:
        return ("not", rand_filter(rng, depth + 1))
    return rand_leaf(rng)


def _value(field, v):
    T = PB.types
    return T.Value(string_value=v) if field == "label" else T.Value(int_value=v)


def filter_pb(t):
    F = PB.filter
    f = F.Filter()
    op = t[0]
    if op in ("all", "any"):
        lst = f.all_of if op == "all" else f.any_of
        lst.filters.extend([filter_pb(c) for c in t[1]])
    elif op == "not":
        f.negate.CopyFrom(filter_pb(t[1]))
    elif op in ("is_null", "is_not_null"):
        getattr(f, op).CopyFrom(F.FieldRef(field=t[1]))
    elif op in ("is_in", "not_in"):
        getattr(f, op).CopyFrom(F.FieldSet(field=t[1], values=[_value(t[1], v) for v in t[2]]))
    elif op == "between":
        f.between.CopyFrom(F.FieldRange(field=t[1], lo=_value(t[1], t[2]), hi=_value(t[1], t[3])))
    else:
        getattr(f, op).CopyFrom(F.FieldComparison(field=t[1], value=_value(t[1], t[2])))
    return f


def filter_pred(t):
    """The model's predicate pred(id, doc) for a filter tree (filter.proto semantics)."""
    op = t[0]
    if op == "all":
        ps = [filter_pred(c) for c in t[1]]
        return lambda i, d: all(p(i, d) for p in ps)
    if op == "any":
        ps = [filter_pred(c) for c in t[1]]
        return lambda i, d: any(p(i, d) for p in ps)
    if op == "not":
        p = filter_pred(t[1])
        return lambda i, d: not p(i, d)
    field = t[1]
    if op in ("is_null", "is_not_null"):
        want = op == "is_null"
        if field == "id":
            return lambda i, d: not want
        if field == "tags":
            return lambda i, d: (not d[2]) == want
        k = FIELD_POS[field]
        return lambda i, d: (d[k] is None) == want
    if field == "tags":  # multi-valued: contains / contains any / contains none (never null)
        if op == "eq":
            v = t[2]
            return lambda i, d: v in d[2]
        if op == "neq":
            v = t[2]
            return lambda i, d: bool(d[2]) and v not in d[2]
        vs = frozenset(t[2])
        if op == "is_in":
            return lambda i, d: not d[2].isdisjoint(vs)
        return lambda i, d: bool(d[2]) and d[2].isdisjoint(vs)
    if field == "id":
        get = lambda i, d: i  # noqa: E731
    else:
        k = FIELD_POS[field]
        get = lambda i, d: d[k]  # noqa: E731
    if op == "between":
        lo, hi = t[2], t[3]
        return lambda i, d: (lambda x: x is not None and lo <= x <= hi)(get(i, d))
    if op in ("is_in", "not_in"):
        vs = frozenset(t[2])
        want = op == "is_in"
        return lambda i, d: (lambda x: x is not None and (x in vs) == want)(get(i, d))
    v = t[2]
    cmp = {"eq": lambda x: x == v, "neq": lambda x: x != v, "gt": lambda x: x > v,
           "gte": lambda x: x >= v, "lt": lambda x: x < v, "lte": lambda x: x <= v}[op]
    return lambda i, d: (lambda x: x is not None and cmp(x))(get(i, d))


class Query:
    """A Search / Count query: filter tree (or None), sort (field or None, direction)."""

    def __init__(self, tree, sort_field=None, direction="none"):
        self.tree = tree
        self.pred = filter_pred(tree) if tree is not None else (lambda i, d: True)
        self.sort_field = sort_field
        self.direction = direction  # "asc", "desc", "unspecified", "none" (no sort message)
        self.desc = direction != "asc"
        self.sort_pos = FIELD_POS[sort_field] if sort_field in SORT_FIELDS else None
        self.key = (repr(tree), sort_field if direction != "none" else None, self.desc)

    def fill(self, req):
        if self.tree is not None:
            req.filter.CopyFrom(filter_pb(self.tree))
        if self.direction != "none":
            T = PB.types
            d = {"asc": T.SORT_DIRECTION_ASC, "desc": T.SORT_DIRECTION_DESC,
                 "unspecified": T.SORT_DIRECTION_UNSPECIFIED}[self.direction]
            req.sort.field = self.sort_field
            req.sort.direction = d

    def describe(self):
        return "filter %r sort %s %s" % (self.tree, self.sort_field, self.direction)


def rand_query(rng):
    tree = None if rng.random() < 0.12 else rand_filter(rng)
    r = rng.random()
    if r < 0.12:
        return Query(tree)
    if r < 0.3:
        return Query(tree, "id", rng.choice(("asc", "desc")))
    return Query(tree, rng.choice(SORT_FIELDS), rng.choice(("asc", "desc", "desc", "unspecified")))


# --- checking answers -------------------------------------------------------------------------

class Stats:
    def __init__(self):
        self.lock = threading.Lock()
        self.c = collections.Counter()
        self.snapshots = set()
        self.max_lag = 0

    def add(self, k, n=1):
        with self.lock:
            self.c[k] += n


class ReaderGone(Exception):
    """The reader was killed on purpose during the call (test_readers_crash)."""


class Client:
    """Query calls on one reader, checked against the model. `slot` (optional) tells whether
    the reader was killed on purpose: then errors end the query with ReaderGone."""

    def __init__(self, model, stats, name, addr, slot=None):
        self.model, self.stats, self.name = model, stats, name
        self.ch = channel(addr)
        self.slot = slot
        self.epoch = slot.epoch if slot else 0
        self.seen = 0  # highest snapshot_lsn seen from this reader process

    def close(self):
        self.ch.close()

    def call(self, method, req, resp_cls, retry_deadline=60):
        t_end = time.monotonic() + retry_deadline * SLOW
        while True:
            try:
                resp = qcall(self.ch, method, req, resp_cls)
            except grpc.RpcError as e:
                if self.slot is not None and self.slot.epoch != self.epoch:
                    raise ReaderGone()
                if e.code() == C.UNAVAILABLE and e.details().startswith("min_lsn:"):
                    self.stats.add("retries (min_lsn ahead)")
                    check(time.monotonic() < t_end, "%s %s: still UNAVAILABLE after %.0f s: %s",
                          self.name, method, retry_deadline * SLOW, e.details())
                    time.sleep(0.002)
                    continue
                raise Failure("%s %s failed: %s %s\nrequest: %s" % (
                    self.name, method, e.code(), e.details(), req))
            if self.slot is not None:
                self.slot.ok += 1
            lsn = resp.snapshot_lsn
            min_lsn = req.min_lsn
            check(lsn >= min_lsn, "%s %s: snapshot_lsn %d < min_lsn %d", self.name, method, lsn,
                  min_lsn)
            check(lsn >= self.seen, "%s %s: snapshot_lsn %d went back from %d", self.name, method,
                  lsn, self.seen)
            self.seen = lsn
            with self.stats.lock:
                self.stats.snapshots.add(lsn)
                self.stats.max_lag = max(self.stats.max_lag, self.model.last - lsn)
            return resp

    # -- Search with every page --

    def search(self, q, limit, min_lsn, include_total=False, with_fields=False, max_pages=None):
        S = PB.query
        cursor, prev, pages, seen_lsns = b"", None, 0, set()
        while True:
            req = S.SearchRequest(index=INDEX, limit=limit, cursor=cursor,
                                  include_total=include_total, min_lsn=min_lsn)
            q.fill(req)
            if with_fields:
                req.fields.append("note")
            resp = self.call("Search", req, S.SearchResponse)
            lsn = resp.snapshot_lsn
            seen_lsns.add(lsn)
            keys = self.model.ordered(lsn, q)
            start = 0 if prev is None else bisect.bisect_right(keys, hit_of(q, prev))
            n = limit or 50
            want = [hit_of(q, k) for k in keys[start:start + n]]
            got = [(h.sort_value, h.id) for h in resp.hits]
            if got != want:
                raise Failure("%s Search page %d at LSN %d differs from the model: %s\n"
                              "  %s, limit %d, after %s\n  got  %s\n  want %s" % (
                                  self.name, pages, lsn, first_diff(got, want), q.describe(),
                                  limit, prev, short(got), short(want)))
            more = start + n < len(keys)
            check(bool(resp.next_cursor) == more,
                  "%s Search page %d at LSN %d: next_cursor %s but %d further hits in the model "
                  "(%s)", self.name, pages, lsn, "set" if resp.next_cursor else "empty",
                  max(0, len(keys) - start - n), q.describe())
            if include_total:
                check(resp.HasField("total") and resp.total.value == len(keys),
                      "%s Search at LSN %d: total %s, model %d (%s)", self.name, lsn,
                      resp.total.value if resp.HasField("total") else "absent", len(keys),
                      q.describe())
            else:
                check(not resp.HasField("total"), "total present without include_total")
            if with_fields:
                st = self.model.state(lsn)
                for h in resp.hits:
                    got_f = [(f.field, f.value.WhichOneof("kind"), f.value.string_value)
                             for f in h.fields]
                    note = st[h.id][5]
                    self.stored_check(got_f, [("note", "string_value", note)] if note is not None
                                      else [], "Search hit %d at LSN %d" % (h.id, lsn))
            pages += 1
            self.stats.add("search pages")
            if not resp.next_cursor:
                break
            check(resp.hits, "%s Search: an empty page with a next_cursor" % self.name)
            prev, cursor = got[-1], resp.next_cursor
            if max_pages and pages >= max_pages:
                break
        self.stats.add("searches")
        if len(seen_lsns) > 1:
            self.stats.add("cursor chains across snapshots")
        return pages

    def stored_check(self, got, want, where):
        """Stored fields: exactly the model's."""
        if got == want:
            if want:
                self.stats.add("stored fields returned")
            return
        raise Failure("%s %s: stored fields %s, model %s" % (self.name, where, got, want))

    def count(self, q, min_lsn):
        S = PB.query
        req = S.CountRequest(index=INDEX, min_lsn=min_lsn)
        if q.tree is not None:
            req.filter.CopyFrom(filter_pb(q.tree))
        resp = self.call("Count", req, S.CountResponse)
        n = len(self.model.ordered(resp.snapshot_lsn, q))
        check(resp.count == n, "%s Count at LSN %d: %d, model %d (filter %r)", self.name,
              resp.snapshot_lsn, resp.count, n, q.tree)
        self.stats.add("counts")
        return resp

    def get_documents(self, ids, fields, min_lsn):
        S = PB.query
        req = S.GetDocumentsRequest(index=INDEX, ids=ids, fields=fields, min_lsn=min_lsn)
        resp = self.call("GetDocuments", req, S.GetDocumentsResponse)
        lsn = resp.snapshot_lsn
        st = self.model.state(lsn)
        order = list(dict.fromkeys(ids))
        want_ids = [i for i in order if i in st]
        want_missing = [i for i in order if i not in st]
        got_ids = [d.id for d in resp.documents]
        check(got_ids == want_ids and list(resp.missing_ids) == want_missing,
              "%s GetDocuments at LSN %d: documents %s missing %s, model %s / %s (ids %s)",
              self.name, lsn, short(got_ids), short(list(resp.missing_ids)), short(want_ids),
              short(want_missing), short(ids))
        names = list(dict.fromkeys(f for f in fields if f != "id"))
        for d in resp.documents:
            want_f, want_s, want_st = expected_fields(st[d.id], names, all_fields=not fields)
            got_f = [(f.field, frozenset(v.int_value for v in f.values) if f.field == "tags"
                      else (f.value.string_value if f.field == "label" else f.value.int_value))
                     for f in d.filter_fields]
            got_s = [(s.field, s.value) for s in d.sort_fields]
            if got_f != want_f or got_s != want_s:
                raise Failure("%s GetDocuments id %d at LSN %d (fields %s):\n  got  %s %s\n"
                              "  want %s %s" % (self.name, d.id, lsn, fields, got_f, got_s,
                                                want_f, want_s))
            got_st = [(f.field, f.value.WhichOneof("kind"), f.value.string_value)
                      for f in d.stored_fields]
            self.stored_check(got_st, want_st, "GetDocuments id %d at LSN %d" % (d.id, lsn))
        self.stats.add("get_documents")
        return resp


def expected_fields(doc, names, all_fields):
    """What GetDocuments returns for `doc` with `names` (all_fields: every field): filter fields
    and sort fields in request order (schema order for all), present values only."""
    if all_fields:
        names = list(FILTER_FIELDS) + list(SORT_FIELDS) + list(STORED_FIELDS)
    f, s, st = [], [], []
    for n in names:
        v = doc[FIELD_POS[n]]
        if n == "tags":
            if v:
                f.append((n, v))
        elif n in FILTER_FIELDS:
            if v is not None:
                f.append((n, v))
        elif n in SORT_FIELDS:
            if v is not None:
                s.append((n, v))
        elif v is not None:
            st.append((n, "string_value", v))
    return f, s, st


def short(xs, n=8):
    xs = list(xs)
    return "%s%s (%d)" % (xs[:n], " ..." if len(xs) > n else "", len(xs))


def first_diff(got, want):
    for k, (a, b) in enumerate(zip(got, want)):
        if a != b:
            return "first difference at hit %d: got %s, want %s" % (k, a, b)
    return "lengths %d vs %d" % (len(got), len(want))


def random_ids(rng):
    ids = [rand_id(rng) for _ in range(rng.randint(1, 40))]
    if rng.random() < 0.3:
        ids += ids[:3]  # repeats are answered once
    return ids


def random_fields(rng):
    if rng.random() < 0.4:
        return []
    names = list(FILTER_FIELDS + SORT_FIELDS + STORED_FIELDS + ("id",))
    return rng.sample(names, rng.randint(1, len(names)))


def random_query_call(rng, client, acked_lsn):
    """One random Search (all pages) / Count / GetDocuments with a random min_lsn <= acked_lsn."""
    r = rng.random()
    min_lsn = 0 if r < 0.2 else (acked_lsn if r < 0.6 else rng.randint(0, max(0, acked_lsn)))
    k = rng.random()
    if k < 0.55:
        limit = rng.choice((0, 1, 7, 50, 333, 1000))
        client.search(rand_query(rng), limit, min_lsn, include_total=rng.random() < 0.5,
                      with_fields=rng.random() < 0.2, max_pages=60)
    elif k < 0.8:
        client.count(Query(rand_filter(rng) if rng.random() < 0.9 else None), min_lsn)
    else:
        client.get_documents(random_ids(rng), random_fields(rng), min_lsn)


# --- whole-state checks -----------------------------------------------------------------------

def wait_lsn(client, lsn, timeout=60):
    """Polls Count with min_lsn = lsn until it succeeds; returns the seconds it took."""
    t0 = time.monotonic()
    client.call("Count", PB.query.CountRequest(index=INDEX, min_lsn=lsn), PB.query.CountResponse,
                retry_deadline=timeout)
    return time.monotonic() - t0


def check_converged(client, lsn):
    """The reader at exactly `lsn` (no writes after it): every document and a full walk."""
    st = client.model.state(lsn)
    wait_lsn(client, lsn)
    ids = sorted(st) + [NBASE + 700 + k for k in range(5)]
    for k in range(0, len(ids), 1000):
        resp = client.get_documents(ids[k:k + 1000], [], lsn)
        check(resp.snapshot_lsn == lsn, "%s: snapshot_lsn %d after the last write %d",
              client.name, resp.snapshot_lsn, lsn)
    for q in (Query(None, "score", "desc"), Query(None, "rank", "asc"), Query(None)):
        client.search(q, 1000, lsn, include_total=True)
    info = qcall(client.ch, "GetIndex", PB.schema.GetIndexRequest(index=INDEX),
                 PB.schema.GetIndexResponse).index
    check(info.document_count == len(st) and info.applied_lsn == lsn,
          "%s GetIndex: %d documents at LSN %d, model %d at %d", client.name, info.document_count,
          info.applied_lsn, len(st), lsn)
    return info


def stored_note(stats):
    got, missing = stats.c["stored fields returned"], stats.c["stored fields missing"]
    check(got > 0 and not missing, "stored fields returned %d times, missing %d times", got,
          missing)
    return "stored fields checked: %d" % got


def log_summary(procs):
    """Per process: generations switched to / published, and every warn or error line."""
    out = []
    for p in procs:
        text = p.text()
        out.append("%s: %d generations switched, %d published, %d opened" % (
            p.name, text.count('msg="generation switched"'),
            text.count('msg="generation published"'), text.count('msg="index opened"')))
        for line in text.splitlines():
            if ("level=warn" in line or "level=error" in line) and "no admin token" not in line:
                out.append("  [%s] %s" % (p.name, line))
    return "\n".join(out)


def pct(xs, q):
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(len(xs) * q))] * 1e3


# --- the run ----------------------------------------------------------------------------------

class Run:
    """Processes and state of one test run; everything started is killed in close()."""

    def __init__(self, opts, seed, tmp):
        self.opts, self.seed, self.tmp = opts, seed, tmp
        self.rng = random.Random(seed)
        self.model = Model()
        self.stats = Stats()
        self.data = os.path.join(tmp, "data")
        os.mkdir(self.data)
        self.procs = []
        self.failures = []
        self.stop = threading.Event()
        self.wlock = threading.Lock()  # one batch in flight at a time (see Model)
        self.batch_no = 0
        self.ack_time = 0.0
        self.generations = []

    def spawn(self, proc):
        self.procs.append(proc)
        return proc

    def close(self):
        self.stop.set()
        for p in self.procs:
            p.kill()

    def fail(self, e):
        self.failures.append(e)
        self.stop.set()

    def apply(self, ch, req):
        """Applies one batch and records it in the model; checks LSN and skipped_ops."""
        with self.wlock:
            self.model.begin(req)
            resp = wcall(ch, "Apply", req, PB.writer.ApplyResponse)
            self.ack_time = time.monotonic()
            check(not resp.duplicate, "batch %s: duplicate", req.batch_id)
            skipped = self.model.commit(resp.committed_lsn, req)
            check(resp.op_count == len(req.ops) and resp.skipped_ops == skipped,
                  "batch %s at LSN %d: op_count %d skipped_ops %d, model %d / %d", req.batch_id,
                  resp.committed_lsn, resp.op_count, resp.skipped_ops, len(req.ops), skipped)
            return resp.committed_lsn

    def next_batch(self, rng, nops=None):
        self.batch_no += 1
        return random_batch(rng, "b%d" % self.batch_no, nops)

    def guard(self, fn, *args):
        """Runs fn in a thread; a failure stops the run."""
        def body():
            try:
                fn(*args)
            except Exception as e:  # noqa: BLE001 (reported by the main thread)
                if not isinstance(e, Failure):
                    import traceback
                    e = Failure("%s: %s\n%s" % (fn.__name__, e, traceback.format_exc()))
                self.fail(e)
        t = threading.Thread(target=body, daemon=True)
        t.start()
        return t

    # -- workers --

    def writer_loop(self, addr, seed, until, max_batches, pause):
        rng = random.Random(seed)
        ch = channel(addr)
        try:
            n = 0
            while not self.stop.is_set() and time.monotonic() < until and n < max_batches:
                self.apply(ch, self.next_batch(rng))
                n += 1
                if pause:
                    time.sleep(rng.uniform(0, pause))
        finally:
            ch.close()

    def checkpoint_loop(self, addr, seed, until):
        rng = random.Random(seed)
        ch = channel(addr)
        try:
            while not self.stop.is_set() and time.monotonic() < until:
                self.stop.wait(rng.uniform(0.05, 0.8))
                before = self.model.last
                resp = wcall(ch, "Checkpoint", PB.writer.CheckpointRequest(index=INDEX),
                             PB.writer.CheckpointResponse, timeout=60)
                check(resp.checkpoint_lsn >= before,
                      "Checkpoint covers LSN %d, but LSN %d was acknowledged before the call",
                      resp.checkpoint_lsn, before)
                self.generations.append(resp.generation)
        finally:
            ch.close()

    def query_loop(self, name, addr, seed, until):
        rng = random.Random(seed)
        client = Client(self.model, self.stats, name, addr)
        try:
            while not self.stop.is_set() and time.monotonic() < until:
                random_query_call(rng, client, self.model.last)
                self.stats.add("queries " + name)
        finally:
            client.close()


def measure_latency(run, writer_addr, readers, n, rng):
    """Write -> visible: after each Apply ack, one thread per reader polls Count (no min_lsn)
    until snapshot_lsn >= the LSN. Returns {reader name: [seconds]}, [Count round trips]."""
    lat = {r.name: [] for r in readers}
    rtt = []
    lock = threading.Lock()
    target = [0, 0.0, 0]  # lsn, ack time, sequence
    go = threading.Condition(lock)
    done = threading.Semaphore(0)

    def poller(r):
        ch = channel(r.address)
        S = PB.query
        req = S.CountRequest(index=INDEX)
        seq = 0
        try:
            while True:
                with go:
                    while target[2] == seq and not run.stop.is_set():
                        go.wait(0.5)
                    if run.stop.is_set():
                        return
                    lsn, t_ack, seq = target
                if lsn == 0:
                    return
                while True:
                    t1 = time.monotonic()
                    resp = qcall(ch, "Count", req, S.CountResponse)
                    t2 = time.monotonic()
                    rtt.append(t2 - t1)
                    if resp.snapshot_lsn >= lsn:
                        lat[r.name].append(t2 - t_ack)
                        break
                done.release()
        finally:
            ch.close()

    threads = [run.guard(poller, r) for r in readers]
    ch = channel(writer_addr)
    try:
        for k in range(n):
            if run.stop.is_set():
                break
            req = PB.writer.ApplyRequest(index=INDEX, batch_id="lat-%d" % k)
            op = req.ops.add()
            if k % 2:
                op.set.id = rng.randrange(HOT)
                op.set.sort.CopyFrom(PB.types.SortFieldValue(field="score",
                                                             value=rand_sort_value(rng)))
            else:
                fill_document(rng, op.put.document, NBASE + 600 + rng.randrange(50), True)
            lsn = run.apply(ch, req)
            t_ack = run.ack_time  # when the reply arrived (before the model's bookkeeping)
            with go:
                target[:] = [lsn, t_ack, target[2] + 1]
                go.notify_all()
            for _ in readers:
                while not done.acquire(timeout=1):
                    check(not run.stop.is_set() and time.monotonic() - t_ack < 30 * SLOW,
                          "LSN %d never became visible on every reader", lsn)
            time.sleep(rng.uniform(0, 0.003))
    finally:
        with go:
            target[:] = [0, 0.0, target[2] + 1]
            go.notify_all()
        ch.close()
        for t in threads:
            t.join(10)
    return lat, rtt


def main():
    global PB
    ap = argparse.ArgumentParser()
    ap.add_argument("--writer", required=True)
    ap.add_argument("--reader", required=True)
    ap.add_argument("--proto-dir", required=True)
    opts = ap.parse_args()
    seed = int(os.environ.get("BITDEX_TEST_SEED", str(int(time.time() * 1000) % (1 << 31))))
    duration = float(os.environ.get("BITDEX_READERS_SECONDS", "25"))
    nlat = int(os.environ.get("BITDEX_READERS_LATENCY_WRITES", "500"))
    tmp = tempfile.mkdtemp(prefix="bitdex-it-readers-")
    run = None
    t_start = time.monotonic()
    try:
        PB = bitdex_proc.generate_messages(opts.proto_dir, os.path.join(tmp, "py"))
        run = Run(opts, seed, tmp)
        rng = run.rng
        print("seed %d" % seed, flush=True)
        writer = run.spawn(Writer(opts.writer, run.data))
        writer.wait_serving()
        wch = channel(writer.address)
        create_index(wch)
        # reader A follows the index from empty; B starts on the loaded data
        ra = run.spawn(Reader(opts.reader, run.data, writer.address, "reader-a"))
        t_a = ra.wait_serving()
        for req in base_batches(rng):
            run.apply(wch, req)
        ck = wcall(wch, "Checkpoint", PB.writer.CheckpointRequest(index=INDEX),
                   PB.writer.CheckpointResponse, timeout=60)
        for _ in range(20):  # a WAL tail after the generation
            run.apply(wch, run.next_batch(rng))
        rb = run.spawn(Reader(opts.reader, run.data, writer.address, "reader-b"))
        t_b = rb.wait_serving()
        ca = Client(run.model, run.stats, "reader-a", ra.address)
        cb = Client(run.model, run.stats, "reader-b", rb.address)
        sb = cb.count(Query(None), 0)
        check(sb.snapshot_lsn == run.model.last, "reader-b SERVING at LSN %d, writer at %d",
              sb.snapshot_lsn, run.model.last)
        wait_lsn(ca, run.model.last)
        print("base: %d documents, LSN %d, generation %d at LSN %d; reader-a SERVING in %.0f ms "
              "(empty index), reader-b in %.0f ms"
              % (len(run.model.head), run.model.last, ck.generation, ck.checkpoint_lsn,
                 t_a * 1e3, t_b * 1e3), flush=True)

        # -- the workload --
        until = time.monotonic() + duration  # timeouts scale with SLOW, the workload does not
        threads = [run.guard(run.writer_loop, writer.address, rng.random(), until, 4000, 0.004),
                   run.guard(run.checkpoint_loop, writer.address, rng.random(), until),
                   run.guard(run.query_loop, "reader-a", ra.address, rng.random(), until),
                   run.guard(run.query_loop, "reader-b", rb.address, rng.random(), until)]
        for t in threads:
            t.join(duration + 120 * SLOW)
            check(not t.is_alive(), "a worker thread hangs")
        if run.failures:
            raise run.failures[0]
        last = run.model.last
        print("workload: LSN %d, %d documents, %d Checkpoint RPCs (generations up to %d), "
              "%d background+RPC generations published; %s; %d distinct snapshots served, "
              "max lag %d batches"
              % (last, len(run.model.head), len(run.generations), max(run.generations or [0]),
                 writer.text().count("generation published"),
                 ", ".join("%s %d" % kv for kv in sorted(run.stats.c.items())),
                 len(run.stats.snapshots), run.stats.max_lag), flush=True)
        check(run.stats.c["search pages"] > 0 and run.stats.c["counts"] > 0 and
              run.stats.c["get_documents"] > 0, "too few queries ran")

        # -- write -> visible latency --
        lat, rtt = measure_latency(run, writer.address, [ra, rb], nlat, rng)
        if run.failures:
            raise run.failures[0]
        for name in sorted(lat):
            xs = lat[name]
            print("write -> visible on %s over %d writes: p50 %.2f ms, p99 %.2f ms, max %.2f ms "
                  "(target p99 <= 10 ms)" % (name, len(xs), pct(xs, 0.5),
                                                          pct(xs, 0.99), pct(xs, 1.0)), flush=True)
            check(pct(xs, 0.99) < 2000 * SLOW, "%s: p99 write -> visible above 2 s", name)
        print("Count round trip (polls): p50 %.2f ms, p99 %.2f ms over %d calls"
              % (pct(rtt, 0.5), pct(rtt, 0.99), len(rtt)), flush=True)

        # -- convergence --
        last = run.model.last
        for c in (ca, cb):
            info = check_converged(c, last)
            # generations were published all along: the reader switched to them
            check(info.generation > 0 and 0 < info.checkpoint_lsn <= last,
                  "reader GetIndex: generation %d, checkpoint LSN %d (last LSN %d)",
                  info.generation, info.checkpoint_lsn, last)
            check(info.committed_lsn >= last, "reader GetIndex: committed LSN %d < %d",
                  info.committed_lsn, last)
        ca.close()
        cb.close()
        gens = sorted(os.listdir(os.path.join(run.data, "indexes", INDEX)))
        print("converged: both readers at LSN %d with %d documents (reader generation %d, "
              "checkpoint LSN %d); %s; index dir: %s"
              % (last, len(run.model.state(last)), info.generation, info.checkpoint_lsn,
                 stored_note(run.stats), " ".join(gens)), flush=True)

        # -- reader start -> SERVING on the final data set --
        rc = run.spawn(Reader(opts.reader, run.data, writer.address, "reader-c"))
        t_c = rc.wait_serving()
        cc = Client(run.model, run.stats, "reader-c", rc.address)
        s = cc.count(Query(None), 0)
        check(s.snapshot_lsn == last, "reader-c SERVING at LSN %d, writer at %d", s.snapshot_lsn,
              last)
        check_converged(cc, last)
        cc.close()
        print("reader start -> SERVING on %d documents (LSN %d): %.0f ms"
              % (len(run.model.state(last)), last, t_c * 1e3), flush=True)
        wch.close()
        print(log_summary(run.procs))
        print("ok: seed %d, %.1f s" % (seed, time.monotonic() - t_start))
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

#!/usr/bin/python3
"""reader_probe.py: start-up time and memory of the real bitdex-reader on a data directory.

    reader_probe.py --reader BIN --data-dir DIR [--params DIR] [--starts 3] [--cold]
                    [--pair] [--json FILE]

Run with Debian's /usr/bin/python3 (grpcio); messages are hand-encoded (no generated code).

Start time: from just before exec (subprocess.Popen) to the first grpc.health.v1.Health/Check
for bitdex.v1.Query answering SERVING, polled every 5 ms (the bound port comes from the
reader's "started port=..." log line; --listen 127.0.0.1:0, --writer "" = polling only). The
reader's own "index opened ... ms=" figure (verified open + the replica pair's two loads) is
recorded too, and its open_ms= part (the verified generation_open) when the reader logs it.
--starts N starts, one at a time, each stopped by SIGTERM to its pid.

--cold: before each start, evict the data directory's files from the page cache with
posix_fadvise(POSIX_FADV_DONTNEED) (only those files: the machine is shared), and record how
much of the generation stayed resident (fincore).

Memory (after the last start, and with --pair two readers at once): /proc/<pid>/smaps_rollup and
the generation mapping's lines in /proc/<pid>/smaps, right after SERVING and again after a
handful of Search calls through gRPC (parameters from --params, the bench data's params/).
"""
import argparse
import json
import os
import re
import signal
import subprocess
import sys
import threading
import time

import grpc

SERVICE = "bitdex.v1.Query"


# ---- protobuf encoding by hand -------------------------------------------------------------
def varint(n):
    out = bytearray()
    n &= (1 << 64) - 1
    while True:
        b = n & 0x7F
        n >>= 7
        if n:
            out.append(b | 0x80)
        else:
            out.append(b)
            return bytes(out)


def fld(num, payload):  # length-delimited field
    return varint(num << 3 | 2) + varint(len(payload)) + payload


def fint(num, v):
    return varint(num << 3) + varint(v)


def s(num, text):
    return fld(num, text.encode())


def val_int(v):
    return fint(1, v)


def val_str(v):
    return s(3, v)


def f_cmp(kind, field, value):  # Filter{eq=1 / gte=6: FieldComparison{field, value}}
    return fld(kind, s(1, field) + fld(2, value))


def f_set(kind, field, values):  # Filter{is_in=3 / not_in=4: FieldSet{field, values}}
    return fld(kind, s(1, field) + b"".join(fld(2, v) for v in values))


def f_all(filters):  # Filter{all_of=12: FilterList{filters=1}}
    return fld(12, b"".join(fld(1, f) for f in filters))


def f_not(f):
    return fld(14, f)


def search_req(filt=None, sort=None, desc=True, limit=50, total=False):
    b = s(1, "images")
    if filt is not None:
        b += fld(2, filt)
    if sort is not None:
        b += fld(3, s(1, sort) + fint(2, 2 if desc else 1))
    b += fint(4, limit)
    if total:
        b += fint(6, 1)
    return b


def count_hits(resp):
    """Number of field-1 entries (hits) in a SearchResponse."""
    i, n = 0, 0
    while i < len(resp):
        key, i = read_varint(resp, i)
        wt = key & 7
        if wt == 0:
            _, i = read_varint(resp, i)
        elif wt == 2:
            ln, i = read_varint(resp, i)
            if key >> 3 == 1:
                n += 1
            i += ln
        elif wt == 1:
            i += 8
        elif wt == 5:
            i += 4
        else:
            break
    return n


def read_varint(b, i):
    n, shift = 0, 0
    while True:
        c = b[i]
        i += 1
        n |= (c & 0x7F) << shift
        shift += 7
        if not c & 0x80:
            return n, i


def load_params(dirname, name, lines):
    out = []
    try:
        with open(os.path.join(dirname, name + ".txt")) as f:
            for line in f:
                if line.startswith("#") or not line.strip():
                    continue
                out.append(dict(kv.split("=", 1) for kv in line.strip().split("\t")))
                if len(out) >= lines:
                    break
    except OSError:
        pass
    return out


def ints(text):
    return [int(x) for x in text.split(",") if x]


def queries(params_dir, lines=5):
    """A handful of the benchmark's shapes as SearchRequests."""
    qs = []
    for p in load_params(params_dir, "Q1", lines):
        qs.append(search_req(f_all([f_set(4, "nsfwLevel", [val_int(v) for v in ints(p["nsfw_not_in"])]),
                                    f_not(f_set(3, "tagIds", [val_int(v) for v in ints(p["hidden"])]))]),
                             "sortAt"))
    for shape in ("Q2hot", "Q2mid", "Q2rare"):
        for p in load_params(params_dir, shape, lines):
            qs.append(search_req(f_all([f_cmp(1, "tagIds", val_int(int(p["tag"]))),
                                        f_set(3, "nsfwLevel", [val_int(v) for v in ints(p["nsfw_in"])])]),
                                 "reactionCount"))
    for p in load_params(params_dir, "Q3", lines):
        qs.append(search_req(f_cmp(1, "userId", val_int(int(p["user"])))))
    for p in load_params(params_dir, "Q5", lines):
        qs.append(search_req(f_all([f_set(3, "tagIds", [val_int(v) for v in ints(p["tags"])]),
                                    f_set(4, "nsfwLevel", [val_int(v) for v in ints(p["nsfw_not_in"])])]),
                             "reactionCount", total=True))
    for p in load_params(params_dir, "Q7", lines):
        qs.append(search_req(f_all([f_cmp(6, "sortAt", val_int(int(p["sortAt_gte"]))),
                                    f_cmp(1, "nsfwLevel", val_int(int(p["nsfw"])))]),
                             "reactionCount"))
    if not qs:  # no params: generic queries
        qs = [search_req(None, "sortAt"), search_req(f_cmp(1, "nsfwLevel", val_int(1)), "reactionCount",
                                                     total=True)]
    return qs


# ---- memory --------------------------------------------------------------------------------
def rollup(pid):
    out = {}
    with open("/proc/%d/smaps_rollup" % pid) as f:
        for line in f:
            m = re.match(r"(\w+):\s+(\d+) kB", line)
            if m:
                out[m.group(1)] = int(m.group(2)) * 1024
    return out


def gen_mapping(pid):
    """Sums of the smaps fields over the mappings of generation files (path has /gen-N/)."""
    tot, cur = {}, False
    with open("/proc/%d/smaps" % pid) as f:
        for line in f:
            if re.match(r"^[0-9a-f]+-[0-9a-f]+ ", line):
                parts = line.split(None, 5)
                path = parts[5].strip() if len(parts) > 5 else ""
                cur = re.search(r"/gen-\d+/(base|delta)$", path) is not None
                continue
            if cur:
                m = re.match(r"(\w+):\s+(\d+) kB", line)
                if m:
                    tot[m.group(1)] = tot.get(m.group(1), 0) + int(m.group(2)) * 1024
    return tot


def memory(pid):
    r, g = rollup(pid), gen_mapping(pid)
    priv = r.get("Private_Clean", 0) + r.get("Private_Dirty", 0)
    gpriv = g.get("Private_Clean", 0) + g.get("Private_Dirty", 0)
    return {
        "rss": r.get("Rss", 0), "pss": r.get("Pss", 0), "anonymous": r.get("Anonymous", 0),
        "private": priv, "private_clean": r.get("Private_Clean", 0),
        "private_dirty": r.get("Private_Dirty", 0), "shared_clean": r.get("Shared_Clean", 0),
        "private_not_gen": priv - gpriv,
        "gen_size": g.get("Size", 0), "gen_rss": g.get("Rss", 0), "gen_pss": g.get("Pss", 0),
        "gen_private_clean": g.get("Private_Clean", 0), "gen_private_dirty": g.get("Private_Dirty", 0),
        "gen_shared_clean": g.get("Shared_Clean", 0),
    }


# ---- one reader ----------------------------------------------------------------------------
class Reader:
    def __init__(self, binary, data_dir):
        self.port = None
        self.opened_ms = None
        self.open_ms = None  # of which the verified generation_open (newer readers log it)
        self.lines = []
        self.t0 = time.monotonic()
        self.proc = subprocess.Popen([binary, "--data-dir", data_dir, "--writer", "",
                                      "--listen", "127.0.0.1:0", "--log-level", "info"],
                                     stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                     stderr=subprocess.STDOUT, start_new_session=True)
        self.got_port = threading.Event()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self):
        for raw in self.proc.stdout:
            line = raw.decode(errors="replace").rstrip()
            self.lines.append(line)
            m = re.search(r"msg=started port=(\d+)", line)
            if m and self.port is None:
                self.port = int(m.group(1))
                self.got_port.set()
            m = re.search(r"msg=\"?index opened\"? .*ms=(\d+)", line)
            if m:
                self.opened_ms = int(m.group(1))
                m = re.search(r" open_ms=(\d+)", line)
                self.open_ms = int(m.group(1)) if m else None

    def wait_serving(self, limit=120.0):
        deadline = self.t0 + limit
        while not self.got_port.wait(0.005):
            if self.proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError("reader exited or no port:\n" + "\n".join(self.lines[-20:]))
        self.ch = grpc.insecure_channel("127.0.0.1:%d" % self.port,
                                        options=[("grpc.enable_http_proxy", 0)])
        check = self.ch.unary_unary("/grpc.health.v1.Health/Check",
                                    request_serializer=lambda x: x,
                                    response_deserializer=lambda b: b[1] if len(b) >= 2 and b[0] == 8 else 0)
        req = s(1, SERVICE)
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError("reader exited:\n" + "\n".join(self.lines[-20:]))
            try:
                if check(req, timeout=1) == 1:
                    self.serving_s = time.monotonic() - self.t0
                    return self.serving_s
            except grpc.RpcError:
                pass
            time.sleep(0.005)
        raise RuntimeError("not SERVING after %.0f s" % limit)

    def search_all(self, qs):
        call = self.ch.unary_unary("/bitdex.v1.Query/Search", request_serializer=lambda x: x,
                                   response_deserializer=lambda b: b)
        hits, t0 = 0, time.monotonic()
        for q in qs:
            hits += count_hits(call(q, timeout=10))
        return hits, time.monotonic() - t0

    def stop(self):
        try:
            self.ch.close()
        except Exception:
            pass
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


def data_files(data_dir):
    for root, _, files in os.walk(data_dir):
        for name in files:
            yield os.path.join(root, name)


def evict(data_dir):
    for p in data_files(data_dir):
        try:
            fd = os.open(p, os.O_RDONLY)
        except OSError:
            continue
        try:
            os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
        finally:
            os.close(fd)


def resident(data_dir):
    """Bytes of the generation files resident in the page cache (fincore), or None."""
    files = [p for p in data_files(data_dir) if re.search(r"/gen-\d+/(base|delta)$", p)]
    try:
        out = subprocess.run(["fincore", "--bytes", "--noheadings", "--output", "RES"] + files,
                             capture_output=True, text=True, check=True).stdout
        return sum(int(x) for x in out.split())
    except (OSError, subprocess.CalledProcessError, ValueError):
        return None


def median(v):
    v = sorted(v)
    n = len(v)
    return v[n // 2] if n % 2 else (v[n // 2 - 1] + v[n // 2]) / 2


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--reader", required=True)
    ap.add_argument("--data-dir", required=True)
    ap.add_argument("--params")
    ap.add_argument("--starts", type=int, default=3)
    ap.add_argument("--cold", action="store_true")
    ap.add_argument("--pair", action="store_true")
    ap.add_argument("--json")
    a = ap.parse_args()

    qs = queries(a.params) if a.params else queries("/nonexistent")
    res = {"data_dir": a.data_dir, "cache": "cold (posix_fadvise DONTNEED of the data dir)" if a.cold
           else "warm", "starts": [], "loadavg_before": open("/proc/loadavg").read().strip()}
    for i in range(a.starts):
        before = None
        if a.cold:
            evict(a.data_dir)
            before = resident(a.data_dir)
        r = Reader(a.reader, a.data_dir)
        try:
            t = r.wait_serving()
            st = {"serving_s": round(t, 4), "index_opened_ms": r.opened_ms,
                  "generation_open_ms": r.open_ms, "gen_resident_before": before}
            if i == a.starts - 1:
                st["mem_serving"] = memory(r.proc.pid)
                hits, qt = r.search_all(qs)
                st["queries"], st["hits"], st["query_s"] = len(qs), hits, round(qt, 4)
                st["mem_after_queries"] = memory(r.proc.pid)
            res["starts"].append(st)
            print("start %d: SERVING after %.3f s (index opened in %s ms)" % (i + 1, t, r.opened_ms),
                  file=sys.stderr)
        finally:
            r.stop()
    res["serving_median_s"] = median([x["serving_s"] for x in res["starts"]])
    if a.pair:
        rs = [Reader(a.reader, a.data_dir), Reader(a.reader, a.data_dir)]
        try:
            res["pair"] = []
            for r in rs:
                r.wait_serving()
            for r in rs:
                hits, qt = r.search_all(qs)
            for r in rs:
                res["pair"].append({"serving_s": round(r.serving_s, 4), "queries": len(qs), "hits": hits,
                                    "mem_after_queries": memory(r.proc.pid)})
        finally:
            for r in rs:
                r.stop()
    res["loadavg_after"] = open("/proc/loadavg").read().strip()
    text = json.dumps(res, indent=1)
    if a.json:
        with open(a.json, "w") as f:
            f.write(text + "\n")
    print(text)


if __name__ == "__main__":
    main()

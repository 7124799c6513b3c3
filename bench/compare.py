#!/usr/bin/env python3
"""compare: side-by-side Markdown of bitdex-bench-engine and peer results (same data set).

    bench/compare.py ENGINE.json PEER.json [PEER.json ...] > comparison.md

For each shape: bitdex p50/p99, each peer's p50/p99, and the ratios peer / bitdex at p50 and p99.
The engine runs in process; peers include their client round trip (the JSON says how each
was measured). Standard library only.
"""
import json
import os
import sys


def main(argv):
    if len(argv) < 3:
        sys.stderr.write(__doc__)
        return 2
    with open(argv[1]) as f:
        eng = json.load(f)
    peers = []
    for p in argv[2:]:
        with open(p) as f:
            peer = json.load(f)
        # Label by file name: two runs of one peer (e.g. another config) stay apart.
        peer["label"] = os.path.splitext(os.path.basename(p))[0]
        peers.append(peer)
    docs = eng["data"]["docs"]
    print(f"# bitdex vs peers: {docs:,} documents\n")
    print(f"- bitdex: {eng['mode']}; correctness gate: "
          f"{'pass' if eng['correct'] else 'FAIL'}; {eng['date']}")
    for p in peers:
        print(f"- {p['label']}: {p.get('peer', '?')} {p.get('server_version', '')}, {p['mode']}; "
              f"correctness gate: {'pass' if p['correct'] else 'FAIL'}; load {p.get('load_s', -1):.0f} s")
    head = "| shape | bitdex p50 µs | bitdex p99 µs | bitdex cpu p99 µs |"
    rule = "|---|---:|---:|---:|"
    for p in peers:
        name = p["label"]
        head += f" {name} p50 µs | {name} p99 µs | p50 ratio | p99 ratio |"
        rule += "---:|---:|---:|---:|"
    def load(m, key):
        return " ".join(m.get(key, "?").split()[:3])
    print("\nRatios are peer / bitdex (above 1: bitdex is faster). Load average (1/5/15 min) "
          f"during the bitdex run: {load(eng['machine'], 'loadavg_before')} → "
          f"{load(eng['machine'], 'loadavg_after')}; timings on an overloaded 2-core machine "
          "inflate p99 most. bitdex cpu p99 = the thread's CPU time per query, which leaves "
          "out waiting for a core (the peer's client-side CPU time would say nothing).")
    print("\n" + head + "\n" + rule)
    by_name = [{s["name"]: s for s in p["shapes"]} for p in peers]
    for s in eng["shapes"]:
        cpu = s.get("cpu_p99_us")
        cpu_text = f"{cpu:.1f}" if cpu is not None else "–"
        row = f"| {s['name']} | {s['p50_us']:.1f} | {s['p99_us']:.1f} | {cpu_text} |"
        for m in by_name:
            ps = m.get(s["name"])
            if ps is None:
                row += " – | – | – | – |"
                continue
            r50 = ps["p50_us"] / s["p50_us"] if s["p50_us"] > 0 else 0
            r99 = ps["p99_us"] / s["p99_us"] if s["p99_us"] > 0 else 0
            row += f" {ps['p50_us']:.1f} | {ps['p99_us']:.1f} | {r50:.1f}× | {r99:.1f}× |"
        print(row)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))

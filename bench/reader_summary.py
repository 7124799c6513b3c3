#!/usr/bin/python3
"""reader_summary.py STORAGE.json READER.json...: Markdown of bench/reader_probe.py results."""
import json
import sys

MB = 1e6


def med(v):
    v = sorted(v)
    n = len(v)
    return v[n // 2] if n % 2 else (v[n // 2 - 1] + v[n // 2]) / 2


def main():
    st = json.load(open(sys.argv[1]))
    docs = st["data"]["docs"]
    runs = [(p, json.load(open(p))) for p in sys.argv[2:]]
    print("\n## Reader start (real bitdex-reader, exec -> health bitdex.v1.Query SERVING)\n")
    print("| data dir | page cache | starts (s) | median s | reader's own 'index opened' ms (median) |"
          "\n|---|---|---|---:|---:|")
    for p, r in runs:
        kind = "gen-2 (base + delta)" if r["data_dir"].rstrip("/").endswith("delta") else "gen-1 (base)"
        s = [x["serving_s"] for x in r["starts"]]
        o = [x["index_opened_ms"] for x in r["starts"] if x["index_opened_ms"] is not None]
        print("| %s | %s | %s | %.3f | %s |" % (kind, "cold" if r["cache"].startswith("cold") else "warm",
                                               " / ".join("%.3f" % x for x in s), med(s),
                                               "%.0f" % med(o) if o else "-"))
    print("\nReader memory (/proc/<pid>/smaps_rollup and the generation mapping's smaps lines; "
          "MB; private share = anonymous / mapped generation size):\n")
    print("| data dir | reader | when | anonymous | private (all) | gen mapped | gen Rss | gen Pss |"
          " gen shared | anonymous / mapped |\n|---|---|---|---:|---:|---:|---:|---:|---:|---:|")
    for p, r in runs:
        if r["cache"].startswith("cold"):
            continue
        kind = "delta" if r["data_dir"].rstrip("/").endswith("delta") else "base"
        last = r["starts"][-1]
        rows = [("alone", "SERVING", last.get("mem_serving")),
                ("alone", "after %d Search" % last.get("queries", 0), last.get("mem_after_queries"))]
        for i, x in enumerate(r.get("pair", [])):
            rows.append(("pair #%d" % (i + 1), "after %d Search" % x["queries"], x["mem_after_queries"]))
        for who, when, m in rows:
            if not m:
                continue
            print("| %s | %s | %s | %.1f | %.1f | %.1f | %.1f | %.1f | %.1f | %.1f %% |" % (
                kind, who, when, m["anonymous"] / MB, m["private"] / MB, m["gen_size"] / MB,
                m["gen_rss"] / MB, m["gen_pss"] / MB, m["gen_shared_clean"] / MB,
                100.0 * m["anonymous"] / max(m["gen_size"], 1)))
    print("\n%d documents. Load average during the reader runs: %s" % (
        docs, "; ".join(r["loadavg_before"].split(" ")[0] + "->" + r["loadavg_after"].split(" ")[0]
                        for _, r in runs)))


if __name__ == "__main__":
    main()

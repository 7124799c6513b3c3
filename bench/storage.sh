#!/bin/sh
# bench/storage.sh: durability and reader benchmark (docs/benchmarks.md "Durability and readers").
#
#   bench/storage.sh [--docs N] [--data DIR] [--out DIR] [--build DIR] [--writes 3] [--starts 3]
#                    [--no-cold]
#
# 1. Builds bitdex-bench-storage and bitdex-reader (Release, in build-bench/ unless --build).
# 2. bitdex-bench-storage on DIR (default .bench-data/<label>/, made by bench/run.sh): full and
#    delta generation writes, load times (open, verified open, load), writer memory per document.
#    It leaves two data directories bitdex-reader serves: OUT/base (gen-1) and OUT/delta
#    (gen-2 = gen-1's base hard-linked + a delta of 1 % changed documents).
# 3. bench/reader_probe.py on each: --starts starts of the real bitdex-reader, time from exec to
#    health bitdex.v1.Query SERVING (page cache warm, then cold unless --no-cold: the data dir's
#    files evicted with posix_fadvise DONTNEED), then two readers at once; memory from
#    /proc/<pid>/smaps_rollup and smaps after SERVING and after a handful of Search calls.
# Results: bench/results/storage-<label>.{json,md} and reader-<label>-{base,delta}[-cold].json.
# OUT defaults to build-bench/storage-<label> (a few GB at 10M; removed by the next run).
set -eu

ROOT=$(cd "$(dirname "$0")/.." && pwd)
DOCS=1000000
DATA=""
OUT=""
BUILD="$ROOT/build-bench"
WRITES=3
STARTS=3
COLD=1
while [ $# -gt 0 ]; do
    case "$1" in
    --docs) DOCS=$2; shift 2 ;;
    --data) DATA=$2; shift 2 ;;
    --out) OUT=$2; shift 2 ;;
    --build) BUILD=$2; shift 2 ;;
    --writes) WRITES=$2; shift 2 ;;
    --starts) STARTS=$2; shift 2 ;;
    --no-cold) COLD=0; shift ;;
    -h|--help) sed -n '2,18p' "$0"; exit 0 ;;
    *) echo "storage.sh: unknown argument $1" >&2; exit 2 ;;
    esac
done

if [ $((DOCS % 1000000)) -eq 0 ]; then LABEL="$((DOCS / 1000000))M"
elif [ $((DOCS % 1000)) -eq 0 ]; then LABEL="$((DOCS / 1000))K"
else LABEL=$DOCS; fi
[ -n "$DATA" ] || DATA="$ROOT/.bench-data/$LABEL"
[ -n "$OUT" ] || OUT="$BUILD/storage-$LABEL"
RESULTS="$ROOT/bench/results"
PY=/usr/bin/python3 # Debian's python3 with grpcio
if [ ! -f "$DATA/images.csv" ]; then
    echo "storage.sh: no data in $DATA (run bench/run.sh --docs $DOCS first, or pass --data)" >&2
    exit 2
fi

echo "== build ($BUILD)"
cmake -S "$ROOT" -B "$BUILD" -DBITDEX_BUILD_TESTS=OFF -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build "$BUILD" -j2 --target bitdex-bench-storage bitdex-reader
READER="$BUILD/services/reader/bitdex-reader"

mkdir -p "$RESULTS" "$OUT"
echo "== writes, loads, writer memory ($DATA -> $OUT)"
"$BUILD/bench/bitdex-bench-storage" --data "$DATA" --out "$OUT" --writes "$WRITES" \
    --json "$RESULTS/storage-$LABEL.json" --md "$RESULTS/storage-$LABEL.md"

for kind in base delta; do
    echo "== reader on $OUT/$kind: $STARTS warm starts, then two readers at once"
    "$PY" "$ROOT/bench/reader_probe.py" --reader "$READER" --data-dir "$OUT/$kind" \
        --params "$DATA/params" --starts "$STARTS" --pair \
        --json "$RESULTS/reader-$LABEL-$kind.json" >/dev/null
    if [ "$COLD" = 1 ]; then
        echo "== reader on $OUT/$kind: $STARTS cold starts"
        "$PY" "$ROOT/bench/reader_probe.py" --reader "$READER" --data-dir "$OUT/$kind" \
            --params "$DATA/params" --starts "$STARTS" --cold \
            --json "$RESULTS/reader-$LABEL-$kind-cold.json" >/dev/null
    fi
done
"$PY" "$ROOT/bench/reader_summary.py" "$RESULTS/storage-$LABEL.json" \
    "$RESULTS"/reader-"$LABEL"-*.json >> "$RESULTS/storage-$LABEL.md"
cat "$RESULTS/storage-$LABEL.md"

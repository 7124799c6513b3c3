#!/bin/sh
# bench/run.sh: one command for the in-process engine benchmark.
#
#   bench/run.sh [--docs N] [--seed S] [--tags-per-doc T] [--runs R] [--check C] [--queries Q]
#                [--with-postgres]
#
# Builds bitdex-datagen and bitdex-bench-engine (Release, in build-bench/), generates the data
# set into .bench-data/<label>/ unless an identical one is already there (git-ignored), runs the
# benchmark and writes bench/results/engine-<label>.json and .md (<label>: 1M, 10M, 250K, ...).
# --with-postgres then runs bench/peer_postgres.sh on the same data (postgres-<label>.json) and
# writes the side-by-side table compare-<label>.md.
# Exit status: 1 when a correctness gate fails.
set -eu

ROOT=$(cd "$(dirname "$0")/.." && pwd)
DOCS=1000000
SEED=42
TAGS=12
RUNS=5
CHECK=10
QUERIES=100
PG=0
while [ $# -gt 0 ]; do
    case "$1" in
    --docs) DOCS=$2; shift 2 ;;
    --seed) SEED=$2; shift 2 ;;
    --tags-per-doc) TAGS=$2; shift 2 ;;
    --runs) RUNS=$2; shift 2 ;;
    --check) CHECK=$2; shift 2 ;;
    --queries) QUERIES=$2; shift 2 ;;
    --with-postgres) PG=1; shift ;;
    -h|--help) sed -n '2,13p' "$0"; exit 0 ;;
    *) echo "run.sh: unknown argument $1" >&2; exit 2 ;;
    esac
done

if [ $((DOCS % 1000000)) -eq 0 ]; then LABEL="$((DOCS / 1000000))M"
elif [ $((DOCS % 1000)) -eq 0 ]; then LABEL="$((DOCS / 1000))K"
else LABEL=$DOCS; fi
if [ "$SEED" != 42 ] || [ "$TAGS" != 12 ]; then LABEL="$LABEL-s$SEED-t$TAGS"; fi

BUILD="$ROOT/build-bench"
DATA="$ROOT/.bench-data/$LABEL"
RESULTS="$ROOT/bench/results"

echo "== build ($BUILD)"
cmake -S "$ROOT" -B "$BUILD" -DBITDEX_BUILD_TESTS=OFF -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build "$BUILD" -j2 --target bitdex-datagen bitdex-bench-engine

# The data set is reused only when it was made by the same generator arguments.
# The stamp includes the generator binary's checksum, so a changed generator regenerates.
GEN_SUM=$(md5sum < "$BUILD/bench/bitdex-datagen" | cut -c1-12)
STAMP="datagen $GEN_SUM --docs $DOCS --seed $SEED --tags-per-doc $TAGS --queries $QUERIES"
if [ -f "$DATA/.stamp" ] && [ "$(cat "$DATA/.stamp")" = "$STAMP" ] && [ -f "$DATA/datagen.json" ]; then
    echo "== data: reusing $DATA"
else
    echo "== data: generating $DATA"
    rm -rf "$DATA"
    mkdir -p "$DATA"
    "$BUILD/bench/bitdex-datagen" --docs "$DOCS" --seed "$SEED" --tags-per-doc "$TAGS" \
        --queries "$QUERIES" --out "$DATA"
    echo "$STAMP" > "$DATA/.stamp"
fi

mkdir -p "$RESULTS"
echo "== engine benchmark"
STATUS=0
"$BUILD/bench/bitdex-bench-engine" --data "$DATA" --runs "$RUNS" --check "$CHECK" \
    --out "$RESULTS/engine-$LABEL.json" --md "$RESULTS/engine-$LABEL.md" || STATUS=$?
echo "== wrote $RESULTS/engine-$LABEL.json and .md"
if [ "$PG" = 1 ]; then
    echo "== PostgreSQL peer"
    "$ROOT/bench/peer_postgres.sh" --data "$DATA" --runs "$RUNS" --check "$CHECK" \
        --out "$RESULTS/postgres-$LABEL.json" || STATUS=$?
    python3 "$ROOT/bench/compare.py" "$RESULTS/engine-$LABEL.json" \
        "$RESULTS/postgres-$LABEL.json" > "$RESULTS/compare-$LABEL.md"
    echo "== wrote $RESULTS/postgres-$LABEL.json and compare-$LABEL.md"
fi
exit $STATUS

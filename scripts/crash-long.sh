#!/usr/bin/env bash
# crash-long: the kill -9 tests with many more iterations than CI runs (CI: 50 writer kills with
# checkpoints running, 3 rounds of reader/writer kills). Uses the Debug build in build/ (made by
# scripts/test.sh or `cmake -S . -B build && cmake --build build`).
#
#   scripts/crash-long.sh [ITERATIONS]        # default 500 writer kills, 20 reader/writer rounds
#
# BITDEX_TEST_SEED fixes the seed (printed on failure).
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"
N=${1:-500}
B=build
[ -x "$B/services/writer/bitdex-writer" ] || { echo "crash-long: build first (no $B/)" >&2; exit 2; }
BITDEX_CRASH_ITERATIONS=$N /usr/bin/python3 tests/integration/test_writer_crash.py \
    --writer "$B/services/writer/bitdex-writer" --proto-dir proto
BITDEX_READERS_CRASH_ROUNDS=$((N / 25 > 3 ? N / 25 : 3)) /usr/bin/python3 \
    tests/integration/test_readers_crash.py --writer "$B/services/writer/bitdex-writer" \
    --reader "$B/services/reader/bitdex-reader" --proto-dir proto

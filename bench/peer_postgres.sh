#!/bin/sh
# bench/peer_postgres.sh: PostgreSQL 15 on the benchmark data, for side-by-side numbers.
#
#   bench/peer_postgres.sh --data DIR [--runs 3] [--check 10] [--out FILE.json] [--md FILE.md]
#                          [--lines N] [--shapes Q1,...] [--shared-buffers 4GB]
#                          [--plan-cache-mode MODE] [--keep]
#
# Starts a private cluster (initdb into a temp dir; loopback only; a free port; run as the
# `postgres` system user when invoked as root, because the server refuses to run as root),
# loads DIR/postgres.sql (COPY + GIN + btrees + VACUUM ANALYZE, timed), runs
# bitdex-bench-postgres (prepared statements, correctness gate, p50/p99/max per shape, JSON with
# every non-default server setting), then stops the server by its PID and removes the temp dir
# (--keep leaves it). Installs Debian's postgresql-15 with apt-get when it is missing.
# plan_cache_mode defaults to force_custom_plan: statements stay prepared (parsed once) but are
# planned for their actual parameters (with `auto`, a generic plan chosen after five runs serves
# every tag of a shape alike).
set -eu

ROOT=$(cd "$(dirname "$0")/.." && pwd)
DATA=""
RUNS=3
CHECK=10
OUT=""
MD=""
LINES=0
SHAPES=""
KEEP=0
PLAN_CACHE=force_custom_plan
SHARED=""
while [ $# -gt 0 ]; do
    case "$1" in
    --data) DATA=$2; shift 2 ;;
    --runs) RUNS=$2; shift 2 ;;
    --check) CHECK=$2; shift 2 ;;
    --out) OUT=$2; shift 2 ;;
    --md) MD=$2; shift 2 ;;
    --lines) LINES=$2; shift 2 ;;
    --shapes) SHAPES=$2; shift 2 ;;
    --plan-cache-mode) PLAN_CACHE=$2; shift 2 ;;
    --shared-buffers) SHARED=$2; shift 2 ;;
    --keep) KEEP=1; shift ;;
    -h|--help) sed -n '2,18p' "$0"; exit 0 ;;
    *) echo "peer_postgres.sh: unknown argument $1" >&2; exit 2 ;;
    esac
done
[ -n "$DATA" ] || { echo "peer_postgres.sh: --data DIR is required" >&2; exit 2; }
DATA=$(cd "$DATA" && pwd)
[ -f "$DATA/postgres.sql" ] || { echo "peer_postgres.sh: $DATA/postgres.sql missing" >&2; exit 2; }

PGBIN=/usr/lib/postgresql/15/bin
if [ ! -x "$PGBIN/postgres" ]; then
    echo "== installing postgresql-15"
    DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends postgresql-15
fi

BUILD="$ROOT/build-bench"
cmake -S "$ROOT" -B "$BUILD" -DBITDEX_BUILD_TESTS=OFF -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build "$BUILD" -j2 --target bitdex-bench-postgres >/dev/null

# Everything the server touches runs as `postgres` when we are root.
if [ "$(id -u)" = 0 ]; then AS="runuser -u postgres --"; else AS=""; fi
if [ -z "$SHARED" ]; then
    MEM_MB=$(awk '/MemTotal/ {print int($2 / 1024)}' /proc/meminfo)
    SB=$((MEM_MB / 4)); [ "$SB" -gt 6144 ] && SB=6144
    SHARED="${SB}MB"
fi
PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
TMP=$(mktemp -d /tmp/bitdex-pg.XXXXXX)
chmod 755 "$TMP"
[ -n "$AS" ] && chown postgres "$TMP"
PGDATA="$TMP/data"
PID=""

cleanup() {
    if [ -n "$PID" ] && kill -0 "$PID" 2>/dev/null; then
        kill -INT "$PID" 2>/dev/null || true   # fast shutdown of the postmaster
        i=0
        while kill -0 "$PID" 2>/dev/null && [ $i -lt 100 ]; do sleep 0.2; i=$((i + 1)); done
    fi
    if [ "$KEEP" = 1 ]; then echo "== kept $TMP"; else rm -rf "$TMP"; fi
}
trap cleanup EXIT INT TERM

echo "== initdb $PGDATA (port $PORT, shared_buffers $SHARED)"
$AS "$PGBIN/initdb" -D "$PGDATA" -U postgres --auth=trust --no-sync -E UTF8 --locale=C >/dev/null
cat >> "$PGDATA/postgresql.conf" <<CONF
# bitdex benchmark peer settings (bench/peer_postgres.sh)
listen_addresses = '127.0.0.1'
port = $PORT
unix_socket_directories = '$TMP'
shared_buffers = '$SHARED'
effective_cache_size = '12GB'
work_mem = '64MB'
maintenance_work_mem = '1GB'
random_page_cost = 1.1
plan_cache_mode = '$PLAN_CACHE'
jit = off
fsync = off
synchronous_commit = off
full_page_writes = off
max_wal_size = '8GB'
checkpoint_timeout = '30min'
CONF
$AS "$PGBIN/postgres" -D "$PGDATA" >"$TMP/server.log" 2>&1 &
i=0
until "$PGBIN/pg_isready" -q -h 127.0.0.1 -p "$PORT"; do
    sleep 0.2; i=$((i + 1))
    [ $i -lt 150 ] || { echo "peer_postgres.sh: server did not start" >&2; cat "$TMP/server.log" >&2; exit 1; }
done
PID=$(head -n 1 "$PGDATA/postmaster.pid")
echo "== server pid $PID"

echo "== loading $DATA/postgres.sql"
T0=$(date +%s.%N)
"$PGBIN/psql" -h 127.0.0.1 -p "$PORT" -U postgres -v ON_ERROR_STOP=1 -q -f "$DATA/postgres.sql"
T1=$(date +%s.%N)
LOAD=$(awk "BEGIN {printf \"%.2f\", $T1 - $T0}")
echo "== loaded in $LOAD s"
"$PGBIN/psql" -h 127.0.0.1 -p "$PORT" -U postgres -At -c \
    "SELECT 'table ' || pg_size_pretty(pg_table_size('images')) || ', indexes ' || pg_size_pretty(pg_indexes_size('images'))"

set +e
"$BUILD/bench/bitdex-bench-postgres" --conninfo "host=127.0.0.1 port=$PORT user=postgres dbname=postgres" \
    --data "$DATA" --runs "$RUNS" --check "$CHECK" --lines "$LINES" --load-seconds "$LOAD" \
    ${OUT:+--out "$OUT"} ${MD:+--md "$MD"} ${SHAPES:+--shapes "$SHAPES"}
STATUS=$?
set -e
exit $STATUS

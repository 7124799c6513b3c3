#!/usr/bin/env bash
# demo: THE run command of bitdex. Sets up, builds, and runs one writer and two readers on
# loopback in the foreground until Ctrl-C, then stops all three cleanly.
#
#   writer   127.0.0.1:${BITDEX_DEMO_PORT:-50051}
#   reader 1 127.0.0.1:$((BITDEX_DEMO_PORT + 1))   (50052 by default)
#   reader 2 127.0.0.1:$((BITDEX_DEMO_PORT + 2))   (50053 by default)
#
# Data lives in .demo/data (kept between runs), logs in .demo/logs/. The build is an
# optimized one in build-release/ (no tests). On first start (and after --fresh) a demo data set
# of 100K Civitai-like documents is generated once into .demo/dataset (bitdex-datagen) and
# loaded through the writer (bitdex-load: CreateIndex "images", Put batches over ApplyStream).
# Python stubs for docs/examples/query.py go to .demo/py.
#
# Options:
#   --no-deps     skip scripts/install-deps.sh (and installing buf into .tools/)
#   --fresh       delete .demo/data first
#   -h, --help    this text
# Environment: BITDEX_DEMO_PORT (writer port; readers take the next two), BITDEX_LOG_LEVEL,
#              BITDEX_DEMO_DOCS (documents in the demo data set, default 100000).
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"

do_deps=1
fresh=0
for a in "$@"; do
    case "$a" in
    --no-deps) do_deps=0 ;;
    --fresh) fresh=1 ;;
    -h | --help)
        awk 'NR == 1 { next } /^#/ { sub(/^# ?/, ""); print; next } { exit }' "$0"
        exit 0
        ;;
    *)
        echo "demo.sh: unknown option '$a' (see --help)" >&2
        exit 2
        ;;
    esac
done

WPORT=${BITDEX_DEMO_PORT:-50051}
RPORT1=$((WPORT + 1))
RPORT2=$((WPORT + 2))
LOG_LEVEL=${BITDEX_LOG_LEVEL:-info}
GRACE_MS=5000
BUILD=build-release
DEMO=$ROOT/.demo
PY=/usr/bin/python3 # Debian's python3 (the one PATH finds first may lack grpc)

say() { printf '\033[1mdemo:\033[0m %s\n' "$*"; }

# --- 1. set up and build -------------------------------------------------------------------
if [ $do_deps -eq 1 ]; then
    bash scripts/install-deps.sh
    # buf (for the `buf curl` examples printed below); not fatal: the demo runs without it.
    [ -x .tools/buf ] || bash scripts/install-tools.sh --no-validate ||
        echo "demo.sh: could not install buf; the servers still run" >&2
fi
say "building ($BUILD, Release)"
cmake -S . -B "$BUILD" -DCMAKE_BUILD_TYPE=Release -DBITDEX_BUILD_TESTS=OFF >/dev/null
cmake --build "$BUILD" -j"${BITDEX_JOBS:-2}" --target bitdex-writer bitdex-reader \
    bitdex-datagen bitdex-load
WRITER=$ROOT/$BUILD/services/writer/bitdex-writer
READER=$ROOT/$BUILD/services/reader/bitdex-reader
DATAGEN=$ROOT/$BUILD/bench/bitdex-datagen
LOADER=$ROOT/$BUILD/bench/bitdex-load
DEMO_DOCS=${BITDEX_DEMO_DOCS:-100000}

[ $fresh -eq 1 ] && rm -rf "$DEMO/data"
mkdir -p "$DEMO/data" "$DEMO/logs"

# --- 2. gRPC health probe (Debian grpcio; hand-encoded messages, no generated code) ---------
# health_wait PID PORT SERVICE SECONDS: waits until grpc.health.v1.Health/Check(SERVICE) is
# SERVING; gives up early when process PID exits.
health_wait() {
    "$PY" - "$@" <<'PYEOF'
import sys, time
import grpc
pid, port, service, limit = sys.argv[1], sys.argv[2], sys.argv[3], float(sys.argv[4])
def alive():
    try:
        with open("/proc/%s/stat" % pid) as f:
            return f.read().rsplit(")", 1)[1].split()[0] not in ("Z", "X")
    except OSError:
        return False
names = {0: "UNKNOWN", 1: "SERVING", 2: "NOT_SERVING", 3: "SERVICE_UNKNOWN"}
def encode(s):  # HealthCheckRequest{string service = 1}
    b = s.encode()
    return (b"\x0a" + bytes([len(b)]) + b) if b else b""
def decode(b):  # HealthCheckResponse{ServingStatus status = 1}
    return b[1] if len(b) >= 2 and b[0] == 0x08 else 0
ch = grpc.insecure_channel("127.0.0.1:" + port, options=[("grpc.enable_http_proxy", 0)])
check = ch.unary_unary("/grpc.health.v1.Health/Check", request_serializer=encode,
                       response_deserializer=decode)
deadline, last = time.monotonic() + limit, "no answer"
while time.monotonic() < deadline:
    if not alive():
        print("127.0.0.1:%s: the process exited" % port, file=sys.stderr)
        sys.exit(1)
    try:
        st = check(service, timeout=2)
        last = names.get(st, str(st))
        if st == 1:
            print("127.0.0.1:%s %s: SERVING" % (port, service))
            sys.exit(0)
    except grpc.RpcError as e:
        last = e.code().name
    time.sleep(0.2)
print("127.0.0.1:%s %s: %s after %.0f s" % (port, service, last, limit), file=sys.stderr)
sys.exit(1)
PYEOF
}

port_busy() {
    "$PY" -c 'import socket,sys; s=socket.socket(); s.settimeout(0.5); sys.exit(0 if s.connect_ex(("127.0.0.1", int(sys.argv[1]))) == 0 else 1)' "$1"
}

for p in "$WPORT" "$RPORT1" "$RPORT2"; do
    if port_busy "$p"; then
        echo "demo.sh: port $p on 127.0.0.1 is already in use; set BITDEX_DEMO_PORT to another base port" >&2
        exit 1
    fi
done

# --- 3. run --------------------------------------------------------------------------------
# Job control: each server gets its own process group, so Ctrl-C reaches only this script,
# which then stops the servers in order (readers first, then the writer).
set -m
PIDS=()
NAMES=()
stopping=0
SLEEP_PID=""

stop_all() {
    [ $stopping -eq 1 ] && return
    stopping=1
    # Stopping must complete even when output fails (e.g. `demo.sh | tee log` and Ctrl-C killed
    # tee): no SIGPIPE, no exit on a failed echo.
    trap '' PIPE
    set +e
    trap - INT TERM
    [ -n "$SLEEP_PID" ] && kill "$SLEEP_PID" 2>/dev/null || true
    echo
    say "stopping (SIGTERM, grace ${GRACE_MS} ms)"
    local i
    for ((i = ${#PIDS[@]} - 1; i >= 0; i--)); do # reverse start order: readers, then writer
        kill -TERM "${PIDS[$i]}" 2>/dev/null || true
    done
    local waited=0 limit=$((GRACE_MS / 100 + 30))
    for ((i = 0; i < ${#PIDS[@]}; i++)); do
        while kill -0 "${PIDS[$i]}" 2>/dev/null && [ $waited -lt $limit ]; do
            sleep 0.1
            waited=$((waited + 1))
        done
        if kill -0 "${PIDS[$i]}" 2>/dev/null; then
            say "${NAMES[$i]} did not exit within the grace period; killing it"
            kill -KILL "${PIDS[$i]}" 2>/dev/null || true
        fi
        local rc=0
        wait "${PIDS[$i]}" 2>/dev/null || rc=$?
        say "${NAMES[$i]} exited with status $rc"
    done
}
trap 'stop_all; exit 130' INT
trap 'stop_all; exit 143' TERM HUP
trap 'stop_all' EXIT

# start NAME BINARY ARGS...
start() {
    local name=$1
    shift
    "$@" >"$DEMO/logs/$name.log" 2>&1 &
    PIDS+=($!)
    NAMES+=("$name")
}

fail_start() {
    echo "demo.sh: $1 did not become ready; last lines of its log:" >&2
    tail -n 30 "$DEMO/logs/$1.log" >&2 || true
    exit 1
}

say "starting writer on 127.0.0.1:$WPORT (data: .demo/data, logs: .demo/logs/)"
start writer "$WRITER" --data-dir "$DEMO/data" --listen "127.0.0.1:$WPORT" \
    --log-level "$LOG_LEVEL" --grace-ms "$GRACE_MS"
health_wait "${PIDS[0]}" "$WPORT" bitdex.v1.Writer 60 || fail_start writer

for n in 1 2; do
    port=$((WPORT + n))
    say "starting reader-$n on 127.0.0.1:$port"
    start "reader-$n" "$READER" --data-dir "$DEMO/data" --listen "127.0.0.1:$port" \
        --writer "127.0.0.1:$WPORT" --log-level "$LOG_LEVEL" --grace-ms "$GRACE_MS"
done
set +m # the servers have their own process groups now; no job-status chatter from here on
health_wait "${PIDS[1]}" "$RPORT1" bitdex.v1.Query 60 || fail_start reader-1
health_wait "${PIDS[2]}" "$RPORT2" bitdex.v1.Query 60 || fail_start reader-2

# --- 4. demo data --------------------------------------------------------------------------
# The data set is generated once (cached by its arguments in .demo/dataset/.args) and loaded
# only into an empty index: bitdex-load --if-empty leaves an index that holds documents alone,
# so restarts keep .demo/data as it is (--fresh starts over). Then wait until both readers count
# the documents (they follow the writer); readers that do not serve Count yet are reported, not
# fatal.
DATASET=$DEMO/dataset
HOT_TAG=""
load_demo_data() {
    local args="--docs $DEMO_DOCS --seed 1"
    if [ ! -f "$DATASET/images.csv" ] || [ "$(cat "$DATASET/.args" 2>/dev/null)" != "$args" ]; then
        say "generating the demo data set ($DEMO_DOCS documents) into .demo/dataset"
        rm -rf "$DATASET"
        # shellcheck disable=SC2086 # $args is a list of options
        "$DATAGEN" $args --out "$DATASET" >"$DEMO/logs/datagen.log" 2>&1 ||
            { tail -n 20 "$DEMO/logs/datagen.log" >&2; exit 1; }
        echo "$args" >"$DATASET/.args"
    fi
    say "loading it through the writer (bitdex-load; skipped when the index already has documents)"
    "$LOADER" --data "$DATASET" --target "127.0.0.1:$WPORT" --index images --if-empty --quiet \
        >"$DEMO/logs/load.log" 2>&1 || {
        echo "demo.sh: loading the demo data failed; last lines of .demo/logs/load.log:" >&2
        tail -n 20 "$DEMO/logs/load.log" >&2
        exit 1
    }
    grep -E 'holds|ops/s overall|not loading' "$DEMO/logs/load.log" | sed 's/^ */    /'
    # A hot tag of the data set, for the tag-page examples.
    HOT_TAG=$(grep -v '^#' "$DATASET/params/Q2hot.txt" 2>/dev/null | head -n1 | tr '\t' '\n' |
        sed -n 's/^tag=//p' || true)
    HOT_TAG=${HOT_TAG:-1}
    say "waiting for the readers to serve the documents"
    "$PY" - "$RPORT1" "$RPORT2" <<'PYEOF' || true
import sys, time
import grpc
def encode(index):  # CountRequest{string index = 1}
    b = index.encode()
    return b"\x0a" + bytes([len(b)]) + b
def decode(b):  # CountResponse{uint64 count = 1; ...}: the first varint of field 1
    if not b or b[0] != 0x08:
        return 0
    n, shift = 0, 0
    for c in b[1:]:
        n |= (c & 0x7F) << shift
        shift += 7
        if c < 0x80:
            break
    return n
deadline = time.monotonic() + 60
for port in sys.argv[1:]:
    ch = grpc.insecure_channel("127.0.0.1:" + port, options=[("grpc.enable_http_proxy", 0)])
    count = ch.unary_unary("/bitdex.v1.Query/Count", request_serializer=encode,
                           response_deserializer=decode)
    last = None
    while True:
        try:
            n = count("images", timeout=2)
            if n == last and n > 0:
                print("    reader 127.0.0.1:%s counts %d documents" % (port, n))
                break
            last = n
        except grpc.RpcError as e:
            if e.code() == grpc.StatusCode.UNIMPLEMENTED:
                print("    reader 127.0.0.1:%s does not serve Count yet (UNIMPLEMENTED)" % port)
                break
            last = e.code().name
        if time.monotonic() > deadline:
            print("    reader 127.0.0.1:%s: still %s after 60 s" % (port, last))
            break
        time.sleep(0.5)
PYEOF
    # Python stubs for docs/examples/query.py (Debian's grpc_tools; regenerated when a proto
    # changes).
    if [ ! -f "$DEMO/py/bitdex/v1/query_pb2_grpc.py" ] ||
        [ -n "$(find proto/bitdex/v1 -name '*.proto' -newer "$DEMO/py/bitdex/v1/query_pb2_grpc.py")" ]; then
        mkdir -p "$DEMO/py"
        "$PY" -m grpc_tools.protoc -Iproto --python_out="$DEMO/py" --grpc_python_out="$DEMO/py" \
            proto/bitdex/v1/*.proto 2>"$DEMO/logs/py-stubs.log" ||
            echo "demo.sh: could not generate Python stubs (see .demo/logs/py-stubs.log)" >&2
    fi
}
load_demo_data

# --- 5. tell the user how to use it ----------------------------------------------------------
BUF=$ROOT/.tools/buf
[ -x "$BUF" ] || BUF="buf" # not installed (--no-deps): scripts/install-tools.sh puts it there
R1=http://127.0.0.1:$RPORT1
cat <<EOF

bitdex is running:
  writer    127.0.0.1:$WPORT   (bitdex.v1.Writer)     log: .demo/logs/writer.log
  reader-1  127.0.0.1:$RPORT1   (bitdex.v1.Query)      log: .demo/logs/reader-1.log
  reader-2  127.0.0.1:$RPORT2   (bitdex.v1.Query)      log: .demo/logs/reader-2.log
  index "images": the demo data set (.demo/dataset, $DEMO_DOCS documents; fields in docs/benchmarks.md)

Try it with buf curl (server reflection; no .proto files needed), in another terminal:

  # list services and methods; health, as the Kubernetes probes ask it
  $BUF curl --protocol grpc --http2-prior-knowledge --list-methods $R1
  $BUF curl --protocol grpc --http2-prior-knowledge -d '{"service":"bitdex.v1.Query"}' \\
      $R1/grpc.health.v1.Health/Check

  # the feed: nsfwLevel NotIn {16,32}, newest first, 5 hits (pass nextCursor as "cursor" for more)
  $BUF curl --protocol grpc --http2-prior-knowledge $R1/bitdex.v1.Query/Search -d '{"index":"images",
      "filter":{"notIn":{"field":"nsfwLevel","values":[{"intValue":"16"},{"intValue":"32"}]}},
      "sort":{"field":"sortAt","direction":"SORT_DIRECTION_DESC"},"limit":5}'

  # a tag page: tag $HOT_TAG AND nsfwLevel In {1,2}, most reactions first, with the exact total
  $BUF curl --protocol grpc --http2-prior-knowledge $R1/bitdex.v1.Query/Search -d '{"index":"images",
      "filter":{"allOf":{"filters":[{"eq":{"field":"tagIds","value":{"intValue":"$HOT_TAG"}}},
        {"isIn":{"field":"nsfwLevel","values":[{"intValue":"1"},{"intValue":"2"}]}}]}},
      "sort":{"field":"reactionCount","direction":"SORT_DIRECTION_DESC"},"limit":5,"includeTotal":true}'

  # an exact count: videos not blocked (blockedFor IsNull), with the execution trace
  $BUF curl --protocol grpc --http2-prior-knowledge $R1/bitdex.v1.Query/Count -d '{"index":"images",
      "filter":{"allOf":{"filters":[{"eq":{"field":"type","value":{"stringValue":"video"}}},
        {"isNull":{"field":"blockedFor"}}]}},"explain":true}'

  # documents by id
  $BUF curl --protocol grpc --http2-prior-knowledge $R1/bitdex.v1.Query/GetDocuments \\
      -d '{"index":"images","ids":[1,2,3]}'

The same from Python (Debian's grpcio; stubs generated into .demo/py):

  PYTHONPATH=.demo/py /usr/bin/python3 docs/examples/query.py --target 127.0.0.1:$RPORT1 --tag $HOT_TAG

Load more (or other) data through the writer: $BUILD/bench/bitdex-load --help
  tail -f .demo/logs/*.log       # follow the logs

Press Ctrl-C to stop all three.
EOF

# --- 6. stay in the foreground until Ctrl-C or a server dies ----------------------------------
while :; do
    for ((i = 0; i < ${#PIDS[@]}; i++)); do
        if ! kill -0 "${PIDS[$i]}" 2>/dev/null; then
            rc=0
            wait "${PIDS[$i]}" 2>/dev/null || rc=$?
            echo "demo.sh: ${NAMES[$i]} exited unexpectedly (status $rc); last lines of its log:" >&2
            tail -n 20 "$DEMO/logs/${NAMES[$i]}.log" >&2 || true
            exit 1
        fi
    done
    sleep 1 &
    SLEEP_PID=$!
    wait "$SLEEP_PID" || true
    SLEEP_PID=""
done

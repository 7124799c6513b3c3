#!/usr/bin/env bash
# test_buf_curl: the operator's path to a running bitdex, checked with the real `buf curl`.
#
# Starts a writer and a reader on 127.0.0.1:0 and, with both reflection protocols
# (grpc-v1 and grpc-v1alpha), lists services and methods and calls Health/Check through
# reflection alone, as docs/operations.md tells operators to.
#
# Usage: test_buf_curl.sh --writer PATH --reader PATH [--buf PATH]
# Exit: 0 pass, 1 fail, 77 skip (buf not installed: run scripts/install-tools.sh).
set -euo pipefail

writer="" reader="" buf=""
while [ $# -gt 0 ]; do
    case "$1" in
    --writer) writer=$2; shift 2 ;;
    --reader) reader=$2; shift 2 ;;
    --buf) buf=$2; shift 2 ;;
    *) echo "usage: $0 --writer PATH --reader PATH [--buf PATH]" >&2; exit 2 ;;
    esac
done
here=$(cd "$(dirname "$0")" && pwd)
buf=${buf:-$here/../../.tools/buf}
if [ ! -x "$buf" ]; then
    echo "SKIP: buf not found at $buf (run scripts/install-tools.sh)"
    exit 77
fi
for b in "$writer" "$reader"; do
    [ -x "$b" ] || { echo "FAIL: not an executable: '$b'" >&2; exit 1; }
done

scale=${BITDEX_TEST_TIMEOUT_SCALE:-1}
tmp=$(mktemp -d /tmp/bitdex-bufcurl.XXXXXX)
pids=()
cleanup() {
    local rc=$?
    for p in "${pids[@]}"; do
        kill -TERM "$p" 2>/dev/null || true
    done
    for p in "${pids[@]}"; do
        for _ in $(seq 50); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done
        kill -KILL "$p" 2>/dev/null || true
        wait "$p" 2>/dev/null || true
    done
    if [ $rc -ne 0 ]; then
        for f in "$tmp"/*.log; do
            [ -f "$f" ] || continue
            echo "--- $(basename "$f")"
            tail -n 40 "$f"
        done
    fi
    rm -rf "$tmp"
    exit $rc
}
trap cleanup EXIT
trap 'exit 1' INT TERM HUP

export BUF_CACHE_DIR=$tmp/buf-cache # never touch ~/.cache
mkdir -p "$tmp/data" "$BUF_CACHE_DIR"

# start NAME BINARY ARGS...: starts a server, waits for its listening line, sets PORT.
start() {
    local name=$1 log=$tmp/$1.log
    shift
    "$@" >"$log" 2>&1 &
    pids+=($!)
    local pid=$! waited=0 limit=$((300 * scale))
    PORT=""
    while [ -z "$PORT" ]; do
        PORT=$(grep -m1 -E 'msg="?listening' "$log" | grep -oE '\bport=[0-9]+' | head -n1 | cut -d= -f2 || true)
        if [ -n "$PORT" ]; then break; fi
        if ! kill -0 "$pid" 2>/dev/null; then
            echo "FAIL: $name exited before listening" >&2
            return 1
        fi
        if [ "$waited" -ge "$limit" ]; then
            echo "FAIL: $name did not log msg=listening within $((limit / 10)) s" >&2
            return 1
        fi
        sleep 0.1
        waited=$((waited + 1))
    done
    echo "$name listening on 127.0.0.1:$PORT"
}

failures=0
passes=0
check() { # check DESCRIPTION: records the result of the previous [[ ]] / command via $?
    if [ "$1" -eq 0 ]; then
        passes=$((passes + 1))
        echo "ok   $2"
    else
        failures=$((failures + 1))
        echo "FAIL $2"
        [ -s "$tmp/out" ] && sed 's/^/     | /' "$tmp/out"
    fi
    return 0
}

curl_() { # curl_ PROTO ARGS...: buf curl over plaintext HTTP/2, output in $tmp/out
    local proto=$1
    shift
    timeout $((15 * scale)) "$buf" curl --protocol grpc --http2-prior-knowledge \
        --reflect-protocol "$proto" "$@" >"$tmp/out" 2>&1
}

start writer "$writer" --data-dir "$tmp/data" --listen 127.0.0.1:0 --grace-ms 2000
wport=$PORT
start reader "$reader" --data-dir "$tmp/data" --listen 127.0.0.1:0 \
    --writer "127.0.0.1:$wport" --grace-ms 2000
rport=$PORT

for proto in grpc-v1 grpc-v1alpha; do
    for role in writer reader; do
        if [ $role = writer ]; then
            port=$wport svc=bitdex.v1.Writer other=bitdex.v1.Query
        else
            port=$rport svc=bitdex.v1.Query other=bitdex.v1.Writer
        fi
        url=http://127.0.0.1:$port

        rc=0
        curl_ $proto --list-services "$url" || rc=$?
        if [ $rc -eq 0 ]; then
            for want in $svc grpc.health.v1.Health grpc.reflection.v1.ServerReflection \
                grpc.reflection.v1alpha.ServerReflection; do
                grep -qx "$want" "$tmp/out" || rc=1
            done
            ! grep -qx "$other" "$tmp/out" || rc=1
        fi
        check $rc "$role $proto --list-services lists $svc, Health and both reflection services"

        rc=0
        curl_ $proto --list-methods "$url" || rc=$?
        if [ $rc -eq 0 ]; then
            grep -qx "grpc.health.v1.Health/Check" "$tmp/out" || rc=1
            grep -qx "grpc.health.v1.Health/Watch" "$tmp/out" || rc=1
            grep -q "^$svc/" "$tmp/out" || rc=1
        fi
        check $rc "$role $proto --list-methods includes Health/Check, Health/Watch and $svc/*"

        rc=0
        curl_ $proto -d '{}' "$url/grpc.health.v1.Health/Check" || rc=$?
        [ $rc -eq 0 ] && { grep -q '"status": *"SERVING"' "$tmp/out" || rc=1; }
        check $rc "$role $proto Health/Check {} is SERVING"

        rc=0
        curl_ $proto -d "{\"service\":\"$svc\"}" "$url/grpc.health.v1.Health/Check" || rc=$?
        [ $rc -eq 0 ] && { grep -q '"status": *"SERVING"' "$tmp/out" || rc=1; }
        check $rc "$role $proto Health/Check {service: $svc} is SERVING"

        # A bitdex method called through reflection alone completes with a gRPC status (OK, or
        # an error object with a code such as "unimplemented"), never a transport failure.
        method=$([ $role = writer ] && echo ListIndexes || echo Search)
        rc=0
        curl_ $proto -d '{}' "$url/$svc/$method" || rc=$?
        if [ $rc -eq 0 ] || grep -qE '"code": *"[a-z_]+"' "$tmp/out"; then rc=0; else rc=1; fi
        check $rc "$role $proto $svc/$method {} completes with a gRPC status"

        # An unknown service name is a NOT_FOUND status: buf curl fails and says so.
        rc=0
        curl_ $proto -d '{"service":"nope.v1.Nothing"}' "$url/grpc.health.v1.Health/Check" || rc=$?
        if [ $rc -ne 0 ] && grep -qi 'not_found\|not found' "$tmp/out"; then rc=0; else rc=1; fi
        check $rc "$role $proto Health/Check {service: nope.v1.Nothing} is NOT_FOUND"
    done
done

echo "buf curl: $passes passed, $failures failed"
[ "$failures" -eq 0 ]

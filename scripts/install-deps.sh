#!/usr/bin/env bash
# install-deps: installs the Debian packages bitdex needs to build, test and run.
#
# Idempotent: when every package is already installed it does nothing (no apt-get update).
# Non-interactive. Runs as root (CI) or through sudo otherwise.
set -euo pipefail

PACKAGES=(
    # build
    cmake gcc g++ make pkg-config git ca-certificates
    # gRPC C core, protobuf code generators, the gRPC health/reflection protos
    libgrpc-dev grpc-proto protobuf-compiler protobuf-c-compiler libprotobuf-c-dev
    # libraries
    libroaring-dev libuv1-dev libyaml-dev libxxhash-dev zlib1g-dev
    # tests: Criterion, and the Python gRPC client used by tests/integration (/usr/bin/python3)
    libcriterion-dev python3-grpcio python3-grpc-tools python3-protobuf valgrind
    # format check; unzip extracts helm in scripts/install-tools.sh
    clang-format unzip
)

missing=()
for p in "${PACKAGES[@]}"; do
    status=$(dpkg-query -W -f='${db:Status-Status}' "$p" 2>/dev/null || true)
    if [ "$status" != "installed" ]; then
        missing+=("$p")
    fi
done

if [ ${#missing[@]} -eq 0 ]; then
    echo "install-deps: all ${#PACKAGES[@]} packages already installed"
    exit 0
fi

SUDO=()
if [ "$(id -u)" -ne 0 ]; then
    if ! command -v sudo >/dev/null 2>&1; then
        echo "install-deps: not root and no sudo; install these packages: ${missing[*]}" >&2
        exit 1
    fi
    SUDO=(sudo)
fi

echo "install-deps: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
"${SUDO[@]}" env DEBIAN_FRONTEND=noninteractive apt-get -o Acquire::Retries=3 update -q
"${SUDO[@]}" env DEBIAN_FRONTEND=noninteractive apt-get -o Acquire::Retries=3 install -y -q --no-install-recommends \
    "${missing[@]}"
echo "install-deps: done"

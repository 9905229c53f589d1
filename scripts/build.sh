#!/usr/bin/env bash
# Configures and builds nnd into build/ (or $NND_BUILD_DIR). Extra arguments go to cmake.
# $NND_BUILD_TARGETS (space-separated) builds only those targets.
set -euo pipefail
cd "$(dirname "$0")/.."
dir=${NND_BUILD_DIR:-build}
cmake -S . -B "$dir" -DCMAKE_BUILD_TYPE=${NND_BUILD_TYPE:-RelWithDebInfo} "$@" >/dev/null
targets=()
for t in ${NND_BUILD_TARGETS:-}; do targets+=(--target "$t"); done
cmake --build "$dir" -j"$(nproc)" "${targets[@]}"

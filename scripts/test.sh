#!/usr/bin/env bash
# The README's second command (and CI's): install the dependencies, build, and run every
# test under ctest: the normal build, then the whole suite again under ASan + UBSan.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/deps.sh
scripts/build.sh
ctest --test-dir build --output-on-failure -j"$(nproc)"
if [ "${NND_SKIP_SANITIZERS:-0}" != 1 ]; then
  NND_BUILD_DIR=build-asan NND_BUILD_TYPE=Debug scripts/build.sh -DNND_SANITIZE=ON
  ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=print_stacktrace=1 \
    ctest --test-dir build-asan --output-on-failure -j"$(nproc)"
fi

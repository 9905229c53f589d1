#!/usr/bin/env bash
# The README's second command (and CI's): install the dependencies, build, and run every
# test under ctest: the normal build, then the whole suite again under ASan + UBSan, then
# the runtime's suites (8 threads sharing one model among them) and the batch split between a
# context's worker threads (test_threads) and a model's code generated in threads
# (test_split_codegen) under ThreadSanitizer, then
# each libFuzzer target for a minute on its committed corpus (scripts/fuzz.sh).
# NND_SKIP_SANITIZERS=1 skips the last three, NND_SKIP_TSAN=1 or NND_SKIP_FUZZ=1 one of them.
# The build directories are build, build-asan, build-tsan and build-fuzz, under
# $NND_BUILD_ROOT (default: the repository).
set -euo pipefail
cd "$(dirname "$0")/.."
root=${NND_BUILD_ROOT:-.}
scripts/deps.sh
NND_BUILD_DIR=$root/build scripts/build.sh
ctest --test-dir "$root/build" --output-on-failure -j"$(nproc)"
if [ "${NND_SKIP_SANITIZERS:-0}" = 1 ]; then
  exit 0
fi
NND_BUILD_DIR=$root/build-asan NND_BUILD_TYPE=Debug scripts/build.sh -DNND_SANITIZE=ON
ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=print_stacktrace=1 \
  ctest --test-dir "$root/build-asan" --output-on-failure -j"$(nproc)"
if [ "${NND_SKIP_TSAN:-0}" != 1 ]; then
  # clang's TSan runtime copes with any ASLR setting (it re-executes itself if it must).
  CC=clang-19 CXX=clang++-19 NND_BUILD_DIR=$root/build-tsan \
    NND_BUILD_TARGETS="nndc test_runtime test_runtime_args test_runtime_threads test_threads test_split_codegen" \
    scripts/build.sh -DNND_TSAN=ON
  TSAN_OPTIONS="halt_on_error=1 second_deadlock_stack=1 suppressions=$PWD/tests/tsan.supp" \
    ctest --test-dir "$root/build-tsan" --output-on-failure -R '^test_(runtime|threads|split_codegen)'
fi
if [ "${NND_SKIP_FUZZ:-0}" != 1 ]; then
  NND_FUZZ_BUILD_DIR=$root/build-fuzz scripts/fuzz.sh
fi

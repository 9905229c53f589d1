#!/usr/bin/env bash
# Builds the libFuzzer targets of fuzz/ (clang-19, -DNND_FUZZ=ON) into build-fuzz/ (or
# $NND_FUZZ_BUILD_DIR) and runs each for $NND_FUZZ_SECONDS (default 60) seconds, as many at
# once as there are cores, starting from its committed corpus fuzz/corpus/<target>/. New
# inputs go to a scratch directory recreated on every run, so the committed corpus never
# changes and the script can run again. Any crash, sanitizer report, leak, timeout (25 s
# for one input) or out-of-memory (2 GiB) fails it, with the target's log and reproducer
# (build-fuzz/fuzz-out/<target>/crash-*) named.
set -euo pipefail
cd "$(dirname "$0")/.."
dir=${NND_FUZZ_BUILD_DIR:-build-fuzz}
secs=${NND_FUZZ_SECONDS:-60}
CC=clang-19 CXX=clang++-19 NND_BUILD_DIR=$dir scripts/build.sh -DNND_FUZZ=ON
targets=$(cd "$dir/fuzz" && ls fuzz_* | grep -v '\.' | sed 's/^fuzz_//')
out=$dir/fuzz-out
rm -rf "$out"
run() {
  local t=$1 d=$out/$1 dict=()
  mkdir -p "$d/new"
  [ -f "fuzz/$t.dict" ] && dict=(-dict="fuzz/$t.dict")
  [ "$t" = frontend ] && dict=(-dict=fuzz/nnd.dict)
  if "$dir/fuzz/fuzz_$t" "${dict[@]}" -max_total_time="$secs" -timeout=25 -rss_limit_mb=2048 \
       -print_final_stats=1 -artifact_prefix="$d/" "$d/new" "fuzz/corpus/$t" >"$d/log" 2>&1; then
    echo "fuzz_$t: ok, $(grep -m1 '^stat::number_of_executed_units' "$d/log" | awk '{print $2}') runs"
  else
    echo "fuzz_$t: FAILED; log: $d/log; reproducer: $(ls "$d"/crash-* "$d"/leak-* "$d"/timeout-* "$d"/oom-* 2>/dev/null | head -1)"
    tail -n 40 "$d/log"
    return 1
  fi
}
pids=() status=0
for t in $targets; do
  while [ "$(jobs -rp | wc -l)" -ge "$(nproc)" ]; do sleep 1; done
  run "$t" &
  pids+=($!)
done
for i in "${!pids[@]}"; do wait "${pids[$i]}" || status=1; done
exit $status

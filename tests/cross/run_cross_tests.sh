#!/usr/bin/env bash
# run_cross_tests.sh NNDC SCRATCH_DIR
#
# Cross-compilation test of `nndc build` (SPEC sections 4 and 5). For each model below:
#   native   nndc build (host triple, default CPU); host_aarch64.c compiled with cc; run.
#            This is the reference.
#   aarch64  nndc build --target aarch64-linux-gnu; host_aarch64.c compiled with
#            aarch64-linux-gnu-gcc; run under qemu-aarch64 -L /usr/aarch64-linux-gnu.
#   m4       nndc build --target thumbv7em-none-eabihf --cpu cortex-m4; linked bare metal with
#            m4/{startup.c,main_m4.c,m4.ld} (no heap, static buffers); run under
#            qemu-system-arm -M mps2-an386 with semihosting.
# Each cross run's outputs must match the native ones within 1e-5 relative (compare.c says
# whether they are bit-identical). Prints one PASS/FAIL line per target and model and exits
# non-zero if any failed. A missing cross tool is a failure naming its Debian package
# (scripts/deps.sh installs them all), never a skip.
# Environment: NND_M4_TRIPLE overrides the Cortex-M4 triple (default thumbv7em-none-eabihf).
set -euo pipefail

if [ $# -ne 2 ]; then
  echo "usage: $0 NNDC SCRATCH_DIR" >&2
  exit 2
fi
nndc=$(realpath -m "$1")
scratch=$2
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(cd "$here/../.." && pwd)
rows=5
rtol=1e-5
opt=-O2
qemu_timeout=120
m4_flags=(-mcpu=cortex-m4 -mthumb -mfloat-abi=hard -mfpu=fpv4-sp-d16)
aarch64_sysroot=/usr/aarch64-linux-gnu
m4_triple=${NND_M4_TRIPLE:-thumbv7em-none-eabihf}

# Models: single input f32[N, IN], single output f32[N, OUT], one symbol N.
models=(
  "digits:$root/examples/digits/digits.nnd"
  "dense_13_7:$root/tests/ref/cases/dense_13_7_b1/model.nnd"
)

failures=0
pass() { echo "PASS: $*"; }
fail() { echo "FAIL: $*"; failures=$((failures + 1)); }
now() { date +%s.%N; }
elapsed() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", b - a }'; }

# --- the tools, each with the Debian package that provides it --------------------------------
need_tool() { # TOOL PACKAGE
  if ! command -v "$1" > /dev/null 2>&1; then
    echo "FAIL: cross tool '$1' not found: install Debian package $2 (scripts/deps.sh installs it)"
    exit 1
  fi
}
need_tool cc gcc
need_tool aarch64-linux-gnu-gcc gcc-aarch64-linux-gnu
need_tool qemu-aarch64 qemu-user
need_tool arm-none-eabi-gcc gcc-arm-none-eabi
need_tool arm-none-eabi-size binutils-arm-none-eabi
need_tool qemu-system-arm qemu-system-arm
if [ ! -e "$aarch64_sysroot/lib/ld-linux-aarch64.so.1" ] || [ ! -e "$aarch64_sysroot/include/stdio.h" ]; then
  echo "FAIL: the aarch64 C library is missing under $aarch64_sysroot: install Debian package libc6-dev-arm64-cross (scripts/deps.sh installs it)"
  exit 1
fi
libm_m4=$(arm-none-eabi-gcc "${m4_flags[@]}" -print-file-name=libm.a 2> /dev/null || true)
if [ "$libm_m4" = libm.a ] || [ ! -e "$libm_m4" ]; then
  echo "FAIL: newlib for Cortex-M4 hard-float is missing: install Debian package libnewlib-arm-none-eabi (scripts/deps.sh installs it)"
  exit 1
fi
if [ ! -x "$nndc" ]; then
  echo "FAIL: nndc not found at '$1'"
  exit 1
fi

mkdir -p "$scratch"
cc -O2 -std=c11 -Wall -Wextra -Werror -o "$scratch/compare" "$here/compare.c" -lm

# nndc build for one target: DIR MODEL [nndc options...]
build_model() {
  local dir=$1 model=$2
  shift 2
  mkdir -p "$dir"
  "$nndc" build "$model" $opt -o "$dir/xc.o" --header "$dir/xc.h" --name xc "$@" > "$dir/build.log" 2>&1
}

# The -D flags for the hosts from the generated header: CROSS_IN, CROSS_OUT.
shape_flags() { # HEADER
  local in out
  in=$(sed -n 's/^#define xc_INPUT_[A-Za-z0-9_]*_DIM1 \([0-9]*\)$/\1/p' "$1" | head -n 1)
  out=$(sed -n 's/^#define xc_OUTPUT_[A-Za-z0-9_]*_DIM1 \([0-9]*\)$/\1/p' "$1" | head -n 1)
  if [ -z "$in" ] || [ -z "$out" ]; then
    return 1
  fi
  echo "-DCROSS_ROWS=$rows -DCROSS_IN=$in -DCROSS_OUT=$out"
}

host_cflags=(-O2 -std=c11 -Wall -Wextra -Werror)

for entry in "${models[@]}"; do
  name=${entry%%:*}
  model=${entry#*:}
  base="$scratch/$name"
  rm -rf "$base" # only what this script made

  # --- native: the reference -----------------------------------------------------------------
  d="$base/native"
  if ! build_model "$d" "$model"; then
    fail "native $name: nndc build failed: $(tail -n 3 "$d/build.log")"
    continue
  fi
  if ! flagstr=$(shape_flags "$d/xc.h"); then
    fail "native $name: cannot read the input/output shapes from $d/xc.h"
    continue
  fi
  read -r -a flags <<< "$flagstr"
  if ! cc "${host_cflags[@]}" -I"$d" "${flags[@]}" -o "$d/host" "$here/host_aarch64.c" "$d/xc.o" -lm \
      > "$d/cc.log" 2>&1 || ! "$d/host" > "$d/out.txt" 2> "$d/run.log"; then
    fail "native $name: the host did not build or run (see $d)"
    continue
  fi
  pass "native $name ($(grep -c '^[0-9]' "$d/out.txt") outputs, reference)"

  # --- aarch64 under qemu-user ---------------------------------------------------------------
  a="$base/aarch64"
  if ! build_model "$a" "$model" --target aarch64-linux-gnu; then
    fail "aarch64-linux-gnu $name: nndc build failed: $(tail -n 3 "$a/build.log")"
  elif ! aarch64-linux-gnu-gcc "${host_cflags[@]}" -I"$a" "${flags[@]}" -o "$a/host" \
      "$here/host_aarch64.c" "$a/xc.o" -lm > "$a/cc.log" 2>&1; then
    fail "aarch64-linux-gnu $name: linking the host failed: $(grep -iE 'error|undefined' "$a/cc.log" | head -n 3)"
  else
    t0=$(now)
    rc=0
    timeout "$qemu_timeout" qemu-aarch64 -L "$aarch64_sysroot" "$a/host" > "$a/out.txt" 2> "$a/run.log" || rc=$?
    t1=$(now)
    if [ $rc -ne 0 ]; then
      fail "aarch64-linux-gnu $name: qemu-aarch64 exited with $rc (124: timeout): $(tail -n 3 "$a/run.log")"
    elif verdict=$("$scratch/compare" "$d/out.txt" "$a/out.txt" "$rtol"); then
      pass "aarch64-linux-gnu $name: $verdict; qemu-aarch64 $(elapsed "$t0" "$t1") s"
    else
      fail "aarch64-linux-gnu $name: $verdict"
    fi
  fi

  # --- Cortex-M4 bare metal under qemu-system-arm --------------------------------------------
  m="$base/m4"
  if ! build_model "$m" "$model" --target "$m4_triple" --cpu cortex-m4; then
    fail "$m4_triple $name: nndc build failed: $(tail -n 3 "$m/build.log")"
    continue
  fi
  if ! arm-none-eabi-gcc "${m4_flags[@]}" "${host_cflags[@]}" -I"$m" "${flags[@]}" \
      -nostartfiles --specs=nano.specs -T "$here/m4/m4.ld" -Wl,--gc-sections \
      -Wl,--no-warn-execstack -Wl,-Map="$m/m4.map" -o "$m/m4.elf" "$here/m4/startup.c" "$here/m4/main_m4.c" \
      "$m/xc.o" -lm > "$m/cc.log" 2>&1; then
    hint=""
    if grep -q 'uses VFP register arguments' "$m/cc.log"; then
      hint=" [the object uses the soft-float calling convention although the triple is hard-float: LLVM only reads the float ABI from a normalized triple (LLVMNormalizeTargetTriple, e.g. thumbv7em-unknown-none-eabihf)]"
    fi
    fail "$m4_triple $name: linking m4.elf failed: $(grep -iE 'error|undefined' "$m/cc.log" | head -n 3)$hint"
    continue
  fi
  if arm-none-eabi-nm "$m/m4.elf" | grep -qwE 'malloc|_malloc_r|_sbrk'; then
    fail "$m4_triple $name: m4.elf links a heap allocator (see $m/m4.map)"
    continue
  fi
  # Sizes of the object's code and read-only data next to the weights the header counts.
  read -r text rodata < <(arm-none-eabi-size -A "$m/xc.o" | awk '
    $1 ~ /^\.text/ { t += $2 } $1 ~ /^\.rodata/ { r += $2 } END { print t + 0, r + 0 }')
  weights=$(sed -n 's/^#define xc_WEIGHTS_BYTES \([0-9]*\)$/\1/p' "$m/xc.h")
  t0=$(now)
  rc=0
  # Semihosting output goes to qemu's stderr, hence 2>&1.
  timeout "$qemu_timeout" qemu-system-arm -M mps2-an386 -nographic -monitor none \
    -semihosting-config enable=on,target=native -kernel "$m/m4.elf" > "$m/out.txt" 2>&1 || rc=$?
  t1=$(now)
  sizes="object .text $text B, .rodata $rodata B, weights ${weights:-?} B"
  if [ $rc -ne 0 ] || ! grep -q '^M4 DONE$' "$m/out.txt"; then
    fail "$m4_triple $name: qemu-system-arm exited with $rc (124: timeout): $(grep -v '^[0-9]' "$m/out.txt" | tail -n 3)"
  elif verdict=$("$scratch/compare" "$d/out.txt" "$m/out.txt" "$rtol"); then
    pass "$m4_triple (cortex-m4) $name: $verdict; qemu-system-arm $(elapsed "$t0" "$t1") s; $sizes"
  else
    fail "$m4_triple (cortex-m4) $name: $verdict; $sizes"
  fi
done

if [ $failures -ne 0 ]; then
  echo "cross_targets: $failures FAILED"
  exit 1
fi
echo "cross_targets: all PASSED"

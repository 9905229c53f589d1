#!/usr/bin/env bash
# bench/run.sh: nnd's JIT forward pass against OpenBLAS-based C, oneDNN, PyTorch and ONNX
# Runtime on bench/'s five models, in one interleaved run (bench/README.md says what and how).
#
#   bench/run.sh            # the full run: batch 1 and 64 (and 256 for the MLPs), 1 and 2 threads
#   bench/run.sh --quick    # batch 1, short measurements: for development
#   bench/run.sh --models mlp_s,resblock --batches 64 --threads 1    # any subset
#
# Installs what it needs when missing (Debian: libopenblas-dev, libdnnl-dev, python3-torch;
# npm: onnxruntime-node into the build folder), builds nnd in Release with the bench workers
# into build-bench/ (or $NND_BENCH_DIR), writes the seeded models there and runs
# bench/driver.py. A peer that cannot be installed is reported as missing. Never a test.
set -euo pipefail
cd "$(dirname "$0")/.."
B=${NND_BENCH_DIR:-build-bench}
ORT_VERSION=1.30.0
sudo=""
if [ "$(id -u)" -ne 0 ]; then sudo="sudo"; fi

./scripts/deps.sh
missing=()
for p in libopenblas-dev libdnnl-dev python3-torch python3-numpy nodejs; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "bench: installing ${missing[*]}" >&2
  { $sudo apt-get update -qq &&
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends \
      "${missing[@]}" >/dev/null; } ||
    echo "bench: could not install ${missing[*]}; the peers that need them will be missing" >&2
fi

# ONNX Runtime for Node. Its install script would fetch CUDA providers from outside the npm
# registry; the CPU provider is in the package itself, so that step is skipped.
if [ ! -f "$B/node/node_modules/onnxruntime-node/package.json" ] ||
   ! grep -q "\"version\": \"$ORT_VERSION\"" "$B/node/node_modules/onnxruntime-node/package.json"; then
  mkdir -p "$B/node"
  if command -v npm >/dev/null; then
    ONNXRUNTIME_NODE_INSTALL=skip npm install --prefix "$B/node" --no-audit --no-fund \
      --loglevel=error "onnxruntime-node@$ORT_VERSION" >&2 ||
      echo "bench: npm install onnxruntime-node failed; ONNX Runtime will be missing" >&2
  else
    echo "bench: no npm; ONNX Runtime will be missing" >&2
  fi
fi

cmake -S . -B "$B" -DCMAKE_BUILD_TYPE=Release -DNND_BENCH=ON >/dev/null
cmake --build "$B" -j"$(nproc)" --target bench_all >/dev/null
/usr/bin/python3 bench/make_models.py "$B/models"
exec /usr/bin/python3 bench/driver.py --build "$B" "$@"

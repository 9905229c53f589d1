#!/usr/bin/env bash
# The README's first command: install the dependencies, build nnd, and run the bundled
# digits model (a PyTorch-trained MLP) through the JIT, printing its test accuracy next to
# PyTorch's.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/deps.sh
scripts/build.sh
echo
build/examples/digits_jit examples/digits

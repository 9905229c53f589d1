#!/usr/bin/env bash
# Installs what nnd needs to build and test on Debian 12, and nothing when it is already
# there (safe to run again). Uses sudo when not run as root.
set -euo pipefail
packages=(cmake make gcc g++ pkg-config llvm-19-dev libzstd-dev flex bison libcunit1-dev
          libcjson-dev graphviz libprotobuf-c-dev protobuf-c-compiler libonnx-dev
          libonnx-testdata
          clang-19 libclang-rt-19-dev libfuzzer-19-dev
          qemu-user gcc-aarch64-linux-gnu libc6-dev-arm64-cross gcc-arm-none-eabi
          libnewlib-arm-none-eabi qemu-system-arm)
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if [ ${#missing[@]} -eq 0 ]; then
  exit 0
fi
sudo=""
if [ "$(id -u)" -ne 0 ]; then sudo="sudo"; fi
echo "nnd: installing ${missing[*]}" >&2
$sudo apt-get update -qq
DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null

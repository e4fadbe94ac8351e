#!/usr/bin/env bash
# Installs what useg needs to build and test, from Debian's apt only. Idempotent: packages that
# are already installed are not touched, and apt-get update runs only when something is missing.
set -euo pipefail

pkgs=(
  build-essential cmake pkg-config git
  libdnnl-dev            # oneDNN: the CPU backend's convolutions and pooling
  nlohmann-json3-dev     # configs, model.json, safetensors headers
  libgtest-dev           # tests
  libinsighttoolkit5-dev libfftw3-dev   # image I/O and filters (ITK's CMake config wants FFTW)
  libcli11-dev           # command-line parsing
  libcairo2-dev          # plots and preview images
  libpng-dev             # PNG headers checked before ITK reads them (src/io/png_check.cpp)
  clang libclang-rt-14-dev  # sanitizer + libFuzzer builds (scripts/ci-reliability.sh, fuzz.sh)
  mricron-data           # a real MRI volume (Colin27) used by tests and the demo
)
if [ "${USEG_DEPS_PYTHON:-0}" = 1 ]; then
  pkgs+=(python3-torch python3-numpy)  # golden files and peer benchmarks, not needed for tests
fi

missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -eq 0 ]; then
  echo "install-deps: all ${#pkgs[@]} packages present"
  exit 0
fi
SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"
echo "install-deps: installing ${missing[*]}"
$SUDO apt-get update -qq
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"

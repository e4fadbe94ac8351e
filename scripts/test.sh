#!/usr/bin/env bash
# The test command (README.md and .ci/run call exactly this): installs dependencies, configures,
# builds, and runs the whole suite through ctest.
#   BUILD_DIR   build folder (default: build)
#   JOBS        parallel build jobs (default: number of cores)
# Where nvcc exists it also configures and builds a USEG_WITH_CUDA=ON tree ($BUILD_DIR-cuda) and
# runs its CUDA tests there: SKIPPED with the reason on a machine without a GPU, executed on one.
# Last, scripts/ci-reliability.sh builds a clang ASan+UBSan tree of the parsers and runs their
# unit tests and each fuzz target briefly (docs/reliability.md); USEG_CI_RELIABILITY=0 skips it.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
build=${BUILD_DIR:-build}
jobs=${JOBS:-$(nproc)}

scripts/install-deps.sh

echo "== configure ($build)"
cmake -S . -B "$build" -DCMAKE_BUILD_TYPE=Release -DUSEG_WITH_CUDA=OFF >/dev/null
echo "== build"
cmake --build "$build" -j "$jobs"
echo "== unit tests"
cat "$build/cudacpu_status.txt" 2>/dev/null || true
(cd "$build" && ctest --output-on-failure -j "$jobs")

if [ -x /usr/local/cuda/bin/nvcc ] || command -v nvcc >/dev/null; then
  echo "== configure ($build-cuda, USEG_WITH_CUDA=ON)"
  cmake -S . -B "$build-cuda" -DCMAKE_BUILD_TYPE=Release -DUSEG_WITH_CUDA=ON >/dev/null
  echo "== build ($build-cuda)"
  cmake --build "$build-cuda" -j "$jobs"
  echo "== CUDA tests ($build-cuda)"
  (cd "$build-cuda" && ctest --output-on-failure -j "$jobs" -R '[Cc][Uu][Dd][Aa]')
else
  echo "== nvcc not found: CUDA build SKIPPED"
fi

scripts/ci-reliability.sh   # sanitizer subset + short fuzz runs (docs/reliability.md)
echo "== all tests passed"

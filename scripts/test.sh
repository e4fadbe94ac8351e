#!/usr/bin/env bash
# The test command (README.md and .ci/run call exactly this): installs dependencies, configures,
# builds, and runs the whole suite through ctest.
#   BUILD_DIR   build folder (default: build)
#   JOBS        parallel build jobs (default: number of cores)
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
(cd "$build" && ctest --output-on-failure -j "$jobs")
scripts/ci-reliability.sh   # sanitizer subset + short fuzz runs (docs/reliability.md)
echo "== all tests passed"

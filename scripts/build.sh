#!/usr/bin/env bash
# Configures and builds useg (scripts/test.sh and both Docker build stages call exactly this).
#   BUILD_DIR         build folder (default: build)
#   JOBS              parallel build jobs (default: number of cores)
#   USEG_WITH_CUDA    AUTO, ON or OFF (default: OFF)
#   USEG_BUILD_TESTS  ON or OFF (default: what BUILD_DIR was configured with, else ON)
#   TARGETS           space-separated targets to build (default: all)
set -euo pipefail
cd "$(dirname "$0")/.."
build=${BUILD_DIR:-build}
jobs=${JOBS:-$(nproc)}
cuda=${USEG_WITH_CUDA:-OFF}
# An existing build folder keeps its USEG_BUILD_TESTS unless it is given: the demo building only
# `useg` in the folder the tests also use must not switch the tests off there.
tests=${USEG_BUILD_TESTS:-}
if [ -z "$tests" ] && [ ! -f "$build/CMakeCache.txt" ]; then tests=ON; fi
echo "== configure ($build, USEG_WITH_CUDA=$cuda, USEG_BUILD_TESTS=${tests:-as configured})"
cmake -S . -B "$build" -DCMAKE_BUILD_TYPE=Release -DUSEG_WITH_CUDA="$cuda" \
  ${tests:+-DUSEG_BUILD_TESTS="$tests"} >/dev/null
targets=()
for t in ${TARGETS:-}; do targets+=(--target "$t"); done
echo "== build ($build${TARGETS:+: $TARGETS})"
cmake --build "$build" -j "$jobs" "${targets[@]}"

#!/usr/bin/env bash
# The reliability steps of the test command (scripts/test.sh runs this last; docs/reliability.md
# explains each). One clang tree with AddressSanitizer + UndefinedBehaviorSanitizer
# (-DUSEG_FUZZ=ON, which also instruments for libFuzzer) serves both steps, and only the targets
# needed are built — the parsers library, the parser unit tests and the fuzz targets, not the
# whole engine:
#   1. sanitizers: the parser unit tests (tests/sanitize/CMakeLists.txt: files, safetensors,
#      config, image I/O and its error paths, DICOM, fuzz regressions) run through ctest;
#   2. fuzzing: every libFuzzer target in fuzz/ for FUZZ_SECONDS each, from its seed corpus.
# Environment:
#   USEG_CI_RELIABILITY=0   skip both steps         FUZZ_BUILD_DIR   default build-fuzz
#   USEG_SANITIZE_TESTS=0   skip step 1             FUZZ_SECONDS     default 20 (0 skips step 2)
#   JOBS                    build jobs (default: number of cores)
#   FUZZ_SEED               libFuzzer seed of the CI runs (default 1)
set -euo pipefail
cd "$(dirname "$0")/.."
if [ "${USEG_CI_RELIABILITY:-1}" = 0 ]; then
  echo "== reliability steps SKIPPED (USEG_CI_RELIABILITY=0)"
  exit 0
fi
jobs=${JOBS:-$(nproc)}
build=${FUZZ_BUILD_DIR:-build-fuzz}
seconds=${FUZZ_SECONDS:-20}
t_start=$(date +%s)

scripts/install-deps.sh >/dev/null  # includes clang and libclang-rt-14-dev

echo "== reliability: configure and build $build (clang, ASan+UBSan, libFuzzer)"
# Configured every time (cheap when nothing changed): an existing tree from an older checkout
# must pick up today's CMakeLists (a stale one lacked useg_sanitize_tests).
CC=clang CXX=clang++ cmake -S . -B "$build" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DUSEG_FUZZ=ON \
  -DUSEG_WITH_CUDA=OFF >"$build.configure.log" 2>&1 || { cat "$build.configure.log"; exit 1; }
targets=(useg_sanitize_tests)
for src in fuzz/fuzz_*.cpp; do targets+=("$(basename "$src" .cpp)"); done
cmake --build "$build" -j "$jobs" --target "${targets[@]}" >"$build/build-ci.log" 2>&1 ||
  { tail -60 "$build/build-ci.log"; exit 1; }
t_built=$(date +%s)
echo "== reliability: build $((t_built - t_start)) s"

if [ "${USEG_SANITIZE_TESTS:-1}" != 0 ]; then
  echo "== sanitizers: parser unit tests under ASan+UBSan"
  # detect_leaks=1: a leak in our code is a finding; fuzz/lsan.supp lists the few third-party
  # leaks (ITK readers on malformed files) we cannot fix. Any UBSan report fails the test.
  (cd "$build" && \
   ASAN_OPTIONS=detect_leaks=1:strict_string_checks=1:detect_stack_use_after_return=1:check_initialization_order=1 \
   LSAN_OPTIONS=suppressions=$(pwd)/../fuzz/lsan.supp:print_suppressions=0 \
   UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
   ctest --output-on-failure -j "$jobs" -R '^sanitize\.')
  echo "== sanitizers: tests $(( $(date +%s) - t_built )) s"
fi

if [ "$seconds" != 0 ]; then
  t0=$(date +%s)
  for src in fuzz/fuzz_*.cpp; do
    target=$(basename "$src" .cpp); target=${target#fuzz_}
    # A fixed seed from the seed corpus: a CI failure is a finding that reproduces, not luck
    # (by hand, scripts/fuzz.sh draws a random seed and explores further).
    FUZZ_FRESH=1 FUZZ_SEED=${FUZZ_SEED:-1} FUZZ_BUILD_DIR=$build FUZZ_JOBS=$jobs \
      scripts/fuzz.sh "$target" "$seconds"
  done
  echo "== fuzzing: $(( $(date +%s) - t0 )) s"
fi
echo "== reliability steps: $(( $(date +%s) - t_start )) s in all"

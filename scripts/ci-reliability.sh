#!/usr/bin/env bash
# The reliability steps of the test command (scripts/test.sh runs this after the unit tests;
# docs/reliability.md explains each):
#   1. sanitizers: the unit tests built with -fsanitize=address,undefined (USEG_SANITIZE=ON),
#      the subset below run through ctest;
#   2. fuzzing: every libFuzzer target in fuzz/ for FUZZ_SECONDS each, from its seed corpus.
# Environment:
#   USEG_RELIABILITY=0      skip both          SANITIZE_BUILD_DIR  default build-asan
#   USEG_SANITIZE_TESTS=0   skip step 1        FUZZ_SECONDS        default 20 (0 skips step 2)
#   JOBS                    build jobs (default: number of cores)
set -euo pipefail
cd "$(dirname "$0")/.."
[ "${USEG_RELIABILITY:-1}" = 0 ] && { echo "== reliability steps skipped (USEG_RELIABILITY=0)"; exit 0; }
jobs=${JOBS:-$(nproc)}

# The sanitizer subset: ops, tensors, config, safetensors/files, image I/O and errors, DICOM,
# resampling, eval metrics, the resource guards and the full-disk tests. Left out for time (they
# run in the plain build): the golden/U-Net network tests, the segment and eval CLI batch tests
# and the kill-9 crash tests (those run the CLI tens of times).
SANITIZE_SUBSET='^(Shape|Tensor|Geometry|Compare|Conv|Deconv|Pool|Norm|BatchNorm|InstanceNorm|Softmax|Loss|Optim|Adam|Sgd|Elementwise|Activation|Window|Flip|Config|RunConfig|ModelConfig|ModelInfo|Safetensors|SafetensorsErrors|Files|ImageIO|ImageErrors|Dicom|Resample|EvalMetrics|EvalInstances|LabelMetrics|Dice|ResourceGuards|FullDisk|SharedUtils|Progress|Cases)'

if [ "${USEG_SANITIZE_TESTS:-1}" != 0 ]; then
  t0=$(date +%s)
  build=${SANITIZE_BUILD_DIR:-build-asan}
  echo "== sanitizers: configure and build ($build, ASan+UBSan, -O1)"
  cmake -S . -B "$build" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DUSEG_SANITIZE=ON \
    -DCMAKE_CXX_FLAGS_RELWITHDEBINFO="-O1 -g1" -DUSEG_WITH_CUDA=OFF >/dev/null
  cmake --build "$build" -j "$jobs" >"$build.build.log" 2>&1 || { tail -60 "$build.build.log"; exit 1; }
  t1=$(date +%s)
  echo "== sanitizers: unit test subset"
  # detect_leaks=1: leaks in our code are findings; lsan.supp lists the third-party one-time
  # allocations (libgomp thread pool, ITK factories) that are never freed by design.
  # halt_on_error / -fno-sanitize-recover: any UBSan report fails the test.
  (cd "$build" && \
   ASAN_OPTIONS=detect_leaks=1:strict_string_checks=1:detect_stack_use_after_return=1:check_initialization_order=1 \
   LSAN_OPTIONS=suppressions=$(pwd)/../scripts/lsan.supp:print_suppressions=0 \
   UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
   ctest --output-on-failure -j "$jobs" -R "$SANITIZE_SUBSET")
  echo "== sanitizers: build $((t1 - t0)) s, tests $(( $(date +%s) - t1 )) s"
fi

seconds=${FUZZ_SECONDS:-20}
if [ "$seconds" != 0 ]; then
  t0=$(date +%s)
  for src in fuzz/fuzz_*.cpp; do
    target=$(basename "$src" .cpp); target=${target#fuzz_}
    FUZZ_FRESH=1 FUZZ_JOBS=$jobs scripts/fuzz.sh "$target" "$seconds"
  done
  echo "== fuzzing: $(( $(date +%s) - t0 )) s including the build"
fi

#!/usr/bin/env bash
# Builds and runs one libFuzzer target for SECONDS:
#   scripts/fuzz.sh config|safetensors|image|dataset [SECONDS]      (default 60)
# Uses Debian's clang (scripts/install-deps.sh installs it) with ASan + UBSan. The seed corpus is
# fuzz/corpus/TARGET (read-only); new inputs go to $FUZZ_BUILD_DIR/corpus-TARGET, findings to
# $FUZZ_BUILD_DIR/crashes-TARGET. Prints the executions and exits non-zero on a finding.
#   FUZZ_BUILD_DIR   build folder (default build-fuzz)
#   FUZZ_JOBS        parallel build jobs (default: number of cores)
#   FUZZ_FRESH=1     start from the seed corpus only (CI does: results do not depend on leftovers)
#   FUZZ_SEED=N      libFuzzer's -seed (default 0: a random seed; CI uses a fixed one)
set -euo pipefail
cd "$(dirname "$0")/.."
target=${1:?usage: scripts/fuzz.sh config|safetensors|image|dataset [SECONDS]}
seconds=${2:-60}
build=${FUZZ_BUILD_DIR:-build-fuzz}
[ -d "fuzz/corpus/$target" ] || { echo "fuzz.sh: no target '$target' (fuzz/corpus/$target missing)"; exit 2; }

scripts/install-deps.sh >/dev/null  # includes clang and libclang-rt-14-dev
if [ ! -f "$build/CMakeCache.txt" ]; then
  CC=clang CXX=clang++ cmake -S . -B "$build" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DUSEG_FUZZ=ON \
    -DUSEG_WITH_CUDA=OFF >"$build.configure.log" 2>&1 || { cat "$build.configure.log"; exit 1; }
fi
if ! cmake --build "$build" -j "${FUZZ_JOBS:-$(nproc)}" --target "fuzz_$target" \
    >"$build/build-$target.log" 2>&1; then
  tail -40 "$build/build-$target.log"
  exit 1
fi
corpus="$build/corpus-$target"
[ "${FUZZ_FRESH:-0}" = 1 ] && rm -rf "$corpus"
mkdir -p "$corpus" "$build/crashes-$target"
log="$build/fuzz-$target.log"
dict=()
[ -f "fuzz/$target.dict" ] && dict=(-dict="fuzz/$target.dict")
set +e
# Leaks are findings (detect_leaks=1). A single allocation over 2 GiB is a finding
# (-malloc_limit_mb): every parser must refuse such sizes before allocating. -rss_limit_mb
# bounds the whole process; -timeout=30 makes a unit slower than 30 s a finding.
# fuzz/lsan.supp lists the few leaks inside ITK that we cannot fix (docs/reliability.md).
LSAN_OPTIONS=suppressions=$(pwd)/fuzz/lsan.supp:print_suppressions=0 \
ASAN_OPTIONS=detect_leaks=1:allocator_may_return_null=0 \
UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
  "$build/fuzz/fuzz_$target" -max_total_time="$seconds" -rss_limit_mb=3072 -malloc_limit_mb=2048 \
  -timeout=30 -seed="${FUZZ_SEED:-0}" -artifact_prefix="$build/crashes-$target/" -print_final_stats=1 "${dict[@]}" \
  "$corpus" "fuzz/corpus/$target" >"$log" 2>&1
status=$?
set -e
execs=$(grep -E '^stat::number_of_executed_units' "$log" | awk '{print $2}' | tail -1 || true)
cov=$(grep -oE 'cov: [0-9]+ ft: [0-9]+' "$log" | tail -1 || true)
echo "fuzz $target: ${execs:-?} executions in ${seconds}s (${cov:-no coverage line}), corpus" \
  "$(ls "$corpus" | wc -l) inputs, exit $status (log: $log)"
if [ $status -ne 0 ]; then
  grep -E '^==[0-9]+==ERROR|^SUMMARY|runtime error|Test unit written|^    #[0-9] ' "$log" | head -20
  exit 1
fi

#!/usr/bin/env bash
# Builds and runs one libFuzzer target for SECONDS:  scripts/fuzz.sh config|safetensors|image [SECONDS]
# Uses clang from Debian (installed here if missing) with ASan + UBSan; the seed corpus is
# fuzz/corpus/TARGET (read-only), new inputs go to build-fuzz/corpus-TARGET, crashes to
# build-fuzz/crashes-TARGET. Prints the executions and exits non-zero on a finding.
set -euo pipefail
cd "$(dirname "$0")/.."
target=${1:?usage: scripts/fuzz.sh config|safetensors|image|dataset [SECONDS]}
seconds=${2:-60}
build=${FUZZ_BUILD_DIR:-build-fuzz}

scripts/install-deps.sh >/dev/null
if ! command -v clang++ >/dev/null || ! dpkg -s libclang-rt-14-dev >/dev/null 2>&1; then
  SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO=sudo
  $SUDO apt-get install -y -qq --no-install-recommends clang libclang-rt-14-dev >/dev/null
fi
if [ ! -f "$build/CMakeCache.txt" ]; then
  CC=clang CXX=clang++ cmake -S . -B "$build" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DUSEG_FUZZ=ON \
    -DUSEG_WITH_CUDA=OFF >/dev/null
fi
cmake --build "$build" -j "${JOBS:-$(nproc)}" --target "fuzz_$target" >/dev/null
mkdir -p "$build/corpus-$target" "$build/crashes-$target"
log="$build/fuzz-$target.log"
set +e
# ASAN options: leaks are reported (detect_leaks), allocations over 2 GB are findings.
ASAN_OPTIONS=detect_leaks=1:allocator_may_return_null=0:malloc_limit_mb=2048 \
UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
  "$build/fuzz_$target" -max_total_time="$seconds" -rss_limit_mb=2560 -timeout=30 \
  -artifact_prefix="$build/crashes-$target/" -print_final_stats=1 \
  "$build/corpus-$target" "fuzz/corpus/$target" >"$log" 2>&1
status=$?
set -e
execs=$(grep -E '^stat::number_of_executed_units' "$log" | awk '{print $2}')
echo "fuzz $target: ${execs:-?} executions in ${seconds}s, exit $status (log: $log)"
if [ $status -ne 0 ]; then
  grep -E 'ERROR|SUMMARY|Test unit written' "$log" | head -20
  exit 1
fi

#!/usr/bin/env bash
# The GPU self-check of a useg bundle (scripts/bundle.sh), for any x86-64 Linux machine with an
# NVIDIA GPU and no build tools (docs/gpu.md):
#
#   scripts/gpu-check.sh BUNDLE OUT_DIR
#     BUNDLE    useg-cuda-<rev>.tar.xz (or a folder where a bundle was unpacked)
#     OUT_DIR   receives at most 7 small flat files, whatever happens:
#                 summary.txt    one line per stage: name, PASS/FAIL/SKIP/TIMEOUT, seconds, key numbers
#                 env.txt        GPU, driver, the cuDNN/cuBLAS found, CUDA code in the binary, python/torch
#                 tests.log      the CUDA tests' output; junit.tar.gz their gtest XML files
#                 sanitizer.log  compute-sanitizer memcheck and racecheck
#                 bench.log      useg bench and PyTorch output, the side-by-side table
#                 bench.jsonl    one JSON line per benchmark case and engine
#
# Stages, in order, each under its own time cap (seconds) and all under DEADLINE:
#   env (30)       nvidia-smi, driver, libraries, CUDA architectures; no GPU or a missing library
#                  stops here (the later stages are SKIP with the reason)
#   tests (150)    the CUDA tests of the bundled useg_tests
#   sanitize (120) compute-sanitizer memcheck (+ leak check) and racecheck on a small subset
#   bench (150)    useg bench for the cases of gpu-bench-cases.txt, most important first
#   torch (120)    torch_gpu_bench.py: the same cases in PyTorch with the same weights
# A failing stage never stops the later ones (except env, above); a stage at its cap is TIMEOUT
# and keeps what it wrote.
#
# Environment:
#   DEADLINE (420)  seconds for all stages; a stage never runs past it
#   STAGES          comma list, a subset for a rerun (default env,tests,sanitize,bench,torch)
#   CAP_ENV, CAP_TESTS, CAP_SANITIZE, CAP_BENCH, CAP_TORCH   the caps above
#   BENCH_WARMUP (3), BENCH_REPEAT (20)   useg bench and PyTorch runs per case
#   CUDNN_LIB_DIR, CUBLAS_LIB_DIR, NCCL_LIB_DIR   where cuDNN 9 / cuBLAS 13 / NCCL 2 are (NCCL
#                   is optional: the tests stage's 1-rank NCCL training), when neither the system
#                   (ldconfig -p) nor an nvidia-cudnn-cu13 / nvidia-cublas wheel of a python3
#                   has them
#   NVIDIA_SMI, COMPUTE_SANITIZER, PYTHONS (space list), LDCONFIG   the tools used
#   KEEP_WORK=1     keep the scratch folder
# The library folders found go into LD_LIBRARY_PATH of useg's commands only (never python's),
# before the caller's own LD_LIBRARY_PATH; the bundle's own libraries come first regardless
# (DT_RPATH). Exit status: 0 when no selected
# stage failed or timed out, 1 otherwise, 2 for a usage error.
set -euo pipefail
self=$(readlink -f "$0")
here=$(dirname "$self")
all_stages="env tests sanitize bench torch"

# The test filters. CUDA_FILTER: the CUDA tests that are not op cases — every suite with Cuda in
# its name, the device-parametrized golden U-Nets (named .../cuda) and Tensor.* (the no-device
# error, checked in a fresh process). OPS_FILTER: every op case of the harness on CUDA
# (tests/harness/op_tests.cpp: cuda/OpEval.Run/<op>_<case>, cuda/OpGrad.Run/<op>_<case>).
CUDA_FILTER='*Cuda*:*cuda*:Tensor.*:-cuda/Op*'
OPS_FILTER='cuda/Op*'
# compute-sanitizer subsets: one instance of every kernel family (elementwise, concat/split,
# softmax, dropout, activations, window/argmax/flip, pooling, conv/deconv + bias, norms, losses,
# optimizers, the channels-last casts), the allocator and the transfers for memcheck; the row
# reductions and norms for racecheck (the kernels that share memory between threads).
MEMCHECK_FILTER='cuda/OpEval.Run/elementwise_*_n2_c4_d1_h9_w16:cuda/OpEval.Run/concat_concat_split_n2_c4_d1_h9_w16:cuda/OpEval.Run/softmax_matches_reference_n2_c4_d1_h9_w16:cuda/OpEval.Run/dropout_applies_its_mask_n2_c4_d1_h9_w16:cuda/OpEval.Run/activation_*_leaky_relu_n2_c4_d1_h9_w16:cuda/OpEval.Run/activation_*_sigmoid_n2_c4_d1_h9_w16:cuda/OpEval.Run/window_*_n2_c4_d1_h9_w16:cuda/OpEval.Run/pool_*_3d_2x2x2:cuda/OpEval.Run/conv_forward_2d_3x3_batch2:cuda/OpEval.Run/conv_backward_*_2d_3x3_batch2:cuda/OpEval.Run/conv_forward_3d_3x3x3_same:cuda/OpEval.Run/conv_deconv_*_3d_k2s2:cuda/OpEval.Run/norm_*_n2_c4_d1_h9_w16:cuda/OpEval.Run/loss_dice_ce_n2_c4_d1_h9_w16:cuda/OpEval.Run/loss_mse_dense_n2_c4_d1_h9_w16:cuda/OpEval.Run/loss_hinge_labels_n2_c4_d1_h9_w16:cuda/OpEval.Run/optim_*_n2_c4_d1_h9_w16:cuda/OpEval.Run/conv_bf16_conv_3d_3x3x3_same:cuda/OpEval.Run/conv_fp16_deconv_2d_k2s2:CudaInternals.*:CudaTensorTransfer.*'
RACECHECK_FILTER='cuda/OpEval.Run/norm_*:cuda/OpEval.Run/elementwise_sum_squares_*:cuda/OpEval.Run/loss_dice_ce_n*:cuda/OpEval.Run/loss_dice_ce_batch_weighted_smooth1_n*:cuda/OpEval.Run/loss_dice_ce_longer_than_a_reduction_chunk'

now() { date +%s; }

# ====================================================================== inside a stage
# A stage runs as `bash gpu-check.sh --stage NAME` under `timeout`, with the GC_* variables
# of the main process. It writes its key numbers with note(), its logs to GC_OUT, and exits
# 0 PASS, 1 FAIL, 3 FAIL that stops the later stages (env), 77 SKIP, 124 out of time.
note() { printf '%s\n' "$*" >"$GC_WORK/$GC_STAGE.note"; }
left() { echo $((GC_STAGE_END - $(now))); }                # seconds left in this stage
uenv() { env LD_LIBRARY_PATH="$GC_LIBPATH" "$@"; }         # useg's commands only, never python
share() { echo "$GC_BUNDLE/share/useg"; }

stage_env() {
  local f=$GC_OUT/env.txt
  {
    echo "gpu-check: $(date -u +%Y-%m-%dT%H:%M:%SZ) on $(cat /proc/sys/kernel/hostname 2>/dev/null), $(uname -srm)"
    echo "bundle: $GC_BUNDLE"
    sed -n '1,/^binaries:/p' "$GC_BUNDLE/MANIFEST" | sed '$d; s/^/  /'
    echo "nvidia-smi -L:"
    timeout 20 "$GC_SMI" -L 2>&1 | sed 's/^/  /' || true
    echo "nvidia-smi --query-gpu=name,driver_version,compute_cap,memory.total:"
    timeout 20 "$GC_SMI" --query-gpu=name,driver_version,compute_cap,memory.total \
      --format=csv,noheader 2>&1 | sed 's/^/  /' || true
    echo "libraries (search: CUDNN_LIB_DIR / CUBLAS_LIB_DIR, ldconfig -p, python wheels):"
    sed 's/^/  /' "$GC_WORK/libs.txt"
    echo "LD_LIBRARY_PATH for useg's commands: ${GC_LIBPATH:-(none needed)}"
    echo "caller's LD_LIBRARY_PATH (kept last; python runs with it alone): ${LD_LIBRARY_PATH:-(unset)}"
    echo "ldd bin/useg:"
    uenv ldd "$GC_BUNDLE/bin/useg" 2>&1 | sed "s/ (0x[0-9a-f]*)\$//; s/^[[:space:]]*/  /; s#$GC_BUNDLE/bin/\.\./lib/#(bundle) #"
    echo "CUDA code in bin/useg:"
    if command -v cuobjdump >/dev/null; then
      { cuobjdump --list-elf "$GC_BUNDLE/bin/useg"; cuobjdump --list-ptx "$GC_BUNDLE/bin/useg"; } 2>&1 |
        grep -o '[a-z]*_[0-9]*[a-z]*\.\(cubin\|ptx\)' | sort -u | sed 's/^/  /' || true
    else
      echo "  (no cuobjdump) MANIFEST: $(sed -n 's/^cuda_archs: //p' "$GC_BUNDLE/MANIFEST")"
    fi
    echo "python interpreters (without LD_LIBRARY_PATH):"
    local py
    for py in $GC_PYTHONS; do
      echo "  $py: $(timeout 20 "$py" -c 'import sys
try:
    import torch
    c = torch.cuda.is_available()
    print(sys.version.split()[0], "torch", torch.__version__, "cuda", torch.version.cuda,
          "cudnn", torch.backends.cudnn.version(), "device",
          torch.cuda.get_device_name(0) if c else "none")
except Exception as e:
    print(sys.version.split()[0], "no torch:", e)' 2>&1 | tail -n1)"
    done
  } >"$f" 2>&1
  if [ -n "$GC_PREREQ" ]; then
    note "$GC_PREREQ"
    echo "[env] $GC_PREREQ" >&2
    exit 3
  fi
  local gpu cc archs
  gpu=$(timeout 20 "$GC_SMI" --query-gpu=name,driver_version,compute_cap --format=csv,noheader 2>/dev/null | head -n1)
  cc=$(awk -F', *' '{gsub(/\./, "", $3); print $3}' <<<"$gpu")
  archs=$(sed -n 's/^cuda_archs: //p' "$GC_BUNDLE/MANIFEST")
  local cudnn
  cudnn=$(sed -n 's/^libcudnn.so.9: \([^ ]*\).*version \([^;)]*\).*/\2 at \1/p' "$GC_WORK/libs.txt")
  note "GPU: ${gpu:-?}; cuDNN: ${cudnn:-not found}; bundle: $archs"
  if [ "$GC_VARIANT" = cuda ] && [ -n "$cc" ] && [[ $archs != *"sm_$cc"* ]]; then
    note "GPU compute capability sm_$cc has no machine code in bin/useg ($archs): the driver would JIT PTX, if any"
    exit 1
  fi
}

# Runs useg_tests once: run_gtest NAME FILTER [VAR=VALUE...]; appends to tests.log, writes
# junit/NAME.xml, prints "NAME: P passed, F failed, S skipped" and returns gtest's status.
run_gtest() {
  local name=$1 filter=$2 t rc=0 out
  shift 2
  t=$(($(left) - 3))
  if [ "$t" -lt 5 ]; then echo "$name: not run (stage cap reached)"; return 124; fi
  out=$GC_WORK/$name.out
  echo "== $name: $* useg_tests --gtest_filter=$filter (cap ${t}s)" >>"$GC_OUT/tests.log"
  timeout -k 3 "$t" env "$@" LD_LIBRARY_PATH="$GC_LIBPATH" "$GC_BUNDLE/bin/useg_tests" \
    --gtest_filter="$filter" --gtest_output="xml:$GC_WORK/junit/$name.xml" >"$out" 2>&1 || rc=$?
  cat "$out" >>"$GC_OUT/tests.log"
  if [ "$rc" = 124 ] || [ "$rc" = 137 ]; then echo "== $name: TIMEOUT after ${t}s" >>"$GC_OUT/tests.log"; fi
  local passed failed skipped
  passed=$(sed -n 's/^\[  PASSED  \] \([0-9]*\) test.*/\1/p' "$out" | tail -n1)
  failed=$(sed -n 's/^\[  FAILED  \] \([0-9]*\) test.*/\1/p' "$out" | tail -n1)
  skipped=$(sed -n 's/^\[  SKIPPED \] \([0-9]*\) test.*/\1/p' "$out" | tail -n1)
  echo "$name: ${passed:-0} passed, ${failed:-0} failed, ${skipped:-0} skipped$([ "$rc" = 0 ] || echo " (exit $rc)")"
  return "$rc"
}

# nccl_train: the tests stage's 1-rank NCCL training run.
# shellcheck disable=SC1091  # linted on its own (tests/shell/test_gpu_check.sh)
source "$here/gpu-check-nccl.sh"

stage_tests() {
  mkdir -p "$GC_WORK/junit" "$GC_WORK/tmp"
  : >"$GC_OUT/tests.log"
  local s a b rc1=0 rc2=0
  s=$(share)
  local paths=(USEG_BINARY="$GC_BUNDLE/bin/useg" USEG_SOURCE_DIR="$s" USEG_TEST_DATA="$s/tests/data"
    TMPDIR="$GC_WORK/tmp")
  a=$(run_gtest cuda "$CUDA_FILTER" "${paths[@]}") || rc1=$?
  note "$a"
  b=$(run_gtest ops "$OPS_FILTER" "${paths[@]}") || rc2=$?
  note "$a; $b"
  local n rc3=0
  n=$(nccl_train) || rc3=$?
  note "$a; $b; $n"
  echo "[tests] $a; $b; $n"
  if [ "$rc1" = 124 ] || [ "$rc1" = 137 ] || [ "$rc2" = 124 ] || [ "$rc2" = 137 ]; then exit 124; fi
  [[ $a == *": 0 passed"* ]] && { note "$a; $b; no CUDA test passed"; exit 1; }
  [ "$rc1" = 0 ] && [ "$rc2" = 0 ] && [ "$rc3" = 0 ] || exit 1
}

# Runs one compute-sanitizer tool: sanitize TOOL FILTER SECONDS [options]; prints a summary.
sanitize() {
  local tool=$1 filter=$2 t=$3 rc=0 out errors
  shift 3
  if [ "$t" -lt 1 ]; then echo "$tool: not run (stage cap reached)"; return 124; fi
  out=$GC_WORK/$tool.out
  echo "== $tool: compute-sanitizer --tool $tool $* useg_tests --gtest_filter=$filter (cap ${t}s)" >>"$GC_OUT/sanitizer.log"
  timeout -k 3 "$t" env LD_LIBRARY_PATH="$GC_LIBPATH" "$GC_SANITIZER" --tool "$tool" "$@" \
    --error-exitcode 99 --print-limit 200 "$GC_BUNDLE/bin/useg_tests" --gtest_filter="$filter" \
    --gtest_brief=1 >"$out" 2>&1 || rc=$?
  cat "$out" >>"$GC_OUT/sanitizer.log"
  if grep -qiE 'device not supported|not supported on this (platform|device)|unable to (launch|attach)' "$out"; then
    echo "CANNOT RUN: $(grep -iE -m1 'not supported|unable to' "$out")"
    return 77
  fi
  errors=$(sed -n 's/.*ERROR SUMMARY: \([0-9]*\) error.*/\1/p; s/.*RACECHECK SUMMARY: \([0-9]*\) hazard.*/\1/p' "$out" | tail -n1)
  echo "$tool: ${errors:-?} errors$([ "$rc" = 0 ] || echo " (exit $rc)")"
  return "$rc"
}

stage_sanitize() {
  : >"$GC_OUT/sanitizer.log"
  if [ -z "$GC_SANITIZER" ]; then
    note "compute-sanitizer not found (PATH, /usr/local/cuda/bin, /usr/local/cuda/compute-sanitizer; COMPUTE_SANITIZER=)"
    echo "SKIP: $(cat "$GC_WORK/sanitize.note")" >>"$GC_OUT/sanitizer.log"
    exit 77
  fi
  local m r rc1=0 rc2=0 t
  t=$(($(left) - 2))
  t=$((t * 2 / 3 >= 1 ? t * 2 / 3 : t))   # two thirds for memcheck, the rest for racecheck
  m=$(sanitize memcheck "$MEMCHECK_FILTER" "$t" --leak-check full) || rc1=$?
  note "$m"
  if [ "$rc1" = 77 ]; then note "compute-sanitizer cannot run here: $m"; exit 77; fi
  r=$(sanitize racecheck "$RACECHECK_FILTER" $(($(left) - 2)) --racecheck-report hazard) || rc2=$?
  note "$m; $r"
  echo "[sanitize] $m; $r"
  if [ "$rc1" = 124 ] || [ "$rc1" = 137 ] || [ "$rc2" = 124 ] || [ "$rc2" = 137 ]; then exit 124; fi
  [ "$rc1" = 0 ] && [ "$rc2" = 0 ] && [ "$rc3" = 0 ] || exit 1
}

# The model folder of CONFIG (relative to share/useg), made once by `useg init`: both engines
# load its weights.safetensors.
ensure_model() {
  local dir
  dir=$GC_WORK/models/$(basename "$1" .json)
  if [ ! -f "$dir/weights.safetensors" ]; then
    uenv "$GC_BUNDLE/bin/useg" init --config "$(share)/$1" --output "$dir" >/dev/null || return 1
  fi
  echo "$dir"
}

# Reads gpu-bench-cases.txt: prints its case lines without comments.
bench_cases() { grep -v '^[[:space:]]*\(#\|$\)' "$here/gpu-bench-cases.txt"; }

# The one-line JSON string of $1 (backslashes, quotes and control characters escaped).
json_str() { printf '"%s"' "$(printf '%s' "$1" | tr -d '\000-\037' | sed 's/\\/\\\\/g; s/"/\\"/g')"; }

stage_bench() {
  local log=$GC_OUT/bench.log jsonl=$GC_OUT/bench.jsonl n=0 ok=0 failed=0 stopped=0 key=""
  local name config shape batch mode prec envs model json t0 rc med err
  : >"$log"
  : >"$jsonl"
  mkdir -p "$GC_WORK/models" "$GC_WORK/bench"
  while read -r name config shape batch mode prec envs; do
    local case_env=()
    [ -z "$envs" ] || [ "$envs" = - ] || read -r -a case_env <<<"$envs"
    n=$((n + 1))
    if [ "$(left)" -lt 8 ]; then stopped=1; continue; fi
    json=$GC_WORK/bench/$name.json
    local dims
    IFS=x read -r -a dims <<<"$shape"   # 512x512 -> 512 512
    local args=(bench --device cuda --shape "${dims[@]}" --batch "$batch" --precision "$prec"
      --warmup "${BENCH_WARMUP:-3}" --repeat "${BENCH_REPEAT:-20}" --json "$json")
    [ "$mode" = train ] && args+=(--train)
    [ "$mode" = layers ] || args+=(--no-layers)
    t0=$(now)
    rc=0
    if model=$(ensure_model "$config" 2>>"$log"); then
      echo "== $name: ${case_env[*]}${case_env[*]:+ }useg ${args[*]} --model $model" >>"$log"
      timeout -k 3 $(($(left) - 3)) env LD_LIBRARY_PATH="$GC_LIBPATH" ${case_env[@]+"${case_env[@]}"} "$GC_BUNDLE/bin/useg" \
        "${args[@]}" --model "$model" >"$GC_WORK/bench/$name.out" 2>&1 || rc=$?
      cat "$GC_WORK/bench/$name.out" >>"$log"
    else
      rc=1
      echo "useg init --config $config failed" >"$GC_WORK/bench/$name.out"
    fi
    if [ "$rc" = 0 ] && [ -s "$json" ]; then
      ok=$((ok + 1))
      med=$(grep -o '"median_ms": *[0-9.e+-]*' "$json" | sed 's/.*: *//')
      printf '{"case":"%s","engine":"useg","config":"%s","shape":"%s","batch":%s,"mode":"%s","precision":"%s","env":%s,"rc":0,"wall_s":%d,"result":%s}\n' \
        "$name" "$config" "$shape" "$batch" "$mode" "$prec" "$(json_str "${case_env[*]}")" $(($(now) - t0)) "$(tr -d '\n' <"$json")" >>"$jsonl"
      [ "$ok" -le 4 ] && key="$key${key:+, }$name $(printf '%.2f' "$med") ms"
      echo "[bench] $name: $(printf '%.2f' "$med") ms"
    else
      failed=$((failed + 1))
      if [ "$rc" = 124 ] || [ "$rc" = 137 ]; then stopped=1; fi
      err=$(tail -n1 "$GC_WORK/bench/$name.out")
      [ -n "$err" ] || err="no --json output (exit $rc)"
      printf '{"case":"%s","engine":"useg","config":"%s","shape":"%s","batch":%s,"mode":"%s","precision":"%s","env":%s,"rc":%d,"wall_s":%d,"result":null,"error":%s}\n' \
        "$name" "$config" "$shape" "$batch" "$mode" "$prec" "$(json_str "${case_env[*]}")" "$rc" $(($(now) - t0)) "$(json_str "$err")" >>"$jsonl"
      echo "[bench] $name: FAILED (exit $rc): $err"
    fi
    note "$ok/$n cases ok, $failed failed${key:+; $key}"
  done < <(bench_cases)
  note "$ok/$n cases ok, $failed failed$([ "$stopped" = 0 ] || echo ", stopped at the cap")${key:+; $key}"
  [ "$stopped" = 0 ] || exit 124
  [ "$failed" = 0 ] || exit 1
}

stage_torch() {
  local py="" p rc=0 t config
  for p in $GC_PYTHONS; do
    if timeout 90 "$p" -c 'import sys, torch; sys.exit(0 if torch.cuda.is_available() else 3)' >/dev/null 2>&1; then
      py=$p
      break
    fi
  done
  if [ -z "$py" ]; then
    note "no python3 with torch and a CUDA device (tried: ${GC_PYTHONS:-none})"
    echo "== torch: SKIP: $(cat "$GC_WORK/torch.note")" >>"$GC_OUT/bench.log"
    exit 77
  fi
  mkdir -p "$GC_WORK/models"
  for config in $(bench_cases | awk '{print $2}' | sort -u); do
    ensure_model "$config" >/dev/null || { note "useg init --config $config failed"; exit 1; }
  done
  t=$(($(left) - 3))
  if [ "$t" -lt 2 ]; then note "no time left for PyTorch (stage cap reached)"; exit 124; fi
  echo "== torch: $py torch_gpu_bench.py (cap ${t}s)" >>"$GC_OUT/bench.log"
  timeout -k 3 "$t" "$py" -u "$here/torch_gpu_bench.py" --device cuda \
    --cases "$here/gpu-bench-cases.txt" --models "$GC_WORK/models" \
    --warmup "${BENCH_WARMUP:-3}" --repeat "${BENCH_REPEAT:-20}" --budget $((t - 5)) \
    --useg-jsonl "$GC_OUT/bench.jsonl" --jsonl-out "$GC_WORK/torch.jsonl" \
    --table-out "$GC_WORK/torch_table.txt" >>"$GC_OUT/bench.log" 2>&1 || rc=$?
  [ -f "$GC_WORK/torch.jsonl" ] && cat "$GC_WORK/torch.jsonl" >>"$GC_OUT/bench.jsonl"
  note "$(tail -n1 "$GC_WORK/torch_table.txt" 2>/dev/null || echo "no table (exit $rc)")"
  exit "$rc"
}

if [ "${1:-}" = --stage ]; then
  "stage_$2"
  exit 0
fi

# ====================================================================== the main process
usage() { sed -n '4,15p' "$self" >&2; exit 2; }
[ $# -eq 2 ] || usage
bundle_arg=$1
mkdir -p "$2"
out=$(cd "$2" && pwd)
deadline=${DEADLINE:-420}
stages=${STAGES:-env,tests,sanitize,bench,torch}
for s in ${stages//,/ }; do
  [[ " $all_stages " == *" $s "* ]] || { echo "gpu-check: unknown stage '$s' (valid: ${all_stages// /, })" >&2; exit 2; }
done
start_at=$(now)
deadline_at=$((start_at + deadline))
work=$(mktemp -d "${TMPDIR:-/tmp}/useg-gpu-check.XXXXXX")
summary=$out/summary.txt
: >"$summary"
overall=0
stop_reason=""
recorded=" "

record() {  # record NAME STATUS SECONDS NOTE: one summary line
  printf '%-9s %-7s %4ss  %s\n' "$1" "$2" "$3" "$4" >>"$summary"
  printf '[gpu-check] %-9s %-7s %4ss  %s\n' "$1" "$2" "$3" "$4"
  recorded="$recorded$1 "
}

finish() {
  local s f
  for s in ${stages//,/ }; do
    [[ $recorded == *" $s "* ]] || { record "$s" SKIP 0 "not run: ${stop_reason:-gpu-check stopped before it}"; overall=1; }
  done
  for f in "$out"/*; do
    case $(basename "$f") in
      summary.txt | env.txt | tests.log | junit.tar.gz | sanitizer.log | bench.log | bench.jsonl) ;;
      *) echo "gpu-check: warning: $f in OUT_DIR is not one of gpu-check's files" >&2 ;;
    esac
  done
  echo "== summary ($summary)"
  cat "$summary"
  [ -f "$work/torch_table.txt" ] && { echo "== useg vs PyTorch"; cat "$work/torch_table.txt"; }
  if [ "${KEEP_WORK:-0}" = 1 ]; then echo "scratch kept: $work"; else rm -rf "$work"; fi
  exit "$overall"
}
trap finish EXIT

# ---- the bundle: a .tar.xz to unpack, or an unpacked folder
if [ -d "$bundle_arg" ]; then
  bundle=$(cd "$bundle_arg" && pwd)
  [ -f "$bundle/MANIFEST" ] || bundle=$(find "$bundle" -maxdepth 2 -name MANIFEST -printf '%h\n' | head -n1)
elif [ -f "$bundle_arg" ]; then
  mkdir "$work/bundle"
  if command -v xz >/dev/null; then
    tar -C "$work/bundle" -xJf "$bundle_arg" || stop_reason="cannot unpack $bundle_arg"
  else  # no xz: Python's tarfile reads .tar.xz
    python3 -c 'import sys, tarfile; tarfile.open(sys.argv[1]).extractall(sys.argv[2])' \
      "$bundle_arg" "$work/bundle" || stop_reason="cannot unpack $bundle_arg (no xz; python3 failed)"
  fi
  bundle=$(find "$work/bundle" -maxdepth 2 -name MANIFEST -printf '%h\n' | head -n1)
else
  stop_reason="bundle $bundle_arg not found"
  bundle=""
fi
if [ -z "$stop_reason" ] && { [ -z "$bundle" ] || [ ! -x "$bundle/bin/useg" ]; }; then
  stop_reason="$bundle_arg is not a useg bundle (expected MANIFEST and bin/useg, from scripts/bundle.sh)"
fi
[ -z "$stop_reason" ] || { echo "gpu-check: $stop_reason" >&2; overall=1; exit 1; }
variant=$(sed -n 's/^variant: //p' "$bundle/MANIFEST")

# ---- tools
smi=${NVIDIA_SMI:-nvidia-smi}
sanitizer=${COMPUTE_SANITIZER-}
if [ -z "${COMPUTE_SANITIZER+set}" ]; then
  for c in compute-sanitizer /usr/local/cuda/bin/compute-sanitizer /usr/local/cuda/compute-sanitizer/compute-sanitizer; do
    if command -v "$c" >/dev/null; then sanitizer=$(command -v "$c"); break; fi
  done
fi
pythons=${PYTHONS-}
if [ -z "${PYTHONS+set}" ]; then  # every python3 found, each once
  for p in "$(command -v python3 || true)" /opt/torch/.venv/bin/python3 /usr/bin/python3 /usr/local/bin/python3; do
    [ -n "$p" ] && [ -x "$p" ] && [[ " $pythons " != *" $p "* ]] && pythons="$pythons $p"
  done
fi

# ---- cuDNN 9 and cuBLAS 13: CUDNN_LIB_DIR / CUBLAS_LIB_DIR, the system, python wheels
site_dirs=""
for p in $pythons; do
  site_dirs="$site_dirs $(timeout 30 "$p" -c 'import site; print(" ".join(site.getsitepackages() + [site.getusersitepackages()]))' 2>/dev/null || true)"
done
ldconfig_list() {
  if [ -n "${LDCONFIG:-}" ]; then "$LDCONFIG" -p; elif command -v ldconfig >/dev/null; then ldconfig -p; else /sbin/ldconfig -p; fi 2>/dev/null || true
}
# find_lib NAME DIR_VARIABLE: prints "DIR<TAB>how it was found<TAB>version", or fails.
find_lib() {
  local name=$1 var=$2 d f v
  if [ -n "${!var:-}" ] && [ -e "${!var}/$name" ]; then
    printf '%s\t%s\t%s\n' "${!var}" "$var" "$(basename "$(readlink -f "${!var}/$name")")"
    return
  fi
  f=$(ldconfig_list | awk -v n="$name" '$1 == n && /x86-64/ {print $NF; exit}')
  if [ -n "$f" ]; then
    printf '%s\t%s\t%s\n' "$(dirname "$f")" "system (ldconfig -p)" "$(basename "$(readlink -f "$f")")"
    return
  fi
  for d in $site_dirs; do
    for f in "$d"/nvidia/*/lib/"$name"; do
      [ -e "$f" ] || continue
      # The wheel's version from its dist-info folder: nvidia_cudnn_cu13-9.x, nvidia_cublas-13.x, ...
      v=${name#lib}
      v=${v%%.so*}
      v=${v%Lt}
      [ "$v" != nvrtc ] || v=cuda_nvrtc
      v=$(find "$d" -maxdepth 1 -iname "nvidia_$v*-*.dist-info" -printf '%f\n' 2>/dev/null | sed 's/\.dist-info$//' | head -n1)
      printf '%s\t%s\t%s\n' "$(dirname "$f")" "python wheel in $d" "${v:-$(basename "$(readlink -f "$f")")}"
      return
    done
  done
  return 1
}
libpath=""
missing=""
: >"$work/libs.txt"
for spec in libcudnn.so.9:CUDNN_LIB_DIR libcublas.so.13:CUBLAS_LIB_DIR libcublasLt.so.13:CUBLAS_LIB_DIR libnvrtc.so.13:CUBLAS_LIB_DIR libnccl.so.2:NCCL_LIB_DIR; do
  name=${spec%%:*}
  var=${spec#*:}
  if found=$(find_lib "$name" "$var"); then
    IFS=$'\t' read -r dir how version <<<"$found"
    echo "$name: $dir (found via $how; version $version)" >>"$work/libs.txt"
    [[ ":$libpath:" == *":$dir:"* ]] || libpath=${libpath:+$libpath:}$dir
  else
    echo "$name: NOT FOUND (searched $var=${!var:-unset}, ldconfig -p, nvidia/*/lib under:${site_dirs:- no python3})" >>"$work/libs.txt"
    # cuDNN and cuBLAS are required by a CUDA bundle; NVRTC only by cuDNN's runtime-compiled
    # engines, NCCL only by multi-GPU training (loaded at run time; the tests stage says so).
    [ "$variant" = cuda ] && [[ "$name" != libnvrtc.so.13 && "$name" != libnccl.so.2 ]] && missing="$missing $name"
  fi
done
# The caller's LD_LIBRARY_PATH stays after the folders found: NVIDIA container images often
# reach the driver (libcuda.so.1) only through it. The bundle's own libraries win regardless
# (DT_RPATH).
libpath=$libpath${LD_LIBRARY_PATH:+${libpath:+:}$LD_LIBRARY_PATH}
# Whatever else bin/useg needs and does not find (ldd with that path).
for name in $(env LD_LIBRARY_PATH="$libpath" ldd "$bundle/bin/useg" 2>/dev/null | awk '$3 == "not" {print $1}'); do
  [[ " $missing " == *" $name "* ]] || missing="$missing $name"
done
prereq=""
if ! command -v "$smi" >/dev/null; then
  prereq="no NVIDIA GPU/driver: $smi not found"
elif ! timeout 20 "$smi" -L 2>/dev/null | grep -q '^GPU '; then
  prereq="no NVIDIA GPU/driver: '$smi -L' lists no GPU ($(timeout 20 "$smi" -L 2>&1 | head -n1))"
fi
if [ -n "$missing" ]; then
  prereq="${prereq:+$prereq; }missing librar$([ "$(wc -w <<<"$missing")" = 1 ] && echo y || echo ies):$missing (see env.txt for where each was searched)"
fi

export GC_BUNDLE=$bundle GC_OUT=$out GC_WORK=$work GC_LIBPATH=$libpath GC_PREREQ=$prereq \
  GC_VARIANT=$variant GC_SMI=$smi GC_SANITIZER=$sanitizer GC_PYTHONS=$pythons

# ---- the stages
for s in $all_stages; do
  [[ ",$stages," == *",$s,"* ]] || continue
  if [ -n "$stop_reason" ]; then record "$s" SKIP 0 "$stop_reason"; overall=1; continue; fi
  if [ "$s" != env ] && [ -n "$prereq" ]; then
    record "$s" SKIP 0 "$prereq"; overall=1; continue
  fi
  remaining=$((deadline_at - $(now)))
  if [ "$remaining" -lt 5 ]; then
    record "$s" SKIP 0 "deadline: DEADLINE=${deadline}s reached"; overall=1; continue
  fi
  capvar=CAP_${s^^}
  case $s in env) cap=${!capvar:-30} ;; tests) cap=${!capvar:-150} ;; sanitize) cap=${!capvar:-120} ;;
    bench) cap=${!capvar:-150} ;; torch) cap=${!capvar:-120} ;; esac
  [ "$cap" -le "$remaining" ] || cap=$remaining
  t0=$(now)
  rc=0
  GC_STAGE=$s GC_STAGE_END=$((t0 + cap)) timeout -k 5 "$cap" bash "$self" --stage "$s" </dev/null || rc=$?
  secs=$(($(now) - t0))
  stage_note=$(cat "$work/$s.note" 2>/dev/null || true)
  case $rc in
    0) record "$s" PASS "$secs" "$stage_note" ;;
    77) record "$s" SKIP "$secs" "$stage_note" ;;
    124 | 137) record "$s" TIMEOUT "$secs" "cap ${cap}s${stage_note:+; $stage_note}"; overall=1 ;;
    3) record "$s" FAIL "$secs" "$stage_note"; overall=1; stop_reason="env: $stage_note" ;;
    *) record "$s" FAIL "$secs" "exit $rc${stage_note:+; $stage_note}"; overall=1 ;;
  esac
  if [ "$s" = tests ] && compgen -G "$work/junit/*.xml" >/dev/null; then
    tar -C "$work/junit" -czf "$out/junit.tar.gz" .
  fi
done

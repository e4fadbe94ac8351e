#!/usr/bin/env bash
# scripts/gpu-check.sh on a machine without a GPU, with the CPU bundle that ctest's `bundle`
# test packed, and stubs for the NVIDIA tools:
#   A  no NVIDIA driver: env FAILs with a clear line, summary.txt and env.txt are written;
#   B  a stub nvidia-smi, a stub python3 whose site-packages hold dummy cuDNN/cuBLAS wheels:
#      the libraries are found there; the real bundled useg_tests runs the CUDA filters (JUnit
#      XML packed); a compute-sanitizer stub sleeping past CAP_SANITIZE is TIMEOUT at its cap
#      and the later stages still run (bench: every case recorded as a JSON line, failing as a
#      CPU build must; torch: a stub sleeping past its cap, TIMEOUT);
#   C  DEADLINE: a stage is cut at the deadline, the later ones are SKIP;
#   D  a CUDA bundle without cuDNN/cuBLAS anywhere: env names the missing libraries and the
#      later stages are SKIP with that reason; CUDNN_LIB_DIR / CUBLAS_LIB_DIR are searched;
#   E  every run leaves only gpu-check's flat files (at most 7) in OUT_DIR;
#   F  where /usr/bin/python3 has torch (Debian's python3-torch), scripts/torch_gpu_bench.py
#      runs every case once at tiny sizes on the CPU with the weights of `useg init`, and joins
#      useg's numbers from a bench.jsonl into its table.
#   tests/shell/test_gpu_check.sh BUNDLE_OUT_DIR     (ctest: gpu_check_script, after `bundle`)
set -euo pipefail
bdir=${1:?usage: $0 BUNDLE_OUT_DIR}
root=$(cd "$(dirname "$0")/../.." && pwd)
gc=$root/scripts/gpu-check.sh
work=$(mktemp -d "${TMPDIR:-/tmp}/useg_test_gpu_check.XXXXXX")
trap 'rm -rf "$work"' EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }
archives=("$bdir"/useg-cpu-*.tar.xz)
[ -f "${archives[0]}" ] || fail "no useg-cpu-*.tar.xz in $bdir (ctest runs the bundle test first)"
archive=${archives[0]}

bash -n "$gc" || fail "gpu-check.sh: syntax"
if command -v shellcheck >/dev/null; then
  shellcheck "$gc" "$root/scripts/gpu-check-nccl.sh" "$root/scripts/bundle.sh" || fail "shellcheck"
else
  echo "shellcheck not installed: lint SKIPPED"
fi

# ---- stubs
stub=$work/stubs
mkdir -p "$stub" "$work/site/nvidia/cudnn/lib" "$work/site/nvidia/cu13/lib" "$work/site/nvidia_cudnn_cu13-9.99.0.dist-info"
cat >"$stub/nvidia-smi" <<'EOF'
#!/bin/sh
case "$*" in
  -L) echo "GPU 0: NVIDIA H200 (UUID: GPU-00000000-0000-0000-0000-000000000000)" ;;
  *query-gpu*) echo "NVIDIA H200, 580.159.03, 9.0, 143771 MiB" ;;
esac
EOF
cat >"$stub/compute-sanitizer" <<'EOF'
#!/bin/sh
sleep "${FAKE_SANITIZER_SLEEP:-0}"
echo "========= ERROR SUMMARY: 0 errors"
EOF
# python3: prints the fake site-packages when asked for it, claims torch + CUDA, sleeps
# FAKE_ENV_SLEEP seconds in env's version probe and FAKE_TORCH_SLEEP as torch_gpu_bench.py.
cat >"$stub/python3" <<'EOF'
#!/bin/sh
if [ "$1" = -c ]; then
  case "$2" in
    *getsitepackages*) echo "$FAKE_SITE" ;;
    *torch.__version__*) sleep "${FAKE_ENV_SLEEP:-0}" ;;   # env's probe of each python
  esac
  exit 0
fi
echo "stub python3 $*"
sleep "${FAKE_TORCH_SLEEP:-0}"
EOF
printf '#!/bin/sh\nexit 0\n' >"$stub/ldconfig-empty"   # a system without cuDNN
chmod +x "$stub"/*
for l in cudnn/lib/libcudnn.so.9 cu13/lib/libcublas.so.13 cu13/lib/libcublasLt.so.13; do
  cp "$(env -u LD_LIBRARY_PATH ldd "$(command -v ls)" | awk '$1 ~ /^libc\.so/ {print $3}')" "$work/site/nvidia/$l"
done
export FAKE_SITE=$work/site LDCONFIG=$stub/ldconfig-empty BENCH_WARMUP=0 BENCH_REPEAT=1
unset CUDNN_LIB_DIR CUBLAS_LIB_DIR LD_LIBRARY_PATH

# Only gpu-check's files, flat, at most 7.
check_outputs() {
  local n=0 f
  for f in "$1"/* "$1"/.[!.]*; do
    [ -e "$f" ] || continue
    [ -f "$f" ] || fail "$f in OUT_DIR is not a plain file"
    case $(basename "$f") in
      summary.txt | env.txt | tests.log | junit.tar.gz | sanitizer.log | bench.log | bench.jsonl) ;;
      *) fail "unexpected file in OUT_DIR: $f" ;;
    esac
    n=$((n + 1))
  done
  [ "$n" -le 7 ] || fail "$n files in OUT_DIR"
}
# line NAME OUT: the summary line of stage NAME
line() { grep "^$1 " "$2/summary.txt" || fail "summary.txt of $2 has no line for $1: $(cat "$2/summary.txt")"; }
secs() { line "$1" "$2" | awk '{sub(/s$/, "", $3); print $3}'; }

# ---- A: no NVIDIA driver (the .tar.xz itself)
rc=0
STAGES=env NVIDIA_SMI=$work/no-nvidia-smi PYTHONS="" "$gc" "$archive" "$work/a" >"$work/a.log" 2>&1 || rc=$?
[ "$rc" = 1 ] || { cat "$work/a.log"; fail "A: exit $rc, expected 1"; }
[ "$(wc -l <"$work/a/summary.txt")" = 1 ] || fail "A: summary.txt: $(cat "$work/a/summary.txt")"
line env "$work/a" | grep -q '^env  *FAIL .*no NVIDIA GPU/driver' || fail "A: $(cat "$work/a/summary.txt")"
[ -s "$work/a/env.txt" ] || fail "A: no env.txt"
check_outputs "$work/a"
echo "A ok: $(cat "$work/a/summary.txt")"

# ---- B: stub GPU, wheels found, a sanitizer past its cap, later stages still run
mkdir "$work/u"
tar -C "$work/u" -xJf "$archive"
u=$(echo "$work"/u/useg-cpu-*)
# Every component of gpu-check's test filters names at least one test of the bundled binary (a
# renamed test must not silently empty the sanitizer subsets); CudaInternals.* exists only in
# CUDA builds.
filters=$(grep -E '^(CUDA|OPS|MEMCHECK|RACECHECK)_FILTER=' "$gc")
[ "$(wc -l <<<"$filters")" = 4 ] || fail "gpu-check.sh: expected 4 *_FILTER lines: $filters"
while IFS= read -r def; do
  IFS=: read -r -a parts <<<"$(sed "s/^[A-Z]*_FILTER='//; s/'\$//" <<<"$def")"
  for p in "${parts[@]}"; do
    [ "$p" = 'CudaInternals.*' ] && continue
    n=$("$u/bin/useg_tests" --gtest_list_tests --gtest_filter="$p" | grep -c '^  ' || true)
    [ "$n" -gt 0 ] || fail "gpu-check.sh ${def%%=*}: '$p' matches no test of useg_tests"
  done
done <<<"$filters"

rc=0
t0=$(date +%s)
CAP_SANITIZE=4 FAKE_SANITIZER_SLEEP=60 CAP_TORCH=6 FAKE_TORCH_SLEEP=60 DEADLINE=300 \
  NVIDIA_SMI=$stub/nvidia-smi COMPUTE_SANITIZER=$stub/compute-sanitizer PYTHONS=$stub/python3 \
  "$gc" "$u" "$work/b" >"$work/b.log" 2>&1 || rc=$?
took=$(($(date +%s) - t0))
[ "$rc" = 1 ] || { cat "$work/b.log"; fail "B: exit $rc, expected 1 (TIMEOUT stages)"; }
[ "$(awk '{print $1}' "$work/b/summary.txt" | tr '\n' ' ')" = "env tests sanitize bench torch " ] ||
  fail "B: stages out of order: $(cat "$work/b/summary.txt")"
line env "$work/b" | grep -q ' PASS ' || { cat "$work/b/env.txt"; fail "B: $(line env "$work/b")"; }
grep -q "^  libcudnn.so.9: $work/site/nvidia/cudnn/lib (found via python wheel in $work/site; version nvidia_cudnn_cu13-9.99.0)" "$work/b/env.txt" ||
  { cat "$work/b/env.txt"; fail "B: env.txt does not show the wheel's cuDNN"; }
grep -q "^  libcublasLt.so.13: $work/site/nvidia/cu13/lib " "$work/b/env.txt" || fail "B: env.txt does not show the wheel's cuBLASLt"
grep -q "^LD_LIBRARY_PATH for useg's commands: $work/site/nvidia/cudnn/lib:$work/site/nvidia/cu13/lib\$" "$work/b/env.txt" ||
  fail "B: LD_LIBRARY_PATH: $(grep LD_LIBRARY_PATH "$work/b/env.txt")"
line tests "$work/b" | grep -qE ' PASS .*cuda: [1-9][0-9]* passed, 0 failed, [0-9]+ skipped; ops: 0 passed, 0 failed, [1-9][0-9]* skipped; nccl train: not run \(libnccl.so.2 not found\)' ||
  { tail -n 30 "$work/b/tests.log"; fail "B: $(line tests "$work/b")"; }
junit=$(tar -tzf "$work/b/junit.tar.gz")
grep -qx './cuda.xml' <<<"$junit" || fail "B: junit.tar.gz lacks cuda.xml: $junit"
grep -qx './ops.xml' <<<"$junit" || fail "B: junit.tar.gz lacks ops.xml: $junit"
line sanitize "$work/b" | grep -q ' TIMEOUT .*cap 4s' || fail "B: $(line sanitize "$work/b")"
[ "$(secs sanitize "$work/b")" -le 10 ] || fail "B: sanitize ran $(secs sanitize "$work/b") s with a 4 s cap"
line bench "$work/b" | grep -q ' FAIL .*0/19 cases ok, 19 failed' || fail "B: $(line bench "$work/b")"
[ "$(wc -l <"$work/b/bench.jsonl")" = 19 ] || fail "B: bench.jsonl has $(wc -l <"$work/b/bench.jsonl") lines, expected 19"
python3 - "$work/b/bench.jsonl" <<'EOF' || fail "B: bench.jsonl"
import json, sys
lines = [json.loads(line) for line in open(sys.argv[1])]  # every line is JSON
for j in lines:
    assert j["engine"] == "useg" and j["rc"] == 2 and j["result"] is None, j
    assert "without CUDA" in j["error"], j["error"]
# A case's env column reaches its line (and its run: bench.log below); the others have none.
env = {j["case"]: j["env"] for j in lines}
assert env["fwd2d-512-tf32-5d"] == "USEG_CUDNN_5D=1" and env["fwd2d-512-tf32"] == "", env
EOF
grep -q '^== fwd2d-512-tf32-5d: USEG_CUDNN_5D=1 useg bench --device cuda --shape 512 512 ' "$work/b/bench.log" ||
  fail "B: bench.log does not show the env of fwd2d-512-tf32-5d"
line torch "$work/b" | grep -q ' TIMEOUT .*cap 6s' || fail "B: $(line torch "$work/b")"
[ "$(secs torch "$work/b")" -le 12 ] || fail "B: torch ran $(secs torch "$work/b") s with a 6 s cap"
[ "$took" -lt 120 ] || fail "B: took $took s"
check_outputs "$work/b"
echo "B ok ($took s):"
sed 's/^/  /' "$work/b/summary.txt"

# ---- C: a stage killed at its cap from outside (env's python probe hangs), then the deadline
# cuts a stage and skips the rest
rc=0
t0=$(date +%s)
STAGES=env,sanitize,bench,torch DEADLINE=12 CAP_ENV=3 FAKE_ENV_SLEEP=60 FAKE_SANITIZER_SLEEP=60 \
  NVIDIA_SMI=$stub/nvidia-smi COMPUTE_SANITIZER=$stub/compute-sanitizer PYTHONS=$stub/python3 \
  "$gc" "$u" "$work/c" >"$work/c.log" 2>&1 || rc=$?
took=$(($(date +%s) - t0))
[ "$rc" = 1 ] || { cat "$work/c.log"; fail "C: exit $rc"; }
line env "$work/c" | grep -q ' TIMEOUT .*cap 3s' || fail "C: $(line env "$work/c")"
[ "$(secs env "$work/c")" -le 9 ] || fail "C: env ran $(secs env "$work/c") s with a 3 s cap"
line sanitize "$work/c" | grep -q ' TIMEOUT ' || fail "C: $(line sanitize "$work/c")"
line bench "$work/c" | grep -q ' SKIP .*deadline: DEADLINE=12s reached' || fail "C: $(line bench "$work/c")"
line torch "$work/c" | grep -q ' SKIP .*deadline' || fail "C: $(line torch "$work/c")"
[ "$took" -le 25 ] || fail "C: DEADLINE=12 but gpu-check ran $took s"
check_outputs "$work/c"
echo "C ok ($took s): $(tr '\n' '|' <"$work/c/summary.txt")"

# ---- D: a CUDA bundle on a machine without cuDNN / cuBLAS
mkdir "$work/d_bundle"
cp -rs "$u/." "$work/d_bundle/"
rm "$work/d_bundle/MANIFEST"
sed 's/^variant: cpu$/variant: cuda/; s/^cuda_archs: .*/cuda_archs: sass: sm_80 sm_90; ptx: compute_90/' "$u/MANIFEST" >"$work/d_bundle/MANIFEST"
rc=0
STAGES=env,tests NVIDIA_SMI=$stub/nvidia-smi PYTHONS="" "$gc" "$work/d_bundle" "$work/d" >"$work/d.log" 2>&1 || rc=$?
[ "$rc" = 1 ] || { cat "$work/d.log"; fail "D: exit $rc"; }
line env "$work/d" | grep -q ' FAIL .*missing libraries: libcudnn.so.9 libcublas.so.13 libcublasLt.so.13' ||
  fail "D: $(line env "$work/d")"
line tests "$work/d" | grep -q ' SKIP .*env: missing libraries: libcudnn.so.9' || fail "D: $(line tests "$work/d")"
grep -q '^  libcudnn.so.9: NOT FOUND (searched CUDNN_LIB_DIR=unset, ldconfig -p' "$work/d/env.txt" || fail "D: env.txt: no search trail"
check_outputs "$work/d"
LD_LIBRARY_PATH=$work/driver CUDNN_LIB_DIR=$work/site/nvidia/cudnn/lib CUBLAS_LIB_DIR=$work/site/nvidia/cu13/lib STAGES=env \
  NVIDIA_SMI=$stub/nvidia-smi PYTHONS="" "$gc" "$work/d_bundle" "$work/d2" >"$work/d2.log" 2>&1 ||
  { cat "$work/d2.log"; fail "D: CUDNN_LIB_DIR / CUBLAS_LIB_DIR not used"; }
grep -q "^  libcudnn.so.9: $work/site/nvidia/cudnn/lib (found via CUDNN_LIB_DIR" "$work/d2/env.txt" || fail "D: CUDNN_LIB_DIR"
# The caller's LD_LIBRARY_PATH (where a container's driver may be) is kept, after the found folders.
grep -q "^LD_LIBRARY_PATH for useg's commands: $work/site/nvidia/cudnn/lib:$work/site/nvidia/cu13/lib:$work/driver\$" "$work/d2/env.txt" ||
  fail "D: the caller's LD_LIBRARY_PATH was not kept last: $(grep "^LD_LIBRARY_PATH" "$work/d2/env.txt")"
# A CUDA bundle without machine code for the GPU (sm_90 here) fails env, naming it.
sed -i 's/^cuda_archs: .*/cuda_archs: sass: sm_80 sm_86; ptx: compute_86/' "$work/d_bundle/MANIFEST"
rc=0
CUDNN_LIB_DIR=$work/site/nvidia/cudnn/lib CUBLAS_LIB_DIR=$work/site/nvidia/cu13/lib STAGES=env \
  NVIDIA_SMI=$stub/nvidia-smi PYTHONS="" "$gc" "$work/d_bundle" "$work/d3" >"$work/d3.log" 2>&1 || rc=$?
{ [ "$rc" = 1 ] && grep -q ' FAIL .*sm_90 has no machine code in bin/useg' <<<"$(line env "$work/d3")"; } ||
  { cat "$work/d3.log"; fail "D: a bundle without sm_90 code passed env on an sm_90 GPU"; }
echo "D ok: $(line env "$work/d")"

# ---- F: the PyTorch side, dry run on the CPU
if /usr/bin/python3 -c 'import torch' 2>/dev/null; then
  mkdir "$work/models"
  while read -r c; do
    "$u/bin/useg" init --config "$u/share/useg/$c" --output "$work/models/$(basename "$c" .json)" >/dev/null
  done < <(grep -v '^#' "$root/scripts/gpu-bench-cases.txt" | awk 'NF {print $2}' | sort -u)
  echo '{"case":"fwd2d-512-tf32","engine":"useg","rc":0,"result":{"median_ms":10.0}}' >"$work/useg.jsonl"
  t0=$(date +%s)
  /usr/bin/python3 "$root/scripts/torch_gpu_bench.py" --device cpu --tiny --models "$work/models" \
    --useg-jsonl "$work/useg.jsonl" --jsonl-out "$work/torch.jsonl" --table-out "$work/table.txt" \
    >"$work/torch.log" 2>&1 || { cat "$work/torch.log"; fail "F: torch_gpu_bench.py --device cpu --tiny"; }
  [ "$(wc -l <"$work/torch.jsonl")" = 16 ] || fail "F: $(wc -l <"$work/torch.jsonl") PyTorch cases, expected 16"
  python3 - "$work/torch.jsonl" <<'EOF' || fail "F: torch.jsonl"
import json, sys
for line in open(sys.argv[1]):
    j = json.loads(line)
    assert "error" not in j and j["median_ms"] > 0, j
EOF
  grep -qE '^\| fwd2d-512-tf32 \| 10\.00 \| [0-9.]+ \| [0-9.]+ \| n/r \|' "$work/table.txt" ||
    { cat "$work/table.txt"; fail "F: no useg/PyTorch ratio for fwd2d-512-tf32"; }
  if grep -q layers3d "$work/table.txt"; then fail "F: the per-layer case is in the table"; fi
  if grep -q -- -5d "$work/table.txt"; then fail "F: a useg-only (env) case is in the table"; fi
  echo "F ok ($(($(date +%s) - t0)) s): $(tail -n1 "$work/table.txt")"
else
  echo "F SKIPPED: /usr/bin/python3 has no torch (scripts/install-deps.sh installs python3-torch)"
fi
echo "PASS"

#!/usr/bin/env bash
# Runs the real scripts/slurm/segment-array.sbatch as plain bash, once per array task with faked
# SLURM_* variables, over N shards of tiny cases, and checks that every case is segmented exactly
# once: one label file per case, and each case listed as done in exactly one shard report. Then
# the same for the Kubernetes Indexed Job (deploy/k8s/segment-job.yaml): its completions,
# parallelism and --shards must agree, and JOB_COMPLETION_INDEX = 0..N-1 must cover every case.
#   tests/shell/test_slurm_segment_array.sh PATH/TO/useg        (ctest: slurm_segment_array)
set -euo pipefail
useg=$(realpath "${1:?usage: $0 PATH/TO/useg}")
root=$(cd "$(dirname "$0")/../.." && pwd)
work=$(mktemp -d "${TMPDIR:-/tmp}/useg_test_slurm.XXXXXX")
trap 'rm -rf "$work"' EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }

cases=8
shards=3
# Tiny 2D MetaImage cases of different sizes (header + raw uint8 voxels), no other tools needed.
mkdir -p "$work/in"
for k in $(seq 0 $((cases - 1))); do
  w=$((20 + k)); h=$((16 + 2 * k))
  printf 'ObjectType = Image\nNDims = 2\nDimSize = %d %d\nElementSpacing = 0.5 0.25\nElementType = MET_UCHAR\nElementDataFile = LOCAL\n' \
    "$w" "$h" >"$work/in/case$k.mha"
  head -c $((w * h)) /dev/urandom >>"$work/in/case$k.mha"
done
"$useg" init --config "$root/configs/tiny2d_test.json" --output "$work/model" >/dev/null

run_task() {  # run_task INDEX COUNT OUTPUT: one array task, as Slurm would start it
  env SLURM_ARRAY_JOB_ID=4242 SLURM_ARRAY_TASK_ID="$1" \
    SLURM_ARRAY_TASK_COUNT="$2" SLURM_ARRAY_TASK_MIN=0 SLURM_CPUS_PER_TASK=1 \
    MODEL="$work/model" INPUT="$work/in" OUTPUT="$3" DEVICE=cpu USEG="$useg" \
    bash "$root/scripts/slurm/segment-array.sbatch"
}

check_once() {  # check_once OUTPUT COUNT STATUS: every case done exactly once over COUNT shard reports
  local out=$1 n=$2 want=$3 k i lines
  for k in $(seq 0 $((cases - 1))); do
    [ -f "$out/case$k.nii.gz" ] || fail "$out/case$k.nii.gz missing"
  done
  [ "$(find "$out" -name '*.nii.gz' | wc -l)" -eq "$cases" ] || fail "$out: not exactly $cases label files"
  : >"$work/rows"
  for i in $(seq 0 $((n - 1))); do
    local rep="$out/report-shard-$i-of-$n.csv"
    [ -f "$rep" ] && [ -f "${rep%.csv}.json" ] || fail "shard $i/$n: report $rep (or its .json) missing"
    # Shard i takes the cases k (sorted: case0 < case1 < ...) with k mod n = i.
    for k in $(seq 0 $((cases - 1))); do
      if [ $((k % n)) -eq "$i" ]; then
        grep -q "^case$k,$want," "$rep" || fail "shard $i/$n: case$k not '$want' in $rep: $(cat "$rep")"
      fi
    done
    tail -n +2 "$rep" | cut -d, -f1,2 >>"$work/rows"
  done
  lines=$(sort "$work/rows" | uniq -c | awk '$1 != 1' | wc -l)
  [ "$lines" -eq 0 ] || fail "a case appears in more than one shard report: $(sort "$work/rows" | uniq -d)"
  [ "$(wc -l <"$work/rows")" -eq "$cases" ] || fail "$(wc -l <"$work/rows") report rows for $cases cases"
  [ "$(cut -d, -f2 "$work/rows" | sort -u)" = "$want" ] || fail "statuses other than $want: $(cat "$work/rows")"
}

# --- Slurm: N array tasks, one after another (in a real array they run concurrently)
for i in $(seq 0 $((shards - 1))); do
  run_task "$i" "$shards" "$work/seg" >"$work/task$i.log" 2>&1 || { cat "$work/task$i.log"; fail "task $i exited non-zero"; }
  grep -q "shard $i/$shards, device cpu" "$work/task$i.log" || fail "task $i did not announce its shard: $(cat "$work/task$i.log")"
done
check_once "$work/seg" "$shards" done
# Labels keep each input's grid: case5 is 25x26 at 0.5x0.25 mm.
"$useg" eval --pred "$work/seg/case5.nii.gz" --ref "$work/seg/case5.nii.gz" >/dev/null \
  || fail "useg eval could not read the label of case5"
echo "slurm: $cases cases over $shards array tasks, each done exactly once"

# A requeued (re-run) task finds its cases finished and skips them.
run_task 1 "$shards" "$work/seg" >"$work/rerun.log" 2>&1 || { cat "$work/rerun.log"; fail "rerun of task 1 failed"; }
for k in $(seq 0 $((cases - 1))); do
  if [ $((k % shards)) -eq 1 ]; then
    grep -q "^case$k,skipped," "$work/seg/report-shard-1-of-$shards.csv" || fail "rerun: case$k not skipped"
  fi
done
echo "slurm: a re-run task skipped its finished cases"

# An array that does not start at 0 (--array=5-8) still covers every case once.
for id in 5 6 7 8; do
  env SLURM_ARRAY_TASK_ID=$id SLURM_ARRAY_TASK_COUNT=4 SLURM_ARRAY_TASK_MIN=5 SLURM_CPUS_PER_TASK=1 \
    MODEL="$work/model" INPUT="$work/in" OUTPUT="$work/seg4" DEVICE=cpu USEG="$useg" \
    bash "$root/scripts/slurm/segment-array.sbatch" >"$work/t$id.log" 2>&1 || { cat "$work/t$id.log"; fail "task $id failed"; }
done
check_once "$work/seg4" 4 done
echo "slurm: --array=5-8 covered every case once"

# Without the array variables the script refuses to run, naming the variable.
if env -u SLURM_ARRAY_TASK_ID MODEL=m INPUT=i OUTPUT=o bash "$root/scripts/slurm/segment-array.sbatch" >"$work/err.log" 2>&1; then
  fail "the script ran without SLURM_ARRAY_TASK_ID"
fi
grep -q "SLURM_ARRAY_TASK_ID" "$work/err.log" || fail "error does not name SLURM_ARRAY_TASK_ID: $(cat "$work/err.log")"

# --- Kubernetes Indexed Job
yaml="$root/deploy/k8s/segment-job.yaml"
completions=$(sed -n 's/^  completions: *\([0-9]*\).*/\1/p' "$yaml")
parallelism=$(sed -n 's/^  parallelism: *\([0-9]*\).*/\1/p' "$yaml")
shards_arg=$(grep -o '"--shards", "[0-9]*"' "$yaml" | grep -o '[0-9]*')
grep -q '^  completionMode: Indexed' "$yaml" || fail "$yaml: completionMode is not Indexed"
[ -n "$completions" ] && [ "$completions" = "$shards_arg" ] && [ "$parallelism" = "$completions" ] ||
  fail "$yaml: completions ($completions), parallelism ($parallelism) and --shards ($shards_arg) differ"
for i in $(seq 0 $((completions - 1))); do
  env -u SLURM_ARRAY_TASK_ID -u SLURM_ARRAY_TASK_COUNT JOB_COMPLETION_INDEX=$i \
    "$useg" segment --model "$work/model" --input "$work/in" --output "$work/k8s" --device cpu \
    --threads 1 --shards "$shards_arg" >"$work/pod$i.log" 2>&1 || { cat "$work/pod$i.log"; fail "pod $i failed"; }
done
check_once "$work/k8s" "$completions" done
echo "k8s: $cases cases over $completions indexed pods, each done exactly once"
echo "PASS"

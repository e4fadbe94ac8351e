#!/usr/bin/env bash
# Runs the real scripts/slurm/train.sbatch as plain bash with faked Slurm variables: SIGUSR1 to
# the script (what `#SBATCH --signal=B:USR1@300` sends before the time limit) must make useg
# write a checkpoint and stop, and the script requeue the job (a fake scontrol records the call);
# the requeued run (the same script again) must resume from the checkpoint and finish.
#   tests/shell/test_slurm_train.sh PATH/TO/useg        (ctest: slurm_train)
set -euo pipefail
useg=$(realpath "${1:?usage: $0 PATH/TO/useg}")
root=$(cd "$(dirname "$0")/../.." && pwd)
work=$(mktemp -d "${TMPDIR:-/tmp}/useg_test_slurm_train.XXXXXX")
pid=""
cleanup() {  # on failure, stop the job and the useg it started (its own process group)
  if [ -n "$pid" ]; then kill -- "-$pid" 2>/dev/null || kill "$pid" 2>/dev/null || true; fi
  rm -rf "$work"
}
trap cleanup EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }

# A tiny dataset of MetaImages: label = (voxel >= 128), so there is something to learn.
data="$work/Dataset900_Tiny"
mkdir -p "$data/imagesTr" "$data/labelsTr"
header='ObjectType = Image\nNDims = 2\nDimSize = 40 40\nElementSpacing = 1 1\nElementType = MET_UCHAR\nElementDataFile = LOCAL\n'
for k in 0 1 2 3; do
  head -c 1600 /dev/urandom >"$work/raw$k"
  { printf "$header"; cat "$work/raw$k"; } >"$data/imagesTr/c${k}_0000.mha"
  { printf "$header"; tr '\001-\177' '\000' <"$work/raw$k" | tr '\200-\377' '\001'; } >"$data/labelsTr/c$k.mha"
done
printf '%s\n' '{"channel_names": {"0": "noise"}, "labels": {"background": 0, "bright": 1},' \
  ' "numTraining": 4, "file_ending": ".mha"}' >"$data/dataset.json"
epochs=60
printf '%s\n' '{"model": {"dims": 2, "in_channels": 1, "num_classes": 2, "base_filters": 4, "depth": 1},' \
  ' "train": {"patch_size": [32, 32], "batch_size": 2, "epochs": '$epochs', "iterations_per_epoch": 3,' \
  '   "optimizer": "adam", "lr": 0.001, "schedule": "constant", "num_workers": 0,' \
  '   "val_cases": ["c3"], "target_spacing": "native", "normalization": "zscore", "seed": 1}}' \
  >"$work/config.json"
printf '#!/bin/sh\necho "$*" >>"%s"\n' "$work/scontrol.calls" >"$work/scontrol"
chmod +x "$work/scontrol"

# setsid and env exec bash, so $! below is the batch script's own pid, as for Slurm's batch
# step, and the leader of a process group that holds the job's useg too.
run_job() {
  exec setsid env SLURM_JOB_ID=777 SLURM_CPUS_PER_TASK=1 SCONTROL="$work/scontrol" USEG="$useg" DEVICE=cpu \
    DATA="$data" RUN="$work/run" "$@" bash "$root/scripts/slurm/train.sbatch"
}
show() { echo "--- $1"; cat "$1"; }

# 1st job: signalled once the first epoch is in metrics.csv (header + 1 row).
(run_job CONFIG="$work/config.json") >"$work/job1.log" 2>&1 &
pid=$!
for _ in $(seq 1500); do
  [ "$(cat "$work/run/metrics.csv" 2>/dev/null | wc -l)" -ge 2 ] && break
  kill -0 "$pid" 2>/dev/null || break
  sleep 0.2
done
[ -f "$work/run/metrics.csv" ] || { show "$work/job1.log"; fail "no epoch finished"; }
kill -USR1 "$pid"
status=0
wait "$pid" || status=$?
[ "$status" -eq 0 ] || { show "$work/job1.log"; fail "job 1 exited with $status"; }
grep -q "SIGUSR1 (time limit near)" "$work/job1.log" || { show "$work/job1.log"; fail "the script did not take SIGUSR1"; }
grep -q "^useg train: stopped by SIGUSR1" "$work/job1.log" || { show "$work/job1.log"; fail "useg did not stop on SIGUSR1"; }
[ -f "$work/run/checkpoint.safetensors" ] || fail "no checkpoint after the stop"
[ "$(cat "$work/scontrol.calls")" = "requeue 777" ] || fail "scontrol calls: $(cat "$work/scontrol.calls")"
rows1=$(($(wc -l <"$work/run/metrics.csv") - 1))
[ "$rows1" -lt "$epochs" ] || fail "job 1 ran all $epochs epochs although it was signalled"
pid=""  # useg has exited (it printed its stop message)
echo "job 1: stopped by SIGUSR1 after $rows1 epoch(s), checkpoint written, requeue requested"

# 2nd job (the requeued one; CONFIG is not needed any more): resumes and finishes.
(run_job) >"$work/job2.log" 2>&1 || { show "$work/job2.log"; fail "job 2 failed"; }
grep -q "has a checkpoint: resuming" "$work/job2.log" || { show "$work/job2.log"; fail "job 2 did not resume"; }
grep -q "training finished" "$work/job2.log" || { show "$work/job2.log"; fail "job 2 did not finish"; }
rows2=$(($(wc -l <"$work/run/metrics.csv") - 1))
[ "$rows2" -eq "$epochs" ] || fail "metrics.csv has $rows2 epochs, expected $epochs"
[ "$(tail -n +2 "$work/run/metrics.csv" | cut -d, -f1 | tr '\n' ' ')" = "$(seq -s ' ' 1 $epochs) " ] ||
  fail "the epochs in metrics.csv are not 1..$epochs, once each"
[ -f "$work/run/last/weights.safetensors" ] && [ -f "$work/run/best/model.json" ] || fail "no last/ or best/ model"
[ "$(wc -l <"$work/scontrol.calls")" -eq 1 ] || fail "job 2 requeued again: $(cat "$work/scontrol.calls")"
echo "job 2: resumed and finished epochs $((rows1 + 1))..$epochs"

# A cross-validation as a job array: FOLDS=2 and array task 1 train fold 1 into RUN/fold_1 (the
# config's val_cases give way to the fold's, so they are dropped here); useg crossval then finds
# the fold's validation.
sed -e 's/"val_cases": \["c3"\], //' -e 's/"epochs": '$epochs'/"epochs": 2/' "$work/config.json" >"$work/cv.json"
(run_job RUN="$work/cv" FOLDS=2 SLURM_ARRAY_TASK_ID=1 CONFIG="$work/cv.json") >"$work/job3.log" 2>&1 ||
  { show "$work/job3.log"; fail "the array task failed"; }
grep -q "new run in $work/cv/fold_1 with $work/cv.json (fold 1 of 2)" "$work/job3.log" ||
  { show "$work/job3.log"; fail "the array task did not train fold 1 into cv/fold_1"; }
grep -q "cross-validation: .*training fold 1" "$work/job3.log" ||
  { show "$work/job3.log"; fail "useg did not train fold 1"; }
[ -f "$work/cv/fold_1/validation/summary.json" ] || fail "fold 1 has no final validation"
"$useg" crossval --run "$work/cv" --data "$data" >"$work/crossval.log" 2>&1 ||
  { show "$work/crossval.log"; fail "useg crossval failed"; }
grep -q "1 fold(s), 2 validation case(s)" "$work/crossval.log" || { show "$work/crossval.log"; fail "crossval"; }
(run_job RUN="$work/cv" FOLDS=2 CONFIG="$work/cv.json") >"$work/job4.log" 2>&1 &&
  fail "FOLDS without an array task id must be refused"
grep -q "FOLDS needs a job array" "$work/job4.log" || { show "$work/job4.log"; fail "no message"; }
echo "array task 1 of FOLDS=2: trained cv/fold_1, crossval read it"

# deploy/k8s/train-folds-job.yaml (no Kubernetes here): completions must equal --folds, and the
# pod's script, with this test's paths, the CPU and 1 thread, trains fold 1 as pod 1 would.
yaml="$root/deploy/k8s/train-folds-job.yaml"
completions=$(sed -n 's/^  completions: *\([0-9]*\).*/\1/p' "$yaml")
folds=$(grep -o -- '--folds [0-9][0-9]*' "$yaml" | awk '{print $2}')
grep -q '^  completionMode: Indexed' "$yaml" || fail "$yaml: completionMode is not Indexed"
[ -n "$folds" ] && [ "$completions" = "$folds" ] || fail "$yaml: completions $completions, --folds $folds"
awk '/^            - \|$/ {on = 1; next} on && /^          resources:/ {exit} on {print substr($0, 15)}' \
  "$yaml" >"$work/pod.sh"
sed -i -e "s|/data/runs/nuclei|$work/k8s|; s|/data/configs/unet2d_nuclei.json|$work/cv.json|" \
  -e "s|/data/Dataset003_Nuclei|$data|; s|--device cuda|--device cpu|; s|--threads [0-9]*|--threads 1|" \
  -e "s|exec useg|exec $useg|; s|--folds $folds|--folds 2|" "$work/pod.sh"
rm -f "$data/splits.json"  # the pod's 2 folds make the same split as the array above
JOB_COMPLETION_INDEX=1 bash "$work/pod.sh" >"$work/pod.log" 2>&1 || { show "$work/pod.sh"; show "$work/pod.log"; fail "the pod's script failed"; }
grep -q "cross-validation: .*training fold 1" "$work/pod.log" || { show "$work/pod.log"; fail "the pod did not train fold 1"; }
[ -f "$work/k8s/fold_1/validation/summary.json" ] || fail "the pod's fold has no final validation"
JOB_COMPLETION_INDEX=1 bash "$work/pod.sh" >"$work/pod2.log" 2>&1 || { show "$work/pod2.log"; fail "the retried pod failed"; }
grep -Eq "has already finished|resum" "$work/pod2.log" || { show "$work/pod2.log"; fail "a retried pod did not resume its fold"; }
echo "k8s: the Indexed Job's pod 1 trained fold 1 of 2; a retry found it finished"
echo "PASS"

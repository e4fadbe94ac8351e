#!/usr/bin/env bash
# Data-parallel training under mpirun (docs/cluster.md): N ranks with one global batch must train
# the model one process trains, and only rank 0 may write.
#  1. 1 process, then mpirun -np 2 (batch 4 = 2 + 2) and -np 3 (batch 4 = 2 + 1 + 1, uneven), one
#     thread per rank, 2 epochs of 3 steps, for three configs: SGD (momentum 0.99, Nesterov) with
#     instance norm, the same with train.batch_dice (the Dice of the global batch: its sums are
#     all-reduced inside the loss), and Adam without norm. last/weights.safetensors must agree within 1e-4 in the
#     largest absolute difference of any weight (weights up to ~1.4), metrics.csv's train_loss
#     within 1e-6 relative, its Dice within 0.01 (a pixel whose argmax flips). Seen: about 6e-8
#     for most data seeds; 4.2e-5 for USEG_TEST_SEED=7, where one process with 2 threads differs
#     from one process with 1 thread by the same 4.2e-5 and 2 ranks from 3 ranks by 3e-8: the
#     float rounding of a different summation order, amplified by this tiny network on noise. (Adam
#     with instance norm is not compared: a conv bias followed by instance norm has a true
#     gradient of 0, and Adam turns its rounding noise into steps of +-lr, so that bias differs by
#     up to steps x lr; it has no effect on the output.) Ranks 1.. are given their own --output
#     (not part of what the ranks must agree on) and must leave it uncreated; rank 0's run folder
#     holds the same files as the 1-process run's.
#     1b. The same for a small image classifier (batch 8 = 3 + 3 + 2 over 3 ranks): its sharded
#     validation (accuracy, recall per class) must match too.
#  1d. --resume with a different number of ranks (2 -> 3, 2 -> 1) ends where 1 process does.
#  1c. --dist-backend mpi in one process (the all-reduce on 1 rank) equals the plain run exactly;
#     --dist-backend nccl with --device cpu is refused.
#  1e. --bucket-mb: segments summed during the backward give 2 ranks the same weights, bit for
#     bit, as one sum after it (the CPU's default); 3 ranks match 1 process.
#  2. a rank that throws (rank 1 pointed at a missing dataset) ends the job within 60 s, with its
#     message; a rank killed mid-training (SIGKILL) ends the job within 60 s.
#     A rank stopped by SIGSTOP (alive, stuck) ends the job after --collective-timeout, with
#     rank 0's message naming the wait.
#  3. ranks started with different configs are refused, naming the rank.
#  4. scripts/slurm/train-multi.sbatch (SRUN="mpirun -np 2"): stopped by SIGUSR1, resumed, finished.
#  5. deploy/k8s/train-mpijob.yaml: -np against its workers; its launcher script run locally.
# Skips (exit 77) without mpirun; with a useg built without MPI it checks that useg refuses to
# run as one of 2 processes, then skips.
#   tests/shell/test_mpi_train.sh PATH/TO/useg        (ctest: mpi_train)
set -euo pipefail
useg=$(realpath "${1:?usage: $0 PATH/TO/useg}")
root=$(cd "$(dirname "$0")/../.." && pwd)
command -v mpirun >/dev/null || { echo "SKIP: no mpirun (apt install openmpi-bin)"; exit 77; }
work=$(mktemp -d "${TMPDIR:-/tmp}/useg_test_mpi_train.XXXXXX")
trap 'rm -rf "$work"' EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }
show() { echo "--- $1"; cat "$1"; }

# Open MPI's settings, the tiny dataset ($data) and config().
# shellcheck source=tests/shell/tiny_train_data.sh
source "$root/tests/shell/tiny_train_data.sh"
config 2 0.01 sgd instance >"$work/config.json"
config 2 0.001 adam none >"$work/config_adam.json"
config 2 0.01 sgd instance true >"$work/config_bdice.json"
config 2 0.02 sgd instance >"$work/config_lr.json"
config 400 0.01 sgd instance >"$work/config_long.json"
train() { "$useg" train --config "$work/config.json" --data "$data" --threads 1 "$@"; }
mpi() { timeout 120 mpirun "$@"; }

# Without MPI in the build: the refusal, then skip.
if ! mpi -np 2 "$useg" train --config "$work/config.json" --data "$data" --threads 1 \
    --output "$work/probe" >"$work/probe.log" 2>&1; then
  if grep -q "built without MPI" "$work/probe.log"; then
    grep -q "rank [01] of 2" "$work/probe.log" || { show "$work/probe.log"; fail "the refusal does not name the rank"; }
    echo "useg built without MPI refuses to run as one of 2 processes (checked); SKIP: the rest needs an MPI build"
    exit 77
  fi
  show "$work/probe.log"; fail "mpirun -np 2 useg train failed"
fi
rm -rf "$work/probe"

# 1. one process against 2 and 3 ranks
t0=$(date +%s)
files() { (cd "$1" && find . -type f ! -name .lock | sort); }
for c in sgd adam bdice; do
  cfg="$work/config.json"
  [ "$c" = sgd ] || cfg="$work/config_$c.json"
  "$useg" train --config "$cfg" --data "$data" --threads 1 --output "$work/$c.1" >"$work/$c.1.log" 2>&1 ||
    { show "$work/$c.1.log"; fail "1-process run ($c) failed"; }
  for n in 2 3; do
    run="$work/$c.$n"
    args=(-np 1 "$useg" train --config "$cfg" --data "$data" --threads 1 --output "$run")
    for r in $(seq 1 $((n - 1))); do
      args+=(: -np 1 "$useg" train --config "$cfg" --data "$data" --threads 1 --output "$run.rank$r")
    done
    mpi "${args[@]}" >"$run.log" 2>&1 || { show "$run.log"; fail "mpirun -np $n ($c) failed"; }
    grep -q "data-parallel training: $n ranks" "$run.log" || { show "$run.log"; fail "no data-parallel line"; }
    for r in $(seq 1 $((n - 1))); do
      [ ! -e "$run.rank$r" ] || fail "rank $r of $n wrote into its --output: $(ls -A "$run.rank$r")"
    done
    [ "$(files "$run")" = "$(files "$work/$c.1")" ] ||
      fail "rank 0's run folder differs from the 1-process one: $(diff <(files "$work/$c.1") <(files "$run") || true)"
    echo "== $c: $n ranks against 1 process"
    python3 "$root/tests/shell/compare_runs.py" "$work/$c.1" "$run" 1e-4 1e-6 0.01 ||
      { show "$run.log"; fail "$n ranks differ from 1 process ($c)"; }
  done
done
echo "the 9 runs took $(($(date +%s) - t0)) s"

# 1d. --resume with another number of ranks: stopped at an exact step (USEG_TEST_STOP_AFTER_STEPS,
#     mid-epoch) by 2 ranks and resumed by 3, and stopped by 2 ranks and resumed by 1 process:
#     both must end with the 1-process run's weights and metrics, within the N-rank tolerances
#     (the sample streams depend on the step only; the shares' summation order is what differs).
for plan in "2 4 3" "2 2 1"; do
  read -r n0 at n1 <<<"$plan"
  run="$work/resume.$n0.$n1"
  USEG_TEST_STOP_AFTER_STEPS=$at mpi -np "$n0" "$useg" train --config "$work/config.json" --data "$data" \
    --threads 1 --bucket-mb 25 --collective-timeout 100 --output "$run" >"$run.a.log" 2>&1 ||
    { show "$run.a.log"; fail "$n0 ranks stopping at step $at failed"; }
  grep -q "stopped by .* after $at steps" "$run.a.log" || { show "$run.a.log"; fail "$n0 ranks did not stop after $at steps"; }
  # The command printed to resume repeats the options that are not part of the run's config.
  grep -q -- "--resume --data .* --threads 1 --bucket-mb 25 --collective-timeout 100$" "$run.a.log" ||
    { show "$run.a.log"; fail "the resume command does not repeat --bucket-mb and --collective-timeout"; }
  launch=(mpi -np "$n1")
  [ "$n1" != 1 ] || launch=()
  "${launch[@]}" "$useg" train --resume --data "$data" --threads 1 --output "$run" >"$run.b.log" 2>&1 &&
    grep -q "^trained 2 epochs" "$run.b.log" || { show "$run.b.log"; fail "$n1 rank(s) did not finish the run $n0 ranks began"; }
  echo "== sgd: stopped by $n0 ranks after step $at, resumed by $n1, against 1 process"
  python3 "$root/tests/shell/compare_runs.py" "$work/sgd.1" "$run" 1e-4 1e-6 0.01 ||
    fail "resuming $n0 ranks' run with $n1 differs from 1 process"
done

# 1c. --dist-backend chosen for one process: the step runs its all-reduce on 1 rank (the path of a
#     1-GPU NCCL run). The weights must equal the plain run's bit for bit (each gradient is
#     multiplied by 1 and summed over one rank; with train.batch_dice the backend's loss sums its
#     Dice terms over that one rank), the loss within float rounding (it travels in the float
#     bucket). NCCL on the CPU is refused.
for c in sgd bdice; do
  cfg="$work/config.json"
  [ "$c" = sgd ] || cfg="$work/config_$c.json"
  "$useg" train --config "$cfg" --data "$data" --threads 1 --dist-backend mpi --output "$work/$c.1mpi" \
    >"$work/$c.1mpi.log" 2>&1 || { show "$work/$c.1mpi.log"; fail "--dist-backend mpi, 1 process ($c) failed"; }
  grep -q "data-parallel training: 1 ranks (single process)" "$work/$c.1mpi.log" &&
    grep -q "gradient all-reduce over 1 rank (single process): .* MB per step" "$work/$c.1mpi.log" ||
    { show "$work/$c.1mpi.log"; fail "--dist-backend mpi did not run the all-reduce ($c)"; }
done
for c in sgd bdice; do
  echo "== $c: --dist-backend mpi in 1 process against the plain run (weights exact)"
  python3 "$root/tests/shell/compare_runs.py" "$work/$c.1" "$work/$c.1mpi" 0 1e-7 0 ||
    fail "--dist-backend mpi in 1 process changed the weights ($c)"
done
# 1e. --bucket-mb: the gradients summed in segments that start during the backward (1 kB: this
#     model's ~2,400 gradients in about ten; 25 MB: all of them in one, started when the backward
#     ends) or in one sum after it (0, the CPU's default). The sum of each element is the same
#     number either way with 2 ranks (a + b), so those weights must equal the default run's bit
#     for bit; 3 ranks may add in another order (Open MPI's non-blocking and blocking algorithms
#     differ), so they are held to the N-rank tolerances against 1 process.
for mb in 25 0.001; do
  mpi -np 2 "$useg" train --config "$work/config.json" --data "$data" --threads 1 --bucket-mb "$mb" \
    --output "$work/sgd.2.mb$mb" >"$work/sgd.2.mb$mb.log" 2>&1 || { show "$work/sgd.2.mb$mb.log"; fail "--bucket-mb $mb, 2 ranks failed"; }
  echo "== sgd: 2 ranks, --bucket-mb $mb against the default (weights exact)"
  python3 "$root/tests/shell/compare_runs.py" "$work/sgd.2" "$work/sgd.2.mb$mb" 0 0 0 ||
    fail "--bucket-mb $mb changed the weights of 2 ranks"
done
grep -q "MB per step in 1 segment (0.0 per step started during the backward)" "$work/sgd.2.log" ||
  { show "$work/sgd.2.log"; fail "the CPU's default is not one sum after the backward"; }
grep -q "MB per step in 2 segments (1.0 per step started during the backward)" "$work/sgd.2.mb25.log" ||
  { show "$work/sgd.2.mb25.log"; fail "--bucket-mb 25: not one segment of gradients and one of the rest"; }
line=$(grep "gradient all-reduce over 2 ranks" "$work/sgd.2.mb0.001.log") || { show "$work/sgd.2.mb0.001.log"; fail "no all-reduce line"; }
segments=$(sed -n 's/.* in \([0-9]*\) segments (\([0-9.]*\) per step started during the backward).*/\1 \2/p' <<<"$line")
read -r n_seg early <<<"$segments"
[ "${n_seg:-0}" -ge 5 ] && [ "${early%.*}" -eq $((n_seg - 1)) ] ||
  fail "--bucket-mb 0.001: expected at least 5 segments, all but the last started during the backward: $line"
echo "   $line"
mpi -np 3 "$useg" train --config "$work/config.json" --data "$data" --threads 1 --bucket-mb 0.001 \
  --output "$work/sgd.3.mb" >"$work/sgd.3.mb.log" 2>&1 || { show "$work/sgd.3.mb.log"; fail "--bucket-mb 0.001, 3 ranks failed"; }
echo "== sgd: 3 ranks, --bucket-mb 0.001 against 1 process"
python3 "$root/tests/shell/compare_runs.py" "$work/sgd.1" "$work/sgd.3.mb" 1e-4 1e-6 0.01 ||
  fail "3 ranks with 1 kB segments differ from 1 process"

status=0
"$useg" train --config "$work/config.json" --data "$data" --threads 1 --dist-backend nccl \
  --output "$work/nccl_cpu" >"$work/nccl_cpu.log" 2>&1 || status=$?
[ "$status" -ne 0 ] && grep -q "dist-backend nccl sums GPU tensors: it needs --device cuda" "$work/nccl_cpu.log" ||
  { show "$work/nccl_cpu.log"; fail "--dist-backend nccl on the CPU: exit $status, no clear message"; }

# 1b. a classifier (whole images, sharded validation of accuracy and recall): batch 8 = 3 + 3 + 2.
python3 - "$work/shapes" <<'PY'
import os, random, sys
root = sys.argv[1]
random.seed(3)
hdr = ("ObjectType = Image\nNDims = 2\nDimSize = 20 20\nElementSpacing = 1 1\n"
       "ElementType = MET_UCHAR\nElementDataFile = LOCAL\n").encode()
for cls in ("disc", "square"):  # a bright disc or square on noise
    os.makedirs(f"{root}/{cls}")
    for i in range(12):
        r, cy, cx = 3.5 + 2.5 * random.random(), 7 + 6 * random.random(), 7 + 6 * random.random()
        px = bytearray()
        for y in range(20):
            for x in range(20):
                dy, dx = y - cy, x - cx
                inside = dy * dy + dx * dx <= r * r if cls == "disc" else max(abs(dy), abs(dx)) <= 0.85 * r
                px.append(int(40 * random.random() + (150 if inside else 20)))
        open(f"{root}/{cls}/img{i}.mha", "wb").write(hdr + bytes(px))
PY
printf '%s\n' '{"model": {"architecture": "layers", "dims": 2, "in_channels": 1, "num_classes": 2, "input_size": [16, 16],' \
  ' "layers": [{"type": "conv", "filters": 8, "activation": "relu"}, {"type": "max_pool"},' \
  '  {"type": "flatten"}, {"type": "dense", "units": 16, "activation": "relu"}, {"type": "dense"}]},' \
  ' "train": {"batch_size": 8, "epochs": 2, "iterations_per_epoch": 4, "optimizer": "sgd", "lr": 0.01,' \
  '  "schedule": "constant", "val_fraction": 0.25, "num_workers": 0, "seed": 3}}' >"$work/config_cls.json"
"$useg" train --config "$work/config_cls.json" --data "$work/shapes" --threads 1 --output "$work/cls.1" \
  >"$work/cls.1.log" 2>&1 || { show "$work/cls.1.log"; fail "1-process classifier run failed"; }
mpi -np 3 "$useg" train --config "$work/config_cls.json" --data "$work/shapes" --threads 1 --output "$work/cls.3" \
  >"$work/cls.3.log" 2>&1 || { show "$work/cls.3.log"; fail "mpirun -np 3 classifier run failed"; }
echo "== classifier: 3 ranks against 1 process"
python3 "$root/tests/shell/compare_runs.py" "$work/cls.1" "$work/cls.3" 1e-4 1e-6 0.01 ||
  { show "$work/cls.3.log"; fail "3 ranks differ from 1 process (classifier)"; }

# 2a. a rank that throws: rank 1 finds no dataset; the job must end, with rank 1's message.
status=0
timeout 60 mpirun -np 1 "$useg" train --config "$work/config.json" --data "$data" --threads 1 --output "$work/err" \
  : -np 1 "$useg" train --config "$work/config.json" --data "$work/missing" --threads 1 --output "$work/err" \
  >"$work/err.log" 2>&1 || status=$?
[ "$status" -ne 124 ] || { show "$work/err.log"; fail "a throwing rank left the job hanging (killed after 60 s)"; }
[ "$status" -ne 0 ] || { show "$work/err.log"; fail "the job succeeded although rank 1 failed"; }
grep -q "error (rank 1 of 2).*missing" "$work/err.log" || { show "$work/err.log"; fail "rank 1's message is missing"; }
echo "a throwing rank ended the job (exit $status) with: $(grep -m1 'error (rank 1 of 2)' "$work/err.log")"

# 2b/2c: 2 ranks of the long run into $work/NAME (TRAIN_OPTIONS added), SIGNAL sent to rank 1
# once the first epoch is written; the job must end within 60 s, and not successfully. Sets
# $status (the job's exit) and $elapsed (seconds from the signal to the end).
wrapper="$work/rank.sh"
printf '#!/bin/sh\necho $$ >"%s/pid.$OMPI_COMM_WORLD_RANK"\nexec "$@"\n' "$work" >"$wrapper"
chmod +x "$wrapper"
signal_rank1() {  # NAME SIGNAL [TRAIN_OPTIONS...]
  local name=$1 sig=$2 t0
  shift 2
  rm -f "$work"/pid.*
  (s=0; timeout 60 mpirun -np 2 "$wrapper" "$useg" train --config "$work/config_long.json" --data "$data" \
    --threads 1 "$@" --output "$work/$name" >"$work/$name.log" 2>&1 || s=$?; echo $s >"$work/$name.status") &
  for _ in $(seq 300); do
    [ -s "$work/$name/metrics.csv" ] && [ -s "$work/pid.1" ] && break
    sleep 0.2
  done
  [ -s "$work/pid.1" ] || { show "$work/$name.log"; fail "rank 1 did not start ($name)"; }
  kill "-$sig" "$(cat "$work/pid.1")"
  t0=$(date +%s)
  wait
  kill -KILL "$(cat "$work/pid.1")" 2>/dev/null || true  # a stopped rank mpirun left behind
  elapsed=$(($(date +%s) - t0))
  status=$(cat "$work/$name.status")
  [ "$status" -ne 124 ] || { show "$work/$name.log"; fail "rank 1 given SIG$sig left the job hanging (killed after 60 s)"; }
  [ "$status" -ne 0 ] || fail "the job succeeded although rank 1 was given SIG$sig"
}

# 2b. a rank killed mid-training (as by the out-of-memory killer): the job must end.
signal_rank1 kill KILL
echo "a killed rank ended the job (exit $status) $elapsed s after the kill"

# 2c. a rank that is stuck but alive (SIGSTOP, as a hung file system or a GPU fault would leave
#     it): rank 0 waits for it in the next collective, gives up after --collective-timeout (3 s
#     here) with a message naming the wait and the option, and the job ends.
signal_rank1 stuck STOP --collective-timeout 3
grep -q "error (rank 0 of 2): waited [0-9]* s in .* for the other ranks, longer than --collective-timeout 3 s: a rank is stuck" \
  "$work/stuck.log" || { show "$work/stuck.log"; fail "no collective-timeout message from rank 0"; }
echo "a stopped rank ended the job (exit $status) $elapsed s after SIGSTOP: $(grep -m1 -o 'waited [0-9]* s in [^:]*' "$work/stuck.log")"

# 3. different configs: refused, naming the rank.
status=0
timeout 60 mpirun -np 1 "$useg" train --config "$work/config.json" --data "$data" --threads 1 --output "$work/mis" \
  : -np 1 "$useg" train --config "$work/config_lr.json" --data "$data" --threads 1 --output "$work/mis" \
  >"$work/mis.log" 2>&1 || status=$?
[ "$status" -ne 124 ] && [ "$status" -ne 0 ] || { show "$work/mis.log"; fail "mismatched configs: exit $status"; }
grep -q "error (rank 1 of 2): this rank's (1 of 2) run differs from rank 0's" "$work/mis.log" || { show "$work/mis.log"; fail "no mismatch message"; }
[ ! -e "$work/mis/checkpoint.safetensors" ] || fail "a checkpoint was written despite the mismatch"
echo "mismatched configs refused: $(grep -m1 'differs from rank 0' "$work/mis.log" | cut -c1-120)..."
# 4. scripts/slurm/train-multi.sbatch as plain bash with SRUN="mpirun -np 2": SIGUSR1 to the
#    script after the first epoch must stop both ranks with a checkpoint (mpirun forwards the
#    signal; the ranks decide together), and the script run again must resume and finish.
config 40 0.01 sgd instance >"$work/config_multi.json"
multi() {
  exec setsid env SRUN="mpirun -np 2" USEG="$useg" DATA="$data" RUN="$work/multi" SLURM_CPUS_PER_TASK=1 \
    "$@" bash "$root/scripts/slurm/train-multi.sbatch"
}
(multi CONFIG="$work/config_multi.json") >"$work/multi1.log" 2>&1 &
pid=$!
for _ in $(seq 600); do
  [ "$(cat "$work/multi/metrics.csv" 2>/dev/null | wc -l)" -ge 2 ] && break
  kill -0 "$pid" 2>/dev/null || break
  sleep 0.1
done
kill -USR1 "$pid"
status=0
wait "$pid" || status=$?
[ "$status" -eq 0 ] || { show "$work/multi1.log"; fail "train-multi.sbatch exited with $status"; }
grep -q "^useg train: stopped by SIGUSR1" "$work/multi1.log" || { show "$work/multi1.log"; fail "the ranks did not stop on SIGUSR1"; }
rows1=$(($(wc -l <"$work/multi/metrics.csv") - 1))
[ "$rows1" -lt 40 ] || fail "the signalled job ran all 40 epochs"
(multi) >"$work/multi2.log" 2>&1 || { show "$work/multi2.log"; fail "the resumed job failed"; }
grep -q "has a checkpoint: resuming" "$work/multi2.log" && grep -q "training finished" "$work/multi2.log" ||
  { show "$work/multi2.log"; fail "the second job did not resume and finish"; }
[ "$(tail -n +2 "$work/multi/metrics.csv" | cut -d, -f1 | tr '\n' ' ')" = "$(seq -s ' ' 1 40) " ] ||
  fail "the epochs in metrics.csv are not 1..40, once each"
echo "train-multi.sbatch: 2 ranks stopped by SIGUSR1 after $rows1 epoch(s), resumed, finished 40 epochs"

# 5. deploy/k8s/train-mpijob.yaml (no Kubernetes here): mpirun's -np must be the Worker replicas
#    x slotsPerWorker, and the launcher's script, with this test's paths, the CPU and 1 thread,
#    runs with the local mpirun: a new run (the 1-process run's weights, as in 1.), then again,
#    finding the checkpoint, a resume that has nothing left to do.
yaml="$root/deploy/k8s/train-mpijob.yaml"
slots=$(sed -n 's/^  slotsPerWorker: *\([0-9]*\).*/\1/p' "$yaml")
workers=$(awk '/^    Worker:/ {w = 1} w && /^      replicas:/ {print $2; exit}' "$yaml")
np=$(grep -o 'mpirun -np [0-9]*' "$yaml" | awk '{print $3}')
[ -n "$np" ] && [ "$np" = "$((workers * slots))" ] || fail "$yaml: mpirun -np $np, but $workers workers x $slots slots"
awk '/^                - \|$/ {on = 1; next} on && /^              resources:/ {exit} on {print substr($0, 19)}' \
  "$yaml" >"$work/launcher.sh"
sed -i -e "s|/data/runs/nuclei|$work/k8s|; s|/data/configs/unet2d_nuclei.json|$work/config.json|" \
  -e "s|/data/Dataset003_Nuclei|$data|; s|--device cuda|--device cpu|; s|--threads [0-9]*|--threads 1|" \
  -e "s|OMP_NUM_THREADS=[0-9]*|OMP_NUM_THREADS=1|" "$work/launcher.sh"
if grep -q '/data' "$work/launcher.sh"; then fail "the launcher script has paths this test does not replace: $(cat "$work/launcher.sh")"; fi
for k in 1 2; do
  PATH="$(dirname "$useg"):$PATH" timeout 120 bash "$work/launcher.sh" >"$work/k8s.$k.log" 2>&1 ||
    { show "$work/k8s.$k.log"; fail "the MPIJob launcher's script failed (run $k)"; }
done
grep -q "data-parallel training: $np ranks" "$work/k8s.1.log" || { show "$work/k8s.1.log"; fail "the launcher did not start $np ranks"; }
grep -q "has already finished" "$work/k8s.2.log" || { show "$work/k8s.2.log"; fail "the launcher did not resume the finished run"; }
echo "== sgd: the MPIJob launcher's $np ranks against 1 process"
python3 "$root/tests/shell/compare_runs.py" "$work/sgd.1" "$work/k8s" 1e-4 1e-6 0.01 ||
  fail "the MPIJob launcher's run differs from 1 process"
echo "PASS"

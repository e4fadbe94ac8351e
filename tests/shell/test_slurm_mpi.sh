#!/usr/bin/env bash
# Data-parallel training under a real Slurm (docs/cluster.md): a private one-node cluster (munged,
# slurmctld, slurmd from Debian's slurm-wlm, in a temporary folder, on ports of its own) on which
#  1. `srun --mpi=pmix -n 2 useg train` (Open MPI wired up by Slurm's PMIx plugin, no mpirun)
#     must end with the weights and metrics of one process, within the N-rank tolerances of
#     tests/shell/test_mpi_train.sh;
#  2. `sbatch scripts/slurm/train-multi.sbatch` (its default launcher, srun --mpi=pmix), sent
#     SIGUSR1 as Slurm's --signal=B:USR1 would (scancel --batch), must stop both ranks with a
#     checkpoint and requeue itself; the requeued job (released at once instead of after Slurm's
#     requeue delay) must resume and finish every epoch exactly once.
# Skips (exit 77) without the Slurm and munge programs, without root (slurmd starts the job
# steps), or with a useg built without MPI.
#   tests/shell/test_slurm_mpi.sh PATH/TO/useg        (ctest: slurm_mpi)
set -euo pipefail
useg=$(realpath "${1:?usage: $0 PATH/TO/useg}")
root=$(cd "$(dirname "$0")/../.." && pwd)
for p in munged slurmctld slurmd srun sbatch squeue scontrol scancel sinfo; do
  command -v "$p" >/dev/null || [ -x "/usr/sbin/$p" ] ||
    { echo "SKIP: $p not found (apt install slurmd slurmctld slurm-client munge)"; exit 77; }
done
[ "$(id -u)" = 0 ] || { echo "SKIP: slurmd must run as root to start job steps"; exit 77; }
[ -r /etc/munge/munge.key ] || { echo "SKIP: no /etc/munge/munge.key"; exit 77; }
ldd "$useg" | grep -q 'libmpi\.so' || { echo "SKIP: this useg is built without MPI"; exit 77; }
PATH=$PATH:/usr/sbin
work=$(mktemp -d "${TMPDIR:-/tmp}/useg_test_slurm_mpi.XXXXXX")
chmod 755 "$work"
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  sleep 0.5
  for p in "${pids[@]}"; do kill -9 "$p" 2>/dev/null || true; done
  rm -rf "$work"
}
trap cleanup EXIT
fail() {
  echo "FAIL: $*" >&2
  for f in "$work"/log/*; do echo "--- $f"; tail -n 20 "$f"; done >&2
  exit 1
}
show() { echo "--- $1"; cat "$1"; }

# Open MPI's settings, the tiny dataset ($data) and config().
# shellcheck source=tests/shell/tiny_train_data.sh
source "$root/tests/shell/tiny_train_data.sh"
config 2 0.01 sgd instance >"$work/config.json"
config 300 0.01 sgd instance >"$work/config_long.json"

# ---- the private cluster: its own munge socket, state folders and ports.
mkdir -p "$work/state" "$work/spool" "$work/log"
port=$((20000 + $$ % 20000))
host=$(hostname -s)
cpus=$(getconf _NPROCESSORS_ONLN)   # not nproc: it follows OMP_NUM_THREADS
[ "$cpus" -ge 2 ] || { echo "SKIP: 2 ranks need 2 CPUs, this machine has $cpus"; exit 77; }
cat >"$work/slurm.conf" <<CONF
ClusterName=usegtest
SlurmctldHost=$host(127.0.0.1)
SlurmctldPort=$port
SlurmdPort=$((port + 1))
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
CredType=cred/munge
AuthInfo=socket=$work/munge.socket
StateSaveLocation=$work/state
SlurmdSpoolDir=$work/spool
SlurmctldPidFile=$work/slurmctld.pid
SlurmdPidFile=$work/slurmd.pid
SlurmctldLogFile=$work/log/slurmctld.log
SlurmdLogFile=$work/log/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SchedulerType=sched/builtin
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
MpiDefault=none
ReturnToService=2
NodeName=$host NodeAddr=127.0.0.1 CPUs=$cpus State=UNKNOWN
PartitionName=test Nodes=$host Default=YES MaxTime=INFINITE State=UP OverSubscribe=FORCE
CONF
export SLURM_CONF=$work/slurm.conf
munged --force --foreground --socket="$work/munge.socket" --key-file=/etc/munge/munge.key \
  --pid-file="$work/munged.pid" --log-file="$work/log/munged.log" --seed-file="$work/munged.seed" &
pids+=($!)
slurmctld -D -f "$SLURM_CONF" >"$work/log/slurmctld.out" 2>&1 &
pids+=($!)
slurmd -D -f "$SLURM_CONF" -N "$host" >"$work/log/slurmd.out" 2>&1 &
pids+=($!)
for _ in $(seq 150); do
  [ "$(sinfo -h -o %T 2>/dev/null)" = idle ] && break
  sleep 0.2
done
[ "$(sinfo -h -o %T 2>/dev/null)" = idle ] || fail "the private Slurm did not come up: $(sinfo 2>&1 | tail -n 2)"
echo "private Slurm up: $(sinfo -h -o '%P %D %T %N') (ports $port, $((port + 1)))"

# 1. srun --mpi=pmix against one process
"$useg" train --config "$work/config.json" --data "$data" --threads 1 --output "$work/one" >"$work/one.log" 2>&1 ||
  { show "$work/one.log"; fail "the 1-process run failed"; }
timeout 120 srun --mpi=pmix -n 2 "$useg" train --config "$work/config.json" --data "$data" --threads 1 \
  --output "$work/srun" >"$work/srun.log" 2>&1 || { show "$work/srun.log"; fail "srun --mpi=pmix -n 2 useg train failed"; }
grep -q "data-parallel training: 2 ranks (MPI" "$work/srun.log" || { show "$work/srun.log"; fail "srun did not start 2 ranks of one job"; }
echo "== srun --mpi=pmix -n 2 against 1 process"
python3 "$root/tests/shell/compare_runs.py" "$work/one" "$work/srun" 1e-4 1e-6 0.01 ||
  fail "srun's 2 ranks differ from 1 process"

# 2. sbatch train-multi.sbatch: SIGUSR1, checkpoint, requeue, resume, finish
run="$work/multi"
jid=$(CONFIG="$work/config_long.json" DATA="$data" RUN="$run" USEG="$useg" \
  sbatch --parsable --nodes=1 --ntasks-per-node=2 --cpus-per-task=1 --mem=0 --time=10 \
  --output="$work/multi-%j.out" "$root/scripts/slurm/train-multi.sbatch")
out="$work/multi-$jid.out"
for _ in $(seq 300); do
  [ "$(cat "$run/metrics.csv" 2>/dev/null | wc -l)" -ge 3 ] && break
  sleep 0.2
done
[ "$(cat "$run/metrics.csv" 2>/dev/null | wc -l)" -ge 3 ] || { show "$out"; fail "job $jid wrote no epochs"; }
scancel --batch --signal=USR1 "$jid"
requeued=0
for _ in $(seq 300); do
  if grep -q "requeueing job $jid" "$out" 2>/dev/null && [ "$(squeue -h -j "$jid" -o %T)" = PENDING ]; then
    requeued=1
    break
  fi
  sleep 0.2
done
[ "$requeued" = 1 ] || { show "$out"; fail "job $jid was not requeued after SIGUSR1"; }
grep -q "^useg train: stopped by SIGUSR1" "$out" || { show "$out"; fail "the ranks did not stop on SIGUSR1"; }
rows1=$(($(wc -l <"$run/metrics.csv") - 1))
scontrol update jobid="$jid" starttime=now
for _ in $(seq 600); do
  [ -z "$(squeue -h -j "$jid" 2>/dev/null)" ] && break
  sleep 0.2
done
[ -z "$(squeue -h -j "$jid" 2>/dev/null)" ] || { show "$out"; fail "the requeued job $jid did not finish in 120 s"; }
grep -q "has a checkpoint: resuming" "$out" && grep -q "train-multi.sbatch: training finished" "$out" ||
  { show "$out"; fail "the requeued job did not resume and finish"; }
[ "$(tail -n +2 "$run/metrics.csv" | cut -d, -f1 | tr '\n' ' ')" = "$(seq -s ' ' 1 300) " ] ||
  fail "the epochs in metrics.csv are not 1..300, once each"
echo "sbatch train-multi.sbatch: 2 ranks (srun --mpi=pmix) stopped by SIGUSR1 after $rows1 epochs, requeued, resumed, finished 300 epochs"
echo "PASS"

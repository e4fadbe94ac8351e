#!/usr/bin/env bash
# The four CPU workloads of docs/benchmarks.md, each useg vs PyTorch (and ONNX Runtime for
# inference) interleaved by scripts/bench_peers.py, results in build/bench/*.json.
# Prerequisites: a Release build in build/ (cmake -DUSEG_WITH_CUDA=OFF), Debian's python3-torch,
# and onnxruntime in build/peers-venv (see scripts/bench_peers.py). Takes ~15-30 min on 2 cores.
# ROUNDS and THREADS may be set in the environment.
set -euo pipefail
cd "$(dirname "$0")/.."
R=${ROUNDS:-5}
T=${THREADS:-2}
P="/usr/bin/python3 scripts/bench_peers.py --threads $T --rounds $R --reps 1"
mkdir -p build/bench
uptime
$P --config configs/unet2d_nuclei.json --shape 512 512 --json build/bench/peers_2d.json
$P --config configs/unet3d_mri.json --shape 96 96 96 --json build/bench/peers_3d16.json
$P --config bench/configs/unet3d_base32.json --shape 96 96 96 --json build/bench/peers_3d32.json
# Training: 3 timed steps per process after the warm-up (both engines), so that the median is
# the steady state a training run sees, not the second step of a fresh process.
$P --config configs/unet2d_nuclei.json --shape 256 256 --batch 4 --train --reps 3 \
  --json build/bench/peers_train.json
uptime

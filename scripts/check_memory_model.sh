#!/usr/bin/env bash
# The planner's memory model of a training step (training_step_memory, what `useg plan` fits to
# --memory-budget) against the peak RSS that `useg bench --train` measures, for several configs.
# The model counts the step's tensors, not the process (libraries, oneDNN primitives, allocator
# slack), so each case is measured twice — at a small shape with batch 1 and at the real shape —
# and the two differences are compared: measured ΔRSS vs modelled Δ(activations).
#   scripts/check_memory_model.sh [USEG_BINARY]     (default build/useg; ~2 min on 2 cores)
# Prints one line per case and exits 1 when a case is off by more than 20 %.
set -euo pipefail
cd "$(dirname "$0")/.."
useg=${1:-build/useg}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# config | small shape | shape | batch
cases=(
  "configs/unet2d_nuclei.json|64 64|256 256|4"
  "configs/nuclei2d_default.json|64 64|512 512|4"
  "configs/unet3d_mri.json|16 16 16|64 64 64|2"
  "configs/unet3d_mri.json|16 16 16|96 96 96|2"
)
status=0
for c in "${cases[@]}"; do
  IFS='|' read -r config small shape batch <<<"$c"
  # shellcheck disable=SC2086
  "$useg" bench --config "$config" --shape $small --batch 1 --train --repeat 1 --warmup 1 \
    --threads 2 --no-layers --json "$tmp/small.json" >/dev/null
  # shellcheck disable=SC2086
  "$useg" bench --config "$config" --shape $shape --batch "$batch" --train --repeat 1 --warmup 1 \
    --threads 2 --no-layers --json "$tmp/big.json" >/dev/null
  python3 - "$tmp/small.json" "$tmp/big.json" "$config" "$shape" "$batch" <<'EOF' || status=1
import json, sys
s, b = (json.load(open(p)) for p in sys.argv[1:3])
mib = 1e6 / 2**20  # bench reports RSS in MB
measured = (b["peak_rss_mb"] - s["peak_rss_mb"]) * mib
model = b["model_activation_mib"] - s["model_activation_mib"]
off = model / measured - 1
print(f"{sys.argv[3]} {sys.argv[4].replace(' ', 'x')} batch {sys.argv[5]}: peak RSS "
      f"{b['peak_rss_mb'] * mib:.0f} MiB (small shape {s['peak_rss_mb'] * mib:.0f}); "
      f"model {b['model_activation_mib'] + b['model_parameter_mib']:.0f} MiB; "
      f"step's growth measured {measured:.0f} MiB vs modelled {model:.0f} MiB ({off:+.0%})")
sys.exit(0 if abs(off) <= 0.20 else 1)
EOF
done
exit $status

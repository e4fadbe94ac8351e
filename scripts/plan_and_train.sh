#!/usr/bin/env bash
# `useg plan` then `useg train` from the planned configs, as an nnU-Net user runs
# plan_and_preprocess + train: fold 0 of nnU-Net's 5-fold split, each configuration (3d_fullres
# for 3D data, and 2d), with the planned network, patch, batch, loss, optimizer and augmentation;
# only the length of training is cut (EPOCHS x ITERS instead of 1000 x 250) to fit a CPU.
# Prints the best validation Dice of each run (metrics.csv) and writes OUT/summary.txt.
#   scripts/plan_and_train.sh DATASET OUT [BUDGET=512M] [EPOCHS=20] [ITERS=25] [CONFIGS="3d_fullres 2d"]
# Example (docs/training.md, "Planning"): python3 scripts/make_aniso_dataset.py /tmp/Dataset010_Aniso
#   && scripts/plan_and_train.sh /tmp/Dataset010_Aniso /tmp/aniso_runs
set -euo pipefail
cd "$(dirname "$0")/.."
data=$1 out=$2 budget=${3:-512M} epochs=${4:-20} iters=${5:-25} configs=${6:-3d_fullres 2d}
useg=${USEG:-build/useg}
mkdir -p "$out"
"$useg" plan --data "$data" --memory-budget "$budget" --output "$out/plan.json" | tee "$out/plan.txt"
: >"$out/summary.txt"
for c in $configs; do
  [ -f "$out/plan_$c.json" ] || continue
  python3 - "$out/plan_$c.json" "$out/$c.json" "$epochs" "$iters" <<'PY'
import json, sys
c = json.load(open(sys.argv[1]))
c["train"]["epochs"], c["train"]["iterations_per_epoch"] = int(sys.argv[3]), int(sys.argv[4])
json.dump(c, open(sys.argv[2], "w"), indent=1)
PY
  start=$(date +%s)
  "$useg" train --config "$out/$c.json" --data "$data" --output "$out/run_$c" --fold 0 \
    > "$out/train_$c.log" 2>&1
  python3 - "$out/run_$c/metrics.csv" "$c" "$(( $(date +%s) - start ))" <<'PY' | tee -a "$out/summary.txt"
import csv, sys
rows = [r for r in csv.DictReader(open(sys.argv[1])) if r["mean_fg_dice"]]
best = max(rows, key=lambda r: float(r["mean_fg_dice"]))
per = ", ".join(f"{k[5:]} {float(v):.4f}" for k, v in best.items()
                if k.startswith("dice_") and v)
print(f"{sys.argv[2]}: best validation mean foreground Dice {float(best['mean_fg_dice']):.4f} "
      f"({per}) at epoch {best['epoch']} of {len(rows)}; last {float(rows[-1]['mean_fg_dice']):.4f}; "
      f"{sys.argv[3]} s")
PY
done

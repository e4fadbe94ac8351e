#!/usr/bin/env bash
# useg crossval's ensembles of configurations on real nuclei (docs/training.md,
# "Cross-validation"): the training part of the sample image (columns 0..383) as three strip
# cases with semantic labels (nucleus / background), two configurations trained as 3-fold
# cross-validations with train.final_validation_probabilities — A: the semantic recipe that
# shipped before the instance model (configs/nuclei2d_default.json with 2 classes, 30 epochs),
# B: the same with 64x64 patches and depth 2 — then useg crossval --run A --run B, which scores
# A, B and A + B ensembled.
#
#   scripts/nuclei-config-ensemble.sh        (needs build/useg; OUT default runs/nuclei-config-ensemble)
set -euo pipefail
cd "$(dirname "$0")/.."
useg=${BUILD_DIR:-build}/useg
out=${OUT:-runs/nuclei-config-ensemble}
threads=${THREADS:-2}
export OMP_WAIT_POLICY=${OMP_WAIT_POLICY:-passive}
[ -x "$useg" ] || { echo "nuclei-config-ensemble: $useg not found; build it: scripts/build.sh" >&2; exit 1; }
scripts/get-sample-data.sh
ds=$out/Dataset103_NucleiStripsSemantic
mkdir -p "$out"
python3 scripts/make_nuclei_dataset.py data/sample/nuclei/img2d.tif data/sample/nuclei/mask2d.tif \
  "$ds" --width 384 --strips 3 >/dev/null  # never the held-out 384..511
python3 - configs/nuclei2d_default.json "$out" <<'PY'
import json, sys
base, out = sys.argv[1], sys.argv[2]
for name, patch, depth in (("A", 128, 3), ("B", 64, 2)):
    c = json.load(open(base))
    c["model"]["num_classes"] = 2
    c["model"]["depth"] = depth
    c["train"]["patch_size"] = [patch, patch]
    c["train"]["epochs"] = 30
    c["train"]["val_interval"] = 5
    c["train"]["final_validation_probabilities"] = True
    del c["train"]["instances"]
    del c["train"]["val_cases"]
    json.dump(c, open(f"{out}/config_{name}.json", "w"), indent=1)
PY
for cfg in A B; do
  for k in 0 1 2; do
    run=$out/$cfg/fold_$k
    [ -f "$run/validation/summary.json" ] && { echo "== reusing $run"; continue; }
    rm -rf "$run"
    echo "== train $run"
    "$useg" train --config "$out/config_$cfg.json" --data "$ds" --fold "$k" --folds 3 \
      --output "$run" --threads "$threads" >"$out/${cfg}_fold_$k.log" 2>&1 ||
      { tail -20 "$out/${cfg}_fold_$k.log" >&2; exit 1; }
  done
done
"$useg" crossval --run "$out/A" --run "$out/B" --data "$ds" | tail -6

# The held-out quarter (columns 384..511, never read above): each configuration's three folds
# ensembled, and both configurations in one segment command (a configuration ensemble: each
# on its own window, averaged on the image's grid), scored by useg eval against the mask.
python3 scripts/make_nuclei_dataset.py data/sample/nuclei/img2d.tif data/sample/nuclei/mask2d.tif \
  "$out/heldout_ds" >/dev/null
mkdir -p "$out/heldout"
echo "held-out quarter (nuclei_right), Dice of nucleus:"
for name in A B A+B; do
  models=()
  for cfg in ${name//+/ }; do models+=(--model "$out/$cfg"); done
  dir=$out/heldout/$name
  rm -rf "$dir"
  "$useg" segment "${models[@]}" --input "$out/heldout_ds/imagesTr/nuclei_right_0000.png" \
    --output "$dir" --format png --threads "$threads" >"$dir.log" 2>&1 ||
    { tail -20 "$dir.log" >&2; exit 1; }
  "$useg" eval --pred "$dir/nuclei_right.png" --ref "$out/heldout_ds/labelsTr/nuclei_right.png" \
    --labels 1 --json "$dir/eval.json" >/dev/null
  python3 - "$dir/eval.json" "$name" <<'PY'
import json, sys
row = next(r for r in json.load(open(sys.argv[1]))["summary"] if r["label"] == 1)
print(f"  {sys.argv[2]:4s} {row['dice']:.4f}")
PY
done

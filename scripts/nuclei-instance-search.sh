#!/usr/bin/env bash
# `useg find-postprocess` on an instance model, measured on real nuclei (docs/training.md,
# "Choosing the postprocessing"): the training part of the sample image (columns 0..383) is cut
# into three strips of 128 columns, one case each; the default model's recipe
# (configs/nuclei2d_default.json, without its pinned validation case) trains a 3-fold
# cross-validation on them with useg's own --fold (each fold validates one strip); find-postprocess
# chooses the split settings on the three validation strips; then the held-out quarter (columns
# 384..511, never read before this step) is segmented by the three folds' ensemble with the
# recipe's settings and with the chosen ones, and scored with useg eval --instances.
#
#   scripts/nuclei-instance-search.sh           (needs build/useg: scripts/build.sh)
#   OUT       study folder (default runs/nuclei-instance-search); finished folds there are reused
#   THREADS   CPU threads (default 2); BUILD_DIR (default build)
#
# Prints find-postprocess's table and OUT/heldout.csv (settings, F1 / AP at IoU 0.5, TP FP FN).
set -euo pipefail
cd "$(dirname "$0")/.."
build=${BUILD_DIR:-build}
useg=$build/useg
out=${OUT:-runs/nuclei-instance-search}
threads=${THREADS:-2}
export OMP_WAIT_POLICY=${OMP_WAIT_POLICY:-passive}
[ -x "$useg" ] || { echo "nuclei-instance-search: $useg not found; build it: scripts/build.sh" >&2; exit 1; }

scripts/get-sample-data.sh
mkdir -p "$out"
ds=$out/Dataset102_NucleiStrips
python3 scripts/make_nuclei_dataset.py data/sample/nuclei/img2d.tif data/sample/nuclei/mask2d.tif \
  "$out/heldout_ds" --instance-labels --instances "$out/heldout_ref" >/dev/null
python3 scripts/make_nuclei_dataset.py data/sample/nuclei/img2d.tif data/sample/nuclei/mask2d.tif \
  "$ds" --width 384 --strips 3 --instance-labels >/dev/null  # never the held-out 384..511
python3 - configs/nuclei2d_default.json "$out/config.json" <<'EOF'
import json, sys
c = json.load(open(sys.argv[1]))
del c["train"]["val_cases"]  # the fold's strip is its validation case
json.dump(c, open(sys.argv[2], "w"), indent=1)
EOF

for k in 0 1 2; do
  run=$out/cv/fold_$k
  if [ -f "$run/validation/summary.json" ]; then echo "== reusing $run"; continue; fi
  start=(--config "$out/config.json")
  [ -f "$run/checkpoint.safetensors" ] && start=(--resume)
  echo "== train $run"
  "$useg" train "${start[@]}" --data "$ds" --fold "$k" --folds 3 --output "$run" \
    --threads "$threads" >"$out/fold_$k.log" 2>&1 || { tail -20 "$out/fold_$k.log" >&2; exit 1; }
done

heldout() {  # name: the three folds' best/ together on the held-out quarter
  local dir=$out/heldout/$1
  rm -rf "$dir"
  "$useg" segment --model "$out/cv" --input "$out/heldout_ds/imagesTr/nuclei_right_0000.png" \
    --output "$dir" --format png --threads "$threads" --instances >/dev/null
  "$useg" eval --instances --pred "$dir/nuclei_right_instances.png" \
    --ref "$out/heldout_ref/nuclei_right.png" --output "$dir/objects.csv" >/dev/null
  python3 - "$dir/objects.csv" "$1" "$out/cv/fold_0/best/model.json" >>"$out/heldout.csv" <<'EOF'
import csv, json, sys
row = next(r for r in csv.DictReader(open(sys.argv[1]))
           if r["case"] == "nuclei_right" and r["iou_threshold"] == "0.5")
s = json.load(open(sys.argv[3]))["instances"]
print(f'{sys.argv[2]},{s["fill_holes"]},{s["seed_split"]},{s["seed_min_size"]},{s["min_size"]},'
      f'{float(row["f1"]):.4f},{float(row["accuracy"]):.4f},{row["tp"]},{row["fp"]},{row["fn"]}')
EOF
}

echo "settings,fill_holes,seed_split,seed_min_size,min_size,f1,ap,tp,fp,fn" >"$out/heldout.csv"
# The recipe's settings first (a rerun starts from them again).
python3 - "$out/cv" configs/nuclei2d_default.json <<'EOF'
import glob, json, sys
recipe = json.load(open(sys.argv[2]))["train"]["instances"]
for f in glob.glob(sys.argv[1] + "/fold_*/*/model.json"):
    m = json.load(open(f))
    for key in ("fill_holes", "seed_split", "seed_min_size", "min_size"):
        m["instances"][key] = recipe[key]
    json.dump(m, open(f, "w"), indent=2)
EOF
heldout recipe
"$useg" find-postprocess --run "$out/cv" --data "$ds" --threads "$threads" --apply
heldout chosen
column -s, -t "$out/heldout.csv"

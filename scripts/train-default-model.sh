#!/usr/bin/env bash
# Reproduces the default model models/nuclei2d/ in one command (docs/default-model.md), and
# scores it and the Otsu baseline on the held-out part of the image with `useg eval`:
#   1. scripts/get-sample-data.sh: the real nuclei image and its instance mask (data/sample/nuclei/)
#   2. scripts/make_nuclei_dataset.py --instance-labels: columns 0..383 -> case nuclei_left
#      (training), 384..511 -> nuclei_right (held out; train.val_cases); labelsTr holds one id per
#      nucleus and dataset.json "instances": true       (data/Dataset101_SampleNucleiInstances)
#      plus the parts' instance masks and binary masks for `useg eval` (data/SampleNuclei_instances,
#      data/SampleNuclei_masks)
#   3. useg train --config configs/nuclei2d_default.json (fixed seed): background / nucleus
#      interior / nucleus boundary                                                 (RUN_DIR)
#   4. RUN_DIR/last -> models/nuclei2d (the model after the fixed schedule; `best/` is chosen on
#      the held-out case, so its scores there would be optimistic)
#   5. useg segment --instances (the seeded watershed split) + useg eval on nuclei_right: pixels
#      (Dice of the nucleus class against the binary mask) and objects (F1, AP at IoU 0.5..0.9,
#      panoptic quality against the instance mask); the same with --tta; the number of objects
#      on the whole image; useg_otsu_baseline + useg eval
#
#   scripts/train-default-model.sh            (needs build/useg and build/bench/useg_otsu_baseline:
#                                              scripts/build.sh builds both)
#   RUN_DIR   run folder (default runs/nuclei2d-default); a run already there is resumed, or
#             reused when finished
#   THREADS   CPU threads for training (default 2); BUILD_DIR (default build)
#   NO_INSTALL=1  leave models/nuclei2d untouched (train and evaluate only)
set -euo pipefail
cd "$(dirname "$0")/.."
build=${BUILD_DIR:-build}
useg=$build/useg
otsu=$build/bench/useg_otsu_baseline
run=${RUN_DIR:-runs/nuclei2d-default}
threads=${THREADS:-2}
# Idle OpenMP threads sleep instead of spinning: much faster on a shared machine, same results.
export OMP_WAIT_POLICY=${OMP_WAIT_POLICY:-passive}
ds=data/Dataset101_SampleNucleiInstances
inst=data/SampleNuclei_instances
masks=data/SampleNuclei_masks
for b in "$useg" "$otsu"; do
  [ -x "$b" ] || { echo "train-default-model: $b not found; build it: TARGETS='useg useg_otsu_baseline' scripts/build.sh" >&2; exit 1; }
done

scripts/get-sample-data.sh
python3 scripts/make_nuclei_dataset.py data/sample/nuclei/img2d.tif data/sample/nuclei/mask2d.tif "$ds" --split 384 \
  --instance-labels --instances "$inst" --masks "$masks"

start=(--config configs/nuclei2d_default.json)
[ -f "$run/checkpoint.safetensors" ] && start=(--resume)
echo "== train ($run, --threads $threads)"
TIMEFORMAT="train-default-model: training took %0R s wall, %0U s user + %0S s system CPU"
time "$useg" train "${start[@]}" --data "$ds" --output "$run" --threads "$threads"

model=$run/last
if [ "${NO_INSTALL:-0}" != 1 ]; then
  mkdir -p models/nuclei2d
  cp "$model/model.json" "$model/weights.safetensors" models/nuclei2d/
  model=models/nuclei2d
  echo "train-default-model: installed $run/last as models/nuclei2d ($(du -k models/nuclei2d/weights.safetensors | cut -f1) kB of weights)"
fi

echo "== held-out evaluation (case nuclei_right)"
ev=$run/heldout
rm -rf "$ev"
mkdir -p "$ev/otsu"
for variant in model model_tta; do
  flags=(--no-tta)
  [ "$variant" = model_tta ] && flags=(--tta)
  "$useg" segment --model "$model" --input "$ds/imagesTr/nuclei_right_0000.png" --output "$ev/$variant" \
    --format png --threads "$threads" --instances "${flags[@]}"
  "$useg" eval --pred "$ev/$variant/nuclei_right.png" --ref "$masks/nuclei_right.png" --labels 1 \
    --output "$ev/${variant}_metrics.csv" --json "$ev/${variant}_metrics.json"
  "$useg" eval --instances --pred "$ev/$variant/nuclei_right_instances.png" \
    --ref "$inst/nuclei_right.png" --output "$ev/${variant}_instances.csv"
done
"$otsu" "$ds/imagesTr/nuclei_right_0000.png" "$ev/otsu/nuclei_right.png" "$ev/otsu/nuclei_right_instances.png"
"$useg" eval --instances --pred "$ev/otsu/nuclei_right_instances.png" \
  --ref "$inst/nuclei_right.png" --output "$ev/otsu_instances.csv"
"$useg" eval --pred "$ev/otsu/nuclei_right.png" --ref "$masks/nuclei_right.png" --labels 1 \
  --output "$ev/otsu_metrics.csv" --json "$ev/otsu_metrics.json"

echo "== the whole image (three quarters of it were trained on: a demonstration, not a score)"
"$useg" segment --model "$model" --input data/sample/nuclei/img2d.tif --output "$run/whole" \
  --format tif --threads "$threads" --measure --overwrite
found=$(($(wc -l <"$run/whole/img2d_measurements.csv") - 1))
reference=$(python3 -c "
import sys; sys.path.insert(0, 'scripts')
from make_nuclei_dataset import read_tiff_u16
print(len({v for r in read_tiff_u16('data/sample/nuclei/mask2d.tif')[2] for v in r if v}))")
echo "train-default-model: $found objects on the whole image, the reference has $reference"
echo "train-default-model: held-out metrics in $ev: model_metrics.csv, model_instances.csv (model),"
echo "  model_tta_*.csv (model with --tta), otsu_metrics.csv, otsu_instances.csv (Otsu)"

#!/usr/bin/env bash
# The development-strip study behind the default model's recipe (docs/default-model.md): trains
# configs/nuclei2d_default.json with several seeds on columns 0..255 of the sample nuclei image
# and scores each model, and the ensembles of the first k of them (softmax probabilities
# averaged, `useg segment --model A --model B ...`), on columns 256..383. The held-out quarter
# (columns 384..511) is not read: the dataset is cut at column 384 before anything else.
#
#   scripts/nuclei-dev-study.sh                 (needs build/useg: scripts/build.sh)
#   SEEDS    seeds to train (default "7 11 13"); the first is the shipped config's
#   OUT      study folder (default runs/nuclei-dev-study); finished runs there are reused
#   THREADS  CPU threads (default 2); BUILD_DIR (default build)
#
# Writes OUT/summary.csv: model, Dice (nucleus vs the binary mask), instance F1 / AP at IoU 0.5,
# mean AP 0.5..0.9, objects found / reference objects.
set -euo pipefail
cd "$(dirname "$0")/.."
build=${BUILD_DIR:-build}
useg=$build/useg
out=${OUT:-runs/nuclei-dev-study}
threads=${THREADS:-2}
read -r -a seeds <<<"${SEEDS:-7 11 13}"
export OMP_WAIT_POLICY=${OMP_WAIT_POLICY:-passive}
[ -x "$useg" ] || { echo "nuclei-dev-study: $useg not found; build it: scripts/build.sh" >&2; exit 1; }

scripts/get-sample-data.sh
ds=$out/Dataset102_NucleiDev
python3 scripts/make_nuclei_dataset.py data/sample/nuclei/img2d.tif data/sample/nuclei/mask2d.tif "$ds" \
  --width 384 --split 256 --instance-labels --instances "$out/instances" --masks "$out/masks"
# The development case is named like the held-out one (nuclei_right): the config's val_cases pins it.

models=()
for seed in "${seeds[@]}"; do
  run=$out/seed$seed
  models+=("$run/last")
  [ -f "$run/last/weights.safetensors" ] && { echo "== seed $seed: reusing $run"; continue; }
  python3 -c "import json, sys; c = json.load(open('configs/nuclei2d_default.json'));
c['train']['seed'] = int(sys.argv[1]); json.dump(c, open(sys.argv[2], 'w'), indent=1)" "$seed" "$out/config_seed$seed.json"
  start=(--config "$out/config_seed$seed.json")
  [ -f "$run/checkpoint.safetensors" ] && start=(--resume)
  echo "== seed $seed: train ($run)"
  "$useg" train "${start[@]}" --data "$ds" --output "$run" --threads "$threads"
done

score() {  # name, then --model flags
  local name=$1
  shift
  local dir=$out/scores/$name
  rm -rf "$dir"
  "$useg" segment "$@" --input "$ds/imagesTr/nuclei_right_0000.png" --output "$dir" --format png \
    --threads "$threads" --instances >/dev/null
  "$useg" eval --pred "$dir/nuclei_right.png" --ref "$out/masks/nuclei_right.png" --labels 1 \
    --json "$dir/pixels.json" >/dev/null
  "$useg" eval --instances --pred "$dir/nuclei_right_instances.png" \
    --ref "$out/instances/nuclei_right.png" --output "$dir/objects.csv" >/dev/null
  python3 - "$dir" "$name" >>"$out/summary.csv" <<'EOF'
import csv, json, sys
d, name = sys.argv[1], sys.argv[2]
pix = json.load(open(d + "/pixels.json"))
def find(o, key):
    if isinstance(o, dict):
        if key in o and not isinstance(o[key], (dict, list)): return o[key]
        for v in o.values():
            r = find(v, key)
            if r is not None: return r
    if isinstance(o, list):
        for v in o:
            r = find(v, key)
            if r is not None: return r
dice = find(pix, "dice")
rows = [r for r in csv.DictReader(open(d + "/objects.csv")) if r["case"] == "nuclei_right"]
at = {r["iou_threshold"]: r for r in rows}
r5 = next(r for t, r in at.items() if t != "mean" and abs(float(t) - 0.5) < 1e-9)
print(f'{name},{float(dice):.4f},{float(r5["f1"]):.3f},{float(r5["accuracy"]):.3f},'
      f'{float(at["mean"]["accuracy"]):.3f},{r5["n_pred"]},{r5["n_ref"]}')
EOF
}

echo "model,dice,f1_at_0.5,ap_at_0.5,mean_ap_0.5_0.9,objects,reference_objects" >"$out/summary.csv"
flags=()
for i in "${!seeds[@]}"; do
  score "seed${seeds[$i]}" --model "${models[$i]}"
  flags+=(--model "${models[$i]}")
  [ "$i" -gt 0 ] && score "ensemble_of_$((i + 1))" "${flags[@]}"
done
column -s, -t "$out/summary.csv"

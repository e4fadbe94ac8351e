#!/usr/bin/env bash
# The development study behind the default model's recipe (docs/default-model.md): 3-fold
# cross-validation inside the training part of the sample nuclei image. Columns 0..383 are cut
# into three strips of 128; each fold trains on two strips and scores the third, so every
# training-part nucleus is scored once (about 100 objects instead of the 34 of one strip). The
# held-out quarter (columns 384..511) is never read: every dataset is cut at column 384 first.
#
# Per fold it trains CONFIG (configs/nuclei2d_default.json) with each seed, and (SEMANTIC=1)
# the previous semantic recipe (the same config with 2 classes, 30 epochs, no instance target:
# the model that shipped before the instance one), then scores on the fold's strip:
#   seedN          each instance model alone
#   ensemble       the instance models together (softmax averaged, `--model A --model B ...`)
#   seedN_tta      the first seed with --tta
#   semantic       the semantic model, objects = connected components
#
#   scripts/nuclei-dev-study.sh                 (needs build/useg: scripts/build.sh)
#   SEEDS     seeds to train (default "7 11 13"); the first is the shipped config's
#   FOLDS     folds to run (default "0 1 2"; fold 2 = train on 0..255, score 256..383)
#   SEMANTIC  1 (default) also trains the semantic recipe with the first seed; 0 skips it
#   OUT       study folder (default runs/nuclei-dev-study); finished runs there are reused
#   CONFIG    the recipe to study (default configs/nuclei2d_default.json): a variant's config,
#             to compare it with the shipped recipe's figures fold by fold (use another OUT)
#   THREADS   CPU threads (default 2); BUILD_DIR (default build)
#
# Writes OUT/scores.csv (one row per fold and model: pixel and object counts) and
# OUT/summary.csv (the folds pooled: Dice from the summed pixel counts, F1 and AP at IoU 0.5 and
# the mean AP over 0.5..0.9 from the summed object counts, objects found / reference objects).
set -euo pipefail
cd "$(dirname "$0")/.."
build=${BUILD_DIR:-build}
useg=$build/useg
out=${OUT:-runs/nuclei-dev-study}
threads=${THREADS:-2}
read -r -a seeds <<<"${SEEDS:-7 11 13}"
read -r -a folds <<<"${FOLDS:-0 1 2}"
semantic=${SEMANTIC:-1}
base_config=${CONFIG:-configs/nuclei2d_default.json}
[ -f "$base_config" ] || { echo "nuclei-dev-study: CONFIG $base_config not found" >&2; exit 1; }
export OMP_WAIT_POLICY=${OMP_WAIT_POLICY:-passive}
[ -x "$useg" ] || { echo "nuclei-dev-study: $useg not found; build it: scripts/build.sh" >&2; exit 1; }

scripts/get-sample-data.sh
mkdir -p "$out"

train() {  # run folder, dataset, config; a finished run is reused, a stopped one resumed
  local run=$1 ds=$2 config=$3
  [ -f "$run/last/weights.safetensors" ] && { echo "== reusing $run"; return; }
  local start=(--config "$config")
  [ -f "$run/checkpoint.safetensors" ] && start=(--resume)
  echo "== train $run"
  "$useg" train "${start[@]}" --data "$ds" --output "$run" --threads "$threads" >"$run.log" 2>&1 ||
    { tail -20 "$run.log" >&2; exit 1; }
}

config() {  # seed, semantic (0/1), output file
  python3 - "$base_config" "$@" <<'EOF'
import json, sys
base, seed, semantic, path = sys.argv[1], int(sys.argv[2]), sys.argv[3] == "1", sys.argv[4]
c = json.load(open(base))
c["train"]["seed"] = seed
if semantic:  # the recipe of the semantic model that shipped before the instance one
    c["model"]["num_classes"] = 2
    c["train"]["epochs"] = 30
    c["train"]["val_interval"] = 5
    del c["train"]["instances"]
json.dump(c, open(path, "w"), indent=1)
EOF
}

score() {  # fold folder, name, then segment flags
  local f=$1 name=$2
  shift 2
  local dir=$f/scores/$name
  rm -rf "$dir"
  "$useg" segment "$@" --input "$f/instance_ds/imagesTr/nuclei_right_0000.png" --output "$dir" \
    --format png --threads "$threads" --instances >/dev/null
  "$useg" eval --pred "$dir/nuclei_right.png" --ref "$f/masks/nuclei_right.png" --labels 1 \
    --json "$dir/pixels.json" >/dev/null
  "$useg" eval --instances --pred "$dir/nuclei_right_instances.png" \
    --ref "$f/instances/nuclei_right.png" --output "$dir/objects.csv" >/dev/null
  python3 - "$dir" "$(basename "$f")" "$name" >>"$out/scores.csv" <<'EOF'
import csv, json, sys
d, fold, name = sys.argv[1:4]
row = json.load(open(d + "/pixels.json"))["cases"][0]["rows"][0]
objs = [r for r in csv.DictReader(open(d + "/objects.csv"))
        if r["case"] == "nuclei_right" and r["iou_threshold"] != "mean"]
counts = ";".join(f'{float(r["iou_threshold"]):.1f}:{r["tp"]}:{r["fp"]}:{r["fn"]}' for r in objs)
print(f'{fold},{name},{row["tp"]},{row["fp"]},{row["fn"]},{objs[0]["n_pred"]},{objs[0]["n_ref"]},{counts}')
EOF
}

echo "fold,model,px_tp,px_fp,px_fn,objects,reference_objects,object_tp_fp_fn_by_iou" >"$out/scores.csv"
for k in "${folds[@]}"; do
  f=$out/fold$k
  for kind in instance semantic; do
    [ "$kind" = semantic ] && [ "$semantic" != 1 ] && continue
    flag=()
    [ "$kind" = instance ] && flag=(--instance-labels --instances "$f/instances" --masks "$f/masks")
    python3 scripts/make_nuclei_dataset.py data/sample/nuclei/img2d.tif data/sample/nuclei/mask2d.tif \
      "$f/${kind}_ds" --width 384 --fold "$k" --folds 3 "${flag[@]}" >/dev/null
  done
  # The fold's scored strip is named like the held-out case (nuclei_right): the config's
  # val_cases pins it as the validation case, whose Dice is logged but chooses nothing.
  models=()
  for seed in "${seeds[@]}"; do
    config "$seed" 0 "$f/config_seed$seed.json"
    train "$f/seed$seed" "$f/instance_ds" "$f/config_seed$seed.json"
    models+=(--model "$f/seed$seed/last")
  done
  for i in "${!seeds[@]}"; do score "$f" "seed${seeds[$i]}" --model "$f/seed${seeds[$i]}/last" --no-tta; done
  [ "${#seeds[@]}" -gt 1 ] && score "$f" ensemble "${models[@]}" --no-tta
  score "$f" "seed${seeds[0]}_tta" --model "$f/seed${seeds[0]}/last" --tta
  if [ "$semantic" = 1 ]; then
    config "${seeds[0]}" 1 "$f/config_semantic.json"
    train "$f/semantic" "$f/semantic_ds" "$f/config_semantic.json"
    score "$f" semantic --model "$f/semantic/last" --no-tta
  fi
done

python3 - "$out/scores.csv" >"$out/summary.csv" <<'EOF'
import collections, csv, sys
pooled = collections.OrderedDict()
for r in csv.DictReader(open(sys.argv[1])):
    p = pooled.setdefault(r["model"], collections.Counter())
    for key in ("px_tp", "px_fp", "px_fn", "objects", "reference_objects"):
        p[key] += int(r[key])
    for item in r["object_tp_fp_fn_by_iou"].split(";"):
        t, tp, fp, fn = item.split(":")
        p[t, "tp"] += int(tp); p[t, "fp"] += int(fp); p[t, "fn"] += int(fn)
    p["folds"] += 1
print("model,folds,dice,f1_at_0.5,ap_at_0.5,mean_ap_0.5_0.9,objects,reference_objects")
for name, p in pooled.items():
    dice = 2 * p["px_tp"] / (2 * p["px_tp"] + p["px_fp"] + p["px_fn"])
    ts = sorted({k[0] for k in p if isinstance(k, tuple)})
    ap = {t: p[t, "tp"] / max(1, p[t, "tp"] + p[t, "fp"] + p[t, "fn"]) for t in ts}
    f1 = 2 * p["0.5", "tp"] / max(1, 2 * p["0.5", "tp"] + p["0.5", "fp"] + p["0.5", "fn"])
    print(f'{name},{p["folds"]},{dice:.4f},{f1:.3f},{ap["0.5"]:.3f},{sum(ap.values()) / len(ap):.3f},'
          f'{p["objects"]},{p["reference_objects"]}')
EOF
column -s, -t "$out/summary.csv"

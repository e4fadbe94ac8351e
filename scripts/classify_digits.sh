#!/usr/bin/env bash
# Handwritten digits end to end with useg (docs/classification.md): scikit-learn's 1797 real 8x8
# digits, a fixed stratified 80/20 split, the small CNN of configs/cnn_small.json trained with
# `useg train`, the test images classified with `useg classify` and scored with
# `useg eval --classification`:
#   1. scripts/make_digits.py OUT/data          OUT/data/train/<digit>/*.png, test/, test.csv
#   2. OUT/cnn_small.json = configs/cnn_small.json (train.epochs = EPOCHS when given)
#   3. useg train --config OUT/cnn_small.json --data OUT/data/train --output OUT/run
#   4. useg classify --model OUT/run/last --input test --recursive (in OUT/data, so the image
#      column holds the same relative paths as test.csv)     -> OUT/predictions.csv
#   5. useg eval --classification --pred OUT/predictions.csv --ref test.csv (in OUT/data)
#      -> OUT/metrics.csv, OUT/metrics.json; the accuracy is also recounted here from the CSVs
#
#   scripts/classify_digits.sh [OUT] [EPOCHS]     (default OUT: runs/digits; EPOCHS: the config's)
#   USEG          the useg binary (default build/useg)
#   PYTHON        a python3 with scikit-learn (default: the first of python3, /usr/bin/python3
#                 that has it; Debian: apt-get install python3-sklearn)
#   THREADS       CPU threads for useg (default 2)
#   MIN_ACCURACY  exit 1 when the test accuracy is below this (default 0.97)
#   CONFIG        the run config (default configs/cnn_small.json)
# OUT/data, OUT/run and the other outputs in OUT are replaced on every run.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
out=${1:-runs/digits}
epochs=${2:-}
useg=${USEG:-$root/build/useg}
threads=${THREADS:-2}
min_acc=${MIN_ACCURACY:-0.97}
config=${CONFIG:-$root/configs/cnn_small.json}
export OMP_WAIT_POLICY=${OMP_WAIT_POLICY:-passive}
die() { echo "classify_digits: $*" >&2; exit 1; }

[ -x "$useg" ] || die "$useg not found or not executable; build it (scripts/build.sh) or set USEG"
useg=$(realpath "$useg")
[ -f "$config" ] || die "config $config not found"
if [ -n "$epochs" ] && ! [[ $epochs =~ ^[1-9][0-9]*$ ]]; then
  die "EPOCHS must be a positive integer, got '$epochs'"
fi
py=${PYTHON:-}
if [ -z "$py" ]; then
  for p in python3 /usr/bin/python3; do
    if command -v "$p" >/dev/null 2>&1 && "$p" -c 'import sklearn' 2>/dev/null; then py=$p; break; fi
  done
  [ -n "$py" ] || die "no python3 with scikit-learn found (Debian: apt-get install python3-sklearn; or set PYTHON)"
fi

mkdir -p "$out"
out=$(realpath "$out")
rm -rf "$out/data" "$out/run" "$out/predictions.csv" "$out/metrics.csv" "$out/metrics.json"
echo "== digits -> $out/data"
"$py" "$root/scripts/make_digits.py" "$out/data"

"$py" - "$config" "$out/cnn_small.json" "$epochs" <<'EOF'
import json, sys
src, dst, epochs = sys.argv[1], sys.argv[2], sys.argv[3]
cfg = json.load(open(src))
if epochs:
    cfg["train"]["epochs"] = int(epochs)
json.dump(cfg, open(dst, "w"), indent=2)
EOF
echo "== train ($out/run, $(basename "$config"), epochs ${epochs:-as configured}, --threads $threads)"
TIMEFORMAT="classify_digits: training took %1R s wall"
time "$useg" train --config "$out/cnn_small.json" --data "$out/data/train" --output "$out/run" \
  --threads "$threads"

echo "== classify $out/data/test"
TIMEFORMAT="classify_digits: classify took %1R s wall"
time (cd "$out/data" && "$useg" classify --model "$out/run/last" --input test --recursive \
  --output "$out/predictions.csv" --threads "$threads")

echo "== eval"
# In OUT/data too: the predicted paths (test/3/0021.png) then name the same files whether they
# are read as given, relative to the working folder or relative to test.csv.
(cd "$out/data" && "$useg" eval --classification --pred "$out/predictions.csv" --ref test.csv \
  --output "$out/metrics.csv" --json "$out/metrics.json")

"$py" - "$out" "$min_acc" <<'EOF'
import csv, json, os, sys
out, min_acc = sys.argv[1], float(sys.argv[2])
m = json.load(open(os.path.join(out, "metrics.json")))
truth = {os.path.normpath(r["image"]): r["label"]
         for r in csv.DictReader(open(os.path.join(out, "data", "test.csv")))}
pred = {}
for r in csv.DictReader(open(os.path.join(out, "predictions.csv"))):
    p = os.path.normpath(r["image"])
    if os.path.isabs(p):
        p = os.path.relpath(p, os.path.join(out, "data"))
    pred[p] = r["class"]
missing = sorted(set(truth) - set(pred))
if missing:
    sys.exit(f"classify_digits: {len(missing)} test image(s) not in predictions.csv, e.g. {missing[0]}")
acc = sum(pred[k] == v for k, v in truth.items()) / len(truth)
print(f"classify_digits: test accuracy {m['accuracy']:.4f} (useg eval), {acc:.4f} recounted from "
      f"the CSVs; balanced accuracy {m['balanced_accuracy']:.4f}, macro AUC {m['macro_auc']:.4f}; "
      f"{len(truth)} test images")
if abs(acc - m["accuracy"]) > 1e-6:
    sys.exit(f"classify_digits: useg eval's accuracy {m['accuracy']} differs from the recount {acc}")
if m["accuracy"] < min_acc:
    sys.exit(f"classify_digits: FAIL: accuracy {m['accuracy']:.4f} < MIN_ACCURACY {min_acc}")
print(f"classify_digits: OK (accuracy >= MIN_ACCURACY {min_acc})")
EOF

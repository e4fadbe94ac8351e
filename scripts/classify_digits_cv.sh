#!/usr/bin/env bash
# A classifier's cross-validation on real data (docs/classification.md, "Cross-validation"):
# scikit-learn's digits (scripts/make_digits.py: 1437 training, 360 test images), the small CNN
# of configs/cnn_small.json trained as a stratified 5-fold cross-validation of the training
# images (useg train --fold K --folds 5), the folds scored together (useg crossval), then the
# held-out test images classified by each fold's best/ alone and by the five together
# (useg classify --model CV) and scored with useg eval --classification.
#
#   scripts/classify_digits_cv.sh [OUT]     (default OUT: runs/digits-cv; build/useg needed)
#   USEG, THREADS (default 2), PYTHON (a python3 with scikit-learn: /usr/bin/python3 on Debian)
# Prints the cross-validation's accuracy and OUT/test.csv (model, test accuracy).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
out=$(realpath -m "${1:-runs/digits-cv}")
useg=$(realpath "${USEG:-$root/build/useg}")
threads=${THREADS:-2}
py=${PYTHON:-/usr/bin/python3}
export OMP_WAIT_POLICY=${OMP_WAIT_POLICY:-passive}
mkdir -p "$out"
[ -f "$out/data/test.csv" ] || "$py" "$root/scripts/make_digits.py" "$out/data" >/dev/null
"$py" - "$root/configs/cnn_small.json" "$out/config.json" <<'PY'
import json, sys
c = json.load(open(sys.argv[1]))
c["train"]["val_interval"] = 5  # best/ chosen on the fold's validation images every 5 epochs
json.dump(c, open(sys.argv[2], "w"), indent=1)
PY
for k in 0 1 2 3 4; do
  run=$out/cv/fold_$k
  [ -f "$run/validation/summary.json" ] && { echo "== reusing $run"; continue; }
  rm -rf "$run"
  echo "== train $run"
  "$useg" train --config "$out/config.json" --data "$out/data/train" --fold "$k" --folds 5 \
    --output "$run" --threads "$threads" >"$out/fold_$k.log" 2>&1 ||
    { tail -20 "$out/fold_$k.log" >&2; exit 1; }
done
"$useg" crossval --run "$out/cv" --data "$out/data/train" | tail -1
score() {  # name, then --model arguments
  local name=$1
  shift
  (cd "$out/data" && "$useg" classify "$@" --input test --recursive --overwrite \
     --output "$out/test_$name.csv" --threads "$threads" >/dev/null &&
   "$useg" eval --classification --pred "$out/test_$name.csv" --ref test.csv \
     --json "$out/test_$name.json" >/dev/null)
  "$py" -c "import json,sys; print(sys.argv[1] + ',' + str(json.load(open(sys.argv[2]))['accuracy']))" \
    "$name" "$out/test_$name.json" >>"$out/test.csv"
}
echo "model,test_accuracy" >"$out/test.csv"
for k in 0 1 2 3 4; do score "fold_$k" --model "$out/cv/fold_$k/best"; done
score ensemble --model "$out/cv"
column -s, -t "$out/test.csv"

#!/usr/bin/env bash
# A biomedical object classification task with useg (docs/classification.md): is a blob of
# nuclear foreground one nucleus ("single") or several touching nuclei ("clump")? From the real
# nuclei sample (2018 Data Science Bowl image + its instance mask, scripts/get-sample-data.sh):
#   1. scripts/make_clump_dataset.py: one 64x64 crop per connected component of the reference
#      foreground (touching instances merged, 8-connectivity), labelled by how many reference
#      instances it holds; components whose centroid lies in the left 60% of the image train,
#      the others test                                    (OUT/data/train/<class>/, test.csv)
#   2. useg train --config configs/nuclei_clumps.json (small CNN, class-balanced sampling,
#      label-preserving augmentation: flips, 90-degree rotations, small rotations/zoom,
#      intensity)                                         (OUT/run)
#   3. useg classify OUT/run/last on the test crops       (OUT/predictions.csv)
#   4. useg eval --classification                         (OUT/metrics.csv, OUT/metrics.json)
# and prints the counts, the accuracy next to the majority-class baseline, the balanced accuracy
# and the ROC AUC of the clump class.
#
#   scripts/classify_nuclei_clumps.sh [OUT]      (default OUT: runs/nuclei_clumps)
#   USEG (default build/useg), THREADS (default 2), SEED (default: the config's),
#   CONFIG (default configs/nuclei_clumps.json), SAMPLE (default data/sample/nuclei)
# The sample data must be there already (this script downloads nothing):
#   scripts/get-sample-data.sh   (fetches it once, 3 MB)
# Needs a python3 with numpy and scipy (PYTHON; Debian: python3-scipy).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
out=${1:-runs/nuclei_clumps}
useg=${USEG:-$root/build/useg}
threads=${THREADS:-2}
config=${CONFIG:-$root/configs/nuclei_clumps.json}
sample=${SAMPLE:-$root/data/sample/nuclei}
export OMP_WAIT_POLICY=${OMP_WAIT_POLICY:-passive}
die() { echo "classify_nuclei_clumps: $*" >&2; exit 1; }

[ -x "$useg" ] || die "$useg not found or not executable; build it (scripts/build.sh) or set USEG"
useg=$(realpath "$useg")
[ -f "$config" ] || die "config $config not found"
for f in img2d.tif mask2d.tif; do
  [ -f "$sample/$f" ] || die "$sample/$f not found; fetch the sample data once: scripts/get-sample-data.sh"
done
py=${PYTHON:-}
if [ -z "$py" ]; then
  for p in python3 /usr/bin/python3; do
    if command -v "$p" >/dev/null 2>&1 && "$p" -c 'import numpy, scipy' 2>/dev/null; then py=$p; break; fi
  done
  [ -n "$py" ] || die "no python3 with numpy and scipy found (Debian: apt-get install python3-scipy; or set PYTHON)"
fi
seed=()
[ -n "${SEED:-}" ] && seed=(--seed "$SEED")

mkdir -p "$out"
out=$(realpath "$out")
rm -rf "$out/data" "$out/run" "$out/predictions.csv" "$out/predictions_report.json" \
  "$out/metrics.csv" "$out/metrics.json"
echo "== objects -> $out/data"
"$py" "$root/scripts/make_clump_dataset.py" "$sample/img2d.tif" "$sample/mask2d.tif" "$out/data"

echo "== train ($out/run, $(basename "$config"), --threads $threads)"
TIMEFORMAT="classify_nuclei_clumps: training took %1R s wall"
time "$useg" train --config "$config" --data "$out/data/train" --output "$out/run" \
  --threads "$threads" "${seed[@]}"

echo "== classify the test objects"
(cd "$out/data" && "$useg" classify --model "$out/run/last" --input test --recursive \
  --output "$out/predictions.csv" --threads "$threads")
echo "== eval"
(cd "$out/data" && "$useg" eval --classification --pred "$out/predictions.csv" --ref test.csv \
  --output "$out/metrics.csv" --json "$out/metrics.json")

"$py" - "$out" <<'EOF'
import json, os, sys
out = sys.argv[1]
s = json.load(open(os.path.join(out, "data", "summary.json")))
m = json.load(open(os.path.join(out, "metrics.json")))
per = {c["class"]: c for c in m["per_class"]}
n_test = s["test_single"] + s["test_clump"]
majority = max(s["test_single"], s["test_clump"]) / n_test
clump = per.get("clump", {})
print(f"classify_nuclei_clumps: {s['objects']} objects from {s['instances']} reference nuclei; "
      f"train {s['train_single']} single + {s['train_clump']} clump, test {s['test_single']} "
      f"single + {s['test_clump']} clump")
print(f"classify_nuclei_clumps: test accuracy {m['accuracy']:.4f} (majority-class baseline "
      f"{majority:.4f}), balanced accuracy {m['balanced_accuracy']:.4f}, ROC AUC {m['macro_auc']:.4f}"
      f"; clump recall {clump.get('recall', float('nan')):.4f}, precision "
      f"{clump.get('precision', float('nan')):.4f}")
EOF

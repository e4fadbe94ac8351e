#!/usr/bin/env bash
# Classification end to end on real data: scripts/classify_digits.sh with few epochs (scikit-
# learn's 8x8 digits, configs/cnn_small.json, useg train -> useg classify -> useg eval
# --classification) must reach MIN_ACCURACY 0.95 on the 360 held-out digits, and useg eval's
# accuracy must equal the one recounted from predictions.csv and test.csv. About a minute on 2
# cores. Exits 77 (ctest: SKIP_RETURN_CODE) when no python3 has scikit-learn
# (python3-sklearn: scripts/install-deps.sh installs it).
#   tests/shell/test_classify_digits.sh PATH/TO/useg   (ctest: classify_digits)
#   EPOCHS (default 6), THREADS (default 2)
set -euo pipefail
useg=$(realpath "${1:?usage: $0 PATH/TO/useg}")
root=$(cd "$(dirname "$0")/../.." && pwd)
py=""
for p in ${PYTHON:-} python3 /usr/bin/python3; do
  if command -v "$p" >/dev/null 2>&1 && "$p" -c 'import sklearn' 2>/dev/null; then py=$p; break; fi
done
if [ -z "$py" ]; then
  echo "SKIPPED: no python3 with scikit-learn (apt-get install python3-sklearn, or scripts/install-deps.sh)"
  exit 77
fi
work=$(mktemp -d "${TMPDIR:-/tmp}/useg_test_classify_digits.XXXXXX")
trap 'rm -rf "$work"' EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }

USEG="$useg" PYTHON="$py" MIN_ACCURACY=0.95 THREADS=${THREADS:-2} \
  bash "$root/scripts/classify_digits.sh" "$work/out" "${EPOCHS:-6}" >"$work/log" 2>&1 ||
  { cat "$work/log"; fail "scripts/classify_digits.sh failed"; }
cat "$work/log"

out=$work/out
[ "$(find "$out/data/train" -name '*.png' | wc -l)" -eq 1437 ] || fail "not 1437 training images"
[ "$(($(wc -l <"$out/data/test.csv") - 1))" -eq 360 ] || fail "test.csv has not 360 rows"
head -n1 "$out/predictions.csv" | grep -qx 'image,class,probability,p_0,p_1,p_2,p_3,p_4,p_5,p_6,p_7,p_8,p_9' ||
  fail "predictions.csv header: $(head -n1 "$out/predictions.csv")"
[ "$(($(wc -l <"$out/predictions.csv") - 1))" -eq 360 ] || fail "predictions.csv has not 360 rows"
"$py" - "$out" <<'EOF' || fail "predictions.csv or metrics.json is inconsistent"
import csv, json, math, os, sys
out = sys.argv[1]
for r in csv.DictReader(open(os.path.join(out, "predictions.csv"))):
    p = [float(r[f"p_{k}"]) for k in range(10)]
    assert abs(sum(p) - 1) < 1e-4, f"{r['image']}: probabilities sum to {sum(p)}"
    assert r["class"] == str(max(range(10), key=lambda k: p[k])), f"{r['image']}: class is not the argmax"
    assert abs(float(r["probability"]) - max(p)) < 1e-5, f"{r['image']}: probability is not the max"
m = json.load(open(os.path.join(out, "metrics.json")))
assert len(m["per_class"]) == 10, "per_class has not 10 entries"
assert sum(c["support"] for c in m["per_class"]) == 360, "supports do not add up to 360"
assert sum(map(sum, m["confusion"])) == 360, "the confusion matrix does not add up to 360"
diag = sum(m["confusion"][k][k] for k in range(10)) / 360
assert abs(diag - m["accuracy"]) < 1e-9, f"confusion diagonal {diag} != accuracy {m['accuracy']}"
assert 0.5 < m["macro_auc"] <= 1 and not math.isnan(m["macro_auc"]), f"macro_auc {m['macro_auc']}"
EOF
echo "classify_digits: PASS"

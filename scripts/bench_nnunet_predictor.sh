#!/usr/bin/env bash
# nnU-Net v2's own predictor (nnunetv2 2.8.1's nnUNetPredictor over Debian's PyTorch) against
# `useg segment` on the same model and image, on the CPU with the same threads (issue 22).
# The model is nnU-Net's usual isotropic 3d_fullres PlainConvUNet: 6 stages, features
# [32, 64, 128, 256, 320, 320], 3x3x3 kernels, 2 convs per stage, instance norm, leaky ReLU,
# 3 classes, random weights (speed does not depend on them), patch PATCH^3 at 1 mm, imported
# with `useg import-nnunet`; the image is SIZE^3 at 1 mm (8 windows at tile step 0.5 for the
# defaults 128 and 160). Both run as a fresh process per case, as a user runs them: nnU-Net with
# tile_step_size 0.5, Gaussian, no mirroring, labels only (scripts/nnunet_predict.py predict
# --no-probabilities; torch.set_num_threads(THREADS), nnUNet_def_n_proc=THREADS), useg with
# --overlap 0.5 --threads THREADS --no-tta; OMP_NUM_THREADS=THREADS for both. REPS runs each,
# interleaved (nnU-Net, useg, nnU-Net, ...), under /usr/bin/time -v: the median wall time and
# peak RSS of each, and the ratio. Also checks that the two label images agree (>= 0.99).
#   scripts/bench_nnunet_predictor.sh [OUT=build/bench-nnunet]
#   USEG (build/useg)  PY (build/nnunet-venv/bin/python)  REPS (3)  THREADS (2)  PATCH (128)
#   SIZE (160)
set -euo pipefail
cd "$(dirname "$0")/.."
out=${1:-build/bench-nnunet}
useg=$(realpath "${USEG:-build/useg}")
py=${PY:-build/nnunet-venv/bin/python}
reps=${REPS:-3} threads=${THREADS:-2} patch=${PATCH:-128} size=${SIZE:-160}
rm -rf "$out"
mkdir -p "$out"
folder=$("$py" scripts/nnunet_predict.py make "$out" bench --bench-patch "$patch" \
           --bench-size "$size" | tail -n1)
"$useg" import-nnunet "$folder" --output "$out/useg_model" >/dev/null
echo "bench_nnunet_predictor: patch ${patch}^3, image ${size}^3, $threads threads, $reps runs each"
echo "load before: $(cut -d' ' -f1-3 /proc/loadavg)"
export OMP_NUM_THREADS=$threads nnUNet_def_n_proc=$threads
for i in $(seq 1 "$reps"); do
  rm -rf "$out/nn" "$out/us"
  /usr/bin/time -v -o "$out/time_nnunet_$i.txt" "$py" scripts/nnunet_predict.py predict "$folder" \
    "$out/images" "$out/nn" --threads "$threads" --no-probabilities >"$out/log_nnunet_$i.txt" 2>&1
  /usr/bin/time -v -o "$out/time_useg_$i.txt" "$useg" segment --model "$out/useg_model" \
    --input "$out/images/case_0000.nii.gz" --output "$out/us" --overlap 0.5 --no-tta --threads "$threads" \
    >"$out/log_useg_$i.txt" 2>&1
  echo "run $i: nnU-Net $(grep -o 'predict+export [0-9.]* s' "$out/log_nnunet_$i.txt"), load $(cut -d' ' -f1-3 /proc/loadavg)"
done
echo "load after: $(cut -d' ' -f1-3 /proc/loadavg)"
"$py" - "$out" "$reps" <<'PY'
import statistics, sys
import numpy as np
import SimpleITK as sitk
out, reps = sys.argv[1], int(sys.argv[2])

def parse(path):
    wall = rss = None
    for line in open(path):
        if "Elapsed (wall clock)" in line:
            t = line.rsplit(": ", 1)[1].strip().split(":")
            wall = sum(float(x) * 60 ** i for i, x in enumerate(reversed(t)))
        elif "Maximum resident set size" in line:
            rss = int(line.rsplit(": ", 1)[1]) / 1024.0
    return wall, rss

res = {}
for who in ("nnunet", "useg"):
    runs = [parse(f"{out}/time_{who}_{i}.txt") for i in range(1, reps + 1)]
    res[who] = (statistics.median(r[0] for r in runs), statistics.median(r[1] for r in runs),
                [round(r[0], 2) for r in runs])
for who, name in (("nnunet", "nnU-Net predictor"), ("useg", "useg segment")):
    w, m, runs = res[who]
    print(f"{name:18s} median wall {w:7.2f} s  peak RSS {m:7.0f} MiB  runs {runs}")
print(f"ratio nnU-Net / useg: wall {res['nnunet'][0] / res['useg'][0]:.2f}x, "
      f"peak RSS {res['nnunet'][1] / res['useg'][1]:.2f}x")
a = sitk.GetArrayFromImage(sitk.ReadImage(f"{out}/nn/case.nii.gz"))
b = sitk.GetArrayFromImage(sitk.ReadImage(f"{out}/us/case.nii.gz"))
agree = float(np.mean(a == b))
print(f"label agreement nnU-Net vs useg: {agree:.5f}")
sys.exit(0 if agree >= 0.99 else 1)
PY

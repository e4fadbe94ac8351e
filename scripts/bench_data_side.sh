#!/usr/bin/env bash
# The data side of a 3D training step (issue 23): `useg train` of configs/unet3d_mri.json on a
# generated 1 mm dataset (~128^3 per case, scripts/make_aniso_dataset.py --isotropic 128) with
# every augmentation on (nnU-Net's probabilities, elastic deformation 0.2 and low-resolution
# simulation 0.25 too), at 2 x 64^3 and 2 x 96^3, no validation. Prints, per patch size and
# num_workers (2 = overlapped on worker threads, 0 = on the training thread), the trainer's final
# line: median step, median data wait and median time of making one batch.
#   scripts/bench_data_side.sh [OUT=build/data-side] [STEPS=12]
set -euo pipefail
cd "$(dirname "$0")/.."
out=${1:-build/data-side} steps=${2:-12}
useg=${USEG:-build/useg}
py=${PYTHON:-/usr/bin/python3}  # the one with numpy (scripts/install-deps.sh)
data=$out/Dataset011_Iso
[ -f "$data/dataset.json" ] || "$py" scripts/make_aniso_dataset.py "$data" --cases 6 --isotropic 128
for patch in 64 96; do
  for workers in 2 0; do
    cfg=$out/unet3d_${patch}_w$workers.json
    "$py" - "$cfg" "$patch" "$workers" "$steps" <<'PY'
import json, sys
c = json.load(open("configs/unet3d_mri.json"))
t = c["train"]
c["model"]["num_classes"] = 3  # background, organ, lesion
p = int(sys.argv[2])
t.update(patch_size=[p, p, p], batch_size=2, epochs=1, iterations_per_epoch=int(sys.argv[4]),
         num_workers=int(sys.argv[3]), val_fraction=0.0)
t["augment"].update(elastic=0.2, low_res=0.25)
json.dump(c, open(sys.argv[1], "w"), indent=1)
PY
    rm -rf "$out/run_${patch}_w$workers"
    line=$("$useg" train --config "$cfg" --data "$data" --output "$out/run_${patch}_w$workers" \
             --threads 2 2>&1 | grep "^finished")
    echo "2 x ${patch}^3, num_workers $workers: $line"
  done
done

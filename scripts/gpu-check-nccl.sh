# shellcheck shell=bash
# Sourced by scripts/gpu-check.sh (in the bundle beside it): the tests stage's check of multi-GPU
# training's NCCL path on one GPU (docs/cluster.md). Uses gpu-check's GC_* variables.
# A 1-rank NCCL training run (docs/cluster.md): a tiny 2D U-Net, 2 epochs, on a generated dataset,
# with --dist-backend nccl (the default 25 MB segments: one of gradients; and 1 kB segments: about
# ten, summed on NCCL's stream during the backward) and without (same seed, same GPU); prints the
# three last losses.
nccl_train() {
  local d=$GC_WORK/nccl_data c=$GC_WORK/nccl.json py=${GC_PYTHONS%% *} r loss=()
  grep -q '^libnccl.so.2: /' "$GC_WORK/libs.txt" || { echo "nccl train: not run (libnccl.so.2 not found)"; return 0; }
  [ -n "$py" ] || { echo "nccl train: not run (no python3 to write its dataset)"; return 0; }
  "$py" - "$d" <<'PY' || return 1
import os, random, sys
d = sys.argv[1]; random.seed(1)
for s in ("imagesTr", "labelsTr"): os.makedirs(f"{d}/{s}", exist_ok=True)
h = b"ObjectType = Image\nNDims = 2\nDimSize = 40 40\nElementSpacing = 1 1\nElementType = MET_UCHAR\nElementDataFile = LOCAL\n"
for k in range(5):
    px = bytes(random.randrange(256) for _ in range(1600))
    open(f"{d}/imagesTr/c{k}_0000.mha", "wb").write(h + px)
    open(f"{d}/labelsTr/c{k}.mha", "wb").write(h + bytes(int(v >= 128) for v in px))
open(f"{d}/dataset.json", "w").write('{"channel_names": {"0": "noise"}, "labels": {"background": 0, "bright": 1}, "numTraining": 5, "file_ending": ".mha"}')
PY
  printf '%s' '{"model": {"dims": 2, "in_channels": 1, "num_classes": 2, "base_filters": 8, "depth": 2},' \
    ' "train": {"patch_size": [32, 32], "batch_size": 4, "epochs": 2, "iterations_per_epoch": 5, "lr": 0.01,' \
    ' "val_cases": ["c3", "c4"], "target_spacing": "native", "seed": 5}}' >"$c"
  for r in nccl nccl_segments plain; do
    local extra=()
    [ "$r" = plain ] || extra=(--dist-backend nccl)
    [ "$r" != nccl_segments ] || extra+=(--bucket-mb 0.001)
    echo "== nccl train: useg train --device cuda ${extra[*]}" >>"$GC_OUT/tests.log"
    timeout -k 3 60 env LD_LIBRARY_PATH="$GC_LIBPATH" "$GC_BUNDLE/bin/useg" train --config "$c" --data "$d" \
      --device cuda --output "$GC_WORK/run_$r" "${extra[@]}" \
      >>"$GC_OUT/tests.log" 2>&1 || { echo "nccl train: the $r run failed"; return 1; }
    loss+=("$(tail -n1 "$GC_WORK/run_$r/metrics.csv" | cut -d, -f2)")
  done
  grep -q "gradient all-reduce over 1 rank (NCCL 2" "$GC_OUT/tests.log" || { echo "nccl train: no NCCL all-reduce"; return 1; }
  grep -q "in [0-9]* segments ([1-9][0-9.]* per step started during the backward)" "$GC_OUT/tests.log" ||
    { echo "nccl train: no segment started during the backward with --bucket-mb 0.001"; return 1; }
  echo "nccl train: last train_loss ${loss[0]} with NCCL, ${loss[1]} with 1 kB segments, ${loss[2]} without"
}

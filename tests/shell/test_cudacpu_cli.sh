#!/usr/bin/env bash
# The whole product path with the CUDA backend, against the CPU: `useg_cudacpu` is the useg
# command linked with the CUDA backend compiled by cudacpu (kernels on the CPU, streams that run
# late, device memory the host cannot read; tests/cudacpu/CMakeLists.txt). What no op case
# covers runs here with --device cuda: the trainer (batches uploaded, loss read back, clipping,
# the optimizer, validation, checkpoints and best/last written from device weights), and segment
# (sliding window, Gaussian weighting, TTA flips, probabilities downloaded, the instance split).
#   1. train 2 epochs of configs/tiny2d_test.json on both devices: the same losses and
#      validation Dice in metrics.csv, the same weights in last/ (float tolerance); and with
#      bf16 convolutions on CUDA, losses within 1%;
#   2. segment with --tta --save-probabilities: the same labels, probabilities within 1e-5;
#   3. the shipped instance model (models/nuclei2d) with --instances: the same labels and the
#      same split objects, file for file.
# usage: test_cudacpu_cli.sh PATH/TO/useg_cudacpu PATH/TO/useg
set -euo pipefail
[ $# -eq 2 ] || { echo "usage: $0 PATH/TO/useg_cudacpu PATH/TO/useg" >&2; exit 2; }
cuda=$1
cpu=$2
root=$(cd "$(dirname "$0")/../.." && pwd)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }
export OMP_NUM_THREADS=2

python3 "$root/scripts/make_demo_nuclei.py" "$work/ds" --cases 4 --size 64 --seed 2 >/dev/null

# segment_both NAME MODEL IMAGE FLAGS...: segments IMAGE on the CPU (useg) into $work/NAME_cpu and
# on the emulated GPU (useg_cudacpu, fp32) into $work/NAME_cuda.
segment_both() {
  local name=$1 model=$2 img=$3 dev bin flags
  shift 3
  for dev in cpu cuda; do
    bin=$cpu; flags=()
    [ "$dev" = cuda ] && { bin=$cuda; flags=(--device cuda --precision fp32); }
    "$bin" segment --model "$model" --input "$img" --output "$work/${name}_$dev" --threads 1 "$@" \
      "${flags[@]}" >"$work/${name}_$dev.log" 2>&1 || { cat "$work/${name}_$dev.log"; fail "segment ($name) on $dev"; }
  done
}

# --- 1. training
"$cpu" train --config "$root/configs/tiny2d_test.json" --data "$work/ds" --output "$work/cpu" \
  --threads 1 >"$work/cpu.log" 2>&1 || { cat "$work/cpu.log"; fail "CPU training"; }
"$cuda" train --config "$root/configs/tiny2d_test.json" --data "$work/ds" --output "$work/cuda" \
  --device cuda --precision fp32 --threads 1 >"$work/cuda.log" 2>&1 || { cat "$work/cuda.log"; fail "CUDA training"; }
python3 - "$work/cpu" "$work/cuda" <<'EOF' || fail "training on CUDA differs from the CPU"
import csv, json, struct, sys
cpu, cuda = sys.argv[1], sys.argv[2]
a = list(csv.DictReader(open(cpu + "/metrics.csv")))
b = list(csv.DictReader(open(cuda + "/metrics.csv")))
assert len(a) == len(b) == 2, (len(a), len(b))
for ra, rb in zip(a, b):
    for key in ("train_loss", "mean_fg_dice"):
        x, y = float(ra[key]), float(rb[key])
        assert abs(x - y) <= 1e-5 * abs(x) + 1e-7, (ra["epoch"], key, x, y)
    print(f'epoch {ra["epoch"]}: loss {ra["train_loss"]} (cpu) {rb["train_loss"]} (cuda), '
          f'Dice {ra["mean_fg_dice"]} / {rb["mean_fg_dice"]}')
def tensors(path):
    d = open(path, "rb").read()
    n = struct.unpack("<Q", d[:8])[0]
    head = json.loads(d[8:8 + n])
    out = {}
    for name, t in head.items():
        if name == "__metadata__":
            continue
        assert t["dtype"] == "F32", t
        lo, hi = t["data_offsets"]
        out[name] = struct.unpack("<%df" % ((hi - lo) // 4), d[8 + n + lo:8 + n + hi])
    return out
wa, wb = tensors(cpu + "/last/weights.safetensors"), tensors(cuda + "/last/weights.safetensors")
assert wa.keys() == wb.keys() and wa, (sorted(wa), sorted(wb))
# A convolution's bias before a norm has a gradient of exactly 0 in exact arithmetic (the norm
# removes any constant), so each device has rounding noise there, which Adam scales to +-lr
# steps: those biases differ by up to a few lr, and change no output (the losses above agree).
# Every other weight must agree.
before_norm = [k for k in wa if ".blocks." in k and k.endswith("conv.bias")]
checked = [k for k in wa if k not in before_norm]
assert len(checked) > len(before_norm) > 0, (len(checked), len(before_norm))
worst = max(abs(x - y) for k in checked for x, y in zip(wa[k], wb[k]))
assert worst <= 1e-4, worst
print(f"{len(checked)} weight tensors, largest difference {worst:.2e} "
      f"({len(before_norm)} biases before a norm not compared)")
EOF

# bf16 convolutions (the channels-last casts, cuDNN's half path emulated): the same run within
# bfloat16's rounding (measured: losses within 0.2% of float32).
"$cuda" train --config "$root/configs/tiny2d_test.json" --data "$work/ds" --output "$work/bf16" \
  --device cuda --precision bf16 --threads 1 >"$work/bf16.log" 2>&1 || { cat "$work/bf16.log"; fail "CUDA bf16 training"; }
python3 - "$work/cpu" "$work/bf16" <<'EOF' || fail "bf16 training on CUDA is far from float32"
import csv, sys
a = list(csv.DictReader(open(sys.argv[1] + "/metrics.csv")))
b = list(csv.DictReader(open(sys.argv[2] + "/metrics.csv")))
assert len(a) == len(b) == 2
for ra, rb in zip(a, b):
    x, y = float(ra["train_loss"]), float(rb["train_loss"])
    assert abs(x - y) <= 0.01 * abs(x), (ra["epoch"], x, y)
    print(f'epoch {ra["epoch"]}: loss {x:.6f} (cpu fp32) {y:.6f} (cuda bf16)')
EOF

# --- 2. segment with TTA, probabilities saved (uncompressed NIfTI: float32 at vox_offset)
img=$work/ds/imagesTr/nuclei_000_0000.png
segment_both seg "$work/cpu/last" "$img" --format nii --tta --save-probabilities
cmp -s "$work/seg_cpu/nuclei_000.nii" "$work/seg_cuda/nuclei_000.nii" || fail "TTA labels differ between cpu and cuda"
python3 - "$work/seg_cpu" "$work/seg_cuda" <<'EOF' || fail "probabilities differ"
import struct, sys
def floats(path):
    d = open(path, "rb").read()
    assert struct.unpack("<h", d[70:72])[0] == 16, "not float32"  # NIfTI-1 datatype
    k = int(struct.unpack("<f", d[108:112])[0])                    # vox_offset
    return struct.unpack("<%df" % ((len(d) - k) // 4), d[k:])
for c in (0, 1):
    a = floats(f"{sys.argv[1]}/nuclei_000_prob_{c}.nii")
    b = floats(f"{sys.argv[2]}/nuclei_000_prob_{c}.nii")
    assert len(a) == len(b) == 64 * 64, (len(a), len(b))
    worst = max(abs(x - y) for x, y in zip(a, b))
    assert worst <= 1e-5, (c, worst)
    print(f"class {c}: {len(a)} probabilities, largest difference {worst:.2e}")
EOF

# --- 3. the shipped instance model: labels and split objects
python3 "$root/scripts/make_demo_nuclei.py" "$work/big" --cases 1 --size 96 --seed 3 >/dev/null
img=$work/big/imagesTr/nuclei_000_0000.png
segment_both inst "$root/models/nuclei2d" "$img" --format mha --instances
for f in nuclei_000.mha nuclei_000_instances.mha; do
  cmp -s "$work/inst_cpu/$f" "$work/inst_cuda/$f" || fail "models/nuclei2d: $f differs between cpu and cuda"
done
grep -q '"device": "cuda"' "$work/inst_cuda/report.json" || fail "report.json of the cuda run: $(head -c 300 "$work/inst_cuda/report.json")"
"$cpu" eval --instances --pred "$work/inst_cuda/nuclei_000_instances.mha" \
  --ref "$work/inst_cpu/nuclei_000_instances.mha" --output "$work/inst.csv" >/dev/null
n=$(awk -F, '$1 == "nuclei_000_instances" && $2 == "0.5" {print $4}' "$work/inst.csv")
[ "${n:-0}" -ge 3 ] || fail "models/nuclei2d found ${n:-no} objects in the synthetic image (expected several)"
echo "models/nuclei2d --instances: labels and $n objects identical on cpu and cuda"
echo "PASS"

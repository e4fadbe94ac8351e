#!/usr/bin/python3
"""Writes tests/data/golden/lowres/io.safetensors: nnU-Net v2's low-resolution simulation
(batchgeneratorsv2's SimulateLowResolutionTransform) computed by PyTorch, for
tests/unit/test_train_augment_golden.cpp.

Run by hand with Debian's python3-torch (not in CI):  /usr/bin/python3 scripts/make_lowres_golden.py
The transform, as batchgeneratorsv2 0.2/0.3 does it for one channel: the new size along each
axis is round(size * zoom); down with torch.nn.functional.interpolate(mode="nearest-exact"),
back up to the original size with mode "linear"/"bilinear"/"trilinear" (align_corners False).
Computed here in float64; each case stores the input, its zoom per axis [D, H, W] and the
output.
"""
import os
import sys

import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from make_golden import write_safetensors  # noqa: E402

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "data", "golden",
                   "lowres")

# (shape [D, H, W], zoom [D, H, W]): 3D with every axis reduced by a different factor, odd sizes,
# an axis left alone (zoom 1), a 2D patch (D = 1, the in-plane recipe), and strong zooms.
CASES = {
    "3d_mixed": ((7, 9, 11), (0.6, 0.5, 0.75)),
    "3d_keep_d": ((5, 12, 10), (1.0, 0.55, 0.8)),
    "2d": ((1, 17, 13), (1.0, 0.5, 0.7)),
    "2d_strong": ((1, 20, 24), (1.0, 0.26, 0.31)),
}

UPMODE = {1: "linear", 2: "bilinear", 3: "trilinear"}


def low_resolution(img, zoom):
    """img [D, H, W] float64; only the axes longer than 1 take part, as in a 2D patch."""
    axes = [a for a in range(3) if img.shape[a] > 1]
    x = img.squeeze() if len(axes) < 3 else img
    size = [img.shape[a] for a in axes]
    low = [round(s * zoom[a]) for s, a in zip(size, axes)]
    down = F.interpolate(x[None, None], low, mode="nearest-exact")
    up = F.interpolate(down, size, mode=UPMODE[len(axes)], align_corners=False)[0, 0]
    return up.reshape(img.shape)


def main():
    os.makedirs(OUT, exist_ok=True)
    g = torch.Generator().manual_seed(2026)
    tensors = {}
    for name, (shape, zoom) in CASES.items():
        x = torch.rand(shape, generator=g, dtype=torch.float64) * 4 - 1
        tensors[f"{name}.input"] = x.float()
        tensors[f"{name}.zoom"] = torch.tensor(zoom, dtype=torch.float32)
        tensors[f"{name}.output"] = low_resolution(x.float().double(), zoom)
    write_safetensors(os.path.join(OUT, "io.safetensors"), tensors,
                      {"torch": torch.__version__, "generator": "scripts/make_lowres_golden.py"})
    print(f"wrote {len(CASES)} cases to {OUT}/io.safetensors (torch {torch.__version__})")


if __name__ == "__main__":
    main()

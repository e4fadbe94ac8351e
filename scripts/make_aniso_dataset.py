#!/usr/bin/env python3
"""Writes a synthetic anisotropic 3D dataset in the nnU-Net v2 raw layout (NIfTI, .nii.gz), for
`useg plan` + `useg train` on data shaped like thick-slice MRI/CT: voxels of 0.7 x 0.7 x 3 mm
(x, y, z), about 112 x 112 x 20 voxels per case (sizes vary by case). Each case holds a large
"organ" (an ellipsoid, label 1, random pose and size) with a "lesion" inside it (a smaller
brighter ellipsoid, label 2) on a textured background with a smooth bias field and noise; the
thick slices average the image over 3 mm along z (partial volume at the organ's poles), as a
scanner would. numpy only (python3-numpy); the NIfTI-1 header is written here.

  python3 scripts/make_aniso_dataset.py OUT_DIR [--cases 24] [--seed 1]
  python3 scripts/make_aniso_dataset.py OUT_DIR --isotropic 128   (1 mm voxels, ~128^3, for
      timing 3D training on 64^3 and 96^3 patches)

OUT_DIR/dataset.json, OUT_DIR/imagesTr/aniso_XXX_0000.nii.gz, OUT_DIR/labelsTr/aniso_XXX.nii.gz
"""
import argparse
import gzip
import json
import os
import struct

import numpy as np

SPACING = [0.7, 0.7, 3.0]  # x, y, z in mm (--isotropic: 1, 1, 1)


def write_nifti(path, data_zyx, dtype_code, bitpix):
    """NIfTI-1 single file, data given [z, y, x] (written x fastest), RAS-ish diagonal affine."""
    nz, ny, nx = data_zyx.shape
    hdr = bytearray(352)
    struct.pack_into("<i", hdr, 0, 348)
    struct.pack_into("<8h", hdr, 40, 3, nx, ny, nz, 1, 1, 1, 1)
    struct.pack_into("<hh", hdr, 70, dtype_code, bitpix)
    struct.pack_into("<8f", hdr, 76, 1.0, *SPACING, 0, 0, 0, 0)
    struct.pack_into("<f", hdr, 108, 352.0)  # vox_offset
    struct.pack_into("<f", hdr, 112, 1.0)  # scl_slope
    hdr[123] = 10 | 8  # xyzt_units: mm, s
    struct.pack_into("<hh", hdr, 252, 0, 1)  # qform_code 0, sform_code 1 (scanner)
    struct.pack_into("<4f", hdr, 280, SPACING[0], 0, 0, 0)
    struct.pack_into("<4f", hdr, 296, 0, SPACING[1], 0, 0)
    struct.pack_into("<4f", hdr, 312, 0, 0, SPACING[2], 0)
    hdr[344:348] = b"n+1\0"
    tmp = path + ".tmp"
    with gzip.open(tmp, "wb", compresslevel=6) as f:
        f.write(bytes(hdr))
        f.write(np.ascontiguousarray(data_zyx).tobytes())
    os.replace(tmp, path)


def smooth(rng, shape, scale):
    """A smooth random field: coarse noise upsampled by repetition and box-blurred."""
    coarse = rng.standard_normal([max(2, s // scale + 2) for s in shape])
    f = coarse
    for axis, s in enumerate(shape):
        f = np.repeat(f, scale, axis=axis)  # longer than s: (s // scale + 2) * scale
        k = np.ones(scale) / scale
        f = np.apply_along_axis(lambda v: np.convolve(v, k, mode="same"), axis, f)
        f = f.take(range(s), axis=axis)
    return f


def ellipsoid(z, y, x, c, r, rot):
    """Points (mm) inside an ellipsoid with centre c, radii r, rotated by `rot` about z."""
    dx, dy, dz = x - c[0], y - c[1], z - c[2]
    ca, sa = np.cos(rot), np.sin(rot)
    u, v = ca * dx + sa * dy, -sa * dx + ca * dy
    return (u / r[0]) ** 2 + (v / r[1]) ** 2 + (dz / r[2]) ** 2 <= 1.0


def make_case(rng, iso):
    if iso:
        nx = ny = int(rng.integers(iso - 8, iso + 9))
        nz = int(rng.integers(iso - 8, iso + 9))
        sub = 1
    else:
        nx = ny = int(rng.integers(100, 125))
        nz = int(rng.integers(17, 24))
        sub = 5  # sub-slices per thick slice (the 3 mm partial-volume average)
    fz = (np.arange(nz * sub) + 0.5) * SPACING[2] / sub
    fy = (np.arange(ny) + 0.5) * SPACING[1]
    fx = (np.arange(nx) + 0.5) * SPACING[0]
    z, y, x = np.meshgrid(fz, fy, fx, indexing="ij")
    ext = np.array([nx * SPACING[0], ny * SPACING[1], nz * SPACING[2]])
    c = ext * rng.uniform(0.4, 0.6, 3)
    r = np.array([rng.uniform(18, 28), rng.uniform(12, 20), rng.uniform(14, 22)])
    if iso:
        r *= iso / 80
    rot = rng.uniform(0, np.pi)
    organ = ellipsoid(z, y, x, c, r, rot)
    lc = c + rng.uniform(-0.4, 0.4, 3) * r
    lr = r * rng.uniform(0.25, 0.4)
    lesion = organ & ellipsoid(z, y, x, lc, lr, rng.uniform(0, np.pi))
    fine = np.where(lesion, 2, np.where(organ, 1, 0))
    img = 100 + 20 * smooth(rng, fine.shape, 8)
    img = np.where(organ, 160 + 10 * smooth(rng, fine.shape, 4), img)
    img = np.where(lesion, 215 + 10 * smooth(rng, fine.shape, 4), img)
    img = img.reshape(nz, sub, ny, nx).mean(axis=1)  # thick slices
    img *= 1 + 0.15 * smooth(rng, img.shape, 24)  # bias field
    img += rng.normal(0, 12, img.shape)
    # The label of a thick slice: the class covering most of its sub-slices.
    f = fine.reshape(nz, sub, ny, nx)
    counts = np.stack([(f == k).sum(axis=1) for k in range(3)])
    lab = counts.argmax(axis=0).astype(np.uint8)
    return img.astype(np.float32), lab


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("out")
    ap.add_argument("--cases", type=int, default=24)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--isotropic", type=int, default=0, metavar="N",
                    help="1 mm voxels, about N^3 per case, instead of 0.7 x 0.7 x 3 mm slices")
    a = ap.parse_args()
    if a.isotropic:
        SPACING[:] = [1.0, 1.0, 1.0]
    rng = np.random.default_rng(a.seed)
    for d in ("imagesTr", "labelsTr"):
        os.makedirs(os.path.join(a.out, d), exist_ok=True)
    for i in range(a.cases):
        img, lab = make_case(rng, a.isotropic)
        write_nifti(os.path.join(a.out, "imagesTr", f"aniso_{i:03d}_0000.nii.gz"), img, 16, 32)
        write_nifti(os.path.join(a.out, "labelsTr", f"aniso_{i:03d}.nii.gz"), lab, 2, 8)
    ds = {"channel_names": {"0": "MRI"}, "labels": {"background": 0, "organ": 1, "lesion": 2},
          "numTraining": a.cases, "file_ending": ".nii.gz",
          "name": "synthetic thick-slice organ + lesion (scripts/make_aniso_dataset.py)"}
    with open(os.path.join(a.out, "dataset.json"), "w") as f:
        json.dump(ds, f, indent=1)
    print(f"make_aniso_dataset: {a.cases} cases in {a.out}")


if __name__ == "__main__":
    main()

#!/usr/bin/env python3
"""An object classification task from the real nuclei sample (scripts/get-sample-data.sh): is a
blob of nuclear foreground one nucleus ("single") or several touching nuclei ("clump")? This is
the question a segmentation pipeline asks before splitting objects.

  python3 scripts/make_clump_dataset.py IMG.tif MASK.tif OUT [--size 64] [--split 0.6]
          [--connectivity 8]

Objects: the connected components of the reference foreground (instance mask > 0), touching
instances merged by connectivity (8-connectivity by default: diagonal contact counts). A
component is "single" when it holds one reference instance id, "clump" when it holds two or
more. Each object gives one crop of SIZE x SIZE pixels of the image (the TIFF's 16-bit values,
unchanged) centred on the component's centroid (rounded); crops reaching past the image border
are padded by repeating the edge pixels. Neighbouring objects inside the crop stay visible: the
label is about the centred object. Split by position: objects whose centroid column is
< SPLIT * width train, the others test.

  OUT/train/<single|clump>/obj_XXX.png   16-bit greyscale PNG crops
  OUT/test/<single|clump>/obj_XXX.png
  OUT/test.csv                           image,label of the test crops (relative to OUT)
  OUT/objects.csv                        every object: id, class, instances, area, centroid,
                                         part
  OUT/summary.json                       counts per part and class

Needs numpy and scipy (Debian: python3-numpy python3-scipy; python3-sklearn pulls both in).
"""
import argparse
import json
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

from make_nuclei_dataset import read_tiff_u16, write_png  # noqa: E402


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("image", help="the nuclei image (uncompressed 8/16-bit TIFF)")
    ap.add_argument("mask", help="its reference instance mask (one id per nucleus)")
    ap.add_argument("out", help="output folder")
    ap.add_argument("--size", type=int, default=64, help="crop size in pixels (default 64)")
    ap.add_argument("--split", type=float, default=0.6,
                    help="objects with centroid column < SPLIT * width train (default 0.6)")
    ap.add_argument("--connectivity", type=int, choices=(4, 8), default=8,
                    help="pixel connectivity that merges touching instances (default 8)")
    a = ap.parse_args()
    try:
        import numpy as np
        from scipy import ndimage as ndi
    except ImportError as e:
        sys.exit(f"make_clump_dataset: numpy and scipy are needed ({e}); Debian: apt-get install "
                 f"python3-numpy python3-scipy")
    if a.size < 8:
        sys.exit("make_clump_dataset: --size must be at least 8")
    if not 0 < a.split < 1:
        sys.exit("make_clump_dataset: --split must be in (0, 1)")
    w, h, rows = read_tiff_u16(a.image)
    mw, mh, mrows = read_tiff_u16(a.mask)
    if (w, h) != (mw, mh):
        sys.exit(f"make_clump_dataset: image {w}x{h} and mask {mw}x{mh} differ in size")
    img = np.array(rows, dtype=np.int64)
    ids = np.array(mrows, dtype=np.int64)
    structure = np.ones((3, 3), bool) if a.connectivity == 8 else None
    comp, n = ndi.label(ids > 0, structure=structure)
    if n == 0:
        sys.exit(f"make_clump_dataset: {a.mask} has no foreground")
    half = a.size // 2
    padded = np.pad(img, half + 1, mode="edge")
    objects, rows_csv = [], []
    for k, sl in enumerate(ndi.find_objects(comp), start=1):
        inside = comp[sl] == k
        yy, xx = np.nonzero(inside)
        cy = float(yy.mean()) + sl[0].start
        cx = float(xx.mean()) + sl[1].start
        instances = len(np.unique(ids[sl][inside]))
        cls = "single" if instances == 1 else "clump"
        part = "train" if cx < a.split * w else "test"
        # Rows round(cy) - half ... of the image start at round(cy) + 1 in the padded one.
        y0 = int(round(cy)) - half + (half + 1)
        x0 = int(round(cx)) - half + (half + 1)
        crop = padded[y0:y0 + a.size, x0:x0 + a.size]
        name = f"obj_{k:03d}.png"
        d = os.path.join(a.out, part, cls)
        os.makedirs(d, exist_ok=True)
        write_png(os.path.join(d, name), crop.tolist(), 16)
        objects.append((k, cls, instances, int(inside.sum()), cy, cx, part))
        if part == "test":
            rows_csv.append((f"test/{cls}/{name}", cls))
    with open(os.path.join(a.out, "test.csv"), "w") as f:
        f.write("image,label\n")
        f.writelines(f"{p},{c}\n" for p, c in rows_csv)
    with open(os.path.join(a.out, "objects.csv"), "w") as f:
        f.write("id,class,instances,area,centroid_y,centroid_x,part\n")
        f.writelines(f"{k},{c},{i},{ar},{cy:.2f},{cx:.2f},{p}\n"
                     for k, c, i, ar, cy, cx, p in objects)
    summary = {"objects": len(objects), "size": a.size, "split_column": a.split * w,
               "connectivity": a.connectivity, "instances": int(len(np.unique(ids)) - 1)}
    for part in ("train", "test"):
        for cls in ("single", "clump"):
            summary[f"{part}_{cls}"] = sum(1 for o in objects if o[6] == part and o[1] == cls)
    with open(os.path.join(a.out, "summary.json"), "w") as f:
        json.dump(summary, f, indent=2)
    print(f"make_clump_dataset: {len(objects)} objects ({summary['instances']} reference nuclei) "
          f"-> train {summary['train_single']} single / {summary['train_clump']} clump, test "
          f"{summary['test_single']} single / {summary['test_clump']} clump; {a.size}x{a.size} "
          f"crops in {a.out}")


if __name__ == "__main__":
    main()

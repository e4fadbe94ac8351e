#!/usr/bin/env python3
"""Turns the sample nuclei image (scripts/get-sample-data.sh) into a two-case dataset in the
nnU-Net v2 raw layout, for training the default model (scripts/train-default-model.sh):

  nuclei_left   columns [0, SPLIT) of the image  -> training
  nuclei_right  columns [SPLIT, width)           -> held out (validation, and the evaluation in
                                                    docs/default-model.md)

Images are 16-bit greyscale PNG (the TIFF's values unchanged), labels 8-bit PNG with
0 = background, 1 = nucleus (instance mask > 0), or with --instance-labels 16-bit PNG holding
the mask's own ids (one per nucleus) and "instances": true in dataset.json, for the instance
target (docs/training.md). Pure Python, no dependencies: reads the uncompressed TIFF that
StarDist ships.

  python3 scripts/make_nuclei_dataset.py IMG.tif MASK.tif OUT_DIR [--split 384] [--width W]
          [--instance-labels] [--instances DIR] [--masks DIR]

--width W uses only the columns [0, W) of the image (e.g. --width 384 --split 256 makes a
development split inside the training part, never reading the held-out columns).
--fold K --folds N (instead of --split) cuts the columns [0, W) into N strips of equal width and
holds out strip K as nuclei_right; the strips left of it make nuclei_left, those right of it
nuclei_left_2 (cross-validation inside the training part: scripts/nuclei-dev-study.sh).
--strips N (instead of --split) cuts the columns [0, W) into N strips of equal width, cases
strip0 .. strip{N-1}, all in imagesTr: a dataset for useg's own --fold cross-validation
(scripts/nuclei-instance-search.sh, scripts/nuclei-config-ensemble.sh).
--instances DIR also writes the instance mask of each part (16-bit PNG, the mask's own ids) to
DIR/CASE.png, for `useg eval --instances`; --masks DIR the binary mask of each part (8-bit PNG,
0/1) to DIR/CASE.png, for `useg eval --labels 1`.
"""
import argparse
import json
import os
import struct
import sys
import zlib


def read_tiff_u16(path):
    """(width, height, rows) of an uncompressed, single-sample, 8- or 16-bit greyscale TIFF."""
    with open(path, "rb") as f:
        d = f.read()
    bo = {b"II": "<", b"MM": ">"}.get(d[:2])
    if bo is None or struct.unpack(bo + "H", d[2:4])[0] != 42:
        sys.exit(f"{path}: not a classic TIFF file")
    off = struct.unpack(bo + "I", d[4:8])[0]
    n = struct.unpack(bo + "H", d[off:off + 2])[0]
    tags = {}
    for i in range(n):
        tag, typ, cnt, val = struct.unpack(bo + "HHII", d[off + 2 + 12 * i:off + 14 + 12 * i])
        size = {3: 2, 4: 4}.get(typ)
        if size is None:
            continue
        if size * cnt <= 4:
            raw = d[off + 10 + 12 * i:off + 10 + 12 * i + size * cnt]
        else:
            raw = d[val:val + size * cnt]
        tags[tag] = list(struct.unpack(bo + ("H" if size == 2 else "I") * cnt, raw))
    width, height = tags[256][0], tags[257][0]
    bits = tags.get(258, [1])[0]
    if tags.get(259, [1])[0] != 1 or tags.get(277, [1])[0] != 1 or bits not in (8, 16):
        sys.exit(f"{path}: only uncompressed 8/16-bit greyscale TIFF is supported")
    data = b"".join(d[o:o + c] for o, c in zip(tags[273], tags[279]))
    bpp = bits // 8
    if len(data) < width * height * bpp:
        sys.exit(f"{path}: truncated pixel data")
    fmt = bo + ("B" if bpp == 1 else "H") * width
    rows = [list(struct.unpack(fmt, data[y * width * bpp:(y + 1) * width * bpp])) for y in range(height)]
    return width, height, rows


def write_png(path, rows, bits):
    height, width = len(rows), len(rows[0])
    if bits == 16:
        raw = b"".join(b"\x00" + struct.pack(">%dH" % width, *r) for r in rows)
    else:
        raw = b"".join(b"\x00" + bytes(r) for r in rows)

    def chunk(kind, data):
        c = struct.pack(">I", len(data)) + kind + data
        return c + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    png = b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, bits, 0, 0, 0, 0))
    png += chunk(b"IDAT", zlib.compress(raw, 6)) + chunk(b"IEND", b"")
    tmp = path + ".tmp"
    with open(tmp, "wb") as f:
        f.write(png)
    os.replace(tmp, path)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("image")
    ap.add_argument("mask")
    ap.add_argument("out")
    ap.add_argument("--split", type=int, default=384, help="first column of the held-out part")
    ap.add_argument("--width", type=int, help="use only the columns [0, WIDTH) of the image")
    ap.add_argument("--fold", type=int, help="hold out strip FOLD of --folds (instead of --split)")
    ap.add_argument("--folds", type=int, default=3, help="number of strips for --fold (default 3)")
    ap.add_argument("--strips", type=int,
                    help="cut the columns into STRIPS equal strips, cases strip0, strip1, ... "
                         "(instead of --split; for useg train --fold)")
    ap.add_argument("--instance-labels", action="store_true",
                    help="labelsTr holds instance ids (16-bit) and dataset.json \"instances\": true")
    ap.add_argument("--instances", help="folder for the instance masks of the parts")
    ap.add_argument("--masks", help="folder for the binary masks of the parts")
    a = ap.parse_args()
    w, h, img = read_tiff_u16(a.image)
    mw, mh, mask = read_tiff_u16(a.mask)
    if (w, h) != (mw, mh):
        sys.exit(f"image {w}x{h} and mask {mw}x{mh} differ in size")
    if a.width is not None:
        if not 0 < a.width <= w:
            sys.exit(f"--width {a.width} must lie in 1..{w}")
        w = a.width
        img = [r[:w] for r in img]
        mask = [r[:w] for r in mask]
    if a.strips is not None:
        if not 2 <= a.strips <= w:
            sys.exit(f"--strips {a.strips}: need 2 <= strips <= the width {w}")
        parts = {f"strip{k}": (k * w // a.strips, (k + 1) * w // a.strips) for k in range(a.strips)}
    elif a.fold is not None:
        if not 0 <= a.fold < a.folds or a.folds < 2 or w // a.folds < 1:
            sys.exit(f"--fold {a.fold} --folds {a.folds}: need 0 <= fold < folds, "
                     f"2 <= folds <= the width {w}")
        x0, x1 = a.fold * w // a.folds, (a.fold + 1) * w // a.folds
        parts = {}
        if x0 > 0:
            parts["nuclei_left"] = (0, x0)
        if x1 < w:
            parts["nuclei_left_2" if parts else "nuclei_left"] = (x1, w)
        parts["nuclei_right"] = (x0, x1)
    else:
        if not 0 < a.split < w:
            sys.exit(f"--split {a.split} must lie inside the image width {w}")
        parts = {"nuclei_left": (0, a.split), "nuclei_right": (a.split, w)}
    os.makedirs(os.path.join(a.out, "imagesTr"), exist_ok=True)
    os.makedirs(os.path.join(a.out, "labelsTr"), exist_ok=True)
    for case, (x0, x1) in parts.items():
        write_png(os.path.join(a.out, "imagesTr", case + "_0000.png"), [r[x0:x1] for r in img], 16)
        lab = [[1 if v > 0 else 0 for v in r[x0:x1]] for r in mask]
        ids = [r[x0:x1] for r in mask]
        if a.instance_labels:
            write_png(os.path.join(a.out, "labelsTr", case + ".png"), ids, 16)
        else:
            write_png(os.path.join(a.out, "labelsTr", case + ".png"), lab, 8)
        if a.instances:
            os.makedirs(a.instances, exist_ok=True)
            write_png(os.path.join(a.instances, case + ".png"), ids, 16)
        if a.masks:
            os.makedirs(a.masks, exist_ok=True)
            write_png(os.path.join(a.masks, case + ".png"), lab, 8)
        fg = sum(map(sum, lab))
        n_ids = len({v for r in ids for v in r if v > 0})
        print(f"{case}: columns {x0}..{x1 - 1} ({x1 - x0}x{h}), {fg} nucleus pixels "
              f"({100.0 * fg / ((x1 - x0) * h):.1f}%), {n_ids} instance ids")
    ds = {
        "name": "SampleNuclei",
        "description": "one 2018 Data Science Bowl fluorescence image (from StarDist's sample data), "
                       "split into a training (left) and a held-out (right) part",
        "channel_names": {"0": "fluorescence"},
        "labels": {"background": 0, "nucleus": 1},
        "numTraining": len(parts),
        "file_ending": ".png",
    }
    if a.instance_labels:
        ds["instances"] = True
    tmp = os.path.join(a.out, "dataset.json.tmp")
    with open(tmp, "w") as f:
        json.dump(ds, f, indent=2)
        f.write("\n")
    os.replace(tmp, os.path.join(a.out, "dataset.json"))


if __name__ == "__main__":
    main()

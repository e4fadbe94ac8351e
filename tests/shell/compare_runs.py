#!/usr/bin/env python3
"""Compares two useg training runs (standard library only): every tensor of
RUN/last/weights.safetensors, and metrics.csv's train_loss and validation columns.
  compare_runs.py RUN_A RUN_B WEIGHT_TOL LOSS_TOL SCORE_TOL
Weights: max |a - b| <= WEIGHT_TOL. train_loss: |a - b| <= LOSS_TOL * max(1, |a|).
Validation columns (dice_*, or a classifier's recall_* and accuracy): |a - b| <= SCORE_TOL. Prints the largest differences; exit 1 on a mismatch."""
import csv
import json
import struct
import sys


NOT_SCORES = ("epoch", "train_loss", "lr", "seconds", "skipped_steps")


def tensors(path):
    with open(path, "rb") as f:
        n = struct.unpack("<Q", f.read(8))[0]
        header = json.loads(f.read(n))
        data = f.read()
    out = {}
    for name, t in header.items():
        if name == "__metadata__":
            continue
        if t["dtype"] != "F32":
            raise SystemExit(f"{path}: {name} is {t['dtype']}, expected F32")
        b, e = t["data_offsets"]
        out[name] = struct.unpack(f"<{(e - b) // 4}f", data[b:e])
    return out


def rows(path):
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def main():
    a, b = sys.argv[1], sys.argv[2]
    wtol, ltol, dtol = (float(x) for x in sys.argv[3:6])
    ok = True
    ta, tb = tensors(f"{a}/last/weights.safetensors"), tensors(f"{b}/last/weights.safetensors")
    if sorted(ta) != sorted(tb):
        print(f"tensor names differ: {sorted(set(ta) ^ set(tb))}")
        return 1
    worst, where, scale = 0.0, "", 0.0
    for name in ta:
        if len(ta[name]) != len(tb[name]):
            print(f"{name}: {len(ta[name])} against {len(tb[name])} values")
            return 1
        for x, y in zip(ta[name], tb[name]):
            scale = max(scale, abs(x))
            if abs(x - y) > worst:
                worst, where = abs(x - y), name
    print(f"weights: {len(ta)} tensors, max |diff| {worst:.3g} (in {where}), max |weight| {scale:.3g}"
          f", tolerance {wtol:g}")
    ok &= worst <= wtol
    ra, rb = rows(f"{a}/metrics.csv"), rows(f"{b}/metrics.csv")
    if len(ra) != len(rb):
        print(f"metrics.csv: {len(ra)} against {len(rb)} epochs")
        return 1
    for x, y in zip(ra, rb):
        la, lb = float(x["train_loss"]), float(y["train_loss"])
        d = abs(la - lb)
        print(f"epoch {x['epoch']}: train_loss {la:.8f} / {lb:.8f} (|diff| {d:.3g})", end="")
        ok &= d <= ltol * max(1.0, abs(la))
        for k in x:
            if k not in NOT_SCORES and x[k] != "" and y[k] != "":
                dd = abs(float(x[k]) - float(y[k]))
                print(f", {k} {float(x[k]):.6f} / {float(y[k]):.6f}", end="")
                ok &= dd <= dtol
        print()
    print("MATCH" if ok else "MISMATCH")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())

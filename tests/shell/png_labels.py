#!/usr/bin/env python3
"""Checks that a label PNG written by `useg segment` for an instance model holds only 0 and 1 and
that its instance PNG is non-zero exactly where the labels are 1 (the labels are the objects'
union). Pure Python (no numpy): decodes 8- and 16-bit greyscale PNGs with any row filter.

  python3 tests/shell/png_labels.py LABELS.png INSTANCES.png     (exit 0 = they agree)
"""
import struct
import sys
import zlib


def read_png(path):
    d = open(path, "rb").read()
    if d[:8] != b"\x89PNG\r\n\x1a\n":
        sys.exit(f"{path}: not a PNG file")
    pos, idat = 8, b""
    while pos < len(d):
        n, = struct.unpack(">I", d[pos:pos + 4])
        kind, body = d[pos + 4:pos + 8], d[pos + 8:pos + 8 + n]
        pos += 12 + n
        if kind == b"IHDR":
            w, h, bits, colour = struct.unpack(">IIBB", body[:10])
            if colour != 0 or bits not in (8, 16):
                sys.exit(f"{path}: not an 8- or 16-bit greyscale PNG")
        elif kind == b"IDAT":
            idat += body
    raw = zlib.decompress(idat)
    bpp = bits // 8
    stride = w * bpp
    prev, out, p = bytearray(stride), [], 0
    for _ in range(h):
        f, line = raw[p], bytearray(raw[p + 1:p + 1 + stride])
        p += 1 + stride
        for i in range(stride):
            a = line[i - bpp] if i >= bpp else 0
            b = prev[i]
            c = prev[i - bpp] if i >= bpp else 0
            if f == 1:
                line[i] = (line[i] + a) & 255
            elif f == 2:
                line[i] = (line[i] + b) & 255
            elif f == 3:
                line[i] = (line[i] + (a + b) // 2) & 255
            elif f == 4:
                pa, pb, pc = abs(b - c), abs(a - c), abs(a + b - 2 * c)
                line[i] = (line[i] + (a if pa <= pb and pa <= pc else b if pb <= pc else c)) & 255
        prev = line
        out += struct.unpack(">%dH" % w, bytes(line)) if bpp == 2 else list(line)
    return out


def main():
    labels, ids = read_png(sys.argv[1]), read_png(sys.argv[2])
    values = set(labels)
    if not values <= {0, 1}:
        sys.exit(f"{sys.argv[1]}: label values {sorted(values)}, expected 0 and 1")
    bad = sum((l == 1) != (i > 0) for l, i in zip(labels, ids))
    if bad or len(labels) != len(ids):
        sys.exit(f"{bad} pixels where the labels and the instances disagree")
    objects = len({i for i in ids if i})
    print(f"labels 0/1, {objects} objects covering exactly the labelled pixels")


if __name__ == "__main__":
    main()

#!/usr/bin/env python3
"""scikit-learn's bundled digits (sklearn.datasets.load_digits: 1797 real 8x8 handwritten digits,
values 0..16) as a classification dataset `useg train` reads, with a fixed stratified 80/20 split:

  OUT/train/<digit>/<index>.png   1437 training images (class folders)
  OUT/test/<digit>/<index>.png    360 test images
  OUT/test.csv                    image,label for the test images (paths relative to OUT)

index = the sample's index in load_digits, zero padded to 4 digits; pixels are 8-bit grayscale,
round(value * 255 / 16). The split is train_test_split(test_size=0.2, random_state=0,
stratify=y). Nothing is downloaded: the digits ship inside scikit-learn.

  python3 scripts/make_digits.py OUT

Also a tiny PNG module for the other scripts (no PIL here): write_png_gray8 and read_png (8- or
16-bit grayscale, gray+alpha, RGB, RGBA; every PNG filter; no interlace, no palette).
"""
import os
import struct
import sys
import zlib


def write_png_gray8(path, rows):
    """rows: a list of rows (lists of ints 0..255) or a 2D numpy uint8 array."""
    h = len(rows)
    w = len(rows[0])
    raw = bytearray()
    for r in rows:
        raw.append(0)  # filter: none
        raw.extend(bytes(int(v) for v in r))

    def chunk(kind, data):
        c = struct.pack(">I", len(data)) + kind + data
        return c + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    png = (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 8, 0, 0, 0, 0)) +
           chunk(b"IDAT", zlib.compress(bytes(raw), 6)) + chunk(b"IEND", b""))
    tmp = path + ".part"
    with open(tmp, "wb") as f:
        f.write(png)
    os.replace(tmp, path)


def read_png(path):
    """Returns (height, width, channels, flat list of ints, row-major, channels interleaved)."""
    with open(path, "rb") as f:
        data = f.read()
    if data[:8] != b"\x89PNG\r\n\x1a\n":
        raise ValueError(f"{path}: not a PNG file")
    pos, idat, hdr = 8, [], None
    while pos < len(data):
        n, kind = struct.unpack(">I4s", data[pos:pos + 8])
        body = data[pos + 8:pos + 8 + n]
        pos += 12 + n
        if kind == b"IHDR":
            hdr = struct.unpack(">IIBBBBB", body)
        elif kind == b"IDAT":
            idat.append(body)
        elif kind == b"IEND":
            break
    if hdr is None:
        raise ValueError(f"{path}: no IHDR chunk")
    w, h, depth, ctype, _, _, interlace = hdr
    chans = {0: 1, 2: 3, 4: 2, 6: 4}.get(ctype)
    if chans is None or depth not in (8, 16) or interlace:
        raise ValueError(f"{path}: unsupported PNG (colour type {ctype}, depth {depth}, "
                         f"interlace {interlace}); only 8/16-bit gray/RGB(A), not interlaced")
    bpp = chans * depth // 8
    stride = w * bpp
    raw = zlib.decompress(b"".join(idat))
    out = bytearray(h * stride)
    prev = bytearray(stride)
    for y in range(h):
        ft = raw[y * (stride + 1)]
        line = bytearray(raw[y * (stride + 1) + 1:(y + 1) * (stride + 1)])
        for i in range(stride):
            a = line[i - bpp] if i >= bpp else 0
            b = prev[i]
            c = prev[i - bpp] if i >= bpp else 0
            if ft == 1:
                line[i] = (line[i] + a) & 255
            elif ft == 2:
                line[i] = (line[i] + b) & 255
            elif ft == 3:
                line[i] = (line[i] + (a + b) // 2) & 255
            elif ft == 4:
                p = a + b - c
                pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
                line[i] = (line[i] + (a if pa <= pb and pa <= pc else b if pb <= pc else c)) & 255
            elif ft != 0:
                raise ValueError(f"{path}: bad PNG filter {ft} on row {y}")
        out[y * stride:(y + 1) * stride] = line
        prev = line
    if depth == 8:
        values = list(out)
    else:
        values = list(struct.unpack(">%dH" % (len(out) // 2), bytes(out)))
    return h, w, chans, values


def main(argv):
    if len(argv) != 2 or argv[1].startswith("-"):
        print("usage: make_digits.py OUT", file=sys.stderr)
        return 2
    out = argv[1]
    try:
        from sklearn.datasets import load_digits
        from sklearn.model_selection import train_test_split
    except ImportError as e:
        print(f"make_digits: scikit-learn is needed ({e}); Debian: apt-get install python3-sklearn",
              file=sys.stderr)
        return 1
    digits = load_digits()
    x, y = digits.images, digits.target
    idx = list(range(len(y)))
    train_idx, test_idx = train_test_split(idx, test_size=0.2, random_state=0, stratify=y)
    rows = []
    for part, ids in (("train", train_idx), ("test", test_idx)):
        for i in sorted(ids):
            d = os.path.join(out, part, str(int(y[i])))
            os.makedirs(d, exist_ok=True)
            name = f"{i:04d}.png"
            img = [[int(round(float(v) * 255.0 / 16.0)) for v in r] for r in x[i]]
            write_png_gray8(os.path.join(d, name), img)
            if part == "test":
                rows.append((f"test/{int(y[i])}/{name}", int(y[i])))
    tmp = os.path.join(out, "test.csv.part")
    with open(tmp, "w") as f:
        f.write("image,label\n")
        for p, lab in rows:
            f.write(f"{p},{lab}\n")
    os.replace(tmp, os.path.join(out, "test.csv"))
    print(f"make_digits: {len(train_idx)} training and {len(test_idx)} test images (10 classes) "
          f"in {out}/train, {out}/test; labels of the test images in {out}/test.csv")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))

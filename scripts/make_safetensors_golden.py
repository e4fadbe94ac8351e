#!/usr/bin/env python3
"""Golden safetensors file for tests/unit/test_safetensors.cpp, made with PyTorch.

The `safetensors` package is not a dependency, so the file is laid out here with struct + json the
way the reference writer does it (compact JSON header, padded with spaces to a multiple of 8,
tensors stored back to back, sorted by dtype size then name). PyTorch supplies the F16 and BF16
values and, as the expected answer, their conversion to float32 (`<name>_as_f32`).

    /usr/bin/python3 scripts/make_safetensors_golden.py tests/data/golden_torch.safetensors
    /usr/bin/python3 scripts/make_safetensors_golden.py --verify FILE   # check a file we wrote
"""
import json
import struct
import sys

import torch

DTYPES = {torch.float32: "F32", torch.float16: "F16", torch.bfloat16: "BF16"}


def tensor_bytes(t):
    t = t.contiguous()
    if t.dtype == torch.bfloat16:
        t = t.view(torch.int16)  # numpy has no bfloat16
    return t.numpy().tobytes()  # little-endian on every machine we run on


def serialize(tensors, metadata):
    order = sorted(tensors, key=lambda n: (-tensors[n].element_size(), n))
    header, chunks, offset = {}, [], 0
    if metadata:
        header["__metadata__"] = metadata
    for name in order:
        t = tensors[name]
        data = tensor_bytes(t)
        header[name] = {"dtype": DTYPES[t.dtype], "shape": list(t.shape),
                        "data_offsets": [offset, offset + len(data)]}
        chunks.append(data)
        offset += len(data)
    text = json.dumps(header, separators=(",", ":")).encode("utf-8")
    text += b" " * ((8 - len(text) % 8) % 8)
    return struct.pack("<Q", len(text)) + text + b"".join(chunks)


def golden():
    g = torch.Generator().manual_seed(7)
    special16 = torch.tensor([1.0, -2.0, 65504.0, 6.103515625e-05, 5.960464477539063e-08,
                              -1.0e-06, 0.0, -0.0, float("inf"), float("-inf"), float("nan"),
                              0.1, 3.140625], dtype=torch.float32)
    f16 = torch.cat([special16.half(), torch.randn(19, generator=g).half()])
    bf16 = torch.cat([special16.bfloat16(), torch.tensor([1e-39, 3.0e38]).bfloat16(),
                      torch.randn(17, generator=g).bfloat16()])
    return {
        "conv.weight": torch.randn(2, 3, 1, 3, 3, generator=g),  # rank 5
        "conv.bias": torch.randn(2, generator=g),
        "scalar": torch.tensor(2.5),                              # rank 0
        "matrix": torch.arange(12, dtype=torch.float32).reshape(3, 4) - 5.5,
        "half": f16,
        "half_as_f32": f16.float(),
        "bhalf": bf16.reshape(2, 16),
        "bhalf_as_f32": bf16.float().reshape(2, 16),
        "empty": torch.zeros(0, 3),
    }


def verify(path):
    """Checks a file against the reference reader's rules (contiguous, complete buffer)."""
    raw = open(path, "rb").read()
    n = struct.unpack("<Q", raw[:8])[0]
    header = json.loads(raw[8:8 + n].decode("utf-8"))
    assert raw[8:9] == b"{", "header must start with '{'"
    assert (8 + n) % 8 == 0, "data must start 8-byte aligned"
    meta = header.pop("__metadata__", {})
    assert all(isinstance(v, str) for v in meta.values())
    entries = sorted(header.items(), key=lambda kv: kv[1]["data_offsets"])
    end = 0
    for name, e in entries:
        b, e_ = e["data_offsets"]
        assert b == end, f"{name}: offsets not contiguous"
        size = {"F32": 4, "F16": 2, "BF16": 2}[e["dtype"]]
        numel = 1
        for d in e["shape"]:
            numel *= d
        assert e_ - b == numel * size, f"{name}: size mismatch"
        if e["dtype"] == "F32" and numel > 0:
            t = torch.frombuffer(bytearray(raw[8 + n + b:8 + n + e_]), dtype=torch.float32)
            print(name, e["shape"], t[:4].tolist())
        end = e_
    assert 8 + n + end == len(raw), "buffer not fully covered"
    print("ok:", path, "metadata", meta)


if __name__ == "__main__":
    if sys.argv[1] == "--verify":
        verify(sys.argv[2])
    else:
        meta = {"format": "pt", "generator": "scripts/make_safetensors_golden.py"}
        data = serialize(golden(), meta)
        open(sys.argv[1], "wb").write(data)
        print(sys.argv[1], len(data), "bytes")

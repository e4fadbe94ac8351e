#!/usr/bin/env python3
"""Runs an ONNX model exported by `useg export` in ONNX Runtime and compares its outputs with
useg's (tests/unit/test_onnx_export.cpp writes the files; docs/interop.md).

    onnx_check.py --model m.onnx --input x.f32 --shape 2,1,32,32 \
        --expect logits=logits.f32 [--expect logits_ds1=ds1.f32 ...] [--rtol 1e-4]
    onnx_check.py --model m.onnx --shape 1,1,96,96,96          # random input: runs, checks finite

Files are raw little-endian float32 in C order. An output matches when
max|ort - useg| <= rtol * max|useg| (the error relative to the output's scale). Also checks that
the model declares opset 17 and carries useg's metadata (useg.preprocess as JSON).
Exit status: 0 all match, 1 a mismatch or a broken model, 77 onnxruntime/numpy not importable.
Needs onnxruntime (PyPI; scripts/setup-onnx-venv.sh installs it into a venv) and numpy.
"""
import argparse
import json
import sys
import time

try:
    import numpy as np
    import onnxruntime as ort
except ImportError as e:  # the caller skips the test
    print(f"onnx_check: {e}", file=sys.stderr)
    sys.exit(77)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", required=True)
    ap.add_argument("--input", help="raw float32 input (default: random normal)")
    ap.add_argument("--shape", required=True, help="input shape, e.g. 2,1,32,32")
    ap.add_argument("--expect", action="append", default=[], metavar="NAME=FILE",
                    help="an output of the model and the raw float32 file useg computed for it")
    ap.add_argument("--rtol", type=float, default=1e-4)
    ap.add_argument("--threads", type=int, default=2)
    a = ap.parse_args()

    shape = [int(s) for s in a.shape.split(",")]
    if a.input:
        x = np.fromfile(a.input, dtype="<f4").reshape(shape)
    else:
        x = np.random.default_rng(0).standard_normal(shape, dtype=np.float32)

    so = ort.SessionOptions()
    so.intra_op_num_threads = a.threads
    so.inter_op_num_threads = 1
    sess = ort.InferenceSession(a.model, so, providers=["CPUExecutionProvider"])
    meta = sess.get_modelmeta().custom_metadata_map
    ok = True
    if "useg.preprocess" not in meta:
        print("FAIL: metadata useg.preprocess missing", file=sys.stderr)
        ok = False
    else:
        pre = json.loads(meta["useg.preprocess"])
        if "channels" not in pre:
            print(f"FAIL: useg.preprocess has no channels: {pre}", file=sys.stderr)
            ok = False
    try:  # the onnx package is optional here; ORT already validated the file
        import onnx
        m = onnx.load(a.model)
        opsets = {o.domain: o.version for o in m.opset_import}
        if opsets.get("", None) != 17:
            print(f"FAIL: opset {opsets}, expected 17", file=sys.stderr)
            ok = False
    except ImportError:
        pass

    names = [o.name for o in sess.get_outputs()]
    t0 = time.perf_counter()
    outs = dict(zip(names, sess.run(None, {"input": x})))
    seconds = time.perf_counter() - t0
    report = {"ort_version": ort.__version__, "input": shape, "seconds": round(seconds, 3),
              "outputs": {k: list(v.shape) for k, v in outs.items()}}
    for k, v in outs.items():
        if not np.all(np.isfinite(v)):
            print(f"FAIL: output {k} has non-finite values", file=sys.stderr)
            ok = False
    errors = {}
    for item in a.expect:
        name, path = item.split("=", 1)
        if name not in outs:
            print(f"FAIL: the model has no output {name} (outputs: {names})", file=sys.stderr)
            ok = False
            continue
        got = outs[name]
        ref = np.fromfile(path, dtype="<f4")
        if ref.size != got.size:
            print(f"FAIL: {name}: ORT gives {got.shape} ({got.size} values), useg {ref.size}",
                  file=sys.stderr)
            ok = False
            continue
        ref = ref.reshape(got.shape)
        scale = float(np.max(np.abs(ref))) or 1.0
        err = float(np.max(np.abs(got.astype(np.float64) - ref)))
        errors[name] = {"max_abs": err, "relative": err / scale}
        if err > a.rtol * scale:
            idx = np.unravel_index(int(np.argmax(np.abs(got - ref))), got.shape)
            print(f"FAIL: {name}: max |ort - useg| = {err:.3g} = {err / scale:.3g} of max|useg| "
                  f"{scale:.3g} > {a.rtol}; first worst at {tuple(int(i) for i in idx)}: "
                  f"ort {got[idx]} useg {ref[idx]}", file=sys.stderr)
            ok = False
    report["errors"] = errors
    print(json.dumps(report))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())

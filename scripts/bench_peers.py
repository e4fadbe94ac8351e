#!/usr/bin/python3
"""useg against PyTorch and ONNX Runtime on the same U-Net with the same weights, interleaved.

    /usr/bin/python3 scripts/bench_peers.py --config configs/unet2d_nuclei.json --shape 512 512
    /usr/bin/python3 scripts/bench_peers.py --config CONFIG --shape 256 256 --batch 4 --train

What it does:
  1. `useg init` writes a model folder (He-initialized weights) for the config, once, under
     --workdir; PyTorch loads the very same weights.safetensors into scripts/torch_unet.py's
     module (identical state_dict names), and the ONNX model is torch.onnx.export of that module.
  2. Each round runs, one after the other, `useg bench --model ... --json` and a worker process
     per peer (this script with --worker torch|ort), each doing 1 warm-up run then --reps timed
     runs at --threads intra-op threads. Fresh processes per round, so no runtime's idle thread
     pool spins on the cores while another one is timed; interleaving means background load
     (a shared machine) hits all of them alike.
  3. Prints the median of all timed runs per engine and the ratios useg / peer.

Peers: Debian's python3-torch (1.13) for PyTorch (no_grad, eval, torch.set_num_threads), and
onnxruntime from PyPI in a venv that sees Debian's torch and numpy:
    /usr/bin/python3 -m venv --system-site-packages build/peers-venv
    build/peers-venv/bin/pip install onnxruntime
(--ort-python points at that interpreter; the default is build/peers-venv/bin/python).
--train times a training step (forward, DiceCE, backward, Adam) in useg and PyTorch only.
"""
import argparse
import json
import os
import statistics
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)


# ------------------------------------------------------------------------------ workers
def load_torch_model(model_dir):
    import torch
    sys.path.insert(0, HERE)
    from torch_unet import UNet, read_safetensors
    with open(os.path.join(model_dir, "model.json")) as f:
        cfg = json.load(f)["model"]
    model = UNet(cfg)
    state = read_safetensors(os.path.join(model_dir, "weights.safetensors"))
    missing, unexpected = model.load_state_dict(state, strict=False)
    missing = [m for m in missing if not m.endswith("num_batches_tracked")]
    assert not missing and not unexpected, (missing, unexpected)
    return cfg, model


def input_shape(cfg, args):
    return [args.batch, cfg.get("in_channels", 1)] + list(args.shape)


CPU_TIMES = []  # process CPU time per timed run, ms (all threads)


def timed_runs(fn, reps):
    fn()  # warm-up (first-call allocations, kernel selection)
    times = []
    for _ in range(reps):
        t0, c0 = time.perf_counter(), time.process_time()
        fn()
        times.append((time.perf_counter() - t0) * 1e3)
        CPU_TIMES.append((time.process_time() - c0) * 1e3)
    return times


def worker_torch(args):
    import torch
    torch.set_num_threads(args.threads)
    cfg, model = load_torch_model(args.model)
    g = torch.Generator().manual_seed(0)
    x = torch.rand(input_shape(cfg, args), generator=g) * 2 - 1
    if not args.train:
        model.eval()

        def fwd():
            with torch.no_grad():
                model(x)
        return timed_runs(fwd, args.reps)
    from torch_unet import dice_ce_loss
    model.train()
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    target = torch.randint(0, cfg.get("num_classes", 2), [x.shape[0]] + list(x.shape[2:]),
                           generator=g).float()

    def step():
        opt.zero_grad(set_to_none=True)
        loss = dice_ce_loss(model(x)[0], target)
        loss.backward()
        opt.step()
    return timed_runs(step, args.reps)


def worker_ort(args):
    import numpy as np
    import onnxruntime as ort
    import torch
    cfg, model = load_torch_model(args.model)
    shape = input_shape(cfg, args)
    path = os.path.join(args.model, "model_" + "x".join(map(str, shape)) + ".onnx")
    if not os.path.exists(path):
        model.eval()
        torch.onnx.export(model, torch.zeros(shape), path, input_names=["x"],
                          output_names=["logits"], opset_version=13)
    so = ort.SessionOptions()
    so.intra_op_num_threads = args.threads
    so.inter_op_num_threads = 1
    so.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    sess = ort.InferenceSession(path, so, providers=["CPUExecutionProvider"])
    x = (np.random.default_rng(0).random(shape, dtype=np.float32) * 2 - 1)
    if args.check:  # the exported graph computes what the PyTorch module does
        torch.set_num_threads(args.threads)
        model.eval()
        with torch.no_grad():
            ref = model(torch.from_numpy(x))[0].numpy()
        got = sess.run(None, {"x": x})[0]
        err = float(np.abs(got - ref).max() / max(np.abs(ref).max(), 1e-30))
        print(f"ORT vs PyTorch logits: max error {err:.2e} relative to max |logit|",
              file=sys.stderr)
    return timed_runs(lambda: sess.run(None, {"x": x}), args.reps)


# ------------------------------------------------------------------------------ driver
def run(cmd, **kw):
    r = subprocess.run(cmd, capture_output=True, text=True, **kw)
    if r.returncode != 0:
        sys.exit(f"failed: {' '.join(cmd)}\n{r.stdout}\n{r.stderr}")
    for line in r.stderr.splitlines():
        if "max error" in line:
            print(line, file=sys.stderr)
    return r.stdout


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--config", help="model or run config (JSON)")
    ap.add_argument("--shape", type=int, nargs="+", required=True, help="H W or D H W")
    ap.add_argument("--batch", type=int, default=1)
    ap.add_argument("--train", action="store_true")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--reps", type=int, default=1, help="timed runs per process and round")
    ap.add_argument("--useg", default=os.path.join(ROOT, "build", "useg"))
    ap.add_argument("--ort-python", default=os.path.join(ROOT, "build", "peers-venv", "bin",
                                                         "python"))
    ap.add_argument("--workdir", default=os.path.join(ROOT, "build", "bench"))
    ap.add_argument("--useg-args", default="", help="extra arguments for useg bench")
    ap.add_argument("--json", help="write the results here")
    ap.add_argument("--worker", choices=["torch", "ort"], help=argparse.SUPPRESS)
    ap.add_argument("--model", help=argparse.SUPPRESS)
    ap.add_argument("--check", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args()

    if args.worker:
        times = worker_torch(args) if args.worker == "torch" else worker_ort(args)
        print(json.dumps({"times_ms": times, "cpu_ms": CPU_TIMES}))
        return

    name = os.path.splitext(os.path.basename(args.config))[0]
    model = os.path.join(args.workdir, name)
    if not os.path.exists(os.path.join(model, "weights.safetensors")):
        run([args.useg, "init", "--config", args.config, "--output", model])
    common = ["--shape", *map(str, args.shape), "--batch", str(args.batch)]
    engines = ["useg", "pytorch"] + ([] if args.train else ["onnxruntime"])
    times = {e: [] for e in engines}
    cpu = {e: [] for e in engines}
    extra = {}
    load = []
    for r in range(args.rounds):
        load.append(os.getloadavg()[0])
        out = os.path.join(args.workdir, "useg_bench.json")
        run([args.useg, "bench", "--model", model, *common, "--repeat", str(args.reps),
             "--warmup", "1", "--threads", str(args.threads), "--no-layers", "--json", out,
             *(["--train"] if args.train else []), *args.useg_args.split()])
        with open(out) as f:
            u = json.load(f)
        times["useg"] += u["times_ms"]
        cpu["useg"] += u["cpu_ms"]
        extra = {"gflop": u["gflop"], "peak_rss_mb": u["peak_rss_mb"]}
        wargs = ["--model", model, *common, "--threads", str(args.threads),
                 "--reps", str(args.reps), *(["--train"] if args.train else [])]
        w = json.loads(run(["/usr/bin/python3", __file__, "--worker", "torch", *wargs]))
        times["pytorch"] += w["times_ms"]
        cpu["pytorch"] += w["cpu_ms"]
        if not args.train:
            check = ["--check"] if r == 0 else []
            w = json.loads(run([args.ort_python, __file__, "--worker", "ort", *wargs, *check]))
            times["onnxruntime"] += w["times_ms"]
            cpu["onnxruntime"] += w["cpu_ms"]
        print(f"round {r + 1}/{args.rounds}: " + ", ".join(
            f"{e} {times[e][-1]:.0f} ms" for e in engines), file=sys.stderr)
    med = {e: statistics.median(t) for e, t in times.items()}
    what = "training step" if args.train else "forward"
    print(f"{name} {what}, batch {args.batch} x {'x'.join(map(str, args.shape))}, {args.threads} threads, "
          f"{len(times['useg'])} runs each, 1-min load avg {min(load):.1f}-{max(load):.1f}")
    for e in engines:
        gfs = extra["gflop"] / (med[e] * 1e-3)
        print(f"  {e:12s} median {med[e]:9.1f} ms  (min {min(times[e]):.1f}, max "
              f"{max(times[e]):.1f})  {gfs:6.1f} GFLOP/s   CPU time median "
              f"{statistics.median(cpu[e]):9.1f} ms")
    for e in engines[1:]:
        print(f"  useg / {e}: {med['useg'] / med[e]:.3f} wall, "
              f"{statistics.median(cpu['useg']) / statistics.median(cpu[e]):.3f} CPU time")
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"name": name, "what": what, "shape": args.shape, "batch": args.batch,
                       "threads": args.threads, "times_ms": times, "median_ms": med, "cpu_ms": cpu,
                       "load": load, **extra}, f, indent=1)


if __name__ == "__main__":
    main()

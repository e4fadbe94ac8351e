#!/usr/bin/env python3
"""PyTorch on the same networks, with the same weights, as `useg bench` in scripts/gpu-check.sh
(stage torch), and the side-by-side table `case | useg ms | PyTorch ms | useg/PyTorch | peak GB`.

    python3 scripts/torch_gpu_bench.py --models DIR --useg-jsonl OUT/bench.jsonl   # on a GPU
    python3 scripts/torch_gpu_bench.py --device cpu --tiny --models DIR            # CI dry run

The cases are those of scripts/gpu-bench-cases.txt (same names, order, shapes, batch, mode and
precision); the weights are the `useg init` model folders under --models (one per config, named
after it: MODELS/unet2d_nuclei/weights.safetensors), loaded into scripts/torch_unet.py's module,
whose state_dict names are useg's tensor names. The user's settings, as scripts/bench_peers.py
uses PyTorch on the CPU but for a GPU:
  - torch.backends.cudnn.benchmark = True (cuDNN tries its algorithms on the first run of each
    shape: inside the warm-up);
  - fp32: TF32 off for cuDNN and matmul; tf32: TF32 on (cuDNN's default for convolutions);
  - bf16 / fp16: torch.autocast (half convolutions, float reductions), with the module and input
    in channels_last(_3d), the layout of cuDNN's fastest half-precision kernels;
  - forward: eval() under inference_mode(); train: Adam, scripts/torch_unet.py's DiceCE loss
    computed in float32, as useg's --train;
  - timing: CUDA events around each run, after --warmup untimed runs; the median of --repeat.
Peak device memory: torch.cuda.max_memory_allocated() per case (reset before it). useg bench
reports no device memory (only host peak RSS), so its column says "n/r" (not reported).
--tiny (CI, no GPU) shrinks every case to 2D 32x32 / 3D 32^3, one warm-up and one run, so that
every case is built and run once; fp16 autocast is skipped on the CPU (Debian's torch 1.13 has
none there) and said so.
Exit status: 0 every case ran, 124 --budget reached (what ran is kept), 1 a case failed.
"""
import argparse
import json
import math
import os
import statistics
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))


def read_cases(path):
    cases = []
    with open(path) as f:
        for line in f:
            line = line.split("#", 1)[0].split()
            if not line:
                continue
            name, config, shape, batch, mode, precision = line[:6]
            if len(line) > 6:  # settings of useg's run only (an A/B of useg itself)
                continue
            cases.append({"case": name, "config": config, "shape": [int(s) for s in shape.split("x")],
                          "batch": int(batch), "mode": mode, "precision": precision})
    return cases


def load_model(model_dir, torch):
    sys.path.insert(0, HERE)
    from torch_unet import UNet, read_safetensors
    path = os.path.join(model_dir, "model.json")
    if not os.path.exists(path):
        raise FileNotFoundError(f"no model folder {model_dir} (make it with: useg init --config "
                                f"CONFIG --output {model_dir})")
    with open(path) as f:
        cfg = json.load(f)["model"]
    model = UNet(cfg)
    state = read_safetensors(os.path.join(model_dir, "weights.safetensors"))
    missing, unexpected = model.load_state_dict(state, strict=False)
    missing = [m for m in missing if not m.endswith("num_batches_tracked")]
    if missing or unexpected:
        raise RuntimeError(f"{model_dir}: weights do not match torch_unet.py: missing {missing}, "
                           f"unexpected {unexpected}")
    return cfg, model


def run_case(c, args, torch, dev):
    """Builds case c and times it; returns (times_ms, peak_gb or None, notes)."""
    from torch_unet import dice_ce_loss
    notes = []
    model_dir = os.path.join(args.models, os.path.splitext(os.path.basename(c["config"]))[0])
    cfg, model = load_model(model_dir, torch)
    shape = list(c["shape"])
    if args.tiny:
        shape = [32, 32] if len(shape) == 2 else [32, 32, 32]  # depth 4: a 2^d bottleneck
    prec = c["precision"]
    torch.backends.cudnn.benchmark = True
    tf32 = prec != "fp32"
    torch.backends.cudnn.allow_tf32 = tf32
    torch.backends.cuda.matmul.allow_tf32 = tf32
    half = {"bf16": torch.bfloat16, "fp16": torch.float16}.get(prec)
    if half is torch.float16 and dev.type == "cpu":
        notes.append("fp16 autocast skipped on the CPU")
        half = None
    fmt = None
    if half is not None:
        fmt = torch.channels_last if len(shape) == 2 else torch.channels_last_3d
    g = torch.Generator().manual_seed(0)
    x = torch.rand([c["batch"], cfg.get("in_channels", 1)] + shape, generator=g) * 2 - 1
    model = model.to(dev)
    x = x.to(dev)
    if fmt is not None:
        model = model.to(memory_format=fmt)
        x = x.contiguous(memory_format=fmt)

    def autocast():
        return torch.autocast(device_type=dev.type, dtype=half, enabled=half is not None)

    if c["mode"] == "train":
        model.train()
        opt = torch.optim.Adam(model.parameters(), lr=1e-3)
        target = torch.randint(0, cfg.get("num_classes", 2), [x.shape[0]] + shape, generator=g).float().to(dev)

        def step():
            opt.zero_grad(set_to_none=True)
            with autocast():
                logits = model(x)[0]
            loss = dice_ce_loss(logits.float(), target)
            loss.backward()
            opt.step()
    else:
        model.eval()

        def step():
            with torch.inference_mode(), autocast():
                model(x)

    warmup, repeat = (1, 1) if args.tiny else (args.warmup, args.repeat)
    if dev.type == "cuda":
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
    for _ in range(warmup):
        step()
    times = []
    for _ in range(repeat):
        if dev.type == "cuda":
            start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
            start.record()
            step()
            end.record()
            torch.cuda.synchronize()
            times.append(start.elapsed_time(end))
        else:
            t0 = time.perf_counter()
            step()
            times.append((time.perf_counter() - t0) * 1e3)
    peak = torch.cuda.max_memory_allocated() / 2**30 if dev.type == "cuda" else None
    del model, x
    if dev.type == "cuda":
        torch.cuda.empty_cache()
    return times, peak, notes


def useg_results(path):
    """{case: median ms} from the useg lines of bench.jsonl (gpu-check's bench stage)."""
    res = {}
    if path and os.path.exists(path):
        with open(path) as f:
            for line in f:
                try:
                    j = json.loads(line)
                except ValueError:
                    continue
                if j.get("engine") == "useg" and j.get("result"):
                    res[j["case"]] = j["result"]["median_ms"]
    return res


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--cases", default=os.path.join(HERE, "gpu-bench-cases.txt"))
    ap.add_argument("--models", required=True, help="useg init model folders, one per config")
    ap.add_argument("--device", default="cuda", choices=["cuda", "cpu"])
    ap.add_argument("--tiny", action="store_true", help="tiny shapes, 1 run: a dry run")
    ap.add_argument("--warmup", type=int, default=3)
    ap.add_argument("--repeat", type=int, default=20)
    ap.add_argument("--budget", type=float, default=1e9, help="seconds; no case starts after it")
    ap.add_argument("--only", help="comma list of case names")
    ap.add_argument("--useg-jsonl", help="bench.jsonl with useg's results")
    ap.add_argument("--jsonl-out", help="write one JSON line per case here")
    ap.add_argument("--table-out", help="write the table here too")
    args = ap.parse_args()

    import torch
    dev = torch.device(args.device)
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise SystemExit("torch sees no CUDA device")
    t_start = time.monotonic()
    cases = read_cases(args.cases)
    if args.only:
        keep = set(args.only.split(","))
        cases = [c for c in cases if c["case"] in keep]
    useg = useg_results(args.useg_jsonl)
    device_name = torch.cuda.get_device_name(0) if dev.type == "cuda" else "cpu"
    cudnn = torch.backends.cudnn.version() if torch.backends.cudnn.is_available() else None
    print(f"torch {torch.__version__} on {device_name}, cuDNN {cudnn}; warmup {args.warmup}, "
          f"repeat {args.repeat}{', tiny shapes' if args.tiny else ''}", flush=True)
    rows, out, status = [], None, 0
    if args.jsonl_out:
        out = open(args.jsonl_out, "w")
    for c in cases:
        if c["mode"] == "layers":
            print(f"{c['case']}: per-layer run, useg only", flush=True)
            continue
        if time.monotonic() - t_start > args.budget:
            print(f"{c['case']}: not run, budget of {args.budget:.0f} s reached", flush=True)
            status = 124
            continue
        line = {"case": c["case"], "engine": "pytorch", "device": device_name,
                "torch": torch.__version__, "cudnn": cudnn, "tiny": args.tiny}
        try:
            times, peak, notes = run_case(c, args, torch, dev)
            med = statistics.median(times)
            line.update(median_ms=med, times_ms=times, peak_gb=peak, notes=notes)
            rows.append((c["case"], useg.get(c["case"]), med, peak))
            print(f"{c['case']}: {med:.2f} ms{'; ' + '; '.join(notes) if notes else ''}", flush=True)
        except Exception as e:  # one case failing must not hide the others
            line.update(error=f"{type(e).__name__}: {e}")
            print(f"{c['case']}: FAILED: {type(e).__name__}: {e}", flush=True)
            status = status or 1
        if out:
            out.write(json.dumps(line) + "\n")
            out.flush()
    table = ["| case | useg ms | PyTorch ms | useg/PyTorch | useg peak GB | PyTorch peak GB |",
             "|---|---|---|---|---|---|"]
    ratios = []
    for name, u, p, peak in rows:
        ratio = u / p if u and p else None
        if ratio:
            ratios.append(ratio)
        table.append(f"| {name} | {f'{u:.2f}' if u else '—'} | {p:.2f} | "
                     f"{f'{ratio:.2f}' if ratio else '—'} | n/r | {f'{peak:.2f}' if peak is not None else '—'} |")
    geo = math.exp(sum(map(math.log, ratios)) / len(ratios)) if ratios else None
    table.append("(useg peak GB: n/r = not reported: useg bench measures host peak RSS only)")
    table.append(f"{len(rows)} cases in PyTorch; geo-mean useg/PyTorch "
                 f"{f'{geo:.2f}' if geo else '— (no useg numbers)'} over {len(ratios)} cases")
    print("\n".join(table), flush=True)
    if args.table_out:
        with open(args.table_out, "w") as f:
            f.write("\n".join(table) + "\n")
    return status


if __name__ == "__main__":
    sys.exit(main())

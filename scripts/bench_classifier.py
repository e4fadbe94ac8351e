#!/usr/bin/env python3
"""useg vs PyTorch on the same CPU, the same network (configs/cnn_small.json) and the same data
(scikit-learn's digits, scripts/make_digits.py), in interleaved rounds (useg, torch, useg,
torch, ...) so that both see the same machine load:

  (a) train: one training epoch (45 steps of 32 images, Adam, cross-entropy). useg: the median
      over the run's epochs of metrics.csv `seconds` of `useg train` (the epoch's steps, data
      wait included, plus writing last/, metrics.csv and curves.png at its end; no validation:
      val_fraction 0). torch: the median of scripts/torch_train_classifier.py's epoch_seconds
      (the steps only: batch gather, forward, loss, backward, update). Nothing is subtracted.
  (b) classify: images/s over the 360 test PNGs. useg: the wall time of the whole
      `useg classify --recursive` command (process start, model load, reading, preprocessing,
      forward, writing predictions.csv; detail.useg_classify_report_img_s has the figure of
      its report, without process start and model load). torch: an in-process loop (warm: Python and torch
      already loaded) reading each PNG (zlib + a pure-Python unfilter: no PIL here), z-score,
      bilinear resize, forward in batches of --batch, argmax/softmax, writing a CSV; the same
      weights (useg's trained model loaded into the PyTorch network). The share of the loop
      spent reading and preprocessing is recorded (detail.torch_classify_read_share).
  (c) forward: a batch of 16 at 32x32. useg: `useg bench --config --shape 32 32 --batch 16
      --no-layers` (median of --repeat runs; classifiers run through the per-op path), torch:
      the median of --repeat timed forwards under torch.no_grad() after one warm-up.

  /usr/bin/python3 scripts/bench_classifier.py [--rounds 5] [--threads 2] [--epochs 3] [OUT]
  (default OUT: runs/bench_classifier; USEG: the binary, default build/useg)

Writes OUT/bench.json: per-round values, medians, and the ratios useg/torch (time ratios for
(a) and (c): < 1 means useg is faster; images/s ratio for (b): > 1 means useg is faster).
"""
import argparse
import csv
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, HERE)
# Idle OpenMP threads sleep instead of spinning, for useg and torch alike (as the repository's
# scripts run useg); it must be set before torch loads its OpenMP runtime.
os.environ.setdefault("OMP_WAIT_POLICY", "passive")

import torch  # noqa: E402

from torch_train_classifier import list_items, preprocess  # noqa: E402
from torch_classifier import make_classifier  # noqa: E402
from torch_unet import read_safetensors  # noqa: E402


def run(cmd, log, env=None):
    t0 = time.perf_counter()
    with open(log, "w") as f:
        r = subprocess.run(cmd, stdout=f, stderr=subprocess.STDOUT, env=env)
    wall = time.perf_counter() - t0
    if r.returncode != 0:
        with open(log) as f:
            sys.stderr.write(f.read()[-3000:])
        sys.exit(f"bench_classifier: {' '.join(cmd)} failed (exit {r.returncode}); log: {log}")
    return wall


def useg_train(a, out, cfg, r):
    run_dir = os.path.join(out, f"useg_run{r}")
    shutil.rmtree(run_dir, ignore_errors=True)
    run([a.useg, "train", "--config", cfg, "--data", os.path.join(out, "data", "train"),
         "--output", run_dir, "--threads", str(a.threads)], run_dir + ".log")
    with open(os.path.join(run_dir, "metrics.csv")) as f:
        secs = [float(row["seconds"]) for row in csv.DictReader(f)]
    return statistics.median(secs), secs, run_dir


def torch_train(a, out, cfg, r):
    res = os.path.join(out, f"torch_train{r}.json")
    run([sys.executable, os.path.join(HERE, "torch_train_classifier.py"), os.path.join(out, "data"),
         "--config", cfg, "--threads", str(a.threads), "--json", res], res + ".log")
    with open(res) as f:
        d = json.load(f)
    return d["median_epoch_seconds"], d["epoch_seconds"], d["test_accuracy"]


def useg_classify(a, out, model, r):
    pred = os.path.join(out, f"useg_pred{r}.csv")
    cmd = [a.useg, "classify", "--model", os.path.abspath(model), "--input", "test", "--recursive",
           "--output", pred, "--overwrite", "--threads", str(a.threads), "--batch-size", str(a.batch)]
    t0 = time.perf_counter()
    with open(pred + ".log", "w") as f:
        rc = subprocess.run(cmd, stdout=f, stderr=subprocess.STDOUT,
                            cwd=os.path.join(out, "data")).returncode
    wall = time.perf_counter() - t0
    if rc != 0:
        sys.exit(f"bench_classifier: {' '.join(cmd)} failed (exit {rc}); log: {pred}.log")
    with open(pred) as f:
        n = sum(1 for _ in csv.DictReader(f))
    report = pred[:-len(".csv")] + "_report.json"
    inner = None
    if os.path.exists(report):  # useg's own count: reading, preprocessing, forward, writing
        with open(report) as f:
            inner = json.load(f).get("images_per_second")
    return n / wall, inner


def torch_net_from(model):
    with open(os.path.join(model, "model.json")) as f:
        info = json.load(f)
    net = make_classifier(info["model"])
    state = read_safetensors(os.path.join(model, "weights.safetensors"))
    net.load_state_dict({k: state[k].reshape(v.shape) for k, v in net.state_dict().items()})
    return net.eval(), info


def torch_classify(out, net, info, files, batch, r):
    size, ch, classes = info["patch_size"], info["model"].get("in_channels", 1), info["labels"]
    t0 = time.perf_counter()
    rows = []
    read = 0.0
    with torch.no_grad():
        for i in range(0, len(files), batch):
            part = files[i:i + batch]
            t1 = time.perf_counter()
            x = torch.stack([preprocess(f, size, ch) for f in part])
            read += time.perf_counter() - t1
            p = torch.softmax(net(x)[0], dim=1)
            for f, pi in zip(part, p.tolist()):
                k = max(range(len(pi)), key=pi.__getitem__)
                rows.append(f"{f},{classes[k]},{pi[k]:.6f}," + ",".join(f"{v:.6f}" for v in pi))
    with open(os.path.join(out, f"torch_pred{r}.csv"), "w") as f:
        f.write("image,class,probability," + ",".join("p_" + c for c in classes) + "\n")
        f.write("\n".join(rows) + "\n")
    return len(files) / (time.perf_counter() - t0), read / (time.perf_counter() - t0)


def useg_forward(a, out, r):
    js = os.path.join(out, f"useg_bench{r}.json")
    run([a.useg, "bench", "--config", os.path.join(ROOT, "configs", "cnn_small.json"), "--shape",
         "32", "32", "--batch", "16", "--repeat", str(a.repeat), "--threads", str(a.threads),
         "--no-layers", "--json", js], js + ".log")
    with open(js) as f:
        return json.load(f)["median_ms"]


def torch_forward(net, repeat):
    x = torch.randn(16, 1, 32, 32)
    times = []
    with torch.no_grad():
        for _ in range(3):  # warm-up
            net(x)
        for _ in range(repeat):
            t0 = time.perf_counter()
            net(x)
            times.append((time.perf_counter() - t0) * 1e3)
    return statistics.median(times)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("out", nargs="?", default=os.path.join(ROOT, "runs", "bench_classifier"))
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--epochs", type=int, default=3, help="epochs per training run (default 3)")
    ap.add_argument("--repeat", type=int, default=20, help="timed forwards in (c) (default 20)")
    ap.add_argument("--batch", type=int, default=16, help="classify batch size (default 16)")
    ap.add_argument("--useg", default=os.environ.get("USEG", os.path.join(ROOT, "build", "useg")))
    a = ap.parse_args()
    if not os.access(a.useg, os.X_OK):
        sys.exit(f"bench_classifier: {a.useg} not found; build it or set USEG")
    a.useg = os.path.abspath(a.useg)
    torch.set_num_threads(a.threads)
    out = os.path.abspath(a.out)
    os.makedirs(out, exist_ok=True)
    if not os.path.exists(os.path.join(out, "data", "test.csv")):
        run([sys.executable, os.path.join(HERE, "make_digits.py"), os.path.join(out, "data")],
            os.path.join(out, "make_digits.log"))
    with open(os.path.join(ROOT, "configs", "cnn_small.json")) as f:
        cfg = json.load(f)
    cfg["train"]["epochs"] = a.epochs
    cfg_path = os.path.join(out, "cnn_bench.json")
    with open(cfg_path, "w") as f:
        json.dump(cfg, f, indent=2)
    files = [f for f, _ in list_items(os.path.join(out, "data", "test.csv"))]

    keys = ["useg_train_epoch_s", "torch_train_epoch_s", "useg_classify_img_s",
            "torch_classify_img_s", "useg_forward16_ms", "torch_forward16_ms"]
    res = {k: [] for k in keys}
    extra = {"useg_epochs_s": [], "torch_epochs_s": [], "torch_test_accuracy": [],
             "torch_classify_read_share": [], "useg_classify_report_img_s": [],
             "load_average_before": os.getloadavg()}
    for r in range(a.rounds):
        med, secs, run_dir = useg_train(a, out, cfg_path, r)
        res["useg_train_epoch_s"].append(med)
        extra["useg_epochs_s"].append(secs)
        med, secs, acc = torch_train(a, out, cfg_path, r)
        res["torch_train_epoch_s"].append(med)
        extra["torch_epochs_s"].append(secs)
        extra["torch_test_accuracy"].append(acc)
        model = os.path.join(run_dir, "last")
        ips, inner = useg_classify(a, out, model, r)
        res["useg_classify_img_s"].append(ips)
        extra["useg_classify_report_img_s"].append(inner)
        net, info = torch_net_from(model)
        ips, read_share = torch_classify(out, net, info, files, a.batch, r)
        res["torch_classify_img_s"].append(ips)
        extra["torch_classify_read_share"].append(round(read_share, 3))
        res["useg_forward16_ms"].append(useg_forward(a, out, r))
        res["torch_forward16_ms"].append(torch_forward(make_classifier(cfg["model"]).eval(),
                                                       a.repeat))
        print(f"round {r + 1}/{a.rounds}: " + ", ".join(f"{k} {res[k][-1]:.4g}" for k in keys),
              flush=True)
    med = {k: statistics.median(v) for k, v in res.items()}
    ratios = {
        "train_epoch_time_useg_over_torch": med["useg_train_epoch_s"] / med["torch_train_epoch_s"],
        "classify_throughput_useg_over_torch":
            med["useg_classify_img_s"] / med["torch_classify_img_s"],
        "forward16_time_useg_over_torch": med["useg_forward16_ms"] / med["torch_forward16_ms"],
    }
    extra["load_average_after"] = os.getloadavg()
    report = {
        "machine": {"cpu": platform.processor() or platform.machine(), "cores": os.cpu_count(),
                    "torch": torch.__version__},
        "settings": {"rounds": a.rounds, "threads": a.threads, "epochs": a.epochs,
                     "repeat": a.repeat, "classify_batch": a.batch, "test_images": len(files),
                     "config": "configs/cnn_small.json"},
        "median": med, "ratios": ratios, "rounds": res, "detail": extra,
    }
    with open(os.path.join(out, "bench.json"), "w") as f:
        json.dump(report, f, indent=2)
    print(json.dumps({"median": med, "ratios": ratios}, indent=2))
    print(f"bench_classifier: wrote {os.path.join(out, 'bench.json')}")


if __name__ == "__main__":
    main()

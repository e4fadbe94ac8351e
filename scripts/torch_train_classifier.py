#!/usr/bin/env python3
"""PyTorch's side of the side-by-side: trains a useg "layers" / "encoder_classifier" run config
(default configs/cnn_small.json) the way `useg train` does, on the same images, and scores it on
a test set; prints one JSON object (test_accuracy, epoch_seconds, ...).

  python3 scripts/torch_train_classifier.py DATA [--config C] [--epochs N] [--threads N]
         [--seed S] [--json OUT.json] [--eval-every-epoch]
  python3 scripts/torch_train_classifier.py DATA --score-model MODEL_DIR
         (no training: loads a useg model folder's weights.safetensors and model.json into the
         PyTorch network and scores the test set: a cross-check of useg classify / eval)

DATA is a folder with train/<class>/*.png and test.csv (scripts/make_digits.py writes one), or
give --train (class folders or a CSV image,label) and --test (the same) instead.

What is the same as useg train (src/train/class_data.cpp, class_train.cpp, src/nn/model.cpp):
  - classes sorted by name, numerically when every name is an integer;
  - each image: per-channel z-score with its own mean and population std (std floored at 1e-8),
    then resized linearly to model.input_size (bilinear, align_corners=False: pixel centres,
    edges clamped, as useg's ITK resampling with nearest-edge extrapolation);
  - the network: scripts/torch_classifier.py (the reference of useg's graph builder);
  - init: Kaiming normal on fan-in with the gain of model.activation (sqrt(2 / (1 + slope^2))
    for relu / leaky_relu), zero biases;
  - an epoch = train.iterations_per_epoch steps of train.batch_size images, each drawn uniformly
    with replacement (or a class first with train.class_balanced), all training images used
    (train.val_fraction must be 0: useg's stratified validation split is not reproduced);
  - Adam / AdamW / SGD with train.lr, weight_decay, momentum, nesterov; cross-entropy (mean over
    the batch); train.grad_clip on the global norm; a constant learning rate.
What differs: the random numbers (draws, init); no augmentation (the config must switch it off).
epoch_seconds times the training steps of an epoch (batch gather, forward, loss, backward,
update): useg's metrics.csv `seconds` also counts writing last/ and metrics at the epoch's end.
"""
import argparse
import json
import os
import statistics
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

import torch  # noqa: E402
import torch.nn as nn  # noqa: E402
import torch.nn.functional as F  # noqa: E402

from make_digits import read_png  # noqa: E402
from torch_classifier import make_classifier  # noqa: E402
from torch_unet import read_safetensors  # noqa: E402

IMAGE_EXT = (".png",)


def sorted_classes(names):
    names = sorted(set(names))
    if all(n.isdigit() for n in names):
        names.sort(key=lambda s: (len(s), s))
    return names


def list_items(path):
    """[(file, class name)] from class folders or a CSV image,label (paths relative to it)."""
    items = []
    if os.path.isfile(path):
        base = os.path.dirname(os.path.abspath(path))
        with open(path) as f:
            header = [h.strip() for h in f.readline().strip().split(",")]
            if "image" not in header or "label" not in header:
                raise SystemExit(f"{path}: line 1 must be a header with the columns image and label")
            ii, li = header.index("image"), header.index("label")
            for n, line in enumerate(f, start=2):
                if not line.strip():
                    continue
                cols = [c.strip() for c in line.rstrip("\n").split(",")]
                items.append((os.path.join(base, cols[ii]), cols[li]))
    elif os.path.isdir(path):
        for c in sorted(os.listdir(path)):
            d = os.path.join(path, c)
            if c.startswith(".") or not os.path.isdir(d):
                continue
            for root, _, files in os.walk(d):
                for name in sorted(files):
                    if name.lower().endswith(IMAGE_EXT):
                        items.append((os.path.join(root, name), c))
    else:
        raise SystemExit(f"{path} does not exist (expected class folders or a CSV image,label)")
    if not items:
        raise SystemExit(f"{path}: no images")
    return items


def preprocess(file, size, channels):
    """One image as useg's classifier_input makes it: [C, H, W] float32."""
    h, w, c, v = read_png(file)
    if c != channels:
        raise SystemExit(f"{file}: the image has {c} channel(s), the model expects {channels}")
    x = torch.tensor(v, dtype=torch.float64).reshape(h, w, c).permute(2, 0, 1)
    mean = x.mean(dim=(1, 2), keepdim=True)
    std = x.var(dim=(1, 2), unbiased=False, keepdim=True).sqrt().clamp_min(1e-8)
    x = ((x - mean) / std).float()
    if [h, w] != list(size):
        x = F.interpolate(x[None], size=tuple(size), mode="bilinear", align_corners=False)[0]
    return x


def load_set(items, classes, size, channels):
    index = {c: k for k, c in enumerate(classes)}
    missing = sorted({c for _, c in items if c not in index})
    if missing:
        raise SystemExit(f"labels {missing} are not among the training classes {classes}")
    x = torch.stack([preprocess(f, size, channels) for f, _ in items])
    y = torch.tensor([index[c] for _, c in items], dtype=torch.long)
    return x, y


def init_like_useg(net, mcfg):
    act = mcfg.get("activation", "leaky_relu")
    slope = mcfg.get("negative_slope", 0.01) if act == "leaky_relu" else 0.0
    gain = {"tanh": 5.0 / 3.0, "sigmoid": 1.0}.get(act, (2.0 / (1.0 + slope * slope)) ** 0.5)
    for m in net.modules():
        if isinstance(m, (nn.Conv2d, nn.Conv3d, nn.Linear)):
            fan_in = m.weight[0].numel()
            with torch.no_grad():
                m.weight.normal_(0.0, gain / fan_in ** 0.5)
                if m.bias is not None:
                    m.bias.zero_()


def make_optimizer(params, t):
    kind, lr, wd = t.get("optimizer", "sgd"), t.get("lr", 0.01), t.get("weight_decay", 3e-5)
    if kind == "adam":
        return torch.optim.Adam(params, lr=lr, weight_decay=wd)
    if kind == "adamw":
        return torch.optim.AdamW(params, lr=lr, weight_decay=wd)
    return torch.optim.SGD(params, lr=lr, momentum=t.get("momentum", 0.99),
                           nesterov=t.get("nesterov", True), weight_decay=wd)


def check_config(t):
    if t.get("schedule", "poly") != "constant":
        raise SystemExit("torch_train_classifier: only train.schedule 'constant' is reproduced")
    if t.get("val_fraction", 0.2) != 0 or t.get("val_cases"):
        raise SystemExit("torch_train_classifier: set train.val_fraction 0 (every training image "
                         "trains; useg's validation split is not reproduced)")
    if t.get("loss", "ce") != "ce":
        raise SystemExit("torch_train_classifier: only train.loss 'ce' is reproduced")
    aug = t.get("augment", {})
    defaults = {"flip": 0.5, "rotate": 0.2, "scale": 0.2, "noise": 0.1, "blur": 0.2,
                "brightness": 0.15, "contrast": 0.15, "gamma": 0.3, "low_res": 0.25}
    on = [k for k, d in defaults.items() if aug.get(k, d) > 0] + \
        (["rotate90"] if aug.get("rotate90", 0) > 0 else []) + \
        (["elastic"] if aug.get("elastic", 0) > 0 else [])
    if on:
        raise SystemExit(f"torch_train_classifier: augmentation is not reproduced; the config "
                         f"has {', '.join(on)} on (set them to 0)")


def accuracy(net, x, y, batch=256):
    net.eval()
    correct = 0
    with torch.no_grad():
        for i in range(0, len(y), batch):
            correct += int((net(x[i:i + batch])[0].argmax(1) == y[i:i + batch]).sum())
    net.train()
    return correct / len(y)


def score_model(a):
    with open(os.path.join(a.score_model, "model.json")) as f:
        info = json.load(f)
    m, classes = info["model"], info["labels"]
    net = make_classifier(m)
    state = read_safetensors(os.path.join(a.score_model, "weights.safetensors"))
    own = net.state_dict()
    missing = sorted(set(own) - set(state))
    if missing:
        raise SystemExit(f"{a.score_model}: weights.safetensors lacks {missing[:5]}")
    net.load_state_dict({k: state[k].reshape(v.shape) for k, v in own.items()})
    xte, yte = load_set(list_items(a.test), classes, info["patch_size"], m.get("in_channels", 1))
    result = {"model": a.score_model, "test_accuracy": round(accuracy(net, xte, yte), 6),
              "test_images": len(yte), "classes": classes,
              "trained_epochs": info.get("provenance", {}).get("trained_epochs")}
    print(json.dumps(result))


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("data", nargs="?", help="folder with train/ and test.csv (make_digits.py)")
    ap.add_argument("--train", help="training images: class folders or CSV image,label")
    ap.add_argument("--test", help="test images: class folders or CSV image,label")
    ap.add_argument("--config", default=os.path.join(HERE, "..", "configs", "cnn_small.json"))
    ap.add_argument("--epochs", type=int, help="override train.epochs")
    ap.add_argument("--seed", type=int, help="override train.seed (torch.manual_seed)")
    ap.add_argument("--threads", type=int, default=0, help="torch.set_num_threads (0: default)")
    ap.add_argument("--json", help="also write the result here")
    ap.add_argument("--eval-every-epoch", action="store_true",
                    help="score the test set after every epoch (test_accuracy_by_epoch)")
    ap.add_argument("--score-model", metavar="MODEL_DIR",
                    help="score a useg model folder on the test set instead of training")
    a = ap.parse_args()
    if a.data:
        a.train = a.train or os.path.join(a.data, "train")
        a.test = a.test or os.path.join(a.data, "test.csv")
    if not a.test or not (a.train or a.score_model):
        ap.error("give DATA or both --train and --test (--test alone with --score-model)")
    if a.threads > 0:
        torch.set_num_threads(a.threads)
    if a.score_model:
        score_model(a)
        return
    with open(a.config) as f:
        cfg = json.load(f)
    m, t = cfg["model"], dict(cfg.get("train", {}))
    check_config(t)
    if a.epochs is not None:
        t["epochs"] = a.epochs
    seed = a.seed if a.seed is not None else t.get("seed", 42)
    torch.manual_seed(seed)
    size = m.get("input_size") or t["patch_size"]
    channels = m.get("in_channels", 1)

    t0 = time.perf_counter()
    train_items, test_items = list_items(a.train), list_items(a.test)
    classes = t.get("classes") or sorted_classes(c for _, c in train_items)
    if len(classes) != m.get("num_classes", 2):
        raise SystemExit(f"the config has model.num_classes {m.get('num_classes', 2)} but "
                         f"{a.train} holds {len(classes)} classes")
    xtr, ytr = load_set(train_items, classes, size, channels)
    xte, yte = load_set(test_items, classes, size, channels)
    load_seconds = time.perf_counter() - t0

    net = make_classifier(m)
    init_like_useg(net, m)
    net.train()
    opt = make_optimizer(net.parameters(), t)
    batch, iters = t.get("batch_size", 2), t.get("iterations_per_epoch", 250)
    clip = t.get("grad_clip", 12.0)
    balanced = t.get("class_balanced", False)
    by_class = [torch.nonzero(ytr == k).flatten() for k in range(len(classes))]
    by_class = [v for v in by_class if len(v)]
    gen = torch.Generator().manual_seed(seed)
    epoch_seconds, losses, by_epoch = [], [], []
    for epoch in range(t.get("epochs", 100)):
        e0 = time.perf_counter()
        total = 0.0
        for _ in range(iters):
            if balanced:
                ks = torch.randint(len(by_class), (batch,), generator=gen).tolist()
                idx = torch.stack([by_class[k][torch.randint(len(by_class[k]), (1,),
                                                             generator=gen)[0]] for k in ks])
            else:
                idx = torch.randint(len(ytr), (batch,), generator=gen)
            loss = F.cross_entropy(net(xtr[idx])[0], ytr[idx])
            opt.zero_grad(set_to_none=True)
            loss.backward()
            if clip > 0:
                torch.nn.utils.clip_grad_norm_(net.parameters(), clip)
            opt.step()
            total += float(loss)
        epoch_seconds.append(time.perf_counter() - e0)
        losses.append(total / iters)
        if a.eval_every_epoch:
            by_epoch.append(round(accuracy(net, xte, yte), 6))
    result = {
        "test_accuracy": round(accuracy(net, xte, yte), 6),
        "test_images": len(yte),
        "train_images": len(ytr),
        "classes": classes,
        "epochs": t.get("epochs", 100),
        "iterations_per_epoch": iters,
        "batch_size": batch,
        "seed": seed,
        "threads": torch.get_num_threads(),
        "epoch_seconds": [round(s, 4) for s in epoch_seconds],
        "median_epoch_seconds": round(statistics.median(epoch_seconds), 4),
        "train_loss_by_epoch": [round(v, 5) for v in losses],
        "load_seconds": round(load_seconds, 3),
        "config": os.path.relpath(a.config),
        "torch": torch.__version__,
    }
    if a.eval_every_epoch:
        result["test_accuracy_by_epoch"] = by_epoch
    text = json.dumps(result)
    print(text)
    if a.json:
        with open(a.json, "w") as f:
            f.write(text + "\n")


if __name__ == "__main__":
    main()

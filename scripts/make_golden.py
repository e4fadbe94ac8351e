#!/usr/bin/python3
"""Writes the PyTorch golden files that tests/unit/test_golden.cpp checks useg against.

Run by hand with Debian's python3-torch (not in CI):  /usr/bin/python3 scripts/make_golden.py [CASE...]
For each case under tests/data/golden/<case>/ it writes
  config.json           the `model` section (useg's schema)
  weights.safetensors   the module's state_dict, exactly as PyTorch names and shapes it
                        (BatchNorm's num_batches_tracked stays I64, as a real state_dict has it)
  io.safetensors        input, target, logits (training-mode forward; ds.K for deep
                        supervision), eval_logits (eval-mode forward), loss, grad.input,
                        grad.<param> for every parameter, and after.<buffer> (BatchNorm running
                        statistics after the training-mode forward)
The reference runs in float64 so the files hold the exact answer to float32 precision.
"""
import json
import os
import struct
import sys

import torch
import torch.nn as nn

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from torch_classifier import make_classifier  # noqa: E402
from torch_unet import UNet, dice_ce_loss  # noqa: E402

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "data", "golden")

CASES = {
    # 2D, batch norm (training-mode batch statistics and running-stat updates), two inputs,
    # three classes, batch 2, odd channel counts through max_filters.
    "unet2d_bn": dict(
        model=dict(dims=2, in_channels=2, num_classes=3, base_filters=4, depth=3,
                   convs_per_stage=2, max_filters=12, norm="batch", activation="leaky_relu",
                   negative_slope=0.01, residual=False, deep_supervision=False),
        shape=(2, 2, 24, 16)),
    # 3D, instance norm, ReLU, residual stages, deep supervision, anisotropic first level.
    "unet3d_in": dict(
        model=dict(dims=3, in_channels=1, num_classes=2, base_filters=4, depth=2,
                   convs_per_stage=2, max_filters=16, norm="instance", activation="relu",
                   residual=True, deep_supervision=True,
                   pool_sizes=[[1, 2, 2], [2, 2, 2]],
                   kernel_sizes=[[1, 3, 3], [3, 3, 3], [3, 3, 3]]),
        shape=(1, 1, 6, 12, 8)),
    # 2D, instance norm, the default leaky ReLU, one conv per stage, 2 classes.
    "unet2d_in": dict(
        model=dict(dims=2, in_channels=1, num_classes=2, base_filters=8, depth=2,
                   convs_per_stage=1, max_filters=320, norm="instance"),
        shape=(1, 1, 20, 28)),
    # 2D, batch norm, tanh, residual: an activation the CPU plan does not fuse (per-op path).
    "unet2d_tanh": dict(
        model=dict(dims=2, in_channels=1, num_classes=3, base_filters=4, depth=2,
                   convs_per_stage=2, max_filters=16, norm="batch", activation="tanh",
                   residual=True, deep_supervision=False),
        shape=(2, 1, 12, 16)),
    # 3D, instance norm, sigmoid, deep supervision.
    "unet3d_sigmoid": dict(
        model=dict(dims=3, in_channels=2, num_classes=2, base_filters=4, depth=2,
                   convs_per_stage=1, max_filters=16, norm="instance", activation="sigmoid",
                   residual=False, deep_supervision=True),
        shape=(1, 2, 8, 8, 12)),
    # Classifiers (scripts/torch_classifier.py), cross-entropy on [N, K] logits.
    # The reference small CNN (conv-relu-pool twice, flatten, dense-relu, dense), scaled down.
    "cnn2d_layers": dict(
        model=dict(architecture="layers", dims=2, in_channels=1, num_classes=3,
                   input_size=[12, 10],
                   layers=[dict(type="conv", filters=4, kernel=3, activation="relu"),
                           dict(type="max_pool", size=2),
                           dict(type="conv", filters=6, kernel=3, activation="relu"),
                           dict(type="max_pool", size=2),
                           dict(type="flatten"),
                           dict(type="dense", units=8, activation="relu"),
                           dict(type="dense")]),
        shape=(3, 1, 12, 10)),
    # 3D: strided conv with batch norm and tanh, global max pooling, a sigmoid dense layer.
    "cnn3d_layers_bn": dict(
        model=dict(architecture="layers", dims=3, in_channels=2, num_classes=2,
                   input_size=[5, 6, 7],
                   layers=[dict(type="conv", filters=5, kernel=3, stride=2, norm="batch",
                                activation="tanh"),
                           dict(type="conv", filters=4, kernel=1, norm="instance",
                                activation="leaky_relu"),
                           dict(type="global_max_pool"),
                           dict(type="dense", units=6, activation="sigmoid"),
                           dict(type="dense")]),
        shape=(2, 2, 5, 6, 7)),
    # The U-Net encoder + global average pooling + dense: residual stages, batch norm.
    "encoder2d_classifier": dict(
        model=dict(architecture="encoder_classifier", dims=2, in_channels=1, num_classes=4,
                   base_filters=4, depth=2, convs_per_stage=2, max_filters=16, norm="batch",
                   activation="leaky_relu", residual=True),
        shape=(2, 1, 16, 12)),
}


def write_safetensors(path, tensors, metadata=None):
    header, offset, blobs = {}, 0, []
    for name, t in tensors.items():
        t = t.detach().cpu().contiguous()
        if t.dtype == torch.int64:
            dtype, data = "I64", t.numpy().astype("<i8").tobytes()
        else:
            dtype, data = "F32", t.to(torch.float32).numpy().astype("<f4").tobytes()
        header[name] = {"dtype": dtype, "shape": list(t.shape),
                        "data_offsets": [offset, offset + len(data)]}
        blobs.append(data)
        offset += len(data)
    if metadata:
        header["__metadata__"] = metadata
    h = json.dumps(header, separators=(",", ":")).encode()
    h += b" " * ((8 - len(h) % 8) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(h)))
        f.write(h)
        for b in blobs:
            f.write(b)


def downsample_target(target, factor):
    """Nearest downsampling of a label map by integer factors (every factor-th voxel)."""
    sl = [slice(None)] + [slice(None, None, f) for f in factor]
    return target[tuple(sl)]


def make_case(name, spec, seed):
    torch.manual_seed(seed)
    cfg = spec["model"]
    classifier = cfg.get("architecture", "unet") != "unet"
    net = (make_classifier(cfg) if classifier else UNet(cfg)).double()
    with torch.no_grad():  # non-trivial parameters everywhere (not the default init)
        for pname, p in net.named_parameters():
            if pname.endswith("norm.weight"):
                p.uniform_(0.5, 1.5)
            elif pname.endswith("bias"):
                p.uniform_(-0.2, 0.2)
            else:
                fan_in = p[0].numel() if "up." not in pname else p.shape[0] * p[0, 0].numel()
                p.normal_(0.0, (2.0 / fan_in) ** 0.5)
        for bname, b in net.named_buffers():
            if bname.endswith("running_mean"):
                b.uniform_(-0.3, 0.3)
            elif bname.endswith("running_var"):
                b.uniform_(0.5, 2.0)
    state = {k: v.clone() for k, v in net.state_dict().items()}

    dims = cfg["dims"]
    shape = spec["shape"]
    x = torch.randn(*shape, dtype=torch.float64)
    if classifier:  # one class per sample
        target = torch.randint(0, cfg["num_classes"], (shape[0],))
    else:
        target = torch.randint(0, cfg["num_classes"], (shape[0],) + tuple(shape[2:]))
    x.requires_grad_(True)

    net.train()
    outs = net(x)
    # Loss: DiceCE on the full-resolution output plus, with deep supervision, the weighted
    # losses of the lower outputs on nearest-downsampled targets (weights 1/2^k, normalized).
    weights = [1.0 / 2 ** k for k in range(len(outs))]
    total = sum(weights)
    loss = 0
    factor = [1] * (dims)
    for k, out in enumerate(outs):
        if k > 0:
            pz = net.pools[k - 1]
            factor = [f * p for f, p in zip(factor, pz)]
        tk = downsample_target(target, factor) if k > 0 else target
        if classifier:
            loss = loss + nn.functional.cross_entropy(out, tk)
        else:
            loss = loss + weights[k] / total * dice_ce_loss(out, tk.double())
    loss.backward()

    io = {"input": x.detach(), "target": target.double().unsqueeze(1), "loss": loss.detach().reshape(1),
          "logits": outs[0].detach(), "grad.input": x.grad.detach()}
    for k in range(1, len(outs)):
        io["ds.%d" % k] = outs[k].detach()
    for pname, p in net.named_parameters():
        io["grad." + pname] = p.grad.detach()
    for bname, b in net.named_buffers():
        if "running" in bname:
            io["after." + bname] = b.detach().clone()  # load_state_dict below resets b in place
    net.load_state_dict(state)
    net.eval()
    with torch.no_grad():
        io["eval_logits"] = net(x.detach())[0]

    d = os.path.join(OUT, name)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, "config.json"), "w") as f:
        json.dump(cfg, f, indent=2)
    write_safetensors(os.path.join(d, "weights.safetensors"), state,
                      {"generator": "scripts/make_golden.py", "torch": torch.__version__})
    write_safetensors(os.path.join(d, "io.safetensors"), io,
                      {"loss_weights": json.dumps([w / total for w in weights]),
                       "loss": "ce" if classifier else "dice_ce"})
    print("%-10s loss %.6f  params %d" % (name, loss.item(),
                                          sum(p.numel() for p in net.parameters())))


if __name__ == "__main__":
    # With names, only those cases are (re)written (the others' files stay as committed).
    only = set(sys.argv[1:])
    unknown = only - set(CASES)
    if unknown:
        sys.exit("unknown case(s) %s; choose from %s" % (sorted(unknown), sorted(CASES)))
    for i, (name, spec) in enumerate(CASES.items()):
        if not only or name in only:
            make_case(name, spec, seed=1234 + i)

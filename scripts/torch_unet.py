"""The PyTorch reference of useg's U-Net, written to the same spec as src/nn/unet.cpp.

Its state_dict names are the tensor names of useg's weights.safetensors, so a state_dict of this
module saved as safetensors (see docs/model-format.md) loads in useg as-is, and golden files made
with it (scripts/make_golden.py) check useg's forward and backward against PyTorch.

The spec (configs/README.md, section `model`):
  stage s (0..depth) has min(base_filters * 2**s, max_filters) filters and convs_per_stage blocks
  of conv(k, padding k//2, bias) -> norm -> activation [-> dropout]; with `residual` the stage's
  last block adds skip(x) (identity, or a 1x1 conv with bias when channels change) before its
  activation. Encoder stages are joined by max pooling (kernel = stride = pool size); decoder
  stage s upsamples stage s+1's output with a transposed conv (kernel = stride = pool size, bias),
  concatenates [upsampled, skip] along channels and runs a stage with filters(s) outputs.
  head is a 1x1 conv to num_classes; with deep supervision, ds_heads[k] is a 1x1 conv on the
  decoder output of level k+1 (k = 0..depth-2).
"""
import json
import struct

import torch
import torch.nn as nn


def _conv(dims):
    return nn.Conv2d if dims == 2 else nn.Conv3d


def _spatial(dims, kdhw):
    """[D, H, W] triple -> the tuple torch expects for this dimensionality."""
    return tuple(kdhw[1:]) if dims == 2 else tuple(kdhw)


class Block(nn.Module):
    def __init__(self, cfg, cin, cout, kernel):
        super().__init__()
        dims = cfg["dims"]
        k = _spatial(dims, kernel)
        self.conv = _conv(dims)(cin, cout, k, padding=tuple(x // 2 for x in k), bias=True)
        norm = cfg.get("norm", "instance")
        eps = cfg.get("norm_eps", 1e-5)
        if norm == "instance":
            cls = nn.InstanceNorm2d if dims == 2 else nn.InstanceNorm3d
            self.norm = cls(cout, eps=eps, affine=True)
        elif norm == "batch":
            cls = nn.BatchNorm2d if dims == 2 else nn.BatchNorm3d
            self.norm = cls(cout, eps=eps, momentum=cfg.get("bn_momentum", 0.1))
        else:
            self.norm = nn.Identity()
        act = cfg.get("activation", "leaky_relu")
        if act == "relu":
            self.act = nn.ReLU()
        elif act == "sigmoid":
            self.act = nn.Sigmoid()
        elif act == "tanh":
            self.act = nn.Tanh()
        else:
            self.act = nn.LeakyReLU(cfg.get("negative_slope", 0.01))
        p = cfg.get("dropout", 0.0)
        self.drop = nn.Dropout(p) if p > 0 else nn.Identity()

    def forward(self, x, residual=None):
        z = self.norm(self.conv(x))
        if residual is not None:
            z = z + residual
        return self.drop(self.act(z))


class Stage(nn.Module):
    def __init__(self, cfg, cin, cout, kernel):
        super().__init__()
        n = cfg.get("convs_per_stage", 2)
        self.blocks = nn.ModuleList(
            [Block(cfg, cin if j == 0 else cout, cout, kernel) for j in range(n)])
        self.residual = cfg.get("residual", False)
        if self.residual and cin != cout:
            self.skip = _conv(cfg["dims"])(cin, cout, 1, bias=True)
        else:
            self.skip = None

    def forward(self, x):
        h = x
        for j, b in enumerate(self.blocks):
            last = j == len(self.blocks) - 1
            if last and self.residual:
                r = self.skip(x) if self.skip is not None else x
                h = b(h, r)
            else:
                h = b(h)
        return h


class Up(nn.Module):
    def __init__(self, cfg, cin, cout, pool, kernel):
        super().__init__()
        dims = cfg["dims"]
        tconv = nn.ConvTranspose2d if dims == 2 else nn.ConvTranspose3d
        p = _spatial(dims, pool)
        self.up = tconv(cin, cout, p, stride=p, bias=True)
        self.blocks = Stage(cfg, 2 * cout, cout, kernel)

    def forward(self, x, skip):
        return self.blocks(torch.cat([self.up(x), skip], dim=1))


def filters(cfg, s):
    return min(cfg.get("base_filters", 32) * 2 ** s, cfg.get("max_filters", 320))


def kernel(cfg, s):
    if cfg.get("kernel_sizes"):
        return cfg["kernel_sizes"][s]
    k = cfg.get("kernel_size", 3)
    return [1, k, k] if cfg["dims"] == 2 else [k, k, k]


def pool(cfg, level):
    if cfg.get("pool_sizes"):
        return cfg["pool_sizes"][level]
    return [1, 2, 2] if cfg["dims"] == 2 else [2, 2, 2]


def encoder_stages(cfg):
    """The U-Net's encoder (a ModuleList of depth + 1 stages) and its pool sizes."""
    dims, depth = cfg["dims"], cfg.get("depth", 4)
    cin = cfg.get("in_channels", 1)
    stages = nn.ModuleList(
        [Stage(cfg, cin if s == 0 else filters(cfg, s - 1), filters(cfg, s), kernel(cfg, s))
         for s in range(depth + 1)])
    return stages, [_spatial(dims, pool(cfg, l)) for l in range(depth)]


class UNet(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        self.cfg = cfg
        dims, depth = cfg["dims"], cfg.get("depth", 4)
        self.encoder, self.pools = encoder_stages(cfg)
        self.decoder = nn.ModuleList(
            [Up(cfg, filters(cfg, s + 1), filters(cfg, s), pool(cfg, s), kernel(cfg, s))
             for s in range(depth)])
        ncls = cfg.get("num_classes", 2)
        self.head = _conv(dims)(filters(cfg, 0), ncls, 1, bias=True)
        self.deep_supervision = cfg.get("deep_supervision", False)
        if self.deep_supervision:
            self.ds_heads = nn.ModuleList(
                [_conv(dims)(filters(cfg, k + 1), ncls, 1, bias=True) for k in range(depth - 1)])
        mp = nn.functional.max_pool2d if dims == 2 else nn.functional.max_pool3d
        self._pool = mp

    def forward(self, x):
        """Returns [logits] or, with deep supervision, [logits, level-1 logits, ...]."""
        skips = []
        h = x
        depth = len(self.decoder)
        for s in range(depth + 1):
            h = self.encoder[s](h)
            if s < depth:
                skips.append(h)
                h = self._pool(h, self.pools[s], self.pools[s])
        outs = {}
        for s in reversed(range(depth)):
            h = self.decoder[s](h, skips[s])
            outs[s] = h
        result = [self.head(outs[0])]
        if self.deep_supervision:
            result += [self.ds_heads[k](outs[k + 1]) for k in range(depth - 1)]
        return result


def dice_ce_loss(logits, target, smooth=1e-5, batch_dice=False):
    """useg's DiceCE: mean cross-entropy + (1 - mean soft Dice over foreground classes)."""
    ce = nn.functional.cross_entropy(logits, target.long())
    probs = torch.softmax(logits, dim=1)
    onehot = torch.zeros_like(probs).scatter_(1, target.long().unsqueeze(1), 1.0)
    axes = tuple(range(2, logits.dim()))
    if batch_dice:
        axes = (0,) + axes
    inter = (probs * onehot).sum(axes)
    denom = probs.sum(axes) + onehot.sum(axes)
    dice = (2 * inter + smooth) / (denom + smooth)
    dice_fg = dice[..., 1:]
    return ce + (1 - dice_fg.mean())


def read_safetensors(path):
    """The float32 tensors of a safetensors file (useg's weights.safetensors), no numpy needed."""
    with open(path, "rb") as f:
        n = struct.unpack("<Q", f.read(8))[0]
        header = json.loads(f.read(n))
        blob = f.read()
    out = {}
    for name, h in header.items():
        if name == "__metadata__":
            continue
        if h["dtype"] != "F32":
            raise SystemExit(f"{path}: {name} is {h['dtype']}, expected F32")
        a, b = h["data_offsets"]
        t = torch.frombuffer(bytearray(blob[a:b]), dtype=torch.float32) if b > a else torch.zeros(0)
        out[name] = t.reshape(h["shape"]).clone()
    return out

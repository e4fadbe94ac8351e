"""The PyTorch references of useg's classifiers (model.architecture "encoder_classifier" and
"layers"), written to the same spec as src/nn/classifier_graph.cpp: their state_dict names are
useg's tensor names, so golden files made with them (scripts/make_golden.py) check useg's
forward and backward against PyTorch, and PyTorch-trained weights load in useg.

encoder_classifier: the U-Net's encoder (torch_unet.Stage per level, max pooling between),
  global average pooling, dropout `dropout` and a Linear `classifier` to num_classes.
layers: module `layers[i]` per config layer i, holding `conv` (+ `norm`) or `dense`: conv with
  padding kernel // 2 and its stride, then norm and activation; max_pool (kernel = stride =
  size); global_avg_pool / global_max_pool; flatten; dense (units 0 on the last = num_classes)
  then activation; dropout p. A 2D network's windows are 2D (kernel k x k).
"""
import torch
import torch.nn as nn

from torch_unet import encoder_stages, filters


def _activation(name, slope):
    return {"identity": nn.Identity(), "relu": nn.ReLU(), "leaky_relu": nn.LeakyReLU(slope),
            "sigmoid": nn.Sigmoid(), "tanh": nn.Tanh()}[name]


class EncoderClassifier(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        dims, depth = cfg["dims"], cfg.get("depth", 4)
        self.encoder, self.pools = encoder_stages(cfg)
        self._pool = nn.functional.max_pool2d if dims == 2 else nn.functional.max_pool3d
        p = cfg.get("dropout", 0.0)
        self.drop = nn.Dropout(p) if p > 0 else nn.Identity()
        self.classifier = nn.Linear(filters(cfg, depth), cfg.get("num_classes", 2))

    def forward(self, x):
        h = x
        for s, stage in enumerate(self.encoder):
            h = stage(h)
            if s < len(self.pools):
                h = self._pool(h, self.pools[s], self.pools[s])
        h = h.mean(dim=tuple(range(2, h.dim())))
        return [self.classifier(self.drop(h))]


class Layer(nn.Module):
    def __init__(self, cfg, spec, cin, last):
        super().__init__()
        dims = cfg["dims"]
        self.type = spec["type"]
        self.dims = dims
        act = _activation(spec.get("activation", "identity"), cfg.get("negative_slope", 0.01))
        if self.type == "conv":
            k = spec.get("kernel", 3)
            conv = nn.Conv2d if dims == 2 else nn.Conv3d
            self.conv = conv(cin, spec["filters"], k, stride=spec.get("stride", 1), padding=k // 2)
            norm = spec.get("norm", "none")
            if norm == "batch":
                cls = nn.BatchNorm2d if dims == 2 else nn.BatchNorm3d
                self.norm = cls(spec["filters"], eps=cfg.get("norm_eps", 1e-5),
                                momentum=cfg.get("bn_momentum", 0.1))
            elif norm == "instance":
                cls = nn.InstanceNorm2d if dims == 2 else nn.InstanceNorm3d
                self.norm = cls(spec["filters"], eps=cfg.get("norm_eps", 1e-5), affine=True)
            else:
                self.norm = nn.Identity()
            self.act = act
        elif self.type == "dense":
            units = spec.get("units", 0) or cfg["num_classes"]
            self.dense = nn.Linear(cin, units)
            self.act = act
        elif self.type == "dropout":
            self.drop = nn.Dropout(spec.get("p", 0.5))
        self.size = spec.get("size", 2)

    def forward(self, x):
        t = self.type
        if t == "conv":
            return self.act(self.norm(self.conv(x)))
        if t == "max_pool":
            mp = nn.functional.max_pool2d if self.dims == 2 else nn.functional.max_pool3d
            return mp(x, self.size, self.size)
        if t == "global_avg_pool":
            return x.mean(dim=tuple(range(2, x.dim())))
        if t == "global_max_pool":
            return x.amax(dim=tuple(range(2, x.dim())))
        if t == "flatten":
            return torch.flatten(x, 1)
        if t == "dense":
            return self.act(self.dense(x))
        return self.drop(x)


class LayersClassifier(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        dims = cfg["dims"]
        size = list(cfg["input_size"])
        c = cfg.get("in_channels", 1)
        self.layers = nn.ModuleList()
        for i, spec in enumerate(cfg["layers"]):
            last = i == len(cfg["layers"]) - 1
            self.layers.append(Layer(cfg, spec, c, last))
            t = spec["type"]
            if t == "conv":
                k, s = spec.get("kernel", 3), spec.get("stride", 1)
                size = [(n + 2 * (k // 2) - k) // s + 1 for n in size]
                c = spec["filters"]
            elif t == "max_pool":
                size = [(n - spec.get("size", 2)) // spec.get("size", 2) + 1 for n in size]
            elif t in ("global_avg_pool", "global_max_pool"):
                size = [1] * dims
            elif t == "flatten":
                for n in size:
                    c *= n
                size = [1] * dims
            elif t == "dense":
                c = spec.get("units", 0) or cfg["num_classes"]

    def forward(self, x):
        h = x
        for layer in self.layers:
            h = layer(h)
        return [h]


def make_classifier(cfg):
    return EncoderClassifier(cfg) if cfg["architecture"] == "encoder_classifier" \
        else LayersClassifier(cfg)

#!/usr/bin/env python3
"""An nnU-Net v2 trained model folder as a useg model folder (`useg import-nnunet` runs this).

    nnunet_to_safetensors.py TRAINED_FOLDER OUTPUT_DIR [--fold K]

TRAINED_FOLDER is nnU-Net's DatasetXXX_Name/TRAINER__PLANS__CONFIGURATION with plans.json,
dataset.json and fold_K/checkpoint_final.pth. Writes OUTPUT_DIR/model.json (architecture
"nnunet_plain" for a PlainConvUNet, "nnunet_resenc" for a ResidualEncoderUNet; preprocessing,
patch size, labels) and OUTPUT_DIR/weights.safetensors (the checkpoint's 'network_weights' under
the names useg's graph gives them, src/nn/nnunet_graph.cpp).
What maps to what and what is refused: docs/interop.md ("Importing nnU-Net v2 models").

The checkpoint is read with torch.load(weights_only=True): no code from it runs. Every refusal
is one line "FILE: FIELD: why" on stderr and exit status 2; a missing torch is exit status 3.
"""
import argparse
import json
import os
import struct
import sys


class Refused(Exception):
    pass


def refuse(path, field, why):
    raise Refused(f"{path}: {field}: {why}")


def load_json(path):
    try:
        with open(path) as f:
            return json.load(f)
    except FileNotFoundError:
        raise Refused(f"{path}: not found (an nnU-Net v2 trained model folder has plans.json, "
                      "dataset.json and fold_K/checkpoint_final.pth)")
    except json.JSONDecodeError as e:
        raise Refused(f"{path}: not valid JSON ({e})")


def resolve_configuration(plans, plans_path, name):
    """configurations[name] with its `inherits_from` chain merged in (nnU-Net's rule)."""
    confs = plans.get("configurations")
    if not isinstance(confs, dict):
        refuse(plans_path, "configurations", "missing or not an object")
    if name not in confs:
        refuse(plans_path, f"configurations.{name}",
               f"no such configuration (the folder name says '{name}'; plans.json has "
               f"{', '.join(sorted(confs))})")
    conf, seen = dict(confs[name]), {name}
    while "inherits_from" in conf:
        parent = conf.pop("inherits_from")
        if parent in seen or parent not in confs:
            refuse(plans_path, f"configurations.{name}.inherits_from",
                   f"'{parent}' is not a configuration of this file (or a loop)")
        seen.add(parent)
        merged = dict(confs[parent])
        merged.update(conf)
        conf = merged
    return conf


def short(op):
    return str(op).rsplit(".", 1)[-1] if op is not None else None


PLAIN = "dynamic_network_architectures.architectures.unet.PlainConvUNet"
RESENC = "dynamic_network_architectures.architectures.unet.ResidualEncoderUNet"
# The arch_kwargs of ResidualEncoderUNet (0.4.4) that useg knows what to do with; anything else
# is refused rather than silently ignored.
RESENC_KWARGS = {"n_stages", "features_per_stage", "conv_op", "kernel_sizes", "strides",
                 "n_blocks_per_stage", "n_conv_per_stage_decoder", "conv_bias", "norm_op",
                 "norm_op_kwargs", "dropout_op", "dropout_op_kwargs", "nonlin", "nonlin_kwargs",
                 "deep_supervision", "block", "bottleneck_channels", "stem_channels"}


def convert_resenc_kwargs(kw, plans_path, aw, per_stage, n_stages):
    """The model.json keys of ResidualEncoderUNet's own arch_kwargs (those PlainConvUNet lacks)."""
    for key in sorted(set(kw) - RESENC_KWARGS):
        refuse(plans_path, f"{aw}.{key}", "not an argument of ResidualEncoderUNet that useg "
               "reproduces (dynamic-network-architectures 0.4.4)")
    block = short(kw.get("block")) or "BasicBlockD"
    if block != "BasicBlockD":
        refuse(plans_path, f"{aw}.block", f"'{kw.get('block')}': only BasicBlockD residual "
               "blocks (the ResEnc presets') are reproduced, not BottleneckD")
    extra = {"n_blocks_per_stage": per_stage("n_blocks_per_stage", n_stages)}
    stem = kw.get("stem_channels")
    if stem is not None:
        if not isinstance(stem, int) or isinstance(stem, bool) or stem < 1:
            refuse(plans_path, f"{aw}.stem_channels", f"needs a positive integer, got {stem!r}")
        extra["stem_channels"] = stem
    return extra


def convert_architecture(conf, plans_path, cname, num_classes, in_channels):
    where = f"configurations.{cname}"
    if "previous_stage" in conf:
        refuse(plans_path, f"{where}.previous_stage",
               "a cascade stage (it takes the low-resolution stage's segmentation as extra "
               "input channels); useg runs single-stage models only")
    if "next_stage" in conf:
        refuse(plans_path, f"{where}.next_stage",
               "a cascade's low-resolution stage; useg runs single-stage models only")
    arch = conf.get("architecture")
    if not isinstance(arch, dict):
        refuse(plans_path, f"{where}.architecture",
               "missing: plans from nnU-Net before v2.4 (UNet_class_name, ...) are not read; "
               "re-plan with nnU-Net >= 2.4 or edit plans.json to the v2.4 form")
    cls = arch.get("network_class_name", "")
    if cls not in (PLAIN, RESENC):
        refuse(plans_path, f"{where}.architecture.network_class_name",
               f"'{cls}' is not supported; only {PLAIN} and {RESENC}")
    resenc = cls == RESENC
    kw = arch.get("arch_kwargs") or {}
    aw = f"{where}.architecture.arch_kwargs"

    def need(key):
        if key not in kw:
            refuse(plans_path, f"{aw}.{key}", "missing")
        return kw[key]

    n_stages = need("n_stages")
    conv_op = short(need("conv_op"))
    if conv_op not in ("Conv2d", "Conv3d"):
        refuse(plans_path, f"{aw}.conv_op", f"'{kw['conv_op']}': only torch.nn Conv2d / Conv3d")
    dims = 2 if conv_op == "Conv2d" else 3

    def per_stage(key, count, scalar_ok=True):
        v = need(key)
        if isinstance(v, int) and scalar_ok:
            v = [v] * count
        if not isinstance(v, list) or len(v) != count:
            refuse(plans_path, f"{aw}.{key}", f"needs {count} entries, got {v!r}")
        return v

    def spatial(key):
        out = []
        for i, e in enumerate(per_stage(key, n_stages)):
            e = [e] * dims if isinstance(e, int) else list(e)
            if len(e) != dims or not all(isinstance(x, int) and x >= 1 for x in e):
                refuse(plans_path, f"{aw}.{key}[{i}]", f"needs {dims} positive integers, got {e!r}")
            out.append(([1] + e) if dims == 2 else e)
        return out

    if not isinstance(n_stages, int) or n_stages < 2:
        refuse(plans_path, f"{aw}.n_stages", f"needs an integer >= 2, got {n_stages!r}")
    features = per_stage("features_per_stage", n_stages)
    kernels = spatial("kernel_sizes")
    strides = spatial("strides")
    for i, k in enumerate(kernels):
        if any(x % 2 == 0 for x in k):
            refuse(plans_path, f"{aw}.kernel_sizes[{i}]", f"even kernel {k}: useg pads kernel/2 "
                   "(same size) as nnU-Net does only for odd kernels")
    if any(x != 1 for x in strides[0]):
        refuse(plans_path, f"{aw}.strides[0]", f"{strides[0]}: a first stage that downsamples "
               "gives logits below the input resolution; useg needs stride 1 there")
    if resenc:
        stages = convert_resenc_kwargs(kw, plans_path, aw, per_stage, n_stages)
    else:
        stages = {"n_conv_per_stage": per_stage("n_conv_per_stage", n_stages)}
    n_conv_dec = per_stage("n_conv_per_stage_decoder", n_stages - 1)
    norm = short(kw.get("norm_op"))
    if norm not in (f"InstanceNorm{dims}d",):
        refuse(plans_path, f"{aw}.norm_op", f"'{kw.get('norm_op')}': only torch.nn "
               f"InstanceNorm{dims}d is supported")
    nkw = kw.get("norm_op_kwargs") or {}
    affine = bool(nkw.get("affine", False))
    eps = float(nkw.get("eps", 1e-5))
    nonlin = short(kw.get("nonlin"))
    nlkw = kw.get("nonlin_kwargs") or {}
    if nonlin == "LeakyReLU":
        activation, slope = "leaky_relu", float(nlkw.get("negative_slope", 0.01))
    elif nonlin == "ReLU":
        activation, slope = "relu", 0.0
    else:
        refuse(plans_path, f"{aw}.nonlin", f"'{kw.get('nonlin')}': only torch.nn LeakyReLU and "
               "ReLU are supported")
    if kw.get("nonlin_first", False):
        refuse(plans_path, f"{aw}.nonlin_first", "true (conv -> nonlin -> norm) is not supported")
    # dropout_op: identity in inference, nothing to reproduce. deep_supervision: the extra heads
    # are training-only; the full-resolution head is the last of decoder.seg_layers either way.
    model = {
        "architecture": "nnunet_resenc" if resenc else "nnunet_plain",
        "dims": dims,
        "in_channels": in_channels,
        "num_classes": num_classes,
        "depth": n_stages - 1,
        "features_per_stage": features,
        **stages,
        "n_conv_per_stage_decoder": list(reversed(n_conv_dec)),  # useg: level 0 = full res
        "pool_sizes": strides[1:],
        "kernel_sizes": kernels,
        "norm": "instance",
        "norm_eps": eps,
        "activation": activation,
        "negative_slope": slope,
    }
    return model, {"conv_bias": bool(kw.get("conv_bias", False)), "affine": affine,
                   "n_stages": n_stages, "features": features}


def convert_dataset(ds, ds_path):
    if "regions_class_order" in ds:
        refuse(ds_path, "regions_class_order", "region-based training (overlapping regions, "
               "sigmoid outputs) is not supported; useg models are one softmax over classes")
    labels = ds.get("labels")
    if not isinstance(labels, dict):
        refuse(ds_path, "labels", "missing or not an object {name: value}")
    pairs = []
    for name, v in labels.items():
        if not isinstance(v, int) or isinstance(v, bool):
            refuse(ds_path, f"labels.{name}", f"{v!r}: region-based labels (lists of values) "
                   "are not supported, only one integer per label")
        if name == "ignore":
            refuse(ds_path, "labels.ignore", "an ignore label changes what the network's "
                   "classes mean; not supported")
        pairs.append((v, name))
    pairs.sort()
    if [v for v, _ in pairs] != list(range(len(pairs))):
        refuse(ds_path, "labels", f"values {[v for v, _ in pairs]} are not 0..{len(pairs) - 1}")
    channels = ds.get("channel_names")
    if not isinstance(channels, dict) or not channels:
        refuse(ds_path, "channel_names", "missing (nnU-Net v1 'modality' files are not read)")
    names = [channels[k] for k in sorted(channels, key=int)]
    return [n for _, n in pairs], names


def convert_preprocess(plans, conf, plans_path, cname, channel_names, dims):
    tf = plans.get("transpose_forward", list(range(3)))
    if list(tf) != list(range(len(tf))):
        refuse(plans_path, "transpose_forward", f"{tf}: nnU-Net trained on transposed images; "
               "useg does not transpose before inference, so the axes would not match")
    where = f"configurations.{cname}"
    spacing = conf.get("spacing")
    if not isinstance(spacing, list) or len(spacing) not in (2, 3):
        refuse(plans_path, f"{where}.spacing", f"needs 2 or 3 numbers, got {spacing!r}")
    spacing = [float(s) for s in spacing][-dims:]
    patch = conf.get("patch_size")
    if not isinstance(patch, list) or len(patch) != dims:
        refuse(plans_path, f"{where}.patch_size", f"needs {dims} integers, got {patch!r}")
    schemes = conf.get("normalization_schemes")
    if not isinstance(schemes, list) or len(schemes) != len(channel_names):
        refuse(plans_path, f"{where}.normalization_schemes",
               f"needs one entry per channel ({len(channel_names)}), got {schemes!r}")
    masks = conf.get("use_mask_for_norm") or [False] * len(schemes)
    props = plans.get("foreground_intensity_properties_per_channel", {})
    channels = []
    for c, (scheme, name) in enumerate(zip(schemes, channel_names)):
        f = f"{where}.normalization_schemes[{c}]"
        if c < len(masks) and masks[c]:
            refuse(plans_path, f"{where}.use_mask_for_norm[{c}]", "true (z-score inside the "
                   "nonzero mask, outside set to 0) is not reproduced by useg's normalization")
        if scheme == "CTNormalization":
            p = props.get(str(c))
            if not isinstance(p, dict):
                refuse(plans_path, f"foreground_intensity_properties_per_channel.{c}",
                       "missing (CTNormalization needs the dataset's intensity statistics)")
            for k in ("percentile_00_5", "percentile_99_5", "mean", "std"):
                if k not in p:
                    refuse(plans_path, f"foreground_intensity_properties_per_channel.{c}.{k}",
                           "missing")
            channels.append({"name": name, "scheme": "ct", "clip_low": p["percentile_00_5"],
                             "clip_high": p["percentile_99_5"], "mean": p["mean"],
                             "std": max(p["std"], 1e-8)})
        elif scheme == "ZScoreNormalization":
            channels.append({"name": name, "scheme": "zscore"})
        elif scheme == "NoNormalization":
            channels.append({"name": name, "scheme": "none"})
        else:
            refuse(plans_path, f, f"'{scheme}' has no useg equivalent (supported: "
                   "CTNormalization, ZScoreNormalization, NoNormalization)")
    return {"target_spacing": spacing, "channels": channels}, patch


def write_safetensors(path, tensors):
    header, offset, blobs = {}, 0, []
    for name, t in tensors.items():
        data = t.detach().cpu().contiguous().float().numpy().astype("<f4").tobytes()
        header[name] = {"dtype": "F32", "shape": list(t.shape),
                        "data_offsets": [offset, offset + len(data)]}
        blobs.append(data)
        offset += len(data)
    h = json.dumps(header, separators=(",", ":")).encode()
    h += b" " * ((8 - len(h) % 8) % 8)
    tmp = path + ".tmp"
    with open(tmp, "wb") as f:
        f.write(struct.pack("<Q", len(h)))
        f.write(h)
        for b in blobs:
            f.write(b)
    os.replace(tmp, path)


# The only globals a checkpoint may name (tensors, their storages, plain containers, numpy
# scalars and arrays of the training log): nothing from the file can call anything else.
_ALLOWED_GLOBALS = {
    ("collections", "OrderedDict"), ("torch._utils", "_rebuild_tensor_v2"),
    ("torch._utils", "_rebuild_parameter"), ("torch", "Size"), ("torch", "device"),
    ("numpy.core.multiarray", "scalar"), ("numpy", "dtype"),
    ("numpy.core.multiarray", "_reconstruct"), ("numpy", "ndarray"),
    ("builtins", "set"), ("builtins", "frozenset"), ("builtins", "slice"), ("_codecs", "encode"),
}


def _allowlist_pickle():
    """A pickle module whose Unpickler resolves only _ALLOWED_GLOBALS (torch's loader resolves
    the storage types itself before asking it)."""
    import pickle
    import types

    class Unpickler(pickle.Unpickler):
        def find_class(self, module, name):
            if module.startswith("numpy._core"):  # written by numpy >= 2; read by numpy 1.x
                module = "numpy.core" + module[len("numpy._core"):]
            if (module, name) in _ALLOWED_GLOBALS or (module == "torch" and
                                                       name.endswith("Storage")):
                return super().find_class(module, name)
            raise pickle.UnpicklingError(f"refusing to load global {module}.{name}")

    mod = types.ModuleType("useg_allowlist_pickle")
    mod.Unpickler = Unpickler
    return mod


def _load_allowlisted(torch, path):
    """torch.load of a zip checkpoint through _allowlist_pickle(). torch.load itself cannot be
    used: with weights_only=False, PyTorch 1.13 replaces any pickle_module by `pickle`."""
    from torch import serialization as ser
    with open(path, "rb") as f:
        if not ser._is_zipfile(f):
            raise RuntimeError("not a zip checkpoint (PyTorch >= 1.6 format)")
        with ser._open_zipfile_reader(f) as z:
            return ser._load(z, "cpu", _allowlist_pickle(), encoding="utf-8")


def convert_weights(ckpt_path, arch):
    try:
        import torch
    except ImportError:
        print(f"nnunet_to_safetensors: {sys.executable} cannot import torch (install PyTorch, "
              "e.g. apt-get install python3-torch, or point USEG_PYTHON at a Python that has it)",
              file=sys.stderr)
        sys.exit(3)
    if not os.path.isfile(ckpt_path):
        raise Refused(f"{ckpt_path}: not found (train that fold, or pick another with --fold)")
    try:
        ckpt = torch.load(ckpt_path, map_location="cpu", weights_only=True)
    except Exception as e:  # noqa: BLE001
        # PyTorch < 2.0's weights-only reader lacks Python floats (pickle opcode 'G'), which
        # every nnU-Net checkpoint holds (its training log): read it with an allowlist instead.
        try:
            ckpt = _load_allowlisted(torch, ckpt_path)
        except Exception as e2:  # noqa: BLE001
            raise Refused(f"{ckpt_path}: cannot be read without running code from it "
                          f"(torch.load(weights_only=True): {str(e).splitlines()[0]}; "
                          f"allowlist reader: {str(e2).splitlines()[0]})")
    if not isinstance(ckpt, dict) or not isinstance(ckpt.get("network_weights"), dict):
        raise Refused(f"{ckpt_path}: network_weights: missing (not an nnU-Net v2 checkpoint)")
    sd = {}
    for k, v in ckpt["network_weights"].items():
        for prefix in ("module.", "_orig_mod."):
            if k.startswith(prefix):
                k = k[len(prefix):]
        sd[k] = v
    head = f"decoder.seg_layers.{arch['n_stages'] - 2}."
    out = {}
    for k, v in sd.items():
        if ".all_modules." in k or k.startswith("decoder.encoder."):
            continue  # the same tensors registered twice (by ConvDropoutNormReLU, UNetDecoder)
        if k.startswith("decoder.seg_layers.") and not k.startswith(head):
            continue  # deep-supervision heads: training only
        out[k] = v
    # Parameters useg's graph always has: zero biases (conv_bias false), identity norm scale and
    # shift (affine false: InstanceNorm then has no parameters).
    for k, v in list(out.items()):
        if k.endswith(".conv.weight"):
            out.setdefault(k[:-len("weight")] + "bias", torch.zeros(v.shape[0]))
            norm = k[:-len("conv.weight")] + "norm."
            if norm + "weight" not in out:
                out[norm + "weight"] = torch.ones(v.shape[0])
                out[norm + "bias"] = torch.zeros(v.shape[0])
        elif k.startswith("decoder.transpconvs.") and k.endswith(".weight"):
            out.setdefault(k[:-len("weight")] + "bias", torch.zeros(v.shape[1]))
    return out, ckpt.get("trainer_name"), ckpt.get("inference_allowed_mirroring_axes")


def convert_mirroring(axes, dims):
    """model.json's inference section and a provenance note from the checkpoint's
    inference_allowed_mirroring_axes: nnU-Net's predictor mirrors over those axes by default
    (none when the key is absent or empty). useg mirrors over every spatial axis or none, so a
    subset (nnU-Net's choice for anisotropic data) is imported as off, with a note."""
    axes = sorted(int(a) for a in (axes or []))
    if not axes:
        return {"tta": False}, "none (the checkpoint allows none)"
    if axes == list(range(dims)):
        return {"tta": True}, f"axes {axes} (all): useg segment mirrors by default"
    return {"tta": False}, (f"axes {axes} only: useg mirrors all axes or none, so off by default "
                            "(useg segment --tta mirrors all)")


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("trained_folder")
    ap.add_argument("output")
    ap.add_argument("--fold", default="0", help="fold number or 'all' (default 0)")
    a = ap.parse_args()
    folder = os.path.abspath(a.trained_folder.rstrip("/"))
    parts = os.path.basename(folder).split("__")
    if len(parts) != 3:
        raise Refused(f"{a.trained_folder}: not an nnU-Net v2 trained model folder (its name "
                      "should be TRAINER__PLANS__CONFIGURATION, e.g. "
                      "nnUNetTrainer__nnUNetPlans__3d_fullres)")
    trainer, plans_name, cname = parts
    plans_path = os.path.join(folder, "plans.json")
    ds_path = os.path.join(folder, "dataset.json")
    plans = load_json(plans_path)
    ds = load_json(ds_path)
    labels, channel_names = convert_dataset(ds, ds_path)
    conf = resolve_configuration(plans, plans_path, cname)
    model, arch = convert_architecture(conf, plans_path, cname, len(labels), len(channel_names))
    preprocess, patch = convert_preprocess(plans, conf, plans_path, cname, channel_names,
                                           model["dims"])
    ckpt = os.path.join(folder, f"fold_{a.fold}", "checkpoint_final.pth")
    weights, ckpt_trainer, mirror_axes = convert_weights(ckpt, arch)
    inference, mirroring = convert_mirroring(mirror_axes, model["dims"])
    info = {
        "format_version": 1,
        "model": model,
        "preprocess": preprocess,
        "patch_size": patch,
        "labels": labels,
        "inference": inference,
        "provenance": {
            "imported_from": "nnU-Net v2",
            "trained_folder": folder,
            "dataset": str(plans.get("dataset_name", "")),
            "plans": str(plans.get("plans_name", plans_name)),
            "configuration": cname,
            "trainer": str(ckpt_trainer or trainer),
            "fold": str(a.fold),
            "checkpoint": "checkpoint_final.pth",
            "mirroring": mirroring,
        },
    }
    os.makedirs(a.output, exist_ok=True)
    write_safetensors(os.path.join(a.output, "weights.safetensors"), weights)
    tmp = os.path.join(a.output, "model.json.tmp")
    with open(tmp, "w") as f:
        json.dump(info, f, indent=2)
        f.write("\n")
    os.replace(tmp, os.path.join(a.output, "model.json"))


if __name__ == "__main__":
    try:
        main()
    except Refused as e:
        print(str(e), file=sys.stderr)
        sys.exit(2)

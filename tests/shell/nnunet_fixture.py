#!/usr/bin/env python3
"""nnU-Net v2 trained model folders for the import test (tests/unit/test_nnunet_import.cpp).

    nnunet_fixture.py OUT_DIR {2d,3d} [--net {plain,resenc}] [--variant NAME]

Writes OUT_DIR/Dataset999_Fixture/nnUNetTrainer__nnUNetPlans__CONFIG/ with plans.json,
dataset.json, dataset_fingerprint.json and fold_0/checkpoint_final.pth in nnU-Net v2's format
({'network_weights', 'init_args', 'trainer_name', ...}) holding a PlainConvUNet (--net plain,
the default) or a ResidualEncoderUNet (--net resenc) of dynamic_network_architectures with random
weights (instance-norm scales and shifts perturbed so
that they are not the identity), and OUT_DIR/io.safetensors with an input and the module's
eval-mode logits. Prints the trained folder's path. --variant writes a folder that useg must
refuse (unknown_class, bottleneck and squeeze_excitation (with --net resenc), regions, cascade, transpose, norm,
nonlin, old_plans, malicious: a checkpoint whose unpickling would call os.system to create
OUT_DIR/pwned).
"""
import argparse
import json
import os
import struct

import numpy as np
import torch
from dynamic_network_architectures.architectures.unet import PlainConvUNet, ResidualEncoderUNet

PLAIN = "dynamic_network_architectures.architectures.unet.PlainConvUNet"
RESENC = "dynamic_network_architectures.architectures.unet.ResidualEncoderUNet"


def write_safetensors(path, tensors):
    header, offset, blobs = {}, 0, []
    for name, t in tensors.items():
        data = t.detach().contiguous().float().numpy().astype("<f4").tobytes()
        header[name] = {"dtype": "F32", "shape": list(t.shape),
                        "data_offsets": [offset, offset + len(data)]}
        blobs.append(data)
        offset += len(data)
    h = json.dumps(header, separators=(",", ":")).encode()
    h += b" " * ((8 - len(h) % 8) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(h)))
        f.write(h)
        for b in blobs:
            f.write(b)


def arch_2d():
    # 4 stages, anisotropic first downsampling, 2 input channels (CT + MR), 3 classes.
    return dict(n_stages=4, features_per_stage=[4, 8, 12, 16],
                conv_op="torch.nn.modules.conv.Conv2d",
                kernel_sizes=[[3, 3], [3, 3], [1, 3], [3, 3]],
                strides=[[1, 1], [2, 1], [2, 2], [2, 2]],
                n_conv_per_stage=[2, 1, 2, 2], n_conv_per_stage_decoder=[1, 2, 1],
                conv_bias=True, norm_op="torch.nn.modules.instancenorm.InstanceNorm2d",
                norm_op_kwargs={"eps": 1e-05, "affine": True}, dropout_op=None,
                dropout_op_kwargs=None, nonlin="torch.nn.LeakyReLU",
                nonlin_kwargs={"inplace": True}), [32, 24], [0.7, 0.5]


def arch_3d():
    # 3 stages, anisotropic kernels and strides (nnU-Net's form for thick slices), no conv bias.
    return dict(n_stages=3, features_per_stage=[4, 8, 16],
                conv_op="torch.nn.modules.conv.Conv3d",
                kernel_sizes=[[1, 3, 3], [3, 3, 3], [3, 3, 3]],
                strides=[[1, 1, 1], [1, 2, 2], [2, 2, 2]],
                n_conv_per_stage=[2, 2, 2], n_conv_per_stage_decoder=[2, 1],
                conv_bias=False, norm_op="torch.nn.modules.instancenorm.InstanceNorm3d",
                norm_op_kwargs={"eps": 1e-05, "affine": True}, dropout_op=None,
                dropout_op_kwargs=None, nonlin="torch.nn.LeakyReLU",
                nonlin_kwargs={"inplace": True, "negative_slope": 0.02}), [8, 16, 12], [3.0, 0.8, 0.8]


def resenc_2d():
    # 4 stages, anisotropic first downsampling, a stem wider than stage 0 (so stage 0's first
    # block projects its skip with a 1x1 conv at stride 1), two blocks in stages 1 and 3.
    return dict(n_stages=4, features_per_stage=[4, 8, 12, 16],
                conv_op="torch.nn.modules.conv.Conv2d",
                kernel_sizes=[[3, 3], [3, 3], [1, 3], [3, 3]],
                strides=[[1, 1], [2, 1], [2, 2], [2, 2]],
                n_blocks_per_stage=[1, 2, 1, 2], n_conv_per_stage_decoder=[1, 2, 1],
                conv_bias=True, norm_op="torch.nn.modules.instancenorm.InstanceNorm2d",
                norm_op_kwargs={"eps": 1e-05, "affine": True}, dropout_op=None,
                dropout_op_kwargs=None, nonlin="torch.nn.LeakyReLU",
                nonlin_kwargs={"inplace": True}, stem_channels=6), [32, 24], [0.7, 0.5]


def resenc_3d():
    # 3 stages, anisotropic kernels and strides, no conv bias; stage 1 changes channels while
    # striding [1, 2, 2] (skip: AvgPool3d(1x2x2) then 1x1 conv + norm), stage 2 keeps them while
    # striding [2, 2, 2] (skip: the pooling only), two blocks in stages 1 and 2 (identity skips).
    return dict(n_stages=3, features_per_stage=[4, 8, 8],
                conv_op="torch.nn.modules.conv.Conv3d",
                kernel_sizes=[[1, 3, 3], [3, 3, 3], [3, 3, 3]],
                strides=[[1, 1, 1], [1, 2, 2], [2, 2, 2]],
                n_blocks_per_stage=[1, 2, 2], n_conv_per_stage_decoder=[1, 2],
                conv_bias=False, norm_op="torch.nn.modules.instancenorm.InstanceNorm3d",
                norm_op_kwargs={"eps": 1e-05, "affine": True}, dropout_op=None,
                dropout_op_kwargs=None, nonlin="torch.nn.LeakyReLU",
                nonlin_kwargs={"inplace": True, "negative_slope": 0.02}), [8, 16, 12], [3.0, 0.8, 0.8]


def build(kw, num_classes, in_channels, net="plain"):
    ops = {"torch.nn.modules.conv.Conv2d": torch.nn.Conv2d,
           "torch.nn.modules.conv.Conv3d": torch.nn.Conv3d,
           "torch.nn.modules.instancenorm.InstanceNorm2d": torch.nn.InstanceNorm2d,
           "torch.nn.modules.instancenorm.InstanceNorm3d": torch.nn.InstanceNorm3d,
           "torch.nn.LeakyReLU": torch.nn.LeakyReLU}
    k = dict(kw)
    for key in ("conv_op", "norm_op", "nonlin"):
        k[key] = ops[k[key]]
    cls = ResidualEncoderUNet if net == "resenc" else PlainConvUNet
    return cls(in_channels, num_classes=num_classes, deep_supervision=True, **k)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("out")
    ap.add_argument("dims", choices=["2d", "3d"])
    ap.add_argument("--net", choices=["plain", "resenc"], default="plain")
    ap.add_argument("--variant", default="")
    a = ap.parse_args()
    torch.manual_seed((7 if a.dims == "2d" else 11) + (100 if a.net == "resenc" else 0))
    if a.net == "resenc":
        kw, patch, spacing = resenc_2d() if a.dims == "2d" else resenc_3d()
    else:
        kw, patch, spacing = arch_2d() if a.dims == "2d" else arch_3d()
    config = "2d" if a.dims == "2d" else "3d_fullres"
    channels = {"0": "CT", "1": "T2"} if a.dims == "2d" else {"0": "MR"}
    labels = {"background": 0, "liver": 1, "tumour": 2} if a.dims == "2d" else \
        {"background": 0, "organ": 1}
    net = build(kw, len(labels), len(channels), a.net).eval()
    with torch.no_grad():
        for name, p in net.named_parameters():
            if ".norm." in name:
                p.add_(torch.randn_like(p) * 0.3)
            elif name.endswith(".bias"):
                p.copy_(torch.randn_like(p) * 0.1)
    conf = {"data_identifier": f"nnUNetPlans_{config}", "preprocessor_name": "DefaultPreprocessor",
            "batch_size": 2, "patch_size": patch, "median_image_size_in_voxels": patch,
            "spacing": spacing,
            "normalization_schemes": ["CTNormalization", "ZScoreNormalization"][:len(channels)]
            if a.dims == "2d" else ["ZScoreNormalization"],
            "use_mask_for_norm": [False] * len(channels),
            "resampling_fn_data": "resample_data_or_seg_to_shape",
            "architecture": {
                "network_class_name": RESENC if a.net == "resenc" else PLAIN,
                "arch_kwargs": kw,
                "_kw_requires_import": ["conv_op", "norm_op", "dropout_op", "nonlin"]},
            "batch_dice": True}
    if a.dims == "2d":  # nnU-Net's 2d spacing has the in-plane axes only
        conf["spacing"] = spacing
    plans = {"dataset_name": "Dataset999_Fixture", "plans_name": "nnUNetPlans",
             "original_median_spacing_after_transp": [3.0, 0.7, 0.5],
             "image_reader_writer": "SimpleITKIO", "transpose_forward": [0, 1, 2],
             "transpose_backward": [0, 1, 2], "configurations": {config: conf},
             "experiment_planner_used": "ExperimentPlanner", "label_manager": "LabelManager",
             "foreground_intensity_properties_per_channel": {
                 "0": {"max": 3000.0, "mean": 80.5, "median": 75.0, "min": -1024.0,
                       "percentile_00_5": -150.0, "percentile_99_5": 400.0, "std": 60.25},
                 "1": {"max": 900.0, "mean": 300.0, "median": 280.0, "min": 0.0,
                       "percentile_00_5": 10.0, "percentile_99_5": 800.0, "std": 120.0}}}
    dataset = {"channel_names": channels, "labels": labels, "numTraining": 10,
               "file_ending": ".nii.gz"}
    v = a.variant
    arch = conf["architecture"]
    if v == "unknown_class":
        arch["network_class_name"] = "dynamic_network_architectures.architectures.unet.ResidualUNet"
    elif v == "bottleneck":
        arch["arch_kwargs"] = dict(kw, block="dynamic_network_architectures.building_blocks."
                                   "residual.BottleneckD", bottleneck_channels=[2, 4, 4])
        arch["_kw_requires_import"].append("block")
    elif v == "squeeze_excitation":
        arch["arch_kwargs"] = dict(kw, squeeze_excitation=True)
    elif v == "regions":
        dataset["labels"] = {"background": 0, "whole": [1, 2], "core": 2}
        dataset["regions_class_order"] = [1, 2]
    elif v == "cascade":
        plans["configurations"]["3d_cascade_fullres"] = {"inherits_from": config,
                                                         "previous_stage": "3d_lowres"}
        config = "3d_cascade_fullres"
    elif v == "transpose":
        plans["transpose_forward"] = [2, 0, 1]
    elif v == "norm":
        arch["arch_kwargs"] = dict(kw, norm_op="torch.nn.modules.batchnorm.BatchNorm3d")
    elif v == "nonlin":
        arch["arch_kwargs"] = dict(kw, nonlin="torch.nn.GELU")
    elif v == "old_plans":
        del conf["architecture"]
        conf["UNet_class_name"] = "PlainConvUNet"
    folder = os.path.join(a.out, "Dataset999_Fixture", f"nnUNetTrainer__nnUNetPlans__{config}")
    os.makedirs(os.path.join(folder, "fold_0"), exist_ok=True)
    with open(os.path.join(folder, "plans.json"), "w") as f:
        json.dump(plans, f, indent=4)
    with open(os.path.join(folder, "dataset.json"), "w") as f:
        json.dump(dataset, f, indent=4)
    with open(os.path.join(folder, "dataset_fingerprint.json"), "w") as f:
        json.dump({"spacings": [spacing], "shapes_after_crop": [patch]}, f)
    extra = {}
    # nnU-Net mirrors every spatial axis unless the trainer narrowed it (anisotropic data) or
    # disabled it.
    mirror_axes = list(range(len(patch)))
    if v == "mirror_subset":
        mirror_axes = mirror_axes[1:]
    elif v == "no_mirroring":
        mirror_axes = None
    if mirror_axes is not None:
        extra["inference_allowed_mirroring_axes"] = mirror_axes
    if v == "malicious":
        class Payload:
            def __reduce__(self):
                return (os.system, ("touch '" + os.path.join(a.out, "pwned") + "'",))
        extra["payload"] = Payload()
    torch.save({**extra, "network_weights": net.state_dict(), "optimizer_state": {},
                "grad_scaler_state": None, "logging": {"mean_fg_dice": [0.5], "ema_fg_dice": [np.float64(0.4)]},
                "_best_ema": 0.5, "current_epoch": 1000,
                "init_args": {"plans": plans, "configuration": config, "fold": 0,
                              "dataset_json": dataset, "unpack_dataset": True},
                "trainer_name": "nnUNetTrainer"},
               os.path.join(folder, "fold_0", "checkpoint_final.pth"))
    shape = [1, len(channels)] + patch
    x = torch.randn(*shape)
    with torch.no_grad():
        logits = net(x)[0]  # deep supervision: the full-resolution output first
    write_safetensors(os.path.join(a.out, "io.safetensors"), {"input": x, "logits": logits})
    print(folder)


if __name__ == "__main__":
    main()

#!/usr/bin/env python3
"""nnU-Net v2's own predictor (nnunetv2's nnUNetPredictor) on models and images made here, for the
whole-image comparison with `useg segment` (tests/shell/test_nnunet_predictor.sh) and the
benchmark (scripts/bench_nnunet_predictor.sh). Needs the venv of scripts/setup-nnunet-venv.sh.

    nnunet_predict.py make OUT {test3d,test2d,bench} [--train-steps N] [--bench-patch N]
                           [--bench-size N]
        OUT/nnUNet_results/Dataset998_Predict/nnUNetTrainer__nnUNetPlans__CONFIG/ (plans.json,
        dataset.json, dataset_fingerprint.json, fold_0/checkpoint_final.pth in nnU-Net v2's format)
        with a PlainConvUNet built by nnU-Net's get_network_from_plans: random weights with the
        segmentation head balanced so that every class takes a real share of the image, or
        trained N Adam steps on another generated image and its labels (--train-steps), and
        OUT/images/case_0000.nii.gz: a structured float32 image already on the plan's spacing
        (resampling is the identity on both sides), larger than the patch on every axis (the
        sliding windows overlap), with an origin and a rotated direction. Prints the folder.
    nnunet_predict.py predict TRAINED_FOLDER IMAGES_DIR OUT_DIR [--threads N] [--no-probabilities]
        nnUNetPredictor on the CPU, tile_step_size 0.5, Gaussian weighting, no mirroring (the
        comparison's --mirror case calls predict() with it), the probabilities saved unless --no-probabilities (OUT_DIR/case.nii.gz, case.npz); prints
        the predictor's seconds.

How the predictor is set up, and why: nnUNetPredictor.manual_initialization with the network
that nnU-Net's own get_network_from_plans builds from plans.json and the checkpoint's
network_weights, instead of initialize_from_trained_model_folder, whose trainer-class lookup
imports nnU-Net's whole training stack (batchgeneratorsv2, the losses, the data loaders, every
trainer variant). Debian 12's torch (1.13) has no torch._dynamo, from which nnunetv2 imports
OptimizedModule only for isinstance checks around torch.compile; an empty stand-in class is
registered when it is missing (torch.compile itself is never called: nnUNet_compile is unset).
"""
import argparse
import importlib
import json
import os
import sys
import time
import types

import numpy as np
import torch

PLAIN = "dynamic_network_architectures.architectures.unet.PlainConvUNet"


def import_nnunet():
    """nnunetv2's predictor and helpers, or an ImportError naming what is missing."""
    try:
        importlib.import_module("torch._dynamo")  # torch >= 2.0
    except ImportError:
        stub = types.ModuleType("torch._dynamo")

        class OptimizedModule(torch.nn.Module):  # never instantiated: isinstance checks only
            pass
        stub.OptimizedModule = OptimizedModule
        sys.modules["torch._dynamo"] = stub
        torch._dynamo = stub
    os.environ.setdefault("nnUNet_raw", "/nonexistent/nnUNet_raw")  # silences nnunetv2.paths
    os.environ.setdefault("nnUNet_preprocessed", "/nonexistent/nnUNet_preprocessed")
    os.environ.setdefault("nnUNet_results", "/nonexistent/nnUNet_results")
    from nnunetv2.inference.predict_from_raw_data import nnUNetPredictor
    from nnunetv2.inference.sliding_window_prediction import (compute_gaussian,
                                                              compute_steps_for_sliding_window)
    from nnunetv2.utilities.get_network_from_plans import get_network_from_plans
    from nnunetv2.utilities.plans_handling.plans_handler import PlansManager
    return types.SimpleNamespace(nnUNetPredictor=nnUNetPredictor, PlansManager=PlansManager,
                                 get_network_from_plans=get_network_from_plans,
                                 compute_gaussian=compute_gaussian,
                                 compute_steps_for_sliding_window=compute_steps_for_sliding_window)


def preset(name, bench_patch=128, bench_size=160):
    """(configuration, arch_kwargs, patch, spacing [z, y, x], image size [z, y, x], labels,
    normalization) of a preset. Image sizes are chosen so that nnU-Net's window starts
    (np.round, half to even) and useg's (llround, half away from zero) are the same: no start
    falls on .5 (docs/interop.md)."""
    labels3 = {"background": 0, "organ": 1, "lesion": 2}
    if name == "test3d":
        kw = dict(n_stages=4, features_per_stage=[8, 16, 32, 64],
                  conv_op="torch.nn.modules.conv.Conv3d",
                  kernel_sizes=[[1, 3, 3], [3, 3, 3], [3, 3, 3], [3, 3, 3]],
                  strides=[[1, 1, 1], [1, 2, 2], [2, 2, 2], [2, 2, 2]],
                  n_conv_per_stage=[2, 2, 2, 2], n_conv_per_stage_decoder=[2, 2, 2])
        return "3d_fullres", kw, [16, 32, 32], [2.0, 0.8, 0.8], [37, 71, 58], labels3, "CTNormalization"
    if name == "test2d":
        kw = dict(n_stages=4, features_per_stage=[8, 16, 32, 64],
                  conv_op="torch.nn.modules.conv.Conv2d",
                  kernel_sizes=[[3, 3]] * 4, strides=[[1, 1], [2, 2], [2, 2], [2, 2]],
                  n_conv_per_stage=[2, 2, 2, 2], n_conv_per_stage_decoder=[2, 2, 2])
        return "2d", kw, [32, 32], [0.8, 0.8], [6, 71, 58], labels3, "ZScoreNormalization"
    if name == "bench":  # nnU-Net's usual isotropic 3d_fullres: 6 stages, 32 base features
        kw = dict(n_stages=6, features_per_stage=[32, 64, 128, 256, 320, 320],
                  conv_op="torch.nn.modules.conv.Conv3d",
                  kernel_sizes=[[3, 3, 3]] * 6, strides=[[1, 1, 1]] + [[2, 2, 2]] * 5,
                  n_conv_per_stage=[2] * 6, n_conv_per_stage_decoder=[2] * 5)
        p, s = bench_patch, bench_size
        return "3d_fullres", kw, [p] * 3, [1.0, 1.0, 1.0], [s] * 3, labels3, "ZScoreNormalization"
    raise ValueError(name)


def full_kwargs(kw):
    dims = 2 if kw["conv_op"].endswith("Conv2d") else 3
    return dict(kw, conv_bias=True,
                norm_op=f"torch.nn.modules.instancenorm.InstanceNorm{dims}d",
                norm_op_kwargs={"eps": 1e-05, "affine": True}, dropout_op=None,
                dropout_op_kwargs=None, nonlin="torch.nn.LeakyReLU",
                nonlin_kwargs={"inplace": True})


def make_plans(config, kw, patch, spacing, normalization):
    resampling = {"is_seg": False, "order": 3, "order_z": 0, "force_separate_z": None}
    conf = {"data_identifier": f"nnUNetPlans_{config}", "preprocessor_name": "DefaultPreprocessor",
            "batch_size": 2, "patch_size": patch, "median_image_size_in_voxels": patch,
            "spacing": spacing, "normalization_schemes": [normalization],
            "use_mask_for_norm": [False],
            "resampling_fn_data": "resample_data_or_seg_to_shape",
            "resampling_fn_seg": "resample_data_or_seg_to_shape",
            "resampling_fn_data_kwargs": resampling,
            "resampling_fn_seg_kwargs": dict(resampling, is_seg=True, order=1),
            "resampling_fn_probabilities": "resample_data_or_seg_to_shape",
            "resampling_fn_probabilities_kwargs": dict(resampling, order=1),
            "architecture": {"network_class_name": PLAIN, "arch_kwargs": full_kwargs(kw),
                             "_kw_requires_import": ["conv_op", "norm_op", "dropout_op", "nonlin"]},
            "batch_dice": True}
    return {"dataset_name": "Dataset998_Predict", "plans_name": "nnUNetPlans",
            "original_median_spacing_after_transp": [2.0, 0.8, 0.8],
            "original_median_shape_after_transp": [37, 71, 58],
            "image_reader_writer": "SimpleITKIO", "transpose_forward": [0, 1, 2],
            "transpose_backward": [0, 1, 2], "configurations": {config: conf},
            "experiment_planner_used": "ExperimentPlanner", "label_manager": "LabelManager",
            "foreground_intensity_properties_per_channel": {
                "0": {"max": 3000.0, "mean": 80.5, "median": 75.0, "min": -1024.0,
                      "percentile_00_5": -150.0, "percentile_99_5": 400.0, "std": 60.25}}}


def make_image(size, seed):
    """(image, labels): a float32 volume [z, y, x]: many soft ellipsoids of different intensities (radius 2 to 7
    voxels in-plane) spread over the whole image, on a gentle gradient, plus noise; values from
    about -300 to 700 (CT-like, so CTNormalization clips) and never exactly 0 (nnU-Net crops to
    the nonzero box: here that box is the whole image). The texture is the same everywhere, so
    that every window sees similar statistics, as a trained network's windows see similar
    anatomy: a random network's prediction then depends on the neighbourhood of a voxel more
    than on where the window lies. The labels (for --train-steps): 1 inside bright ellipsoids
    (amplitude over 150), 2 inside dark ones (under -100), else 0."""
    rng = np.random.default_rng(seed)
    lab = np.zeros(size, np.int64)
    grid = np.meshgrid(*[np.arange(n, dtype=np.float64) for n in size], indexing="ij")
    img = 0.4 * grid[2] + 0.2 * grid[1]
    n_blobs = max(8, int(np.prod(size) / 600))
    for _ in range(n_blobs):
        c = [rng.uniform(0, n) for n in size]
        r = [rng.uniform(1.0, 3.0), rng.uniform(2.0, 7.0), rng.uniform(2.0, 7.0)]
        box = tuple(slice(max(0, int(ci - 2 * ri)), min(n, int(ci + 2 * ri) + 1))
                    for ci, ri, n in zip(c, r, size))
        d = sum(((g[box] - ci) / ri) ** 2 for g, ci, ri in zip(grid, c, r))
        amp = rng.uniform(-300, 500)
        img[box] += amp * 0.5 * (1.0 - np.tanh(3.0 * (d - 1.0)))  # soft edge
        if amp > 150 or amp < -100:
            lab[box][d < 1.0] = 1 if amp > 0 else 2
    img += rng.normal(0, 25.0, size)
    img = img.astype(np.float32)
    img[img == 0] = 1.0
    return img, lab


def normalize(img, scheme, props):
    x = img.astype(np.float64)
    if scheme == "CTNormalization":
        x = (np.clip(x, props["percentile_00_5"], props["percentile_99_5"]) - props["mean"]) / props["std"]
    else:
        x = (x - x.mean()) / max(x.std(), 1e-8)
    return x.astype(np.float32)


def balance_head(net, volume, patch, dims):
    """Scales the full-resolution head so that the logits spread (std ~3 between classes) and
    centres each class's logit on a central window, so that every class wins somewhere."""
    c = [max(0, (s - p) // 2) for s, p in zip(volume.shape[-dims:], patch)]
    sl = tuple(slice(a, a + p) for a, p in zip(c, patch))
    if dims == 2:
        x = torch.from_numpy(volume[volume.shape[0] // 2][sl][None, None])
    else:
        x = torch.from_numpy(volume[sl][None, None])
    head = net.decoder.seg_layers[-1]
    with torch.no_grad():
        out = net(x)
        logits = (out[0] if isinstance(out, (list, tuple)) else out)[0]
        spread = (logits - logits.mean(0, keepdim=True)).std().item()
        head.weight.mul_(3.0 / max(spread, 1e-6))
        head.bias.mul_(3.0 / max(spread, 1e-6))
        out = net(x)
        logits = (out[0] if isinstance(out, (list, tuple)) else out)[0]
        head.bias.sub_(logits.flatten(1).median(1).values)


def train(net, vol, lab, patch, dims, steps, seed):
    """`steps` Adam steps (batch 2, random crops, cross-entropy on the full-resolution output) on
    a volume of its own, so that the network predicts like a trained one: confident, and about
    the same in every window that sees a voxel."""
    rng = np.random.default_rng(seed)
    opt = torch.optim.Adam(net.parameters(), lr=3e-3)
    net.train()
    for _ in range(steps):
        xs, ys = [], []
        for _ in range(2):
            z = rng.integers(0, vol.shape[0]) if dims == 2 else None
            v, l = (vol[z], lab[z]) if dims == 2 else (vol, lab)
            c = [rng.integers(0, n - p + 1) for n, p in zip(v.shape, patch)]
            sl = tuple(slice(a, a + p) for a, p in zip(c, patch))
            xs.append(torch.from_numpy(np.ascontiguousarray(v[sl]))[None])
            ys.append(torch.from_numpy(np.ascontiguousarray(l[sl])))
        opt.zero_grad()
        out = net(torch.stack(xs))
        loss = torch.nn.functional.cross_entropy(out[0] if isinstance(out, (list, tuple)) else out,
                                                 torch.stack(ys))
        loss.backward()
        opt.step()
    net.eval()
    return float(loss)


def make(out, name, bench_patch, bench_size, train_steps=0):
    import SimpleITK as sitk
    nn = import_nnunet()
    config, kw, patch, spacing, size, labels, norm = preset(name, bench_patch, bench_size)
    dims = len(patch)
    torch.manual_seed(20 if name == "test2d" else 21)
    plans = make_plans(config, kw, patch, spacing, norm)
    arch = plans["configurations"][config]["architecture"]
    net = nn.get_network_from_plans(arch["network_class_name"], arch["arch_kwargs"],
                                    arch["_kw_requires_import"], 1, len(labels),
                                    allow_init=True, deep_supervision=True).eval()
    with torch.no_grad():  # instance-norm affines that are not the identity, as the fixture does
        for pname, p in net.named_parameters():
            if ".norm." in pname:
                p.add_(torch.randn_like(p) * 0.3)
    img, _ = make_image(size, seed=5 if name == "test2d" else 6)
    props = plans["foreground_intensity_properties_per_channel"]["0"]
    if train_steps > 0:
        timg, tlab = make_image([max(8, size[0])] + size[1:], seed=105)
        loss = train(net, normalize(timg, norm, props), tlab, patch, dims, train_steps, seed=7)
        print(f"nnunet_predict: trained {train_steps} steps, last loss {loss:.3f}", file=sys.stderr)
    else:
        balance_head(net, normalize(img, norm, props), patch, dims)
    dataset = {"channel_names": {"0": "CT" if norm == "CTNormalization" else "MR"},
               "labels": labels, "numTraining": 10, "file_ending": ".nii.gz"}
    folder = os.path.join(out, "nnUNet_results", "Dataset998_Predict",
                          f"nnUNetTrainer__nnUNetPlans__{config}")
    os.makedirs(os.path.join(folder, "fold_0"), exist_ok=True)
    for fname, obj in (("plans.json", plans), ("dataset.json", dataset),
                       ("dataset_fingerprint.json",
                        {"spacings": [spacing], "shapes_after_crop": [size]})):
        with open(os.path.join(folder, fname), "w") as f:
            json.dump(obj, f, indent=4)
    torch.save({"network_weights": net.state_dict(), "optimizer_state": {},
                "grad_scaler_state": None, "logging": {}, "_best_ema": 0.5, "current_epoch": 1000,
                "init_args": {"plans": plans, "configuration": config, "fold": 0,
                              "dataset_json": dataset, "unpack_dataset": True},
                "trainer_name": "nnUNetTrainer",
                "inference_allowed_mirroring_axes": list(range(dims))},
               os.path.join(folder, "fold_0", "checkpoint_final.pth"))
    image = sitk.GetImageFromArray(img)
    xyz = list(reversed(spacing)) if dims == 3 else [spacing[1], spacing[0], 2.0]
    image.SetSpacing(xyz)
    image.SetOrigin((12.5, -40.25, 7.0))
    a = np.deg2rad(20.0)  # a rotation about z, then a small one about x
    rz = np.array([[np.cos(a), -np.sin(a), 0], [np.sin(a), np.cos(a), 0], [0, 0, 1]])
    b = np.deg2rad(10.0)
    rx = np.array([[1, 0, 0], [0, np.cos(b), -np.sin(b)], [0, np.sin(b), np.cos(b)]])
    image.SetDirection(tuple((rz @ rx).flatten()))
    os.makedirs(os.path.join(out, "images"), exist_ok=True)
    sitk.WriteImage(image, os.path.join(out, "images", "case_0000.nii.gz"))
    print(folder)


def load_predictor(folder, nn, mirroring=False):
    """nnUNetPredictor for fold 0 of `folder` (see the module's docstring for why manually);
    `mirroring`: test-time mirroring over the checkpoint's inference_allowed_mirroring_axes."""
    from batchgenerators.utilities.file_and_folder_operations import load_json
    predictor = nn.nnUNetPredictor(tile_step_size=0.5, use_gaussian=True, use_mirroring=mirroring,
                                   perform_everything_on_device=False, device=torch.device("cpu"),
                                   verbose=False, verbose_preprocessing=False, allow_tqdm=False)
    dataset_json = load_json(os.path.join(folder, "dataset.json"))
    plans_manager = nn.PlansManager(os.path.join(folder, "plans.json"))
    ckpt = torch.load(os.path.join(folder, "fold_0", "checkpoint_final.pth"),
                      map_location="cpu", weights_only=False)
    config = plans_manager.get_configuration(ckpt["init_args"]["configuration"])
    label_manager = plans_manager.get_label_manager(dataset_json)
    net = nn.get_network_from_plans(config.network_arch_class_name, config.network_arch_init_kwargs,
                                    config.network_arch_init_kwargs_req_import,
                                    len(dataset_json["channel_names"]),
                                    label_manager.num_segmentation_heads, allow_init=False,
                                    deep_supervision=False)
    net.load_state_dict(ckpt["network_weights"])
    predictor.manual_initialization(net, plans_manager, config, [ckpt["network_weights"]],
                                    dataset_json, ckpt["trainer_name"],
                                    ckpt.get("inference_allowed_mirroring_axes"))
    return predictor


def predict(folder, images, out, threads, probabilities=True, mirroring=False):
    torch.set_num_threads(threads)
    os.environ["nnUNet_def_n_proc"] = str(threads)  # export and preprocessing threads too
    nn = import_nnunet()
    t0 = time.perf_counter()
    predictor = load_predictor(folder, nn, mirroring)
    t1 = time.perf_counter()
    cases = sorted(f[:-len("_0000.nii.gz")] for f in os.listdir(images) if f.endswith("_0000.nii.gz"))
    os.makedirs(out, exist_ok=True)
    predictor.predict_from_files_sequential(
        [[os.path.join(images, c + "_0000.nii.gz")] for c in cases],
        [os.path.join(out, c) for c in cases], save_probabilities=probabilities, overwrite=True,
        folder_with_segs_from_prev_stage=None)
    t2 = time.perf_counter()
    print(f"nnunet_predict: load {t1 - t0:.3f} s, predict+export {t2 - t1:.3f} s", flush=True)
    return predictor


def main():
    ap = argparse.ArgumentParser()
    sub = ap.add_subparsers(dest="cmd", required=True)
    m = sub.add_parser("make")
    m.add_argument("out")
    m.add_argument("preset", choices=["test3d", "test2d", "bench"])
    m.add_argument("--bench-patch", type=int, default=128)
    m.add_argument("--bench-size", type=int, default=160)
    m.add_argument("--train-steps", type=int, default=0,
                   help="train the network this many steps (0: random weights, head balanced)")
    p = sub.add_parser("predict")
    p.add_argument("folder")
    p.add_argument("images")
    p.add_argument("out")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--no-probabilities", action="store_true", help="write the labels only")
    a = ap.parse_args()
    if a.cmd == "make":
        make(a.out, a.preset, a.bench_patch, a.bench_size, a.train_steps)
    else:
        predict(a.folder, a.images, a.out, a.threads, not a.no_probabilities)


if __name__ == "__main__":
    main()

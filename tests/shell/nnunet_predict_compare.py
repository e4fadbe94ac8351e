#!/usr/bin/env python3
"""nnU-Net v2's own predictor against `useg segment` on a model imported with
`useg import-nnunet`, on a whole image (tests/shell/test_nnunet_predictor.sh).

    nnunet_predict_compare.py USEG WORK {test3d,test2d} [--train-steps N] [--threads N] [--mirror]
        [--min-agreement A] [--min-dice M] [--max-prob-diff D] [--max-mean-prob-diff E]
        [--max-rule-diff R] [--max-nnunet-rule-diff S] [--json FILE]

scripts/nnunet_predict.py makes the trained folder (a PlainConvUNet in nnU-Net v2's layout,
random or trained --train-steps on generated ellipsoids) and the image; useg imports the folder
and segments the image with --save-probabilities --overlap 0.5 --no-tta; nnUNetPredictor predicts
it (CPU, tile step 0.5, Gaussian, no mirroring, probabilities saved). With --mirror both mirror
as their defaults do for this model: useg without --no-tta (the import set inference.tta from the
checkpoint's mirroring axes, all of them; its report must say tta true), nnU-Net with
use_mirroring=True. Compared, on the input's grid:

  - geometry: both label images have the input's size, spacing, origin and direction (1e-6);
  - nnU-Net vs useg: the largest difference of any class probability (<= D) and the mean one
    (<= E), the share of voxels with the same label (>= A), each class's Dice between the two
    segmentations (>= M), and every class holding at least 2% of the voxels in both (a
    near-constant segmentation would agree trivially); each side's labels are the argmax of its
    probabilities;
  - the blending rules, recomputed here from the PyTorch network's logits on every window of
    the normalized image: useg's rule (softmax probabilities averaged with its Gaussian at its
    window starts) must give useg's probabilities within R, and nnU-Net's (logits averaged with
    compute_gaussian in float16, as nnU-Net 2.8.1 does on the CPU too) nnU-Net's within S; with
    --mirror each window's prediction is first the mean over every flip of its spatial axes
    (flipped back), of the probabilities for useg, of the logits for nnU-Net. The
    share of each difference between the rules (float16, the Gaussian's centre, logits against
    probabilities) is reported, so the difference between the predictors is shown to come from
    the rules (docs/interop.md), not from the import or the window placement.

Exits 1 naming what failed; prints the figures (and writes them to --json).
"""
import argparse
import itertools
import json
import os
import subprocess
import sys

import numpy as np
import torch

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "scripts"))
import nnunet_predict as npred  # noqa: E402


def useg_starts(size, patch, overlap=0.5):
    """useg's window starts (src/infer/sliding_window.cpp window_starts): like nnU-Net's, but
    rounded half away from zero (llround) where nnU-Net's np.round rounds half to even."""
    if size <= patch:
        return [-((patch - size) // 2)]
    step = max(1.0, patch * (1.0 - overlap))
    n = int(np.ceil((size - patch) / step)) + 1
    actual = (size - patch) / (n - 1)
    return [int(np.floor(actual * i + 0.5)) for i in range(n)]


def useg_gaussian(patch, sigma_scale=1.0 / 8):
    """useg's importance map (gaussian_importance): centred at (p - 1) / 2, sigma p / 8."""
    g = np.ones(patch)
    for a, p in enumerate(patch):
        i = np.arange(p, dtype=np.float64)
        f = np.exp(-0.5 * ((i - (p - 1) / 2.0) / (p * sigma_scale)) ** 2)
        shape = [1] * len(patch)
        shape[a] = p
        g = g * f.reshape(shape)
    return g / g.max()


def softmax(x, axis=0):
    e = np.exp(x - x.max(axis=axis, keepdims=True))
    return e / e.sum(axis=axis, keepdims=True)


def mirrored_logits(net, x, mirror):
    """The network's logits [K, *patch] for the window x [1, 1, *patch]; with `mirror`, a list:
    the plain logits and those of x flipped along each non-empty subset of its spatial axes,
    flipped back (nnU-Net's order of the subsets)."""
    with torch.no_grad():
        out = [net(x)[0].float()]
        if mirror:
            axes = list(range(2, x.dim()))
            for n in range(1, len(axes) + 1):
                for c in itertools.combinations(axes, n):
                    out.append(torch.flip(net(torch.flip(x, c)), c)[0].float())
    return out


def window_logits(net, vol, patch, starts, cache, mirror=False):
    """[(z or None, slices, [logits [K, *patch] float32, ...])] of the windows at `starts` (one
    list per patch axis; a 2D patch runs on each z slice), in nnU-Net's order, one logits per
    mirroring (mirrored_logits); `cache` keeps them."""
    dims = len(patch)
    grids = np.stack(np.meshgrid(*starts, indexing="ij"), -1).reshape(-1, dims)
    out = []
    for z in (range(vol.shape[0]) if dims == 2 else [None]):
        img = vol[z] if dims == 2 else vol
        for pos in grids:
            sl = tuple(slice(int(s), int(s) + p) for s, p in zip(pos, patch))
            key = (z, *pos.tolist())
            if key not in cache:
                x = torch.from_numpy(np.ascontiguousarray(img[sl]))[None, None]
                cache[key] = mirrored_logits(net, x, mirror)
            out.append(((z,) + sl if dims == 2 else sl, cache[key]))
    return out


def blend(windows, shape, weight, rule):
    """Whole-volume probabilities [K, z, y, x] from the window logits, weighted by `weight`:
    'probabilities' averages softmax probabilities in float64 (useg); 'logits' averages logits
    in float64, then softmax (nnU-Net v2's rule, exactly); 'logits_fp16' does that with nnU-Net's
    arithmetic: weighted logits summed into a float16 array, the weights into another, one
    float16 division (nnU-Net 2.8.1 does this on the CPU too). A window with several mirrorings
    contributes their mean: of the softmax probabilities (useg), of the logits in float32
    (nnU-Net: summed in its order, then divided)."""
    K = windows[0][1][0].shape[0]

    def mean_logits(ls):
        s = ls[0].clone()
        for m in ls[1:]:
            s += m
        return s / len(ls)

    if rule == "logits_fp16":
        acc = torch.zeros((K,) + shape, dtype=torch.half)
        wsum = torch.zeros(shape, dtype=torch.half)
        w = torch.as_tensor(weight).half()
        for sl, ls in windows:
            acc[(slice(None),) + sl] += mean_logits(ls) * w
            wsum[sl] += w
        torch.div(acc, wsum, out=acc)
        return softmax(acc.double().numpy())
    acc = np.zeros((K,) + shape)
    wsum = np.zeros(shape)
    for sl, ls in windows:
        if rule == "probabilities":
            x = np.mean([softmax(m.double().numpy()) for m in ls], axis=0)
        else:
            x = mean_logits(ls).double().numpy()
        acc[(slice(None),) + sl] += x * weight
        wsum[sl] += weight
    acc /= wsum
    return acc if rule == "probabilities" else softmax(acc)


def read(path):
    import SimpleITK as sitk
    return sitk.ReadImage(path)


def geometry(img):
    return {"size": list(img.GetSize()), "spacing": list(img.GetSpacing()),
            "origin": list(img.GetOrigin()), "direction": list(img.GetDirection())}


def geometry_diff(a, b):
    if a["size"] != b["size"]:
        return float("inf")
    return max(float(np.max(np.abs(np.subtract(a[k], b[k])))) for k in ("spacing", "origin", "direction"))


def run(cmd, env=None):
    r = subprocess.run(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    if r.returncode != 0:
        sys.exit(f"FAIL: {' '.join(cmd)} exited {r.returncode}:\n{r.stdout}")
    return r.stdout


def main():
    import SimpleITK as sitk
    ap = argparse.ArgumentParser()
    ap.add_argument("useg")
    ap.add_argument("work")
    ap.add_argument("preset", choices=["test3d", "test2d"])
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--train-steps", type=int, default=0,
                    help="train the network first (scripts/nnunet_predict.py make --train-steps)")
    ap.add_argument("--min-agreement", type=float, default=0.995)
    ap.add_argument("--max-prob-diff", type=float, default=0.5)
    ap.add_argument("--max-mean-prob-diff", type=float, default=0.01)
    ap.add_argument("--min-dice", type=float, default=0.98)
    ap.add_argument("--max-rule-diff", type=float, default=1e-4)
    ap.add_argument("--max-nnunet-rule-diff", type=float, default=1e-3)
    ap.add_argument("--mirror", action="store_true",
                    help="both predictors mirror (useg by the imported model's default)")
    ap.add_argument("--json")
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    work = os.path.abspath(a.work)
    failures = []

    folder = run([sys.executable, npred.__file__, "make", work, a.preset, "--train-steps",
                  str(a.train_steps)]).strip().splitlines()[-1]
    images = os.path.join(work, "images")
    model = os.path.join(work, "useg_model")
    env = dict(os.environ, USEG_PYTHON=sys.executable)
    run([a.useg, "import-nnunet", folder, "--output", model], env)
    useg_out = os.path.join(work, "useg_out")
    run([a.useg, "segment", "--model", model, "--input", os.path.join(images, "case_0000.nii.gz"),
         "--output", useg_out, "--save-probabilities", "--overlap", "0.5",
         "--threads", str(a.threads)] + ([] if a.mirror else ["--no-tta"]))
    with open(os.path.join(useg_out, "report.json")) as f:
        tta = json.load(f)["tta"]
    if tta != a.mirror:
        failures.append(f"useg's report says tta {tta}, expected {a.mirror}")
    nn_out = os.path.join(work, "nnunet_out")
    predictor = npred.predict(folder, images, nn_out, a.threads, mirroring=a.mirror)

    src = read(os.path.join(images, "case_0000.nii.gz"))
    seg_nn_img = read(os.path.join(nn_out, "case.nii.gz"))
    seg_us_img = read(os.path.join(useg_out, "case.nii.gz"))
    g_in = geometry(src)
    geo = {"nnunet": geometry_diff(g_in, geometry(seg_nn_img)),
           "useg": geometry_diff(g_in, geometry(seg_us_img))}
    for who, d in geo.items():
        if not d <= 1e-6:
            failures.append(f"{who}'s labels do not have the input's geometry (max difference {d})")

    labels = predictor.label_manager.all_labels
    K = len(labels)
    p_nn = np.load(os.path.join(nn_out, "case.npz"))["probabilities"].astype(np.float64)
    p_us = np.stack([sitk.GetArrayFromImage(read(os.path.join(useg_out, f"case_prob_{k}.nii.gz")))
                     for k in range(K)]).astype(np.float64)
    seg_nn = sitk.GetArrayFromImage(seg_nn_img).astype(np.int64)
    seg_us = sitk.GetArrayFromImage(seg_us_img).astype(np.int64)
    if p_nn.shape != p_us.shape or seg_nn.shape != seg_us.shape:
        sys.exit(f"FAIL: shapes differ: nnU-Net {p_nn.shape} {seg_nn.shape}, useg {p_us.shape} {seg_us.shape}")
    n = seg_nn.size
    res = {"preset": a.preset, "train_steps": a.train_steps, "mirror": a.mirror, "image_size_zyx": list(seg_nn.shape), "classes": K,
           "geometry_max_diff": geo,
           "max_abs_prob_diff": float(np.max(np.abs(p_nn - p_us))),
           "mean_abs_prob_diff": float(np.mean(np.abs(p_nn - p_us))),
           "argmax_agreement": float(np.mean(seg_nn == seg_us)),
           "dice": {}, "fraction_nnunet": {}, "fraction_useg": {}}
    for k in range(K):
        a_k, b_k = seg_nn == k, seg_us == k
        res["dice"][k] = float(2 * np.sum(a_k & b_k) / max(1, a_k.sum() + b_k.sum()))
        res["fraction_nnunet"][k] = float(a_k.sum() / n)
        res["fraction_useg"][k] = float(b_k.sum() / n)
        if min(res["fraction_nnunet"][k], res["fraction_useg"][k]) < 0.02:
            failures.append(f"class {k} holds under 2% of the voxels: the comparison is degenerate")
    if not np.array_equal(np.argmax(p_nn, 0), seg_nn):
        failures.append("nnU-Net's labels are not the argmax of its probabilities")
    if not np.array_equal(np.argmax(p_us, 0), seg_us):
        failures.append("useg's labels are not the argmax of its probabilities")

    # The two rules, recomputed from the network's window logits.
    nn = npred.import_nnunet()
    cm = predictor.configuration_manager
    patch = list(cm.patch_size)
    dims = len(patch)
    img = sitk.GetArrayFromImage(src)
    props = predictor.plans_manager.foreground_intensity_properties_per_channel["0"]
    vol = npred.normalize(img, cm.normalization_schemes[0], props)
    spatial = vol.shape[-dims:]
    st_nn = nn.compute_steps_for_sliding_window(spatial, patch, 0.5)
    st_us = [useg_starts(s, p) for s, p in zip(spatial, patch)]
    res["window_starts_nnunet"] = st_nn
    res["window_starts_useg"] = st_us
    if st_nn != st_us:
        failures.append(f"the window starts differ (nnU-Net {st_nn}, useg {st_us}): pick an image "
                        "size without .5 ties (docs/interop.md)")
    net = predictor.network.eval()
    cache = {}
    w_nn = window_logits(net, vol, patch, st_nn, cache, a.mirror)
    w_us = window_logits(net, vol, patch, st_us, cache, a.mirror)
    g_nn = nn.compute_gaussian(tuple(patch), sigma_scale=1.0 / 8, value_scaling_factor=10,
                               dtype=torch.float32, device=torch.device("cpu")).numpy().astype(np.float64)
    g_us = useg_gaussian(patch)
    r_us = blend(w_us, vol.shape, g_us, "probabilities")
    g_nn16 = nn.compute_gaussian(tuple(patch), sigma_scale=1.0 / 8, value_scaling_factor=10,
                                 dtype=torch.float16, device=torch.device("cpu"))
    r_nn16 = blend(w_nn, vol.shape, g_nn16, "logits_fp16")
    r_nn = blend(w_nn, vol.shape, g_nn, "logits")
    r_mix = blend(w_nn, vol.shape, g_us, "logits")  # nnU-Net's rule with useg's Gaussian
    res["useg_vs_useg_rule"] = float(np.max(np.abs(p_us - r_us)))
    res["nnunet_vs_nnunet_rule"] = float(np.max(np.abs(p_nn - r_nn16)))
    res["effect_fp16_accumulation"] = float(np.max(np.abs(r_nn16 - r_nn)))
    res["effect_gaussian_centre"] = float(np.max(np.abs(r_mix - r_nn)))
    res["effect_logit_vs_probability_averaging"] = float(np.max(np.abs(r_mix - r_us)))
    res["rules_fp64_max_abs_prob_diff"] = float(np.max(np.abs(r_us - r_nn)))
    res["rules_fp64_argmax_agreement"] = float(np.mean(np.argmax(r_us, 0) == np.argmax(r_nn, 0)))
    res["windows_per_slice" if dims == 2 else "windows"] = int(np.prod([len(s) for s in st_nn]))

    if res["useg_vs_useg_rule"] > a.max_rule_diff:
        failures.append(f"useg's probabilities differ from its rule recomputed on the network's "
                        f"logits by {res['useg_vs_useg_rule']:.3g} > {a.max_rule_diff}")
    if res["nnunet_vs_nnunet_rule"] > a.max_nnunet_rule_diff:
        failures.append(f"nnU-Net's probabilities differ from its rule recomputed here by "
                        f"{res['nnunet_vs_nnunet_rule']:.3g} > {a.max_nnunet_rule_diff}")
    if res["max_abs_prob_diff"] > a.max_prob_diff:
        failures.append(f"max probability difference {res['max_abs_prob_diff']:.3g} > {a.max_prob_diff}")
    if res["mean_abs_prob_diff"] > a.max_mean_prob_diff:
        failures.append(f"mean probability difference {res['mean_abs_prob_diff']:.3g} > {a.max_mean_prob_diff}")
    worst = min(res["dice"].values())
    if worst < a.min_dice:
        failures.append(f"smallest class Dice {worst:.4f} < {a.min_dice}")
    if res["argmax_agreement"] < a.min_agreement:
        failures.append(f"label agreement {res['argmax_agreement']:.6f} < {a.min_agreement}")
    print(json.dumps(res, indent=1))
    if a.json:
        with open(a.json, "w") as f:
            json.dump(res, f, indent=1)
    for f in failures:
        print("FAIL:", f, file=sys.stderr)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())

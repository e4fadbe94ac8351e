#!/usr/bin/env bash
# A venv of Debian's python3 that sees the system site packages (Debian's torch and numpy,
# python3-torch) with, from PyPI and without their dependencies:
#  1. dynamic-network-architectures (nnU-Net v2's network classes, pure Python) for the nnU-Net
#     import test (tests/unit/test_nnunet_import.cpp: tests/shell/nnunet_fixture.py builds
#     PlainConvUNets and ResidualEncoderUNets with it, and the test compares their logits with
#     useg's);
#  2. nnunetv2 and what its predictor imports (nnUNetPredictor: preprocessing, sliding window,
#     export), for the whole-image comparison with `useg segment` and the benchmark
#     (tests/shell/test_nnunet_predictor.sh, scripts/nnunet_predict.py,
#     scripts/bench_nnunet_predictor.sh). The list was found by importing the predictor until
#     nothing was missing; pandas, scikit-image and SimpleITK are real dependencies of its
#     resampling and image I/O modules, blosc2 2.x (nnU-Net's dataset format, never used in
#     prediction) is the last series that imports with Debian 12's numpy 1.24. pip never
#     replaces Debian's torch, numpy or scipy (--no-deps; they come from the system).
# Idempotent: does nothing when VENV already imports both; the first time about 10 s and some
# 60 MB of downloads (SimpleITK is most of it, 264 MB unpacked). Offline (or without torch), it
# warns and returns 0: the tests that need a part are then SKIPPED with the reason, and a failure
# of part 2 leaves part 1 (the import test) working.
#   scripts/setup-nnunet-venv.sh [VENV]      (default: build/nnunet-venv; scripts/test.sh runs it)
set -uo pipefail
cd "$(dirname "$0")/.."
venv=${1:-build/nnunet-venv}
version=0.4.4
nnunet_pkgs=(nnunetv2==2.8.1 acvl-utils==0.2.6 batchgenerators==0.25.5 SimpleITK==2.5.7
  tqdm==4.70.1 blosc2==2.5.1 msgpack==1.2.4 ndindex==1.10.1 py-cpuinfo==9.0.0
  pandas==2.2.3 pytz==2026.6 tzdata==2026.6 python-dateutil six
  scikit-image==0.24.0 lazy-loader==0.6 packaging==26.4 tifffile==2024.8.30 nibabel==5.3.2)
check='import torch, numpy, dynamic_network_architectures.architectures.unet'
# scripts/nnunet_predict.py's import_nnunet(): the predictor with its torch-1.13 stand-in.
check_nnunet="import sys; sys.path.insert(0, 'scripts'); import nnunet_predict; nnunet_predict.import_nnunet()"
pip_install() { timeout 600 "$venv/bin/pip" install -q --disable-pip-version-check --no-deps "$@"; }

if ! { [ -x "$venv/bin/python" ] && "$venv/bin/python" -c "$check" 2>/dev/null; }; then
  if ! /usr/bin/python3 -c 'import torch, numpy' 2>/dev/null; then
    echo "setup-nnunet-venv: WARNING: /usr/bin/python3 has no torch/numpy (apt-get install python3-torch python3-numpy); the nnU-Net import and predictor tests will be skipped" >&2
    exit 0
  fi
  if ! /usr/bin/python3 -m venv --system-site-packages "$venv" >/dev/null 2>&1; then
    echo "setup-nnunet-venv: WARNING: /usr/bin/python3 -m venv failed (python3-venv missing?); the nnU-Net import and predictor tests will be skipped" >&2
    exit 0
  fi
  if ! pip_install "dynamic-network-architectures==$version"; then
    echo "setup-nnunet-venv: WARNING: pip install dynamic-network-architectures failed (offline?); the nnU-Net import and predictor tests will be skipped" >&2
    exit 0
  fi
  echo "setup-nnunet-venv: installed dynamic-network-architectures $version into $venv"
else
  echo "setup-nnunet-venv: $venv has dynamic-network-architectures"
fi

if "$venv/bin/python" -c "$check_nnunet" >/dev/null 2>&1; then
  echo "setup-nnunet-venv: $venv has nnunetv2's predictor"
  exit 0
fi
start=$(date +%s)
if ! pip_install "${nnunet_pkgs[@]}"; then
  echo "setup-nnunet-venv: WARNING: pip install nnunetv2 and its predictor's dependencies failed (offline?); the nnU-Net predictor comparison will be skipped" >&2
  exit 0
fi
if ! err=$("$venv/bin/python" -c "$check_nnunet" 2>&1); then
  echo "setup-nnunet-venv: WARNING: nnunetv2's predictor does not import: $(tail -n1 <<<"$err"); the nnU-Net predictor comparison will be skipped" >&2
  exit 0
fi
echo "setup-nnunet-venv: installed nnunetv2 2.8.1 and its predictor's dependencies into $venv ($(($(date +%s) - start)) s)"

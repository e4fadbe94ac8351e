#!/usr/bin/env bash
# dynamic-network-architectures (nnU-Net v2's network classes, pure Python) for the nnU-Net
# import test (tests/unit/test_nnunet_import.cpp: tests/shell/nnunet_fixture.py builds
# PlainConvUNets and ResidualEncoderUNets with it, and the test compares their logits with
# useg's): a venv of Debian's python3 that sees the system site packages (Debian's
# torch and numpy, python3-torch) with the package installed from PyPI without its dependencies.
# Idempotent: does nothing when VENV already imports it; the first time a few seconds and some
# 100 kB. Offline (or without torch), it warns and returns 0: the test is then SKIPPED with the
# reason.
#   scripts/setup-nnunet-venv.sh [VENV]      (default: build/nnunet-venv; scripts/test.sh runs it)
set -uo pipefail
cd "$(dirname "$0")/.."
venv=${1:-build/nnunet-venv}
version=0.4.4
check='import torch, numpy, dynamic_network_architectures.architectures.unet'
if [ -x "$venv/bin/python" ] && "$venv/bin/python" -c "$check" 2>/dev/null; then
  echo "setup-nnunet-venv: $venv has dynamic-network-architectures"
  exit 0
fi
if ! /usr/bin/python3 -c 'import torch, numpy' 2>/dev/null; then
  echo "setup-nnunet-venv: WARNING: /usr/bin/python3 has no torch/numpy (apt-get install python3-torch python3-numpy); the nnU-Net import test will be skipped" >&2
  exit 0
fi
if ! /usr/bin/python3 -m venv --system-site-packages "$venv" >/dev/null 2>&1; then
  echo "setup-nnunet-venv: WARNING: /usr/bin/python3 -m venv failed (python3-venv missing?); the nnU-Net import test will be skipped" >&2
  exit 0
fi
if ! timeout 600 "$venv/bin/pip" install -q --disable-pip-version-check --no-deps \
    "dynamic-network-architectures==$version"; then
  echo "setup-nnunet-venv: WARNING: pip install dynamic-network-architectures failed (offline?); the nnU-Net import test will be skipped" >&2
  exit 0
fi
echo "setup-nnunet-venv: installed dynamic-network-architectures $version into $venv"

#!/usr/bin/env bash
# ONNX Runtime for the ONNX export tests (tests/unit/test_onnx_export.cpp runs
# scripts/onnx_check.py with VENV/bin/python): a venv of Debian's python3 with onnxruntime (and
# numpy, its dependency) from PyPI. Idempotent: does nothing when VENV already imports
# onnxruntime; the first time about 40 s and some 40 MB of wheels (180 MB installed). Offline,
# it warns and returns 0: the tests that need it are then SKIPPED with the reason.
#   scripts/setup-onnx-venv.sh [VENV]        (default: build/onnx-venv; scripts/test.sh runs it)
set -uo pipefail
cd "$(dirname "$0")/.."
venv=${1:-build/onnx-venv}
if [ -x "$venv/bin/python" ] && "$venv/bin/python" -c "import onnxruntime, numpy" 2>/dev/null; then
  echo "setup-onnx-venv: $venv has onnxruntime $("$venv/bin/python" -c 'import onnxruntime; print(onnxruntime.__version__)')"
  exit 0
fi
if ! /usr/bin/python3 -m venv "$venv" >/dev/null 2>&1; then
  echo "setup-onnx-venv: WARNING: /usr/bin/python3 -m venv failed (python3-venv missing?); ONNX Runtime tests will be skipped" >&2
  exit 0
fi
if ! timeout 600 "$venv/bin/pip" install -q --disable-pip-version-check onnxruntime; then
  echo "setup-onnx-venv: WARNING: pip install onnxruntime failed (offline?); ONNX Runtime tests will be skipped" >&2
  exit 0
fi
echo "setup-onnx-venv: installed onnxruntime $("$venv/bin/python" -c 'import onnxruntime; print(onnxruntime.__version__)') into $venv"

#!/usr/bin/env bash
# The test command (README.md and .ci/run call exactly this): installs dependencies, configures,
# builds (scripts/build.sh, as the Docker build stages do), and runs the whole suite through ctest,
# which includes the shell tests of tests/shell/: the Slurm and Kubernetes scripts run for real,
# and the Dockerfile's scripts in their non-root modes (docker_scripts).
#   BUILD_DIR   build folder (default: build)
#   JOBS        parallel build jobs (default: number of cores)
# Where nvcc exists it also configures and builds a USEG_WITH_CUDA=ON tree ($BUILD_DIR-cuda) and
# runs its CUDA tests there: SKIPPED with the reason on a machine without a GPU, executed on one.
# scripts/setup-onnx-venv.sh puts ONNX Runtime (PyPI) into $BUILD_DIR/onnx-venv once, for the
# ONNX export tests (docs/interop.md); offline they are SKIPPED with the reason.
# scripts/setup-nnunet-venv.sh puts dynamic-network-architectures and nnunetv2's predictor (PyPI,
# over Debian's torch) into $BUILD_DIR/nnunet-venv once, for the nnU-Net import test and the
# comparison with nnU-Net's own predictor; offline they are SKIPPED with the reason.
# Last, scripts/ci-reliability.sh builds a clang ASan+UBSan tree of the parsers and runs their
# unit tests and each fuzz target briefly (docs/reliability.md); USEG_CI_RELIABILITY=0 skips it.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
build=${BUILD_DIR:-build}
jobs=${JOBS:-$(nproc)}

scripts/install-deps.sh

BUILD_DIR=$build JOBS=$jobs USEG_WITH_CUDA=OFF USEG_BUILD_TESTS=ON scripts/build.sh
# ONNX Runtime (PyPI) for the ONNX export tests, once; offline, those tests are SKIPPED.
scripts/setup-onnx-venv.sh "$build/onnx-venv"
scripts/setup-nnunet-venv.sh "$build/nnunet-venv"
echo "== unit tests"
cat "$build/cudacpu_status.txt" 2>/dev/null || true
(cd "$build" && ctest --output-on-failure -j "$jobs")

if [ -x /usr/local/cuda/bin/nvcc ] || command -v nvcc >/dev/null; then
  BUILD_DIR=$build-cuda JOBS=$jobs USEG_WITH_CUDA=ON USEG_BUILD_TESTS=ON scripts/build.sh
  echo "== CUDA tests ($build-cuda)"
  (cd "$build-cuda" && ctest --output-on-failure -j "$jobs" -R '[Cc][Uu][Dd][Aa]')
else
  echo "== nvcc not found: CUDA build SKIPPED"
fi

scripts/ci-reliability.sh   # sanitizer subset + short fuzz runs (docs/reliability.md)
echo "== all tests passed"

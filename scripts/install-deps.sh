#!/usr/bin/env bash
# Installs what useg needs to build and test, from the distribution's apt only (Debian 12; the
# Docker CUDA stage runs it on Ubuntu 24.04). Idempotent: packages that are already installed are
# not touched, and apt-get update runs only when something is missing.
#   scripts/install-deps.sh              build + test packages
#   scripts/install-deps.sh --build-only only what building useg needs (the Docker build stages)
#   scripts/install-deps.sh --check      install nothing; fail unless every package name is known
#                                        to apt (any user; scripts/test.sh runs it)
set -euo pipefail
build_only=0
check=0
for a in "$@"; do
  case $a in
    --build-only) build_only=1 ;;
    --check) check=1 ;;
    *) echo "install-deps: unknown option '$a' (valid: --build-only, --check)" >&2; exit 2 ;;
  esac
done

pkgs=(
  build-essential cmake pkg-config
  libdnnl-dev            # oneDNN: the CPU backend's convolutions and pooling
  nlohmann-json3-dev     # configs, model.json, safetensors headers
  libinsighttoolkit5-dev libfftw3-dev   # image I/O and filters (ITK's CMake config wants FFTW)
  libcli11-dev           # command-line parsing
  libcairo2-dev          # plots and preview images
  libpng-dev             # PNG headers checked before ITK reads them (src/io/png_check.cpp)
  libonnx-dev libprotobuf-dev  # useg export --format onnx (optional: USEG_WITH_ONNX; docs/interop.md)
  libopenmpi-dev         # MPI: data-parallel training over processes (src/dist/, docs/cluster.md);
                         # optional for CMake, but a build without it refuses to run under mpirun
)
if [ "$build_only" = 0 ]; then
  pkgs+=(
    git python3
    libgtest-dev         # tests
    mricron-data         # a real MRI volume (Colin27) used by tests
    clang libclang-rt-14-dev  # ASan/UBSan + libFuzzer tree (scripts/ci-reliability.sh, fuzz.sh)
    patchelf xz-utils    # scripts/bundle.sh: the bundle's RPATHs, its .tar.xz (tests/shell/test_bundle.sh)
    python3-sklearn      # real 8x8 digits for the classification test (tests/shell/test_classify_digits.sh,
                         # scripts/make_digits.py); pulls in numpy and scipy (scripts/make_clump_dataset.py)
    python3-venv         # scripts/setup-onnx-venv.sh: ONNX Runtime from PyPI for the ONNX export tests
    openmpi-bin          # mpirun: the multi-process training test (tests/shell/test_mpi_train.sh)
    slurmd slurmctld slurm-client munge  # a private one-node Slurm for srun --mpi=pmix and
                         # train-multi.sbatch (tests/shell/test_slurm_mpi.sh)
    python3-torch python3-numpy python3-pil  # PyTorch 1.13 for the nnU-Net import and predictor
                         # tests (scripts/setup-nnunet-venv.sh: nnunetv2 imports PIL), golden
                         # files and the peer benchmarks; ~45 s to install without recommends
  )
fi

if [ "$check" = 1 ]; then
  # One apt-cache call for all names (one per name is slow): the names it shows are known.
  known=$(apt-cache --no-all-versions show "${pkgs[@]}" 2>/dev/null | sed -n 's/^Package: //p' | sort -u)
  unknown=()
  for p in "${pkgs[@]}"; do
    grep -qx "$p" <<<"$known" || unknown+=("$p")
  done
  if [ ${#unknown[@]} -gt 0 ]; then
    echo "install-deps: --check: not known to apt: ${unknown[*]}" >&2
    exit 1
  fi
  echo "install-deps: --check: all ${#pkgs[@]} package names known to apt"
  exit 0
fi

missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -eq 0 ]; then
  echo "install-deps: all ${#pkgs[@]} packages present"
  exit 0
fi
SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"
echo "install-deps: installing ${missing[*]}"
$SUDO apt-get update -qq
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"

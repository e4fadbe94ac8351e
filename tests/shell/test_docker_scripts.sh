#!/usr/bin/env bash
# What can be checked of the Docker images without a Docker engine: the Dockerfile's stages and
# user, that every RUN step calls a script of this repository, and the non-root parts of those
# scripts run for real — install-deps.sh --check (build and test package names known to apt),
# runtime-packages.sh on the built useg, install-runtime.sh --check on its output (names known,
# set installable: apt-get simulation). scripts/build.sh is what scripts/test.sh builds with.
#   tests/shell/test_docker_scripts.sh PATH/TO/useg        (ctest: docker_scripts)
set -euo pipefail
useg=$(realpath "${1:?usage: $0 PATH/TO/useg}")
root=$(cd "$(dirname "$0")/../.." && pwd)
df="$root/Dockerfile"
work=$(mktemp -d "${TMPDIR:-/tmp}/useg_test_docker.XXXXXX")
trap 'rm -rf "$work"' EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }

# Stages: build-cpu -> cpu, build-cuda -> cuda; the last (default) target is the CUDA image.
stages=$(sed -n 's/^FROM .* AS \([a-z-]*\)$/\1/p' "$df" | tr '\n' ' ')
[ "$stages" = "build-cpu cpu build-cuda cuda " ] || fail "Dockerfile stages: '$stages'"
grep -q '^ARG CPU_IMAGE=debian:bookworm-slim$' "$df" || fail "the cpu target is not built from debian:bookworm-slim"
grep -q '^ARG CUDA_DEVEL_IMAGE=nvidia/cuda:13[.0-9]*-cudnn-devel-ubuntu' "$df" || fail "no CUDA 13 cudnn-devel build image"
grep -q '^ARG CUDA_RUNTIME_IMAGE=nvidia/cuda:13[.0-9]*-cudnn-runtime-ubuntu' "$df" || fail "no CUDA 13 cudnn-runtime image"
[ "$(grep -c '^ENTRYPOINT \["useg"\]$' "$df")" -eq 2 ] || fail "both images need ENTRYPOINT [\"useg\"]"
[ "$(grep -c '^USER useg$' "$df")" -eq 2 ] || fail "both images must run as the user useg"

# Every RUN step runs one of our scripts, and that script exists and is executable.
n=0
while read -r line; do
  script=$(grep -o '\(scripts\|/opt/useg\)/[a-z-]*\.sh' <<<"$line" | head -n1) ||
    fail "RUN step without a script of scripts/: $line"
  [ -x "$root/scripts/$(basename "$script")" ] || fail "RUN step calls $script, not an executable in scripts/"
  n=$((n + 1))
done < <(grep '^RUN ' "$df")
[ "$n" -ge 6 ] || fail "only $n RUN steps found"
# Every COPY source from the build context exists; the shipped model is complete.
while read -r src; do
  [ -e "$root/$src" ] || fail "COPY source $src does not exist"
done < <(grep '^COPY ' "$df" | grep -v -- '--from' | awk '{print $2}' | grep -v '^\.$')
[ -f "$root/models/nuclei2d/model.json" ] && [ -f "$root/models/nuclei2d/weights.safetensors" ] ||
  fail "models/nuclei2d is incomplete"
grep -qx 'build\*' "$root/.dockerignore" && grep -qx 'data' "$root/.dockerignore" ||
  fail ".dockerignore must keep build folders and data out of the context"

# The Kubernetes job runs as the image's user.
uid=$(grep -o 'useradd --uid [0-9]*' "$root/scripts/install-runtime.sh" | awk '{print $3}')
grep -q "runAsUser: $uid," "$root/deploy/k8s/segment-job.yaml" || fail "deploy/k8s/segment-job.yaml does not run as uid $uid"
grep -q "runAsUser: $uid," "$root/deploy/k8s/train-folds-job.yaml" || fail "deploy/k8s/train-folds-job.yaml does not run as uid $uid"
grep -q "runAsUser: $uid," "$root/deploy/k8s/train-mpijob.yaml" || fail "deploy/k8s/train-mpijob.yaml's launcher does not run as uid $uid"
grep -q "sshAuthMountPath: /home/useg/.ssh" "$root/deploy/k8s/train-mpijob.yaml" || fail "train-mpijob.yaml: the keys are not mounted in useg's home"

# The scripts' non-root parts, for real.
"$root/scripts/install-deps.sh" --check
"$root/scripts/install-deps.sh" --build-only --check
"$root/scripts/runtime-packages.sh" "$useg" >"$work/runtime-packages.txt"
for lib in libc6 libgomp1 libcairo2; do
  grep -qx "$lib" "$work/runtime-packages.txt" || fail "runtime packages lack $lib: $(tr '\n' ' ' <"$work/runtime-packages.txt")"
done
grep -q '^libdnnl' "$work/runtime-packages.txt" || fail "runtime packages lack oneDNN"
grep -q '^libinsighttoolkit' "$work/runtime-packages.txt" || fail "runtime packages lack ITK"
if grep -q -- '-dev$' "$work/runtime-packages.txt"; then fail "a -dev package in the runtime list"; fi
# A useg built with MPI: the image carries mpirun and ssh, to launch ranks on other pods.
if ldd "$useg" | grep -q 'libmpi\.so'; then
  for p in libopenmpi3 openmpi-bin openssh-client openssh-server; do
    grep -qx "$p" "$work/runtime-packages.txt" || fail "useg links MPI, but the runtime packages lack $p"
  done
fi
"$root/scripts/install-runtime.sh" --check "$work/runtime-packages.txt"
echo "bogus-package-name-xyz" >>"$work/runtime-packages.txt"
if "$root/scripts/install-runtime.sh" --check "$work/runtime-packages.txt" 2>"$work/err"; then
  fail "install-runtime.sh --check accepted an unknown package"
fi
grep -q "bogus-package-name-xyz" "$work/err" || fail "the --check error does not name the unknown package"
echo "PASS"

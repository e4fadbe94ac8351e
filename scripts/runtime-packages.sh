#!/usr/bin/env bash
# Prints the distribution packages (one per line, sorted) that hold the shared libraries a built
# binary needs — the list the Docker runtime stage installs (scripts/install-runtime.sh), derived
# from the binary itself so that it is right on Debian and Ubuntu alike. Runs as any user.
#   scripts/runtime-packages.sh build/useg > runtime-packages.txt
set -euo pipefail
bin=${1:?usage: scripts/runtime-packages.sh BINARY}
[ -x "$bin" ] || { echo "runtime-packages: $bin is not an executable file" >&2; exit 2; }

out=$(ldd "$bin")
if grep -q "not found" <<<"$out"; then
  echo "runtime-packages: $bin needs libraries that are not installed:" >&2
  grep "not found" <<<"$out" >&2
  exit 1
fi
mapfile -t libs < <(awk '$2 == "=>" && $3 ~ /^\// {print $3} $1 ~ /^\// {print $1}' <<<"$out" | sort -u)
# dpkg knows each file under one spelling only (/lib or /usr/lib, a symlink or its target):
# ask for all spellings of all libraries in one call (one call per file is slow).
candidates() {
  local p=$1 real
  real=$(readlink -f "$p")
  printf '%s\n' "$p" "$real" "/usr$p" "/usr$real" "${p#/usr}" "${real#/usr}"
}
mapfile -t all < <(for l in "${libs[@]}"; do candidates "$l"; done | sort -u)
owners=$(dpkg-query -S "${all[@]}" 2>/dev/null || true)   # lines "pkg[:arch]: /path"
pkgs=()
for l in "${libs[@]}"; do
  pkg=""
  while read -r c; do
    pkg=$(awk -v f="$c" '{ p = $0; sub(/^[^ ]*: /, "", p) } p == f { sub(/:.*/, "", $1); print $1; exit }' <<<"$owners")
    [ -n "$pkg" ] && break
  done < <(candidates "$l")
  [ -n "$pkg" ] || { echo "runtime-packages: no package owns $l (built or copied by hand?)" >&2; exit 1; }
  pkgs+=("$pkg")
done
# A useg built with MPI trains data-parallel: the image also gets Open MPI's launcher and ssh, with
# which mpirun starts the ranks of other pods or nodes (deploy/k8s/train-mpijob.yaml).
if printf '%s\n' "${libs[@]}" | grep -q '/libmpi\.so'; then
  pkgs+=(openmpi-bin openssh-client openssh-server)
fi
printf '%s\n' "${pkgs[@]}" | sort -u

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
owner() {  # the package owning a library path; dpkg knows each file under one spelling only
  local p=$1 real cand
  real=$(readlink -f "$p")
  for cand in "$p" "$real" "/usr$p" "/usr$real" "${p#/usr}" "${real#/usr}"; do
    if dpkg-query -S "$cand" 2>/dev/null | head -n1 | cut -d: -f1; then return 0; fi
  done
  echo "runtime-packages: no package owns $p (built or copied by hand?)" >&2
  return 1
}
pkgs=()
while read -r lib; do
  pkgs+=("$(owner "$lib")")
done < <(awk '$2 == "=>" && $3 ~ /^\// {print $3} $1 ~ /^\// {print $1}' <<<"$out" | sort -u)
printf '%s\n' "${pkgs[@]}" | sort -u

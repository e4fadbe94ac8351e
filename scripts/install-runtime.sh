#!/usr/bin/env bash
# The Docker runtime stage's RUN step: installs the packages a built useg needs to run (the list
# scripts/runtime-packages.sh writes), with no recommends and no apt lists left behind, and
# creates the unprivileged user `useg` (uid 10001) the image runs as.
#   scripts/install-runtime.sh PACKAGE_LIST            (as root, in the image)
#   scripts/install-runtime.sh --check PACKAGE_LIST    (any user: every name must be a known
#       package and apt-get must be able to install the set — simulated; scripts/test.sh runs this)
set -euo pipefail
check=0
if [ "${1:-}" = "--check" ]; then check=1; shift; fi
list=${1:?usage: scripts/install-runtime.sh [--check] PACKAGE_LIST}
mapfile -t pkgs < <(grep -v '^[[:space:]]*\(#\|$\)' "$list")
[ ${#pkgs[@]} -gt 0 ] || { echo "install-runtime: $list lists no packages" >&2; exit 1; }

if [ "$check" = 1 ]; then
  names=("${pkgs[@]%%:*}")
  known=$(apt-cache --no-all-versions show "${names[@]}" 2>/dev/null | sed -n 's/^Package: //p' | sort -u)
  bad=()
  for p in "${names[@]}"; do
    grep -qx "$p" <<<"$known" || bad+=("$p")
  done
  if [ ${#bad[@]} -gt 0 ]; then
    echo "install-runtime: unknown package(s) in $list: ${bad[*]}" >&2
    exit 1
  fi
  # Simulation only (no root needed): fails on conflicts or unsatisfiable dependencies.
  apt-get install -s -qq --no-install-recommends "${pkgs[@]}" >/dev/null
  echo "install-runtime: --check: ${#pkgs[@]} packages known and installable: ${pkgs[*]}"
  exit 0
fi

[ "$(id -u)" -eq 0 ] || { echo "install-runtime: run as root (it is a Docker build step); --check needs no root" >&2; exit 1; }
echo "install-runtime: installing ${#pkgs[@]} packages"
apt-get update -qq
DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${pkgs[@]}"
rm -rf /var/lib/apt/lists/*
if ! id useg >/dev/null 2>&1; then
  useradd --uid 10001 --create-home --shell /usr/sbin/nologin useg
fi
# An image that launches MPI ranks over ssh (runtime-packages.sh adds openssh-server with MPI):
# mpirun logs in as useg and runs a command, so useg gets a shell and an unlocked password field
# (no password; key login only); sshd gets its run folder, and accepts the keys the MPI
# Operator mounts (a Secret's files are not the user's: StrictModes off). Pods are the hosts.
if dpkg-query -W -f='${Status}' openssh-server 2>/dev/null | grep -q 'ok installed'; then
  usermod --shell /bin/bash --password '*' useg
  mkdir -p /run/sshd
  printf 'StrictModes no\nPasswordAuthentication no\n' >/etc/ssh/sshd_config.d/useg-mpi.conf
  printf 'Host *\n  StrictHostKeyChecking no\n  UserKnownHostsFile /dev/null\n' \
    >/etc/ssh/ssh_config.d/useg-mpi.conf
  echo "install-runtime: ssh set up for MPI launches (user useg may log in with a key)"
fi
echo "install-runtime: done; user useg ($(id -u useg))"

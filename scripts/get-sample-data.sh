#!/usr/bin/env bash
# Fetches the sample data of the demo and of the default model into data/sample/ (not committed):
#
#   data/sample/nuclei/img2d.tif    a real fluorescence nuclei image, 512x512 uint16, from the
#   data/sample/nuclei/mask2d.tif   2018 Data Science Bowl (stage 1 training set), with its
#                                   instance mask; shipped by StarDist in its PyPI wheel
#                                   (stardist 0.9.2, stardist/data/images/, BSD-3-Clause)
#
# Idempotent and offline once fetched: files already present with the expected SHA-256 are kept.
# Needs python3 with pip (Debian: python3-pip; installed here if missing). Usage:
#   scripts/get-sample-data.sh [DEST]        (default DEST: data/sample)
set -euo pipefail
cd "$(dirname "$0")/.."
dest=${1:-data/sample}
nuclei="$dest/nuclei"

declare -A sha=(
  [img2d.tif]=f9ccc1571b92c861ff87e28463068b43f61bd47357ed0503f711e5cd1eb97750
  [mask2d.tif]=59ad5e820b7982ca9d13e946fa6e7f64e2714899e00a2ae6c69aa79aad53d46f
)

have_all() {
  local f
  for f in "${!sha[@]}"; do
    [ -f "$nuclei/$f" ] || return 1
    echo "${sha[$f]}  $nuclei/$f" | sha256sum --quiet -c - 2>/dev/null || return 1
  done
}

if have_all; then
  echo "get-sample-data: $nuclei already holds img2d.tif and mask2d.tif (checksums match)"
  exit 0
fi

if ! python3 -m pip --version >/dev/null 2>&1; then
  echo "get-sample-data: python3 -m pip not found; installing python3-pip from apt"
  SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO=sudo
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends python3-pip
fi

mkdir -p "$nuclei"
tmp=$(mktemp -d "$dest/.download.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
echo "get-sample-data: downloading the stardist 0.9.2 wheel from PyPI (3 MB, data files only are kept)"
# Any platform's wheel holds the same data files; naming one makes pip never build from source.
python3 -m pip download --quiet --no-deps --only-binary=:all: --implementation cp \
  --python-version 3.11 --platform manylinux_2_28_x86_64 stardist==0.9.2 -d "$tmp"
python3 - "$tmp" "$nuclei" <<'EOF'
import glob, os, sys, zipfile
tmp, out = sys.argv[1], sys.argv[2]
wheel = glob.glob(os.path.join(tmp, "stardist-0.9.2-*.whl"))[0]
with zipfile.ZipFile(wheel) as z:
    for name in ("img2d.tif", "mask2d.tif"):
        data = z.read("stardist/data/images/" + name)
        part = os.path.join(out, "." + name + ".part")
        with open(part, "wb") as f:
            f.write(data)
        os.replace(part, os.path.join(out, name))
EOF
if ! have_all; then
  echo "get-sample-data: error: the files extracted to $nuclei do not have the expected SHA-256" >&2
  exit 1
fi
echo "get-sample-data: wrote $nuclei/img2d.tif and $nuclei/mask2d.tif"

#!/usr/bin/env bash
# The installed C++ package: `cmake --install BUILD --prefix P` into a fresh prefix, then
# examples/segment_one configured with find_package(useg) against P only (CMAKE_PREFIX_PATH=P),
# built, and run on a small generated MetaImage with a model from P/bin/useg init; the labels
# it writes must have the input's size, spacing, origin and direction.
#   tests/shell/test_install_package.sh BUILD_DIR        (ctest: install_package)
set -euo pipefail
build=$(realpath "${1:?usage: $0 BUILD_DIR}")
root=$(cd "$(dirname "$0")/../.." && pwd)
work=$(mktemp -d "${TMPDIR:-/tmp}/useg_test_install.XXXXXX")
trap 'rm -rf "$work"' EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }

prefix=$work/prefix
cmake --install "$build" --prefix "$prefix" >"$work/install.log" || { cat "$work/install.log"; fail "cmake --install"; }
for f in bin/useg lib/libuseg_lib.a include/useg/segment.h lib/cmake/useg/useg-config.cmake \
         lib/cmake/useg/useg-config-version.cmake lib/cmake/useg/useg-targets.cmake; do
  [ -e "$prefix/$f" ] || fail "$prefix/$f not installed"
done

# The example sees the prefix and nothing of the build tree. ccache where the build uses it.
launcher=()
cache=$(grep -s '^CMAKE_CXX_COMPILER_LAUNCHER:' "$build/CMakeCache.txt" | cut -d= -f2- || true)
[ -n "$cache" ] && launcher=(-DCMAKE_CXX_COMPILER_LAUNCHER="$cache")
cmake -S "$root/examples/segment_one" -B "$work/example" -DCMAKE_BUILD_TYPE=Release \
  -DCMAKE_PREFIX_PATH="$prefix" "${launcher[@]}" >"$work/configure.log" 2>&1 \
  || { cat "$work/configure.log"; fail "configuring examples/segment_one against $prefix"; }
grep -q "useg_DIR:PATH=$prefix/lib/cmake/useg" "$work/example/CMakeCache.txt" \
  || fail "find_package(useg) did not take the installed package: $(grep useg_DIR "$work/example/CMakeCache.txt")"
cmake --build "$work/example" -j "${JOBS:-2}" >"$work/build.log" 2>&1 \
  || { cat "$work/build.log"; fail "building examples/segment_one"; }

# A 2D image with non-trivial geometry (40 x 24, anisotropic spacing, offset, rotated axes).
hdr='ObjectType = Image
NDims = 2
DimSize = 40 24
ElementSpacing = 0.5 0.25
Offset = 12.5 -3
TransformMatrix = 0 1 -1 0
ElementType = MET_UCHAR
ElementDataFile = LOCAL'
printf '%s\n' "$hdr" >"$work/img.mha"
head -c $((40 * 24)) /dev/urandom >>"$work/img.mha"
"$prefix/bin/useg" init --config "$root/configs/tiny2d_test.json" --output "$work/model" >/dev/null

"$work/example/segment_one" "$work/model" "$work/img.mha" "$work/labels.mha" \
  || fail "segment_one exited with $?"
[ -f "$work/labels.mha" ] || fail "no labels written"
for key in NDims DimSize ElementSpacing Offset TransformMatrix; do
  want=$(grep -a "^$key = " "$work/img.mha" | awk -F' = ' '{print $2}')
  got=$(grep -a "^$key = " "$work/labels.mha" | awk -F' = ' '{print $2}')
  # Compare numerically: the writer may print 12.5 as 12.5 and 0 as 0 or -0.
  python3 - "$key" "$want" "$got" <<'PY' || fail "$key: input '$want', labels '$got'"
import sys
k, a, b = sys.argv[1], sys.argv[2].split(), sys.argv[3].split()
ok = len(a) == len(b) and all(abs(float(x) - float(y)) <= 1e-6 * max(1, abs(float(x))) for x, y in zip(a, b))
sys.exit(0 if ok else 1)
PY
done
grep -aq '^ElementType = MET_UCHAR' "$work/labels.mha" || fail "labels are not uint8: $(grep -a ElementType "$work/labels.mha")"
echo "install_package: installed, built the example against $prefix and segmented a 40x24 image; geometry kept"

#!/usr/bin/env bash
# The CPU bundle of scripts/bundle.sh, packed from the tree ctest runs in (no rebuild), unpacked
# and run as on a machine without ITK or oneDNN:
#   - layout, MANIFEST, and a DT_RPATH of $ORIGIN/../lib (binaries) / $ORIGIN (libraries);
#   - ldd without LD_LIBRARY_PATH: every library of every bundled file resolves inside the
#     bundle, except the target's own (glibc, libstdc++, libgcc_s, zlib);
#   - a real `useg segment` of a generated nuclei image (MetaImage with non-unit spacing and an
#     offset) under LD_DEBUG=libs: every library the loader initialized came from the bundle or
#     that system set (dlopen included); with a broken libdnnl.so.2 first in LD_LIBRARY_PATH it
#     still runs (the caller's environment never swaps a bundled library); the labels keep the
#     input's geometry, equal the build tree's output byte for byte, and score Dice >= 0.8
#     against the generated truth (the bundled `useg eval`);
#   - the bundled useg_tests finds its data through USEG_TEST_DATA / USEG_SOURCE_DIR /
#     USEG_BINARY (tests/common/test_paths.h), and fails when they point elsewhere.
#   tests/shell/test_bundle.sh BUILD_DIR BUNDLE_OUT_DIR      (ctest: bundle)
# BUNDLE_OUT_DIR keeps the archive for ctest's gpu_check_script (tests/shell/test_gpu_check.sh).
set -euo pipefail
build=$(realpath "${1:?usage: $0 BUILD_DIR BUNDLE_OUT_DIR}")
bdir=${2:?usage: $0 BUILD_DIR BUNDLE_OUT_DIR}
root=$(cd "$(dirname "$0")/../.." && pwd)
work=$(mktemp -d "${TMPDIR:-/tmp}/useg_test_bundle.XXXXXX")
trap 'rm -rf "$work"' EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }
system_libs='^(linux-vdso|ld-linux-x86-64|libc|libm|libmvec|libpthread|libdl|librt|libresolv|libutil|libanl|libstdc\+\+|libgcc_s|libz)\.so'

# ---- pack the built tree (xz -1: CI time; the preset only changes the size)
rm -rf "$bdir"
t0=$(date +%s)
XZ_LEVEL=1 BUILD_DIR=$build "$root/scripts/bundle.sh" cpu "$bdir" --no-build >"$work/bundle.log" 2>&1 ||
  { cat "$work/bundle.log"; fail "scripts/bundle.sh cpu --no-build failed"; }
grep '^bundle: ' "$work/bundle.log"
echo "packed in $(($(date +%s) - t0)) s"
archives=("$bdir"/useg-cpu-*.tar.xz)
{ [ ${#archives[@]} = 1 ] && [ -f "${archives[0]}" ]; } || fail "expected one useg-cpu-*.tar.xz in $bdir: ${archives[*]}"

# ---- unpack; layout and manifest
mkdir "$work/u"
tar -C "$work/u" -xJf "${archives[0]}"
b=$(readlink -f "$(echo "$work"/u/useg-cpu-*)")
[ -d "$b" ] || fail "the archive holds no useg-cpu-* folder"
for f in bin/useg bin/useg_tests bin/useg_bench_ops; do [ -x "$b/$f" ] || fail "bundle lacks $f"; done
for f in MANIFEST share/useg/models/nuclei2d/weights.safetensors share/useg/configs/unet2d_nuclei.json \
  share/useg/tests/data/golden share/useg/scripts/gpu-check.sh share/useg/scripts/gpu-bench-cases.txt \
  share/useg/scripts/torch_gpu_bench.py share/useg/scripts/torch_unet.py share/useg/docs/gpu.md; do
  [ -e "$b/$f" ] || fail "bundle lacks $f"
done
grep -qx 'variant: cpu' "$b/MANIFEST" || fail "MANIFEST: no 'variant: cpu'"
grep -q "^git_revision: $(git -C "$root" rev-parse HEAD 2>/dev/null || echo unknown)\$" "$b/MANIFEST" ||
  fail "MANIFEST: git_revision is not HEAD"
for key in git_dirty build_date build_host cuda_archs cudnn_built_against; do
  grep -q "^$key: ." "$b/MANIFEST" || fail "MANIFEST lacks $key"
done
# Every library is listed with its size, and the list is exactly lib/.
listed=$(sed -n '/^libs:/,$p' "$b/MANIFEST" | tail -n +2 | awk '{print $1}' | sort)
bundled=$(find "$b/lib" -mindepth 1 -printf '%f\n' | sort)
[ "$listed" = "$bundled" ] || fail "MANIFEST libs differ from lib/"
while read -r name size; do
  [ "$(stat -c %s "$b/lib/$name")" = "$size" ] || fail "MANIFEST size of $name is not its size"
done < <(sed -n '/^libs:/,$p' "$b/MANIFEST" | tail -n +2)
grep -q '^libdnnl\.so' <<<"$bundled" || fail "oneDNN is not bundled"
grep -q '^libITKCommon' <<<"$bundled" || fail "ITK is not bundled"
if grep -E "$system_libs" <<<"$bundled"; then fail "a system library (above) was bundled"; fi
dyn=$(readelf -d "$b/bin/useg")
# shellcheck disable=SC2016  # a literal $ORIGIN
grep -q 'Library rpath: \[\$ORIGIN/../lib\]' <<<"$dyn" || fail "bin/useg has no RPATH \$ORIGIN/../lib"
if grep -q RUNPATH <<<"$dyn"; then fail "bin/useg has a RUNPATH (LD_LIBRARY_PATH would win over it)"; fi
# shellcheck disable=SC2016
grep -q 'Library rpath: \[\$ORIGIN\]' <<<"$(readelf -d "$b/lib/libdnnl.so.2")" || fail "lib/libdnnl.so.2 has no RPATH \$ORIGIN"
if grep -q '\.symtab' <<<"$(readelf -S "$b/bin/useg")"; then fail "bin/useg is not stripped"; fi

# ---- ldd: everything resolves inside the bundle or to the system set
n=0
for f in "$b"/bin/* "$b"/lib/*; do
  while read -r soname arrow path _; do
    [ "$arrow" = "=>" ] || continue
    n=$((n + 1))
    case $(readlink -f "$path") in
      "$b"/lib/*) ;;
      *) [[ $soname =~ $system_libs ]] || fail "$(basename "$f"): $soname resolves to $path, outside the bundle" ;;
    esac
  done < <(env -u LD_LIBRARY_PATH ldd "$f")
done
[ "$n" -gt 50 ] || fail "ldd resolved only $n libraries: the check saw nothing"
echo "ldd: $n resolutions checked"

# ---- a real segmentation, as the target machine would run it
python3 - "$root/scripts" "$work/in" <<'EOF'
# A 160x160 synthetic nuclei image (scripts/make_demo_nuclei.py) and its labels as MetaImage,
# spacing 0.5 x 0.75 mm, origin (12.5, -3): geometry a PNG cannot carry.
import os, random, sys
sys.path.insert(0, sys.argv[1])
from make_demo_nuclei import make_case
out = sys.argv[2]
os.makedirs(out + "/img"); os.makedirs(out + "/ref")
rows, lab = make_case(160, random.Random(5))
for path, data in ((out + "/img/cells.mha", rows), (out + "/ref/cells.mha", lab)):
    with open(path, "wb") as f:
        f.write(b"ObjectType = Image\nNDims = 2\nBinaryData = True\nBinaryDataByteOrderMSB = False\n"
                b"CompressedData = False\nTransformMatrix = 1 0 0 1\nOffset = 12.5 -3\n"
                b"ElementSpacing = 0.5 0.75\nDimSize = 160 160\nElementType = MET_UCHAR\n"
                b"ElementDataFile = LOCAL\n" + b"".join(bytes(r) for r in data))
EOF
mkdir "$work/evil"
: >"$work/evil/libdnnl.so.2"   # an empty "library": loading it would fail
LD_DEBUG=libs LD_DEBUG_OUTPUT=$work/ld LD_LIBRARY_PATH=$work/evil "$b/bin/useg" segment \
  --model "$b/share/useg/models/nuclei2d" --input "$work/in/img" --output "$work/seg" --format same \
  --threads 1 >"$work/seg.log" 2>&1 || { cat "$work/seg.log"; fail "the bundled useg segment failed"; }
[ -s "$work/seg/cells.mha" ] || fail "the bundled useg segment wrote no cells.mha"
inits=$(cat "$work"/ld.* | sed -n 's/.*calling init: //p' | xargs -r readlink -f | sort -u)
grep -q "^$b/lib/libdnnl.so.2\$" <<<"$inits" || fail "LD_DEBUG shows no libdnnl.so.2 from the bundle: $inits"
grep -q "^$b/lib/libITKCommon" <<<"$inits" || fail "LD_DEBUG shows no ITK library from the bundle"
while read -r lib; do
  case $lib in
    "$b"/lib/*) ;;
    *) [[ $(basename "$lib") =~ $system_libs ]] || fail "useg segment loaded $lib from outside the bundle" ;;
  esac
done <<<"$inits"
echo "LD_DEBUG: $(wc -l <<<"$inits") libraries initialized, $(grep -c "^$b/lib/" <<<"$inits") of them from the bundle"
# Geometry: the label image has the input's size, spacing, origin and direction.
python3 - "$work/in/img/cells.mha" "$work/seg/cells.mha" <<'EOF'
import sys
def header(path):
    h = {}
    for line in open(path, "rb").read().split(b"ElementDataFile")[0].decode().splitlines():
        if "=" in line:
            k, v = (s.strip() for s in line.split("=", 1))
            h[k] = v
    return h
a, b = header(sys.argv[1]), header(sys.argv[2])
for k in ("NDims", "DimSize", "ElementSpacing", "Offset", "TransformMatrix"):
    va, vb = [float(x) for x in a[k].split()], [float(x) for x in b.get(k, "nan").split()]
    if va != vb:
        sys.exit(f"FAIL: output {k} = {b.get(k)}, input {a[k]}")
print("geometry kept:", {k: b[k] for k in ("DimSize", "ElementSpacing", "Offset")})
EOF
# The same labels as the build tree's useg, byte for byte.
"$build/useg" segment --model "$root/models/nuclei2d" --input "$work/in/img" --output "$work/seg_build" \
  --format same --threads 1 >"$work/seg_build.log" 2>&1 || { cat "$work/seg_build.log"; fail "build tree's useg segment failed"; }
cmp "$work/seg/cells.mha" "$work/seg_build/cells.mha" || fail "bundled and built useg wrote different labels"
mkdir "$work/pred" && cp "$work/seg/cells.mha" "$work/pred/"
"$b/bin/useg" eval --pred "$work/pred" --ref "$work/in/ref" --labels 1 --json "$work/m.json" >/dev/null
dice=$(python3 -c "import json,sys; print([r for r in json.load(open(sys.argv[1]))['summary'] if r['label'] == 1][0]['dice'])" "$work/m.json")
python3 -c "import sys; sys.exit(0 if float(sys.argv[1]) >= 0.8 else 1)" "$dice" || fail "Dice $dice < 0.8"
echo "bundled useg segment: labels identical to the build tree's, Dice $dice"

# ---- the bundled test binary reads the bundle's data (environment overrides)
s=$b/share/useg
filter='Devices/Golden.*/cpu:Safetensors.ReadsFileMadeWithPyTorch:Config.ShippedConfigsParseAndRoundTrip:CliModel.*'
USEG_BINARY=$b/bin/useg USEG_SOURCE_DIR=$s USEG_TEST_DATA=$s/tests/data TMPDIR=$work \
  "$b/bin/useg_tests" --gtest_filter="$filter" --gtest_brief=1 >"$work/gt.log" 2>&1 ||
  { cat "$work/gt.log"; fail "bundled useg_tests failed on $filter"; }
passed=$(sed -n 's/^\[  PASSED  \] \([0-9]*\) test.*/\1/p' "$work/gt.log")
[ "${passed:-0}" -ge 7 ] || { cat "$work/gt.log"; fail "bundled useg_tests: only ${passed:-0} tests of $filter passed"; }
if USEG_BINARY=$b/bin/useg USEG_SOURCE_DIR=$s USEG_TEST_DATA=$work/nowhere TMPDIR=$work \
  "$b/bin/useg_tests" --gtest_filter='Devices/Golden.*/cpu' --gtest_brief=1 >"$work/gt2.log" 2>&1; then
  fail "useg_tests passed with USEG_TEST_DATA=$work/nowhere: the override is not used"
fi
echo "bundled useg_tests: $passed tests passed with the bundle's data; a wrong USEG_TEST_DATA fails them"
echo "PASS"

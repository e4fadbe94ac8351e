#!/usr/bin/env bash
# The main job in one command, on a fresh Debian 12 machine with only this repository: installs
# the dependencies (apt), builds useg, fetches the sample image (a real fluorescence nuclei image
# of the 2018 Data Science Bowl, scripts/get-sample-data.sh), segments it with the shipped model
# models/nuclei2d and writes labels, one id per nucleus (touching nuclei split apart by the
# model's interior / boundary classes and a seeded watershed), per-nucleus measurements, a
# preview with each nucleus in its own colour and a report, then says where they are. Safe to
# run again (it recomputes the outputs).
#   scripts/demo.sh [OUT_DIR]          (default: out/demo)
#   BUILD_DIR, JOBS                    as for scripts/build.sh (default build/, all cores)
set -euo pipefail
cd "$(dirname "$0")/.."
out=${1:-out/demo}
build=${BUILD_DIR:-build}
start=$(date +%s)

echo "== 1/4 dependencies"
scripts/install-deps.sh --build-only
echo "== 2/4 build useg"
# A new build folder is configured without the tests (faster); an existing one keeps its setting.
if [ -f "$build/CMakeCache.txt" ]; then
  BUILD_DIR=$build TARGETS=useg scripts/build.sh
else
  BUILD_DIR=$build USEG_BUILD_TESTS=OFF TARGETS=useg scripts/build.sh
fi
useg=$build/useg
echo "== 3/4 sample data"
scripts/get-sample-data.sh
image=data/sample/nuclei/img2d.tif
echo "== 4/4 segment $image with models/nuclei2d"
# Test-time mirroring (4 mirrored passes averaged) is this model's default (model.json
# inference.tta; docs/default-model.md); --no-tta would run one pass.
"$useg" segment --model models/nuclei2d --input "$image" --output "$out" \
  --instances --measure --preview --format tif --overwrite

csv="$out/img2d_measurements.csv"
for f in "$out/img2d.tif" "$out/img2d_instances.tif" "$csv" "$out/img2d_preview.png" "$out/report.json"; do
  [ -f "$f" ] || { echo "demo: error: $f was not written" >&2; exit 1; }
done
nuclei=$(($(wc -l <"$csv") - 1))
cat <<EOF

demo: finished in $(($(date +%s) - start)) s. $nuclei nuclei found in $image; results in $out/:
  img2d.tif                labels, same grid as the input: 0 background, 1 nucleus
  img2d_instances.tif      one id per nucleus (1..$nuclei, largest first; touching nuclei split)
  img2d_measurements.csv   one row per nucleus: area, centroid, bounding box, intensity, shape
  img2d_preview.png        the nuclei over the image, each in its own colour (any image viewer)
  report.json, report.csv  status, size, spacing and timing of the case
Model: models/nuclei2d (docs/default-model.md). Segment your own images with
  $useg segment --model models/nuclei2d --input YOUR_FOLDER --output OUT --instances --measure --preview
EOF

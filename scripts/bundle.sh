#!/usr/bin/env bash
# Packs useg into one portable .tar.xz that runs on any x86-64 Linux with glibc >= the build
# machine's (2.36) without installing anything (docs/gpu.md):
#   useg-<variant>-<gitrev>/bin/{useg,useg_tests,useg_bench_ops}   stripped; RPATH $ORIGIN/../lib
#   useg-<variant>-<gitrev>/lib/       every shared library they resolve (ldd), except the
#                                      target's own: glibc, libstdc++, libgcc_s, zlib, the NVIDIA
#                                      driver, cuDNN and cuBLAS (RPATH $ORIGIN)
#   useg-<variant>-<gitrev>/share/useg/ configs, models, bench configs, test data (tests/data,
#                                      fuzz/corpus: the layout the test binary expects under
#                                      USEG_SOURCE_DIR), the gpu-check scripts, docs/gpu.md
#   useg-<variant>-<gitrev>/MANIFEST   revision, variant, CUDA architectures in the binary, cuDNN
#                                      version built against, date, bundled libraries and sizes
# The libraries are found through DT_RPATH (patchelf --force-rpath), which the dynamic loader
# searches before LD_LIBRARY_PATH and applies to indirect dependencies too: the caller's
# environment never swaps a bundled library.
#
#   scripts/bundle.sh [cpu|cuda] [OUT_DIR] [--no-build]
#     cpu | cuda   variant (default cuda): the build tree $BUILD_DIR (default build / build-cuda,
#                  the trees scripts/test.sh makes) with USEG_WITH_CUDA=OFF / ON
#     OUT_DIR      where the archive goes (default .bundle, ignored by git; the device tool
#                  carries it with carry [".bundle"]); older useg-<variant>-*.tar.xz there are
#                  removed so that a glob names one file
#     --no-build   pack the existing build tree as it is (SKIP_BUILD=1 does the same; CI packs
#                  the tree it has already built)
#   BUILD_DIR, JOBS      as scripts/build.sh
#   MAX_MIB              fail above this archive size (default 56)
#   XZ_LEVEL             xz preset (default 9; CI's test uses 1 for speed)
#   REQUIRE_SASS         cuda: machine code that must be in bin/useg (default sm_90, the H200's;
#                        empty: no check)
set -euo pipefail
cd "$(dirname "$0")/.."

variant=cuda
out=.bundle
build_it=1
[ "${SKIP_BUILD:-0}" = 1 ] && build_it=0
positional=0
for a in "$@"; do
  case $a in
    --no-build) build_it=0 ;;
    -h | --help) sed -n '2,/^set -euo/p' "$0" | sed '$d'; exit 0 ;;
    -*) echo "bundle: unknown option '$a' (valid: --no-build)" >&2; exit 2 ;;
    *)
      positional=$((positional + 1))
      if [ "$positional" = 1 ]; then variant=$a; else out=$a; fi ;;
  esac
done
case $variant in
  cpu) cuda=OFF; build=${BUILD_DIR:-build} ;;
  cuda) cuda=ON; build=${BUILD_DIR:-build-cuda} ;;
  *) echo "bundle: variant '$variant' is not one of: cpu, cuda" >&2; exit 2 ;;
esac
max_mib=${MAX_MIB:-56}
xz_level=${XZ_LEVEL:-9}
require_sass=${REQUIRE_SASS-sm_90}
die() { echo "bundle: $*" >&2; exit 1; }

command -v patchelf >/dev/null || die "patchelf not found (scripts/install-deps.sh installs it)"
command -v xz >/dev/null || die "xz not found (Debian package xz-utils)"

# ---- build (or take the tree as it is)
bins=("$build/useg" "$build/tests/useg_tests" "$build/bench/useg_bench_ops")
if [ "$build_it" = 1 ]; then
  BUILD_DIR=$build JOBS=${JOBS:-$(nproc)} USEG_WITH_CUDA=$cuda USEG_BUILD_TESTS=ON \
    TARGETS="useg useg_tests useg_bench_ops" scripts/build.sh
fi
for b in "${bins[@]}"; do
  [ -x "$b" ] || die "$b not found: build the $variant tree first (scripts/build.sh, or drop --no-build)"
done
grep -q "^USEG_WITH_CUDA:STRING=$cuda\$" "$build/CMakeCache.txt" ||
  die "$build was not configured with USEG_WITH_CUDA=$cuda (a $variant bundle needs that tree)"

# ---- name: useg-<variant>-<12-digit revision>[-dirty]
rev=nogit
dirty=unknown
if git rev-parse --git-dir >/dev/null 2>&1; then
  rev=$(git rev-parse --short=12 HEAD)
  dirty=no
  [ -z "$(git status --porcelain --untracked-files=no)" ] || { dirty=yes; rev=$rev-dirty; }
fi
name=useg-$variant-$rev
stage_root=$(readlink -f "$(mktemp -d "${TMPDIR:-/tmp}/useg-bundle.XXXXXX")")
trap 'rm -rf "$stage_root"' EXIT
stage=$stage_root/$name
mkdir -p "$stage/bin" "$stage/lib" "$stage/share/useg"
echo "== bundle $name from $build"

# ---- binaries, stripped
for b in "${bins[@]}"; do
  cp "$b" "$stage/bin/"
  strip "$stage/bin/$(basename "$b")"
done

# ---- libraries: everything ldd resolves, minus what the target machine provides.
# glibc (and its loader), the GCC runtime and zlib are on every Linux; the NVIDIA driver must
# match the kernel module; cuDNN and cuBLAS are hundreds of MB and installed with the driver
# stack (system packages, CUDNN_LIB_DIR or the nvidia-* Python wheels: scripts/gpu-check.sh).
excluded='^(linux-vdso\.so|ld-linux.*\.so|libc\.so|libm\.so|libmvec\.so|libpthread\.so|libdl\.so|librt\.so|libresolv\.so|libutil\.so|libanl\.so|libstdc\+\+\.so|libgcc_s\.so|libz\.so|libcuda\.so|libnvidia-.*\.so|libcudnn.*\.so|libcublas(Lt)?\.so)'
declare -A libs=()
for b in "${bins[@]}"; do
  while read -r soname arrow path _; do
    [ "$arrow" = "=>" ] || continue                  # linux-vdso, the loader's own line
    [[ $soname =~ $excluded ]] && continue
    [ "$path" != not ] || die "$b needs $soname, which ldd cannot find on this machine"
    libs[$soname]=$path
  done < <(env -u LD_LIBRARY_PATH ldd "$b")
done
# shellcheck disable=SC2016  # $ORIGIN is for the dynamic loader, not the shell
for soname in "${!libs[@]}"; do
  cp -L "${libs[$soname]}" "$stage/lib/$soname"
  chmod u+w "$stage/lib/$soname"
  strip --strip-unneeded "$stage/lib/$soname"
  patchelf --force-rpath --set-rpath '$ORIGIN' "$stage/lib/$soname"
done
# shellcheck disable=SC2016
for b in "$stage"/bin/*; do
  patchelf --force-rpath --set-rpath '$ORIGIN/../lib' "$b"
done

# Every library of every bundled file now resolves inside the bundle or to the excluded set.
for f in "$stage"/bin/* "$stage"/lib/*; do
  while read -r soname arrow path _; do
    [ "$arrow" = "=>" ] || continue
    [[ $soname =~ $excluded ]] && continue
    case $(readlink -f "$path") in
      "$stage"/lib/*) ;;
      *) die "$(basename "$f") resolves $soname to $path, not to the bundle's lib/" ;;
    esac
  done < <(env -u LD_LIBRARY_PATH ldd "$f")
done

# ---- data the binaries and the tests read (the source-tree layout under share/useg)
share=$stage/share/useg
mkdir -p "$share/tests" "$share/bench" "$share/fuzz" "$share/scripts" "$share/docs"
cp -r configs models "$share/"
cp -r bench/configs "$share/bench/"
cp -r tests/data "$share/tests/"
[ -d fuzz/corpus ] && cp -r fuzz/corpus "$share/fuzz/"
cp scripts/gpu-check.sh scripts/gpu-check-nccl.sh scripts/gpu-bench-cases.txt scripts/torch_gpu_bench.py scripts/torch_unet.py \
  scripts/cuda_archs.py "$share/scripts/"
cp docs/gpu.md "$share/docs/"

# ---- manifest
archs="none (cpu variant)"
archs_source=""
cmake_archs=$(sed -n 's/^CMAKE_CUDA_ARCHITECTURES:[A-Z]*=//p' "$build/CMakeCache.txt")
if [ -z "$cmake_archs" ]; then  # not given when configuring: CMakeLists.txt's default applies
  cmake_archs="$(sed -n 's/.*set(CMAKE_CUDA_ARCHITECTURES "\(.*\)").*/\1/p' CMakeLists.txt) (CMakeLists.txt default)"
fi
if [ "$variant" = cuda ]; then
  if command -v cuobjdump >/dev/null; then
    archs="sass $(cuobjdump --list-elf "$build/useg" | grep -o 'sm_[0-9a-z]*' | sort -u | tr '\n' ' ')"
    archs="$archs; ptx $(cuobjdump --list-ptx "$build/useg" | grep -o 'sm_[0-9a-z]*' | sort -u | tr '\n' ' ')"
    archs_source="cuobjdump on bin/useg"
  elif command -v python3 >/dev/null && listed=$(python3 scripts/cuda_archs.py "$build/useg"); then
    archs=$(tr '\n' ';' <<<"$listed" | sed 's/;$//; s/;/; /')
    archs_source="scripts/cuda_archs.py on bin/useg"
  else
    archs="from CMake: $cmake_archs"
    archs_source="CMakeCache.txt (no cuobjdump, no python3)"
  fi
  if [ -n "$require_sass" ] && [[ $archs != *"$require_sass"* ]]; then
    die "bin/useg holds no $require_sass machine code ($archs; CMAKE_CUDA_ARCHITECTURES=$cmake_archs)"
  fi
fi
cxx=$(sed -n 's/^CMAKE_CXX_COMPILER:[A-Z]*=//p' "$build/CMakeCache.txt")
cudnn_version="none (cpu variant)"
cuda_version=""
if [ "$variant" = cuda ]; then
  cudnn_h=$(sed -n 's/^CUDNN_INCLUDE_DIR:[A-Z]*=//p' "$build/CMakeCache.txt")/cudnn_version.h
  [ -f "$cudnn_h" ] || die "cudnn_version.h not found at $cudnn_h (CUDNN_INCLUDE_DIR of $build)"
  cudnn_version=$(awk '/#define CUDNN_(MAJOR|MINOR|PATCHLEVEL) /{v = v (v ? "." : "") $3} END{print v}' "$cudnn_h")
  # The nvcc CMake used (not in the cache: CMakeLists.txt may set it), from its compiler record.
  cuda_version=$(sed -n 's/^set(CMAKE_CUDA_COMPILER_VERSION "\(.*\)")$/\1/p' \
    "$build"/CMakeFiles/*/CMakeCUDACompiler.cmake | head -n1)
  [ -n "$cuda_version" ] || die "no CMAKE_CUDA_COMPILER_VERSION in $build/CMakeFiles/*/CMakeCUDACompiler.cmake"
fi
{
  echo "name: $name"
  echo "variant: $variant"
  echo "git_revision: $(git rev-parse HEAD 2>/dev/null || echo unknown)"
  echo "git_dirty: $dirty"
  echo "build_date: $(date -u +%Y-%m-%dT%H:%M:%SZ)"
  # shellcheck disable=SC1091  # the build machine's own os-release
  echo "build_host: $(. /etc/os-release && echo "$PRETTY_NAME"), glibc $(ldd --version | awk 'NR==1{print $NF}'), $("$cxx" --version | head -n1)"
  echo "cuda_archs: $archs${archs_source:+ (source: $archs_source)}"
  if [ "$variant" = cuda ]; then
    echo "cuda_archs_cmake: $cmake_archs"
    echo "cuda_toolkit: $cuda_version"
    echo "cudnn_built_against: $cudnn_version"
    echo "needs_from_target: an NVIDIA driver for CUDA ${cuda_version%.*} or newer (libcuda.so.1), libcudnn.so.9 (and its sub-libraries), libcublas.so.13, libcublasLt.so.13"
    echo "optional_from_target: libnccl.so.2 (NCCL 2, loaded at run time by multi-GPU training: the CUDA toolkit's or the nvidia-nccl-cu13 wheel; USEG_NCCL_LIBRARY)"
  else
    echo "cudnn_built_against: $cudnn_version"
  fi
  echo "binaries:"
  for b in "$stage"/bin/*; do printf '  %s %d\n' "$(basename "$b")" "$(stat -c %s "$b")"; done
  echo "libs:"
  for l in "$stage"/lib/*; do printf '  %s %d\n' "$(basename "$l")" "$(stat -c %s "$l")"; done
} >"$stage/MANIFEST"
sed -n '1,/^binaries:/p' "$stage/MANIFEST" | sed '$d'

# ---- archive
mkdir -p "$out"
for old in "$out"/useg-"$variant"-*.tar.xz; do
  [ -e "$old" ] || continue
  echo "removing the older bundle $old"
  rm -f "$old"
done
archive=$out/$name.tar.xz
tar -C "$stage_root" -cf - "$name" | xz -T0 -"$xz_level" >"$archive.tmp"
mv "$archive.tmp" "$archive"
bytes=$(stat -c %s "$archive")
mib=$(awk -v b="$bytes" 'BEGIN{printf "%.1f", b / 1048576}')
unpacked=$(du -sm "$stage" | cut -f1)
echo "bundle: $archive: $mib MiB ($bytes bytes; unpacked $unpacked MiB, ${#libs[@]} libraries)"
if [ "$bytes" -gt $((max_mib * 1048576)) ]; then
  rm -f "$archive"
  die "$name.tar.xz is $mib MiB, over the limit of $max_mib MiB (MAX_MIB): removed"
fi

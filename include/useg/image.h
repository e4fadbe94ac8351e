// Images with their physical geometry, read and written through ITK (src/io is the only place
// that includes ITK headers). Voxels are held as a CPU Tensor [1, C, D, H, W] (2D: D = 1).
//
// Geometry follows ITK: spacing/origin/size in (x, y, z) order, direction row-major 3x3
// (columns are the physical directions of the x, y and z index axes). A 2D image has dims 2 and
// z entries spacing 1, origin 0, size 1, direction identity in the third row/column.
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <vector>

#include "useg/tensor.h"

namespace useg {

struct Geometry {
  int dims = 3;                                   // 2 or 3
  std::array<int64_t, 3> size{1, 1, 1};           // x, y, z
  std::array<double, 3> spacing{1, 1, 1};         // mm, x, y, z
  std::array<double, 3> origin{0, 0, 0};          // mm
  std::array<double, 9> direction{1, 0, 0, 0, 1, 0, 0, 0, 1};  // row-major

  int64_t voxels() const { return size[0] * size[1] * size[2]; }
  // Physical size of one voxel: mm^3 for 3D geometries, mm^2 (the pixel area) for 2D.
  double voxel_volume() const {
    double v = 1;
    for (int i = 0; i < dims; ++i) v *= spacing[size_t(i)];
    return v;
  }
  // Same size, and spacing/origin/direction within a relative tolerance.
  bool same_as(const Geometry& o, double tol = 1e-5) const;
  std::string str() const;  // "size 256x256x1, spacing 0.5x0.5x1 mm, origin (..), direction (..)"
};

struct Image {
  Geometry geometry;
  Tensor voxels;  // [1, C, D, H, W] float, CPU
  std::string source;     // file or folder it came from (for messages)
  int channels() const { return voxels.defined() ? static_cast<int>(voxels.shape()[1]) : 0; }
};

// What a header says, read without loading the voxels.
struct ImageInfo {
  Geometry geometry;
  int components = 1;             // channels per voxel in the file
  std::string component_type;     // "uint8", "int16", "float", ...
  std::string format;             // "NIfTI", "NRRD", "MetaImage", "TIFF", "PNG", "DICOM"
  int64_t bytes_declared = 0;     // voxels * components * bytes per component
};

// Limits checked against the header before any voxel is allocated.
struct ReadLimits {
  int64_t max_voxels = int64_t(1) << 31;        // 2 Gi voxels
  int64_t max_bytes = int64_t(16) << 30;        // 16 GiB as float32 in memory
};

// Supported single-file extensions: .nii .nii.gz .nrrd .nhdr .mha .mhd .tif .tiff .png; a
// directory holding DICOM files is read as one series (slices sorted by position).
bool is_image_path(const std::string& path);
ImageInfo read_image_info(const std::string& path);
// Reads one file (all its components become channels) or a DICOM directory.
Image read_image(const std::string& path, const ReadLimits& limits = {});
// Reads one case made of one file per channel (nnU-Net CASE_0000, CASE_0001, ...); every file
// must have the same geometry (error names both files otherwise).
Image read_image_channels(const std::vector<std::string>& paths, const ReadLimits& limits = {});

// Writers: the pixel type follows `pixel` ("uint8", "uint16", "uint32", "int16", "float");
// the file is written to a temporary name in the same folder and renamed, so an interrupted write
// never leaves a partial file under `path`. Throws naming the file on any failure (full disk...).
void write_image(const std::string& path, const Tensor& voxels, const Geometry& geometry,
                 const std::string& pixel = "float");
// Writes a DICOM series (one file per slice) into `dir` — used by tests and demos.
void write_dicom_series(const std::string& dir, const Tensor& voxels, const Geometry& geometry);

}  // namespace useg

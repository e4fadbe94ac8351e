// Reading single-file images (NIfTI, NRRD, MetaImage, TIFF, PNG) through ITK's ImageIO: the
// header is read first and checked against the limits, then the voxels are read straight into
// (or converted into) a float Tensor [1, C, D, H, W], components becoming channels.
#include <itkImageIORegion.h>

#include <cstring>
#include <filesystem>
#include <limits>
#include <memory>
#include <new>
#include <sstream>

#include "io/dicom.h"
#include "io/image_checks.h"
#include "io/io_common.h"
#include "io/itk_io.h"
#include "useg/error.h"
#include "useg/image.h"

namespace fs = std::filesystem;

namespace useg {

namespace {

struct OpenedFile {
  itk::ImageIOBase::Pointer io;
  Geometry geometry;
  int components = 1;
};

[[noreturn]] void throw_itk(const std::string& path, const itk::ExceptionObject& e) {
  USEG_THROW("cannot read " << path << ": " << io::trim_itk_description(e.GetDescription()));
}

// Checks the file, picks the ImageIO and reads the header (no voxels).
OpenedFile open_image_file(const std::string& path) {
  io::check_readable_file(path);
  std::string ext = io::image_extension(path);
  if (ext.empty()) {
    std::string got = fs::path(path).extension().string();
    USEG_THROW("cannot read " << path << ": unknown image extension"
                              << (got.empty() ? "" : " '" + got + "'")
                              << " (supported: " << io::supported_extensions()
                              << ", or a folder of DICOM files)");
  }
  // libtiff reads a cut TIFF's directories noisily and partly: look at its structure first.
  if (ext == ".tif" || ext == ".tiff") io::check_not_truncated(path, ext, 0, 0);
  if (ext == ".png") io::check_png_header(path);
  if (ext == ".nii" || ext == ".nii.gz") io::check_nifti_header(path);
  if (ext == ".mha" || ext == ".mhd") io::check_meta_header(path);
  if (ext == ".nrrd" || ext == ".nhdr") io::check_nrrd_header(path);
  OpenedFile f;
  f.io = io::create_image_io(path, false);
  if (!f.io)
    USEG_THROW("cannot read " << path << ": not a valid " << io::format_for_extension(ext)
                              << " file (its header is unreadable or corrupt)");
  try {
    f.io->SetFileName(path);
    f.io->ReadImageInformation();
  } catch (const itk::ExceptionObject& e) {
    throw_itk(path, e);
  } catch (const std::exception& e) {  // what a reader lets through besides ITK's exceptions
    USEG_THROW("cannot read " << path << ": the image library failed (" << e.what() << ")");
  }
  const unsigned nd = f.io->GetNumberOfDimensions();
  if (nd < 2) USEG_THROW("cannot read " << path << ": a " << nd << "D image is not supported");
  bool extra_axes = false;
  std::ostringstream size;
  bool empty_axis = false;
  for (unsigned i = 0; i < nd; ++i) {
    size << (i ? "x" : "") << f.io->GetDimensions(i);
    if (i >= 3 && f.io->GetDimensions(i) > 1) extra_axes = true;
    if (f.io->GetDimensions(i) == 0) empty_axis = true;
  }
  // (Fuzzing: a MetaImage header redefining NDims left an axis of size 0 beyond the third, so
  // ITK's buffer held 0 bytes while ours was sized from the first three axes.)
  if (empty_axis)
    USEG_THROW("cannot read " << path << ": its header declares an axis of size 0 (size "
                              << size.str() << "); the file is corrupt");
  if (extra_axes)
    USEG_THROW("cannot read " << path << ": it is a " << nd << "D image (size " << size.str()
                              << "); only 2D and 3D images are supported — split it into one "
                                 "3D file per time point or channel");
  f.geometry = io::geometry_from_io(*f.io);
  f.components = static_cast<int>(f.io->GetNumberOfComponents());
  if (f.components < 1) USEG_THROW("cannot read " << path << ": it declares 0 components");
  // ITK's GetComponentSize() throws its own exception for an unknown type (found by fuzzing a
  // MetaImage header with a mangled ElementType): refuse it here, with our message.
  if (f.io->GetComponentType() == itk::IOComponentEnum::UNKNOWNCOMPONENTTYPE)
    USEG_THROW("cannot read " << path << ": its header declares no known pixel component type");
  return f;
}

template <typename T>
void to_planar_float(const void* raw, float* dst, int64_t voxels, int components) {
  const T* src = static_cast<const T*>(raw);
  if (components == 1) {
    for (int64_t i = 0; i < voxels; ++i) dst[i] = static_cast<float>(src[i]);
    return;
  }
  for (int c = 0; c < components; ++c) {
    float* plane = dst + c * voxels;
    for (int64_t i = 0; i < voxels; ++i) plane[i] = static_cast<float>(src[i * components + c]);
  }
}

void convert_to_float(itk::IOComponentEnum type, const void* raw, float* dst, int64_t voxels,
                      int components, const std::string& path) {
  using C = itk::IOComponentEnum;
  switch (type) {
    case C::UCHAR: return to_planar_float<unsigned char>(raw, dst, voxels, components);
    case C::CHAR: return to_planar_float<signed char>(raw, dst, voxels, components);
    case C::USHORT: return to_planar_float<uint16_t>(raw, dst, voxels, components);
    case C::SHORT: return to_planar_float<int16_t>(raw, dst, voxels, components);
    case C::UINT: return to_planar_float<uint32_t>(raw, dst, voxels, components);
    case C::INT: return to_planar_float<int32_t>(raw, dst, voxels, components);
    case C::ULONG: return to_planar_float<unsigned long>(raw, dst, voxels, components);
    case C::LONG: return to_planar_float<long>(raw, dst, voxels, components);
    case C::ULONGLONG: return to_planar_float<unsigned long long>(raw, dst, voxels, components);
    case C::LONGLONG: return to_planar_float<long long>(raw, dst, voxels, components);
    case C::FLOAT: return to_planar_float<float>(raw, dst, voxels, components);
    case C::DOUBLE: return to_planar_float<double>(raw, dst, voxels, components);
    case C::LDOUBLE: return to_planar_float<long double>(raw, dst, voxels, components);
    default:
      USEG_THROW("cannot read " << path << ": unsupported pixel component type "
                                << io::component_type_name(type));
  }
}

Image read_image_file(const std::string& path, const ReadLimits& limits) {
  OpenedFile f = open_image_file(path);
  io::check_read_limits(path, f.geometry, f.components, limits);
  const Geometry& g = f.geometry;
  const io::MetaFacts meta = io::meta_facts(*f.io);
  const int64_t voxels = g.voxels();
  // The voxel data size the geometry declares (within the limits just checked).
  const int64_t data_bytes =
      voxels * f.components * static_cast<int64_t>(f.io->GetComponentSize());
  io::check_not_truncated(path, io::image_extension(path), data_bytes,
                          g.dims == 3 ? g.size[2] : 1, &meta);
  Image image;
  image.geometry = g;
  image.source = path;
  if (static_cast<int64_t>(f.io->GetImageSizeInBytes()) != data_bytes)
    USEG_THROW("cannot read " << path << ": its header is inconsistent (ITK sizes the image "
                              << f.io->GetImageSizeInBytes() << " bytes, its geometry needs "
                              << data_bytes << ")");
  try {
    image.voxels = Tensor::empty(Shape::ncdhw(1, f.components, g.size[2], g.size[1], g.size[0]));
    const unsigned nd = f.io->GetNumberOfDimensions();
    itk::ImageIORegion region(nd);
    for (unsigned i = 0; i < nd; ++i) {
      region.SetIndex(i, 0);
      region.SetSize(i, f.io->GetDimensions(i));
    }
    f.io->SetIORegion(region);
    const auto type = f.io->GetComponentType();
    if (type == itk::IOComponentEnum::FLOAT && f.components == 1) {
      f.io->Read(image.voxels.data());  // already our layout: read in place
    } else {
      std::unique_ptr<char[]> raw(new char[f.io->GetImageSizeInBytes()]);
      f.io->Read(raw.get());
      convert_to_float(type, raw.get(), image.voxels.data(), voxels, f.components, path);
    }
    const std::string ext = io::image_extension(path);
    if ((ext == ".nii" || ext == ".nii.gz") && f.components == 1 &&
        (type == itk::IOComponentEnum::FLOAT || type == itk::IOComponentEnum::DOUBLE))
      io::restore_nifti_non_finite(path, ext == ".nii.gz", image.voxels.data(), voxels);
  } catch (const itk::ExceptionObject& e) {
    throw_itk(path, e);
  } catch (const std::bad_alloc&) {
    USEG_THROW("cannot read " << path << ": out of memory for " << g.str() << " with "
                              << f.components << " channel(s)");
  } catch (const Error& e) {  // the tensor allocator's "out of host memory ..."
    USEG_THROW("cannot read " << path << ": " << e.what() << " for " << g.str() << " with "
                              << f.components << " channel(s)");
  } catch (const std::exception& e) {  // e.g. std::length_error from MetaIO (fuzzing)
    USEG_THROW("cannot read " << path << ": the image library failed (" << e.what() << ")");
  }
  return image;
}

}  // namespace

ImageInfo read_image_info(const std::string& path) {
  std::error_code ec;
  if (fs::is_directory(path, ec)) return io::read_dicom_info(path);
  OpenedFile f = open_image_file(path);
  ImageInfo info;
  info.geometry = f.geometry;
  info.components = f.components;
  info.component_type = io::component_type_name(f.io->GetComponentType());
  info.format = io::format_name(*f.io);
  int64_t bytes = 0;
  if (__builtin_mul_overflow(f.geometry.voxels(),
                             static_cast<int64_t>(f.components * f.io->GetComponentSize()),
                             &bytes))
    bytes = std::numeric_limits<int64_t>::max();
  info.bytes_declared = bytes;
  return info;
}

Image read_image(const std::string& path, const ReadLimits& limits) {
  std::error_code ec;
  if (fs::is_directory(path, ec)) return io::read_dicom_series(path, limits);
  return read_image_file(path, limits);
}

Image read_image_channels(const std::vector<std::string>& paths, const ReadLimits& limits) {
  USEG_REQUIRE(!paths.empty(), "read_image_channels needs at least one file");
  if (paths.size() == 1) return read_image(paths[0], limits);
  // Headers first: a mismatch or an oversized case fails before any voxel is read.
  std::vector<ImageInfo> infos;
  int total_channels = 0;
  for (const std::string& p : paths) {
    infos.push_back(read_image_info(p));
    total_channels += infos.back().components;
    std::string diff = geometry_difference(infos.front().geometry, infos.back().geometry);
    if (!diff.empty())
      USEG_THROW("channel files " << paths.front() << " and " << p
                                  << " of one case differ in geometry: " << diff);
  }
  const Geometry& g = infos.front().geometry;
  io::check_read_limits(paths.front() + " (with its " + std::to_string(paths.size() - 1) +
                            " other channel files)",
                        g, total_channels, limits);
  Image out;
  out.geometry = g;
  out.source = paths.front();
  out.voxels = Tensor::empty(Shape::ncdhw(1, total_channels, g.size[2], g.size[1], g.size[0]));
  int64_t offset = 0;
  for (const std::string& p : paths) {
    Image one = read_image(p, limits);
    std::memcpy(out.voxels.data() + offset, one.voxels.data(), one.voxels.bytes());
    offset += one.voxels.numel();
  }
  return out;
}

}  // namespace useg

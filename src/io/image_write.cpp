// Writing images through ITK's ImageIO: the format follows the extension (the IO factory picks
// it, as ImageFileWriter would), voxels are converted to the requested pixel type (rounded and
// clamped for integer types), and the file is written under a temporary name in the same folder
// and then renamed, so `path` is either the old file or the complete new one.
#include <fcntl.h>
#include <itkImageIORegion.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <limits>
#include <vector>

#include "io/io_common.h"
#include "io/itk_io.h"
#include "useg/error.h"
#include "core/files.h"
#include "useg/image.h"

namespace fs = std::filesystem;

namespace useg {

namespace {

// Interleaves planar float channels [C][voxels] into pixels of type T, rounding and clamping for
// integer types (NaN becomes 0).
template <typename T>
std::vector<char> to_pixels(const float* src, int64_t voxels, int components) {
  std::vector<char> bytes(static_cast<size_t>(voxels) * components * sizeof(T));
  T* dst = reinterpret_cast<T*>(bytes.data());
  for (int c = 0; c < components; ++c) {
    const float* plane = src + c * voxels;
    for (int64_t i = 0; i < voxels; ++i) {
      double v = plane[i];
      if constexpr (std::numeric_limits<T>::is_integer) {
        v = std::isnan(v) ? 0.0 : std::round(v);
        v = std::clamp(v, double(std::numeric_limits<T>::lowest()),
                       double(std::numeric_limits<T>::max()));
      }
      dst[i * components + c] = static_cast<T>(v);
    }
  }
  return bytes;
}

std::vector<char> convert_pixels(const std::string& pixel, const float* src, int64_t voxels,
                                 int components, itk::IOComponentEnum* type) {
  using C = itk::IOComponentEnum;
  if (pixel == "uint8") return *type = C::UCHAR, to_pixels<uint8_t>(src, voxels, components);
  if (pixel == "uint16") return *type = C::USHORT, to_pixels<uint16_t>(src, voxels, components);
  if (pixel == "uint32") return *type = C::UINT, to_pixels<uint32_t>(src, voxels, components);
  if (pixel == "int16") return *type = C::SHORT, to_pixels<int16_t>(src, voxels, components);
  *type = C::FLOAT;
  return to_pixels<float>(src, voxels, components);
}

void check_arguments(const std::string& path, const Tensor& voxels, const Geometry& g,
                     const std::string& pixel, const std::string& ext) {
  if (pixel != "uint8" && pixel != "uint16" && pixel != "uint32" && pixel != "int16" &&
      pixel != "float")
    USEG_THROW("cannot write " << path << ": unknown pixel type '" << pixel
                               << "' (choose uint8, uint16, uint32, int16 or float)");
  if (ext.empty())
    USEG_THROW("cannot write " << path << ": unknown image extension '"
                               << fs::path(path).extension().string()
                               << "' (supported: " << io::supported_extensions() << ")");
  if (ext == ".png" && pixel != "uint8" && pixel != "uint16")
    USEG_THROW("cannot write " << path << ": PNG holds only uint8 or uint16 pixels, not "
                               << pixel << " (write uint8/uint16 or use another format)");
  if (ext == ".png" && voxels.defined() && voxels.shape().rank() == 5 &&
      (voxels.shape()[1] < 1 || voxels.shape()[1] > 4))
    USEG_THROW("cannot write " << path << ": PNG holds 1 to 4 channels, not "
                               << voxels.shape()[1]);
  // ITK's PNG writer would silently keep only the first slice of a volume.
  if (ext == ".png" && g.size[2] > 1)
    USEG_THROW("cannot write " << path << ": PNG holds one 2D slice, this volume has "
                               << g.size[2] << " (use .nii.gz, .nrrd, .mha or .tif)");
  USEG_REQUIRE(voxels.defined() && voxels.device() == Device::CPU && voxels.shape().rank() == 5 &&
                   voxels.shape()[0] == 1 && voxels.shape()[1] >= 1,
               "cannot write " << path << ": voxels must be a CPU tensor [1, C, D, H, W], got "
                               << voxels.shape().str());
  USEG_REQUIRE(g.dims == 2 || g.dims == 3,
               "cannot write " << path << ": geometry dims " << g.dims << " (expected 2 or 3)");
  const Shape& s = voxels.shape();
  USEG_REQUIRE(s[4] == g.size[0] && s[3] == g.size[1] && s[2] == g.size[2] &&
                   (g.dims == 3 || g.size[2] == 1),
               "cannot write " << path << ": voxels " << s.str() << " do not match the geometry ("
                               << g.str() << ", dims " << g.dims << ")");
  fs::path parent = fs::path(path).parent_path();
  std::error_code ec;
  if (!parent.empty() && !fs::is_directory(parent, ec))
    USEG_THROW("cannot write " << path << ": the folder " << parent.string()
                               << " does not exist");
}

// Writes `pixels` to `file` with the ImageIO ITK picks for its extension.
void itk_write(const std::string& file, const std::string& ext, const Geometry& g,
               int components, itk::IOComponentEnum type, const void* pixels) {
  itk::ImageIOBase::Pointer io = io::create_image_io(file, true);
  if (!io) USEG_THROW("ITK has no writer for " << ext << " files");
  io::geometry_to_io(g, *io);
  io->SetComponentType(type);
  io->SetNumberOfComponents(static_cast<unsigned>(components));
  bool raster = ext == ".png" || ext == ".tif" || ext == ".tiff";
  using P = itk::IOPixelEnum;
  io->SetPixelType(components == 1                  ? P::SCALAR
                   : raster && components == 3      ? P::RGB
                   : raster && components == 4      ? P::RGBA
                                                    : P::VECTOR);
  io->SetUseCompression(ext == ".nii.gz" || ext == ".nrrd" || ext == ".mha");
  io->SetFileName(file);
  itk::ImageIORegion region(io->GetNumberOfDimensions());
  for (unsigned i = 0; i < io->GetNumberOfDimensions(); ++i) {
    region.SetIndex(i, 0);
    region.SetSize(i, io->GetDimensions(i));
  }
  io->SetIORegion(region);
  io->Write(pixels);
  // Some ITK writers (niftilib, MetaIO, libtiff) only print their I/O errors: verify the file.
  std::error_code ec;
  if (!fs::is_regular_file(file, ec) || fs::file_size(file, ec) == 0)
    USEG_THROW("ITK reported success but wrote nothing");
  try {
    const bool meta_file = ext == ".mha" || ext == ".mhd";
    const io::MetaFacts meta = meta_file ? io::meta_facts_of_file(file) : io::MetaFacts{};
    io::check_not_truncated(file, ext, g.voxels() * components * int64_t(io->GetComponentSize()),
                            g.dims == 3 ? g.size[2] : 1, &meta);
  } catch (const Error& e) {
    USEG_THROW("ITK reported success but the file is incomplete: " << e.what());
  }
}

}  // namespace

void write_image(const std::string& path, const Tensor& voxels, const Geometry& geometry,
                 const std::string& pixel) {
  const std::string ext = io::image_extension(path);
  check_arguments(path, voxels, geometry, pixel, ext);
  const int components = static_cast<int>(voxels.shape()[1]);
  itk::IOComponentEnum type = itk::IOComponentEnum::FLOAT;
  std::vector<char> converted;  // stays empty when the tensor already is the file's layout
  if (pixel != "float" || components > 1)
    converted = convert_pixels(pixel, voxels.data(), geometry.voxels(), components, &type);
  const void* pixels = converted.empty() ? static_cast<const void*>(voxels.data())
                                         : static_cast<const void*>(converted.data());

  // Detached headers (.nhdr, .mhd) name their data file after themselves, so they are written
  // with their final names into a temporary folder next to `path`, then moved out data first.
  const bool detached = io::is_detached_header(ext);
  const fs::path final_path(path);
  const fs::path folder = final_path.parent_path();
  const std::string temp = temp_path_for(path);
  const std::string temp_file = detached ? (fs::path(temp) / final_path.filename()).string() : temp;
  std::error_code ec;
  // Failures are judged while the partial temporary file still exists (a full disk is told
  // apart from other errors by the folder's free space), then the temporary file is removed.
  auto fail = [&](const std::string& reason) {
    try {
      throw_write_failure(path, reason);
    } catch (...) {
      fs::remove_all(temp, ec);
      throw;
    }
  };
  try {
    if (detached && !fs::create_directory(temp, ec))
      fail("cannot create a temporary folder " + temp + ": " + ec.message());
    // Create the file first: some ITK writers only print why they could not open it.
    int fd = ::open(temp_file.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0)
      fail("cannot create a file in " + (folder.empty() ? std::string(".") : folder.string()) +
           " (" + std::strerror(errno) + ")");
    ::close(fd);
    itk_write(temp_file, ext, geometry, components, type, pixels);
    check_external_write(detached ? temp : temp_file, path);
    if (detached) {
      for (const auto& entry : fs::directory_iterator(temp))
        if (entry.path().filename() != final_path.filename())
          commit_temp_file(entry.path().string(), (folder / entry.path().filename()).string());
    }
    commit_temp_file(temp_file, path);
  } catch (const itk::ExceptionObject& e) {
    fail(io::trim_itk_description(e.GetDescription()));
  } catch (const DiskFullError&) {
    fs::remove_all(temp, ec);
    throw;
  } catch (const Error& e) {
    std::string what = e.what();
    if (what.find(path) != std::string::npos) {
      fs::remove_all(temp, ec);
      throw;
    }
    fail(what);
  } catch (const std::exception& e) {
    fail(e.what());
  }
  if (detached) fs::remove_all(temp, ec);
}

}  // namespace useg

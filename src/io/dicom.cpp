// DICOM series through ITK's GDCM IO: a folder is one series (GDCMSeriesFileNames sorts the
// slices along the slice normal), read with ImageSeriesReader; a 3D volume is written as one
// file per slice with its own ImagePositionPatient, through ImageSeriesWriter and per-slice
// meta-data dictionaries.
#include <itkGDCMImageIO.h>
#include <itkGDCMSeriesFileNames.h>
#include <itkImage.h>
#include <itkImageSeriesReader.h>
#include <itkImageSeriesWriter.h>
#include <itkMetaDataObject.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <memory>
#include <sstream>

#include "io/dicom.h"
#include "io/io_common.h"
#include "io/itk_io.h"
#include "useg/error.h"
#include "core/files.h"

namespace fs = std::filesystem;

namespace useg::io {

namespace {

using Volume = itk::Image<float, 3>;
using Slice = itk::Image<float, 2>;

[[noreturn]] void throw_itk(const std::string& what, const std::string& path,
                            const itk::ExceptionObject& e) {
  USEG_THROW(what << " " << path << ": " << trim_itk_description(e.GetDescription()));
}

// The files of the one series in `dir`, sorted by slice position.
std::vector<std::string> series_files(const std::string& dir) {
  auto names = itk::GDCMSeriesFileNames::New();
  std::vector<std::string> uids;
  try {
    names->SetUseSeriesDetails(true);  // also split by orientation, size, ... within a UID
    names->SetDirectory(dir);
    uids = names->GetSeriesUIDs();
  } catch (const itk::ExceptionObject& e) {
    throw_itk("cannot read", dir, e);
  }
  if (uids.empty()) USEG_THROW("cannot read " << dir << ": the folder holds no DICOM series");
  if (uids.size() > 1) {
    std::ostringstream list;
    for (size_t i = 0; i < uids.size(); ++i)
      list << (i ? ", " : "") << uids[i] << " (" << names->GetFileNames(uids[i]).size()
           << " files)";
    USEG_THROW("cannot read " << dir << ": the folder holds " << uids.size()
                              << " DICOM series; put each series in its own folder: "
                              << list.str());
  }
  return names->GetFileNames(uids.front());
}

// The slice spacing a single-slice series declares (Spacing Between Slices, else Slice
// Thickness); GDCM reports 1 for any single-frame file.
double slice_spacing(itk::GDCMImageIO& io, double fallback) {
  for (const char* tag : {"0018|0088", "0018|0050"}) {
    std::string value;
    if (io.GetValueFromTag(tag, value)) {
      double s = std::atof(value.c_str());
      if (s > 0 && std::isfinite(s)) return s;
    }
  }
  return fallback;
}

struct SeriesHeader {
  std::vector<std::string> files;
  Geometry geometry;
  int components = 1;
  itk::IOComponentEnum type = itk::IOComponentEnum::SHORT;
  size_t component_size = 2;
};

// Geometry of the series from the first and last slice headers, as ImageSeriesReader computes
// it: spacing along the slices = distance first..last / (n - 1); direction from the first slice.
SeriesHeader read_series_header(const std::string& dir) {
  SeriesHeader h;
  h.files = series_files(dir);
  const size_t n = h.files.size();
  auto first = itk::GDCMImageIO::New();
  Geometry last;
  try {
    first->SetFileName(h.files.front());
    first->ReadImageInformation();
    if (n > 1) {
      auto io = itk::GDCMImageIO::New();
      io->SetFileName(h.files.back());
      io->ReadImageInformation();
      last = geometry_from_io(*io);
    }
  } catch (const itk::ExceptionObject& e) {
    throw_itk("cannot read", dir, e);
  }
  h.geometry = geometry_from_io(*first);
  h.geometry.dims = 3;
  if (n == 1 && h.geometry.size[2] == 1) h.geometry.spacing[2] = slice_spacing(*first, 1.0);
  h.components = static_cast<int>(first->GetNumberOfComponents());
  h.type = first->GetComponentType();
  h.component_size = first->GetComponentSize();
  if (n > 1) {
    if (h.geometry.size[2] > 1)
      USEG_THROW("cannot read " << dir << ": the series mixes " << n
                                << " multi-frame files; only one multi-frame file or a series "
                                   "of single slices is supported");
    double d[3], norm = 0;
    for (int i = 0; i < 3; ++i) {
      d[i] = last.origin[i] - h.geometry.origin[i];
      norm += d[i] * d[i];
    }
    norm = std::sqrt(norm);
    h.geometry.size[2] = static_cast<int64_t>(n);
    if (norm > 0) h.geometry.spacing[2] = norm / static_cast<double>(n - 1);
  }
  return h;
}

// A DICOM decimal string (at most 16 characters) holding `v` as precisely as fits.
std::string ds(double v) {
  char buf[64];
  if (std::fabs(v) < 1e-12) v = 0.0;
  for (int precision = 15; precision > 1; --precision) {
    std::snprintf(buf, sizeof buf, "%.*g", precision, v);
    if (std::strlen(buf) <= 16) break;
  }
  return buf;
}

}  // namespace

ImageInfo read_dicom_info(const std::string& dir) {
  SeriesHeader h = read_series_header(dir);
  ImageInfo info;
  info.geometry = h.geometry;
  info.components = h.components;
  info.component_type = component_type_name(h.type);
  info.format = "DICOM";
  info.bytes_declared =
      h.geometry.voxels() * h.components * static_cast<int64_t>(h.component_size);
  return info;
}

Image read_dicom_series(const std::string& dir, const ReadLimits& limits) {
  SeriesHeader h = read_series_header(dir);
  check_read_limits(dir, h.geometry, h.components, limits);
  if (h.components != 1)
    USEG_THROW("cannot read " << dir << ": color DICOM (" << h.components
                              << " samples per pixel) is not supported");
  for (const std::string& file : h.files) {
    std::string problem = dicom_truncation(file);
    if (!problem.empty())
      USEG_THROW("cannot read " << dir << ": slice " << file << " is truncated (" << problem
                                << ")");
  }
  auto reader = itk::ImageSeriesReader<Volume>::New();
  reader->SetImageIO(itk::GDCMImageIO::New());
  reader->SetFileNames(h.files);
  reader->MetaDataDictionaryArrayUpdateOff();
  try {
    reader->Update();
  } catch (const itk::ExceptionObject& e) {
    throw_itk("cannot read", dir, e);
  }
  Volume::Pointer volume = reader->GetOutput();
  const auto size = volume->GetLargestPossibleRegion().GetSize();
  // ImageSeriesReader spreads the slices evenly between the first and the last; a gap (a missing
  // slice) would silently stretch the geometry. Small deviations (rounding in the headers) pass.
  double deviation = 0;
  if (itk::ExposeMetaData<double>(volume->GetMetaDataDictionary(),
                                  "ITK_non_uniform_sampling_deviation", deviation) &&
      deviation > 0.1 * volume->GetSpacing()[2])
    USEG_THROW("cannot read " << dir << ": its " << h.files.size()
                              << " slices are not evenly spaced (a step differs by " << deviation
                              << " mm from the mean spacing of " << volume->GetSpacing()[2]
                              << " mm; is a slice missing?)");
  Image image;
  image.source = dir;
  Geometry& g = image.geometry;
  for (int i = 0; i < 3; ++i) {
    g.size[i] = static_cast<int64_t>(size[i]);
    g.spacing[i] = volume->GetSpacing()[i];
    g.origin[i] = volume->GetOrigin()[i];
    for (int j = 0; j < 3; ++j) g.direction[3 * i + j] = volume->GetDirection()[i][j];
  }
  if (h.files.size() == 1 && g.size[2] == 1) g.spacing[2] = h.geometry.spacing[2];
  image.voxels = Tensor::empty(Shape::ncdhw(1, 1, g.size[2], g.size[1], g.size[0]));
  std::memcpy(image.voxels.data(), volume->GetBufferPointer(), image.voxels.bytes());
  return image;
}

}  // namespace useg::io

namespace useg {

using io::Slice;
using io::Volume;

void write_dicom_series(const std::string& dir, const Tensor& voxels, const Geometry& g) {
  USEG_REQUIRE(voxels.defined() && voxels.device() == Device::CPU && voxels.shape().rank() == 5 &&
                   voxels.shape()[0] == 1 && voxels.shape()[1] == 1,
               "cannot write DICOM series " << dir
                                            << ": voxels must be a CPU tensor [1, 1, D, H, W]"
                                            << ", got " << voxels.shape().str());
  const Shape& s = voxels.shape();
  USEG_REQUIRE(s[4] == g.size[0] && s[3] == g.size[1] && s[2] == g.size[2],
               "cannot write DICOM series " << dir << ": voxels " << s.str()
                                            << " do not match the geometry (" << g.str() << ")");
  const int64_t n = voxels.numel();
  const float* v = voxels.data();
  float lo = 0, hi = 0;
  bool integral = true;
  for (int64_t i = 0; i < n; ++i) {
    if (!std::isfinite(v[i]))
      USEG_THROW("cannot write DICOM series " << dir << ": the volume has NaN or Inf voxels");
    lo = i ? std::min(lo, v[i]) : v[i];
    hi = i ? std::max(hi, v[i]) : v[i];
    integral = integral && v[i] == std::round(v[i]);
  }
  // Stored as int16 (MONOCHROME2); real value = stored * slope + intercept. Integer volumes that
  // fit int16 are stored exactly with slope 1.
  double slope = 1.0, intercept = 0.0;
  if (!integral || lo < -32768.0f || hi > 32767.0f) {
    intercept = 0.5 * (double(lo) + double(hi));
    slope = hi > lo ? (double(hi) - double(lo)) / 65534.0 : 1.0;
  }
  std::error_code ec;
  fs::create_directories(dir, ec);
  if (!fs::is_directory(dir, ec))
    USEG_THROW("cannot write DICOM series " << dir << ": cannot create the folder");

  // The volume as an ITK image sharing the tensor's memory (the writer only reads it).
  auto volume = Volume::New();
  Volume::RegionType region;
  Volume::SpacingType spacing;
  Volume::PointType origin;
  Volume::DirectionType direction;
  for (int i = 0; i < 3; ++i) {
    region.SetSize(i, static_cast<itk::SizeValueType>(g.size[i]));
    spacing[i] = g.spacing[i];
    origin[i] = g.origin[i];
    for (int j = 0; j < 3; ++j) direction[i][j] = g.direction[3 * i + j];
  }
  volume->SetRegions(region);
  volume->SetSpacing(spacing);
  volume->SetOrigin(origin);
  volume->SetDirection(direction);
  volume->GetPixelContainer()->SetImportPointer(const_cast<float*>(v),
                                                static_cast<itk::SizeValueType>(n), false);

  const std::string orientation = io::ds(g.direction[0]) + "\\" + io::ds(g.direction[3]) + "\\" +
                                  io::ds(g.direction[6]) + "\\" + io::ds(g.direction[1]) + "\\" +
                                  io::ds(g.direction[4]) + "\\" + io::ds(g.direction[7]);
  std::vector<std::unique_ptr<itk::MetaDataDictionary>> dictionaries;
  itk::ImageSeriesWriter<Volume, Slice>::DictionaryArrayType dictionary_pointers;
  std::vector<std::string> finals, temps;
  for (int64_t k = 0; k < g.size[2]; ++k) {
    auto d = std::make_unique<itk::MetaDataDictionary>();
    auto set = [&d](const char* tag, const std::string& value) {
      itk::EncapsulateMetaData<std::string>(*d, tag, value);
    };
    Volume::PointType p;
    volume->TransformIndexToPhysicalPoint({{0, 0, k}}, p);
    set("0008|0060", "CT");  // a modality with the image plane module (position, thickness)
    set("0008|0008", "DERIVED\\SECONDARY");
    set("0008|103e", "useg");
    set("0020|0013", std::to_string(k + 1));  // instance number
    set("0020|0032", io::ds(p[0]) + "\\" + io::ds(p[1]) + "\\" + io::ds(p[2]));
    set("0020|0037", orientation);
    set("0018|0050", io::ds(g.spacing[2]));  // slice thickness
    set("0018|0088", io::ds(g.spacing[2]));  // spacing between slices
    set("0028|0004", "MONOCHROME2");
    set("0028|0100", "16");                  // bits allocated / stored, high bit, signed
    set("0028|0101", "16");
    set("0028|0102", "15");
    set("0028|0103", "1");
    set("0028|1052", io::ds(intercept));
    set("0028|1053", io::ds(slope));
    dictionary_pointers.push_back(d.get());
    dictionaries.push_back(std::move(d));
    char name[32];
    std::snprintf(name, sizeof name, "slice_%05lld.dcm", static_cast<long long>(k));
    finals.push_back((fs::path(dir) / name).string());
    temps.push_back(temp_path_for(finals.back()));
  }
  auto writer = itk::ImageSeriesWriter<Volume, Slice>::New();
  writer->SetInput(volume);
  writer->SetImageIO(itk::GDCMImageIO::New());
  writer->SetFileNames(temps);
  writer->SetMetaDataDictionaryArray(&dictionary_pointers);
  try {
    writer->Update();
    for (size_t k = 0; k < temps.size(); ++k) commit_temp_file(temps[k], finals[k]);
  } catch (const itk::ExceptionObject& e) {
    for (const auto& t : temps) fs::remove(t, ec);
    USEG_THROW("cannot write DICOM series " << dir << ": "
                                            << io::trim_itk_description(e.GetDescription()));
  } catch (...) {
    for (const auto& t : temps) fs::remove(t, ec);
    throw;
  }
}

}  // namespace useg

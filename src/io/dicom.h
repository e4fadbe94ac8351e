// DICOM series (a folder of slice files) through ITK's GDCM IO. Internal to src/io: callers use
// read_image / read_image_info / write_dicom_series from useg/image.h.
#pragma once

#include <string>

#include "useg/image.h"

namespace useg::io {

// Header-level information of the one series in `dir` (first and last slice headers only).
ImageInfo read_dicom_info(const std::string& dir);
// Reads the one series in `dir`, slices sorted by position along the slice normal. Throws naming
// the folder when it holds no series or several (listing their identifiers and file counts).
Image read_dicom_series(const std::string& dir, const ReadLimits& limits);

}  // namespace useg::io

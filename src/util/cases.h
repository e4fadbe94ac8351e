// Cases from file lists: nnU-Net naming groups one file per channel into one case
// (CASE_0000.nii.gz, CASE_0001.nii.gz -> case "CASE" with 2 channels); any other image file, or a
// DICOM folder, is a single-channel case named after it.
#pragma once

#include <string>
#include <vector>

namespace useg {

struct CaseFiles {
  std::string name;                 // "CASE" (output files are named after it)
  std::vector<std::string> files;   // one per channel, in channel order
};

// The file name without folder and image extension ("a/b/x_0001.nii.gz" -> "x_0001").
std::string image_stem(const std::string& path);

// Lists the image files (and DICOM folders) in `dir` (sorted by name); recursive descends into
// sub-folders that are not themselves DICOM series. Hidden files (".name") are skipped.
std::vector<std::string> list_images(const std::string& dir, bool recursive);

// Groups files into cases, sorted by case name. A name ending in _NNNN (4 digits) is a channel of
// case <prefix>; channels must be 0..K-1 without gaps, otherwise that case is reported through
// `problems` ("CASE: channel files _0000, _0002 do not run _0000, _0001, ... without gaps") and
// left out.
std::vector<CaseFiles> group_cases(const std::vector<std::string>& files,
                                   std::vector<std::string>* problems = nullptr);

}  // namespace useg

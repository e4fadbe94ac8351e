// nnU-Net channel naming, written once for `useg segment` (group_cases) and `useg train`
// (scan_dataset): a file stem CASE_0001 is channel 1 of case CASE, and the channels of a case
// must run _0000, _0001, ... without gaps.
#pragma once

#include <string>
#include <vector>

namespace useg {

// True when `stem` (a file name without folder and extension) ends in _ and 4 digits after at
// least one other character: sets `case_name` ("CASE") and `channel` (1 for "CASE_0001").
bool parse_channel_stem(const std::string& stem, std::string* case_name, int* channel);

// "" when the sorted channel indices of a case run 0, 1, 2, ... without gaps; otherwise the
// problem, e.g. "channel files _0000, _0002 do not run _0000, _0001, ... without gaps".
std::string channel_gap_problem(const std::vector<int>& sorted_channels);

}  // namespace useg

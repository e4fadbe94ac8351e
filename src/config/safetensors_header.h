// The JSON header of a safetensors file as plain structs (the binary side lives in
// src/io/safetensors.cpp; JSON stays in src/config). Parsing checks the header's structure and
// types; offsets are checked against the data buffer by the caller.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

namespace useg {

struct SafetensorsEntry {
  std::string name;
  std::string dtype;             // as written ("F32", "BF16", "I64", ...)
  std::vector<uint64_t> shape;   // rank 0..5
  uint64_t begin = 0, end = 0;   // data_offsets, relative to the data buffer
};

struct SafetensorsHeader {
  std::vector<SafetensorsEntry> tensors;  // sorted by name
  std::map<std::string, std::string> metadata;
};

// Throws useg::Error naming `source` and the tensor: not JSON, not an object, duplicate names,
// missing or wrong-typed dtype/shape/data_offsets, rank above 5, non-string metadata.
SafetensorsHeader parse_safetensors_header(const std::string& json, const std::string& source);

// Compact JSON: "__metadata__" first (when not empty), then the tensors in order.
std::string serialize_safetensors_header(const SafetensorsHeader& header);

}  // namespace useg

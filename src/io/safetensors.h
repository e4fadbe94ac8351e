// safetensors files (https://github.com/huggingface/safetensors format): an 8-byte little-endian
// header length, a JSON header {name: {dtype, shape, data_offsets}, "__metadata__": {..}}, then
// the raw little-endian data. We read F32, F16 and BF16 (converted to float32) and write F32.
// Every offset and size is checked against the file before use.
#pragma once

#include <map>
#include <string>
#include <utility>
#include <vector>

#include "useg/tensor.h"

namespace useg {

struct SafetensorsFile {
  std::map<std::string, Tensor> tensors;          // CPU float32, shapes as stored
  std::map<std::string, std::string> metadata;    // "__metadata__" (string values)
};

SafetensorsFile read_safetensors(const std::string& path);
// The "__metadata__" only: reads the 8-byte length and the header, not the
// tensors' data (a checkpoint's case lists without its hundreds of MB of
// weights). The header is checked as read_safetensors checks it, and its length
// against the file's size.
std::map<std::string, std::string> read_safetensors_metadata(const std::string& path);
SafetensorsFile parse_safetensors(const std::string& bytes, const std::string& source);

// Writes atomically (temporary file in the same folder, then rename). Tensors are written in the
// given order.
void write_safetensors(const std::string& path,
                       const std::vector<std::pair<std::string, Tensor>>& tensors,
                       const std::map<std::string, std::string>& metadata = {});
std::string serialize_safetensors(const std::vector<std::pair<std::string, Tensor>>& tensors,
                                  const std::map<std::string, std::string>& metadata = {});

}  // namespace useg

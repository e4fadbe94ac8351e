// libFuzzer target: the safetensors reader. Declared sizes and offsets must be checked against
// the bytes present before anything is allocated or read.
#include <cstddef>
#include <cstdint>
#include <string>

#include "useg/error.h"
#include "io/safetensors.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string bytes(reinterpret_cast<const char*>(data), size);
  try {
    useg::SafetensorsFile f = useg::parse_safetensors(bytes, "fuzz.safetensors");
    std::vector<std::pair<std::string, useg::Tensor>> t(f.tensors.begin(), f.tensors.end());
    useg::parse_safetensors(useg::serialize_safetensors(t, f.metadata), "roundtrip.safetensors");
  } catch (const useg::Error&) {
  }
  return 0;
}

// libFuzzer target: the JSON config parsers (training config, model.json, model section).
// Every input must end in a useg::Error or a parsed config — never a crash or another exception.
#include <cstddef>
#include <cstdint>
#include <string>

#include "useg/config.h"
#include "useg/error.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string text(reinterpret_cast<const char*>(data), size);
  try {
    useg::RunConfig r = useg::parse_run_config(text, "fuzz.json");
    // What parses must round-trip.
    useg::parse_run_config(useg::to_json_string(r), "roundtrip.json");
  } catch (const useg::Error&) {
  }
  try {
    useg::ModelInfo m = useg::parse_model_info(text, "model.json");
    useg::parse_model_info(useg::to_json_string(m), "roundtrip.json");
  } catch (const useg::Error&) {
  }
  try {
    useg::parse_model_config(text, "model.json");
  } catch (const useg::Error&) {
  }
  return 0;
}

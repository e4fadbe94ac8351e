// libFuzzer target: the JSON config parsers (training config, model.json, model section) and
// what `useg info` computes from a parsed config (the analytic summary). Every input must end in
// a useg::Error or a parsed config — never a crash, a sanitizer report or another exception.
#include <cstddef>
#include <cstdint>
#include <string>

#include "useg/config.h"
#include "useg/error.h"
#include "useg/model.h"

namespace {
void summarize_all(const useg::ModelConfig& m) {
  useg::ModelSummary s = useg::summarize(m);
  (void)useg::format_summary(m, s);
}
}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string text(reinterpret_cast<const char*>(data), size);
  try {
    useg::RunConfig r = useg::parse_run_config(text, "fuzz.json");
    // What parses must round-trip.
    useg::parse_run_config(useg::to_json_string(r), "roundtrip.json");
    summarize_all(r.model);
  } catch (const useg::Error&) {
  }
  try {
    useg::ModelInfo m = useg::parse_model_info(text, "model.json");
    useg::parse_model_info(useg::to_json_string(m), "roundtrip.json");
    summarize_all(m.model);
  } catch (const useg::Error&) {
  }
  try {
    summarize_all(useg::parse_model_config(text, "model.json"));
  } catch (const useg::Error&) {
  }
  return 0;
}

// parse_validation_source (validation_source.h): the few keys find-postprocess
// compares.
#include "config/validation_source.h"

#include "config/json_util.h"

namespace useg {

ValidationSource parse_validation_source(const std::string& json_text, const std::string& source) {
  const cfg::Json j = cfg::parse_json(json_text, source);
  const cfg::Where root(source);
  if (!j.is_object() || !j.contains("model"))
    root.fail(
        "expected an object with a \"model\" object (a useg train "
        "validation summary)");
  const cfg::Where w = root.key("model");
  const cfg::Json& m = j.at("model");
  if (!m.is_object()) w.fail("expected an object, got " + cfg::describe(m));
  ValidationSource s;
  for (const char* key : {"folder", "trained_epochs", "test_time_mirroring"})
    if (!m.contains(key)) w.key(key).fail("missing");
  cfg::read_value(w.key("folder"), m.at("folder"), s.model);
  cfg::read_value(w.key("trained_epochs"), m.at("trained_epochs"), s.trained_epochs);
  cfg::read_value(w.key("test_time_mirroring"), m.at("test_time_mirroring"), s.tta);
  return s;
}

}  // namespace useg

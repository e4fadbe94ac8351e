// model.json's "preprocess" section on its own, as JSON text (model_info.cpp): the ONNX export's
// metadata (src/interop/onnx_export.cpp).
#pragma once

#include <string>

#include "useg/config.h"

namespace useg {
std::string to_json_string(const PreprocessConfig& p);
}

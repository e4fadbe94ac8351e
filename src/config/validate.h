// Validation of config structs built in code (or changed after parsing, e.g. by command-line
// overrides). The parse_* functions already run these; the trainer calls them again when it
// changes a config. JSON-free: any layer may include this header.
//
// Each throws useg::Error whose message starts with `context` (a file name, or "--patch-size").
#pragma once

#include <string>
#include <vector>

#include "useg/config.h"

namespace useg {

// The patch must have one entry per spatial axis of the model ([H, W] for 2D, [D, H, W] for 3D),
// and each entry must be a positive multiple of the product of the model's pool sizes along that
// axis, e.g. "train.patch_size: 100 along axis H (y) is not a multiple of 16 ...".
void check_patch_size(const ModelConfig& model, const std::vector<int>& patch,
                      const std::string& context);

void validate_model_config(const ModelConfig& model, const std::string& context);
void validate_run_config(const RunConfig& run, const std::string& context);
void validate_model_info(const ModelInfo& info, const std::string& context);

}  // namespace useg

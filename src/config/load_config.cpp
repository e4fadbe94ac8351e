// load_config: the CLI's "any config" entry point (a training config or a model.json).
#include <string>

#include "config/json_util.h"
#include "useg/config.h"
#include "useg/error.h"
#include "core/files.h"

namespace useg {

LoadedConfig load_config(const std::string& path) {
  std::string text = read_file(path);
  cfg::Json j = cfg::parse_json(text, path);
  if (!j.is_object()) USEG_THROW(path << ": expected a JSON object, got " << cfg::describe(j));
  LoadedConfig out;
  if (j.contains("train")) {
    RunConfig run = parse_run_config(text, path);
    ModelInfo& info = out.info;
    info.model = run.model;
    info.patch_size = run.train.patch_size;
    info.inference = run.inference;
    info.labels.push_back("background");
    for (int k = 1; k < run.model.num_classes; ++k) info.labels.push_back("class" + std::to_string(k));
    for (int c = 0; c < run.model.in_channels; ++c) {
      ChannelNorm ch;
      ch.name = "channel" + std::to_string(c);
      info.preprocess.channels.push_back(ch);
    }
    out.run = run;
    return out;
  }
  if (j.contains("model") && (j.contains("preprocess") || j.contains("format_version"))) {
    out.info = parse_model_info(text, path);
    return out;
  }
  USEG_THROW(path << ": not a useg config: expected a training config with \"model\" and "
                     "\"train\" sections, or a model.json with \"model\" and \"preprocess\"");
}

}  // namespace useg

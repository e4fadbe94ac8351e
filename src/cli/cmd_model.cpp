// `useg info MODEL_DIR|CONFIG` and `useg init --config CONFIG --output MODEL_DIR`.
#include <CLI/CLI.hpp>

#include <filesystem>
#include <iostream>

#include "cli/commands.h"
#include "useg/backend.h"
#include "useg/config.h"
#include "useg/error.h"
#include "useg/model.h"

namespace fs = std::filesystem;

namespace useg::cli {

namespace {

struct InfoArgs {
  std::string path;
};

int run_info(const InfoArgs& a) {
  ModelInfo info;
  bool is_dir = fs::is_directory(a.path);
  if (is_dir) {
    info = load_model_info((fs::path(a.path) / "model.json").string());
  } else {
    USEG_REQUIRE(fs::exists(a.path), a.path << " does not exist (expected a model folder or a "
                                               "JSON config)");
    LoadedConfig c = load_config(a.path);
    info = c.info;
  }
  ModelSummary s = summarize(info.model);
  std::cout << format_summary(info.model, s);
  if (!info.patch_size.empty()) {
    std::cout << "patch size:";
    for (int p : info.patch_size) std::cout << " " << p;
    std::cout << "\n";
  }
  if (!is_dir && info.model.classifier()) {
    std::cout << "classes: " << info.model.num_classes
              << ", named by the training data (class folders or CSV labels, or train.classes)\n";
  } else if (is_dir || !info.labels.empty()) {
    std::cout << (info.model.classifier() ? "classes:" : "labels:");
    for (size_t i = 0; i < info.labels.size(); ++i) std::cout << " " << i << "=" << info.labels[i];
    std::cout << "\n";
    if (info.instance_target()) {
      std::cout << "target: instances of " << info.instances.object
                << " (classes background / interior / boundary, boundary width "
                << info.instances.boundary_width << "; segment splits objects: seed_min_size "
                << info.instances.seed_min_size << ", seed_split " << info.instances.seed_split
                << ", min_size " << info.instances.min_size
                << ", fill_holes " << (info.instances.fill_holes ? "true" : "false") << ")";
      if (info.instances.diameter > 0)
        std::cout << "; training objects' median diameter " << info.instances.diameter
                  << " mm (segment --diameter rescales to it)";
      std::cout << "\n";
    }
    std::cout << "preprocessing: target spacing ";
    if (info.preprocess.target_spacing.empty()) std::cout << "native";
    for (double v : info.preprocess.target_spacing) std::cout << v << " ";
    std::cout << "; channels:";
    for (const auto& ch : info.preprocess.channels)
      std::cout << " " << ch.name << " (" << intensity_scheme_name(ch.scheme) << ")";
    std::cout << "\n";
    if (!info.model.classifier())
      std::cout << "segment: test-time mirroring "
                << (info.inference.tta ? "on (inference.tta; --no-tta turns it off)"
                                       : "off (inference.tta; --tta turns it on)")
                << "\n";
    if (!info.inference.postprocess.empty()) {
      std::cout << "segment: postprocess";
      for (const std::string& s : info.inference.postprocess) std::cout << " " << s;
      std::cout << " (inference.postprocess; --postprocess replaces it)\n";
    }
    for (const auto& [k, v] : info.provenance) std::cout << k << ": " << v << "\n";
  }
  return 0;
}

struct InitArgs {
  std::string config, output;
  uint64_t seed = 0;
};

int run_init(const InitArgs& a) {
  LoadedConfig c = load_config(a.config);
  auto backend = make_backend(Device::CPU);
  Network net(c.info.model, *backend);
  net.init_weights(a.seed);
  c.info.provenance["initialized"] = "He (Kaiming normal), seed " + std::to_string(a.seed);
  save_model_dir(a.output, c.info, net);
  std::cout << "wrote " << a.output << " (" << net.num_parameters()
            << " parameters, untrained)\n";
  return 0;
}

}  // namespace

void register_model_commands(CLI::App& app, std::function<int()>& run) {
  auto info = std::make_shared<InfoArgs>();
  CLI::App* ci = app.add_subcommand(
      "info", "Print a model's architecture per stage, parameter count, FLOPs per voxel and "
              "receptive field");
  ci->add_option("path", info->path, "model folder (model.json + weights) or a JSON config")
      ->required();
  ci->callback([&run, info] { run = [info] { return run_info(*info); }; });

  auto init = std::make_shared<InitArgs>();
  CLI::App* cn = app.add_subcommand(
      "init", "Write a model folder with freshly initialized (He) weights from a config");
  cn->add_option("--config", init->config, "training or model config (JSON)")->required();
  cn->add_option("--output", init->output, "model folder to write")->required();
  cn->add_option("--seed", init->seed, "random seed for the weights");
  cn->callback([&run, init] { run = [init] { return run_init(*init); }; });
}

}  // namespace useg::cli

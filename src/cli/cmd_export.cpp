// `useg export --model DIR --format onnx --output FILE`: a model folder as an ONNX model
// (docs/interop.md).
#include <CLI/CLI.hpp>

#include <filesystem>
#include <iostream>

#include "cli/commands.h"
#include "useg/backend.h"
#include "useg/error.h"
#include "useg/interop.h"
#include "useg/model.h"

namespace useg::cli {

namespace {

struct ExportArgs {
  std::string model, format = "onnx", output;
  bool aux_outputs = false;
};

int run_export(const ExportArgs& a) {
  std::string why;
  if (!onnx_export_available(&why)) USEG_THROW("useg export --format onnx: " << why);
  USEG_REQUIRE(
      std::filesystem::is_directory(a.model),
      "--model " << a.model << " is not a model folder (model.json + weights.safetensors)");
  auto backend = make_backend(Device::CPU);
  LoadedModel m = load_model_dir(a.model, *backend);
  OnnxExportOptions opts;
  opts.aux_outputs = a.aux_outputs;
  export_onnx(m.info, *m.net, a.output, opts);
  std::cout << "wrote " << a.output << " (ONNX opset " << onnx_opset() << ", ONNX library "
            << onnx_library_version() << "; " << m.net->num_parameters()
            << " parameters; input \"input\", output \"logits\""
            << (a.aux_outputs ? " and the deep-supervision heads" : "") << ")\n";
  return 0;
}

}  // namespace

void register_export_commands(CLI::App& app, std::function<int()>& run) {
  auto args = std::make_shared<ExportArgs>();
  CLI::App* c = app.add_subcommand(
      "export", "Write a model folder in another format: ONNX (opset 17, weights included, "
                "preprocessing as metadata; docs/interop.md)");
  c->add_option("--model", args->model, "model folder (model.json + weights.safetensors)")
      ->required();
  c->add_option("--format", args->format, "output format (onnx)")
      ->check(CLI::IsMember({"onnx"}));
  c->add_option("--output", args->output, "file to write (e.g. model.onnx)")->required();
  c->add_flag("--aux-outputs", args->aux_outputs,
              "also output the deep-supervision heads (logits_ds1, ...), as in training");
  c->callback([&run, args] { run = [args] { return run_export(*args); }; });
}

}  // namespace useg::cli

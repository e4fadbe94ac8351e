// `useg ensemble --input DIR --input DIR ... --output DIR`: separate segment runs' probability
// files averaged into labels (src/infer/prob_ensemble.h, docs/segment.md).
#include <CLI/CLI.hpp>
#include <iostream>
#include <memory>

#include "cli/commands.h"
#include "infer/prob_ensemble.h"

namespace useg::cli {

namespace {

struct EnsembleArgs {
  ProbabilityEnsembleOptions o;
  std::vector<std::string> postprocess;
};

int run_ensemble(EnsembleArgs& a) {
  if (!a.postprocess.empty()) a.o.postprocess = parse_postprocess(a.postprocess);
  a.o.log = [](const std::string& line) { std::cout << line << "\n" << std::flush; };
  const int n = ensemble_probability_files(a.o);
  std::cout << "ensembled " << n << " case(s) of " << a.o.inputs.size() << " runs into "
            << a.o.output << "\n";
  return 0;
}

}  // namespace

void register_ensemble_commands(CLI::App& app, std::function<int()>& run) {
  auto a = std::make_shared<EnsembleArgs>();
  CLI::App* c = app.add_subcommand(
      "ensemble",
      "Average the probabilities of several useg segment --save-probabilities runs case by case "
      "into labels (nnUNetv2_ensemble): for models segment cannot ensemble in one run, such as "
      "a 2D and a 3D configuration");
  c->add_option("--input", a->o.inputs,
                "a useg segment --output folder written with --save-probabilities "
                "(NAME_prob_K.EXT); give two or more")
      ->required();
  c->add_option("--output", a->o.output, "folder for NAME.EXT, the labels (class indices)")
      ->required();
  c->add_option("--model", a->o.model,
                "a model folder whose settings act on the average as in useg segment: its "
                "inference.postprocess and, for an instance model, the split into objects "
                "(NAME_instances.EXT); its classes must be the files'");
  c->add_option("--postprocess", a->postprocess,
                postprocess_syntax() + " (default: --model's inference.postprocess, else none)");
  c->add_flag("--save-probabilities", a->o.save_probabilities,
              "also write the averaged probabilities, NAME_prob_K.EXT");
  c->callback([&run, a] { run = [a] { return run_ensemble(*a); }; });
}

}  // namespace useg::cli

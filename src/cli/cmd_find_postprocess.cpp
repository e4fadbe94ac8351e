// `useg find-postprocess --run RUN... --data DATASET [--apply] [--output FILE]`: the
// postprocessing that raises the runs' validation Dice (src/train/postprocess_search.h,
// docs/training.md "Choosing the postprocessing").
#include <CLI/CLI.hpp>
#include <cstdio>
#include <filesystem>
#include <iostream>
#include <memory>

#include "cli/commands.h"
#include "core/files.h"
#include "train/postprocess_search.h"
#include "useg/backend.h"
#include "useg/error.h"

namespace fs = std::filesystem;

namespace useg::cli {

namespace {

struct FindArgs {
  std::vector<std::string> runs;
  std::string data, output, device = "cpu";
  int threads = 0;
  bool apply = false;
};

std::string steps_text(const std::vector<std::string>& steps) {
  std::string s;
  for (const std::string& x : steps) s += (s.empty() ? "" : ",") + x;
  return s.empty() ? "none" : s;
}

int run_find(const FindArgs& a) {
  PostprocessSearchOptions o;
  o.device = parse_device(a.device);
  o.backend.threads = a.threads;
  o.log = [](const std::string& line) { std::cout << line << "\n" << std::flush; };
  const std::vector<std::string> runs = resolve_run_dirs(a.runs);
  const std::string out =
      a.output.empty() ? (fs::path(a.runs.front()) / "postprocess.json").string() : a.output;
  PostprocessSearch s = find_postprocess(runs, a.data, o);

  std::cout << "\npostprocessing on " << s.cases.size() << " validation case(s) of " << runs.size()
            << " run(s): Dice per foreground class, mean over the cases; N+ M-: cases whose mean "
               "foreground Dice the steps raise / lower\n";
  char line[512];
  std::snprintf(line, sizeof line, "  %-22s %12s", "steps", "mean fg Dice");
  std::cout << line;
  for (size_t k = 1; k < s.class_names.size(); ++k) {
    std::snprintf(line, sizeof line, " %12.12s", s.class_names[k].c_str());
    std::cout << line;
  }
  std::cout << "\n";
  for (size_t c = 0; c < s.candidates.size(); ++c) {
    const PostprocessCandidate& cand = s.candidates[c];
    std::snprintf(line, sizeof line, "  %-22s %12.6f", steps_text(cand.steps).c_str(),
                  cand.mean_fg_dice);
    std::cout << line;
    for (double d : cand.class_dice) {
      std::snprintf(line, sizeof line, " %12.6f", d);
      std::cout << line;
    }
    std::snprintf(line, sizeof line, "   %d+ %d-", cand.better, cand.worse);
    if (c > 0) std::cout << line;
    std::cout << (c == s.chosen ? "   <- chosen" : "") << "\n";
  }
  fs::path parent = fs::path(out).parent_path();
  if (!parent.empty()) fs::create_directories(parent);
  write_file_atomic(out, postprocess_search_json(s) + "\n");
  const std::string chosen = steps_text(s.candidates[s.chosen].steps);
  std::cout << "chosen: " << chosen
            << (s.chosen == 0 ? " (no candidate beat the labels as predicted)" : "") << "; wrote "
            << out << "\n";
  if (a.apply) {
    for (const std::string& f : apply_postprocess_choice(s))
      std::cout << "inference.postprocess = [" << (s.chosen ? chosen : "") << "] in " << f << "\n";
  } else {
    std::cout << "--apply writes it into each run's best/ and last/ model.json (inference."
                 "postprocess), which useg segment then runs by default\n";
  }
  return 0;
}

}  // namespace

void register_find_postprocess_commands(CLI::App& app, std::function<int()>& run) {
  auto a = std::make_shared<FindArgs>();
  CLI::App* c = app.add_subcommand(
      "find-postprocess",
      "Choose a trained model's postprocessing on its validation cases, as nnU-Net's "
      "find_best_configuration: none, largest, fill-holes, largest+fill-holes scored by the mean "
      "foreground Dice");
  c->add_option("--run", a->runs,
                "training run folder (useg train --output: checkpoint.safetensors, best/), or a "
                "folder of fold_K run folders (cross-validation); may be repeated")
      ->required();
  c->add_option("--data", a->data, "the dataset the runs were trained on (nnU-Net layout)")
      ->required();
  c->add_option("--output", a->output, "report file (default RUN/postprocess.json)");
  c->add_flag("--apply", a->apply,
              "write the chosen steps into inference.postprocess of each run's best/ and last/ "
              "model.json");
  c->add_option("--device", a->device, "cpu | cuda")->capture_default_str();
  c->add_option("--threads", a->threads, "CPU threads (0 = all cores)")->capture_default_str();
  c->callback([&run, a] { run = [a] { return run_find(*a); }; });
}

}  // namespace useg::cli

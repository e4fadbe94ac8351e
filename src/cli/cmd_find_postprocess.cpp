// `useg find-postprocess --run RUN... --data DATASET [--apply] [--output FILE]`: the
// postprocessing that raises the runs' validation Dice (src/train/postprocess_search.h), or for
// an instance dataset the split settings that raise the objects' F1 (src/train/instance_search.h;
// docs/training.md "Choosing the postprocessing").
#include <CLI/CLI.hpp>
#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <iostream>
#include <memory>

#include "cli/commands.h"
#include "core/files.h"
#include "train/dataset.h"
#include "train/instance_search.h"
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

void write_report(const std::string& out, const std::string& json) {
  fs::path parent = fs::path(out).parent_path();
  if (!parent.empty()) fs::create_directories(parent);
  write_file_atomic(out, json + "\n");
}

std::string settings_text(const InstanceSettings& x) {
  char line[160];
  std::snprintf(line, sizeof line, "%-5s %10g %13g %10g", x.fill_holes ? "on" : "off", x.seed_split,
                x.seed_min_size, x.min_size);
  return line;
}

// An instance dataset: the split settings (src/train/instance_search.h). The table shows the
// model's settings and the ten best others by F1; the report holds them all.
int run_find_instances(const FindArgs& a, const std::vector<std::string>& runs,
                       const std::string& out, const PostprocessSearchOptions& o) {
  const InstanceSearch s = find_instance_settings(runs, a.data, o);
  const char* unit = s.dims == 3 ? "mm3" : "mm2";
  std::cout << "\nsplit settings on " << s.cases.size() << " validation case(s) of " << runs.size()
            << " run(s), " << s.candidates.size() << " candidates around the objects' diameter "
            << s.diameter
            << " mm: objects matched at IoU 0.5, pooled over the cases; N+ M-: "
               "cases whose F1 the settings raise / lower\n";
  char line[512];
  std::snprintf(line, sizeof line, "  %-5s %10s %13s %10s %8s %9s %8s %8s %15s\n", "fill",
                "seed_split", "seed_min_size", "min_size", "F1", "precision", "recall", "PQ",
                "TP/FP/FN");
  std::cout << line;
  const std::string area = std::string("(") + unit + ")";
  std::snprintf(line, sizeof line, "  %-5s %10s %13s %10s\n", "", "(mm)", area.c_str(),
                area.c_str());
  std::cout << line;
  std::vector<size_t> order(s.candidates.size());
  for (size_t i = 0; i < order.size(); ++i) order[i] = i;
  std::stable_sort(order.begin() + 1, order.end(), [&](size_t x, size_t y) {
    return s.candidates[x].pooled.f1 > s.candidates[y].pooled.f1;
  });
  for (size_t r = 0; r < std::min<size_t>(order.size(), 11); ++r) {
    const InstanceCandidate& c = s.candidates[order[r]];
    const std::string counts = std::to_string(c.pooled.tp) + "/" + std::to_string(c.pooled.fp) +
                               "/" + std::to_string(c.pooled.fn);
    std::snprintf(line, sizeof line, "  %s %8.4f %9.4f %8.4f %8.4f %15s",
                  settings_text(c.settings).c_str(), c.pooled.f1, c.pooled.precision,
                  c.pooled.recall, c.pooled.panoptic_quality, counts.c_str());
    std::cout << line;
    if (order[r] == 0)
      std::cout << "   (the model's)";
    else
      std::cout << "   " << c.better << "+ " << c.worse << "-";
    std::cout << (order[r] == s.chosen ? "   <- chosen" : "") << "\n";
  }
  write_report(out, instance_search_json(s));
  const InstanceSettings& x = s.candidates[s.chosen].settings;
  std::cout << "chosen: fill_holes " << (x.fill_holes ? "on" : "off") << ", seed_split "
            << x.seed_split << " mm, seed_min_size " << x.seed_min_size << " " << unit
            << ", min_size " << x.min_size << " " << unit
            << (s.chosen == 0 ? " (no candidate beat the model's settings)" : "") << "; wrote "
            << out << "\n";
  if (a.apply) {
    for (const std::string& f : apply_instance_choice(s))
      std::cout << "instances (fill_holes, seed_split, seed_min_size, min_size) set in " << f
                << "\n";
  } else {
    std::cout << "--apply writes them into each run's best/ and last/ model.json (instances), "
                 "which useg segment then uses\n";
  }
  return 0;
}

int run_find(const FindArgs& a) {
  PostprocessSearchOptions o;
  o.device = parse_device(a.device);
  o.backend.threads = a.threads;
  o.log = [](const std::string& line) { std::cout << line << "\n" << std::flush; };
  const std::vector<std::string> runs = resolve_run_dirs(a.runs);
  const std::string out =
      a.output.empty() ? (fs::path(a.runs.front()) / "postprocess.json").string() : a.output;
  if (scan_dataset(a.data).meta.instances) return run_find_instances(a, runs, out, o);
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
  write_report(out, postprocess_search_json(s));
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
      "foreground Dice; for an instance dataset the split settings (fill_holes, seed_split, "
      "seed_min_size, min_size) scored by the F1 of the objects, as StarDist's "
      "optimize_thresholds");
  c->add_option("--run", a->runs,
                "training run folder (useg train --output: checkpoint.safetensors, best/), or a "
                "folder of fold_K run folders (cross-validation); may be repeated")
      ->required();
  c->add_option("--data", a->data, "the dataset the runs were trained on (nnU-Net layout)")
      ->required();
  c->add_option("--output", a->output, "report file (default RUN/postprocess.json)");
  c->add_flag("--apply", a->apply,
              "write the choice into each run's best/ and last/ model.json (inference.postprocess, "
              "or instances for an instance dataset)");
  c->add_option("--device", a->device, "cpu | cuda")->capture_default_str();
  c->add_option("--threads", a->threads, "CPU threads (0 = all cores)")->capture_default_str();
  c->callback([&run, a] { run = [a] { return run_find(*a); }; });
}

}  // namespace useg::cli

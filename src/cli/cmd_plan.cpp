// `useg plan --data DATASET [--memory-budget 8G] [--output plan.json]`: the dataset's
// fingerprint and ready training configs (include/useg/plan.h, docs/training.md "Planning").
#include <CLI/CLI.hpp>

#include <filesystem>
#include <iostream>
#include <sstream>

#include "cli/commands.h"
#include "core/files.h"
#include "useg/config.h"
#include "useg/error.h"
#include "useg/plan.h"
#include "util/progress.h"

namespace fs = std::filesystem;

namespace useg::cli {

namespace {

struct PlanArgs {
  std::string data, output, memory_budget = "8G";
  uint64_t seed = 1234;
};

template <class T>
std::string list(const std::vector<T>& v) {
  std::ostringstream os;
  os << "[";
  for (size_t i = 0; i < v.size(); ++i) os << (i ? ", " : "") << v[i];
  return os.str() + "]";
}

// PLAN.json -> PLAN_3d_fullres.json, PLAN_2d.json
std::string config_path(const std::string& plan, const std::string& name) {
  fs::path p(plan);
  std::string stem = p.stem().string();
  return (p.parent_path() / (stem + "_" + name + ".json")).string();
}

int run_plan(const PlanArgs& a) {
  const int64_t budget = parse_bytes(a.memory_budget, "--memory-budget");
  const std::string out = a.output.empty() ? (fs::path(a.data) / "plan.json").string() : a.output;
  DatasetFingerprint fp;
  {
    Progress p("reading cases", 0, -1);
    fp = fingerprint_dataset(a.data, a.seed, [&](int64_t done, int64_t total) {
      p.update(done, std::to_string(done) + "/" + std::to_string(total));
    });
    p.finish();
  }
  DatasetPlan plan = plan_dataset(fp, budget);
  std::cout << "dataset " << fp.dataset << ": " << fp.cases.size() << " cases, " << fp.dims
            << "D, " << fp.channels.size() << " channel(s), " << fp.classes << " classes\n";
  std::cout << "target spacing " << list(std::vector<double>(plan.target_spacing.begin(),
                                                             plan.target_spacing.end()))
            << " mm [D, H, W]\n";
  fs::path parent = fs::path(out).parent_path();
  if (!parent.empty()) fs::create_directories(parent);
  write_file_atomic(out, to_json_string(plan));
  for (const PlannedConfiguration& c : plan.configurations) {
    const ModelConfig& m = c.run.model;
    std::vector<std::string> pools;
    for (const auto& p : m.pool_sizes) pools.push_back(list(std::vector<int>(p.begin(), p.end())));
    const std::string path = config_path(out, c.name);
    write_file_atomic(path, to_json_string(c.run) + "\n");
    std::cout << c.name << ": patch " << list(c.run.train.patch_size) << ", batch "
              << c.run.train.batch_size << ", depth " << m.depth << ", pools " << list(pools)
              << ", about " << double(c.step_bytes) / double(int64_t(1) << 30)
              << " GiB per training step (modelled; " << int(kPlanMemoryReserve * 100)
              << "% of the budget kept free beside it) -> " << path << "\n";
  }
  std::cout << "plan: " << out << "\n";
  return 0;
}

}  // namespace

void register_plan_commands(CLI::App& app, std::function<int()>& run) {
  auto a = std::make_shared<PlanArgs>();
  CLI::App* c = app.add_subcommand(
      "plan", "Fingerprint an nnU-Net v2 raw dataset (spacings, sizes, intensities, class "
              "fractions) and write ready training configs (3D and 2D) whose patch, topology "
              "and batch fit a memory budget, after nnU-Net's planner");
  c->add_option("--data", a->data, "dataset folder in the nnU-Net v2 raw layout")->required();
  c->add_option("--memory-budget", a->memory_budget,
                "memory one training step may use (K, M, G, T suffixes)")
      ->capture_default_str();
  c->add_option("--output", a->output,
                "plan file (default DATASET/plan.json); the configs go beside it as "
                "PLAN_3d_fullres.json and PLAN_2d.json");
  c->add_option("--seed", a->seed, "seed of the foreground intensity sampling")
      ->capture_default_str();
  c->callback([&run, a] { run = [a] { return run_plan(*a); }; });
}

}  // namespace useg::cli

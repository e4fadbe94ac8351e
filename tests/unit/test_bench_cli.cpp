// `useg bench` through the binary: the analytic GFLOP it reports (total, per layer, training =
// 3x forward) against summarize(), the JSON it writes, and its usage errors. Times are printed,
// never asserted.
#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>
#include <numeric>
#include <nlohmann/json.hpp>
#include <string>

#include "common/image_fixtures.h"
#include "common/run_cli.h"
#include "common/train_fixtures.h"
#include "cpu/inference_plan.h"
#include "useg/backend.h"
#include "useg/config.h"
#include "core/files.h"
#include "useg/model.h"

namespace fs = std::filesystem;

namespace useg {
namespace {

struct BenchSetup {
  fs::path root, config;
  RunConfig run;
};

BenchSetup setup(const std::string& name) {
  BenchSetup s;
  s.root = test::fresh_dir(name);
  s.run = test::tiny_run(2);
  s.config = s.root / "tiny.json";
  test::write_text(s.config, to_json_string(s.run));
  return s;
}

nlohmann::json read_json(const fs::path& p) { return nlohmann::json::parse(read_file(p.string())); }

double layer_gflop(const nlohmann::json& j) {
  double sum = 0;
  for (const auto& l : j["layers"]) sum += l["gflop"].get<double>();
  return sum;
}

TEST(BenchCli, NamesAClassifierAsOne) {
  auto r = test::run_useg(std::string("bench --config ") + USEG_SOURCE_DIR +
                          "/configs/cnn_small.json --shape 32 32 --batch 2 --repeat 1 --warmup 0 "
                          "--threads 1");
  ASSERT_EQ(r.status, 0) << r.output;
  EXPECT_NE(r.output.find("useg bench: 2D classifier of 7 layers, input [2, 1, 1, 32, 32]"),
            std::string::npos)
      << r.output;
}

TEST(BenchCli, ForwardReportsTheAnalyticGflopInTotalAndPerLayer) {
  BenchSetup s = setup("bench_cli_forward");
  const fs::path out = s.root / "fwd.json";
  auto r = test::run_useg("bench --config " + s.config.string() +
                          " --shape 32 48 --repeat 3 --warmup 1 --threads 1 --json " +
                          out.string());
  ASSERT_EQ(r.status, 0) << r.output;
  EXPECT_NE(r.output.find("useg bench: 2D U-Net base 8 depth 2 (instance norm), input [1, 1, 1, "
                          "32, 48], forward"),
            std::string::npos)
      << r.output;
  EXPECT_NE(r.output.find("on cpu, 1 threads"), std::string::npos) << r.output;
  nlohmann::json j = read_json(out);
  const double expected = summarize(s.run.model).flops_per_voxel * 32 * 48 * 1e-9;
  ASSERT_GT(expected, 0);
  EXPECT_NEAR(j["gflop"].get<double>(), expected, 1e-12 * expected);
  EXPECT_NEAR(layer_gflop(j), expected, 1e-6 * expected) << "the layers' GFLOP add up to the total";
  EXPECT_EQ(j["times_ms"].size(), 3u);
  EXPECT_EQ(j["cpu_ms"].size(), 3u);
  std::vector<double> t = j["times_ms"].get<std::vector<double>>();
  std::sort(t.begin(), t.end());
  EXPECT_EQ(j["median_ms"].get<double>(), t[1]);
  EXPECT_EQ(j["device"], "cpu");
  EXPECT_EQ(j["precision"], "default");
  EXPECT_EQ(j["threads"], 1);
  EXPECT_GT(j["peak_rss_mb"].get<double>(), 0);
  // The per-op path gives the same analytic total.
  const fs::path out2 = s.root / "noplan.json";
  auto r2 = test::run_useg("bench --config " + s.config.string() +
                           " --shape 32 48 --repeat 1 --threads 1 --no-plan --precision fp32 "
                           "--json " + out2.string());
  ASSERT_EQ(r2.status, 0) << r2.output;
  nlohmann::json j2 = read_json(out2);
  EXPECT_EQ(j2["what"], "forward (per-op API path)");
  EXPECT_EQ(j2["precision"], "fp32");
  EXPECT_NEAR(j2["gflop"].get<double>(), expected, 1e-12 * expected);
  EXPECT_NEAR(layer_gflop(j2), expected, 1e-6 * expected) << "per-op layers add up too";
  // --no-layers times the per-op network as a user runs it: no op timer (which synchronizes
  // after every op) is installed, so no layer is reported.
  const fs::path out3 = s.root / "nolayers.json";
  auto r3 = test::run_useg("bench --config " + s.config.string() +
                           " --shape 32 48 --repeat 1 --threads 1 --no-plan --no-layers --json " +
                           out3.string());
  ASSERT_EQ(r3.status, 0) << r3.output;
  nlohmann::json j3 = read_json(out3);
  EXPECT_TRUE(j3["layers"].empty()) << j3["layers"].dump();
  EXPECT_EQ(r3.output.find("per layer"), std::string::npos) << r3.output;
}

// --conv-algorithm reaches the plan: --verbose lists each step's implementation, and the
// Winograd steps count the direct convolution's analytic GFLOP (the same total either way).
TEST(BenchCli, ConvAlgorithmChoosesThePlansConvolutions) {
  BenchSetup s = setup("bench_cli_conv_algorithm");
  const double expected = summarize(s.run.model).flops_per_voxel * 32 * 48 * 1e-9;
  for (const std::string alg : {"auto", "direct"}) {
    SCOPED_TRACE(alg);
    const fs::path out = s.root / (alg + ".json");
    auto r = test::run_useg("bench --config " + s.config.string() +
                            " --shape 32 48 --repeat 1 --threads 1 --verbose --conv-algorithm " +
                            alg + " --json " + out.string());
    ASSERT_EQ(r.status, 0) << r.output;
    const bool wino = alg == "auto" && cpu::plan_uses_winograd();
    EXPECT_EQ(r.output.find("useg winograd F(2x2,3x3) avx2") != std::string::npos, wino)
        << r.output;
    nlohmann::json j = read_json(out);
    EXPECT_EQ(j["conv_algorithm"], alg);
    EXPECT_NEAR(j["gflop"].get<double>(), expected, 1e-12 * expected);
  }
  auto r = test::run_useg("bench --config " + s.config.string() +
                          " --shape 16 16 --conv-algorithm fft");
  EXPECT_NE(r.status, 0);
  EXPECT_NE(r.output.find("--conv-algorithm: fft not in {auto,direct}"), std::string::npos)
      << r.output;
}

TEST(BenchCli, TrainingStepCountsThreeForwardsPerSample) {
  BenchSetup s = setup("bench_cli_train");
  const fs::path out = s.root / "train.json";
  auto r = test::run_useg("bench --config " + s.config.string() +
                          " --shape 32 32 --batch 2 --train --repeat 1 --warmup 0 --threads 1 "
                          "--json " + out.string());
  ASSERT_EQ(r.status, 0) << r.output;
  nlohmann::json j = read_json(out);
  EXPECT_EQ(j["what"], "training step (forward + DiceCE + backward + Adam)");
  const double fwd = summarize(s.run.model).flops_per_voxel * 32 * 32 * 2 * 1e-9;
  EXPECT_NEAR(j["gflop"].get<double>(), 3 * fwd, 1e-12 * fwd);
  EXPECT_GT(j["layers"].size(), 0u);
  EXPECT_EQ(j["input"], (std::vector<int64_t>{2, 1, 1, 32, 32}));
  // The planner's memory model of the same step, in MiB (scripts/check_memory_model.sh).
  const TrainingMemory m = training_step_memory(s.run.model, {1, 32, 32}, 2);
  EXPECT_DOUBLE_EQ(j["model_activation_mib"].get<double>(), m.activation_bytes / 1048576.0);
  EXPECT_DOUBLE_EQ(j["model_parameter_mib"].get<double>(), m.parameter_bytes / 1048576.0);
  EXPECT_NE(r.output.find("memory model (useg plan): "), std::string::npos) << r.output;
}

TEST(BenchCli, UsageErrorsNameTheProblem) {
  BenchSetup s = setup("bench_cli_errors");
  const std::string cfg = " --config " + s.config.string();
  struct Case {
    std::string args, message;
  };
  std::vector<Case> cases = {
      {"bench" + cfg + " --shape 16 16 --precision fp16",
       "precision fp16 needs --device cuda: the CPU backend computes in float32"},
      {"bench" + cfg + " --model " + s.root.string() + " --shape 16 16",
       "bench: give exactly one of --config, --model"},
      {"bench" + cfg + " --shape 16 16 --repeat 0", "bench: --repeat and --batch must be >= 1"},
  };
  std::string why;
  if (!device_available(Device::CUDA, &why))
    cases.push_back({"bench" + cfg + " --shape 16 16 --device cuda", why});
  for (const Case& c : cases) {
    SCOPED_TRACE(c.args);
    auto r = test::run_useg(c.args);
    EXPECT_EQ(r.status, 2) << r.output;
    EXPECT_NE(r.output.find("useg: error: " + c.message), std::string::npos) << r.output;
  }
  auto r = test::run_useg("bench" + cfg + " --shape 16 16 --device tpu");
  EXPECT_NE(r.status, 0);
  EXPECT_NE(r.output.find("--device: tpu not in {cpu,cuda}"), std::string::npos) << r.output;
}

}  // namespace
}  // namespace useg

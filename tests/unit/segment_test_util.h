// Helpers for the `useg segment` tests: small untrained model folders, running the real binary,
// and reading the batch report.
#pragma once

#include <gtest/gtest.h>
#include <sys/wait.h>

#include <algorithm>
#include <array>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <map>
#include <nlohmann/json.hpp>
#include <random>
#include <string>
#include <vector>

#include "common/expect_error.h"
#include "common/image_fixtures.h"
#include "core/files.h"
#include "useg/backend.h"
#include "useg/config.h"
#include "useg/model.h"

// EXPECT_USEG_ERROR(statement, "text"): the statement throws a useg::Error containing text.
#define EXPECT_USEG_ERROR(stmt, text) ::useg::test::expect_error([&] { stmt; }, text)

namespace useg::test {

struct ModelSpec {
  int dims = 3;
  int in_channels = 1;
  int classes = 3;
  int base = 4;
  int depth = 2;
  std::vector<int> patch{16, 16, 16};       // [D, H, W] or [H, W]
  std::vector<double> target_spacing;       // [D, H, W] or [H, W]; empty = native
  IntensityScheme scheme = IntensityScheme::ZScore;
  uint64_t seed = 7;
  bool tta = false;                         // model.json inference.tta
  std::vector<std::string> postprocess;     // model.json inference.postprocess
};

// Writes an untrained (He-initialized) model folder.
inline std::string make_model(const std::filesystem::path& dir, const ModelSpec& s) {
  ModelInfo info;
  info.model.dims = s.dims;
  info.model.in_channels = s.in_channels;
  info.model.num_classes = s.classes;
  info.model.base_filters = s.base;
  info.model.depth = s.depth;
  info.patch_size = s.patch;
  info.inference.tta = s.tta;
  info.inference.postprocess = s.postprocess;
  info.preprocess.target_spacing = s.target_spacing;
  for (int c = 0; c < s.in_channels; ++c) {
    ChannelNorm ch;
    ch.name = "channel" + std::to_string(c);
    ch.scheme = s.scheme;
    info.preprocess.channels.push_back(ch);
  }
  info.labels.push_back("background");
  for (int k = 1; k < s.classes; ++k) info.labels.push_back("organ" + std::to_string(k));
  auto backend = make_backend(Device::CPU);
  Network net(info.model, *backend);
  net.init_weights(s.seed);
  save_model_dir(dir.string(), info, net);
  return dir.string();
}

struct CommandResult {
  int code = -1;
  std::string output;  // stdout and stderr
};

// Runs `useg ARGS` (with optional environment assignments before it), capturing its output.
inline CommandResult run_useg(const std::string& args, const std::string& env = "") {
  std::string cmd = (env.empty() ? "" : "env " + env + " ") + std::string(USEG_BINARY) + " " +
                    args + " 2>&1";
  CommandResult r;
  FILE* p = popen(cmd.c_str(), "r");
  if (!p) return r;
  std::array<char, 4096> buf;
  size_t n;
  while ((n = std::fread(buf.data(), 1, buf.size(), p)) > 0) r.output.append(buf.data(), n);
  int status = pclose(p);
  r.code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  return r;
}

// Bright discs of diameter `diameter` px on a dark noisy background, 2D.
inline Image disc_image(int size, double diameter) {
  Image im;
  im.source = "discs";
  im.geometry.dims = 2;
  im.geometry.size = {size, size, 1};
  im.voxels = Tensor::empty(Shape{1, 1, 1, size, size});
  std::mt19937_64 gen(5);
  std::normal_distribution<double> noise(0, 0.05);
  const double r = diameter / 2;
  for (int y = 0; y < size; ++y)
    for (int x = 0; x < size; ++x) {
      double v = 0.1;
      for (double cy = r + 4; cy + r + 4 < size; cy += diameter + 3)
        for (double cx = r + 4; cx + r + 4 < size; cx += diameter + 3) {
          const double d = std::hypot(y - cy, x - cx) / r;
          if (d <= 1) v = 0.8 + 0.2 * (1 - d * d);
        }
      im.voxels.at(0, 0, 0, y, x) = float(v + noise(gen));
    }
  return im;
}

// The largest |a[i] - b[i]| (the sizes must agree).
inline float max_abs_diff(const std::vector<float>& a, const std::vector<float>& b) {
  EXPECT_EQ(a.size(), b.size());
  float m = 0;
  for (size_t i = 0; i < a.size() && i < b.size(); ++i) m = std::max(m, std::fabs(a[i] - b[i]));
  return m;
}

inline nlohmann::json read_report(const std::filesystem::path& path) {
  return nlohmann::json::parse(read_file(path.string()));
}

// status of every case in a report, by case id
inline std::map<std::string, std::string> report_statuses(const nlohmann::json& report) {
  std::map<std::string, std::string> out;
  for (const auto& c : report.at("cases")) out[c.at("case")] = c.at("status");
  return out;
}

inline std::string quote(const std::filesystem::path& p) { return "'" + p.string() + "'"; }

// A smooth volume with structure (so z-score normalization is well defined).
inline Tensor pattern_volume(const Geometry& g, int channels = 1) {
  Tensor t = Tensor::empty(Shape::ncdhw(1, channels, g.size[2], g.size[1], g.size[0]));
  for (int c = 0; c < channels; ++c)
    for (int64_t z = 0; z < g.size[2]; ++z)
      for (int64_t y = 0; y < g.size[1]; ++y)
        for (int64_t x = 0; x < g.size[0]; ++x)
          t.at(0, c, z, y, x) = static_cast<float>(
              100 * std::sin(0.3 * x + c) * std::cos(0.2 * y) + 20 * std::sin(0.5 * z) + 7 * c);
  return t;
}

}  // namespace useg::test

// A classification dataset for the tests: class folders "disc" and "square" of 20x20 pictures
// (a bright shape of random size and place on noise), and a small CNN config that learns them in
// seconds.
#pragma once

#include <cmath>
#include <filesystem>
#include <random>
#include <string>

#include "common/image_fixtures.h"
#include "useg/config.h"
#include "useg/image.h"
#include "useg/tensor.h"

namespace useg::test {

// A 20x20 picture: a bright disc (class "disc") or square ("square") of random size and place
// on noise.
inline void write_shape(const std::filesystem::path& file, bool disc, std::mt19937& rng) {
  std::uniform_real_distribution<float> u(0.f, 1.f);
  const int n = 20;
  const float r = 3.5f + 2.5f * u(rng), cy = 7 + 6 * u(rng), cx = 7 + 6 * u(rng);
  Tensor t = Tensor::empty(Shape{1, 1, 1, n, n});
  for (int y = 0; y < n; ++y)
    for (int x = 0; x < n; ++x) {
      const float dy = y - cy, dx = x - cx;
      const bool in = disc ? dy * dy + dx * dx <= r * r
                           : std::fabs(dy) <= r * 0.85f && std::fabs(dx) <= r * 0.85f;
      t.at(0, 0, 0, y, x) = std::round(40 * u(rng) + (in ? 150 : 20));
    }
  Geometry g;
  g.dims = 2;
  g.size = {n, n, 1};
  write_image(file.string(), t, g, "uint8");
}

inline std::filesystem::path make_shapes(const std::string& name, int per_class, uint32_t seed) {
  std::filesystem::path dir = fresh_dir(name);
  std::mt19937 rng(seed);
  for (const char* cls : {"disc", "square"}) {
    std::filesystem::create_directories(dir / cls);
    for (int i = 0; i < per_class; ++i)
      write_shape(dir / cls / ("img" + std::to_string(i) + ".png"), cls[0] == 'd', rng);
  }
  return dir;
}

inline RunConfig cnn_config(int epochs) {
  RunConfig r = parse_run_config(R"({
    "model": {"architecture": "layers", "dims": 2, "in_channels": 1, "num_classes": 2,
              "input_size": [16, 16],
              "layers": [{"type": "conv", "filters": 8, "activation": "relu"},
                         {"type": "max_pool"},
                         {"type": "conv", "filters": 16, "activation": "relu"},
                         {"type": "max_pool"},
                         {"type": "flatten"},
                         {"type": "dense", "units": 16, "activation": "relu"},
                         {"type": "dense"}]},
    "train": {"batch_size": 8, "epochs": 6, "iterations_per_epoch": 10, "optimizer": "adam",
              "lr": 0.003, "weight_decay": 0, "schedule": "constant", "val_fraction": 0.25,
              "num_workers": 0, "seed": 3,
              "augment": {"rotate": 0, "scale": 0, "noise": 0, "blur": 0, "brightness": 0,
                          "contrast": 0, "gamma": 0}}})",
                                 "cnn.json");
  r.train.epochs = epochs;
  return r;
}

}  // namespace useg::test

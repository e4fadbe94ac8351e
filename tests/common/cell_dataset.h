// An instance dataset for the tests (dataset.json "instances": true): touching discs whose
// labels are one id per object, and a run config that trains a three-class instance model on it
// in seconds.
#pragma once

#include <cmath>
#include <filesystem>
#include <random>
#include <string>
#include <vector>

#include "common/train_fixtures.h"
#include "useg/image.h"
#include "useg/tensor.h"

namespace useg::test {

// Cases of 64 x 64 pixels holding two pairs of touching discs ("cells", radius 7..9, a pair's
// centres 1.7 radii apart, ids 1..4), each disc brightest at its centre so that a contact is a
// dip in intensity, on noise. Labels are the ids (uint16).
inline void write_cell_dataset(
    const std::filesystem::path& dir, int cases, uint64_t seed,
    const std::string& labels_json = "{\"background\": 0, \"cell\": 1}") {
  std::filesystem::create_directories(dir / "imagesTr");
  std::filesystem::create_directories(dir / "labelsTr");
  std::mt19937_64 gen(seed);
  std::uniform_real_distribution<double> u(0, 1);
  std::normal_distribution<double> n(0, 1);
  const Geometry g = [] {
    Geometry x;
    x.dims = 2;
    x.size = {64, 64, 1};
    return x;
  }();
  for (int c = 0; c < cases; ++c) {
    struct Disc {
      double x, y, r;
    };
    std::vector<Disc> discs;
    for (int pair = 0; pair < 2; ++pair) {
      const double r = 7 + 2 * u(gen), cy = 14 + 34 * pair + 2 * u(gen), cx = 20 + 8 * u(gen);
      const double a = 0.6 * (u(gen) - 0.5);  // the pair's tilt
      discs.push_back({cx, cy, r});
      discs.push_back({cx + 1.7 * r * std::cos(a), cy + 1.7 * r * std::sin(a), r});
    }
    Tensor img = Tensor::empty(Shape{1, 1, 1, 64, 64});
    Tensor lab = Tensor::zeros(Shape{1, 1, 1, 64, 64});
    for (int64_t y = 0; y < 64; ++y)
      for (int64_t x = 0; x < 64; ++x) {
        int best = 0;
        double best_d = 1e9, v = 0;
        for (size_t k = 0; k < discs.size(); ++k) {
          const double d = std::hypot(x - discs[k].x, y - discs[k].y) / discs[k].r;
          if (d <= 1 && d < best_d) best = int(k) + 1, best_d = d;
        }
        if (best) v = 1.0 - 0.6 * best_d * best_d;
        img.at(0, 0, 0, y, x) = static_cast<float>(100 + 40 * (v + 0.1 * n(gen)));
        lab.at(0, 0, 0, y, x) = static_cast<float>(best);
      }
    const std::string name = "cells_" + std::to_string(c);
    write_image((dir / "imagesTr" / (name + "_0000.nii.gz")).string(), img, g, "float");
    write_image((dir / "labelsTr" / (name + ".nii.gz")).string(), lab, g, "uint16");
  }
  test::write_text(dir / "dataset.json",
                   "{\"channel_names\": {\"0\": \"DAPI\"}, \"labels\": " + labels_json +
                       ", \"numTraining\": " + std::to_string(cases) +
                       ", \"file_ending\": \".nii.gz\", \"instances\": true}\n");
}

inline RunConfig cell_run() {
  RunConfig run = test::tiny_run(2);
  run.model.num_classes = 3;
  run.model.base_filters = 8;
  run.model.depth = 3;
  run.train.patch_size = {32, 32};
  run.train.batch_size = 4;
  run.train.batch_dice = true;
  run.train.epochs = 6;
  run.train.iterations_per_epoch = 10;
  run.train.lr = 1e-2;
  run.train.val_fraction = 0.25;
  run.train.instances.boundary_width = 2;
  run.train.instances.min_size = 4;
  return run;
}

}  // namespace useg::test

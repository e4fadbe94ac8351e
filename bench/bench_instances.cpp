// Times the instance split of `useg segment` (split_instances: fill holes, seeds, seeded
// watershed, min-size; src/imaging/instance_split.cpp) per megapixel / megavoxel, and the
// three-class training target (instance_boundary_target) for comparison:
//
//   useg_bench_instances [--reps N] [--threads N]
//       synthetic scenes: a 2048 x 2048 image of touching disc pairs (radius 9 px) and a
//       256 x 256 x 64 volume of touching sphere pairs at 0.5 x 0.5 x 2 mm
//   useg_bench_instances --search [--reps N] [--threads N]
//       the same scenes through find-postprocess's instance search on one case: every candidate
//       of instance_candidates (d = the balls' diameter) split and matched (score_instance_case),
//       --threads splits at once (0: every core), as find-postprocess does
//   useg_bench_instances --probabilities P0 P1 P2 [--model DIR] [--reps N] [--threads N]
//       the probability files of a real case (useg segment --save-probabilities: CASE_prob_0,
//       _1, _2 of an instance model), split with the settings of DIR/model.json
//
// Prints the median of N runs (default 7) in ms and ms per million pixels / voxels, and the
// number of objects. Never part of the tests (no timing is asserted anywhere).
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <functional>
#include <map>
#include <string>
#include <thread>
#include <vector>

#include "train/instance_search.h"
#include "useg/config.h"
#include "useg/error.h"
#include "useg/image.h"
#include "useg/labels.h"

namespace {

using namespace useg;

double median_ms(int reps, const std::function<void()>& f) {
  std::vector<double> t;
  for (int r = 0; r < reps; ++r) {
    auto t0 = std::chrono::steady_clock::now();
    f();
    t.push_back(std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0)
                    .count());
  }
  std::sort(t.begin(), t.end());
  return t[t.size() / 2];
}

// Instance ids of pairs of touching balls on a grid: ball k of pair p has id 2p + k + 1.
Tensor touching_pairs(const Geometry& g, double radius_mm) {
  Tensor ids = Tensor::zeros(Shape::ncdhw(1, 1, g.size[2], g.size[1], g.size[0]));
  const double step = 4.2 * radius_mm, row = 2.2 * radius_mm;
  const bool flat = g.dims == 2;
  std::map<int64_t, int64_t> numbers;  // ball -> id, in raster order of first voxels
  for (int64_t z = 0; z < g.size[2]; ++z)
    for (int64_t y = 0; y < g.size[1]; ++y)
      for (int64_t x = 0; x < g.size[0]; ++x) {
        const double p[3] = {x * g.spacing[0], y * g.spacing[1], flat ? 0 : z * g.spacing[2]};
        const int64_t ix = static_cast<int64_t>(p[0] / step), iy = static_cast<int64_t>(p[1] / row),
                      iz = flat ? 0 : static_cast<int64_t>(p[2] / row);
        const double cy = (iy + 0.5) * row, cz = flat ? 0 : (iz + 0.5) * row;
        for (int k = 0; k < 2; ++k) {
          const double cx = ix * step + (1.1 + 1.9 * k) * radius_mm;
          const double d = std::sqrt((p[0] - cx) * (p[0] - cx) + (p[1] - cy) * (p[1] - cy) +
                                     (p[2] - cz) * (p[2] - cz));
          if (d <= radius_mm) {
            const int64_t key = ((iz * 4096 + iy) * 4096 + ix) * 2 + k;
            auto it = numbers.emplace(key, static_cast<int64_t>(numbers.size()) + 1).first;
            ids.at(0, 0, z, y, x) = static_cast<float>(it->second);
          }
        }
      }
  return ids;
}

// Probabilities a network might give: the one-hot target, softened (a box mean of the one-hot
// over the face neighbours), so that the relief has slopes and plateaus are rare.
Tensor soft_probabilities(const Tensor& classes, const Geometry& g) {
  const Shape& s = classes.shape();
  const int64_t n = classes.numel();
  Tensor p = Tensor::zeros(Shape::ncdhw(1, 3, s[2], s[3], s[4]));
  const int64_t sx = 1, sy = g.size[0], sz = g.size[0] * g.size[1];
  for (int64_t z = 0; z < g.size[2]; ++z)
    for (int64_t y = 0; y < g.size[1]; ++y)
      for (int64_t x = 0; x < g.size[0]; ++x) {
        const int64_t i = z * sz + y * sy + x;
        std::vector<int64_t> nb{i};
        if (x > 0) nb.push_back(i - sx);
        if (x + 1 < g.size[0]) nb.push_back(i + sx);
        if (y > 0) nb.push_back(i - sy);
        if (y + 1 < g.size[1]) nb.push_back(i + sy);
        if (g.dims == 3 && z > 0) nb.push_back(i - sz);
        if (g.dims == 3 && z + 1 < g.size[2]) nb.push_back(i + sz);
        for (int64_t j : nb)
          p.data()[std::lround(classes.data()[j]) * n + i] += 1.f / float(nb.size());
      }
  return p;
}

int64_t objects(const Tensor& ids) {
  float m = 0;
  for (int64_t i = 0; i < ids.numel(); ++i) m = std::max(m, ids.data()[i]);
  return std::lround(m);
}

// Interior or boundary more probable than background: the foreground segment splits.
Tensor foreground(const Tensor& probs, const Geometry& g) {
  const int64_t n = g.voxels();
  Tensor fg = Tensor::zeros(Shape::ncdhw(1, 1, g.size[2], g.size[1], g.size[0]));
  const float* p = probs.data();
  for (int64_t i = 0; i < n; ++i)
    fg.data()[i] = (p[n + i] > p[i] || p[2 * n + i] > p[i]) ? 1.f : 0.f;
  return fg;
}

void time_split(const char* what, const Tensor& probs, const Geometry& g, int reps,
                const InstanceSettings& s) {
  const int64_t n = g.voxels();
  const Tensor fg = foreground(probs, g);
  Tensor out;
  const double ms = median_ms(reps, [&] { out = split_instances(fg, probs, g, s); });
  std::printf("%-44s %s: split %.1f ms = %.1f ms per %s (%lld objects)\n", what, g.str().c_str(),
              ms, ms / (double(n) / 1e6), g.dims == 2 ? "megapixel" : "megavoxel",
              static_cast<long long>(objects(out)));
}

void synthetic(const Geometry& g, double radius_mm, int reps) {
  const Tensor ids = touching_pairs(g, radius_mm);
  Tensor target;
  const double t_ms = median_ms(reps, [&] { target = instance_boundary_target(ids, g, 2); });
  const double mp = double(g.voxels()) / 1e6;
  std::printf("%-44s %s: target %.1f ms = %.1f ms per %s (%lld ids)\n",
              g.dims == 2 ? "synthetic 2D, touching disc pairs" : "synthetic 3D, touching sphere pairs",
              g.str().c_str(), t_ms, t_ms / mp, g.dims == 2 ? "megapixel" : "megavoxel",
              static_cast<long long>(objects(ids)));
  // The shipped model's settings in 2D (models/nuclei2d: 1 px = 1 mm^2); their like in 3D.
  InstanceSettings s;
  s.seed_min_size = g.dims == 2 ? 5 : 2.5;
  s.seed_split = g.dims == 2 ? 1.5 : 1.0;
  s.min_size = g.dims == 2 ? 20 : 10;
  const Tensor probs = soft_probabilities(target, g);
  const char* what = g.dims == 2 ? "synthetic 2D, touching disc pairs" : "synthetic 3D, touching sphere pairs";
  time_split(what, probs, g, reps, s);
  s.seed_split = 0;
  time_split(g.dims == 2 ? "  the same without seed_split" : "  the same without seed_split", probs, g,
             reps, s);
}

// find-postprocess's instance search on one case of the scene: the time of score_instance_case
// over the whole grid, and how many splits it made (candidates differing only in min_size share
// one).
void search(const Geometry& g, double radius_mm, int reps, int threads) {
  const Tensor ids = touching_pairs(g, radius_mm);
  const Tensor probs = soft_probabilities(instance_boundary_target(ids, g, 2), g);
  const int64_t n = g.voxels();
  const Tensor fg = foreground(probs, g);
  InstanceSettings current;
  current.seed_min_size = g.dims == 2 ? 5 : 2.5;
  current.seed_split = g.dims == 2 ? 1.5 : 1.0;
  current.min_size = g.dims == 2 ? 20 : 10;
  const std::vector<InstanceSettings> grid = instance_candidates(current, 2 * radius_mm, g.dims);
  const std::vector<InstanceSettings> splits = instance_splits(grid);
  double best = 0;
  const double ms = median_ms(reps, [&] {
    std::vector<InstanceCandidate> cands(grid.size());
    for (size_t i = 0; i < grid.size(); ++i) cands[i].settings = grid[i];
    score_instance_case(fg, probs, ids, g, cands, threads);
    for (const InstanceCandidate& c : cands) best = std::max(best, c.case_f1.at(0));
  });
  std::printf(
      "%-44s %s: search %.0f ms for %zu candidates (%zu splits) = %.1f ms per split, "
      "%.0f ms per %s; best F1 %.3f\n",
      g.dims == 2 ? "synthetic 2D, touching disc pairs" : "synthetic 3D, touching sphere pairs",
      g.str().c_str(), ms, grid.size(), splits.size(), ms / double(splits.size()),
      ms / (double(n) / 1e6), g.dims == 2 ? "megapixel" : "megavoxel", best);
}

}  // namespace

int main(int argc, char** argv) {
  try {
    int reps = 7, threads = 0;
    bool search_mode = false;
    std::vector<std::string> files;
    std::string model;
    for (int i = 1; i < argc; ++i) {
      const std::string a = argv[i];
      if (a == "--reps" && i + 1 < argc) {
        reps = std::max(1, std::atoi(argv[++i]));
      } else if (a == "--threads" && i + 1 < argc) {
        threads = std::atoi(argv[++i]);
      } else if (a == "--search") {
        search_mode = true;
      } else if (a == "--model" && i + 1 < argc) {
        model = argv[++i];
      } else if (a == "--probabilities" && i + 3 < argc) {
        for (int k = 0; k < 3; ++k) files.push_back(argv[++i]);
      } else {
        std::fprintf(stderr,
                     "usage: %s [--reps N] [--threads N] [--search | --probabilities P0 P1 P2 "
                     "[--model DIR]]\n",
                     argv[0]);
        return 2;
      }
    }
    set_imaging_threads(threads);
    if (!files.empty()) {
      std::vector<Image> p;
      for (const std::string& f : files) p.push_back(read_image(f));
      const Geometry& g = p[0].geometry;
      const int64_t n = g.voxels();
      Tensor probs = Tensor::empty(Shape::ncdhw(1, 3, g.size[2], g.size[1], g.size[0]));
      for (int k = 0; k < 3; ++k)
        std::memcpy(probs.data() + k * n, p[size_t(k)].voxels.data(), sizeof(float) * n);
      InstanceSettings s;
      if (!model.empty()) s = load_model_info(model + "/model.json").instances;
      time_split(files[0].c_str(), probs, g, reps, s);
      if (s.seed_split > 0) {
        s.seed_split = 0;
        time_split("  the same without seed_split", probs, g, reps, s);
      }
      return 0;
    }
    Geometry g2;
    g2.dims = 2;
    g2.size = {2048, 2048, 1};
    Geometry g3;
    g3.dims = 3;
    g3.size = {256, 256, 64};
    g3.spacing = {0.5, 0.5, 2.0};
    if (search_mode) {
      // find-postprocess's rule: --threads splits at once (0: every core).
      const int t = threads > 0 ? threads : int(std::thread::hardware_concurrency());
      search(g2, 9.0, reps, t);
      search(g3, 5.0, reps, t);
      return 0;
    }
    synthetic(g2, 9.0, reps);
    synthetic(g3, 5.0, reps);
    return 0;
  } catch (const useg::Error& e) {
    std::fprintf(stderr, "useg_bench_instances: %s\n", e.what());
    return 2;
  }
}

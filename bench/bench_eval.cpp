// Wall time of the evaluation metrics on a large volume (the 256^3 figure of docs/eval.md):
//   useg_bench_eval [--useg PATH_TO_USEG] [--dir SCRATCH_DIR]
// Two overlapping spheres of radius 90 voxels, centres 8 voxels apart, 0.8 x 0.8 x 1.5 mm, are
// scored in memory (evaluate_labels), then written as .nii.gz and scored by `useg eval` through
// the command line when --useg is given. Prints numbers only; nothing is asserted.
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <string>

#include "useg/image.h"
#include "useg/metrics.h"
#include "useg/tensor.h"

namespace fs = std::filesystem;
using namespace useg;

namespace {

Tensor sphere_map(const Geometry& g, double cx) {
  Tensor t = Tensor::empty(Shape::ncdhw(1, 1, g.size[2], g.size[1], g.size[0]));
  for (int64_t z = 0; z < g.size[2]; ++z)
    for (int64_t y = 0; y < g.size[1]; ++y)
      for (int64_t x = 0; x < g.size[0]; ++x) {
        const double dx = x - cx, dy = y - 128.0, dz = z - 128.0;
        t.at(0, 0, z, y, x) = dx * dx + dy * dy + dz * dz <= 90.0 * 90.0 ? 1.f : 0.f;
      }
  return t;
}

double seconds_since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

}  // namespace

int main(int argc, char** argv) {
  std::string useg_bin, dir = (fs::temp_directory_path() / "useg_bench_eval").string();
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string a = argv[i];
    if (a == "--useg") useg_bin = argv[i + 1];
    else if (a == "--dir") dir = argv[i + 1];
    else {
      std::fprintf(stderr, "usage: useg_bench_eval [--useg PATH] [--dir SCRATCH_DIR]\n");
      return 2;
    }
  }
  Geometry g;
  g.size = {256, 256, 256};
  g.spacing = {0.8, 0.8, 1.5};
  const Tensor ref = sphere_map(g, 124);
  const Tensor pred = sphere_map(g, 132);
  auto t0 = std::chrono::steady_clock::now();
  const auto m = evaluate_labels(pred, ref, g, {1});
  std::printf("256^3 in memory: %.2f s (Dice %.4f, HD %.3f mm, HD95 %.3f mm, ASSD %.3f mm)\n",
              seconds_since(t0), m[0].dice, m[0].hd, m[0].hd95, m[0].assd);
  if (useg_bin.empty()) return 0;
  fs::create_directories(fs::path(dir) / "p");
  fs::create_directories(fs::path(dir) / "r");
  write_image((fs::path(dir) / "p" / "s.nii.gz").string(), pred, g, "uint8");
  write_image((fs::path(dir) / "r" / "s.nii.gz").string(), ref, g, "uint8");
  const std::string cmd = useg_bin + " eval --pred " + dir + "/p --ref " + dir + "/r --output " +
                          dir + "/m.csv > " + dir + "/out.txt";
  t0 = std::chrono::steady_clock::now();
  const int rc = std::system(cmd.c_str());
  std::printf("useg eval on the two .nii.gz files: %.2f s (exit status %d)\n", seconds_since(t0),
              rc);
  return rc == 0 ? 0 : 1;
}

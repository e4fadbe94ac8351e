// Low-resolution simulation against nnU-Net v2's own transform (batchgeneratorsv2's
// SimulateLowResolutionTransform: nearest-exact down, (bi/tri)linear up, align_corners False),
// computed by PyTorch in tests/data/golden/lowres (scripts/make_lowres_golden.py).
#include <gtest/gtest.h>

#include <array>
#include <cmath>
#include <string>

#include "common/test_paths.h"
#include "io/safetensors.h"
#include "train/augment.h"

namespace useg::training {
namespace {

TEST(TrainAugmentGolden, LowResolutionMatchesNnunetV2Transform) {
  const std::string path = std::string(USEG_TEST_DATA) + "/golden/lowres/io.safetensors";
  SafetensorsFile io = read_safetensors(path);
  int cases = 0;
  for (const char* name : {"3d_mixed", "3d_keep_d", "2d", "2d_strong"}) {
    SCOPED_TRACE(name);
    const std::string n(name);
    ASSERT_TRUE(io.tensors.count(n + ".input")) << path;
    const Tensor& in = io.tensors.at(n + ".input");
    const Tensor& zoom = io.tensors.at(n + ".zoom");
    const Tensor& want = io.tensors.at(n + ".output");
    const Shape& s = in.shape();  // [D, H, W]
    // Two channels; the transform is applied to channel 1 only, channel 0 must stay as it was.
    Tensor t = Tensor::empty(Shape{1, 2, s[0], s[1], s[2]});
    const int64_t n_vox = in.numel();
    for (int64_t i = 0; i < n_vox; ++i) {
      t.data()[i] = -7.f;
      t.data()[n_vox + i] = in.data()[i];
    }
    simulate_low_resolution(t, 1, {double(zoom.data()[0]), double(zoom.data()[1]),
                                   double(zoom.data()[2])});
    double max_err = 0;
    for (int64_t i = 0; i < n_vox; ++i) {
      ASSERT_EQ(t.data()[i], -7.f) << "channel 0 changed at " << i;
      max_err = std::max(max_err, std::fabs(double(t.data()[n_vox + i]) - want.data()[i]));
    }
    // Values in [-1, 3]; the linear weights are computed in double, stored in float.
    EXPECT_LT(max_err, 1e-5);
    ++cases;
  }
  EXPECT_EQ(cases, 4);
}

}  // namespace
}  // namespace useg::training

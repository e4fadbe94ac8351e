// The shared catalogue of awkward shapes every op test runs on: odd sizes, size-1 dims,
// anisotropic 3D, stride 2, 1x1 kernels, more channels than voxels. Add here, not in a test.
#pragma once

#include <cstdint>
#include <ostream>
#include <random>
#include <string>
#include <vector>

#include "useg/backend.h"
#include "useg/tensor.h"

namespace useg {
// gtest shows a Shape parameter as [N, C, D, H, W] (by default it dumps the object's bytes,
// uninitialized padding included, so the listed test comments changed from build to build).
inline void PrintTo(const Shape& s, std::ostream* os) { *os << s.str(); }
}  // namespace useg

namespace useg::test {

// Activation shapes (N, C, D, H, W).
inline std::vector<Shape> activation_shapes() {
  return {
      Shape{1, 1, 1, 1, 1},     // a single voxel
      Shape{1, 3, 1, 7, 5},     // 2D, odd sizes
      Shape{2, 4, 1, 9, 16},    // 2D, batch 2
      Shape{1, 2, 5, 3, 7},     // 3D anisotropic
      Shape{3, 1, 2, 1, 11},    // size-1 dims in the middle
      Shape{2, 5, 3, 4, 6},     // 3D, batch and channels
      Shape{1, 17, 1, 2, 3},    // more channels than voxels
      Shape{1, 8, 4, 13, 10},   // larger 3D
  };
}

struct ConvCase {
  std::string name;
  Shape x;         // input
  int64_t cout;    // output channels
  ConvGeom g;
};

// Convolution cases (2D ones have kernel depth 1).
inline std::vector<ConvCase> conv_cases() {
  auto g3 = [](std::array<int, 3> k, std::array<int, 3> s, std::array<int, 3> p) {
    ConvGeom g;
    g.kernel = k; g.stride = s; g.pad = p;
    return g;
  };
  return {
      {"2d_3x3_same", Shape{1, 3, 1, 7, 5}, 4, g3({1, 3, 3}, {1, 1, 1}, {0, 1, 1})},
      {"2d_3x3_batch2", Shape{2, 2, 1, 9, 8}, 3, g3({1, 3, 3}, {1, 1, 1}, {0, 1, 1})},
      {"2d_1x1", Shape{2, 5, 1, 4, 3}, 2, g3({1, 1, 1}, {1, 1, 1}, {0, 0, 0})},
      {"2d_stride2", Shape{1, 2, 1, 9, 10}, 3, g3({1, 3, 3}, {1, 2, 2}, {0, 1, 1})},
      {"2d_5x5_nopad", Shape{1, 1, 1, 11, 8}, 2, g3({1, 5, 5}, {1, 1, 1}, {0, 0, 0})},
      {"2d_single_pixel", Shape{1, 4, 1, 1, 1}, 3, g3({1, 3, 3}, {1, 1, 1}, {0, 1, 1})},
      {"3d_3x3x3_same", Shape{1, 2, 5, 6, 7}, 3, g3({3, 3, 3}, {1, 1, 1}, {1, 1, 1})},
      {"3d_aniso_1x3x3", Shape{2, 3, 4, 5, 6}, 2, g3({1, 3, 3}, {1, 1, 1}, {0, 1, 1})},
      {"3d_stride2", Shape{1, 2, 7, 6, 5}, 4, g3({3, 3, 3}, {2, 2, 2}, {1, 1, 1})},
      {"3d_1x1x1", Shape{1, 6, 3, 2, 5}, 3, g3({1, 1, 1}, {1, 1, 1}, {0, 0, 0})},
      {"3d_depth1_3x3x3", Shape{1, 2, 1, 5, 5}, 2, g3({3, 3, 3}, {1, 1, 1}, {1, 1, 1})},
      // strided 1x1 (a downsampling shortcut): the last row of the even H is never read
      {"2d_1x1_stride2", Shape{1, 3, 1, 6, 5}, 2, g3({1, 1, 1}, {1, 2, 2}, {0, 0, 0})},
      // nnU-Net-style anisotropic downsampling: no stride along the coarse depth axis
      {"3d_stride122", Shape{1, 2, 3, 8, 7}, 3, g3({1, 3, 3}, {1, 2, 2}, {0, 1, 1})},
      // enough channels for blocked layouts (8/16-channel blocks), Co not a multiple of 8
      {"2d_3x3_c16_to_c20", Shape{2, 16, 1, 10, 9}, 20, g3({1, 3, 3}, {1, 1, 1}, {0, 1, 1})},
      // padding wider than the kernel: the border outputs see only padding (bias only)
      {"2d_1x1_pad1", Shape{1, 3, 1, 4, 5}, 2, g3({1, 1, 1}, {1, 1, 1}, {0, 1, 1})},
      // stride larger than the kernel: some inputs are never read
      {"3d_k2_s3_gaps", Shape{1, 8, 3, 8, 7}, 8, g3({2, 2, 2}, {3, 3, 3}, {0, 0, 0})},
      {"3d_3x3x3_c16_to_c8", Shape{1, 16, 3, 5, 4}, 8, g3({3, 3, 3}, {1, 1, 1}, {1, 1, 1})},
  };
}

// Transposed-convolution cases (the U-Net uses kernel 2 stride 2; others for generality).
inline std::vector<ConvCase> deconv_cases() {
  auto g3 = [](std::array<int, 3> k, std::array<int, 3> s, std::array<int, 3> p) {
    ConvGeom g;
    g.kernel = k; g.stride = s; g.pad = p;
    return g;
  };
  return {
      {"2d_k2s2", Shape{1, 4, 1, 3, 5}, 2, g3({1, 2, 2}, {1, 2, 2}, {0, 0, 0})},
      {"2d_k2s2_batch2", Shape{2, 3, 1, 4, 4}, 3, g3({1, 2, 2}, {1, 2, 2}, {0, 0, 0})},
      {"2d_k3s2p1", Shape{1, 2, 1, 5, 4}, 3, g3({1, 3, 3}, {1, 2, 2}, {0, 1, 1})},
      {"3d_k2s2", Shape{1, 3, 2, 3, 4}, 2, g3({2, 2, 2}, {2, 2, 2}, {0, 0, 0})},
      {"3d_aniso_k122", Shape{2, 2, 3, 2, 3}, 3, g3({1, 2, 2}, {1, 2, 2}, {0, 0, 0})},
      {"3d_single_voxel", Shape{1, 5, 1, 1, 1}, 4, g3({2, 2, 2}, {2, 2, 2}, {0, 0, 0})},
      {"3d_k3s2p1", Shape{1, 2, 3, 3, 2}, 3, g3({3, 3, 3}, {2, 2, 2}, {1, 1, 1})},
      // stride larger than the kernel: some outputs receive only the bias
      {"3d_k2_s3_gaps", Shape{1, 8, 2, 3, 3}, 8, g3({2, 2, 2}, {3, 3, 3}, {0, 0, 0})},
      {"3d_k2s2_c16_to_c8", Shape{1, 16, 2, 3, 3}, 8, g3({2, 2, 2}, {2, 2, 2}, {0, 0, 0})},
      {"2d_k2s2_c32_to_c16", Shape{2, 32, 1, 4, 5}, 16, g3({1, 2, 2}, {1, 2, 2}, {0, 0, 0})},
  };
}

struct PoolCase {
  std::string name;
  Shape x;
  PoolGeom g;
};

inline std::vector<PoolCase> pool_cases() {
  auto p3 = [](std::array<int, 3> k, std::array<int, 3> s) {
    PoolGeom g;
    g.kernel = k; g.stride = s;
    return g;
  };
  return {
      {"2d_2x2", Shape{1, 3, 1, 8, 6}, p3({1, 2, 2}, {1, 2, 2})},
      {"2d_2x2_odd", Shape{2, 2, 1, 7, 9}, p3({1, 2, 2}, {1, 2, 2})},
      {"3d_2x2x2", Shape{1, 2, 4, 6, 8}, p3({2, 2, 2}, {2, 2, 2})},
      {"3d_aniso_1x2x2", Shape{2, 3, 3, 5, 4}, p3({1, 2, 2}, {1, 2, 2})},
      {"3d_odd_2x2x2", Shape{1, 1, 5, 3, 7}, p3({2, 2, 2}, {2, 2, 2})},
      {"2d_3x3_s2", Shape{1, 2, 1, 9, 9}, p3({1, 3, 3}, {1, 2, 2})},
      {"3d_3x3x3_s1", Shape{1, 2, 4, 5, 3}, p3({3, 3, 3}, {1, 1, 1})},  // overlapping windows
      {"3d_k2_s3_gaps", Shape{1, 16, 3, 8, 7}, p3({2, 2, 2}, {3, 3, 3})},  // skipped inputs
      {"2d_2x2_c16", Shape{1, 16, 1, 6, 7}, p3({1, 2, 2}, {1, 2, 2})},
  };
}

// The weight and output shapes of a case as a convolution (weight [Co, Ci, k]) or as a
// transposed convolution (weight [Ci, Co, k]).
inline Shape conv_weight_shape(const ConvCase& c, bool transposed) {
  const auto& k = c.g.kernel;
  return transposed ? Shape{c.x.c(), c.cout, k[0], k[1], k[2]}
                    : Shape{c.cout, c.x.c(), k[0], k[1], k[2]};
}
inline Shape conv_case_output_shape(const ConvCase& c, bool transposed) {
  return transposed ? deconv_output_shape(c.x, c.cout, c.g) : conv_output_shape(c.x, c.cout, c.g);
}

// Readable test parameters in gtest output ("2d_3x3_same" instead of a byte dump).
inline void PrintTo(const ConvCase& c, std::ostream* os) { *os << c.name; }
inline void PrintTo(const PoolCase& c, std::ostream* os) { *os << c.name; }

// Deterministic random tensors (std::mt19937 with a fixed seed).
inline Tensor random_tensor(const Shape& s, uint32_t seed, float lo = -1.f, float hi = 1.f) {
  Tensor t = Tensor::empty(s);
  std::mt19937 rng(seed);
  std::uniform_real_distribution<float> u(lo, hi);
  for (int64_t i = 0; i < t.numel(); ++i) t.data()[i] = u(rng);
  return t;
}

// A label map [N,1,D,H,W] with classes 0..classes-1.
inline Tensor random_labels(const Shape& s, int classes, uint32_t seed) {
  Shape ls = s;
  ls[1] = 1;
  Tensor t = Tensor::empty(ls);
  std::mt19937 rng(seed);
  std::uniform_int_distribution<int> u(0, classes - 1);
  for (int64_t i = 0; i < t.numel(); ++i) t.data()[i] = static_cast<float>(u(rng));
  return t;
}

}  // namespace useg::test

// What the convolution cases share (test.cpp, test_deconv.cpp, test_precision.cpp): tolerances
// and the passes of one case against the naive reference (ref.h).
//
// Tolerances, float32 results vs the double reference. On the CPU: an output sums at most ~500
// products of values in [-1, 1]; the largest error observed over the catalogue is ~1e-5, so
// abs 1e-4 + rel 1e-4 keeps a 10x margin while any indexing or layout mistake is off by O(0.1).
// On CUDA (cuDNN), and between CUDA and the CPU, over `terms` products:
//  - strict fp32 (what every case uses unless it says otherwise): float products summed in float
//    in whatever order cuDNN's algorithm takes (FFT and Winograd variants included): abs
//    2e-5 * sqrt(terms) + rel 1e-5;
//  - TF32 (the CUDA backend's default; the tf32_ cases): operands rounded to a 10-bit mantissa
//    (relative error 2^-11 each) before the float sum: abs 2e-3 * sqrt(terms) + rel 2e-3, a
//    hundred times looser.
// Bias gradients (sums over N * D * H * W) vs the reference: kTol on the CPU, kSums on CUDA and
// across devices.
#pragma once

#include <algorithm>
#include <cmath>
#include <string>

#include "harness/op_case.h"
#include "ops/conv/ref.h"

namespace useg::test {

constexpr Tolerance kConvTol{1e-4, 1e-4};

inline Tolerance conv_tolerance_fp32(int64_t terms) {
  return Tolerance{2e-5 * std::sqrt(double(terms)), 1e-5};
}
inline Tolerance conv_tolerance_tf32(int64_t terms) {
  return Tolerance{2e-3 * std::sqrt(double(terms)), 2e-3};
}

// Products summed into one output (forward, backward-data) and into one weight gradient.
inline int64_t conv_output_terms(const ConvCase& c) {
  const auto& k = c.g.kernel;
  return int64_t(k[0]) * k[1] * k[2] * std::max(c.x.c(), c.cout);
}
inline int64_t conv_weight_terms(const ConvCase& c) {
  const auto& k = c.g.kernel;
  return c.x.n() * c.x.spatial() * int64_t(k[0]) * k[1] * k[2];
}

// `got` against the reference: within kConvTol on every device and, off the CPU, also within
// cuDNN's tolerance for `terms` (the two checks the convolution tests have always made on CUDA);
// kept for the CPU comparison within cuDNN's tolerance. With tf32, only the TF32 tolerance.
void expect_conv(OpRun& r, const std::string& what, const Tensor& got, const Tensor& want,
                 int64_t terms, bool tf32 = false);

// One pass of one case (a convolution, or a transposed one) on the backend under test, against
// the reference and kept for the CPU comparison: forward with and without bias, backward-data,
// or backward-weights with and without the bias gradient (test.cpp).
enum class ConvPass { Forward, BackwardData, BackwardWeights };
void check_conv_pass(OpRun& r, const ConvCase& c, bool transposed, ConvPass pass,
                     bool tf32 = false);
// The backward passes against central differences of loss = sum(conv(x, w, b) * dy) (grad mode).
void check_conv_gradients(OpRun& r, const ConvCase& c, bool transposed);

}  // namespace useg::test

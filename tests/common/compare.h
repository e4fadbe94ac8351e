// The one comparison helper every op test uses: reports max abs / rel error and the first
// mismatching indices, so a failing test says where the results differ.
#pragma once

#include <gtest/gtest.h>

#include <cstdint>
#include <string>
#include <vector>

#include "useg/tensor.h"

namespace useg::test {

struct Tolerance {
  double abs = 1e-5;
  double rel = 1e-4;
};

// Element i passes when |a - b| <= abs + rel * |b| (b is the reference). NaN never passes unless
// both are NaN.
::testing::AssertionResult allclose(const float* actual, const float* expected, int64_t n,
                                    const Shape& shape, Tolerance tol = {});
::testing::AssertionResult allclose(const Tensor& actual, const Tensor& expected,
                                    Tolerance tol = {});
::testing::AssertionResult allclose(const std::vector<float>& actual,
                                    const std::vector<float>& expected, Tolerance tol = {});

// The same test on double values (a case's results kept for the cross-device comparison).
::testing::AssertionResult allclose(const std::vector<double>& actual,
                                    const std::vector<double>& expected, const Shape& shape,
                                    Tolerance tol = {});

// Max relative error of a vs reference b, scaled by max|b| (a norm-wise figure for reports).
double max_rel_error(const Tensor& actual, const Tensor& expected);

// Largest |element| of t (host copy), e.g. the scale of an absolute tolerance.
double max_abs(const Tensor& t);

}  // namespace useg::test

#define EXPECT_ALLCLOSE(actual, expected, ...) \
  EXPECT_TRUE(::useg::test::allclose((actual), (expected), ##__VA_ARGS__))
#define ASSERT_ALLCLOSE(actual, expected, ...) \
  ASSERT_TRUE(::useg::test::allclose((actual), (expected), ##__VA_ARGS__))

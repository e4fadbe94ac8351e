// expect_same_weights: two safetensors files hold the same tensors, bit for bit (resumed,
// recovered or loss-scaled training runs against their uninterrupted reference).
#pragma once

#include <gtest/gtest.h>

#include <cstring>
#include <filesystem>
#include <string>

#include "io/safetensors.h"

namespace useg::test {

inline void expect_same_weights(const std::filesystem::path& a, const std::filesystem::path& b,
                                const std::string& what = "") {
  SafetensorsFile fa = read_safetensors(a.string()), fb = read_safetensors(b.string());
  ASSERT_EQ(fa.tensors.size(), fb.tensors.size()) << what;
  for (const auto& [name, t] : fa.tensors) {
    auto it = fb.tensors.find(name);
    ASSERT_NE(it, fb.tensors.end()) << what << ": " << b << " has no tensor " << name;
    const Tensor& u = it->second;
    ASSERT_EQ(t.shape(), u.shape()) << what << ": " << name;
    EXPECT_EQ(std::memcmp(t.data(), u.data(), t.bytes()), 0)
        << what << (what.empty() ? "" : ": ") << "tensor " << name << " differs";
  }
}

}  // namespace useg::test

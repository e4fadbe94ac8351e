// The host block cache (src/core/host_memory.h): large freed tensors are handed out again
// instead of being faulted in afresh, small ones are not kept, and the cache releases on demand.
#include <gtest/gtest.h>

#include <algorithm>
#include <vector>

#include "core/host_memory.h"
#include "useg/tensor.h"

namespace useg {
namespace {

TEST(HostMemory, LargeFreedBlocksAreReusedBySize) {
#if defined(__SANITIZE_ADDRESS__)
  GTEST_SKIP() << "the cache is off under AddressSanitizer (use-after-free must stay visible)";
#endif
  host_cache_release();
  const Shape big{1, 4, 8, 128, 128};  // 2 MiB: above kHostCacheMinBytes
  ASSERT_GE(size_t(big.numel()) * sizeof(float), kHostCacheMinBytes);
  const HostCacheStats before = host_cache_stats();
  const float* first = nullptr;
  {
    Tensor a = Tensor::full(big, 3.f);
    first = a.data();
    EXPECT_EQ(host_cache_stats().live_bytes, before.live_bytes + a.bytes());
  }
  // Freed: kept for reuse, not given back.
  EXPECT_EQ(host_cache_stats().free_bytes, before.free_bytes + size_t(big.numel()) * 4);
  Tensor b = Tensor::empty(big);
  EXPECT_EQ(b.data(), first);  // the same block, by exact size
  EXPECT_EQ(host_cache_stats().hits, before.hits + 1);
  // A different size misses and gets its own block.
  Tensor c = Tensor::zeros(Shape{1, 4, 8, 128, 129});
  EXPECT_NE(c.data(), first);
  EXPECT_EQ(host_cache_stats().misses, before.misses + 2);
  for (int64_t i = 0; i < c.numel(); ++i) ASSERT_EQ(c.data()[i], 0.f);  // zeros() still zeroes
  // Small tensors never enter the cache.
  const size_t free_now = host_cache_stats().free_bytes;
  { Tensor s = Tensor::empty(Shape{1, 1, 1, 16, 16}); }
  EXPECT_EQ(host_cache_stats().free_bytes, free_now);
  // Release returns everything kept.
  b = Tensor();
  EXPECT_GT(host_cache_stats().free_bytes, 0u);
  host_cache_release();
  EXPECT_EQ(host_cache_stats().free_bytes, 0u);
}

TEST(HostMemory, KeptBlocksAreCapped) {
#if defined(__SANITIZE_ADDRESS__)
  GTEST_SKIP() << "the cache is off under AddressSanitizer";
#endif
  host_cache_release();
  // 300 MiB of 4 MiB blocks freed and kept, then 300 MiB of 5 MiB blocks (a size not kept,
  // so all new) freed too: the cap is max(256 MiB, live peak + 1/8), so the free blocks stop
  // at the cap unless the process's live peak was already far higher.
  auto fill = [](int64_t depth, int count) {
    std::vector<Tensor> blocks;
    for (int i = 0; i < count; ++i) blocks.push_back(Tensor::empty(Shape{1, 1, depth, 256, 256}));
    return blocks;
  };
  { auto four = fill(16, 75); }  // 75 x 4 MiB
  const size_t kept_first = host_cache_stats().free_bytes;
  { auto five = fill(20, 60); }  // 60 x 5 MiB
  const HostCacheStats s = host_cache_stats();
  const size_t cap = std::max<size_t>(size_t(256) << 20, s.live_peak + s.live_peak / 8);
  EXPECT_LE(s.free_bytes, cap);
  EXPECT_GE(s.free_bytes, std::min<size_t>(cap, kept_first + (size_t(300) << 20)) - (5u << 20));
  host_cache_release();
}

}  // namespace
}  // namespace useg

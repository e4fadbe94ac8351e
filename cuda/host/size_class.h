// Size classes of the caching device allocator (cuda/device_allocator.cpp). A request is
// rounded up to its class and a cached block is reused only for requests of the same class, so
// the tensors of the next window batch or training step (same shapes) find their blocks again.
#pragma once

#include <cstddef>

namespace useg::gpu {

constexpr size_t kSizeClassGranule = 512;        // below kSizeClassSmall: multiples of 512 B
constexpr size_t kSizeClassSmall = size_t(1) << 20;  // 1 MiB
// Above 1 MiB: four classes per power of two (1, 1.25, 1.5 and 1.75 x 2^k), at most 25% waste.
size_t size_class(size_t bytes);

}  // namespace useg::gpu

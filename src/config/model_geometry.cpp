// Resolved per-level geometry of the U-Net described by a ModelConfig.
#include <algorithm>

#include "useg/config.h"
#include "useg/error.h"

namespace useg {

std::array<int, 3> ModelConfig::pool_size(int level) const {
  USEG_REQUIRE(level >= 0 && level < depth,
               "pool level " << level << " out of range 0.." << depth - 1);
  if (!pool_sizes.empty()) return pool_sizes.at(static_cast<size_t>(level));
  return dims == 2 ? std::array<int, 3>{1, 2, 2} : std::array<int, 3>{2, 2, 2};
}

std::array<int, 3> ModelConfig::kernel(int stage) const {
  USEG_REQUIRE(stage >= 0 && stage <= depth, "stage " << stage << " out of range 0.." << depth);
  if (!kernel_sizes.empty()) return kernel_sizes.at(static_cast<size_t>(stage));
  return dims == 2 ? std::array<int, 3>{1, kernel_size, kernel_size}
                   : std::array<int, 3>{kernel_size, kernel_size, kernel_size};
}

int ModelConfig::filters(int stage) const {
  USEG_REQUIRE(stage >= 0 && stage <= depth, "stage " << stage << " out of range 0.." << depth);
  if (!features_per_stage.empty()) return features_per_stage.at(static_cast<size_t>(stage));
  long f = static_cast<long>(base_filters) << stage;
  return static_cast<int>(std::min<long>(f, max_filters));
}

int ModelConfig::encoder_convs(int stage) const {
  USEG_REQUIRE(stage >= 0 && stage <= depth, "stage " << stage << " out of range 0.." << depth);
  return n_conv_per_stage.empty() ? convs_per_stage : n_conv_per_stage.at(size_t(stage));
}

int ModelConfig::encoder_blocks(int stage) const {
  USEG_REQUIRE(stage >= 0 && stage <= depth, "stage " << stage << " out of range 0.." << depth);
  return n_blocks_per_stage.empty() ? 1 : n_blocks_per_stage.at(size_t(stage));
}

int ModelConfig::decoder_convs(int level) const {
  USEG_REQUIRE(level >= 0 && level < depth,
               "decoder level " << level << " out of range 0.." << depth - 1);
  return n_conv_per_stage_decoder.empty() ? convs_per_stage
                                          : n_conv_per_stage_decoder.at(size_t(level));
}

const char* intensity_scheme_name(IntensityScheme s) {
  switch (s) {
    case IntensityScheme::ZScore: return "zscore";
    case IntensityScheme::CT: return "ct";
    case IntensityScheme::Percentile: return "percentile";
    case IntensityScheme::None: return "none";
  }
  return "?";
}

}  // namespace useg

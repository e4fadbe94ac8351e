// Internal to src/config: the field tables of every section and the validators that run on the
// parsed structs. Each validator names the key path of the offending value.
#pragma once

#include <cmath>
#include <string>
#include <vector>

#include "config/fields.h"
#include "useg/config.h"

namespace useg::cfg {

const FieldTable<ModelConfig>& model_table();
const FieldTable<TrainConfig>& train_table();
const FieldTable<AugmentConfig>& augment_table();
// `instances` of model.json (with_object) and of train (without: the name comes from the data).
const FieldTable<InstanceSettings>& instance_table(bool with_object);
void validate_instances(const Where& w, const InstanceSettings& s, bool with_object);
// `inference` of model.json and of a training config (the same keys; model_info.cpp).
const FieldTable<InferenceDefaults>& inference_table();
void validate_inference(const Where& w, const InferenceDefaults& d, const ModelConfig& m);

// `w` is the section's own path ("model", or the root for a standalone model config).
void validate_model(const Where& w, const ModelConfig& m);
void validate_train(const Where& w, const TrainConfig& t, const ModelConfig& m);
// `w` is the path of the patch_size key.
void validate_patch(const Where& w, const ModelConfig& m, const std::vector<int>& patch);
// A spacing list in mm: empty, or one positive entry per spatial axis of the model.
void validate_spacing(const Where& w, const std::vector<double>& spacing, int dims);

// ------------------------------------------------------------------ range checks
inline void check_int_range(const Where& w, int v, int lo, int hi) {
  if (v < lo || v > hi)
    w.fail("must be between " + std::to_string(lo) + " and " + std::to_string(hi) + ", got " +
           std::to_string(v));
}
inline void check_int_min(const Where& w, int v, int lo) {
  if (v < lo) w.fail("must be at least " + std::to_string(lo) + ", got " + std::to_string(v));
}
inline void check_positive(const Where& w, double v) {
  if (!(v > 0) || !std::isfinite(v)) w.fail("must be > 0, got " + fmt_number(v));
}
inline void check_non_negative(const Where& w, double v) {
  if (!(v >= 0) || !std::isfinite(v)) w.fail("must be >= 0, got " + fmt_number(v));
}
// [lo, hi], or [lo, hi) when `hi_open`.
inline void check_range(const Where& w, double v, double lo, double hi, bool hi_open = false) {
  bool ok = v >= lo && (hi_open ? v < hi : v <= hi);
  if (!ok)
    w.fail("must be in [" + fmt_number(lo) + ", " + fmt_number(hi) + (hi_open ? ")" : "]") +
           ", got " + fmt_number(v));
}
inline void check_probability(const Where& w, double p) {
  if (!(p >= 0 && p <= 1)) w.fail("is a probability and must be in [0, 1], got " + fmt_number(p));
}
// lo <= hi for a pair of keys `lo_key`/`hi_key` under `w`.
inline void check_ordered(const Where& w, const char* lo_key, double lo, const char* hi_key,
                          double hi) {
  if (!(lo <= hi))
    w.key(lo_key).fail("must not exceed " + std::string(hi_key) + " (" + fmt_number(lo) +
                       " > " + fmt_number(hi) + ")");
}

}  // namespace useg::cfg

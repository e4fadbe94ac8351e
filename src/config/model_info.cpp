// model.json: {"format_version": 1, "model": {...}, "preprocess": {"target_spacing": [...],
// "channels": [{...}]}, "patch_size": [...], "labels": [...], "target": ..., "instances": {...},
// "inference": {"tta": ..., "postprocess": [...]}, "provenance": {...}}.
#include <set>
#include <string>

#include "config/preprocess_json.h"
#include "config/sections.h"
#include "config/validate.h"
#include "useg/config.h"
#include "useg/error.h"
#include "useg/segment.h"
#include "core/files.h"

namespace useg {
namespace cfg {
namespace {

constexpr int kFormatVersion = 1;

const FieldTable<ChannelNorm>& channel_table() {
  using C = ChannelNorm;
  static const FieldTable<C> table({
      field("name", &C::name),
      choice_field("scheme", &C::scheme,
                   Choices<IntensityScheme>{{"zscore", IntensityScheme::ZScore},
                                            {"ct", IntensityScheme::CT},
                                            {"percentile", IntensityScheme::Percentile},
                                            {"none", IntensityScheme::None}},
                   intensity_scheme_name),
      field("clip_low", &C::clip_low),
      field("clip_high", &C::clip_high),
      field("mean", &C::mean),
      field("std", &C::std),
      field("percentile_low", &C::percentile_low),
      field("percentile_high", &C::percentile_high),
  });
  return table;
}

const FieldTable<PreprocessConfig>& preprocess_table() {
  using P = PreprocessConfig;
  static const FieldTable<P> table({
      field("target_spacing", &P::target_spacing),
      object_list_field("channels", &P::channels, channel_table()),
  });
  return table;
}

}  // namespace

const FieldTable<InferenceDefaults>& inference_table() {
  static const FieldTable<InferenceDefaults> table({
      field("tta", &InferenceDefaults::tta),
      field("postprocess", &InferenceDefaults::postprocess),
  });
  return table;
}

void validate_inference(const Where& w, const InferenceDefaults& d, const ModelConfig& m) {
  if (d.tta && m.classifier())
    w.key("tta").fail("must be false for a classifier (test-time mirroring averages a "
                      "segmentation's sliding windows; useg classify has none)");
  if (!d.postprocess.empty() && m.classifier())
    w.key("postprocess").fail("must be empty for a classifier (the steps act on label images)");
  for (size_t i = 0; i < d.postprocess.size(); ++i) {
    std::vector<PostprocessStep> steps;
    try {
      steps = parse_postprocess({d.postprocess[i]});
    } catch (const Error& e) {  // "--postprocess: why": the same rules as the flag's
      std::string why = e.what();
      const std::string flag = "--postprocess: ";
      if (why.rfind(flag, 0) == 0) why = why.substr(flag.size());
      w.key("postprocess").index(i).fail(why);
    }
    for (const PostprocessStep& st : steps)
      for (int k : st.classes)
        if (k >= m.num_classes)
          w.key("postprocess").index(i).fail(
              "'" + st.text + "' names class " + std::to_string(k) + ", but model.num_classes is " +
              std::to_string(m.num_classes));
  }
}

namespace {

const FieldTable<ModelInfo>& info_table() {
  using I = ModelInfo;
  static const FieldTable<I> table({
      field("format_version", &I::format_version),
      object_field("model", &I::model, model_table()),
      object_field("preprocess", &I::preprocess, preprocess_table()),
      field("patch_size", &I::patch_size),
      field("labels", &I::labels),
      string_choice_field("target", &I::target, {"classes", "instances"}),
      object_field("instances", &I::instances, instance_table(true)),
      object_field("inference", &I::inference, inference_table()),
      field("provenance", &I::provenance),
  });
  return table;
}

void check_format_version(const Where& w, int version) {
  if (version != kFormatVersion)
    w.fail("unsupported version " + std::to_string(version) + " (this build of useg reads " +
           std::to_string(kFormatVersion) + ")");
}

void validate_channel(const Where& w, const ChannelNorm& c) {
  if (c.name.empty()) w.key("name").fail("must not be empty");
  if (c.scheme == IntensityScheme::CT) {
    if (!(c.clip_low < c.clip_high))
      w.key("clip_low").fail("must be below clip_high for scheme ct (" + fmt_number(c.clip_low) +
                             " >= " + fmt_number(c.clip_high) + ")");
    if (!std::isfinite(c.mean)) w.key("mean").fail("must be finite");
    check_positive(w.key("std"), c.std);
  } else if (c.scheme == IntensityScheme::Percentile) {
    check_range(w.key("percentile_low"), c.percentile_low, 0, 100);
    check_range(w.key("percentile_high"), c.percentile_high, 0, 100);
    if (!(c.percentile_low < c.percentile_high))
      w.key("percentile_low").fail("must be below percentile_high (" +
                                   fmt_number(c.percentile_low) + " >= " +
                                   fmt_number(c.percentile_high) + ")");
  }
}

void validate_info(const Where& w, const ModelInfo& info) {
  check_format_version(w.key("format_version"), info.format_version);
  validate_model(w.key("model"), info.model);
  const ModelConfig& m = info.model;
  Where pre = w.key("preprocess");
  validate_spacing(pre.key("target_spacing"), info.preprocess.target_spacing, m.dims);
  const auto& channels = info.preprocess.channels;
  if (!channels.empty() && channels.size() != static_cast<size_t>(m.in_channels))
    pre.key("channels").fail("has " + count_of(channels.size(), "entry", "entries") +
                             " but model.in_channels is " +
                             std::to_string(m.in_channels) + " (one entry per input channel)");
  for (size_t i = 0; i < channels.size(); ++i)
    validate_channel(pre.key("channels").index(i), channels[i]);
  if (!info.patch_size.empty()) validate_patch(w.key("patch_size"), m, info.patch_size);
  if (!info.labels.empty() && info.labels.size() != static_cast<size_t>(m.num_classes))
    w.key("labels").fail("has " + count_of(info.labels.size(), "name", "names") +
                         " but model.num_classes is " + std::to_string(m.num_classes) +
                         " (one name per class, background first)");
  std::set<std::string> seen;
  for (size_t i = 0; i < info.labels.size(); ++i) {
    if (info.labels[i].empty()) w.key("labels").index(i).fail("must not be empty");
    if (!seen.insert(info.labels[i]).second)
      w.key("labels").index(i).fail("duplicate label name '" + info.labels[i] + "'");
  }
  validate_instances(w.key("instances"), info.instances, true);
  validate_inference(w.key("inference"), info.inference, m);
  if (info.instance_target() && m.num_classes != 3)
    w.key("target").fail("'instances' needs model.num_classes 3 (background, interior, "
                         "boundary), got " + std::to_string(m.num_classes));
}

}  // namespace
}  // namespace cfg

// ------------------------------------------------------------------------------- public
void validate_model_info(const ModelInfo& info, const std::string& context) {
  cfg::validate_info(cfg::Where(context), info);
}

ModelInfo parse_model_info(const std::string& json_text, const std::string& source) {
  cfg::Json j = cfg::parse_json(json_text, source);
  cfg::Where root(source);
  ModelInfo info;
  // The version first: a newer file's new keys should read as "newer format", not as typos.
  if (j.is_object() && j.contains("format_version")) {
    cfg::read_value(root.key("format_version"), j["format_version"], info.format_version);
    cfg::check_format_version(root.key("format_version"), info.format_version);
  }
  cfg::info_table().read(root, j, info);
  cfg::validate_info(root, info);
  return info;
}

ModelInfo load_model_info(const std::string& path) {
  return parse_model_info(read_file(path), path);
}

std::string to_json_string(const ModelInfo& m) {
  return cfg::dump_pretty(cfg::info_table().write(m));
}

std::string to_json_string(const PreprocessConfig& p) {
  return cfg::dump_pretty(cfg::preprocess_table().write(p));
}

}  // namespace useg

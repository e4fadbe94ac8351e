// The `model` section: field table, validation, parse_model_config / to_json_string, and the
// patch-size check shared by run configs and model.json.
#include <climits>
#include <string>
#include <vector>

#include "config/sections.h"
#include "config/validate.h"
#include "useg/config.h"
#include "useg/error.h"

namespace useg {
namespace cfg {

const FieldTable<ModelConfig>& model_table() {
  using M = ModelConfig;
  static const FieldTable<M> table({
      field("dims", &M::dims),
      field("in_channels", &M::in_channels),
      field("num_classes", &M::num_classes),
      field("base_filters", &M::base_filters),
      field("depth", &M::depth),
      field("convs_per_stage", &M::convs_per_stage),
      field("max_filters", &M::max_filters),
      field("kernel_size", &M::kernel_size),
      field("pool_sizes", &M::pool_sizes),
      field("kernel_sizes", &M::kernel_sizes),
      choice_field("norm", &M::norm,
                   Choices<NormKind>{{"instance", NormKind::Instance},
                                     {"batch", NormKind::Batch},
                                     {"none", NormKind::None}},
                   norm_name),
      field("norm_eps", &M::norm_eps),
      field("bn_momentum", &M::bn_momentum),
      choice_field("activation", &M::activation,
                   Choices<Activation>{{"relu", Activation::ReLU},
                                       {"leaky_relu", Activation::LeakyReLU},
                                       {"sigmoid", Activation::Sigmoid},
                                       {"tanh", Activation::Tanh}},
                   activation_name),
      field("negative_slope", &M::negative_slope),
      string_choice_field("upsampling", &M::upsampling, {"transposed"}),
      field("dropout", &M::dropout),
      field("residual", &M::residual),
      field("deep_supervision", &M::deep_supervision),
  });
  return table;
}

namespace {

// Per-level [D, H, W] lists: `count` entries (when given), each entry >= 1 (odd for kernels),
// with D = 1 in 2D models.
void validate_levels(const Where& w, const std::vector<std::array<int, 3>>& levels, size_t count,
                     const char* what, int dims, bool odd) {
  if (levels.empty()) return;
  if (levels.size() != count)
    w.fail("has " + count_of(levels.size(), "entry", "entries") + " but needs " +
           std::to_string(count) + " (" + what + "); leave it empty for the defaults");
  for (size_t l = 0; l < levels.size(); ++l) {
    for (size_t a = 0; a < 3; ++a) {
      Where e = w.index(l).index(a);
      check_int_min(e, levels[l][a], 1);
      if (odd && levels[l][a] % 2 == 0)
        e.fail("kernel sizes must be odd (for same-size padding), got " +
               std::to_string(levels[l][a]));
    }
    if (dims == 2 && levels[l][0] != 1)
      w.index(l).fail("the D entry must be 1 for a 2D model, got " + std::to_string(levels[l][0]));
  }
}

const char* axis_name(int dims, size_t i) {
  static const char* names3[] = {"D (z)", "H (y)", "W (x)"};
  return names3[dims == 2 ? i + 1 : i];
}

}  // namespace

void validate_model(const Where& w, const ModelConfig& m) {
  if (m.dims != 2 && m.dims != 3)
    w.key("dims").fail("must be 2 or 3, got " + std::to_string(m.dims));
  check_int_min(w.key("in_channels"), m.in_channels, 1);
  if (m.num_classes < 2)
    w.key("num_classes").fail("must be at least 2 (background and one class), got " +
                              std::to_string(m.num_classes));
  check_int_min(w.key("base_filters"), m.base_filters, 1);
  check_int_range(w.key("depth"), m.depth, 0, 7);
  check_int_min(w.key("convs_per_stage"), m.convs_per_stage, 1);
  check_int_min(w.key("max_filters"), m.max_filters, 1);
  check_int_min(w.key("kernel_size"), m.kernel_size, 1);
  if (m.kernel_size % 2 == 0)
    w.key("kernel_size").fail("must be odd (for same-size padding), got " +
                              std::to_string(m.kernel_size));
  size_t depth = static_cast<size_t>(m.depth);
  validate_levels(w.key("pool_sizes"), m.pool_sizes, depth, "one per downsampling, i.e. depth",
                  m.dims, false);
  validate_levels(w.key("kernel_sizes"), m.kernel_sizes, depth + 1, "one per stage, i.e. depth + 1",
                  m.dims, true);
  check_positive(w.key("norm_eps"), m.norm_eps);
  check_range(w.key("bn_momentum"), m.bn_momentum, 0, 1);
  check_non_negative(w.key("negative_slope"), m.negative_slope);
  check_range(w.key("dropout"), m.dropout, 0, 1, true);
}

void validate_patch(const Where& w, const ModelConfig& m, const std::vector<int>& patch) {
  size_t dims = static_cast<size_t>(m.dims);
  if (patch.size() != dims)
    w.fail("expected " + std::to_string(dims) + " entries (" +
           (dims == 2 ? "[H, W]" : "[D, H, W]") + ") for a " + std::to_string(dims) +
           "D model, got " + std::to_string(patch.size()));
  for (size_t i = 0; i < dims; ++i) {
    check_int_min(w.index(i), patch[i], 1);
    long multiple = 1;
    size_t axis = dims == 2 ? i + 1 : i;  // index into [D, H, W]
    for (int level = 0; level < m.depth && multiple <= INT_MAX; ++level)
      multiple *= m.pool_size(level)[axis];  // entries are in [1, INT_MAX]: no overflow
    if (patch[i] % multiple != 0) {
      long below = patch[i] / multiple * multiple, above = below + multiple;
      std::string choices = below > 0 ? std::to_string(below) + " or " + std::to_string(above)
                                      : std::to_string(above);
      w.fail(std::to_string(patch[i]) + " along axis " + axis_name(m.dims, i) +
             " is not a multiple of " + std::to_string(multiple) +
             " (the product of the pool sizes along that axis); use " + choices);
    }
  }
}

void validate_spacing(const Where& w, const std::vector<double>& spacing, int dims) {
  if (spacing.empty()) return;
  if (spacing.size() != static_cast<size_t>(dims))
    w.fail("expected " + std::to_string(dims) + " entries (" +
           (dims == 2 ? "[H, W]" : "[D, H, W]") + " in mm) or an empty list, got " +
           std::to_string(spacing.size()));
  for (size_t i = 0; i < spacing.size(); ++i) check_positive(w.index(i), spacing[i]);
}

}  // namespace cfg

// ------------------------------------------------------------------------------- public
ModelConfig parse_model_config(const std::string& json_text, const std::string& source) {
  cfg::Json j = cfg::parse_json(json_text, source);
  cfg::Where root(source);
  ModelConfig m;
  cfg::model_table().read(root, j, m);
  cfg::validate_model(root, m);
  return m;
}

std::string to_json_string(const ModelConfig& c) {
  return cfg::dump_pretty(cfg::model_table().write(c));
}

void check_patch_size(const ModelConfig& model, const std::vector<int>& patch,
                      const std::string& context) {
  cfg::Where w(context);
  cfg::validate_model(w, model);  // the pool sizes must be sane before we multiply them
  cfg::validate_patch(w, model, patch);
}

void validate_model_config(const ModelConfig& model, const std::string& context) {
  cfg::validate_model(cfg::Where(context), model);
}

}  // namespace useg

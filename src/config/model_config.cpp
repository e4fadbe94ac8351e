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

namespace {
// A block's activation (a layer's may also be "identity").
Choices<Activation> activation_choices(bool identity = true) {
  Choices<Activation> c{{"relu", Activation::ReLU},
                        {"leaky_relu", Activation::LeakyReLU},
                        {"sigmoid", Activation::Sigmoid},
                        {"tanh", Activation::Tanh}};
  if (identity) c.insert(c.begin(), {"identity", Activation::Identity});
  return c;
}
}  // namespace

const FieldTable<LayerConfig>& layer_table() {
  using L = LayerConfig;
  static const FieldTable<L> table({
      string_choice_field("type", &L::type,
                          {"conv", "max_pool", "global_avg_pool", "global_max_pool", "flatten",
                           "dense", "dropout"}),
      field("filters", &L::filters),
      field("kernel", &L::kernel),
      field("stride", &L::stride),
      field("size", &L::size),
      field("units", &L::units),
      choice_field("norm", &L::norm,
                   Choices<NormKind>{{"instance", NormKind::Instance},
                                     {"batch", NormKind::Batch},
                                     {"none", NormKind::None}},
                   norm_name),
      choice_field("activation", &L::activation, activation_choices(), activation_name),
      field("p", &L::p),
  });
  return table;
}

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
      choice_field("activation", &M::activation, activation_choices(false), activation_name),
      field("negative_slope", &M::negative_slope),
      string_choice_field("upsampling", &M::upsampling, {"transposed"}),
      field("dropout", &M::dropout),
      field("residual", &M::residual),
      field("deep_supervision", &M::deep_supervision),
      string_choice_field("architecture", &M::architecture,
                          {"unet", "nnunet_plain", "nnunet_resenc", "encoder_classifier",
                           "layers"}),
      field("features_per_stage", &M::features_per_stage),
      field("n_conv_per_stage", &M::n_conv_per_stage),
      field("n_conv_per_stage_decoder", &M::n_conv_per_stage_decoder),
      field("n_blocks_per_stage", &M::n_blocks_per_stage),
      field("stem_channels", &M::stem_channels),
      field("input_size", &M::input_size),
      object_list_field("layers", &M::layers, layer_table()),
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

// A "layers" network: each layer's own keys are sane, spatial layers come before the flatten or
// global pooling that ends the spatial part, dense layers after it, and the last layer is the
// dense layer giving the class scores.
void validate_layers(const Where& w, const ModelConfig& m) {
  if (m.layers.empty())
    w.fail("is empty: architecture 'layers' needs at least one layer (the last a dense layer)");
  bool flat = false;
  for (size_t i = 0; i < m.layers.size(); ++i) {
    const LayerConfig& l = m.layers[i];
    const Where e = w.index(i);
    const bool last = i + 1 == m.layers.size();
    if (l.type == "conv" || l.type == "max_pool" || l.type == "global_avg_pool" ||
        l.type == "global_max_pool" || l.type == "flatten") {
      if (flat)
        e.key("type").fail("'" + l.type + "' after the spatial part ended (a flatten or " +
                           "global pooling layer came before it)");
      flat = l.type != "conv" && l.type != "max_pool";
    }
    if (l.type == "conv") {
      check_int_min(e.key("filters"), l.filters, 1);
      check_int_min(e.key("kernel"), l.kernel, 1);
      if (l.kernel % 2 == 0)
        e.key("kernel").fail("must be odd (padding kernel / 2 keeps the size), got " +
                             std::to_string(l.kernel));
      check_int_min(e.key("stride"), l.stride, 1);
    } else if (l.type == "max_pool") {
      check_int_min(e.key("size"), l.size, 1);
    } else if (l.type == "dense") {
      if (!flat)
        e.key("type").fail("a dense layer needs a flatten or global pooling layer before it");
      if (l.units == 0 && !last)
        e.key("units").fail("is required (>= 1) on every dense layer but the last");
      check_int_min(e.key("units"), l.units, 0);
    } else if (l.type == "dropout") {
      check_range(e.key("p"), l.p, 0, 1, true);
    }
    if (last && l.type != "dense")
      e.key("type").fail("the last layer must be a dense layer (the class scores), got '" +
                         l.type + "'");
    if (last && l.units != 0 && l.units != m.num_classes)
      e.key("units").fail("the last dense layer gives the class scores: " +
                          std::to_string(l.units) + " units for num_classes " +
                          std::to_string(m.num_classes) + " (leave it 0)");
  }
}

}  // namespace

void validate_model(const Where& w, const ModelConfig& m) {
  if (m.dims != 2 && m.dims != 3)
    w.key("dims").fail("must be 2 or 3, got " + std::to_string(m.dims));
  check_int_min(w.key("in_channels"), m.in_channels, 1);
  if (m.num_classes < 2)
    w.key("num_classes").fail(std::string("must be at least 2 (") +
                              (m.classifier() ? "two classes" : "background and one class") +
                              "), got " + std::to_string(m.num_classes));
  if (m.architecture == "layers") {
    validate_layers(w.key("layers"), m);
    if (m.input_size.empty())
      w.key("input_size").fail("is required for architecture 'layers' (" +
                               std::string(m.dims == 2 ? "[H, W]" : "[D, H, W]") +
                               "): the dense layers' sizes depend on it");
  } else if (!m.layers.empty()) {
    w.key("layers").fail("is only read with architecture 'layers' (this model is '" +
                         m.architecture + "')");
  }
  if (!m.input_size.empty()) {
    if (!m.classifier())
      w.key("input_size").fail("is for classifiers; a U-Net takes any size (train.patch_size)");
    validate_patch(w.key("input_size"), m, m.input_size);
  }
  if (m.classifier() && m.deep_supervision)
    w.key("deep_supervision").fail("is for U-Nets (architecture 'unet'), not classifiers");
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
  // Which nnU-Net architectures read each per-stage list.
  const struct {
    const char* key;
    const std::vector<int>* list;
    bool plain, resenc;
  } stage_lists[] = {{"features_per_stage", &m.features_per_stage, true, true},
                     {"n_conv_per_stage", &m.n_conv_per_stage, true, false},
                     {"n_conv_per_stage_decoder", &m.n_conv_per_stage_decoder, true, true},
                     {"n_blocks_per_stage", &m.n_blocks_per_stage, false, true}};
  for (const auto& [key, list, plain, resenc] : stage_lists) {
    if (list->empty()) continue;
    const bool read = (plain && m.architecture == "nnunet_plain") ||
                      (resenc && m.architecture == "nnunet_resenc");
    if (!read)
      w.key(key).fail(std::string("is only read with architecture ") +
                      (plain && resenc ? "'nnunet_plain' or 'nnunet_resenc'"
                       : plain         ? "'nnunet_plain'"
                                       : "'nnunet_resenc'") +
                      " (this model is '" + m.architecture + "')" +
                      (m.architecture == "nnunet_resenc"
                           ? "; its encoder stages count residual blocks: n_blocks_per_stage"
                           : ""));
    const size_t want = std::string(key) == "n_conv_per_stage_decoder" ? depth : depth + 1;
    if (list->size() != want)
      w.key(key).fail("has " + count_of(list->size(), "entry", "entries") + " but needs " +
                      std::to_string(want) + " (depth is " + std::to_string(m.depth) + ")");
    for (size_t i = 0; i < list->size(); ++i) check_int_min(w.key(key).index(i), (*list)[i], 1);
  }
  if (m.stem_channels != 0 && m.architecture != "nnunet_resenc")
    w.key("stem_channels").fail("is only read with architecture 'nnunet_resenc' (this model is '" +
                                m.architecture + "')");
  check_int_min(w.key("stem_channels"), m.stem_channels, 0);
  if (m.nnunet()) {
    const std::string arch = "architecture '" + m.architecture + "'";
    if (m.residual)
      w.key("residual").fail("is not part of " + arch +
                             (m.architecture == "nnunet_plain"
                                  ? " (nnU-Net's residual encoder is architecture 'nnunet_resenc')"
                                  : " (its residual blocks are always there)"));
    if (m.dropout > 0) w.key("dropout").fail("is not part of " + arch);
    if (m.deep_supervision)
      w.key("deep_supervision").fail("is not supported with " + arch +
                                     " (imported for inference: the extra heads are dropped)");
  }
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
    // The U-Net's pools (and the encoder classifier's) must divide the size; a "layers"
    // network floors its pools as PyTorch does.
    const int levels = m.architecture == "layers" ? 0 : m.depth;
    for (int level = 0; level < levels && multiple <= INT_MAX; ++level)
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

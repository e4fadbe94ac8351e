// Training config files: {"model": {...}, "train": {..., "augment": {...}}, "inference": {...}}.
#include <string>

#include "config/sections.h"
#include "config/validate.h"
#include "useg/config.h"
#include "core/files.h"

namespace useg {
namespace cfg {

const FieldTable<AugmentConfig>& augment_table() {
  using A = AugmentConfig;
  static const FieldTable<A> table({
      field("flip", &A::flip),
      field("rotate90", &A::rotate90),
      field("rotate", &A::rotate),
      field("rotate_max_deg", &A::rotate_max_deg),
      field("scale", &A::scale),
      field("scale_min", &A::scale_min),
      field("scale_max", &A::scale_max),
      field("noise", &A::noise),
      field("noise_std_max", &A::noise_std_max),
      field("blur", &A::blur),
      field("blur_sigma_min", &A::blur_sigma_min),
      field("blur_sigma_max", &A::blur_sigma_max),
      field("brightness", &A::brightness),
      field("brightness_min", &A::brightness_min),
      field("brightness_max", &A::brightness_max),
      field("contrast", &A::contrast),
      field("contrast_min", &A::contrast_min),
      field("contrast_max", &A::contrast_max),
      field("gamma", &A::gamma),
      field("gamma_min", &A::gamma_min),
      field("gamma_max", &A::gamma_max),
      field("elastic", &A::elastic),
      field("elastic_alpha_min", &A::elastic_alpha_min),
      field("elastic_alpha_max", &A::elastic_alpha_max),
      field("elastic_sigma_min", &A::elastic_sigma_min),
      field("elastic_sigma_max", &A::elastic_sigma_max),
      field("low_res", &A::low_res),
      field("low_res_per_channel", &A::low_res_per_channel),
      field("low_res_zoom_min", &A::low_res_zoom_min),
      field("low_res_zoom_max", &A::low_res_zoom_max),
  });
  return table;
}

const FieldTable<TrainConfig>& train_table() {
  using T = TrainConfig;
  static const FieldTable<T> table({
      field("patch_size", &T::patch_size),
      field("batch_size", &T::batch_size),
      field("epochs", &T::epochs),
      field("iterations_per_epoch", &T::iterations_per_epoch),
      field("oversample_foreground", &T::oversample_foreground),
      choice_field("loss", &T::loss,
                   Choices<LossKind>{{"dice_ce", LossKind::DiceCE},
                                     {"ce", LossKind::CrossEntropy},
                                     {"dice", LossKind::Dice},
                                     {"mse", LossKind::MSE},
                                     {"hinge", LossKind::Hinge},
                                     {"multi_hinge", LossKind::MultiHinge}},
                   loss_name),
      field("batch_dice", &T::batch_dice),
      string_choice_field("optimizer", &T::optimizer, {"sgd", "adam", "adamw"}),
      field("lr", &T::lr),
      field("momentum", &T::momentum),
      field("nesterov", &T::nesterov),
      field("weight_decay", &T::weight_decay),
      string_choice_field("schedule", &T::schedule, {"poly", "cosine", "constant"}),
      field("poly_exponent", &T::poly_exponent),
      field("warmup_epochs", &T::warmup_epochs),
      field("grad_clip", &T::grad_clip),
      field("val_fraction", &T::val_fraction),
      field("val_cases", &T::val_cases),
      field("fold", &T::fold),
      field("folds", &T::folds),
      field("val_interval", &T::val_interval),
      field("patience", &T::patience),
      field("final_validation", &T::final_validation),
      field("final_validation_probabilities", &T::final_validation_probabilities),
      field("max_nonfinite_steps", &T::max_nonfinite_steps),
      string_choice_field("loss_scaling", &T::loss_scaling, {"auto", "dynamic", "off"}),
      field("loss_scale_init", &T::loss_scale_init),
      field("num_workers", &T::num_workers),
      field("seed", &T::seed),
      string_choice_field("target_spacing", &T::target_spacing, {"auto", "native"}),
      field("target_spacing_mm", &T::target_spacing_mm),
      string_choice_field("normalization", &T::normalization,
                          {"auto", "zscore", "ct", "percentile", "none"}),
      object_field("augment", &T::augment, augment_table()),
      object_field("instances", &T::instances, instance_table(false)),
      field("classes", &T::classes),
      field("class_balanced", &T::class_balanced),
  });
  return table;
}

namespace {

const FieldTable<RunConfig>& run_table() {
  static const FieldTable<RunConfig> table({
      object_field("model", &RunConfig::model, model_table()),
      object_field("train", &RunConfig::train, train_table()),
      object_field("inference", &RunConfig::inference, inference_table()),
  });
  return table;
}

void validate_augment(const Where& w, const AugmentConfig& a) {
  const std::pair<const char*, double> probabilities[] = {
      {"flip", a.flip},   {"rotate90", a.rotate90},     {"rotate", a.rotate},
      {"scale", a.scale}, {"noise", a.noise},           {"blur", a.blur},
      {"gamma", a.gamma}, {"brightness", a.brightness}, {"contrast", a.contrast},
      {"elastic", a.elastic}, {"low_res", a.low_res}, {"low_res_per_channel", a.low_res_per_channel}};
  for (const auto& [key, p] : probabilities) check_probability(w.key(key), p);
  check_range(w.key("rotate_max_deg"), a.rotate_max_deg, 0, 180);
  check_positive(w.key("scale_min"), a.scale_min);
  check_ordered(w, "scale_min", a.scale_min, "scale_max", a.scale_max);
  check_non_negative(w.key("noise_std_max"), a.noise_std_max);
  check_non_negative(w.key("blur_sigma_min"), a.blur_sigma_min);
  check_ordered(w, "blur_sigma_min", a.blur_sigma_min, "blur_sigma_max", a.blur_sigma_max);
  check_positive(w.key("brightness_min"), a.brightness_min);
  check_ordered(w, "brightness_min", a.brightness_min, "brightness_max", a.brightness_max);
  check_positive(w.key("contrast_min"), a.contrast_min);
  check_ordered(w, "contrast_min", a.contrast_min, "contrast_max", a.contrast_max);
  check_positive(w.key("gamma_min"), a.gamma_min);
  check_ordered(w, "gamma_min", a.gamma_min, "gamma_max", a.gamma_max);
  check_non_negative(w.key("elastic_alpha_min"), a.elastic_alpha_min);
  check_ordered(w, "elastic_alpha_min", a.elastic_alpha_min, "elastic_alpha_max",
                a.elastic_alpha_max);
  check_positive(w.key("elastic_sigma_min"), a.elastic_sigma_min);
  check_ordered(w, "elastic_sigma_min", a.elastic_sigma_min, "elastic_sigma_max",
                a.elastic_sigma_max);
  check_range(w.key("low_res_zoom_min"), a.low_res_zoom_min, 0, 1);
  check_positive(w.key("low_res_zoom_min"), a.low_res_zoom_min);
  check_range(w.key("low_res_zoom_max"), a.low_res_zoom_max, 0, 1);
  check_ordered(w, "low_res_zoom_min", a.low_res_zoom_min, "low_res_zoom_max", a.low_res_zoom_max);
  // check_ordered cannot see a NaN or infinite maximum: reject those explicitly.
  for (const auto& [key, v] : {std::pair<const char*, double>{"scale_max", a.scale_max},
                               {"blur_sigma_max", a.blur_sigma_max},
                               {"brightness_max", a.brightness_max},
                               {"contrast_max", a.contrast_max},
                               {"gamma_max", a.gamma_max},
                               {"elastic_sigma_max", a.elastic_sigma_max}})
    check_positive(w.key(key), v);
}

}  // namespace

void validate_train(const Where& w, const TrainConfig& t, const ModelConfig& m) {
  // A U-Net needs its patch size; a classifier takes model.input_size (or the patch size).
  if (t.patch_size.empty() && !(m.classifier() && !m.input_size.empty()))
    Where(w.source())
        .fail("missing required key '" + w.key("patch_size").path() + "' (expected " +
              (m.classifier() ? "the images' size for this classifier, or model.input_size"
                              : "an array of integers") +
              ")");
  if (!t.patch_size.empty()) validate_patch(w.key("patch_size"), m, t.patch_size);
  if (m.classifier() && !m.input_size.empty() && !t.patch_size.empty() &&
      t.patch_size != m.input_size)
    w.key("patch_size").fail("differs from model.input_size; a classifier's images are resized "
                             "to model.input_size (leave patch_size out)");
  if (m.classifier() && (t.loss == LossKind::Dice || t.loss == LossKind::DiceCE))
    w.key("loss").fail(std::string("'") + loss_name(t.loss) +
                       "' is a segmentation loss; a classifier takes ce, mse, hinge or "
                       "multi_hinge");
  if (!m.classifier() && (!t.classes.empty() || t.class_balanced))
    w.key(t.classes.empty() ? "class_balanced" : "classes")
        .fail("is for classifiers (model.architecture encoder_classifier or layers)");
  if (m.classifier() && !t.classes.empty() && int(t.classes.size()) != m.num_classes)
    w.key("classes").fail("lists " + std::to_string(t.classes.size()) +
                          " classes but model.num_classes is " + std::to_string(m.num_classes));
  check_int_min(w.key("batch_size"), t.batch_size, 1);
  check_int_min(w.key("epochs"), t.epochs, 1);
  check_int_min(w.key("iterations_per_epoch"), t.iterations_per_epoch, 1);
  check_probability(w.key("oversample_foreground"), t.oversample_foreground);
  check_positive(w.key("lr"), t.lr);
  check_range(w.key("momentum"), t.momentum, 0, 1, true);
  check_non_negative(w.key("weight_decay"), t.weight_decay);
  check_positive(w.key("poly_exponent"), t.poly_exponent);
  check_int_range(w.key("warmup_epochs"), t.warmup_epochs, 0, t.epochs);
  check_non_negative(w.key("grad_clip"), t.grad_clip);
  check_range(w.key("val_fraction"), t.val_fraction, 0, 1, true);
  for (size_t i = 0; i < t.val_cases.size(); ++i)
    if (t.val_cases[i].empty()) w.key("val_cases").index(i).fail("must not be empty");
  check_int_min(w.key("folds"), t.folds, 2);
  check_int_range(w.key("fold"), t.fold, -1, t.folds - 1);
  if (t.fold >= 0 && !t.val_cases.empty())
    w.key("val_cases")
        .fail("contradicts train.fold " + std::to_string(t.fold) +
              " (the fold's validation cases come from the cross-validation's split: "
              "a dataset's splits.json, a classifier's stratified folds); remove "
              "one of them");
  check_int_min(w.key("val_interval"), t.val_interval, 1);
  check_int_min(w.key("patience"), t.patience, 0);
  check_int_min(w.key("max_nonfinite_steps"), t.max_nonfinite_steps, 1);
  check_int_min(w.key("num_workers"), t.num_workers, 0);
  if (!(t.loss_scale_init >= 1 && t.loss_scale_init <= std::ldexp(1.0, 127)))  // a float32
    w.key("loss_scale_init").fail("must be between 1 and 2^127, got " +
                                  fmt_number(t.loss_scale_init));
  validate_spacing(w.key("target_spacing_mm"), t.target_spacing_mm, m.dims);
  if (!t.target_spacing_mm.empty() && t.target_spacing == "native")
    w.key("target_spacing_mm").fail("an explicit spacing contradicts target_spacing 'native'; "
                                    "use target_spacing 'auto' or remove target_spacing_mm");
  validate_augment(w.key("augment"), t.augment);
  validate_instances(w.key("instances"), t.instances, false);
}

}  // namespace cfg

// ------------------------------------------------------------------------------- public
void validate_run_config(const RunConfig& run, const std::string& context) {
  cfg::Where root(context);
  cfg::validate_model(root.key("model"), run.model);
  cfg::validate_train(root.key("train"), run.train, run.model);
  cfg::validate_inference(root.key("inference"), run.inference, run.model);
}

RunConfig parse_run_config(const std::string& json_text, const std::string& source) {
  cfg::Json j = cfg::parse_json(json_text, source);
  cfg::Where root(source);
  RunConfig rc;
  // A classifier's loss defaults to cross-entropy (a U-Net's to dice_ce): the model section
  // decides the default before the train section is read.
  if (j.is_object() && j.contains("model") && j["model"].is_object() &&
      j["model"].contains("architecture") && j["model"]["architecture"] != "unet" &&
      j["model"]["architecture"] != "nnunet_plain" &&
      j["model"]["architecture"] != "nnunet_resenc")
    rc.train.loss = LossKind::CrossEntropy;
  cfg::run_table().read(root, j, rc);
  if (!j.contains("train"))  // report the key the user must add, not just "train"
    cfg::train_table().read(root.key("train"), cfg::Json::object(), rc.train);
  validate_run_config(rc, source);
  return rc;
}

RunConfig load_run_config(const std::string& path) {
  return parse_run_config(read_file(path), path);
}

std::string to_json_string(const RunConfig& c) {
  return cfg::dump_pretty(cfg::run_table().write(c));
}

}  // namespace useg

// Config parsing: defaults, round trips, every class of error by its message, shipped configs.
#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <functional>
#include <string>

#include "common/expect_error.h"
#include "config/validate.h"
#include "useg/config.h"
#include "useg/error.h"

namespace fs = std::filesystem;

namespace useg {
namespace {

using test::error_of;

const char* kSrc = "configs/x.json";

std::string run_error(const std::string& text) {
  return error_of([&] { parse_run_config(text, kSrc); });
}
std::string info_error(const std::string& text) {
  return error_of([&] { parse_model_info(text, kSrc); });
}
// A run config with `model_body` and `train_body` inside the sections (patch given).
std::string run_json(const std::string& model_body, const std::string& train_body = "") {
  return R"({"model": {)" + model_body + R"(}, "train": {"patch_size": [64, 64])" +
         (train_body.empty() ? "" : ", " + train_body) + "}}";
}

#define EXPECT_FIELD(f) EXPECT_EQ(a.f, b.f) << #f
void expect_equal(const ModelConfig& a, const ModelConfig& b) {
  EXPECT_FIELD(dims); EXPECT_FIELD(in_channels); EXPECT_FIELD(num_classes);
  EXPECT_FIELD(base_filters); EXPECT_FIELD(depth); EXPECT_FIELD(convs_per_stage);
  EXPECT_FIELD(max_filters); EXPECT_FIELD(kernel_size); EXPECT_FIELD(pool_sizes);
  EXPECT_FIELD(kernel_sizes); EXPECT_FIELD(norm); EXPECT_FIELD(norm_eps);
  EXPECT_FIELD(bn_momentum); EXPECT_FIELD(activation); EXPECT_FIELD(negative_slope);
  EXPECT_FIELD(upsampling); EXPECT_FIELD(dropout); EXPECT_FIELD(residual);
  EXPECT_FIELD(deep_supervision); EXPECT_FIELD(architecture); EXPECT_FIELD(input_size);
  EXPECT_FIELD(layers.size());
}
void expect_equal(const AugmentConfig& a, const AugmentConfig& b) {
  EXPECT_FIELD(flip); EXPECT_FIELD(rotate90); EXPECT_FIELD(rotate); EXPECT_FIELD(rotate_max_deg);
  EXPECT_FIELD(scale); EXPECT_FIELD(scale_min); EXPECT_FIELD(scale_max); EXPECT_FIELD(noise);
  EXPECT_FIELD(noise_std_max); EXPECT_FIELD(blur); EXPECT_FIELD(blur_sigma_min);
  EXPECT_FIELD(blur_sigma_max); EXPECT_FIELD(brightness); EXPECT_FIELD(brightness_min);
  EXPECT_FIELD(brightness_max); EXPECT_FIELD(contrast); EXPECT_FIELD(contrast_min);
  EXPECT_FIELD(contrast_max); EXPECT_FIELD(gamma); EXPECT_FIELD(gamma_min);
  EXPECT_FIELD(gamma_max); EXPECT_FIELD(elastic); EXPECT_FIELD(elastic_alpha_min);
  EXPECT_FIELD(elastic_alpha_max); EXPECT_FIELD(elastic_sigma_min);
  EXPECT_FIELD(elastic_sigma_max); EXPECT_FIELD(low_res); EXPECT_FIELD(low_res_per_channel);
  EXPECT_FIELD(low_res_zoom_min); EXPECT_FIELD(low_res_zoom_max);
}
void expect_equal(const TrainConfig& a, const TrainConfig& b) {
  EXPECT_FIELD(patch_size); EXPECT_FIELD(batch_size); EXPECT_FIELD(epochs);
  EXPECT_FIELD(iterations_per_epoch); EXPECT_FIELD(oversample_foreground); EXPECT_FIELD(loss);
  EXPECT_FIELD(batch_dice);
  EXPECT_FIELD(optimizer); EXPECT_FIELD(lr); EXPECT_FIELD(momentum); EXPECT_FIELD(nesterov);
  EXPECT_FIELD(weight_decay); EXPECT_FIELD(schedule); EXPECT_FIELD(poly_exponent);
  EXPECT_FIELD(warmup_epochs); EXPECT_FIELD(grad_clip); EXPECT_FIELD(val_fraction);
  EXPECT_FIELD(val_cases); EXPECT_FIELD(val_interval); EXPECT_FIELD(patience);
  EXPECT_FIELD(fold); EXPECT_FIELD(folds);
  EXPECT_FIELD(max_nonfinite_steps); EXPECT_FIELD(num_workers); EXPECT_FIELD(seed);
  EXPECT_FIELD(target_spacing); EXPECT_FIELD(target_spacing_mm); EXPECT_FIELD(normalization);
  expect_equal(a.augment, b.augment);
}
void expect_equal(const ModelInfo& a, const ModelInfo& b) {
  EXPECT_FIELD(format_version); EXPECT_FIELD(patch_size); EXPECT_FIELD(labels);
  EXPECT_FIELD(provenance); EXPECT_FIELD(preprocess.target_spacing); EXPECT_FIELD(inference.tta);
  EXPECT_FIELD(inference.postprocess);
  expect_equal(a.model, b.model);
  ASSERT_EQ(a.preprocess.channels.size(), b.preprocess.channels.size());
  for (size_t i = 0; i < a.preprocess.channels.size(); ++i) {
    EXPECT_FIELD(preprocess.channels[i].name); EXPECT_FIELD(preprocess.channels[i].scheme);
    EXPECT_FIELD(preprocess.channels[i].clip_low); EXPECT_FIELD(preprocess.channels[i].clip_high);
    EXPECT_FIELD(preprocess.channels[i].mean); EXPECT_FIELD(preprocess.channels[i].std);
    EXPECT_FIELD(preprocess.channels[i].percentile_low);
    EXPECT_FIELD(preprocess.channels[i].percentile_high);
  }
}
#undef EXPECT_FIELD

// Every field away from its default (values chosen to stress number formatting).
RunConfig non_default_run() {
  RunConfig r;
  ModelConfig& m = r.model;
  m.dims = 3; m.in_channels = 4; m.num_classes = 5; m.base_filters = 24; m.depth = 3;
  m.convs_per_stage = 3; m.max_filters = 256; m.kernel_size = 5;
  m.pool_sizes = {{1, 2, 2}, {2, 2, 2}, {2, 2, 2}};
  m.kernel_sizes = {{1, 3, 3}, {3, 3, 3}, {3, 5, 5}, {3, 3, 3}};
  m.norm = NormKind::Batch; m.norm_eps = 1e-3f; m.bn_momentum = 0.05f;
  m.activation = Activation::ReLU; m.negative_slope = std::nextafter(0.3f, 1.0f);
  m.dropout = 0.1f; m.residual = true; m.deep_supervision = true;
  TrainConfig& t = r.train;
  t.patch_size = {20, 64, 48}; t.batch_size = 3; t.epochs = 7; t.iterations_per_epoch = 11;
  t.oversample_foreground = 0.5; t.loss = LossKind::Hinge; t.batch_dice = true;
  t.optimizer = "adamw";
  t.lr = 0.1 + 0.2; t.momentum = 0.9; t.nesterov = false; t.weight_decay = 1e-4;
  t.schedule = "cosine"; t.poly_exponent = 2; t.warmup_epochs = 2; t.grad_clip = 0;
  t.val_fraction = 0.1; t.val_cases = {"case_001", "case ü 2"}; t.val_interval = 3;
  t.patience = 9; t.max_nonfinite_steps = 2; t.num_workers = 0;
  t.seed = 18446744073709551615ull; t.target_spacing = "auto";
  t.target_spacing_mm = {3.0, 0.7, 0.7}; t.normalization = "ct";
  AugmentConfig& a = t.augment;
  a.flip = 0.25; a.rotate90 = 0.75; a.rotate = 1; a.rotate_max_deg = 180; a.scale = 0;
  a.scale_min = 0.9; a.scale_max = 1.1; a.noise = 0.3; a.noise_std_max = 0.05; a.blur = 0.4;
  a.blur_sigma_min = 0; a.blur_sigma_max = 2; a.brightness = 0.6; a.brightness_min = 0.5;
  a.brightness_max = 1.5; a.contrast = 0.7; a.contrast_min = 0.6; a.contrast_max = 1.6;
  a.gamma = 0.8; a.gamma_min = 0.8; a.gamma_max = 1.2;
  a.elastic = 0.2; a.elastic_alpha_min = 100; a.elastic_alpha_max = 250.5;
  a.elastic_sigma_min = 3; a.elastic_sigma_max = 4.5; a.low_res = 0.1;
  a.low_res_per_channel = 0.9; a.low_res_zoom_min = 0.25; a.low_res_zoom_max = 0.75;
  t.folds = 3;  // fold stays -1: it excludes val_cases (test_train_splits)
  return r;
}

ModelInfo non_default_info() {
  ModelInfo info;
  info.model = non_default_run().model;
  info.model.in_channels = 2;
  info.preprocess.target_spacing = {2.5, 0.78125, 0.78125};
  ChannelNorm ct;
  ct.name = "CT"; ct.scheme = IntensityScheme::CT; ct.clip_low = -1024; ct.clip_high = 3071.5;
  ct.mean = 42.25; ct.std = 310.125;
  ChannelNorm pet;
  pet.name = "PET"; pet.scheme = IntensityScheme::Percentile; pet.percentile_low = 1;
  pet.percentile_high = 99.9;
  info.preprocess.channels = {ct, pet};
  info.patch_size = {40, 128, 96};
  info.labels = {"background", "liver", "tumor", "vessel", "cyst"};
  info.inference.tta = true;
  info.inference.postprocess = {"largest", "min-size=2.5mm3"};
  info.provenance = {{"dataset", "LiTS \"2017\""}, {"dice", "0.91"}, {"trained_epochs", "300"}};
  return info;
}

// ------------------------------------------------------------------------------ defaults
TEST(Config, EmptyObjectsGiveStructDefaults) {
  expect_equal(parse_model_config("{}", kSrc), ModelConfig{});
  expect_equal(parse_model_info("{}", kSrc), ModelInfo{});
  RunConfig r = parse_run_config(R"({"train": {"patch_size": [256, 256]}})", kSrc);
  expect_equal(r.model, ModelConfig{});
  TrainConfig t;
  t.patch_size = {256, 256};
  expect_equal(r.train, t);
}

// ---------------------------------------------------------------------------- round trips
TEST(Config, DefaultsRoundTrip) {
  ModelConfig m;
  expect_equal(parse_model_config(to_json_string(m), kSrc), m);
  ModelInfo info;
  expect_equal(parse_model_info(to_json_string(info), kSrc), info);
  RunConfig r;
  r.train.patch_size = {128, 128};
  RunConfig back = parse_run_config(to_json_string(r), kSrc);
  expect_equal(back.model, r.model);
  expect_equal(back.train, r.train);
}

TEST(Config, NonDefaultValuesRoundTrip) {
  RunConfig r = non_default_run();
  std::string text = to_json_string(r);
  RunConfig back = parse_run_config(text, kSrc);
  expect_equal(back.model, r.model);
  expect_equal(back.train, r.train);
  EXPECT_EQ(to_json_string(back), text);
  expect_equal(parse_model_config(to_json_string(r.model), kSrc), r.model);

  ModelInfo info = non_default_info();
  std::string info_text = to_json_string(info);
  expect_equal(parse_model_info(info_text, kSrc), info);
  EXPECT_EQ(to_json_string(parse_model_info(info_text, kSrc)), info_text);
}

TEST(Config, WriterIsPrettyAndSelfDescribing) {
  RunConfig r;
  r.train.patch_size = {96, 96};
  std::string text = to_json_string(r);
  EXPECT_EQ(text.rfind("{\n  \"model\": {\n    \"dims\": 2,\n", 0), 0u) << text;
  EXPECT_NE(text.find("\"patch_size\": [96, 96]"), std::string::npos) << text;
  EXPECT_NE(text.find("\"norm_eps\": 1e-05"), std::string::npos) << text;  // shortest float
  for (const char* key : {"deep_supervision", "max_nonfinite_steps", "gamma_max", "seed"})
    EXPECT_NE(text.find(std::string("\"") + key + "\""), std::string::npos) << key;
  std::string info = to_json_string(ModelInfo{});
  for (const char* key : {"format_version", "target_spacing", "channels", "labels", "provenance"})
    EXPECT_NE(info.find(std::string("\"") + key + "\""), std::string::npos) << key;
}

// --------------------------------------------------------------------------- instance target
TEST(ConfigInstances, ModelJsonRoundTripAndDefaults) {
  const ModelInfo plain = parse_model_info("{}", kSrc);
  EXPECT_EQ(plain.target, "classes");
  EXPECT_FALSE(plain.instance_target());
  ModelInfo info;
  info.model.num_classes = 3;
  info.labels = {"background", "nucleus_interior", "nucleus_boundary"};
  info.target = "instances";
  info.instances.object = "nucleus";
  info.instances.boundary_width = 2;
  info.instances.seed_min_size = 6.5;
  info.instances.seed_split = 1.5;
  info.instances.min_size = 12;
  info.instances.fill_holes = false;
  const std::string text = to_json_string(info);
  EXPECT_NE(text.find("\"target\": \"instances\""), std::string::npos) << text;
  const ModelInfo back = parse_model_info(text, kSrc);
  EXPECT_TRUE(back.instance_target());
  EXPECT_EQ(back.instances.object, "nucleus");
  EXPECT_EQ(back.instances.boundary_width, 2);
  EXPECT_EQ(back.instances.seed_min_size, 6.5);
  EXPECT_EQ(back.instances.seed_split, 1.5);
  EXPECT_EQ(back.instances.min_size, 12);
  EXPECT_FALSE(back.instances.fill_holes);
  EXPECT_EQ(to_json_string(back), text);
}

TEST(ConfigInstances, ErrorsNameTheKey) {
  EXPECT_EQ(info_error(R"({"target": "instances"})"),
            "configs/x.json: target: 'instances' needs model.num_classes 3 (background, "
            "interior, boundary), got 2");
  EXPECT_EQ(info_error(R"({"target": "instance"})"),
            "configs/x.json: target: 'instance' is not one of classes, instances (did you mean "
            "'instances'?)");
  EXPECT_EQ(info_error(R"({"instances": {"boundary_width": 0}})"),
            "configs/x.json: instances.boundary_width: must be between 1 and 64, got 0");
  EXPECT_EQ(info_error(R"({"instances": {"seed_split": -0.5}})"),
            "configs/x.json: instances.seed_split: must be >= 0, got -0.5");
  EXPECT_EQ(info_error(R"({"instances": {"min_size": -1}})"),
            "configs/x.json: instances.min_size: must be >= 0, got -1.0");
  EXPECT_EQ(info_error(R"({"instances": {"object": ""}})"),
            "configs/x.json: instances.object: must not be empty");
  EXPECT_EQ(info_error(R"({"instances": {"fill_holes": 1}})"),
            "configs/x.json: instances.fill_holes: expected a boolean (true or false), got number 1");
  // In a run config the object name comes from dataset.json: not a key there.
  std::string e = run_error(run_json("", R"("instances": {"object": "cell"})"));
  EXPECT_NE(e.find("unknown key 'train.instances.object'"), std::string::npos) << e;
  EXPECT_NE(e.find("valid keys: boundary_width, seed_min_size, seed_split, min_size, fill_holes"),
            std::string::npos) << e;
  EXPECT_EQ(run_error(run_json("", R"("instances": {"seed_min_size": "4"})")),
            "configs/x.json: train.instances.seed_min_size: expected a number, got string \"4\"");
  RunConfig rc = parse_run_config(run_json("", R"("instances": {"boundary_width": 3})"), kSrc);
  EXPECT_EQ(rc.train.instances.boundary_width, 3);
  EXPECT_EQ(parse_run_config(to_json_string(rc), kSrc).train.instances.boundary_width, 3);
}

// ---------------------------------------------------------------------------------- errors
TEST(ConfigErrors, UnknownKeySuggestsAndListsValidKeys) {
  EXPECT_EQ(run_error(run_json(R"("base_filter": 16)")),
            "configs/x.json: unknown key 'model.base_filter' (did you mean 'base_filters'? "
            "valid keys: dims, in_channels, num_classes, base_filters, depth, convs_per_stage, "
            "max_filters, kernel_size, pool_sizes, kernel_sizes, norm, norm_eps, bn_momentum, "
            "activation, negative_slope, upsampling, dropout, residual, deep_supervision, "
            "architecture, features_per_stage, n_conv_per_stage, n_conv_per_stage_decoder, "
            "n_blocks_per_stage, stem_channels, input_size, layers)");
  std::string nested = run_error(run_json("", R"("augment": {"flipp": 0.5})"));
  EXPECT_NE(nested.find("unknown key 'train.augment.flipp' (did you mean 'flip'?"),
            std::string::npos) << nested;
  std::string far = run_error(run_json("", R"("zzz": 1)"));
  EXPECT_NE(far.find("unknown key 'train.zzz' (valid keys: patch_size, batch_size"),
            std::string::npos) << far;
  EXPECT_EQ(run_error(R"({"labels": ["bg", "fg"], "train": {"patch_size": [64, 64]}})"),
            "configs/x.json: unknown key 'labels' (valid keys: model, train, inference)");
  std::string info = info_error(R"({"preprocess": {"channels": [{"shceme": "ct"}]}})");
  EXPECT_NE(info.find("unknown key 'preprocess.channels[0].shceme' (did you mean 'scheme'?"),
            std::string::npos) << info;
}

TEST(ConfigErrors, WrongTypeNamesKeyExpectedAndFound) {
  EXPECT_EQ(run_error(run_json(R"("depth": "4")")),
            "configs/x.json: model.depth: expected an integer, got string \"4\"");
  EXPECT_EQ(run_error(run_json(R"("depth": 4.5)")),
            "configs/x.json: model.depth: expected an integer, got number 4.5");
  EXPECT_EQ(run_error(run_json(R"("residual": 1)")),
            "configs/x.json: model.residual: expected a boolean (true or false), got number 1");
  EXPECT_EQ(run_error(run_json("", R"("lr": null)")),
            "configs/x.json: train.lr: expected a number, got null");
  EXPECT_EQ(run_error(run_json(R"("pool_sizes": [[1, 2, 2], [2, 2]])")),
            "configs/x.json: model.pool_sizes[1]: expected an array of 3 integers [D, H, W] "
            "(D = 1 for 2D models), got an array of 2 values");
  EXPECT_EQ(run_error(R"({"train": {"patch_size": [64, "64"]}})"),
            "configs/x.json: train.patch_size[1]: expected an integer, got string \"64\"");
  EXPECT_EQ(run_error(R"({"model": [], "train": {"patch_size": [64, 64]}})"),
            "configs/x.json: model: expected an object, got an array of 0 values");
  EXPECT_EQ(run_error("[1, 2]"),
            "configs/x.json: the top level must be a JSON object, got an array of 2 values");
  EXPECT_EQ(run_error(run_json("", R"("seed": -1)")),
            "configs/x.json: train.seed: expected a non-negative integer, got number -1");
  EXPECT_EQ(run_error(run_json(R"("depth": 4294967296)")),
            "configs/x.json: model.depth: 4294967296 is too large for an integer");
  EXPECT_EQ(info_error(R"({"provenance": {"dice": 0.9}})"),
            "configs/x.json: provenance.dice: expected a string, got number 0.9");
}

TEST(ConfigErrors, BadEnumListsChoices) {
  EXPECT_EQ(run_error(run_json(R"("norm": "group")")),
            "configs/x.json: model.norm: 'group' is not one of instance, batch, none");
  EXPECT_EQ(run_error(run_json(R"("activation": "softplus")")),
            "configs/x.json: model.activation: 'softplus' is not one of relu, leaky_relu, "
            "sigmoid, tanh");
  EXPECT_EQ(run_error(run_json("", R"("optimizer": "adma")")),
            "configs/x.json: train.optimizer: 'adma' is not one of sgd, adam, adamw "
            "(did you mean 'adam'?)");
  EXPECT_EQ(run_error(run_json("", R"("loss": 3)")),
            "configs/x.json: train.loss: expected a string (one of dice_ce, ce, dice, mse, "
            "hinge, multi_hinge), got number 3");
  EXPECT_EQ(info_error(R"({"preprocess": {"channels": [{"scheme": "minmax"}]}})"),
            "configs/x.json: preprocess.channels[0].scheme: 'minmax' is not one of zscore, ct, "
            "percentile, none");
  EXPECT_EQ(run_error(run_json("", R"("loss_scaling": "static")")),
            "configs/x.json: train.loss_scaling: 'static' is not one of auto, dynamic, off");
}

TEST(ConfigErrors, LossScaleInitMustFitAFloat) {
  EXPECT_EQ(run_error(run_json("", R"("loss_scale_init": 0.5)")),
            "configs/x.json: train.loss_scale_init: must be between 1 and 2^127, got 0.5");
  EXPECT_EQ(run_error(run_json("", R"("loss_scale_init": 1e39)")),
            "configs/x.json: train.loss_scale_init: must be between 1 and 2^127, got 1e+39");
}

TEST(ConfigErrors, RangeChecksSayWhatIsAllowed) {
  EXPECT_EQ(run_error(run_json(R"("dims": 4)")),
            "configs/x.json: model.dims: must be 2 or 3, got 4");
  EXPECT_EQ(run_error(run_json(R"("depth": 8)")),
            "configs/x.json: model.depth: must be between 0 and 7, got 8");
  EXPECT_EQ(run_error(run_json(R"("base_filters": 0)")),
            "configs/x.json: model.base_filters: must be at least 1, got 0");
  EXPECT_EQ(run_error(run_json(R"("num_classes": 1)")),
            "configs/x.json: model.num_classes: must be at least 2 (background and one class), "
            "got 1");
  EXPECT_EQ(run_error(run_json(R"("dropout": 1)")),
            "configs/x.json: model.dropout: must be in [0.0, 1.0), got 1.0");
  EXPECT_EQ(run_error(run_json(R"("kernel_size": 4)")),
            "configs/x.json: model.kernel_size: must be odd (for same-size padding), got 4");
  EXPECT_EQ(run_error(run_json(R"("depth": 2, "pool_sizes": [[1, 2, 2]])")),
            "configs/x.json: model.pool_sizes: has 1 entry but needs 2 (one per downsampling, "
            "i.e. depth); leave it empty for the defaults");
  EXPECT_EQ(run_error(run_json(R"("depth": 1, "kernel_sizes": [[1, 3, 3], [1, 2, 3]])")),
            "configs/x.json: model.kernel_sizes[1][1]: kernel sizes must be odd (for same-size "
            "padding), got 2");
  EXPECT_EQ(run_error(run_json(R"("depth": 1, "pool_sizes": [[2, 2, 2]])")),
            "configs/x.json: model.pool_sizes[0]: the D entry must be 1 for a 2D model, got 2");
  EXPECT_EQ(run_error(run_json("", R"("augment": {"flip": 1.5})")),
            "configs/x.json: train.augment.flip: is a probability and must be in [0, 1], got 1.5");
  EXPECT_EQ(run_error(run_json("", R"("augment": {"gamma_min": 2})")),
            "configs/x.json: train.augment.gamma_min: must not exceed gamma_max (2.0 > 1.5)");
  EXPECT_EQ(run_error(run_json("", R"("lr": 0)")),
            "configs/x.json: train.lr: must be > 0, got 0.0");
  EXPECT_EQ(run_error(run_json("", R"("warmup_epochs": 5, "epochs": 4)")),
            "configs/x.json: train.warmup_epochs: must be between 0 and 4, got 5");
  EXPECT_EQ(info_error(R"({"format_version": 2, "something_new": 1})"),
            "configs/x.json: format_version: unsupported version 2 (this build of useg reads 1)");
  EXPECT_EQ(info_error(R"({"labels": ["background"]})"),
            "configs/x.json: labels: has 1 name but model.num_classes is 2 (one name per class, "
            "background first)");
  EXPECT_EQ(info_error(R"({"model": {"in_channels": 2}, "preprocess": {"channels": [{}]}})"),
            "configs/x.json: preprocess.channels: has 1 entry but model.in_channels is 2 (one "
            "entry per input channel)");
  EXPECT_EQ(info_error(R"({"preprocess": {"channels": [{"scheme": "ct", "clip_low": 100}]}})"),
            "configs/x.json: preprocess.channels[0].clip_low: must be below clip_high for scheme "
            "ct (100.0 >= 0.0)");
}

TEST(ConfigErrors, MissingPatchSize) {
  const char* expected =
      "configs/x.json: missing required key 'train.patch_size' (expected an array of integers)";
  EXPECT_EQ(run_error(R"({"model": {}, "train": {"epochs": 3}})"), expected);
  EXPECT_EQ(run_error(R"({"model": {}})"), expected);
  EXPECT_EQ(run_error("{}"), expected);
}

TEST(ConfigErrors, PatchMustMatchDimsAndPooling) {
  EXPECT_EQ(run_error(R"({"train": {"patch_size": [100, 64]}})"),
            "configs/x.json: train.patch_size: 100 along axis H (y) is not a multiple of 16 (the "
            "product of the pool sizes along that axis); use 96 or 112");
  EXPECT_EQ(run_error(R"({"train": {"patch_size": [64, 64, 64]}})"),
            "configs/x.json: train.patch_size: expected 2 entries ([H, W]) for a 2D model, got 3");
  EXPECT_EQ(info_error(R"({"model": {"dims": 3, "depth": 2}, "patch_size": [64, 64, 6]})"),
            "configs/x.json: patch_size: 6 along axis W (x) is not a multiple of 4 (the product "
            "of the pool sizes along that axis); use 4 or 8");
  // Anisotropic pooling: the D axis is pooled only twice (multiple 4), H and W three times (8).
  ModelConfig m;
  m.dims = 3;
  m.depth = 3;
  m.pool_sizes = {{1, 2, 2}, {2, 2, 2}, {2, 2, 2}};
  EXPECT_NO_THROW(check_patch_size(m, {20, 64, 56}, "--patch-size"));
  EXPECT_EQ(error_of([&] { check_patch_size(m, {18, 64, 64}, "--patch-size"); }),
            "--patch-size: 18 along axis D (z) is not a multiple of 4 (the product of the pool "
            "sizes along that axis); use 16 or 20");
  EXPECT_EQ(error_of([&] { check_patch_size(m, {20, 0, 64}, "--patch-size"); }),
            "--patch-size[1]: must be at least 1, got 0");
}

TEST(ConfigErrors, SyntaxErrorGivesLineAndColumn) {
  std::string text = "{\n  \"model\": {\n    \"depth\": 4,\n  }\n}\n";
  EXPECT_EQ(run_error(text),
            "configs/x.json:4:3: JSON syntax error: syntax error while parsing object key - "
            "unexpected '}'; expected string literal");
  std::string truncated = run_error("{\n  \"train\": {\"patch_size\": [64, 64]");
  EXPECT_EQ(truncated.rfind("configs/x.json:2:", 0), 0u) << truncated;
  EXPECT_NE(truncated.find("unexpected end of input"), std::string::npos) << truncated;
  EXPECT_EQ(run_error("{\"model\": {\n  \"depth\": 1e400}}"),
            "configs/x.json:2:12: invalid JSON: number overflow parsing '1e400'");
  EXPECT_EQ(run_error(R"({"model": {}, "train": {"patch_size": [64, 64], "lr": 1, "lr": 2}})"),
            "configs/x.json: duplicate key 'train.lr'");
  EXPECT_EQ(info_error(R"({"preprocess": {"channels": [{}, {"name": "a", "name": "b"}]}})"),
            "configs/x.json: duplicate key 'preprocess.channels[1].name'");
}

TEST(ConfigErrors, LoadNamesTheFile) {
  std::string missing = error_of([] { load_run_config("/nonexistent/run.json"); });
  EXPECT_NE(missing.find("/nonexistent/run.json"), std::string::npos) << missing;
  fs::path p = fs::temp_directory_path() / "useg_test_config_bad.json";
  { std::ofstream(p) << "{\"model\": {\"dims\": 5}, \"train\": {\"patch_size\": [8, 8]}}"; }
  EXPECT_EQ(error_of([&] { load_run_config(p.string()); }),
            p.string() + ": model.dims: must be 2 or 3, got 5");
  fs::remove(p);
}

// ------------------------------------------------------------------------- shipped configs
TEST(Config, ShippedConfigsParseAndRoundTrip) {
  fs::path dir = fs::path(USEG_SOURCE_DIR) / "configs";
  int count = 0;
  for (const auto& entry : fs::directory_iterator(dir)) {
    if (entry.path().extension() != ".json") continue;
    SCOPED_TRACE(entry.path().string());
    RunConfig r = load_run_config(entry.path().string());
    RunConfig back = parse_run_config(to_json_string(r), "<round trip>");
    expect_equal(back.model, r.model);
    expect_equal(back.train, r.train);
    EXPECT_EQ(back.inference.tta, r.inference.tta);
    ++count;
  }
  EXPECT_GE(count, 3);
  RunConfig nuclei = load_run_config((dir / "unet2d_nuclei.json").string());
  EXPECT_EQ(nuclei.model.dims, 2);
  EXPECT_EQ(nuclei.train.patch_size, (std::vector<int>{256, 256}));
  RunConfig mri = load_run_config((dir / "unet3d_mri.json").string());
  EXPECT_EQ(mri.model.dims, 3);
  RunConfig tiny = load_run_config((dir / "tiny2d_test.json").string());
  EXPECT_EQ(tiny.model.base_filters, 8);
  EXPECT_EQ(tiny.model.depth, 2);
  EXPECT_EQ(tiny.train.patch_size, (std::vector<int>{32, 32}));
  EXPECT_FALSE(tiny.inference.tta);  // a config without the section: one pass per window
  // The shipped model's recipe mirrors at test time (docs/default-model.md measured it).
  EXPECT_TRUE(load_run_config((dir / "nuclei2d_default.json").string()).inference.tta);
}

}  // namespace
}  // namespace useg

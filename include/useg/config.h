// Configuration as plain structs. JSON lives only in src/config: parse_* functions turn text
// into these structs (unknown keys and wrong types are errors naming the key and the allowed
// values) and to_json_string() writes them back; every struct round-trips.
//
// Array conventions in JSON: spatial lists are in tensor order [D, H, W] (z, y, x), as in
// nnU-Net's plans; 2D models give [H, W].
#pragma once

#include <array>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "useg/backend.h"

namespace useg {

// One layer of a "layers" network (model.architecture "layers"), applied in order:
//   conv             `filters` outputs, `kernel` (odd; 1 x k x k in 2D) and `stride`, zero padding
//                    kernel / 2; then `norm` and `activation`
//   max_pool         window = stride = `size` (1 x size x size in 2D)
//   global_avg_pool, global_max_pool   each channel's spatial positions into one value
//   flatten          [N, C, D, H, W] -> [N, C*D*H*W] (PyTorch's order)
//   dense            `units` outputs (0 on the last layer = num_classes), then `activation`
//   dropout          probability `p` while training
struct LayerConfig {
  std::string type;
  int filters = 0;
  int kernel = 3;
  int stride = 1;
  int size = 2;
  int units = 0;
  NormKind norm = NormKind::None;
  Activation activation = Activation::Identity;
  float p = 0.5f;
};

// The `model` section: a U-Net encoder-decoder (architecture "unet", segmentation), or a
// classifier (architecture "encoder_classifier" or "layers").
//  unet: stage s (0..depth) has min(base_filters * 2^s, max_filters) filters; each stage is
//  convs_per_stage x [conv kxk(x k) -> norm -> activation (-> dropout)]; encoder stages are
//  separated by max pooling; the decoder upsamples with a transposed conv (kernel = stride =
//  pool size), concatenates the skip and runs a stage; a 1x1(x1) conv head gives num_classes
//  logits. residual adds a skip over each stage (1x1 conv when the channel count changes).
//  deep_supervision adds 1x1 heads on the decoder stages below full resolution.
//  encoder_classifier: the U-Net's encoder stages (the fields below, without the decoder), then
//  global average pooling, dropout `dropout` and a dense layer to num_classes.
//  layers: the `layers` list; input_size is required (flatten and dense fix it).
//  nnunet_plain: nnU-Net v2's PlainConvUNet (dynamic_network_architectures; `useg
//  import-nnunet` writes it, docs/interop.md): as unet, but stage s > 0 downsamples with the
//  stride pool_sizes[s-1] of its first conv (no max pooling), stage s has features_per_stage[s]
//  filters and n_conv_per_stage[s] convs (decoder: n_conv_per_stage_decoder[s]), and the
//  parameters carry nnU-Net's state_dict names. No residual, dropout or deep-supervision heads.
//  nnunet_resenc: nnU-Net v2's ResidualEncoderUNet (the ResEnc presets): a stem [conv -> norm
//  -> activation] to stem_channels (0 = features_per_stage[0]), then per stage
//  n_blocks_per_stage[s] residual blocks (BasicBlockD: conv (stride pool_sizes[s-1] in the
//  first block of stage s > 0) -> norm -> activation -> conv -> norm, plus the skip: average
//  pooling (kernel = stride) where the block strides, then a 1x1 conv + norm where the channel
//  count changes; sum, activation); the decoder as nnunet_plain's.
struct ModelConfig {
  // unet | nnunet_plain | nnunet_resenc | encoder_classifier | layers
  std::string architecture = "unet";
  std::vector<LayerConfig> layers;    // architecture "layers"
  // Classifiers: the size every image is resized to ([H, W] or [D, H, W]); empty = the
  // training patch size (encoder_classifier only).
  std::vector<int> input_size;
  int dims = 2;                 // 2 | 3
  int in_channels = 1;
  int num_classes = 2;          // including background
  int base_filters = 32;
  int depth = 4;                // number of downsamplings
  int convs_per_stage = 2;
  int max_filters = 320;
  int kernel_size = 3;          // default kernel for every stage
  // Optional per-level overrides for anisotropic data (nnU-Net style), in [D, H, W]:
  // pool_sizes has `depth` entries, kernel_sizes has `depth + 1`. For dims 2 the D entry is 1.
  std::vector<std::array<int, 3>> pool_sizes;
  std::vector<std::array<int, 3>> kernel_sizes;
  NormKind norm = NormKind::Instance;
  float norm_eps = 1e-5f;
  float bn_momentum = 0.1f;
  Activation activation = Activation::LeakyReLU;  // relu | leaky_relu | sigmoid | tanh
  float negative_slope = 0.01f;
  std::string upsampling = "transposed";          // the only choice for now
  float dropout = 0.0f;         // probability after each conv block, 0 = off
  bool residual = false;
  bool deep_supervision = false;
  // nnunet_plain only (empty = base_filters/max_filters and convs_per_stage): per stage
  // 0..depth; n_conv_per_stage_decoder per decoder level 0..depth-1 (level 0 = full resolution).
  std::vector<int> features_per_stage;
  std::vector<int> n_conv_per_stage;
  std::vector<int> n_conv_per_stage_decoder;
  // nnunet_resenc only: residual blocks per stage 0..depth (empty = 1 each), and the stem's
  // output channels (0 = features_per_stage[0]).
  std::vector<int> n_blocks_per_stage;
  int stem_channels = 0;

  // nnU-Net v2's networks (imported by `useg import-nnunet`).
  bool nnunet() const {
    return architecture == "nnunet_plain" || architecture == "nnunet_resenc";
  }

  // Classification (a score per class for a whole image) rather than segmentation.
  bool classifier() const { return architecture == "encoder_classifier" || architecture == "layers"; }

  // Resolved per-level geometry (fills defaults from dims/kernel_size).
  std::array<int, 3> pool_size(int level) const;    // level 0..depth-1
  std::array<int, 3> kernel(int stage) const;       // stage 0..depth
  int filters(int stage) const;
  int encoder_convs(int stage) const;  // n_conv_per_stage[stage] or convs_per_stage
  int decoder_convs(int level) const;  // n_conv_per_stage_decoder[level] or convs_per_stage
  int encoder_blocks(int stage) const; // n_blocks_per_stage[stage] or 1 (nnunet_resenc)
};

enum class IntensityScheme { ZScore, CT, Percentile, None };
const char* intensity_scheme_name(IntensityScheme s);

// How one input channel is normalized (recorded in model.json; the same code runs in training
// and segmentation):
//  zscore:     (v - mean(image)) / std(image), statistics of the image itself
//  ct:         clip to [clip_low, clip_high], then (v - mean) / std with dataset statistics
//  percentile: clip to the image's [percentile_low, percentile_high] percentiles, then z-score
//  none:       unchanged
struct ChannelNorm {
  std::string name = "image";
  IntensityScheme scheme = IntensityScheme::ZScore;
  double clip_low = 0, clip_high = 0;  // ct
  double mean = 0, std = 1;            // ct
  double percentile_low = 0.5, percentile_high = 99.5;  // percentile
};

struct PreprocessConfig {
  // Voxel spacing the network works at, in [D, H, W] mm; empty = the image's own spacing.
  std::vector<double> target_spacing;
  std::vector<ChannelNorm> channels;  // one per input channel, in channel order
};

// Instance segmentation (cells, nuclei) with a three-class target. Training on a dataset whose
// labels are instance ids (dataset.json "instances": true) turns every object into classes
// 1 = interior and 2 = boundary (0 = background); `useg segment` turns the predicted classes back
// into objects (seeds = interior components, then a seeded watershed over the foreground).
// docs/training.md ("Instance datasets") and docs/segment.md ("Instance models") explain it.
struct InstanceSettings {
  std::string object = "object";  // what an object is ("nucleus"); model.json only
  // Target: a voxel of an object is boundary when a voxel of another id (or background) lies
  // within an ellipsoid of radius boundary_width voxels of the finest axis (in mm:
  // boundary_width x the finest spacing), at least one voxel along every axis.
  int boundary_width = 1;
  // Postprocessing, physical sizes (mm^2 for 2D images, mm^3 for 3D; 1 pixel = 1 mm^2 in
  // files without spacing):
  double seed_min_size = 0;       // interior components smaller than this seed no object
  // Seeds split by shape (mm; 0 = off): maxima of the distance inside a seed that stand more
  // than this above the saddle between them seed separate objects.
  double seed_split = 0;
  double min_size = 0;            // objects smaller than this are removed
  bool fill_holes = true;         // background enclosed by objects is given to them
  // model.json only: the median equivalent diameter (mm) of the objects the model was trained
  // on (a disc's in 2D, a ball's in 3D, of the same area / volume); 0 = not recorded. `useg
  // segment --diameter D` resamples images so that objects of diameter D look this size.
  double diameter = 0;
};

// How `useg segment` runs a model unless told otherwise (model.json and a training config's
// `inference` section; the trainer copies the config's into the model it writes).
struct InferenceDefaults {
  // Test-time mirroring: average the probabilities over every flip of the patch's spatial axes
  // (4 forward passes in 2D, 8 in 3D). `useg segment --tta` / `--no-tta` override it.
  bool tta = false;
  // Postprocessing steps in `--postprocess` syntax ("largest", "min-size=100vox", "fill-holes"),
  // run in order on every foreground class; `useg segment --postprocess` replaces them
  // (`--postprocess none`: no steps).
  std::vector<std::string> postprocess;
};

// model.json: everything needed to segment with a model directory.
struct ModelInfo {
  int format_version = 1;
  ModelConfig model;
  PreprocessConfig preprocess;
  std::vector<int> patch_size;        // [D, H, W] or [H, W]
  std::vector<std::string> labels;    // names by class index; labels[0] is background
  // "classes": the classes are the labels (the default). "instances": the network's three
  // classes are background / interior / boundary of `instances.object`; segment writes the
  // objects as instances and their union as class 1.
  std::string target = "classes";
  InstanceSettings instances;         // used when target is "instances"
  InferenceDefaults inference;
  std::map<std::string, std::string> provenance;  // free text: dataset, trained_epochs, dice...
  bool instance_target() const { return target == "instances"; }
};

// The `train` section.
struct AugmentConfig {
  double flip = 0.5;          // per axis
  double rotate90 = 0.0;      // in-plane 90 degree rotations (square patches)
  double rotate = 0.2;        // random rotation (in-plane for 2D; about each axis for 3D)
  double rotate_max_deg = 30;
  double scale = 0.2;         // random isotropic zoom
  double scale_min = 0.7, scale_max = 1.4;
  double noise = 0.1;         // Gaussian noise
  double noise_std_max = 0.1;
  double blur = 0.2;          // Gaussian blur
  double blur_sigma_min = 0.5, blur_sigma_max = 1.0;
  double brightness = 0.15;   // multiplicative, range below
  double brightness_min = 0.75, brightness_max = 1.25;
  double contrast = 0.15;
  double contrast_min = 0.75, contrast_max = 1.25;
  double gamma = 0.3;
  double gamma_min = 0.7, gamma_max = 1.5;
  // Elastic deformation: a displacement field of uniform noise smoothed by a Gaussian of sigma
  // voxels, times alpha (batchgenerators; nnU-Net's ranges, and off by default as there).
  double elastic = 0.0;
  double elastic_alpha_min = 0, elastic_alpha_max = 900;
  double elastic_sigma_min = 9, elastic_sigma_max = 13;
  // Low-resolution simulation (nnU-Net's SimulateLowResolutionTransform): per sample, then per
  // channel with low_res_per_channel, down by a zoom in the range (nearest), back up (linear).
  double low_res = 0.25;
  double low_res_per_channel = 0.5;
  double low_res_zoom_min = 0.5, low_res_zoom_max = 1.0;
};

struct TrainConfig {
  std::vector<int> patch_size;        // [H, W] or [D, H, W]; required for U-Nets
  int batch_size = 2;
  int epochs = 100;
  int iterations_per_epoch = 250;
  double oversample_foreground = 0.33;
  LossKind loss = LossKind::DiceCE;   // dice_ce | ce | dice | mse | hinge (classifiers: ce)
  bool batch_dice = false;            // Dice over the whole batch instead of per sample
  std::string optimizer = "sgd";      // sgd | adam | adamw
  double lr = 0.01;
  double momentum = 0.99;             // sgd
  bool nesterov = true;               // sgd
  double weight_decay = 3e-5;
  std::string schedule = "poly";      // poly | cosine | constant
  double poly_exponent = 0.9;
  int warmup_epochs = 0;
  double grad_clip = 12.0;            // global norm; 0 = off
  double val_fraction = 0.2;          // used when val_cases is empty and fold is -1
  std::vector<std::string> val_cases;
  // Cross-validation (nnU-Net's): fold >= 0 trains on that fold of DATASET/splits.json (made
  // with `folds` folds when absent: sorted cases, sklearn's KFold(folds, shuffle=True,
  // random_state=12345)); -1 = no folds (val_cases / val_fraction).
  int fold = -1;
  int folds = 5;
  int val_interval = 1;               // epochs between validations
  int patience = 0;                   // epochs without improvement before stopping; 0 = off
  // U-Nets: after the last epoch, best/ segments the validation cases into RUN/validation/
  // with a summary.json (src/train/final_validation.h), as nnU-Net's fold_K/validation/.
  bool final_validation = true;
  // The final validation also keeps each case's class probabilities, CASE_prob_K<ending>
  // (float32; .nii.gz for PNG datasets), for useg crossval's ensembles of configurations.
  bool final_validation_probabilities = false;
  int max_nonfinite_steps = 5;        // consecutive NaN/Inf losses before stopping
  std::string loss_scaling = "auto";  // auto (dynamic with fp16 precision) | dynamic | off
  double loss_scale_init = 65536;     // the dynamic scale's start (a power of 2 keeps it exact)
  int num_workers = 2;                // augmentation threads
  uint64_t seed = 42;
  // Preprocessing choices the trainer turns into model.json's PreprocessConfig:
  std::string target_spacing = "auto";     // "auto" (dataset median) | "native"
  std::vector<double> target_spacing_mm;   // explicit [D, H, W] overrides "auto"
  std::string normalization = "auto";      // auto (CT channels -> ct, else zscore) | zscore |
                                           // ct | percentile | none
  AugmentConfig augment;
  // Classifiers: the class names in class-index order (empty = the dataset's, sorted), and
  // whether each sample draws its class uniformly first (balanced batches).
  std::vector<std::string> classes;
  bool class_balanced = false;
  // Instance datasets only (dataset.json "instances": true): the target's boundary width and
  // the postprocessing settings the trainer records in model.json (`object` is not a key here:
  // it is dataset.json's foreground label name).
  InstanceSettings instances;
};

// A training config file: {"model": {...}, "train": {...}} (labels come from dataset.json).
struct RunConfig {
  ModelConfig model;
  TrainConfig train;
  InferenceDefaults inference;  // written into the trained model's model.json
};

// Parsers: `source` names the file (or "<string>") in error messages, e.g.
//   "configs/x.json: unknown key 'model.base_filter' (did you mean 'base_filters'?; valid keys:
//    ...)".
ModelConfig parse_model_config(const std::string& json_text, const std::string& source);
RunConfig parse_run_config(const std::string& json_text, const std::string& source);
ModelInfo parse_model_info(const std::string& json_text, const std::string& source);
RunConfig load_run_config(const std::string& path);
ModelInfo load_model_info(const std::string& path);  // path of model.json

// Any config the CLI accepts: a training config ({"model", "train"}) or a model.json. For a
// training config, `info` gets the model, the train patch size, labels background/class1/...,
// and default preprocessing (z-score per channel, native spacing); `run` holds the whole config.
struct LoadedConfig {
  ModelInfo info;
  std::optional<RunConfig> run;
};
LoadedConfig load_config(const std::string& path);

std::string to_json_string(const ModelConfig& c);
std::string to_json_string(const RunConfig& c);
std::string to_json_string(const ModelInfo& m);

// ------------------------------------------------------------------------- dataset.json
// The nnU-Net v2 dataset description (the trainer's dataset scanning reads it: src/train/dataset.h).
// dataset.json. Keys other than those below (name, description, licence, reference, ...) are
// ignored, as nnU-Net does. Region-based labels (lists of values, regions_class_order) and the
// nnU-Net v1 / MSD form {"0": "background"} are rejected with a message saying so.
struct DatasetJson {
  std::vector<std::string> channel_names;          // by channel index ("CT", "T2", "R", ...)
  std::vector<std::pair<std::string, int>> labels;  // (name, value), sorted by value; value 0 first
  int num_training = 0;
  std::string file_ending;                          // ".nii.gz", ".png", ...
  // "instances": true (a useg extension): labelsTr holds one id per object (0 = background,
  // any other integer one object), and `labels` names background and the objects
  // ({"background": 0, "nucleus": 1}: exactly two labels). The trainer derives the three
  // classes background / interior / boundary (useg/config.h InstanceSettings).
  bool instances = false;
};
// Parses the text of a dataset.json; errors name `source` and the key.
DatasetJson parse_dataset_json(const std::string& text, const std::string& source);

// ------------------------------------------------------------------------- splits.json
// nnU-Net's cross-validation file in the dataset folder: a list with one {"train": [...],
// "val": [...]} object of case names per fold (docs/training.md, "Cross-validation").
struct DataSplit {
  std::vector<std::string> train, val;
};
// Errors name `source` and the fold ("splits.json: [2]: missing key 'val'").
std::vector<DataSplit> parse_splits_json(const std::string& text, const std::string& source);
std::string to_splits_json(const std::vector<DataSplit>& splits);  // 4-space indent, as nnU-Net

}  // namespace useg

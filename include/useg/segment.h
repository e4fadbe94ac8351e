// `useg segment` as a library: the per-case pipeline (read -> preprocess -> sliding-window
// prediction -> probabilities back onto the input grid -> argmax -> postprocess -> outputs) and
// the batch runner around it (case discovery, shards, skip/resume, reader/compute/writer
// threads, report). The trainer's tests and the benchmarks call the same code.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "useg/config.h"
#include "useg/image.h"
#include "useg/infer.h"
#include "useg/labels.h"
#include "useg/model.h"
#include "useg/tensor.h"

namespace useg {

// ------------------------------------------------------------------------------ postprocess
// Steps run in the order given, each over every foreground class:
//   largest              keep the largest connected component
//   largest=K1+K2        the same for classes K1, K2 only (class indices, 1 .. num_classes-1)
//   min-size=N<unit>     remove components smaller than N; unit vox (voxels), mm3 (3D images)
//                        or mm2 (2D images)
//   fill-holes           background enclosed by the class takes the class
struct PostprocessStep {
  // LargestForeground: every foreground class as one region, only its largest connected
  // component kept (nnU-Net's first postprocessing candidate); the rest becomes background.
  enum class Kind { Largest, MinSize, FillHoles, LargestForeground };
  Kind kind = Kind::Largest;
  double min_size = 0;
  std::string unit;  // min-size: "vox" | "mm3" | "mm2"
  std::vector<int> classes;  // largest=K1+K2: those classes only; empty: every foreground class
  std::string text;  // as written by the user
};

// Parses items such as "largest", "min-size=100vox", "fill-holes"; an item may hold several
// steps separated by commas; "none" alone is no steps. Throws useg::Error naming the bad item
// and the valid syntax.
std::vector<PostprocessStep> parse_postprocess(const std::vector<std::string>& items);
std::string postprocess_syntax();  // the valid forms, for help texts and errors

// Throws naming `source` when a step names a class outside 1 .. num_classes-1.
void check_postprocess_classes(const std::vector<PostprocessStep>& steps, int num_classes,
                               const std::string& source);

// Applies the steps to labels [1, 1, D, H, W] on `g`. Throws when a physical unit does not fit
// the image (mm3 on a 2D image, mm2 on a 3D image) or a class does not exist, naming `source`.
void apply_postprocess(Tensor& labels, const Geometry& g, int num_classes,
                       const std::vector<PostprocessStep>& steps, const std::string& source);

// ------------------------------------------------------------------------------ one case
struct SegmentOptions {
  double overlap = 0.5;
  int batch = 1;
  // Test-time mirroring; unset: the model's default (model.json inference.tta; an ensemble
  // follows its first model). window_options resolves it.
  std::optional<bool> tta;
  bool save_probabilities = false;
  // Unset: the model's steps (model.json inference.postprocess; an ensemble's first model).
  std::optional<std::vector<PostprocessStep>> postprocess;
  bool instances = false;
  bool measure = false;
  bool preview = false;
  // Instance models: the objects' diameter in mm (pixels in files without spacing), 0 = as the
  // model was trained; case_model_info applies it.
  double diameter = 0;
  // Instance models (--diameter auto): the diameter is estimated for each case by
  // segment_estimating_diameter; `diameter` is then ignored.
  bool auto_diameter = false;
};

// --diameter auto: the case segmented at the scales of the diameters d * 2^(k/2), k = 3, 2, ..., -2
// (d: model.json's instances.diameter), from the largest down, until one finds objects whose
// median equivalent diameter is at least 0.85 times the diameter asked: at a scale too large for
// them, objects come out whole at about their true size (so smaller than asked: measured ratios
// 0.43 .. 0.79 one step too large), while at a scale too small for them they are cut into pieces
// of about the size asked or smaller; at the right scale the ratio was 0.89 .. 1.07
// (docs/segment.md). That pass is the result (Segmentation::diameter says which); when none
// reaches 0.85, the pass with the highest ratio.
constexpr double kAutoDiameterAccept = 0.85;
// The smallest diameter it tries, times d (k = -2): the finest grid, which --max-memory's
// estimate assumes (an upper bound: most cases stop at a coarser one).
constexpr double kAutoDiameterSmallest = 0.5;

// The model as it runs on a case on `g`: `info` itself, or with --diameter D (an instance model
// whose model.json records instances.diameter d) the target spacing scaled by D / d (the image's
// own spacing when model.json has none) and the split settings with it (seed_min_size and
// min_size by (D / d)^dims, seed_split by D / d), so that objects of diameter D reach the
// network, and the split, at the size the model was trained on. Throws naming model.json when
// the model has no recorded diameter or is not an instance model (with auto_diameter too, which
// is otherwise `info` itself: each of its passes sets `diameter`).
ModelInfo case_model_info(const ModelInfo& info, const Geometry& g, const SegmentOptions& opts);

struct Segmentation {
  Tensor labels;         // [1, 1, D, H, W] on the input grid, class indices
  Tensor probabilities;  // [1, K, D, H, W] on the input grid (only with save_probabilities)
  Tensor instances;      // [1, 1, D, H, W] instance ids (with instances or measure, and
                         // always for an instance model)
  std::vector<int> instance_class;  // class of instance i + 1
  Geometry network_geometry;        // the grid the network saw
  bool resampled = false;
  int64_t windows = 0;
  double diameter = 0;  // the objects' diameter it was segmented for (--diameter); 0: the model's
  int diameter_passes = 0;  // --diameter auto: the passes it took
};

// The window options segment uses for a model: patch from model.json, overlap/batch from
// `opts`, mirror from opts.tta or else model.json's inference.tta.
WindowOptions window_options(const ModelInfo& info, const SegmentOptions& opts);
// The postprocessing segment runs: opts.postprocess, or else model.json's inference.postprocess.
std::vector<PostprocessStep> postprocess_steps(const ModelInfo& info, const SegmentOptions& opts);

// Checks a read image before any compute: voxels present, channel count as the model expects,
// a 3D model not given a 2D image. Throws a message naming image.source. (NaN and infinite
// voxels are no error: segment_image replaces them by their channel's minimum finite value.)
void check_segmentable(const Image& image, const ModelInfo& info);

// The class names of segment's label output: model.json's labels, or for an instance model
// (target "instances") background and the object name (interior and boundary are merged into
// class 1).
std::vector<std::string> output_labels(const ModelInfo& info);

// An instance model's foreground before its split: the voxels whose most probable class
// (`probabilities` [1, 3, D, H, W] on `g`) is interior or boundary, as class 1, after the
// postprocessing steps segment runs (postprocess_steps). segment_image splits this with
// split_instances(foreground, probabilities, g, info.instances); find-postprocess splits it
// with other settings.
Tensor instance_foreground(const Tensor& probabilities, const Geometry& g, const ModelInfo& info,
                           const SegmentOptions& opts, const std::string& source);
// The compute part of the pipeline for an image in memory. `progress(done, total)` counts
// window batches. NaN and +-Inf voxels are first replaced by their channel's minimum finite
// value (on a copy; replace_non_finite in io/image_checks.h, docs/segment.md).
Segmentation segment_image(const Image& image, const ModelInfo& info, Network& net,
                           const SegmentOptions& opts,
                           const std::function<void(int64_t, int64_t)>& progress = {});
// An ensemble of models that agree on `info` (ensemble_difference): their softmax probabilities
// are averaged inside the sliding window (predict_probabilities over the networks).
Segmentation segment_image(const Image& image, const ModelInfo& info,
                           const std::vector<Network*>& nets, const SegmentOptions& opts,
                           const std::function<void(int64_t, int64_t)>& progress = {});

// One configuration of an ensemble: models that share one sliding window (ensemble_difference
// is empty between them), such as the folds of one cross-validation.
struct ModelGroup {
  ModelInfo info;
  std::vector<Network*> nets;
};
// An ensemble of configurations (nnU-Net's ensemble of a 2D and a 3D U-Net): each group is
// preprocessed, predicted (its models averaged window by window) and resampled back onto the
// input grid on its own, and the groups' probabilities are averaged there with equal weights
// (a group of 5 folds counts as much as a single model). What follows - argmax, postprocessing,
// the instance split - is the first group's (its model.json's inference and instances
// sections, or `opts`). The groups must agree on the outputs (output_difference). One group is
// exactly the overload above.
Segmentation segment_image(const Image& image, const std::vector<ModelGroup>& groups,
                           const SegmentOptions& opts,
                           const std::function<void(int64_t, int64_t)>& progress = {});

// What segment does after the probabilities [1, K, D, H, W] on `g` (`info` as case_model_info
// gives it): an instance model's split (instance_foreground, split_instances; the labels become
// the objects' union), else the most probable class, the postprocessing and, with
// opts.instances or opts.measure, the connected components. Fills seg's labels, instances and
// instance_class; `source` names the case in errors. useg ensemble --model runs it on averaged
// files.
void segment_probabilities(Segmentation& seg, Tensor probabilities, const Geometry& g,
                           const ModelInfo& info, const SegmentOptions& opts,
                           const std::string& source);

// The model folders an ensemble's --model arguments name: a folder with model.json is itself; a
// folder without one holding fold_*/best/model.json (a cross-validation's run folders) gives
// each fold's best/, in fold order. Throws naming a folder that is neither.
std::vector<std::string> resolve_model_dirs(const std::vector<std::string>& given);
// The fold_K sub-folders of `dir` (K: digits) that hold `marker` (a path inside each, e.g.
// "best/model.json"), in the order of K; none when `dir` is not a folder.
std::vector<std::string> fold_folders(const std::string& dir, const std::string& marker);
// "" when models a and b can be ensembled in one sliding window: the same outputs
// (output_difference), dims, patch size and preprocessing (target spacing, each channel's
// normalization); else what differs, e.g. "patch_size [32, 32] vs [64, 64]".
std::string ensemble_difference(const ModelInfo& a, const ModelInfo& b);
// "" when the probabilities of models a and b mean the same and can be averaged on the input
// grid: classes (num_classes, labels, target), input channels and, for instance models, the
// object; else what differs, e.g. "model.num_classes 3 vs 2".
std::string output_difference(const ModelInfo& a, const ModelInfo& b);
// The configurations of an ensemble, models in the order given: each model joins the first
// group whose models it can share a window with, else starts a new one. Throws naming both
// folders (`dirs`, parallel to `infos`) and the difference when two models' outputs differ.
std::vector<std::vector<size_t>> group_models(const std::vector<ModelInfo>& infos,
                                              const std::vector<std::string>& dirs);

// ------------------------------------------------------------------------------ outputs
// Files of one case under `dir` for label extension `ext` (".nii.gz", ".nrrd", ...):
//   NAME<ext>                    labels (uint8 below 256 classes, else uint16)
//   NAME_prob_K<ext>             class K probability, float32, one file per class (PNG inputs:
//                                .nii.gz, PNG holds no floats)
//   NAME_instances<ext>          instance ids (uint16, or uint32 past 65535 instances)
//   NAME_measurements.csv        one row per object
//   NAME_preview.png             overlay of the labels on the middle slices
struct CaseOutputs {
  std::string labels;
  std::vector<std::string> probabilities;
  std::string instances, measurements, preview;
  std::vector<std::string> all() const;  // every path above that is set
};
CaseOutputs case_outputs(const std::string& dir, const std::string& name, const std::string& ext,
                         int num_classes, const SegmentOptions& opts);
std::string label_pixel_type(int num_classes);
// The pixel type of an instance id image holding `objects` ids: uint16, or uint32 past 65535.
std::string instance_pixel_type(size_t objects);
// Writes class k of `probabilities` [1, K, D, H, W] on `g` to files[k] (float32), as segment's
// --save-probabilities does; files.size() must be K.
void write_probabilities(const std::vector<std::string>& files, const Tensor& probabilities,
                         const Geometry& g);  // "uint8" | "uint16"

// The measurement CSV (header + one row per object).
std::string measurements_csv(const std::string& case_name, const std::vector<ObjectMeasure>& rows,
                             const Geometry& g, const std::vector<std::string>& class_names);

// Writes every output of `out` that is set, each atomically. `image` gives the geometry, the
// intensities for measurements and the preview.
void write_segmentation(const Image& image, const Segmentation& seg, const ModelInfo& info,
                        const CaseOutputs& out, const std::string& case_name);

// ------------------------------------------------------------------------------ memory
// Peak bytes of one case in a batch (docs/segment.md explains the terms), V_in = input voxels,
// V_net = voxels of the network grid, C channels, K classes, 4-byte floats:
//   4 * [ (3C + 2) * V_in  +  (K + 1) * V_net  +  max(C * V_net, K * V_in)
//         + V_in (with --instances or --measure, or an instance model)
//         + 8 * V_in (an instance model's split) ]  +  activation_bytes(one window batch)
//   + 4 * parameters
// (with --save-probabilities the batch waits for the writer before each prediction, so the
// saved probabilities never coexist with the next case's accumulators).
struct MemoryEstimate {
  int64_t image_bytes = 0;       // the arrays above
  int64_t activation_bytes = 0;  // the network on one window batch
  int64_t weight_bytes = 0;      // the model's parameters (float32)
  int64_t total() const { return image_bytes + activation_bytes + weight_bytes; }
};
// `network_grid` is the input geometry after preprocessing's resampling.
MemoryEstimate estimate_case_memory(const Geometry& input, const Geometry& network_grid,
                                    int channels, const ModelInfo& info,
                                    const SegmentOptions& opts);
// The grid preprocess() would resample `input` to (the same geometry when no resampling).
Geometry network_grid(const Geometry& input, const ModelInfo& info);
// Bytes of the network's activations for one batch of windows in inference (an upper bound:
// every stage's output kept at once, plus the largest stage's working tensors).
int64_t activation_bytes(const ModelInfo& info, const WindowOptions& w);

// ------------------------------------------------------------------------------ batch
// A case of a batch: its files, and where its outputs go (OUTPUT/rel_dir/name...). Cases found
// under an --input folder keep their sub-folder (rel_dir) so that equal names in different
// folders do not collide; files and DICOM folders given directly have rel_dir "".
struct BatchCase {
  std::string id;       // rel_dir/name (or name): the sort key, shown in logs and the report
  std::string name;
  std::string rel_dir;
  std::vector<std::string> files;  // one per channel
  std::string problem;  // non-empty: the case cannot run (reported as failed with this cause)
};

// Cases of the inputs (files, DICOM folders, folders to scan), sorted by id. Files under
// `output_dir` are never inputs. Throws useg::Error (a usage error) when an input does not exist
// or a folder holds no image.
std::vector<BatchCase> find_cases(const std::vector<std::string>& inputs, bool recursive,
                                  const std::string& output_dir);

// Which slice of the sorted case list this process takes: case k (0-based) belongs to shard
// k mod count.
struct Shard {
  int index = 0, count = 1;
  std::string source;  // "--shard", "SLURM_ARRAY_TASK_ID", "JOB_COMPLETION_INDEX" or "" (none)
};
// From `--shard I/N` (shard_flag, "" = not given), else from the environment:
// SLURM_ARRAY_TASK_ID (minus SLURM_ARRAY_TASK_MIN) with SLURM_ARRAY_TASK_COUNT or --shards N,
// else JOB_COMPLETION_INDEX with --shards N. `getenv` is the lookup (std::getenv in the CLI).
// Throws useg::Error for bad values.
Shard resolve_shard(const std::string& shard_flag, int shards_flag,
                    const std::function<const char*(const char*)>& getenv);
std::vector<BatchCase> select_shard(const std::vector<BatchCase>& cases, const Shard& shard);

struct BatchOptions {
  std::string model_dir;
  // More model folders (--model A --model B ..., or a folder of fold_*/best): the models are
  // ensembled, model_dir first. Empty = model_dir alone.
  std::vector<std::string> ensemble;
  // Set by the batch as it runs (the report records it): the models' folders grouped into
  // configurations (group_models); more than one group is a configuration ensemble.
  std::vector<std::vector<std::string>> configurations;
  std::vector<std::string> inputs;
  std::string output_dir;
  Device device = Device::CPU;
  int threads = 0;              // CPU threads for the backend and ITK (0 = all cores)
  std::string precision;        // BackendOptions::precision ("" = the device default)
  std::string conv_algorithm;   // BackendOptions::conv_algorithm ("" = auto)
  SegmentOptions segment;
  std::string format = "nii.gz";  // output extension without the dot, or "same" as the input
  Shard shard;
  std::string report;           // "" = OUTPUT/report.json (report-shard-I-of-N.json if sharded)
  bool overwrite = false, recursive = false;
  int64_t max_voxels = 0;       // 0 = the reader's default limit
  int64_t max_memory = 0;       // bytes; 0 = no limit beyond the reader's default
  int tty = -1;                 // progress display: -1 detect, 0 log lines, 1 status line
};

struct CaseRecord {
  std::string id;
  std::vector<std::string> inputs, outputs;
  std::string status = "pending";  // pending | done | skipped | failed
  std::string error;
  double read_seconds = 0, compute_seconds = 0, write_seconds = 0;
  bool has_geometry = false;
  Geometry geometry;
  int channels = 0;
  int64_t nonfinite_voxels = 0;  // NaN/Inf voxels replaced (docs/segment.md)
  double diameter = 0;           // --diameter auto: the diameter chosen for it (0: not estimated)
  double seconds() const { return read_seconds + compute_seconds + write_seconds; }
};

struct BatchResult {
  std::vector<CaseRecord> cases;
  int done = 0, skipped = 0, failed = 0;
  std::string report_json, report_csv;  // paths written
  double seconds = 0;
};

// The report (JSON object with the run's settings and one entry per case; CSV one row per case).
std::string batch_report_json(const BatchOptions& opts, const BatchResult& r);
std::string batch_report_csv(const BatchResult& r);

// Runs the batch. Usage and model errors (bad options, model folder, device, inputs) throw
// useg::Error before any case runs; a failing case is recorded and the batch goes on. Per-case
// log lines go to stderr (useg::Progress).
BatchResult run_segment_batch(const BatchOptions& opts);

}  // namespace useg

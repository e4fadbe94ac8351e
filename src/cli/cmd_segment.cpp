// `useg segment`: batch segmentation of scan files and folders (src/infer/batch_runner.cpp does
// the work; this file turns flags into BatchOptions and prints the summary).
// Exit codes: 0 every case done or skipped, 1 some case failed, 2 usage or model error.
#include <CLI/CLI.hpp>

#include <cctype>
#include <cmath>
#include <cstdlib>
#include <iostream>
#include <memory>

#include "cli/commands.h"
#include "useg/error.h"
#include "useg/classify.h"
#include "useg/segment.h"
#include "util/cases.h"

namespace useg::cli {

namespace {

struct SegmentArgs {
  BatchOptions batch;
  std::vector<std::string> models;  // --model, once or more
  std::string device = "cpu";
  std::vector<std::string> postprocess;
  std::string shard;
  int shards = 0;
  std::string max_memory;
  std::string classify_objects;  // classifier model folder
  double margin = 1.5;
  bool tta = false, no_tta = false;  // override model.json inference.tta
  std::string diameter;              // a number of mm, or "auto"
};

// --diameter: "auto" or a positive number.
void parse_diameter(const std::string& text, SegmentOptions& s) {
  if (text.empty()) return;
  if (text == "auto") {
    s.auto_diameter = true;
    return;
  }
  size_t used = 0;
  double v = 0;
  try {
    v = std::stod(text, &used);
  } catch (const std::exception&) {
    used = 0;
  }
  if (used != text.size() || !(v > 0) || !std::isfinite(v))
    USEG_THROW("--diameter " << text << ": expected a positive number of mm, or auto");
  s.diameter = v;
}

// --classify-objects: each done or skipped case's objects through the classifier; a case that
// fails here is reported and the others go on. Returns the number of failed cases.
int classify_segmented_objects(const SegmentArgs& a, BatchResult& r) {
  Classifier clf(a.classify_objects, a.batch.device, BackendOptions{});
  int failed = 0;
  int64_t objects = 0;
  for (CaseRecord& c : r.cases) {
    if (c.status != "done" && c.status != "skipped") continue;
    std::string instances, csv;
    for (const std::string& p : c.outputs) {
      const std::string stem = image_stem(p);
      if (stem == c.id + "_instances") instances = p;
      if (p.size() > 17 && p.substr(p.size() - 17) == "_measurements.csv") csv = p;
    }
    try {
      USEG_REQUIRE(!instances.empty() && !csv.empty(),
                   c.id << ": no instance image or measurements among the "
                           "case's outputs");
      objects += classify_case_objects(clf, c.inputs, instances, csv, a.margin, 32);
    } catch (const std::exception& e) {
      std::cout << "  " << c.id << ": object classification failed: " << e.what() << "\n";
      ++failed;
    }
  }
  std::cout << "classify objects: " << objects << " object(s) classified by "
            << a.classify_objects << (failed ? ", " + std::to_string(failed) + " case(s) failed" : "")
            << "\n";
  return failed;
}

int run_segment(SegmentArgs& a) {
  BatchOptions& b = a.batch;
  std::vector<std::string> dirs = resolve_model_dirs(a.models);
  b.model_dir = dirs.front();
  b.ensemble.assign(dirs.begin() + 1, dirs.end());
  b.device = parse_device(a.device);
  if (a.tta || a.no_tta) b.segment.tta = a.tta;  // else each model's inference.tta
  if (!a.postprocess.empty()) b.segment.postprocess = parse_postprocess(a.postprocess);
  parse_diameter(a.diameter, b.segment);
  b.shard = resolve_shard(a.shard, a.shards, [](const char* n) { return std::getenv(n); });
  if (!a.max_memory.empty()) b.max_memory = parse_bytes(a.max_memory, "--max-memory");
  if (!a.classify_objects.empty()) {
    b.segment.measure = true;
    Classifier probe(a.classify_objects, Device::CPU, BackendOptions{});  // fail before segmenting
  }
  BatchResult r = run_segment_batch(b);
  std::cout << "segment: " << r.done << " done, " << r.skipped << " skipped, " << r.failed
            << " failed of " << r.cases.size() << " case(s)";
  if (b.shard.count > 1) std::cout << " in shard " << b.shard.index << "/" << b.shard.count;
  std::cout << "; report " << r.report_json << "\n";
  if (r.failed) {
    std::cout << "failed cases:\n";
    for (const CaseRecord& c : r.cases)
      if (c.status == "failed") std::cout << "  " << c.id << ": " << c.error << "\n";
  }
  const int object_failures = a.classify_objects.empty() ? 0 : classify_segmented_objects(a, r);
  return r.failed || object_failures ? 1 : 0;
}

}  // namespace

void register_segment_commands(CLI::App& app, std::function<int()>& run) {
  auto a = std::make_shared<SegmentArgs>();
  BatchOptions& b = a->batch;
  CLI::App* c = app.add_subcommand(
      "segment", "Segment image files and folders with a model; label images keep the input's "
                 "size, spacing, origin and direction");
  c->add_option("--model", a->models,
                "model folder (model.json + weights.safetensors); given more than once, or a "
                "folder of fold_*/best model folders (cross-validation runs), an ensemble: the "
                "softmax probabilities of models sharing a window are averaged in every window, "
                "other configurations (another patch, spacing, 2D vs 3D) on the input grid")
      ->required();
  c->add_option("--input", b.inputs,
                "image files (.nii .nii.gz .nrrd .nhdr .mha .mhd .tif .tiff .png), DICOM folders "
                "or folders to scan; nnU-Net names CASE_0000, CASE_0001 make one multi-channel "
                "case")
      ->required();
  c->add_option("--output", b.output_dir, "output folder")->required();
  c->add_option("--device", a->device, "cpu | cuda")->capture_default_str();
  c->add_option("--batch", b.segment.batch, "windows per forward pass")->capture_default_str();
  c->add_option("--overlap", b.segment.overlap, "sliding-window overlap in [0, 1)")
      ->capture_default_str();
  CLI::Option* tta = c->add_flag(
      "--tta", a->tta,
      "test-time mirroring: average the probabilities over every flip of the spatial axes (4 "
      "passes in 2D, 8 in 3D); the default is the model's (model.json inference.tta)");
  c->add_flag("--no-tta", a->no_tta, "one forward pass per window, whatever model.json says")
      ->excludes(tta);
  c->add_flag("--save-probabilities", b.segment.save_probabilities,
              "also write CASE_prob_K.<ext>, one float32 image per class K");
  c->add_option("--postprocess", a->postprocess,
                postprocess_syntax() + "; the default is the model's (model.json "
                                       "inference.postprocess)");
  c->add_option("--diameter", a->diameter,
                "instance models: the objects' diameter in mm (pixels in files without spacing); "
                "images are resampled so that they look the size the model was trained on "
                "(model.json instances.diameter), as Cellpose's --diameter. auto: chosen for each "
                "image by segmenting it at up to 6 scales (docs/segment.md)");
  c->add_flag("--instances", b.segment.instances,
              "write CASE_instances.<ext>: connected components of each foreground class, or for "
              "an instance model (model.json target 'instances') the split objects");
  c->add_flag("--measure", b.segment.measure,
              "write CASE_measurements.csv: one row per object (ITK shape and intensity "
              "statistics)");
  c->add_option("--format", b.format,
                "output format: nii.gz, nii, nrrd, nhdr, mha, mhd, tif, tiff, png, or same (as "
                "the input; DICOM -> nii.gz)")
      ->capture_default_str();
  c->add_option("--shard", a->shard,
                "I/N: segment only cases k with k mod N == I of the sorted case list (default: "
                "SLURM_ARRAY_TASK_ID or JOB_COMPLETION_INDEX when set)");
  c->add_option("--shards", a->shards,
                "number of shards N when the index comes from SLURM_ARRAY_TASK_ID or "
                "JOB_COMPLETION_INDEX");
  c->add_option("--report", b.report,
                "report file (default OUTPUT/report.json, OUTPUT/report-shard-I-of-N.json with "
                "shards); a CSV is written beside it");
  c->add_flag("--overwrite", b.overwrite, "recompute cases whose outputs exist");
  c->add_option("--threads", b.threads, "CPU threads (0 = all cores)")->capture_default_str();
  add_precision_option(c, b.precision);
  add_conv_algorithm_option(c, b.conv_algorithm);
  c->add_flag("--preview", b.segment.preview,
              "write CASE_preview.png: the labels over the middle slices (an instance model: each "
              "object in its own colour)");
  c->add_flag("--recursive", b.recursive, "scan input folders recursively");
  c->add_option("--max-voxels", b.max_voxels,
                "refuse cases with more voxels than this (the case fails, the batch goes on)");
  c->add_option("--max-memory", a->max_memory,
                "refuse cases whose estimated peak memory exceeds this (bytes; K, M, G, T "
                "suffixes)");
  c->add_option("--classify-objects", a->classify_objects,
                "classifier model folder: classify each object from a crop around it and add "
                "object_class and object_class_probability to CASE_measurements.csv (implies "
                "--measure)");
  c->add_option("--object-margin", a->margin,
                "--classify-objects: crop = the object's bounding box grown to a square (cube) "
                "times this")
      ->capture_default_str();
  c->callback([&run, a] { run = [a] { return run_segment(*a); }; });
}

}  // namespace useg::cli

// `useg classify`: one class per image into predictions.csv (src/infer/classify.cpp), or with
// --objects one class per segmented object added to CASE_measurements.csv
// (src/infer/classify_objects.cpp).
// Exit codes: 0 every image (case) done or skipped, 1 some failed, 2 usage or model error.
#include <CLI/CLI.hpp>

#include <filesystem>
#include <iostream>
#include <map>
#include <memory>

#include "cli/commands.h"
#include "useg/classify.h"
#include "useg/error.h"
#include "useg/image.h"
#include "util/cases.h"
#include "util/progress.h"

namespace fs = std::filesystem;

namespace useg::cli {

namespace {

struct ClassifyArgs {
  ClassifyOptions o;
  std::string device = "cpu";
  std::string objects;
  double margin = 1.5;
};

int run_images(ClassifyArgs& a) {
  USEG_REQUIRE(!a.o.output.empty(),
               "useg classify: --output predictions.csv is required (or "
               "--objects SEGMENTATION_DIR)");
  ClassifyResult r = run_classify(a.o);
  std::cout << "classify: " << r.done << " done, " << r.skipped << " skipped, " << r.failed
            << " failed; predictions " << a.o.output << ", report " << r.report << "\n";
  if (r.failed) {
    std::cout << "failed images:\n";
    for (const auto& [image, error] : r.failures) std::cout << "  " << image << ": " << error << "\n";
  }
  return r.failed ? 1 : 0;
}

// --objects: every input image is a case CASE whose CASE_instances.<ext> and
// CASE_measurements.csv useg segment --instances --measure wrote into the objects folder.
int run_objects(ClassifyArgs& a) {
  USEG_REQUIRE(fs::is_directory(a.objects),
               "--objects " << a.objects
                            << " is not a folder (expected useg segment's output "
                               "with CASE_instances and CASE_measurements.csv)");
  USEG_REQUIRE(a.margin >= 1, "--margin must be >= 1, got " << a.margin);
  std::vector<std::string> images;
  for (const std::string& in : a.o.inputs) {
    USEG_REQUIRE(fs::exists(in), "--input " << in << " does not exist");
    if (fs::is_directory(in) && !is_image_path(in)) {
      for (const std::string& f : list_images(in, a.o.recursive)) images.push_back(f);
    } else {
      images.push_back(in);
    }
  }
  USEG_REQUIRE(!images.empty(), "--input: no image files found");
  std::map<std::string, std::string> instances;  // case -> instance image
  for (const std::string& f : list_images(a.objects, false)) {
    const std::string stem = image_stem(f);
    const std::string suffix = "_instances";
    if (stem.size() > suffix.size() && stem.compare(stem.size() - suffix.size(), suffix.size(),
                                                    suffix) == 0)
      instances[stem.substr(0, stem.size() - suffix.size())] = f;
  }
  Classifier clf(a.o.models, a.o.device, a.o.backend);
  int failed = 0;
  int64_t objects = 0;
  Progress progress("classify objects", int64_t(images.size()));
  for (size_t i = 0; i < images.size(); ++i) {
    const std::string name = image_stem(images[i]);
    try {
      auto found = instances.find(name);
      USEG_REQUIRE(found != instances.end(),
                   "no " << name << "_instances.<ext> in " << a.objects
                         << " (run useg segment --instances --measure first)");
      const std::string csv = (fs::path(a.objects) / (name + "_measurements.csv")).string();
      USEG_REQUIRE(fs::exists(csv), "no " << csv << " (run useg segment --measure first)");
      objects += classify_case_objects(clf, {images[i]}, found->second, csv, a.margin,
                                       a.o.batch);
    } catch (const std::exception& e) {
      progress.log("useg classify: " + images[i] + " failed: " + e.what());
      ++failed;
    }
    progress.update(int64_t(i + 1), name);
  }
  progress.finish();
  std::cout << "classify --objects: " << objects << " object(s) of " << images.size() - size_t(failed)
            << " case(s) classified into " << a.objects << "/CASE_measurements.csv"
            << (failed ? "; " + std::to_string(failed) + " case(s) failed" : "") << "\n";
  return failed ? 1 : 0;
}

}  // namespace

void register_classify_commands(CLI::App& app, std::function<int()>& run) {
  auto a = std::make_shared<ClassifyArgs>();
  ClassifyOptions& o = a->o;
  CLI::App* c = app.add_subcommand(
      "classify", "Predict one class per image (a classifier model) into a CSV, or one class per "
                  "segmented object (--objects) into CASE_measurements.csv");
  c->add_option("--model", o.models,
                "classifier model folder (model.json + weights.safetensors), or a "
                "cross-validation's folder of fold_K runs; repeated or a cross-validation: an "
                "ensemble, its softmax probabilities averaged")
      ->required();
  c->add_option("--input", o.inputs, "image files and folders (any format useg reads)")
      ->required();
  c->add_option("--output", o.output,
                "predictions CSV: image,class,probability,p_<class>...; images already in it are "
                "skipped (resume) unless --overwrite");
  c->add_option("--report", o.report, "report JSON (default: OUTPUT without .csv + _report.json)");
  c->add_flag("--overwrite", o.overwrite, "classify every image again, replacing OUTPUT");
  c->add_flag("--recursive", o.recursive, "scan input folders recursively");
  c->add_option("--batch-size", o.batch, "images per forward pass")->capture_default_str();
  c->add_option("--device", a->device, "cpu | cuda")->capture_default_str();
  c->add_option("--threads", o.backend.threads, "CPU threads (0 = all cores)");
  add_precision_option(c, o.backend.precision);
  c->add_option("--objects", a->objects,
                "useg segment's output folder (--instances --measure): classify each object of "
                "each input image from a crop around it and add object_class and "
                "object_class_probability to CASE_measurements.csv");
  c->add_option("--margin", a->margin,
                "--objects: the crop is the object's bounding box grown to a square (cube) times "
                "this")
      ->capture_default_str();
  c->callback([&run, a] {
    run = [a] {
      a->o.device = parse_device(a->device);
      return a->objects.empty() ? run_images(*a) : run_objects(*a);
    };
  });
}

}  // namespace useg::cli

// `useg classify` as a library: a classifier model (model.json task classification) predicting
// one class per image, the batch runner writing predictions.csv (resume, report, bad files), and
// object classification: a crop around each segmented object (useg classify --objects, useg
// segment --classify-objects). Formats: docs/classification.md.
#pragma once

#include <array>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "useg/backend.h"
#include "useg/image.h"
#include "useg/model.h"
#include "useg/tensor.h"

namespace useg {

// One image as a classifier sees it: [1, C, D, H, W], each channel normalized as model.json
// says, then resized (linear) to the model's input size. Throws naming image.source when the
// channel count or dimensionality does not fit the model or a voxel is NaN or infinite.
Tensor classifier_input(const Image& image, const ModelInfo& info);

// A loaded classifier on a backend: one model, or an ensemble whose softmax probabilities are
// averaged. The folders are resolve_model_dirs's: a folder with model.json is itself, a folder
// holding fold_*/best/model.json (a cross-validation's runs) gives each fold's best/. The models
// must agree on what they classify and how they read an image (ensemble_difference: classes,
// channels, input size, normalization); otherwise the error names both folders and what differs.
class Classifier {
 public:
  Classifier(const std::vector<std::string>& model_dirs, Device device, const BackendOptions& opts);
  Classifier(const std::string& model_dir, Device device, const BackendOptions& opts);
  ~Classifier();
  const ModelInfo& info() const { return m_info; }  // the first model's
  const std::vector<std::string>& classes() const { return m_info.labels; }
  const std::vector<std::string>& models() const { return m_dirs; }  // as resolved
  // Softmax probabilities [n][K] of classifier_input()s (each [1, C, D, H, W] of the input size),
  // computed in batches of `batch`; an ensemble's mean over its models.
  std::vector<std::vector<double>> probabilities(const std::vector<Tensor>& inputs, int batch);

 private:
  ModelInfo m_info;
  std::vector<std::string> m_dirs;
  std::unique_ptr<Backend> m_backend;
  std::vector<std::unique_ptr<Network>> m_nets;
};

struct ClassifyOptions {
  std::vector<std::string> models;  // --model: one folder, several, or a cross-validation's
  std::vector<std::string> inputs;  // image files and folders
  std::string output;               // predictions CSV
  std::string report;               // default: OUTPUT without .csv + "_report.json"
  bool recursive = false;
  bool overwrite = false;           // recompute images already in OUTPUT (default: resume)
  int batch = 32;
  Device device = Device::CPU;
  BackendOptions backend;
};

struct ClassifyResult {
  int64_t done = 0, skipped = 0, failed = 0;
  std::vector<std::pair<std::string, std::string>> failures;  // (image, error)
  std::string report;
};

// useg classify's CSV: the header, and one image's row (its class: the highest probability).
std::string classify_csv_header(const std::vector<std::string>& classes);
std::string classify_csv_row(const std::string& image, const std::vector<std::string>& classes,
                             const std::vector<double>& probabilities);

// Lists the images (sorted; folders scanned, recursively with `recursive`), skips those already
// in OUTPUT unless `overwrite`, classifies the rest and writes OUTPUT (header image,class,
// probability,p_<class>...; existing rows kept first) atomically every few seconds and at the
// end, so an interruption loses at most the last seconds. An image that cannot be read or does
// not fit the model is a failure in the report; the others go on. Throws for usage errors (no
// images, a model that is not a classifier, an OUTPUT written for other classes).
ClassifyResult run_classify(const ClassifyOptions& opts);

// ---------------------------------------------------------------------------- objects
// The crop of an object for a classifier: the bounding box (voxel index ranges [lo, hi], x y z)
// grown to a square (cube) around its centre, times `margin`, clamped to at least
// min_size voxels per side; voxels outside the image read as the image's minimum. Returns
// [1, C, D', H', W'] on its own geometry.
Image object_crop(const Image& image, const std::array<int64_t, 3>& lo,
                  const std::array<int64_t, 3>& hi, double margin, int64_t min_size);

// For every instance id 1..N of `instances` (same grid as `image`), the classifier's class and
// probabilities of its crop. Ids absent from the image get class -1.
struct ObjectClass {
  int64_t id = 0;
  int cls = -1;
  std::vector<double> probability;
};
std::vector<ObjectClass> classify_objects(Classifier& clf, const Image& image,
                                          const Tensor& instances, double margin, int batch);

// Adds the columns `class_column` (class name) and `class_column`_probability to a measurements
// CSV (useg segment --measure: a header, then one row per object whose column "label" is the
// instance id), in memory; rows of objects without a class get empty fields. Replaces those
// columns when present.
std::string add_object_classes(const std::string& csv, const std::vector<ObjectClass>& objects,
                               const std::vector<std::string>& classes,
                               const std::string& class_column, const std::string& source);


// One segmented case: reads the image (one file per channel), its instance image (same
// geometry) and its measurements CSV, classifies every object and rewrites the CSV atomically
// with the columns object_class and object_class_probability. Returns the objects classified.
int64_t classify_case_objects(Classifier& clf, const std::vector<std::string>& image_files,
                              const std::string& instances_path,
                              const std::string& measurements_path, double margin, int batch);

}  // namespace useg

// useg classify: the classifier's input, the loaded classifier, and the batch runner that writes
// predictions.csv (resume, report, bad files reported and skipped).
#include "useg/classify.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <filesystem>
#include <future>
#include <map>
#include <set>
#include <sstream>

#include "config/json_writer.h"
#include "core/files.h"
#include "imaging/imaging.h"
#include "useg/error.h"
#include "useg/infer.h"
#include "useg/segment.h"
#include "util/cases.h"
#include "util/csv.h"
#include "util/progress.h"

namespace fs = std::filesystem;

namespace useg {

Tensor classifier_input(const Image& image, const ModelInfo& info) {
  const ModelConfig& m = info.model;
  USEG_REQUIRE(image.channels() == m.in_channels,
               image.source << ": the image has " << image.channels()
                            << " channel(s), the model expects " << m.in_channels);
  USEG_REQUIRE(m.dims == 3 || image.geometry.size[2] == 1,
               image.source << ": the model is 2D but the image has " << image.geometry.size[2]
                            << " slices");
  const float* v = image.voxels.data();
  for (int64_t i = 0; i < image.voxels.numel(); ++i)
    USEG_REQUIRE(std::isfinite(v[i]), image.source << ": the image holds NaN or infinite voxels");
  Tensor volume = image.voxels.clone();
  normalize_intensities(volume, info.preprocess);
  const std::vector<int>& p = info.patch_size;
  std::array<int64_t, 3> size{p.back(), p[p.size() - 2], m.dims == 3 ? p[0] : 1};  // x, y, z
  Geometry to = size_grid(image.geometry, size);
  if (to.size == image.geometry.size) return volume;
  return resample_to_geometry(volume, image.geometry, to, Interp::Linear);
}

Classifier::Classifier(const std::vector<std::string>& model_dirs, Device device,
                       const BackendOptions& opts)
    : m_dirs(resolve_model_dirs(model_dirs)), m_backend(make_backend(device, opts)) {
  for (const std::string& dir : m_dirs) {
    LoadedModel m = load_model_dir(dir, *m_backend);
    USEG_REQUIRE(m.info.model.classifier(),
                 dir << ": the model segments (model.json architecture '"
                     << m.info.model.architecture
                     << "'); useg classify needs a classifier (task classification)");
    if (m_nets.empty()) m_info = m.info;
    const std::string diff = ensemble_difference(m_info, m.info);
    USEG_REQUIRE(diff.empty(), "models " << m_dirs.front() << " and " << dir
                                         << " cannot be ensembled (their probabilities are "
                                            "averaged, so classes, channels, input size and "
                                            "normalization must agree): "
                                         << diff);
    m_nets.push_back(std::move(m.net));
  }
}

Classifier::Classifier(const std::string& model_dir, Device device, const BackendOptions& opts)
    : Classifier(std::vector<std::string>{model_dir}, device, opts) {}

Classifier::~Classifier() = default;

std::vector<std::vector<double>> Classifier::probabilities(const std::vector<Tensor>& inputs,
                                                           int batch) {
  const int K = m_info.model.num_classes;
  std::vector<std::vector<double>> out;
  out.reserve(inputs.size());
  batch = std::max(1, batch);
  for (size_t i0 = 0; i0 < inputs.size(); i0 += size_t(batch)) {
    const size_t n = std::min(inputs.size() - i0, size_t(batch));
    const Shape& s = inputs[i0].shape();
    Tensor x = Tensor::empty(Shape{int64_t(n), s.c(), s.d(), s.h(), s.w()});
    for (size_t j = 0; j < n; ++j) {
      const Tensor& t = inputs[i0 + j];
      USEG_REQUIRE(t.numel() == s.numel(), "Classifier: inputs of different sizes");
      std::copy(t.data(), t.data() + t.numel(), x.data() + j * size_t(s.numel()));
    }
    const Tensor input = x.to(m_backend->device());
    std::vector<std::vector<double>> mean(n, std::vector<double>(static_cast<size_t>(K), 0.0));
    for (const std::unique_ptr<Network>& net : m_nets) {
      Tensor logits = net->forward(input, false)[0].to(Device::CPU);
      for (size_t j = 0; j < n; ++j) {
        const float* l = logits.data() + j * size_t(K);
        const double mx = *std::max_element(l, l + K);
        std::vector<double> p(static_cast<size_t>(K), 0.0);
        double sum = 0;
        for (int k = 0; k < K; ++k) sum += p[size_t(k)] = std::exp(double(l[k]) - mx);
        for (int k = 0; k < K; ++k)
          mean[j][size_t(k)] += p[size_t(k)] / sum / double(m_nets.size());
      }
    }
    for (std::vector<double>& p : mean) out.push_back(std::move(p));
  }
  return out;
}

namespace {

std::vector<std::string> list_inputs(const ClassifyOptions& o) {
  std::vector<std::string> files;
  for (const std::string& in : o.inputs) {
    std::error_code ec;
    USEG_REQUIRE(fs::exists(in, ec), "--input " << in << " does not exist");
    if (fs::is_directory(in, ec) && !is_image_path(in)) {
      std::vector<std::string> found = list_images(in, o.recursive);
      USEG_REQUIRE(!found.empty(), "--input " << in << " holds no image files"
                                              << (o.recursive ? ""
                                                              : " (--recursive scans "
                                                                "sub-folders)"));
      files.insert(files.end(), found.begin(), found.end());
    } else {
      USEG_REQUIRE(is_image_path(in), "--input " << in
                                                 << " is not an image file (.nii .nii.gz "
                                                    ".nrrd .nhdr .mha .mhd .tif .tiff .png)");
      files.push_back(in);
    }
  }
  std::sort(files.begin(), files.end());
  files.erase(std::unique(files.begin(), files.end()), files.end());
  return files;
}

// Rows already in OUTPUT (resume), keyed by image. Throws when OUTPUT was written for other
// classes.
std::vector<std::pair<std::string, std::string>> existing_rows(const std::string& path,
                                                               const std::string& want) {
  std::vector<std::pair<std::string, std::string>> rows;
  std::error_code ec;
  if (!fs::exists(path, ec)) return rows;
  std::istringstream in(read_file(path));
  std::string line;
  bool first = true;
  while (std::getline(in, line)) {
    if (!line.empty() && line.back() == '\r') line.pop_back();
    if (first) {
      USEG_REQUIRE(line == want, path << " exists with the header '" << line
                                      << "', but this model writes '" << want
                                      << "': give another --output, or --overwrite to replace it");
      first = false;
      continue;
    }
    if (line.empty()) continue;
    rows.emplace_back(csv_split(line)[0], line);
  }
  return rows;
}

struct Loaded {
  std::vector<std::string> names;
  std::vector<Tensor> inputs;
  std::vector<std::pair<std::string, std::string>> failures;
};

Loaded load_chunk(const std::vector<std::string>& files, size_t i0, size_t n,
                  const ModelInfo& info) {
  Loaded l;
  for (size_t i = i0; i < i0 + n; ++i) {
    try {
      Tensor x = classifier_input(read_image(files[i]), info);
      l.names.push_back(files[i]);
      l.inputs.push_back(std::move(x));
    } catch (const std::exception& e) {
      l.failures.emplace_back(files[i], e.what());
    }
  }
  return l;
}

}  // namespace

std::string classify_csv_header(const std::vector<std::string>& classes) {
  std::string h = "image,class,probability";
  for (const std::string& c : classes) h += ",p_" + csv_field(c);
  return h;
}

std::string classify_csv_row(const std::string& image, const std::vector<std::string>& classes,
                             const std::vector<double>& p) {
  const size_t k = size_t(std::max_element(p.begin(), p.end()) - p.begin());
  std::string row = csv_field(image) + "," + csv_field(classes[k]) + "," + csv_number(p[k]);
  for (double v : p) row += "," + csv_number(v);
  return row;
}

ClassifyResult run_classify(const ClassifyOptions& o) {
  USEG_REQUIRE(!o.output.empty(), "--output: give the predictions CSV to write");
  USEG_REQUIRE(o.batch >= 1, "--batch-size must be >= 1, got " << o.batch);
  const auto t0 = std::chrono::steady_clock::now();
  const std::vector<std::string> files = list_inputs(o);
  Classifier clf(o.models, o.device, o.backend);
  const std::vector<std::string>& classes = clf.classes();
  const std::string head = classify_csv_header(classes);
  std::vector<std::pair<std::string, std::string>> rows;
  if (!o.overwrite) rows = existing_rows(o.output, head);
  std::set<std::string> done;
  for (const auto& r : rows) done.insert(r.first);
  std::vector<std::string> todo;
  for (const std::string& f : files)
    if (!done.count(f)) todo.push_back(f);

  ClassifyResult res;
  res.skipped = int64_t(files.size() - todo.size());
  res.report = o.report;
  if (res.report.empty()) {
    std::string base = o.output;
    if (base.size() > 4 && base.substr(base.size() - 4) == ".csv") base.resize(base.size() - 4);
    res.report = base + "_report.json";
  }
  auto write_csv = [&] {
    std::string text = head + "\n";
    for (const auto& r : rows) text += r.second + "\n";
    write_file_atomic(o.output, text);
  };
  Progress progress("classify", int64_t(todo.size()));
  auto last_write = std::chrono::steady_clock::now();
  const size_t chunk = size_t(o.batch);
  // The next chunk is read while this one is classified.
  std::future<Loaded> next;
  if (!todo.empty())
    next = std::async(std::launch::async, load_chunk, std::cref(todo), 0,
                      std::min(chunk, todo.size()), std::cref(clf.info()));
  for (size_t i0 = 0; i0 < todo.size(); i0 += chunk) {
    Loaded l = next.get();
    const size_t i1 = i0 + chunk;
    if (i1 < todo.size())
      next = std::async(std::launch::async, load_chunk, std::cref(todo), i1,
                        std::min(chunk, todo.size() - i1), std::cref(clf.info()));
    for (const auto& f : l.failures) {
      progress.log("useg classify: " + f.first + " failed: " + f.second);
      res.failures.push_back(f);
    }
    if (!l.inputs.empty()) {
      std::vector<std::vector<double>> p = clf.probabilities(l.inputs, o.batch);
      for (size_t j = 0; j < p.size(); ++j) {
        rows.emplace_back(l.names[j], classify_csv_row(l.names[j], classes, p[j]));
        ++res.done;
      }
    }
    progress.update(int64_t(std::min(i1, todo.size())));
    if (std::chrono::steady_clock::now() - last_write > std::chrono::seconds(2)) {
      write_csv();
      last_write = std::chrono::steady_clock::now();
    }
  }
  progress.finish();
  if (res.done || !fs::exists(o.output) || o.overwrite) write_csv();
  res.failed = int64_t(res.failures.size());

  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  JsonValue failures = JsonValue::array();
  for (const auto& [image, error] : res.failures)
    failures.push_back(JsonValue::object().set("image", image).set("error", error));
  JsonValue j = JsonValue::object();
  j.set("format", "useg-classify-report-1")
      .set("model", clf.models().front())
      .set("models", clf.models())
      .set("output", o.output)
      .set("classes", classes)
      .set("images", int64_t(files.size()))
      .set("done", res.done)
      .set("skipped", res.skipped)
      .set("failed", res.failed)
      .set("seconds", JsonValue::number(seconds, 6))
      .set("images_per_second",
           JsonValue::number(seconds > 0 ? double(res.done) / seconds : 0.0, 6))
      .set("failures", std::move(failures));
  write_file_atomic(res.report, j.dump());
  return res;
}

}  // namespace useg

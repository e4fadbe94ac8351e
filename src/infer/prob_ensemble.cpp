// useg ensemble: probability files averaged into labels (src/infer/prob_ensemble.h).
#include "infer/prob_ensemble.h"

#include <algorithm>
#include <filesystem>

#include "useg/error.h"
#include "useg/image.h"
#include "useg/infer.h"

namespace fs = std::filesystem;

namespace useg {

namespace {

std::string prob_file(const std::string& dir, const std::string& name, int k,
                      const std::string& ext) {
  return (fs::path(dir) / (name + "_prob_" + std::to_string(k) + ext)).string();
}

}  // namespace

std::vector<ProbabilityCase> find_probability_cases(const std::vector<std::string>& dirs) {
  USEG_REQUIRE(dirs.size() >= 2,
               "an ensemble needs at least two --input folders, got " << dirs.size());
  for (const std::string& d : dirs)
    USEG_REQUIRE(fs::is_directory(d), "--input " << d
                                                 << " is not a folder (expected the --output "
                                                    "folder of useg segment "
                                                    "--save-probabilities)");
  std::vector<ProbabilityCase> cases;
  const std::string marker = "_prob_0.";
  for (const auto& e : fs::directory_iterator(dirs[0])) {
    const std::string file = e.path().filename().string();
    const size_t at = file.rfind(marker);
    if (!e.is_regular_file() || at == std::string::npos || at == 0) continue;
    ProbabilityCase c;
    c.name = file.substr(0, at);
    c.ext = file.substr(at + marker.size() - 1);
    while (fs::exists(prob_file(dirs[0], c.name, c.classes, c.ext))) ++c.classes;
    USEG_REQUIRE(c.classes >= 2, prob_file(dirs[0], c.name, 1, c.ext)
                                     << " is missing: a case needs the probability of every "
                                        "class (NAME_prob_0 .. NAME_prob_K-1)");
    for (const std::string& d : dirs) {
      std::vector<std::string> files;
      for (int k = 0; k < c.classes; ++k) {
        files.push_back(prob_file(d, c.name, k, c.ext));
        USEG_REQUIRE(fs::exists(files.back()), files.back() << " is missing (" << dirs[0]
                                                            << " holds case " << c.name << " with "
                                                            << c.classes << " classes)");
      }
      USEG_REQUIRE(!fs::exists(prob_file(d, c.name, c.classes, c.ext)),
                   d << " holds " << prob_file(d, c.name, c.classes, c.ext) << ": case " << c.name
                     << " has more classes there than the " << c.classes << " of " << dirs[0]);
      c.files.push_back(std::move(files));
    }
    cases.push_back(std::move(c));
  }
  USEG_REQUIRE(!cases.empty(), "--input " << dirs[0]
                                          << " holds no probability files (NAME_prob_0.EXT: "
                                             "segment with --save-probabilities)");
  std::sort(cases.begin(), cases.end(),
            [](const ProbabilityCase& a, const ProbabilityCase& b) { return a.name < b.name; });
  return cases;
}

Tensor mean_probability_files(const std::vector<std::vector<std::string>>& files, Geometry& g,
                              const ReadLimits& limits) {
  USEG_REQUIRE(!files.empty() && !files[0].empty(), "mean_probability_files: no files");
  const int K = int(files[0].size());
  const std::string& first = files[0][0];
  Tensor mean;
  const float scale = 1.f / float(files.size());
  for (const std::vector<std::string>& run : files)
    for (int k = 0; k < K; ++k) {
      const std::string& file = run.at(size_t(k));
      const Image p = read_image(file, limits);
      USEG_REQUIRE(p.channels() == 1,
                   file << " has " << p.channels() << " channels (expected one probability)");
      if (!mean.defined()) {
        g = p.geometry;
        mean = Tensor::zeros(Shape{1, K, g.size[2], g.size[1], g.size[0]});
      }
      USEG_REQUIRE(p.geometry.same_as(g), file << " (" << p.geometry.str()
                                               << ") is not on the grid of " << first << " ("
                                               << g.str() << ")");
      float* m = mean.data() + int64_t(k) * g.voxels();
      const float* v = p.voxels.data();
      for (int64_t i = 0; i < g.voxels(); ++i) m[i] += v[i] * scale;
    }
  return mean;
}

int ensemble_probability_files(const ProbabilityEnsembleOptions& o) {
  const std::vector<ProbabilityCase> cases = find_probability_cases(o.inputs);
  USEG_REQUIRE(!o.output.empty(), "--output: give the folder to write the labels to");
  // Without --model: a class model of the files' classes with no settings of its own.
  ModelInfo info;
  info.model.num_classes = cases.front().classes;
  SegmentOptions so;
  so.postprocess = o.postprocess.value_or(std::vector<PostprocessStep>{});
  if (!o.model.empty()) {
    info = load_model_info((fs::path(o.model) / "model.json").string());
    so.postprocess = o.postprocess;  // unset: the model's inference.postprocess
  }
  const int K = info.model.num_classes;
  const bool objects = info.instance_target();
  check_postprocess_classes(
      postprocess_steps(info, so), objects ? 2 : K,
      o.postprocess || o.model.empty() ? "--postprocess" : o.model + "/model.json");
  fs::create_directories(o.output);
  SegmentOptions names;  // segment's output names: NAME<ext>, NAME_prob_K<ext>, NAME_instances<ext>
  names.save_probabilities = o.save_probabilities;
  names.instances = objects;
  int written = 0;
  for (const ProbabilityCase& c : cases) {
    const std::string& first = c.files[0][0];
    USEG_REQUIRE(c.classes == K, "case " << c.name << " has " << c.classes << " probability files ("
                                         << first << " ...) but model " << o.model << " has " << K
                                         << " classes");
    Geometry g;
    Tensor mean = mean_probability_files(c.files, g);
    const CaseOutputs out = case_outputs(o.output, c.name, c.ext, K, names);
    if (o.save_probabilities) write_probabilities(out.probabilities, mean, g);
    Segmentation seg;
    segment_probabilities(seg, std::move(mean), g, info, so, first);
    write_image(out.labels, seg.labels, g, label_pixel_type(objects ? 2 : K));
    std::string what = " runs averaged -> " + out.labels;
    if (objects) {
      write_image(out.instances, seg.instances, g, instance_pixel_type(seg.instance_class.size()));
      what += ", " + std::to_string(seg.instance_class.size()) + " object(s) -> " + out.instances;
    }
    ++written;
    if (o.log)
      o.log("[" + std::to_string(written) + "/" + std::to_string(cases.size()) + "] " + c.name +
            ": " + std::to_string(o.inputs.size()) + what);
  }
  return written;
}

}  // namespace useg

// find_postprocess: the validation cases of training runs segmented once, every postprocessing
// candidate scored on them (src/train/postprocess_search.h).
#include "train/postprocess_search.h"

#include <algorithm>
#include <filesystem>
#include <map>
#include <sstream>

#include "config/json_writer.h"
#include "core/files.h"
#include "train/checkpoint.h"
#include "train/dataset.h"
#include "useg/config.h"
#include "useg/error.h"
#include "useg/image.h"
#include "useg/metrics.h"
#include "useg/model.h"
#include "useg/segment.h"

namespace fs = std::filesystem;

namespace useg {

std::vector<std::vector<std::string>> postprocess_candidates() {
  return {{}, {"largest"}, {"fill-holes"}, {"largest", "fill-holes"}};
}

std::vector<std::string> resolve_run_dirs(const std::vector<std::string>& given) {
  std::vector<std::string> runs;
  for (const std::string& g : given) {
    if (fs::exists(fs::path(g) / "checkpoint.safetensors")) {
      runs.push_back(g);
      continue;
    }
    std::vector<std::pair<int, std::string>> folds;
    std::error_code ec;
    if (fs::is_directory(g, ec))
      for (const auto& e : fs::directory_iterator(g)) {
        const std::string name = e.path().filename().string();
        if (name.rfind("fold_", 0) != 0 || !fs::exists(e.path() / "checkpoint.safetensors"))
          continue;
        const std::string k = name.substr(5);
        if (!k.empty() && std::all_of(k.begin(), k.end(), ::isdigit))
          folds.emplace_back(std::stoi(k), e.path().string());
      }
    if (folds.empty())
      USEG_THROW(g << " is not a training run (no checkpoint.safetensors) and holds "
                      "no fold_K run folders (expected the --output folder of "
                      "useg train, or the folder of a cross-validation's folds)");
    std::sort(folds.begin(), folds.end());
    for (const auto& f : folds) runs.push_back(f.second);
  }
  return runs;
}

namespace {

std::string run_name(const std::string& run) {
  fs::path p = fs::path(run).lexically_normal();
  if (p.filename().empty()) p = p.parent_path();
  return p.filename().string();
}

// The reference's raw label values as class indices (dataset.json's values sorted).
Tensor reference_classes(const std::string& file, const Dataset& ds, const ReadLimits& limits) {
  Image ref = read_image(file, limits);
  const std::vector<int> values = ds.class_values();
  std::map<int, int> index;
  for (size_t k = 0; k < values.size(); ++k) index[values[k]] = static_cast<int>(k);
  float* v = ref.voxels.data();
  for (int64_t i = 0; i < ref.voxels.numel(); ++i) {
    auto it = index.find(static_cast<int>(v[i]));
    if (it == index.end() || float(it->first) != v[i])
      USEG_THROW(file << ": holds the value " << v[i]
                      << ", which dataset.json's labels do not list");
    v[i] = static_cast<float>(it->second);
  }
  return ref.voxels;
}

}  // namespace

PostprocessSearch find_postprocess(const std::vector<std::string>& runs,
                                   const std::string& data_dir, const PostprocessSearchOptions& o) {
  auto log = [&](const std::string& s) {
    if (o.log) o.log(s);
  };
  if (runs.empty()) USEG_THROW("find_postprocess: no runs");
  const Dataset ds = scan_dataset(data_dir);
  if (ds.meta.instances)
    USEG_THROW(
        data_dir << " is an instance dataset: the postprocessing of an instance model acts on "
                    "the objects' union before they are split, which this search does not "
                    "score (choose it with useg eval --instances)");
  std::map<std::string, const DatasetCase*> by_name;
  for (const DatasetCase& c : ds.cases) by_name[c.name] = &c;
  const int K = ds.classes();

  PostprocessSearch s;
  s.runs = runs;
  s.class_names = ds.class_names();
  for (const auto& steps : postprocess_candidates()) {
    PostprocessCandidate c;
    c.steps = steps;
    c.class_dice.assign(size_t(K - 1), 0.0);
    s.candidates.push_back(c);
  }
  std::vector<std::vector<PostprocessStep>> parsed;
  for (const auto& c : s.candidates) parsed.push_back(parse_postprocess(c.steps));

  auto backend = make_backend(o.device, o.backend);
  for (const std::string& run : runs) {
    const std::string best = (fs::path(run) / "best").string();
    const training::Checkpoint ckpt =
        training::read_checkpoint((fs::path(run) / "checkpoint.safetensors").string());
    if (ckpt.val_cases.empty())
      USEG_THROW(run << " has no validation cases (train with val_fraction > 0, val_cases or "
                        "--fold): there is nothing to choose the postprocessing on");
    if (!fs::exists(fs::path(best) / "model.json"))
      USEG_THROW(run << " has no best/ model folder (its validation never ran: was it stopped "
                        "before the first validation?)");
    LoadedModel m = load_model_dir(best, *backend);
    if (m.info.model.classifier())
      USEG_THROW(best << " is a classifier: there are no labels to "
                         "postprocess");
    if (m.info.labels != s.class_names)
      USEG_THROW(best << "'s labels differ from " << data_dir
                      << "/dataset.json's (was the run trained on this dataset?)");
    log(run_name(run) + ": " + std::to_string(ckpt.val_cases.size()) +
        " validation case(s), segmented with " + best +
        (m.info.inference.tta ? " (test-time mirroring, the model's default)" : ""));
    SegmentOptions opts;
    opts.postprocess = std::vector<PostprocessStep>{};  // the labels before any step
    for (const std::string& name : ckpt.val_cases) {
      auto it = by_name.find(name);
      if (it == by_name.end())
        USEG_THROW(run << " was validated on case " << name << ", which " << data_dir
                       << " does not hold");
      const DatasetCase& dc = *it->second;
      const Image image = read_image_channels(dc.images, ds.limits);  // NaN: as segment does
      Segmentation seg = segment_image(image, m.info, *m.net, opts);
      const Tensor ref = reference_classes(dc.label, ds, ds.limits);
      for (size_t c = 0; c < s.candidates.size(); ++c) {
        Tensor labels = seg.labels.clone();
        apply_postprocess(labels, image.geometry, K, parsed[c], dc.label);
        const std::vector<double> d = dice_per_class(labels, ref, K);
        for (int k = 1; k < K; ++k) s.candidates[c].class_dice[size_t(k - 1)] += d[size_t(k)];
      }
      s.cases.push_back(run_name(run) + "/" + name);
    }
  }
  for (PostprocessCandidate& c : s.candidates) {
    double sum = 0;
    for (double& d : c.class_dice) sum += (d /= double(s.cases.size()));
    c.mean_fg_dice = c.class_dice.empty() ? 1.0 : sum / double(c.class_dice.size());
  }
  for (size_t c = 1; c < s.candidates.size(); ++c)  // strictly better; ties keep fewer steps
    if (s.candidates[c].mean_fg_dice > s.candidates[s.chosen].mean_fg_dice) s.chosen = c;
  return s;
}

std::string postprocess_search_json(const PostprocessSearch& s) {
  auto strings = [](const std::vector<std::string>& v) {
    JsonValue a = JsonValue::array();
    for (const std::string& x : v) a.push_back(x);
    return a;
  };
  JsonValue candidates = JsonValue::array();
  for (const PostprocessCandidate& c : s.candidates) {
    JsonValue per_class = JsonValue::object();
    for (size_t k = 0; k < c.class_dice.size(); ++k)
      per_class.set(s.class_names[k + 1], JsonValue::number(c.class_dice[k], 10));
    JsonValue j = JsonValue::object();
    j.set("steps", strings(c.steps))
        .set("mean_fg_dice", JsonValue::number(c.mean_fg_dice, 10))
        .set("class_dice", std::move(per_class));
    candidates.push_back(std::move(j));
  }
  JsonValue out = JsonValue::object();
  out.set("runs", strings(s.runs))
      .set("cases", strings(s.cases))
      .set("classes", strings(s.class_names))
      .set("candidates", std::move(candidates))
      .set("chosen", strings(s.candidates.at(s.chosen).steps));
  return out.dump();
}

std::vector<std::string> apply_postprocess_choice(const PostprocessSearch& s) {
  std::vector<std::string> written;
  for (const std::string& run : s.runs)
    for (const char* sub : {"best", "last"}) {
      const std::string file = (fs::path(run) / sub / "model.json").string();
      if (!fs::exists(file)) continue;
      ModelInfo info = load_model_info(file);
      info.inference.postprocess = s.candidates.at(s.chosen).steps;
      write_file_atomic(file, to_json_string(info) + "\n");
      written.push_back(file);
    }
  return written;
}

}  // namespace useg

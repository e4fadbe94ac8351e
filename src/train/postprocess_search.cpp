// find_postprocess: the validation cases of training runs segmented once, every postprocessing
// candidate scored on them (src/train/postprocess_search.h).
#include "train/postprocess_search.h"

#include <filesystem>
#include <sstream>

#include "config/json_writer.h"
#include "core/files.h"
#include "train/checkpoint.h"
#include "train/data.h"
#include "train/dataset.h"
#include "train/final_validation.h"
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
    const std::vector<std::string> folds = fold_folders(g, "checkpoint.safetensors");
    if (folds.empty())
      USEG_THROW(g << " is not a training run (no checkpoint.safetensors) and holds "
                      "no fold_K run folders (expected the --output folder of "
                      "useg train, or the folder of a cross-validation's folds)");
    runs.insert(runs.end(), folds.begin(), folds.end());
  }
  return runs;
}

std::string run_name(const std::string& run) {
  fs::path p = fs::path(run).lexically_normal();
  if (p.filename().empty()) p = p.parent_path();
  return p.filename().string();
}

ValidationRun open_validation_run(const std::string& run, Backend& backend) {
  ValidationRun v;
  v.dir = run;
  v.name = run_name(run);
  const std::string best = (fs::path(run) / "best").string();
  v.cases = training::read_checkpoint((fs::path(run) / "checkpoint.safetensors").string(), false)
                .val_cases;
  if (v.cases.empty())
    USEG_THROW(run << " has no validation cases (train with val_fraction > 0, val_cases or "
                      "--fold): there is nothing to choose the postprocessing on");
  if (!fs::exists(fs::path(best) / "model.json"))
    USEG_THROW(run << " has no best/ model folder (its validation never ran: was it stopped "
                      "before the first validation?)");
  v.best = load_model_dir(best, backend);
  if (v.best.info.model.classifier())
    USEG_THROW(best << " is a classifier: there are no labels to postprocess");
  return v;
}

namespace {

Tensor as_tensor(const std::vector<uint8_t>& v, const Geometry& g) {
  Tensor t = Tensor::empty(Shape{1, 1, g.size[2], g.size[1], g.size[0]});
  float* p = t.data();
  for (size_t i = 0; i < v.size(); ++i) p[i] = float(v[i]);
  return t;
}

// Adds each case's foreground Dice under `steps` to c.class_dice, then averages.
PostprocessCandidate score(const std::vector<ScoredCase>& cases, int K,
                           const std::vector<std::string>& steps) {
  PostprocessCandidate c;
  c.steps = steps;
  c.class_dice.assign(size_t(K - 1), 0.0);
  const std::vector<PostprocessStep> parsed = parse_postprocess(steps);
  for (const ScoredCase& sc : cases) {
    Tensor labels = as_tensor(sc.pred, sc.geometry);
    apply_postprocess(labels, sc.geometry, K, parsed, sc.name);
    const std::vector<double> d = dice_per_class(labels, as_tensor(sc.ref, sc.geometry), K);
    double mean = 0;
    for (int k = 1; k < K; ++k) {
      c.class_dice[size_t(k - 1)] += d[size_t(k)];
      mean += d[size_t(k)] / double(K - 1);
    }
    c.case_fg_dice.push_back(mean);
  }
  double sum = 0;
  for (double& d : c.class_dice) sum += (d /= double(cases.size()));
  c.mean_fg_dice = c.class_dice.empty() ? 1.0 : sum / double(c.class_dice.size());
  return c;
}

}  // namespace

PostprocessSearch score_postprocess(const std::vector<ScoredCase>& cases,
                                    const std::vector<std::string>& class_names) {
  const int K = static_cast<int>(class_names.size());
  if (cases.empty()) USEG_THROW("find_postprocess: no cases to score");
  if (K < 2 || K > 255)
    USEG_THROW("find_postprocess: " << K << " classes (expected 2 .. 255)");
  PostprocessSearch s;
  s.class_names = class_names;
  for (const auto& steps : postprocess_candidates()) s.candidates.push_back(score(cases, K, steps));
  // `largest` acts on each class alone (the voxels it removes become background), so a class's
  // Dice under it is its Dice under largest=that class: keep the classes it raises.
  const PostprocessCandidate &none = s.candidates[0], &largest = s.candidates[1];
  std::string some;
  int raised = 0;
  for (int k = 1; k < K; ++k)
    if (largest.class_dice[size_t(k - 1)] > none.class_dice[size_t(k - 1)]) {
      some += (some.empty() ? "" : "+") + std::to_string(k);
      ++raised;
    }
  if (raised > 0 && raised < K - 1) {
    s.candidates.push_back(score(cases, K, {"largest=" + some}));
    s.candidates.push_back(score(cases, K, {"largest=" + some, "fill-holes"}));
  }
  if (K > 2) {  // with one foreground class it is `largest`
    s.candidates.push_back(score(cases, K, {"largest-foreground"}));
    s.candidates.push_back(score(cases, K, {"largest-foreground", "fill-holes"}));
  }
  for (PostprocessCandidate& c : s.candidates)
    for (size_t i = 0; i < cases.size(); ++i) {
      c.better += c.case_fg_dice[i] > s.candidates[0].case_fg_dice[i];
      c.worse += c.case_fg_dice[i] < s.candidates[0].case_fg_dice[i];
    }
  for (size_t c = 1; c < s.candidates.size(); ++c)  // strictly better; ties keep the earlier
    if (s.candidates[c].mean_fg_dice > s.candidates[s.chosen].mean_fg_dice) s.chosen = c;
  return s;
}

PostprocessSearch find_postprocess(const std::vector<std::string>& runs,
                                   const std::string& data_dir, const PostprocessSearchOptions& o) {
  auto log = [&](const std::string& s) {
    if (o.log) o.log(s);
  };
  if (runs.empty()) USEG_THROW("find_postprocess: no runs");
  const Dataset ds = scan_dataset(data_dir);
  if (ds.meta.instances)
    USEG_THROW(data_dir << " is an instance dataset: its models' split settings are chosen by "
                           "find_instance_settings (useg find-postprocess does so)");
  const std::vector<int> lookup = training::label_lookup(ds);
  const std::vector<std::string> class_names = ds.class_names();
  if (class_names.size() > 255)
    USEG_THROW(data_dir << ": " << class_names.size() << " classes; find-postprocess handles "
                                                        "at most 255");

  std::vector<ScoredCase> cases;
  std::vector<std::string> names;  // "RUN_NAME/CASE"
  auto backend = make_backend(o.device, o.backend);
  for (const std::string& run : runs) {
    ValidationRun v = open_validation_run(run, *backend);
    const LoadedModel& m = v.best;
    const std::string best = (fs::path(run) / "best").string();
    if (m.info.labels != class_names)
      USEG_THROW(best << "'s labels differ from " << data_dir
                      << "/dataset.json's (was the run trained on this dataset?)");
    // The run's final validation holds these labels already, unless best/ changed since.
    std::string stale;
    try {
      stale = stale_validation(run, m.info);
    } catch (const Error& e) {
      stale = e.what();
    }
    if (stale.empty())
      log(v.name + ": " + std::to_string(v.cases.size()) +
          " validation case(s), the labels of its final validation (" + validation_dir(run) + ")");
    else
      log(v.name + ": " + std::to_string(v.cases.size()) + " validation case(s), segmented with " +
          best + (m.info.inference.tta ? " (test-time mirroring, the model's default)" : "") +
          " (" + stale + ")");
    SegmentOptions opts;
    opts.postprocess = std::vector<PostprocessStep>{};  // the labels before any step
    for (const std::string& name : v.cases) {
      const DatasetCase* found = ds.find(name);
      if (!found)
        USEG_THROW(run << " was validated on case " << name << ", which " << data_dir
                       << " does not hold");
      const DatasetCase& dc = *found;
      Image ref = read_image(dc.label, ds.limits);  // raw values -> class indices, as training
      const std::string bad = training::map_labels(ref.voxels, lookup, ds, dc.name);
      if (!bad.empty()) USEG_THROW(dc.label << ": " << bad);
      Tensor pred;
      if (stale.empty()) {  // dataset.json's values, as the reference
        const std::string file =
            (fs::path(validation_dir(run)) / (name + ds.meta.file_ending)).string();
        Image v = read_image(file, ds.limits);
        if (v.voxels.shape() != ref.voxels.shape())
          USEG_THROW(file << " has " << v.voxels.shape().str() << " voxels, " << dc.label
                          << " " << ref.voxels.shape().str());
        const std::string wrong = training::map_labels(v.voxels, lookup, ds, dc.name);
        if (!wrong.empty()) USEG_THROW(file << ": " << wrong);
        pred = std::move(v.voxels);
      } else {
        const Image image = read_image_channels(dc.images, ds.limits);  // NaN: as segment does
        pred = segment_image(image, m.info, *m.net, opts).labels;
      }
      ScoredCase sc;
      sc.name = dc.label;
      sc.geometry = ref.geometry;
      const float *p = pred.data(), *r = ref.voxels.data();
      sc.pred.assign(p, p + pred.numel());
      sc.ref.assign(r, r + ref.voxels.numel());
      cases.push_back(std::move(sc));
      names.push_back(v.name + "/" + name);
    }
  }
  PostprocessSearch s = score_postprocess(cases, class_names);
  s.runs = runs;
  s.cases = std::move(names);
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
    JsonValue per_case = JsonValue::array();
    for (double d : c.case_fg_dice) per_case.push_back(JsonValue::number(d, 10));
    j.set("steps", strings(c.steps))
        .set("mean_fg_dice", JsonValue::number(c.mean_fg_dice, 10))
        .set("class_dice", std::move(per_class))
        .set("cases_better", c.better)
        .set("cases_worse", c.worse)
        .set("case_fg_dice", std::move(per_case));
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

std::vector<std::string> update_run_models(const std::vector<std::string>& runs,
                                           const std::function<void(ModelInfo&)>& change) {
  // Every file is read (and so checked) before any is written; each write is atomic, so a
  // failed one leaves that file as it was and a rerun finishes the rest.
  std::vector<std::pair<std::string, ModelInfo>> todo;
  for (const std::string& run : runs)
    for (const char* sub : {"best", "last"}) {
      const std::string file = (fs::path(run) / sub / "model.json").string();
      if (!fs::exists(file)) continue;
      todo.emplace_back(file, load_model_info(file));
      change(todo.back().second);
    }
  std::vector<std::string> written;
  for (const auto& [file, info] : todo) {
    write_file_atomic(file, to_json_string(info) + "\n");
    written.push_back(file);
  }
  return written;
}

std::vector<std::string> apply_postprocess_choice(const PostprocessSearch& s) {
  const std::vector<std::string>& steps = s.candidates.at(s.chosen).steps;
  return update_run_models(s.runs, [&](ModelInfo& m) { m.inference.postprocess = steps; });
}

}  // namespace useg

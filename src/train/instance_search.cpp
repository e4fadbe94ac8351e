// find_instance_settings: each validation case predicted once, split with every candidate of a
// grid and matched with its reference objects (src/train/instance_search.h).
#include "train/instance_search.h"

#include <algorithm>
#include <atomic>
#include <cmath>
#include <exception>
#include <filesystem>
#include <mutex>
#include <thread>
#include <tuple>

#include "config/json_writer.h"
#include "train/dataset.h"
#include "useg/error.h"
#include "useg/image.h"
#include "useg/labels.h"
#include "useg/segment.h"

namespace fs = std::filesystem;

namespace useg {

namespace {

constexpr double kPi = 3.14159265358979323846;

double round3(double v) {
  if (!(v > 0)) return 0;
  const double scale = std::pow(10.0, 2 - std::floor(std::log10(v)));
  return std::round(v * scale) / scale;
}

// The axis values, ascending, with `current` added.
std::vector<double> axis(std::vector<double> values, double current) {
  for (double& v : values) v = round3(v);
  values.push_back(current);
  std::sort(values.begin(), values.end());
  values.erase(std::unique(values.begin(), values.end()), values.end());
  return values;
}

bool same_search(const InstanceSettings& a, const InstanceSettings& b) {
  return std::tie(a.fill_holes, a.seed_split, a.seed_min_size, a.min_size) ==
         std::tie(b.fill_holes, b.seed_split, b.seed_min_size, b.min_size);
}

// The overlap without the predicted objects of fewer than `min_voxels` voxels: what
// split_instances's min_size removes (an object's voxels do not depend on the others' removal).
InstanceOverlap without_small(const InstanceOverlap& o, uint64_t min_voxels) {
  if (min_voxels == 0) return o;
  InstanceOverlap r;
  r.ref_ids = o.ref_ids;
  r.ref_sizes = o.ref_sizes;
  std::vector<int> index(o.pred_ids.size(), -1);
  for (size_t i = 0; i < o.pred_ids.size(); ++i)
    if (static_cast<uint64_t>(o.pred_sizes[i]) >= min_voxels) {
      index[i] = static_cast<int>(r.pred_ids.size());
      r.pred_ids.push_back(o.pred_ids[i]);
      r.pred_sizes.push_back(o.pred_sizes[i]);
    }
  for (InstanceOverlap::Pair p : o.pairs)
    if (index[size_t(p.pred)] >= 0) {
      p.pred = index[size_t(p.pred)];
      r.pairs.push_back(p);
    }
  return r;
}

JsonValue settings_json(const InstanceSettings& s) {
  return JsonValue::object()
      .set("fill_holes", s.fill_holes)
      .set("seed_split", s.seed_split)
      .set("seed_min_size", s.seed_min_size)
      .set("min_size", s.min_size);
}

}  // namespace

std::vector<InstanceSettings> instance_splits(const std::vector<InstanceSettings>& settings,
                                              std::vector<size_t>* split_of) {
  std::vector<InstanceSettings> splits;
  if (split_of) split_of->assign(settings.size(), 0);
  for (size_t c = 0; c < settings.size(); ++c) {
    InstanceSettings split = settings[c];
    split.min_size = 0;
    size_t k = 0;
    while (k < splits.size() && !same_search(splits[k], split)) ++k;
    if (k == splits.size()) splits.push_back(split);
    if (split_of) (*split_of)[c] = k;
  }
  return splits;
}

void score_instance_case(const Tensor& foreground, const Tensor& probs, const Tensor& ref,
                         const Geometry& g, std::vector<InstanceCandidate>& cands, int threads) {
  std::vector<InstanceSettings> settings;
  for (const InstanceCandidate& c : cands) settings.push_back(c.settings);
  std::vector<size_t> split_of;
  const std::vector<InstanceSettings> splits = instance_splits(settings, &split_of);
  // The splits on `threads` threads at once, each taking the next one not started; ITK's own
  // threads are 1 meanwhile (one split per core instead of ITK's little parallelism in the
  // watershed), then back to what they were.
  std::vector<InstanceOverlap> overlaps(splits.size());
  const size_t workers = std::min(splits.size(), size_t(std::max(1, threads)));
  std::atomic<size_t> next{0};
  std::exception_ptr error;
  std::mutex error_mutex;
  auto work = [&] {
    for (size_t k; (k = next++) < splits.size();) {
      try {
        overlaps[k] = instance_overlap(split_instances(foreground, probs, g, splits[k]), ref);
      } catch (...) {
        std::lock_guard<std::mutex> lock(error_mutex);
        if (!error) error = std::current_exception();
        next = splits.size();
      }
    }
  };
  if (workers <= 1) {
    work();
  } else {
    const int itk_threads = imaging_threads();
    set_imaging_threads(1);
    std::vector<std::thread> pool;
    for (size_t w = 0; w < workers; ++w) pool.emplace_back(work);
    for (std::thread& t : pool) t.join();
    set_imaging_threads(itk_threads);
  }
  if (error) std::rethrow_exception(error);
  for (size_t c = 0; c < cands.size(); ++c) {
    const InstanceScores s = match_instances(
        without_small(overlaps[split_of[c]], voxels_of_size(cands[c].settings.min_size, g)), 0.5);
    add_instance_counts(cands[c].pooled, s);
    cands[c].case_f1.push_back(s.f1);
  }
}

std::vector<InstanceSettings> instance_candidates(const InstanceSettings& current, double d,
                                                  int dims) {
  USEG_REQUIRE(d > 0, "instance_candidates: object diameter " << d << " (expected > 0)");
  const double size = dims == 3 ? kPi * d * d * d / 6 : kPi * d * d / 4;
  const std::vector<double> split = axis({0, 0.03 * d, 0.06 * d, 0.1 * d}, current.seed_split);
  const std::vector<double> seed = axis({0, 0.01 * size, 0.03 * size}, current.seed_min_size);
  const std::vector<double> min = axis({0, 0.03 * size, 0.1 * size}, current.min_size);
  std::vector<InstanceSettings> out{current};
  for (bool fill : {current.fill_holes, !current.fill_holes})
    for (double h : split)
      for (double sm : seed)
        for (double m : min) {
          InstanceSettings s = current;
          s.fill_holes = fill;
          s.seed_split = h;
          s.seed_min_size = sm;
          s.min_size = m;
          if (!same_search(s, current)) out.push_back(s);
        }
  return out;
}

InstanceSearch find_instance_settings(const std::vector<std::string>& runs,
                                      const std::string& data_dir,
                                      const PostprocessSearchOptions& o) {
  auto log = [&](const std::string& s) {
    if (o.log) o.log(s);
  };
  if (runs.empty()) USEG_THROW("find_instance_settings: no runs");
  const Dataset ds = scan_dataset(data_dir);
  if (!ds.meta.instances)
    USEG_THROW(data_dir << "/dataset.json does not say \"instances\": true: its labels are "
                           "classes, whose postprocessing find_postprocess chooses");
  InstanceSearch s;
  s.runs = runs;
  auto backend = make_backend(o.device, o.backend);
  const int search_threads =
      o.backend.threads > 0 ? o.backend.threads : int(std::thread::hardware_concurrency());
  std::string first;  // the run whose settings are the first candidate
  for (const std::string& run : runs) {
    ValidationRun v = open_validation_run(run, *backend);
    const ModelInfo& info = v.best.info;
    const std::string json = (fs::path(run) / "best" / "model.json").string();
    if (!info.instance_target())
      USEG_THROW(json << " is not an instance model (target \"" << info.target << "\") though "
                      << data_dir << " is an instance dataset");
    if (s.candidates.empty()) {
      if (!(info.instances.diameter > 0))
        USEG_THROW(json << " records no instances.diameter (the median object diameter of its "
                           "training cases, which the candidates are relative to): add it by "
                           "hand, in mm");
      s.diameter = info.instances.diameter;
      s.dims = info.model.dims;
      for (const InstanceSettings& c : instance_candidates(info.instances, s.diameter, s.dims))
        s.candidates.push_back({c, {}, {}, 0, 0});
      first = run;
    } else if (!same_search(info.instances, s.candidates[0].settings)) {
      USEG_THROW(json << "'s split settings differ from " << first
                      << "/best/model.json's: the runs must share the settings the search starts "
                         "from");
    }
    log(v.name + ": " + std::to_string(v.cases.size()) + " validation case(s), predicted by " +
        (fs::path(run) / "best").string() +
        (info.inference.tta ? " (test-time mirroring, the model's default)" : "") + ", split " +
        std::to_string(s.candidates.size()) + " ways");
    SegmentOptions opts;  // the model's mirroring and postprocess steps, as segment runs it
    opts.save_probabilities = true;
    for (const std::string& name : v.cases) {
      const DatasetCase* dc = ds.find(name);
      if (!dc)
        USEG_THROW(run << " was validated on case " << name << ", which " << data_dir
                       << " does not hold");
      const Image image = read_image_channels(dc->images, ds.limits);
      const Image ref = read_image(dc->label, ds.limits);
      if (ref.geometry.size != image.geometry.size || ref.geometry.dims != image.geometry.dims)
        USEG_THROW(dc->label << " has " << ref.voxels.shape().str() << " voxels, its image "
                             << dc->images.front() << " " << image.voxels.shape().str());
      const Segmentation seg = segment_image(image, info, *v.best.net, opts);
      const Tensor fg =
          instance_foreground(seg.probabilities, image.geometry, info, opts, image.source);
      score_instance_case(fg, seg.probabilities, ref.voxels, image.geometry, s.candidates,
                          search_threads);
      s.cases.push_back(v.name + "/" + name);
    }
  }
  for (InstanceCandidate& c : s.candidates) {
    finish_instance_scores(c.pooled);
    for (size_t i = 0; i < s.cases.size(); ++i) {
      c.better += c.case_f1[i] > s.candidates[0].case_f1[i];
      c.worse += c.case_f1[i] < s.candidates[0].case_f1[i];
    }
  }
  for (size_t c = 1; c < s.candidates.size(); ++c)  // strictly better; ties keep the earlier
    if (s.candidates[c].pooled.f1 > s.candidates[s.chosen].pooled.f1) s.chosen = c;
  return s;
}

std::string instance_search_json(const InstanceSearch& s) {
  JsonValue candidates = JsonValue::array();
  for (const InstanceCandidate& c : s.candidates) {
    JsonValue j = settings_json(c.settings);
    JsonValue per_case = JsonValue::array();
    for (double f : c.case_f1) per_case.push_back(JsonValue::number(f, 10));
    j.set("f1", JsonValue::number(c.pooled.f1, 10))
        .set("precision", JsonValue::number(c.pooled.precision, 10))
        .set("recall", JsonValue::number(c.pooled.recall, 10))
        .set("panoptic_quality", JsonValue::number(c.pooled.panoptic_quality, 10))
        .set("tp", c.pooled.tp)
        .set("fp", c.pooled.fp)
        .set("fn", c.pooled.fn)
        .set("cases_better", c.better)
        .set("cases_worse", c.worse)
        .set("case_f1", std::move(per_case));
    candidates.push_back(std::move(j));
  }
  JsonValue out = JsonValue::object();
  out.set("runs", JsonValue(s.runs))
      .set("cases", JsonValue(s.cases))
      .set("criterion", "pooled F1 at IoU 0.5")
      .set("diameter", s.diameter)
      .set("candidates", std::move(candidates))
      .set("chosen", settings_json(s.candidates.at(s.chosen).settings));
  return out.dump();
}

std::vector<std::string> apply_instance_choice(const InstanceSearch& s) {
  const InstanceSettings& chosen = s.candidates.at(s.chosen).settings;
  return update_run_models(s.runs, [&](ModelInfo& m) {
    m.instances.fill_holes = chosen.fill_holes;
    m.instances.seed_split = chosen.seed_split;
    m.instances.seed_min_size = chosen.seed_min_size;
    m.instances.min_size = chosen.min_size;
  });
}

}  // namespace useg

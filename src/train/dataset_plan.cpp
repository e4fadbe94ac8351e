// `useg plan`: dataset fingerprint, target spacing, pooling topology, patch and batch fitted to
// a memory budget (include/useg/plan.h), after nnU-Net v2's ExperimentPlanner.
#include <algorithm>
#include <cmath>
#include <filesystem>
#include <numeric>
#include <sstream>

#include "config/validate.h"
#include "train/data.h"
#include "train/dataset.h"
#include "train/rng.h"
#include "useg/error.h"
#include "useg/image.h"
#include "useg/model.h"
#include "useg/plan.h"
#include "util/stats.h"

namespace fs = std::filesystem;

namespace useg {

DatasetFingerprint fingerprint_dataset(const std::string& dir, uint64_t seed,
                                       const std::function<void(int64_t, int64_t)>& progress) {
  constexpr int64_t kPerCase = 10000;  // nnU-Net's foreground samples per case
  Dataset ds = scan_dataset(dir);
  DatasetFingerprint fp;
  fp.dataset = fs::path(dir).lexically_normal().filename().string();
  if (fp.dataset.empty()) fp.dataset = fs::path(dir).lexically_normal().parent_path().filename().string();
  fp.dims = 2;
  const int C = ds.channels();
  const bool instances = ds.meta.instances;
  // Instance datasets: background and objects (the ids are not classes).
  fp.classes = ds.classes();
  for (const auto& l : ds.meta.labels) fp.class_names.push_back(l.first);
  const size_t K = fp.class_names.size();
  std::vector<int64_t> class_voxels(K, 0);
  int64_t all_voxels = 0;
  std::vector<std::vector<float>> samples(static_cast<size_t>(C));
  std::vector<int> lookup = training::label_lookup(ds);
  std::vector<std::string> problems;
  for (size_t ci = 0; ci < ds.cases.size(); ++ci) {
    const DatasetCase& c = ds.cases[ci];
    const Geometry& g = c.geometry;
    const bool is3d = g.dims == 3 && g.size[2] > 1;
    if (is3d) fp.dims = 3;
    fp.cases.push_back(c.name);
    fp.spacings.push_back({is3d ? g.spacing[2] : 1.0, g.spacing[1], g.spacing[0]});
    fp.shapes.push_back({is3d ? g.size[2] : 1, g.size[1], g.size[0]});
    Image img = read_image_channels(c.images, ds.limits);
    Image lab = read_image(c.label, ds.limits);
    std::string p = instances ? training::check_instance_ids(lab.voxels, c.name)
                              : training::map_labels(lab.voxels, lookup, ds, c.name);
    if (!p.empty()) {
      problems.push_back(p);
      continue;
    }
    const float* l = lab.voxels.data();
    const int64_t vox = lab.voxels.numel();
    std::vector<int64_t> fg;
    for (int64_t i = 0; i < vox; ++i) {
      size_t k = instances ? (l[i] > 0.5f ? 1 : 0) : static_cast<size_t>(std::lround(l[i]));
      if (k < K) ++class_voxels[k];
      if (l[i] > 0.5f) fg.push_back(i);
    }
    all_voxels += vox;
    if (!fg.empty()) {
      training::Rng rng(seed, training::Stream::Fingerprint, {ci});
      for (int s = 0; s < kPerCase; ++s) {
        const int64_t at = fg[static_cast<size_t>(rng.below(int64_t(fg.size())))];
        for (int ch = 0; ch < C; ++ch)
          samples[size_t(ch)].push_back(img.voxels.data()[ch * vox + at]);
      }
    }
    if (progress) progress(int64_t(ci + 1), int64_t(ds.cases.size()));
  }
  if (!problems.empty()) {
    std::ostringstream os;
    for (const auto& p : problems) os << "\n  - " << p;
    USEG_THROW("dataset " << dir << ": label problems:" << os.str());
  }
  for (size_t k = 0; k < K; ++k)
    fp.class_fractions.push_back(all_voxels ? double(class_voxels[k]) / double(all_voxels) : 0.0);
  for (int ch = 0; ch < C; ++ch) {
    ChannelFingerprint f;
    f.name = ds.meta.channel_names[size_t(ch)];
    std::vector<float>& v = samples[size_t(ch)];
    f.samples = int64_t(v.size());
    if (!v.empty()) {
      double s = 0, s2 = 0;
      for (float x : v) s += x, s2 += double(x) * x;
      f.mean = s / double(v.size());
      f.std = std::sqrt(std::max(0.0, s2 / double(v.size()) - f.mean * f.mean));
      f.min = *std::min_element(v.begin(), v.end());
      f.max = *std::max_element(v.begin(), v.end());
      f.median = percentile(v, 50);
      f.percentile_00_5 = percentile(v, 0.5);
      f.percentile_99_5 = percentile(v, 99.5);
    }
    fp.channels.push_back(f);
  }
  return fp;
}

namespace {

template <class T>
double median_of(std::vector<T> v) {
  return percentile_of(std::move(v), 50.0);
}

}  // namespace

std::array<double, 3> plan_target_spacing(const DatasetFingerprint& fp) {
  USEG_REQUIRE(!fp.spacings.empty(), "plan: the dataset has no cases");
  std::array<double, 3> target{}, size{};
  for (int a = 0; a < 3; ++a) {
    std::vector<double> sp, sz;
    for (size_t i = 0; i < fp.spacings.size(); ++i) {
      sp.push_back(fp.spacings[i][size_t(a)]);
      sz.push_back(double(fp.shapes[i][size_t(a)]));
    }
    target[size_t(a)] = median_of(sp);
    size[size_t(a)] = median_of(sz);
  }
  if (fp.dims != 3) return target;
  const int worst = int(std::max_element(target.begin(), target.end()) - target.begin());
  double other_spacing = 0, other_size = 1e300;
  for (int a = 0; a < 3; ++a)
    if (a != worst) {
      other_spacing = std::max(other_spacing, target[size_t(a)]);
      other_size = std::min(other_size, size[size_t(a)]);
    }
  const bool aniso_spacing = target[size_t(worst)] > 3 * other_spacing;
  const bool aniso_voxels = size[size_t(worst)] * 3 < other_size;
  if (aniso_spacing && aniso_voxels) {
    std::vector<double> sp;
    for (const auto& s : fp.spacings) sp.push_back(s[size_t(worst)]);
    double t = percentile(sp, 10);
    if (t < other_spacing) t = std::max(other_spacing, t) + 1e-5;
    target[size_t(worst)] = t;
  }
  return target;
}

PoolPlan plan_pooling(const std::vector<double>& spacing, const std::vector<int>& patch,
                      int min_feature, int max_pools) {
  const size_t dim = spacing.size();
  USEG_REQUIRE((dim == 2 || dim == 3) && patch.size() == dim,
               "plan_pooling: spacing and patch need 2 or 3 entries each");
  std::vector<double> cur_spacing = spacing;
  std::vector<double> cur_size(patch.begin(), patch.end());
  std::vector<int> pools_per_axis(dim, 0), kernel(dim, 1);
  PoolPlan out;
  auto to3 = [&](const std::vector<int>& v) {
    return dim == 3 ? std::array<int, 3>{v[0], v[1], v[2]} : std::array<int, 3>{1, v[0], v[1]};
  };
  while (true) {
    std::vector<size_t> valid;
    for (size_t i = 0; i < dim; ++i)
      if (cur_size[i] >= 2 * min_feature) valid.push_back(i);
    if (valid.empty()) break;
    double min_valid = 1e300;
    for (size_t i : valid) min_valid = std::min(min_valid, cur_spacing[i]);
    std::vector<size_t> keep;
    for (size_t i : valid)
      if (cur_spacing[i] / min_valid < 2 && pools_per_axis[i] < max_pools) keep.push_back(i);
    valid = keep;
    if (valid.size() == 1 && cur_size[valid[0]] < 3 * min_feature) break;
    if (valid.empty()) break;
    const double min_spacing = *std::min_element(cur_spacing.begin(), cur_spacing.end());
    for (size_t d = 0; d < dim; ++d)
      if (kernel[d] != 3 && cur_spacing[d] / min_spacing < 2) kernel[d] = 3;
    std::vector<int> pool(dim, 1);
    for (size_t v : valid) {
      pool[v] = 2;
      ++pools_per_axis[v];
      cur_spacing[v] *= 2;
      cur_size[v] = std::ceil(cur_size[v] / 2);
    }
    out.pool_sizes.push_back(to3(pool));
    out.kernel_sizes.push_back(to3(kernel));
  }
  out.kernel_sizes.push_back(to3(std::vector<int>(dim, 3)));
  for (size_t i = 0; i < dim; ++i) {
    int div = 1 << pools_per_axis[i];
    out.divisor.push_back(div);
    out.patch.push_back(((patch[i] + div - 1) / div) * div);  // nnU-Net's pad_shape
  }
  return out;
}

namespace {

std::array<int64_t, 3> patch3(const std::vector<int>& p) {
  return p.size() == 3 ? std::array<int64_t, 3>{p[0], p[1], p[2]}
                       : std::array<int64_t, 3>{1, p[0], p[1]};
}

std::string bytes_text(int64_t b) {
  std::ostringstream os;
  os.precision(3);
  os << double(b) / double(int64_t(1) << 30) << " GiB";
  return os.str();
}

PlannedConfiguration plan_configuration(const DatasetFingerprint& fp,
                                        const std::array<double, 3>& target, int dims,
                                        int64_t memory_budget) {
  // What the modelled step may take: the rest covers what the model does not count.
  const int64_t budget = int64_t(double(memory_budget) * (1 - kPlanMemoryReserve));
  const size_t first = dims == 3 ? 0 : 1;  // 2D: the in-plane axes
  std::vector<double> spacing(target.begin() + long(first), target.end());
  // Median shape at the target spacing, per axis; voxels of the whole dataset there.
  std::vector<double> median_shape;
  double dataset_voxels = 0;
  for (size_t i = 0; i < fp.shapes.size(); ++i) {
    double v = 1;
    for (int a = 0; a < 3; ++a)
      v *= double(fp.shapes[i][size_t(a)]) * fp.spacings[i][size_t(a)] / target[size_t(a)];
    dataset_voxels += v;
  }
  for (size_t a = first; a < 3; ++a) {
    std::vector<double> s;
    for (size_t i = 0; i < fp.shapes.size(); ++i)
      s.push_back(double(fp.shapes[i][a]) * fp.spacings[i][a] / target[a]);
    median_shape.push_back(median_of(s));
  }
  // Initial patch: 256^3 (2048^2) voxels shaped like the spacing's inverse, within the median.
  const double volume = dims == 3 ? std::pow(256.0, 3) : std::pow(2048.0, 2);
  double prod = 1;
  for (double s : spacing) prod *= 1 / s;
  std::vector<int> patch;
  for (size_t a = 0; a < spacing.size(); ++a) {
    double p = std::round((1 / spacing[a]) * std::pow(volume / prod, 1.0 / double(spacing.size())));
    patch.push_back(std::max(1, int(std::min(p, std::round(median_shape[a])))));
  }
  PoolPlan pp = plan_pooling(spacing, patch);

  RunConfig run;
  ModelConfig& m = run.model;
  m.dims = dims;
  m.in_channels = int(fp.channels.size());
  m.num_classes = fp.classes;
  m.base_filters = 32;
  m.max_filters = dims == 3 ? 320 : 512;
  m.convs_per_stage = 2;
  m.norm = NormKind::Instance;
  m.activation = Activation::LeakyReLU;
  m.deep_supervision = true;
  auto apply = [&](const PoolPlan& p) {
    m.depth = int(p.pool_sizes.size());
    m.pool_sizes = p.pool_sizes;
    m.kernel_sizes = p.kernel_sizes;
  };
  apply(pp);
  auto step = [&](const std::vector<int>& pt, int batch) {
    return training_step_memory(m, patch3(pt), batch).total();
  };
  // Shrink along the axis largest relative to the median shape until batch 2 fits.
  while (step(pp.patch, 2) > budget) {
    size_t axis = 0;
    double worst = -1;
    for (size_t a = 0; a < pp.patch.size(); ++a) {
      double r = double(pp.patch[a]) / median_shape[a];
      // An axis shrinks while it keeps at least 2 x the smallest feature map (8 voxels), or
      // its median size when that is smaller.
      const int floor_size = std::max(1, int(std::min(8.0, std::round(median_shape[a]))));
      if (pp.patch[a] - pp.divisor[a] >= floor_size && r > worst) worst = r, axis = a;
    }
    USEG_REQUIRE(worst >= 0, "plan: even the smallest "
                                 << dims << "D patch needs " << bytes_text(step(pp.patch, 2))
                                 << " for a training step of 2 (the budget "
                                 << bytes_text(memory_budget) << " less its "
                                 << int(kPlanMemoryReserve * 100) << "% reserve is "
                                 << bytes_text(budget) << "); raise --memory-budget");
    std::vector<int> tmp = pp.patch;
    tmp[axis] -= pp.divisor[axis];
    PoolPlan t = plan_pooling(spacing, tmp);
    std::vector<int> next = pp.patch;
    next[axis] -= t.divisor[axis];
    PoolPlan shrunk = plan_pooling(spacing, next);
    if (shrunk.patch[axis] >= pp.patch[axis]) shrunk = t;  // padding undid it: take tmp's
    pp = shrunk;
    apply(pp);
  }
  const int64_t one = training_step_memory(m, patch3(pp.patch), 1).activation_bytes;
  const int64_t params = training_step_memory(m, patch3(pp.patch), 1).parameter_bytes;
  int64_t batch = one > 0 ? (budget - params) / one : 2;
  double patch_voxels = 1;
  for (int p : pp.patch) patch_voxels *= p;
  const int64_t five_percent = std::llround(dataset_voxels * 0.05 / patch_voxels);
  batch = std::max<int64_t>(2, std::min(batch, five_percent));

  TrainConfig& t = run.train;
  t.patch_size = pp.patch;
  t.batch_size = int(std::min<int64_t>(batch, 1 << 20));
  t.epochs = 1000;               // nnU-Net's schedule: 1000 epochs of 250 iterations
  t.iterations_per_epoch = 250;
  t.batch_dice = dims == 2;      // nnU-Net: batch Dice for 2D, per-sample for 3D
  t.target_spacing_mm = spacing;
  run.inference.tta = true;      // nnU-Net predicts with mirroring unless told not to
  validate_run_config(run, "plan (" + std::string(dims == 3 ? "3d_fullres" : "2d") + ")");

  PlannedConfiguration c;
  c.name = dims == 3 ? "3d_fullres" : "2d";
  c.run = run;
  c.median_shape = median_shape;
  c.step_bytes = step(pp.patch, t.batch_size);
  return c;
}

}  // namespace

DatasetPlan plan_dataset(const DatasetFingerprint& fp, int64_t memory_budget) {
  USEG_REQUIRE(memory_budget > 0, "plan: the memory budget must be positive");
  DatasetPlan plan;
  plan.fingerprint = fp;
  plan.memory_budget = memory_budget;
  plan.target_spacing = plan_target_spacing(fp);
  if (fp.dims == 3)
    plan.configurations.push_back(plan_configuration(fp, plan.target_spacing, 3, memory_budget));
  plan.configurations.push_back(plan_configuration(fp, plan.target_spacing, 2, memory_budget));
  return plan;
}

}  // namespace useg

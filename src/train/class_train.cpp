// What training a classifier does differently from a U-Net: model.json from the class dataset,
// batches of whole images with one class each (the segmentation augmentations, class-balanced
// sampling optional), and validation by accuracy.
#include "train/class_train.h"

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <sstream>

#include "train/augment.h"
#include "train/splits.h"
#include "useg/error.h"

namespace fs = std::filesystem;

namespace useg::training {

ModelInfo plan_classifier_info(const RunConfig& run, const ClassDataset& ds,
                               const std::function<void(const std::string&)>& log) {
  const ModelConfig& m = run.model;
  const TrainConfig& t = run.train;
  USEG_REQUIRE(m.num_classes == int(ds.classes.size()),
               "the config has model.num_classes "
                   << m.num_classes << " but " << ds.source << " holds " << ds.classes.size()
                   << " classes; set model.num_classes to " << ds.classes.size());
  ModelInfo info;
  info.model = m;
  info.patch_size = m.input_size.empty() ? t.patch_size : m.input_size;
  info.labels = ds.classes;
  USEG_REQUIRE(t.normalization != "ct",
               "train.normalization 'ct' needs dataset statistics of a "
               "segmentation dataset; a "
               "classifier takes zscore, percentile or none");
  for (int c = 0; c < m.in_channels; ++c) {
    ChannelNorm ch;
    ch.name = "channel_" + std::to_string(c);
    ch.scheme = t.normalization == "percentile" ? IntensityScheme::Percentile
                : t.normalization == "none"     ? IntensityScheme::None
                                                : IntensityScheme::ZScore;
    info.preprocess.channels.push_back(ch);
  }
  std::ostringstream os;
  os << "classifier: " << ds.classes.size() << " classes, images resized to ";
  for (size_t i = 0; i < info.patch_size.size(); ++i) os << (i ? "x" : "") << info.patch_size[i];
  os << ", each channel normalized by " << intensity_scheme_name(info.preprocess.channels[0].scheme);
  log(os.str());
  info.provenance["dataset"] = ds.source;
  return info;
}

std::string class_splits_path(const ClassDataset& ds) {
  const fs::path src(ds.source);
  if (fs::is_directory(src)) return (src / "splits.json").string();
  return (src.parent_path() / (src.stem().string() + "_splits.json")).string();
}

DataSplit class_fold_split(const ClassDataset& ds, const TrainConfig& t,
                           const std::function<void(const std::string&)>& log) {
  std::vector<std::string> names;
  std::vector<int> labels;
  for (const ClassItem& it : ds.items) names.push_back(it.name), labels.push_back(it.label);
  return fold_split_file(
      class_splits_path(ds), names, t, "image",
      [&] { return stratified_kfold_splits(names, labels, t.folds); }, log);
}

std::vector<std::string> split_class_validation(const ClassDataset& ds, const TrainConfig& t) {
  // Stratified: round(n_k * val_fraction) items of each class (at least one from a class of two
  // or more), chosen by a seeded shuffle, so every class is validated.
  std::vector<std::string> val;
  if (!t.val_cases.empty()) {  // named items (their names: paths relative to the dataset / CSV)
    std::vector<std::string> unknown;
    for (const std::string& v : t.val_cases) {
      const bool found = std::any_of(ds.items.begin(), ds.items.end(),
                                     [&](const ClassItem& it) { return it.name == v; });
      if (!found) unknown.push_back(v);
    }
    if (!unknown.empty()) {
      std::string list;
      for (size_t i = 0; i < unknown.size() && i < 10; ++i) list += (i ? ", " : "") + unknown[i];
      USEG_THROW("train.val_cases: " << unknown.size() << " name(s) are not images of "
                                     << ds.source << ": " << list
                                     << " (a classifier's items are named by their path "
                                        "relative to the dataset folder, or as in the CSV)");
    }
    val = t.val_cases;
    std::sort(val.begin(), val.end());
    val.erase(std::unique(val.begin(), val.end()), val.end());
    return val;
  }
  if (t.val_fraction <= 0) return val;
  for (size_t k = 0; k < ds.classes.size(); ++k) {
    std::vector<std::string> names;
    for (const ClassItem& it : ds.items)
      if (it.label == int(k)) names.push_back(it.name);
    if (names.size() < 2) continue;
    long n = std::lround(double(names.size()) * t.val_fraction);
    n = std::max<long>(1, std::min<long>(n, long(names.size()) - 1));
    Rng rng(t.seed, Stream::Split, {uint64_t(k)});
    for (size_t i = names.size() - 1; i > 0; --i)
      std::swap(names[i], names[static_cast<size_t>(rng.below(int64_t(i) + 1))]);
    val.insert(val.end(), names.begin(), names.begin() + n);
  }
  std::sort(val.begin(), val.end());
  return val;
}

Batch make_class_batch(const std::vector<TrainingCase>& cases, const TrainConfig& t, int dims,
                       int num_classes, int64_t epoch, int64_t iteration, int rank, int ranks) {
  USEG_REQUIRE(!cases.empty(), "no training images");
  const Shape& s = cases[0].image.shape();
  const int share = batch_share(t.batch_size, rank, ranks);
  USEG_REQUIRE(share > 0, "make_class_batch: rank " << rank << " of " << ranks
                                                    << " has no sample of a batch of "
                                                    << t.batch_size);
  Batch b;
  b.image = Tensor::empty(Shape{share, s.c(), s.d(), s.h(), s.w()});
  b.label = Tensor::empty(Shape{share, 1, 1, 1, 1});
  // Items of each class, for class-balanced sampling.
  std::vector<std::vector<size_t>> by_class(static_cast<size_t>(num_classes));
  if (t.class_balanced)
    for (size_t i = 0; i < cases.size(); ++i)
      by_class[static_cast<size_t>(cases[i].class_index)].push_back(i);
  std::vector<size_t> present;
  for (size_t k = 0; k < by_class.size(); ++k)
    if (!by_class[k].empty()) present.push_back(k);
  for (int i = 0; i < share; ++i) {
    const int n = rank + i * ranks;  // the sample's index in the global batch
    Rng rng(t.seed, Stream::Sample, {uint64_t(epoch), uint64_t(iteration), uint64_t(n)});
    size_t index;
    if (t.class_balanced) {
      const auto& items = by_class[present[static_cast<size_t>(rng.below(int64_t(present.size())))]];
      index = items[static_cast<size_t>(rng.below(int64_t(items.size())))];
    } else {
      index = static_cast<size_t>(rng.below(int64_t(cases.size())));
    }
    Tensor img = b.image.batch_slice(i, 1);
    Tensor scratch = Tensor::empty(Shape{1, 1, s.d(), s.h(), s.w()});  // no label map
    augment_sample(cases[index], {0, 0, 0}, t, dims, rng, img, scratch);
    b.label.data()[i] = static_cast<float>(cases[index].class_index);
  }
  return b;
}

ClassScores classification_scores(const std::vector<int>& truth, const std::vector<int>& pred,
                                  int num_classes) {
  ClassScores s;
  s.recall.assign(static_cast<size_t>(num_classes), std::nan(""));
  std::vector<int64_t> total(static_cast<size_t>(num_classes), 0), hit(total);
  int64_t correct = 0;
  for (size_t i = 0; i < truth.size(); ++i) {
    ++total[static_cast<size_t>(truth[i])];
    if (truth[i] == pred[i]) ++correct, ++hit[static_cast<size_t>(truth[i])];
  }
  s.accuracy = truth.empty() ? std::nan("") : double(correct) / double(truth.size());
  double sum = 0;
  int classes = 0;
  for (size_t k = 0; k < total.size(); ++k)
    if (total[k] > 0) {
      s.recall[k] = double(hit[k]) / double(total[k]);
      sum += s.recall[k];
      ++classes;
    }
  s.balanced_accuracy = classes ? sum / classes : std::nan("");
  return s;
}

}  // namespace useg::training

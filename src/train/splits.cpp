// Cross-validation folds (splits.h).
#include "train/splits.h"

#include <algorithm>
#include <filesystem>
#include <map>
#include <random>

#include "core/files.h"
#include "useg/error.h"

namespace fs = std::filesystem;

namespace useg::training {

namespace {

// numpy's legacy random_interval: the smallest all-ones mask >= max, then 32-bit draws masked
// until one is <= max (numpy/random/src/legacy/legacy-distributions.c).
uint32_t random_interval(std::mt19937& gen, uint32_t max) {
  if (max == 0) return 0;
  uint32_t mask = max;
  for (int s : {1, 2, 4, 8, 16}) mask |= mask >> s;
  uint32_t v;
  while ((v = static_cast<uint32_t>(gen()) & mask) > max) {
  }
  return v;
}

}  // namespace

std::vector<DataSplit> kfold_splits(const std::vector<std::string>& names, int folds,
                                    uint32_t seed) {
  const size_t n = names.size();
  USEG_REQUIRE(folds >= 2 && size_t(folds) <= n, "cannot make "
                                                     << folds << " cross-validation folds of " << n
                                                     << " cases (each "
                                                        "fold needs at least one validation case)");
  // RandomState(seed) seeds MT19937 with init_genrand(seed), as std::mt19937(seed) does;
  // RandomState.shuffle swaps x[i] with x[random_interval(i)] for i = n-1 .. 1.
  std::mt19937 gen(seed);
  std::vector<size_t> idx(n);
  for (size_t i = 0; i < n; ++i) idx[i] = i;
  for (size_t i = n - 1; i > 0; --i) std::swap(idx[i], idx[random_interval(gen, uint32_t(i))]);
  std::vector<DataSplit> out;
  size_t start = 0;
  for (int k = 0; k < folds; ++k) {
    size_t len = n / size_t(folds) + (size_t(k) < n % size_t(folds) ? 1 : 0);
    std::vector<bool> in_val(n, false);
    for (size_t i = start; i < start + len; ++i) in_val[idx[i]] = true;
    start += len;
    DataSplit s;
    for (size_t i = 0; i < n; ++i) (in_val[i] ? s.val : s.train).push_back(names[i]);
    out.push_back(std::move(s));
  }
  return out;
}

std::vector<DataSplit> stratified_kfold_splits(const std::vector<std::string>& names,
                                               const std::vector<int>& labels, int folds,
                                               uint32_t seed) {
  const size_t n = names.size();
  USEG_REQUIRE(labels.size() == n,
               "stratified_kfold_splits: " << labels.size() << " labels for " << n << " items");
  USEG_REQUIRE(folds >= 2 && size_t(folds) <= n, "cannot make "
                                                     << folds << " cross-validation folds of " << n
                                                     << " images (each fold needs at least one "
                                                        "validation image)");
  // Classes renumbered in order of first appearance, as sklearn's y_encoded.
  std::map<int, int> code;
  std::vector<int> y(n);
  for (size_t i = 0; i < n; ++i) y[i] = code.emplace(labels[i], int(code.size())).first->second;
  const size_t classes = code.size();
  std::vector<int> sorted = y;
  std::sort(sorted.begin(), sorted.end());
  // allocation[f][k]: items of class k in fold f = count of k in sorted[f::folds].
  std::vector<std::vector<size_t>> allocation(size_t(folds), std::vector<size_t>(classes, 0));
  for (size_t i = 0; i < n; ++i) ++allocation[i % size_t(folds)][size_t(sorted[i])];
  std::mt19937 gen(seed);
  std::vector<int> test_fold(n, -1);
  for (size_t k = 0; k < classes; ++k) {
    std::vector<int> slots;  // np.arange(folds).repeat(allocation[:, k]), then shuffled
    for (int f = 0; f < folds; ++f) slots.insert(slots.end(), allocation[size_t(f)][k], f);
    for (size_t i = slots.size() - 1; i > 0 && !slots.empty(); --i)
      std::swap(slots[i], slots[random_interval(gen, uint32_t(i))]);
    size_t next = 0;
    for (size_t i = 0; i < n; ++i)
      if (size_t(y[i]) == k) test_fold[i] = slots[next++];
  }
  std::vector<DataSplit> out(static_cast<size_t>(folds));
  for (size_t i = 0; i < n; ++i)
    for (int f = 0; f < folds; ++f) {
      DataSplit& s = out[size_t(f)];
      (test_fold[i] == f ? s.val : s.train).push_back(names[i]);
    }
  return out;
}

DataSplit fold_split_file(const std::string& file, std::vector<std::string> names,
                          const TrainConfig& t, const std::string& what,
                          const std::function<std::vector<DataSplit>()>& make,
                          const std::function<void(const std::string&)>& log) {
  std::sort(names.begin(), names.end());
  std::vector<DataSplit> splits;
  const bool existed = fs::exists(file);
  if (existed) {
    splits = parse_splits_json(read_file(file), file);
    for (size_t f = 0; f < splits.size(); ++f)
      for (const auto* list : {&splits[f].train, &splits[f].val})
        for (const std::string& c : *list)
          USEG_REQUIRE(std::binary_search(names.begin(), names.end(), c),
                       file << ": fold " << f << " names " << what << " '" << c
                            << "', which is not in the dataset (fix or delete " << file
                            << " to make a new split)");
    USEG_REQUIRE(int(splits.size()) == t.folds,
                 file << " has " << splits.size() << " folds, train.folds is " << t.folds
                      << ": set train.folds (--folds) to " << splits.size()
                      << ", or delete the file to make a new split");
    log("cross-validation: fold " + std::to_string(t.fold) + " of " + std::to_string(t.folds) +
        " from " + file);
  } else {
    splits = make();
    try {
      write_file_atomic(file, to_splits_json(splits));
      log("cross-validation: wrote " + file + " (" + std::to_string(t.folds) +
          " folds, seed 12345); training fold " + std::to_string(t.fold));
    } catch (const std::exception& e) {
      log(std::string("useg: warning: could not write ") + file + " (" + e.what() +
          "); training fold " + std::to_string(t.fold) + " of the split made now (the same "
          "split is made again for the other folds)");
    }
  }
  USEG_REQUIRE(t.fold >= 0 && t.fold < int(splits.size()),
               "train.fold " << t.fold << " is not a fold of " << file << " (folds 0.."
                             << splits.size() - 1 << ")");
  DataSplit s = splits[size_t(t.fold)];
  USEG_REQUIRE(!s.train.empty(), file << ": fold " << t.fold << " has no training " << what << "s");
  std::sort(s.train.begin(), s.train.end());
  std::sort(s.val.begin(), s.val.end());
  // Items in neither list (added to the dataset after the file was written, or left out on
  // purpose) are not used, as in nnU-Net; the log says how many.
  size_t unused = 0;
  for (const std::string& n : names)
    unused += !std::binary_search(s.train.begin(), s.train.end(), n) &&
              !std::binary_search(s.val.begin(), s.val.end(), n);
  if (existed && unused > 0)
    log("cross-validation: " + std::to_string(unused) + " " + what + "(s) of the dataset in " +
        "neither list of fold " + std::to_string(t.fold) + " in " + file +
        ": not used (delete the file to make a new split with them)");
  return s;
}

DataSplit fold_split(const Dataset& ds, const TrainConfig& t,
                     const std::function<void(const std::string&)>& log) {
  std::vector<std::string> names;
  for (const DatasetCase& c : ds.cases) names.push_back(c.name);
  std::sort(names.begin(), names.end());
  return fold_split_file((fs::path(ds.dir) / "splits.json").string(), names, t, "case",
                         [&] { return kfold_splits(names, t.folds); }, log);
}

}  // namespace useg::training

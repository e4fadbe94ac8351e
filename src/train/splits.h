// Cross-validation folds as nnU-Net makes them (train.fold, train.folds; docs/training.md,
// "Cross-validation"): DATASET/splits.json holds one {"train", "val"} pair of case lists per
// fold. When it is absent it is made from the sorted case names with sklearn's
// KFold(n_splits=folds, shuffle=True, random_state=12345), the split nnU-Net v2 writes, and
// saved for the next fold's run; when present it is read, so every fold of a dataset uses the
// same split whoever made it. A classifier's folds are stratified by class and kept the same way
// (class_fold_split, src/train/class_train.h).
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "train/dataset.h"
#include "useg/config.h"

namespace useg::training {

// sklearn.model_selection.KFold(n_splits=folds, shuffle=True, random_state=seed).split(names):
// names are shuffled by numpy's legacy RandomState(seed) (MT19937), fold k validates on the
// k-th consecutive chunk (the first n % folds chunks one longer); both lists keep the order of
// `names`. Requires folds <= names.size().
std::vector<DataSplit> kfold_splits(const std::vector<std::string>& names, int folds,
                                    uint32_t seed = 12345);

// sklearn.model_selection.StratifiedKFold(n_splits=folds, shuffle=True, random_state=seed)
// .split(names, labels): every class's items are spread over the folds as evenly as the class
// sizes allow (the fold of each item of class k drawn by shuffling class k's fold slots with
// numpy's legacy RandomState(seed), one class after another, classes in order of first
// appearance); both lists keep the order of `names`. Requires folds <= names.size(); a class
// with fewer items than folds leaves some folds without it (sklearn warns, as useg's caller does).
std::vector<DataSplit> stratified_kfold_splits(const std::vector<std::string>& names,
                                               const std::vector<int>& labels, int folds,
                                               uint32_t seed = 12345);

// The split of fold t.fold for `ds`: read from DATASET/splits.json, or made (kfold_splits of the
// sorted case names with t.folds folds) and written there atomically; `log` says which. Errors
// name the file: an unknown case ("splits.json: fold 1 names case x, which is not in the
// dataset"), a fold number past the file's folds, a file with a different fold count than
// train.folds, an empty training list.
DataSplit fold_split(const Dataset& ds, const TrainConfig& t,
                     const std::function<void(const std::string&)>& log);

// What fold_split does, for any item names (`what`: "case", "image" in messages): `file` read and
// checked against `names` (items of the dataset in no list of the file are not used, and the
// log says how many), or made by `make` and written. A classifier's stratified folds use it
// with its own file (class_fold_split).
DataSplit fold_split_file(const std::string& file, std::vector<std::string> names,
                          const TrainConfig& t, const std::string& what,
                          const std::function<std::vector<DataSplit>()>& make,
                          const std::function<void(const std::string&)>& log);

}  // namespace useg::training

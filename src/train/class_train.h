// Training a classifier (model.architecture encoder_classifier or layers): the parts that
// differ from a U-Net's training (class_train.cpp); the trainer does the rest alike.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "train/augment.h"
#include "train/class_data.h"

namespace useg::training {

// model.json for a classifier: labels = the dataset's classes, the input size (model.input_size,
// else train.patch_size), per-channel normalization (train.normalization: auto = zscore).
ModelInfo plan_classifier_info(const RunConfig& run, const ClassDataset& ds,
                               const std::function<void(const std::string&)>& log);

// The validation items without train.fold: train.val_cases (item names; an unknown name is an
// error naming it), else a stratified seeded share (train.val_fraction) of every class.
std::vector<std::string> split_class_validation(const ClassDataset& ds, const TrainConfig& t);

// Where a classifier dataset's folds are kept: DIR/splits.json for class folders, NAME_splits.json
// beside a CSV NAME.csv.
std::string class_splits_path(const ClassDataset& ds);
// The fold train.fold of a stratified cross-validation (stratified_kfold_splits over the items
// sorted by name, train.folds folds: scikit-learn's StratifiedKFold(shuffle=True,
// random_state=12345)), written to class_splits_path at the first fold's run and read by the
// others, so that every fold uses the same split even when images are added in between (those
// are then in no list: not used, the log says how many). Errors as fold_split's.
DataSplit class_fold_split(const ClassDataset& ds, const TrainConfig& t,
                           const std::function<void(const std::string&)>& log);

// image [B, C, D, H, W] (whole images through the training augmentations), label [B, 1, 1, 1, 1]
// class indices. Sample b of (epoch, iteration) uses Rng(seed, Sample, {epoch, iteration, b}):
// an item drawn uniformly, or with train.class_balanced a class first, then an item of it.
// Rank r of `ranks` makes only the samples b = r, r + ranks, ... (as make_batch).
Batch make_class_batch(const std::vector<TrainingCase>& cases, const TrainConfig& t, int dims,
                       int num_classes, int64_t epoch, int64_t iteration, int rank = 0,
                       int ranks = 1);

struct ClassScores {
  double accuracy = 0;
  double balanced_accuracy = 0;  // the mean recall over the classes present
  std::vector<double> recall;    // per class (NaN for a class absent from `truth`)
};
ClassScores classification_scores(const std::vector<int>& truth, const std::vector<int>& pred,
                                  int num_classes);

}  // namespace useg::training

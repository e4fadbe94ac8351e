// What a run writes besides the checkpoint: metrics.csv rows, curves.png, model folders.
#pragma once

#include <string>
#include <vector>

#include "useg/config.h"
#include "useg/model.h"

namespace useg::training {

// One row of metrics.csv. NaN = not measured this epoch (no validation): an empty cell.
struct EpochRow {
  int epoch = 0;                 // 1-based
  double train_loss = 0;         // mean over the epoch's finite steps (NaN if none)
  std::vector<double> scores;    // per class: Dice of each foreground class (U-Net), or the
                                 // recall of each class (classifier)
  double score = 0;              // the one best/ follows: mean foreground Dice, or accuracy
  double lr = 0;                 // learning rate of the epoch's last step
  double seconds = 0;            // wall time of the epoch, validation included
  long long skipped_steps = 0;   // steps skipped for a non-finite loss
};

// What the validation columns are: segmentation's dice_<label> per foreground class and
// mean_fg_dice, or classification's recall_<class> per class and accuracy.
struct MetricsLayout {
  std::vector<std::string> class_names;  // the classes with a column, in order
  std::string class_prefix;              // "dice_" | "recall_"
  std::string class_title;               // "Dice" | "recall" (plot legend)
  std::string score_column;              // "mean_fg_dice" | "accuracy"
  std::string score_title;               // "mean foreground Dice" | "accuracy"
};
MetricsLayout metrics_layout(const std::vector<std::string>& labels, bool classifier);

// Header: epoch,train_loss,<prefix><class>...,<score>,lr,seconds,skipped_steps (class names with
// characters other than letters, digits, '-' and '_' have them replaced by '_').
std::string metrics_header(const MetricsLayout& layout);
// train_loss with 17 significant digits (runs compare bit for bit), the rest with 10.
std::string metrics_row(const EpochRow& r);
// Parses rows written by metrics_row (for resuming); `classes` = number of per-class columns.
std::vector<EpochRow> parse_metrics_rows(const std::string& text, size_t classes,
                                         const std::string& source);

// Writes metrics.csv and curves.png into `run_dir` (each atomically); `title` heads the plot.
void write_metrics(const std::string& run_dir, const MetricsLayout& layout,
                   const std::vector<EpochRow>& rows, const std::string& title);

// Writes a model folder so that `dir` always holds either the previous complete folder or the
// new one: the new folder is written next to it under a hidden name, then swapped in with one
// renameat2(RENAME_EXCHANGE) and the old one removed.
void save_model_dir_atomic(const std::string& dir, const ModelInfo& info, const Network& net);

// Removes temporary files and folders a killed run left in `run_dir` (hidden ".*.tmp-*").
void remove_stale_temporaries(const std::string& run_dir);

}  // namespace useg::training

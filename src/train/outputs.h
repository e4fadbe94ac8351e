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
  std::vector<double> dice;      // validation Dice of each foreground class
  double mean_fg_dice = 0;
  double lr = 0;                 // learning rate of the epoch's last step
  double seconds = 0;            // wall time of the epoch, validation included
  long long skipped_steps = 0;   // steps skipped for a non-finite loss
};

// Header: epoch,train_loss,dice_<label 1>,...,mean_fg_dice,lr,seconds,skipped_steps (label names
// with characters other than letters, digits, '-' and '_' have them replaced by '_').
std::string metrics_header(const std::vector<std::string>& labels);
// train_loss with 17 significant digits (runs compare bit for bit), the rest with 10.
std::string metrics_row(const EpochRow& r);
// Parses rows written by metrics_row (for resuming); `foreground` = number of Dice columns.
std::vector<EpochRow> parse_metrics_rows(const std::string& text, size_t foreground,
                                         const std::string& source);

// Writes metrics.csv and curves.png into `run_dir` (each atomically); `title` heads the plot.
void write_metrics(const std::string& run_dir, const std::vector<std::string>& labels,
                   const std::vector<EpochRow>& rows, const std::string& title);

// Writes a model folder so that `dir` always holds either the previous complete folder or the
// new one: the new folder is written next to it under a hidden name, then swapped in with one
// renameat2(RENAME_EXCHANGE) and the old one removed.
void save_model_dir_atomic(const std::string& dir, const ModelInfo& info, const Network& net);

// Removes temporary files and folders a killed run left in `run_dir` (hidden ".*.tmp-*").
void remove_stale_temporaries(const std::string& run_dir);

}  // namespace useg::training

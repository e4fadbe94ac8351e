// checkpoint.safetensors: everything a run needs to continue exactly where it stopped.
//   tensors   "model.<name>"      the model's state_dict (parameters and buffers)
//             "optimizer.<name>"  the optimizer state (momentum / Adam moments)
//   metadata  "useg_checkpoint" = "1", the training state below (doubles with 17 digits, so they
//             read back bit for bit), the effective config, model.json, the training and
//             validation case names and the metrics rows so far.
// The data randomness is counter-based (train/rng.h), so no generator state needs saving: the
// position (epoch, iteration) and the seed in the config determine every later batch.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "useg/model.h"
#include "nn/optimizer.h"
#include "useg/tensor.h"

namespace useg::training {

struct TrainState {
  int epoch = 0;                 // 0-based epoch in progress
  int iteration = 0;             // next iteration of that epoch; == iterations_per_epoch means
                                 // the steps are done and the epoch's end (validation) is pending
  double epoch_loss_sum = 0;     // sum of the epoch's finite step losses
  int64_t epoch_loss_count = 0;
  int64_t epoch_skipped = 0;
  double epoch_seconds = 0;      // time already spent in the epoch (before an interruption)
  double epoch_last_lr = 0;
  int64_t nonfinite_run = 0;     // consecutive non-finite steps (spans epochs)
  int64_t skipped_total = 0;
  int64_t steps_total = 0;
  double loss_scale = 0;         // dynamic loss scale (0: the run does not scale its loss),
                                 // copied from the scaler when a checkpoint is written
  int64_t loss_scale_good_steps = 0;  // finite steps since the scale last changed
  double best_dice = -1;         // -1: no validation yet
  int best_epoch = 0;            // 1-based
  int epochs_since_best = 0;
  double last_dice = -1;
  std::string finished;          // "" (running), "completed", "early_stopped"
  std::string metrics_rows;      // metrics.csv rows so far, without the header
};

struct Checkpoint {
  TrainState state;
  std::string config_json;       // the effective RunConfig
  std::string model_info_json;   // model.json of the run (preprocessing, labels)
  std::vector<std::string> train_cases, val_cases;
  int64_t optimizer_steps = 0;
  std::map<std::string, Tensor> model, optimizer;
};

void write_checkpoint(const std::string& path, const Network& net, const Optimizer& opt,
                      const TrainState& state, const std::string& config_json,
                      const std::string& model_info_json,
                      const std::vector<std::string>& train_cases,
                      const std::vector<std::string>& val_cases);
// `tensors` false: the metadata only (state, config, case lists), read from the
// header without the weights and optimizer state (read_safetensors_metadata);
// model and optimizer stay empty.
Checkpoint read_checkpoint(const std::string& path, bool tensors = true);

}  // namespace useg::training

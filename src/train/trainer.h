// The training run behind useg::train(): setup (new run or resume), the step loop, the end of an
// epoch (validation, outputs, checkpoint). Split over trainer.cpp (setup and run), step.cpp
// (one optimizer step), epoch_end.cpp (and the final validation), distributed.cpp (data-parallel ranks: the config
// check, the gradient all-reduce, the collective stop decision).
#pragma once

#include <array>
#include <memory>
#include <string>
#include <vector>

#include "train/augment.h"
#include "train/checkpoint.h"
#include "train/class_train.h"
#include "train/data.h"
#include "train/gradient_bucket.h"
#include "train/loss_scaler.h"
#include "train/outputs.h"
#include "dist/communicator.h"
#include "dist/watchdog.h"
#include "useg/backend.h"
#include "train/dataset.h"
#include "useg/model.h"
#include "nn/optimizer.h"
#include "util/progress.h"
#include "useg/train.h"

namespace useg::training {

// Thrown inside validation when a stop is requested; the epoch end is then redone on resume.
struct ValidationInterrupted {};

class Trainer {
 public:
  explicit Trainer(const TrainOptions& options);
  ~Trainer();
  TrainResult run();

 private:
  // trainer.cpp
  TrainResult run_process();  // run() of this rank
  void setup_new();
  void setup_resume();
  void load_data();
  void make_model(uint64_t init_seed);
  void log(const std::string& line);
  bool stop_requested();
  void save_checkpoint();
  TrainResult result(TrainResult::Status status) const;
  void setup_loss_scaling();
  std::string path(const std::string& name) const;

  // step.cpp
  void step(const Batch& batch, int64_t global_step);
  std::vector<double> supervision_weights() const;
  Tensor downsample_labels(const Tensor& label, int level) const;

  // distributed.cpp
  bool writer() const { return m_comm->rank() == 0; }  // rank 0 alone writes the run's files
  // After the backend is made: the communicator the gradients go through (TrainOptions::
  // dist_backend), the NCCL one on top of dist::world() where chosen; sets m_data_parallel.
  void choose_communicator();
  // The CUDA device of this process: its local rank mod the GPUs it sees, when launched as one
  // of several processes; 0 otherwise.
  static int rank_cuda_device();
  // After setup, with more than one rank: refuses a run whose config, data split or state differs
  // from rank 0's (and what data parallelism cannot do exactly), then gives every rank rank 0's
  // weights.
  void check_ranks();
  // The gradient all-reduce of one step: every rank's gradients weighted by its share of the
  // batch, summed, and the BatchNorm running statistics averaged, in one bucket
  // (gradient_bucket.h). begin_reduce before the backward (`finite`: this rank's loss is, and its
  // backward runs), whose grad_ready hook feeds the bucket (reduce_hook); reduce_step after it:
  // `loss` (this rank's mean loss; NaN when not finite) becomes the batch's. Returns false when
  // any rank's loss was not finite (every rank then skips the update).
  void begin_reduce(int64_t local_samples, bool finite);
  Network::GradReady reduce_hook();
  bool reduce_step(double* loss);
  // stop_requested() of every rank, combined: any rank asked to stop (the same answer on all).
  bool stop_requested_all();
  // A batch_dice Dice / DiceCE loss with several ranks: the backend's loss sums its Dice terms
  // over the ranks (LossSpec::reduce_dice_sums), so every rank scores the global batch.
  void share_batch_dice(int64_t local_samples, LossSpec& spec);
  // Validation results per case, each rank's own cases filled in (zeros elsewhere): summed, so
  // every rank holds every case's result in the order one process computes them.
  void gather_case_results(std::vector<double>& results);

  // epoch_end.cpp
  // Validates when due, writes outputs and the checkpoint. Returns false when a stop request
  // interrupted validation (the checkpoint then keeps the epoch end pending).
  bool end_epoch();
  struct Validation {
    std::vector<double> scores;  // the metrics.csv class columns (MetricsLayout)
    double score = 0;            // mean foreground Dice, or accuracy
  };
  Validation validate();
  Validation validate_segmentation();  // mean Dice per class over the validation cases
  Validation validate_classifier();    // accuracy and per-class recall
  ModelInfo info_for_save(double score) const;
  // After run_process: a finished run's final validation (final_validation.h; a classifier's too)
  // by rank 0, when train.final_validation is on and the run has validation cases and best/ — on a
  // run that had finished before this process, only when its summary.json is absent. A stop
  // signal during it makes `r` Interrupted (--resume does it again).
  TrainResult finish(TrainResult r);
  bool m_was_finished = false;  // the run had finished before this process started
  MetricsLayout layout() const { return metrics_layout(m_info.labels, m_run.model.classifier()); }

  TrainOptions m_opts;
  RunConfig m_run;
  std::string m_config_json;
  ModelInfo m_info;
  std::string m_info_json;
  Dataset m_dataset;            // a U-Net's
  ClassDataset m_class_data;    // a classifier's
  std::vector<std::string> m_train_names, m_val_names;
  std::vector<TrainingCase> m_train_cases, m_val_cases;
  std::unique_ptr<Backend> m_backend;
  std::unique_ptr<Network> m_net;
  std::unique_ptr<Optimizer> m_opt;
  std::unique_ptr<LossScaler> m_scaler;  // null: no loss scaling (train.loss_scaling)
  TrainState m_state;
  std::vector<EpochRow> m_rows;
  std::vector<double> m_ds_weights;
  Progress* m_progress = nullptr;
  int m_signal = 0;
  int64_t m_steps_this_process = 0;
  std::vector<double> m_step_seconds, m_wait_seconds, m_make_seconds;
  std::string m_last_checkpoint_note = "no checkpoint has been written yet";
  int m_lock_fd = -1;
  dist::Communicator* m_comm = nullptr;  // the ranks of this run (dist::world(), or m_nccl)
  // NCCL over dist::world() where the gradients go through NCCL (declared after m_backend: it is
  // destroyed before the device it runs on).
  std::unique_ptr<dist::Communicator> m_nccl;
  // m_comm's waits timed (--collective-timeout) with several ranks; then m_comm points to it.
  std::unique_ptr<dist::WatchedCommunicator> m_watched;
  // The step all-reduces its gradients: several ranks, or a --dist-backend chosen for one.
  bool m_data_parallel = false;
  GradientBucket m_bucket;               // the gradient all-reduce's buffer, reused
  float m_reduce_weight = 1.f;           // this step's n_r / B
  int64_t m_early_segments = 0;          // segments summed during the backward, all steps
  std::vector<double> m_reduce_seconds;  // all-reduce time after the backward, per step
  std::vector<double> m_skew_seconds;    // time waiting for the slowest rank before it
};

}  // namespace useg::training

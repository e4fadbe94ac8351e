// Data-parallel training: what the ranks of one run exchange (docs/cluster.md).
//
// The gradient rule. Every loss useg trains with is a mean over the samples of the batch of a
// per-sample term, and all samples have the same size (one patch size, one image size):
// cross-entropy is the mean over the batch's voxels, Dice the mean over (sample, foreground
// class) pairs, MSE and the hinges the mean over the elements. So with the global batch of B
// samples split as n_0 + ... + n_{N-1} = B over the ranks, and g_r the gradient of rank r's mean
// loss over its n_r samples, the gradient of the batch mean is sum_r (n_r / B) g_r: each rank
// weights its gradients by n_r / B and the all-reduce sums them (the loss likewise). With equal
// shares that is the plain mean of the ranks' gradients. train.batch_dice (one Dice over the
// whole batch) is no such mean: there the ranks all-reduce the Dice sums inside the loss
// (share_batch_dice below) and scale the Dice gradient by B / n_r, which the weighting undoes.
//
// BatchNorm: each rank normalizes with the statistics of its own share (as PyTorch's
// DistributedDataParallel without SyncBatchNorm); the running statistics are averaged over the
// ranks after each step (in the same bucket), so that every rank holds the same model.
#include <algorithm>
#include <chrono>
#include <cmath>
#include <limits>
#include <optional>
#include <sstream>

#include "train/trainer.h"
#include "useg/error.h"

namespace useg::training {

namespace {

// A tensor's values as a CPU tensor (the tensor itself on the CPU).
Tensor host(const Tensor& t) { return t.to(Device::CPU); }

}  // namespace

int Trainer::rank_cuda_device() {
  const dist::LaunchInfo launch = dist::launch_info();
  if (launch.size <= 1) return 0;
  // Slurm's --gpus-per-task (or a CUDA_VISIBLE_DEVICES per rank) shows each rank one GPU: 0.
  const int gpus = cuda_device_count();
  return gpus > 0 ? launch.local_rank % gpus : 0;
}

void Trainer::choose_communicator() {
  dist::Communicator& host = dist::world();
  const std::string& b = m_opts.dist_backend;
  USEG_REQUIRE(b.empty() || b == "auto" || b == "mpi" || b == "nccl",
               "--dist-backend '" << b << "' is not one of: auto, mpi, nccl");
  const bool cuda = m_backend->device() == Device::CUDA;
  USEG_REQUIRE(b != "nccl" || cuda,
               "--dist-backend nccl sums GPU tensors: it "
               "needs --device cuda (a CPU run's ranks "
               "all-reduce with mpi)");
  const bool automatic = b.empty() || b == "auto";
  m_comm = &host;
  m_data_parallel = host.size() > 1 || !automatic;
  if (b == "nccl" || (automatic && cuda && host.size() > 1)) {
    m_nccl = dist::make_nccl_communicator(host, *m_backend);
    m_comm = m_nccl.get();
  }
  USEG_REQUIRE(m_opts.collective_timeout >= 0, "--collective-timeout "
                                                   << m_opts.collective_timeout
                                                   << ": expected seconds >= 0 (0: no limit)");
  if (host.size() > 1 && m_opts.collective_timeout > 0) {
    m_watched = std::make_unique<dist::WatchedCommunicator>(*m_comm, m_opts.collective_timeout);
    m_comm = m_watched.get();
  }
}

void Trainer::check_ranks() {
  const int ranks = m_comm->size(), rank = m_comm->rank();
  // Everything that must be equal for the ranks to train one model: the config (seed included),
  // the planned model info, the data split, the state resumed from, the device and precision.
  std::ostringstream run;
  run << m_config_json << '\n' << m_info_json << '\n' << device_name(m_opts.device) << ' '
      << m_opts.precision << ' ' << m_opts.dist_backend << '\n' << m_state.epoch << ' ' << m_state.iteration << ' '
      << m_state.steps_total << ' ' << m_state.finished << '\n';
  for (const auto* names : {&m_train_names, &m_val_names})
    for (const std::string& n : *names) run << n << '\n';
  const uint64_t mine = dist::fnv1a(run.str());
  uint64_t root = mine;
  m_comm->broadcast(&root, sizeof root, 0);
  USEG_REQUIRE(
      mine == root, "this rank's ("
                        << rank << " of " << ranks << ") run differs from rank 0's "
                        << "(config, planned model, data split or resumed state; hash " << std::hex
                        << mine << " against " << root << std::dec
                        << "). Every rank must be started with the same --config, --data, "
                           "--seed, "
                           "--device, --precision and --dist-backend (and --resume on all or "
                           "none)");
  if (!m_state.finished.empty()) return;  // nothing will be trained
  const TrainConfig& t = m_run.train;
  USEG_REQUIRE(t.batch_size >= ranks,
               "train.batch_size " << t.batch_size << " is smaller than the " << ranks
                                   << " ranks: every rank trains on at least one sample of the "
                                      "global batch; start at most "
                                   << t.batch_size << " processes, or raise train.batch_size");
  // Rank 0's weights everywhere (they are equal already when every rank seeded its
  // initialization alike, or read the same checkpoint; this makes sure).
  if (ranks > 1)
    for (auto list : {m_net->parameters(), m_net->buffers()})
      for (Parameter* p : list) {
        Tensor h = host(p->value).clone();
        m_comm->broadcast(h.data(), size_t(h.numel()) * sizeof(float), 0);
        m_backend->copy(h.to(p->value.device()), p->value);  // in place: views of it stay valid
      }
  std::ostringstream os;
  os << "data-parallel training: " << ranks << " ranks (" << m_comm->description()
     << "); global batch " << t.batch_size << ", samples per rank";
  for (int r = 0; r < ranks; ++r) os << (r ? "/" : " ") << batch_share(t.batch_size, r, ranks);
  os << "; rank 0 writes the run's files";
  log(os.str());
}

void Trainer::begin_reduce(int64_t local_samples, bool finite) {
  m_reduce_weight = float(double(local_samples) / double(m_run.train.batch_size));
  const double mb = m_opts.bucket_mb >= 0 ? m_opts.bucket_mb
                    : m_backend->device() == Device::CUDA ? 25.0
                                                          : 0.0;
  USEG_REQUIRE(std::isfinite(mb), "--bucket-mb " << mb << ": expected 0 or more MB");
  m_bucket.begin(*m_backend, *m_comm, m_net->parameters(), m_net->buffers(), m_reduce_weight,
                 !finite, int64_t(mb * 1e6));
}

Network::GradReady Trainer::reduce_hook() {
  return [this](Parameter& p) { m_bucket.ready(p); };
}

bool Trainer::reduce_step(double* loss) {
  const bool ok = std::isfinite(*loss);
  // The barrier separates waiting for the slowest rank from the transfer in the figures of the
  // run's last line (it costs one latency per step): what is timed after it is the part of the
  // all-reduce the backward pass did not hide. A GPU first finishes the backward, so that it is
  // not counted as the all-reduce; reading the reduced loss waits for the NCCL sums.
  m_backend->synchronize();
  auto t0 = std::chrono::steady_clock::now();
  m_comm->barrier();
  auto t1 = std::chrono::steady_clock::now();
  {
    // Reading the reduced loss waits for NCCL's sums on a GPU: timed like a collective.
    std::optional<dist::WatchedCommunicator::Scope> timed;
    if (m_watched) timed.emplace(*m_watched, "the gradient all-reduce");
    m_bucket.finish(1.0f / float(m_comm->size()),
                    ok ? float(double(m_reduce_weight) * *loss)
                       : std::numeric_limits<float>::quiet_NaN());
    *loss = double(m_bucket.loss());
  }
  auto t2 = std::chrono::steady_clock::now();
  m_skew_seconds.push_back(std::chrono::duration<double>(t1 - t0).count());
  m_reduce_seconds.push_back(std::chrono::duration<double>(t2 - t1).count());
  m_early_segments += m_bucket.started_early();

  if (!std::isfinite(*loss)) return false;  // some rank's loss: every rank skips the update
  m_bucket.unpack(*m_backend, m_net->parameters(), m_net->buffers());
  return true;
}

bool Trainer::stop_requested_all() {
  const int ranks = m_comm->size();
  std::vector<float> asked(size_t(ranks), 0.f);
  const int signal = m_opts.stop ? m_opts.stop->load() : 0;
  const bool steps = m_opts.stop_after_steps > 0 && m_steps_this_process >= m_opts.stop_after_steps;
  asked[size_t(m_comm->rank())] = signal ? float(signal) : steps ? -1.f : 0.f;
  m_comm->allreduce_sum(asked.data(), asked.size());
  bool stop = false;
  for (float a : asked) {
    if (a > 0 && m_signal == 0) m_signal = int(a);  // the lowest rank's signal
    stop = stop || a != 0;
  }
  return stop;
}

// The batch Dice (+ CE) of the global batch on this rank's share: the backend's loss with the
// Dice sums (I, P, T per foreground class) summed over the ranks before the score and its
// gradient coefficients are taken (on a GPU the sums are reduced on the device; only those
// 3 (C - 1) doubles travel). CE stays this rank's mean (the all-reduce's weighting makes it the
// batch's); the Dice term is the batch's on every rank, so its gradient is scaled by B / n_r
// (dice_share), which the weighting n_r / B undoes.
void Trainer::share_batch_dice(int64_t local_samples, LossSpec& spec) {
  spec.reduce_dice_sums = [this](double* sums, size_t count) {
    m_comm->allreduce_sum(sums, count);
  };
  spec.dice_share = double(local_samples) / double(m_run.train.batch_size);
}

void Trainer::gather_case_results(std::vector<double>& results) {
  m_comm->allreduce_sum(results.data(), results.size());
}

}  // namespace useg::training

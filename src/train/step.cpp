// One optimizer step: forward, loss (with deep supervision), backward, clipping, update — or,
// when the loss or the gradient norm is not finite, no update at all. With dynamic loss scaling
// the loss gradient is multiplied by the scale before the backward pass and the parameter
// gradients are divided by it before clipping; a step whose scaled gradients overflowed is
// skipped and the scale halved (train/loss_scaler.h). With several ranks each runs forward and
// backward on its share of the batch, and the all-reduce (distributed.cpp) between the backward
// pass and the loss-scale check gives every rank the same gradients, hence the same decisions.
#include <algorithm>
#include <chrono>
#include <cmath>
#include <limits>
#include <sstream>

#include "train/rng.h"
#include "train/trainer.h"
#include "useg/error.h"

namespace useg::training {

// nnU-Net's deep-supervision weights: 1 / 2^k for output k (k = 0 full resolution), the lowest
// resolution output weighted 0, normalized to sum 1. Without deep supervision: {1}.
std::vector<double> Trainer::supervision_weights() const {
  const ModelConfig& m = m_run.model;
  size_t outputs = m.deep_supervision ? static_cast<size_t>(std::max(1, m.depth)) : 1;
  std::vector<double> w(outputs);
  for (size_t k = 0; k < outputs; ++k) w[k] = 1.0 / double(1ull << k);
  if (outputs > 1) w.back() = 0;
  double sum = 0;
  for (double v : w) sum += v;
  for (double& v : w) v /= sum;
  return w;
}

// Labels of decoder level `level` (0 = full resolution): every f-th voxel along each axis,
// f = product of the pool sizes above that level, taking the voxel at offset f / 2 inside each
// block (nearest-neighbour downsampling, as nnU-Net's order-0 resize).
Tensor Trainer::downsample_labels(const Tensor& label, int level) const {
  std::array<int64_t, 3> f{1, 1, 1};
  for (int l = 0; l < level; ++l) {
    auto p = m_run.model.pool_size(l);
    for (int a = 0; a < 3; ++a) f[a] *= p[a];
  }
  const Shape& s = label.shape();
  Shape o{s.n(), 1, s.d() / f[0], s.h() / f[1], s.w() / f[2]};
  Tensor out = Tensor::empty(o);
  const float* src = label.data();
  float* dst = out.data();
  for (int64_t n = 0; n < o.n(); ++n)
    for (int64_t z = 0; z < o.d(); ++z)
      for (int64_t y = 0; y < o.h(); ++y)
        for (int64_t x = 0; x < o.w(); ++x) {
          int64_t sz = z * f[0] + f[0] / 2, sy = y * f[1] + f[1] / 2, sx = x * f[2] + f[2] / 2;
          dst[((n * o.d() + z) * o.h() + y) * o.w() + x] =
              src[((n * s.d() + sz) * s.h() + sy) * s.w() + sx];
        }
  return out;
}

void Trainer::step(const Batch& batch, int64_t global_step) {
  const TrainConfig& t = m_run.train;
  Backend& be = *m_backend;
  const Device dev = be.device();
  const int64_t iters = t.iterations_per_epoch;
  Tensor image = batch.image;
  if (m_opts.poison_input && m_opts.poison_input(global_step)) {
    image = batch.image.clone();
    float* p = image.data();
    for (int64_t i = 0; i < image.numel(); ++i) p[i] = std::numeric_limits<float>::quiet_NaN();
  }
  auto t0 = std::chrono::steady_clock::now();
  Tensor x = image.to(dev), target = batch.label.to(dev);
  const double lr = scheduled_lr(t, global_step);
  m_state.epoch_last_lr = lr;
  // Ranks draw their own dropout masks (the same seed would give every rank's first sample the
  // same mask); one process keeps the stream it always had.
  uint64_t dropout_seed = mix_seed({t.seed, static_cast<uint64_t>(Stream::Dropout),
                                    uint64_t(global_step / iters), uint64_t(global_step % iters)});
  if (m_comm->size() > 1) dropout_seed = mix_seed({dropout_seed, uint64_t(m_comm->rank())});
  m_net->set_dropout_seed(dropout_seed);
  // A non-finite batch would also poison BatchNorm's running statistics: keep a copy to restore.
  std::vector<Tensor> saved;
  for (Parameter* b : m_net->buffers()) saved.push_back(b->value.clone());

  std::vector<Tensor> outs = m_net->forward(x, true);
  USEG_REQUIRE(outs.size() == m_ds_weights.size(),
               "the model gave " << outs.size() << " outputs, expected " << m_ds_weights.size());
  std::vector<Tensor> grads(outs.size());
  const float loss_scale = m_scaler ? m_scaler->scale() : 1.f;
  double loss = 0;
  for (size_t k = 0; k < outs.size(); ++k) {
    if (m_ds_weights[k] == 0) continue;  // no loss: backward zeroes that head's grads
    Tensor tk = k == 0 ? target : downsample_labels(batch.label, int(k)).to(dev);
    grads[k] = Tensor::empty(outs[k].shape(), dev);
    LossSpec spec;
    spec.kind = t.loss;
    spec.batch_dice = t.batch_dice;
    spec.weight = static_cast<float>(m_ds_weights[k]) * loss_scale;
    if (m_data_parallel && spec.batch_dice &&
        (spec.kind == LossKind::Dice || spec.kind == LossKind::DiceCE))
      share_batch_dice(batch.image.shape().n(), spec);
    loss += be.loss_forward_backward(spec, outs[k], tk, &grads[k]);
  }
  loss /= loss_scale;  // the returned value is the mean loss times spec.weight
  bool finite = std::isfinite(loss);
  bool overflow = false;  // finite loss, non-finite scaled gradients
  double norm = 0;
  // Data-parallel: the backward hands each finished gradient to the all-reduce (except in the
  // test that poisons gradients after the backward: those must reach the bucket).
  Network::GradReady grad_ready;
  if (m_data_parallel) {
    begin_reduce(batch.image.shape().n(), finite);
    if (!m_opts.poison_gradients) grad_ready = reduce_hook();
  }
  if (finite) {
    m_net->backward(grads, false, grad_ready);
    if (m_opts.poison_gradients && m_opts.poison_gradients(global_step)) {
      Parameter* p = m_net->parameters().front();
      Tensor g = p->grad.to(Device::CPU);
      g.data()[0] = std::numeric_limits<float>::infinity();
      p->grad = g.to(dev);
    }
  }
  if (m_data_parallel) {
    if (!finite) loss = std::numeric_limits<double>::quiet_NaN();
    finite = reduce_step(&loss);
  }
  if (finite) {
    if (m_scaler) {
      bool grads_finite = true;
      for (Parameter* p : m_net->parameters())
        if (p->grad.defined() && !be.all_finite(p->grad)) {
          grads_finite = false;
          break;
        }
      if (m_scaler->update(grads_finite)) {
        for (Parameter* p : m_net->parameters())
          if (p->grad.defined()) be.scale(p->grad, m_scaler->last_inv_scale());
      } else {
        overflow = true;
        finite = false;
      }
    }
    if (finite) {
      norm = m_opt->clip_grad_norm(t.grad_clip);
      finite = std::isfinite(norm);
    }
  }
  if (finite) {
    m_opt->step(lr);
    m_state.nonfinite_run = 0;
    m_state.epoch_loss_sum += loss;
    ++m_state.epoch_loss_count;
  } else {
    std::vector<Parameter*> bufs = m_net->buffers();
    for (size_t i = 0; i < bufs.size(); ++i) bufs[i]->value = saved[i];
    ++m_state.skipped_total;
    ++m_state.epoch_skipped;
    std::ostringstream os;
    os << "epoch " << global_step / iters + 1 << ", step " << global_step % iters + 1 << ": ";
    // An overflow at a scale above 1 is the loss scaler's business (it halved the scale); at a
    // scale of 1 or less the unscaled gradients overflow too, which is a real divergence.
    if (overflow && loss_scale > 1.f) {
      os << "gradients overflowed at loss scale " << loss_scale << ", update skipped, loss "
         << "scale now " << m_scaler->scale() << " (" << m_state.skipped_total
         << " steps skipped in all)";
      log(os.str());
    } else {
      ++m_state.nonfinite_run;
      if (overflow)
        os << "non-finite gradients at loss scale " << loss_scale;
      else
        os << "non-finite " << (std::isfinite(loss) ? "gradient norm" : "loss") << " ("
           << (std::isfinite(loss) ? norm : loss) << ")";
      os << ", update skipped (" << m_state.nonfinite_run << " in a row, "
         << m_state.skipped_total << " in all)";
      log(os.str());
      if (m_state.nonfinite_run >= t.max_nonfinite_steps)
        USEG_THROW("training stopped: "
                   << m_state.nonfinite_run
                   << " steps in a row had a non-finite loss or gradient "
                      "(train.max_nonfinite_steps = "
                   << t.max_nonfinite_steps << "), the last at epoch " << global_step / iters + 1
                   << ", step " << global_step % iters + 1 << ". The last good checkpoint is "
                   << m_last_checkpoint_note
                   << ". Check the data for extreme or non-finite intensities, and consider a "
                      "lower train.lr or train.grad_clip.");
    }
  }
  be.synchronize();
  m_step_seconds.push_back(
      std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
}

}  // namespace useg::training

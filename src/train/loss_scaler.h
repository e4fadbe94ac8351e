// Dynamic loss scaling for mixed-precision training (the scheme of torch.cuda.amp's GradScaler).
// Host logic only; Trainer::step (step.cpp) uses it when train.loss_scaling resolves to dynamic:
//
//   loss = be.loss_forward_backward(spec with weight *= scaler.scale(), ...)   // scaled grads
//   model backward ...
//   finite = be.all_finite(p.grad) for every parameter
//   if (scaler.update(finite)) { be.scale(p.grad, scaler.last_inv_scale()) for every p; step }
//   else: the scaled gradients overflowed — no step, and the scale was multiplied by backoff.
//
// The scale starts at 2^16 and only ever moves by factors of 2 (growth 2, backoff 0.5), so
// scaling and unscaling a float32 gradient are exact unless it overflows or underflows.
#pragma once

namespace useg::training {

class LossScaler {
 public:
  explicit LossScaler(float initial = 65536.f, float growth = 2.f, float backoff = 0.5f,
                      int growth_interval = 2000);

  // The factor to multiply the loss (and so every gradient) by in the next backward pass.
  float scale() const { return m_scale; }
  // After a backward pass at scale(): whether every gradient was finite. Returns true when the
  // optimizer step should be taken with the gradients multiplied by last_inv_scale(); false when
  // the step must be skipped. Then updates the scale: backoff on overflow, growth after
  // growth_interval consecutive finite steps.
  bool update(bool grads_finite);
  float last_inv_scale() const { return m_last_inv; }
  int good_steps() const { return m_good; }

  // Restores the state a checkpoint saved (scale() and good_steps()).
  void restore(float scale, int good_steps);

 private:
  float m_scale, m_growth, m_backoff;
  int m_interval;
  int m_good = 0;
  float m_last_inv = 1.f;
};

}  // namespace useg::training

// Dynamic loss scaling for fp16 mixed-precision training (the scheme of torch.cuda.amp's
// GradScaler). Host logic only; where it plugs into the training step:
//
//   loss = be.loss_forward_backward(spec with weight *= scaler.scale(), ...)   // scaled grads
//   model backward ...
//   bool finite = all of be.all_finite(p.grad) over the parameters
//   if (scaler.update(finite)) { for each p: be.scale(p.grad, scaler.last_inv_scale()); step }
//   (else the step is skipped: the gradients overflowed and the scale was halved)
//
// Not wired into src/nn yet (see cuda/README.md: mixed precision is untested on a GPU).
#pragma once

namespace useg::gpu {

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

 private:
  float m_scale, m_growth, m_backoff;
  int m_interval;
  int m_good = 0;
  float m_last_inv = 1.f;
};

}  // namespace useg::gpu

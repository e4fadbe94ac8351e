#include "train/gradient_bucket.h"

#include "useg/error.h"

namespace useg::training {

namespace {

int64_t total_numel(const std::vector<Parameter*>& params, const std::vector<Parameter*>& buffers) {
  int64_t n = 1;  // the loss
  for (const auto* list : {&params, &buffers})
    for (const Parameter* p : *list) n += p->value.numel();
  return n;
}

}  // namespace

Tensor GradientBucket::part(int64_t offset, const Shape& shape) const {
  return m_data.batch_slice(offset, shape.numel()).reshaped(shape);
}

void GradientBucket::pack(Backend& be, const std::vector<Parameter*>& params,
                          const std::vector<Parameter*>& buffers, float w, float buffer_w,
                          float loss, bool zero_grads) {
  const int64_t total = total_numel(params, buffers);
  if (!m_data.defined() || m_data.numel() != total || m_data.device() != be.device())
    m_data = Tensor::empty(Shape{total, 1, 1, 1, 1}, be.device());
  int64_t at = 0;
  for (const Parameter* p : params) {
    Tensor q = part(at, p->value.shape());
    if (zero_grads || !p->grad.defined()) {
      be.fill(q, 0.f);
    } else {
      USEG_CHECK(p->grad.shape() == p->value.shape(),
                 "gradient of " << p->name << " has shape " << p->grad.shape().str()
                                << ", its parameter " << p->value.shape().str());
      be.copy(p->grad, q);
      if (w != 1.f) be.scale(q, w);
    }
    at += q.numel();
  }
  for (const Parameter* b : buffers) {
    Tensor q = part(at, b->value.shape());
    be.copy(b->value, q);
    if (buffer_w != 1.f) be.scale(q, buffer_w);
    at += q.numel();
  }
  Tensor last = part(at, Shape{1, 1, 1, 1, 1});
  be.copy(Tensor::full(Shape{1, 1, 1, 1, 1}, loss).to(be.device()), last);
}

float GradientBucket::loss() const {
  USEG_CHECK(m_data.defined(), "GradientBucket::loss before pack");
  return part(m_data.numel() - 1, Shape{1, 1, 1, 1, 1}).to(Device::CPU).data()[0];
}

void GradientBucket::unpack(Backend& be, const std::vector<Parameter*>& params,
                            const std::vector<Parameter*>& buffers) const {
  USEG_CHECK(m_data.defined() && m_data.numel() == total_numel(params, buffers),
             "GradientBucket::unpack: the bucket does not hold these parameters");
  int64_t at = 0;
  for (Parameter* p : params) {
    if (p->grad.defined()) be.copy(part(at, p->value.shape()), p->grad);
    at += p->value.numel();
  }
  for (Parameter* b : buffers) {
    be.copy(part(at, b->value.shape()), b->value);
    at += b->value.numel();
  }
}

}  // namespace useg::training

#include "train/gradient_bucket.h"

#include "useg/error.h"

namespace useg::training {

Tensor GradientBucket::part(int64_t offset, const Shape& shape) const {
  return m_data.batch_slice(offset, shape.numel()).reshaped(shape);
}

int64_t GradientBucket::buffers_offset() const {
  int64_t at = m_data.numel() - 1;  // the loss is last, after the buffers
  for (const Parameter* b : m_buffers) at -= b->value.numel();
  return at;
}

void GradientBucket::begin(Backend& be, dist::Communicator& comm,
                           const std::vector<Parameter*>& params,
                           const std::vector<Parameter*>& buffers, float w, bool zero_grads,
                           int64_t segment_bytes) {
  USEG_REQUIRE(!m_in_step, "GradientBucket::begin: the previous step did not finish");
  USEG_REQUIRE(segment_bytes >= 0, "GradientBucket: segment size " << segment_bytes << " bytes");
  const bool overlap = segment_bytes > 0 && comm.sums_in_place(be.device());
  int64_t total = 1;  // the loss
  for (const auto* list : {&params, &buffers})
    for (const Parameter* p : *list) total += p->value.numel();
  const bool same = m_data.defined() && m_data.numel() == total &&
                    m_data.device() == be.device() && m_params == params &&
                    m_buffers == buffers && m_segment_bytes == segment_bytes &&
                    m_overlap == overlap;
  if (!same) {
    m_params = params;
    m_buffers = buffers;
    m_segment_bytes = segment_bytes;
    m_overlap = overlap;
    m_index.clear();
    m_offset.assign(params.size(), 0);
    m_segment_of.assign(params.size(), 0);
    m_segment_end.clear();
    // Reverse order: the backward pass finishes the last layers' gradients first.
    int64_t at = 0, segment_start = 0;
    for (size_t k = params.size(); k-- > 0;) {
      USEG_REQUIRE(m_index.emplace(params[k], k).second,
                   "GradientBucket: parameter " << params[k]->name << " is listed twice");
      m_offset[k] = at;
      m_segment_of[k] = m_segment_end.size();
      at += params[k]->value.numel();
      if (overlap && (at - segment_start) * int64_t(sizeof(float)) >= segment_bytes) {
        m_segment_end.push_back(at);
        segment_start = at;
      }
    }
    if (overlap && at > segment_start) m_segment_end.push_back(at);
    m_segment_end.push_back(total);  // buffers and the loss (everything, without overlap)
    if (!m_data.defined() || m_data.numel() != total || m_data.device() != be.device())
      m_data = Tensor::empty(Shape{total, 1, 1, 1, 1}, be.device());
  }
  m_be = &be;
  m_comm = &comm;
  m_w = w;
  m_zero_grads = zero_grads;
  m_packed.assign(params.size(), false);
  m_pending.assign(m_segment_end.size(), 0);
  for (size_t s : m_segment_of) ++m_pending[s];
  m_next_start = 0;
  m_started_early = 0;
  m_in_step = true;
}

void GradientBucket::pack(size_t index) {
  const Parameter* p = m_params[index];
  Tensor q = part(m_offset[index], p->value.shape());
  if (m_zero_grads || !p->grad.defined()) {
    m_be->fill(q, 0.f);
  } else {
    USEG_REQUIRE(p->grad.shape() == p->value.shape(),
                 "gradient of " << p->name << " has shape " << p->grad.shape().str()
                                << ", its parameter " << p->value.shape().str());
    m_be->copy(p->grad, q);
    if (m_w != 1.f) m_be->scale(q, m_w);
  }
  m_packed[index] = true;
  --m_pending[m_segment_of[index]];
}

void GradientBucket::start(size_t segment) {
  const int64_t first = segment ? m_segment_end[segment - 1] : 0;
  m_comm->allreduce_start(m_data.data() + first, size_t(m_segment_end[segment] - first),
                          m_data.device());
}

void GradientBucket::ready(const Parameter& p) {
  USEG_REQUIRE(m_in_step, "GradientBucket::ready outside a step (" << p.name << ")");
  auto it = m_index.find(&p);
  USEG_REQUIRE(it != m_index.end(),
               "GradientBucket::ready: " << p.name << " is not one of the model's parameters");
  USEG_REQUIRE(!m_packed[it->second],
               "GradientBucket::ready: " << p.name << " was reported twice in one step");
  pack(it->second);
  if (!m_overlap) return;
  // The last segment (buffers, loss) waits for finish(); the others start in order.
  while (m_next_start + 1 < m_segment_end.size() && m_pending[m_next_start] == 0) {
    start(m_next_start++);
    ++m_started_early;
  }
  m_comm->progress();
}

void GradientBucket::finish(float buffer_w, float loss) {
  USEG_REQUIRE(m_in_step, "GradientBucket::finish without begin");
  for (size_t i = 0; i < m_params.size(); ++i)
    if (!m_packed[i]) pack(i);
  int64_t at = buffers_offset();
  for (const Parameter* b : m_buffers) {
    Tensor q = part(at, b->value.shape());
    m_be->copy(b->value, q);
    if (buffer_w != 1.f) m_be->scale(q, buffer_w);
    at += q.numel();
  }
  Tensor last = part(at, Shape{1, 1, 1, 1, 1});
  m_be->copy(Tensor::full(Shape{1, 1, 1, 1, 1}, loss).to(m_be->device()), last);
  m_in_step = false;  // an exception below leaves the bucket ready for the next begin()
  if (m_overlap) {
    while (m_next_start < m_segment_end.size()) start(m_next_start++);
    m_comm->wait_all();
  } else {
    m_comm->allreduce_tensor(m_data);  // may replace m_data by a tensor of the same shape
  }
}

float GradientBucket::loss() const {
  USEG_REQUIRE(m_data.defined(), "GradientBucket::loss before a step");
  return part(m_data.numel() - 1, Shape{1, 1, 1, 1, 1}).to(Device::CPU).data()[0];
}

void GradientBucket::unpack(Backend& be, const std::vector<Parameter*>& params,
                            const std::vector<Parameter*>& buffers) const {
  USEG_REQUIRE(m_data.defined() && params == m_params && buffers == m_buffers,
               "GradientBucket::unpack: the bucket does not hold these parameters");
  for (size_t i = 0; i < params.size(); ++i)
    if (params[i]->grad.defined())
      be.copy(part(m_offset[i], params[i]->value.shape()), params[i]->grad);
  int64_t at = buffers_offset();
  for (Parameter* b : buffers) {
    be.copy(part(at, b->value.shape()), b->value);
    at += b->value.numel();
  }
}

}  // namespace useg::training

#include "nn/layers.h"

#include "useg/error.h"

namespace useg::nn {

namespace {
Parameter make_param(const std::string& name, std::vector<int64_t> torch_shape,
                     const Shape& shape, Device device) {
  Parameter p;
  p.name = name;
  p.torch_shape = std::move(torch_shape);
  p.value = Tensor::zeros(shape, device);
  return p;
}

uint64_t mix(uint64_t a, uint64_t b) {
  uint64_t z = a + 0x9E3779B97F4A7C15ull * (b + 1);
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}
}  // namespace

// ------------------------------------------------------------------------------------ Conv
Conv::Conv(const std::string& prefix, int dims, int cin_, int cout_, std::array<int, 3> kernel,
           bool transposed_, Device device)
    : transposed(transposed_), cin(cin_), cout(cout_) {
  geom.kernel = kernel;
  if (transposed) {
    geom.stride = kernel;
  } else {
    for (int a = 0; a < 3; ++a) geom.pad[a] = kernel[a] / 2;
  }
  int64_t a = transposed ? cin : cout, b = transposed ? cout : cin;
  std::vector<int64_t> ts = {a, b};
  if (dims == 3) ts.push_back(kernel[0]);
  ts.push_back(kernel[1]);
  ts.push_back(kernel[2]);
  weight = make_param(prefix + ".weight", ts, Shape{a, b, kernel[0], kernel[1], kernel[2]},
                      device);
  bias = make_param(prefix + ".bias", {cout}, Shape{cout}, device);
}

int64_t Conv::fan_in() const {
  // PyTorch's fan-in: size(1) * receptive field, i.e. Ci*k for conv and Co*k for transposed.
  return weight.value.shape()[1] * geom.kernel[0] * geom.kernel[1] * geom.kernel[2];
}

Tensor Conv::forward(Backend& be, const Tensor& x, bool training) {
  Shape ys = transposed ? deconv_output_shape(x.shape(), cout, geom)
                        : conv_output_shape(x.shape(), cout, geom);
  Tensor y = Tensor::empty(ys, be.device());
  if (transposed)
    be.deconv_forward(x, weight.value, &bias.value, y, geom);
  else if (training)
    m_saved = be.conv_forward_training(x, weight.value, &bias.value, y, geom);
  else
    be.conv_forward(x, weight.value, &bias.value, y, geom);
  if (training) m_x = x;
  return y;
}

Tensor Conv::backward(Backend& be, const Tensor& dy, bool need_dx) {
  USEG_CHECK(m_x.defined(), weight.name << ": backward without a training forward");
  if (!weight.grad.defined()) weight.grad = Tensor::empty(weight.value.shape(), be.device());
  if (!bias.grad.defined()) bias.grad = Tensor::empty(bias.value.shape(), be.device());
  Tensor dx;
  if (transposed) {
    be.deconv_backward_weights(m_x, dy, weight.grad, &bias.grad, geom);
    if (need_dx) {
      dx = Tensor::empty(m_x.shape(), be.device());
      be.deconv_backward_data(dy, weight.value, dx, geom);
    }
  } else {
    if (need_dx) dx = Tensor::empty(m_x.shape(), be.device());
    be.conv_backward(m_x, dy, weight.value, need_dx ? &dx : nullptr, weight.grad, &bias.grad,
                     geom, m_saved);
  }
  m_x = Tensor();
  m_saved.reset();
  return dx;
}

// ------------------------------------------------------------------------------------ Norm
Norm::Norm(const std::string& prefix, const ModelConfig& cfg, int c, Device device)
    : kind(cfg.norm), m_eps(cfg.norm_eps), m_momentum(cfg.bn_momentum) {
  if (kind == NormKind::None) return;
  gamma = make_param(prefix + ".weight", {c}, Shape{c}, device);
  beta = make_param(prefix + ".bias", {c}, Shape{c}, device);
  if (kind == NormKind::Batch) {
    running_mean = make_param(prefix + ".running_mean", {c}, Shape{c}, device);
    running_var = make_param(prefix + ".running_var", {c}, Shape{c}, device);
  }
}

void Norm::collect(std::vector<Parameter*>& params) {
  if (kind == NormKind::None) return;
  params.push_back(&gamma);
  params.push_back(&beta);
}

void Norm::collect_buffers(std::vector<Parameter*>& buffers) {
  if (kind != NormKind::Batch) return;
  buffers.push_back(&running_mean);
  buffers.push_back(&running_var);
}

Tensor Norm::forward(Backend& be, const Tensor& x, bool training) {
  if (kind == NormKind::None) return x;
  Tensor y = Tensor::empty(x.shape(), be.device());
  int64_t n = x.shape().n(), c = x.shape().c();
  if (kind == NormKind::Instance) {
    if (training) {
      m_mean = Tensor::empty(Shape{n * c}, be.device());
      m_invstd = Tensor::empty(Shape{n * c}, be.device());
      be.instance_norm_forward(x, &gamma.value, &beta.value, m_eps, y, &m_mean, &m_invstd);
      m_x = x;
    } else {
      be.instance_norm_forward(x, &gamma.value, &beta.value, m_eps, y, nullptr, nullptr);
    }
  } else if (training) {
    m_mean = Tensor::empty(Shape{c}, be.device());
    m_invstd = Tensor::empty(Shape{c}, be.device());
    be.batch_norm_forward_training(x, &gamma.value, &beta.value, m_eps, m_momentum,
                                   running_mean.value, running_var.value, y, m_mean, m_invstd);
    m_x = x;
  } else {
    be.batch_norm_forward_inference(x, &gamma.value, &beta.value, running_mean.value,
                                    running_var.value, m_eps, y);
  }
  return y;
}

Tensor Norm::backward(Backend& be, const Tensor& dy) {
  if (kind == NormKind::None) return dy;
  USEG_CHECK(m_x.defined(), gamma.name << ": backward without a training forward");
  if (!gamma.grad.defined()) gamma.grad = Tensor::empty(gamma.value.shape(), be.device());
  if (!beta.grad.defined()) beta.grad = Tensor::empty(beta.value.shape(), be.device());
  Tensor dx = Tensor::empty(m_x.shape(), be.device());
  if (kind == NormKind::Instance)
    be.instance_norm_backward(m_x, dy, &gamma.value, m_mean, m_invstd, dx, &gamma.grad,
                              &beta.grad);
  else
    be.batch_norm_backward(m_x, dy, &gamma.value, m_mean, m_invstd, dx, &gamma.grad,
                           &beta.grad);
  m_x = m_mean = m_invstd = Tensor();
  return dx;
}

// ----------------------------------------------------------------------------------- Block
Block::Block(const std::string& prefix, const ModelConfig& cfg, int cin, int cout,
             std::array<int, 3> kernel, Device device)
    : conv(prefix + ".conv", cfg.dims, cin, cout, kernel, false, device),
      norm(prefix + ".norm", cfg, cout, device),
      m_act(cfg.activation),
      m_slope(cfg.negative_slope),
      m_dropout(cfg.dropout) {}

Tensor Block::forward(Backend& be, const Tensor& x, const Tensor& residual, bool training,
                      uint64_t dropout_seed) {
  Tensor c = conv.forward(be, x, training);
  Tensor z = norm.forward(be, c, training);
  if (residual.defined()) be.add(z, residual, z);
  // In place: ReLU and LeakyReLU (positive slope) backward only need the sign, which y keeps.
  be.activation_forward(m_act, m_slope, z, z);
  Tensor y = z;
  if (training && m_dropout > 0) {
    m_mask = Tensor::empty(z.shape(), be.device());
    y = Tensor::empty(z.shape(), be.device());
    be.dropout_forward(z, m_dropout, dropout_seed, y, m_mask);
  }
  if (training) m_y = z;
  return y;
}

Tensor Block::backward(Backend& be, const Tensor& dy, Tensor* d_residual) {
  USEG_CHECK(m_y.defined(), conv.weight.name << ": backward without a training forward");
  // Activation backward straight from dy (no copy of dy first); dropout's mask first if any.
  Tensor d = Tensor::empty(dy.shape(), be.device());
  if (m_mask.defined()) {
    be.mul(dy, m_mask, d);
    be.activation_backward(m_act, m_slope, m_y, m_y, d, d);
  } else {
    be.activation_backward(m_act, m_slope, m_y, m_y, dy, d);
  }
  if (d_residual) *d_residual = d;
  Tensor dc = norm.backward(be, d);
  Tensor dx = conv.backward(be, dc, true);
  m_y = m_mask = Tensor();
  return dx;
}

// ----------------------------------------------------------------------------------- Stage
Stage::Stage(const std::string& prefix, const ModelConfig& cfg, int cin, int cout,
             std::array<int, 3> kernel, Device device)
    : m_residual(cfg.residual) {
  USEG_CHECK(cfg.convs_per_stage >= 1, "convs_per_stage must be at least 1");
  for (int j = 0; j < cfg.convs_per_stage; ++j)
    m_blocks.emplace_back(prefix + ".blocks." + std::to_string(j), cfg, j == 0 ? cin : cout,
                          cout, kernel, device);
  if (m_residual && cin != cout)
    m_skip.emplace_back(prefix + ".skip", cfg.dims, cin, cout, std::array<int, 3>{1, 1, 1},
                        false, device);
}

void Stage::collect(std::vector<Parameter*>& params) {
  for (auto& b : m_blocks) b.collect(params);
  for (auto& s : m_skip) s.collect(params);
}

void Stage::collect_buffers(std::vector<Parameter*>& buffers) {
  for (auto& b : m_blocks) b.norm.collect_buffers(buffers);
}

Tensor Stage::forward(Backend& be, const Tensor& x, bool training, uint64_t dropout_seed) {
  Tensor h = x;
  for (size_t j = 0; j < m_blocks.size(); ++j) {
    Tensor r;
    if (m_residual && j + 1 == m_blocks.size())
      r = m_skip.empty() ? x : m_skip[0].forward(be, x, training);
    h = m_blocks[j].forward(be, h, r, training, mix(dropout_seed, j));
  }
  return h;
}

Tensor Stage::backward(Backend& be, const Tensor& dy) {
  Tensor d = dy, d_res;
  for (size_t j = m_blocks.size(); j-- > 0;) {
    bool last = j + 1 == m_blocks.size();
    d = m_blocks[j].backward(be, d, last && m_residual ? &d_res : nullptr);
  }
  if (m_residual) {
    Tensor dskip = m_skip.empty() ? d_res : m_skip[0].backward(be, d_res, true);
    be.add(d, dskip, d);
  }
  return d;
}

}  // namespace useg::nn

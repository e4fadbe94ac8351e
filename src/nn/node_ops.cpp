// The forward and backward of each node kind: which backend ops run, what is kept for backward.
#include "nn/node_ops.h"

#include "useg/error.h"

namespace useg::nn {

namespace {

// Global max pooling: one window over all of a channel's positions.
PoolGeom whole_window(const Shape& x) {
  PoolGeom g;
  for (int a = 0; a < 3; ++a) g.kernel[a] = g.stride[a] = static_cast<int>(x[2 + a]);
  return g;
}

Tensor& grad_of(Backend& be, Parameter& p) {
  if (!p.grad.defined()) p.grad = Tensor::empty(p.value.shape(), be.device());
  return p.grad;
}

Tensor norm_forward(Backend& be, const Node& n, const std::vector<Parameter*>& p, const Tensor& x,
                    bool training, Saved& s) {
  Tensor y = Tensor::empty(x.shape(), be.device());
  const int64_t batch = x.shape().n(), c = x.shape().c();
  const Tensor& gamma = p[0]->value;
  const Tensor& beta = p[1]->value;
  if (n.norm == NormKind::Instance) {
    if (training) {
      s.mean = Tensor::empty(Shape{batch * c}, be.device());
      s.invstd = Tensor::empty(Shape{batch * c}, be.device());
      be.instance_norm_forward(x, &gamma, &beta, n.eps, y, &s.mean, &s.invstd);
      s.x = x;
    } else {
      be.instance_norm_forward(x, &gamma, &beta, n.eps, y, nullptr, nullptr);
    }
  } else if (training) {
    s.mean = Tensor::empty(Shape{c}, be.device());
    s.invstd = Tensor::empty(Shape{c}, be.device());
    be.batch_norm_forward_training(x, &gamma, &beta, n.eps, n.momentum, p[2]->value,
                                   p[3]->value, y, s.mean, s.invstd);
    s.x = x;
  } else {
    be.batch_norm_forward_inference(x, &gamma, &beta, p[2]->value, p[3]->value, n.eps, y);
  }
  return y;
}

}  // namespace

Tensor node_forward(Backend& be, const Node& n, const std::vector<Parameter*>& p,
                    const std::vector<Tensor>& in, bool training, bool in_place, uint64_t seed,
                    Saved& s) {
  const Device dev = be.device();
  const Tensor& x = in.empty() ? Tensor() : in[0];
  switch (n.kind) {
    case OpKind::Input:
      USEG_THROW("the input node has no forward");
    case OpKind::Conv: {
      Tensor y = Tensor::empty(conv_output_shape(x.shape(), n.channels, n.conv), dev);
      if (training) {
        s.conv = be.conv_forward_training(x, p[0]->value, &p[1]->value, y, n.conv);
        // Where the backend keeps its own copy of x, x itself is not kept: a concatenation's
        // output, read by this conv alone, is then freed before backward (at 2 x 96^3, 0.3 GB).
        if (!s.conv.holds_input()) s.x = x;
      } else {
        be.conv_forward(x, p[0]->value, &p[1]->value, y, n.conv);
      }
      return y;
    }
    case OpKind::ConvTranspose: {
      Tensor y = Tensor::empty(deconv_output_shape(x.shape(), n.channels, n.conv), dev);
      be.deconv_forward(x, p[0]->value, &p[1]->value, y, n.conv);
      if (training) s.x = x;
      return y;
    }
    case OpKind::Norm:
      return norm_forward(be, n, p, x, training, s);
    case OpKind::Act: {
      Tensor y = in_place ? x : Tensor::empty(x.shape(), dev);
      be.activation_forward(n.act, n.slope, x, y);
      // ReLU and LeakyReLU (slope >= 0) backward need only the sign of y, kept as bits (1/32 of
      // y: the output itself is freed once its readers are done, at 2 x 96^3 0.3 GB before
      // backward); sigmoid and tanh take the derivative at y: the output is all backward needs.
      if (training) {
        if (act_keeps_sign_bits(n)) {
          s.sign_bits = Tensor::empty(Backend::sign_bits_shape(y.numel()), dev);
          be.activation_sign_bits(y, s.sign_bits);
        } else {
          s.y = y;
        }
      }
      return y;
    }
    case OpKind::Dropout: {
      if (!training || n.p <= 0) return x;
      Tensor y = Tensor::empty(x.shape(), dev);
      s.mask = Tensor::empty(x.shape(), dev);
      be.dropout_forward(x, n.p, seed, y, s.mask);
      return y;
    }
    case OpKind::MaxPool: {
      Tensor y = Tensor::empty(pool_output_shape(x.shape(), n.pool), dev);
      be.maxpool_forward(x, y, n.pool);
      // Backward needs only where each window's maximum is: one byte per output (windows of
      // up to 256 voxels), not the input (at 2 x 96^3, 0.15 GB less before backward).
      if (training && maxpool_keeps_offsets(n.pool)) {
        s.pool_offsets = Tensor::empty(Backend::maxpool_offsets_shape(y.numel()), dev);
        be.maxpool_offsets(x, s.pool_offsets, n.pool);
        s.in_shape = x.shape();
      } else if (training) {
        s.x = x;
      }
      return y;
    }
    case OpKind::AvgPool: {
      Tensor y = Tensor::empty(pool_output_shape(x.shape(), n.pool), dev);
      be.avgpool_forward(x, y, n.pool);
      if (training) s.in_shape = x.shape();
      return y;
    }
    case OpKind::Concat: {
      Shape cs = x.shape();
      cs[1] = x.shape().c() + in[1].shape().c();
      Tensor y = Tensor::empty(cs, dev);
      be.concat_channels(x, in[1], y);
      if (training) s.split = x.shape().c();
      return y;
    }
    case OpKind::Add: {
      Tensor y = in_place ? x : Tensor::empty(x.shape(), dev);
      be.add(x, in[1], y);
      return y;
    }
    case OpKind::GlobalAvgPool: {
      Tensor y = Tensor::empty(Shape{x.shape().n(), x.shape().c(), 1, 1, 1}, dev);
      be.global_avg_pool_forward(x, y);
      if (training) s.in_shape = x.shape();
      return y;
    }
    case OpKind::GlobalMaxPool: {
      Tensor y = Tensor::empty(Shape{x.shape().n(), x.shape().c(), 1, 1, 1}, dev);
      be.maxpool_forward(x, y, whole_window(x.shape()));
      if (training) s.x = x;
      return y;
    }
    case OpKind::Flatten:
      if (training) s.in_shape = x.shape();
      return x.reshaped(Shape{x.shape().n(), x.numel() / x.shape().n(), 1, 1, 1});
    case OpKind::Dense: {  // a 1x1x1 convolution of [N, C, 1, 1, 1]
      Tensor y = Tensor::empty(Shape{x.shape().n(), n.channels, 1, 1, 1}, dev);
      if (training)
        s.conv = be.conv_forward_training(x, p[0]->value, &p[1]->value, y, ConvGeom{});
      else
        be.conv_forward(x, p[0]->value, &p[1]->value, y, ConvGeom{});
      if (training) s.x = x;
      return y;
    }
  }
  USEG_THROW("node " << n.name << ": unknown kind");
}

std::vector<Tensor> node_backward(Backend& be, const Node& n, const std::vector<Parameter*>& p,
                                  const Tensor& dy, const std::vector<bool>& need_dx, Saved& s) {
  const Device dev = be.device();
  std::vector<Tensor> dx(n.inputs.size());
  const bool need0 = !need_dx.empty() && need_dx[0];
  auto missing = [&](const Tensor& t) {
    USEG_CHECK(t.defined(), n.name << ": backward without a training forward");
  };
  switch (n.kind) {
    case OpKind::Input:
      break;
    case OpKind::Conv: {
      if (!s.conv.holds_input()) missing(s.x);
      if (need0) dx[0] = Tensor::empty(s.conv.x_shape, dev);
      be.conv_backward(s.x, dy, p[0]->value, need0 ? &dx[0] : nullptr, grad_of(be, *p[0]),
                       &grad_of(be, *p[1]), n.conv, s.conv);
      break;
    }
    case OpKind::ConvTranspose: {
      missing(s.x);
      be.deconv_backward_weights(s.x, dy, grad_of(be, *p[0]), &grad_of(be, *p[1]), n.conv);
      if (need0) {
        dx[0] = Tensor::empty(s.x.shape(), dev);
        be.deconv_backward_data(dy, p[0]->value, dx[0], n.conv);
      }
      break;
    }
    case OpKind::Norm: {
      missing(s.x);
      dx[0] = Tensor::empty(s.x.shape(), dev);
      Tensor& dgamma = grad_of(be, *p[0]);
      Tensor& dbeta = grad_of(be, *p[1]);
      if (n.norm == NormKind::Instance)
        be.instance_norm_backward(s.x, dy, &p[0]->value, s.mean, s.invstd, dx[0], &dgamma,
                                  &dbeta);
      else
        be.batch_norm_backward(s.x, dy, &p[0]->value, s.mean, s.invstd, dx[0], &dgamma, &dbeta);
      break;
    }
    case OpKind::Act:
      dx[0] = Tensor::empty(dy.shape(), dev);
      if (s.sign_bits.defined()) {
        be.activation_backward_bits(n.act, n.slope, s.sign_bits, dy, dx[0]);
        break;
      }
      missing(s.y);
      be.activation_backward(n.act, n.slope, s.y, s.y, dy, dx[0]);
      break;
    case OpKind::Dropout:
      if (!s.mask.defined()) {  // p = 0: the identity
        dx[0] = dy;
        break;
      }
      dx[0] = Tensor::empty(dy.shape(), dev);
      be.mul(dy, s.mask, dx[0]);
      break;
    case OpKind::MaxPool:
      if (s.pool_offsets.defined()) {
        dx[0] = Tensor::empty(s.in_shape, dev);
        be.maxpool_backward_offsets(s.pool_offsets, dy, dx[0], n.pool);
        break;
      }
      missing(s.x);
      dx[0] = Tensor::empty(s.x.shape(), dev);
      be.maxpool_backward(s.x, dy, dx[0], n.pool);
      break;
    case OpKind::AvgPool:
      USEG_CHECK(s.in_shape.rank() == 5, n.name << ": backward without a training forward");
      dx[0] = Tensor::empty(s.in_shape, dev);
      be.avgpool_backward(dy, dx[0], n.pool);
      break;
    case OpKind::Concat: {
      USEG_CHECK(s.split >= 0, n.name << ": backward without a training forward");
      Shape as = dy.shape(), bs = dy.shape();
      as[1] = s.split;
      bs[1] = dy.shape().c() - s.split;
      dx[0] = Tensor::empty(as, dev);
      dx[1] = Tensor::empty(bs, dev);
      be.split_channels(dy, dx[0], dx[1]);
      break;
    }
    case OpKind::Add:
      dx[0] = dx[1] = dy;
      break;
    case OpKind::GlobalAvgPool:
      USEG_CHECK(s.in_shape.rank() == 5, n.name << ": backward without a training forward");
      dx[0] = Tensor::empty(s.in_shape, dev);
      be.global_avg_pool_backward(dy, dx[0]);
      break;
    case OpKind::GlobalMaxPool:
      missing(s.x);
      dx[0] = Tensor::empty(s.x.shape(), dev);
      be.maxpool_backward(s.x, dy, dx[0], whole_window(s.x.shape()));
      break;
    case OpKind::Flatten:
      USEG_CHECK(s.in_shape.rank() == 5, n.name << ": backward without a training forward");
      dx[0] = dy.reshaped(s.in_shape);
      break;
    case OpKind::Dense:
      missing(s.x);
      if (need0) dx[0] = Tensor::empty(s.x.shape(), dev);
      be.conv_backward(s.x, dy, p[0]->value, need0 ? &dx[0] : nullptr, grad_of(be, *p[0]),
                       &grad_of(be, *p[1]), ConvGeom{}, s.conv);
      break;
  }
  s = Saved{};
  for (size_t i = 0; i < dx.size(); ++i)
    if (i >= need_dx.size() || !need_dx[i]) dx[i] = Tensor();
  return dx;
}

void zero_param_grads(Backend& be, const Node& n, const std::vector<Parameter*>& params) {
  for (size_t i = 0; i < params.size(); ++i)
    if (!n.params[i].buffer) be.fill(grad_of(be, *params[i]), 0.f);
}

}  // namespace useg::nn

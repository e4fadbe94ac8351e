// Output-shape rules shared by every backend and by the model builder.
#include "useg/backend.h"
#include "useg/error.h"

namespace useg {

Shape conv_output_shape(const Shape& x, int64_t out_channels, const ConvGeom& g) {
  USEG_CHECK(x.rank() == 5, "convolution input must be NCDHW, got " << x.str());
  Shape y = x;
  y[1] = out_channels;
  for (int a = 0; a < 3; ++a) {
    int64_t in = x[2 + a];
    USEG_CHECK(g.kernel[a] >= 1 && g.stride[a] >= 1 && g.pad[a] >= 0,
               "invalid convolution geometry on axis " << a);
    int64_t span = in + 2 * g.pad[a] - g.kernel[a];
    USEG_CHECK(span >= 0, "convolution kernel " << g.kernel[a] << " larger than padded input "
                                                << in + 2 * g.pad[a] << " on axis " << a
                                                << " of input " << x.str());
    y[2 + a] = span / g.stride[a] + 1;
  }
  return y;
}

Shape deconv_output_shape(const Shape& x, int64_t out_channels, const ConvGeom& g) {
  USEG_CHECK(x.rank() == 5, "transposed convolution input must be NCDHW, got " << x.str());
  Shape y = x;
  y[1] = out_channels;
  for (int a = 0; a < 3; ++a) {
    int64_t out = (x[2 + a] - 1) * g.stride[a] - 2 * g.pad[a] + g.kernel[a];
    USEG_CHECK(out >= 1, "transposed convolution gives an empty output on axis " << a);
    y[2 + a] = out;
  }
  return y;
}

Shape pool_output_shape(const Shape& x, const PoolGeom& g) {
  USEG_CHECK(x.rank() == 5, "pooling input must be NCDHW, got " << x.str());
  Shape y = x;
  for (int a = 0; a < 3; ++a) {
    USEG_CHECK(x[2 + a] >= g.kernel[a], "pooling window " << g.kernel[a]
                                            << " larger than input " << x[2 + a] << " on axis "
                                            << a << " of " << x.str());
    y[2 + a] = (x[2 + a] - g.kernel[a]) / g.stride[a] + 1;
  }
  return y;
}

const char* activation_name(Activation a) {
  switch (a) {
    case Activation::Identity: return "identity";
    case Activation::ReLU: return "relu";
    case Activation::LeakyReLU: return "leaky_relu";
    case Activation::Sigmoid: return "sigmoid";
    case Activation::Tanh: return "tanh";
  }
  return "?";
}

const char* norm_name(NormKind k) {
  switch (k) {
    case NormKind::Instance: return "instance";
    case NormKind::Batch: return "batch";
    case NormKind::None: return "none";
  }
  return "?";
}

const char* loss_name(LossKind k) {
  switch (k) {
    case LossKind::CrossEntropy: return "ce";
    case LossKind::Dice: return "dice";
    case LossKind::DiceCE: return "dice_ce";
    case LossKind::MSE: return "mse";
    case LossKind::Hinge: return "hinge";
    case LossKind::MultiHinge: return "multi_hinge";
  }
  return "?";
}

}  // namespace useg

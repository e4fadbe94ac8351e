// Argument checks of convolution, transposed convolution and max pooling (op_checks.h): the
// geometry, each tensor's rank and device, the weight's kernel, the channel counts, and the
// output shape the op computes from its inputs — each message names the op and the tensor.
#include <sstream>

#include "core/op_checks.h"
#include "useg/error.h"

namespace useg {

namespace {

std::string axes_str(const std::array<int, 3>& v) {
  std::ostringstream os;
  os << v[0] << "x" << v[1] << "x" << v[2];
  return os.str();
}

// A defined rank-5 (NCDHW) tensor on `device` with a non-empty channel and spatial extent.
// A tensor's shape s on device `on`, for a backend of `device`.
void check_ncdhw(const char* op, const char* role, const Shape& s, Device on, Device device) {
  USEG_CHECK(on == device, op << ": " << role << " " << s.str() << " is on " << device_name(on)
                              << ", the " << device_name(device) << " backend needs "
                              << device_name(device) << " tensors");
  USEG_CHECK(s.rank() == 5, op << ": " << role << " must be rank 5 (NCDHW), got " << s.str());
  USEG_CHECK(s[1] > 0 && s[2] > 0 && s[3] > 0 && s[4] > 0,
             op << ": " << role << " " << s.str() << " has an empty channel or spatial dimension");
}

void check_ncdhw(const char* op, const char* role, const Tensor& t, Device device) {
  USEG_CHECK(t.defined(), op << ": " << role << " is an undefined tensor");
  check_ncdhw(op, role, t.shape(), t.device(), device);
}

// A rank-1 [n] tensor on `device` (a bias or its gradient).
void check_bias(const char* op, const char* role, const Tensor& t, int64_t n,
                const std::string& why, Device device) {
  USEG_CHECK(t.defined() && t.device() == device,
             op << ": " << role << " must be a defined " << device_name(device) << " tensor");
  USEG_CHECK(t.shape() == Shape{n}, op << ": " << role << " is " << t.shape().str()
                                       << ", expected [" << n << "] (" << why << ")");
}

void check_geom(const char* op, const ConvGeom& g) {
  for (int a = 0; a < 3; ++a)
    USEG_CHECK(g.kernel[a] >= 1 && g.stride[a] >= 1 && g.pad[a] >= 0,
               op << ": invalid geometry " << geom_str(g)
                  << " (kernel and stride must be >= 1, pad >= 0)");
}

void check_geom(const char* op, const PoolGeom& g) {
  for (int a = 0; a < 3; ++a)
    USEG_CHECK(g.kernel[a] >= 1 && g.stride[a] >= 1,
               op << ": invalid geometry " << geom_str(g) << " (kernel and stride must be >= 1)");
}

// A convolution-style weight: rank 5 with the geometry's kernel as its spatial extent.
void check_weight(const char* op, const char* role, const Tensor& w, const ConvGeom& g,
                  Device device) {
  USEG_CHECK(w.defined() && w.device() == device,
             op << ": " << role << " must be a defined " << device_name(device) << " tensor");
  const Shape& s = w.shape();
  USEG_CHECK(s.rank() == 5 && s[0] > 0 && s[1] > 0,
             op << ": " << role << " must be rank 5 [channels, channels, kD, kH, kW], got "
                << s.str());
  USEG_CHECK(s[2] == g.kernel[0] && s[3] == g.kernel[1] && s[4] == g.kernel[2],
             op << ": " << role << " " << s.str() << " does not match kernel "
                << axes_str(g.kernel));
}

// t's shape must be `expected`, the shape the op computes from its inputs (`from`).
void check_shape(const char* op, const char* role, const Tensor& t, const Shape& expected,
                 const std::string& from) {
  USEG_CHECK(t.shape() == expected, op << ": " << role << " is " << t.shape().str()
                                       << ", expected " << expected.str() << " for " << from);
}

Shape conv_out_shape(const char* op, const Shape& x, int64_t cout, const ConvGeom& g) {
  for (int a = 0; a < 3; ++a)
    USEG_CHECK(x[2 + a] + 2 * g.pad[a] >= g.kernel[a],
               op << ": kernel " << axes_str(g.kernel) << " is larger than the padded input "
                  << x.str() << " (pad " << axes_str(g.pad) << ")");
  return conv_output_shape(x, cout, g);
}

Shape deconv_out_shape(const char* op, const Shape& x, int64_t cout, const ConvGeom& g) {
  for (int a = 0; a < 3; ++a)
    USEG_CHECK((x[2 + a] - 1) * g.stride[a] - 2 * g.pad[a] + g.kernel[a] >= 1,
               op << ": input " << x.str() << " with " << geom_str(g)
                  << " gives an empty output");
  return deconv_output_shape(x, cout, g);
}

Shape pool_out_shape(const char* op, const Shape& x, const PoolGeom& g) {
  for (int a = 0; a < 3; ++a)
    USEG_CHECK(x[2 + a] >= g.kernel[a], op << ": pooling window " << axes_str(g.kernel)
                                           << " is larger than the input " << x.str());
  return pool_output_shape(x, g);
}

std::string from(const Shape& x, const char* w_role, const Shape& w, const ConvGeom& g,
                 const char* x_role = "input ") {
  return x_role + x.str() + ", " + w_role + " " + w.str() + ", " + geom_str(g);
}

}  // namespace

std::string geom_str(const ConvGeom& g) {
  return "kernel " + axes_str(g.kernel) + " stride " + axes_str(g.stride) + " pad " +
         axes_str(g.pad);
}

std::string geom_str(const PoolGeom& g) {
  return "kernel " + axes_str(g.kernel) + " stride " + axes_str(g.stride);
}

// ------------------------------------------------------------------------------- convolution
void check_conv_forward(const char* op, const Tensor& x, const Tensor& w, const Tensor* bias,
                        const Tensor& y, const ConvGeom& g, Device device) {
  check_geom(op, g);
  check_ncdhw(op, "input", x, device);
  check_weight(op, "weight", w, g, device);
  check_ncdhw(op, "output", y, device);
  const Shape &xs = x.shape(), &ws = w.shape();
  USEG_CHECK(ws[1] == xs[1], op << ": weight " << ws.str() << " expects " << ws[1]
                                << " input channels, input is " << xs.str());
  if (bias)
    check_bias(op, "bias", *bias, ws[0], "one per output channel of weight " + ws.str(), device);
  check_shape(op, "output", y, conv_out_shape(op, xs, ws[0], g), from(xs, "weight", ws, g));
}

void check_conv_backward_data(const char* op, const Tensor& dy, const Tensor& w, const Tensor& dx,
                              const ConvGeom& g, Device device) {
  check_geom(op, g);
  check_ncdhw(op, "dy", dy, device);
  check_weight(op, "weight", w, g, device);
  check_ncdhw(op, "dx", dx, device);
  const Shape &xs = dx.shape(), &ws = w.shape();
  USEG_CHECK(ws[1] == xs[1], op << ": weight " << ws.str() << " expects " << ws[1]
                                << " input channels, dx is " << xs.str());
  check_shape(op, "dy", dy, conv_out_shape(op, xs, ws[0], g), from(xs, "weight", ws, g, "dx "));
}

void check_conv_backward_weights(const char* op, const Tensor& x, const Tensor& dy,
                                 const Tensor& dw, const Tensor* dbias, const ConvGeom& g,
                                 Device device) {
  USEG_CHECK(x.defined(), op << ": input is an undefined tensor");
  check_conv_backward_weights(op, x.shape(), x.device(), dy, dw, dbias, g, device);
}

void check_conv_backward_weights(const char* op, const Shape& xs, Device x_device,
                                 const Tensor& dy, const Tensor& dw, const Tensor* dbias,
                                 const ConvGeom& g, Device device) {
  check_geom(op, g);
  check_ncdhw(op, "input", xs, x_device, device);
  check_ncdhw(op, "dy", dy, device);
  check_weight(op, "dw", dw, g, device);
  const Shape& ws = dw.shape();
  USEG_CHECK(ws[1] == xs[1], op << ": dw " << ws.str() << " expects " << ws[1]
                                << " input channels, input is " << xs.str());
  if (dbias)
    check_bias(op, "dbias", *dbias, ws[0], "one per output channel of dw " + ws.str(), device);
  check_shape(op, "dy", dy, conv_out_shape(op, xs, ws[0], g), from(xs, "dw", ws, g));
}

// ---------------------------------------------------------------------- transposed convolution
void check_deconv_forward(const Tensor& x, const Tensor& w, const Tensor* bias, const Tensor& y,
                          const ConvGeom& g, Device device) {
  const char* op = "deconv_forward";
  check_geom(op, g);
  check_ncdhw(op, "input", x, device);
  check_weight(op, "weight", w, g, device);
  check_ncdhw(op, "output", y, device);
  const Shape &xs = x.shape(), &ws = w.shape();
  USEG_CHECK(ws[0] == xs[1], op << ": weight " << ws.str() << " (Ci, Co, k...) expects " << ws[0]
                                << " input channels, input is " << xs.str());
  if (bias)
    check_bias(op, "bias", *bias, ws[1], "one per output channel of weight " + ws.str(), device);
  check_shape(op, "output", y, deconv_out_shape(op, xs, ws[1], g), from(xs, "weight", ws, g));
}

void check_deconv_backward_data(const Tensor& dy, const Tensor& w, const Tensor& dx,
                                const ConvGeom& g, Device device) {
  const char* op = "deconv_backward_data";
  check_geom(op, g);
  check_ncdhw(op, "dy", dy, device);
  check_weight(op, "weight", w, g, device);
  check_ncdhw(op, "dx", dx, device);
  const Shape &xs = dx.shape(), &ws = w.shape();
  USEG_CHECK(ws[0] == xs[1], op << ": weight " << ws.str() << " (Ci, Co, k...) expects " << ws[0]
                                << " input channels, dx is " << xs.str());
  check_shape(op, "dy", dy, deconv_out_shape(op, xs, ws[1], g),
              from(xs, "weight", ws, g, "dx "));
}

void check_deconv_backward_weights(const Tensor& x, const Tensor& dy, const Tensor& dw,
                                   const Tensor* dbias, const ConvGeom& g, Device device) {
  const char* op = "deconv_backward_weights";
  check_geom(op, g);
  check_ncdhw(op, "input", x, device);
  check_ncdhw(op, "dy", dy, device);
  check_weight(op, "dw", dw, g, device);
  const Shape &xs = x.shape(), &ws = dw.shape();
  USEG_CHECK(ws[0] == xs[1], op << ": dw " << ws.str() << " (Ci, Co, k...) expects " << ws[0]
                                << " input channels, input is " << xs.str());
  if (dbias)
    check_bias(op, "dbias", *dbias, ws[1], "one per output channel of dw " + ws.str(), device);
  check_shape(op, "dy", dy, deconv_out_shape(op, xs, ws[1], g), from(xs, "dw", ws, g));
}

// ------------------------------------------------------------------------------- max pooling
void check_maxpool_forward(const Tensor& x, const Tensor& y, const PoolGeom& g, Device device) {
  const char* op = "maxpool_forward";
  check_geom(op, g);
  check_ncdhw(op, "input", x, device);
  check_ncdhw(op, "output", y, device);
  check_shape(op, "output", y, pool_out_shape(op, x.shape(), g),
              "input " + x.shape().str() + ", " + geom_str(g));
}

void check_maxpool_backward(const Tensor& x, const Tensor& dy, const Tensor& dx,
                            const PoolGeom& g, Device device) {
  const char* op = "maxpool_backward";
  check_geom(op, g);
  check_ncdhw(op, "input", x, device);
  check_ncdhw(op, "dy", dy, device);
  check_shape(op, "dy", dy, pool_out_shape(op, x.shape(), g),
              "input " + x.shape().str() + ", " + geom_str(g));
  check_ncdhw(op, "dx", dx, device);
  check_shape(op, "dx", dx, x.shape(), "input " + x.shape().str());
}

// Offsets: one byte per output of a window of at most 256 voxels (Backend::maxpool_offsets).
static void check_offsets(const char* op, const Tensor& offsets, const Shape& y, const PoolGeom& g,
                          Device device) {
  const int64_t window = int64_t(g.kernel[0]) * g.kernel[1] * g.kernel[2];
  USEG_CHECK(window <= Backend::kMaxPoolOffsetWindow,
             op << ": a window of " << window << " voxels (" << geom_str(g)
                << ") does not fit a one-byte offset (at most " << Backend::kMaxPoolOffsetWindow
                << ")");
  check_tensor(op, "offsets", offsets, device);
  const Shape want = Backend::maxpool_offsets_shape(y.numel());
  USEG_CHECK(offsets.shape() == want, op << ": offsets " << offsets.shape().str() << " is not "
                                         << want.str() << " (one byte per output of "
                                         << y.str() << ")");
}

void check_maxpool_offsets(const Tensor& x, const Tensor& offsets, const PoolGeom& g,
                           Device device) {
  const char* op = "maxpool_offsets";
  check_geom(op, g);
  check_ncdhw(op, "input", x, device);
  check_offsets(op, offsets, pool_out_shape(op, x.shape(), g), g, device);
}

void check_maxpool_backward_offsets(const Tensor& offsets, const Tensor& dy, const Tensor& dx,
                                    const PoolGeom& g, Device device) {
  const char* op = "maxpool_backward_offsets";
  check_geom(op, g);
  check_ncdhw(op, "dx", dx, device);
  check_ncdhw(op, "dy", dy, device);
  check_shape(op, "dy", dy, pool_out_shape(op, dx.shape(), g),
              "dx " + dx.shape().str() + ", " + geom_str(g));
  check_offsets(op, offsets, dy.shape(), g, device);
}

// --------------------------------------------------------------------------- average pooling
void check_avgpool_forward(const Tensor& x, const Tensor& y, const PoolGeom& g, Device device) {
  const char* op = "avgpool_forward";
  check_geom(op, g);
  check_ncdhw(op, "input", x, device);
  check_ncdhw(op, "output", y, device);
  check_shape(op, "output", y, pool_out_shape(op, x.shape(), g),
              "input " + x.shape().str() + ", " + geom_str(g));
}

// dx (the input's shape) determines dy's.
void check_avgpool_backward(const Tensor& dy, const Tensor& dx, const PoolGeom& g,
                            Device device) {
  const char* op = "avgpool_backward";
  check_geom(op, g);
  check_ncdhw(op, "dx", dx, device);
  check_ncdhw(op, "dy", dy, device);
  check_shape(op, "dy", dy, pool_out_shape(op, dx.shape(), g),
              "dx " + dx.shape().str() + ", " + geom_str(g));
}

// ---------------------------------------------------------------------- global pooling
void check_global_avg_pool(const char* op, const Tensor& full, const char* full_name,
                           const Tensor& pooled, const char* pooled_name, Device device) {
  check_ncdhw(op, full_name, full, device);
  check_activation(op, pooled_name, pooled, device);
  const Shape& f = full.shape();
  check_shape(op, pooled_name, pooled, Shape{f[0], f[1], 1, 1, 1},
              std::string(full_name) + " " + f.str());
}

}  // namespace useg

// Max pooling on the CPU backend (oneDNN), 2D or 3D, no padding, floor output size; average
// pooling (the ResEnc U-Net's skip paths) as plain loops over ops/pool/pool.h, the functions the
// CUDA kernels call too.
// Backward is our own loop (see maxpool_backward): the API is stateless, and oneDNN's backward
// would need a recomputed forward pass for its workspace plus reorders.
//
// Pooling takes its layout from its input (there is no format_tag::any to ask for). On plain
// NCDHW oneDNN 2.6 only has a scalar kernel, 3-5x slower than its vectorized one on channel
// blocks, so with 8 or more channels the primitive runs channel-blocked (the layout the
// convolutions choose) and DnnlContext's cached reorders convert at the edges; fewer channels
// stay plain, where blocking would mostly pad.
#include <algorithm>
#include <cstdint>
#include <sstream>

#include "cpu/cpu_backend.h"
#include "cpu/parallel.h"
#include "cpu/dnnl_context.h"
#include "core/op_checks.h"
#include "ops/pool/dims.h"

namespace useg::cpu {

namespace {

using dnnl::memory;

std::string pool_key(const char* op, const Shape& x, const PoolGeom& g) {
  std::ostringstream os;
  os << op << " x " << x.str() << " " << geom_str(g);
  return os.str();
}

// The layout the primitive runs in for `channels` channels (see the top of the file).
memory::format_tag pool_layout(int64_t channels, bool flat) {
  using tag = memory::format_tag;
  if (channels < 8) return flat ? tag::nchw : tag::ncdhw;
  // 16-float blocks where the vector unit is 16 wide (any ISA past AVX2's bits), else 8.
  auto isa = static_cast<unsigned>(dnnl::get_effective_cpu_isa());
  bool wide = (isa & ~static_cast<unsigned>(dnnl::cpu_isa::avx2)) != 0;
  if (wide) return flat ? tag::nChw16c : tag::nCdhw16c;
  return flat ? tag::nChw8c : tag::nCdhw8c;
}

struct PoolDims {
  bool flat;
  memory::desc x_user, y_user;  // the caller's plain layout
  memory::desc x, y;             // the primitive's layout
  memory::dims strides, kernel, pad_l, pad_r;
};

PoolDims pool_dims(const Shape& x, const Shape& y, const PoolGeom& g) {
  PoolDims d;
  d.flat = x[2] == 1 && g.kernel[0] == 1;  // a depth-1 window over depth 1: 2D descriptors
  d.x_user = plain_md(x, d.flat);
  d.y_user = plain_md(y, d.flat);
  memory::format_tag layout = pool_layout(x[1], d.flat);
  d.x = memory::desc(dnnl_dims(x, d.flat), memory::data_type::f32, layout);
  d.y = memory::desc(dnnl_dims(y, d.flat), memory::data_type::f32, layout);
  d.strides = spatial_dims(g.stride, d.flat);
  d.kernel = spatial_dims(g.kernel, d.flat);
  d.pad_l = memory::dims(d.kernel.size(), 0);
  d.pad_r = d.pad_l;  // trailing input a window never reaches is simply not pooled
  return d;
}

dnnl::pooling_forward::primitive_desc fwd_pd(const DnnlContext& ctx, const PoolDims& d,
                                             dnnl::prop_kind prop) {
  dnnl::pooling_forward::desc desc(prop, dnnl::algorithm::pooling_max, d.x, d.y, d.strides,
                                   d.kernel, d.pad_l, d.pad_r);
  return {desc, ctx.attr(), ctx.engine()};
}

}  // namespace

void maxpool_forward(BackendImpl& be, const Tensor& x, Tensor& y, const PoolGeom& g) {
  const char* op = "maxpool_forward";
  if (x.shape()[0] == 0) return;

  DnnlContext& ctx = cpu(be).dnnl();
  std::lock_guard<std::mutex> lock(ctx.mutex());
  std::string key = pool_key(op, x.shape(), g);
  auto cached = ctx.op(key, [&] {
    PoolDims d = pool_dims(x.shape(), y.shape(), g);
    auto pd = fwd_pd(ctx, d, dnnl::prop_kind::forward_inference);
    return ctx.make_op(pd, dnnl::pooling_forward(pd),
                       {{DNNL_ARG_SRC, d.x_user, false}, {DNNL_ARG_DST, d.y_user, true}});
  });
  ctx.run(*cached, {{DNNL_ARG_SRC, x.data()}, {DNNL_ARG_DST, y.data()}}, key);
}

// Backward is one pass of our own over the plain layout instead of oneDNN's primitive: the API
// is stateless, so oneDNN would first need a forward_training pass for its workspace (the argmax)
// plus reorders of x, dy and dx to and from the blocked layout; here each window's first maximum
// is found in x and receives dy directly. Planes (n, c) are independent, so overlapping windows
// accumulate without races.
void maxpool_backward(BackendImpl& be, const Tensor& x, const Tensor& dy, Tensor& dx,
                      const PoolGeom& g) {
  const Shape &xs = x.shape(), &ys = dy.shape();
  const int64_t planes = xs.n() * xs.c(), D = xs.d(), H = xs.h(), W = xs.w();
  const int64_t OD = ys.d(), OH = ys.h(), OW = ys.w();
  const int kd = g.kernel[0], kh = g.kernel[1], kw = g.kernel[2];
  const int sd = g.stride[0], sh = g.stride[1], sw = g.stride[2];
  const float* xbase = x.data();
  const float* gbase = dy.data();
  float* dbase = dx.data();
#pragma omp parallel for schedule(static) if (x.numel() >= kParallelMin)
  for (int64_t p = 0; p < planes; ++p) {
    const float* xp = xbase + p * D * H * W;
    const float* gp = gbase + p * OD * OH * OW;
    float* dp = dbase + p * D * H * W;
    std::fill(dp, dp + D * H * W, 0.f);
    for (int64_t od = 0; od < OD; ++od)
      for (int64_t oh = 0; oh < OH; ++oh)
        for (int64_t ow = 0; ow < OW; ++ow) {
          int64_t best = ((od * sd) * H + oh * sh) * W + ow * sw;
          float bv = xp[best];
          for (int a = 0; a < kd; ++a)
            for (int b = 0; b < kh; ++b)
              for (int c = 0; c < kw; ++c) {
                const int64_t i = ((od * sd + a) * H + oh * sh + b) * W + ow * sw + c;
                if (xp[i] > bv) bv = xp[i], best = i;  // strictly greater: the first maximum
              }
          dp[best] += gp[(od * OH + oh) * OW + ow];
        }
  }
}

// The offsets of maxpool_backward's maxima (the first, strictly greater, as there), one byte per
// output (ops::maxpool_offset_index decodes them); planes in parallel.
void maxpool_offsets(BackendImpl&, const Tensor& x, Tensor& offsets, const PoolGeom& g) {
  const ops::PoolDims p = ops::pool_plane_dims(x.shape(), pool_output_shape(x.shape(), g), g);
  const int64_t planes = x.shape().n() * x.shape().c();
  const int64_t in_plane = p.in[0] * p.in[1] * p.in[2], out_plane = p.out[0] * p.out[1] * p.out[2];
  const float* xb = x.data();
  auto* ob = reinterpret_cast<uint8_t*>(offsets.data());
#pragma omp parallel for schedule(static) if (x.numel() >= kParallelMin)
  for (int64_t q = 0; q < planes; ++q) {
    const float* xp = xb + q * in_plane;
    uint8_t* op = ob + q * out_plane;
    for (int64_t od = 0; od < p.out[0]; ++od)
      for (int64_t oh = 0; oh < p.out[1]; ++oh)
        for (int64_t ow = 0; ow < p.out[2]; ++ow) {
          const float* w0 = xp + ((od * p.stride[0]) * p.in[1] + oh * p.stride[1]) * p.in[2] +
                            ow * p.stride[2];
          float bv = w0[0];
          int best = 0, off = 0;
          for (int a = 0; a < p.kernel[0]; ++a)
            for (int b = 0; b < p.kernel[1]; ++b)
              for (int c = 0; c < p.kernel[2]; ++c, ++off) {
                const float v = w0[(a * p.in[1] + b) * p.in[2] + c];
                if (v > bv) bv = v, best = off;  // strictly greater: the first maximum
              }
          op[(od * p.out[1] + oh) * p.out[2] + ow] = uint8_t(best);
        }
  }
}

// maxpool_backward from the offsets: the same scatter in the same order, so the same dx.
void maxpool_backward_offsets(BackendImpl&, const Tensor& offsets, const Tensor& dy, Tensor& dx,
                              const PoolGeom& g) {
  const ops::PoolDims p = ops::pool_plane_dims(dx.shape(), dy.shape(), g);
  const int64_t planes = dx.shape().n() * dx.shape().c();
  const int64_t in_plane = p.in[0] * p.in[1] * p.in[2], out_plane = p.out[0] * p.out[1] * p.out[2];
  const auto* ob = reinterpret_cast<const uint8_t*>(offsets.data());
  const float* gb = dy.data();
  float* db = dx.data();
#pragma omp parallel for schedule(static) if (dx.numel() >= kParallelMin)
  for (int64_t q = 0; q < planes; ++q) {
    const uint8_t* op = ob + q * out_plane;
    const float* gp = gb + q * out_plane;
    float* dp = db + q * in_plane;
    std::fill(dp, dp + in_plane, 0.f);
    for (int64_t od = 0; od < p.out[0]; ++od)
      for (int64_t oh = 0; oh < p.out[1]; ++oh)
        for (int64_t ow = 0; ow < p.out[2]; ++ow) {
          const int64_t o = (od * p.out[1] + oh) * p.out[2] + ow;
          dp[ops::maxpool_offset_index(p, od, oh, ow, op[o])] += gp[o];
        }
  }
}

// One (n, c) plane per iteration: each output the mean of its window.
void avgpool_forward(BackendImpl&, const Tensor& x, Tensor& y, const PoolGeom& g) {
  const ops::PoolDims p = ops::pool_plane_dims(x.shape(), y.shape(), g);
  const int64_t planes = x.shape().n() * x.shape().c();
  const int64_t in_plane = p.in[0] * p.in[1] * p.in[2], out_plane = p.out[0] * p.out[1] * p.out[2];
  const float* xb = x.data();
  float* yb = y.data();
#pragma omp parallel for schedule(static) if (x.numel() >= kParallelMin)
  for (int64_t q = 0; q < planes; ++q) {
    const float* xp = xb + q * in_plane;
    float* yp = yb + q * out_plane;
    for (int64_t od = 0; od < p.out[0]; ++od)
      for (int64_t oh = 0; oh < p.out[1]; ++oh)
        for (int64_t ow = 0; ow < p.out[2]; ++ow)
          yp[(od * p.out[1] + oh) * p.out[2] + ow] = ops::avgpool_window_mean(xp, p, od, oh, ow);
  }
}

// Per input voxel, the gather of ops::avgpool_backward_voxel (the same order as the CUDA
// kernel, so both devices give the same dx).
void avgpool_backward(BackendImpl&, const Tensor& dy, Tensor& dx, const PoolGeom& g) {
  const ops::PoolDims p = ops::pool_plane_dims(dx.shape(), dy.shape(), g);
  const int64_t planes = dx.shape().n() * dx.shape().c();
  const int64_t in_plane = p.in[0] * p.in[1] * p.in[2], out_plane = p.out[0] * p.out[1] * p.out[2];
  const float* gb = dy.data();
  float* db = dx.data();
#pragma omp parallel for schedule(static) if (dx.numel() >= kParallelMin)
  for (int64_t q = 0; q < planes; ++q) {
    const float* gp = gb + q * out_plane;
    float* dp = db + q * in_plane;
    for (int64_t d = 0; d < p.in[0]; ++d)
      for (int64_t h = 0; h < p.in[1]; ++h)
        for (int64_t w = 0; w < p.in[2]; ++w)
          dp[(d * p.in[1] + h) * p.in[2] + w] = ops::avgpool_backward_voxel(gp, p, d, h, w);
  }
}

void add_pool_ops(BackendOps& t) {
  t.maxpool_forward = maxpool_forward;
  t.maxpool_backward = maxpool_backward;
  t.maxpool_offsets = maxpool_offsets;
  t.maxpool_backward_offsets = maxpool_backward_offsets;
  t.avgpool_forward = avgpool_forward;
  t.avgpool_backward = avgpool_backward;
}

}  // namespace useg::cpu

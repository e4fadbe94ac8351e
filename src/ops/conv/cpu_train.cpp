// The training fast path of the CPU convolution (Backend::conv_forward_training and
// Backend::conv_backward). Through the per-op API a conv layer's step reorders six
// activation-sized tensors between plain NCDHW and oneDNN's blocked layout: x and y in forward,
// x and dy in backward-weights, dy and dx in backward-data — measured with DNNL_VERBOSE on the
// 2D U-Net training step, reorders took ~28% of all oneDNN time. Two of the six are repeats:
//  - conv_forward_training reorders x into a buffer it returns as the layer's saved handle, and
//    conv_backward's backward-weights primitive reads that buffer (no second reorder of x);
//  - conv_backward reorders dy once and feeds it to both backward primitives.
// The price is one blocked copy of each conv input kept from forward to backward.
#include <cstdlib>
#include <cstring>

#include "cpu/cpu_backend.h"
#include "cpu/dnnl_conv_util.h"
#include "useg/error.h"

namespace useg::cpu {

using dnnl::memory;

namespace {

// conv_forward_training's handle: the input in the layout the forward primitive read it in.
struct SavedInput {
  std::shared_ptr<void> data;
  memory::desc md;
};

std::shared_ptr<void> aligned_buffer(size_t bytes) {
  void* p = std::aligned_alloc(64, (bytes + 63) / 64 * 64);
  if (!p) USEG_THROW("out of host memory allocating a " << bytes << "-byte conv buffer");
  return std::shared_ptr<void>(p, std::free);
}

// A cached reorder between two layouts, as a DnnlOp whose arguments need no further reorders.
std::shared_ptr<const DnnlOp> reorder_op(DnnlContext& ctx, const std::string& key,
                                         const memory::desc& from, const memory::desc& to) {
  return ctx.op(key, [&] {
    dnnl::reorder::primitive_desc pd(ctx.engine(), from, ctx.engine(), to, ctx.attr());
    return ctx.make_op(pd, dnnl::reorder(pd),
                       {{DNNL_ARG_FROM, from, false}, {DNNL_ARG_TO, to, true}});
  });
}

const memory::desc& prim_md(const DnnlOp& op, int arg) {
  for (const DnnlArg& a : op.args)
    if (a.arg == arg) return a.prim_md;
  USEG_THROW("internal error: conv op has no argument " << arg);
}

}  // namespace

Backend::ConvSaved conv_forward_training(BackendImpl& be, const Tensor& x, const Tensor& w,
                                         const Tensor* bias, Tensor& y, const ConvGeom& g) {
  const Shape &xs = x.shape(), &ws = w.shape();
  if (xs[0] == 0) return nullptr;
  DnnlContext& ctx = cpu(be).dnnl();
  std::lock_guard<std::mutex> lock(ctx.mutex());
  const bool flat = use_2d(xs, g);
  // The forward op with its source given in the primitive's own layout.
  std::string key = conv_key("conv_forward (src in its layout)", xs, ws, bias != nullptr, g);
  auto cached = ctx.op(key, [&] {
    ConvDims d = conv_dims(xs, ws, y.shape(), g);
    auto pd = fwd_pd(ctx, d, bias ? ws[0] : 0);
    std::vector<DnnlArgSpec> specs{{DNNL_ARG_SRC, pd.src_desc(), false},
                                   {DNNL_ARG_WEIGHTS, plain_md(ws, d.flat), false},
                                   {DNNL_ARG_DST, plain_md(y.shape(), d.flat), true}};
    if (bias) specs.push_back({DNNL_ARG_BIAS, vector_md(ws[0]), false});
    return ctx.make_op(pd, dnnl::convolution_forward(pd), specs);
  });
  const memory::desc& src_md = prim_md(*cached, DNNL_ARG_SRC);
  const memory::desc plain = plain_md(xs, flat);
  std::shared_ptr<SavedInput> saved;
  const void* src = x.data();
  if (!(src_md == plain)) {  // keep the reordered input for backward
    saved = std::make_shared<SavedInput>();
    saved->md = src_md;
    saved->data = aligned_buffer(src_md.get_size());
    auto ro = reorder_op(ctx, key + " input reorder", plain, src_md);
    ctx.run(*ro, {{DNNL_ARG_FROM, x.data()}, {DNNL_ARG_TO, saved->data.get()}}, key);
    src = saved->data.get();
  }
  DnnlPtrs ptrs{{DNNL_ARG_SRC, src}, {DNNL_ARG_WEIGHTS, w.data()}, {DNNL_ARG_DST, y.data()}};
  if (bias) ptrs.emplace_back(DNNL_ARG_BIAS, bias->data());
  ctx.run(*cached, ptrs, key);
  return saved;
}

void conv_backward(BackendImpl& be, const Tensor& x, const Tensor& dy, const Tensor& w, Tensor* dx,
                   Tensor& dw, Tensor* dbias, const ConvGeom& g,
                   const Backend::ConvSaved& saved_handle) {
  const char* op = "conv_backward";
  USEG_CHECK(w.shape() == dw.shape(), op << ": weight " << w.shape().str() << " and dw "
                                         << dw.shape().str() << " differ");
  const Shape &xs = x.shape(), &ws = dw.shape();
  if (xs[0] == 0) {  // no samples: the gradients are zero
    std::memset(dw.data(), 0, dw.bytes());
    if (dbias) std::memset(dbias->data(), 0, dbias->bytes());
    return;
  }
  // Handles come from this backend's conv_forward_training for the same x (see backend.h).
  const auto* saved = static_cast<const SavedInput*>(saved_handle.get());
  DnnlContext& ctx = cpu(be).dnnl();
  std::lock_guard<std::mutex> lock(ctx.mutex());
  const bool flat = use_2d(xs, g);
  const memory::desc dy_plain = plain_md(dy.shape(), flat);
  // Backward-weights with diff_dst given in its own layout, src saved (or plain).
  std::string key = conv_key(saved ? "conv_backward_weights (saved src, dy in its layout)"
                                   : "conv_backward_weights (dy in its layout)",
                             xs, ws, dbias != nullptr, g);
  auto bw = ctx.op(key, [&] {
    ConvDims d = conv_dims(xs, ws, dy.shape(), g);
    auto hint = fwd_pd(ctx, d, dbias ? ws[0] : 0);
    auto desc = dbias ? dnnl::convolution_backward_weights::desc(
                            dnnl::algorithm::convolution_direct, any_md(d.x), any_md(d.w),
                            vector_md(ws[0]), any_md(d.y), d.strides, d.pad_l, d.pad_r)
                      : dnnl::convolution_backward_weights::desc(
                            dnnl::algorithm::convolution_direct, any_md(d.x), any_md(d.w),
                            any_md(d.y), d.strides, d.pad_l, d.pad_r);
    dnnl::convolution_backward_weights::primitive_desc pd(desc, ctx.attr(), ctx.engine(), hint);
    std::vector<DnnlArgSpec> specs{{DNNL_ARG_SRC, saved ? saved->md : plain_md(xs, d.flat), false},
                                   {DNNL_ARG_DIFF_DST, pd.diff_dst_desc(), false},
                                   {DNNL_ARG_DIFF_WEIGHTS, plain_md(ws, d.flat), true}};
    if (dbias) specs.push_back({DNNL_ARG_DIFF_BIAS, vector_md(ws[0]), true});
    return ctx.make_op(pd, dnnl::convolution_backward_weights(pd), specs);
  });
  // dy in the backward primitives' layout, in caller slot 0 (run() uses the slots above it).
  const memory::desc& dy_md = prim_md(*bw, DNNL_ARG_DIFF_DST);
  const void* dy_blk = dy.data();
  if (!(dy_md == dy_plain)) {
    void* buf = ctx.buffer(0, dy_md.get_size());
    auto ro = reorder_op(ctx, key + " dy reorder", dy_plain, dy_md);
    ctx.run(*ro, {{DNNL_ARG_FROM, dy.data()}, {DNNL_ARG_TO, buf}}, key);
    dy_blk = buf;
  }
  DnnlPtrs ptrs{{DNNL_ARG_SRC, saved ? saved->data.get() : x.data()},
                {DNNL_ARG_DIFF_DST, dy_blk},
                {DNNL_ARG_DIFF_WEIGHTS, dw.data()}};
  if (dbias) ptrs.emplace_back(DNNL_ARG_DIFF_BIAS, dbias->data());
  ctx.run(*bw, ptrs, key);
  if (!dx) return;
  // Backward-data from the same reordered dy (make_op adds a reorder only if it chose another).
  std::string dkey = conv_key("conv_backward_data (dy in the backward layout)", xs, ws, false, g);
  auto bd = ctx.op(dkey, [&] {
    ConvDims d = conv_dims(xs, ws, dy.shape(), g);
    auto hint = fwd_pd(ctx, d, 0);
    dnnl::convolution_backward_data::desc desc(dnnl::algorithm::convolution_direct, any_md(d.x),
                                               any_md(d.w), any_md(d.y), d.strides, d.pad_l,
                                               d.pad_r);
    dnnl::convolution_backward_data::primitive_desc pd(desc, ctx.attr(), ctx.engine(), hint);
    return ctx.make_op(pd, dnnl::convolution_backward_data(pd),
                       {{DNNL_ARG_DIFF_DST, dy_md, false},
                        {DNNL_ARG_WEIGHTS, plain_md(ws, d.flat), false},
                        {DNNL_ARG_DIFF_SRC, plain_md(xs, d.flat), true}});
  });
  ctx.run(*bd,
          {{DNNL_ARG_DIFF_DST, dy_blk}, {DNNL_ARG_WEIGHTS, w.data()},
           {DNNL_ARG_DIFF_SRC, dx->data()}},
          dkey);
}

void add_conv_training_ops(BackendOps& t) {
  t.conv_forward_training = conv_forward_training;
  t.conv_backward = conv_backward;
}

}  // namespace useg::cpu

// The U-Net: encoder stages joined by max pooling, decoder stages fed by a transposed conv and
// the skip of their level, a 1x1 head and optional deep-supervision heads. The structure and
// the tensor names mirror scripts/torch_unet.py.
#include "nn/unet_impl.h"

#include "useg/error.h"

namespace useg::nn {

UNetImpl::UNetImpl(const ModelConfig& c, Backend& be) : cfg(c), backend(be) {
  USEG_CHECK(cfg.dims == 2 || cfg.dims == 3, "model.dims must be 2 or 3, got " << cfg.dims);
  USEG_CHECK(cfg.depth >= 0, "model.depth must be >= 0");
  Device dev = be.device();
  for (int s = 0; s <= cfg.depth; ++s) {
    int cin = s == 0 ? cfg.in_channels : cfg.filters(s - 1);
    encoder.emplace_back("encoder." + std::to_string(s), cfg, cin, cfg.filters(s),
                         cfg.kernel(s), dev);
  }
  for (int s = 0; s < cfg.depth; ++s) {
    PoolGeom g;
    g.kernel = g.stride = cfg.pool_size(s);
    pools.push_back(g);
    std::string p = "decoder." + std::to_string(s);
    ups.emplace_back(p + ".up", cfg.dims, cfg.filters(s + 1), cfg.filters(s), cfg.pool_size(s),
                     true, dev);
    decoder.emplace_back(p + ".blocks", cfg, 2 * cfg.filters(s), cfg.filters(s), cfg.kernel(s),
                         dev);
  }
  heads.emplace_back("head", cfg.dims, cfg.filters(0), cfg.num_classes,
                     std::array<int, 3>{1, 1, 1}, false, dev);
  if (cfg.deep_supervision)
    for (int k = 0; k + 1 < cfg.depth; ++k)
      heads.emplace_back("ds_heads." + std::to_string(k), cfg.dims, cfg.filters(k + 1),
                         cfg.num_classes, std::array<int, 3>{1, 1, 1}, false, dev);
}

std::vector<Parameter*> UNetImpl::params() {
  // state_dict order of the PyTorch module: encoder, decoder (up then blocks), head, ds_heads.
  std::vector<Parameter*> p;
  for (auto& s : encoder) s.collect(p);
  for (size_t s = 0; s < decoder.size(); ++s) {
    ups[s].collect(p);
    decoder[s].collect(p);
  }
  for (auto& h : heads) h.collect(p);
  return p;
}

std::vector<Parameter*> UNetImpl::buffers() {
  std::vector<Parameter*> b;
  for (auto& s : encoder) s.collect_buffers(b);
  for (auto& s : decoder) s.collect_buffers(b);
  return b;
}

std::array<int64_t, 3> UNetImpl::size_multiple() const {
  std::array<int64_t, 3> m{1, 1, 1};
  for (const auto& g : pools)
    for (int a = 0; a < 3; ++a) m[a] *= g.kernel[a];
  return m;
}

std::vector<Tensor> UNetImpl::forward(const Tensor& x, bool training) {
  const Shape& s = x.shape();
  USEG_CHECK(s.rank() == 5 && s.c() == cfg.in_channels,
             "model input must be [N, " << cfg.in_channels << ", D, H, W], got " << s.str());
  USEG_CHECK(x.device() == backend.device(), "model input is on " << device_name(x.device())
                                                 << " but the model runs on "
                                                 << device_name(backend.device()));
  auto mult = size_multiple();
  for (int a = 0; a < 3; ++a)
    USEG_CHECK(s[2 + a] % mult[a] == 0,
               "model input " << s.str() << ": spatial size " << s[2 + a] << " on axis "
                              << "DHW"[a] << " must be a multiple of " << mult[a]
                              << " (the product of the pool sizes)");
  if (training) {
    weights_changed();  // an optimizer step usually follows
  } else if (use_plan) {
    std::vector<Tensor> outs;
    if (forward_plan(x, outs)) return outs;
  }
  uint64_t step_seed = training ? dropout_seed + 0x51ED2701ull * (++dropout_step) : 0;
  int depth = cfg.depth;
  std::vector<Tensor> skips;
  Tensor h = x;
  for (int st = 0; st <= depth; ++st) {
    h = encoder[st].forward(backend, h, training, step_seed * 131 + st);
    if (st < depth) {
      skips.push_back(h);
      Tensor p = Tensor::empty(pool_output_shape(h.shape(), pools[st]), backend.device());
      backend.maxpool_forward(h, p, pools[st]);
      h = p;
    }
  }
  if (training) pool_inputs = skips;
  std::vector<Tensor> level_out(depth > 0 ? depth : 1);
  for (int st = depth - 1; st >= 0; --st) {
    Tensor u = ups[st].forward(backend, h, training);
    const Tensor& sk = skips[st];
    Shape cs = sk.shape();
    cs[1] = u.shape().c() + sk.shape().c();
    Tensor cat = Tensor::empty(cs, backend.device());
    backend.concat_channels(u, sk, cat);
    skips[st] = Tensor();  // free the skip as soon as it is used (inference memory)
    h = decoder[st].forward(backend, cat, training, step_seed * 131 + 64 + st);
    level_out[st] = h;
  }
  std::vector<Tensor> outs;
  outs.push_back(heads[0].forward(backend, depth > 0 ? level_out[0] : h, training));
  if (training && cfg.deep_supervision)
    for (int k = 0; k + 1 < depth; ++k)
      outs.push_back(heads[1 + k].forward(backend, level_out[k + 1], training));
  last_was_training = training;
  num_outputs = outs.size();
  return outs;
}

bool UNetImpl::forward_plan(const Tensor& x, std::vector<Tensor>& outs) {
  const Shape& s = x.shape();
  if (!plan || plan->input_shape() != s) {
    plan.reset();  // free the old plan's buffers before building the new one
    plan = backend.make_inference_plan(cfg, s);
    plan_epoch = 0;
  }
  if (!plan) return false;
  if (plan_epoch != weights_epoch) {
    std::vector<const Parameter*> all;
    for (Parameter* p : params()) all.push_back(p);
    for (Parameter* p : buffers()) all.push_back(p);
    plan->set_weights(all);
    plan_epoch = weights_epoch;
  }
  Tensor y = Tensor::empty(Shape{s[0], cfg.num_classes, s[2], s[3], s[4]}, backend.device());
  plan->run(x, y);
  outs.assign(1, y);
  last_was_training = false;
  num_outputs = 1;
  return true;
}

Tensor UNetImpl::backward(const std::vector<Tensor>& d_outputs, bool need_input_grad) {
  USEG_CHECK(last_was_training, "UNet::backward needs a training-mode forward first");
  USEG_CHECK(d_outputs.size() == num_outputs,
             "UNet::backward: got " << d_outputs.size() << " output grads, the forward gave "
                                    << num_outputs << " outputs");
  USEG_CHECK(d_outputs[0].defined(), "UNet::backward: the full-resolution grad is required");
  int depth = cfg.depth;
  // Grad of each decoder level's output: the head's, plus a deep-supervision head's.
  std::vector<Tensor> d_level(std::max(depth, 1));
  d_level[0] = heads[0].backward(backend, d_outputs[0], true);
  for (size_t k = 1; k < d_outputs.size(); ++k) {
    Conv& head = heads[k];
    if (!d_outputs[k].defined()) {  // no loss on this output: zero grads for its head
      if (!head.weight.grad.defined()) {
        head.weight.grad = Tensor::empty(head.weight.value.shape(), backend.device());
        head.bias.grad = Tensor::empty(head.bias.value.shape(), backend.device());
      }
      backend.fill(head.weight.grad, 0.f);
      backend.fill(head.bias.grad, 0.f);
      continue;
    }
    d_level[k] = head.backward(backend, d_outputs[k], true);
  }
  if (depth == 0) {
    Tensor dx = encoder[0].backward(backend, d_level[0]);
    last_was_training = false;
    return need_input_grad ? dx : Tensor();
  }
  std::vector<Tensor> d_skip(depth);
  Tensor d_below;  // grad flowing into the output of the level below (deeper)
  for (int st = 0; st < depth; ++st) {
    Tensor d = d_level[st];
    if (st > 0 && d_below.defined()) {
      if (d.defined())
        backend.add(d, d_below, d);
      else
        d = d_below;
    }
    Tensor dcat = decoder[st].backward(backend, d);
    Shape us = dcat.shape(), ss = dcat.shape();
    us[1] = cfg.filters(st);
    ss[1] = dcat.shape().c() - us[1];
    Tensor du = Tensor::empty(us, backend.device());
    d_skip[st] = Tensor::empty(ss, backend.device());
    backend.split_channels(dcat, du, d_skip[st]);
    d_below = ups[st].backward(backend, du, true);
  }
  // Encoder, deepest first: d_below is now the grad of the bottleneck's output.
  Tensor d = encoder[depth].backward(backend, d_below);
  for (int st = depth - 1; st >= 0; --st) {
    Tensor dp = Tensor::empty(pool_inputs[st].shape(), backend.device());
    backend.maxpool_backward(pool_inputs[st], d, dp, pools[st]);
    backend.add(dp, d_skip[st], dp);
    d = encoder[st].backward(backend, dp);
  }
  pool_inputs.clear();
  last_was_training = false;
  return need_input_grad ? d : Tensor();
}

}  // namespace useg::nn

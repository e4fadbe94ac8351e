// conv_probe: one 3x3 convolution (default 32 -> 32 channels, 512 x 512, batch 1) straight on
// oneDNN, in the layouts and data types that matter for useg's CPU backend, to show what one
// conv reaches on this machine and which implementation oneDNN dispatches to:
//   f32 blocked   (nChw8c / nChw16c activations, weights as chosen): the inference plan's case
//   f32 plain     (nchw activations, no reorders): what a plain-layout engine would get
//   bf16 any      (bf16 activations and weights, layouts chosen by oneDNN): the bf16 question
// Prints the implementation name (e.g. jit:avx2, gemm:jit, ref) and median time / GFLOP/s.
// Not a test: timings are never asserted. Run: build/bench/conv_probe [C] [H] [W] [reps]
#include <oneapi/dnnl/dnnl.hpp>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

using namespace dnnl;
using tag = memory::format_tag;
using dt = memory::data_type;

namespace {

void probe(const char* label, engine& eng, stream& s, memory::dim C, memory::dim H,
           memory::dim W, dt type, tag act, int reps) {
  memory::dims src{1, C, H, W}, wei{C, C, 3, 3}, bias{C}, dst{1, C, H, W};
  memory::desc src_md(src, type, act), dst_md(dst, type, act);
  memory::desc wei_md(wei, type, tag::any), bias_md(bias, dt::f32, tag::a);
  try {
    convolution_forward::desc d(prop_kind::forward_inference, algorithm::convolution_direct,
                                src_md, wei_md, bias_md, dst_md, {1, 1}, {1, 1}, {1, 1});
    convolution_forward::primitive_desc pd(d, eng);
    memory sm(pd.src_desc(), eng), wm(pd.weights_desc(), eng), bm(pd.bias_desc(), eng),
        dm(pd.dst_desc(), eng);
    // Zero-filled inputs are fine for timing (no denormals, no data-dependent paths).
    for (memory* m : {&sm, &wm, &bm})
      std::fill_n(static_cast<char*>(m->get_data_handle()), m->get_desc().get_size(), 0);
    convolution_forward conv(pd);
    std::vector<double> ms;
    for (int i = 0; i <= reps; ++i) {
      auto t0 = std::chrono::steady_clock::now();
      conv.execute(s, {{DNNL_ARG_SRC, sm}, {DNNL_ARG_WEIGHTS, wm}, {DNNL_ARG_BIAS, bm},
                       {DNNL_ARG_DST, dm}});
      s.wait();
      if (i > 0)  // the first run is a warm-up
        ms.push_back(std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() -
                                                               t0).count());
    }
    std::sort(ms.begin(), ms.end());
    double med = ms[ms.size() / 2];
    double gflop = 2.0 * C * C * 9 * H * W * 1e-9;
    std::printf("%-14s %-22s %9.2f ms %8.1f GFLOP/s\n", label, pd.impl_info_str(), med,
                gflop / (med * 1e-3));
  } catch (const dnnl::error& e) {
    std::printf("%-14s not available: %s (status %d)\n", label, e.what(), int(e.status));
  }
}

}  // namespace

int main(int argc, char** argv) {
  memory::dim C = argc > 1 ? std::atol(argv[1]) : 32;
  memory::dim H = argc > 2 ? std::atol(argv[2]) : 512;
  memory::dim W = argc > 3 ? std::atol(argv[3]) : 512;
  int reps = argc > 4 ? std::atoi(argv[4]) : 9;
  engine eng(engine::kind::cpu, 0);
  stream s(eng);
  auto isa = get_effective_cpu_isa();
  bool wide = (static_cast<unsigned>(isa) & ~static_cast<unsigned>(cpu_isa::avx2)) != 0;
  std::printf("oneDNN %d.%d.%d, effective ISA code 0x%x (%s), conv %ldx%ld 3x3, %ld x %ld\n",
              version()->major, version()->minor, version()->patch, unsigned(isa),
              wide ? "wider than AVX2" : "AVX2 or narrower", long(C), long(C), long(H), long(W));
  probe("f32 blocked", eng, s, C, H, W, dt::f32, wide ? tag::nChw16c : tag::nChw8c, reps);
  probe("f32 plain", eng, s, C, H, W, dt::f32, tag::nchw, reps);
  probe("bf16 any", eng, s, C, H, W, dt::bf16, tag::any, reps);
  return 0;
}

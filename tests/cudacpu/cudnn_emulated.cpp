// cudacpu executes our kernels on the CPU but cannot run cuDNN, so the cudacpu test binary is
// linked with this make_cudnn_conv instead of cuda/cudnn_conv.cpp: an emulation of cuDNN's three
// convolution routines with the naive double-precision convolutions of src/ops/conv/ref.h.
// It reads and writes exactly what CudnnConv::run's contract says cuDNN gets — float32 NCDHW, or
// for fp16/bf16 the NDHWC half/bfloat16 copies (filters [K, kD, kH, kW, C]) — using the problem's
// dims, not the backend's tensors. So the whole CUDA convolution path runs under cudacpu: the op
// -> routine mapping, the operand swap, the channels-last casts of the mixed-precision mode (a
// tensor cast with the wrong [N, C, S] view comes out scrambled), the bias kernels and the layers
// above. What it cannot tell: anything cuDNN itself does (descriptors, algorithms, TF32).
// Under cudacpu, device memory is host memory (reachable from the host only inside a
// cudacpu::DeviceAccess scope) and launches complete before they return.
#include <vector>

#include "cuda/cudnn_conv.h"
#include "ops/channels_last/launch.h"
#include "ops/conv/ref.h"
#include "useg/error.h"

namespace useg::gpu {
namespace {

Shape shape_of(const std::array<int, 5>& d) { return Shape{d[0], d[1], d[2], d[3], d[4]}; }

class CudnnEmulated final : public CudnnConv {
 public:
  CudnnEmulated(cudaStream_t stream, Precision p) : m_stream(stream), m_precision(p) {}

  // Queued on the handle's stream, as cuDNN's work is: it runs in order with the kernels there
  // when the stream runs (cudacpu's streams run late: tools/cudacpu/include/cudacpu_streams.h).
  void run(const char* op, ConvRoutine routine, const ConvProblem& p, const void* a,
           const void* b, void* out) override {
    USEG_CHECK(p.dilation == (std::array<int, 3>{1, 1, 1}), op << ": emulated cuDNN: dilation");
    // A copy of this object (stream and precision) runs it: the handle may be gone by then.
    cudacpu::submit(m_stream, [self = *this, routine, p, a, b, out] {
      self.compute(routine, p, a, b, out);
    });
  }

 private:
  void compute(ConvRoutine routine, const ConvProblem& p, const void* a, const void* b,
               void* out) const {
    // Plays the device library: reads and writes device memory from the host, which cudacpu
    // allows only inside such a scope (tools/cudacpu/include/cudacpu_guard.h).
    cudacpu::DeviceAccess device_side;
    const Shape xs = shape_of(p.x), ws = shape_of(p.w), ys = shape_of(p.y);
    ConvGeom g;
    g.pad = p.pad;
    g.stride = p.stride;
    g.kernel = {p.w[2], p.w[3], p.w[4]};
    switch (routine) {
      case ConvRoutine::Forward:
        store(ref::conv_forward(load(a, xs), load(b, ws), nullptr, g).v, ys, out);
        return;
      case ConvRoutine::BackwardData:
        store(ref::conv_backward_data(load(b, ys), load(a, ws), xs, g).v, xs, out);
        return;
      case ConvRoutine::BackwardFilter:
        store(ref::conv_backward_weights(load(a, xs), load(b, ys), ws, g).v, ws, out);
        return;
    }
  }

  // An operand of shape s (NCDHW dims) as NCDHW doubles.
  ref::Array load(const void* p, const Shape& s) const {
    std::vector<float> f(size_t(s.numel()));
    if (!is_half(m_precision)) {
      const float* src = static_cast<const float*>(p);
      f.assign(src, src + s.numel());
    } else if (m_precision == Precision::Fp16) {
      launch_half_ndhwc_to_float(p, f.data(), s.n(), s.c(), s.spatial(), nullptr);
    } else {
      launch_bf16_ndhwc_to_float(p, f.data(), s.n(), s.c(), s.spatial(), nullptr);
    }
    return ref::Array(s, std::vector<double>(f.begin(), f.end()));
  }

  // The result (NCDHW doubles of shape s) rounded to float32, then written as cuDNN would.
  void store(const std::vector<double>& v, const Shape& s, void* out) const {
    std::vector<float> f(v.begin(), v.end());
    if (!is_half(m_precision)) {
      std::copy(f.begin(), f.end(), static_cast<float*>(out));
    } else if (m_precision == Precision::Fp16) {
      launch_float_to_half_ndhwc(f.data(), out, s.n(), s.c(), s.spatial(), nullptr);
    } else {
      launch_float_to_bf16_ndhwc(f.data(), out, s.n(), s.c(), s.spatial(), nullptr);
    }
  }

  cudaStream_t m_stream;
  Precision m_precision;
};

}  // namespace

std::unique_ptr<CudnnConv> make_cudnn_conv(cudaStream_t stream, DeviceAllocator&,
                                           Precision precision) {
  return std::make_unique<CudnnEmulated>(stream, precision);
}

}  // namespace useg::gpu

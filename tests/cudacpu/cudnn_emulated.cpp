// cudacpu executes our kernels on the CPU but cannot run cuDNN, so the cudacpu test binary is
// linked with this make_cudnn_conv instead of cuda/cudnn_conv.cpp: an emulation of cuDNN's three
// convolution routines with the naive double-precision convolutions of src/ops/conv/ref.h.
// It reads and writes exactly what CudnnConv::run's contract says cuDNN gets — float32 NCDHW, or
// for fp16/bf16 the NDHWC half/bfloat16 copies (filters [K, kD, kH, kW, C]) — addressed through
// the dims, strides, filter format and geometry cudnn_conv.cpp puts in the descriptors
// (cudnn_dims: 4-D for a 2-D problem), not the backend's tensors. So the whole CUDA convolution
// path runs under cudacpu: the op -> routine mapping, the operand swap, the descriptors' numbers,
// the channels-last casts of the mixed-precision mode (a tensor cast with the wrong [N, C, S]
// view comes out scrambled), the bias kernels and the layers above. What it cannot tell:
// anything cuDNN itself does (whether it accepts the descriptors, algorithms, TF32).
// Under cudacpu, device memory is host memory (reachable from the host only inside a
// cudacpu::DeviceAccess scope) and launches complete before they return.
#include <vector>

#include "cuda/cudnn_conv.h"
#include "ops/channels_last/launch.h"
#include "ops/conv/ref.h"
#include "useg/error.h"

namespace useg::gpu {
namespace {

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
    // What cuDNN gets is the descriptors, so everything below comes from them (cudnn_dims, as
    // cudnn_conv.cpp builds them: 4-D for a 2-D problem): a wrong dim, stride or pad there
    // computes a wrong convolution here.
    const TensorLayout l = conv_layout(m_precision);
    const CudnnDims d = cudnn_dims(p, l, cudnn_allow_2d());
    const Shape xs = shape_of(d.rank, d.x), ws = shape_of(d.rank, d.w), ys = shape_of(d.rank, d.y);
    const std::array<int64_t, 5> xst = strides_of(d.rank, d.x_strides),
                                 yst = strides_of(d.rank, d.y_strides),
                                 wst = filter_strides(d.rank, d.w, l);
    ConvGeom g;
    const int lead = 5 - d.rank;  // 1 for a 2-D convolution: no depth
    for (int i = 0; i < 3; ++i) {
      const bool depth = i < lead;
      g.pad[i] = depth ? 0 : d.pad[i - lead];
      g.stride[i] = depth ? 1 : d.stride[i - lead];
      g.kernel[i] = int(ws[2 + i]);
    }
    switch (routine) {
      case ConvRoutine::Forward:
        store(ref::conv_forward(load(a, xs, xst), load(b, ws, wst), nullptr, g).v, ys, yst, out);
        return;
      case ConvRoutine::BackwardData:
        store(ref::conv_backward_data(load(b, ys, yst), load(a, ws, wst), xs, g).v, xs, xst, out);
        return;
      case ConvRoutine::BackwardFilter:
        store(ref::conv_backward_weights(load(a, xs, xst), load(b, ys, yst), ws, g).v, ws, wst,
              out);
        return;
    }
  }

  // A descriptor's dims as an NCDHW shape (a 4-D one with D = 1) and its strides in that order.
  static Shape shape_of(int rank, const std::array<int, 5>& d) {
    return rank == 4 ? Shape{d[0], d[1], 1, d[2], d[3]} : Shape{d[0], d[1], d[2], d[3], d[4]};
  }
  static std::array<int64_t, 5> strides_of(int rank, const std::array<int, 5>& s) {
    if (rank == 4) return {s[0], s[1], 0, s[2], s[3]};
    return {s[0], s[1], s[2], s[3], s[4]};
  }
  // A filter descriptor has a format instead of strides: CUDNN_TENSOR_NCHW = packed in the dims'
  // order [K, C, (kD,) kH, kW]; CUDNN_TENSOR_NHWC = [K, (kD,) kH, kW, C] (TensorLayout::Ndhwc).
  static std::array<int64_t, 5> filter_strides(int rank, const std::array<int, 5>& d,
                                               TensorLayout l) {
    std::vector<int> order;  // dims from innermost to outermost in memory
    if (l == TensorLayout::Ncdhw) {
      for (int i = rank - 1; i >= 0; --i) order.push_back(i);
    } else {
      order.push_back(1);
      for (int i = rank - 1; i >= 2; --i) order.push_back(i);
      order.push_back(0);
    }
    std::array<int, 5> s{};
    int64_t stride = 1;
    for (int i : order) {
      s[size_t(i)] = int(stride);
      stride *= d[size_t(i)];
    }
    return strides_of(rank, s);
  }

  // An operand of shape s (NCDHW) laid out in memory by `st`, as NCDHW doubles.
  ref::Array load(const void* p, const Shape& s, const std::array<int64_t, 5>& st) const {
    const std::vector<float> mem = to_float(p, s.numel());
    std::vector<double> v(size_t(s.numel()));
    size_t i = 0;
    for_each_index(s, [&](int64_t at) { v[i++] = mem[size_t(at)]; }, st);
    return ref::Array(s, std::move(v));
  }

  // The result (NCDHW doubles of shape s) rounded to float32, then written by `st` in the
  // precision's type, as cuDNN would.
  void store(const std::vector<double>& v, const Shape& s, const std::array<int64_t, 5>& st,
             void* out) const {
    std::vector<float> mem(size_t(s.numel()));
    size_t i = 0;
    for_each_index(s, [&](int64_t at) { mem[size_t(at)] = float(v[i++]); }, st);
    const int64_t n = s.numel();
    if (!is_half(m_precision)) {
      std::copy(mem.begin(), mem.end(), static_cast<float*>(out));
    } else if (m_precision == Precision::Fp16) {  // one channel: the cast keeps the order
      launch_float_to_half_ndhwc(mem.data(), out, 1, 1, n, nullptr);
    } else {
      launch_float_to_bf16_ndhwc(mem.data(), out, 1, 1, n, nullptr);
    }
  }

  // n elements of the precision's type, in memory order, as floats.
  std::vector<float> to_float(const void* p, int64_t n) const {
    std::vector<float> f(static_cast<size_t>(n));
    if (!is_half(m_precision)) {
      const float* src = static_cast<const float*>(p);
      f.assign(src, src + n);
    } else if (m_precision == Precision::Fp16) {
      launch_half_ndhwc_to_float(p, f.data(), 1, 1, n, nullptr);
    } else {
      launch_bf16_ndhwc_to_float(p, f.data(), 1, 1, n, nullptr);
    }
    return f;
  }

  // Calls f(memory offset) for every element of s in NCDHW order.
  template <class F>
  static void for_each_index(const Shape& s, F f, const std::array<int64_t, 5>& st) {
    for (int64_t n = 0; n < s[0]; ++n)
      for (int64_t c = 0; c < s[1]; ++c)
        for (int64_t z = 0; z < s[2]; ++z)
          for (int64_t y = 0; y < s[3]; ++y)
            for (int64_t x = 0; x < s[4]; ++x)
              f(n * st[0] + c * st[1] + z * st[2] + y * st[3] + x * st[4]);
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

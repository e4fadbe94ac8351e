#include "cuda/host/conv_problem.h"

#include <climits>
#include <cstdint>
#include <cstdlib>
#include <sstream>

#include "useg/error.h"

namespace useg::gpu {
namespace {

// cuDNN's legacy descriptors hold int dims, and its kernels index with 32 bits.
std::array<int, 5> dims_of(const char* op, const char* name, const Shape& s) {
  USEG_CHECK(s.rank() == 5, op << ": " << name << " " << s.str() << " must be rank 5");
  USEG_CHECK(s.numel() <= INT_MAX, op << ": " << name << " " << s.str() << " has " << s.numel()
                                      << " elements, more than cuDNN's 32-bit limit "
                                      << INT_MAX << " (use smaller windows or batches)");
  std::array<int, 5> d{};
  for (int i = 0; i < 5; ++i) d[i] = int(s[i]);
  return d;
}

ConvProblem make(const char* op, const Shape& in, const Shape& filter, const Shape& out,
                 const ConvGeom& g) {
  ConvProblem p;
  p.x = dims_of(op, "input", in);
  p.w = dims_of(op, "weight", filter);
  p.y = dims_of(op, "output", out);
  p.pad = g.pad;
  p.stride = g.stride;
  return p;
}

void put(std::ostream& os, const char* name, const int* v, int n) {
  os << " " << name << " [";
  for (int i = 0; i < n; ++i) os << (i ? ", " : "") << v[i];
  os << "]";
}

}  // namespace

const char* routine_name(ConvRoutine r) {
  switch (r) {
    case ConvRoutine::Forward: return "forward";
    case ConvRoutine::BackwardData: return "backward_data";
    case ConvRoutine::BackwardFilter: return "backward_filter";
  }
  return "?";
}

bool ConvProblem::operator==(const ConvProblem& o) const {
  return x == o.x && w == o.w && y == o.y && pad == o.pad && stride == o.stride &&
         dilation == o.dilation;
}

ConvProblem conv_problem(const char* op, const Shape& x, const Shape& w, const Shape& y,
                         const ConvGeom& g) {
  return make(op, x, w, y, g);
}

ConvProblem deconv_problem(const char* op, const Shape& x, const Shape& w, const Shape& y,
                           const ConvGeom& g) {
  // The convolution y -> x whose data gradient is the transposed convolution x -> y; the weight
  // [Ci, Co, k] is already cuDNN's [K, C, k] of that convolution.
  return make(op, y, w, x, g);
}

ConvCall conv_call(const char* op, ConvPass pass, bool transposed, const Shape& x, const Shape& w,
                   const Shape& y, const ConvGeom& g) {
  const ConvProblem p = transposed ? deconv_problem(op, x, w, y, g) : conv_problem(op, x, w, y, g);
  switch (pass) {
    case ConvPass::Forward:  // conv: Forward(x, w); transposed: BackwardData(w, x)
      return transposed ? ConvCall{ConvRoutine::BackwardData, p, true}
                        : ConvCall{ConvRoutine::Forward, p, false};
    case ConvPass::BackwardData:  // (dy, w) -> dx. conv: BackwardData(w, dy); transposed:
                                  // Forward(dy, w)
      return transposed ? ConvCall{ConvRoutine::Forward, p, false}
                        : ConvCall{ConvRoutine::BackwardData, p, true};
    case ConvPass::BackwardWeights:  // (x, dy) -> dw. conv: BackwardFilter(x, dy); transposed:
                                     // BackwardFilter(dy, x)
      return ConvCall{ConvRoutine::BackwardFilter, p, transposed};
  }
  USEG_THROW(op << ": unknown convolution pass " << int(pass));
}

std::array<int, 5> packed_strides(const std::array<int, 5>& dims) {
  std::array<int, 5> s{};
  int stride = 1;
  for (int i = 4; i >= 0; --i) {
    s[i] = stride;
    stride *= dims[i] > 0 ? dims[i] : 1;
  }
  return s;
}

const char* layout_name(TensorLayout l) {
  switch (l) {
    case TensorLayout::Ncdhw: return "ncdhw";
    case TensorLayout::Ndhwc: return "ndhwc";
  }
  return "?";
}

std::array<int, 5> layout_strides(const std::array<int, 5>& dims, TensorLayout l) {
  if (l == TensorLayout::Ncdhw) return packed_strides(dims);
  // Innermost first: C, then W, H, D, N.
  std::array<int, 5> s{};
  int stride = 1;
  for (int i : {1, 4, 3, 2, 0}) {
    s[i] = stride;
    stride *= dims[i] > 0 ? dims[i] : 1;
  }
  return s;
}

bool is_2d(const ConvProblem& p) {
  return p.x[2] == 1 && p.w[2] == 1 && p.y[2] == 1 && p.pad[0] == 0;
}

CudnnDims cudnn_dims(const ConvProblem& p, TensorLayout l, bool allow_2d) {
  CudnnDims d;
  d.x = p.x;
  d.y = p.y;
  d.w = p.w;
  d.x_strides = layout_strides(p.x, l);
  d.y_strides = layout_strides(p.y, l);
  d.pad = p.pad;
  d.stride = p.stride;
  d.dilation = p.dilation;
  if (!allow_2d || !is_2d(p)) return d;
  // Drop the depth: index 2 of the tensors, index 0 of the convolution's arrays.
  auto drop = [](std::array<int, 5>& a) {
    a = {a[0], a[1], a[3], a[4], 0};
  };
  for (auto* a : {&d.x, &d.y, &d.w, &d.x_strides, &d.y_strides}) drop(*a);
  for (auto* a : {&d.pad, &d.stride, &d.dilation}) *a = {(*a)[1], (*a)[2], 0};
  d.rank = 4;
  return d;
}

bool cudnn_allow_2d() {
  static const bool allow = [] {
    const char* v = std::getenv("USEG_CUDNN_5D");
    return !(v && std::string(v) == "1");
  }();
  return allow;
}

bool ConvKey::operator==(const ConvKey& o) const {
  return problem == o.problem && routine == o.routine && precision == o.precision &&
         layout == o.layout;
}

size_t ConvKeyHash::operator()(const ConvKey& k) const {
  // FNV-1a over every integer of the key.
  uint64_t h = 1469598103934665603ull;
  auto mix = [&h](int v) {
    h ^= uint64_t(uint32_t(v));
    h *= 1099511628211ull;
  };
  for (const auto* a : {&k.problem.x, &k.problem.w, &k.problem.y})
    for (int v : *a) mix(v);
  for (const auto* a : {&k.problem.pad, &k.problem.stride, &k.problem.dilation})
    for (int v : *a) mix(v);
  mix(int(k.routine));
  mix(int(k.precision));
  mix(int(k.layout));
  return size_t(h);
}

std::string to_string(const ConvKey& k) {
  std::ostringstream os;
  os << routine_name(k.routine);
  put(os, "x", k.problem.x.data(), 5);
  put(os, "w", k.problem.w.data(), 5);
  put(os, "y", k.problem.y.data(), 5);
  put(os, "pad", k.problem.pad.data(), 3);
  put(os, "stride", k.problem.stride.data(), 3);
  os << " " << precision_name(k.precision) << " " << layout_name(k.layout);
  return os.str();
}

}  // namespace useg::gpu

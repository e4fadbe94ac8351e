// Activations on the CPU: OpenMP loops over ops/activation/activation.h, one loop per kind.
#include "ops/activation/activation.h"

#include <array>
#include <cstdint>
#include <cstring>

#if defined(__SSE2__)
#include <immintrin.h>
#endif

#include "cpu/cpu_backend.h"
#include "cpu/parallel.h"
#include "useg/error.h"

namespace useg::cpu {
namespace {

static_assert(int(Activation::Identity) == ops::kActIdentity &&
                  int(Activation::ReLU) == ops::kActReLU &&
                  int(Activation::LeakyReLU) == ops::kActLeakyReLU &&
                  int(Activation::Sigmoid) == ops::kActSigmoid &&
                  int(Activation::Tanh) == ops::kActTanh,
              "ops::ActKind must number the activations as useg::Activation");

// One loop per activation kind, so the dispatch in ops::activation_* folds away.
template <int Kind>
void activation_forward_loop(float alpha, const float* x, float* y, int64_t n) {
#pragma omp parallel for simd schedule(static) if (parallel : n >= kParallelMin)
  for (int64_t i = 0; i < n; ++i) y[i] = ops::activation_forward(Kind, alpha, x[i]);
}

template <int Kind>
void activation_backward_loop(float alpha, const float* x, const float* y, const float* dy,
                              float* dx, int64_t n) {
#pragma omp parallel for simd schedule(static) if (parallel : n >= kParallelMin)
  for (int64_t i = 0; i < n; ++i) dx[i] = ops::activation_backward(Kind, alpha, x[i], y[i], dy[i]);
}

}  // namespace

void activation_forward(BackendImpl& be, Activation a, float alpha, const Tensor& x, Tensor& y) {
  const char* op = "activation_forward";
  const float* xp = x.data();
  float* yp = y.data();
  const int64_t n = x.numel();
  switch (a) {
    case Activation::Identity:
      if (xp != yp) std::memcpy(yp, xp, x.bytes());
      return;
    case Activation::ReLU: return activation_forward_loop<ops::kActReLU>(alpha, xp, yp, n);
    case Activation::LeakyReLU:
      return activation_forward_loop<ops::kActLeakyReLU>(alpha, xp, yp, n);
    case Activation::Sigmoid: return activation_forward_loop<ops::kActSigmoid>(alpha, xp, yp, n);
    case Activation::Tanh: return activation_forward_loop<ops::kActTanh>(alpha, xp, yp, n);
  }
  USEG_THROW(op << ": unknown activation " << int(a));
}

void activation_backward(BackendImpl& be, Activation a, float alpha, const Tensor& x,
                         const Tensor& y, const Tensor& dy, Tensor& dx) {
  const char* op = "activation_backward";
  const float* xp = x.data();
  const float* yp = y.data();
  const float* dyp = dy.data();
  float* dxp = dx.data();
  const int64_t n = dy.numel();
  switch (a) {
    case Activation::Identity:
      if (dxp != dyp) std::memcpy(dxp, dyp, dy.bytes());
      return;
    case Activation::ReLU:
      return activation_backward_loop<ops::kActReLU>(alpha, xp, xp, dyp, dxp, n);
    case Activation::LeakyReLU:
      return activation_backward_loop<ops::kActLeakyReLU>(alpha, xp, xp, dyp, dxp, n);
    case Activation::Sigmoid:
      return activation_backward_loop<ops::kActSigmoid>(alpha, yp, yp, dyp, dxp, n);
    case Activation::Tanh:
      return activation_backward_loop<ops::kActTanh>(alpha, yp, yp, dyp, dxp, n);
  }
  USEG_THROW(op << ": unknown activation " << int(a));
}

// The sign-bit loops run over whole 32-element words, vectorized at the baseline ISA: the
// backward with the bit masks from a table (SSE2 has no per-lane variable shift), the packing
// with SSE2's compare + movemask; activation.h's scalar code finishes a last partial word.
constexpr std::array<uint32_t, 32> kBit = [] {
  std::array<uint32_t, 32> b{};
  for (int i = 0; i < 32; ++i) b[i] = uint32_t(1) << i;
  return b;
}();

void activation_sign_bits(BackendImpl& be, const Tensor& t, Tensor& bits) {
  const float* tp = t.data();
  auto* bp = reinterpret_cast<uint32_t*>(bits.data());
  const int64_t n = t.numel(), full = n / ops::kSignBitsPerWord;
#pragma omp parallel for schedule(static) if (parallel : n >= kParallelMin)
  for (int64_t w = 0; w < full; ++w) {
    const float* tw = tp + w * ops::kSignBitsPerWord;
#if defined(__SSE2__)
    // (t > 0) of 4 lanes at a time as a 4-bit mask (the compiler does not vectorize the OR
    // reduction over a table: 10x slower than this at 2 x 16 x 96^3).
    const __m128 zero = _mm_setzero_ps();
    uint32_t word = 0;
    for (int i = 0; i < ops::kSignBitsPerWord; i += 4)
      word |= uint32_t(_mm_movemask_ps(_mm_cmpgt_ps(_mm_loadu_ps(tw + i), zero))) << i;
    bp[w] = word;
#else
    bp[w] = ops::sign_bits_word(tw, ops::kSignBitsPerWord, 0);
#endif
  }
  if (full < ops::sign_bit_words(n)) bp[full] = ops::sign_bits_word(tp, n, full);
}

template <int Kind>
void backward_bits_loop(float alpha, const uint32_t* bp, const float* dyp, float* dxp, int64_t n) {
  const int64_t full = n / ops::kSignBitsPerWord;
#pragma omp parallel for schedule(static) if (parallel : n >= kParallelMin)
  for (int64_t w = 0; w < full; ++w) {
    const uint32_t word = bp[w];
    const int64_t base = w * ops::kSignBitsPerWord;
#pragma omp simd
    for (int i = 0; i < ops::kSignBitsPerWord; ++i)
      dxp[base + i] =
          ops::activation_backward_from_sign(Kind, alpha, (word & kBit[i]) != 0, dyp[base + i]);
  }
  for (int64_t i = full * ops::kSignBitsPerWord; i < n; ++i)
    dxp[i] = ops::activation_backward_from_sign(Kind, alpha, ops::sign_bit(bp, i), dyp[i]);
}

void activation_backward_bits(BackendImpl& be, Activation a, float alpha, const Tensor& bits,
                              const Tensor& dy, Tensor& dx) {
  const auto* bp = reinterpret_cast<const uint32_t*>(bits.data());
  if (a == Activation::ReLU)
    return backward_bits_loop<ops::kActReLU>(alpha, bp, dy.data(), dx.data(), dy.numel());
  backward_bits_loop<ops::kActLeakyReLU>(alpha, bp, dy.data(), dx.data(), dy.numel());
}

void add_activation_ops(BackendOps& t) {
  t.activation_forward = activation_forward;
  t.activation_backward = activation_backward;
  t.activation_sign_bits = activation_sign_bits;
  t.activation_backward_bits = activation_backward_bits;
}

}  // namespace useg::cpu

// Stride == kernel transposed convolutions as matrix products (see cpu_deconv_gemm.h).
//
// The work is cut into items of whole input rows — sample s, a band of rows [r0, r1) of the
// sample's d*h rows (row r = z*h + y) of about kItemPositions positions — so that an item's product (Co*K rows of L
// positions) stays in the core's cache between the sgemm that writes it and the shuffle that
// reads it. Items run in parallel, each sgemm on one thread (oneDNN runs sgemm serially inside
// a parallel region). One product over whole samples took 11-17 ms for the 3D U-Net's last
// up-sampling (its 33.5 MB product went through memory twice); by items, see docs.
#include "ops/conv/cpu_deconv_gemm.h"

#include <algorithm>
#include <vector>

#include "core/host_memory.h"
#include "ops/conv/cpu_gemm.h"
#include "cpu/parallel.h"
#include "useg/error.h"

namespace useg::cpu {

namespace {

constexpr int64_t kItemPositions = 2048;

// One sample's sizes (input grid d, h, w; kernel kd, kh, kw) and the cut into items.
struct Layout {
  int64_t n, ci, co, d, h, w, kd, kh, kw;
  int64_t rows_per_item, bands;
  int64_t positions() const { return d * h * w; }
  int64_t taps() const { return kd * kh * kw; }
  int64_t items() const { return n * bands; }
  int64_t out_plane() const { return (d * kd) * (h * kh) * (w * kw); }
  int64_t max_item_positions() const { return rows_per_item * w; }
};

Layout layout_of(const Shape& x, int64_t co, const ConvGeom& g) {
  Layout l{x[0], x[1], co, x[2], x[3], x[4], g.kernel[0], g.kernel[1], g.kernel[2], 1, 1};
  l.rows_per_item = std::clamp<int64_t>(kItemPositions / std::max<int64_t>(l.w, 1), 1, l.d * l.h);
  l.bands = (l.d * l.h + l.rows_per_item - 1) / l.rows_per_item;
  return l;
}

struct Item {
  int64_t index, s, r0, r1;
  int64_t length(const Layout& l) const { return (r1 - r0) * l.w; }
  int64_t input_offset(const Layout& l) const { return r0 * l.w; }  // within a channel
};

Item item_of(const Layout& l, int64_t i) {
  const int64_t band = i % l.bands, s = i / l.bands, r0 = band * l.rows_per_item;
  return {i, s, r0, std::min(l.d * l.h, r0 + l.rows_per_item)};
}

// Between an item's product (Co*K rows of its L positions, row = channel * K + tap) and its
// part of the output grid of sample it.s: to_grid writes out = Z (+ bias), else Z = grid.
void shuffle(const Layout& l, const Item& it, float* z, const float* grid_in, float* grid_out,
             const float* bias, bool to_grid) {
  const int64_t K = l.taps(), L = it.length(l), ow = l.w * l.kw, oh = l.h * l.kh;
  for (int64_t o = 0; o < l.co; ++o) {
    const int64_t plane = (it.s * l.co + o) * l.out_plane();
    const float add = bias ? bias[o] : 0.f;
    for (int64_t r = it.r0; r < it.r1; ++r)
      for (int64_t a = 0; a < l.kd; ++a)
        for (int64_t b = 0; b < l.kh; ++b) {
          const int64_t zz = r / l.h, y = r % l.h;
          const int64_t line = plane + ((zz * l.kd + a) * oh + y * l.kh + b) * ow;
          for (int64_t c = 0; c < l.kw; ++c) {
            float* zrow = z + (o * K + (a * l.kh + b) * l.kw + c) * L + (r - it.r0) * l.w;
            if (to_grid) {
              float* out = grid_out + line + c;
              for (int64_t x = 0; x < l.w; ++x) out[x * l.kw] = zrow[x] + add;
            } else {
              const float* in = grid_in + line + c;
              for (int64_t x = 0; x < l.w; ++x) zrow[x] = in[x * l.kw];
            }
          }
        }
  }
}

// Runs body(item, thread's buffer of Co*K*L floats) over all items in parallel.
template <class Body>
void for_items(const Layout& l, Body body) {
  const int64_t buf = l.co * l.taps() * l.max_item_positions();
  const bool parallel = l.items() > 1 && l.n * l.ci * l.positions() * l.taps() >= kParallelMin / 8;
#pragma omp parallel if (parallel)
  {
    std::vector<float> z(static_cast<size_t>(buf));
#pragma omp for schedule(static)
    for (int64_t i = 0; i < l.items(); ++i) body(item_of(l, i), z.data());
  }
}

}  // namespace

bool is_stride_kernel_deconv(const ConvGeom& g) {
  for (int a = 0; a < 3; ++a)
    if (g.kernel[a] != g.stride[a] || g.pad[a] != 0) return false;
  return true;
}

void deconv_gemm_forward(const Tensor& x, const Tensor& w, const Tensor* bias, Tensor& y,
                         const ConvGeom& g) {
  const Layout l = layout_of(x.shape(), w.shape()[1], g);
  const int64_t coK = l.co * l.taps(), P = l.positions();
  for_items(l, [&](const Item& it, float* z) {
    // W is [Ci, Co*K] row-major: Z = W^T X_item.
    const float* xi = x.data() + it.s * l.ci * P + it.input_offset(l);
    sgemm('T', 'N', coK, it.length(l), l.ci, w.data(), coK, xi, P, 0.f, z, it.length(l));
    shuffle(l, it, z, nullptr, y.data(), bias ? bias->data() : nullptr, true);
  });
}

void deconv_gemm_backward_data(const Tensor& dy, const Tensor& w, Tensor& dx, const ConvGeom& g) {
  const Layout l = layout_of(dx.shape(), w.shape()[1], g);
  const int64_t coK = l.co * l.taps(), P = l.positions();
  for_items(l, [&](const Item& it, float* gz) {
    shuffle(l, it, gz, dy.data(), nullptr, nullptr, false);
    // dx_item (Ci x L) = W (Ci x Co*K) G_item (Co*K x L)
    float* out = dx.data() + it.s * l.ci * P + it.input_offset(l);
    sgemm('N', 'N', l.ci, it.length(l), coK, w.data(), coK, gz, it.length(l), 0.f, out, P);
  });
}

void deconv_gemm_backward_weights(const Tensor& x, const Tensor& dy, Tensor& dw, Tensor* dbias,
                                  const ConvGeom& g) {
  const Layout l = layout_of(x.shape(), dw.shape()[1], g);
  const int64_t coK = l.co * l.taps(), P = l.positions(), per = l.ci * coK;
  // One partial dW per item, added in item order: the same sums for any number of threads.
  // (host_buffer: no zero-filling; every item's product overwrites its part)
  auto partial_buf = host_buffer(size_t(l.items() * per) * sizeof(float));
  float* partial = static_cast<float*>(partial_buf.get());
  for_items(l, [&](const Item& it, float* gz) {
    shuffle(l, it, gz, dy.data(), nullptr, nullptr, false);
    const int64_t i = it.index;
    const float* xi = x.data() + it.s * l.ci * P + it.input_offset(l);
    // dW_item (Ci x Co*K) = X_item (Ci x L) G_item^T (L x Co*K)
    sgemm('N', 'T', l.ci, coK, it.length(l), xi, P, gz, it.length(l), 0.f,
          partial + i * per, coK);
  });
  float* out = dw.data();
#pragma omp parallel for schedule(static) if (per * l.items() >= kParallelMin)
  for (int64_t j = 0; j < per; ++j) {
    float acc = 0.f;
    for (int64_t i = 0; i < l.items(); ++i) acc += partial[size_t(i * per + j)];
    out[j] = acc;
  }
  if (dbias) channel_sums(dy.data(), l.n, l.co, l.out_plane(), dbias->data());
}

}  // namespace useg::cpu

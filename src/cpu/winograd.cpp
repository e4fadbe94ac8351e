// Winograd F(2,3) convolution on the 8-channel blocked layout (the math and the layouts are in
// winograd.h). One run() goes over blocks of `nb` output tiles, each block on one thread:
//   1. input transform: every 4x4 (x4) input patch of the block's tiles, 8 channels per AVX2
//      register, becomes alpha values V[xi][tile][c] (zeros outside the image);
//   2. alpha products M[xi] = V[xi] [nb x Cp] * U[xi] [Cp x Kp] with a 6x16 FMA micro-kernel
//      (U = the transformed weights, prepared once in set_weights);
//   3. output transform: every tile's alpha values per 8 output channels become the 2x2 (x2)
//      outputs, + bias, activation, stored blocked (clipped at the image's edge).
// V and M of a block are sized to stay in the core's L2 where the weights are small, and to at
// least 64 tiles where the weights are large (so U is streamed once per 64 tiles, not per 6).
#include "cpu/winograd.h"

#include <immintrin.h>
#include <omp.h>

#include <algorithm>
#include <stdexcept>

#define USEG_AVX2 __attribute__((target("avx2,fma")))

namespace useg::cpu {

namespace {

constexpr int kRows = 6;   // tiles per micro-kernel call
constexpr int kCols = 16;  // output channels per micro-kernel call (two registers)
constexpr int64_t kChunk = 128;  // input channels per micro-kernel call (U chunk: 8 KB)

int64_t round_up(int64_t v, int64_t m) { return (v + m - 1) / m * m; }

// The 1-D input transform B^T d of winograd.h on four registers (8 channels each).
USEG_AVX2 inline void in1d(__m256 d0, __m256 d1, __m256 d2, __m256 d3, __m256* o) {
  o[0] = _mm256_sub_ps(d0, d2);
  o[1] = _mm256_add_ps(d1, d2);
  o[2] = _mm256_sub_ps(d2, d1);
  o[3] = _mm256_sub_ps(d1, d3);
}

// The 2-D input transform of one 4x4 patch: p points at its (0, 0) element, rows `rs` floats
// apart, elements `es` apart (the layout's block: 8 or 16); the 16 results go to V + xi * vs,
// xi = 4 * (y index) + (x index).
// Along y first (rows combined), then each combined row along x, so that at most three rows
// are live in registers.
USEG_AVX2 inline void in2d(const float* p, int64_t rs, int64_t es, float* V, int64_t vs) {
  auto row = [&](int i, __m256* r) USEG_AVX2 {
    for (int j = 0; j < 4; ++j) r[j] = _mm256_loadu_ps(p + i * rs + j * es);
  };
  auto store = [&](int i, const __m256* r) USEG_AVX2 {
    __m256 o[4];
    in1d(r[0], r[1], r[2], r[3], o);
    for (int j = 0; j < 4; ++j) _mm256_storeu_ps(V + (i * 4 + j) * vs, o[j]);
  };
  __m256 r0[4], r1[4], r2[4], t[4];
  row(0, r0);
  row(2, r2);
  for (int j = 0; j < 4; ++j) t[j] = _mm256_sub_ps(r0[j], r2[j]);
  store(0, t);
  row(1, r1);
  for (int j = 0; j < 4; ++j) t[j] = _mm256_add_ps(r1[j], r2[j]);
  store(1, t);
  for (int j = 0; j < 4; ++j) t[j] = _mm256_sub_ps(r2[j], r1[j]);
  store(2, t);
  row(3, r0);
  for (int j = 0; j < 4; ++j) t[j] = _mm256_sub_ps(r1[j], r0[j]);
  store(3, t);
}

// The 1-D output transform A^T m.
USEG_AVX2 inline void out1d(__m256 m0, __m256 m1, __m256 m2, __m256 m3, __m256& y0,
                            __m256& y1) {
  y0 = _mm256_add_ps(_mm256_add_ps(m0, m1), m2);
  y1 = _mm256_sub_ps(_mm256_sub_ps(m1, m2), m3);
}

// The 2-D output transform of 16 values m[4 * i + j] to y[2 * a + b].
USEG_AVX2 inline void out2d(const __m256* m, __m256* y) {
  __m256 t[8];  // t[4 * a + j]: reduced along i
  for (int j = 0; j < 4; ++j) out1d(m[j], m[4 + j], m[8 + j], m[12 + j], t[j], t[4 + j]);
  for (int a = 0; a < 2; ++a) out1d(t[4 * a], t[4 * a + 1], t[4 * a + 2], t[4 * a + 3], y[2 * a], y[2 * a + 1]);
}

// Geometry shared by the transforms of one run.
struct Geo {
  int64_t D, H, W, tH, tW;  // sizes, tiles along H and W
  bool three_d;
  int64_t block;  // channels per block of the layout (8 or 16): a position's stride
  // The first float of 8-channel group `cb` (channels 8 cb .. 8 cb + 7) at position 0.
  int64_t group(int64_t cb) const {
    return cb / (block / 8) * D * H * W * block + cb % (block / 8) * 8;
  }
  // The first input position of tile t's patch along each axis (may be -1).
  void origin(int64_t t, int64_t& z, int64_t& y, int64_t& x) const {
    x = t % tW * 2 - 1;
    y = t / tW % tH * 2 - 1;
    int64_t tz = t / (tW * tH);
    z = three_d ? tz * 2 - 1 : tz;
  }
};

// Input transform of tiles [t0, t0 + n) into V [alpha][nb][cp]; rows n..nb-1 (the tail of the
// last block) are zeroed so the micro-kernel never reads stale values. A patch wholly inside the
// image is read in place; one that reaches past an edge is first copied, zero-padded, into a
// local patch.
USEG_AVX2 void input_transform(const Geo& g, const float* src, int64_t cp, int64_t t0, int64_t n,
                               int64_t nb, float* V) {
  const int alpha = g.three_d ? 64 : 16;
  const int nz = g.three_d ? 4 : 1;
  const int64_t es = g.block, plane = g.H * g.W * es, rs = g.W * es, vs = nb * cp;
  alignas(32) float local[4 * 4 * 4 * 8];
  alignas(32) float slice[4 * 4 * 8];
  for (int64_t cb = 0; cb < cp / 8; ++cb) {
    const float* s = src + g.group(cb);
    for (int64_t tl = 0; tl < nb; ++tl) {
      float* v = V + tl * cp + cb * 8;
      if (tl >= n) {
        for (int xi = 0; xi < alpha; ++xi) _mm256_storeu_ps(v + xi * vs, _mm256_setzero_ps());
        continue;
      }
      int64_t z0, y0, x0;
      g.origin(t0 + tl, z0, y0, x0);
      const float* p;         // the patch's (0, 0, 0) element
      int64_t prs, pzs, pes;  // its row, slice and element strides
      if (z0 >= 0 && z0 + nz <= g.D && y0 >= 0 && y0 + 4 <= g.H && x0 >= 0 && x0 + 4 <= g.W) {
        p = s + z0 * plane + (y0 * g.W + x0) * es, prs = rs, pzs = plane, pes = es;
      } else {
        for (int a = 0; a < nz; ++a)
          for (int i = 0; i < 4; ++i)
            for (int j = 0; j < 4; ++j) {
              const int64_t z = z0 + a, y = y0 + i, x = x0 + j;
              const bool ok = z >= 0 && z < g.D && y >= 0 && y < g.H && x >= 0 && x < g.W;
              _mm256_store_ps(local + ((a * 4 + i) * 4 + j) * 8,
                              ok ? _mm256_loadu_ps(s + z * plane + (y * g.W + x) * es)
                                 : _mm256_setzero_ps());
            }
        p = local, prs = 32, pzs = 128, pes = 8;
      }
      if (!g.three_d) {
        in2d(p, prs, pes, v, vs);
        continue;
      }
      // 3-D: combine the four slices along z (B^T per position), then each combined slice's
      // 2-D transform goes to xi = 16 * (z index) + 4 * (y index) + (x index).
      for (int r = 0; r < 4; ++r) {
        for (int i = 0; i < 4; ++i)
          for (int j = 0; j < 4; ++j) {
            const float* q = p + i * prs + j * pes;
            __m256 o[4];
            in1d(_mm256_loadu_ps(q), _mm256_loadu_ps(q + pzs), _mm256_loadu_ps(q + 2 * pzs),
                 _mm256_loadu_ps(q + 3 * pzs), o);
            _mm256_store_ps(slice + (i * 4 + j) * 8, o[r]);
          }
        in2d(slice, 32, 8, v + r * 16 * vs, vs);
      }
    }
  }
}

// M[r][0:16] (+)= sum_{c < kc} V[r][c] * U[c][0:16] for r < 6: V rows are ldv apart, M rows
// ldm apart; `accumulate` adds to M instead of overwriting it (the channel chunks after the
// first).
USEG_AVX2 void micro_kernel(const float* V, int64_t ldv, int64_t kc, const float* U, float* M,
                            int64_t ldm, bool accumulate) {
  __m256 a00, a01, a10, a11, a20, a21, a30, a31, a40, a41, a50, a51;
  if (accumulate) {
    a00 = _mm256_loadu_ps(M), a01 = _mm256_loadu_ps(M + 8);
    a10 = _mm256_loadu_ps(M + ldm), a11 = _mm256_loadu_ps(M + ldm + 8);
    a20 = _mm256_loadu_ps(M + 2 * ldm), a21 = _mm256_loadu_ps(M + 2 * ldm + 8);
    a30 = _mm256_loadu_ps(M + 3 * ldm), a31 = _mm256_loadu_ps(M + 3 * ldm + 8);
    a40 = _mm256_loadu_ps(M + 4 * ldm), a41 = _mm256_loadu_ps(M + 4 * ldm + 8);
    a50 = _mm256_loadu_ps(M + 5 * ldm), a51 = _mm256_loadu_ps(M + 5 * ldm + 8);
  } else {
    a00 = a01 = a10 = a11 = a20 = a21 = a30 = a31 = a40 = a41 = a50 = a51 = _mm256_setzero_ps();
  }
  const float *v0 = V, *v1 = V + ldv, *v2 = V + 2 * ldv, *v3 = V + 3 * ldv, *v4 = V + 4 * ldv,
              *v5 = V + 5 * ldv;
  for (int64_t c = 0; c < kc; ++c) {
    const __m256 u0 = _mm256_loadu_ps(U + c * 16), u1 = _mm256_loadu_ps(U + c * 16 + 8);
    __m256 b = _mm256_broadcast_ss(v0 + c);
    a00 = _mm256_fmadd_ps(b, u0, a00), a01 = _mm256_fmadd_ps(b, u1, a01);
    b = _mm256_broadcast_ss(v1 + c);
    a10 = _mm256_fmadd_ps(b, u0, a10), a11 = _mm256_fmadd_ps(b, u1, a11);
    b = _mm256_broadcast_ss(v2 + c);
    a20 = _mm256_fmadd_ps(b, u0, a20), a21 = _mm256_fmadd_ps(b, u1, a21);
    b = _mm256_broadcast_ss(v3 + c);
    a30 = _mm256_fmadd_ps(b, u0, a30), a31 = _mm256_fmadd_ps(b, u1, a31);
    b = _mm256_broadcast_ss(v4 + c);
    a40 = _mm256_fmadd_ps(b, u0, a40), a41 = _mm256_fmadd_ps(b, u1, a41);
    b = _mm256_broadcast_ss(v5 + c);
    a50 = _mm256_fmadd_ps(b, u0, a50), a51 = _mm256_fmadd_ps(b, u1, a51);
  }
  _mm256_storeu_ps(M, a00), _mm256_storeu_ps(M + 8, a01);
  _mm256_storeu_ps(M + ldm, a10), _mm256_storeu_ps(M + ldm + 8, a11);
  _mm256_storeu_ps(M + 2 * ldm, a20), _mm256_storeu_ps(M + 2 * ldm + 8, a21);
  _mm256_storeu_ps(M + 3 * ldm, a30), _mm256_storeu_ps(M + 3 * ldm + 8, a31);
  _mm256_storeu_ps(M + 4 * ldm, a40), _mm256_storeu_ps(M + 4 * ldm + 8, a41);
  _mm256_storeu_ps(M + 5 * ldm, a50), _mm256_storeu_ps(M + 5 * ldm + 8, a51);
}

// Output transform of tiles [t0, t0 + n) from M [alpha][nb][kp] into dst (ko8 channel blocks),
// + bias, then max(z, slope * z) when activate; outputs past the image's edge are dropped.
USEG_AVX2 void output_transform(const Geo& g, const float* M, int64_t kp, int64_t ko8,
                                const float* bias, bool activate, float slope, int64_t t0,
                                int64_t n, int64_t nb, float* dst) {
  const int oz = g.three_d ? 2 : 1;
  const int64_t es = g.block, plane = g.H * g.W * es, ms = nb * kp;
  const __m256 vs = _mm256_set1_ps(slope);
  for (int64_t kb = 0; kb < ko8; ++kb) {
    const __m256 vb = _mm256_loadu_ps(bias + kb * 8);
    float* o = dst + g.group(kb);
    for (int64_t tl = 0; tl < n; ++tl) {
      const float* m = M + tl * kp + kb * 8;
      __m256 y[8];  // y[4 * a + 2 * i + j]: output (z0 + a, y0 + i, x0 + j)
      if (!g.three_d) {
        __m256 mm[16];
        for (int xi = 0; xi < 16; ++xi) mm[xi] = _mm256_loadu_ps(m + xi * ms);
        out2d(mm, y);
      } else {
        for (int a = 0; a < 2; ++a) {
          __m256 mm[16];  // the slices reduced along z: a = 0 -> m0 + m1 + m2, 1 -> m1 - m2 - m3
          for (int q = 0; q < 16; ++q) {
            const __m256 m1 = _mm256_loadu_ps(m + (16 + q) * ms), m2 = _mm256_loadu_ps(m + (32 + q) * ms);
            mm[q] = a == 0 ? _mm256_add_ps(_mm256_add_ps(_mm256_loadu_ps(m + q * ms), m1), m2)
                           : _mm256_sub_ps(_mm256_sub_ps(m1, m2), _mm256_loadu_ps(m + (48 + q) * ms));
          }
          out2d(mm, y + 4 * a);
        }
      }
      int64_t z0, y0, x0;
      g.origin(t0 + tl, z0, y0, x0);
      // The output tile starts one past its input patch on the 3-tap axes.
      z0 += g.three_d ? 1 : 0, y0 += 1, x0 += 1;
      for (int a = 0; a < oz; ++a)
        for (int i = 0; i < 2; ++i)
          for (int j = 0; j < 2; ++j) {
            const int64_t z = z0 + a, yy = y0 + i, x = x0 + j;
            if (z >= g.D || yy >= g.H || x >= g.W) continue;
            __m256 v = _mm256_add_ps(y[4 * a + 2 * i + j], vb);
            if (activate) v = _mm256_max_ps(v, _mm256_mul_ps(v, vs));
            _mm256_storeu_ps(o + z * plane + (yy * g.W + x) * es, v);
          }
    }
  }
}

}  // namespace

bool winograd_available() {
  return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
}

bool WinogradConv::supports(const std::array<int, 3>& k) {
  return k[1] == 3 && k[2] == 3 && (k[0] == 1 || k[0] == 3);
}

WinogradConv::WinogradConv(int64_t cin, int64_t cout, const std::array<int64_t, 3>& dhw,
                           const std::array<int, 3>& kernel, int block)
    : m_cin(cin), m_cout(cout), m_dhw(dhw), m_block(block) {
  if (!supports(kernel) || cin < 1 || cout < 1 || dhw[0] < 1 || dhw[1] < 1 || dhw[2] < 1)
    throw std::invalid_argument("WinogradConv: needs a 3x3 or 3x3x3 kernel and positive sizes");
  if (block != 8 && block != 16)
    throw std::invalid_argument("WinogradConv: the layout's channel block must be 8 or 16");
  m_3d = kernel[0] == 3;
  m_alpha = m_3d ? 64 : 16;
  m_cp = round_up(cin, 8);
  m_kp = round_up(cout, kCols);
  m_tdhw = {m_3d ? (dhw[0] + 1) / 2 : dhw[0], (dhw[1] + 1) / 2, (dhw[2] + 1) / 2};
  m_tiles = m_tdhw[0] * m_tdhw[1] * m_tdhw[2];
  // Tiles per block: V + M in ~640 KB of L2, but at least 64 when U is large (> 256 KB), never
  // more than one thread's share, a multiple of the micro-kernel's rows.
  const int64_t per_tile = int64_t(m_alpha) * (m_cp + m_kp) * 4;
  int64_t nb = (640 << 10) / per_tile;
  if (int64_t(m_alpha) * m_cp * m_kp * 4 > (256 << 10)) nb = std::max<int64_t>(nb, 64);
  const int64_t threads = std::max(1, omp_get_max_threads());
  nb = std::min(nb, (m_tiles + threads - 1) / threads);
  m_nb = round_up(std::max<int64_t>(nb, 1), kRows);
  m_bias.assign(m_kp, 0.f);
}

WinogradConv::~WinogradConv() = default;

double WinogradConv::gemm_gflop() const {
  return 2e-9 * double(m_alpha) * double(m_tiles) * double(m_cp) * double(m_kp);
}

void WinogradConv::set_weights(const float* w, const float* bias) {
  // U[xi][k / 16][c][k % 16] = (G g G^T)[xi] for output channel k, input channel c; the
  // transform per axis in double: (g0, (g0 + g1 + g2) / 2, (g0 - g1 + g2) / 2, g2).
  auto g1d = [](const double* g, int stride, double* out, int ostride) {
    out[0] = g[0];
    out[ostride] = (g[0] + g[stride] + g[2 * stride]) / 2;
    out[2 * ostride] = (g[0] - g[stride] + g[2 * stride]) / 2;
    out[3 * ostride] = g[2 * stride];
  };
  m_u.assign(size_t(m_alpha) * m_kp * m_cp, 0.f);  // zero for padded channels
  const int taps = m_3d ? 27 : 9;
  // Each output channel writes its own entries of U (training transforms the weights at every
  // step, so this runs on the OpenMP threads too).
#pragma omp parallel for schedule(static) if (m_cout * m_cin >= 4096)
  for (int64_t k = 0; k < m_cout; ++k) {
    for (int64_t c = 0; c < m_cin; ++c) {
      const float* g = w + (k * m_cin + c) * taps;
      double u[64];
      if (!m_3d) {
        double gd[9], a[12];
        for (int i = 0; i < 9; ++i) gd[i] = g[i];
        for (int j = 0; j < 3; ++j) g1d(gd + j, 3, a + j, 3);  // columns: [4][3]
        for (int i = 0; i < 4; ++i) g1d(a + i * 3, 1, u + i * 4, 1);
      } else {
        double gd[27], a[4 * 9], b[4 * 4 * 3];
        for (int i = 0; i < 27; ++i) gd[i] = g[i];
        for (int yx = 0; yx < 9; ++yx) g1d(gd + yx, 9, a + yx, 9);            // z: [4][3][3]
        for (int z = 0; z < 4; ++z)
          for (int x = 0; x < 3; ++x) g1d(a + z * 9 + x, 3, b + z * 12 + x, 3);  // y: [4][4][3]
        for (int zy = 0; zy < 16; ++zy) g1d(b + zy * 3, 1, u + zy * 4, 1);      // x: [4][4][4]
      }
      for (int xi = 0; xi < m_alpha; ++xi)
        m_u[((xi * (m_kp / kCols) + k / kCols) * m_cp + c) * kCols + k % kCols] =
            float(u[xi]);
    }
  }
  std::fill(m_bias.begin(), m_bias.end(), 0.f);
  std::copy(bias, bias + m_cout, m_bias.begin());
}

int64_t WinogradConv::scratch_floats(int threads) const {
  return std::max(1, threads) * round_up(int64_t(m_alpha) * m_nb * (m_cp + m_kp), 16);
}

void WinogradConv::run(const float* src, float* dst, bool activate, float slope, float* scratch,
                       int threads) {
  if (m_u.empty()) throw std::logic_error("WinogradConv::run before set_weights");
  threads = std::max(1, threads);
  const int64_t v_floats = int64_t(m_alpha) * m_nb * m_cp;
  const int64_t per_thread = scratch_floats(1);
  const Geo g{m_dhw[0], m_dhw[1], m_dhw[2], m_tdhw[1], m_tdhw[2], m_3d, m_block};
  const int64_t blocks = (m_tiles + m_nb - 1) / m_nb;
  const int64_t ko8 = round_up(m_cout, 8) / 8;
  const int64_t kblocks = m_kp / kCols;
  const float* U = m_u.data();
  const float* bias = m_bias.data();
  const int64_t cp = m_cp, kp = m_kp, nb = m_nb;
  const int alpha = m_alpha;
#pragma omp parallel for schedule(static) num_threads(threads) if (blocks > 1)
  for (int64_t b = 0; b < blocks; ++b) {
    float* V = scratch + omp_get_thread_num() * per_thread;
    float* M = V + v_floats;
    const int64_t t0 = b * nb, n = std::min(nb, m_tiles - t0);
    const int64_t rows = round_up(n, kRows);
    input_transform(g, src, cp, t0, n, nb, V);
    for (int xi = 0; xi < alpha; ++xi)
      for (int64_t kb = 0; kb < kblocks; ++kb) {
        const float* Ub = U + (xi * kblocks + kb) * cp * kCols;
        // Channel chunks of kChunk: the chunk of U (kChunk x 16) stays in L1 over all rows.
        for (int64_t c0 = 0; c0 < cp; c0 += kChunk) {
          const int64_t kc = std::min<int64_t>(kChunk, cp - c0);
          for (int64_t r = 0; r < rows; r += kRows)
            micro_kernel(V + (xi * nb + r) * cp + c0, cp, kc, Ub + c0 * kCols,
                         M + (xi * nb + r) * kp + kb * kCols, kp, c0 > 0);
        }
      }
    output_transform(g, M, kp, ko8, bias, activate, slope, t0, n, nb, dst);
  }
  // 16-channel blocks with an odd number of 8-channel groups: the last block's upper half is
  // padding the transforms did not write; zero it as the layout expects.
  if (m_block == 16 && ko8 % 2 == 1) {
    const int64_t spatial = m_dhw[0] * m_dhw[1] * m_dhw[2];
    float* last = dst + g.group(ko8 - 1) + 8;
    for (int64_t p = 0; p < spatial; ++p) std::fill(last + p * 16, last + p * 16 + 8, 0.f);
  }
}

}  // namespace useg::cpu

// Gaussian-weighted sliding-window prediction over a preprocessed volume (nnU-Net's scheme).
#include <algorithm>
#include <cmath>

#include "useg/error.h"
#include "useg/infer.h"

namespace useg {

std::vector<int64_t> window_starts(int64_t size, int64_t patch, double overlap) {
  USEG_REQUIRE(patch >= 1 && size >= 1, "window_starts: size and patch must be positive");
  USEG_REQUIRE(overlap >= 0 && overlap < 1, "overlap must be in [0, 1), got " << overlap);
  if (size <= patch) return {0};
  double target_step = std::max(1.0, double(patch) * (1.0 - overlap));
  int64_t n = static_cast<int64_t>(std::ceil(double(size - patch) / target_step)) + 1;
  double step = double(size - patch) / double(n - 1);
  std::vector<int64_t> starts;
  for (int64_t i = 0; i < n; ++i) starts.push_back(static_cast<int64_t>(std::llround(step * i)));
  return starts;
}

Tensor gaussian_importance(const std::array<int64_t, 3>& patch, double sigma_scale) {
  Tensor g = Tensor::empty(Shape{1, 1, patch[0], patch[1], patch[2]});
  std::array<std::vector<double>, 3> f;
  for (int a = 0; a < 3; ++a) {
    double c = (patch[a] - 1) / 2.0, sigma = std::max(1e-6, patch[a] * sigma_scale);
    for (int64_t i = 0; i < patch[a]; ++i)
      f[a].push_back(std::exp(-0.5 * (i - c) * (i - c) / (sigma * sigma)));
  }
  float* p = g.data();
  double peak = f[0][static_cast<size_t>(patch[0] / 2)] * f[1][static_cast<size_t>(patch[1] / 2)] *
                f[2][static_cast<size_t>(patch[2] / 2)];
  float min_pos = 1.f;
  int64_t k = 0;
  for (int64_t z = 0; z < patch[0]; ++z)
    for (int64_t y = 0; y < patch[1]; ++y)
      for (int64_t x = 0; x < patch[2]; ++x, ++k) {
        p[k] = static_cast<float>(f[0][z] * f[1][y] * f[2][x] / peak);
        if (p[k] > 0) min_pos = std::min(min_pos, p[k]);
      }
  for (int64_t i = 0; i < g.numel(); ++i) p[i] = std::max(p[i], min_pos);
  return g;
}

namespace {
// Copies the window at `pos` (may overhang the volume: zeros there) into row n of batch.
void extract_window(const Tensor& vol, const std::array<int64_t, 3>& pos, Tensor& batch,
                    int64_t n) {
  const Shape& s = vol.shape();
  const Shape& b = batch.shape();
  int64_t C = s.c();
  for (int64_t c = 0; c < C; ++c)
    for (int64_t z = 0; z < b.d(); ++z)
      for (int64_t y = 0; y < b.h(); ++y) {
        float* dst = &batch.at(n, c, z, y, 0);
        int64_t sz = pos[0] + z, sy = pos[1] + y;
        if (sz < 0 || sz >= s.d() || sy < 0 || sy >= s.h()) {
          std::fill(dst, dst + b.w(), 0.f);
          continue;
        }
        const float* src = vol.data() + ((c * s.d() + sz) * s.h() + sy) * s.w();
        for (int64_t x = 0; x < b.w(); ++x) {
          int64_t sx = pos[2] + x;
          dst[x] = (sx >= 0 && sx < s.w()) ? src[sx] : 0.f;
        }
      }
}

// The flips of mirroring TTA: every subset of the spatial axes longer than 1 in the patch.
std::vector<int> mirror_masks(const std::array<int64_t, 3>& patch) {
  int valid = (patch[2] > 1 ? 1 : 0) | (patch[1] > 1 ? 2 : 0) | (patch[0] > 1 ? 4 : 0);
  std::vector<int> masks;
  for (int m = 1; m < 8; ++m)
    if ((m & valid) == m) masks.push_back(m);
  return masks;
}
}  // namespace

Tensor predict_probabilities(Network& net, const Tensor& volume, const WindowOptions& o,
                             const std::function<void(int64_t, int64_t)>& progress) {
  return predict_probabilities(std::vector<Network*>{&net}, volume, o, progress);
}

Tensor predict_probabilities(const std::vector<Network*>& nets, const Tensor& volume,
                             const WindowOptions& o,
                             const std::function<void(int64_t, int64_t)>& progress) {
  USEG_REQUIRE(!nets.empty() && nets.front(), "predict_probabilities: no network");
  Network& net = *nets.front();
  Backend& be = net.backend();
  for (Network* other : nets) {
    USEG_REQUIRE(other && &other->backend() == &be,
                 "predict_probabilities: the networks of an ensemble must "
                 "share one backend");
    USEG_REQUIRE(other->config().num_classes == net.config().num_classes,
                 "predict_probabilities: the networks of an ensemble differ in "
                 "num_classes ("
                     << net.config().num_classes << " vs " << other->config().num_classes << ")");
  }
  const Shape& s = volume.shape();
  USEG_REQUIRE(s.rank() == 5 && s.n() == 1,
               "predict_probabilities: volume must be [1, C, D, H, W], got " << s.str());
  USEG_REQUIRE(volume.device() == Device::CPU, "predict_probabilities: volume must be on the CPU");
  USEG_REQUIRE(o.batch >= 1, "batch must be at least 1, got " << o.batch);
  const int64_t K = net.config().num_classes;
  const auto& P = o.patch;
  for (Network* member : nets) {
    auto mult = member->size_multiple();
    for (int a = 0; a < 3; ++a)
      USEG_REQUIRE(P[a] >= 1 && P[a] % mult[a] == 0,
                   "patch size " << P[a] << " on axis "
                                 << "DHW"[a] << " must be a multiple of " << mult[a]);
  }
  std::array<int64_t, 3> size{s.d(), s.h(), s.w()};
  // Volumes smaller than the patch: the window is centred (zero padding on both sides).
  std::array<std::vector<int64_t>, 3> starts;
  for (int a = 0; a < 3; ++a) {
    if (size[a] <= P[a])
      starts[a] = {-(P[a] - size[a]) / 2};
    else
      starts[a] = window_starts(size[a], P[a], o.overlap);
  }
  std::vector<std::array<int64_t, 3>> positions;
  for (int64_t z : starts[0])
    for (int64_t y : starts[1])
      for (int64_t x : starts[2]) positions.push_back({z, y, x});

  Tensor weight = gaussian_importance(P, o.sigma_scale).to(be.device());
  Tensor accum = Tensor::zeros(Shape{1, K, size[0], size[1], size[2]}, be.device());
  Tensor wsum = Tensor::zeros(Shape{1, 1, size[0], size[1], size[2]}, be.device());
  std::vector<int> masks = o.mirror ? mirror_masks(P) : std::vector<int>{};

  const int64_t total = static_cast<int64_t>(positions.size());
  for (int64_t first = 0; first < total; first += o.batch) {
    int64_t nb = std::min<int64_t>(o.batch, total - first);
    Tensor host = Tensor::empty(Shape{nb, s.c(), P[0], P[1], P[2]});
    for (int64_t n = 0; n < nb; ++n) extract_window(volume, positions[first + n], host, n);
    Tensor x = host.to(be.device());
    // Each network's (mirror-averaged) probabilities, summed, then divided by their count.
    Tensor probs, pm, xf, pf, back;
    for (Network* member : nets) {
      Tensor logits = member->forward(x, false)[0];
      if (!pm.defined()) pm = Tensor::empty(logits.shape(), be.device());
      be.softmax_channels(logits, pm);
      if (!masks.empty()) {
        if (!xf.defined()) {
          xf = Tensor::empty(x.shape(), be.device());
          pf = Tensor::empty(pm.shape(), be.device());
          back = Tensor::empty(pm.shape(), be.device());
        }
        for (int m : masks) {
          be.flip_spatial(x, m, xf);
          Tensor lf = member->forward(xf, false)[0];
          be.softmax_channels(lf, pf);
          be.flip_spatial(pf, m, back);
          be.axpy(1.f, back, pm);
        }
        be.scale(pm, 1.f / float(masks.size() + 1));
      }
      if (nets.size() == 1) {
        probs = pm;
        break;
      }
      if (!probs.defined()) {
        probs = Tensor::zeros(pm.shape(), be.device());
      }
      be.axpy(1.f, pm, probs);
    }
    if (nets.size() > 1) be.scale(probs, 1.f / float(nets.size()));
    for (int64_t n = 0; n < nb; ++n)
      be.window_accumulate(probs, n, weight, positions[first + n], accum, wsum);
    if (progress) progress(first + nb, total);
  }
  Tensor out = accum.to(Device::CPU);
  Tensor ws = wsum.to(Device::CPU);
  const int64_t vox = size[0] * size[1] * size[2];
  float* po = out.data();
  const float* pw = ws.data();
  for (int64_t k = 0; k < K; ++k) {
#pragma omp parallel for schedule(static)
    for (int64_t i = 0; i < vox; ++i) po[k * vox + i] /= pw[i];
  }
  return out;
}

Tensor argmax_labels(const Tensor& probs) {
  const Shape& s = probs.shape();
  USEG_REQUIRE(s.rank() == 5 && s.n() == 1,
               "argmax_labels: expected [1, K, D, H, W], got " << s.str());
  Tensor labels = Tensor::empty(Shape{1, 1, s.d(), s.h(), s.w()});
  const int64_t vox = s.d() * s.h() * s.w(), K = s.c();
  const float* p = probs.data();
  float* l = labels.data();
#pragma omp parallel for schedule(static)
  for (int64_t i = 0; i < vox; ++i) {
    int64_t best = 0;
    float bv = p[i];
    for (int64_t k = 1; k < K; ++k)
      if (p[k * vox + i] > bv) {
        bv = p[k * vox + i];
        best = k;
      }
    l[i] = static_cast<float>(best);
  }
  return labels;
}

}  // namespace useg

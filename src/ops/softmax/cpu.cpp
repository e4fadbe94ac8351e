// Softmax over the channels on the CPU: an OpenMP loop over the voxels, ops/softmax/softmax.h
// per voxel.
#include "ops/softmax/softmax.h"

#include "cpu/cpu_backend.h"
#include "cpu/parallel.h"

namespace useg::cpu {

void softmax_channels(BackendImpl& be, const Tensor& x, Tensor& y) {
  const Shape& s = x.shape();
  const int64_t S = s.spatial(), voxels = s.n() * S, C = s.c();
  const float* xp = x.data();
  float* yp = y.data();
  if (C == 0) return;
#pragma omp parallel for schedule(static) if (x.numel() >= kParallelMin)
  for (int64_t v = 0; v < voxels; ++v) {
    const int64_t base = (v / S) * C * S + v % S;
    ops::softmax_voxel(xp + base, yp + base, int(C), S);
  }
}

void add_softmax_ops(BackendOps& t) {
  t.softmax_channels = softmax_channels;
}

}  // namespace useg::cpu

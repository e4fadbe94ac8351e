// USEG_HD marks the math of an op, written once as an inline function that both g++ (CPU
// backend) and nvcc (CUDA kernels) compile; under cudacpu the kernels are plain C++ and the
// plain `inline` form is used. Functions under src/ops never allocate, never throw and include
// nothing beyond <cmath>/<cstdint>.
#pragma once

#if defined(__CUDACC__)
#define USEG_HD __host__ __device__ __forceinline__
#else
#define USEG_HD inline
#endif

#include "cuda/host/precision.h"

#include <string>

#include "useg/error.h"

namespace useg::gpu {

const char* precision_name(Precision p) {
  switch (p) {
    case Precision::Fp32: return "fp32";
    case Precision::Tf32: return "tf32";
    case Precision::Fp16: return "fp16";
    case Precision::Bf16: return "bf16";
  }
  return "?";
}

Precision resolve_precision(bool strict_fp32, const char* env_value) {
  const std::string v = env_value ? env_value : "";
  if (v.empty()) return strict_fp32 ? Precision::Fp32 : Precision::Tf32;
  for (Precision p : {Precision::Fp32, Precision::Tf32, Precision::Fp16, Precision::Bf16}) {
    if (v != precision_name(p)) continue;
    USEG_CHECK(!strict_fp32 || p == Precision::Fp32,
               "USEG_CUDA_PRECISION=" << v << " contradicts the strict float32 option "
                                      << "(cuda_strict_fp32); unset one of them");
    return p;
  }
  USEG_THROW("USEG_CUDA_PRECISION=" << v << " is not a precision (expected one of: fp32, tf32, "
                                    << "fp16, bf16)");
}

}  // namespace useg::gpu

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

Precision resolve_precision(const std::string& option) {
  if (option.empty()) return Precision::Tf32;
  for (Precision p : {Precision::Fp32, Precision::Tf32, Precision::Fp16, Precision::Bf16})
    if (option == precision_name(p)) return p;
  USEG_THROW("precision '" << option << "' is not one of: fp32, tf32, fp16, bf16");
}

}  // namespace useg::gpu

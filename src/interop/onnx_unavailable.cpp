// export_onnx in a build without the ONNX library (CMake did not find libonnx-dev and
// libprotobuf-dev, or USEG_WITH_ONNX=OFF): every call says so and how to get it.
#include "useg/error.h"
#include "useg/interop.h"

namespace useg {

namespace {
const char* kWhy =
    "this useg was built without ONNX support (configured with USEG_WITH_ONNX=OFF, or the ONNX "
    "library was not found: Debian's libonnx-dev and libprotobuf-dev, which "
    "scripts/install-deps.sh installs); install them, then configure and build again";
}

bool onnx_export_available(std::string* why) {
  if (why) *why = kWhy;
  return false;
}
int onnx_opset() { return 0; }
std::string onnx_library_version() { return ""; }

void export_onnx(const ModelInfo&, Network&, const std::string&, const OnnxExportOptions&) {
  USEG_THROW(kWhy);
}

}  // namespace useg

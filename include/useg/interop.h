// Models out of useg: ONNX export of a network (docs/interop.md). The ONNX part is optional at
// build time (CMake's USEG_WITH_ONNX, on when Debian's libonnx-dev and libprotobuf-dev are
// found): a build without it answers export_onnx with an error that says so.
#pragma once

#include <string>

#include "useg/config.h"
#include "useg/model.h"

namespace useg {

struct OnnxExportOptions {
  // Also output the deep-supervision heads ("logits_ds1", ... at 1/2, 1/4, ... resolution) after
  // "logits"; without it only the full-resolution logits are outputs (inference).
  bool aux_outputs = false;
};

// True when this build can export ONNX; otherwise `why` (if given) says why not.
bool onnx_export_available(std::string* why = nullptr);

// The ONNX opset and IR version export_onnx writes, and the ONNX library version it was built
// with ("1.12.0"); empty strings / 0 without ONNX.
int onnx_opset();
std::string onnx_library_version();

// Writes the network as an ONNX model (opset onnx_opset(), weights as initializers named as the
// state_dict, model.json's preprocess, labels and patch size as metadata_props) to `path`,
// atomically, after ONNX's checker accepted it. Input "input" [N, C, (D,) H, W] float32 (2D
// models rank 4, 3D rank 5; free sizes are symbolic), output "logits" [N, K, (D,) H, W] for a
// U-Net or [N, K] for a classifier ending in a dense layer: the values Network::forward returns
// in inference, before any softmax. Throws useg::Error for a graph it cannot express.
void export_onnx(const ModelInfo& info, Network& net, const std::string& path,
                 const OnnxExportOptions& opts = {});

}  // namespace useg

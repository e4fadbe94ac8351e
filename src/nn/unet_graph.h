// Graph builders: the network a config describes, as a graph (graph.h).
#pragma once

#include "nn/graph.h"
#include "useg/config.h"

namespace useg::nn {

// The U-Net of the `model` section (include/useg/config.h describes it).
Graph build_unet_graph(const ModelConfig& config);

}  // namespace useg::nn

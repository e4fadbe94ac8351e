// Graph builders: the network a `model` config describes, as a graph (graph.h).
//   unet_graph.cpp        architecture "unet" (segmentation)
//   nnunet_graph.cpp      architectures "nnunet_plain" and "nnunet_resenc" (nnU-Net v2's
//                         PlainConvUNet and ResidualEncoderUNet, imported)
//   classifier_graph.cpp  architectures "encoder_classifier" and "layers" (classification)
//   graph_builder.h       the node-making helpers they share
#pragma once

#include "nn/graph.h"
#include "useg/config.h"

namespace useg::nn {

// The graph of any architecture (dispatches on config.architecture).
Graph build_graph(const ModelConfig& config);

Graph build_unet_graph(const ModelConfig& config);
Graph build_nnunet_plain_graph(const ModelConfig& config);
Graph build_nnunet_resenc_graph(const ModelConfig& config);
Graph build_classifier_graph(const ModelConfig& config);

}  // namespace useg::nn

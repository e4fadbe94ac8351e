// Analytic architecture summary (`useg info`): parameters, FLOPs per input voxel per stage and
// the receptive field, read off the network's graph (no weights needed).
#include <algorithm>
#include <iomanip>
#include <map>
#include <sstream>

#include "nn/builders.h"
#include "nn/node_ops.h"
#include "useg/model.h"

namespace useg {

ModelSummary summarize(const nn::Graph& g) {
  using nn::OpKind;
  ModelSummary m;
  const size_t count = g.nodes.size();
  // The shapes at a nominal input: the network's fixed size, else 8 times its size multiple.
  // Convolution FLOPs grow linearly with the voxels, so per input voxel they do not depend on it.
  m.size_multiple = nn::size_multiple(g);
  std::array<int64_t, 3> in_size = g.input_size;
  if (in_size[0] == 0)
    for (int a = 0; a < 3; ++a) in_size[a] = (a == 0 && g.dims == 2 ? 1 : 8) * m.size_multiple[a];
  const std::vector<Shape> shapes =
      nn::infer_shapes(g, Shape{1, g.in_channels, in_size[0], in_size[1], in_size[2]});
  const double voxels = double(in_size[0]) * in_size[1] * in_size[2];
  // Per node: the receptive field and jump (distance in input voxels between neighbouring
  // outputs) of its value, per axis.
  std::vector<std::array<int64_t, 3>> field(count, {1, 1, 1}), jump(count, {1, 1, 1});
  std::map<std::string, size_t> row;  // group -> index into m.stages
  for (size_t id = 1; id < count; ++id) {
    const nn::Node& n = g.nodes[id];
    const int in = n.inputs[0];
    field[id] = field[in], jump[id] = jump[in];
    for (int i : n.inputs)
      for (int a = 0; a < 3; ++a) field[id][a] = std::max(field[id][a], field[i][a]);
    for (int a = 0; a < 3; ++a) {
      if (n.kind == OpKind::Conv) {
        field[id][a] += (n.conv.kernel[a] - 1) * jump[in][a];
        jump[id][a] *= n.conv.stride[a];
      } else if (n.kind == OpKind::MaxPool || n.kind == OpKind::AvgPool) {
        field[id][a] += (n.pool.kernel[a] - 1) * jump[in][a];
        jump[id][a] *= n.pool.stride[a];
      } else if (n.kind == OpKind::ConvTranspose) {
        // kernel == stride (the U-Net's): divides the jump without growing the field
        jump[id][a] = std::max<int64_t>(1, jump[in][a] / n.conv.stride[a]);
        field[id][a] += std::max(0, n.conv.kernel[a] - n.conv.stride[a]) * jump[id][a];
      } else if (n.kind == OpKind::GlobalAvgPool || n.kind == OpKind::GlobalMaxPool ||
                 n.kind == OpKind::Flatten) {
        field[id][a] = in_size[a];  // every output sees the whole input
      }
    }
    auto [it, added] = row.emplace(n.group, m.stages.size());
    if (added) {
      StageSummary st;
      st.name = n.group;
      st.in_channels = static_cast<int>(g.nodes[in].channels);
      m.stages.push_back(st);
    }
    StageSummary& st = m.stages[it->second];
    if (!n.aux) st.out_channels = static_cast<int>(n.channels);
    if (n.kind == OpKind::Conv && st.params == 0 && !n.aux) {  // the group's first conv
      st.kernel = n.conv.kernel;
      for (int a = 0; a < 3; ++a) st.scale[a] = in_size[a] / shapes[id][2 + a];
    }
    for (const nn::ParamSpec& p : n.params)
      if (!p.buffer) st.params += p.shape.numel();
    st.flops_per_voxel += nn::node_flops(n, shapes[in], shapes[id]) / voxels;
  }
  for (const auto& s : m.stages) {
    m.params += s.params;
    m.flops_per_voxel += s.flops_per_voxel;
  }
  m.receptive_field = field[g.outputs.at(0)];
  return m;
}

ModelSummary summarize(const ModelConfig& c) { return summarize(nn::build_graph(c)); }

// What the training forward keeps for the backward (the Saved of src/nn/node_ops.h): the input
// of every convolution (plain, or the backend's blocked copy of the same size), transposed
// convolution, norm and dense layer; of a max pooling only where each window's maximum is (1
// byte an output); the output of a sigmoid or tanh, but of ReLU / LeakyReLU only its signs (1
// bit an element); dropout's mask. Other values (a concatenation's or a pooling's output read by
// one convolution) are freed during the forward.
// Plus about two values' worth of gradients at the backward's widest point, the batch's input
// and one-hot target, and per parameter the weight, its gradient and two optimizer moments
// (Adam; SGD with momentum keeps one).
TrainingMemory training_step_memory(const ModelConfig& c, const std::array<int64_t, 3>& patch,
                                    int batch) {
  const nn::Graph g = nn::build_graph(c);
  const std::vector<Shape> shapes =
      nn::infer_shapes(g, Shape{1, g.in_channels, patch[0], patch[1], patch[2]});
  int64_t kept = 0, largest = 0;
  for (size_t i = 0; i < g.nodes.size(); ++i) {
    const nn::Node& n = g.nodes[i];
    const int64_t own = shapes[i].numel();
    largest = std::max(largest, own);
    switch (n.kind) {
      case nn::OpKind::MaxPool:
        kept += nn::maxpool_keeps_offsets(n.pool) ? Backend::maxpool_offsets_shape(own).numel()
                                                  : shapes[n.inputs.at(0)].numel();
        break;
      case nn::OpKind::Conv:
      case nn::OpKind::ConvTranspose:
      case nn::OpKind::Norm:
      case nn::OpKind::GlobalMaxPool:
      case nn::OpKind::Dense: kept += shapes[n.inputs.at(0)].numel(); break;
      case nn::OpKind::Act:
        kept += nn::act_keeps_sign_bits(n) ? Backend::sign_bits_shape(own).numel() : own;
        break;
      case nn::OpKind::Dropout: kept += n.p > 0 ? own : 0; break;
      default: break;
    }
  }
  const int64_t vox = patch[0] * patch[1] * patch[2];
  TrainingMemory m;
  m.activation_bytes =
      int64_t(4) * batch * (kept + 2 * largest + (c.in_channels + c.num_classes) * vox);
  m.parameter_bytes = int64_t(4) * 4 * summarize(g).params;
  return m;
}

std::string format_summary(const ModelConfig& c, const ModelSummary& m) {
  std::ostringstream os;
  if (c.architecture == "layers") {
    os << "classifier " << c.dims << "D (" << c.layers.size() << " layers): " << c.in_channels
       << " input channel(s), " << c.num_classes << " classes\n";
  } else if (c.nnunet()) {
    os << (c.architecture == "nnunet_plain" ? "nnU-Net PlainConvUNet "
                                            : "nnU-Net ResidualEncoderUNet ")
       << c.dims << "D: " << c.in_channels << " input channel(s), "
       << c.num_classes << " classes, depth " << c.depth << ", norm " << norm_name(c.norm) << ", "
       << activation_name(c.activation) << "\n";
  } else {
    os << (c.classifier() ? "encoder classifier " : "U-Net ") << c.dims << "D: " << c.in_channels
       << " input channel(s), " << c.num_classes << " classes, depth " << c.depth << ", "
       << c.convs_per_stage << " conv(s) per stage, norm " << norm_name(c.norm) << ", "
       << activation_name(c.activation) << (c.residual ? ", residual" : "")
       << (c.deep_supervision ? ", deep supervision" : "")
       << (c.dropout > 0 ? ", dropout " + std::to_string(c.dropout) : "") << "\n";
  }
  int name_w = 12;  // wide enough for "global_avg_pool12" and the like
  for (const auto& st : m.stages) name_w = std::max(name_w, int(st.name.size()) + 2);
  os << std::left << std::setw(name_w) << "stage" << std::setw(12) << "channels" << std::setw(10)
     << "kernel" << std::setw(12) << "scale" << std::right << std::setw(12) << "params"
     << std::setw(16) << "FLOP/voxel" << "\n";
  auto triple = [&](auto t) {
    std::ostringstream s;
    if (c.dims == 2)
      s << t[1] << "x" << t[2];
    else
      s << t[0] << "x" << t[1] << "x" << t[2];
    return s.str();
  };
  for (const auto& s : m.stages) {
    os << std::left << std::setw(name_w) << s.name << std::setw(12)
       << (std::to_string(s.in_channels) + "->" + std::to_string(s.out_channels))
       << std::setw(10) << triple(s.kernel) << std::setw(12) << ("1/" + triple(s.scale))
       << std::right << std::setw(12) << s.params << std::setw(16) << std::fixed
       << std::setprecision(0) << s.flops_per_voxel << "\n";
  }
  os << "parameters: " << m.params << "\n";
  if (!c.input_size.empty()) {  // a classifier's images all have this size
    double voxels = 1;
    std::string size;
    for (int v : c.input_size) voxels *= v, size += (size.empty() ? "" : "x") + std::to_string(v);
    os << "FLOPs per image (" << size << "): " << std::setprecision(0)
       << m.flops_per_voxel * voxels << "\n";
  } else {
    const double voxels = c.dims == 2 ? 512.0 * 512 : 128.0 * 128 * 128;
    os << "FLOPs per input voxel: " << std::setprecision(0) << m.flops_per_voxel << " ("
       << std::setprecision(2) << m.flops_per_voxel * 1e-9 * voxels << " GFLOP for a "
       << (c.dims == 2 ? "512x512" : "128^3") << " input)\n";
  }
  os << "receptive field: " << triple(m.receptive_field) << " voxels\n";
  os << "input size multiple: " << triple(m.size_multiple) << "\n";
  return os.str();
}

}  // namespace useg

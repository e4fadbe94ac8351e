// ONNX export: the network graph (src/nn/graph.h) node by node as an ONNX ModelProto built with
// the ONNX library's generated protobuf classes (Debian's libonnx-dev), checked by ONNX's checker,
// written atomically. The only file that includes ONNX headers; compiled when CMake found them
// (USEG_WITH_ONNX), else onnx_unavailable.cpp answers. The mapping is docs/interop.md's table.
#include <onnx/checker.h>
#include <onnx/onnx_pb.h>

#include <cstdio>
#include <map>
#include <string>
#include <vector>

#include "config/preprocess_json.h"
#include "core/files.h"
#include "nn/graph.h"
#include "useg/error.h"
#include "useg/interop.h"

// USEG_VERSION and USEG_ONNX_VERSION come from CMakeLists.txt.

namespace useg {

namespace {

constexpr int kOpset = 17;

// A value of the ONNX graph: its name and whether it is rank 2 ([N, F], after a flatten or a
// dense layer) rather than an image tensor of rank 4 (2D) or 5 (3D).
struct Value {
  std::string name;
  bool flat = false;
};

class Writer {
 public:
  Writer(const nn::Graph& g, onnx::GraphProto* graph) : m_g(g), m_graph(graph) {}

  onnx::NodeProto* node(const std::string& op, const std::string& name,
                        const std::vector<std::string>& inputs, const std::string& output) {
    onnx::NodeProto* n = m_graph->add_node();
    n->set_op_type(op);
    n->set_name(name);
    for (const auto& i : inputs) n->add_input(i);
    n->add_output(output);
    return n;
  }

  // The spatial entries of a [D, H, W] triple: [H, W] for 2D graphs (whose depth entries must
  // be 1, or 0 for padding), [D, H, W] for 3D.
  std::vector<int64_t> spatial(const std::array<int, 3>& v, int unit, const std::string& what,
                               const nn::Node& n) const {
    if (m_g.dims == 3) return {v[0], v[1], v[2]};
    USEG_REQUIRE(v[0] == unit, "node " << n.name << ": a 2D graph with " << what << " " << v[0]
                                       << " on the depth axis cannot be exported");
    return {v[1], v[2]};
  }

 private:
  const nn::Graph& m_g;
  onnx::GraphProto* m_graph;
};

void attr(onnx::NodeProto* n, const char* name, const std::vector<int64_t>& v) {
  onnx::AttributeProto* a = n->add_attribute();
  a->set_name(name);
  a->set_type(onnx::AttributeProto::INTS);
  for (int64_t x : v) a->add_ints(x);
}
void attr(onnx::NodeProto* n, const char* name, int64_t v) {
  onnx::AttributeProto* a = n->add_attribute();
  a->set_name(name);
  a->set_type(onnx::AttributeProto::INT);
  a->set_i(v);
}
void attr(onnx::NodeProto* n, const char* name, float v) {
  onnx::AttributeProto* a = n->add_attribute();
  a->set_name(name);
  a->set_type(onnx::AttributeProto::FLOAT);
  a->set_f(v);
}

void add_initializer(onnx::GraphProto* g, const std::string& name, const Tensor& t,
                     const std::vector<int64_t>& dims) {
  onnx::TensorProto* p = g->add_initializer();
  p->set_name(name);
  p->set_data_type(onnx::TensorProto::FLOAT);
  int64_t count = 1;
  for (int64_t d : dims) {
    p->add_dims(d);
    count *= d;
  }
  USEG_REQUIRE(count == t.numel(),
               "tensor " << name << ": " << t.numel() << " values for an ONNX shape of " << count);
  p->set_raw_data(t.data(), t.bytes());  // raw_data is little-endian float32, as x86 holds it
}

// A value_info of float32 with the given dims: a dim > 0 is fixed, else symbolic `names[i]`
// (an empty name leaves it unknown).
void set_type(onnx::ValueInfoProto* v, const std::string& name, const std::vector<int64_t>& dims,
              const std::vector<std::string>& names) {
  v->set_name(name);
  onnx::TypeProto_Tensor* t = v->mutable_type()->mutable_tensor_type();
  t->set_elem_type(onnx::TensorProto::FLOAT);
  onnx::TensorShapeProto* s = t->mutable_shape();
  for (size_t i = 0; i < dims.size(); ++i) {
    onnx::TensorShapeProto_Dimension* d = s->add_dim();
    if (dims[i] > 0)
      d->set_dim_value(dims[i]);
    else if (i < names.size() && !names[i].empty())
      d->set_dim_param(names[i]);
  }
}

void add_metadata(onnx::ModelProto& m, const std::string& key, const std::string& value) {
  onnx::StringStringEntryProto* e = m.add_metadata_props();
  e->set_key(key);
  e->set_value(value);
}

std::string join_ints(const std::vector<int>& v) {
  std::string s = "[";
  for (size_t i = 0; i < v.size(); ++i) s += (i ? ", " : "") + std::to_string(v[i]);
  return s + "]";
}

std::string json_string(const std::string& s) {
  std::string out = "\"";
  for (char c : s) {
    if (c == '"' || c == '\\') out += '\\';
    if (static_cast<unsigned char>(c) < 0x20) {
      char buf[8];
      std::snprintf(buf, sizeof buf, "\\u%04x", c);
      out += buf;
      continue;
    }
    out += c;
  }
  return out + "\"";
}

}  // namespace

bool onnx_export_available(std::string* why) {
  if (why) why->clear();
  return true;
}
int onnx_opset() { return kOpset; }
std::string onnx_library_version() { return USEG_ONNX_VERSION; }

void export_onnx(const ModelInfo& info, Network& net, const std::string& path,
                 const OnnxExportOptions& opts) {
  const nn::Graph& g = net.graph();
  USEG_REQUIRE(g.dims == 2 || g.dims == 3, "cannot export a graph of " << g.dims << " dims");
  onnx::ModelProto model;
  model.set_ir_version(onnx::IR_VERSION);
  model.set_producer_name("useg");
  model.set_producer_version(USEG_VERSION);
  model.set_doc_string("Exported by useg export from a useg model (docs/interop.md)");
  onnx::OperatorSetIdProto* opset = model.add_opset_import();
  opset->set_domain("");
  opset->set_version(kOpset);
  onnx::GraphProto* graph = model.mutable_graph();
  graph->set_name(info.model.architecture.empty() ? "useg" : info.model.architecture);
  Writer w(g, graph);

  // Weights as initializers, named as the state_dict (PyTorch's names), in its shapes.
  std::map<std::string, Tensor> weights;
  for (auto& [name, t] : net.state_dict()) weights[name] = t;
  for (const nn::ParamSpec* p : g.params()) add_initializer(graph, p->name, weights.at(p->name), p->torch_shape);
  for (const nn::ParamSpec* p : g.buffers()) add_initializer(graph, p->name, weights.at(p->name), p->torch_shape);

  // The input: [N, C, (D,) H, W]; sizes the network fixes are fixed, the rest symbolic.
  const int rank = g.dims + 2;
  std::vector<int64_t> in_dims = {0, g.in_channels};
  std::vector<std::string> in_names = {"N", ""};
  const char* axis_names[3] = {"D", "H", "W"};
  for (int a = 3 - g.dims; a < 3; ++a) {
    in_dims.push_back(g.input_size[a]);
    in_names.push_back(axis_names[a]);
  }
  set_type(graph->add_input(), "input", in_dims, in_names);

  const std::vector<bool> inference = nn::needed_nodes(g, false);
  const std::vector<bool> all = nn::needed_nodes(g, true);
  std::vector<Value> values(g.nodes.size());
  values[0] = {"input", false};
  for (size_t id = 1; id < g.nodes.size(); ++id) {
    if (!(opts.aux_outputs ? all[id] : inference[id])) continue;
    const nn::Node& n = g.nodes[id];
    const Value& x = values[n.inputs.at(0)];
    USEG_REQUIRE(!x.name.empty(), "node " << n.name << " reads a value that was not exported");
    const std::string out = n.name;
    auto param = [&](size_t i) { return n.params.at(i).name; };
    auto image_input = [&](const char* what) {
      USEG_REQUIRE(!x.flat, "node " << n.name << ": " << what << " of a flattened value cannot be "
                                    << "exported");
    };
    Value y{out, x.flat};
    switch (n.kind) {
      case nn::OpKind::Input:
        USEG_THROW("a second input node (" << n.name << ") cannot be exported");
      case nn::OpKind::Conv: {
        image_input("a convolution");
        auto* o = w.node("Conv", n.name, {x.name, param(0), param(1)}, out);
        attr(o, "kernel_shape", w.spatial(n.conv.kernel, 1, "kernel", n));
        attr(o, "strides", w.spatial(n.conv.stride, 1, "stride", n));
        std::vector<int64_t> pads = w.spatial(n.conv.pad, 0, "padding", n);
        const size_t k = pads.size();
        for (size_t i = 0; i < k; ++i) pads.push_back(pads[i]);  // begins, then ends
        attr(o, "pads", pads);
        break;
      }
      case nn::OpKind::ConvTranspose: {
        image_input("a transposed convolution");
        USEG_REQUIRE(n.conv.pad == (std::array<int, 3>{0, 0, 0}),
                     "node " << n.name << ": padded transposed convolutions are not exported");
        auto* o = w.node("ConvTranspose", n.name, {x.name, param(0), param(1)}, out);
        attr(o, "kernel_shape", w.spatial(n.conv.kernel, 1, "kernel", n));
        attr(o, "strides", w.spatial(n.conv.stride, 1, "stride", n));
        break;
      }
      case nn::OpKind::Norm: {
        image_input("a normalization");
        onnx::NodeProto* o = nullptr;
        if (n.norm == NormKind::Instance) {
          o = w.node("InstanceNormalization", n.name, {x.name, param(0), param(1)}, out);
        } else {
          USEG_REQUIRE(n.norm == NormKind::Batch,
                       "node " << n.name << ": norm " << norm_name(n.norm) << " not exported");
          // Inference: the running statistics (training_mode 0, the default).
          o = w.node("BatchNormalization", n.name,
                     {x.name, param(0), param(1), param(2), param(3)}, out);
          attr(o, "momentum", 1.f - n.momentum);  // ONNX's momentum weighs the old statistic
        }
        attr(o, "epsilon", n.eps);
        break;
      }
      case nn::OpKind::Act: {
        switch (n.act) {
          case Activation::ReLU: w.node("Relu", n.name, {x.name}, out); break;
          case Activation::LeakyReLU:
            attr(w.node("LeakyRelu", n.name, {x.name}, out), "alpha", n.slope);
            break;
          case Activation::Sigmoid: w.node("Sigmoid", n.name, {x.name}, out); break;
          case Activation::Tanh: w.node("Tanh", n.name, {x.name}, out); break;
          case Activation::Identity: y = x; break;
        }
        break;
      }
      case nn::OpKind::Dropout:  // the identity in inference
        y = x;
        break;
      case nn::OpKind::MaxPool: {
        image_input("max pooling");
        auto* o = w.node("MaxPool", n.name, {x.name}, out);
        attr(o, "kernel_shape", w.spatial(n.pool.kernel, 1, "window", n));
        attr(o, "strides", w.spatial(n.pool.stride, 1, "stride", n));
        break;  // no padding, floor (ceil_mode 0): useg's pool_output_shape
      }
      case nn::OpKind::AvgPool: {
        image_input("average pooling");
        auto* o = w.node("AveragePool", n.name, {x.name}, out);
        attr(o, "kernel_shape", w.spatial(n.pool.kernel, 1, "window", n));
        attr(o, "strides", w.spatial(n.pool.stride, 1, "stride", n));
        break;  // no padding (count_include_pad moot), floor (ceil_mode 0), as PyTorch's
      }
      case nn::OpKind::Concat: {
        const Value& b = values[n.inputs.at(1)];
        USEG_REQUIRE(x.flat == b.flat, "node " << n.name << ": concat of values of two ranks");
        attr(w.node("Concat", n.name, {x.name, b.name}, out), "axis", int64_t(1));
        break;
      }
      case nn::OpKind::Add: {
        const Value& b = values[n.inputs.at(1)];
        USEG_REQUIRE(x.flat == b.flat, "node " << n.name << ": sum of values of two ranks");
        w.node("Add", n.name, {x.name, b.name}, out);
        break;
      }
      case nn::OpKind::GlobalAvgPool:
        image_input("global pooling");
        w.node("GlobalAveragePool", n.name, {x.name}, out);
        break;
      case nn::OpKind::GlobalMaxPool:
        image_input("global pooling");
        w.node("GlobalMaxPool", n.name, {x.name}, out);
        break;
      case nn::OpKind::Flatten:
        // [N, C, (D,) H, W] -> [N, C*D*H*W] in PyTorch's (row-major) order, as useg's view.
        if (!x.flat) attr(w.node("Flatten", n.name, {x.name}, out), "axis", int64_t(1));
        else y = x;
        y.flat = true;
        break;
      case nn::OpKind::Dense: {
        std::string a = x.name;
        if (!x.flat) {  // [N, C, 1, 1(, 1)] after a global pooling: its [N, C]
          a = n.name + ".flatten";
          attr(w.node("Flatten", a, {x.name}, a), "axis", int64_t(1));
        }
        auto* o = w.node("Gemm", n.name, {a, param(0), param(1)}, out);
        attr(o, "transB", int64_t(1));  // PyTorch's Linear weight [out, in]
        y.flat = true;
        break;
      }
    }
    values[id] = y;
  }

  // Outputs: "logits" (outputs[0]), then with aux_outputs "logits_ds1", ... (Identity nodes give
  // them fixed names whatever node computes them).
  size_t count = opts.aux_outputs ? g.outputs.size() : 1;
  for (size_t k = 0; k < count; ++k) {
    const Value& v = values[g.outputs[k]];
    USEG_REQUIRE(!v.name.empty(), "output " << k << " was not exported");
    const std::string name = k == 0 ? "logits" : "logits_ds" + std::to_string(k);
    w.node("Identity", name, {v.name}, name);
    const int64_t classes = g.nodes[g.outputs[k]].channels;
    if (v.flat) {
      set_type(graph->add_output(), name, {0, classes}, {"N", ""});
    } else if (k == 0 && g.input_size == (std::array<int64_t, 3>{0, 0, 0}) &&
               !info.model.classifier()) {
      // A U-Net's logits have the input's size.
      set_type(graph->add_output(), name, std::vector<int64_t>(rank, 0),
               std::vector<std::string>(in_names.begin(), in_names.end()));
      graph->mutable_output(graph->output_size() - 1)
          ->mutable_type()->mutable_tensor_type()->mutable_shape()->mutable_dim(1)
          ->set_dim_value(classes);
    } else {
      std::vector<int64_t> dims(rank, 0);
      dims[1] = classes;
      set_type(graph->add_output(), name, dims, {"N"});
    }
  }

  // What a runtime needs around the network: model.json's preprocessing and the rest of it.
  add_metadata(model, "useg.preprocess", to_json_string(info.preprocess));
  add_metadata(model, "useg.model_json", to_json_string(info));
  std::string labels = "[";
  for (size_t i = 0; i < info.labels.size(); ++i)
    labels += (i ? ", " : "") + json_string(info.labels[i]);
  add_metadata(model, "useg.labels", labels + "]");
  add_metadata(model, "useg.patch_size", join_ints(info.patch_size));
  add_metadata(model, "useg.output",
               info.model.classifier()
                   ? "class scores (logits) before softmax"
                   : "class logits per voxel before softmax; argmax over axis 1 gives the labels");

  try {
    onnx::checker::check_model(model);
  } catch (const std::exception& e) {
    USEG_THROW("the exported ONNX model does not pass ONNX's checker: " << e.what());
  }
  std::string bytes;
  USEG_REQUIRE(model.SerializeToString(&bytes),
               "could not serialize the ONNX model (over protobuf's 2 GiB limit?)");
  write_file_atomic(path, bytes);
}

}  // namespace useg

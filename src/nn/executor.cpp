#include "nn/executor.h"

#include "useg/error.h"

namespace useg::nn {

namespace {
uint64_t mix(uint64_t a, uint64_t b) {
  uint64_t z = a + 0x9E3779B97F4A7C15ull * (b + 1);
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}
}  // namespace

Executor::Executor(const Graph& graph, Backend& backend,
                   std::vector<std::vector<Parameter*>> params)
    : m_graph(graph), m_backend(backend), m_params(std::move(params)) {
  USEG_CHECK(m_params.size() == graph.nodes.size(),
             "executor: parameters for " << m_params.size() << " nodes, the graph has "
                                         << graph.nodes.size());
}

std::vector<Tensor> Executor::forward(const Tensor& x, bool training, uint64_t seed) {
  const std::vector<Node>& nodes = m_graph.nodes;
  const size_t count = nodes.size();
  const std::vector<bool> need = needed_nodes(m_graph, training);
  std::vector<int> outputs = m_graph.outputs;
  if (!training) outputs.resize(1);
  // Readers still to come per value; outputs are never released or written into.
  std::vector<int> readers(count, 0);
  for (size_t id = 0; id < count; ++id)
    if (need[id])
      for (int i : nodes[id].inputs) ++readers[i];
  std::vector<bool> keep(count, false);
  keep[0] = true;  // the caller's tensor
  for (int o : outputs) keep[o] = true;

  std::vector<Tensor> values(count);
  // fresh[v]: v's storage belongs to v alone (not the caller's tensor, not a view of another
  // value), so its only reader may compute into it.
  std::vector<bool> fresh(count, false);
  values[0] = x;
  m_saved.assign(count, Saved{});
  for (size_t id = 1; id < count; ++id) {
    if (!need[id]) continue;
    const Node& n = nodes[id];
    std::vector<Tensor> in;
    for (int i : n.inputs) in.push_back(values[i]);
    const int first = n.inputs[0];
    // Not into an activation's output while training: it keeps that output for its backward.
    const bool kept = training && nodes[first].kind == OpKind::Act;
    const bool in_place = may_run_in_place(n.kind) && readers[first] == 1 && !keep[first] &&
                          fresh[first] && !kept;
    values[id] = node_forward(m_backend, n, m_params[id], in, training, in_place,
                              mix(seed, id), m_saved[id]);
    fresh[id] = makes_fresh_output(n, training) || (in_place && fresh[first]);
    in.clear();
    for (int i : n.inputs)
      if (--readers[i] == 0 && !keep[i]) values[i] = Tensor();
  }
  std::vector<Tensor> outs;
  for (int o : outputs) outs.push_back(values[o]);
  m_backward_ready = training;
  m_num_outputs = outs.size();
  return outs;
}

Tensor Executor::backward(const std::vector<Tensor>& d_outputs, bool need_input_grad,
                          const std::function<void(Parameter&)>& grad_ready) {
  USEG_CHECK(m_backward_ready, "backward needs a training-mode forward first");
  USEG_CHECK(d_outputs.size() == m_num_outputs,
             "backward: got " << d_outputs.size() << " output grads, the forward gave "
                              << m_num_outputs << " outputs");
  USEG_CHECK(d_outputs[0].defined(), "backward: the gradient of the first output is required");
  const std::vector<Node>& nodes = m_graph.nodes;
  const size_t count = nodes.size();
  // Which values need a gradient: those that depend on a parameter (PyTorch's requires_grad),
  // and the input when the caller asks for its gradient.
  std::vector<bool> requires(count, false);
  requires[0] = need_input_grad;
  for (size_t id = 1; id < count; ++id) {
    requires[id] = !nodes[id].params.empty();
    for (int i : nodes[id].inputs) requires[id] = requires[id] || requires[i];
  }
  std::vector<Tensor> grads(count);
  std::vector<bool> owned(count, false);  // grads[v] is ours to write into
  // Adds g to the gradient of value v: in place where one of the two is ours (a + b and b + a
  // are the same float, so the order of readers does not change the result of two terms).
  auto accumulate = [&](int v, const Tensor& g, bool g_owned) {
    if (!grads[v].defined()) {
      grads[v] = g, owned[v] = g_owned;
    } else if (owned[v]) {
      m_backend.add(grads[v], g, grads[v]);
    } else if (g_owned) {
      Tensor t = g;
      m_backend.add(t, grads[v], t);
      grads[v] = t, owned[v] = true;
    } else {
      Tensor sum = Tensor::empty(g.shape(), m_backend.device());
      m_backend.add(grads[v], g, sum);
      grads[v] = sum, owned[v] = true;
    }
  };
  for (size_t k = 0; k < d_outputs.size(); ++k)
    if (d_outputs[k].defined()) accumulate(m_graph.outputs[k], d_outputs[k], false);

  auto report = [&](size_t id) {
    if (!grad_ready) return;
    for (size_t i = 0; i < m_params[id].size(); ++i)
      if (!nodes[id].params[i].buffer) grad_ready(*m_params[id][i]);
  };
  for (size_t id = count; id-- > 1;) {
    const Node& n = nodes[id];
    if (!grads[id].defined()) {  // no loss reaches this node
      zero_param_grads(m_backend, n, m_params[id]);
      m_saved[id] = Saved{};
      report(id);
      continue;
    }
    std::vector<bool> need_dx;
    for (int i : n.inputs) need_dx.push_back(requires[i]);
    Tensor dy = grads[id];
    grads[id] = Tensor();
    std::vector<Tensor> dx = node_backward(m_backend, n, m_params[id], dy, need_dx, m_saved[id]);
    report(id);
    for (size_t i = 0; i < dx.size(); ++i)
      if (dx[i].defined()) accumulate(n.inputs[i], dx[i], dx[i].data() != dy.data());
  }
  m_backward_ready = false;
  return need_input_grad ? grads[0] : Tensor();
}

}  // namespace useg::nn

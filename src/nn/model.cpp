// useg::Network: the graph of a config with its parameters, initialisation, state_dict load/save,
// and model folders.
#include <cmath>
#include <filesystem>
#include <set>
#include <sstream>

#include "nn/executor.h"
#include "nn/builders.h"
#include "useg/error.h"
#include "core/files.h"
#include "useg/model.h"
#include "io/safetensors.h"

namespace fs = std::filesystem;

namespace useg {

// The network's state: its graph, one Parameter per ParamSpec (node order), the executor, and
// the backend's compiled plan for eval forwards.
struct Network::Impl {
  Impl(const ModelConfig& c, Backend& be) : cfg(c), backend(be), graph(nn::build_graph(c)) {
    const Device dev = be.device();
    std::vector<std::vector<Parameter*>> by_node(graph.nodes.size());
    size_t count = 0;
    for (const nn::Node& n : graph.nodes) count += n.params.size();
    tensors.resize(count);  // never resized again: the pointers below stay valid
    size_t k = 0;
    for (int id : graph.state_nodes())
      for (const nn::ParamSpec& spec : graph.nodes[id].params) {
        Parameter& p = tensors[k++];
        p.name = spec.name;
        p.torch_shape = spec.torch_shape;
        p.value = Tensor::zeros(spec.shape, dev);
        by_node[id].push_back(&p);
        (spec.buffer ? buffers : params).push_back(&p);
      }
    exec = std::make_unique<nn::Executor>(graph, be, std::move(by_node));
  }

  ModelConfig cfg;
  Backend& backend;
  nn::Graph graph;
  std::vector<Parameter> tensors;
  std::vector<Parameter*> params, buffers;  // state_dict order
  std::unique_ptr<nn::Executor> exec;
  uint64_t dropout_seed = 0, dropout_step = 0;

  // Eval-mode forwards run through the backend's plan when it has one. The plan holds prepared
  // copies of the weights, so anything that may change them bumps weights_epoch and the next
  // eval forward prepares them again.
  bool use_plan = true;
  uint64_t weights_epoch = 1, plan_epoch = 0;
  std::unique_ptr<InferencePlan> plan;
  void weights_changed() { ++weights_epoch; }

  std::vector<const Parameter*> all() const {
    std::vector<const Parameter*> v(params.begin(), params.end());
    v.insert(v.end(), buffers.begin(), buffers.end());
    return v;
  }

  // The plan's forward, or false when the backend has none for this input shape.
  bool forward_plan(const Tensor& x, std::vector<Tensor>& outs) {
    const Shape& s = x.shape();
    if (!plan || plan->input_shape() != s) {
      plan.reset();  // free the old plan's buffers before building the new one
      plan = backend.compile(graph, s);
      plan_epoch = 0;
    }
    if (!plan) return false;
    if (plan_epoch != weights_epoch) {
      plan->set_weights(all());
      plan_epoch = weights_epoch;
    }
    Tensor y = Tensor::empty(Shape{s[0], graph.out().channels, s[2], s[3], s[4]}, backend.device());
    plan->run(x, y);
    outs.assign(1, y);
    return true;
  }
};

Network::Network(const ModelConfig& config, Backend& backend)
    : m_impl(std::make_unique<Impl>(config, backend)) {
  init_weights(0);
}
Network::~Network() = default;
Network::Network(Network&&) noexcept = default;
Network& Network::operator=(Network&&) noexcept = default;

const ModelConfig& Network::config() const { return m_impl->cfg; }
const nn::Graph& Network::graph() const { return m_impl->graph; }
Backend& Network::backend() { return m_impl->backend; }

std::vector<Tensor> Network::forward(const Tensor& x, bool training) {
  Impl& m = *m_impl;
  const Shape& s = x.shape();
  USEG_CHECK(s.rank() == 5 && s.c() == m.graph.in_channels,
             "model input must be [N, " << m.graph.in_channels << ", D, H, W], got " << s.str());
  USEG_CHECK(x.device() == m.backend.device(), "model input is on " << device_name(x.device())
                                                   << " but the model runs on "
                                                   << device_name(m.backend.device()));
  // A network with a fixed input size (a flatten before a dense layer) takes that size only
  // (infer_shapes says so); any other takes multiples of its pool sizes.
  if (m.graph.input_size[0] > 0) nn::infer_shapes(m.graph, s);
  auto mult = m.graph.input_size[0] > 0 ? std::array<int64_t, 3>{1, 1, 1} : size_multiple();
  for (int a = 0; a < 3; ++a)
    USEG_CHECK(s[2 + a] % mult[a] == 0,
               "model input " << s.str() << ": spatial size " << s[2 + a] << " on axis "
                              << "DHW"[a] << " must be a multiple of " << mult[a]
                              << " (the product of the pool sizes)");
  if (!training) {
    std::vector<Tensor> outs;
    if (m.use_plan && m.forward_plan(x, outs)) return outs;
    return m.exec->forward(x, false, 0);
  }
  m.weights_changed();  // an optimizer step usually follows
  uint64_t step_seed = m.dropout_seed + 0x51ED2701ull * (++m.dropout_step);
  return m.exec->forward(x, true, step_seed);
}

Tensor Network::backward(const std::vector<Tensor>& d_outputs, bool need_input_grad,
                         const GradReady& grad_ready) {
  return m_impl->exec->backward(d_outputs, need_input_grad, grad_ready);
}
// Mutable access may change the weights: the inference plan prepares them again.
std::vector<Parameter*> Network::parameters() {
  m_impl->weights_changed();
  return m_impl->params;
}
std::vector<Parameter*> Network::buffers() {
  m_impl->weights_changed();
  return m_impl->buffers;
}
void Network::set_inference_plan(bool enabled) { m_impl->use_plan = enabled; }
std::array<int64_t, 3> Network::size_multiple() const { return nn::size_multiple(m_impl->graph); }
void Network::set_dropout_seed(uint64_t seed) {
  m_impl->dropout_seed = seed;
  m_impl->dropout_step = 0;
}

int64_t Network::num_parameters() const {
  int64_t n = 0;
  for (const Parameter* p : m_impl->params) n += p->value.numel();
  return n;
}

namespace {
// splitmix64 + Box-Muller: the same numbers on every platform for a seed.
struct Rng {
  uint64_t s;
  uint64_t next() {
    uint64_t z = (s += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
  }
  double uniform() { return (next() >> 11) * (1.0 / 9007199254740992.0); }
  double normal() {
    double u1 = uniform(), u2 = uniform();
    if (u1 < 1e-300) u1 = 1e-300;
    return std::sqrt(-2.0 * std::log(u1)) * std::cos(6.283185307179586 * u2);
  }
};

void fill_host(Parameter* p, const std::vector<float>& v) {
  Tensor h = Tensor::empty(p->value.shape());
  std::copy(v.begin(), v.end(), h.data());
  if (p->value.device() == Device::CPU)
    p->value = h;
  else
    p->value = h.to(p->value.device());
}
}  // namespace

// Kaiming normal weights (fan-in; the gain of the network's activation, as nnU-Net and
// torch.nn.init.calculate_gain), zero biases, norm scale 1 and shift 0, running mean 0 and
// variance 1. The random numbers are drawn in state_dict order.
void Network::init_weights(uint64_t seed) {
  Impl& m = *m_impl;
  m.weights_changed();
  Rng rng{seed * 0x2545F4914F6CDD1Dull + 1};
  const ModelConfig& c = m.cfg;
  double a = c.activation == Activation::LeakyReLU ? c.negative_slope : 0.0;
  double gain = c.activation == Activation::Tanh      ? 5.0 / 3.0
                : c.activation == Activation::Sigmoid ? 1.0
                                                      : std::sqrt(2.0 / (1.0 + a * a));
  size_t k = 0;
  for (int id : m.graph.state_nodes())
    for (size_t i = 0; i < m.graph.nodes[id].params.size(); ++i) {
      const nn::Node& n = m.graph.nodes[id];
      Parameter* p = &m.tensors[k++];
      std::vector<float> v(static_cast<size_t>(p->value.numel()));
      const bool weight = i == 0 && n.kind != nn::OpKind::Norm;
      if (weight) {
        const Shape& s = p->value.shape();
        double fan_in = double(s[1]) * s[2] * s[3] * s[4];
        double std = gain / std::sqrt(fan_in);
        for (auto& x : v) x = static_cast<float>(std * rng.normal());
      } else {
        // norm scale and running variance 1; biases, shifts and running means 0
        const bool one = n.kind == nn::OpKind::Norm && (i == 0 || i == 3);
        std::fill(v.begin(), v.end(), one ? 1.f : 0.f);
      }
      fill_host(p, v);
    }
}

void Network::load_state(const std::map<std::string, Tensor>& tensors,
                         const std::string& source) {
  m_impl->weights_changed();
  std::vector<Parameter*> all = m_impl->params;
  for (Parameter* b : m_impl->buffers) all.push_back(b);
  std::set<std::string> expected;
  std::vector<std::string> missing;
  for (Parameter* p : all) {
    expected.insert(p->name);
    auto it = tensors.find(p->name);
    if (it == tensors.end()) {
      missing.push_back(p->name);
      continue;
    }
    const Tensor& t = it->second;
    Shape want(p->torch_shape);
    bool ok = t.shape() == want || t.shape() == p->value.shape();
    USEG_CHECK(ok, source << ": tensor '" << p->name << "' has shape " << t.shape().str()
                          << ", the model config expects " << want.str());
    if (p->value.device() == Device::CPU) {
      p->value = t.reshaped(p->value.shape()).clone();
    } else {
      p->value = t.reshaped(p->value.shape()).to(p->value.device());
    }
  }
  if (!missing.empty()) {
    std::ostringstream os;
    for (size_t i = 0; i < missing.size() && i < 5; ++i) os << (i ? ", " : "") << missing[i];
    if (missing.size() > 5) os << ", ... (" << missing.size() << " in all)";
    USEG_THROW(source << ": missing tensors for this model config: " << os.str()
                      << " (does model.json match the weights?)");
  }
  std::vector<std::string> unexpected;
  for (const auto& [name, t] : tensors) {
    (void)t;
    bool counter = name.size() > 20 &&
                   name.compare(name.size() - 20, 20, ".num_batches_tracked") == 0;
    if (!expected.count(name) && !counter) unexpected.push_back(name);
  }
  if (!unexpected.empty()) {
    std::ostringstream os;
    for (size_t i = 0; i < unexpected.size() && i < 5; ++i)
      os << (i ? ", " : "") << unexpected[i];
    if (unexpected.size() > 5) os << ", ... (" << unexpected.size() << " in all)";
    USEG_THROW(source << ": tensors not in this model config: " << os.str()
                      << " (does model.json match the weights?)");
  }
}

std::vector<std::pair<std::string, Tensor>> Network::state_dict() const {
  std::vector<std::pair<std::string, Tensor>> out;
  for (const Parameter* p : m_impl->all())
    out.emplace_back(p->name, p->value.to(Device::CPU).clone().reshaped(Shape(p->torch_shape)));
  return out;
}

namespace {
// The parameter count of `c`, from its graph (no tensor is allocated), in double so that absurd
// configs cannot overflow.
double parameter_count(const ModelConfig& c) {
  double n = 0;
  // The graph must outlive the loop: params() points into it (a range-for over
  // build_graph(c).params() destroyed the graph first, and read freed memory: a rare SIGSEGV
  // in load_model_dir, found by AddressSanitizer).
  const nn::Graph graph = nn::build_graph(c);
  for (const nn::ParamSpec* p : graph.params()) {
    double e = 1;
    for (int64_t d : p->shape.dims()) e *= double(d);
    n += e;
  }
  return n;
}
}  // namespace

LoadedModel load_model_dir(const std::string& dir, Backend& backend) {
  fs::path d(dir);
  USEG_CHECK(fs::is_directory(d), "model folder " << dir << " does not exist");
  LoadedModel m;
  m.info = load_model_info((d / "model.json").string());
  std::string wpath = (d / "weights.safetensors").string();
  std::error_code ec;
  USEG_CHECK(fs::exists(wpath, ec), "model folder " << dir << " has no weights.safetensors");
  // Resource guard: every parameter must be in the weights file (2 bytes at the least, F16), so
  // a model.json declaring more than the file can hold is refused before the network allocates.
  const double need = 2 * parameter_count(m.info.model);
  const auto have = fs::file_size(wpath, ec);
  if (!ec && need > double(have))
    USEG_THROW(dir << "/model.json declares an architecture of at least " << need / 2
                   << " parameters (" << need << " bytes or more of weights), but "
                   << wpath << " holds " << have
                   << " bytes: model.json and the weights do not belong together");
  m.net = std::make_unique<Network>(m.info.model, backend);
  SafetensorsFile f = read_safetensors(wpath);
  m.net->load_state(f.tensors, wpath);
  return m;
}

void save_model_dir(const std::string& dir, const ModelInfo& info, const Network& net) {
  std::error_code ec;
  fs::create_directories(dir, ec);
  USEG_CHECK(!ec, "cannot create model folder " << dir << ": " << ec.message());
  write_safetensors((fs::path(dir) / "weights.safetensors").string(), net.state_dict(),
                    {{"format", "pt"}, {"producer", "useg"}});
  write_file_atomic((fs::path(dir) / "model.json").string(), to_json_string(info) + "\n");
}

}  // namespace useg

// useg::UNet's public face: parameters, initialisation, state_dict load/save, model folders.
#include <cmath>
#include <filesystem>
#include <set>
#include <sstream>

#include "nn/unet_impl.h"
#include "useg/error.h"
#include "useg/files.h"
#include "useg/model.h"
#include "useg/safetensors.h"

namespace fs = std::filesystem;

namespace useg {

UNet::UNet(const ModelConfig& config, Backend& backend)
    : m_impl(std::make_unique<nn::UNetImpl>(config, backend)) {
  init_weights(0);
}
UNet::~UNet() = default;
UNet::UNet(UNet&&) noexcept = default;
UNet& UNet::operator=(UNet&&) noexcept = default;

const ModelConfig& UNet::config() const { return m_impl->cfg; }
Backend& UNet::backend() { return m_impl->backend; }
std::vector<Tensor> UNet::forward(const Tensor& x, bool training) {
  return m_impl->forward(x, training);
}
Tensor UNet::backward(const std::vector<Tensor>& d_outputs, bool need_input_grad) {
  return m_impl->backward(d_outputs, need_input_grad);
}
// Mutable access may change the weights: the inference plan prepares them again.
std::vector<Parameter*> UNet::parameters() {
  m_impl->weights_changed();
  return m_impl->params();
}
std::vector<Parameter*> UNet::buffers() {
  m_impl->weights_changed();
  return m_impl->buffers();
}
void UNet::set_inference_plan(bool enabled) { m_impl->use_plan = enabled; }
std::array<int64_t, 3> UNet::size_multiple() const { return m_impl->size_multiple(); }
void UNet::set_dropout_seed(uint64_t seed) {
  m_impl->dropout_seed = seed;
  m_impl->dropout_step = 0;
}

int64_t UNet::num_parameters() const {
  int64_t n = 0;
  for (Parameter* p : m_impl->params()) n += p->value.numel();
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

void UNet::init_weights(uint64_t seed) {
  m_impl->weights_changed();
  Rng rng{seed * 0x2545F4914F6CDD1Dull + 1};
  const ModelConfig& c = m_impl->cfg;
  // Kaiming normal with the leaky-ReLU gain sqrt(2 / (1 + a^2)), fan-in mode (as nnU-Net).
  double a = c.activation == Activation::LeakyReLU ? c.negative_slope : 0.0;
  double gain = std::sqrt(2.0 / (1.0 + a * a));
  for (Parameter* p : m_impl->params()) {
    std::vector<float> v(static_cast<size_t>(p->value.numel()));
    const std::string& n = p->name;
    bool is_bias = n.size() > 5 && n.compare(n.size() - 5, 5, ".bias") == 0;
    bool is_norm = n.find(".norm.") != std::string::npos;
    if (is_bias) {
      std::fill(v.begin(), v.end(), 0.f);
    } else if (is_norm) {
      std::fill(v.begin(), v.end(), 1.f);
    } else {
      const Shape& s = p->value.shape();
      double fan_in = double(s[1]) * s[2] * s[3] * s[4];
      double std = gain / std::sqrt(fan_in);
      for (auto& x : v) x = static_cast<float>(std * rng.normal());
    }
    fill_host(p, v);
  }
  for (Parameter* b : m_impl->buffers()) {
    bool var = b->name.find("running_var") != std::string::npos;
    fill_host(b, std::vector<float>(static_cast<size_t>(b->value.numel()), var ? 1.f : 0.f));
  }
}

void UNet::load_state(const std::map<std::string, Tensor>& tensors, const std::string& source) {
  m_impl->weights_changed();
  std::vector<Parameter*> all = m_impl->params();
  for (Parameter* b : m_impl->buffers()) all.push_back(b);
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

std::vector<std::pair<std::string, Tensor>> UNet::state_dict() const {
  std::vector<std::pair<std::string, Tensor>> out;
  std::vector<Parameter*> all = m_impl->params();
  for (Parameter* b : m_impl->buffers()) all.push_back(b);
  for (Parameter* p : all)
    out.emplace_back(p->name, p->value.to(Device::CPU).clone().reshaped(Shape(p->torch_shape)));
  return out;
}

namespace {
// A lower bound of the parameter count of `c` (the first convolution of every encoder stage),
// in double so that absurd configs cannot overflow.
double parameter_lower_bound(const ModelConfig& c) {
  double n = 0;
  for (int s = 0; s <= c.depth; ++s) {
    auto k = c.kernel(s);
    n += double(s == 0 ? c.in_channels : c.filters(s - 1)) * c.filters(s) * k[0] * k[1] * k[2];
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
  const double need = 2 * parameter_lower_bound(m.info.model);
  const auto have = fs::file_size(wpath, ec);
  if (!ec && need > double(have))
    USEG_THROW(dir << "/model.json declares an architecture of at least " << need / 2
                   << " parameters (" << need << " bytes or more of weights), but "
                   << wpath << " holds " << have
                   << " bytes: model.json and the weights do not belong together");
  m.net = std::make_unique<UNet>(m.info.model, backend);
  SafetensorsFile f = read_safetensors(wpath);
  m.net->load_state(f.tensors, wpath);
  return m;
}

void save_model_dir(const std::string& dir, const ModelInfo& info, const UNet& net) {
  std::error_code ec;
  fs::create_directories(dir, ec);
  USEG_CHECK(!ec, "cannot create model folder " << dir << ": " << ec.message());
  write_safetensors((fs::path(dir) / "weights.safetensors").string(), net.state_dict(),
                    {{"format", "pt"}, {"producer", "useg"}});
  write_file_atomic((fs::path(dir) / "model.json").string(), to_json_string(info) + "\n");
}

}  // namespace useg

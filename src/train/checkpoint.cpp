#include "train/checkpoint.h"

#include <cstdio>
#include <cstdlib>
#include <sstream>

#include "useg/error.h"
#include "io/safetensors.h"

namespace useg::training {

namespace {

constexpr const char* kModel = "model.";
constexpr const char* kOptimizer = "optimizer.";

std::string exact(double v) {
  char b[40];
  std::snprintf(b, sizeof b, "%.17g", v);
  return b;
}

class Meta {
 public:
  Meta(const std::map<std::string, std::string>& m, const std::string& source)
      : m_meta(m), m_source(source) {}
  const std::string& str(const std::string& key) const {
    auto it = m_meta.find(key);
    USEG_REQUIRE(it != m_meta.end(), m_source << ": not a useg training checkpoint (no '" << key
                                              << "' in its metadata)");
    return it->second;
  }
  double num(const std::string& key) const {
    const std::string& s = str(key);
    char* end = nullptr;
    double v = std::strtod(s.c_str(), &end);
    USEG_REQUIRE(end && *end == '\0' && !s.empty(), m_source << ": checkpoint metadata '" << key
                                                             << "' is not a number: '" << s << "'");
    return v;
  }
  bool has(const std::string& key) const { return m_meta.count(key) != 0; }
  int64_t integer(const std::string& key) const {
    const std::string& s = str(key);
    char* end = nullptr;
    long long v = std::strtoll(s.c_str(), &end, 10);
    USEG_REQUIRE(end && *end == '\0' && !s.empty(), m_source << ": checkpoint metadata '" << key
                                                             << "' is not an integer: '" << s
                                                             << "'");
    return v;
  }

 private:
  const std::map<std::string, std::string>& m_meta;
  std::string m_source;
};

}  // namespace

void write_checkpoint(const std::string& path, const Network& net, const Optimizer& opt,
                      const TrainState& s, const std::string& config_json,
                      const std::string& model_info_json,
                      const std::vector<std::string>& train_cases,
                      const std::vector<std::string>& val_cases) {
  std::vector<std::pair<std::string, Tensor>> tensors;
  for (auto& [name, t] : net.state_dict()) tensors.emplace_back(kModel + name, t);
  for (auto& [name, t] : opt.state()) tensors.emplace_back(kOptimizer + name, t);
  auto lines = [](const std::vector<std::string>& v) {
    std::string s;
    for (const std::string& x : v) s += x + "\n";
    return s;
  };
  std::map<std::string, std::string> meta{
      {"useg_checkpoint", "1"},
      {"epoch", std::to_string(s.epoch)},
      {"iteration", std::to_string(s.iteration)},
      {"epoch_loss_sum", exact(s.epoch_loss_sum)},
      {"epoch_loss_count", std::to_string(s.epoch_loss_count)},
      {"epoch_skipped", std::to_string(s.epoch_skipped)},
      {"epoch_seconds", exact(s.epoch_seconds)},
      {"epoch_last_lr", exact(s.epoch_last_lr)},
      {"nonfinite_run", std::to_string(s.nonfinite_run)},
      {"skipped_total", std::to_string(s.skipped_total)},
      {"steps_total", std::to_string(s.steps_total)},
      {"loss_scale", exact(s.loss_scale)},
      {"loss_scale_good_steps", std::to_string(s.loss_scale_good_steps)},
      {"best_dice", exact(s.best_dice)},
      {"best_epoch", std::to_string(s.best_epoch)},
      {"epochs_since_best", std::to_string(s.epochs_since_best)},
      {"last_dice", exact(s.last_dice)},
      {"finished", s.finished},
      {"metrics_rows", s.metrics_rows},
      {"optimizer_steps", std::to_string(opt.steps())},
      {"config", config_json},
      {"model_info", model_info_json},
      {"train_cases", lines(train_cases)},
      {"val_cases", lines(val_cases)},
  };
  write_safetensors(path, tensors, meta);
}

Checkpoint read_checkpoint(const std::string& path, bool tensors) {
  SafetensorsFile f;
  if (tensors)
    f = read_safetensors(path);
  else
    f.metadata = read_safetensors_metadata(path);
  Meta m(f.metadata, path);
  USEG_REQUIRE(m.str("useg_checkpoint") == "1",
               path << ": unsupported checkpoint version " << m.str("useg_checkpoint"));
  Checkpoint c;
  TrainState& s = c.state;
  s.epoch = static_cast<int>(m.integer("epoch"));
  s.iteration = static_cast<int>(m.integer("iteration"));
  s.epoch_loss_sum = m.num("epoch_loss_sum");
  s.epoch_loss_count = m.integer("epoch_loss_count");
  s.epoch_skipped = m.integer("epoch_skipped");
  s.epoch_seconds = m.num("epoch_seconds");
  s.epoch_last_lr = m.num("epoch_last_lr");
  s.nonfinite_run = m.integer("nonfinite_run");
  s.skipped_total = m.integer("skipped_total");
  s.steps_total = m.integer("steps_total");
  if (m.has("loss_scale")) {  // absent in checkpoints written before loss scaling existed
    s.loss_scale = m.num("loss_scale");
    s.loss_scale_good_steps = m.integer("loss_scale_good_steps");
  }
  s.best_dice = m.num("best_dice");
  s.best_epoch = static_cast<int>(m.integer("best_epoch"));
  s.epochs_since_best = static_cast<int>(m.integer("epochs_since_best"));
  s.last_dice = m.num("last_dice");
  s.finished = m.str("finished");
  s.metrics_rows = m.str("metrics_rows");
  c.optimizer_steps = m.integer("optimizer_steps");
  c.config_json = m.str("config");
  c.model_info_json = m.str("model_info");
  for (auto [key, out] : {std::pair<const char*, std::vector<std::string>*>{"train_cases", &c.train_cases},
                          {"val_cases", &c.val_cases}}) {
    std::istringstream in(m.str(key));
    for (std::string line; std::getline(in, line);)
      if (!line.empty()) out->push_back(line);
  }
  const std::string model_prefix(kModel), opt_prefix(kOptimizer);
  for (auto& [name, t] : f.tensors) {
    if (name.compare(0, model_prefix.size(), model_prefix) == 0)
      c.model[name.substr(model_prefix.size())] = t;
    else if (name.compare(0, opt_prefix.size(), opt_prefix) == 0)
      c.optimizer[name.substr(opt_prefix.size())] = t;
    else
      USEG_THROW(path << ": unexpected tensor '" << name << "' in a training checkpoint");
  }
  return c;
}

}  // namespace useg::training

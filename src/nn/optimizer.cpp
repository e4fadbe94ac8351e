#include "nn/optimizer.h"

#include <cmath>

#include "useg/error.h"

namespace useg {

Optimizer::Optimizer(const OptimizerConfig& cfg, std::vector<Parameter*> params, Backend& be)
    : m_cfg(cfg), m_params(std::move(params)), m_backend(be) {
  USEG_CHECK(cfg.type == "sgd" || cfg.type == "adam" || cfg.type == "adamw",
             "optimizer '" << cfg.type << "' is not one of sgd, adam, adamw");
  bool adam = cfg.type != "sgd";
  for (Parameter* p : m_params) {
    if (!adam && cfg.momentum == 0) {
      m_a.emplace_back();
    } else {
      m_a.push_back(Tensor::zeros(p->value.shape(), be.device()));
    }
    m_b.push_back(adam ? Tensor::zeros(p->value.shape(), be.device()) : Tensor());
  }
}

double Optimizer::clip_grad_norm(double max_norm) {
  double sq = 0;
  for (Parameter* p : m_params)
    if (p->grad.defined()) sq += m_backend.sum_squares(p->grad);
  double norm = std::sqrt(sq);
  if (max_norm > 0 && norm > max_norm) {
    float s = static_cast<float>(max_norm / (norm + 1e-6));
    for (Parameter* p : m_params)
      if (p->grad.defined()) m_backend.scale(p->grad, s);
  }
  return norm;
}

void Optimizer::step(double lr) {
  ++m_steps;
  for (size_t i = 0; i < m_params.size(); ++i) {
    Parameter* p = m_params[i];
    USEG_CHECK(p->grad.defined(), "optimizer step: parameter " << p->name << " has no grad");
    if (m_cfg.type == "sgd") {
      SgdStep s;
      s.lr = static_cast<float>(lr);
      s.momentum = static_cast<float>(m_cfg.momentum);
      s.nesterov = m_cfg.nesterov;
      s.weight_decay = static_cast<float>(m_cfg.weight_decay);
      m_backend.sgd_update(p->value, p->grad, m_a[i].defined() ? &m_a[i] : nullptr, s);
    } else {
      AdamStep s;
      s.lr = static_cast<float>(lr);
      s.beta1 = static_cast<float>(m_cfg.beta1);
      s.beta2 = static_cast<float>(m_cfg.beta2);
      s.eps = static_cast<float>(m_cfg.eps);
      s.weight_decay = static_cast<float>(m_cfg.weight_decay);
      s.decoupled = m_cfg.type == "adamw";
      s.step = m_steps;
      m_backend.adam_update(p->value, p->grad, m_a[i], m_b[i], s);
    }
  }
}

std::vector<std::pair<std::string, Tensor>> Optimizer::state() const {
  std::vector<std::pair<std::string, Tensor>> out;
  const char* ka = m_cfg.type == "sgd" ? "momentum." : "exp_avg.";
  for (size_t i = 0; i < m_params.size(); ++i) {
    if (m_a[i].defined()) out.emplace_back(ka + m_params[i]->name, m_a[i].to(Device::CPU).clone());
    if (m_b[i].defined())
      out.emplace_back("exp_avg_sq." + m_params[i]->name, m_b[i].to(Device::CPU).clone());
  }
  return out;
}

void Optimizer::load_state(const std::map<std::string, Tensor>& tensors, int64_t steps,
                           const std::string& source) {
  const char* ka = m_cfg.type == "sgd" ? "momentum." : "exp_avg.";
  auto load = [&](Tensor& dst, const std::string& name) {
    auto it = tensors.find(name);
    USEG_CHECK(it != tensors.end(), source << ": optimizer state '" << name << "' is missing");
    USEG_CHECK(it->second.numel() == dst.numel(),
               source << ": optimizer state '" << name << "' has shape "
                      << it->second.shape().str() << ", expected " << dst.shape().str());
    dst = it->second.reshaped(dst.shape()).to(dst.device()).clone();
  };
  for (size_t i = 0; i < m_params.size(); ++i) {
    if (m_a[i].defined()) load(m_a[i], ka + m_params[i]->name);
    if (m_b[i].defined()) load(m_b[i], "exp_avg_sq." + m_params[i]->name);
  }
  m_steps = steps;
}

}  // namespace useg

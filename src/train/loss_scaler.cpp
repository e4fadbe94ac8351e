#include "train/loss_scaler.h"

#include <cmath>

#include "useg/error.h"

namespace useg::training {

LossScaler::LossScaler(float initial, float growth, float backoff, int growth_interval)
    : m_scale(initial), m_growth(growth), m_backoff(backoff), m_interval(growth_interval) {
  USEG_REQUIRE(
      initial > 0.f && growth > 1.f && backoff > 0.f && backoff < 1.f && growth_interval >= 1,
      "LossScaler: expected initial > 0, growth > 1, 0 < backoff < 1, "
      "interval >= 1; got "
          << initial << ", " << growth << ", " << backoff << ", " << growth_interval);
}

bool LossScaler::update(bool grads_finite) {
  m_last_inv = 1.f / m_scale;
  if (!grads_finite) {
    m_scale *= m_backoff;
    m_good = 0;
    return false;
  }
  if (++m_good >= m_interval) {
    m_scale *= m_growth;
    m_good = 0;
  }
  return true;
}

void LossScaler::restore(float scale, int good_steps) {
  USEG_REQUIRE(scale > 0.f && std::isfinite(scale) && good_steps >= 0 && good_steps < m_interval,
               "loss scaler state: expected a finite scale > 0 and 0 <= good steps < "
                   << m_interval << ", got " << scale << " and " << good_steps);
  m_scale = scale;
  m_good = good_steps;
}

}  // namespace useg::training

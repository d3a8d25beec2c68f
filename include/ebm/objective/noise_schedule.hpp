#pragma once
// Diffusion noise schedules, shared by the denoising Fisher objective and the
// reverse-diffusion samplers.  Discrete timesteps t = 0 .. T-1 with
//   x_t = sqrt(alpha_bar[t]) x_0 + sqrt(1 - alpha_bar[t]) eps,
//   alpha_bar[t] = prod_{s <= t} (1 - beta[s]).
// linear: beta from 1e-4 to 0.02 scaled by 1000/T (Ho et al. 2020);
// cosine: alpha_bar(t) = cos^2(((t/T + s)/(1 + s)) pi/2) / (same at 0), s = 0.008,
//         beta clipped at 0.999 (Nichol & Dhariwal 2021).
#include <algorithm>
#include <cmath>
#include <string>
#include <vector>

#include "../core/error.hpp"

namespace ebm {

class noise_schedule {
 public:
  enum class kind { linear, cosine };

  noise_schedule(kind k, int steps) : kind_(k) {
    EBM_REQUIRE(steps >= 1, "noise_schedule: need at least one timestep, got ", steps);
    beta_.resize(static_cast<std::size_t>(steps));
    if (k == kind::linear) {
      const double scale = 1000.0 / steps;
      const double b0 = scale * 1e-4, b1 = scale * 0.02;
      for (int t = 0; t < steps; ++t)
        beta_[static_cast<std::size_t>(t)] = steps == 1 ? b0 : b0 + (b1 - b0) * t / (steps - 1);
    } else {
      constexpr double s = 0.008, half_pi = 1.5707963267948966;
      auto f = [&](double t) { const double c = std::cos((t / steps + s) / (1 + s) * half_pi); return c * c; };
      for (int t = 0; t < steps; ++t)
        beta_[static_cast<std::size_t>(t)] = std::min(1.0 - f(t + 1) / f(t), 0.999);
    }
    alpha_bar_.resize(beta_.size());
    double a = 1;
    for (std::size_t t = 0; t < beta_.size(); ++t) alpha_bar_[t] = (a *= 1.0 - beta_[t]);
  }
  static noise_schedule linear(int steps = 1000) { return {kind::linear, steps}; }
  static noise_schedule cosine(int steps = 1000) { return {kind::cosine, steps}; }

  int steps() const { return static_cast<int>(beta_.size()); }
  kind type() const { return kind_; }
  double beta(int t) const { return beta_.at(static_cast<std::size_t>(t)); }
  double alpha(int t) const { return 1.0 - beta(t); }
  double alpha_bar(int t) const { return alpha_bar_.at(static_cast<std::size_t>(t)); }
  /// alpha_bar at t - 1 (1 before the first step).
  double alpha_bar_prev(int t) const { return t == 0 ? 1.0 : alpha_bar(t - 1); }
  double sqrt_alpha_bar(int t) const { return std::sqrt(alpha_bar(t)); }
  double sigma(int t) const { return std::sqrt(1.0 - alpha_bar(t)); }  // std of the noise in x_t

 private:
  kind kind_;
  std::vector<double> beta_, alpha_bar_;
};

}  // namespace ebm

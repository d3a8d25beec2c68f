#pragma once
// Test helper: the exact law of RePaint's output on Gaussian data.
//
// As in diffusion_reference.hpp, the exact score of N(mu, Sigma) data is
// linear, so every move of RePaint's walk is affine with Gaussian noise:
//   reverse step     x' = A x + b + sd z                  (reverse_step),
//   known pixels     x'_k = sqrt(abar') a_k + sqrt(1 - abar') z'_k   (independent of x),
//   step up          x' = sqrt(r) x + sqrt(1 - r) z,  r = abar_hi / abar_lo.
// Propagating mean and covariance along repaint::levels() gives the output
// law exactly (the known coordinates end with mean a_k and variance 0).
#include <cmath>
#include <vector>

#include "diffusion_reference.hpp"

namespace ebm::test {

struct repaint_setup {
  Eigen::VectorXd mu;
  Eigen::MatrixXd sigma;
  std::vector<bool> known;  // per coordinate
  Eigen::VectorXd value;    // the known values (read where known)
};

/// ddpm with posterior variance (beta_var = false) or variance beta; ddim
/// when `tau` is non-empty (its timesteps, with `eta`).
inline gaussian_law repaint_law(const noise_schedule& s, const std::vector<int>& levels, const repaint_setup& d,
                                bool beta_var, const std::vector<int>& tau = {}, double eta = 0) {
  const index_t D = d.mu.size();
  const Eigen::MatrixXd I = Eigen::MatrixXd::Identity(D, D);
  auto abar = [&](int l) { return l < 0 ? 1.0 : s.alpha_bar(l); };
  gaussian_law law{Eigen::VectorXd::Zero(D), I};
  const double ab0 = abar(levels.front());
  for (index_t k = 0; k < D; ++k)
    if (d.known[static_cast<std::size_t>(k)]) {
      law.mean(k) = std::sqrt(ab0) * d.value(k);
      law.cov(k, k) = 1 - ab0;
    }
  for (std::size_t k = 0; k + 1 < levels.size(); ++k) {
    const int t = levels[k], to = levels[k + 1];
    const double ab = abar(t), abp = abar(to);
    if (to < t) {
      if (tau.empty()) {
        const double beta = s.beta(t);
        const double var = t == 0 ? 0.0 : (beta_var ? beta : (1 - abp) / (1 - ab) * beta);
        reverse_step(law, d.mu, d.sigma, ab, std::sqrt(abp) * beta / (1 - ab),
                     std::sqrt(1 - beta) * (1 - abp) / (1 - ab), 0.0, var);
      } else {
        const double sig = eta * std::sqrt((1 - abp) / (1 - ab)) * std::sqrt(1 - ab / abp);
        reverse_step(law, d.mu, d.sigma, ab, std::sqrt(abp), 0.0, std::sqrt(std::max(0.0, 1 - abp - sig * sig)),
                     sig * sig);
      }
      for (index_t c = 0; c < D; ++c)
        if (d.known[static_cast<std::size_t>(c)]) {
          law.mean(c) = std::sqrt(abp) * d.value(c);
          law.cov.row(c).setZero();
          law.cov.col(c).setZero();
          law.cov(c, c) = 1 - abp;
        }
    } else {
      const double r = abp / ab;
      law.mean *= std::sqrt(r);
      law.cov = r * law.cov + (1 - r) * I;
    }
  }
  return law;
}

}  // namespace ebm::test

#pragma once
// Test helper: the exact law of DDPM and DDIM outputs on Gaussian data.
//
// With data N(mu, Sigma) the exact score at timestep t is linear,
// s(x) = -P_t (x - m_t) with m_t = sqrt(abar_t) mu and
// P_t = (abar_t Sigma + (1 - abar_t) I)^-1, so every reverse step is
// x' = A x + b + sd z and the chain's output law is Gaussian: propagating the
// mean and covariance from x_T ~ N(0, I) gives it exactly (up to rounding).
// Comparing samples with this law isolates the Monte Carlo error; comparing
// the law with the data's N(mu, Sigma) measures the sampler's discretisation
// bias.
#include <cmath>
#include <vector>

#include <Eigen/Dense>
#include <ebm/objective/noise_schedule.hpp>

namespace ebm::test {

struct gaussian_law {
  Eigen::VectorXd mean;
  Eigen::MatrixXd cov;
};

inline void reverse_step(gaussian_law& law, const Eigen::VectorXd& mu, const Eigen::MatrixXd& sigma, double ab,
                         double a_x0, double a_x, double a_eps, double var) {
  // x' = a_x0 x0_hat + a_x x + a_eps eps_hat + sqrt(var) z, with
  // x0_hat = ((I - (1-ab) P) x + (1-ab) P m) / sqrt(ab), eps_hat = sqrt(1-ab) P (x - m).
  const index_t d = mu.size();
  const Eigen::MatrixXd I = Eigen::MatrixXd::Identity(d, d);
  const Eigen::MatrixXd P = (ab * sigma + (1 - ab) * I).inverse();
  const Eigen::VectorXd m = std::sqrt(ab) * mu;
  const Eigen::MatrixXd A = a_x0 / std::sqrt(ab) * (I - (1 - ab) * P) + a_x * I + a_eps * std::sqrt(1 - ab) * P;
  const Eigen::VectorXd b = a_x0 / std::sqrt(ab) * (1 - ab) * P * m - a_eps * std::sqrt(1 - ab) * P * m;
  law.mean = A * law.mean + b;
  law.cov = A * law.cov * A.transpose() + var * I;
}

inline gaussian_law ddpm_law(const noise_schedule& s, const Eigen::VectorXd& mu, const Eigen::MatrixXd& sigma) {
  gaussian_law law{Eigen::VectorXd::Zero(mu.size()), Eigen::MatrixXd::Identity(mu.size(), mu.size())};
  for (int t = s.steps() - 1; t >= 0; --t) {
    const double ab = s.alpha_bar(t), abp = s.alpha_bar_prev(t), beta = s.beta(t);
    const double var = t == 0 ? 0.0 : (1 - abp) / (1 - ab) * beta;
    reverse_step(law, mu, sigma, ab, std::sqrt(abp) * beta / (1 - ab), std::sqrt(1 - beta) * (1 - abp) / (1 - ab),
                 0.0, var);
  }
  return law;
}

inline gaussian_law ddim_law(const noise_schedule& s, const std::vector<int>& tau, double eta,
                             const Eigen::VectorXd& mu, const Eigen::MatrixXd& sigma) {
  gaussian_law law{Eigen::VectorXd::Zero(mu.size()), Eigen::MatrixXd::Identity(mu.size(), mu.size())};
  for (std::size_t k = 0; k < tau.size(); ++k) {
    const double ab = s.alpha_bar(tau[k]), abp = k + 1 < tau.size() ? s.alpha_bar(tau[k + 1]) : 1.0;
    const double sig = eta * std::sqrt((1 - abp) / (1 - ab)) * std::sqrt(1 - ab / abp);
    reverse_step(law, mu, sigma, ab, std::sqrt(abp), 0.0, std::sqrt(std::max(0.0, 1 - abp - sig * sig)), sig * sig);
  }
  return law;
}

}  // namespace ebm::test

#include <doctest/doctest.h>

#include <Eigen/Dense>

#include <ebm/energy/gaussian.hpp>
#include <ebm/energy/posterior.hpp>
#include <ebm/sample/langevin.hpp>

#include "../sample/moment_check.hpp"
#include "analytic_check.hpp"

using namespace ebm;

namespace {
// tau * E: a prior learned "at temperature tau" (p ∝ exp(-E_scaled / tau)).
struct scaled {
  using value_type = double;
  using device_type = cpu;
  gaussian<double>* inner;
  double tau;
  tensor<double> e_;
  const tensor<double>& energy(const tensor<double>& x) {
    e_ = inner->energy(x);
    for (double& v : e_) v *= tau;
    return e_;
  }
  const tensor<double>& energy_and_grad(const tensor<double>& x, tensor<double>& g) {
    e_ = inner->energy_and_grad(x, g);
    for (double& v : e_) v *= tau;
    for (double& v : g) v *= tau;
    return e_;
  }
};
}  // namespace

static_assert(energy_function<posterior_energy<gaussian<double>>>);
static_assert(energy_function<posterior_energy<gaussian<float>>>);

TEST_CASE("posterior_energy: prior plus (w/2)|x - y|^2, gradient against finite differences") {
  auto prior = gaussian<double>::ar1(4, 0.5, 0.8);
  philox rng(11);
  tensor<double> y(shape{6, 4});
  rng.fill_normal(y.span());
  auto post = posterior_of(prior, y, 2.5);
  test::check_energy_gradient(post, 4);

  // By hand, one observation shared by all six chains (M = 1 divides N = 6).
  tensor<double> y1(shape{1, 4}), x(shape{6, 4});
  rng.fill_normal(y1.span());
  rng.fill_normal(x.span());
  auto shared = posterior_of(prior, y1, 0.7);
  test::check_energy_gradient(shared, 4);
  const tensor<double> e(shared.energy(x));
  const tensor<double> e0(prior.energy(x));
  for (index_t i = 0; i < 6; ++i) {
    double sq = 0;
    for (index_t j = 0; j < 4; ++j) sq += (x(i, j) - y1(0, j)) * (x(i, j) - y1(0, j));
    CHECK(e[i] == doctest::Approx(e0[i] + 0.35 * sq).epsilon(1e-14));
  }
  tensor<double> bad(shape{4, 4});  // 4 chains for 6 observations
  CHECK_THROWS_AS(post.energy(bad), ebm::error);
  CHECK_THROWS_AS(posterior_of(prior, y, -1.0), ebm::error);
}

TEST_CASE("posterior_energy: Langevin at temperature tau = eta / s samples the Gaussian posterior") {
  // Prior N(mu, S) learned at temperature tau: E = tau * (1/2)(x-mu)^T S^-1 (x-mu).
  // Observation y = x + N(0, sigma^2 I).  Posterior: precision P = S^-1 + I / sigma^2,
  // mean m = P^-1 (S^-1 mu + y / sigma^2).  The sampler x <- x - (s/2) grad U + sqrt(eta) eps
  // is the unadjusted Langevin algorithm with step h = eta on U / tau, with tau = eta / s;
  // so U = E + (tau / sigma^2)/2 |x - y|^2 targets the posterior.  For a Gaussian
  // target ULA's stationary law is exactly N(m, (P (I - h P / 4))^-1): the mean is
  // unbiased and the covariance is off by O(h), both checked in closed form.
  const index_t d = 3;
  Eigen::Vector3d mu(0.3, -0.2, 0.5);
  Eigen::Matrix3d S;
  S << 0.5, 0.2, 0.0, 0.2, 0.4, 0.1, 0.0, 0.1, 0.3;
  gaussian<double> g(mu, S);
  const double tau = 0.04, s = 1.0, sigma = 0.5;
  scaled prior{&g, tau, {}};
  Eigen::Vector3d yv(0.9, 0.4, -0.6);
  tensor<double> y(shape{1, d});
  for (index_t j = 0; j < d; ++j) y[j] = yv(j);
  auto post = posterior_of(prior, y, tau / (sigma * sigma));

  const Eigen::Matrix3d P = g.precision() + Eigen::Matrix3d::Identity() / (sigma * sigma);
  const Eigen::Vector3d m = P.ldlt().solve(g.precision() * mu + yv / (sigma * sigma));
  const double h = tau * s;  // ULA step on U / tau
  const Eigen::Matrix3d C = (P * (Eigen::Matrix3d::Identity() - h * P / 4)).inverse();

  const index_t chains = 6000;
  tensor<double> x(shape{chains, d}, 0.0);  // all chains start at 0, far from m
  langevin<double> sampler(schedule::constant<double>(s), schedule::constant<double>(tau * s));
  philox rng(2024);
  sampler.run(post, x, 400, rng);  // relaxation time 2 / (h lambda_min(P)) ~ 10 steps
  const auto rep = test::check_moments(x, m, C);
  CHECK(rep.worst_z < 5.0);
  // The stated posterior, not the prior or the observation: m is far from both.
  CHECK((m - mu).norm() > 0.2);
  CHECK((m - yv).norm() > 0.2);
}

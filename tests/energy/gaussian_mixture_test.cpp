#include <doctest/doctest.h>

#include <ebm/energy/gaussian_mixture.hpp>

#include "../sample/moment_check.hpp"
#include "analytic_check.hpp"

using namespace ebm;

namespace {
gaussian_mixture<double> example() {
  Eigen::Matrix2d c0, c1, c2;
  c0 << 0.6, 0.2, 0.2, 0.4;
  c1 << 0.5, -0.15, -0.15, 0.7;
  c2 << 0.2, 0.0, 0.0, 0.2;
  return gaussian_mixture<double>({1.0, 2.0, 1.0}, {gaussian<double>(Eigen::Vector2d(-1.5, 0.0), c0),
                                                   gaussian<double>(Eigen::Vector2d(1.2, 0.8), c1),
                                                   gaussian<double>(Eigen::Vector2d(0.0, -2.0), c2)});
}
}  // namespace

static_assert(energy_function<gaussian_mixture<double>>);

TEST_CASE("gaussian_mixture: density, normalisation, weights") {
  auto gm = example();
  CHECK(gm.weight(1) == doctest::Approx(0.5));
  CHECK(test::integrate_2d(gm, -10, 10) == doctest::Approx(1.0).epsilon(1e-6));
  // p(x) = sum_k pi_k p_k(x), component by component.
  philox rng(1);
  tensor<double> x(shape{5, 2});
  rng.fill_normal(x.span());
  const tensor<double> lp = gm.log_density(x);
  for (index_t i = 0; i < 5; ++i) {
    double p = 0;
    for (index_t k = 0; k < 3; ++k) {
      auto c = gm.component(k);
      tensor<double> xi(shape{1, 2});
      xi[0] = x(i, 0), xi[1] = x(i, 1);
      p += gm.weight(k) * std::exp(-c.energy(xi)[0]);
    }
    CHECK(lp[i] == doctest::Approx(std::log(p)).epsilon(1e-12));
  }
  // Far from every mode the log-sum-exp stays finite.
  tensor<double> far(shape{1, 2}, 80.0);
  CHECK(std::isfinite(gm.energy(far)[0]));
}

TEST_CASE("gaussian_mixture: gradient and class-posterior gradient against finite differences") {
  auto gm = example();
  test::check_energy_gradient(gm, 2, 1.2);
  // grad log p(k | x) = grad log pi_k p_k(x) - grad log p(x): central differences of the
  // log responsibilities (tolerance as in check_energy_gradient).
  philox rng(2);
  tensor<double> x(shape{4, 2});
  rng.fill_normal(x.span());
  const std::vector<int> labels{0, 1, 2, 1};
  tensor<double> g;
  gm.class_log_prob_grad(x, labels, g);
  const double h = 1e-5;
  for (index_t i = 0; i < 4; ++i)
    for (index_t j = 0; j < 2; ++j) {
      tensor<double> xp = x, xm = x;
      xp(i, j) += h;
      xm(i, j) -= h;
      const int k = labels[static_cast<std::size_t>(i)];
      const double fd = (std::log(gm.responsibilities(xp)(i, k)) - std::log(gm.responsibilities(xm)(i, k))) / (2 * h);
      CHECK(g(i, j) == doctest::Approx(fd).epsilon(1e-6).scale(1 + std::abs(fd)));
    }
  const tensor<double> r = gm.responsibilities(x);
  for (index_t i = 0; i < 4; ++i) CHECK(r(i, 0) + r(i, 1) + r(i, 2) == doctest::Approx(1.0).epsilon(1e-14));
  const std::vector<int> bad{0, 3, 0, 0};
  CHECK_THROWS_WITH_AS(gm.class_log_prob_grad(x, bad, g), doctest::Contains("label 3 out of range"), ebm::error);
}

TEST_CASE("gaussian_mixture: exact samples have the stated mean and covariance and weights") {
  // 30000 samples: moments within 5 SE; component counts Binomial(30000, pi_k) within 5 sd.
  auto gm = example();
  philox rng(4);
  std::vector<int> labels;
  const tensor<double> x = gm.sample(30000, rng, &labels);
  test::check_moments(x, gm.mean(), gm.covariance());
  std::vector<int> counts(3, 0);
  for (int k : labels) ++counts[static_cast<std::size_t>(k)];
  for (index_t k = 0; k < 3; ++k) {
    const double p = gm.weight(k);
    CHECK(std::abs(counts[static_cast<std::size_t>(k)] - 30000 * p) < 5 * std::sqrt(30000 * p * (1 - p)));
  }
  CHECK_THROWS_AS(gaussian_mixture<double>({1.0}, {}), ebm::error);
  CHECK_THROWS_AS(gaussian_mixture<double>({-1.0}, {gaussian<double>::isotropic(2)}), ebm::error);
}

#include <doctest/doctest.h>

#include <numbers>

#include <ebm/energy/gaussian.hpp>

#include "../sample/moment_check.hpp"
#include "analytic_check.hpp"

using namespace ebm;

namespace {
gaussian<double> example() {
  Eigen::Vector2d mu(0.5, -1.0);
  Eigen::Matrix2d c;
  c << 1.0, 0.6, 0.6, 2.0;
  return gaussian<double>(mu, c);
}
}  // namespace

static_assert(energy_function<gaussian<double>>);
static_assert(energy_function<gaussian<float>>);

TEST_CASE("gaussian: energy is the normalised negative log density") {
  auto g = example();
  // By hand: Sigma^-1 = [[2, -0.6], [-0.6, 1]] / 1.64, det = 1.64.
  tensor<double> x(shape{1, 2});
  x[0] = 1.5, x[1] = 0.0;  // x - mu = (1, 1)
  const double quad = (2 - 0.6 - 0.6 + 1) / 1.64;
  const double expected = 0.5 * quad + 0.5 * std::log(4 * std::numbers::pi * std::numbers::pi * 1.64);
  CHECK(g.energy(x)[0] == doctest::Approx(expected).epsilon(1e-13));
  CHECK(g.log_density(x)[0] == doctest::Approx(-expected).epsilon(1e-13));
  CHECK(test::integrate_2d(g, -12, 12) == doctest::Approx(1.0).epsilon(1e-6));
  tensor<double> s;
  g.score(x, s);
  CHECK(s[0] == doctest::Approx(-(2 - 0.6) / 1.64));
  CHECK(s[1] == doctest::Approx(-(-0.6 + 1) / 1.64));
}

TEST_CASE("gaussian: gradient against finite differences; batches [N, ...]") {
  auto g = example();
  test::check_energy_gradient(g, 2);
  auto a = gaussian<double>::ar1(7, -0.6, 1.3);
  test::check_energy_gradient(a, 7);
  // [N, 1, 2, 2] input reads as 4 features.
  auto g4 = gaussian<double>::isotropic(4, 2.0);
  tensor<double> x(shape{3, 1, 2, 2}, 1.0);
  tensor<double> grad;
  g4.energy_and_grad(x, grad);
  CHECK(grad.shape() == x.shape());
  CHECK(grad[5] == doctest::Approx(0.25));
  tensor<double> bad(shape{3, 5});
  CHECK_THROWS_WITH_AS(g4.energy(bad), doctest::Contains("expected a batch [N, 4]"), ebm::error);
}

TEST_CASE("gaussian: exact samples have the stated mean and covariance") {
  // 20000 exact samples: every moment within 5 Monte Carlo standard errors.
  auto a = gaussian<double>::ar1(5, 0.7, 0.5);
  philox rng(3);
  test::check_moments(a.sample(20000, rng), a.mean(), a.covariance());
  gaussian<float> f(example().mean().cast<float>(), example().covariance().cast<float>());
  test::check_moments(f.sample(20000, rng), f.mean(), f.covariance());
  CHECK(a.covariance()(0, 3) == doctest::Approx(0.25 * 0.343));
}

TEST_CASE("gaussian: a covariance that is not positive definite, or not symmetric, is refused") {
  Eigen::Matrix2d c;
  c << 1.0, 2.0, 2.0, 1.0;
  CHECK_THROWS_WITH_AS(gaussian<double>(Eigen::Vector2d::Zero(), c), doctest::Contains("not positive definite"),
                       ebm::error);
  c << 1.0, 0.5, 0.1, 1.0;
  CHECK_THROWS_WITH_AS(gaussian<double>(Eigen::Vector2d::Zero(), c), doctest::Contains("symmetric"), ebm::error);
  CHECK_THROWS_AS(gaussian<double>(Eigen::Vector3d::Zero(), Eigen::Matrix2d::Identity()), ebm::error);
  CHECK_THROWS_AS(gaussian<double>::ar1(3, 1.0), ebm::error);
}

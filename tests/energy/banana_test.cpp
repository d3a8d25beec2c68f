#include <doctest/doctest.h>

#include <ebm/energy/banana.hpp>

#include "../sample/moment_check.hpp"
#include "analytic_check.hpp"

using namespace ebm;

static_assert(energy_function<banana<double>>);
static_assert(energy_function<banana<float>>);

TEST_CASE("banana: normalised density, gradient, exact samples") {
  banana<double> b2(2, 1.5, 0.4);
  // The density integrates to 1 (unit-Jacobian map of a Gaussian).  The banana reaches
  // x_2 ~ -b x_1^2: the box [-20, 20]^2 holds it all.
  CHECK(test::integrate_2d(b2, -20, 20, 800) == doctest::Approx(1.0).epsilon(1e-5));
  test::check_energy_gradient(b2, 2);
  banana<double> b5(5, 1.0, 1.0);
  test::check_energy_gradient(b5, 5);
  // Exact samples: mean 0, covariance diag(a^2, 1 + 2 b^2 a^4, 1, ...).  The x_2 products
  // are heavy-tailed (fourth powers of z_1^2), but the 5-SE check estimates their
  // standard errors from the samples themselves; 40000 samples.
  CHECK(b5.covariance()(1, 1) == doctest::Approx(3.0));
  CHECK(b2.covariance()(1, 1) == doctest::Approx(1 + 2 * 0.16 * 5.0625));
  philox rng(7);
  test::check_moments(b2.sample(40000, rng), b2.mean(), b2.covariance());
  test::check_moments(b5.sample(40000, rng), b5.mean(), b5.covariance());
  // Score = -grad E; log density = -E.
  tensor<double> x(shape{1, 2});
  x[0] = 1.0, x[1] = -0.5;
  tensor<double> s, g;
  b2.score(x, s);
  b2.energy_and_grad(x, g);
  CHECK(s[0] == -g[0]);
  const double u = -0.5 + 0.4 * (1 - 2.25);
  CHECK(g[0] == doctest::Approx(1 / 2.25 + 2 * 0.4 * 1.0 * u));
  CHECK(g[1] == doctest::Approx(u));
  CHECK_THROWS_AS(banana<double>(1), ebm::error);
  CHECK_THROWS_AS(banana<double>(2, -1.0), ebm::error);
}

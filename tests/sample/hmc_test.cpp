#include <doctest/doctest.h>

#include <cstring>

#include <ebm/energy/gaussian.hpp>
#include <ebm/energy/gaussian_mixture.hpp>
#include <ebm/sample/hmc.hpp>
#include <ebm/sample/initializers.hpp>

#include "moment_check.hpp"

using namespace ebm;

namespace {
gaussian<double> correlated3() {
  Eigen::Vector3d mu(1.0, -2.0, 0.5);
  Eigen::Matrix3d c;
  c << 2.0, 0.6, 0.3,  //
      0.6, 1.0, -0.3,  //
      0.3, -0.3, 0.8;  // eigenvalues 0.35, 1.15, 2.30
  return gaussian<double>(mu, c);
}
}  // namespace

// Same protocol as the MALA tests: M chains from U(-4, 4), a burn-in far
// longer than the mixing time, final states within 5 standard errors of the
// exact moments (tests/sample/moment_check.hpp).

TEST_CASE("HMC reproduces a correlated 3-D Gaussian's mean and covariance") {
  auto target = correlated3();
  for (int L : {3, 12}) {
    INFO("leapfrog steps " << L);
    philox rng(500 + static_cast<std::uint64_t>(L));
    tensor<double> x;
    init::uniform_noise<double>(shape{3}, -4, 4).initialize(x, 8000, rng);
    hmc<double> sampler(0.35, L);
    const chain_stats st = sampler.run(target, x, 150, rng);
    CHECK(st.grad_evals == 150 * L + 1);
    CHECK(st.acceptance_rate() > 0.7);
    CHECK(st.acceptance_rate() < 1.0);
    test::check_moments(x, target.mean(), target.covariance());
  }
}

TEST_CASE("HMC with a jittered step reproduces the Gaussian and breaks a resonance") {
  // Variances 1 (isotropic, unit mass): the dynamics rotate each coordinate at unit
  // frequency, so a trajectory of length eps L = pi maps x - mu to -(x - mu) exactly
  // up to leapfrog error: without jitter the chains oscillate instead of mixing, and
  // 60 iterations from U(-4, 4) leave the start's spread (variance ~5.3) in place.
  // With the step jittered by +-40% the lengths spread over [0.6 pi, 1.4 pi] and the
  // chains converge.
  gaussian<double> target = gaussian<double>::isotropic(3, 1.0);
  const double pi = 3.141592653589793;
  philox rng(21);
  tensor<double> x, y;
  init::uniform_noise<double>(shape{3}, -4, 4).initialize(x, 8000, rng);
  y = x;
  hmc<double> jittered(pi / 10, 10);
  jittered.jitter(0.4);
  const chain_stats st = jittered.run(target, x, 60, rng);
  CHECK(st.acceptance_rate() > 0.9);
  test::check_moments(x, target.mean(), target.covariance());
  hmc<double>(pi / 10, 10).run(target, y, 60, rng);
  CHECK(test::check_moments(y, target.mean(), target.covariance(), 5, 0, false).worst_z > 20);
  CHECK_THROWS_AS(jittered.jitter(1.0), ebm::error);
}

TEST_CASE("HMC with a diagonal mass on a badly scaled Gaussian") {
  // Variances 100, 1 and 0.01: with M = diag(0.01, 1, 100) (the precision) the
  // dynamics see an isotropic target with unit frequency, and a trajectory of length
  // eps L = 1.5 ~ pi/2 (a quarter period) nearly decorrelates each iteration.  (A
  // length near pi would map x - mu to about -(x - mu) and mix slowly.)  With unit
  // mass the same eps is unstable along the 0.01 direction (eps > 2 sigma = 0.2) and
  // nearly everything is rejected.
  Eigen::Vector3d mu(5.0, 0.0, -0.3);
  Eigen::Vector3d var(100.0, 1.0, 0.01);
  gaussian<double> target(mu, Eigen::Matrix3d(var.asDiagonal()));
  philox rng(77);
  tensor<double> x;
  init::uniform_noise<double>(shape{3}, -4, 4).initialize(x, 8000, rng);
  hmc<double> scaled(0.5, 3, std::vector<double>{0.01, 1.0, 100.0});
  const chain_stats st = scaled.run(target, x, 200, rng);
  CHECK(st.acceptance_rate() > 0.8);
  test::check_moments(x, target.mean(), target.covariance());

  tensor<double> y;
  init::uniform_noise<double>(shape{3}, -4, 4).initialize(y, 500, rng);
  hmc<double> unit(0.5, 3);
  CHECK(unit.run(target, y, 20, rng).acceptance_rate() < 0.01);
}

TEST_CASE("HMC reproduces a 2-D Gaussian mixture's mean and covariance") {
  Eigen::Matrix2d c0, c1;
  c0 << 0.6, 0.2, 0.2, 0.4;
  c1 << 0.5, -0.15, -0.15, 0.7;
  gaussian_mixture<double> target({0.35, 0.65}, {gaussian<double>(Eigen::Vector2d(-1.5, 0.0), c0),
                                                gaussian<double>(Eigen::Vector2d(1.2, 0.8), c1)});
  philox rng(303);
  tensor<double> x;
  init::uniform_noise<double>(shape{2}, -4, 4).initialize(x, 8000, rng);
  // Converged after ~50 iterations in trial runs; 200 leaves a wide margin.
  hmc<double> sampler(0.3, 10);
  const chain_stats st = sampler.run(target, x, 200, rng);
  CHECK(st.acceptance_rate() > 0.9);
  test::check_moments(x, target.mean(), target.covariance());
}

TEST_CASE("HMC: the leapfrog energy error shrinks as eps^2") {
  // The Hamiltonian error of leapfrog over a fixed trajectory length is O(eps^2), so
  // 1 - acceptance (~ E|dH| for small dH) drops ~4x when eps halves.  Ratio bounds 2.5..6
  // leave room for the Monte Carlo error of 4000 chains x 20 iterations.
  auto target = correlated3();
  double reject[2];
  for (int k = 0; k < 2; ++k) {
    const double eps = k == 0 ? 0.2 : 0.1;
    philox rng(31);
    tensor<double> x = target.sample(4000, rng);
    hmc<double> sampler(eps, static_cast<int>(std::lround(1.2 / eps)));
    reject[k] = 1 - sampler.run(target, x, 20, rng).acceptance_rate();
  }
  if (std::getenv("EBM_TEST_VERBOSE")) MESSAGE("rejection rates " << reject[0] << " " << reject[1]);
  CHECK(reject[0] / reject[1] > 2.5);
  CHECK(reject[0] / reject[1] < 6.0);
}

TEST_CASE("HMC: reproducibility, masks, mass checks, divergence") {
  auto target = correlated3();
  philox rng(8);
  tensor<double> x0(shape{32, 3});
  rng.fill_normal(x0.span());
  SUBCASE("a seed fixes the chains") {
    tensor<double> a = x0, b = x0;
    philox r1(3), r2(3);
    hmc<double> sampler(0.3, 4);
    sampler.run(target, a, 20, r1);
    sampler.run(target, b, 20, r2);
    CHECK(std::memcmp(a.data(), b.data(), sizeof(double) * a.size()) == 0);
  }
  SUBCASE("a per-batch mask keeps the other entries bit-identical") {
    tensor<double> mask(x0.shape());
    for (index_t i = 0; i < mask.size(); ++i) mask[i] = (i % 4 == 0) ? 1.0 : 0.0;
    tensor<double> x = x0;
    x[1] = -0.0;
    const tensor<double> before = x;
    hmc<double>(0.3, 4).run(target, x, 20, rng, mask);
    int moved = 0;
    for (index_t i = 0; i < x.size(); ++i) {
      if (mask[i] == 0) CHECK(std::memcmp(&x[i], &before[i], sizeof(double)) == 0);
      else moved += x[i] != before[i];
    }
    CHECK(moved > 15);
  }
  SUBCASE("a mass of the wrong length is refused") {
    tensor<double> x = x0;
    hmc<double> sampler(0.3, 4, std::vector<double>{1.0, 2.0});
    CHECK_THROWS_WITH_AS(sampler.run(target, x, 1, rng), doctest::Contains("diagonal mass has 2 entries"),
                         ebm::error);
    CHECK_THROWS_AS(hmc<double>(0.3, 0), ebm::error);
    CHECK_THROWS_AS(hmc<double>(0.3, 2, -1.0), ebm::error);
  }
  SUBCASE("an overflowing trajectory is rejected and counted, the chains stay put") {
    tensor<double> x = x0;
    const chain_stats st = hmc<double>(1e150, 3).run(target, x, 3, rng);
    CHECK(st.divergent == 3 * 32);
    CHECK(std::memcmp(x.data(), x0.data(), sizeof(double) * x.size()) == 0);
  }
}

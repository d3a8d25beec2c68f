#include <doctest/doctest.h>

#include <cstring>

#include <ebm/energy/gaussian.hpp>
#include <ebm/energy/gaussian_mixture.hpp>
#include <ebm/sample/initializers.hpp>
#include <ebm/sample/langevin.hpp>
#include <ebm/sample/mala.hpp>

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
gaussian_mixture<double> mixture2() {
  Eigen::Matrix2d c0, c1;
  c0 << 0.6, 0.2, 0.2, 0.4;
  c1 << 0.5, -0.15, -0.15, 0.7;
  return gaussian_mixture<double>({0.35, 0.65}, {gaussian<double>(Eigen::Vector2d(-1.5, 0.0), c0),
                                                gaussian<double>(Eigen::Vector2d(1.2, 0.8), c1)});
}
}  // namespace

// Protocol of the moment tests: M independent chains start far from the
// target (U(-4, 4) per coordinate), run a burn-in long enough for the
// starting bias to decay far below one standard error, and the final states
// are compared with the exact mean and covariance (tests/sample/moment_check.hpp:
// 5 Monte Carlo standard errors each).

TEST_CASE("MALA reproduces a correlated 3-D Gaussian's mean and covariance") {
  auto target = correlated3();
  philox rng(101);
  tensor<double> x;
  init::uniform_noise<double>(shape{3}, -4, 4).initialize(x, 8000, rng);
  mala<double> sampler(0.5);
  const chain_stats st = sampler.run(target, x, 400, rng);
  CHECK(st.grad_evals == 401);
  CHECK(st.chains() == 8000);
  // A step of 0.5 in 3-D accepts most proposals but far from all.
  CHECK(st.acceptance_rate() > 0.6);
  CHECK(st.acceptance_rate() < 0.95);
  test::check_moments(x, target.mean(), target.covariance());

  // The same step without the Metropolis correction is visibly biased (the ULA law's
  // variance along the 0.35 eigenvector is inflated by ~50%): the check has power.
  philox rng2(102);
  init::uniform_noise<double>(shape{3}, -4, 4).initialize(x, 8000, rng2);
  unadjusted_langevin(0.5).run(target, x, 400, rng2);
  CHECK(test::check_moments(x, target.mean(), target.covariance(), 5, 0, false).worst_z > 6);
}

TEST_CASE("MALA reproduces a 2-D Gaussian mixture's mean and covariance") {
  // Modes 2.7 apart with standard deviations ~0.7: chains must cross between modes to
  // reach the 35/65 weights from a start that is split about evenly (they have after ~100
  // steps: 600 leaves a wide margin).
  auto target = mixture2();
  philox rng(202);
  tensor<double> x;
  init::uniform_noise<double>(shape{2}, -4, 4).initialize(x, 8000, rng);
  mala<double> sampler(0.6);
  const chain_stats st = sampler.run(target, x, 600, rng);
  CHECK(st.acceptance_rate() > 0.5);
  test::check_moments(x, target.mean(), target.covariance());
}

TEST_CASE("MALA in float on the Gaussian") {
  // Same protocol in float (energies and gradients in float, acceptance sums in double).
  gaussian<float> target(correlated3().mean().cast<float>(), correlated3().covariance().cast<float>());
  philox rng(303);
  tensor<float> x;
  init::uniform_noise<float>(shape{3}, -4, 4).initialize(x, 8000, rng);
  mala<float> sampler(0.5f);
  sampler.run(target, x, 400, rng);
  test::check_moments(x, target.mean(), target.covariance());
}

TEST_CASE("MALA: per-chain acceptance, reproducibility, masks and divergence") {
  auto target = correlated3();
  philox rng(4);
  tensor<double> x0(shape{64, 3});
  rng.fill_normal(x0.span());
  SUBCASE("the per-chain rates average to the overall rate; a seed fixes the chains") {
    mala<double> sampler(1.5);
    tensor<double> a = x0, b = x0;
    philox r1(9), r2(9);
    const chain_stats sa = sampler.run(target, a, 50, r1);
    const chain_stats sb = sampler.run(target, b, 50, r2);
    CHECK(std::memcmp(a.data(), b.data(), sizeof(double) * a.size()) == 0);
    CHECK(sa.accepted == sb.accepted);
    double mean_rate = 0;
    for (index_t c = 0; c < sa.chains(); ++c) mean_rate += sa.acceptance_rate(c) / double(sa.chains());
    CHECK(mean_rate == doctest::Approx(sa.acceptance_rate()).epsilon(1e-12));
    CHECK(sa.acceptance_rate() < 1.0);
  }
  SUBCASE("a mask keeps the other entries bit-identical") {
    tensor<double> mask(shape{3});
    mask[0] = 0, mask[1] = 1, mask[2] = 0;
    tensor<double> x = x0;
    mala<double>(0.4).run(target, x, 30, rng, mask);
    for (index_t i = 0; i < x.size(); ++i) {
      if (i % 3 != 1) CHECK(std::memcmp(&x[i], &x0[i], sizeof(double)) == 0);
    }
    int moved = 0;
    for (index_t c = 0; c < 64; ++c) moved += x(c, 1) != x0(c, 1);
    CHECK(moved > 50);
  }
  SUBCASE("a huge step diverges: proposals are rejected, not propagated") {
    // Step 1e200: proposals overflow to Inf positions; the chains must stay put.
    tensor<double> x = x0;
    const chain_stats st = mala<double>(1e200).run(target, x, 5, rng);
    CHECK(st.divergent > 0);
    CHECK(std::memcmp(x.data(), x0.data(), sizeof(double) * x.size()) == 0);
  }
  SUBCASE("a non-finite start throws naming the chain") {
    tensor<double> x = x0;
    x(17, 2) = std::numeric_limits<double>::quiet_NaN();
    CHECK_THROWS_WITH_AS(mala<double>(0.1).run(target, x, 5, rng), doctest::Contains("chain 17"), ebm::error);
  }
}

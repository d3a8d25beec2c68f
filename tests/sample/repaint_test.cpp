#include <doctest/doctest.h>

#include <cmath>
#include <cstring>
#include <limits>
#include <vector>

#include <ebm/energy/diffused_gaussian.hpp>
#include <ebm/sample/repaint.hpp>

#include "moment_check.hpp"
#include "repaint_reference.hpp"

using namespace ebm;

namespace {
// Data N(0, [[1, rho], [rho, 1]]); coordinate 0 is known (= a), coordinate 1 is
// filled.  The exact conditional is N(rho a, 1 - rho^2) = N(1.2, 0.36).
constexpr double rho = 0.8, a_known = 1.5;

Eigen::MatrixXd corr_cov() {
  Eigen::MatrixXd c(2, 2);
  c << 1.0, rho, rho, 1.0;
  return c;
}
test::repaint_setup corr_setup() {
  Eigen::VectorXd v(2);
  v << a_known, 0.0;
  return {Eigen::VectorXd::Zero(2), corr_cov(), {true, false}, v};
}
// x0 [M, 2] with coordinate 0 = a (coordinate 1 = NaN: never read) and the mask [2].
tensor<double> corr_known(index_t M) {
  tensor<double> x(shape{M, 2});
  for (index_t i = 0; i < M; ++i) x(i, 0) = a_known, x(i, 1) = std::numeric_limits<double>::quiet_NaN();
  return x;
}
tensor<double> corr_mask() {
  tensor<double> m(shape{2});
  m[0] = 1, m[1] = 0;
  return m;
}
tensor<double> filled(const tensor<double>& x) {
  tensor<double> y(shape{x.extent(0), 1});
  for (index_t i = 0; i < x.extent(0); ++i) y[i] = x(i, 1);
  return y;
}
Eigen::VectorXd v1(double m) { return Eigen::VectorXd::Constant(1, m); }
Eigen::MatrixXd m1(double c) { return Eigen::MatrixXd::Constant(1, 1, c); }

// N(0, I) data: the diffused law is N(0, I) at every t, score -x (any shape).
struct standard_normal_score {
  using value_type = float;
  void score(const tensor<float>& x, int, tensor<float>& out) {
    out = x;
    for (float& v : out) v = -v;
  }
};
// Poisons chain 1 (its second, filled, coordinate) at timestep 7.
struct poisoned_score {
  using value_type = double;
  void score(const tensor<double>& x, int t, tensor<double>& out) {
    out = x;
    for (double& v : out) v = -v;
    if (t == 7) out[x.shape().sample_size() + 1] = std::numeric_limits<double>::infinity();  // a filled pixel
  }
};
}  // namespace

TEST_CASE("RePaint: the walk of noise levels follows the paper's jump schedule") {
  const auto sched = noise_schedule::linear(6);
  // resample = 1: the sampler's own timesteps, then -1 (clean).
  CHECK(repaint<double>(ddpm<double>(sched)).levels() == std::vector<int>{5, 4, 3, 2, 1, 0, -1});
  // resample 2, jump length 2: jump points at levels 0 and 2 (RePaint's get_schedule_jump(6, 2, 2)).
  const repaint<double> r22(ddpm<double>(sched), 2, 2);
  CHECK(r22.levels() == std::vector<int>{5, 4, 3, 2, 3, 4, 3, 2, 1, 0, 1, 2, 1, 0, -1});
  CHECK(r22.reverse_steps() == 10);
  // resample 3, jump length 1: every level but the first and the clean one is revisited twice.
  const repaint<double> r31(ddpm<double>(sched), 3, 1);
  CHECK(r31.levels() ==
        std::vector<int>{5, 4, 5, 4, 5, 4, 3, 4, 3, 4, 3, 2, 3, 2, 3, 2, 1, 2, 1, 2, 1, 0, 1, 0, 1, 0, -1});
  CHECK(r31.reverse_steps() == 6 + 2 * 5);
  // ddim: the same walk over its timesteps.
  const repaint<double> rd(ddim<double>(noise_schedule::linear(100), 4), 2, 1);
  CHECK(rd.levels() == std::vector<int>{99, 66, 99, 66, 33, 66, 33, 0, 33, 0, -1});
  CHECK(rd.resample() == 2);
  CHECK(rd.jump_length() == 1);
}

TEST_CASE("RePaint: known pixels come out exactly, for image batches and shared or per-image masks") {
  const auto sched = noise_schedule::cosine(50);
  standard_normal_score model;
  philox data_rng(11);
  tensor<float> x0(shape{3, 2, 4, 4});
  data_rng.fill_uniform(x0.span(), -1.0f, 1.0f);
  tensor<float> shared(shape{2, 4, 4}), per_image(x0.shape());
  for (index_t i = 0; i < shared.size(); ++i) shared[i] = float(i % 3 == 0);  // a third known
  for (index_t i = 0; i < per_image.size(); ++i) per_image[i] = float((i / 5) % 2);
  for (const tensor<float>* mask : {&shared, &per_image}) {
    for (int r : {1, 3}) {
      repaint<float> sampler(ddpm<float>(sched), r, 2);
      philox rng(3);
      const tensor<float> x = sampler.sample(model, x0, *mask, rng);
      REQUIRE(x.shape() == x0.shape());
      int known = 0, moved = 0;
      for (index_t i = 0; i < x.size(); ++i) {
        if ((*mask)[i % mask->size()] == 1.0f) {
          CHECK(std::memcmp(&x[i], &x0[i], sizeof(float)) == 0);
          ++known;
        } else {
          CHECK(std::isfinite(x[i]));
          moved += x[i] != x0[i];
        }
      }
      CHECK(known > 0);
      CHECK(moved == x.size() - known);
    }
  }
  // ddim too, and an all-known mask returns the images.
  repaint<float> sampler(ddim<float>(sched, 10), 2, 3);
  philox rng(4);
  const tensor<float> all(x0.shape(), 1.0f);
  const tensor<float> x = sampler.sample(model, x0, all, rng);
  CHECK(std::memcmp(x.data(), x0.data(), sizeof(float) * x.size()) == 0);
}

TEST_CASE("RePaint with nothing known and no resampling is the sampler itself") {
  const auto sched = noise_schedule::linear(200);
  auto model = diffused_gaussian(gaussian<double>(Eigen::VectorXd::Zero(2), corr_cov()), sched);
  const tensor<double> x0(shape{64, 2}, 0.5), none(shape{2}, 0.0);
  philox r1(9), r2(9), r3(9), r4(9);
  const tensor<double> a = repaint<double>(ddpm<double>(sched)).sample(model, x0, none, r1);
  const tensor<double> b = ddpm<double>(sched).sample(model, shape{64, 2}, r2);
  CHECK(std::memcmp(a.data(), b.data(), sizeof(double) * a.size()) == 0);
  const tensor<double> c = repaint<double>(ddim<double>(sched, 20, 0.5)).sample(model, x0, none, r3);
  const tensor<double> d = ddim<double>(sched, 20, 0.5).sample(model, shape{64, 2}, r4);
  CHECK(std::memcmp(c.data(), d.data(), sizeof(double) * c.size()) == 0);
}

// The statistical tests: 4000 chains, the known coordinate x_0 = 1.5 of the correlated
// Gaussian, the other filled.  The exact law of RePaint's output is propagated along
// levels() (tests/sample/repaint_reference.hpp); samples must match it within 5 Monte
// Carlo standard errors (this checks the implementation), and the law itself is
// compared with the true conditional N(1.2, 0.36) (this measures RePaint's bias).
// Plain replacement (resample 1) is badly biased: mean 0.74 instead of 1.2, because the
// known coordinate's noise is drawn independently of what the model generated, so the
// filled coordinate only sees the known value through noise.  Resampling removes the
// bias roughly like 1/resample (0.46, 0.11, 0.055, 0.029, 0.016 for resample 1, 5, 10,
// 20, 40 on this 100-step schedule).  The ddpm variance beta is used: with the posterior
// variance the renoise / denoise pair at fixed level is not close to reversible and the
// filled variance drifts low as resample grows on coarse schedules (0.25 instead of 0.36
// at resample 40, T = 100); with variance beta it converges to 0.36.

TEST_CASE("RePaint on a correlated Gaussian: exact law, the bias of plain replacement, resampling removes it") {
  const auto sched = noise_schedule::linear(100);
  const auto setup = corr_setup();
  auto model = diffused_gaussian(gaussian<double>(setup.mu, setup.sigma), sched);
  const double true_mean = rho * a_known, true_var = 1 - rho * rho;
  const index_t M = 4000;
  const tensor<double> x0 = corr_known(M), mask = corr_mask();

  // The computed law: bias decreasing with resample, small at 40.
  double last_bias = 1e9;
  for (int r : {1, 2, 5, 10, 20, 40}) {
    const repaint<double> s(ddpm<double>(sched, ddpm<double>::variance::beta), r);
    const auto law = test::repaint_law(sched, s.levels(), setup, true);
    const double bias = std::abs(law.mean(1) - true_mean);
    INFO("resample " << r << ": mean " << law.mean(1) << ", variance " << law.cov(1, 1));
    CHECK(bias < last_bias);
    last_bias = bias;
    CHECK(law.mean(0) == a_known);
    CHECK(law.cov(0, 0) == 0.0);
    if (r == 1) CHECK(bias > 0.4);
    if (r == 40) {
      CHECK(bias < 0.02);
      CHECK(std::abs(law.cov(1, 1) - true_var) < 0.01);
    }
  }

  for (int r : {1, 5, 40}) {
    INFO("resample " << r);
    repaint<double> s(ddpm<double>(sched, ddpm<double>::variance::beta), r);
    const auto law = test::repaint_law(sched, s.levels(), setup, true);
    philox rng(100 + static_cast<unsigned>(r));
    const tensor<double> x = s.sample(model, x0, mask, rng);
    for (index_t i = 0; i < M; ++i) REQUIRE(x(i, 0) == a_known);
    const tensor<double> y = filled(x);
    test::check_moments(y, v1(law.mean(1)), m1(law.cov(1, 1)));
    // Resample 40 is within 5 standard errors of the true conditional itself;
    // plain replacement is dozens of standard errors off.
    const auto vs_truth = test::check_moments(y, v1(true_mean), m1(true_var), 5, 0, r == 40);
    if (r == 1) CHECK(vs_truth.worst_z > 30);
  }
}

TEST_CASE("RePaint with DDIM steps and jumps of several levels matches its exact law") {
  const auto sched = noise_schedule::linear(1000);
  const auto setup = corr_setup();
  auto model = diffused_gaussian(gaussian<double>(setup.mu, setup.sigma), sched);
  const index_t M = 4000;
  const tensor<double> x0 = corr_known(M), mask = corr_mask();
  for (double eta : {0.0, 1.0}) {
    INFO("eta " << eta);
    ddim<double> base(sched, 50, eta);
    repaint<double> plain(base), s(base, 10, 5);
    const auto law_plain = test::repaint_law(sched, plain.levels(), setup, false, base.timesteps(), eta);
    const auto law = test::repaint_law(sched, s.levels(), setup, false, base.timesteps(), eta);
    // Resampling moves the law most of the way to N(1.2, 0.36).
    CHECK(std::abs(law_plain.mean(1) - rho * a_known) > 0.3);
    CHECK(std::abs(law.mean(1) - rho * a_known) < 0.25 * std::abs(law_plain.mean(1) - rho * a_known));
    philox rng(7);
    const tensor<double> x = s.sample(model, x0, mask, rng);
    for (index_t i = 0; i < M; ++i) REQUIRE(x(i, 0) == a_known);
    test::check_moments(filled(x), v1(law.mean(1)), m1(law.cov(1, 1)));
  }
}

TEST_CASE("RePaint passes classifier guidance to every reverse step") {
  // As in diffusion_test: with scale 1, guidance towards class 0 of a two-component
  // mixture is sampling class 0's own Gaussian.  Same noise, same result up to rounding.
  // (The known value 1.5 is far from class 0, so unguided inpainting picks class 1.)
  const auto sched = noise_schedule::linear(100);
  Eigen::MatrixXd c0(2, 2), c1(2, 2);
  c0 << 0.3, 0.1, 0.1, 0.2;
  c1 << 1.0, 0.6, 0.6, 0.9;
  Eigen::VectorXd mu0(2), mu1(2);
  mu0 << -2.0, 0.0;
  mu1 << 1.5, 1.0;
  diffused_gaussian_mixture<double> mixture(
      gaussian_mixture<double>({0.5, 0.5}, {gaussian<double>(mu0, c0), gaussian<double>(mu1, c1)}), sched);
  auto class0 = diffused_gaussian(gaussian<double>(mu0, c0), sched);
  const std::vector<int> labels(200, 0);
  const tensor<double> x0 = corr_known(200), mask = corr_mask();
  repaint<double> s(ddpm<double>(sched), 3, 2);
  philox r1(5), r2(5);
  const tensor<double> guided = s.sample(mixture, x0, mask, r1, {labels, 1.0});
  const tensor<double> direct = s.sample(class0, x0, mask, r2);
  double worst = 0;
  for (index_t i = 0; i < guided.size(); ++i) worst = std::max(worst, std::abs(guided[i] - direct[i]));
  CHECK(worst < 1e-8);
  // Unguided sampling of the mixture is something else.
  philox r3(5);
  const tensor<double> plain = s.sample(mixture, x0, mask, r3);
  worst = 0;
  for (index_t i = 0; i < plain.size(); ++i) worst = std::max(worst, std::abs(plain[i] - direct[i]));
  CHECK(worst > 0.5);
  // One label per image.
  const std::vector<int> few(3, 0);
  CHECK_THROWS_WITH_AS(s.sample(mixture, x0, mask, r3, {few, 1.0}), doctest::Contains("3 labels for 200 chains"),
                       ebm::error);
}

TEST_CASE("RePaint refuses bad masks, images and settings with clear errors") {
  const auto sched = noise_schedule::linear(50);
  auto model = diffused_gaussian(gaussian<double>(Eigen::VectorXd::Zero(2), corr_cov()), sched);
  repaint<double> s(ddpm<double>(sched), 2);
  philox rng(1);
  const tensor<double> x0(shape{4, 2}, 0.5);
  CHECK_THROWS_WITH_AS(s.sample(model, x0, tensor<double>(shape{3}, 1.0), rng),
                       doctest::Contains("the mask must have the shape of the known images ([4, 2]) or of one image "
                                         "([2]), got [3]"),
                       ebm::error);
  CHECK_THROWS_WITH_AS(s.sample(model, x0, tensor<double>(shape{4, 1}, 1.0), rng),
                       doctest::Contains("got [4, 1]"), ebm::error);
  tensor<double> half(shape{4, 2}, 1.0);
  half[5] = 0.5;
  CHECK_THROWS_WITH_AS(s.sample(model, x0, half, rng),
                       doctest::Contains("mask entry 5 is 0.5; the mask must hold only 0 (to fill) and 1 (known)"),
                       ebm::error);
  tensor<double> bad = x0;
  bad(2, 1) = std::numeric_limits<double>::infinity();
  CHECK_THROWS_WITH_AS(s.sample(model, bad, tensor<double>(shape{2}, 1.0), rng),
                       doctest::Contains("known pixel 1 of image 2 is not finite"), ebm::error);
  // ... but a non-finite value where the mask is 0 is never read.
  tensor<double> m01(shape{2});
  m01[0] = 1;
  CHECK_NOTHROW(s.sample(model, bad, m01, rng));
  CHECK_THROWS_WITH_AS(s.sample(model, tensor<double>(shape{0, 2}), m01, rng),
                       doctest::Contains("N >= 1"), ebm::error);
  tensor<double> state(shape{5, 2});
  CHECK_THROWS_WITH_AS(s.run(model, state, x0, m01, rng), doctest::Contains("repaint::run"), ebm::error);

  CHECK_THROWS_WITH_AS(repaint<double>(ddpm<double>(sched), 0), doctest::Contains("resample must be at least 1"),
                       ebm::error);
  CHECK_THROWS_WITH_AS(repaint<double>(ddpm<double>(sched), 2, 0), doctest::Contains("jump_length must be at least 1"),
                       ebm::error);
  CHECK_THROWS_WITH_AS(repaint<double>(ddim<double>(sched, 5), 2, 5), doctest::Contains("need jump_length < steps"),
                       ebm::error);
  CHECK_NOTHROW(repaint<double>(ddim<double>(sched, 5), 1, 5));  // no resampling: no jumps needed

  // A diverging model is stopped, naming the chain and the timestep.
  poisoned_score poisoned;
  CHECK_THROWS_WITH_AS(repaint<double>(ddpm<double>(sched)).sample(poisoned, x0, m01, rng),
                       doctest::Contains("repaint: chain 1 produced a non-finite value (NaN or Inf) in the reverse "
                                         "step from timestep 7"),
                       ebm::error);
}

#include <doctest/doctest.h>

#include <cmath>
#include <cstring>
#include <limits>
#include <vector>

#include <ebm/energy/diffused_gaussian.hpp>
#include <ebm/sample/diffusion.hpp>

#include "diffusion_reference.hpp"
#include "moment_check.hpp"

using namespace ebm;

namespace {
Eigen::VectorXd data_mean() {
  Eigen::VectorXd m(2);
  m << 1.0, -0.5;
  return m;
}
Eigen::MatrixXd data_cov() {
  Eigen::MatrixXd c(2, 2);
  c << 0.5, 0.3, 0.3, 0.8;
  return c;
}
diffused_gaussian_mixture<double> gaussian_data(noise_schedule s) {
  return diffused_gaussian(gaussian<double>(data_mean(), data_cov()), std::move(s));
}

// A score model that returns x's own negative (N(0, I) at every t) but poisons one
// chain at one timestep.
struct poisoned_score {
  using value_type = double;
  int bad_t = 500;
  index_t bad_chain = 1;
  void score(const tensor<double>& x, int t, tensor<double>& out) {
    out = x;
    for (double& v : out) v = -v;
    if (t == bad_t) out[bad_chain * x.shape().sample_size()] = std::numeric_limits<double>::infinity();
  }
};
}  // namespace

TEST_CASE("DDPM: one step against a hand computation on 1-D Gaussian data") {
  // Data N(0.7, 0.5); at timestep t, x_t ~ N(sqrt(abar) 0.7, abar 0.5 + 1 - abar), so the
  // exact score at x is -(x - sqrt(abar) 0.7) / (abar 0.5 + 1 - abar).  The DDPM mean in
  // its "epsilon" form (x + beta s) / sqrt(alpha) must equal the sampler's posterior form;
  // the noise is the first normal the same philox stream draws.
  const auto sched = noise_schedule::linear(1000);
  auto model = diffused_gaussian(gaussian<double>(Eigen::VectorXd::Constant(1, 0.7), Eigen::MatrixXd::Constant(1, 1, 0.5)),
                                 sched);
  const int t = 400;
  double abar = 1;
  for (int k = 0; k <= t; ++k) abar *= 1 - (1e-4 + (0.02 - 1e-4) * k / 999.0);  // linear betas by hand
  const double abar_prev = abar / (1 - (1e-4 + (0.02 - 1e-4) * t / 999.0));
  const double beta = 1e-4 + (0.02 - 1e-4) * t / 999.0;
  CHECK(sched.alpha_bar(t) == doctest::Approx(abar).epsilon(1e-12));

  const double x = 1.3;
  const double score = -(x - std::sqrt(abar) * 0.7) / (abar * 0.5 + 1 - abar);
  const double mean = (x + beta * score) / std::sqrt(1 - beta);
  const double sd = std::sqrt((1 - abar_prev) / (1 - abar) * beta);
  philox rng(77), copy = rng;
  double z[2];
  copy.fill_normal(std::span<double>(z, 2));

  tensor<double> xt(shape{1, 1}, x);
  ddpm<double> sampler(sched);
  sampler.step(model, xt, t, rng);
  CHECK(xt[0] == doctest::Approx(mean + sd * z[0]).epsilon(1e-12));
  // With variance beta instead of the posterior's beta_tilde:
  tensor<double> xb(shape{1, 1}, x);
  philox rng2(77);
  ddpm<double>(sched, ddpm<double>::variance::beta).step(model, xb, t, rng2);
  CHECK(xb[0] == doctest::Approx(mean + std::sqrt(beta) * z[0]).epsilon(1e-12));
  // At t = 0 the step returns the Tweedie estimate x0_hat and adds no noise.
  tensor<double> x0(shape{1, 1}, 0.2);
  const double ab0 = sched.alpha_bar(0);
  const double s0 = -(0.2 - std::sqrt(ab0) * 0.7) / (ab0 * 0.5 + 1 - ab0);
  sampler.step(model, x0, 0, rng);
  CHECK(x0[0] == doctest::Approx((0.2 + (1 - ab0) * s0) / std::sqrt(ab0)).epsilon(1e-12));
}

TEST_CASE("DDIM: one step against a hand computation on 1-D Gaussian data") {
  const auto sched = noise_schedule::cosine(1000);
  auto model = diffused_gaussian(gaussian<double>(Eigen::VectorXd::Constant(1, -0.4), Eigen::MatrixXd::Constant(1, 1, 2.0)),
                                 sched);
  const int t = 600, t_prev = 400;
  const double ab = sched.alpha_bar(t), abp = sched.alpha_bar(t_prev), eta = 0.5, x = -0.9;
  const double s = -(x - std::sqrt(ab) * -0.4) / (ab * 2.0 + 1 - ab);
  const double eps = -std::sqrt(1 - ab) * s;
  const double x0 = (x - std::sqrt(1 - ab) * eps) / std::sqrt(ab);
  const double sigma = eta * std::sqrt((1 - abp) / (1 - ab) * (1 - ab / abp));
  philox rng(5), copy = rng;
  double z[2];
  copy.fill_normal(std::span<double>(z, 2));
  const double expected = std::sqrt(abp) * x0 + std::sqrt(1 - abp - sigma * sigma) * eps + sigma * z[0];
  tensor<double> xt(shape{1, 1}, x);
  ddim<double>(sched, 10, eta).step(model, xt, t, t_prev, rng);
  CHECK(xt[0] == doctest::Approx(expected).epsilon(1e-12));
  // eta = 0: deterministic, no draw.
  tensor<double> xd(shape{1, 1}, x);
  philox r0(5);
  ddim<double>(sched, 10).step(model, xd, t, t_prev, r0);
  CHECK(xd[0] == doctest::Approx(std::sqrt(abp) * x0 + std::sqrt(1 - abp) * eps).epsilon(1e-12));
  CHECK(r0.offset() == 0);
  // Timesteps: evenly spaced from T-1 to 0.
  const ddim<double> d(sched, 4);
  CHECK(d.timesteps() == std::vector<int>{999, 666, 333, 0});
  CHECK_THROWS_AS(ddim<double>(sched, 1001), ebm::error);
}

// The moment tests draw 20000 chains; the output law of each sampler on Gaussian data
// is computed exactly by propagating mean and covariance through the (linear) reverse
// steps (tests/sample/diffusion_reference.hpp).  Samples must match that law within 5
// Monte Carlo standard errors, and the law must match the data N(mu, Sigma) up to the
// sampler's discretisation bias, bounded here from the computed law (DDPM, T = 1000:
// |bias| < 0.01 in the covariance; DDIM with 200 steps, eta = 0: < 0.02, eta = 1: < 0.04).

TEST_CASE("DDPM reproduces the Gaussian data's mean and covariance") {
  const auto sched = noise_schedule::linear(1000);
  auto model = gaussian_data(sched);
  const auto law = test::ddpm_law(sched, data_mean(), data_cov());
  CHECK((law.mean - data_mean()).cwiseAbs().maxCoeff() < 1e-4);
  CHECK((law.cov - data_cov()).cwiseAbs().maxCoeff() < 0.01);
  philox rng(1);
  const tensor<double> x = ddpm<double>(sched).sample(model, shape{20000, 2}, rng);
  test::check_moments(x, law.mean, law.cov);
  test::check_moments(x, data_mean(), data_cov(), 5, 0.01);
}

TEST_CASE("DDIM reproduces the Gaussian data's mean and covariance with fewer steps") {
  const auto sched = noise_schedule::linear(1000);
  auto model = gaussian_data(sched);
  for (double eta : {0.0, 1.0}) {
    INFO("eta " << eta);
    ddim<double> sampler(sched, 200, eta);
    const auto law = test::ddim_law(sched, sampler.timesteps(), eta, data_mean(), data_cov());
    const double bias_bound = eta == 0 ? 0.02 : 0.04;
    CHECK((law.cov - data_cov()).cwiseAbs().maxCoeff() < bias_bound);
    CHECK((law.mean - data_mean()).cwiseAbs().maxCoeff() < 0.005);
    philox rng(2);
    const tensor<double> x = sampler.sample(model, shape{20000, 2}, rng);
    test::check_moments(x, law.mean, law.cov);
    test::check_moments(x, data_mean(), data_cov(), 5, bias_bound);
  }
}

TEST_CASE("DDIM with eta = 1 on every timestep is DDPM") {
  // Same schedule, same noise stream: the two parameterisations of the posterior agree
  // to rounding (relative 1e-9 after 100 steps).
  const auto sched = noise_schedule::linear(100);
  auto model = gaussian_data(sched);
  philox r1(3), r2(3);
  const tensor<double> a = ddpm<double>(sched).sample(model, shape{50, 2}, r1);
  const tensor<double> b = ddim<double>(sched, 100, 1.0).sample(model, shape{50, 2}, r2);
  for (index_t i = 0; i < a.size(); ++i) CHECK(a[i] == doctest::Approx(b[i]).epsilon(1e-9));
}

TEST_CASE("classifier guidance: scale 0 is unguided sampling, scale 1 samples the class") {
  // Two classes = two mixture components.  grad log p_t(x) + grad log p_t(y | x) =
  // grad log p_t(x | y), so with scale 1 the guided chain is the unguided chain on class
  // y's own (diffused) Gaussian: same law, and the same samples up to rounding.
  const auto sched = noise_schedule::linear(1000);
  Eigen::MatrixXd c0(2, 2), c1(2, 2);
  c0 << 0.3, 0.1, 0.1, 0.2;
  c1 << 0.4, -0.2, -0.2, 0.5;
  Eigen::VectorXd m0(2), m1(2);
  m0 << -2.0, 0.0;
  m1 << 1.5, 1.0;
  diffused_gaussian_mixture<double> model(
      gaussian_mixture<double>({0.5, 0.5}, {gaussian<double>(m0, c0), gaussian<double>(m1, c1)}), sched);
  const std::vector<int> labels(4000, 1);

  ddpm<double> sampler(sched);
  philox r1(4), r2(4), r3(4);
  const tensor<double> plain = sampler.sample(model, shape{4000, 2}, r1);
  const tensor<double> zero = sampler.sample(model, shape{4000, 2}, r2, {labels, 0.0});
  CHECK(std::memcmp(plain.data(), zero.data(), sizeof(double) * plain.size()) == 0);

  const tensor<double> guided = sampler.sample(model, shape{4000, 2}, r3, {labels, 1.0});
  auto class1 = diffused_gaussian(gaussian<double>(m1, c1), sched);
  philox r4(4);
  const tensor<double> direct = sampler.sample(class1, shape{4000, 2}, r4);
  double worst = 0;
  for (index_t i = 0; i < guided.size(); ++i) worst = std::max(worst, std::abs(guided[i] - direct[i]));
  CHECK(worst < 1e-8);
  // And the law: class 1's moments (5 SE, plus DDPM's bias bound 0.01).
  test::check_moments(guided, m1, c1, 5, 0.01);
}

TEST_CASE("DDIM with clipping: eps re-derived from the clamped x0, so guidance keeps its sign") {
  // Two classes on [-1, 1]: N(-0.5, 0.02) and N(0.5, 0.02).  At high noise the guided
  // x0_hat = E[x0 | x_t] + (1 - abar) / sqrt(abar) scale grad log p(y | x_t) saturates.
  // The step must use eps_hat = (x_t - sqrt(abar) x0_hat) / sqrt(1 - abar) of the clamped
  // x0_hat: with the raw eps_hat the guidance's push, clamped out of x0_hat, survives only
  // in eps_hat, with the opposite sign, and steers the chains to the other class.
  const auto sched = noise_schedule::linear(1000);
  const Eigen::MatrixXd var = Eigen::MatrixXd::Constant(1, 1, 0.02);
  diffused_gaussian_mixture<double> model(
      gaussian_mixture<double>({0.5, 0.5}, {gaussian<double>(Eigen::VectorXd::Constant(1, -0.5), var),
                                            gaussian<double>(Eigen::VectorXd::Constant(1, 0.5), var)}),
      sched);

  // One guided step by hand where x0_hat saturates (the unguided Tweedie estimate of
  // this data never leaves [-0.5, 0.5]).
  const int t = 900, t_prev = 800;
  const double ab = sched.alpha_bar(t), abp = sched.alpha_bar(t_prev), x = 0.3;
  const std::vector<int> one{1};
  tensor<double> s, gy;
  model.score(tensor<double>(shape{1, 1}, x), t, s);
  model.class_log_prob_grad(tensor<double>(shape{1, 1}, x), t, one, gy);
  const double raw = (x + (1 - ab) * (s[0] + 3 * gy[0])) / std::sqrt(ab);
  CHECK(raw > 1);
  const double x0 = 1, eps = (x - std::sqrt(ab) * x0) / std::sqrt(1 - ab);
  tensor<double> xt(shape{1, 1}, x);
  philox r0(1);
  ddim<double>(sched, 10).clip_denoised(-1, 1).step(model, xt, t, t_prev, r0, {one, 3.0});
  CHECK(xt[0] == doctest::Approx(std::sqrt(abp) * x0 + std::sqrt(1 - abp) * eps).epsilon(1e-12));

  // Guided toward class 1 (x > 0) with clipping: nearly every chain ends there.
  const std::vector<int> labels(2000, 1);
  for (double scale : {1.0, 3.0}) {
    INFO("scale " << scale);
    philox rng(6);
    const tensor<double> g =
        ddim<double>(sched, 50).clip_denoised(-1, 1).sample(model, shape{2000, 1}, rng, {labels, scale});
    index_t in_class = 0;
    for (index_t i = 0; i < g.size(); ++i) in_class += g[i] > 0;
    CHECK(double(in_class) / 2000 > 0.95);
  }
}

TEST_CASE("reverse diffusion: errors name the chain and timestep; misuse is refused") {
  const auto sched = noise_schedule::linear(1000);
  poisoned_score bad;
  philox rng(1);
  CHECK_THROWS_WITH_AS(ddpm<double>(sched).sample(bad, shape{4, 3}, rng),
                       doctest::Contains("ddpm: chain 1 produced a non-finite value (NaN or Inf) at timestep 500 "
                                         "(reverse step 499 of 1000"),
                       ebm::error);
  bad.bad_t = 999;
  bad.bad_chain = 2;
  CHECK_THROWS_WITH_AS(ddim<double>(sched, 10).sample(bad, shape{4, 3}, rng),
                       doctest::Contains("ddim: chain 2 produced a non-finite value (NaN or Inf) at timestep 999"),
                       ebm::error);
  // Guidance needs class_log_prob_grad and one label per chain.
  poisoned_score unguided;
  const std::vector<int> labels(4, 0);
  CHECK_THROWS_WITH_AS(ddpm<double>(sched).sample(unguided, shape{4, 3}, rng, {labels, 2.0}),
                       doctest::Contains("needs a model with class_log_prob_grad"), ebm::error);
  auto model = gaussian_data(sched);
  CHECK_THROWS_WITH_AS(ddpm<double>(sched).sample(model, shape{5, 2}, rng, {labels, 2.0}),
                       doctest::Contains("4 labels for 5 chains"), ebm::error);
}

TEST_CASE("energy_score adapts a time-conditioned energy; float sampling") {
  const auto sched = noise_schedule::cosine(200);
  auto model = gaussian_data(sched);
  energy_score adapted(model);
  philox rng(6);
  tensor<double> x(shape{8, 2});
  rng.fill_normal(x.span());
  tensor<double> s1, s2;
  model.score(x, 50, s1);
  adapted.score(x, 50, s2);
  for (index_t i = 0; i < s1.size(); ++i) CHECK(s1[i] == s2[i]);
  static_assert(guided_score_model<energy_score<diffused_gaussian_mixture<double>>>);

  // Float: DDIM, 100 steps, 8000 chains against the exact law of the float sampler's
  // steps (computed in double; float rounding is far below the 5-SE tolerance).
  auto fmodel = diffused_gaussian(gaussian<float>(data_mean().cast<float>(), data_cov().cast<float>()), sched);
  ddim<float> sampler(sched, 100, 0.5f);
  const auto law = test::ddim_law(sched, sampler.timesteps(), 0.5, data_mean(), data_cov());
  const tensor<float> xf = sampler.sample(fmodel, shape{8000, 2}, rng);
  test::check_moments(xf, law.mean, law.cov);
}

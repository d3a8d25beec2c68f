#include <doctest/doctest.h>

#include <ebm/energy/diffused_gaussian.hpp>
#include <ebm/sample/score_model.hpp>

#include "../sample/moment_check.hpp"

using namespace ebm;

static_assert(guided_score_model<diffused_gaussian_mixture<double>>);
static_assert(time_energy_function<diffused_gaussian_mixture<float>>);

TEST_CASE("diffused_gaussian_mixture: the law of x_t is the noised data's") {
  // Push exact data samples through the forward process and compare with at(t)'s
  // moments (40000 samples, 5 SE).
  const auto sched = noise_schedule::linear(1000);
  Eigen::Matrix2d c0, c1;
  c0 << 0.3, 0.1, 0.1, 0.2;
  c1 << 0.4, -0.2, -0.2, 0.5;
  gaussian_mixture<double> data({0.3, 0.7}, {gaussian<double>(Eigen::Vector2d(-2, 0), c0),
                                            gaussian<double>(Eigen::Vector2d(1.5, 1), c1)});
  diffused_gaussian_mixture<double> model(data, sched);
  philox rng(1);
  for (int t : {0, 100, 600}) {
    INFO("t = " << t);
    tensor<double> x = data.sample(40000, rng);
    tensor<double> eps(x.shape());
    rng.fill_normal(eps.span());
    const double ab = sched.alpha_bar(t);
    for (index_t i = 0; i < x.size(); ++i) x[i] = std::sqrt(ab) * x[i] + std::sqrt(1 - ab) * eps[i];
    test::check_moments(x, model.at(t).mean(), model.at(t).covariance());
  }
}

TEST_CASE("diffused_gaussian_mixture: score and guidance against finite differences of log p_t") {
  const auto sched = noise_schedule::cosine(100);
  Eigen::Matrix2d c0, c1;
  c0 << 0.3, 0.1, 0.1, 0.2;
  c1 << 0.4, -0.2, -0.2, 0.5;
  diffused_gaussian_mixture<double> model(
      gaussian_mixture<double>({0.5, 0.5}, {gaussian<double>(Eigen::Vector2d(-1, 0), c0),
                                            gaussian<double>(Eigen::Vector2d(1, 1), c1)}),
      sched);
  philox rng(2);
  tensor<double> x(shape{3, 2});
  rng.fill_normal(x.span());
  const std::vector<int> labels{0, 1, 1};
  for (int t : {5, 60}) {
    tensor<double> s, gy;
    model.score(x, t, s);
    model.class_log_prob_grad(x, t, labels, gy);
    const double h = 1e-5;
    for (index_t i = 0; i < 3; ++i)
      for (index_t j = 0; j < 2; ++j) {
        tensor<double> xp = x, xm = x;
        xp(i, j) += h;
        xm(i, j) -= h;
        const double fd = -(model.energy(xp, t)[i] - model.energy(xm, t)[i]) / (2 * h);
        CHECK(s(i, j) == doctest::Approx(fd).epsilon(1e-6).scale(1 + std::abs(fd)));
        const int k = labels[static_cast<std::size_t>(i)];
        const double fdy = (std::log(model.at(t).responsibilities(xp)(i, k)) -
                            std::log(model.at(t).responsibilities(xm)(i, k))) / (2 * h);
        CHECK(gy(i, j) == doctest::Approx(fdy).epsilon(1e-6).scale(1 + std::abs(fdy)));
      }
  }
  CHECK_THROWS_AS(model.at(100), ebm::error);
}

#include <doctest/doctest.h>

#include <cmath>
#include <vector>

#include <ebm/ebm.hpp>

#include "finite_difference.hpp"

using namespace ebm;

TEST_CASE("cross_entropy: values by hand, with and without label smoothing") {
  tensor<double> z(shape{2, 3});
  const double v[] = {1, 2, 3, 0.5, -1, 0};
  std::copy(v, v + 6, z.begin());
  const std::vector<int> y = {2, 1};
  auto log_softmax = [&](int i, int k) {
    double s = 0;
    for (int c = 0; c < 3; ++c) s += std::exp(z(i, c));
    return z(i, k) - std::log(s);
  };
  objective::cross_entropy<double> ce;
  tensor<double> gz;
  const double loss = ce.loss_and_grad(z, y, &gz);
  CHECK(loss == doctest::Approx(-(log_softmax(0, 2) + log_softmax(1, 1)) / 2));
  CHECK(ce.accuracy() == doctest::Approx(0.5));  // row 0 right, row 1 wrong
  CHECK(gz(0, 2) == doctest::Approx((std::exp(log_softmax(0, 2)) - 1) / 2));
  CHECK(gz(1, 0) == doctest::Approx(std::exp(log_softmax(1, 0)) / 2));

  objective::cross_entropy<double> smooth(0.3);
  double expected = 0;
  for (int i = 0; i < 2; ++i)
    for (int k = 0; k < 3; ++k) expected -= ((k == y[i] ? 0.7 : 0.0) + 0.1) * log_softmax(i, k) / 2;
  CHECK(smooth.loss_and_grad(z, y, &gz, 2.0) == doctest::Approx(expected));
  CHECK(gz(1, 1) == doctest::Approx(2.0 * (std::exp(log_softmax(1, 1)) - 0.8) / 2));
  // Each row of the gradient sums to zero (softmax and q both sum to one).
  CHECK(gz(0, 0) + gz(0, 1) + gz(0, 2) == doctest::Approx(0).epsilon(1e-12));
}

TEST_CASE("cross_entropy: huge logits stay finite") {
  tensor<float> z(shape{1, 3});
  z[0] = 1000, z[1] = -1000, z[2] = 999;
  const std::vector<int> y = {2};
  objective::cross_entropy<float> ce(0.1f);
  tensor<float> gz;
  const float loss = ce.loss_and_grad(z, y, &gz);
  CHECK(std::isfinite(loss));
  // -log p = (L, 2000 + L, 1 + L) with L = log(1 + e^-1); q = (0.1/3, 0.1/3, 0.9 + 0.1/3).
  const double l = std::log1p(std::exp(-1.0));
  CHECK(loss == doctest::Approx(0.9 * (1 + l) + 0.1 / 3 * (2001 + 3 * l)).epsilon(1e-5));
  for (float g : gz) CHECK(std::isfinite(g));
}

TEST_CASE("cross_entropy: parameter gradient of a classifier matches finite differences") {
  nn::sequential net{nn::linear<double>(4, 8), nn::softplus<double>{}, nn::linear<double>(8, 3)};
  nn::initialize(net, 5);
  tensor<double> x(shape{6, 4});
  philox(3).fill_normal<double>(x.span());
  const std::vector<int> y = {0, 1, 2, 2, 1, 0};
  for (double smoothing : {0.0, 0.2}) {
    objective::cross_entropy<double> ce(smoothing);
    using Net = decltype(net);
    auto err = test::compare_with_finite_differences<Net>(
        net, [&](Net& n) { ce(n, x, y, 0.5); }, [&](Net& n) { return 0.5 * ce.evaluate(n, x, y); });
    INFO("smoothing " << smoothing << ": " << err.worst);
    CHECK(err.scale > 1e-3);
    CHECK(err.max_relative < 1e-7);
  }
}

TEST_CASE("cross_entropy: bad labels and shapes are reported") {
  objective::cross_entropy<double> ce;
  tensor<double> z(shape{2, 3});
  std::vector<int> y = {0, 3};
  CHECK_THROWS_WITH_AS(ce.loss_and_grad(z, y, nullptr), doctest::Contains("outside [0, 3)"), ebm::error);
  y = {0};
  CHECK_THROWS_WITH_AS(ce.loss_and_grad(z, y, nullptr), doctest::Contains("1 labels for 2 rows"), ebm::error);
  CHECK_THROWS_AS(objective::cross_entropy<double>(1.0), ebm::error);
}

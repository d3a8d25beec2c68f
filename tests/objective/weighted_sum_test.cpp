#include <doctest/doctest.h>

#include <vector>

#include <ebm/ebm.hpp>

#include "finite_difference.hpp"

using namespace ebm;

TEST_CASE("weighted_sum: value, per-term values and the gradient of Fisher + likelihood") {
  nn::sequential net{nn::linear<double>(2, 8), nn::swish<double>{}, nn::linear<double>(8, 1)};
  nn::initialize(net, 8);
  tensor<double> x0(shape{5, 2}), eps(shape{5, 2}), samples(shape{4, 2});
  philox rng(1);
  rng.fill_normal<double>(x0.span());
  rng.fill_normal<double>(eps.span());
  rng.fill_normal<double>(samples.span(), 0.0, 2.0);
  const std::vector<int> t = {1, 5, 9, 13, 19};

  objective::denoising_fisher<double> fisher(noise_schedule::cosine(20));
  objective::maximum_likelihood<double> ml(0.1);
  objective::weighted_sum<double> loss;
  using Net = decltype(net);
  loss.add("fisher", 1.0, [&](double w) { return fisher(net, x0, t, eps, w); })
      .add("ml", 0.25, [&](double w) { return ml(net, fisher.noised(), samples, w); });
  REQUIRE(loss.size() == 2);

  auto total = [&](Net& n) {
    return fisher.evaluate(n, x0, t, eps) + 0.25 * ml.evaluate(n, fisher.noised(), samples);
  };
  zero_grad(net);
  const double value = loss();
  CHECK(value == doctest::Approx(total(net)));
  CHECK(loss.value("fisher") == doctest::Approx(fisher.evaluate(net, x0, t, eps)));
  CHECK(loss.value("ml") == doctest::Approx(ml.evaluate(net, fisher.noised(), samples)));

  auto err = test::compare_with_finite_differences<Net>(net, [&](Net&) { loss(); }, total);
  INFO(err.worst);
  CHECK(err.max_relative < 1e-7);

  loss.set_weight("ml", 0.0);
  CHECK(loss.weight("ml") == 0.0);
  CHECK(loss() == doctest::Approx(fisher.evaluate(net, x0, t, eps)));
  CHECK_THROWS_WITH_AS(loss.value("nope"), doctest::Contains("no term named 'nope'"), ebm::error);
  CHECK_THROWS_AS(loss.add("ml", 1.0, [](double) { return 0.0; }), ebm::error);
}

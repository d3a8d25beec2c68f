#include <doctest/doctest.h>

#include <cmath>
#include <ebm/data/idx.hpp>
#include <ebm/eval/baselines.hpp>

using namespace ebm;

TEST_CASE("gaussian_blur: constants stay constant, an impulse spreads symmetrically with unit mass") {
  tensor<float> c(shape{2, 1, 9, 7}, 0.25f);
  const tensor<float> bc = eval::gaussian_blur<float>(c.view(), 1.0);
  for (float v : bc) CHECK(v == doctest::Approx(0.25f).epsilon(1e-6));

  tensor<double> x(shape{1, 1, 15, 15});
  x(0, 0, 7, 7) = 1.0;
  const tensor<double> b = eval::gaussian_blur<double>(x.view(), 1.0);
  double sum = 0;
  for (double v : b) sum += v;
  CHECK(sum == doctest::Approx(1.0).epsilon(1e-12));  // taps reach 3 px: the border is not involved
  CHECK(b(0, 0, 7, 8) == doctest::Approx(b(0, 0, 8, 7)).epsilon(1e-14));
  CHECK(b(0, 0, 6, 7) == doctest::Approx(b(0, 0, 8, 7)).epsilon(1e-14));
  // The separable weights: centre over neighbour is exp(1/2).
  CHECK(b(0, 0, 7, 7) / b(0, 0, 7, 8) == doctest::Approx(std::exp(0.5)).epsilon(1e-12));
  CHECK(b(0, 0, 7, 11) == 0.0);  // beyond 3 sigma
  CHECK_THROWS_AS(eval::gaussian_blur<double>(x.view(), 0.0), ebm::error);
}

TEST_CASE("add_gaussian_noise: standard deviation sigma, clamped to [-1, 1]") {
  tensor<double> x(shape{20000, 1, 2, 2}, 0.0);
  philox rng(1);
  const tensor<double> y = eval::add_gaussian_noise<double>(x.view(), 0.1, rng);
  double s = 0, s2 = 0;
  for (double v : y) s += v, s2 += v * v;
  const double n = double(y.size());
  CHECK(s / n == doctest::Approx(0.0).epsilon(2e-3));
  CHECK(std::sqrt(s2 / n) == doctest::Approx(0.1).epsilon(0.01));
  tensor<float> edge(shape{1000, 1, 1, 1}, 1.0f);
  const tensor<float> e = eval::add_gaussian_noise<float>(edge.view(), 0.5, rng);
  for (float v : e) CHECK(v <= 1.0f);
}

TEST_CASE("uniform_noise_images: shape and range") {
  philox rng(2);
  const tensor<float> u = eval::uniform_noise_images<float>(shape{100, 1, 4, 4}, rng);
  CHECK(u.shape() == shape{100, 1, 4, 4});
  double s = 0;
  for (float v : u) {
    CHECK((v >= -1.f && v < 1.f));
    s += v;
  }
  CHECK(s / double(u.size()) == doctest::Approx(0.0).epsilon(0.05));
}

TEST_CASE("quantize_8bit: the same levels as an IDX round trip") {
  tensor<float> x(shape{1, 1, 1, 9});
  const float vals[] = {-1.5f, -1.f, -0.3f, 0.f, 0.0039f, 0.5f, 0.999f, 1.f, 2.f};
  std::copy_n(vals, 9, x.data());
  tensor<float> q(x);
  eval::quantize_8bit(q);
  for (index_t i = 0; i < 9; ++i) {
    const std::uint8_t byte = data::detail::quantize<float>(x[i], -1.f, 1.f);
    CHECK(q[i] == static_cast<float>(byte / 127.5 - 1.0));
  }
  tensor<float> nan(shape{1}, std::nanf(""));
  eval::quantize_8bit(nan);
  CHECK(nan[0] == -1.f);
}

#include <doctest/doctest.h>

#include <cmath>
#include <ebm/core/philox.hpp>
#include <ebm/eval/nearest.hpp>
#include <limits>

using namespace ebm;

namespace {
tensor<float> random_rows(index_t n, index_t d, std::uint64_t seed) {
  tensor<float> t(shape{n, d});
  philox rng(seed);
  rng.fill_uniform<float>(t.span(), -1.f, 1.f);
  return t;
}
}  // namespace

TEST_CASE("nearest_neighbours: agrees with an exhaustive double-precision search") {
  // More queries and references than one tile each, so tiling and the
  // thread split are exercised.
  const index_t nq = 300, nr = 2500, d = 37;
  const tensor<float> q = random_rows(nq, d, 1), r = random_rows(nr, d, 2);
  const auto res = eval::nearest_neighbours(q, r);
  REQUIRE(res.size() == nq);
  for (index_t i = 0; i < nq; ++i) {
    double best = std::numeric_limits<double>::infinity();
    for (index_t j = 0; j < nr; ++j) {
      double s = 0;
      for (index_t k = 0; k < d; ++k) s += std::pow(double(q(i, k)) - double(r(j, k)), 2);
      best = std::min(best, s);
    }
    const auto ui = static_cast<std::size_t>(i);
    CHECK(res.distance[ui] == doctest::Approx(std::sqrt(best)).epsilon(1e-6));
  }
}

TEST_CASE("nearest_neighbours: exact copies are found at distance exactly 0") {
  const tensor<float> r = random_rows(1000, 64, 3);
  tensor<float> q(shape{5, 64});
  const index_t picks[] = {0, 17, 500, 998, 999};
  for (int i = 0; i < 5; ++i) std::copy_n(r.data() + picks[i] * 64, 64, q.data() + i * 64);
  const auto res = eval::nearest_neighbours(q, r);
  for (int i = 0; i < 5; ++i) {
    CHECK(res.index[static_cast<std::size_t>(i)] == picks[i]);
    CHECK(res.distance[static_cast<std::size_t>(i)] == 0.0);
  }
}

TEST_CASE("nearest_neighbours: the result does not depend on the thread count") {
  const tensor<float> q = random_rows(200, 20, 4), r = random_rows(700, 20, 5);
  const auto one = eval::nearest_neighbours<float>(q.view(), r.view(), cpu(1));
  const auto two = eval::nearest_neighbours<float>(q.view(), r.view(), cpu(3));
  CHECK(one.index == two.index);
  CHECK(one.distance == two.distance);
}

TEST_CASE("nearest_neighbours: image-shaped inputs and shape errors") {
  tensor<float> q(shape{2, 1, 4, 4}, 0.5f), r(shape{3, 1, 4, 4}, 0.f);
  r[16] = 0.5f;  // first pixel of the second image
  const auto res = eval::nearest_neighbours(q, r);
  CHECK(res.index[0] == 1);
  CHECK(res.distance[0] == doctest::Approx(std::sqrt(15 * 0.25)));
  tensor<float> bad(shape{3, 15});
  CHECK_THROWS_AS(eval::nearest_neighbours(q, bad), ebm::error);
}

TEST_CASE("quantile: numpy's linear interpolation") {
  CHECK(eval::quantile({3, 1, 2, 4}, 0.0) == 1);
  CHECK(eval::quantile({3, 1, 2, 4}, 1.0) == 4);
  CHECK(eval::quantile({3, 1, 2, 4}, 0.5) == doctest::Approx(2.5));
  CHECK(eval::quantile({10, 20}, 0.25) == doctest::Approx(12.5));
  CHECK_THROWS_AS(eval::quantile({1}, 1.5), ebm::error);
}

TEST_CASE("memorisation: copies, novel images and the copy threshold") {
  eval::nearest_result test;
  for (int i = 1; i <= 100; ++i) test.distance.push_back(double(i));  // mean 50.5
  test.index.assign(100, 0);
  eval::nearest_result copies;
  copies.distance.assign(10, 0.0);
  copies.index.assign(10, 0);
  const auto m = eval::memorisation(copies, test, 0.01);
  CHECK(m.ratio == 0.0);
  CHECK(m.copy_fraction == 1.0);
  CHECK(m.copy_threshold == doctest::Approx(1.99));  // between the 1st and 2nd smallest of 100
  CHECK(m.reference_nn_mean == doctest::Approx(50.5));

  const auto same = eval::memorisation(test, test, 0.1);
  CHECK(same.ratio == doctest::Approx(1.0));
  CHECK(same.copy_fraction == doctest::Approx(0.1));  // 1..10 lie below the 10.9 threshold

  eval::nearest_result zero;
  zero.distance.assign(3, 0.0);
  zero.index.assign(3, 0);
  CHECK_THROWS_AS(eval::memorisation(copies, zero), ebm::error);
}

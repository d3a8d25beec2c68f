#include <doctest/doctest.h>

#include <cmath>
#include <ebm/core/philox.hpp>
#include <ebm/eval/auroc.hpp>
#include <limits>
#include <vector>

using ebm::eval::auroc;

namespace {
/// P(s+ > s-) + P(s+ = s-)/2 by enumerating all pairs.
double brute_force(const std::vector<double>& p, const std::vector<double>& n) {
  double s = 0;
  for (double a : p)
    for (double b : n) s += a > b ? 1.0 : a == b ? 0.5 : 0.0;
  return s / double(p.size() * n.size());
}
}  // namespace

TEST_CASE("auroc: separated, reversed and indistinguishable sets") {
  CHECK(auroc<double>({3.0, 4.0, 5.0}, {0.0, 1.0, 2.0}) == 1.0);
  CHECK(auroc<double>({0.0, 1.0}, {2.0, 3.0, 4.0}) == 0.0);
  CHECK(auroc<double>({1.0, 1.0, 1.0}, {1.0, 1.0}) == 0.5);
}

TEST_CASE("auroc: a hand-counted example with a tie") {
  // Pairs won by 0.9: 3, by 0.8: 3, by 0.4: 1 (over 0.3) + 0.5 (tie with 0.4).
  const std::vector<double> pos{0.9, 0.8, 0.4}, neg{0.5, 0.3, 0.4};
  CHECK(auroc(pos, neg) == doctest::Approx(7.5 / 9.0).epsilon(1e-15));
  // Swapping the roles gives the complement.
  CHECK(auroc(neg, pos) == doctest::Approx(1.5 / 9.0).epsilon(1e-15));
}

TEST_CASE("auroc: matches the pair count on random scores with many ties") {
  ebm::philox rng(5);
  for (int trial = 0; trial < 20; ++trial) {
    std::vector<double> p(static_cast<std::size_t>(1 + rng.uniform_int(60)));
    std::vector<double> n(static_cast<std::size_t>(1 + rng.uniform_int(60)));
    for (double& v : p) v = double(rng.uniform_int(8)) + 1;  // integers: heavy ties
    for (double& v : n) v = double(rng.uniform_int(8));
    CHECK(auroc(p, n) == doctest::Approx(brute_force(p, n)).epsilon(1e-12));
  }
}

TEST_CASE("auroc: float scores, and invalid input") {
  const std::vector<float> p{2.f, 3.f}, n{1.f, 2.f};
  CHECK(auroc(p, n) == doctest::Approx(0.875));  // (1 + 0.5 + 1 + 1) / 4
  CHECK_THROWS_AS(auroc<double>({}, {1.0}), ebm::error);
  CHECK_THROWS_AS(auroc<double>({1.0}, {}), ebm::error);
  CHECK_THROWS_AS(auroc<double>({std::numeric_limits<double>::quiet_NaN()}, {1.0}), ebm::error);
}

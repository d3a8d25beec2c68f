#include <doctest/doctest.h>

#include <cmath>
#include <vector>

#include <ebm/core/philox.hpp>
#include <ebm/sample/diagnostics.hpp>

using namespace ebm;

namespace {
// M independent stationary AR(1) chains x_t = phi x_{t-1} + sqrt(1 - phi^2) e_t, laid
// out [draws][chains]; the integrated autocorrelation time is (1 + phi) / (1 - phi).
std::vector<double> ar1_trace(double phi, index_t draws, index_t chains, std::uint64_t seed,
                              const std::vector<double>& offsets = {}) {
  philox rng(seed);
  std::vector<double> e(static_cast<std::size_t>(draws * chains)), tr(e.size());
  rng.fill_normal(std::span<double>(e));
  for (index_t m = 0; m < chains; ++m) {
    double x = e[static_cast<std::size_t>(m)];  // stationary start
    for (index_t t = 0; t < draws; ++t) {
      if (t > 0) x = phi * x + std::sqrt(1 - phi * phi) * e[static_cast<std::size_t>(t * chains + m)];
      tr[static_cast<std::size_t>(t * chains + m)] = x + (offsets.empty() ? 0.0 : offsets[static_cast<std::size_t>(m)]);
    }
  }
  return tr;
}
}  // namespace

TEST_CASE("ESS of AR(1) chains matches n M (1 - phi) / (1 + phi)") {
  // 8 chains x 20000 draws.  The relative error of an autocorrelation-time estimate is
  // about sqrt(2 (2K + 1) / (n M)) for a window of K lags (Sokal); over 40 other seeds the
  // estimator's relative error had mean ~0 and standard deviation 1.3% (phi = 0.5) and
  // 3.3% (phi = 0.9).  Tolerance 15%: more than 4 standard deviations.
  const index_t n = 20000, M = 8;
  for (double phi : {0.0, 0.5, 0.9}) {
    INFO("phi " << phi);
    const auto tr = ar1_trace(phi, n, M, 11 + static_cast<std::uint64_t>(phi * 10));
    const double expected = double(n * M) * (1 - phi) / (1 + phi);
    CHECK(effective_sample_size(tr, n, M) == doctest::Approx(expected).epsilon(0.15));
    // Batch means: 141 batches of 141 draws.  Finite batches bias it upwards by ~tau / b
    // (+6.5% for phi = 0.9, measured over 40 seeds, sd 3.4%); tolerance 25%.
    CHECK(batch_means_ess(tr, n, M) == doctest::Approx(expected).epsilon(0.25));
  }
  // Antithetic chains (phi < 0) are capped at n M log10(n M).
  const auto anti = ar1_trace(-0.5, n, M, 5);
  CHECK(effective_sample_size(anti, n, M) <= double(n * M) * std::log10(double(n * M)));
  CHECK(effective_sample_size(anti, n, M) > double(n * M));
}

TEST_CASE("ESS sees chains that have not mixed") {
  // Each chain is iid but sits around its own level (offsets of +-3): within a chain the
  // draws look independent, yet together they cannot tell the mean; the between-chain
  // variance drives the ESS far below n M.
  const index_t n = 1000, M = 4;
  const auto tr = ar1_trace(0.0, n, M, 3, {-3.0, 3.0, -3.0, 3.0});
  CHECK(effective_sample_size(tr, n, M) < 0.05 * double(n * M));
  CHECK_THROWS_AS(effective_sample_size(std::span<const double>(tr).first(10), n, M), ebm::error);
}

TEST_CASE("sample_mean and sample_covariance") {
  tensor<double> x(shape{4, 2});
  const double v[] = {1, 2, 3, 4, 5, 6, 7, 8};
  for (int i = 0; i < 8; ++i) x[i] = v[i];
  const auto m = sample_mean(x);
  CHECK(m[0] == doctest::Approx(4.0));
  CHECK(m[1] == doctest::Approx(5.0));
  const auto c = sample_covariance(x);  // both columns are 1, 3, 5, 7 + const: variance 20/3
  for (double e : c) CHECK(e == doctest::Approx(20.0 / 3.0));
}

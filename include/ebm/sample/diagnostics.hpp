#pragma once
// MCMC diagnostics: effective sample size of scalar traces and the moments of
// a batch of samples.
//
// A trace holds one scalar per chain and iteration, laid out [draws][chains]
// (row t = iteration t of every chain: what recording x[:, j] after each
// step produces).  Two ESS estimators:
//
//   effective_sample_size(trace, draws, chains)
//     Multi-chain ESS of Gelman et al. (BDA3 §11.5) as in Stan: the
//     autocorrelation at lag k is 1 - (W - mean_m acov_m(k)) / var+, with W
//     the mean within-chain variance and var+ = (n-1)/n W + B/n (B/n the
//     variance of the chain means), so chains that have not mixed lower the
//     ESS.  The sum over lags uses Geyer's (1992) initial monotone sequence:
//     pairs rho_2k + rho_2k+1 summed while positive, forced non-increasing.
//     ESS = M n / tau with tau = -1 + 2 sum_k P_k, capped at M n log10(M n).
//   batch_means_ess(trace, draws, chains, batches)
//     Within-chain batch means: tau = b Var(batch means) / Var(draws) with b
//     the batch length (sqrt(n) batches by default); a cross-check.
//
// For an AR(1) trace x_t = phi x_{t-1} + e_t, tau = (1 + phi) / (1 - phi).
#include <algorithm>
#include <cmath>
#include <limits>
#include <span>
#include <vector>

#include "../core/error.hpp"
#include "../core/tensor.hpp"

namespace ebm {

namespace detail {
inline void check_trace(std::span<const double> trace, index_t draws, index_t chains, const char* who) {
  EBM_REQUIRE(draws >= 4 && chains >= 1, who, ": need at least 4 draws and one chain, got ", draws, " draws and ",
              chains, " chains");
  EBM_REQUIRE(static_cast<index_t>(trace.size()) == draws * chains, who, ": the trace has ", trace.size(),
              " values, expected draws x chains = ", draws * chains);
}
}  // namespace detail

/// Multi-chain effective sample size (Stan's estimator, see the header).
inline double effective_sample_size(std::span<const double> trace, index_t draws, index_t chains) {
  detail::check_trace(trace, draws, chains, "effective_sample_size");
  const index_t n = draws, M = chains;
  auto at = [&](index_t t, index_t m) { return trace[static_cast<std::size_t>(t * M + m)]; };
  std::vector<double> mean(static_cast<std::size_t>(M), 0.0);
  for (index_t t = 0; t < n; ++t)
    for (index_t m = 0; m < M; ++m) mean[static_cast<std::size_t>(m)] += at(t, m);
  for (double& v : mean) v /= double(n);
  // acov_m(k) with the biased 1/n normalisation (positive semi-definite).
  auto mean_acov = [&](index_t k) {
    double s = 0;
    for (index_t t = 0; t + k < n; ++t)
      for (index_t m = 0; m < M; ++m)
        s += (at(t, m) - mean[static_cast<std::size_t>(m)]) * (at(t + k, m) - mean[static_cast<std::size_t>(m)]);
    return s / (double(n) * double(M));
  };
  const double acov0 = mean_acov(0);
  const double W = acov0 * double(n) / double(n - 1);
  double var_plus = acov0;  // (n-1)/n W
  if (M > 1) {
    double grand = 0;
    for (double v : mean) grand += v;
    grand /= double(M);
    double b_over_n = 0;
    for (double v : mean) b_over_n += (v - grand) * (v - grand);
    var_plus += b_over_n / double(M - 1);
  }
  if (!(var_plus > 0)) return double(n * M);  // a constant trace: nothing to estimate
  auto rho = [&](index_t k) { return 1.0 - (W - mean_acov(k)) / var_plus; };

  double sum = 0, prev_pair = std::numeric_limits<double>::infinity();
  for (index_t k = 0; k + 1 < n; k += 2) {
    double pair = (k == 0 ? 1.0 : rho(k)) + rho(k + 1);
    if (pair <= 0) break;
    pair = std::min(pair, prev_pair);  // initial monotone sequence
    sum += pair;
    prev_pair = pair;
  }
  const double nm = double(n) * double(M);
  const double tau = std::max(-1.0 + 2.0 * sum, 1.0 / std::log10(nm));
  return nm / tau;
}

/// Batch-means effective sample size; `batches` = 0 picks floor(sqrt(draws)).
inline double batch_means_ess(std::span<const double> trace, index_t draws, index_t chains, index_t batches = 0) {
  detail::check_trace(trace, draws, chains, "batch_means_ess");
  if (batches == 0) batches = static_cast<index_t>(std::sqrt(double(draws)));
  EBM_REQUIRE(batches >= 2 && batches <= draws, "batch_means_ess: need 2 <= batches <= draws, got ", batches);
  const index_t len = draws / batches, M = chains;
  double var_sum = 0, bvar_sum = 0;
  for (index_t m = 0; m < M; ++m) {
    double mean = 0;
    for (index_t t = 0; t < len * batches; ++t) mean += trace[static_cast<std::size_t>(t * M + m)];
    mean /= double(len * batches);
    double v = 0, bv = 0;
    for (index_t k = 0; k < batches; ++k) {
      double bm = 0;
      for (index_t t = k * len; t < (k + 1) * len; ++t) {
        const double d = trace[static_cast<std::size_t>(t * M + m)] - mean;
        bm += d;
        v += d * d;
      }
      bm /= double(len);
      bv += bm * bm;
    }
    var_sum += v / double(len * batches - 1);
    bvar_sum += bv / double(batches - 1);
  }
  if (!(var_sum > 0)) return double(draws * chains);
  const double tau = double(len) * bvar_sum / var_sum;
  return double(draws) * double(chains) / tau;
}

/// Mean of a batch [N, D] (or [N, ...]) over its samples, in double.
template <class T>
std::vector<double> sample_mean(const tensor<T>& x) {
  EBM_REQUIRE(x.rank() >= 1 && x.extent(0) >= 1, "sample_mean: need a non-empty batch, got ", x.shape());
  const index_t n = x.extent(0), d = x.shape().sample_size();
  std::vector<double> m(static_cast<std::size_t>(d), 0.0);
  for (index_t i = 0; i < n; ++i)
    for (index_t j = 0; j < d; ++j) m[static_cast<std::size_t>(j)] += double(x[i * d + j]);
  for (double& v : m) v /= double(n);
  return m;
}

/// Sample covariance (1/(N-1) normalisation), row-major D x D, in double.
template <class T>
std::vector<double> sample_covariance(const tensor<T>& x) {
  EBM_REQUIRE(x.rank() >= 1 && x.extent(0) >= 2, "sample_covariance: need at least two samples, got ", x.shape());
  const index_t n = x.extent(0), d = x.shape().sample_size();
  const std::vector<double> m = sample_mean(x);
  std::vector<double> c(static_cast<std::size_t>(d * d), 0.0);
  for (index_t i = 0; i < n; ++i)
    for (index_t a = 0; a < d; ++a) {
      const double da = double(x[i * d + a]) - m[static_cast<std::size_t>(a)];
      for (index_t b = 0; b <= a; ++b)
        c[static_cast<std::size_t>(a * d + b)] += da * (double(x[i * d + b]) - m[static_cast<std::size_t>(b)]);
    }
  for (index_t a = 0; a < d; ++a)
    for (index_t b = 0; b <= a; ++b) {
      const double v = c[static_cast<std::size_t>(a * d + b)] / double(n - 1);
      c[static_cast<std::size_t>(a * d + b)] = c[static_cast<std::size_t>(b * d + a)] = v;
    }
  return c;
}

}  // namespace ebm

#pragma once
// Test helper: do the final states of many independent chains have the
// target's mean and covariance?
//
// With M independent chains the sample mean of coordinate a has standard
// error sd(x_a) / sqrt(M) and the sample covariance (a, b) has standard error
// sd((x_a - m_a)(x_b - m_b)) / sqrt(M); both standard deviations are
// estimated from the same M states (M >= 4000, so the estimate is itself
// accurate to ~2%).  Each statistic must lie within `safety` standard errors
// of the truth; with safety 5 and ~10 statistics per check a correct sampler
// fails with probability ~1e-5 (and the seeds are fixed).  Any bias of the
// sampler larger than a few standard errors shows up.  EBM_TEST_VERBOSE=1 in
// the environment prints the largest |error| / standard error of each check.
#include <doctest/doctest.h>

#include <cmath>
#include <cstdlib>
#include <string>
#include <vector>

#include <Eigen/Core>
#include <ebm/core/tensor.hpp>

namespace ebm::test {

struct moment_report {
  double worst_z = 0;  // largest |estimate - truth| / standard error seen
};


/// Checks every statistic (a doctest CHECK each) unless `check` is false;
/// returns the largest |error| / standard error either way.
template <class T, class Vec, class Mat>
moment_report check_moments(const tensor<T>& x, const Vec& mean, const Mat& cov, double safety = 5.0,
                            double extra_tol = 0.0, bool check = true) {
  const index_t M = x.extent(0), D = x.shape().sample_size();
  moment_report rep;
  std::vector<double> m(static_cast<std::size_t>(D), 0.0);
  for (index_t i = 0; i < M; ++i)
    for (index_t a = 0; a < D; ++a) m[static_cast<std::size_t>(a)] += double(x[i * D + a]) / double(M);
  for (index_t a = 0; a < D; ++a) {
    double v = 0;
    for (index_t i = 0; i < M; ++i) {
      const double d = double(x[i * D + a]) - m[static_cast<std::size_t>(a)];
      v += d * d / double(M - 1);
    }
    const double se = std::sqrt(v / double(M));
    const double err = std::abs(m[static_cast<std::size_t>(a)] - double(mean(a)));
    INFO("mean[" << a << "] = " << m[static_cast<std::size_t>(a)] << ", truth " << double(mean(a)) << ", SE " << se);
    if (check) CHECK(err <= safety * se + extra_tol);
    rep.worst_z = std::max(rep.worst_z, err / se);
  }
  for (index_t a = 0; a < D; ++a)
    for (index_t b = 0; b <= a; ++b) {
      std::vector<double> prod(static_cast<std::size_t>(M));
      double c = 0;
      for (index_t i = 0; i < M; ++i) {
        prod[static_cast<std::size_t>(i)] = (double(x[i * D + a]) - m[static_cast<std::size_t>(a)]) *
                                            (double(x[i * D + b]) - m[static_cast<std::size_t>(b)]);
        c += prod[static_cast<std::size_t>(i)] / double(M - 1);
      }
      double v = 0;
      for (double p : prod) v += (p - c) * (p - c) / double(M - 1);
      const double se = std::sqrt(v / double(M));
      const double err = std::abs(c - double(cov(a, b)));
      INFO("cov[" << a << "," << b << "] = " << c << ", truth " << double(cov(a, b)) << ", SE " << se);
      if (check) CHECK(err <= safety * se + extra_tol);
      rep.worst_z = std::max(rep.worst_z, err / se);
    }
  if (check && std::getenv("EBM_TEST_VERBOSE")) MESSAGE("largest |error| / standard error: " << rep.worst_z);
  return rep;
}

}  // namespace ebm::test

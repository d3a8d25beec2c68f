#pragma once
// The Fréchet distance between two Gaussians fitted to feature sets (the
// quantity behind FID, Heusel et al. 2017):
//
//   d² = ‖μ₁ − μ₂‖² + tr Σ₁ + tr Σ₂ − 2 tr (Σ₁^{1/2} Σ₂ Σ₁^{1/2})^{1/2}.
//
// tr (Σ₁ Σ₂)^{1/2} equals tr (Σ₁^{1/2} Σ₂ Σ₁^{1/2})^{1/2}, since Σ₁Σ₂ and
// Σ₁^{1/2}Σ₂Σ₁^{1/2} are similar; the second form is symmetric positive
// semi-definite, so it is evaluated with two symmetric eigen-decompositions
// (Eigen's SelfAdjointEigenSolver) and eigenvalues that rounding pushed below
// zero are clamped to zero.  This avoids the complex square roots and the
// "imaginary component" warnings of scipy.linalg.sqrtm on the non-symmetric
// product.  Everything is computed in double.
//
// Covariances use the unbiased 1/(N−1) normalisation (numpy.cov, as the
// reference FID code).  The distance is biased upwards for small N, so only
// compare numbers computed with the same number of samples.
//
//   auto a = eval::fit_gaussian<float>(features_a);   // [N, d]
//   double fd = eval::frechet_distance(a, eval::fit_gaussian<float>(features_b));
#include <Eigen/Core>
#include <Eigen/Eigenvalues>
#include <algorithm>
#include <cmath>

#include "../core/tensor.hpp"
#include "detail/psd.hpp"

namespace ebm::eval {

/// Mean and covariance of a feature set.
struct gaussian_stats {
  Eigen::VectorXd mean;
  Eigen::MatrixXd cov;
  index_t count = 0;  ///< number of feature vectors fitted

  index_t dim() const { return mean.size(); }
};

/// Fits mean and (1/(N−1)) covariance to features [N, d] (any shape [N, ...]
/// is read as [N, d]); needs N ≥ 2.
template <class T>
gaussian_stats fit_gaussian(tensor_view<const T> features) {
  const shape& s = features.shape();
  EBM_REQUIRE(s.rank() >= 2, "fit_gaussian: expected features [N, d], got ", s);
  const index_t n = s[0], d = s.sample_size();
  EBM_REQUIRE(n >= 2 && d >= 1, "fit_gaussian: need at least 2 feature vectors of dimension >= 1, got ", s);
  using row_major = Eigen::Matrix<T, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
  const Eigen::Map<const row_major> x(features.data(), n, d);
  gaussian_stats g;
  g.count = n;
  g.mean = x.template cast<double>().colwise().sum().transpose() / double(n);
  // Centre before the product: the naive E[xxᵀ] − μμᵀ loses digits when the
  // mean is large compared with the spread.
  const Eigen::MatrixXd xc = x.template cast<double>().rowwise() - g.mean.transpose();
  g.cov = Eigen::MatrixXd::Zero(d, d);
  g.cov.selfadjointView<Eigen::Lower>().rankUpdate(xc.transpose(), 1.0 / double(n - 1));
  g.cov.triangularView<Eigen::StrictlyUpper>() = g.cov.transpose();
  return g;
}

template <class T>
gaussian_stats fit_gaussian(const tensor<T>& features) {
  return fit_gaussian<T>(features.view());
}

/// tr (Σ₁ Σ₂)^{1/2} for symmetric positive semi-definite Σ₁, Σ₂.
inline double trace_sqrt_product(const Eigen::MatrixXd& cov1, const Eigen::MatrixXd& cov2) {
  EBM_REQUIRE(cov1.rows() == cov1.cols() && cov2.rows() == cov2.cols() && cov1.rows() == cov2.rows(),
              "trace_sqrt_product: need two square matrices of one size, got ", cov1.rows(), "x", cov1.cols(),
              " and ", cov2.rows(), "x", cov2.cols());
  const Eigen::MatrixXd s1 = detail::sqrt_psd(cov1, "trace_sqrt_product");
  Eigen::MatrixXd m = s1 * cov2 * s1;
  m = 0.5 * (m + m.transpose());  // symmetric to the last bit, as the solver assumes
  const auto es = detail::eigen_symmetric(m, "trace_sqrt_product", Eigen::EigenvaluesOnly);
  return detail::sqrt_clamped(es.eigenvalues()).sum();
}

/// The squared Fréchet (2-Wasserstein) distance between N(μ₁, Σ₁) and N(μ₂, Σ₂).
/// (FID reports this squared quantity under the name "distance".)
inline double frechet_distance(const gaussian_stats& a, const gaussian_stats& b) {
  EBM_REQUIRE(a.dim() == b.dim() && a.dim() > 0, "frechet_distance: feature dimensions differ (", a.dim(),
              " and ", b.dim(), ")");
  const double mean_term = (a.mean - b.mean).squaredNorm();
  const double d = mean_term + a.cov.trace() + b.cov.trace() - 2.0 * trace_sqrt_product(a.cov, b.cov);
  // Rounding can leave a tiny negative number for identical inputs.
  return std::max(d, 0.0);
}

/// Fits both feature sets and returns their Fréchet distance.
template <class T>
double frechet_distance(tensor_view<const T> features_a, tensor_view<const T> features_b) {
  return frechet_distance(fit_gaussian<T>(features_a), fit_gaussian<T>(features_b));
}

}  // namespace ebm::eval

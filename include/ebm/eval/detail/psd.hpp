#pragma once
// Helpers for symmetric positive semi-definite matrices from sample
// covariances: eigenvalues that rounding pushed slightly below zero are
// treated as zero.  Written as plain loops over the (short) eigenvalue
// vectors: GCC 12 reports -Wuninitialized false positives inside its own
// AVX-512 intrinsics for Eigen's vectorised cwiseMax().cwiseSqrt().
#include <Eigen/Core>
#include <Eigen/Eigenvalues>
#include <algorithm>
#include <cmath>

#include "../../core/error.hpp"

namespace ebm::eval::detail {

/// sqrt(max(v_i, 0)) for every element.
inline Eigen::VectorXd sqrt_clamped(const Eigen::VectorXd& v) {
  Eigen::VectorXd r(v.size());
  for (Eigen::Index i = 0; i < v.size(); ++i) r[i] = std::sqrt(std::max(v[i], 0.0));
  return r;
}

/// Σ max(v_i, 0).
inline double sum_clamped(const Eigen::VectorXd& v) {
  double s = 0;
  for (Eigen::Index i = 0; i < v.size(); ++i) s += std::max(v[i], 0.0);
  return s;
}

/// The eigen-decomposition of a symmetric matrix (only its lower triangle is read).
inline Eigen::SelfAdjointEigenSolver<Eigen::MatrixXd> eigen_symmetric(const Eigen::MatrixXd& a, const char* who,
                                                                     int options = Eigen::ComputeEigenvectors) {
  Eigen::SelfAdjointEigenSolver<Eigen::MatrixXd> es(a, options);
  EBM_REQUIRE(es.info() == Eigen::Success, who, ": the symmetric eigen-decomposition did not converge");
  return es;
}

/// A factor F with F Fᵀ = A (eigenvectors scaled by sqrt of the clamped eigenvalues).
inline Eigen::MatrixXd psd_factor(const Eigen::MatrixXd& a, const char* who) {
  const auto es = eigen_symmetric(a, who);
  return es.eigenvectors() * sqrt_clamped(es.eigenvalues()).asDiagonal();
}

/// The principal square root of A.
inline Eigen::MatrixXd sqrt_psd(const Eigen::MatrixXd& a, const char* who) {
  const auto es = eigen_symmetric(a, who);
  return es.eigenvectors() * sqrt_clamped(es.eigenvalues()).asDiagonal() * es.eigenvectors().transpose();
}

}  // namespace ebm::eval::detail

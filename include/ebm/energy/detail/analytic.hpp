#pragma once
// Internals of the analytic energies: Eigen views of [N, D] batches and the
// Cholesky-based quantities a Gaussian needs.
#include <cmath>
#include <numbers>

#include <Eigen/Cholesky>
#include <Eigen/Core>

#include "../../core/error.hpp"
#include "../../core/tensor.hpp"

namespace ebm::detail {

template <class T>
using row_matrix = Eigen::Matrix<T, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;

/// A batch [N, ...] with D features per sample, read as a row-major N x D matrix.
template <class T>
Eigen::Map<const row_matrix<T>> as_rows(const tensor<T>& x, index_t dim, const char* who) {
  EBM_REQUIRE(x.rank() >= 1 && x.extent(0) >= 1 && x.shape().sample_size() == dim, who,
              ": expected a batch [N, ", dim, "] (or [N, ...] with ", dim, " features per sample), got ",
              x.shape());
  return {x.data(), x.extent(0), dim};
}
template <class T>
Eigen::Map<row_matrix<T>> as_rows(tensor<T>& x, index_t dim) {
  return {x.data(), x.extent(0), dim};
}

/// Cholesky factor, precision and log normaliser of a covariance matrix.
template <class T>
struct gaussian_factors {
  using matrix = Eigen::Matrix<T, Eigen::Dynamic, Eigen::Dynamic>;
  matrix chol;       ///< lower L with L L^T = Sigma
  matrix precision;  ///< Sigma^-1
  T log_norm;        ///< (1/2) log det(2 pi Sigma)

  gaussian_factors() = default;
  gaussian_factors(const matrix& cov, const char* who) {
    EBM_REQUIRE(cov.rows() == cov.cols() && cov.rows() >= 1, who, ": the covariance must be square and non-empty, got ",
                cov.rows(), " x ", cov.cols());
    EBM_REQUIRE((cov - cov.transpose()).cwiseAbs().maxCoeff() <= T(1e-6) * (T(1) + cov.cwiseAbs().maxCoeff()),
                who, ": the covariance must be symmetric");
    Eigen::LLT<matrix> llt(cov);
    EBM_REQUIRE(llt.info() == Eigen::Success, who, ": the covariance is not positive definite");
    chol = llt.matrixL();
    precision = llt.solve(matrix::Identity(cov.rows(), cov.cols()));
    precision = (precision + precision.transpose()).eval() / T(2);
    const T log_det = T(2) * chol.diagonal().array().log().sum();
    log_norm = T(0.5) * (T(cov.rows()) * std::log(T(2) * std::numbers::pi_v<T>) + log_det);
  }
};

}  // namespace ebm::detail

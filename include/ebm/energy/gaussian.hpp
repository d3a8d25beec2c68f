#pragma once
// gaussian<T>: the multivariate normal N(mu, Sigma) with full covariance as an
// energy with exact answers,
//
//   E(x) = -log p(x) = (1/2)(x - mu)^T Sigma^-1 (x - mu) + (1/2) log det(2 pi Sigma),
//   grad E(x) = Sigma^-1 (x - mu),
//
// so the energy is the normalised negative log density.  Besides the energy
// concept it offers exact samples (mu + L z with L L^T = Sigma), the true
// mean and covariance, the log density and the score (-grad E).  Batches are
// [N, D] (or [N, ...] with D features per sample).
//
//   auto target = ebm::gaussian<double>::ar1(64, 0.5);   // Sigma_ij = 0.5^|i-j|
//   ebm::tensor<double> x = target.sample(1000, rng);
#include <vector>

#include "../core/philox.hpp"
#include "concept.hpp"
#include "detail/analytic.hpp"

namespace ebm {

template <class T = double>
class gaussian {
  static_assert(std::is_floating_point_v<T>, "gaussian: T must be a floating-point type");

 public:
  using value_type = T;
  using device_type = cpu;
  using tensor_type = tensor<T>;
  using vector = Eigen::Matrix<T, Eigen::Dynamic, 1>;
  using matrix = Eigen::Matrix<T, Eigen::Dynamic, Eigen::Dynamic>;

  gaussian(vector mean, matrix cov) : mean_(std::move(mean)), cov_(std::move(cov)), f_(cov_, "gaussian") {
    EBM_REQUIRE(mean_.size() == cov_.rows(), "gaussian: mean has ", mean_.size(),
                " entries but the covariance is ", cov_.rows(), " x ", cov_.cols());
  }
  /// N(0, sigma^2 I) in `dim` dimensions.
  static gaussian isotropic(index_t dim, T sigma = T(1)) {
    return gaussian(vector::Zero(dim), matrix::Identity(dim, dim) * (sigma * sigma));
  }
  /// Zero mean, Sigma_ij = sigma^2 rho^|i-j| (a stationary AR(1) process; the
  /// condition number grows towards ((1 + |rho|)/(1 - |rho|))^2 with dim).
  static gaussian ar1(index_t dim, T rho, T sigma = T(1)) {
    EBM_REQUIRE(rho > T(-1) && rho < T(1), "gaussian::ar1: need |rho| < 1, got ", rho);
    matrix c(dim, dim);
    for (index_t i = 0; i < dim; ++i)
      for (index_t j = 0; j < dim; ++j) c(i, j) = sigma * sigma * std::pow(rho, T(i > j ? i - j : j - i));
    return gaussian(vector::Zero(dim), c);
  }

  index_t dim() const { return mean_.size(); }
  const vector& mean() const { return mean_; }
  const matrix& covariance() const { return cov_; }
  const matrix& precision() const { return f_.precision; }
  /// Lower Cholesky factor L of the covariance.
  const matrix& cholesky() const { return f_.chol; }
  /// (1/2) log det(2 pi Sigma): the energy's additive constant.
  T log_normalizer() const { return f_.log_norm; }

  const tensor_type& energy(const tensor_type& x) {
    compute(x, nullptr);
    return e_;
  }
  const tensor_type& energy_and_grad(const tensor_type& x, tensor_type& g) {
    g.resize(x.shape());
    compute(x, &g);
    return e_;
  }
  /// out = grad log p(x) = -Sigma^-1 (x - mu).
  void score(const tensor_type& x, tensor_type& out) {
    energy_and_grad(x, out);
    for (T& v : out) v = -v;
  }
  /// log p(x) per sample.
  tensor_type log_density(const tensor_type& x) {
    tensor_type lp(energy(x));
    for (T& v : lp) v = -v;
    return lp;
  }
  /// n exact samples [n, D].
  tensor_type sample(index_t n, philox& rng) const {
    EBM_REQUIRE(n >= 1, "gaussian::sample: need at least one sample, got ", n);
    tensor_type z(shape{n, dim()}), x(shape{n, dim()});
    rng.fill_normal(z.span());
    auto Z = detail::as_rows(z, dim());
    auto X = detail::as_rows(x, dim());
    X.noalias() = Z * f_.chol.transpose();
    X.rowwise() += mean_.transpose();
    return x;
  }

 private:
  void compute(const tensor_type& x, tensor_type* g) {
    const auto X = detail::as_rows(x, dim(), "gaussian");
    const index_t n = X.rows();
    z_ = X.rowwise() - mean_.transpose();
    pz_.noalias() = z_ * f_.precision;  // rows P z (P symmetric)
    e_.resize(shape{n});
    for (index_t i = 0; i < n; ++i) e_[i] = T(0.5) * z_.row(i).dot(pz_.row(i)) + f_.log_norm;
    if (g) detail::as_rows(*g, dim()) = pz_;
  }

  vector mean_;
  matrix cov_;
  detail::gaussian_factors<T> f_;
  detail::row_matrix<T> z_, pz_;
  tensor_type e_;
};

}  // namespace ebm

#pragma once
// gaussian_mixture<T>: p(x) = sum_k pi_k N(x; mu_k, Sigma_k) with full
// covariances, as an energy with exact answers:
//
//   E(x) = -log p(x),
//   grad E(x) = sum_k r_k(x) Sigma_k^-1 (x - mu_k),   r_k = p(k | x) (responsibilities).
//
// Exact samples (component by weight, then the component's Gaussian), the
// true mean sum_k pi_k mu_k and covariance sum_k pi_k (Sigma_k + mu_k mu_k^T)
// - mu mu^T, log density, score, responsibilities and the gradient of the
// class posterior grad_x log p(k | x) (the component index read as a class
// label, for classifier guidance).
//
//   ebm::gaussian_mixture<double> gm({0.3, 0.7}, {ebm::gaussian<double>(m0, c0),
//                                                 ebm::gaussian<double>(m1, c1)});
#include <algorithm>
#include <limits>
#include <span>
#include <utility>
#include <vector>

#include "gaussian.hpp"

namespace ebm {

template <class T = double>
class gaussian_mixture {
 public:
  using value_type = T;
  using device_type = cpu;
  using tensor_type = tensor<T>;
  using vector = typename gaussian<T>::vector;
  using matrix = typename gaussian<T>::matrix;

  /// Weights need not be normalised (they are divided by their sum).
  gaussian_mixture(std::vector<T> weights, std::vector<gaussian<T>> components)
      : comps_(std::move(components)) {
    EBM_REQUIRE(!comps_.empty() && weights.size() == comps_.size(), "gaussian_mixture: got ", weights.size(),
                " weights for ", comps_.size(), " components (need one weight per component, at least one)");
    T total = 0;
    for (T w : weights) {
      EBM_REQUIRE(w > T(0), "gaussian_mixture: weights must be positive, got ", w);
      total += w;
    }
    for (std::size_t k = 0; k < comps_.size(); ++k) {
      EBM_REQUIRE(comps_[k].dim() == comps_[0].dim(), "gaussian_mixture: component ", k, " has dimension ",
                  comps_[k].dim(), ", component 0 has ", comps_[0].dim());
      weights_.push_back(weights[k] / total);
      log_w_.push_back(std::log(weights[k] / total));
    }
  }

  index_t dim() const { return comps_[0].dim(); }
  index_t components() const { return static_cast<index_t>(comps_.size()); }
  const gaussian<T>& component(index_t k) const { return comps_.at(static_cast<std::size_t>(k)); }
  T weight(index_t k) const { return weights_.at(static_cast<std::size_t>(k)); }

  vector mean() const {
    vector m = vector::Zero(dim());
    for (std::size_t k = 0; k < comps_.size(); ++k) m += weights_[k] * comps_[k].mean();
    return m;
  }
  matrix covariance() const {
    const vector m = mean();
    matrix c = matrix::Zero(dim(), dim());
    for (std::size_t k = 0; k < comps_.size(); ++k)
      c += weights_[k] * (comps_[k].covariance() + comps_[k].mean() * comps_[k].mean().transpose());
    return c - m * m.transpose();
  }

  const tensor_type& energy(const tensor_type& x) {
    compute(x);
    return e_;
  }
  const tensor_type& energy_and_grad(const tensor_type& x, tensor_type& g) {
    compute(x);
    g.resize(x.shape());
    auto G = detail::as_rows(g, dim());
    G.setZero();
    for (std::size_t k = 0; k < comps_.size(); ++k) G += r_.col(k).asDiagonal() * pz_[k];
    return e_;
  }
  /// out = grad log p(x).
  void score(const tensor_type& x, tensor_type& out) {
    energy_and_grad(x, out);
    for (T& v : out) v = -v;
  }
  tensor_type log_density(const tensor_type& x) {
    tensor_type lp(energy(x));
    for (T& v : lp) v = -v;
    return lp;
  }
  /// p(k | x) as [N, K].
  tensor_type responsibilities(const tensor_type& x) {
    compute(x);
    tensor_type r(shape{x.extent(0), components()});
    for (index_t i = 0; i < x.extent(0); ++i)
      for (index_t k = 0; k < components(); ++k) r(i, k) = r_(i, k);
    return r;
  }
  /// out = grad_x log p(k = labels[i] | x_i) = sum_j r_j P_j (x - mu_j) - P_k (x - mu_k).
  void class_log_prob_grad(const tensor_type& x, std::span<const int> labels, tensor_type& out) {
    EBM_REQUIRE(static_cast<index_t>(labels.size()) == x.extent(0), "gaussian_mixture::class_log_prob_grad: ",
                labels.size(), " labels for a batch of ", x.extent(0));
    energy_and_grad(x, out);
    auto G = detail::as_rows(out, dim());
    for (index_t i = 0; i < x.extent(0); ++i) {
      const int k = labels[static_cast<std::size_t>(i)];
      EBM_REQUIRE(k >= 0 && k < components(), "gaussian_mixture::class_log_prob_grad: label ", k,
                  " out of range [0, ", components(), ")");
      G.row(i) -= pz_[static_cast<std::size_t>(k)].row(i);
    }
  }

  /// n exact samples [n, D]; with `labels`, also the component of each.
  tensor_type sample(index_t n, philox& rng, std::vector<int>* labels = nullptr) const {
    EBM_REQUIRE(n >= 1, "gaussian_mixture::sample: need at least one sample, got ", n);
    std::vector<double> u(static_cast<std::size_t>(n));
    rng.fill_uniform(std::span<double>(u), 0.0, 1.0);
    tensor_type z(shape{n, dim()}), x(shape{n, dim()});
    rng.fill_normal(z.span());
    const auto Z = detail::as_rows(std::as_const(z), dim(), "gaussian_mixture::sample");
    auto X = detail::as_rows(x, dim());
    if (labels) labels->resize(static_cast<std::size_t>(n));
    for (index_t i = 0; i < n; ++i) {
      std::size_t k = 0;
      double c = weights_[0];
      while (k + 1 < comps_.size() && u[static_cast<std::size_t>(i)] >= c) c += weights_[++k];
      X.row(i) = comps_[k].mean().transpose() + Z.row(i) * comps_[k].cholesky().transpose();
      if (labels) (*labels)[static_cast<std::size_t>(i)] = static_cast<int>(k);
    }
    return x;
  }

 private:
  // Per component: z = x - mu_k, P_k z and the log of pi_k N(x; mu_k, Sigma_k);
  // then E = -logsumexp and the responsibilities r.
  void compute(const tensor_type& x) {
    const auto X = detail::as_rows(x, dim(), "gaussian_mixture");
    const index_t n = X.rows(), K = components();
    pz_.resize(comps_.size());
    lw_.resize(n, K);
    for (index_t k = 0; k < K; ++k) {
      const auto& c = comps_[static_cast<std::size_t>(k)];
      z_ = X.rowwise() - c.mean().transpose();
      auto& pz = pz_[static_cast<std::size_t>(k)];
      pz.noalias() = z_ * c.precision();
      for (index_t i = 0; i < n; ++i)
        lw_(i, k) = log_w_[static_cast<std::size_t>(k)] - c.log_normalizer() - T(0.5) * z_.row(i).dot(pz.row(i));
    }
    e_.resize(shape{n});
    r_.resize(n, K);
    for (index_t i = 0; i < n; ++i) {
      const T mx = lw_.row(i).maxCoeff();
      T s = 0;
      for (index_t k = 0; k < K; ++k) s += (r_(i, k) = std::exp(lw_(i, k) - mx));
      r_.row(i) /= s;
      e_[i] = -(mx + std::log(s));
    }
  }

  std::vector<gaussian<T>> comps_;
  std::vector<T> weights_, log_w_;
  std::vector<detail::row_matrix<T>> pz_;
  detail::row_matrix<T> z_, lw_, r_;
  tensor_type e_;
};

}  // namespace ebm

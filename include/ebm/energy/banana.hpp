#pragma once
// banana<T>: the twisted Gaussian of Haario, Saksman and Tamminen (1999), a
// curved target with exact answers.  With z ~ N(0, diag(a^2, 1, ..., 1)) in
// D >= 2 dimensions,
//
//   x_1 = z_1,   x_2 = z_2 - b (z_1^2 - a^2),   x_i = z_i (i > 2).
//
// The map z -> x has unit Jacobian, so
//
//   E(x) = x_1^2 / (2 a^2) + u^2 / 2 + sum_{i>2} x_i^2 / 2 + (D/2) log(2 pi) + log a,
//   u = x_2 + b (x_1^2 - a^2),
//   grad E = (x_1 / a^2 + 2 b x_1 u,  u,  x_3, ..., x_D),
//
// normalised (E = -log p).  Exact samples come from the map; the mean is 0
// and the covariance diag(a^2, 1 + 2 b^2 a^4, 1, ..., 1) (E[z_1^4] = 3 a^4),
// uncorrelated although x_1 and x_2 are strongly dependent.
#include <cmath>
#include <numbers>

#include "../core/philox.hpp"
#include "concept.hpp"
#include "detail/analytic.hpp"

namespace ebm {

template <class T = double>
class banana {
  static_assert(std::is_floating_point_v<T>, "banana: T must be a floating-point type");

 public:
  using value_type = T;
  using device_type = cpu;
  using tensor_type = tensor<T>;
  using vector = Eigen::Matrix<T, Eigen::Dynamic, 1>;
  using matrix = Eigen::Matrix<T, Eigen::Dynamic, Eigen::Dynamic>;

  /// `dim` >= 2 dimensions, spread a > 0 of x_1, twist b.
  explicit banana(index_t dim = 2, T a = T(1), T b = T(1)) : dim_(dim), a_(a), b_(b) {
    EBM_REQUIRE(dim >= 2, "banana: needs at least 2 dimensions, got ", dim);
    EBM_REQUIRE(a > T(0), "banana: the spread a must be positive, got ", a);
    log_norm_ = T(0.5) * T(dim) * std::log(T(2) * std::numbers::pi_v<T>) + std::log(a);
  }

  index_t dim() const { return dim_; }
  T a() const { return a_; }
  T b() const { return b_; }
  vector mean() const { return vector::Zero(dim_); }
  matrix covariance() const {
    matrix c = matrix::Identity(dim_, dim_);
    c(0, 0) = a_ * a_;
    c(1, 1) = T(1) + T(2) * b_ * b_ * a_ * a_ * a_ * a_;
    return c;
  }

  const tensor_type& energy(const tensor_type& x) {
    compute(x, nullptr);
    return e_;
  }
  const tensor_type& energy_and_grad(const tensor_type& x, tensor_type& g) {
    g.resize(x.shape());
    compute(x, &g);
    return e_;
  }
  void score(const tensor_type& x, tensor_type& out) {
    energy_and_grad(x, out);
    for (T& v : out) v = -v;
  }
  tensor_type log_density(const tensor_type& x) {
    tensor_type lp(energy(x));
    for (T& v : lp) v = -v;
    return lp;
  }
  /// n exact samples [n, D].
  tensor_type sample(index_t n, philox& rng) const {
    EBM_REQUIRE(n >= 1, "banana::sample: need at least one sample, got ", n);
    tensor_type x(shape{n, dim_});
    rng.fill_normal(x.span());
    for (index_t i = 0; i < n; ++i) {
      T* r = x.data() + i * dim_;
      r[0] *= a_;
      r[1] -= b_ * (r[0] * r[0] - a_ * a_);
    }
    return x;
  }

 private:
  void compute(const tensor_type& x, tensor_type* g) {
    EBM_REQUIRE(x.rank() >= 1 && x.extent(0) >= 1 && x.shape().sample_size() == dim_, "banana: expected a batch [N, ",
                dim_, "], got ", x.shape());
    const index_t n = x.extent(0);
    e_.resize(shape{n});
    const T inv_a2 = T(1) / (a_ * a_);
    for (index_t i = 0; i < n; ++i) {
      const T* r = x.data() + i * dim_;
      const T u = r[1] + b_ * (r[0] * r[0] - a_ * a_);
      T e = T(0.5) * (r[0] * r[0] * inv_a2 + u * u);
      for (index_t j = 2; j < dim_; ++j) e += T(0.5) * r[j] * r[j];
      e_[i] = e + log_norm_;
      if (g) {
        T* gr = g->data() + i * dim_;
        gr[0] = r[0] * inv_a2 + T(2) * b_ * r[0] * u;
        gr[1] = u;
        for (index_t j = 2; j < dim_; ++j) gr[j] = r[j];
      }
    }
  }

  index_t dim_;
  T a_, b_, log_norm_;
  tensor_type e_;
};

}  // namespace ebm

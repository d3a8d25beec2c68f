#pragma once
// spectral_norm<Inner>: reparameterises the weight of a linear or convolution
// block as W / sigma(W) (Miyato et al. 2018), as the CF-EBM energy does.
//
// sigma = u^T W v, with W viewed as a [out, rest] matrix and (u, v) the
// persistent power-iteration vectors.  Exactly as in PyTorch, u and v are
// treated as constants when differentiating, so for G = dL/dW_sn
//   dL/dW = G / sigma - (<G, W> / sigma^2) u v^T,
// and the same linear map carries the tangent of G (backward_tangent).  The
// power iteration advances only in refresh() (the trainer calls it after
// every optimizer step), never inside a pass: derivatives are those of a
// fixed function, and finite-difference checks see a deterministic block.
#include <cmath>
#include <string_view>

#include "../core/philox.hpp"
#include "init.hpp"
#include "layer.hpp"

namespace ebm::nn {

template <class Inner>
class spectral_norm {
 public:
  using value_type = typename Inner::value_type;
  using device_type = typename Inner::device_type;
  using tensor_type = tensor<value_type, device_type>;
  using T = value_type;

  /// Wraps `inner`; runs `init_iterations` power iterations from a random u.
  /// With `enabled == false` the block is a transparent pass-through (sigma
  /// fixed at 1), so architectures can switch normalisation off at run time.
  explicit spectral_norm(Inner inner, int init_iterations = 20, bool enabled = true)
      : inner_(std::move(inner)), w_(inner_.weight()), enabled_(enabled) {
    rows_ = w_.extent(0);
    cols_ = w_.size() / rows_;
    gw_ = tensor_type(w_.shape());
    u_ = tensor_type(shape{rows_});
    v_ = tensor_type(shape{cols_});
    reset_vectors(detail::default_init_rng(), init_iterations);
  }

  Inner& inner() { return inner_; }
  /// The unnormalised weight (the trained parameter).
  tensor_type& weight() { return w_; }
  const tensor_type& u() const { return u_; }
  bool enabled() const { return enabled_; }
  /// sigma = u^T W v at the current weight (1 when disabled).
  T sigma() const {
    if (!enabled_) return T(1);
    T s = 0;
    for (index_t i = 0; i < rows_; ++i) {
      T wv = 0;
      const T* row = w_.data() + i * cols_;
      for (index_t j = 0; j < cols_; ++j) wv += row[j] * v_[j];
      s += u_[i] * wv;
    }
    return s;
  }

  /// One (or more) power iterations: v = normalize(W^T u), u = normalize(W v).
  void power_iteration(int iterations = 1) {
    for (int it = 0; it < iterations; ++it) {
      for (index_t j = 0; j < cols_; ++j) v_[j] = 0;
      for (index_t i = 0; i < rows_; ++i) {
        const T* row = w_.data() + i * cols_;
        for (index_t j = 0; j < cols_; ++j) v_[j] += row[j] * u_[i];
      }
      normalize(v_);
      for (index_t i = 0; i < rows_; ++i) {
        const T* row = w_.data() + i * cols_;
        T s = 0;
        for (index_t j = 0; j < cols_; ++j) s += row[j] * v_[j];
        u_[i] = s;
      }
      normalize(u_);
    }
  }
  void refresh() {
    if (enabled_) power_iteration(1);
    ebm::refresh(inner_);
  }
  void init(philox& rng) {
    initialize(inner_, rng);
    w_ = inner_.weight();
    reset_vectors(rng, enabled_ ? 20 : 0);
  }

  template <class F>
  void visit_params(F&& f) {
    f("weight", w_, gw_);
    ebm::visit_params(inner_, [&](std::string_view name, tensor_type& v, tensor_type& g) {
      if (name != "weight") f(name, v, g);
    });
  }
  /// Non-trainable state that checkpoints must keep (the power-iteration u;
  /// v is recomputed from u and W).
  template <class F>
  void visit_buffers(F&& f) {
    f("u", u_);
  }
  void on_buffers_loaded() { update_v_from_u(); }

  const tensor_type& forward(const tensor_type& x) {
    sigma_ = sigma();
    // sigma is positive once the power iteration has converged; right after
    // an arbitrary change of W (stale u, v) it may be any sign, which is still
    // a valid reparameterisation, so only 0 and non-finite values are errors.
    EBM_REQUIRE(std::isfinite(double(sigma_)) && sigma_ != T(0),
                "spectral_norm: sigma = ", sigma_, " is zero or not finite (weight of shape ",
                w_.shape(), "); the weights have diverged");
    tensor_type& wsn = inner_.weight();
    const T inv = T(1) / sigma_;
    for (index_t i = 0; i < w_.size(); ++i) wsn[i] = w_[i] * inv;
    return inner_.forward(x);
  }
  const tensor_type& backward(const tensor_type& gy, grad g = grad::input) {
    if (!wants_params(g)) return inner_.backward(gy, g);
    tensor_type& gin = inner_weight_grad();
    gin.zero();
    const tensor_type& gx = inner_.backward(gy, g);
    map_weight_grad(gin);
    return gx;
  }
  const tensor_type& forward_tangent(const tensor_type& dx) { return inner_.forward_tangent(dx); }
  const tensor_type& backward_tangent(const tensor_type& dgy, grad g = grad::input) {
    if (!wants_params(g)) return inner_.backward_tangent(dgy, g);
    tensor_type& gin = inner_weight_grad();
    gin.zero();
    const tensor_type& dgx = inner_.backward_tangent(dgy, g);
    map_weight_grad(gin);
    return dgx;
  }

 private:
  tensor_type& inner_weight_grad() {
    tensor_type* g = nullptr;
    ebm::visit_params(inner_, [&](std::string_view name, tensor_type&, tensor_type& gr) {
      if (name == "weight") g = &gr;
    });
    EBM_REQUIRE(g, "spectral_norm: the wrapped block has no parameter named 'weight'");
    return *g;
  }
  // gw += G / sigma - (<G, W> / sigma^2) u v^T, with G the gradient (or its
  // tangent) with respect to the normalised weight.
  void map_weight_grad(const tensor_type& G) {
    T gw_dot = 0;
    for (index_t i = 0; i < G.size(); ++i) gw_dot += G[i] * w_[i];
    const T inv = T(1) / sigma_, c = enabled_ ? gw_dot * inv * inv : T(0);
    for (index_t i = 0; i < rows_; ++i)
      for (index_t j = 0; j < cols_; ++j) {
        const index_t k = i * cols_ + j;
        gw_[k] += G[k] * inv - c * u_[i] * v_[j];
      }
  }
  void update_v_from_u() {
    for (index_t j = 0; j < cols_; ++j) v_[j] = 0;
    for (index_t i = 0; i < rows_; ++i) {
      const T* row = w_.data() + i * cols_;
      for (index_t j = 0; j < cols_; ++j) v_[j] += row[j] * u_[i];
    }
    normalize(v_);
  }
  void reset_vectors(philox& rng, int iterations) {
    rng.fill_normal<T>(u_.span());
    normalize(u_);
    power_iteration(iterations);
  }
  static void normalize(tensor_type& t) {
    double s = 0;
    for (T v : t) s += double(v) * double(v);
    const T inv = T(1) / T(std::sqrt(s) + 1e-12);
    for (T& v : t) v *= inv;
  }

  Inner inner_;
  tensor_type w_, gw_, u_, v_;
  index_t rows_ = 0, cols_ = 0;
  bool enabled_ = true;
  T sigma_ = 1;
};

}  // namespace ebm::nn

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
//
// The matrix-vector products, dot products and the rank-1 correction run
// through blas<D> and elementwise<D>, so the block works on any device whose
// tensors it wraps.  On a device other than the CPU, forward and backward keep
// sigma and <G, W> in device memory (spectral_kernels<D>, device/cuda/
// spectral.hpp): no pass synchronises the stream, so chains through the
// network can be captured into CUDA graphs.  There a non-finite sigma is not
// caught by the block itself; it makes every energy non-finite, which the
// samplers and trainers check.  sigma(), power_iteration() and refresh() read
// scalars back to the host (they run between passes, not inside a chain).
#include <cmath>
#include <string_view>
#include <type_traits>

#include "../core/philox.hpp"
#include "../device/cpu/blas.hpp"
#include "../device/cpu/elementwise.hpp"
#include "init.hpp"
#include "layer.hpp"

namespace ebm {
template <class D>
struct spectral_kernels;
}  // namespace ebm

namespace ebm::nn {

template <class Inner>
class spectral_norm {
 public:
  using value_type = typename Inner::value_type;
  using device_type = typename Inner::device_type;
  using tensor_type = tensor<value_type, device_type>;
  using T = value_type;
  using D = device_type;

  /// Wraps `inner`; runs `init_iterations` power iterations from a random u.
  /// With `enabled == false` the block is a transparent pass-through (sigma
  /// fixed at 1), so architectures can switch normalisation off at run time.
  explicit spectral_norm(Inner inner, int init_iterations = 20, bool enabled = true)
      : inner_(std::move(inner)), w_(inner_.weight()), enabled_(enabled) {
    rows_ = w_.extent(0);
    cols_ = w_.size() / rows_;
    gw_ = make(w_.shape());
    u_ = make(shape{rows_});
    v_ = make(shape{cols_});
    wv_ = make(shape{rows_});
    scalar_ = make(shape{1});
    if constexpr (!std::is_same_v<D, cpu>) sigma_d_ = make(shape{1});
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
    gemv(false, w_, v_, wv_);  // W v
    return dot(u_, wv_);
  }

  /// One (or more) power iterations: v = normalize(W^T u), u = normalize(W v).
  void power_iteration(int iterations = 1) {
    for (int it = 0; it < iterations; ++it) {
      gemv(true, w_, u_, v_);
      normalize(v_);
      gemv(false, w_, v_, u_);
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
    normalize_weight();
    return inner_.forward(x);
  }
  /// out = addend + scale · forward(x), where the wrapped block can add its
  /// output into a sum (conv2d::forward_add; nn::branch_sum uses it).
  const tensor_type& forward_add(const tensor_type& x, const tensor_type& addend, T scale, tensor_type& out)
    requires requires(Inner& in, const tensor_type& t, tensor_type& o, T s) { in.forward_add(t, t, s, o); }
  {
    normalize_weight();
    return inner_.forward_add(x, addend, scale, out);
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
  /// Writes W / sigma into the wrapped block's weight.
  void normalize_weight() {
    if constexpr (!std::is_same_v<D, cpu>) {
      tensor_type& wsn = inner_.weight();
      if (enabled_) {
        gemv(false, w_, v_, wv_);     // W v
        dot_into(u_, wv_, sigma_d_);  // sigma = u^T W v, left on the device
        spectral_kernels<D>::template divide<T>(dev(), sigma_d_.data(), w_.data(), wsn.data(), w_.size());
      } else {
        sigma_d_.fill(T(1));
        elementwise<D>::scale(dev(), T(1), w_.data(), wsn.data(), w_.size());
      }
      return;
    }
    sigma_ = sigma();
    // sigma is positive once the power iteration has converged; right after
    // an arbitrary change of W (stale u, v) it may be any sign, which is still
    // a valid reparameterisation, so only 0 and non-finite values are errors.
    EBM_REQUIRE(std::isfinite(double(sigma_)) && sigma_ != T(0),
                "spectral_norm: sigma = ", sigma_, " is zero or not finite (weight of shape ",
                w_.shape(), "); the weights have diverged");
    tensor_type& wsn = inner_.weight();
    elementwise<D>::scale(dev(), T(1) / sigma_, w_.data(), wsn.data(), w_.size());
  }
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
    if constexpr (!std::is_same_v<D, cpu>) {  // sigma of the last forward, on the device
      if (enabled_) dot_into(G, w_, scalar_);
      spectral_kernels<D>::template weight_grad<T>(dev(), sigma_d_.data(), scalar_.data(), G.data(), u_.data(),
                                                   v_.data(), gw_.data(), rows_, cols_, enabled_);
      return;
    }
    const T inv = T(1) / sigma_, c = enabled_ ? dot(G, w_) * inv * inv : T(0);
    elementwise<D>::axpy(dev(), inv, G.data(), gw_.data(), G.size());
    if (c != T(0))  // gw[i, j] -= c u[i] v[j]: a rank-1 GEMM
      blas<D>::gemm(dev(), false, false, rows_, cols_, 1, -c, u_.data(), 1, v_.data(), cols_, T(1), gw_.data(),
                    cols_);
  }
  void update_v_from_u() {
    gemv(true, w_, u_, v_);
    normalize(v_);
  }
  void reset_vectors(philox& rng, int iterations) {
    tensor<T> u(shape{rows_});  // drawn on the host: the same numbers on every device
    rng.fill_normal<T>(u.span());
    if constexpr (std::is_same_v<D, cpu>)
      u_ = std::move(u);
    else
      copy(u, u_);
    normalize(u_);
    power_iteration(iterations);
  }

  /// A zeroed tensor on the weight's device.
  tensor_type make(const shape& sh) const {
    if constexpr (std::is_same_v<D, cpu>)
      return tensor_type(sh);
    else
      return tensor_type(sh, dev());
  }
  D dev() const {
    if constexpr (requires { w_.device(); })
      return w_.device();
    else
      return D{};
  }
  /// y = W x (transposed: W^T x) for W viewed as [rows, cols].
  void gemv(bool transposed, const tensor_type& W, const tensor_type& x, tensor_type& y) const {
    if (transposed)
      blas<D>::gemm(dev(), true, false, cols_, 1, rows_, T(1), W.data(), cols_, x.data(), 1, T(0), y.data(), 1);
    else
      blas<D>::gemm(dev(), false, false, rows_, 1, cols_, T(1), W.data(), cols_, x.data(), 1, T(0), y.data(), 1);
  }
  /// out[0] = <a, b> over all elements (a 1 x 1 GEMM), on the device.
  void dot_into(const tensor_type& a, const tensor_type& b, tensor_type& out) const {
    blas<D>::gemm(dev(), true, false, 1, 1, a.size(), T(1), a.data(), 1, b.data(), 1, T(0), out.data(), 1);
  }
  /// <a, b> over all elements, returned on the host.
  T dot(const tensor_type& a, const tensor_type& b) const {
    dot_into(a, b, scalar_);
    if constexpr (std::is_same_v<D, cpu>)
      return scalar_[0];
    else
      return to_host(scalar_)[0];
  }
  void normalize(tensor_type& t) const {
    const T inv = T(1) / (std::sqrt(dot(t, t)) + T(1e-12));
    elementwise<D>::scale(dev(), inv, t.data(), t.data(), t.size());
  }

  Inner inner_;
  tensor_type w_, gw_, u_, v_;
  mutable tensor_type wv_, scalar_;  // scratch of sigma() and dot()
  tensor_type sigma_d_;              // sigma of the last forward, on a device other than the CPU
  index_t rows_ = 0, cols_ = 0;
  bool enabled_ = true;
  T sigma_ = 1;
};

}  // namespace ebm::nn

#pragma once
// logsumexp_energy<T, D>: the free-energy head of a classifier energy.
//
// Input logits f of shape [N, C] or [N, C, S...] (one logit per class at each
// of S positions, as EGC's per-pixel head); output [N, 1]:
//   E_n = -sum_s logsumexp_c f[n, c, s]     (E(x) = -log sum_y exp f(x)[y])
// With p = softmax over c at each position:
//   backward          gx = -gy p
//   forward_tangent   dy = -sum p·dx
//   backward_tangent  dgx = -dgy p - gy dp,   dp = p (dx - <p, dx>)
// On devices other than the host the same formulas run as kernels
// (logsumexp_kernels<D>, device/cuda/logsumexp.hpp).
#include <algorithm>
#include <cmath>
#include <type_traits>

#include "../device/cpu/device.hpp"
#include "layer.hpp"

namespace ebm {
/// The passes of logsumexp_energy on devices other than the host
/// (device/cuda/logsumexp.hpp).
template <class D>
struct logsumexp_kernels;
}  // namespace ebm

namespace ebm::nn {

template <class T = float, class D = cpu>
class logsumexp_energy {
 public:
  using value_type = T;
  using device_type = D;
  using tensor_type = tensor<T, D>;

  explicit logsumexp_energy(D dev = {}) : dev_(dev) {}

  const tensor_type& forward(const tensor_type& x) {
    EBM_REQUIRE(x.rank() >= 2 && x.extent(1) >= 1,
                "logsumexp_energy: expected logits [N, C] or [N, C, ...], got ", x.shape());
    n_ = x.extent(0), c_ = x.extent(1), s_ = x.size() / (n_ * c_);
    in_shape_ = x.shape();
    p_.resize(x.shape());
    y_.resize(shape{n_, 1});
    if constexpr (std::is_same_v<D, cpu>) {
      for (index_t n = 0; n < n_; ++n) {
        T total = 0;
        for (index_t s = 0; s < s_; ++s) {
          const T* f = x.data() + n * c_ * s_ + s;
          T* p = p_.data() + n * c_ * s_ + s;
          T m = f[0];
          for (index_t c = 1; c < c_; ++c) m = std::max(m, f[c * s_]);
          T z = 0;
          for (index_t c = 0; c < c_; ++c) z += (p[c * s_] = std::exp(f[c * s_] - m));
          for (index_t c = 0; c < c_; ++c) p[c * s_] /= z;
          total += m + std::log(z);
        }
        y_[n] = -total;
      }
    } else {
      logsumexp_kernels<D>::template forward<T>(dev_, x.data(), p_.data(), y_.data(), n_, c_, s_);
    }
    return y_;
  }
  /// Softmax of the last forward (class probabilities per position).
  const tensor_type& probabilities() const { return p_; }

  const tensor_type& backward(const tensor_type& gy, grad g = grad::input) {
    EBM_REQUIRE(gy.size() == n_, "logsumexp_energy::backward: expected gy with ", n_,
                " elements, got ", gy.shape());
    gy_ = &gy;
    if (wants_input(g)) {
      gx_.resize(in_shape_);
      if constexpr (std::is_same_v<D, cpu>) {
        for (index_t n = 0; n < n_; ++n)
          for (index_t i = 0; i < c_ * s_; ++i) gx_[n * c_ * s_ + i] = -gy[n] * p_[n * c_ * s_ + i];
      } else {
        logsumexp_kernels<D>::template backward<T>(dev_, p_.data(), gy.data(), gx_.data(), n_, c_,
                                                   s_);
      }
    }
    return gx_;
  }
  const tensor_type& forward_tangent(const tensor_type& dx) {
    require_same_shape(in_shape_, dx.shape(), "logsumexp_energy::forward_tangent (dx)");
    dx_ = &dx;
    dy_.resize(shape{n_, 1});
    pdx_.resize(shape{n_, s_});
    if constexpr (std::is_same_v<D, cpu>) {
      for (index_t n = 0; n < n_; ++n) {
        T total = 0;
        for (index_t s = 0; s < s_; ++s) {
          T a = 0;
          for (index_t c = 0; c < c_; ++c) {
            const index_t k = (n * c_ + c) * s_ + s;
            a += p_[k] * dx[k];
          }
          pdx_[n * s_ + s] = a;
          total += a;
        }
        dy_[n] = -total;
      }
    } else {
      logsumexp_kernels<D>::template forward_tangent<T>(dev_, p_.data(), dx.data(), pdx_.data(),
                                                        dy_.data(), n_, c_, s_);
    }
    return dy_;
  }
  const tensor_type& backward_tangent(const tensor_type& dgy, grad g = grad::input) {
    EBM_REQUIRE(gy_ && dx_, "logsumexp_energy::backward_tangent: call backward and forward_tangent first");
    EBM_REQUIRE(dgy.size() == n_, "logsumexp_energy::backward_tangent: expected dgy with ", n_,
                " elements, got ", dgy.shape());
    if (wants_input(g)) {
      dgx_.resize(in_shape_);
      const tensor_type& gy = *gy_;
      const tensor_type& dx = *dx_;
      if constexpr (std::is_same_v<D, cpu>) {
        for (index_t n = 0; n < n_; ++n)
          for (index_t c = 0; c < c_; ++c)
            for (index_t s = 0; s < s_; ++s) {
              const index_t k = (n * c_ + c) * s_ + s;
              const T dp = p_[k] * (dx[k] - pdx_[n * s_ + s]);
              dgx_[k] = -dgy[n] * p_[k] - gy[n] * dp;
            }
      } else {
        logsumexp_kernels<D>::template backward_tangent<T>(dev_, p_.data(), dx.data(), pdx_.data(),
                                                           gy.data(), dgy.data(), dgx_.data(), n_,
                                                           c_, s_);
      }
    }
    return dgx_;
  }

 private:
  D dev_;
  index_t n_ = 0, c_ = 0, s_ = 0;
  shape in_shape_;
  const tensor_type* gy_ = nullptr;
  const tensor_type* dx_ = nullptr;
  tensor_type p_, y_, gx_, dy_, pdx_, dgx_;
};

}  // namespace ebm::nn

#pragma once
// attention_pool<T, D>: parameter-free attention pooling, EGC's classifier
// head (CLIP's attention pool without the projections).
//
// Input F of shape [N, C, ...]: per sample, S = product of the spatial
// extents columns F_s in R^C ([N, C] is read as S = 1).  Output z [N, C].
// With r = 1/sqrt(C), per sample:
//   q   = (1/S) sum_s F_s                 (the query: the mean feature)
//   e_s = r <q, F_s>,   a = softmax_s(e)  (max-subtracted, stable)
//   z   = sum_s a_s F_s
//
// forward_tangent (dq = mean_s dF_s):
//   de_s = r (<dq, F_s> + <q, dF_s>),   da = a (de - <a, de>),
//   dz   = sum_s (a_s dF_s + da_s F_s).
//
// backward, for gz in R^C.  Through z: gF_s = a_s gz and ga_s = <F_s, gz>;
// through the softmax ge = a (ga - <a, ga>); through e: gF_s += r ge_s q and
// gq = r sum_s ge_s F_s; through q: gF_s += gq / S.  Together
//   gF_s = a_s gz + r ge_s q + gq / S.
//
// backward_tangent, along (dF, dgz): differentiate each line above,
//   dga_s = <dF_s, gz> + <F_s, dgz>,
//   dge   = da (ga - <a, ga>) + a (dga - <da, ga> - <a, dga>),
//   dgq   = r sum_s (dge_s F_s + ge_s dF_s),
//   dgF_s = dgz a_s + gz da_s + r (dge_s q + ge_s dq) + dgq / S.
//
// Samples are independent and split over the device's threads.  On devices
// other than the host the same formulas run as kernels
// (attention_pool_kernels<D>, device/cuda/attention_pool.hpp).
#include <algorithm>
#include <cmath>
#include <type_traits>

#include "../core/tensor.hpp"
#include "../device/cpu/device.hpp"
#include "layer.hpp"

namespace ebm {
/// The passes of attention_pool on devices other than the host
/// (device/cuda/attention_pool.hpp).
template <class D>
struct attention_pool_kernels;
}  // namespace ebm

namespace ebm::nn {

template <class T = float, class D = cpu>
class attention_pool {
 public:
  using value_type = T;
  using device_type = D;
  using tensor_type = tensor<T, D>;

  explicit attention_pool(D dev = {}) : dev_(dev) {}

  /// The output shape [N, C] for an input shape (validates the input).
  shape output_shape(const shape& in) const {
    check_input(in, "attention_pool::output_shape");
    return shape{in[0], in[1]};
  }

  const tensor_type& forward(const tensor_type& x) {
    check_input(x.shape(), "attention_pool::forward");
    x_ = &x;
    gy_ = dx_ = nullptr;
    have_bwd_ = false;
    in_ = x.shape();
    n_ = x.extent(0), c_ = x.extent(1);
    s_ = 1;
    for (int i = 2; i < x.rank(); ++i) s_ *= x.extent(i);
    r_ = T(1) / std::sqrt(T(c_));
    q_.resize(shape{n_, c_});
    a_.resize(shape{n_, s_});
    y_.resize(shape{n_, c_});
    if constexpr (std::is_same_v<D, cpu>) {
      auto body = [&](index_t b, index_t e) {
        for (index_t n = b; n < e; ++n) {
          const T* F = x.data() + n * c_ * s_;
          T* q = q_.data() + n * c_;
          T* a = a_.data() + n * s_;
          T* z = y_.data() + n * c_;
          for (index_t c = 0; c < c_; ++c) {
            T sum = 0;
            for (index_t s = 0; s < s_; ++s) sum += F[c * s_ + s];
            q[c] = sum / T(s_);
          }
          std::fill_n(a, s_, T(0));
          for (index_t c = 0; c < c_; ++c)
            for (index_t s = 0; s < s_; ++s) a[s] += q[c] * F[c * s_ + s];
          T mx = a[0] * r_;
          for (index_t s = 0; s < s_; ++s) mx = std::max(mx, a[s] * r_);
          T total = 0;
          for (index_t s = 0; s < s_; ++s) total += (a[s] = std::exp(a[s] * r_ - mx));
          for (index_t s = 0; s < s_; ++s) a[s] /= total;
          for (index_t c = 0; c < c_; ++c) {
            T sum = 0;
            for (index_t s = 0; s < s_; ++s) sum += a[s] * F[c * s_ + s];
            z[c] = sum;
          }
        }
      };
      run_samples(body);
    } else {
      attention_pool_kernels<D>::template forward<T>(dev_, x.data(), q_.data(), a_.data(),
                                                     y_.data(), n_, c_, s_, r_);
    }
    return y_;
  }

  /// The attention weights a of the last forward, [N, S].
  const tensor_type& weights() const { return a_; }

  const tensor_type& backward(const tensor_type& gy, grad g = grad::input) {
    EBM_REQUIRE(x_, "attention_pool::backward: call forward first");
    require_same_shape(y_.shape(), gy.shape(), "attention_pool::backward (gy)");
    gy_ = &gy;
    have_bwd_ = false;
    if (!wants_input(g)) return gx_;  // no parameters: nothing else to do
    backward_intermediates();
    gx_.resize(in_);
    if constexpr (std::is_same_v<D, cpu>) {
      auto body = [&](index_t b, index_t e) {
        for (index_t n = b; n < e; ++n) {
          const T* q = q_.data() + n * c_;
          const T* a = a_.data() + n * s_;
          const T* gz = gy.data() + n * c_;
          const T* ge = ge_.data() + n * s_;
          const T* gq = gq_.data() + n * c_;
          T* gF = gx_.data() + n * c_ * s_;
          for (index_t c = 0; c < c_; ++c)
            for (index_t s = 0; s < s_; ++s)
              gF[c * s_ + s] = a[s] * gz[c] + r_ * ge[s] * q[c] + gq[c] / T(s_);
        }
      };
      run_samples(body);
    } else {
      attention_pool_kernels<D>::template backward<T>(dev_, q_.data(), a_.data(), gy.data(),
                                                      ge_.data(), gq_.data(), gx_.data(), n_, c_,
                                                      s_, r_);
    }
    return gx_;
  }

  const tensor_type& forward_tangent(const tensor_type& dx) {
    EBM_REQUIRE(x_, "attention_pool::forward_tangent: call forward first");
    require_same_shape(in_, dx.shape(), "attention_pool::forward_tangent (dx)");
    dx_ = &dx;
    const tensor_type& x = *x_;
    dq_.resize(shape{n_, c_});
    da_.resize(shape{n_, s_});
    dy_.resize(shape{n_, c_});
    if constexpr (std::is_same_v<D, cpu>) {
      auto body = [&](index_t b, index_t e) {
        for (index_t n = b; n < e; ++n) {
          const T* F = x.data() + n * c_ * s_;
          const T* dF = dx.data() + n * c_ * s_;
          const T* q = q_.data() + n * c_;
          const T* a = a_.data() + n * s_;
          T* dq = dq_.data() + n * c_;
          T* da = da_.data() + n * s_;
          T* dz = dy_.data() + n * c_;
          for (index_t c = 0; c < c_; ++c) {
            T sum = 0;
            for (index_t s = 0; s < s_; ++s) sum += dF[c * s_ + s];
            dq[c] = sum / T(s_);
          }
          // de_s, kept in da until the softmax's tangent replaces it.
          std::fill_n(da, s_, T(0));
          for (index_t c = 0; c < c_; ++c)
            for (index_t s = 0; s < s_; ++s) da[s] += dq[c] * F[c * s_ + s] + q[c] * dF[c * s_ + s];
          T ade = 0;
          for (index_t s = 0; s < s_; ++s) ade += a[s] * (da[s] *= r_);
          for (index_t s = 0; s < s_; ++s) da[s] = a[s] * (da[s] - ade);
          for (index_t c = 0; c < c_; ++c) {
            T sum = 0;
            for (index_t s = 0; s < s_; ++s) sum += a[s] * dF[c * s_ + s] + da[s] * F[c * s_ + s];
            dz[c] = sum;
          }
        }
      };
      run_samples(body);
    } else {
      attention_pool_kernels<D>::template forward_tangent<T>(dev_, x.data(), dx.data(), q_.data(),
                                                             a_.data(), dq_.data(), da_.data(),
                                                             dy_.data(), n_, c_, s_, r_);
    }
    return dy_;
  }

  const tensor_type& backward_tangent(const tensor_type& dgy, grad g = grad::input) {
    EBM_REQUIRE(gy_ && dx_, "attention_pool::backward_tangent: call backward and forward_tangent first");
    require_same_shape(y_.shape(), dgy.shape(), "attention_pool::backward_tangent (dgy)");
    if (!wants_input(g)) return dgx_;
    if (!have_bwd_) backward_intermediates();
    const tensor_type& x = *x_;
    const tensor_type& dx = *dx_;
    const tensor_type& gy = *gy_;
    dgx_.resize(in_);
    dga_.resize(shape{n_, s_});
    dgq_.resize(shape{n_, c_});
    if constexpr (std::is_same_v<D, cpu>) {
      auto body = [&](index_t b, index_t e) {
        for (index_t n = b; n < e; ++n) {
          const T* F = x.data() + n * c_ * s_;
          const T* dF = dx.data() + n * c_ * s_;
          const T* q = q_.data() + n * c_;
          const T* dq = dq_.data() + n * c_;
          const T* a = a_.data() + n * s_;
          const T* da = da_.data() + n * s_;
          const T* gz = gy.data() + n * c_;
          const T* dgz = dgy.data() + n * c_;
          const T* ga = ga_.data() + n * s_;
          const T* ge = ge_.data() + n * s_;
          const T aga = aga_[n];
          T* dg = dga_.data() + n * s_;  // dga, then dge in place
          T* dgq = dgq_.data() + n * c_;
          T* dgF = dgx_.data() + n * c_ * s_;
          std::fill_n(dg, s_, T(0));
          for (index_t c = 0; c < c_; ++c)
            for (index_t s = 0; s < s_; ++s) dg[s] += dF[c * s_ + s] * gz[c] + F[c * s_ + s] * dgz[c];
          T daga = 0;  // the tangent of <a, ga>
          for (index_t s = 0; s < s_; ++s) daga += da[s] * ga[s] + a[s] * dg[s];
          for (index_t s = 0; s < s_; ++s) dg[s] = da[s] * (ga[s] - aga) + a[s] * (dg[s] - daga);
          for (index_t c = 0; c < c_; ++c) {
            T sum = 0;
            for (index_t s = 0; s < s_; ++s) sum += dg[s] * F[c * s_ + s] + ge[s] * dF[c * s_ + s];
            dgq[c] = r_ * sum;
          }
          for (index_t c = 0; c < c_; ++c)
            for (index_t s = 0; s < s_; ++s)
              dgF[c * s_ + s] = dgz[c] * a[s] + gz[c] * da[s] + r_ * (dg[s] * q[c] + ge[s] * dq[c]) +
                                dgq[c] / T(s_);
        }
      };
      run_samples(body);
    } else {
      attention_pool_kernels<D>::template backward_tangent<T>(
          dev_, x.data(), dx.data(), q_.data(), dq_.data(), a_.data(), da_.data(), gy.data(),
          dgy.data(), ga_.data(), ge_.data(), aga_.data(), dga_.data(), dgq_.data(), dgx_.data(), n_,
          c_, s_, r_);
    }
    return dgx_;
  }

 private:
  static void check_input(const shape& s, const char* where) {
    index_t positions = 1;
    for (int i = 2; i < s.rank(); ++i) positions *= s[i];
    EBM_REQUIRE(s.rank() >= 2 && s[1] > 0 && positions > 0, where,
                ": expected features [N, C, ...] with C >= 1 and at least one position, got ", s);
  }

  // ga = F^T gz, <a, ga>, ge = a (ga - <a, ga>) and gq = r sum_s ge_s F_s at
  // the cached gy.
  void backward_intermediates() {
    const tensor_type& x = *x_;
    const tensor_type& gy = *gy_;
    ga_.resize(shape{n_, s_});
    ge_.resize(shape{n_, s_});
    aga_.resize(shape{n_});
    gq_.resize(shape{n_, c_});
    if constexpr (std::is_same_v<D, cpu>) {
      auto body = [&](index_t b, index_t e) {
        for (index_t n = b; n < e; ++n) {
          const T* F = x.data() + n * c_ * s_;
          const T* a = a_.data() + n * s_;
          const T* gz = gy.data() + n * c_;
          T* ga = ga_.data() + n * s_;
          T* ge = ge_.data() + n * s_;
          T* gq = gq_.data() + n * c_;
          std::fill_n(ga, s_, T(0));
          for (index_t c = 0; c < c_; ++c)
            for (index_t s = 0; s < s_; ++s) ga[s] += F[c * s_ + s] * gz[c];
          T aga = 0;
          for (index_t s = 0; s < s_; ++s) aga += a[s] * ga[s];
          aga_[n] = aga;
          for (index_t s = 0; s < s_; ++s) ge[s] = a[s] * (ga[s] - aga);
          for (index_t c = 0; c < c_; ++c) {
            T sum = 0;
            for (index_t s = 0; s < s_; ++s) sum += ge[s] * F[c * s_ + s];
            gq[c] = r_ * sum;
          }
        }
      };
      run_samples(body);
    } else {
      attention_pool_kernels<D>::template backward_intermediates<T>(
          dev_, x.data(), a_.data(), gy.data(), ga_.data(), ge_.data(), aga_.data(), gq_.data(), n_,
          c_, s_, r_);
    }
    have_bwd_ = true;
  }

  template <class F>
  void run_samples(F& body) const {
    const index_t per = c_ * s_;
    const index_t grain = per > 0 ? ((index_t(1) << 13) + per - 1) / per : 1;
    dev_.parallel_for(n_, grain, [f = &body](index_t b, index_t e) { (*f)(b, e); });
  }

  D dev_;
  shape in_;
  index_t n_ = 0, c_ = 0, s_ = 0;
  T r_ = 1;  // 1 / sqrt(C)
  bool have_bwd_ = false;
  const tensor_type* x_ = nullptr;
  const tensor_type* gy_ = nullptr;
  const tensor_type* dx_ = nullptr;
  tensor_type q_, a_, y_;            // forward: [N, C], [N, S], [N, C]
  tensor_type ga_, ge_, aga_, gq_;   // backward: [N, S], [N, S], [N], [N, C]
  tensor_type gx_;
  tensor_type dq_, da_, dy_;         // forward_tangent
  tensor_type dga_, dgq_, dgx_;      // backward_tangent scratch and result
};

}  // namespace ebm::nn

#pragma once
// group_norm<T, D>: group normalisation (Wu & He, 2018) on [N, C, ...] input
// of any spatial rank, [N, C] included.
//
// The C channels form G groups of C/G consecutive channels.  For one sample n
// and group g, let the group's M = (C/G)·S elements (S = product of the
// spatial extents) be x_i, and write mean(·) for the average over them:
//   mu = mean(x),  var = mean((x - mu)^2)  (biased),  sigma = sqrt(var + eps),
//   xh = (x - mu) / sigma,   y_i = w_c xh_i + b_c     (c the channel of i).
// Parameters w ("weight", init 1) and b ("bias", init 0) are [C].
//
// forward_tangent.  d mu = mean(dx); d var = 2 mean((x - mu) dx) = 2 sigma
// mean(xh dx), so with a = mean(xh dx):
//   d sigma = a,   dxh = (dx - mean(dx) - xh a) / sigma,   dy = w dxh.
//
// backward.  With gh = w gy (the gradient reaching xh), the chain rule
// through mu and sigma gives the usual
//   gx = (gh - mean(gh) - xh m) / sigma,   m = mean(xh gh),
//   gw_c += sum gy xh,   gb_c += sum gy   (sums over samples and positions).
//
// backward_tangent, along (dx, dgy).  w carries no tangent, so dgh = w dgy.
// Write gx = u / sigma with u = gh - mean(gh) - xh m; then
//   dm  = mean(dxh gh + xh dgh),
//   du  = dgh - mean(dgh) - dxh m - xh dm,
//   dgx = du / sigma - u d sigma / sigma^2 = (du - u a / sigma) / sigma,
// and the tangents of the parameter gradients, from the product rule:
//   dgw_c += sum (dgy xh + gy dxh),   dgb_c += sum dgy.
//
// Work is split over (sample, group) pairs for the per-group passes and over
// channels for the parameter gradients: no two threads write the same value,
// and each value is always summed in the same order (deterministic).  On
// devices other than the host the same formulas run as kernels
// (group_norm_kernels<D>, device/cuda/group_norm.hpp).
#include <array>
#include <cmath>
#include <type_traits>

#include "../core/tensor.hpp"
#include "../device/cpu/device.hpp"
#include "init.hpp"
#include "layer.hpp"

namespace ebm {
/// The passes of group_norm on devices other than the host
/// (device/cuda/group_norm.hpp).
template <class D>
struct group_norm_kernels;
}  // namespace ebm

namespace ebm::nn {

template <class T = float, class D = cpu>
class group_norm {
 public:
  using value_type = T;
  using device_type = D;
  using tensor_type = tensor<T, D>;

  group_norm(index_t channels, index_t groups, T eps = T(1e-5), D dev = {})
      : c_(channels), g_(groups), eps_(eps), dev_(dev) {
    EBM_REQUIRE(c_ > 0 && g_ > 0, "group_norm: channels and groups must be positive, got channels = ",
                c_, ", groups = ", g_);
    EBM_REQUIRE(c_ % g_ == 0, "group_norm: channels must be a multiple of groups, got channels = ",
                c_, ", groups = ", g_);
    EBM_REQUIRE(eps_ >= T(0), "group_norm: eps must be non-negative, got ", eps_);
    w_ = tensor_type(shape{c_});
    gw_ = tensor_type(shape{c_});
    b_ = tensor_type(shape{c_});
    gb_ = tensor_type(shape{c_});
    reset_params();
  }

  /// Resets weight to 1 and bias to 0 (the generator is not used).
  void init(philox&) { reset_params(); }

  index_t channels() const { return c_; }
  index_t groups() const { return g_; }
  T eps() const { return eps_; }
  tensor_type& weight() { return w_; }
  const tensor_type& weight() const { return w_; }
  tensor_type& bias() { return b_; }
  const tensor_type& bias() const { return b_; }

  template <class F>
  void visit_params(F&& f) {
    f("weight", w_, gw_);
    f("bias", b_, gb_);
  }

  const tensor_type& forward(const tensor_type& x) {
    EBM_REQUIRE(x.rank() >= 2 && x.extent(1) == c_, "group_norm::forward: expected input [N, ", c_,
                "] or [N, ", c_, ", ...] (", c_, " channels), got ", x.shape());
    x_ = &x;
    gy_ = dx_ = nullptr;
    in_ = x.shape();
    n_ = x.extent(0);
    s_ = 1;
    for (int i = 2; i < x.rank(); ++i) s_ *= x.extent(i);
    cpg_ = c_ / g_;
    m_ = cpg_ * s_;
    xh_.resize(in_);
    y_.resize(in_);
    sigma_.resize(shape{n_ * g_});
    if constexpr (std::is_same_v<D, cpu>) {
      auto body = [&](index_t b, index_t e) {
        for (index_t k = b; k < e; ++k) {
          const index_t off = k * m_, c0 = (k % g_) * cpg_;
          const T* xp = x.data() + off;
          const T mu = lane_sums<1>(m_, [&](index_t i) { return std::array<T, 1>{xp[i]}; })[0] / T(m_);
          const T var = lane_sums<1>(m_, [&](index_t i) {
                          const T c = xp[i] - mu;
                          return std::array<T, 1>{c * c};
                        })[0] / T(m_);
          const T sigma = std::sqrt(var + eps_), inv = T(1) / sigma;
          sigma_[k] = sigma;
          T* xh = xh_.data() + off;
          T* y = y_.data() + off;
          for (index_t j = 0; j < cpg_; ++j) {
            const T w = w_[c0 + j], bias = b_[c0 + j];
            for (index_t s = 0; s < s_; ++s) {
              const index_t i = j * s_ + s;
              xh[i] = (xp[i] - mu) * inv;
              y[i] = w * xh[i] + bias;
            }
          }
        }
      };
      run_groups(body);
    } else {
      group_norm_kernels<D>::template forward<T>(dev_, x.data(), w_.data(), b_.data(), eps_,
                                                 xh_.data(), y_.data(), sigma_.data(), n_, c_, g_,
                                                 s_);
    }
    return y_;
  }

  const tensor_type& backward(const tensor_type& gy, grad g = grad::input) {
    EBM_REQUIRE(x_, "group_norm::backward: call forward first");
    require_same_shape(in_, gy.shape(), "group_norm::backward (gy)");
    gy_ = &gy;
    if (wants_input(g)) {
      gx_.resize(in_);
      if constexpr (std::is_same_v<D, cpu>) {
        auto body = [&](index_t b, index_t e) {
          for (index_t k = b; k < e; ++k) {
            const index_t off = k * m_, c0 = (k % g_) * cpg_;
            const T* xh = xh_.data() + off;
            const T* gp = gy.data() + off;
            T mg = 0, m = 0;
            for (index_t j = 0; j < cpg_; ++j) {
              const T w = w_[c0 + j];
              const T* g = gp + j * s_;
              const T* h = xh + j * s_;
              const auto r = lane_sums<2>(s_, [&](index_t q) { return std::array<T, 2>{g[q], h[q] * g[q]}; });
              mg += w * r[0];
              m += w * r[1];
            }
            mg /= T(m_), m /= T(m_);
            const T inv = T(1) / sigma_[k];
            T* gx = gx_.data() + off;
            for (index_t j = 0; j < cpg_; ++j) {
              const T w = w_[c0 + j];
              for (index_t s = 0; s < s_; ++s) {
                const index_t i = j * s_ + s;
                gx[i] = (w * gp[i] - mg - xh[i] * m) * inv;
              }
            }
          }
        };
        run_groups(body);
      } else {
        group_norm_kernels<D>::template backward<T>(dev_, xh_.data(), gy.data(), w_.data(),
                                                    sigma_.data(), gx_.data(), n_, c_, g_, s_);
      }
    }
    if (wants_params(g)) {
      if constexpr (std::is_same_v<D, cpu>) {
        auto body = [&](index_t b, index_t e) {
          for (index_t c = b; c < e; ++c) {
            T sw = 0, sb = 0;
            for (index_t n = 0; n < n_; ++n) {
              const T* g = gy.data() + (n * c_ + c) * s_;
              const T* h = xh_.data() + (n * c_ + c) * s_;
              const auto r = lane_sums<2>(s_, [&](index_t q) { return std::array<T, 2>{g[q] * h[q], g[q]}; });
              sw += r[0];
              sb += r[1];
            }
            gw_[c] += sw;
            gb_[c] += sb;
          }
        };
        run_channels(body);
      } else {
        group_norm_kernels<D>::template param_grads<T>(dev_, gy.data(), xh_.data(), nullptr,
                                                       nullptr, gw_.data(), gb_.data(), n_, c_, s_);
      }
    }
    return gx_;
  }

  const tensor_type& forward_tangent(const tensor_type& dx) {
    EBM_REQUIRE(x_, "group_norm::forward_tangent: call forward first");
    require_same_shape(in_, dx.shape(), "group_norm::forward_tangent (dx)");
    dx_ = &dx;
    dxh_.resize(in_);
    dy_.resize(in_);
    dsigma_.resize(shape{n_ * g_});
    if constexpr (std::is_same_v<D, cpu>) {
      auto body = [&](index_t b, index_t e) {
        for (index_t k = b; k < e; ++k) {
          const index_t off = k * m_, c0 = (k % g_) * cpg_;
          const T* xh = xh_.data() + off;
          const T* d = dx.data() + off;
          const auto r = lane_sums<2>(m_, [&](index_t i) { return std::array<T, 2>{d[i], xh[i] * d[i]}; });
          const T md = r[0] / T(m_), a = r[1] / T(m_);
          dsigma_[k] = a;
          const T inv = T(1) / sigma_[k];
          T* dxh = dxh_.data() + off;
          T* dy = dy_.data() + off;
          for (index_t j = 0; j < cpg_; ++j) {
            const T w = w_[c0 + j];
            for (index_t s = 0; s < s_; ++s) {
              const index_t i = j * s_ + s;
              dxh[i] = (d[i] - md - xh[i] * a) * inv;
              dy[i] = w * dxh[i];
            }
          }
        }
      };
      run_groups(body);
    } else {
      group_norm_kernels<D>::template forward_tangent<T>(dev_, xh_.data(), dx.data(), w_.data(),
                                                         sigma_.data(), dxh_.data(), dy_.data(),
                                                         dsigma_.data(), n_, c_, g_, s_);
    }
    return dy_;
  }

  const tensor_type& backward_tangent(const tensor_type& dgy, grad g = grad::input) {
    EBM_REQUIRE(gy_ && dx_, "group_norm::backward_tangent: call backward and forward_tangent first");
    require_same_shape(in_, dgy.shape(), "group_norm::backward_tangent (dgy)");
    const tensor_type& gy = *gy_;
    if (wants_input(g)) {
      dgx_.resize(in_);
      if constexpr (std::is_same_v<D, cpu>) {
        auto body = [&](index_t b, index_t e) {
          for (index_t k = b; k < e; ++k) {
            const index_t off = k * m_, c0 = (k % g_) * cpg_;
            const T* xh = xh_.data() + off;
            const T* dxh = dxh_.data() + off;
            const T* gp = gy.data() + off;
            const T* dgp = dgy.data() + off;
            // mean(gh), m = mean(xh gh), mean(dgh), dm = mean(dxh gh + xh dgh).
            T mg = 0, m = 0, mdg = 0, dm = 0;
            for (index_t j = 0; j < cpg_; ++j) {
              const T w = w_[c0 + j];
              const index_t o = j * s_;
              const auto r = lane_sums<4>(s_, [&](index_t q) {
                const index_t i = o + q;
                return std::array<T, 4>{gp[i], xh[i] * gp[i], dgp[i], dxh[i] * gp[i] + xh[i] * dgp[i]};
              });
              mg += w * r[0];
              m += w * r[1];
              mdg += w * r[2];
              dm += w * r[3];
            }
            mg /= T(m_), m /= T(m_), mdg /= T(m_), dm /= T(m_);
            const T inv = T(1) / sigma_[k];
            const T a_over_sigma = dsigma_[k] * inv;
            T* dgx = dgx_.data() + off;
            for (index_t j = 0; j < cpg_; ++j) {
              const T w = w_[c0 + j];
              for (index_t s = 0; s < s_; ++s) {
                const index_t i = j * s_ + s;
                const T u = w * gp[i] - mg - xh[i] * m;
                const T du = w * dgp[i] - mdg - dxh[i] * m - xh[i] * dm;
                dgx[i] = (du - u * a_over_sigma) * inv;
              }
            }
          }
        };
        run_groups(body);
      } else {
        group_norm_kernels<D>::template backward_tangent<T>(dev_, xh_.data(), dxh_.data(),
                                                            gy.data(), dgy.data(), w_.data(),
                                                            sigma_.data(), dsigma_.data(),
                                                            dgx_.data(), n_, c_, g_, s_);
      }
    }
    if (wants_params(g)) {
      if constexpr (std::is_same_v<D, cpu>) {
        auto body = [&](index_t b, index_t e) {
          for (index_t c = b; c < e; ++c) {
            T sw = 0, sb = 0;
            for (index_t n = 0; n < n_; ++n) {
              const index_t off = (n * c_ + c) * s_;
              const T *dg = dgy.data() + off, *g = gy.data() + off, *h = xh_.data() + off, *dh = dxh_.data() + off;
              const auto r = lane_sums<2>(s_, [&](index_t q) { return std::array<T, 2>{dg[q] * h[q] + g[q] * dh[q], dg[q]}; });
              sw += r[0];
              sb += r[1];
            }
            gw_[c] += sw;
            gb_[c] += sb;
          }
        };
        run_channels(body);
      } else {
        group_norm_kernels<D>::template param_grads<T>(dev_, dgy.data(), xh_.data(), gy.data(),
                                                       dxh_.data(), gw_.data(), gb_.data(), n_, c_,
                                                       s_);
      }
    }
    return dgx_;
  }

 private:
  /// Elements below which a parallel region is not worth its wake-up.
  static constexpr index_t parallel_work = 1 << 14;

  void reset_params() {
    w_.fill(T(1));
    b_.zero();
    gw_.zero();
    gb_.zero();
  }
  /// The K sums over i < n of f(i) (an std::array<T, K>), each kept in 16
  /// independent lanes and added pairwise at the end: the compiler can
  /// vectorise that without reassociating a serial sum, the result does not
  /// depend on the thread count, and it is more accurate than one running
  /// float sum over thousands of elements.
  template <int K, class F>
  static std::array<T, K> lane_sums(index_t n, F&& f) {
    constexpr index_t L = 16;
    T acc[K][L] = {};
    index_t i = 0;
    for (; i + L <= n; i += L)
      for (index_t l = 0; l < L; ++l) {
        const std::array<T, K> v = f(i + l);
        for (int k = 0; k < K; ++k) acc[k][l] += v[k];
      }
    for (index_t l = 0; i < n; ++i, ++l) {
      const std::array<T, K> v = f(i);
      for (int k = 0; k < K; ++k) acc[k][l] += v[k];
    }
    std::array<T, K> r;
    for (int k = 0; k < K; ++k) {
      for (index_t w = L / 2; w >= 1; w /= 2)
        for (index_t l = 0; l < w; ++l) acc[k][l] += acc[k][l + w];
      r[k] = acc[k][0];
    }
    return r;
  }
  // body(begin, end) over the N·G (sample, group) pairs.
  template <class F>
  void run_groups(F& body) const {
    const index_t grain = m_ > 0 ? (parallel_work + m_ - 1) / m_ : 1;
    dev_.parallel_for(n_ * g_, grain, [f = &body](index_t b, index_t e) { (*f)(b, e); });
  }
  // body(begin, end) over the C channels (parameter gradients).
  template <class F>
  void run_channels(F& body) const {
    const index_t per = n_ * s_;
    const index_t grain = per > 0 ? (parallel_work + per - 1) / per : 1;
    dev_.parallel_for(c_, grain, [f = &body](index_t b, index_t e) { (*f)(b, e); });
  }

  index_t c_, g_;
  T eps_;
  D dev_;
  tensor_type w_, gw_, b_, gb_;
  // Geometry of the last forward: samples, positions, channels per group,
  // elements per group.
  shape in_;
  index_t n_ = 0, s_ = 0, cpg_ = 0, m_ = 0;
  const tensor_type* x_ = nullptr;
  const tensor_type* gy_ = nullptr;
  const tensor_type* dx_ = nullptr;
  tensor_type xh_, sigma_, dxh_, dsigma_;  // sigma_, dsigma_: [N·G]
  tensor_type y_, gx_, dy_, dgx_;
};

}  // namespace ebm::nn

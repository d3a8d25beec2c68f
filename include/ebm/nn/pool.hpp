#pragma once
// avg_pool2d<T, D>: 2x2 average pooling with stride 2 on NCHW input (even H
// and W).  The map P is linear, so
//   forward           y = P x,       backward          gx = P^T gy,
//   forward_tangent   dy = P dx,     backward_tangent  dgx = P^T dgy.
// The free functions avg_pool2x2 / avg_pool2x2_backward do the same on views,
// for data pipelines that build multi-resolution copies of a data set.
#include <type_traits>

#include "../core/tensor.hpp"
#include "../device/cpu/device.hpp"
#include "layer.hpp"

namespace ebm {
/// Pooling and upsampling kernels of devices other than the host
/// (device/cuda/spatial.hpp); the layers below dispatch to them.
template <class D>
struct spatial_kernels;
}  // namespace ebm

namespace ebm::nn {

namespace detail {
inline void check_pool_input(const shape& s, const char* where) {
  EBM_REQUIRE(s.rank() == 4, where, ": expected an NCHW input [N, C, H, W] of rank 4, got ", s,
              " of rank ", s.rank());
  EBM_REQUIRE(s[2] > 0 && s[3] > 0 && s[2] % 2 == 0 && s[3] % 2 == 0, where,
              ": 2x2 average pooling with stride 2 needs an even, positive height and width, "
              "got ",
              s);
}
inline shape pooled_shape(const shape& s) { return shape{s[0], s[1], s[2] / 2, s[3] / 2}; }
/// Planes per thread below which splitting is not worth a wake-up.
inline constexpr index_t spatial_grain = 16;
}  // namespace detail

/// y[n, c, i, j] = mean of x[n, c, 2i..2i+1, 2j..2j+1]; y must be
/// [N, C, H/2, W/2].  Planes are split over the device's threads.  (T is
/// deduced from y, so x may be a tensor or any view of T.)
template <class T>
void avg_pool2x2(std::type_identity_t<tensor_view<const T>> x, tensor_view<T> y,
                 const cpu& dev = cpu{}) {
  detail::check_pool_input(x.shape(), "avg_pool2x2");
  require_same_shape(detail::pooled_shape(x.shape()), y.shape(), "avg_pool2x2 (output)");
  const index_t H = x.extent(2), W = x.extent(3), Ho = H / 2, Wo = W / 2;
  auto planes = [&](index_t b, index_t e) {
    for (index_t p = b; p < e; ++p) {
      const T* src = x.data() + p * H * W;
      T* dst = y.data() + p * Ho * Wo;
      for (index_t i = 0; i < Ho; ++i) {
        const T* r0 = src + 2 * i * W;
        const T* r1 = r0 + W;
        for (index_t j = 0; j < Wo; ++j)
          dst[i * Wo + j] = T(0.25) * ((r0[2 * j] + r0[2 * j + 1]) + (r1[2 * j] + r1[2 * j + 1]));
      }
    }
  };
  // Capturing one pointer keeps the pool's std::function free of allocations.
  dev.parallel_for(x.extent(0) * x.extent(1), detail::spatial_grain,
                   [f = &planes](index_t b, index_t e) { (*f)(b, e); });
}

/// A pooled copy of x ([N, C, H/2, W/2]).
template <class T>
tensor<T> avg_pool2x2(tensor_view<const T> x, const cpu& dev = cpu{}) {
  detail::check_pool_input(x.shape(), "avg_pool2x2");
  tensor<T> y;
  y.resize(detail::pooled_shape(x.shape()));
  avg_pool2x2<T>(x, y.view(), dev);
  return y;
}
template <class T>
tensor<T> avg_pool2x2(const tensor<T>& x, const cpu& dev = cpu{}) {
  return avg_pool2x2<T>(x.view(), dev);
}

namespace detail {
/// gx = P^T gy, or gx = add + P^T gy when add is non-null (same layout as gx).
template <class T>
void unpool2x2(const T* gy, const T* add, T* gx, index_t planes_count, index_t H, index_t W, const cpu& dev) {
  const index_t Ho = H / 2, Wo = W / 2;
  auto planes = [&](index_t b, index_t e) {
    for (index_t p = b; p < e; ++p) {
      const T* src = gy + p * Ho * Wo;
      T* dst = gx + p * H * W;
      for (index_t i = 0; i < Ho; ++i) {
        T* r0 = dst + 2 * i * W;
        T* r1 = r0 + W;
        if (add) {
          const T* a0 = add + p * H * W + 2 * i * W;
          const T* a1 = a0 + W;
          for (index_t j = 0; j < Wo; ++j) {
            const T v = T(0.25) * src[i * Wo + j];
            r0[2 * j] = a0[2 * j] + v, r0[2 * j + 1] = a0[2 * j + 1] + v;
            r1[2 * j] = a1[2 * j] + v, r1[2 * j + 1] = a1[2 * j + 1] + v;
          }
        } else {
          for (index_t j = 0; j < Wo; ++j) {
            const T v = T(0.25) * src[i * Wo + j];
            r0[2 * j] = r0[2 * j + 1] = r1[2 * j] = r1[2 * j + 1] = v;
          }
        }
      }
    }
  };
  dev.parallel_for(planes_count, spatial_grain, [f = &planes](index_t b, index_t e) { (*f)(b, e); });
}
}  // namespace detail

/// The adjoint of avg_pool2x2: gx[n, c, h, w] = gy[n, c, h/2, w/2] / 4 (gx
/// must be [N, C, 2 Ho, 2 Wo] for gy [N, C, Ho, Wo]; it is overwritten).
template <class T>
void avg_pool2x2_backward(std::type_identity_t<tensor_view<const T>> gy, tensor_view<T> gx,
                          const cpu& dev = cpu{}) {
  detail::check_pool_input(gx.shape(), "avg_pool2x2_backward (gx)");
  require_same_shape(detail::pooled_shape(gx.shape()), gy.shape(), "avg_pool2x2_backward (gy)");
  detail::unpool2x2<T>(gy.data(), nullptr, gx.data(), gx.extent(0) * gx.extent(1), gx.extent(2), gx.extent(3), dev);
}

/// The 2x2, stride-2 average-pooling block.
template <class T = float, class D = cpu>
class avg_pool2d {
 public:
  using value_type = T;
  using device_type = D;
  using tensor_type = tensor<T, D>;

  explicit avg_pool2d(D dev = {}) : dev_(dev) {}

  const tensor_type& forward(const tensor_type& x) {
    detail::check_pool_input(x.shape(), "avg_pool2d::forward");
    in_ = x.shape();
    y_.resize(detail::pooled_shape(in_));
    pool(x, y_);
    return y_;
  }
  const tensor_type& backward(const tensor_type& gy, grad g = grad::input) {
    require_same_shape(y_.shape(), gy.shape(), "avg_pool2d::backward (gy)");
    if (wants_input(g)) unpool(gy, gx_.resize(in_));
    return gx_;
  }
  /// out = addend + P^T gy in one pass (host): the input gradient summed
  /// into a residual block's other branch (nn::branch_sum).
  const tensor_type& backward_add(const tensor_type& gy, grad g, const tensor_type& addend, tensor_type& out)
    requires std::is_same_v<D, cpu>
  {
    require_same_shape(y_.shape(), gy.shape(), "avg_pool2d::backward_add (gy)");
    require_same_shape(in_, addend.shape(), "avg_pool2d::backward_add (addend)");
    if (wants_input(g))
      detail::unpool2x2<T>(gy.data(), addend.data(), out.resize(in_).data(), in_[0] * in_[1], in_[2], in_[3], dev_);
    return out;
  }
  const tensor_type& forward_tangent(const tensor_type& dx) {
    require_same_shape(in_, dx.shape(), "avg_pool2d::forward_tangent (dx)");
    pool(dx, dy_.resize(y_.shape()));
    return dy_;
  }
  const tensor_type& backward_tangent(const tensor_type& dgy, grad g = grad::input) {
    require_same_shape(y_.shape(), dgy.shape(), "avg_pool2d::backward_tangent (dgy)");
    if (wants_input(g)) unpool(dgy, dgx_.resize(in_));
    return dgx_;
  }

 private:
  // The host functions above, or the device's spatial_kernels (looked up
  // when the layer is instantiated, so the device header may come later).
  void pool(const tensor_type& x, tensor_type& y) {
    if constexpr (std::is_same_v<D, cpu>)
      avg_pool2x2<T>(x.view(), y.view(), dev_);
    else
      spatial_kernels<D>::template avg_pool2x2<T>(dev_, x.data(), y.data(), x.extent(0) * x.extent(1),
                                                  x.extent(2), x.extent(3));
  }
  void unpool(const tensor_type& gy, tensor_type& gx) {
    if constexpr (std::is_same_v<D, cpu>)
      avg_pool2x2_backward<T>(gy.view(), gx.view(), dev_);
    else
      spatial_kernels<D>::template avg_pool2x2_backward<T>(dev_, gy.data(), gx.data(), gx.extent(0) * gx.extent(1),
                                                           gx.extent(2), gx.extent(3));
  }

  D dev_;
  shape in_;
  tensor_type y_, gx_, dy_, dgx_;
};

}  // namespace ebm::nn

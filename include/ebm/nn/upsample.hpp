#pragma once
// upsample2d<T, D>: x2 spatial upsampling of NCHW input, nearest or bilinear.
// Bilinear is exactly PyTorch's F.interpolate(scale_factor=2,
// mode='bilinear', align_corners=False): output index o reads the source
// coordinate max(0, (o + 1/2)/2 - 1/2), i.e. per axis
//   y[0] = x[0],  y[2i] = x[i-1]/4 + 3x[i]/4,  y[2i+1] = 3x[i]/4 + x[i+1]/4,
// with the last index clamped (y[2n-1] = x[n-1]).  Nearest copies each pixel
// into a 2x2 block.  Both maps are linear, so backward and backward_tangent
// apply the adjoint and forward_tangent the map itself.
//
// The free functions upsample2x / upsample2x_backward work on views, for
// samplers that start fine chains from upsampled coarse ones.
#include <algorithm>
#include <type_traits>

#include "../core/tensor.hpp"
#include "../device/cpu/device.hpp"
#include "layer.hpp"

namespace ebm {
/// Pooling and upsampling kernels of devices other than the host
/// (device/cuda/spatial.hpp); the upsampling layer dispatches to them.
template <class D>
struct spatial_kernels;
}  // namespace ebm

namespace ebm::nn {

enum class upsample_mode { nearest, bilinear };

namespace detail {
inline void check_upsample_input(const shape& s, const char* where) {
  EBM_REQUIRE(s.rank() == 4, where, ": expected an NCHW input [N, C, H, W] of rank 4, got ", s,
              " of rank ", s.rank());
  EBM_REQUIRE(s[2] > 0 && s[3] > 0, where, ": expected a positive height and width, got ", s);
}
inline shape upsampled_shape(const shape& s) { return shape{s[0], s[1], 2 * s[2], 2 * s[3]}; }

/// Source taps of output index o along an axis of n input pixels:
/// y[o] = l0 x[i0] + l1 x[i1] (PyTorch's linear source-index rule).
template <class T>
struct linear_tap {
  index_t i0, i1;
  T l0, l1;
};
template <class T>
linear_tap<T> bilinear_tap(index_t o, index_t n) {
  const T src = std::max(T(0), T(0.5) * (T(o) + T(0.5)) - T(0.5));
  const index_t i0 = static_cast<index_t>(src);
  const T l1 = src - T(i0);
  return {i0, i0 < n - 1 ? i0 + 1 : i0, T(1) - l1, l1};
}

template <class F>
void for_planes(const cpu& dev, index_t planes, F& body) {
  // Capturing one pointer keeps the pool's std::function free of allocations.
  dev.parallel_for(planes, 16, [f = &body](index_t b, index_t e) { (*f)(b, e); });
}
}  // namespace detail

/// y = upsample(x) by 2 on both axes; y must be [N, C, 2H, 2W].  T is deduced
/// from y, so x may be a tensor or any view of T.
template <class T>
void upsample2x(std::type_identity_t<tensor_view<const T>> x, tensor_view<T> y,
                upsample_mode mode, const cpu& dev = cpu{}) {
  detail::check_upsample_input(x.shape(), "upsample2x");
  require_same_shape(detail::upsampled_shape(x.shape()), y.shape(), "upsample2x (output)");
  const index_t H = x.extent(2), W = x.extent(3), Ho = 2 * H, Wo = 2 * W;
  auto planes = [&](index_t b, index_t e) {
    for (index_t p = b; p < e; ++p) {
      const T* src = x.data() + p * H * W;
      T* dst = y.data() + p * Ho * Wo;
      for (index_t oh = 0; oh < Ho; ++oh) {
        T* out = dst + oh * Wo;
        if (mode == upsample_mode::nearest) {
          const T* in = src + (oh / 2) * W;
          for (index_t ow = 0; ow < Wo; ++ow) out[ow] = in[ow / 2];
          continue;
        }
        const auto th = detail::bilinear_tap<T>(oh, H);
        const T* r0 = src + th.i0 * W;
        const T* r1 = src + th.i1 * W;
        for (index_t ow = 0; ow < Wo; ++ow) {
          const auto tw = detail::bilinear_tap<T>(ow, W);
          out[ow] = th.l0 * (tw.l0 * r0[tw.i0] + tw.l1 * r0[tw.i1]) +
                    th.l1 * (tw.l0 * r1[tw.i0] + tw.l1 * r1[tw.i1]);
        }
      }
    }
  };
  detail::for_planes(dev, x.extent(0) * x.extent(1), planes);
}

/// An upsampled copy of x ([N, C, 2H, 2W]).
template <class T>
tensor<T> upsample2x(tensor_view<const T> x, upsample_mode mode, const cpu& dev = cpu{}) {
  detail::check_upsample_input(x.shape(), "upsample2x");
  tensor<T> y;
  y.resize(detail::upsampled_shape(x.shape()));
  upsample2x<T>(x, y.view(), mode, dev);
  return y;
}
template <class T>
tensor<T> upsample2x(const tensor<T>& x, upsample_mode mode, const cpu& dev = cpu{}) {
  return upsample2x<T>(x.view(), mode, dev);
}

/// The adjoint of upsample2x: gx = U^T gy (gx [N, C, H, W] is overwritten;
/// gy must be [N, C, 2H, 2W]).
template <class T>
void upsample2x_backward(std::type_identity_t<tensor_view<const T>> gy, tensor_view<T> gx,
                         upsample_mode mode, const cpu& dev = cpu{}) {
  detail::check_upsample_input(gx.shape(), "upsample2x_backward (gx)");
  require_same_shape(detail::upsampled_shape(gx.shape()), gy.shape(),
                     "upsample2x_backward (gy)");
  const index_t H = gx.extent(2), W = gx.extent(3), Ho = 2 * H, Wo = 2 * W;
  auto planes = [&](index_t b, index_t e) {
    for (index_t p = b; p < e; ++p) {
      const T* src = gy.data() + p * Ho * Wo;
      T* dst = gx.data() + p * H * W;
      if (mode == upsample_mode::nearest) {
        for (index_t i = 0; i < H; ++i) {
          const T* r0 = src + 2 * i * Wo;
          const T* r1 = r0 + Wo;
          for (index_t j = 0; j < W; ++j)
            dst[i * W + j] = (r0[2 * j] + r0[2 * j + 1]) + (r1[2 * j] + r1[2 * j + 1]);
        }
        continue;
      }
      std::fill_n(dst, H * W, T(0));
      for (index_t oh = 0; oh < Ho; ++oh) {
        const auto th = detail::bilinear_tap<T>(oh, H);
        T* r0 = dst + th.i0 * W;
        T* r1 = dst + th.i1 * W;
        const T* g = src + oh * Wo;
        for (index_t ow = 0; ow < Wo; ++ow) {
          const auto tw = detail::bilinear_tap<T>(ow, W);
          const T a = th.l0 * g[ow], c = th.l1 * g[ow];
          r0[tw.i0] += tw.l0 * a;
          r0[tw.i1] += tw.l1 * a;
          r1[tw.i0] += tw.l0 * c;
          r1[tw.i1] += tw.l1 * c;
        }
      }
    }
  };
  detail::for_planes(dev, gx.extent(0) * gx.extent(1), planes);
}

/// The x2 upsampling block.
template <class T = float, class D = cpu>
class upsample2d {
 public:
  using value_type = T;
  using device_type = D;
  using tensor_type = tensor<T, D>;

  explicit upsample2d(upsample_mode mode = upsample_mode::nearest, D dev = {})
      : mode_(mode), dev_(dev) {}

  upsample_mode mode() const { return mode_; }

  const tensor_type& forward(const tensor_type& x) {
    detail::check_upsample_input(x.shape(), "upsample2d::forward");
    in_ = x.shape();
    up(x, y_.resize(detail::upsampled_shape(in_)));
    return y_;
  }
  const tensor_type& backward(const tensor_type& gy, grad g = grad::input) {
    require_same_shape(y_.shape(), gy.shape(), "upsample2d::backward (gy)");
    if (wants_input(g)) down(gy, gx_.resize(in_));
    return gx_;
  }
  const tensor_type& forward_tangent(const tensor_type& dx) {
    require_same_shape(in_, dx.shape(), "upsample2d::forward_tangent (dx)");
    up(dx, dy_.resize(y_.shape()));
    return dy_;
  }
  const tensor_type& backward_tangent(const tensor_type& dgy, grad g = grad::input) {
    require_same_shape(y_.shape(), dgy.shape(), "upsample2d::backward_tangent (dgy)");
    if (wants_input(g)) down(dgy, dgx_.resize(in_));
    return dgx_;
  }

 private:
  // The host functions above, or the device's spatial_kernels (pool.hpp).
  void up(const tensor_type& x, tensor_type& y) {
    if constexpr (std::is_same_v<D, cpu>)
      upsample2x<T>(x.view(), y.view(), mode_, dev_);
    else
      spatial_kernels<D>::template upsample2x<T>(dev_, x.data(), y.data(), x.extent(0) * x.extent(1), x.extent(2),
                                                 x.extent(3), mode_);
  }
  void down(const tensor_type& gy, tensor_type& gx) {
    if constexpr (std::is_same_v<D, cpu>)
      upsample2x_backward<T>(gy.view(), gx.view(), mode_, dev_);
    else
      spatial_kernels<D>::template upsample2x_backward<T>(dev_, gy.data(), gx.data(), gx.extent(0) * gx.extent(1),
                                                          gx.extent(2), gx.extent(3), mode_);
  }

  upsample_mode mode_;
  D dev_;
  shape in_;
  tensor_type y_, gx_, dy_, dgx_;
};

}  // namespace ebm::nn

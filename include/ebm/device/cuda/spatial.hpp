#pragma once
// spatial_kernels<cuda>: 2x2 average pooling and x2 upsampling (nearest and
// PyTorch-exact bilinear) of NCHW planes on the GPU, and the view-level
// functions of nn/pool.hpp and nn/upsample.hpp for device memory:
//
//   ebm::nn::avg_pool2x2<float>(x.view(), y.view(), dev);       // y: [N, C, H/2, W/2]
//   ebm::nn::upsample2x<float>(x.view(), y.view(), mode, dev);  // y: [N, C, 2H, 2W]
//   auto y = ebm::nn::upsample2x(x, ebm::nn::upsample_mode::bilinear);  // x: tensor<float, cuda>
//
// The trait works on raw planes ([planes, H, W] with planes = N C) and is
// the interface a device-generic nn/pool.hpp and nn/upsample.hpp would call
// (the host versions there are free functions taking `const cpu&`; see
// docs/cuda.md).  Every map is evaluated per output element with the
// host's formula; the adjoints gather instead of scatter (no atomics).
// plane_sums and add_plane_bias serve EGC's residual blocks (the time
// embedding added per (sample, channel) and its gradient).
//
// Declarations and view-level wrappers only: the kernels are in spatial.cuh.
#include <type_traits>

#include "../../nn/pool.hpp"
#include "../../nn/upsample.hpp"
#include "tensor.hpp"

namespace ebm {

template <class D> struct spatial_kernels;

template <>
struct spatial_kernels<cuda> {
  /// y[p, i, j] = mean of x[p, 2i..2i+1, 2j..2j+1]; x is [planes, H, W]
  /// with H and W even.
  template <class T>
  static void avg_pool2x2(const cuda& dev, const T* x, T* y, index_t planes, index_t H, index_t W);
  /// gx[p, h, w] = gy[p, h/2, w/2] / 4; gx is [planes, H, W] (overwritten).
  template <class T>
  static void avg_pool2x2_backward(const cuda& dev, const T* gy, T* gx, index_t planes, index_t H,
                                   index_t W);
  /// y = upsample(x) by 2; x is [planes, H, W], y [planes, 2H, 2W].
  template <class T>
  static void upsample2x(const cuda& dev, const T* x, T* y, index_t planes, index_t H, index_t W,
                         nn::upsample_mode mode);
  /// gx = U^T gy; gx is [planes, H, W] (overwritten), gy [planes, 2H, 2W].
  template <class T>
  static void upsample2x_backward(const cuda& dev, const T* gy, T* gx, index_t planes, index_t H,
                                  index_t W, nn::upsample_mode mode);
  /// out[p] = sum of the `plane` elements of x[p, :] (one block per plane,
  /// a deterministic block reduction); x is [planes, plane].
  template <class T>
  static void plane_sums(const cuda& dev, const T* x, T* out, index_t planes, index_t plane);
  /// y[p, :] = x[p, :] + b[p] (a per-plane bias, e.g. a per-(sample,
  /// channel) embedding added to a feature map); y may alias x.
  template <class T>
  static void add_plane_bias(const cuda& dev, const T* x, const T* b, T* y, index_t planes,
                             index_t plane);
};

namespace nn {

/// Device version of avg_pool2x2 (views of device memory).
template <class T>
void avg_pool2x2(std::type_identity_t<tensor_view<const T>> x, tensor_view<T> y, const cuda& dev) {
  detail::check_pool_input(x.shape(), "avg_pool2x2");
  require_same_shape(detail::pooled_shape(x.shape()), y.shape(), "avg_pool2x2 (output)");
  spatial_kernels<cuda>::avg_pool2x2<T>(dev, x.data(), y.data(), x.extent(0) * x.extent(1),
                                        x.extent(2), x.extent(3));
}
/// A pooled copy of a device tensor (on its stream).
template <class T>
tensor<T, cuda> avg_pool2x2(const tensor<T, cuda>& x) {
  detail::check_pool_input(x.shape(), "avg_pool2x2");
  const cuda dev = x.device();
  tensor<T, cuda> y(dev);
  y.resize(detail::pooled_shape(x.shape()));
  avg_pool2x2<T>(x.view(), y.view(), dev);
  return y;
}
/// Device version of avg_pool2x2_backward.
template <class T>
void avg_pool2x2_backward(std::type_identity_t<tensor_view<const T>> gy, tensor_view<T> gx,
                          const cuda& dev) {
  detail::check_pool_input(gx.shape(), "avg_pool2x2_backward (gx)");
  require_same_shape(detail::pooled_shape(gx.shape()), gy.shape(), "avg_pool2x2_backward (gy)");
  spatial_kernels<cuda>::avg_pool2x2_backward<T>(dev, gy.data(), gx.data(),
                                                 gx.extent(0) * gx.extent(1), gx.extent(2),
                                                 gx.extent(3));
}

/// Device version of upsample2x.
template <class T>
void upsample2x(std::type_identity_t<tensor_view<const T>> x, tensor_view<T> y, upsample_mode mode,
                const cuda& dev) {
  detail::check_upsample_input(x.shape(), "upsample2x");
  require_same_shape(detail::upsampled_shape(x.shape()), y.shape(), "upsample2x (output)");
  spatial_kernels<cuda>::upsample2x<T>(dev, x.data(), y.data(), x.extent(0) * x.extent(1),
                                       x.extent(2), x.extent(3), mode);
}
/// An upsampled copy of a device tensor (on its stream).
template <class T>
tensor<T, cuda> upsample2x(const tensor<T, cuda>& x, upsample_mode mode) {
  detail::check_upsample_input(x.shape(), "upsample2x");
  const cuda dev = x.device();
  tensor<T, cuda> y(dev);
  y.resize(detail::upsampled_shape(x.shape()));
  upsample2x<T>(x.view(), y.view(), mode, dev);
  return y;
}
/// Device version of upsample2x_backward.
template <class T>
void upsample2x_backward(std::type_identity_t<tensor_view<const T>> gy, tensor_view<T> gx,
                         upsample_mode mode, const cuda& dev) {
  detail::check_upsample_input(gx.shape(), "upsample2x_backward (gx)");
  require_same_shape(detail::upsampled_shape(gx.shape()), gy.shape(),
                     "upsample2x_backward (gy)");
  spatial_kernels<cuda>::upsample2x_backward<T>(dev, gy.data(), gx.data(),
                                                gx.extent(0) * gx.extent(1), gx.extent(2),
                                                gx.extent(3), mode);
}

}  // namespace nn
}  // namespace ebm

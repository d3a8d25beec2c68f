#pragma once
// Kernels of spatial_kernels<cuda> (declared in spatial.hpp).  One thread per
// output element; the adjoints gather the few outputs that read each input.
#include "launch.cuh"
#include "reduce.cuh"
#include "spatial.hpp"

namespace ebm {

namespace detail {

template <class T>
__global__ void avg_pool2x2_kernel(const T* x, T* y, index_t n, index_t H, index_t W) {
  const index_t Ho = H / 2, Wo = W / 2, plane = Ho * Wo;
  EBM_GRID_STRIDE_LOOP(i, n) {
    const index_t p = i / plane, r = i % plane, oi = r / Wo, oj = r % Wo;
    const T* r0 = x + p * H * W + 2 * oi * W;
    const T* r1 = r0 + W;
    y[i] = T(0.25) * ((r0[2 * oj] + r0[2 * oj + 1]) + (r1[2 * oj] + r1[2 * oj + 1]));
  }
}

template <class T>
__global__ void avg_pool2x2_backward_kernel(const T* gy, T* gx, index_t n, index_t H, index_t W) {
  const index_t Ho = H / 2, Wo = W / 2;
  EBM_GRID_STRIDE_LOOP(i, n) {
    const index_t p = i / (H * W), r = i % (H * W), h = r / W, w = r % W;
    gx[i] = T(0.25) * gy[(p * Ho + h / 2) * Wo + w / 2];
  }
}

/// The taps of output index o along an axis of n inputs (as
/// nn::detail::bilinear_tap: PyTorch's align_corners=False rule).
template <class T>
struct cuda_linear_tap {
  index_t i0, i1;
  T l0, l1;
};
template <class T>
__device__ EBM_INLINE cuda_linear_tap<T> cuda_bilinear_tap(index_t o, index_t n) {
  T src = T(0.5) * (T(o) + T(0.5)) - T(0.5);
  if (src < T(0)) src = T(0);
  const index_t i0 = static_cast<index_t>(src);
  const T l1 = src - T(i0);
  return {i0, i0 < n - 1 ? i0 + 1 : i0, T(1) - l1, l1};
}
/// The weight with which output o reads input i along one axis.
template <class T>
__device__ EBM_INLINE T cuda_bilinear_weight(index_t o, index_t n, index_t i) {
  const cuda_linear_tap<T> t = cuda_bilinear_tap<T>(o, n);
  return (t.i0 == i ? t.l0 : T(0)) + (t.i1 == i ? t.l1 : T(0));
}

template <class T>
__global__ void upsample2x_kernel(const T* x, T* y, index_t n, index_t H, index_t W,
                                  bool bilinear) {
  const index_t Ho = 2 * H, Wo = 2 * W, plane = Ho * Wo;
  EBM_GRID_STRIDE_LOOP(i, n) {
    const index_t p = i / plane, r = i % plane, oh = r / Wo, ow = r % Wo;
    const T* src = x + p * H * W;
    if (!bilinear) {
      y[i] = src[(oh / 2) * W + ow / 2];
      continue;
    }
    const cuda_linear_tap<T> th = cuda_bilinear_tap<T>(oh, H), tw = cuda_bilinear_tap<T>(ow, W);
    const T* r0 = src + th.i0 * W;
    const T* r1 = src + th.i1 * W;
    y[i] = th.l0 * (tw.l0 * r0[tw.i0] + tw.l1 * r0[tw.i1]) +
           th.l1 * (tw.l0 * r1[tw.i0] + tw.l1 * r1[tw.i1]);
  }
}

template <class T>
__global__ void upsample2x_backward_kernel(const T* gy, T* gx, index_t n, index_t H, index_t W,
                                           bool bilinear) {
  const index_t Ho = 2 * H, Wo = 2 * W;
  EBM_GRID_STRIDE_LOOP(i, n) {
    const index_t p = i / (H * W), r = i % (H * W), ih = r / W, iw = r % W;
    const T* g = gy + p * Ho * Wo;
    if (!bilinear) {
      const T* r0 = g + 2 * ih * Wo;
      const T* r1 = r0 + Wo;
      gx[i] = (r0[2 * iw] + r0[2 * iw + 1]) + (r1[2 * iw] + r1[2 * iw + 1]);
      continue;
    }
    // Outputs 2i-1 .. 2i+2 (and 0, by the clamp at the border) read input i;
    // [2i-2, 2i+3] covers them, the others get weight 0.
    const index_t oh0 = 2 * ih - 2 > 0 ? 2 * ih - 2 : 0, oh1 = 2 * ih + 3 < Ho ? 2 * ih + 3 : Ho - 1;
    const index_t ow0 = 2 * iw - 2 > 0 ? 2 * iw - 2 : 0, ow1 = 2 * iw + 3 < Wo ? 2 * iw + 3 : Wo - 1;
    T acc(0);
    for (index_t oh = oh0; oh <= oh1; ++oh) {
      const T wh = cuda_bilinear_weight<T>(oh, H, ih);
      if (wh == T(0)) continue;
      for (index_t ow = ow0; ow <= ow1; ++ow) {
        const T ww = cuda_bilinear_weight<T>(ow, W, iw);
        if (ww != T(0)) acc += ww * (wh * g[oh * Wo + ow]);
      }
    }
    gx[i] = acc;
  }
}

template <class T>
__global__ void plane_sums_kernel(const T* x, T* out, index_t planes, index_t plane) {
  EBM_BLOCK_STRIDE_LOOP(p, planes) {
    const T* src = x + p * plane;
    T acc(0);
    for (index_t i = threadIdx.x; i < plane; i += blockDim.x) acc += src[i];
    acc = cuda_block_sum(acc);
    if (threadIdx.x == 0) out[p] = acc;
  }
}

template <class T>
__global__ void add_plane_bias_kernel(const T* x, const T* b, T* y, index_t n, index_t plane) {
  EBM_GRID_STRIDE_LOOP(i, n) y[i] = x[i] + b[i / plane];
}

}  // namespace detail

template <class T>
void spatial_kernels<cuda>::avg_pool2x2(const cuda& dev, const T* x, T* y, index_t planes,
                                        index_t H, index_t W) {
  EBM_REQUIRE(planes >= 0 && H > 0 && W > 0 && H % 2 == 0 && W % 2 == 0,
              "spatial_kernels<cuda>::avg_pool2x2: need even positive H and W, got ", H, " x ", W);
  const index_t n = planes * (H / 2) * (W / 2);
  if (n == 0) return;
  detail::cuda_device_guard g(dev.device());
  detail::avg_pool2x2_kernel<<<detail::cuda_blocks(n), detail::cuda_threads, 0, dev.stream()>>>(
      x, y, n, H, W);
  EBM_CUDA_CHECK_LAUNCH();
}

template <class T>
void spatial_kernels<cuda>::avg_pool2x2_backward(const cuda& dev, const T* gy, T* gx,
                                                 index_t planes, index_t H, index_t W) {
  EBM_REQUIRE(planes >= 0 && H > 0 && W > 0 && H % 2 == 0 && W % 2 == 0,
              "spatial_kernels<cuda>::avg_pool2x2_backward: need even positive H and W, got ", H,
              " x ", W);
  const index_t n = planes * H * W;
  if (n == 0) return;
  detail::cuda_device_guard g(dev.device());
  detail::avg_pool2x2_backward_kernel<<<detail::cuda_blocks(n), detail::cuda_threads, 0,
                                        dev.stream()>>>(gy, gx, n, H, W);
  EBM_CUDA_CHECK_LAUNCH();
}

template <class T>
void spatial_kernels<cuda>::upsample2x(const cuda& dev, const T* x, T* y, index_t planes,
                                       index_t H, index_t W, nn::upsample_mode mode) {
  EBM_REQUIRE(planes >= 0 && H > 0 && W > 0,
              "spatial_kernels<cuda>::upsample2x: need a positive H and W, got ", H, " x ", W);
  const index_t n = planes * 4 * H * W;
  if (n == 0) return;
  detail::cuda_device_guard g(dev.device());
  detail::upsample2x_kernel<<<detail::cuda_blocks(n), detail::cuda_threads, 0, dev.stream()>>>(
      x, y, n, H, W, mode == nn::upsample_mode::bilinear);
  EBM_CUDA_CHECK_LAUNCH();
}

template <class T>
void spatial_kernels<cuda>::upsample2x_backward(const cuda& dev, const T* gy, T* gx,
                                                index_t planes, index_t H, index_t W,
                                                nn::upsample_mode mode) {
  EBM_REQUIRE(planes >= 0 && H > 0 && W > 0,
              "spatial_kernels<cuda>::upsample2x_backward: need a positive H and W, got ", H, " x ",
              W);
  const index_t n = planes * H * W;
  if (n == 0) return;
  detail::cuda_device_guard g(dev.device());
  detail::upsample2x_backward_kernel<<<detail::cuda_blocks(n), detail::cuda_threads, 0,
                                       dev.stream()>>>(gy, gx, n, H, W,
                                                       mode == nn::upsample_mode::bilinear);
  EBM_CUDA_CHECK_LAUNCH();
}

template <class T>
void spatial_kernels<cuda>::plane_sums(const cuda& dev, const T* x, T* out, index_t planes,
                                       index_t plane) {
  EBM_REQUIRE(planes >= 0 && plane >= 0, "spatial_kernels<cuda>::plane_sums: negative size ",
              planes, " x ", plane);
  if (planes == 0) return;
  detail::cuda_device_guard g(dev.device());
  detail::plane_sums_kernel<<<detail::cuda_item_blocks(planes), detail::cuda_reduce_threads, 0,
                              dev.stream()>>>(x, out, planes, plane);
  EBM_CUDA_CHECK_LAUNCH();
}

template <class T>
void spatial_kernels<cuda>::add_plane_bias(const cuda& dev, const T* x, const T* b, T* y,
                                           index_t planes, index_t plane) {
  EBM_REQUIRE(planes >= 0 && plane >= 0, "spatial_kernels<cuda>::add_plane_bias: negative size ",
              planes, " x ", plane);
  const index_t n = planes * plane;
  if (n == 0) return;
  detail::cuda_device_guard g(dev.device());
  detail::add_plane_bias_kernel<<<detail::cuda_blocks(n), detail::cuda_threads, 0,
                                  dev.stream()>>>(x, b, y, n, plane);
  EBM_CUDA_CHECK_LAUNCH();
}

}  // namespace ebm

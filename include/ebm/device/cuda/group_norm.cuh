#pragma once
// Kernels of group_norm_kernels<cuda> (declared in group_norm.hpp).  One
// block of cuda_reduce_threads threads per (sample, group) or per channel;
// each thread sums a strided share of the elements, cuda_block_reduce
// combines the shares in a fixed order, then the block writes its elements.
#include <cmath>

#include "group_norm.hpp"
#include "launch.cuh"
#include "reduce.cuh"

namespace ebm {

namespace detail {

template <class T>
__global__ void gn_forward_kernel(const T* x, const T* w, const T* b, T eps, T* xh, T* y, T* sigma,
                                  index_t groups_total, index_t g, index_t cpg, index_t s) {
  const index_t m = cpg * s;
  EBM_BLOCK_STRIDE_LOOP(k, groups_total) {
    const index_t off = k * m, c0 = (k % g) * cpg;
    const T* xp = x + off;
    T acc(0);
    for (index_t i = threadIdx.x; i < m; i += blockDim.x) acc += xp[i];
    const T mu = cuda_block_sum(acc) / T(m);
    acc = T(0);
    for (index_t i = threadIdx.x; i < m; i += blockDim.x) {
      const T d = xp[i] - mu;
      acc += d * d;
    }
    const T var = cuda_block_sum(acc) / T(m);
    const T sd = std::sqrt(var + eps), inv = T(1) / sd;
    if (threadIdx.x == 0) sigma[k] = sd;
    for (index_t i = threadIdx.x; i < m; i += blockDim.x) {
      const index_t ch = c0 + i / s;
      const T h = (xp[i] - mu) * inv;
      xh[off + i] = h;
      y[off + i] = w[ch] * h + b[ch];
    }
  }
}

template <class T>
__global__ void gn_backward_kernel(const T* xh, const T* gy, const T* w, const T* sigma, T* gx,
                                   index_t groups_total, index_t g, index_t cpg, index_t s) {
  const index_t m = cpg * s;
  EBM_BLOCK_STRIDE_LOOP(k, groups_total) {
    const index_t off = k * m, c0 = (k % g) * cpg;
    T v[2] = {T(0), T(0)};  // sum w gy, sum w xh gy
    for (index_t i = threadIdx.x; i < m; i += blockDim.x) {
      const T gh = w[c0 + i / s] * gy[off + i];
      v[0] += gh;
      v[1] += xh[off + i] * gh;
    }
    cuda_block_reduce(v);
    const T mg = v[0] / T(m), mm = v[1] / T(m), inv = T(1) / sigma[k];
    for (index_t i = threadIdx.x; i < m; i += blockDim.x)
      gx[off + i] = (w[c0 + i / s] * gy[off + i] - mg - xh[off + i] * mm) * inv;
  }
}

template <class T>
__global__ void gn_forward_tangent_kernel(const T* xh, const T* dx, const T* w, const T* sigma,
                                          T* dxh, T* dy, T* dsigma, index_t groups_total, index_t g,
                                          index_t cpg, index_t s) {
  const index_t m = cpg * s;
  EBM_BLOCK_STRIDE_LOOP(k, groups_total) {
    const index_t off = k * m, c0 = (k % g) * cpg;
    T v[2] = {T(0), T(0)};  // sum dx, sum xh dx
    for (index_t i = threadIdx.x; i < m; i += blockDim.x) {
      v[0] += dx[off + i];
      v[1] += xh[off + i] * dx[off + i];
    }
    cuda_block_reduce(v);
    const T md = v[0] / T(m), a = v[1] / T(m), inv = T(1) / sigma[k];
    if (threadIdx.x == 0) dsigma[k] = a;
    for (index_t i = threadIdx.x; i < m; i += blockDim.x) {
      const T d = (dx[off + i] - md - xh[off + i] * a) * inv;
      dxh[off + i] = d;
      dy[off + i] = w[c0 + i / s] * d;
    }
  }
}

template <class T>
__global__ void gn_backward_tangent_kernel(const T* xh, const T* dxh, const T* gy, const T* dgy,
                                           const T* w, const T* sigma, const T* dsigma, T* dgx,
                                           index_t groups_total, index_t g, index_t cpg,
                                           index_t s) {
  const index_t m = cpg * s;
  EBM_BLOCK_STRIDE_LOOP(k, groups_total) {
    const index_t off = k * m, c0 = (k % g) * cpg;
    // mean(gh), m = mean(xh gh), mean(dgh), dm = mean(dxh gh + xh dgh).
    T v[4] = {T(0), T(0), T(0), T(0)};
    for (index_t i = threadIdx.x; i < m; i += blockDim.x) {
      const T wc = w[c0 + i / s], gi = gy[off + i], dgi = dgy[off + i];
      v[0] += wc * gi;
      v[1] += wc * (xh[off + i] * gi);
      v[2] += wc * dgi;
      v[3] += wc * (dxh[off + i] * gi + xh[off + i] * dgi);
    }
    cuda_block_reduce(v);
    const T mg = v[0] / T(m), mm = v[1] / T(m), mdg = v[2] / T(m), dm = v[3] / T(m);
    const T inv = T(1) / sigma[k];
    const T a_over_sigma = dsigma[k] * inv;
    for (index_t i = threadIdx.x; i < m; i += blockDim.x) {
      const T wc = w[c0 + i / s], h = xh[off + i], dh = dxh[off + i];
      const T u = wc * gy[off + i] - mg - h * mm;
      const T du = wc * dgy[off + i] - mdg - dh * mm - h * dm;
      dgx[off + i] = (du - u * a_over_sigma) * inv;
    }
  }
}

/// One block per channel ch: gw[ch] += sum a xh (+ gy2 dxh), gb[ch] += sum a
/// over the N S elements of the channel.
template <class T>
__global__ void gn_param_grads_kernel(const T* a, const T* xh, const T* gy2, const T* dxh, T* gw,
                                      T* gb, index_t n, index_t c, index_t s) {
  const index_t per = n * s;
  EBM_BLOCK_STRIDE_LOOP(ch, c) {
    T v[2] = {T(0), T(0)};
    for (index_t j = threadIdx.x; j < per; j += blockDim.x) {
      const index_t i = ((j / s) * c + ch) * s + j % s;
      v[0] += gy2 ? a[i] * xh[i] + gy2[i] * dxh[i] : a[i] * xh[i];
      v[1] += a[i];
    }
    cuda_block_reduce(v);
    if (threadIdx.x == 0) {
      gw[ch] += v[0];
      gb[ch] += v[1];
    }
  }
}

}  // namespace detail

template <class T>
void group_norm_kernels<cuda>::forward(const cuda& dev, const T* x, const T* w, const T* b, T eps,
                                       T* xh, T* y, T* sigma, index_t n, index_t c, index_t g,
                                       index_t s) {
  if (n * g <= 0 || s <= 0) return;
  detail::cuda_device_guard guard(dev.device());
  detail::gn_forward_kernel<<<detail::cuda_item_blocks(n * g), detail::cuda_reduce_threads, 0,
                              dev.stream()>>>(x, w, b, eps, xh, y, sigma, n * g, g, c / g, s);
  EBM_CUDA_CHECK_LAUNCH();
}

template <class T>
void group_norm_kernels<cuda>::backward(const cuda& dev, const T* xh, const T* gy, const T* w,
                                        const T* sigma, T* gx, index_t n, index_t c, index_t g,
                                        index_t s) {
  if (n * g <= 0 || s <= 0) return;
  detail::cuda_device_guard guard(dev.device());
  detail::gn_backward_kernel<<<detail::cuda_item_blocks(n * g), detail::cuda_reduce_threads, 0,
                               dev.stream()>>>(xh, gy, w, sigma, gx, n * g, g, c / g, s);
  EBM_CUDA_CHECK_LAUNCH();
}

template <class T>
void group_norm_kernels<cuda>::forward_tangent(const cuda& dev, const T* xh, const T* dx,
                                               const T* w, const T* sigma, T* dxh, T* dy,
                                               T* dsigma, index_t n, index_t c, index_t g,
                                               index_t s) {
  if (n * g <= 0 || s <= 0) return;
  detail::cuda_device_guard guard(dev.device());
  detail::gn_forward_tangent_kernel<<<detail::cuda_item_blocks(n * g), detail::cuda_reduce_threads,
                                      0, dev.stream()>>>(xh, dx, w, sigma, dxh, dy, dsigma, n * g,
                                                         g, c / g, s);
  EBM_CUDA_CHECK_LAUNCH();
}

template <class T>
void group_norm_kernels<cuda>::backward_tangent(const cuda& dev, const T* xh, const T* dxh,
                                                const T* gy, const T* dgy, const T* w,
                                                const T* sigma, const T* dsigma, T* dgx, index_t n,
                                                index_t c, index_t g, index_t s) {
  if (n * g <= 0 || s <= 0) return;
  detail::cuda_device_guard guard(dev.device());
  detail::gn_backward_tangent_kernel<<<detail::cuda_item_blocks(n * g),
                                       detail::cuda_reduce_threads, 0, dev.stream()>>>(
      xh, dxh, gy, dgy, w, sigma, dsigma, dgx, n * g, g, c / g, s);
  EBM_CUDA_CHECK_LAUNCH();
}

template <class T>
void group_norm_kernels<cuda>::param_grads(const cuda& dev, const T* a, const T* xh, const T* gy2,
                                           const T* dxh, T* gw, T* gb, index_t n, index_t c,
                                           index_t s) {
  if (c <= 0) return;
  detail::cuda_device_guard guard(dev.device());
  detail::gn_param_grads_kernel<<<detail::cuda_item_blocks(c), detail::cuda_reduce_threads, 0,
                                  dev.stream()>>>(a, xh, gy2, dxh, gw, gb, n, c, s);
  EBM_CUDA_CHECK_LAUNCH();
}

}  // namespace ebm

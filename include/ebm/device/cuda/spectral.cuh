#pragma once
// Kernels of spectral_kernels<cuda> (declared in spectral.hpp): one thread per
// weight entry, sigma and <G, W> read from device memory by every thread.
#include "launch.cuh"
#include "spectral.hpp"

namespace ebm {

namespace detail {

template <class T>
__global__ void spectral_divide_kernel(const T* sigma, const T* x, T* y, index_t n) {
  const T inv = T(1) / sigma[0];
  EBM_GRID_STRIDE_LOOP(i, n) y[i] = inv * x[i];
}

template <class T>
__global__ void spectral_weight_grad_kernel(const T* sigma, const T* g_dot_w, const T* G, const T* u,
                                            const T* v, T* gw, index_t rows, index_t cols, bool rank1) {
  const T inv = T(1) / sigma[0];
  const T c = rank1 ? g_dot_w[0] * inv * inv : T(0);
  const index_t n = rows * cols;
  EBM_GRID_STRIDE_LOOP(k, n) {
    const index_t i = k / cols, j = k - i * cols;
    gw[k] += inv * G[k] - c * u[i] * v[j];
  }
}

}  // namespace detail

template <class T>
void spectral_kernels<cuda>::divide(const cuda& dev, const T* sigma, const T* x, T* y, index_t n) {
  if (n <= 0) return;
  detail::cuda_device_guard g(dev.device());
  detail::spectral_divide_kernel<<<detail::cuda_blocks(n), detail::cuda_threads, 0, dev.stream()>>>(sigma, x, y,
                                                                                                     n);
  EBM_CUDA_CHECK_LAUNCH();
}

template <class T>
void spectral_kernels<cuda>::weight_grad(const cuda& dev, const T* sigma, const T* g_dot_w, const T* G,
                                         const T* u, const T* v, T* gw, index_t rows, index_t cols,
                                         bool rank1) {
  const index_t n = rows * cols;
  if (n <= 0) return;
  detail::cuda_device_guard g(dev.device());
  detail::spectral_weight_grad_kernel<<<detail::cuda_blocks(n), detail::cuda_threads, 0, dev.stream()>>>(
      sigma, g_dot_w, G, u, v, gw, rows, cols, rank1);
  EBM_CUDA_CHECK_LAUNCH();
}

}  // namespace ebm

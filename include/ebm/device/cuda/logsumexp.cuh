#pragma once
// Kernels of logsumexp_kernels<cuda> (declared in logsumexp.hpp).  The
// forward and forward tangent run one block per sample: each thread takes
// positions s = threadIdx.x, + blockDim.x, ..., evaluates the host's
// per-position loops over the classes, and the block sums the positions'
// contributions (cuda_block_reduce: deterministic).  The backward passes are
// elementwise.
#include <cmath>

#include "launch.cuh"
#include "logsumexp.hpp"
#include "reduce.cuh"

namespace ebm {

namespace detail {

template <class T>
__global__ void lse_forward_kernel(const T* f, T* p, T* y, index_t n, index_t c, index_t s) {
  EBM_BLOCK_STRIDE_LOOP(k, n) {
    T total(0);
    for (index_t q = threadIdx.x; q < s; q += blockDim.x) {
      const T* fq = f + k * c * s + q;
      T* pq = p + k * c * s + q;
      T m = fq[0];
      for (index_t j = 1; j < c; ++j) m = m < fq[j * s] ? fq[j * s] : m;
      T z(0);
      for (index_t j = 0; j < c; ++j) z += (pq[j * s] = std::exp(fq[j * s] - m));
      for (index_t j = 0; j < c; ++j) pq[j * s] /= z;
      total += m + std::log(z);
    }
    total = cuda_block_sum(total);
    if (threadIdx.x == 0) y[k] = -total;
  }
}

template <class T>
__global__ void lse_backward_kernel(const T* p, const T* gy, T* gx, index_t total, index_t per) {
  EBM_GRID_STRIDE_LOOP(i, total) gx[i] = -gy[i / per] * p[i];
}

template <class T>
__global__ void lse_forward_tangent_kernel(const T* p, const T* dx, T* pdx, T* dy, index_t n,
                                           index_t c, index_t s) {
  EBM_BLOCK_STRIDE_LOOP(k, n) {
    T total(0);
    for (index_t q = threadIdx.x; q < s; q += blockDim.x) {
      T a(0);
      for (index_t j = 0; j < c; ++j) {
        const index_t i = (k * c + j) * s + q;
        a += p[i] * dx[i];
      }
      pdx[k * s + q] = a;
      total += a;
    }
    total = cuda_block_sum(total);
    if (threadIdx.x == 0) dy[k] = -total;
  }
}

template <class T>
__global__ void lse_backward_tangent_kernel(const T* p, const T* dx, const T* pdx, const T* gy,
                                            const T* dgy, T* dgx, index_t total, index_t c,
                                            index_t s) {
  EBM_GRID_STRIDE_LOOP(i, total) {
    const index_t k = i / (c * s), q = i % s;
    const T dp = p[i] * (dx[i] - pdx[k * s + q]);
    dgx[i] = -dgy[k] * p[i] - gy[k] * dp;
  }
}

}  // namespace detail

template <class T>
void logsumexp_kernels<cuda>::forward(const cuda& dev, const T* f, T* p, T* y, index_t n,
                                      index_t c, index_t s) {
  if (n <= 0) return;
  detail::cuda_device_guard g(dev.device());
  detail::lse_forward_kernel<<<detail::cuda_item_blocks(n), detail::cuda_reduce_threads, 0,
                               dev.stream()>>>(f, p, y, n, c, s);
  EBM_CUDA_CHECK_LAUNCH();
}

template <class T>
void logsumexp_kernels<cuda>::backward(const cuda& dev, const T* p, const T* gy, T* gx, index_t n,
                                       index_t c, index_t s) {
  const index_t total = n * c * s;
  if (total <= 0) return;
  detail::cuda_device_guard g(dev.device());
  detail::lse_backward_kernel<<<detail::cuda_blocks(total), detail::cuda_threads, 0,
                                dev.stream()>>>(p, gy, gx, total, c * s);
  EBM_CUDA_CHECK_LAUNCH();
}

template <class T>
void logsumexp_kernels<cuda>::forward_tangent(const cuda& dev, const T* p, const T* dx, T* pdx,
                                              T* dy, index_t n, index_t c, index_t s) {
  if (n <= 0) return;
  detail::cuda_device_guard g(dev.device());
  detail::lse_forward_tangent_kernel<<<detail::cuda_item_blocks(n), detail::cuda_reduce_threads,
                                       0, dev.stream()>>>(p, dx, pdx, dy, n, c, s);
  EBM_CUDA_CHECK_LAUNCH();
}

template <class T>
void logsumexp_kernels<cuda>::backward_tangent(const cuda& dev, const T* p, const T* dx,
                                               const T* pdx, const T* gy, const T* dgy, T* dgx,
                                               index_t n, index_t c, index_t s) {
  const index_t total = n * c * s;
  if (total <= 0) return;
  detail::cuda_device_guard g(dev.device());
  detail::lse_backward_tangent_kernel<<<detail::cuda_blocks(total), detail::cuda_threads, 0,
                                        dev.stream()>>>(p, dx, pdx, gy, dgy, dgx, total, c, s);
  EBM_CUDA_CHECK_LAUNCH();
}

}  // namespace ebm

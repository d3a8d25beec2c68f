#pragma once
// Kernels of embedding_kernels<cuda> (declared in embedding.hpp): one thread
// per output element.
#include <cmath>
#include <cstddef>

#include "embedding.hpp"
#include "launch.cuh"

namespace ebm {

namespace detail {

template <class T>
__global__ void sinusoidal_kernel(const T* t, T* out, index_t n, index_t half, double log_period) {
  EBM_GRID_STRIDE_LOOP(i, n * half) {
    const index_t row = i / half, k = i % half;
    const double ti = static_cast<double>(t[row]);
    const double arg =
        ti * std::exp(-log_period * static_cast<double>(k) / static_cast<double>(half));
    out[row * 2 * half + k] = static_cast<T>(std::cos(arg));
    out[row * 2 * half + half + k] = static_cast<T>(std::sin(arg));
  }
}

template <class T>
__global__ void gather_rows_kernel(const T* w, const index_t* rows, T* y, index_t n, index_t dim) {
  EBM_GRID_STRIDE_LOOP(i, n * dim) y[i] = w[rows[i / dim] * dim + i % dim];
}

template <class T>
__global__ void scatter_add_rows_kernel(const T* g, const index_t* rows, T* gw, index_t n,
                                        index_t table_rows, index_t dim) {
  EBM_GRID_STRIDE_LOOP(j, table_rows * dim) {
    const index_t r = j / dim, k = j % dim;
    T acc = gw[j];
    for (index_t i = 0; i < n; ++i)
      if (rows[i] == r) acc += g[i * dim + k];
    gw[j] = acc;
  }
}

}  // namespace detail

template <class T>
void embedding_kernels<cuda>::sinusoidal(const cuda& dev, const T* t, T* out, index_t n,
                                         index_t dim, double log_period) {
  const index_t half = dim / 2;
  if (n <= 0 || half <= 0) return;
  detail::cuda_device_guard g(dev.device());
  detail::sinusoidal_kernel<<<detail::cuda_blocks(n * half), detail::cuda_threads, 0,
                              dev.stream()>>>(t, out, n, half, log_period);
  EBM_CUDA_CHECK_LAUNCH();
}

template <class T>
void embedding_kernels<cuda>::gather_rows(const cuda& dev, const T* w, const index_t* rows,
                                          index_t* rows_dev, T* y, index_t n, index_t dim) {
  if (n <= 0 || dim <= 0) return;
  detail::cuda_device_guard g(dev.device());
  EBM_CUDA_CHECK(cudaMemcpyAsync(rows_dev, rows, sizeof(index_t) * static_cast<std::size_t>(n),
                                 cudaMemcpyHostToDevice, dev.stream()));
  detail::gather_rows_kernel<<<detail::cuda_blocks(n * dim), detail::cuda_threads, 0,
                               dev.stream()>>>(w, rows_dev, y, n, dim);
  EBM_CUDA_CHECK_LAUNCH();
}

template <class T>
void embedding_kernels<cuda>::scatter_add_rows(const cuda& dev, const T* g, const index_t* rows_dev,
                                               T* gw, index_t n, index_t table_rows, index_t dim) {
  if (n <= 0 || table_rows <= 0 || dim <= 0) return;
  detail::cuda_device_guard guard(dev.device());
  detail::scatter_add_rows_kernel<<<detail::cuda_blocks(table_rows * dim), detail::cuda_threads, 0,
                                    dev.stream()>>>(g, rows_dev, gw, n, table_rows, dim);
  EBM_CUDA_CHECK_LAUNCH();
}

}  // namespace ebm

#pragma once
// Kernels of elementwise<cuda> (declared in elementwise.hpp).  One thread
// per element in grid-stride loops; each expression is the one of
// elementwise<cpu>, evaluated in T.
#include "elementwise.hpp"
#include "launch.cuh"

namespace ebm {

namespace detail {

template <class Act, class T>
__global__ void act_forward_kernel(Act a, const T* x, T* y, T* d, index_t n) {
  EBM_GRID_STRIDE_LOOP(i, n) {
    const T v = x[i];
    y[i] = a.f(v);
    d[i] = a.df(v);
  }
}

template <class T>
__global__ void mul_kernel(const T* d, const T* g, T* out, index_t n) {
  EBM_GRID_STRIDE_LOOP(i, n) out[i] = d[i] * g[i];
}

template <class Act, class T>
__global__ void act_backward_tangent_kernel(Act a, const T* x, const T* d, const T* dx,
                                            const T* gy, const T* dgy, T* dgx, index_t n) {
  EBM_GRID_STRIDE_LOOP(i, n) dgx[i] = a.d2f(x[i]) * dx[i] * gy[i] + d[i] * dgy[i];
}

template <class T>
__global__ void axpy_kernel(T alpha, const T* x, T* y, index_t n) {
  EBM_GRID_STRIDE_LOOP(i, n) y[i] += alpha * x[i];
}

template <class T>
__global__ void axpby_kernel(T a, const T* x, T b, const T* y, T* out, index_t n) {
  EBM_GRID_STRIDE_LOOP(i, n) out[i] = a * x[i] + b * y[i];
}

template <class T>
__global__ void scale_kernel(T alpha, const T* x, T* out, index_t n) {
  EBM_GRID_STRIDE_LOOP(i, n) out[i] = alpha * x[i];
}

}  // namespace detail

template <class Act, class T>
void elementwise<cuda>::act_forward(const cuda& dev, const Act& a, const T* x, T* y, T* d,
                                    index_t n) {
  if (n <= 0) return;
  detail::cuda_device_guard g(dev.device());
  detail::act_forward_kernel<<<detail::cuda_blocks(n), detail::cuda_threads, 0, dev.stream()>>>(
      a, x, y, d, n);
  EBM_CUDA_CHECK_LAUNCH();
}

template <class T>
void elementwise<cuda>::mul(const cuda& dev, const T* d, const T* gr, T* out, index_t n) {
  if (n <= 0) return;
  detail::cuda_device_guard g(dev.device());
  detail::mul_kernel<<<detail::cuda_blocks(n), detail::cuda_threads, 0, dev.stream()>>>(d, gr, out,
                                                                                        n);
  EBM_CUDA_CHECK_LAUNCH();
}

template <class Act, class T>
void elementwise<cuda>::act_backward_tangent(const cuda& dev, const Act& a, const T* x,
                                             const T* d, const T* dx, const T* gy, const T* dgy,
                                             T* dgx, index_t n) {
  if (n <= 0) return;
  detail::cuda_device_guard g(dev.device());
  detail::act_backward_tangent_kernel<<<detail::cuda_blocks(n), detail::cuda_threads, 0,
                                        dev.stream()>>>(a, x, d, dx, gy, dgy, dgx, n);
  EBM_CUDA_CHECK_LAUNCH();
}

template <class T>
void elementwise<cuda>::axpy(const cuda& dev, T alpha, const T* x, T* y, index_t n) {
  if (n <= 0) return;
  detail::cuda_device_guard g(dev.device());
  detail::axpy_kernel<<<detail::cuda_blocks(n), detail::cuda_threads, 0, dev.stream()>>>(alpha, x,
                                                                                         y, n);
  EBM_CUDA_CHECK_LAUNCH();
}

template <class T>
void elementwise<cuda>::axpby(const cuda& dev, T a, const T* x, T b, const T* y, T* out,
                              index_t n) {
  if (n <= 0) return;
  detail::cuda_device_guard g(dev.device());
  detail::axpby_kernel<<<detail::cuda_blocks(n), detail::cuda_threads, 0, dev.stream()>>>(
      a, x, b, y, out, n);
  EBM_CUDA_CHECK_LAUNCH();
}

template <class T>
void elementwise<cuda>::scale(const cuda& dev, T alpha, const T* x, T* out, index_t n) {
  if (n <= 0) return;
  detail::cuda_device_guard g(dev.device());
  detail::scale_kernel<<<detail::cuda_blocks(n), detail::cuda_threads, 0, dev.stream()>>>(
      alpha, x, out, n);
  EBM_CUDA_CHECK_LAUNCH();
}

}  // namespace ebm

#pragma once
// tensor<T, cuda>::fill (declared in tensor.hpp): one kernel writing v.
#include "launch.cuh"
#include "tensor.hpp"

namespace ebm {

namespace detail {
template <class T>
__global__ void fill_kernel(T* out, T v, index_t n) {
  EBM_GRID_STRIDE_LOOP(i, n) out[i] = v;
}
}  // namespace detail

template <class T>
tensor<T, cuda>& tensor<T, cuda>::fill(T v) {
  const index_t n = size();
  if (n <= 0) return *this;
  detail::cuda_device_guard g(ctx_->device());
  detail::fill_kernel<<<detail::cuda_blocks(n), detail::cuda_threads, 0, ctx_->stream()>>>(ptr_, v,
                                                                                           n);
  EBM_CUDA_CHECK_LAUNCH();
  return *this;
}

}  // namespace ebm

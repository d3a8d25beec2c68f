#pragma once
// Launch helpers shared by the kernels of the CUDA backend: grid-stride loops
// over 64-bit index ranges and a bounded grid size.  Kernel header: compiles
// only in nvcc translation units (.cu).
#if !defined(__CUDACC__)
#error "ebm/device/cuda/*.cuh contain CUDA kernels: include them from .cu files compiled by nvcc"
#endif

#include "../../core/config.hpp"
#include "error.hpp"

namespace ebm::detail {

/// Threads per block of the elementwise kernels.
inline constexpr int cuda_threads = 256;
/// Grid-stride loops cover any n with at most this many blocks.
inline constexpr index_t cuda_max_blocks = 32768;

/// Blocks for n elements at `threads` per block (n > 0).
inline unsigned cuda_blocks(index_t n, int threads = cuda_threads) {
  const index_t b = (n + threads - 1) / threads;
  return static_cast<unsigned>(b < cuda_max_blocks ? b : cuda_max_blocks);
}

/// First index of this thread and the stride of a grid-stride loop.
__device__ EBM_INLINE index_t cuda_first_index() {
  return static_cast<index_t>(blockIdx.x) * blockDim.x + threadIdx.x;
}
__device__ EBM_INLINE index_t cuda_grid_stride() {
  return static_cast<index_t>(blockDim.x) * gridDim.x;
}

}  // namespace ebm::detail

/// for (index_t i = ...; i < n; i += stride): a grid-stride loop.
#define EBM_GRID_STRIDE_LOOP(i, n)                                              \
  for (::ebm::index_t i = ::ebm::detail::cuda_first_index(); i < (n);           \
       i += ::ebm::detail::cuda_grid_stride())

#pragma once
// Deterministic block reductions for the per-group and per-sample kernels
// (group norm statistics, softmax normalisers, row sums).  Each thread
// combines its strided share of the elements in a fixed order, the warps
// reduce by shuffles in a fixed pattern and warp 0's results are combined
// in warp order: the same inputs give the same bits on every run (no
// atomics).  Kernel header: compiles only in nvcc translation units.
#include "launch.cuh"

namespace ebm::detail {

/// Threads per block of every kernel that calls cuda_block_reduce.
inline constexpr int cuda_reduce_threads = 256;

struct cuda_sum_op {
  template <class T>
  __device__ EBM_INLINE T operator()(T a, T b) const {
    return a + b;
  }
};
struct cuda_max_op {
  template <class T>
  __device__ EBM_INLINE T operator()(T a, T b) const {
    return a < b ? b : a;  // std::max(a, b)
  }
};

/// Reduces v[0..K) over the threads of the block with `op`; every thread
/// gets the K results.  The block must have cuda_reduce_threads threads, all
/// of which call this (no early returns before it).  May be called several
/// times in one kernel.
template <class T, int K, class Op = cuda_sum_op>
__device__ EBM_INLINE void cuda_block_reduce(T (&v)[K], Op op = {}) {
  static_assert(cuda_reduce_threads % 32 == 0 && cuda_reduce_threads <= 1024);
  constexpr int warps = cuda_reduce_threads / 32;
  __shared__ T part[K][warps];
#pragma unroll
  for (int k = 0; k < K; ++k)
    for (int o = 16; o > 0; o /= 2) v[k] = op(v[k], __shfl_down_sync(0xffffffffu, v[k], o));
  const int lane = static_cast<int>(threadIdx.x) & 31, warp = static_cast<int>(threadIdx.x) >> 5;
  if (lane == 0)
#pragma unroll
    for (int k = 0; k < K; ++k) part[k][warp] = v[k];
  __syncthreads();
#pragma unroll
  for (int k = 0; k < K; ++k) {
    T s = part[k][0];
    for (int w = 1; w < warps; ++w) s = op(s, part[k][w]);
    v[k] = s;
  }
  __syncthreads();  // part may be reused by the next call
}

/// One value's sum over the block (see cuda_block_reduce).
template <class T>
__device__ EBM_INLINE T cuda_block_sum(T v) {
  T a[1] = {v};
  cuda_block_reduce(a);
  return a[0];
}

/// Blocks for `items` block-sized work items (at most cuda_max_blocks; the
/// kernels loop over the rest with stride gridDim.x).
inline unsigned cuda_item_blocks(index_t items) {
  return static_cast<unsigned>(items < cuda_max_blocks ? items : cuda_max_blocks);
}

}  // namespace ebm::detail

/// for (index_t k = blockIdx.x; k < n; k += gridDim.x): one block per item.
#define EBM_BLOCK_STRIDE_LOOP(k, n)                                                     \
  for (::ebm::index_t k = static_cast<::ebm::index_t>(blockIdx.x); k < (n);            \
       k += static_cast<::ebm::index_t>(gridDim.x))

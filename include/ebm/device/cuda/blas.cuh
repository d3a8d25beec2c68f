#pragma once
// Kernels of blas<cuda> (declared in blas.hpp): the bias broadcast and the
// column sums of a row-major matrix.
#include "blas.hpp"
#include "launch.cuh"

namespace ebm {

namespace detail {

/// Column sums: block (32, 8) covers 32 columns; thread (x, y) sums rows
/// y, y + 8, ... of its column, then row 0 of the block adds the 8 partial
/// sums in order (a fixed order: deterministic).
template <class T>
__global__ void sum_rows_kernel(const T* m, index_t rows, index_t cols, T* out, bool accumulate) {
  __shared__ T part[8][33];
  const index_t j = static_cast<index_t>(blockIdx.x) * 32 + threadIdx.x;
  T acc(0);
  if (j < cols)
    for (index_t i = threadIdx.y; i < rows; i += 8) acc += m[i * cols + j];
  part[threadIdx.y][threadIdx.x] = acc;
  __syncthreads();
  if (threadIdx.y == 0 && j < cols) {
    T s = part[0][threadIdx.x];
    for (int r = 1; r < 8; ++r) s += part[r][threadIdx.x];
    out[j] = accumulate ? out[j] + s : s;
  }
}

template <class T>
__global__ void add_row_kernel(T* m, index_t rows, index_t cols, const T* b) {
  EBM_GRID_STRIDE_LOOP(i, rows * cols) m[i] += b[i % cols];
}

}  // namespace detail

template <class T>
void blas<cuda>::sum_rows(const cuda& dev, const T* m, index_t rows, index_t cols, T* out,
                          bool accumulate) {
  EBM_REQUIRE(rows >= 0 && cols >= 0, "blas<cuda>::sum_rows: negative size ", rows, " x ", cols);
  if (cols == 0) return;
  const index_t blocks = (cols + 31) / 32;
  EBM_REQUIRE(blocks <= 0x7fffffff, "blas<cuda>::sum_rows: too many columns (", cols, ")");
  detail::cuda_device_guard g(dev.device());
  detail::sum_rows_kernel<<<static_cast<unsigned>(blocks), dim3(32, 8), 0, dev.stream()>>>(
      m, rows, cols, out, accumulate);
  EBM_CUDA_CHECK_LAUNCH();
}

template <class T>
void blas<cuda>::add_row(const cuda& dev, T* m, index_t rows, index_t cols, const T* b) {
  EBM_REQUIRE(rows >= 0 && cols >= 0, "blas<cuda>::add_row: negative size ", rows, " x ", cols);
  if (rows == 0 || cols == 0) return;
  detail::cuda_device_guard g(dev.device());
  detail::add_row_kernel<<<detail::cuda_blocks(rows * cols), detail::cuda_threads, 0,
                           dev.stream()>>>(m, rows, cols, b);
  EBM_CUDA_CHECK_LAUNCH();
}

}  // namespace ebm

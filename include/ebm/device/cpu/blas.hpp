#pragma once
// blas<cpu>: the dense linear algebra layers call (GEMM through Eigen, bias
// broadcasts and reductions).  Other devices specialise blas<D>.
#include "../../core/config.hpp"
#include "device.hpp"
#include "gemm.hpp"

namespace ebm {
template <class D> struct blas;
template <>
struct blas<cpu> {
  template <class T>
  static void gemm(const cpu&, bool ta, bool tb, index_t M, index_t N, index_t K, T alpha,
                   const T* A, index_t lda, const T* B, index_t ldb, T beta, T* C, index_t ldc) {
    cpu_kernels::gemm(ta, tb, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
  }
  /// out[j] (+)= sum_i m[i, j] for a row-major [rows, cols] matrix.
  template <class T>
  static void sum_rows(const cpu&, const T* m, index_t rows, index_t cols, T* out, bool accumulate) {
    if (!accumulate)
      for (index_t j = 0; j < cols; ++j) out[j] = T(0);
    for (index_t i = 0; i < rows; ++i)
      for (index_t j = 0; j < cols; ++j) out[j] += m[i * cols + j];
  }
  /// Adds the bias b[cols] to every row of m.
  template <class T>
  static void add_row(const cpu&, T* m, index_t rows, index_t cols, const T* b) {
    for (index_t i = 0; i < rows; ++i)
      for (index_t j = 0; j < cols; ++j) m[i * cols + j] += b[j];
  }
};
}  // namespace ebm

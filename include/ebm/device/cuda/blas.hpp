#pragma once
// blas<cuda>: the dense linear algebra layers call, on the GPU.  Same static
// functions as blas<cpu> (device/cpu/blas.hpp); all pointers are device
// pointers and all work is queued on the policy's stream.
//
// gemm is cuBLAS (host API, defined here).  Row-major operands are handed to
// column-major cuBLAS by the transposition identity: a row-major [r, c]
// buffer with leading dimension ld is the column-major [c, r] matrix, its
// transpose, so C = op(A) op(B) in row-major is C^T = op(B)^T op(A)^T in
// column-major, i.e. cublas<t>gemm(opB, opA, N, M, K, B, ldb, A, lda, C, ldc).
// sum_rows and add_row are kernels, declared here and defined in blas.cuh.
#include <climits>
#include <cstddef>
#include <type_traits>

#include "../../core/config.hpp"
#include "device.hpp"

namespace ebm {

template <class D> struct blas;

template <>
struct blas<cuda> {
  /// C[M,N] = alpha op(A) op(B) + beta C, row-major with leading dimensions
  /// lda/ldb/ldc; op(X) = X or X^T.  beta == 0 ignores C's contents.
  template <class T>
  static void gemm(const cuda& dev, bool ta, bool tb, index_t M, index_t N, index_t K, T alpha,
                   const T* A, index_t lda, const T* B, index_t ldb, T beta, T* C, index_t ldc) {
    static_assert(std::is_same_v<T, float> || std::is_same_v<T, double>,
                  "blas<cuda>::gemm supports float and double");
    EBM_REQUIRE(M >= 0 && N >= 0 && K >= 0, "blas<cuda>::gemm: negative size M = ", M, ", N = ", N,
                ", K = ", K);
    if (M == 0 || N == 0) return;
    EBM_REQUIRE(M <= INT_MAX && N <= INT_MAX && K <= INT_MAX && lda <= INT_MAX && ldb <= INT_MAX &&
                    ldc <= INT_MAX,
                "blas<cuda>::gemm: sizes beyond the 32-bit cuBLAS interface (M = ", M, ", N = ", N,
                ", K = ", K, ")");
    EBM_REQUIRE(ldc >= N && lda >= (ta ? M : K) && ldb >= (tb ? K : N),
                "blas<cuda>::gemm: leading dimensions too small (lda = ", lda, ", ldb = ", ldb,
                ", ldc = ", ldc, ")");
    detail::cuda_device_guard g(dev.device());
    const cublasHandle_t h = dev.cublas();
    const int m = static_cast<int>(M), n = static_cast<int>(N), k = static_cast<int>(K);
    if (K == 0) {  // C = beta C: no product
      if (beta == T(1)) return;
      if (beta == T(0)) {  // C is not read (BLAS semantics)
        EBM_CUDA_CHECK(cudaMemset2DAsync(C, sizeof(T) * static_cast<std::size_t>(ldc), 0,
                                         sizeof(T) * static_cast<std::size_t>(N),
                                         static_cast<std::size_t>(M), dev.stream()));
        return;
      }
      // One scal over the whole matrix when rows are contiguous, else per row.
      const bool packed = ldc == N && M * N <= INT_MAX;
      const index_t rows = packed ? 1 : M, len = packed ? M * N : N;
      for (index_t r = 0; r < rows; ++r) {
        if constexpr (std::is_same_v<T, float>)
          EBM_CUBLAS_CHECK(cublasSscal(h, int(len), &beta, C + r * ldc, 1));
        else
          EBM_CUBLAS_CHECK(cublasDscal(h, int(len), &beta, C + r * ldc, 1));
      }
      return;
    }
    const cublasOperation_t opa = ta ? CUBLAS_OP_T : CUBLAS_OP_N;
    const cublasOperation_t opb = tb ? CUBLAS_OP_T : CUBLAS_OP_N;
    if constexpr (std::is_same_v<T, float>)
      EBM_CUBLAS_CHECK(cublasSgemm(h, opb, opa, n, m, k, &alpha, B, int(ldb), A, int(lda), &beta, C,
                                   int(ldc)));
    else
      EBM_CUBLAS_CHECK(cublasDgemm(h, opb, opa, n, m, k, &alpha, B, int(ldb), A, int(lda), &beta, C,
                                   int(ldc)));
  }

  /// out[j] (+)= sum_i m[i, j] for a row-major [rows, cols] matrix.  The sum
  /// over rows has a fixed order (deterministic).  Defined in blas.cuh.
  template <class T>
  static void sum_rows(const cuda& dev, const T* m, index_t rows, index_t cols, T* out,
                       bool accumulate);
  /// Adds the bias b[cols] to every row of m.  Defined in blas.cuh.
  template <class T>
  static void add_row(const cuda& dev, T* m, index_t rows, index_t cols, const T* b);
};

}  // namespace ebm

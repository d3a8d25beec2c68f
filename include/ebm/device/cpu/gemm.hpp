#pragma once
// Dense matrix products on the host through Eigen (row-major views of raw
// buffers).  The only place the nn/ layers touch Eigen's Core for GEMM.
#include <Eigen/Core>

#include "../../core/config.hpp"

namespace ebm::cpu_kernels {

template <class T>
using row_matrix = Eigen::Matrix<T, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
template <class T>
using matrix_map = Eigen::Map<row_matrix<T>, Eigen::Unaligned, Eigen::OuterStride<>>;
template <class T>
using const_matrix_map = Eigen::Map<const row_matrix<T>, Eigen::Unaligned, Eigen::OuterStride<>>;

/// C[M,N] = alpha * op(A) * op(B) + beta * C, all row-major with leading
/// dimensions lda/ldb/ldc; op(X) = X or X^T.  beta == 0 ignores C's contents.
template <class T>
void gemm(bool trans_a, bool trans_b, index_t M, index_t N, index_t K, T alpha, const T* A,
          index_t lda, const T* B, index_t ldb, T beta, T* C, index_t ldc) {
  matrix_map<T> c(C, M, N, Eigen::OuterStride<>(ldc));
  if (K == 0) {
    if (beta == T(0)) c.setZero(); else c *= beta;
    return;
  }
  const_matrix_map<T> a(A, trans_a ? K : M, trans_a ? M : K, Eigen::OuterStride<>(lda));
  const_matrix_map<T> b(B, trans_b ? N : K, trans_b ? K : N, Eigen::OuterStride<>(ldb));
  if (beta == T(0)) {
    if (!trans_a && !trans_b) c.noalias() = alpha * a * b;
    else if (trans_a && !trans_b) c.noalias() = alpha * a.transpose() * b;
    else if (!trans_a && trans_b) c.noalias() = alpha * a * b.transpose();
    else c.noalias() = alpha * a.transpose() * b.transpose();
    return;
  }
  if (beta != T(1)) c *= beta;
  if (!trans_a && !trans_b) c.noalias() += alpha * a * b;
  else if (trans_a && !trans_b) c.noalias() += alpha * a.transpose() * b;
  else if (!trans_a && trans_b) c.noalias() += alpha * a * b.transpose();
  else c.noalias() += alpha * a.transpose() * b.transpose();
}

}  // namespace ebm::cpu_kernels

#pragma once
// attention_pool_kernels<cuda>: the passes of nn::attention_pool on the GPU.
// Features F are [N, C, S]; per sample the query q = mean_s F_s [C], the
// weights a = softmax_s(r <q, F_s>) [S] and the output z = sum_s a_s F_s
// [C].  Each pass is a few kernels with the host's formulas (nn/
// attention_pool.hpp): sums over positions (one block per (n, c) row, a
// deterministic block reduction), sums over channels (one thread per
// (n, s), channels in the host's order), the per-sample softmax and its
// tangents (one block per sample), and the elementwise input gradients.
// The scratch arrays are the layer's own (the host keeps the same ones).
//
// Declarations only: the kernels are in attention_pool.cuh.
#include "../../core/config.hpp"
#include "../../nn/attention_pool.hpp"
#include "device.hpp"

namespace ebm {

template <class D> struct attention_pool_kernels;

template <>
struct attention_pool_kernels<cuda> {
  /// q [N, C], a [N, S], z [N, C] from F; r = 1 / sqrt(C).
  template <class T>
  static void forward(const cuda& dev, const T* F, T* q, T* a, T* z, index_t n, index_t c,
                      index_t s, T r);
  /// dq [N, C], da [N, S] and dz [N, C] along dF.
  template <class T>
  static void forward_tangent(const cuda& dev, const T* F, const T* dF, const T* q, const T* a,
                              T* dq, T* da, T* dz, index_t n, index_t c, index_t s, T r);
  /// ga = F^T gz [N, S], aga = <a, ga> [N], ge = a (ga - aga) [N, S] and
  /// gq = r sum_s ge_s F_s [N, C].
  template <class T>
  static void backward_intermediates(const cuda& dev, const T* F, const T* a, const T* gz, T* ga,
                                     T* ge, T* aga, T* gq, index_t n, index_t c, index_t s, T r);
  /// gF = a_s gz + r ge_s q + gq / S.
  template <class T>
  static void backward(const cuda& dev, const T* q, const T* a, const T* gz, const T* ge,
                       const T* gq, T* gF, index_t n, index_t c, index_t s, T r);
  /// dgF along (dF, dgz); dge [N, S] and dgq [N, C] are scratch.
  template <class T>
  static void backward_tangent(const cuda& dev, const T* F, const T* dF, const T* q, const T* dq,
                               const T* a, const T* da, const T* gz, const T* dgz, const T* ga,
                               const T* ge, const T* aga, T* dge, T* dgq, T* dgF, index_t n,
                               index_t c, index_t s, T r);
};

}  // namespace ebm

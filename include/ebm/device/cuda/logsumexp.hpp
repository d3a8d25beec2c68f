#pragma once
// logsumexp_kernels<cuda>: the passes of nn::logsumexp_energy on the GPU.
// Logits f are [N, C, S] (C classes at each of S positions); p is the
// softmax over c at each position, pdx[n, s] = <p, dx> over c.  The formulas
// are the host's (nn/logsumexp.hpp), one position per thread; the sums over
// positions are deterministic block reductions, one block per sample.
//
// Declarations only: the kernels are in logsumexp.cuh.
#include "../../core/config.hpp"
#include "../../nn/logsumexp.hpp"
#include "device.hpp"

namespace ebm {

template <class D> struct logsumexp_kernels;

template <>
struct logsumexp_kernels<cuda> {
  /// p = softmax_c f at every position, y[n] = -sum_s logsumexp_c f[n, :, s].
  template <class T>
  static void forward(const cuda& dev, const T* f, T* p, T* y, index_t n, index_t c, index_t s);
  /// gx[n, c, s] = -gy[n] p[n, c, s].
  template <class T>
  static void backward(const cuda& dev, const T* p, const T* gy, T* gx, index_t n, index_t c,
                       index_t s);
  /// pdx[n, s] = sum_c p dx, dy[n] = -sum_s pdx[n, s].
  template <class T>
  static void forward_tangent(const cuda& dev, const T* p, const T* dx, T* pdx, T* dy, index_t n,
                              index_t c, index_t s);
  /// dgx = -dgy[n] p - gy[n] p (dx - pdx[n, s]).
  template <class T>
  static void backward_tangent(const cuda& dev, const T* p, const T* dx, const T* pdx,
                               const T* gy, const T* dgy, T* dgx, index_t n, index_t c,
                               index_t s);
};

}  // namespace ebm

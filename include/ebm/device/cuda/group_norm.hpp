#pragma once
// group_norm_kernels<cuda>: the passes of nn::group_norm on the GPU.
// Input [N, C, S] (S positions), G groups of cpg = C/G channels; group
// k = n G + g holds the M = cpg S contiguous elements from k M on, the
// channel of its element i is g cpg + i / S.  Per-group passes run one block
// per group, parameter gradients one block per channel; every statistic is a
// deterministic block reduction (no atomics).  The formulas are the host's
// (nn/group_norm.hpp); only the order of the sums differs.
//
// Declarations only: the kernels are in group_norm.cuh.
#include "../../core/config.hpp"
#include "../../nn/group_norm.hpp"
#include "device.hpp"

namespace ebm {

template <class D> struct group_norm_kernels;

template <>
struct group_norm_kernels<cuda> {
  /// xh = (x - mu) / sigma, y = w xh + b, sigma[k] = sqrt(var + eps).
  template <class T>
  static void forward(const cuda& dev, const T* x, const T* w, const T* b, T eps, T* xh, T* y,
                      T* sigma, index_t n, index_t c, index_t g, index_t s);
  /// gx = (w gy - mean(w gy) - xh mean(xh w gy)) / sigma.
  template <class T>
  static void backward(const cuda& dev, const T* xh, const T* gy, const T* w, const T* sigma, T* gx,
                       index_t n, index_t c, index_t g, index_t s);
  /// a = mean(xh dx) (dsigma[k] = a), dxh = (dx - mean(dx) - xh a) / sigma,
  /// dy = w dxh.
  template <class T>
  static void forward_tangent(const cuda& dev, const T* xh, const T* dx, const T* w,
                              const T* sigma, T* dxh, T* dy, T* dsigma, index_t n, index_t c,
                              index_t g, index_t s);
  /// dgx = (du - u dsigma / sigma) / sigma (see nn/group_norm.hpp).
  template <class T>
  static void backward_tangent(const cuda& dev, const T* xh, const T* dxh, const T* gy,
                               const T* dgy, const T* w, const T* sigma, const T* dsigma, T* dgx,
                               index_t n, index_t c, index_t g, index_t s);
  /// Per channel, sums over samples and positions: gw += sum a xh, gb += sum
  /// a; with gy2 and dxh (the tangent) gw += sum (a xh + gy2 dxh).
  template <class T>
  static void param_grads(const cuda& dev, const T* a, const T* xh, const T* gy2, const T* dxh,
                          T* gw, T* gb, index_t n, index_t c, index_t s);
};

}  // namespace ebm

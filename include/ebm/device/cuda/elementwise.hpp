#pragma once
// elementwise<cuda>: the elementwise kernels with derivatives that activation
// layers, branches, samplers and objectives call; same static functions as
// elementwise<cpu> (device/cpu/elementwise.hpp).  Pointers are device
// pointers; work is queued on the policy's stream.  The activation policy
// (nn/activation.hpp, whose f, f', f'' are EBM_HD) is a template parameter of
// the kernels, so each policy compiles into its own fused kernel.
//
// Declarations only: the kernels are defined in elementwise.cuh.
#include "../../core/config.hpp"
#include "device.hpp"

namespace ebm {

template <class D> struct elementwise;

template <>
struct elementwise<cuda> {
  /// y = f(x), d = f'(x).
  template <class Act, class T>
  static void act_forward(const cuda& dev, const Act& a, const T* x, T* y, T* d, index_t n);
  /// out = d * g.
  template <class T>
  static void mul(const cuda& dev, const T* d, const T* g, T* out, index_t n);
  /// dgx = f''(x) dx gy + f'(x) dgy (with d = f'(x)).
  template <class Act, class T>
  static void act_backward_tangent(const cuda& dev, const Act& a, const T* x, const T* d,
                                   const T* dx, const T* gy, const T* dgy, T* dgx, index_t n);
  /// y = alpha * x + y.
  template <class T>
  static void axpy(const cuda& dev, T alpha, const T* x, T* y, index_t n);
  /// out = a * x + b * y.
  template <class T>
  static void axpby(const cuda& dev, T a, const T* x, T b, const T* y, T* out, index_t n);
  /// out = alpha * x.
  template <class T>
  static void scale(const cuda& dev, T alpha, const T* x, T* out, index_t n);
};

}  // namespace ebm

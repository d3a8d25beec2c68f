#pragma once
// Host kernels for elementwise work with derivatives (activation layers) and
// the small vector operations samplers and objectives use.  Large arrays are
// split over the device's thread pool.
#include <cmath>

#include "../../core/tensor.hpp"
#include "device.hpp"

namespace ebm {

template <class D> struct elementwise;  // specialised per device

template <>
struct elementwise<cpu> {
  static constexpr index_t grain = 1 << 14;

  /// y = f(x), d = f'(x).
  template <class Act, class T>
  static void act_forward(const cpu& dev, const Act& a, const T* x, T* y, T* d, index_t n) {
    dev.parallel_for(n, grain, [&](index_t b, index_t e) {
      for (index_t i = b; i < e; ++i) {
        y[i] = a.f(x[i]);
        d[i] = a.df(x[i]);
      }
    });
  }
  /// out = d * g (backward and forward tangent of an elementwise map).
  template <class T>
  static void mul(const cpu& dev, const T* d, const T* g, T* out, index_t n) {
    dev.parallel_for(n, grain, [&](index_t b, index_t e) {
      for (index_t i = b; i < e; ++i) out[i] = d[i] * g[i];
    });
  }
  /// dgx = f''(x) dx gy + f'(x) dgy.
  template <class Act, class T>
  static void act_backward_tangent(const cpu& dev, const Act& a, const T* x, const T* d,
                                   const T* dx, const T* gy, const T* dgy, T* dgx, index_t n) {
    dev.parallel_for(n, grain, [&](index_t b, index_t e) {
      for (index_t i = b; i < e; ++i) dgx[i] = a.d2f(x[i]) * dx[i] * gy[i] + d[i] * dgy[i];
    });
  }
  /// y = alpha * x + y.
  template <class T>
  static void axpy(const cpu& dev, T alpha, const T* x, T* y, index_t n) {
    dev.parallel_for(n, grain, [&](index_t b, index_t e) {
      for (index_t i = b; i < e; ++i) y[i] += alpha * x[i];
    });
  }
  /// out = a * x + b * y.
  template <class T>
  static void axpby(const cpu& dev, T a, const T* x, T b, const T* y, T* out, index_t n) {
    dev.parallel_for(n, grain, [&](index_t lo, index_t hi) {
      for (index_t i = lo; i < hi; ++i) out[i] = a * x[i] + b * y[i];
    });
  }
  template <class T>
  static void scale(const cpu& dev, T alpha, const T* x, T* out, index_t n) {
    dev.parallel_for(n, grain, [&](index_t b, index_t e) {
      for (index_t i = b; i < e; ++i) out[i] = alpha * x[i];
    });
  }
};

}  // namespace ebm

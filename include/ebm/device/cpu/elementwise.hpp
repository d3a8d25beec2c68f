#pragma once
// Host kernels for elementwise work with derivatives (activation layers) and
// the small vector operations samplers and objectives use.  Large arrays are
// split over the device's thread pool.  Swish in float (the activation of
// both shipped energies) runs on AVX-512 with a vectorised sigmoid that f,
// f' and f'' share; every other activation evaluates its policy per element.
#include <cmath>
#include <type_traits>

#include "../../core/tensor.hpp"
#include "../../nn/activation.hpp"
#include "detail/simd_math.hpp"
#include "device.hpp"

namespace ebm {

template <class D> struct elementwise;  // specialised per device

template <>
struct elementwise<cpu> {
  static constexpr index_t grain = 1 << 14;

  /// y = f(x), d = f'(x).
  template <class Act, class T>
  static void act_forward(const cpu& dev, const Act& a, const T* x, T* y, T* d, index_t n) {
#if defined(__AVX512F__)
    if constexpr (std::is_same_v<Act, act::swish> && std::is_same_v<T, float>) {
      dev.parallel_for(n, grain, [&](index_t b, index_t e) { swish_forward(x + b, y + b, d + b, e - b); });
      return;
    }
#endif
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
#if defined(__AVX512F__)
    if constexpr (std::is_same_v<Act, act::swish> && std::is_same_v<T, float>) {
      dev.parallel_for(n, grain, [&](index_t b, index_t e) {
        swish_backward_tangent(x + b, d + b, dx + b, gy + b, dgy + b, dgx + b, e - b);
      });
      return;
    }
#endif
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

 private:
#if defined(__AVX512F__)
  // y = x s, d = s (1 + x (1 - s)) with s = sigmoid(x).
  static void swish_forward(const float* x, float* y, float* d, index_t n) {
    using namespace detail;
    const __m512 one = _mm512_set1_ps(1.0f);
    for (index_t i = 0; i < n; i += 16) {
      const __mmask16 m = tail_mask(n - i);
      const __m512 xv = _mm512_maskz_loadu_ps(m, x + i);
      const __m512 s = sigmoid_ps(xv);
      _mm512_mask_storeu_ps(y + i, m, _mm512_mul_ps(xv, s));
      _mm512_mask_storeu_ps(d + i, m, _mm512_mul_ps(s, _mm512_fmadd_ps(xv, _mm512_sub_ps(one, s), one)));
    }
  }
  // dgx = f''(x) dx gy + f'(x) dgy, f'' = s (1 - s) (2 + x (1 - 2 s)).
  static void swish_backward_tangent(const float* x, const float* d, const float* dx, const float* gy,
                                     const float* dgy, float* dgx, index_t n) {
    using namespace detail;
    const __m512 one = _mm512_set1_ps(1.0f), two = _mm512_set1_ps(2.0f);
    for (index_t i = 0; i < n; i += 16) {
      const __mmask16 m = tail_mask(n - i);
      const __m512 xv = _mm512_maskz_loadu_ps(m, x + i);
      const __m512 s = sigmoid_ps(xv);
      const __m512 d2 = _mm512_mul_ps(_mm512_mul_ps(s, _mm512_sub_ps(one, s)),
                                      _mm512_fmadd_ps(xv, _mm512_fnmadd_ps(two, s, one), two));
      const __m512 t = _mm512_mul_ps(_mm512_mul_ps(d2, _mm512_maskz_loadu_ps(m, dx + i)),
                                     _mm512_maskz_loadu_ps(m, gy + i));
      _mm512_mask_storeu_ps(dgx + i, m,
                            _mm512_fmadd_ps(_mm512_maskz_loadu_ps(m, d + i), _mm512_maskz_loadu_ps(m, dgy + i), t));
    }
  }
#endif
};

}  // namespace ebm

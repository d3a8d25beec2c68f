#pragma once
// Vectorised transcendental functions shared by the host kernels: e^x and the
// logistic sigmoid for 16 floats (AVX-512).  Where AVX-512 is absent the
// callers fall back to Eigen's packet math or scalar code.
#include "../../../core/config.hpp"

#if defined(__AVX512F__)
#include <immintrin.h>
#endif

namespace ebm::detail {

#if defined(__AVX512F__)
/// e^x for 16 floats (Cephes' expf: Cody-Waite reduction by ln 2 and a
/// degree-6 polynomial, within 2 ulp); overflows to +inf, underflows to 0.
EBM_INLINE __m512 exp_ps(__m512 x) {
  x = _mm512_min_ps(_mm512_max_ps(x, _mm512_set1_ps(-104.0f)), _mm512_set1_ps(89.0f));
  const __m512 n = _mm512_roundscale_ps(_mm512_mul_ps(x, _mm512_set1_ps(1.44269504088896341f)),
                                        _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
  __m512 r = _mm512_fnmadd_ps(n, _mm512_set1_ps(0.693359375f), x);
  r = _mm512_fnmadd_ps(n, _mm512_set1_ps(-2.12194440e-4f), r);
  __m512 p = _mm512_set1_ps(1.9875691500e-4f);
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.3981999507e-3f));
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(8.3334519073e-3f));
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(4.1665795894e-2f));
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.6666665459e-1f));
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(5.0000001201e-1f));
  p = _mm512_fmadd_ps(_mm512_mul_ps(p, r), r, _mm512_add_ps(r, _mm512_set1_ps(1.0f)));
  return _mm512_scalef_ps(p, n);
}

/// sigmoid(x) = 1 / (1 + e^-x) for 16 floats, with a reciprocal estimate
/// refined by one Newton step instead of a division (the division bounds a
/// pass over memory otherwise).  For x << 0, e^-x = inf, where the Newton
/// step would give NaN: that maps to 0.  Relative error about 1e-7.
EBM_INLINE __m512 sigmoid_ps(__m512 x) {
  const __m512 one = _mm512_set1_ps(1.0f);
  const __m512 e = exp_ps(_mm512_sub_ps(_mm512_setzero_ps(), x));
  const __m512 den = _mm512_add_ps(one, e);
  __m512 s = _mm512_rcp14_ps(den);
  s = _mm512_fmadd_ps(s, _mm512_fnmadd_ps(den, s, one), s);
  return _mm512_mask_blend_ps(_mm512_cmp_ps_mask(e, _mm512_set1_ps(__builtin_inff()), _CMP_EQ_OQ), s,
                              _mm512_setzero_ps());
}

/// Mask of the first min(16, n) lanes (for the tail of a loop).
EBM_INLINE __mmask16 tail_mask(long long n) {
  return n >= 16 ? __mmask16(0xFFFF) : __mmask16((1u << n) - 1);
}
#endif

}  // namespace ebm::detail

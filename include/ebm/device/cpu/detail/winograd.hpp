#pragma once
// Winograd's minimal filtering F(2x2, 3x3) and F(4x4, 3x3) (Lavin & Gray,
// 2016) for the host
// convolution: a 3x3 stride-1 correlation computes each 2x2 output block from
// a 4x4 input patch d as
//   Y = A^T [ (G g G^T) .* (B^T d B) ] A,
// 16 multiplies per input/output channel pair instead of 36.  Per channel
// pair the 16 products are independent, so over all channels they are 16
// GEMMs, U_xi[Cout, Cin] V_xi[Cin, tiles] (xi = 4 r + c), run by the register
// tile of the direct path; the transforms below work on 16 tiles at a time.
//
// Tiles come from the direct layout of a 4x4, stride-2, padding-1 view of the
// input (direct_plan): its stride phases put element (r, c) of the patch of
// tile (ty, tx) at shift[(ci 4 + r) 4 + c] + ty wq + tx, so 16 consecutive
// tiles of a row are 16 consecutive floats.
//
//        B^T = | 1  0 -1  0 |    G = | 1    0    0  |    A^T = | 1  1  1  0 |
//              | 0  1  1  0 |        | 1/2  1/2  1/2|          | 0  1 -1 -1 |
//              | 0 -1  1  0 |        | 1/2 -1/2  1/2|
//              | 0  1  0 -1 |        | 0    0    1  |
//
// F(4x4, 3x3) computes a 4x4 output block from a 6x6 patch with 36
// multiplies per channel pair instead of 144 (the same 36 as F(2x2, 3x3)
// spends on four blocks), so its GEMMs do 1.8x less work, and its transformed
// input and products, 36 values per 16 outputs instead of 16 per 4, move
// 1.8x less memory.  Its points 0, +-1, +-2 amplify rounding a little more
// (float results stay within about 1e-6 of double at these channel counts).
// The 6x6 patches come from a 6x6, stride-4, padding-1 view.
//
//   B^T = | 4  0 -5  0  1  0 |   G = |  1/4    0     0   |   A^T = | 1  1  1  1  1  0 |
//         | 0 -4 -4  1  1  0 |       | -1/6  -1/6  -1/6  |         | 0  1 -1  2 -2  0 |
//         | 0  4 -4 -1  1  0 |       | -1/6   1/6  -1/6  |         | 0  1  1  4  4  0 |
//         | 0 -2 -1  2  1  0 |       |  1/24  1/12  1/6  |         | 0  1 -1  8 -8  1 |
//         | 0  2 -1 -2  1  0 |       |  1/24 -1/12  1/6  |
//         | 0  4  0 -5  0  1 |       |  0     0     1    |
#include "../../../core/config.hpp"

#if defined(__AVX512F__)
#include <immintrin.h>
#endif

namespace ebm::detail {

/// U = G g G^T for one 3x3 kernel g (row-major); u[4 r + c].
template <class T>
inline void winograd_kernel_transform(const T* g, T* u) {
  T t[4][3];  // G g
  for (int c = 0; c < 3; ++c) {
    const T g0 = g[c], g1 = g[3 + c], g2 = g[6 + c];
    t[0][c] = g0;
    t[1][c] = T(0.5) * (g0 + g1 + g2);
    t[2][c] = T(0.5) * (g0 - g1 + g2);
    t[3][c] = g2;
  }
  for (int r = 0; r < 4; ++r) {
    const T a = t[r][0], b = t[r][1], c = t[r][2];
    u[4 * r + 0] = a;
    u[4 * r + 1] = T(0.5) * (a + b + c);
    u[4 * r + 2] = T(0.5) * (a - b + c);
    u[4 * r + 3] = c;
  }
}

/// F(4x4, 3x3): U = G g G^T for one 3x3 kernel g (row-major); u[6 r + c].
/// Computed in double (multiplications only: divisions made it 3% of a
/// Langevin step, as every pass transforms its kernels).
template <class T>
inline void winograd4_kernel_transform(const T* g, T* u) {
  auto col = [](double a, double b, double c, double* o) {  // G (a, b, c)^T
    constexpr double q = 1.0 / 4, s = 1.0 / 6, s2 = 1.0 / 12, s4 = 1.0 / 24;
    const double ac = s * (a + c), bb = s * b, e = s4 * a + s * c, f = s2 * b;
    o[0] = q * a;
    o[1] = -ac - bb;
    o[2] = bb - ac;
    o[3] = e + f;
    o[4] = e - f;
    o[5] = c;
  };
  double t[6][3], r[6];  // t = G g
  for (int c = 0; c < 3; ++c) {
    col(double(g[c]), double(g[3 + c]), double(g[6 + c]), r);
    for (int i = 0; i < 6; ++i) t[i][c] = r[i];
  }
  for (int i = 0; i < 6; ++i) {
    col(t[i][0], t[i][1], t[i][2], r);
    for (int j = 0; j < 6; ++j) u[6 * i + j] = T(r[j]);
  }
}

#if defined(__AVX512F__)
/// y = B^T x for six vectors (F(4x4, 3x3)).
EBM_INLINE void winograd4_bt(__m512 x0, __m512 x1, __m512 x2, __m512 x3, __m512 x4, __m512 x5,
                             __m512* y, int step) {
  const __m512 four = _mm512_set1_ps(4.f), five = _mm512_set1_ps(5.f), two = _mm512_set1_ps(2.f);
  const __m512 a = _mm512_fnmadd_ps(four, x2, x4);   // x4 - 4 x2
  const __m512 p = _mm512_fmsub_ps(four, x1, x3);    // 4 x1 - x3
  const __m512 b = _mm512_sub_ps(x4, x2);
  const __m512 q = _mm512_mul_ps(two, _mm512_sub_ps(x1, x3));
  y[0 * step] = _mm512_fmadd_ps(four, x0, _mm512_fnmadd_ps(five, x2, x4));
  y[1 * step] = _mm512_sub_ps(a, p);
  y[2 * step] = _mm512_add_ps(a, p);
  y[3 * step] = _mm512_sub_ps(b, q);
  y[4 * step] = _mm512_add_ps(b, q);
  y[5 * step] = _mm512_fmadd_ps(four, x1, _mm512_fnmadd_ps(five, x3, x5));
}

/// y = A^T m for six vectors (F(4x4, 3x3)).
EBM_INLINE void winograd4_at(__m512 m0, __m512 m1, __m512 m2, __m512 m3, __m512 m4, __m512 m5,
                             __m512* y, int step) {
  const __m512 s12 = _mm512_add_ps(m1, m2), d12 = _mm512_sub_ps(m1, m2);
  const __m512 s34 = _mm512_add_ps(m3, m4), d34 = _mm512_sub_ps(m3, m4);
  y[0 * step] = _mm512_add_ps(_mm512_add_ps(m0, s12), s34);
  y[1 * step] = _mm512_fmadd_ps(_mm512_set1_ps(2.f), d34, d12);
  y[2 * step] = _mm512_fmadd_ps(_mm512_set1_ps(4.f), s34, s12);
  y[3 * step] = _mm512_add_ps(_mm512_fmadd_ps(_mm512_set1_ps(8.f), d34, d12), m5);
}

/// F(4x4, 3x3) input transform of 16 grid positions: element (r, c) of the
/// patches is at src + sh[6 r + c].  Only the lanes in `keep` are tiles
/// (the grid has a column past the last tile of each row): their V_xi (xi =
/// 6 r + c) are packed to the front, in lane order, and stored at dst + xi
/// vstride under mask `store` (the first popcount(keep) lanes), so that the
/// columns of V hold tiles only.
EBM_INLINE void winograd4_input_transform_compact(const float* src, const index_t* sh, float* dst,
                                                  index_t vstride, __mmask16 keep, __mmask16 store) {
  __m512 t[36];  // B^T d, row-major
  for (int c = 0; c < 6; ++c)
    winograd4_bt(_mm512_loadu_ps(src + sh[c]), _mm512_loadu_ps(src + sh[6 + c]),
                 _mm512_loadu_ps(src + sh[12 + c]), _mm512_loadu_ps(src + sh[18 + c]),
                 _mm512_loadu_ps(src + sh[24 + c]), _mm512_loadu_ps(src + sh[30 + c]), t + c, 6);
  for (int r = 0; r < 6; ++r) {
    __m512 v[6];
    const __m512* q = t + 6 * r;
    winograd4_bt(q[0], q[1], q[2], q[3], q[4], q[5], v, 1);
    for (int c = 0; c < 6; ++c)
      _mm512_mask_storeu_ps(dst + (6 * r + c) * vstride, store, _mm512_maskz_compress_ps(keep, v[c]));
  }
}

/// F(4x4, 3x3) output transform of 16 tiles whose products M_xi are at
/// src + xi mstride (lanes outside mk read as 0): row i of the 4x4 blocks,
/// the blocks side by side, goes to rows[i][0 .. 64) (element 4 t + j is
/// output (i, j) of tile t).
EBM_INLINE void winograd4_output_transform(const float* src, index_t mstride, __mmask16 mk,
                                           float (*rows)[64]) {
  __m512 t[24];  // A^T m, 4 x 6
  for (int c = 0; c < 6; ++c) {
    const float* s = src + c * mstride;
    winograd4_at(_mm512_maskz_loadu_ps(mk, s), _mm512_maskz_loadu_ps(mk, s + 6 * mstride),
                 _mm512_maskz_loadu_ps(mk, s + 12 * mstride), _mm512_maskz_loadu_ps(mk, s + 18 * mstride),
                 _mm512_maskz_loadu_ps(mk, s + 24 * mstride), _mm512_maskz_loadu_ps(mk, s + 30 * mstride),
                 t + c, 6);
  }
  // Interleave 4 vectors (outputs j = 0..3 of 16 tiles) into 64 floats in
  // two rounds: (y0, y2) and (y1, y3) pairwise, then the pairs.
  const __m512i lo = _mm512_set_epi32(23, 7, 22, 6, 21, 5, 20, 4, 19, 3, 18, 2, 17, 1, 16, 0);
  const __m512i hi = _mm512_set_epi32(31, 15, 30, 14, 29, 13, 28, 12, 27, 11, 26, 10, 25, 9, 24, 8);
  for (int i = 0; i < 4; ++i) {
    __m512 y[4];
    const __m512* q = t + 6 * i;
    winograd4_at(q[0], q[1], q[2], q[3], q[4], q[5], y, 1);
    const __m512 a_lo = _mm512_permutex2var_ps(y[0], lo, y[2]), a_hi = _mm512_permutex2var_ps(y[0], hi, y[2]);
    const __m512 b_lo = _mm512_permutex2var_ps(y[1], lo, y[3]), b_hi = _mm512_permutex2var_ps(y[1], hi, y[3]);
    _mm512_storeu_ps(rows[i] + 0, _mm512_permutex2var_ps(a_lo, lo, b_lo));
    _mm512_storeu_ps(rows[i] + 16, _mm512_permutex2var_ps(a_lo, hi, b_lo));
    _mm512_storeu_ps(rows[i] + 32, _mm512_permutex2var_ps(a_hi, lo, b_hi));
    _mm512_storeu_ps(rows[i] + 48, _mm512_permutex2var_ps(a_hi, hi, b_hi));
  }
}

/// V = B^T d B for 16 tiles: d[4 r + c] are the patch elements of the tiles,
/// v[xi] the transformed values.
EBM_INLINE void winograd_input_transform(const __m512 d[16], __m512 v[16]) {
  __m512 t[16];  // B^T d
  for (int c = 0; c < 4; ++c) {
    t[0 + c] = _mm512_sub_ps(d[0 + c], d[8 + c]);
    t[4 + c] = _mm512_add_ps(d[4 + c], d[8 + c]);
    t[8 + c] = _mm512_sub_ps(d[8 + c], d[4 + c]);
    t[12 + c] = _mm512_sub_ps(d[4 + c], d[12 + c]);
  }
  for (int r = 0; r < 4; ++r) {
    const __m512* q = t + 4 * r;
    v[4 * r + 0] = _mm512_sub_ps(q[0], q[2]);
    v[4 * r + 1] = _mm512_add_ps(q[1], q[2]);
    v[4 * r + 2] = _mm512_sub_ps(q[2], q[1]);
    v[4 * r + 3] = _mm512_sub_ps(q[1], q[3]);
  }
}

/// Y = A^T m A for 16 tiles: y[2 i + k] is output (i, k) of each tile's block.
EBM_INLINE void winograd_output_transform(const __m512 m[16], __m512 y[4]) {
  __m512 s[8];  // A^T m, 2 x 4
  for (int c = 0; c < 4; ++c) {
    const __m512 m1 = m[4 + c], m2 = m[8 + c];
    s[c] = _mm512_add_ps(_mm512_add_ps(m[c], m1), m2);
    s[4 + c] = _mm512_sub_ps(_mm512_sub_ps(m1, m2), m[12 + c]);
  }
  for (int i = 0; i < 2; ++i) {
    const __m512* q = s + 4 * i;
    y[2 * i + 0] = _mm512_add_ps(_mm512_add_ps(q[0], q[1]), q[2]);
    y[2 * i + 1] = _mm512_sub_ps(_mm512_sub_ps(q[1], q[2]), q[3]);
  }
}
#endif

}  // namespace ebm::detail

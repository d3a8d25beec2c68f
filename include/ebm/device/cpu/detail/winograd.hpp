#pragma once
// Winograd's minimal filtering F(2x2, 3x3) (Lavin & Gray, 2016) for the host
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

#if defined(__AVX512F__)
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

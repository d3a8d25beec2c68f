#pragma once
// conv_kernels<cpu>: batched 2-D convolution on the host (NCHW activations,
// [Cout, Cin, k, k] weights, zero padding, square kernel and stride).
//
// Every pass but the dense one starts from one "prepared" copy of each input
// sample: zero-padded and split into its stride phases, so that kernel tap
// (c, ki, kj) is a constant shift of a flat output grid of Ho x Wq pixels
// (Wq = Wo + (k-1)/s; the Wq - Wo extra columns are computed and dropped).
// The implementations, chosen per call (forward_path, backward_data_path):
//
// * dense (any T, all three passes; a kernel that covers the whole unpadded
//   input, so one output pixel per sample): a dense layer on the flattened
//   NCHW samples, by Eigen GEMMs over each thread's samples, with no copy
//   of the input (y = X W^T, gx = gz W, gW += gz^T X).
// * winograd (float, AVX-512, 3x3 stride-1 padding-1 convolutions of even
//   planes >= 8x8 with >= 8 input channels, and their input gradients):
//   Winograd's F(4x4, 3x3) when both sides are multiples of 4 (36
//   multiplies per 4x4 block and channel pair instead of 144), else
//   F(2x2, 3x3) (16 per 2x2 block instead of 36; detail/winograd.hpp).  The
//   6x6 (4x4) input patches are read from the prepared copy of a 6x6
//   stride-4 (4x4 stride-2) view, and the 36 (16) GEMMs run through the
//   register tile of the direct path.
// * direct (float, AVX-512, output planes wide enough that the extra columns
//   and the last tile waste little): an 8-channel x 48-pixel register tile
//   runs over the grid, reading the shifted input directly -- no im2col
//   matrix, no GEMM packing.  The input gradient of a stride-1 convolution
//   is the stride-1 convolution of gz (padded by k-1-p) with the flipped,
//   transposed kernel, so it runs through the same tile, gz = f'(z) gy being
//   formed while the gradient is copied in.
// * panel (float, AVX-512, everything else): im2col rows are gathered from
//   the prepared copy by plain row copies, for as many samples as make whole
//   64-pixel tiles, and a 6 x 64 register tile multiplies them; strided input
//   gradients take the same route (W^T gz, then the adjoint gather).
// * filter gradients (float, AVX-512, output planes of 8x8 and more) read
//   the same prepared copy: gW[co, tap] accumulates the product of the
//   shifted input with the output gradient transposed to [pixel, channel],
//   a register tile of taps x 16-channel vectors (run_direct_filter_gradient).
// * im2col + Eigen GEMM (double, and the remaining cases), with several
//   samples per GEMM for small planes:
//     forward          pack[Cout, P] = W[Cout, Cin k k] * col[Cin k k, P]
//     backward-data    col = W^T * gz, then col2im
//     backward-filter  gW += gz * col^T
//
// The batch is split into one contiguous range of samples per thread
// (dev.parallel_for), each with its own scratch in a workspace the caller
// keeps between calls, so steady-state passes allocate nothing.  Filter
// gradients are summed per thread and reduced in thread order afterwards
// (deterministic for a given thread count).  Results are written to NCHW by
// an epilogue that fuses the bias, the activation and f' (forward), or a
// diagonal scale (tangents), into that single write.  A CUDA backend
// specialises the same trait with cuDNN.
#include <Eigen/Core>
#include <algorithm>
#include <cstdint>
#include <cstring>
#include <type_traits>
#include <utility>
#include <vector>

#include "../../core/config.hpp"
#include "../../core/error.hpp"
#include "../../core/shape.hpp"
#include "../../core/tensor.hpp"
#include "../../nn/activation.hpp"
#include "detail/simd_math.hpp"
#include "detail/winograd.hpp"
#include "device.hpp"
#include "gemm.hpp"

#if defined(__AVX512F__)
#include <immintrin.h>
#endif

namespace ebm {

/// Sizes of one batched convolution.
struct conv_geometry {
  index_t batch = 0, in_channels = 0, height = 0, width = 0;
  index_t out_channels = 0, kernel = 1, stride = 1, padding = 0;
  index_t out_height = 0, out_width = 0;

  /// The geometry for input [N, Cin, H, W] (the caller checked the shape).
  static conv_geometry make(const shape& in, index_t out_channels, index_t kernel,
                            index_t stride, index_t padding) {
    conv_geometry g;
    g.batch = in[0], g.in_channels = in[1], g.height = in[2], g.width = in[3];
    g.out_channels = out_channels, g.kernel = kernel, g.stride = stride, g.padding = padding;
    g.out_height = (g.height + 2 * padding - kernel) / stride + 1;
    g.out_width = (g.width + 2 * padding - kernel) / stride + 1;
    return g;
  }
  index_t in_plane() const { return height * width; }
  index_t out_plane() const { return out_height * out_width; }
  /// Rows of the im2col matrix (= columns of the weight matrix).
  index_t patch() const { return in_channels * kernel * kernel; }
  shape input_shape() const { return shape{batch, in_channels, height, width}; }
  shape output_shape() const { return shape{batch, out_channels, out_height, out_width}; }
  /// Multiply-accumulates of one forward pass.
  index_t macs() const { return batch * out_channels * out_plane() * patch(); }
};

template <class D> struct conv_kernels;  // specialised per device

namespace detail {

/// Fused GEMM-output write of the forward pass: z = acc + b, y = f(z),
/// d = f'(z) (z and d skipped when null).  The generic version evaluates the
/// policy per element; swish gets a vectorised specialisation (its sigmoid is
/// shared between f and f', and Eigen's packet exp replaces scalar exp), as
/// conv -> swish chains are what CF-EBM energies are made of.
template <class Act>
struct conv_activation_epilogue {
  template <class T>
  static void apply(const Act& a, const T* acc, T bias, T* y, T* z, T* d, index_t n) {
    for (index_t i = 0; i < n; ++i) {
      const T v = acc[i] + bias;
      y[i] = a.f(v);
      if (z) z[i] = v;
      if (d) d[i] = a.df(v);
    }
  }
};

template <>
struct conv_activation_epilogue<act::identity> {
  template <class T>
  static void apply(const act::identity&, const T* acc, T bias, T* y, T* z, T* d, index_t n) {
    for (index_t i = 0; i < n; ++i) y[i] = acc[i] + bias;
    if (z) std::copy_n(y, n, z);
    if (d) std::fill_n(d, n, T(1));
  }
};

template <>
struct conv_activation_epilogue<act::swish> {
  template <class T>
  static void apply(const act::swish& a, const T* acc, T bias, T* y, T* z, T* d, index_t n) {
#if defined(__AVX512F__)
    if constexpr (std::is_same_v<T, float>) {
      apply_avx512(acc, bias, y, z, d, n);
      return;
    }
#endif
    apply_eigen(a, acc, bias, y, z, d, n);
  }

 private:
  template <class T>
  static void apply_eigen(const act::swish&, const T* acc, T bias, T* y, T* z, T* d, index_t n) {
    using array = Eigen::Array<T, Eigen::Dynamic, 1>;
    constexpr index_t block = 256;
    alignas(64) T zb[block], sb[block];
    for (index_t i0 = 0; i0 < n; i0 += block) {
      const index_t m = std::min(block, n - i0);
      Eigen::Map<array> zv(zb, m), s(sb, m);
      zv = Eigen::Map<const array>(acc + i0, m) + bias;
      // sigmoid(z) = 1 / (1 + e^-z) needs no branch: for z << 0, e^-z is
      // huge (or inf) and the sigmoid (about) 0; for z >> 0 it is 1.
      s = (T(1) + (-zv).exp()).inverse();
      Eigen::Map<array>(y + i0, m) = zv * s;
      if (d) Eigen::Map<array>(d + i0, m) = s * (T(1) + zv * (T(1) - s));
      if (z) Eigen::Map<array>(z + i0, m) = zv;
    }
  }
#if defined(__AVX512F__)
  // The same with sigmoid_ps (detail/simd_math.hpp), 16 lanes at a time.
  static void apply_avx512(const float* acc, float bias, float* y, float* z, float* d,
                           index_t n) {
    const __m512 one = _mm512_set1_ps(1.0f), b = _mm512_set1_ps(bias);
    for (index_t i = 0; i < n; i += 16) {
      const __mmask16 m = tail_mask(n - i);
      const __m512 zv = _mm512_add_ps(_mm512_maskz_loadu_ps(m, acc + i), b);
      const __m512 s = sigmoid_ps(zv);
      _mm512_mask_storeu_ps(y + i, m, _mm512_mul_ps(zv, s));
      if (d)  // s (1 + z (1 - s))
        _mm512_mask_storeu_ps(d + i, m,
                              _mm512_mul_ps(s, _mm512_fmadd_ps(zv, _mm512_sub_ps(one, s), one)));
      if (z) _mm512_mask_storeu_ps(z + i, m, zv);
    }
  }
#endif
};

/// The range [lo, hi) of output columns ow whose input column
/// ow * stride - padding + kj lies inside [0, width).
inline void valid_columns(index_t width, index_t out_width, index_t stride, index_t padding,
                          index_t kj, index_t& lo, index_t& hi) {
  const index_t first = padding - kj;          // need ow * stride >= first
  const index_t last = width - 1 + padding - kj;  // need ow * stride <= last
  lo = first > 0 ? (first + stride - 1) / stride : 0;
  hi = last >= 0 ? std::min(out_width, last / stride + 1) : 0;
  lo = std::min(lo, hi);
}

/// Rows and pixels of one register tile of the direct path ...
inline constexpr index_t direct_rows = 8, direct_pixels = 48;
/// ... and of the panel path (a whole 8x8 plane per tile).
inline constexpr index_t panel_rows = 6, panel_pixels = 64;

/// The direct layout of one convolution (see the header comment).  The
/// prepared input of a sample holds, for every channel c and stride phase
/// (rh, rw), a sub-plane of hq x wq values xpad[c, hq s + rh, wq s + rw]
/// (xpad = the zero-padded input); tap (c, ki, kj) of output grid pixel j =
/// oh wq + ow then reads element shift[c, ki, kj] + j.
struct direct_plan {
  index_t cin = 0, cout = 0, height = 0, width = 0, kernel = 1, stride = 1, padding = 0;
  index_t out_height = 0, out_width = 0;
  index_t hq = 0, wq = 0;  // sub-plane rows and columns
  index_t grid = 0;        // output grid pixels per channel, a whole number of tiles
  index_t prepared = 0;    // floats of one prepared sample, with the overrun margin

  static direct_plan make(index_t cin, index_t cout, index_t height, index_t width,
                          index_t kernel, index_t stride, index_t padding) {
    direct_plan p;
    p.cin = cin, p.cout = cout, p.height = height, p.width = width;
    p.kernel = kernel, p.stride = stride, p.padding = padding;
    p.out_height = (height + 2 * padding - kernel) / stride + 1;
    p.out_width = (width + 2 * padding - kernel) / stride + 1;
    const index_t reach = (kernel - 1) / stride;  // largest shift in sub-plane units
    p.hq = p.out_height + reach;
    p.wq = p.out_width + reach;
    p.grid = (p.out_height * p.wq + direct_pixels - 1) / direct_pixels * direct_pixels;
    // The last tile may read past the last sub-plane by at most
    // grid - out_height wq + reach elements.
    p.prepared = cin * stride * stride * p.hq * p.wq + direct_pixels + reach + 16;
    return p;
  }
  index_t sub_plane() const { return hq * wq; }
  index_t taps() const { return cin * kernel * kernel; }
  index_t padded_cout() const { return (cout + direct_rows - 1) / direct_rows * direct_rows; }
  /// Computed grid pixels per useful output pixel.
  double waste() const { return double(grid) / double(out_height * out_width); }

  /// shift[(c k + ki) k + kj] for every tap; returns out.
  const index_t* shifts(index_t* out) const {
    const index_t k = kernel, s = stride;
    for (index_t c = 0; c < cin; ++c)
      for (index_t ki = 0; ki < k; ++ki)
        for (index_t kj = 0; kj < k; ++kj)
          out[(c * k + ki) * k + kj] = ((c * s + ki % s) * s + kj % s) * sub_plane() +
                                       (ki / s) * wq + kj / s;
    return out;
  }

  /// Writes the prepared layout of one sample x [cin, height, width],
  /// multiplied elementwise by `scale` (same shape) when it is non-null.
  /// `out` holds `prepared` floats followed by a row buffer of
  /// `row_buffer()` floats (strided convolutions split rows through it).
  template <class T>
  void prepare(const T* x, const T* scale, T* out) const {
    const index_t s = stride, H = height, W = width, body = cin * s * s * sub_plane();
#if defined(__AVX512F__)
    if constexpr (std::is_same_v<T, float>) {
      // Stride-1 rows shorter than a vector copy faster in the scalar loop
      // below (the top block's 4x4 layer: 1.04 -> 0.84 ms forward + input
      // gradient).
      if (((s == 1 && W >= 16) || s == 2 || s == 4) && s * ((wq + 15) / 16) <= max_row_vectors) {
        prepare_phases(x, scale, out);
        std::fill(out + body, out + prepared, T(0));
        return;
      }
    }
#endif
    T* rb = out + prepared;
    for (index_t c = 0; c < cin; ++c)
      for (index_t hp = 0; hp < s * hq; ++hp) {  // rows of the padded image
        const index_t rh = hp % s, r = hp / s, h = hp - padding;
        T* d0 = out + (c * s + rh) * s * sub_plane() + r * wq;  // phase rw is at + rw sub-planes
        if (h < 0 || h >= H) {
          for (index_t rw = 0; rw < s; ++rw) std::fill_n(d0 + rw * sub_plane(), wq, T(0));
          continue;
        }
        const T* src = x + (c * H + h) * W;
        const T* sc = scale ? scale + (c * H + h) * W : nullptr;
        if (s == 1) {
          index_t lo, hi;
          valid_columns(W, wq, 1, padding, 0, lo, hi);
          std::fill_n(d0, lo, T(0));
          if (sc)
            for (index_t q = lo; q < hi; ++q) d0[q] = src[q - padding] * sc[q - padding];
          else
            for (index_t q = lo; q < hi; ++q) d0[q] = src[q - padding];
          std::fill_n(d0 + hi, wq - hi, T(0));
          continue;
        }
        // Strided: pad the row once, then deinterleave its s phases.
        const index_t len = s * wq, n = std::clamp<index_t>(len - padding, 0, W);
        std::fill_n(rb, std::min(padding, len), T(0));
        if (sc)
          for (index_t i = 0; i < n; ++i) rb[padding + i] = src[i] * sc[i];
        else
          std::copy_n(src, n, rb + padding);
        if (padding + n < len) std::fill(rb + padding + n, rb + len, T(0));
        for (index_t rw = 0; rw < s; ++rw)
          for (index_t q = 0; q < wq; ++q) d0[rw * sub_plane() + q] = rb[q * s + rw];
      }
    std::fill(out + body, out + prepared, T(0));
  }
  /// Scratch floats `prepare` needs after the prepared layout.
  index_t row_buffer() const { return stride * wq; }

#if defined(__AVX512F__)
  /// unprepare's row for stride 2: dst[w] = phase (w + padding) % 2 at
  /// column (w + padding) / 2, 0 where the layout does not hold it.  The two
  /// phases are interleaved by permutes and stored with masks, shifted by a
  /// permute where the padding starts inside a vector (nothing outside the
  /// row is written).
  void interleave_row(const float* row, float* dst, index_t W) const {
    const __m512i lo = _mm512_set_epi32(23, 7, 22, 6, 21, 5, 20, 4, 19, 3, 18, 2, 17, 1, 16, 0);
    const __m512i hi = _mm512_set_epi32(31, 15, 30, 14, 29, 13, 28, 12, 27, 11, 26, 10, 25, 9, 24, 8);
    const __m512i iota = _mm512_set_epi32(15, 14, 13, 12, 11, 10, 9, 8, 7, 6, 5, 4, 3, 2, 1, 0);
    const index_t held = 2 * wq;  // padded positions the layout holds
    if (held - padding < W) std::fill_n(dst, W, 0.0f);
    const index_t end = std::min(W + padding, held);  // padded positions [padding, end) are written
    auto store = [&](index_t base, __m512 v) {  // v: padded positions base .. base + 15
      const index_t a = std::clamp<index_t>(padding - base, 0, 16), b = std::clamp<index_t>(end - base, 0, 16);
      if (b <= a) return;
      if (a > 0) v = _mm512_permutexvar_ps(_mm512_add_epi32(iota, _mm512_set1_epi32(int(a))), v);
      _mm512_mask_storeu_ps(dst + base + a - padding, tail_mask(b - a), v);
    };
    for (index_t q = 0; q < wq; q += 16) {
      const __mmask16 mk = tail_mask(std::min<index_t>(16, wq - q));
      const __m512 p0 = _mm512_maskz_loadu_ps(mk, row + q), p1 = _mm512_maskz_loadu_ps(mk, row + sub_plane() + q);
      store(2 * q, _mm512_permutex2var_ps(p0, lo, p1));
      store(2 * q + 16, _mm512_permutex2var_ps(p0, hi, p1));
    }
  }

  static constexpr index_t max_row_vectors = 64, prefetch_rows = 8;

  /// Asks for the cache line of p[off].  The activations a layer reads were
  /// written by the layer before, usually out of cache by now, and their
  /// rows are read a few at a time between many stores, which the hardware
  /// prefetchers follow poorly: prefetching eight rows ahead made the
  /// Winograd layers 9-17% faster and the CF-EBM Langevin step 8-12%.
  /// (Prefetching the outputs of the epilogues and of unprepare for writing
  /// measured no gain.)  A prefetch never faults, so off may point past the
  /// tensor.
  static void prefetch_line(const float* p, index_t off) {
    const auto* a = reinterpret_cast<const char*>(reinterpret_cast<std::uintptr_t>(p) +
                                                  static_cast<std::uintptr_t>(off * index_t(sizeof(float))));
    _mm_prefetch(a, _MM_HINT_T0);
  }

  /// prepare() for stride 1, 2 or 4 (float): every padded row is split into
  /// its s column phases by rounds of even/odd permutes.  The source row is
  /// read in aligned vectors (masked at its end, so nothing past it is
  /// read), and vector v of the padded row (padded positions 16 v .. 16 v +
  /// 15) is cut from source vectors v - 1 and v by one permute that shifts
  /// in the left padding; rows in the padding are stored as zeros.  The
  /// masks are the same for every row and computed once (the row routine
  /// this replaced redid them, with two integer divisions, per row: 1.3-1.5x
  /// slower with the input in cache, 1.8-3x from a cold cache).
  void prepare_phases(const float* x, const float* scale, float* out) const {
    const index_t s = stride, H = height, W = width, sub = sub_plane();
    const index_t groups = (wq + 15) / 16, nv = s * groups;
    __mmask16 load_mask[max_row_vectors], store_mask[max_row_vectors];
    for (index_t v = 0; v < nv; ++v) load_mask[v] = 16 * v < W ? tail_mask(W - 16 * v) : __mmask16(0);
    for (index_t g = 0; g < groups; ++g) store_mask[g] = tail_mask(wq - 16 * g);
    // Lane i of padded vector v: lane 16 - padding + i of [source v - 1, source v].
    const index_t pad = padding % 16;
    const __m512i shift = _mm512_add_epi32(_mm512_set_epi32(15, 14, 13, 12, 11, 10, 9, 8, 7, 6, 5, 4, 3, 2, 1, 0),
                                           _mm512_set1_epi32(int(16 - pad)));
    const index_t skip = padding / 16;  // whole zero vectors of left padding
    const __m512i ev = _mm512_set_epi32(30, 28, 26, 24, 22, 20, 18, 16, 14, 12, 10, 8, 6, 4, 2, 0);
    const __m512i od = _mm512_set_epi32(31, 29, 27, 25, 23, 21, 19, 17, 15, 13, 11, 9, 7, 5, 3, 1);
    const __m512 zero = _mm512_setzero_ps();
    for (index_t c = 0; c < cin; ++c)
      for (index_t r = 0; r < hq; ++r)
        for (index_t rh = 0; rh < s; ++rh) {
          float* d0 = out + (c * s + rh) * s * sub + r * wq;  // phase rw is at + rw sub-planes
          const index_t h = r * s + rh - padding;
          if (h < 0 || h >= H) {
            for (index_t rw = 0; rw < s; ++rw)
              for (index_t g = 0; g < groups; ++g) _mm512_mask_storeu_ps(d0 + rw * sub + 16 * g, store_mask[g], zero);
            continue;
          }
          const float* src = x + (c * H + h) * W;
          const float* sc = scale ? scale + (c * H + h) * W : nullptr;
          for (index_t u = 0; u < W; u += 16) {  // a few rows ahead: the input is usually cold
            prefetch_line(src, prefetch_rows * W + u);
            if (sc) prefetch_line(sc, prefetch_rows * W + u);
          }
          auto source = [&](index_t u) {  // source vector u (zero outside the row)
            if (u < 0 || 16 * u >= W) return zero;
            const __m512 a = _mm512_maskz_loadu_ps(load_mask[u], src + 16 * u);
            return sc ? _mm512_mul_ps(a, _mm512_maskz_loadu_ps(load_mask[u], sc + 16 * u)) : a;
          };
          __m512 prev = source(-1 - skip);
          auto next = [&](index_t v) {  // padded vector v, v = 0, 1, ... in turn
            const __m512 cur = source(v - skip);
            const __m512 out_v = pad == 0 ? cur : _mm512_permutex2var_ps(prev, shift, cur);
            prev = cur;
            return out_v;
          };
          for (index_t g = 0; g < groups; ++g) {
            float* d = d0 + 16 * g;
            const __mmask16 mk = store_mask[g];
            if (s == 1) {
              _mm512_mask_storeu_ps(d, mk, next(g));
            } else if (s == 2) {
              const __m512 a = next(2 * g), b = next(2 * g + 1);
              _mm512_mask_storeu_ps(d, mk, _mm512_permutex2var_ps(a, ev, b));
              _mm512_mask_storeu_ps(d + sub, mk, _mm512_permutex2var_ps(a, od, b));
            } else {
              const __m512 a0 = next(4 * g), a1 = next(4 * g + 1), a2 = next(4 * g + 2), a3 = next(4 * g + 3);
              const __m512 e01 = _mm512_permutex2var_ps(a0, ev, a1), o01 = _mm512_permutex2var_ps(a0, od, a1);
              const __m512 e23 = _mm512_permutex2var_ps(a2, ev, a3), o23 = _mm512_permutex2var_ps(a2, od, a3);
              _mm512_mask_storeu_ps(d, mk, _mm512_permutex2var_ps(e01, ev, e23));
              _mm512_mask_storeu_ps(d + sub, mk, _mm512_permutex2var_ps(o01, ev, o23));
              _mm512_mask_storeu_ps(d + 2 * sub, mk, _mm512_permutex2var_ps(e01, od, e23));
              _mm512_mask_storeu_ps(d + 3 * sub, mk, _mm512_permutex2var_ps(o01, od, o23));
            }
          }
        }
  }

#endif

  /// f(tap, offset in the layout, offset in the plane, width) over the
  /// contiguous runs of every tap's window: one run per output row, or one
  /// for the whole plane when the grid has no extra columns.  Narrow widths
  /// are compile-time constants so that the copies unroll.
  template <class F>
  void for_rows(F&& f) const {
    const index_t rows = wq == out_width ? 1 : out_height;
    const index_t width = wq == out_width ? out_height * out_width : out_width;
    auto run = [&](auto w) {
      for (index_t t = 0; t < taps(); ++t)
        for (index_t r = 0; r < rows; ++r) f(t, r * wq, r * width, w);
    };
    switch (width) {
      case 1: run(std::integral_constant<index_t, 1>{}); break;
      case 2: run(std::integral_constant<index_t, 2>{}); break;
      case 4: run(std::integral_constant<index_t, 4>{}); break;
      case 8: run(std::integral_constant<index_t, 8>{}); break;
      case 16: run(std::integral_constant<index_t, 16>{}); break;
      default: run(width); break;
    }
  }

  /// im2col from the prepared layout: col[t, oh Wo + ow] = xp[shift[t] + oh
  /// wq + ow] for every tap t (shift from shifts()), rows ld apart: plain
  /// row copies, as the padding is in xp.
  template <class T>
  void gather(const T* xp, const index_t* shift, T* col, index_t ld) const {
    for_rows([&](index_t t, index_t src_off, index_t dst_off, auto width) {
      const T* src = xp + shift[t] + src_off;
      T* dst = col + t * ld + dst_off;
      for (index_t i = 0; i < width; ++i) dst[i] = src[i];
    });
  }
  /// The adjoint of gather: xp (zeroed first) accumulates col.
  template <class T>
  void scatter(const T* col, index_t ld, const index_t* shift, T* xp) const {
    std::fill_n(xp, cin * stride * stride * sub_plane(), T(0));
    for_rows([&](index_t t, index_t src_off, index_t dst_off, auto width) {
      T* dst = xp + shift[t] + src_off;
      const T* src = col + t * ld + dst_off;
      for (index_t i = 0; i < width; ++i) dst[i] += src[i];
    });
  }
  /// The adjoint of prepare (without scale): x[c, h, w] = xp at the padded
  /// position (h + p, w + p); what landed in the padding is dropped, and
  /// pixels the layout does not hold (beyond the last window of a strided
  /// convolution) get 0.
  template <class T>
  void unprepare(const T* xp, T* x) const {
    const index_t s = stride, H = height, W = width;
    for (index_t c = 0; c < cin; ++c)
      for (index_t h = 0; h < H; ++h) {
        const index_t hp = h + padding;
        T* dst = x + (c * H + h) * W;
        if (hp / s >= hq) {
          std::fill_n(dst, W, T(0));
          continue;
        }
        const T* row = xp + (c * s + hp % s) * s * sub_plane() + (hp / s) * wq;
        if (s == 1) {
          std::copy_n(row + padding, W, dst);
          continue;
        }
#if defined(__AVX512F__)
        if constexpr (std::is_same_v<T, float>) {
          if (s == 2) {
            interleave_row(row, dst, W);
            continue;
          }
        }
#endif
        // Phase rw holds the columns w = q s + rw - padding.
        std::fill_n(dst, W, T(0));
        for (index_t rw = 0; rw < s; ++rw) {
          index_t lo, hi;
          valid_columns(W, wq, s, padding, rw, lo, hi);
          const T* src = row + rw * sub_plane();
          for (index_t q = lo; q < hi; ++q) dst[q * s + rw - padding] = src[q];
        }
      }
  }
};

#if defined(__AVX512F__)
/// The register tile of both fast paths: for r < R,
///   C[r, 0 .. 16 V) = sum_t A[t, r] X[shift[t] + 0 .. 16 V),
/// with A packed [taps, R] and R V zmm accumulators; per tap V unaligned loads
/// of X and R broadcasts of A.  X rows at arbitrary shifts cover both the
/// direct layout (shifted views of one grid) and im2col rows (shift t ld).
template <int R, int V>
inline void gemm_tile(index_t taps, const float* A, const float* X, const index_t* shift,
                      float* C, index_t ldc) {
  static_assert(R * V + V < 32, "the tile must fit the 32 zmm registers");
  __m512 acc[R][V];
#pragma GCC unroll 16
  for (int r = 0; r < R; ++r)
#pragma GCC unroll 4
    for (int v = 0; v < V; ++v) acc[r][v] = _mm512_setzero_ps();
  for (index_t t = 0; t < taps; ++t) {
    const float* x = X + shift[t];
    __m512 b[V];
#pragma GCC unroll 4
    for (int v = 0; v < V; ++v) b[v] = _mm512_loadu_ps(x + 16 * v);
    const float* a = A + t * R;
#pragma GCC unroll 16
    for (int r = 0; r < R; ++r) {
      const __m512 w = _mm512_set1_ps(a[r]);
#pragma GCC unroll 4
      for (int v = 0; v < V; ++v) acc[r][v] = _mm512_fmadd_ps(w, b[v], acc[r][v]);
    }
  }
#pragma GCC unroll 16
  for (int r = 0; r < R; ++r)
#pragma GCC unroll 4
    for (int v = 0; v < V; ++v) _mm512_storeu_ps(C + r * ldc + 16 * v, acc[r][v]);
}

/// The filter-gradient tile: for r < R taps and v < V vectors of 16 output
/// channels,
///   G[r, 16 v .. 16 v + 16) += sum_{j < n} X[shift[r] + j] Z[j, 16 v .. 16 v + 16),
/// with Z the output gradient transposed to [grid pixel, channel] (ldz apart)
/// and G rows ldg apart.  Per pixel V loads of Z and R broadcasts of X; the
/// R V accumulators stay in registers over the whole run, so no horizontal
/// sums are needed.
template <int R, int V>
inline void wgrad_tile(index_t n, const float* X, const index_t* shift, const float* Z,
                       index_t ldz, float* G, index_t ldg) {
  static_assert(R * V + V < 32, "the tile must fit the 32 zmm registers");
  __m512 acc[R][V];
  const float* x[R];
#pragma GCC unroll 16
  for (int r = 0; r < R; ++r) {
    x[r] = X + shift[r];
#pragma GCC unroll 4
    for (int v = 0; v < V; ++v) acc[r][v] = _mm512_loadu_ps(G + r * ldg + 16 * v);
  }
  for (index_t j = 0; j < n; ++j) {
    __m512 b[V];
#pragma GCC unroll 4
    for (int v = 0; v < V; ++v) b[v] = _mm512_loadu_ps(Z + j * ldz + 16 * v);
#pragma GCC unroll 16
    for (int r = 0; r < R; ++r) {
      const __m512 w = _mm512_set1_ps(x[r][j]);
#pragma GCC unroll 4
      for (int v = 0; v < V; ++v) acc[r][v] = _mm512_fmadd_ps(w, b[v], acc[r][v]);
    }
  }
#pragma GCC unroll 16
  for (int r = 0; r < R; ++r)
#pragma GCC unroll 4
    for (int v = 0; v < V; ++v) _mm512_storeu_ps(G + r * ldg + 16 * v, acc[r][v]);
}
#endif

}  // namespace detail

template <>
struct conv_kernels<cpu> {
  /// Samples per GEMM are chosen so that the GEMM has at least this many
  /// columns ...
  static constexpr index_t target_columns = 1024;
  /// ... while one chunk's im2col matrix stays below this many bytes (about
  /// half of a core's L2 cache).
  static constexpr index_t col_budget_bytes = 512 * 1024;
  /// 1x1 stride-1 convolutions on planes this large use the input directly.
  static constexpr index_t pointwise_min_plane = 256;
  /// The direct path is taken when it computes at most this many grid pixels
  /// per output pixel (small planes waste too much of the last tile and of
  /// the extra columns; they take the panel path).
  static constexpr double direct_max_waste = 1.2;
  /// Winograd convolutions need at least this many input channels ...
  static constexpr index_t winograd_min_channels = 8;
  /// ... and process tiles in blocks whose transformed input and products
  /// take at most this many bytes (to stay in a core's L2 cache).
  static constexpr index_t winograd_block_bytes = 768 * 1024;
  /// Filter gradients take the direct kernel from this output plane size on.
  static constexpr index_t wgrad_min_plane = 64;
  /// Grid pixels per block of the direct filter gradient (the block of the
  /// transposed output gradient stays in L1 while every tap passes over it).
  static constexpr index_t wgrad_block = 128;
  /// The panel path's per-thread column matrix stays below this size.
  static constexpr index_t panel_budget_bytes = 8 << 20;

  /// Scratch kept by the caller between calls: per-thread buffers, and the
  /// packed weights and shift tables of a call (shared by its threads).
  template <class T>
  class workspace {
   public:
    struct slot {
      tensor<T> col, pack, gw, gb, prepared;
    };
    slot& at(index_t t) { return slots_[static_cast<std::size_t>(t)]; }
    void reserve(index_t n) {
      if (static_cast<index_t>(slots_.size()) < n) slots_.resize(static_cast<std::size_t>(n));
    }
    tensor<index_t> shifts, taps;
    /// Winograd F(4x4): per vector of 16 grid positions, its tiles and the
    /// column of the first (run_winograd).
    std::vector<index_t> lanes;
    /// Weights packed for a kernel, kept with the raw weights they came
    /// from: a Langevin chain runs one network many times with unchanged
    /// weights, and packing runs serially on the calling thread while the
    /// other threads wait.  The Winograd transform was 9% of an 8x8,
    /// 128-channel layer; the panel packs (a strided gather for the input
    /// gradient) were 2% of a CF-EBM Langevin step on 2 threads.
    struct transformed {
      tensor<T> packed;
      std::vector<T> key;  ///< the raw weights packed
      int layout = 0;      ///< Winograd's TM, or the panel's rows (0: nothing packed)
      index_t m = 0, k = 0;
    };
    /// Of the forward (0) and input-gradient (1) passes.
    transformed winograd_weights[2], panel_weights[2];

   private:
    std::vector<slot> slots_;
  };

  /// The raw weights a pass packs: `count` values at `data`, for the
  /// forward (0) or the input-gradient (1) pass.
  template <class T>
  struct raw_weights {
    const T* data;
    index_t count;
    int pass;
  };

  /// c.packed as pack(c.packed) writes it for an m x k matrix in `layout`:
  /// the cached copy when it was made from the same raw weights (same bits),
  /// else packed anew.
  template <class T, class Pack>
  static const T* cached_pack(typename workspace<T>::transformed& c, const raw_weights<T>& raw, int layout,
                              index_t m, index_t k, Pack pack) {
    const auto bytes = static_cast<std::size_t>(raw.count) * sizeof(T);
    if (c.layout != layout || c.m != m || c.k != k || c.key.size() != static_cast<std::size_t>(raw.count) ||
        std::memcmp(c.key.data(), raw.data, bytes) != 0) {
      c.layout = 0;  // invalid until packed (pack may throw on allocation)
      pack(c.packed);
      c.key.assign(raw.data, raw.data + raw.count);
      c.layout = layout, c.m = m, c.k = k;
    }
    return c.packed.data();
  }

  /// The implementation a pass takes (see the header comment).
  enum class conv_path { winograd, direct, panel, gemm, dense };

  /// Whether the kernel covers the whole unpadded input (one output pixel
  /// per sample, any stride): the convolution is then a dense layer on the
  /// flattened sample, y[n, co] = sum_t W[co, t] x[n, t] with t over (c, i,
  /// j) in NCHW order, so no copy of the input is needed (CF-EBM's top 4x4
  /// convolution).
  static bool is_dense(const conv_geometry& g) {
    return g.padding == 0 && g.kernel == g.height && g.kernel == g.width;
  }

  /// The path of forward passes (and tangents) of this geometry with scalar
  /// T, with Winograd blocks up to `winograd_block` (cpu::winograd_block()).
  template <class T>
  static conv_path forward_path(const conv_geometry& g, int winograd_block = 4) {
    if (is_dense(g)) return conv_path::dense;
    if (winograd_block > 0 &&
        winograd_eligible<T>(g.in_channels, g.height, g.width, g.kernel, g.stride, g.padding))
      return conv_path::winograd;
    if (direct_eligible<T>(forward_plan(g))) return conv_path::direct;
    if (panel_eligible<T>(g)) return conv_path::panel;
    return conv_path::gemm;
  }
  /// The path of input gradients; the direct one needs stride 1 and
  /// padding < kernel.
  template <class T>
  static conv_path backward_data_path(const conv_geometry& g, int winograd_block = 4) {
    if (is_dense(g)) return conv_path::dense;
    // A 3x3 stride-1 padding-1 input gradient is such a convolution from
    // Cout to Cin channels on the Ho x Wo (= H x W) plane.
    if (winograd_block > 0 &&
        winograd_eligible<T>(g.out_channels, g.out_height, g.out_width, g.kernel, g.stride, g.padding))
      return conv_path::winograd;
    if (g.stride == 1 && g.padding < g.kernel && direct_eligible<T>(backward_plan(g)))
      return conv_path::direct;
    if (panel_eligible<T>(g)) return conv_path::panel;
    return conv_path::gemm;
  }

  /// Whether a convolution with `cin` input channels on an h x w plane takes
  /// Winograd (float, AVX-512): 3x3 kernel, stride 1, padding 1, even planes
  /// of at least 8x8 (whole 2x2 blocks, tiles enough for the GEMMs) and at
  /// least winograd_min_channels inputs (the GEMMs run over them; with fewer
  /// the transforms cost more than they save).  winograd_tile() picks the
  /// block size.
  template <class T>
  static bool winograd_eligible([[maybe_unused]] index_t cin, [[maybe_unused]] index_t h,
                                [[maybe_unused]] index_t w, [[maybe_unused]] index_t k,
                                [[maybe_unused]] index_t s, [[maybe_unused]] index_t pad) {
#if defined(__AVX512F__)
    if constexpr (std::is_same_v<T, float>)
      return k == 3 && s == 1 && pad == 1 && h % 2 == 0 && w % 2 == 0 && h >= 8 && w >= 8 &&
             cin >= winograd_min_channels;
#endif
    return false;
  }

  /// Winograd's output block size for an h x w plane: F(4x4, 3x3) when
  /// both sides are multiples of 4 and `winograd_block` allows it, else
  /// F(2x2, 3x3).
  static int winograd_tile(index_t h, index_t w, int winograd_block = 4) {
    return winograd_block >= 4 && h % 4 == 0 && w % 4 == 0 ? 4 : 2;
  }

  /// Whether filter gradients of this geometry take the direct kernel
  /// (float, AVX-512, output planes of at least 8x8 pixels; smaller planes,
  /// where the accumulators would be reloaded every few pixels, and double
  /// take im2col + GEMM over several samples).
  template <class T>
  static bool filter_gradient_direct([[maybe_unused]] const conv_geometry& g) {
#if defined(__AVX512F__)
    return std::is_same_v<T, float> && g.out_plane() >= wgrad_min_plane;
#else
    return false;
#endif
  }

  /// y = f(conv(x, W) + b) with z = conv(x, W) + b and d = f'(z) stored when
  /// non-null; b may be null (no bias).
  template <class T, class Act>
  static void forward(const cpu& dev, const conv_geometry& g, const T* x, const T* w,
                      const T* b, const Act& act, T* y, T* z, T* d, workspace<T>& ws) {
    run_forward(dev, g, x, w, ws, [&](index_t off, index_t co, const T* acc, index_t len) {
      detail::conv_activation_epilogue<Act>::apply(act, acc, b ? b[co] : T(0), y + off,
                                                   z ? z + off : nullptr, d ? d + off : nullptr,
                                                   len);
    });
  }

  /// out = addend + scale (conv(x, W) + b) with no activation, in the one
  /// write of the epilogue: a residual block's skip branch summed into the
  /// main branch's output (nn::branch_sum) without a separate pass over both.
  /// Rounds as out = addend + scale y of the plain forward's y does.
  template <class T>
  static void forward_add(const cpu& dev, const conv_geometry& g, const T* x, const T* w, const T* b,
                          const T* addend, T scale, T* out, workspace<T>& ws) {
    run_forward(dev, g, x, w, ws, [&](index_t off, index_t co, const T* acc, index_t len) {
      const T bias = b ? b[co] : T(0);
      const T* a = addend + off;
      T* o = out + off;
      for (index_t i = 0; i < len; ++i) o[i] = a[i] + scale * (acc[i] + bias);
    });
  }

  /// raw = conv(x, W) (no bias; stored when non-null) and y = scale * raw
  /// elementwise (y = raw when scale is null): the tangent of a fused
  /// convolution and activation, with scale = f'(z).
  template <class T>
  static void forward_scaled(const cpu& dev, const conv_geometry& g, const T* x, const T* w,
                             const T* scale, T* y, T* raw, workspace<T>& ws) {
    run_forward(dev, g, x, w, ws, [&](index_t off, index_t, const T* acc, index_t len) {
      if (raw) std::copy_n(acc, len, raw + off);
      if (scale) {
        const T* sc = scale + off;
        T* out = y + off;
        for (index_t i = 0; i < len; ++i) out[i] = sc[i] * acc[i];
      } else {
        std::copy_n(acc, len, y + off);
      }
    });
  }

  /// With gz = scale * gy (gz = gy when scale is null), computes whichever of
  /// these is requested by a non-null pointer:
  ///   gx  = conv^T(gz)            (overwritten)
  ///   gw += corr(gz, x)           ([Cout, Cin, k, k], accumulated)
  ///   gb += sum over n, h, w gz   ([Cout], accumulated)
  template <class T>
  static void backward(const cpu& dev, const conv_geometry& g, const T* x, const T* w,
                       const T* gy, const T* scale, T* gx, T* gw, T* gb, workspace<T>& ws) {
    if (g.batch == 0) return;
    const conv_path path = backward_data_path<T>(g, dev.winograd_block());
    if (path == conv_path::dense) {  // gx, gW and gb alike
      run_dense_backward(dev, g, x, w, gy, scale, gx, gw, gb, ws);
      return;
    }
    if (gx && path == conv_path::winograd) {
      run_winograd_backward_data(dev, g, w, gy, scale, gx, ws);
      gx = nullptr;
    } else if (gx && path == conv_path::direct) {
      run_direct_backward_data(dev, g, w, gy, scale, gx, ws);
      gx = nullptr;
    } else if (gx && path == conv_path::panel) {
      run_panel_backward_data(dev, g, w, gy, scale, gx, ws);
      gx = nullptr;
    }
    if (gw && filter_gradient_direct<T>(g)) {
      run_direct_filter_gradient(dev, g, x, gy, scale, gw, gb, ws);
      gw = gb = nullptr;
    }
    if (!gx && !gw && !gb) return;
    const index_t tasks = task_count(dev, g);
    ws.reserve(tasks);
    const bool pointwise = is_pointwise(g);
    const index_t plane = g.out_plane(), patch = g.patch(), Cout = g.out_channels;
    const index_t in_sample = g.in_channels * g.in_plane(), out_sample = Cout * plane;
    const bool need_col = !pointwise && (gx || gw);
    const detail::direct_plan p = forward_plan(g);
    const index_t* taps = need_col ? p.shifts(ws.taps.resize(shape{patch}).data()) : nullptr;

    auto task = [&](index_t t) {
      auto& sl = ws.at(t);
      const index_t n_begin = g.batch * t / tasks, n_end = g.batch * (t + 1) / tasks;
      const index_t nb_max = chunk_samples<T>(g, n_end - n_begin);
      T* col = need_col ? sl.col.resize(shape{patch * nb_max * plane}).data() : nullptr;
      T* xp = need_col ? sl.prepared.resize(shape{p.prepared + p.row_buffer()}).data() : nullptr;
      // gy itself is the GEMM operand when one sample is processed at a time
      // and there is nothing to multiply in.
      const bool need_pack = nb_max > 1 || scale;
      T* pack = need_pack ? sl.pack.resize(shape{Cout * nb_max * plane}).data() : nullptr;
      T* gwp = gw ? sl.gw.resize(shape{Cout * patch}).data() : nullptr;
      T* gbp = gb ? sl.gb.resize(shape{Cout}).zero().data() : nullptr;
      bool first = true;
      for (index_t n0 = n_begin; n0 < n_end; n0 += nb_max) {
        const index_t nb = std::min(nb_max, n_end - n0), cols = nb * plane;
        const T* gz = gy + n0 * out_sample;
        index_t ldgz = plane;
        if (need_pack) {
          for (index_t co = 0; co < Cout; ++co)
            for (index_t s = 0; s < nb; ++s) {
              const index_t off = ((n0 + s) * Cout + co) * plane;
              T* dst = pack + co * cols + s * plane;
              if (scale)
                for (index_t i = 0; i < plane; ++i) dst[i] = scale[off + i] * gy[off + i];
              else
                std::copy_n(gy + off, plane, dst);
            }
          gz = pack;
          ldgz = cols;
        }
        if (gbp)
          for (index_t co = 0; co < Cout; ++co)
            for (index_t s = 0; s < nb; ++s) {
              const T* r = need_pack ? gz + co * ldgz + s * plane : gz + s * out_sample + co * plane;
              T acc = 0;
              for (index_t i = 0; i < plane; ++i) acc += r[i];
              gbp[co] += acc;
            }
        if (gwp) {
          const T* b = col;
          index_t ldb = cols;
          if (pointwise) b = x + n0 * in_sample, ldb = plane;
          else im2col(p, taps, x, n0, nb, col, xp);
          cpu_kernels::gemm(false, true, Cout, patch, cols, T(1), gz, ldgz, b, ldb,
                            first ? T(0) : T(1), gwp, patch);
          first = false;
        }
        if (gx) {
          if (pointwise) {
            cpu_kernels::gemm(true, false, patch, plane, Cout, T(1), w, patch, gz, ldgz, T(0),
                              gx + n0 * in_sample, plane);
          } else {
            cpu_kernels::gemm(true, false, patch, cols, Cout, T(1), w, patch, gz, ldgz, T(0), col,
                              cols);
            col2im(p, taps, static_cast<const T*>(col), n0, nb, gx, xp);
          }
        }
      }
    };
    run_tasks(dev, tasks, task);
    reduce_partials(ws, tasks, gw, Cout * patch, gb, Cout);
  }

 private:
  static bool is_pointwise(const conv_geometry& g) {
    return g.kernel == 1 && g.stride == 1 && g.padding == 0 &&
           g.in_plane() >= pointwise_min_plane;
  }

  /// Samples per GEMM for a thread that owns `samples` samples.
  template <class T>
  static index_t chunk_samples(const conv_geometry& g, index_t samples) {
    if (is_pointwise(g)) return 1;
    const index_t per_sample = g.patch() * g.out_plane();
    index_t nb = (target_columns + g.out_plane() - 1) / g.out_plane();
    nb = std::min(nb, col_budget_bytes / static_cast<index_t>(sizeof(T)) / per_sample);
    return std::clamp<index_t>(nb, 1, std::max<index_t>(samples, 1));
  }

  /// im2col of samples [n0, n0 + nb): col[(c k + ki) k + kj, s Ho Wo + oh Wo
  /// + ow] = x[n0 + s, c, oh S - P + ki, ow S - P + kj] (0 outside the
  /// image), rows nb Ho Wo apart; each sample goes through the prepared
  /// layout xp (scratch of p.prepared + p.row_buffer()), taps = p.shifts().
  template <class T>
  static void im2col(const detail::direct_plan& p, const index_t* taps, const T* x, index_t n0,
                     index_t nb, T* col, T* xp) {
    const index_t plane = p.out_height * p.out_width, in_sample = p.cin * p.height * p.width;
    for (index_t s = 0; s < nb; ++s) {
      p.prepare(x + (n0 + s) * in_sample, static_cast<const T*>(nullptr), xp);
      p.gather(xp, taps, col + s * plane, nb * plane);
    }
  }
  /// The adjoint of im2col: overwrites samples [n0, n0 + nb) of gx.
  template <class T>
  static void col2im(const detail::direct_plan& p, const index_t* taps, const T* col,
                     index_t n0, index_t nb, T* gx, T* xp) {
    const index_t plane = p.out_height * p.out_width, in_sample = p.cin * p.height * p.width;
    for (index_t s = 0; s < nb; ++s) {
      p.scatter(col + s * plane, nb * plane, taps, xp);
      p.unprepare(xp, gx + (n0 + s) * in_sample);
    }
  }

  static index_t task_count(const cpu& dev, const conv_geometry& g) {
    return std::max<index_t>(1, std::min<index_t>(dev.threads(), g.batch));
  }

  /// Runs task(t) for t in [0, tasks), one task per pool thread.  Only a
  /// pointer is captured, so std::function inside the pool does not allocate.
  template <class F>
  static void run_tasks(const cpu& dev, index_t tasks, F& task) {
    F* f = &task;
    dev.parallel_for(tasks, 1, [f](index_t b, index_t e) {
      for (index_t t = b; t < e; ++t) (*f)(t);
    });
  }

  /// The forward convolution through the chosen path, then epi(offset in
  /// NCHW, output channel, results, count) over every output row or plane.
  template <class T, class Epi>
  static void run_forward(const cpu& dev, const conv_geometry& g, const T* x, const T* w,
                          workspace<T>& ws, const Epi& epi) {
    if (g.batch == 0) return;
    const conv_path path = forward_path<T>(g, dev.winograd_block());
    if (path == conv_path::dense) {
      run_dense_forward(dev, g, x, w, ws, epi);
      return;
    }
    if (path == conv_path::winograd) {
      const index_t cin = g.in_channels;
      winograd(
          dev, g.batch, cin, g.out_channels, g.height, g.width, x, static_cast<const T*>(nullptr), ws,
          {w, g.out_channels * cin * 9, 0},
          [&](index_t co, index_t c, T* k9) { std::copy_n(w + (co * cin + c) * 9, 9, k9); }, epi);
      return;
    }
    if (path == conv_path::direct) {
      const detail::direct_plan p = forward_plan(g);
      const T* A = pack_panels(p.cout, p.taps(), detail::direct_rows, ws, {w, p.cout * p.taps(), 0},
                               [&](index_t co, index_t t) { return w[co * p.taps() + t]; });
      p.shifts(ws.shifts.resize(shape{p.taps()}).data());
      run_direct(dev, g.batch, p, A, x, static_cast<const T*>(nullptr), ws, epi);
      return;
    }
    if (path == conv_path::panel) {
      run_panel_forward(dev, g, x, w, ws, epi);
      return;
    }
    const index_t tasks = task_count(dev, g);
    ws.reserve(tasks);
    const bool pointwise = is_pointwise(g);
    const index_t plane = g.out_plane(), patch = g.patch(), Cout = g.out_channels;
    const index_t in_sample = g.in_channels * g.in_plane();
    const detail::direct_plan p = forward_plan(g);
    const index_t* taps = pointwise ? nullptr : p.shifts(ws.taps.resize(shape{patch}).data());

    auto task = [&](index_t t) {
      auto& sl = ws.at(t);
      const index_t n_begin = g.batch * t / tasks, n_end = g.batch * (t + 1) / tasks;
      const index_t nb_max = chunk_samples<T>(g, n_end - n_begin);
      T* col = pointwise ? nullptr : sl.col.resize(shape{patch * nb_max * plane}).data();
      T* xp = pointwise ? nullptr : sl.prepared.resize(shape{p.prepared + p.row_buffer()}).data();
      T* pack = sl.pack.resize(shape{Cout * nb_max * plane}).data();
      for (index_t n0 = n_begin; n0 < n_end; n0 += nb_max) {
        const index_t nb = std::min(nb_max, n_end - n0), cols = nb * plane;
        const T* b = col;
        index_t ldb = cols;
        if (pointwise) b = x + n0 * in_sample, ldb = plane;
        else im2col(p, taps, x, n0, nb, col, xp);
        cpu_kernels::gemm(false, false, Cout, cols, patch, T(1), w, patch, b, ldb, T(0), pack,
                          cols);
        for (index_t co = 0; co < Cout; ++co)
          for (index_t s = 0; s < nb; ++s)
            epi(((n0 + s) * Cout + co) * plane, co, pack + co * cols + s * plane, plane);
      }
    };
    run_tasks(dev, tasks, task);
  }

  /// The dense path (is_dense): per thread, its samples' [nb, Cout] block
  /// of X W^T by one GEMM straight from the NCHW input, then the epilogue
  /// per output (each its own channel).
  template <class T, class Epi>
  static void run_dense_forward(const cpu& dev, const conv_geometry& g, const T* x, const T* w,
                                workspace<T>& ws, const Epi& epi) {
    const index_t K = g.patch(), Cout = g.out_channels, N = g.batch;
    const index_t tasks = std::max<index_t>(1, std::min<index_t>(dev.threads(), N));
    ws.reserve(tasks);
    auto task = [&](index_t t) {
      const index_t n0 = N * t / tasks, nb = N * (t + 1) / tasks - n0;
      T* acc = ws.at(t).pack.resize(shape{nb * Cout}).data();
      cpu_kernels::gemm(false, true, nb, Cout, K, T(1), x + n0 * K, K, w, K, T(0), acc, Cout);
      for (index_t n = 0; n < nb; ++n)
        for (index_t co = 0; co < Cout; ++co) epi((n0 + n) * Cout + co, co, acc + n * Cout + co, 1);
    };
    run_tasks(dev, tasks, task);
  }
  /// The dense path's backward: per thread, gz = scale gy for its samples,
  /// gx = gz W straight into NCHW, and partial gW = gz^T X, gb = sum gz,
  /// reduced in thread order.
  template <class T>
  static void run_dense_backward(const cpu& dev, const conv_geometry& g, const T* x, const T* w,
                                 const T* gy, const T* scale, T* gx, T* gw, T* gb, workspace<T>& ws) {
    if (!gx && !gw && !gb) return;
    const index_t K = g.patch(), Cout = g.out_channels, N = g.batch;
    const index_t tasks = std::max<index_t>(1, std::min<index_t>(dev.threads(), N));
    ws.reserve(tasks);
    auto task = [&](index_t t) {
      auto& sl = ws.at(t);
      const index_t n0 = N * t / tasks, nb = N * (t + 1) / tasks - n0;
      const T* gz = gy + n0 * Cout;
      if (scale) {
        T* p = sl.pack.resize(shape{nb * Cout}).data();
        const T* sc = scale + n0 * Cout;
        for (index_t i = 0; i < nb * Cout; ++i) p[i] = sc[i] * gz[i];
        gz = p;
      }
      if (gx) cpu_kernels::gemm(false, false, nb, K, Cout, T(1), gz, Cout, w, K, T(0), gx + n0 * K, K);
      if (gw)
        cpu_kernels::gemm(true, false, Cout, K, nb, T(1), gz, Cout, x + n0 * K, K, T(0),
                          sl.gw.resize(shape{Cout * K}).data(), K);
      if (gb) {
        T* b = sl.gb.resize(shape{Cout}).zero().data();
        for (index_t n = 0; n < nb; ++n)
          for (index_t co = 0; co < Cout; ++co) b[co] += gz[n * Cout + co];
      }
    };
    run_tasks(dev, tasks, task);
    reduce_partials(ws, tasks, gw, Cout * K, gb, Cout);
  }

  /// gw[0 .. nw) += the slots' gw, gb[0 .. nb) += their gb (each when
  /// non-null), slot by slot: the deterministic reduction of per-thread
  /// partial sums.
  template <class T>
  static void reduce_partials(workspace<T>& ws, index_t tasks, T* gw, index_t nw, T* gb, index_t nb) {
    for (index_t t = 0; t < tasks; ++t) {
      if (gw) {
        const T* part = ws.at(t).gw.data();
        for (index_t i = 0; i < nw; ++i) gw[i] += part[i];
      }
      if (gb) {
        const T* part = ws.at(t).gb.data();
        for (index_t i = 0; i < nb; ++i) gb[i] += part[i];
      }
    }
  }

  static detail::direct_plan forward_plan(const conv_geometry& g) {
    return detail::direct_plan::make(g.in_channels, g.out_channels, g.height, g.width, g.kernel,
                                     g.stride, g.padding);
  }
  /// gx = conv(gz padded by k-1-p, flipped W^T) for stride 1: a convolution
  /// from Cout to Cin channels on the Ho x Wo gradient, giving H x W.
  static detail::direct_plan backward_plan(const conv_geometry& g) {
    return detail::direct_plan::make(g.out_channels, g.in_channels, g.out_height, g.out_width,
                                     g.kernel, 1, g.kernel - 1 - g.padding);
  }
  template <class T>
  static bool direct_eligible([[maybe_unused]] const detail::direct_plan& p) {
#if defined(__AVX512F__)
    if constexpr (std::is_same_v<T, float>)
      return p.out_height > 0 && p.out_width > 0 && p.waste() <= direct_max_waste;
#endif
    return false;
  }
  /// Samples per panel chunk: the chunk's columns (samples x output plane)
  /// must be a whole number of 64-pixel tiles.
  static index_t panel_samples(const conv_geometry& g) {
    index_t a = g.out_plane(), b = detail::panel_pixels;
    while (b) a = std::exchange(b, a % b);  // gcd
    return detail::panel_pixels / a;
  }
  template <class T>
  static bool panel_eligible([[maybe_unused]] const conv_geometry& g) {
#if defined(__AVX512F__)
    if constexpr (std::is_same_v<T, float>) {
      const index_t cols = panel_samples(g) * g.out_plane();
      const index_t rows = std::max(g.patch(), g.out_channels);
      return g.out_plane() > 0 && rows * cols * index_t(sizeof(T)) <= panel_budget_bytes;
    }
#endif
    return false;
  }

  /// Forward through the panel path: per chunk of nb samples, col [Cin k k,
  /// nb Ho Wo] is gathered from each sample's prepared (padded, phase-split)
  /// input, then out = W col tile by tile, then the epilogue per plane.
  template <class T, class Epi>
  static void run_panel_forward(const cpu& dev, const conv_geometry& g, const T* x, const T* w,
                                workspace<T>& ws, const Epi& epi) {
    const index_t K = g.patch(), plane = g.out_plane(), Cout = g.out_channels;
    const index_t nb = panel_samples(g), ld = nb * plane;
    const T* A = pack_panels(Cout, K, detail::panel_rows, ws, {w, Cout * K, 0},
                             [&](index_t co, index_t t) { return w[co * K + t]; });
    const index_t* shift = row_shifts(K, ld, ws);
    const detail::direct_plan p = forward_plan(g);
    const index_t* taps = p.shifts(ws.taps.resize(shape{K}).data());
    const index_t in_sample = g.in_channels * g.in_plane();
    run_panels(dev, g.batch, nb, round_up(Cout, detail::panel_rows), K, ld, A, shift, ws,
               [&](auto& sl, index_t n0, index_t cnt) {
                 T* xp = sl.prepared.resize(shape{p.prepared + p.row_buffer()}).data();
                 T* col = sl.col.resize(shape{K * ld}).data();
                 for (index_t s = 0; s < cnt; ++s) {
                   p.prepare(x + (n0 + s) * in_sample, static_cast<const T*>(nullptr), xp);
                   p.gather(xp, taps, col + s * plane, ld);
                 }
                 if (cnt < nb)  // a short last chunk: zero columns, results unused
                   for (index_t t = 0; t < K; ++t)
                     std::fill(col + t * ld + cnt * plane, col + (t + 1) * ld, T(0));
                 return static_cast<const T*>(col);
               },
               [&](auto&, index_t n0, index_t cnt, const T* out) {
                 for (index_t s = 0; s < cnt; ++s)
                   for (index_t co = 0; co < Cout; ++co)
                     epi(((n0 + s) * Cout + co) * plane, co, out + co * ld + s * plane, plane);
               });
  }

  /// Input gradient through the panel path: per chunk, col = W^T gz tile by
  /// tile (gz = scale gy, gathered into [Cout, nb Ho Wo]), then col2im as the
  /// adjoint of the forward gather: scatter into the prepared layout, then
  /// unprepare into gx.
  template <class T>
  static void run_panel_backward_data(const cpu& dev, const conv_geometry& g, const T* w,
                                      const T* gy, const T* scale, T* gx, workspace<T>& ws) {
    const index_t K = g.patch(), plane = g.out_plane(), Cout = g.out_channels;
    const index_t nb = panel_samples(g), ld = nb * plane, out_sample = Cout * plane;
    const T* A = pack_panels(K, Cout, detail::panel_rows, ws, {w, Cout * K, 1},
                             [&](index_t kk, index_t co) { return w[co * K + kk]; });
    const index_t* shift = row_shifts(Cout, ld, ws);
    const detail::direct_plan p = forward_plan(g);
    const index_t* taps = p.shifts(ws.taps.resize(shape{K}).data());
    const index_t in_sample = g.in_channels * g.in_plane();
    run_panels(dev, g.batch, nb, round_up(K, detail::panel_rows), Cout, ld, A, shift, ws,
               [&](auto& sl, index_t n0, index_t cnt) {
                 // One sample, no scale: gy itself is [Cout, Ho Wo].
                 if (nb == 1 && !scale) return gy + n0 * out_sample;
                 T* gz = sl.col.resize(shape{Cout * ld}).data();
                 for (index_t co = 0; co < Cout; ++co)
                   for (index_t s = 0; s < nb; ++s) {
                     T* dst = gz + co * ld + s * plane;
                     const index_t off = ((n0 + s) * Cout + co) * plane;
                     if (s >= cnt)
                       std::fill_n(dst, plane, T(0));
                     else if (scale)
                       for (index_t i = 0; i < plane; ++i) dst[i] = scale[off + i] * gy[off + i];
                     else
                       std::copy_n(gy + off, plane, dst);
                   }
                 return static_cast<const T*>(gz);
               },
               [&](auto& sl, index_t n0, index_t cnt, const T* col) {
                 T* xp = sl.prepared.resize(shape{p.prepared}).data();
                 for (index_t s = 0; s < cnt; ++s) {
                   p.scatter(col + s * plane, ld, taps, xp);
                   p.unprepare(xp, gx + (n0 + s) * in_sample);
                 }
               });
  }

  /// Per chunk of nb samples [n0, n0 + cnt) of the batch (split over threads,
  /// cnt < nb only for a thread's last chunk): B = operand(slot, n0, cnt)
  /// ([taps, ld] at the given row shifts), out[rows, ld] = A B by register
  /// tiles into the slot's pack buffer, then finish(slot, n0, cnt, out).
  template <class T, class Operand, class Finish>
  static void run_panels([[maybe_unused]] const cpu& dev, [[maybe_unused]] index_t batch,
                         [[maybe_unused]] index_t nb, [[maybe_unused]] index_t rows,
                         [[maybe_unused]] index_t taps, [[maybe_unused]] index_t ld,
                         [[maybe_unused]] const T* A, [[maybe_unused]] const index_t* shift,
                         [[maybe_unused]] workspace<T>& ws,
                         [[maybe_unused]] const Operand& operand,
                         [[maybe_unused]] const Finish& finish) {
#if defined(__AVX512F__)
    if constexpr (std::is_same_v<T, float>) {
      const index_t tasks = std::max<index_t>(1, std::min<index_t>(dev.threads(), batch));
      ws.reserve(tasks);
      auto task = [&](index_t t) {
        auto& sl = ws.at(t);
        float* out = sl.pack.resize(shape{rows * ld}).data();
        const index_t n_end = batch * (t + 1) / tasks;
        for (index_t n0 = batch * t / tasks; n0 < n_end; n0 += nb) {
          const index_t cnt = std::min(nb, n_end - n0);
          const float* B = operand(sl, n0, cnt);
          for (index_t j0 = 0; j0 < ld; j0 += detail::panel_pixels)
            for (index_t ib = 0; ib < rows; ib += detail::panel_rows)
              detail::gemm_tile<detail::panel_rows, detail::panel_pixels / 16>(
                  taps, A + ib * taps, B + j0, shift, out + ib * ld + j0, ld);
          finish(sl, n0, cnt, static_cast<const float*>(out));
        }
      };
      run_tasks(dev, tasks, task);
      return;
    }
#endif
    throw error("conv_kernels<cpu>: the panel path needs float and AVX-512");
  }

  /// Packs an [m, taps] matrix given elementwise by weight(i, t) into
  /// R-row panels: packed[ib, t, r] = weight(ib R + r, t), zero past m.
  /// Returns the cached panels when the raw weights did not change
  /// (cached_pack, per pass and R).
  template <class T, class F>
  static const T* pack_panels(index_t m, index_t taps, index_t R, workspace<T>& ws, const raw_weights<T>& raw,
                              F weight) {
    return cached_pack(ws.panel_weights[raw.pass], raw, int(R), m, taps, [&](tensor<T>& packed) {
      const index_t rows = round_up(m, R);
      T* a = packed.resize(shape{rows * taps}).data();
      for (index_t ib = 0; ib < rows; ib += R)
        for (index_t t = 0; t < taps; ++t)
          for (index_t r = 0; r < R; ++r) *a++ = ib + r < m ? weight(ib + r, t) : T(0);
    });
  }
  /// shift[t] = t ld: the rows of a row-major matrix as tile operand.
  template <class T>
  static const index_t* row_shifts(index_t taps, index_t ld, workspace<T>& ws) {
    index_t* sh = ws.shifts.resize(shape{taps}).data();
    for (index_t t = 0; t < taps; ++t) sh[t] = t * ld;
    return sh;
  }
  static index_t round_up(index_t n, index_t m) { return (n + m - 1) / m * m; }

  /// The input gradient of a stride-1 convolution through the direct kernel.
  template <class T>
  static void run_direct_backward_data(const cpu& dev, const conv_geometry& g, const T* w,
                                       const T* gy, const T* scale, T* gx, workspace<T>& ws) {
    const detail::direct_plan p = backward_plan(g);
    const index_t k = g.kernel, kk = k * k, patch = g.patch();
    // Tap t = (co k + ki) k + kj of output channel c reads W[co, c, k-1-ki, k-1-kj].
    const T* A = pack_panels(p.cout, p.taps(), detail::direct_rows, ws, {w, g.out_channels * patch, 1},
                             [&](index_t c, index_t t) {
                               const index_t co = t / kk, u = t % kk;
                               return w[co * patch + c * kk + (kk - 1 - u)];
                             });
    p.shifts(ws.shifts.resize(shape{p.taps()}).data());
    run_direct(dev, g.batch, p, A, gy, scale, ws, [&](index_t off, index_t, const T* acc, index_t len) {
      std::copy_n(acc, len, gx + off);
    });
  }

  /// Packs U_xi = G g G^T of every 3x3 kernel for the (TM + 2)^2 GEMMs of
  /// Winograd's F(TM x TM, 3x3): m
  /// output rows (padded to the direct_rows panels) by k input channels,
  /// kernel(row, channel, g) writing the 3x3 kernel g.  Layout [xi][row
  /// panel][channel][row in panel], as gemm_tile reads it; a panel's rows
  /// are transformed together so that each write is a run of direct_rows
  /// floats (0.15 ms at 128 x 128 channels for F(2x2, 3x3), a few percent of
  /// the convolution; splitting it over threads did not pay).
  template <int TM, class T, class F>
  static void pack_winograd(index_t m, index_t k, tensor<T>& packed, F kernel) {
    constexpr index_t R = detail::direct_rows, NX = (TM + 2) * (TM + 2);
    const index_t mp = round_up(m, R);
    T* a = packed.resize(shape{NX * mp * k}).data();
    T g[9], u[R][NX];
    for (index_t ib = 0; ib < mp; ib += R)
      for (index_t c = 0; c < k; ++c) {
        for (index_t r = 0; r < R; ++r) {
          if (ib + r < m) {
            kernel(ib + r, c, g);
            if constexpr (TM == 2) detail::winograd_kernel_transform(g, u[r]);
            else detail::winograd4_kernel_transform(g, u[r]);
          } else {
            std::fill_n(u[r], NX, T(0));
          }
        }
        for (index_t xi = 0; xi < NX; ++xi) {
          T* dst = a + xi * mp * k + ib * k + c * R;
          for (index_t r = 0; r < R; ++r) dst[r] = u[r][xi];
        }
      }
  }

  /// The transformed weights of kernel(row, channel, g) for F(TM x TM, 3x3):
  /// the workspace's copy when it was made from the same raw weights (same
  /// bits), else packed anew.
  template <int TM, class T, class F>
  static const T* transformed_weights(index_t m, index_t k, workspace<T>& ws, const raw_weights<T>& raw,
                                      F kernel) {
    return cached_pack(ws.winograd_weights[raw.pass], raw, TM, m, k,
                       [&](tensor<T>& packed) { pack_winograd<TM>(m, k, packed, kernel); });
  }

  /// Packs kernel(row, channel, g) (or reuses it: transformed_weights) and
  /// runs Winograd with the tile size of the h x w plane (the arguments of
  /// run_winograd follow `kernel`).
  template <class T, class F, class Epi>
  static void winograd(const cpu& dev, index_t batch, index_t k, index_t m, index_t h, index_t w,
                       const T* x, const T* scale, workspace<T>& ws, const raw_weights<T>& raw, F kernel,
                       const Epi& epi) {
    if (winograd_tile(h, w, dev.winograd_block()) == 4)
      run_winograd<4>(dev, batch, k, m, h, w, x, scale, transformed_weights<4>(m, k, ws, raw, kernel), ws, epi);
    else
      run_winograd<2>(dev, batch, k, m, h, w, x, scale, transformed_weights<2>(m, k, ws, raw, kernel), ws, epi);
  }

  /// The input gradient of a 3x3 stride-1 padding-1 convolution through
  /// Winograd: the convolution of gz = scale gy with the flipped, transposed
  /// kernel.
  template <class T>
  static void run_winograd_backward_data(const cpu& dev, const conv_geometry& g, const T* w,
                                         const T* gy, const T* scale, T* gx, workspace<T>& ws) {
    const index_t cin = g.in_channels, cout = g.out_channels;
    winograd(
        dev, g.batch, cout, cin, g.out_height, g.out_width, gy, scale, ws, {w, cout * cin * 9, 1},
        [&](index_t c, index_t co, T* k9) {
          const T* src = w + (co * cin + c) * 9;
          for (index_t i = 0; i < 9; ++i) k9[i] = src[8 - i];
        },
        [&](index_t off, index_t, const T* acc, index_t len) { std::copy_n(acc, len, gx + off); });
  }

  /// Winograd F(TM x TM, 3x3) over `batch` samples of k channels, h x w,
  /// into m channels (weights A packed by pack_winograd<TM>), x multiplied by
  /// `scale` when non-null.  The tiles (one per output block, ty wq + tx in a
  /// sample's grid) are processed in blocks small enough that the block's
  /// transformed input V[xi][channel][tile] and products M[xi][channel][tile]
  /// stay in L2: a few rows of tiles of one sample for large planes, or
  /// several whole samples for small ones.  Per block: the input transform of
  /// each sample's prepared (TM + 2)^2, stride-TM view (16 tiles a vector),
  /// the (TM + 2)^2 GEMMs M_xi = U_xi V_xi by gemm_tile, and the output
  /// transform, whose blocks are interleaved into rows of the output plane
  /// (for F(4x4), the columns of V and M are the tiles alone, without the
  /// grid's column past each row of tiles);
  /// once a sample's plane is complete, epi(offset in NCHW, channel, plane,
  /// h w).
  template <int TM, class T, class Epi>
  static void run_winograd([[maybe_unused]] const cpu& dev, [[maybe_unused]] index_t batch,
                           [[maybe_unused]] index_t k, [[maybe_unused]] index_t m,
                           [[maybe_unused]] index_t h, [[maybe_unused]] index_t w,
                           [[maybe_unused]] const T* x, [[maybe_unused]] const T* scale,
                           [[maybe_unused]] const T* A, [[maybe_unused]] workspace<T>& ws,
                           [[maybe_unused]] const Epi& epi) {
#if defined(__AVX512F__)
    if constexpr (std::is_same_v<T, float>) {
      using detail::tail_mask;
      constexpr index_t R = detail::direct_rows;
      constexpr index_t TA = TM + 2, NX = TA * TA;  // patch side, transformed values
      const detail::direct_plan p = detail::direct_plan::make(k, m, h, w, TA, TM, 1);
      const index_t th = p.out_height, tw = p.out_width, wq = p.wq;
      // Columns of V and M per row of tiles.  F(4x4) keeps the tiles only:
      // the grid's extra column (wq = tw + 1) would cost a third of the
      // GEMM at 8x8 (2 tiles a row), a fifth at 16x16, a ninth at 32x32.
      const index_t cw = TM == 4 ? tw : wq, grid = th * cw;
      const index_t mp = round_up(m, R), plane = h * w, in_sample = k * plane;
      const index_t tasks = std::max<index_t>(1, std::min<index_t>(dev.threads(), batch));
      // Block size, for GEMM tiles of P columns: V and M of a block take
      // 4 NX (k + mp) bytes a column.  Returns the GEMM columns per sample.
      index_t bs = 1, br = th;  // samples and tile rows per block
      auto blocks = [&](index_t P, index_t& nbs, index_t& nbr) {
        const index_t bmax = std::max<index_t>(P, winograd_block_bytes / (4 * NX * (k + mp)) / P * P);
        auto waste = [&](index_t cols) { return double(round_up(cols, P)) / double(cols); };
        nbs = 1, nbr = th;
        if (grid <= bmax) {
          const index_t most = std::min(bmax / grid, (batch + tasks - 1) / tasks);
          for (index_t n = 1; n <= most; ++n)
            if (waste(n * grid) < waste(nbs * grid) - 1e-9) nbs = n;
          return double(round_up(nbs * grid, P)) / double(nbs);
        }
        // The fewest GEMM columns over the whole plane, the last block
        // included; among equals, blocks of one size (then the zero columns
        // past the last tile are written once per call, not per block).
        auto columns = [&](index_t r) {
          return th / r * round_up(r * cw, P) + (th % r ? round_up(th % r * cw, P) : 0);
        };
        nbr = 1;
        for (index_t r = 2; r <= std::max<index_t>(1, bmax / cw); ++r)
          if (columns(r) < columns(nbr) || (columns(r) == columns(nbr) && th % r == 0)) nbr = r;
        return double(columns(nbr));
      };
      // Tiles of 48 columns (3 vectors: the better ratio of loads to FMAs)
      // unless 32 leave fewer of the GEMM's columns empty: a 32x32 plane's
      // 64 tiles take 96 columns of 48 in blocks that fit L2, 64 of 32.
      index_t P = detail::direct_pixels;
      {
        index_t bs32 = 1, br32 = th;
        if (blocks(32, bs32, br32) < blocks(P, bs, br) - 1e-9) P = 32, bs = bs32, br = br32;
      }
      const index_t ld = round_up(bs * br * cw, P);  // columns of V and M
      // F(4x4): per vector v of 16 grid positions of a block's br tile rows,
      // lanes[2 v] the tiles among them (tx < tw) and lanes[2 v + 1] the
      // column of the first; blocks of fewer rows use a prefix.
      const index_t* lanes = nullptr;
      if constexpr (TM == 4) {
        const index_t span = br * wq;
        ws.lanes.resize(static_cast<std::size_t>(2 * ((span + 15) / 16)));
        for (index_t j0 = 0, v = 0; j0 < span; j0 += 16, ++v) {
          index_t keep = 0;
          for (index_t l = 0; l < 16 && j0 + l < span; ++l)
            if ((j0 + l) % wq < tw) keep |= index_t(1) << l;
          ws.lanes[std::size_t(2 * v)] = keep;
          ws.lanes[std::size_t(2 * v + 1)] = j0 / wq * tw + std::min(j0 % wq, tw);
        }
        lanes = ws.lanes.data();
      }
      // V_xi and M_xi lie vstride and mstride floats apart; the extra cache
      // line keeps the NX rows a transform touches out of one L1 set (a
      // multiple of 4 KiB apart they would evict each other).
      const index_t vstride = k * ld + 16, mstride = mp * ld + 16;
      const index_t* tap = p.shifts(ws.shifts.resize(shape{p.taps()}).data());
      index_t* gs = ws.taps.resize(shape{k}).data();
      for (index_t c = 0; c < k; ++c) gs[c] = c * ld;
      ws.reserve(tasks);
      // Interleave two vectors of 16 block columns into 32 output pixels.
      const __m512i lo = _mm512_set_epi32(23, 7, 22, 6, 21, 5, 20, 4, 19, 3, 18, 2, 17, 1, 16, 0);
      const __m512i hi = _mm512_set_epi32(31, 15, 30, 14, 29, 13, 28, 12, 27, 11, 26, 10, 25, 9, 24, 8);
      auto task = [&](index_t t) {
        auto& sl = ws.at(t);
        float* xp = sl.prepared.resize(shape{bs * (p.prepared + p.row_buffer())}).data();
        float* V = sl.col.resize(shape{NX * vstride}).data();
        float* M = sl.pack.resize(shape{NX * mstride}).data();
        float* out = sl.gw.resize(shape{bs * m * plane}).data();
        const index_t n_end = batch * (t + 1) / tasks;
        index_t zeroed_from = -1;  // V's columns from here to the tile's end are zero
        for (index_t n0 = batch * t / tasks; n0 < n_end; n0 += bs) {
          const index_t cnt = std::min(bs, n_end - n0);
          for (index_t s = 0; s < cnt; ++s)
            p.prepare(x + (n0 + s) * in_sample, scale ? scale + (n0 + s) * in_sample : nullptr,
                      xp + s * (p.prepared + p.row_buffer()));
          for (index_t ty0 = 0; ty0 < th; ty0 += br) {
            // span grid positions of `rows` tile rows, span_c columns of V.
            const index_t rows = std::min(br, th - ty0), span = rows * wq, span_c = rows * cw;
            const index_t used = cnt * span_c, cols = round_up(used, P);
            for (index_t s = 0; s < cnt; ++s) {
              const float* xs = xp + s * (p.prepared + p.row_buffer()) + ty0 * wq;
              for (index_t c = 0; c < k; ++c) {
                const index_t* sh = tap + c * NX;
                for (index_t j0 = 0; j0 < span; j0 += 16) {
                  // The last vector may read past the rows, inside the layout.
                  if constexpr (TM == 4) {
                    // A block of fewer rows takes the table's prefix, cut at
                    // span: the transforms write only below `used` (the
                    // zeroing of V's last columns relies on it).
                    const index_t* ln = lanes + 2 * (j0 / 16);
                    const auto keep = static_cast<__mmask16>(ln[0] & tail_mask(span - j0));
                    detail::winograd4_input_transform_compact(xs + j0, sh, V + c * ld + s * span_c + ln[1], vstride,
                                                              keep, tail_mask(_mm_popcnt_u32(keep)));
                  } else {
                    const __mmask16 mk = tail_mask(span - j0);
                    float* dst = V + c * ld + s * span + j0;
                    __m512 d[16], v[16];
                    for (int i = 0; i < 16; ++i) d[i] = _mm512_loadu_ps(xs + sh[i] + j0);
                    detail::winograd_input_transform(d, v);
                    for (int xi = 0; xi < 16; ++xi) _mm512_mask_storeu_ps(dst + xi * vstride, mk, v[xi]);
                  }
                }
              }
            }
            // Columns of the last GEMM tile past the tiles must be zero.  The
            // transforms write columns below `used` only, so they stay zero
            // from one block to the next while `used` does not change.
            if (cols > used && used != zeroed_from) {
              for (index_t xi = 0; xi < NX; ++xi)
                for (index_t c = 0; c < k; ++c) {
                  float* r = V + xi * vstride + c * ld;
                  std::fill(r + used, r + cols, 0.0f);
                }
              zeroed_from = used;
            }
            for (index_t xi = 0; xi < NX; ++xi)
              for (index_t j0 = 0; j0 < cols; j0 += P)
                for (index_t cb = 0; cb < mp; cb += R) {
                  const float *a = A + (xi * mp + cb) * k, *b = V + xi * vstride + j0;
                  float* c = M + xi * mstride + cb * ld + j0;
                  if (P == 32) detail::gemm_tile<R, 2>(k, a, b, gs, c, ld);
                  else detail::gemm_tile<R, detail::direct_pixels / 16>(k, a, b, gs, c, ld);
                }
            if constexpr (TM == 4) {
              // 16 consecutive tiles a vector, across tile rows; the 4x4
              // blocks of each row's run of tiles are copied into the plane
              // from the interleaved rows.
              alignas(64) float yb[4][64];
              for (index_t s = 0; s < cnt; ++s)
                for (index_t co = 0; co < m; ++co) {
                  const float* src = M + co * ld + s * span_c;
                  float* o = out + (s * m + co) * plane;
                  for (index_t c0 = 0; c0 < span_c; c0 += 16) {
                    const index_t n = std::min<index_t>(16, span_c - c0);
                    detail::winograd4_output_transform(src + c0, mstride, tail_mask(n), yb);
                    index_t ty = c0 / tw, tx = c0 - ty * tw;
                    for (index_t l = 0; l < n;) {
                      const index_t len = std::min(tw - tx, n - l), nf = 4 * len;
                      for (int i = 0; i < 4; ++i) {
                        float* row = o + (4 * (ty0 + ty) + i) * w + 4 * tx;
                        for (index_t q = 0; q < nf; q += 16) {
                          const __mmask16 mq = tail_mask(nf - q);
                          _mm512_mask_storeu_ps(row + q, mq, _mm512_maskz_loadu_ps(mq, yb[i] + 4 * l + q));
                        }
                      }
                      l += len, tx += len;
                      if (tx == tw) tx = 0, ++ty;
                    }
                  }
                }
            } else {
              for (index_t s = 0; s < cnt; ++s)
                for (index_t co = 0; co < m; ++co) {
                  const float* src = M + co * ld + s * span;
                  float* o = out + (s * m + co) * plane;
                  for (index_t ty = 0; ty < rows; ++ty)
                    for (index_t tx0 = 0; tx0 < tw; tx0 += 16) {
                      const index_t nt = std::min<index_t>(16, tw - tx0);
                      const __mmask16 mk = tail_mask(nt);
                      __m512 mm[16], y[4];
                      for (int xi = 0; xi < 16; ++xi)
                        mm[xi] = _mm512_maskz_loadu_ps(mk, src + xi * mstride + ty * wq + tx0);
                      detail::winograd_output_transform(mm, y);
                      const __mmask16 m0 = tail_mask(2 * nt);
                      const __mmask16 m1 = tail_mask(std::max<index_t>(0, 2 * nt - 16));
                      for (int i = 0; i < 2; ++i) {
                        float* row = o + (2 * (ty0 + ty) + i) * w + 2 * tx0;
                        _mm512_mask_storeu_ps(row, m0, _mm512_permutex2var_ps(y[2 * i], lo, y[2 * i + 1]));
                        if (nt > 8)
                          _mm512_mask_storeu_ps(row + 16, m1, _mm512_permutex2var_ps(y[2 * i], hi, y[2 * i + 1]));
                      }
                    }
                }
            }
          }
          for (index_t s = 0; s < cnt; ++s)
            for (index_t co = 0; co < m; ++co)
              epi(((n0 + s) * m + co) * plane, co, static_cast<const float*>(out + (s * m + co) * plane), plane);
        }
      };
      run_tasks(dev, tasks, task);
      return;
    }
#endif
    throw error("conv_kernels<cpu>: the Winograd path needs float and AVX-512");
  }

  /// Filter (and bias) gradients through the direct layout, for any stride:
  ///   gW[co, t] += sum_n sum_j xp_n[shift[t] + j] gz_n[co, j]
  /// over the grid pixels j = oh wq + ow.  Per sample: the prepared input
  /// xp, and gz = scale gy transposed to Z[j, co] (channels padded to a
  /// multiple of 16, zero at the extra columns ow >= Wo, so they add
  /// nothing); then wgrad_tile runs over blocks of pixels, channel vectors
  /// and taps, accumulating into a per-thread gW^T[tap, channel].  The
  /// partial sums are reduced in thread order (deterministic).
  template <class T>
  static void run_direct_filter_gradient([[maybe_unused]] const cpu& dev,
                                         [[maybe_unused]] const conv_geometry& g,
                                         [[maybe_unused]] const T* x, [[maybe_unused]] const T* gy,
                                         [[maybe_unused]] const T* scale, [[maybe_unused]] T* gw,
                                         [[maybe_unused]] T* gb, [[maybe_unused]] workspace<T>& ws) {
#if defined(__AVX512F__)
    if constexpr (std::is_same_v<T, float>) {
      const detail::direct_plan p = forward_plan(g);
      const index_t Cout = g.out_channels, cpad = round_up(Cout, 16), taps = p.taps();
      constexpr index_t R4 = 6, R2 = 12, R1 = 12;  // taps per tile for 4, 2 or 1 vectors (3 -> 8)
      const index_t tpad = round_up(taps, 24);     // a multiple of every R
      const index_t Ho = g.out_height, Wo = g.out_width, plane = Ho * Wo, n_grid = Ho * p.wq;
      const index_t in_sample = g.in_channels * g.in_plane();
      // Padded taps read the sample's first pixels (a valid address) and
      // land in rows of gW^T that are never read.
      index_t* shift = ws.taps.resize(shape{tpad}).data();
      p.shifts(shift);
      std::fill(shift + taps, shift + tpad, index_t(0));
      const index_t tasks = task_count(dev, g);
      ws.reserve(tasks);
      auto task = [&](index_t t) {
        auto& sl = ws.at(t);
        float* xp = sl.prepared.resize(shape{p.prepared + p.row_buffer()}).data();
        float* Z = sl.col.resize(shape{n_grid * cpad}).zero().data();
        float* G = sl.gw.resize(shape{tpad * cpad}).zero().data();
        float* gbp = gb ? sl.gb.resize(shape{Cout}).zero().data() : nullptr;
        for (index_t n = g.batch * t / tasks; n < g.batch * (t + 1) / tasks; ++n) {
          p.prepare(x + n * in_sample, static_cast<const float*>(nullptr), xp);
          // Z[oh wq + ow, co] = scale gy (the extra columns stay 0).
          for (index_t co = 0; co < Cout; ++co) {
            const index_t off = (n * Cout + co) * plane;
            const float* src = gy + off;
            const float* sc = scale ? scale + off : nullptr;
            float sum = 0;
            for (index_t oh = 0; oh < Ho; ++oh)
              for (index_t ow = 0; ow < Wo; ++ow) {
                const index_t i = oh * Wo + ow;
                const float v = sc ? sc[i] * src[i] : src[i];
                Z[(oh * p.wq + ow) * cpad + co] = v;
                sum += v;
              }
            if (gbp) gbp[co] += sum;
          }
          for (index_t j0 = 0; j0 < n_grid; j0 += wgrad_block) {
            const index_t nj = std::min(wgrad_block, n_grid - j0);
            const float* X = xp + j0;
            const float* Zb = Z + j0 * cpad;
            index_t c0 = 0;
            for (; c0 + 64 <= cpad; c0 += 64)
              for (index_t t0 = 0; t0 < tpad; t0 += R4)
                detail::wgrad_tile<R4, 4>(nj, X, shift + t0, Zb + c0, cpad, G + t0 * cpad + c0, cpad);
            switch ((cpad - c0) / 16) {
              case 3:
                for (index_t t0 = 0; t0 < tpad; t0 += 8)
                  detail::wgrad_tile<8, 3>(nj, X, shift + t0, Zb + c0, cpad, G + t0 * cpad + c0, cpad);
                break;
              case 2:
                for (index_t t0 = 0; t0 < tpad; t0 += R2)
                  detail::wgrad_tile<R2, 2>(nj, X, shift + t0, Zb + c0, cpad, G + t0 * cpad + c0, cpad);
                break;
              case 1:
                for (index_t t0 = 0; t0 < tpad; t0 += R1)
                  detail::wgrad_tile<R1, 1>(nj, X, shift + t0, Zb + c0, cpad, G + t0 * cpad + c0, cpad);
                break;
              default: break;
            }
          }
        }
      };
      run_tasks(dev, tasks, task);
      for (index_t t = 0; t < tasks; ++t) {
        const float* G = ws.at(t).gw.data();
        for (index_t co = 0; co < Cout; ++co)
          for (index_t k = 0; k < taps; ++k) gw[co * taps + k] += G[k * cpad + co];
        if (gb) {
          const float* part = ws.at(t).gb.data();
          for (index_t co = 0; co < Cout; ++co) gb[co] += part[co];
        }
      }
      return;
    }
#endif
    throw error("conv_kernels<cpu>: the direct filter gradient needs float and AVX-512");
  }

  /// The direct path over `batch` samples (weights A packed by pack_panels
  /// in rows of direct_rows): prepare a sample, run the tiles,
  /// then epi(offset in NCHW, output channel, row of results, count) per
  /// output row (per plane when the grid has no extra columns).
  template <class T, class Epi>
  static void run_direct([[maybe_unused]] const cpu& dev, [[maybe_unused]] index_t batch,
                         [[maybe_unused]] const detail::direct_plan& p, [[maybe_unused]] const T* A,
                         [[maybe_unused]] const T* x, [[maybe_unused]] const T* scale,
                         [[maybe_unused]] workspace<T>& ws, [[maybe_unused]] const Epi& epi) {
#if defined(__AVX512F__)
    if constexpr (std::is_same_v<T, float>) {
      const index_t tasks = std::max<index_t>(1, std::min<index_t>(dev.threads(), batch));
      ws.reserve(tasks);
      const index_t in_sample = p.cin * p.height * p.width;
      const index_t Ho = p.out_height, Wo = p.out_width, rows = p.padded_cout(), taps = p.taps();
      const index_t* shift = ws.shifts.data();
      auto task = [&](index_t t) {
        auto& sl = ws.at(t);
        float* xp = sl.prepared.resize(shape{p.prepared + p.row_buffer()}).data();
        float* out = sl.pack.resize(shape{rows * p.grid}).data();
        for (index_t n = batch * t / tasks; n < batch * (t + 1) / tasks; ++n) {
          // An unpadded stride-1 layout is the sample itself; only the last
          // sample's final tile would read past the tensor, so it is copied.
          const float* in = xp;
          if (p.stride == 1 && p.padding == 0 && p.kernel == 1 && !scale && n + 1 < batch)
            in = x + n * in_sample;
          else
            p.prepare(x + n * in_sample, scale ? scale + n * in_sample : nullptr, xp);
          // Pixel tiles outside, channel panels inside: a tile's input stays
          // in L1 while all weight panels stream past it.
          for (index_t j0 = 0; j0 < p.grid; j0 += detail::direct_pixels)
            for (index_t cb = 0; cb < rows; cb += detail::direct_rows)
              detail::gemm_tile<detail::direct_rows, detail::direct_pixels / 16>(
                  taps, A + cb * taps, in + j0, shift, out + cb * p.grid + j0,
                                  p.grid);
          for (index_t co = 0; co < p.cout; ++co) {
            const float* r = out + co * p.grid;
            const index_t base = (n * p.cout + co) * Ho * Wo;
            if (p.wq == Wo)
              epi(base, co, r, Ho * Wo);
            else
              for (index_t oh = 0; oh < Ho; ++oh) epi(base + oh * Wo, co, r + oh * p.wq, Wo);
          }
        }
      };
      run_tasks(dev, tasks, task);
      return;
    }
#endif
    throw error("conv_kernels<cpu>: the direct path needs float and AVX-512");
  }
};

}  // namespace ebm

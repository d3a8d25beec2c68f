#pragma once
// Philox4x32-10 (Salmon et al., "Parallel random numbers: as easy as 1, 2,
// 3", SC'11): a counter-based generator.  Block i of (seed, stream) is a pure
// function of those three numbers, so host and device code produce the same
// stream, any element can be generated independently (parallel fills are
// deterministic), and the whole state is three integers (checkpoints).
//
// Mapping of draws to counters, shared by every backend:
//   float  uniform: element i uses lane i%4 of block offset + i/4 (24 bits);
//   double uniform: element i uses lanes 2(i%2), 2(i%2)+1 of block offset + i/2;
//   float  normal : Box-Muller on lanes (0,1) and (2,3): 4 normals per block;
//   double normal : Box-Muller on two 53-bit uniforms: 2 normals per block.
#include <array>
#include <cmath>
#include <cstdint>
#include <span>

#include "config.hpp"

namespace ebm {

namespace detail {
struct philox_block {
  std::uint32_t v[4];
};

EBM_HD EBM_INLINE std::uint32_t mulhilo32(std::uint32_t a, std::uint32_t b, std::uint32_t* hi) {
  const std::uint64_t p = static_cast<std::uint64_t>(a) * b;
  *hi = static_cast<std::uint32_t>(p >> 32);
  return static_cast<std::uint32_t>(p);
}

/// The Philox4x32-10 bijection of a 128-bit counter under a 64-bit key.
EBM_HD inline philox_block philox4x32_10(std::uint64_t key, std::uint64_t ctr_lo,
                                         std::uint64_t ctr_hi) {
  std::uint32_t c0 = static_cast<std::uint32_t>(ctr_lo), c1 = static_cast<std::uint32_t>(ctr_lo >> 32);
  std::uint32_t c2 = static_cast<std::uint32_t>(ctr_hi), c3 = static_cast<std::uint32_t>(ctr_hi >> 32);
  std::uint32_t k0 = static_cast<std::uint32_t>(key), k1 = static_cast<std::uint32_t>(key >> 32);
  for (int r = 0; r < 10; ++r) {
    std::uint32_t hi0, hi1;
    const std::uint32_t lo0 = mulhilo32(0xD2511F53u, c0, &hi0);
    const std::uint32_t lo1 = mulhilo32(0xCD9E8D57u, c2, &hi1);
    c0 = hi1 ^ c1 ^ k0;
    c1 = lo1;
    c2 = hi0 ^ c3 ^ k1;
    c3 = lo0;
    k0 += 0x9E3779B9u;
    k1 += 0xBB67AE85u;
  }
  return {{c0, c1, c2, c3}};
}

/// Uniform in (0, 1] from 24 bits (never 0, so log() is safe).
EBM_HD EBM_INLINE float u01_open_float(std::uint32_t x) {
  return (static_cast<float>(x >> 8) + 1.0f) * (1.0f / 16777216.0f);
}
/// Uniform in (0, 1] from 53 bits.
EBM_HD EBM_INLINE double u01_open_double(std::uint32_t a, std::uint32_t b) {
  const std::uint64_t x = (static_cast<std::uint64_t>(a) << 21) ^ (b >> 11);  // 53 bits
  return (static_cast<double>(x & ((1ull << 53) - 1)) + 1.0) * (1.0 / 9007199254740992.0);
}
}  // namespace detail

/// A counter-based random stream: (seed, stream id, offset in blocks).
class philox {
 public:
  constexpr philox() = default;
  constexpr explicit philox(std::uint64_t seed, std::uint64_t stream = 0)
      : seed_(seed), stream_(stream) {}

  constexpr std::uint64_t seed() const { return seed_; }
  constexpr std::uint64_t stream() const { return stream_; }
  /// Blocks consumed so far; together with seed and stream the whole state.
  constexpr std::uint64_t offset() const { return offset_; }
  constexpr void set_offset(std::uint64_t o) { offset_ = o; }

  /// An independent generator (same seed, another stream id).
  constexpr philox split(std::uint64_t stream) const { return philox(seed_, stream); }

  /// Block `offset() + i`, without advancing.
  EBM_HD detail::philox_block block(std::uint64_t i) const {
    return detail::philox4x32_10(seed_, offset_ + i, stream_);
  }
  /// Consumes n blocks.
  constexpr void advance(std::uint64_t n) { offset_ += n; }

  // ---- scalar draws (each consumes one block) ----
  /// Uniform in [0, 1).
  double uniform() {
    const auto b = block(0);
    advance(1);
    return 1.0 - detail::u01_open_double(b.v[0], b.v[1]);
  }
  double uniform(double lo, double hi) { return lo + (hi - lo) * uniform(); }
  double normal() {
    const auto b = block(0);
    advance(1);
    const double u1 = detail::u01_open_double(b.v[0], b.v[1]);
    const double u2 = detail::u01_open_double(b.v[2], b.v[3]);
    return std::sqrt(-2.0 * std::log(u1)) * std::cos(6.283185307179586 * u2);
  }
  /// Uniform integer in [0, n).
  std::uint64_t uniform_int(std::uint64_t n) {
    const auto b = block(0);
    advance(1);
    const std::uint64_t x = (static_cast<std::uint64_t>(b.v[0]) << 32) | b.v[1];
    return static_cast<std::uint64_t>((static_cast<unsigned __int128>(x) * n) >> 64);
  }

  // ---- bulk draws (the backend-independent mapping documented above) ----
  /// Uniform in [lo, hi): fma(hi - lo, 1 - u, lo).  The fused multiply-add is
  /// explicit so that the result does not depend on whether a compiler
  /// contracts `lo + (hi - lo) * (1 - u)` (GCC does at -O2 whenever the
  /// target has FMA, so it depends on -march): the CUDA fill computes the
  /// same fma and is bit-identical.
  template <class T>
  void fill_uniform(std::span<T> out, T lo, T hi) {
    const std::uint64_t n = out.size();
    if constexpr (sizeof(T) == 4) {
      for (std::uint64_t i = 0; i < n; i += 4) {
        const auto b = block(i / 4);
        for (std::uint64_t l = 0; l < 4 && i + l < n; ++l)
          out[i + l] = std::fma(hi - lo, T(1) - detail::u01_open_float(b.v[l]), lo);
      }
      advance((n + 3) / 4);
    } else {
      for (std::uint64_t i = 0; i < n; i += 2) {
        const auto b = block(i / 2);
        for (std::uint64_t l = 0; l < 2 && i + l < n; ++l)
          out[i + l] = std::fma(hi - lo, T(1) - T(detail::u01_open_double(b.v[2 * l], b.v[2 * l + 1])), lo);
      }
      advance((n + 1) / 2);
    }
  }
  /// Normal with the given mean and standard deviation.
  template <class T>
  void fill_normal(std::span<T> out, T mean = T(0), T stddev = T(1)) {
    fill_normal_at(out, 0, mean, stddev);
    advance(normal_blocks<T>(out.size()));
  }
  /// Elements [first, first + out.size()) of what fill_normal would draw from
  /// the current state, without advancing.  Pieces of one fill computed
  /// separately (one per thread, say) give fill_normal's numbers bit for bit.
  template <class T>
  void fill_normal_at(std::span<T> out, std::uint64_t first, T mean = T(0), T stddev = T(1)) const {
    const std::uint64_t n = out.size();
    if (n == 0) return;
    constexpr std::uint64_t lanes = sizeof(T) == 4 ? 4 : 2;
    constexpr double two_pi = 6.283185307179586;
    for (std::uint64_t blk = first / lanes; blk * lanes < first + n; ++blk) {
      const auto b = block(blk);
      T z[lanes];
      if constexpr (sizeof(T) == 4) {
        for (int p = 0; p < 2; ++p) {
          const float u1 = detail::u01_open_float(b.v[2 * p]);
          const float u2 = detail::u01_open_float(b.v[2 * p + 1]);
          const float r = std::sqrt(-2.0f * std::log(u1));
          z[2 * p] = r * std::cos(float(two_pi) * u2);
          z[2 * p + 1] = r * std::sin(float(two_pi) * u2);
        }
      } else {
        const double u1 = detail::u01_open_double(b.v[0], b.v[1]);
        const double u2 = detail::u01_open_double(b.v[2], b.v[3]);
        const double r = std::sqrt(-2.0 * std::log(u1));
        z[0] = T(r * std::cos(two_pi * u2));
        z[1] = T(r * std::sin(two_pi * u2));
      }
      for (std::uint64_t l = 0; l < lanes; ++l) {
        const std::uint64_t k = blk * lanes + l;
        if (k >= first && k < first + n) out[k - first] = mean + stddev * z[l];
      }
    }
  }
  /// Blocks one fill_normal of n elements of T consumes.
  template <class T>
  static constexpr std::uint64_t normal_blocks(std::uint64_t n) {
    return sizeof(T) == 4 ? (n + 3) / 4 : (n + 1) / 2;
  }

 private:
  std::uint64_t seed_ = 0;
  std::uint64_t stream_ = 0;
  std::uint64_t offset_ = 0;
};

}  // namespace ebm

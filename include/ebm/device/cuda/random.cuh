#pragma once
// Kernels of the Philox fills (declared in random.hpp) and the per-element
// draws that samplers' kernels use.  The mapping is core/philox.hpp's:
//   float : element i is lane i % 4 of block base + i / 4; normals come from
//           Box-Muller on lanes (0, 1) -> elements 0 (cos), 1 (sin) and
//           lanes (2, 3) -> elements 2 (cos), 3 (sin);
//   double: element i uses lanes (0, 1) (uniform of element 2k) or (2, 3)
//           (element 2k + 1) of block base + i / 2; a normal pair uses all
//           four lanes, element 2k gets cos and 2k + 1 gets sin,
// where block b is philox4x32_10(key = seed, counter = (b, stream)).
//
// Arithmetic uses explicitly rounded intrinsics (__fmul_rn, __fadd_rn,
// __fmaf_rn, ...) so that nvcc cannot contract it into FMAs: every operation
// rounds as the host's does, which makes uniform draws bit-identical (both
// sides compute lo + (hi - lo)(1 - u) as one explicit fma).  log, sin and
// cos are evaluated in double and rounded to float, i.e. correctly rounded
// in all but astronomically rare cases, as close to the host's libm as a GPU
// gets.
#include <cstdint>
#include <type_traits>

#include "launch.cuh"
#include "random.hpp"

namespace ebm {

namespace detail {

/// Elements per Philox block of a fill of T.
template <class T>
inline constexpr int philox_lanes = sizeof(T) == 4 ? 4 : 2;

/// lo + (hi - lo) (1 - u) for lane l of block r (element l of the block).
__device__ EBM_INLINE float philox_uniform_lane(const philox_block& r, int l, float lo, float hi) {
  const float u = u01_open_float(r.v[l]);
  return __fmaf_rn(__fsub_rn(hi, lo), __fsub_rn(1.0f, u), lo);
}
__device__ EBM_INLINE double philox_uniform_lane(const philox_block& r, int l, double lo,
                                                 double hi) {
  const double u = u01_open_double(r.v[2 * l], r.v[2 * l + 1]);
  return __fma_rn(__dsub_rn(hi, lo), __dsub_rn(1.0, u), lo);
}

/// Standard normal of element l of block r (Box-Muller, as the host).
__device__ EBM_INLINE float philox_normal_lane(const philox_block& r, int l, float) {
  const int p = l >> 1;
  const float u1 = u01_open_float(r.v[2 * p]);
  const float u2 = u01_open_float(r.v[2 * p + 1]);
  const float lg = static_cast<float>(::log(static_cast<double>(u1)));
  const float rad = __fsqrt_rn(__fmul_rn(-2.0f, lg));
  const float a = __fmul_rn(static_cast<float>(6.283185307179586), u2);
  const double ad = static_cast<double>(a);
  const float c = static_cast<float>((l & 1) ? ::sin(ad) : ::cos(ad));
  return __fmul_rn(rad, c);
}
__device__ EBM_INLINE double philox_normal_lane(const philox_block& r, int l, double) {
  const double u1 = u01_open_double(r.v[0], r.v[1]);
  const double u2 = u01_open_double(r.v[2], r.v[3]);
  const double rad = __dsqrt_rn(__dmul_rn(-2.0, ::log(u1)));
  const double a = __dmul_rn(6.283185307179586, u2);
  return __dmul_rn(rad, (l & 1) ? ::sin(a) : ::cos(a));
}

/// Element i of a standard-normal fill whose first block is `base`.
template <class T>
__device__ EBM_INLINE T philox_normal_at(std::uint64_t seed, std::uint64_t stream,
                                         std::uint64_t base, index_t i) {
  constexpr int lanes = philox_lanes<T>;
  const philox_block r =
      philox4x32_10(seed, base + static_cast<std::uint64_t>(i / lanes), stream);
  return philox_normal_lane(r, static_cast<int>(i % lanes), T(0));
}

/// One thread per Philox block, writing its (up to) lanes elements.
template <class T>
__global__ void fill_uniform_kernel(T* out, index_t n, std::uint64_t seed, std::uint64_t stream,
                                    std::uint64_t base, T lo, T hi) {
  constexpr int lanes = philox_lanes<T>;
  const index_t blocks = (n + lanes - 1) / lanes;
  EBM_GRID_STRIDE_LOOP(b, blocks) {
    const philox_block r = philox4x32_10(seed, base + static_cast<std::uint64_t>(b), stream);
    for (int l = 0; l < lanes; ++l) {
      const index_t i = b * lanes + l;
      if (i < n) out[i] = philox_uniform_lane(r, l, lo, hi);
    }
  }
}

template <class T>
__global__ void fill_normal_kernel(T* out, index_t n, std::uint64_t seed, std::uint64_t stream,
                                   std::uint64_t base, T mean, T stddev) {
  constexpr int lanes = philox_lanes<T>;
  const index_t blocks = (n + lanes - 1) / lanes;
  EBM_GRID_STRIDE_LOOP(b, blocks) {
    const philox_block r = philox4x32_10(seed, base + static_cast<std::uint64_t>(b), stream);
    for (int l = 0; l < lanes; ++l) {
      const index_t i = b * lanes + l;
      if (i >= n) break;
      const T z = philox_normal_lane(r, l, T(0));
      if constexpr (std::is_same_v<T, float>)
        out[i] = __fadd_rn(mean, __fmul_rn(stddev, z));
      else
        out[i] = __dadd_rn(mean, __dmul_rn(stddev, z));
    }
  }
}

template <class T>
constexpr void check_philox_scalar() {
  static_assert(std::is_same_v<T, float> || std::is_same_v<T, double>,
                "Philox device fills support float and double");
}

}  // namespace detail

template <class T>
void fill_uniform(const cuda& dev, philox& rng, T* out, index_t n, T lo, T hi) {
  detail::check_philox_scalar<T>();
  EBM_REQUIRE(n >= 0, "fill_uniform: negative length ", n);
  constexpr int lanes = detail::philox_lanes<T>;
  const index_t blocks = (n + lanes - 1) / lanes;
  if (n > 0) {
    detail::cuda_device_guard g(dev.device());
    detail::fill_uniform_kernel<<<detail::cuda_blocks(blocks), detail::cuda_threads, 0,
                                  dev.stream()>>>(out, n, rng.seed(), rng.stream(), rng.offset(),
                                                  lo, hi);
    EBM_CUDA_CHECK_LAUNCH();
  }
  rng.advance(static_cast<std::uint64_t>(blocks));
}

template <class T>
void fill_normal(const cuda& dev, philox& rng, T* out, index_t n, T mean, T stddev) {
  detail::check_philox_scalar<T>();
  EBM_REQUIRE(n >= 0, "fill_normal: negative length ", n);
  constexpr int lanes = detail::philox_lanes<T>;
  const index_t blocks = (n + lanes - 1) / lanes;
  if (n > 0) {
    detail::cuda_device_guard g(dev.device());
    detail::fill_normal_kernel<<<detail::cuda_blocks(blocks), detail::cuda_threads, 0,
                                 dev.stream()>>>(out, n, rng.seed(), rng.stream(), rng.offset(),
                                                 mean, stddev);
    EBM_CUDA_CHECK_LAUNCH();
  }
  rng.advance(static_cast<std::uint64_t>(blocks));
}

}  // namespace ebm

#pragma once
// Shared helpers of the CUDA tests.  Every test case that needs a GPU starts
// with EBM_REQUIRE_CUDA_DEVICE(): without one it reports "no CUDA device:
// skipping" and passes, which is what CI (no GPU) runs.
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <ebm/core/philox.hpp>
#include <ebm/core/tensor.hpp>
#include <ebm/device/cuda/cuda.cuh>
#include <string>

#define EBM_REQUIRE_CUDA_DEVICE()                  \
  do {                                             \
    if (::ebm::cuda::device_count() == 0) {        \
      MESSAGE("no CUDA device: skipping");         \
      return;                                      \
    }                                              \
  } while (0)

namespace ebm::cuda_test {

/// A host tensor of uniform values in [lo, hi).
template <class T>
tensor<T> uniform(const shape& s, philox& rng, T lo = T(-1), T hi = T(1)) {
  tensor<T> t;
  t.resize(s);
  rng.fill_uniform<T>(t.span(), lo, hi);
  return t;
}

/// max_i |a_i - b_i| / (1 + |b_i|): absolute near 0, relative for large values.
template <class T>
double max_rel_diff(const tensor<T>& a, const tensor<T>& b) {
  REQUIRE(a.shape() == b.shape());
  double m = 0;
  for (index_t i = 0; i < a.size(); ++i) {
    const double d = std::abs(double(a[i]) - double(b[i])) / (1.0 + std::abs(double(b[i])));
    if (std::isnan(d)) return INFINITY;  // a NaN is never close
    m = std::max(m, d);
  }
  return m;
}

/// Compares a device tensor with a host reference.
template <class T>
double max_rel_diff(const tensor<T, cuda>& a, const tensor<T>& b) {
  return max_rel_diff(to_host(a), b);
}

/// Number of elements whose bit patterns differ.
template <class T>
index_t bit_mismatches(const tensor<T>& a, const tensor<T>& b) {
  REQUIRE(a.shape() == b.shape());
  index_t n = 0;
  for (index_t i = 0; i < a.size(); ++i) n += std::memcmp(&a[i], &b[i], sizeof(T)) != 0;
  return n;
}

/// Tolerance of a comparison with the host in T: tight in double, loose in
/// float (different summation orders and libm).
template <class T>
constexpr double tol(double float_tol = 2e-5, double double_tol = 1e-11) {
  return sizeof(T) == 4 ? float_tol : double_tol;
}

}  // namespace ebm::cuda_test

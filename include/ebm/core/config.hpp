#pragma once
// Basic configuration shared by host and device code.  Includes nothing heavy.
#include <cstddef>
#include <cstdint>

#if defined(__CUDACC__) || defined(__HIPCC__)
#define EBM_HD __host__ __device__
#define EBM_DEVICE_COMPILE 1
#else
#define EBM_HD
#endif

#if defined(__GNUC__)
#define EBM_INLINE inline __attribute__((always_inline))
#define EBM_RESTRICT __restrict__
#else
#define EBM_INLINE inline
#define EBM_RESTRICT
#endif

namespace ebm {
/// Signed index type for sizes and extents (as Eigen::Index).
using index_t = std::ptrdiff_t;
}  // namespace ebm

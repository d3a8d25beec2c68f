#pragma once
// spectral_kernels<cuda>: the two steps of nn::spectral_norm that use sigma,
// reading sigma (and <G, W>) from device memory instead of the host, so a
// spectrally normalised network runs a forward (and a parameter backward)
// without synchronising its stream, and a Langevin chain through it can be
// captured into a CUDA graph (cuda_langevin_chain::capture).
//
// Declarations only: the kernels are in spectral.cuh.
#include "../../core/config.hpp"
#include "device.hpp"

namespace ebm {

template <class D> struct spectral_kernels;

template <>
struct spectral_kernels<cuda> {
  /// y[i] = x[i] / sigma[0] for i < n.
  template <class T>
  static void divide(const cuda& dev, const T* sigma, const T* x, T* y, index_t n);
  /// gw[i, j] += G[i, j] / sigma[0] - (gw_dot[0] / sigma[0]^2) u[i] v[j] for a
  /// [rows, cols] weight (gw_dot = <G, W>; the rank-1 part is skipped when
  /// `rank1` is false, as for a disabled normalisation).
  template <class T>
  static void weight_grad(const cuda& dev, const T* sigma, const T* g_dot_w, const T* G, const T* u,
                          const T* v, T* gw, index_t rows, index_t cols, bool rank1);
};

}  // namespace ebm

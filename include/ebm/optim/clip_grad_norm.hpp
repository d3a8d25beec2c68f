#pragma once
// Gradient clipping by global norm (Pascanu et al. 2013): when the Euclidean
// norm of all gradients together exceeds max_norm, every gradient is scaled
// by max_norm / norm, so the clipped global norm is max_norm (up to
// rounding).  Unlike PyTorch no ε is added to the norm; a zero norm is never
// scaled.  The norm is accumulated in double.
//
//   auto params = collect_params(net);
//   double norm = optim::clip_grad_norm(params, 1.0);   // the norm before clipping
//
// For parameters on ebm::cuda the squared norms are summed on the device in a
// fixed order (deterministic; not the host's order, so the last bits of the
// norm may differ) and the scaling is one kernel per tensor.
#include <cmath>
#include <type_traits>
#include <vector>

#include "../nn/layer.hpp"
#include "detail/param_state.hpp"

namespace ebm::optim {

/// The global Euclidean norm of the gradients.
template <class T, class D>
double grad_norm(const std::vector<param_ref<T, D>>& params) {
  detail::require_known_device<D>();
  if constexpr (std::is_same_v<D, cpu>) {
    double sq = 0;
    for (auto& p : params)
      for (T g : *p.grad) sq += double(g) * double(g);
    return std::sqrt(sq);
  } else {
    // A deterministic reduction on the device, one double read back.
    return std::sqrt(training_kernels<D>::template grad_sq_norm<T>(params));
  }
}

/// Scales the gradients so that their global norm is at most max_norm;
/// returns the norm before clipping (inf or NaN are returned unscaled).
template <class T, class D>
double clip_grad_norm(const std::vector<param_ref<T, D>>& params, double max_norm) {
  EBM_REQUIRE(max_norm > 0, "clip_grad_norm: max_norm must be positive, got ", max_norm);
  const double norm = grad_norm(params);
  if (std::isfinite(norm) && norm > max_norm) {
    const T scale = T(max_norm / norm);
    for (auto& p : params) {
      if constexpr (std::is_same_v<D, cpu>)
        for (T& g : *p.grad) g *= scale;
      else
        training_kernels<D>::template scale<T>(p.grad->device(), p.grad->data(), p.grad->size(), scale);
    }
  }
  return norm;
}

}  // namespace ebm::optim

#pragma once
// Per-parameter state shared by the optimizers: zero tensors shaped like the
// parameters, and the visitor that names them "<prefix><parameter name>".
// On ebm::cpu the optimizers update with host loops; on another device D
// (ebm::cuda) with one fused kernel per parameter tensor from
// training_kernels<D> (device/cuda/training.hpp, in .cu files including
// ebm/device/cuda/cuda.cuh).  Their state lives on the parameters' device;
// checkpoints copy it through the host (io::checkpoint).
#include <string>
#include <type_traits>
#include <vector>

#include "../../device/cpu/device.hpp"
#include "../../nn/layer.hpp"

namespace ebm::optim::detail {

template <class D>
constexpr void require_known_device() {
  static_assert(std::is_same_v<D, cpu> || std::is_same_v<D, cuda>,
                "ebm optimizers update parameters on ebm::cpu or ebm::cuda");
}

/// The scalars of one Adam step (adam.hpp), as the update uses them:
///   g' = g + l2 w,  m = b1 m + (1 - b1) g',  v = b2 v + (1 - b2) g'^2,
///   w = shrink w - step_size m / (sqrt(v) inv_sqrt_c2 + eps).
template <class T>
struct adam_coefficients {
  T b1, b2, step_size, inv_sqrt_c2, eps, l2, shrink;
};
/// The scalars of one SGD step (sgd.hpp).
template <class T>
struct sgd_coefficients {
  T lr, mu, l2;
  bool first, nesterov;
};

/// Throws unless every parameter has a value and a gradient of its shape.
template <class T, class D>
void require_grads(const std::vector<param_ref<T, D>>& params) {
  for (auto& p : params)
    EBM_REQUIRE(p.value && p.grad && p.value->shape() == p.grad->shape(),
                "optimizer: parameter '", p.name, "' has no gradient of its shape");
}

template <class T, class D>
std::vector<tensor<T, D>> zeros_like(const std::vector<param_ref<T, D>>& params) {
  require_grads(params);
  std::vector<tensor<T, D>> out;
  out.reserve(params.size());
  for (auto& p : params) {
    if constexpr (std::is_same_v<D, cpu>)
      out.emplace_back(p.value->shape());
    else
      out.emplace_back(p.value->shape(), p.value->device());  // zeros on the parameter's stream
  }
  return out;
}

template <class T, class D, class F>
void visit_named(const std::vector<param_ref<T, D>>& params, std::vector<tensor<T, D>>& state,
                 const char* prefix, F& f) {
  for (std::size_t i = 0; i < params.size(); ++i) {
    const std::string name = prefix + params[i].name;
    f(std::string_view(name), state[i]);
  }
}

}  // namespace ebm::optim::detail

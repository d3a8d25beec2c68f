#pragma once
// Per-parameter state shared by the optimizers: zero tensors shaped like the
// parameters, and the visitor that names them "<prefix><parameter name>".
// The optimizers update their state with host loops, so parameters must live
// on ebm::cpu; the static_assert names that limit.
#include <string>
#include <type_traits>
#include <vector>

#include "../../device/cpu/device.hpp"
#include "../../nn/layer.hpp"

namespace ebm::optim::detail {

template <class D>
constexpr void require_host() {
  static_assert(std::is_same_v<D, cpu>,
                "ebm optimizers update parameters on the host: they must live on ebm::cpu");
}

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
  for (auto& p : params) out.emplace_back(p.value->shape());
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

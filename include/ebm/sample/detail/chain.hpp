#pragma once
// Internals shared by the MCMC samplers: the update mask, per-sample
// gradient norms and the non-finite checks that stop a diverging chain.
#include <cmath>
#include <concepts>
#include <type_traits>

#include "../../core/error.hpp"
#include "../../core/tensor.hpp"
#include "../../energy/concept.hpp"

namespace ebm::detail {

/// Which entries of a batch x a sampler may change.  An empty view means all
/// of them; otherwise the mask has x's shape or one sample's shape (shared by
/// the batch), and entries where it is non-zero move.
template <class T>
class update_mask {
 public:
  update_mask(tensor_view<const T> m, const shape& x_shape, const char* who) : m_(m.data()) {
    if (!m_) return;
    const index_t per = x_shape.sample_size();
    EBM_REQUIRE(m.size() == x_shape.size() || m.size() == per, who, ": the mask must have the shape of x (",
                x_shape, ") or of one sample (", per, " elements), got ", m.shape());
    period_ = m.size();
  }
  bool empty() const { return m_ == nullptr; }
  /// Whether element i of x (flat index) may move.
  bool active(index_t i) const { return m_ == nullptr || m_[i % period_] != T(0); }

 private:
  const T* m_ = nullptr;
  index_t period_ = 1;
};

template <class T>
bool all_finite(const T* p, index_t n) {
  for (index_t i = 0; i < n; ++i)
    if (!std::isfinite(p[i])) return false;
  return true;
}

/// Throws naming the first chain (row) of x holding a NaN or Inf.
template <class T>
void require_finite_chains(const char* who, const tensor<T>& x, int step, int steps, const char* what) {
  const index_t n = x.extent(0), per = x.shape().sample_size();
  for (index_t c = 0; c < n; ++c)
    if (!all_finite(x.data() + c * per, per))
      throw error(concat(who, ": chain ", c, " produced a non-finite value (NaN or Inf) in ", what,
                         " at step ", step, " of ", steps, " (steps counted from 0)"));
}

/// Requirements every gradient-based sampler puts on an energy, as readable
/// static_asserts.
template <class E, class T>
constexpr void check_energy_for_sampler() {
  static_assert(energy_function<E>,
                "the sampler needs an energy with energy(x) and energy_and_grad(x, g) (ebm/energy/concept.hpp)");
  static_assert(std::same_as<typename E::value_type, T>,
                "the sampler's scalar type must be the energy's value_type");
  static_assert(std::same_as<typename E::device_type, cpu>,
                "these samplers run on host tensors: the energy's device_type must be ebm::cpu");
}

/// Squared Euclidean norm of one sample's (active) entries, in double.
template <class T>
double sample_sq_norm(const T* g, index_t begin, index_t per, const update_mask<T>& mask) {
  double s = 0;
  for (index_t j = 0; j < per; ++j)
    if (mask.active(begin + j)) s += double(g[begin + j]) * double(g[begin + j]);
  return s;
}

}  // namespace ebm::detail

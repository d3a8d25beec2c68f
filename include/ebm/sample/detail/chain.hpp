#pragma once
// Internals shared by the MCMC samplers: the update mask, per-sample
// gradient norms, the non-finite checks that stop a diverging chain, and
// what a sampler hands to a device's kernels (training_kernels<D>).
#include <cmath>
#include <concepts>
#include <cstdint>
#include <memory>
#include <type_traits>
#include <typeindex>
#include <typeinfo>

#include "../../core/error.hpp"
#include "../../core/tensor.hpp"
#include "../../device/cpu/device.hpp"
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
  /// The mask's elements (null when empty) and how many there are.
  const T* data() const { return m_; }
  index_t period() const { return period_; }
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

/// The host device whose pool a sampler's own loops use: the energy's, when
/// it names one (a network built on cpu(k)), else the process-wide default.
template <class E>
cpu host_device_of(const E& energy) {
  if constexpr (requires { { energy.device() } -> std::convertible_to<cpu>; })
    return energy.device();
  else
    return cpu{};
}

/// Requirements every gradient-based sampler puts on an energy, as readable
/// static_asserts.  D is the device of the chains' tensors.
template <class E, class T, class D = cpu>
constexpr void check_energy_for_sampler() {
  static_assert(energy_function<E>,
                "the sampler needs an energy with energy(x) and energy_and_grad(x, g) (ebm/energy/concept.hpp)");
  static_assert(std::same_as<typename E::value_type, T>,
                "the sampler's scalar type must be the energy's value_type");
  if constexpr (std::same_as<D, cpu>)
    static_assert(std::same_as<typename E::device_type, cpu>,
                  "these samplers run on host tensors: the energy's device_type must be ebm::cpu");
  else
    static_assert(std::same_as<typename E::device_type, D>,
                  "the energy must live on the device of the chains (its device_type must be the tensors' device)");
}

/// Squared Euclidean norm of one sample's (active) entries, in double.
template <class T>
double sample_sq_norm(const T* g, index_t begin, index_t per, const update_mask<T>& mask) {
  double s = 0;
  for (index_t j = 0; j < per; ++j)
    if (mask.active(begin + j)) s += double(g[begin + j]) * double(g[begin + j]);
  return s;
}

/// One guarded Langevin update of a batch on a device (training_kernels<D>::
/// langevin_update): for every chain c and entry i of it that the mask lets
/// move,
///   x_i <- clamp(x_i - scale_c g_i + sd z_i),   scale_c = half, or
///   half * max_grad_norm / |g_c| when max_grad_norm > 0 and |g_c| exceeds it,
/// with z the standard normals philox::fill_normal would draw over the whole
/// batch at generator state (seed, stream, offset).  Pointers are device
/// pointers.
template <class T>
struct langevin_update_args {
  T* x;
  const T* g;
  const T* energies;  ///< [chains], checked for finiteness
  index_t chains, per;
  T half, sd;            ///< s / 2 and sqrt(eta)
  T max_grad_norm;       ///< 0: no clipping
  bool clamp;
  T lo, hi;
  const T* mask;         ///< null: every entry moves
  index_t mask_period;   ///< the mask's size (x's or one sample's)
  std::uint64_t seed, stream, offset;
};
/// What the device reports back after one update (one small copy).
struct langevin_update_result {
  index_t clipped = 0;           ///< chains whose gradient was shortened
  index_t bad_energy_chain = -1;  ///< first chain with a NaN or Inf energy (-1: none)
  double bad_energy = 0;          ///< its energy
  index_t bad_state_chain = -1;  ///< first chain with a NaN or Inf in its new state
};

/// Scratch memory a sampler keeps for a device it is run on (gradients,
/// per-chain scales, status words), created on first use.  Type-erased so
/// that the sampler's class does not depend on the device's headers.  A
/// copied sampler starts with an empty slot (scratch is not state).
class scratch_slot {
 public:
  scratch_slot() = default;
  scratch_slot(const scratch_slot&) noexcept {}
  scratch_slot& operator=(const scratch_slot&) noexcept { return *this; }
  scratch_slot(scratch_slot&&) noexcept = default;
  scratch_slot& operator=(scratch_slot&&) noexcept = default;
  ~scratch_slot() = default;

  /// The scratch object of type S (default-constructed on first use).
  template <class S>
  S& get() {
    if (!p_ || type_ != std::type_index(typeid(S))) {
      p_ = holder(new S(), [](void* q) { delete static_cast<S*>(q); });
      type_ = std::type_index(typeid(S));
    }
    return *static_cast<S*>(p_.get());
  }

 private:
  using holder = std::unique_ptr<void, void (*)(void*)>;
  holder p_{nullptr, [](void*) {}};
  std::type_index type_{typeid(void)};
};

}  // namespace ebm::detail
